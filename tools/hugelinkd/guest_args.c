/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What a guest needs to be wired to the switch: the QEMU options
 * (qemu-args) or the libvirt domain XML (libvirt-xml) for one guest with
 * one or more ports.
 *
 * A guest's vhost-user ports share its RAM with the switch, so all of them
 * sit on one shared memory backend (hugepages where the switch's pool has
 * them), one NUMA node on it, and one -netdev/-device pair per port. shm
 * ports add the pool their peer maps as an ivshmem BAR. A port's MAC is
 * the one given, else one made from its name (52:54:00 + a hash), the same
 * every time. The request is hostile like any other: names, MACs, sizes
 * are checked and a bad one refused with the reason.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <hugelink/pool.h>
#include <hugelink/sw_ports.h>

#include "hugelinkd.h"

#define GUEST_MAX_PORTS 16
#define MEM_DEFAULT_MB 256

struct guest_port {
	struct hl_sw_port *p;
	const struct port_conf *c;
	char mac[18];
};

struct guest {
	struct guest_port port[GUEST_MAX_PORTS];
	unsigned n, vhost;
	uint64_t mem_mb;
	uint64_t vcpus;
	char memdir[256]; /* where guest RAM goes: the pool's hugetlbfs, else /dev/shm */
	bool hugepages;
};

static void port_mac(const char *name, char out[18])
{
	uint32_t h = hl_crc32c(0, name, strlen(name));
	snprintf(out, 18, "52:54:00:%02x:%02x:%02x", (h >> 16) & 0xff, (h >> 8) & 0xff, h & 0xff);
}

/* xx:xx:xx:xx:xx:xx, unicast, not all zero; written back in lower case. */
static bool mac_ok(const char *s, char out[18])
{
	unsigned char b[6];
	char tail;
	if (strlen(s) != 17 || sscanf(s, "%2hhx:%2hhx:%2hhx:%2hhx:%2hhx:%2hhx%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
				      &tail) != 6)
		return false;
	/* scanf's %x would take a space or a sign too: two hex digits each, nothing else */
	for (int i = 0; i < 6; i++)
		if (!isxdigit((unsigned char)s[i * 3]) || !isxdigit((unsigned char)s[i * 3 + 1]) ||
		    s[i * 3 + 2] != (i < 5 ? ':' : '\0'))
			return false;
	if ((b[0] & 1) || (b[0] | b[1] | b[2] | b[3] | b[4] | b[5]) == 0)
		return false;
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
	return true;
}

static bool add_port(struct daemon *d, struct guest *g, const char *name, const char *mac, bool vhost_only,
		     struct hl_jw *r)
{
	if (name == NULL || name[0] == '\0' || strlen(name) >= HL_SW_NAME_LEN) {
		hld_fail(r, "a port's \"name\" must be a string of 1..%d characters", HL_SW_NAME_LEN - 1);
		return false;
	}
	if (g->n == GUEST_MAX_PORTS) {
		hld_fail(r, "at most %d ports for one guest", GUEST_MAX_PORTS);
		return false;
	}
	struct guest_port *gp = &g->port[g->n];
	if ((gp->p = hl_switch_find_port(d->sw, name)) == NULL) {
		hld_fail(r, "no port %s", name);
		return false;
	}
	gp->c = &d->conf[gp->p->id];
	bool vhost = strcmp(gp->c->kind, "vhost") == 0;
	if (!vhost && (vhost_only || strcmp(gp->c->kind, "shm") != 0)) {
		hld_fail(r, "port %s is a %s port; a guest takes %s", name, gp->c->kind,
			 vhost_only ? "vhost ports" : "vhost and shm ports");
		return false;
	}
	if (mac == NULL)
		port_mac(name, gp->mac);
	else if (!mac_ok(mac, gp->mac)) {
		hld_fail(r, "port %s: \"mac\" must be a unicast MAC xx:xx:xx:xx:xx:xx, not \"%.40s\"", name, mac);
		return false;
	}
	for (unsigned i = 0; i < g->n; i++) {
		if (g->port[i].p == gp->p) {
			hld_fail(r, "port %s is named twice", name);
			return false;
		}
		if (strcmp(g->port[i].mac, gp->mac) == 0) {
			hld_fail(r, "ports %s and %s would have the same MAC %s", g->port[i].p->name, name, gp->mac);
			return false;
		}
	}
	g->vhost += vhost;
	g->n++;
	return true;
}

/* An optional whole number in [lo, hi]; false (and the reply written) if it is something else. */
static bool opt_u64(const struct hl_json *req, const char *key, uint64_t lo, uint64_t hi, uint64_t *v,
		    struct hl_jw *r)
{
	const struct hl_json *j = hl_json_get(req, key);
	if (j == NULL || hl_json_is_null(j))
		return true;
	if (!hl_json_u64(j, v) || *v < lo || *v > hi) {
		hld_fail(r, "\"%s\" must be a whole number %llu..%llu", key, (unsigned long long)lo,
			 (unsigned long long)hi);
		return false;
	}
	return true;
}

/*
 * {"name":"a"} (one port) or {"ports":[{"name":"a","mac":"..."},...]},
 * with "mem_mb" (guest RAM, default 256) and "vcpus" (default 1).
 */
static bool parse(struct daemon *d, const struct hl_json *req, bool vhost_only, struct guest *g, struct hl_jw *r)
{
	memset(g, 0, sizeof(*g));
	g->mem_mb = MEM_DEFAULT_MB;
	g->vcpus = 1;
	const struct hl_json *ports = hl_json_get(req, "ports");
	if (ports != NULL) {
		if (hl_json_type(ports) != HL_JSON_ARR || hl_json_len(ports) == 0) {
			hld_fail(r, "\"ports\" must be a non-empty array of {\"name\":...,\"mac\":...}");
			return false;
		}
		for (size_t i = 0; i < hl_json_len(ports); i++) {
			const struct hl_json *e = hl_json_at(ports, i);
			const struct hl_json *jm = hl_json_get(e, "mac");
			const char *mac = hl_json_str(jm);
			if (hl_json_type(e) != HL_JSON_OBJ || (jm != NULL && !hl_json_is_null(jm) && mac == NULL)) {
				hld_fail(r, "\"ports\"[%zu] must be {\"name\":STRING[,\"mac\":STRING]}", i);
				return false;
			}
			if (!add_port(d, g, hl_json_str(hl_json_get(e, "name")), mac, vhost_only, r))
				return false;
		}
	} else if (!add_port(d, g, hl_json_str(hl_json_get(req, "name")), NULL, vhost_only, r)) {
		return false;
	}
	if (!opt_u64(req, "mem_mb", 16, 1u << 20, &g->mem_mb, r) || !opt_u64(req, "vcpus", 1, 255, &g->vcpus, r))
		return false;
	snprintf(g->memdir, sizeof(g->memdir), "/dev/shm");
	struct hl_pool_info in;
	if (hl_pool_get_info(d->pool, &in) == 0 && in.hugepages) {
		g->hugepages = true;
		snprintf(g->memdir, sizeof(g->memdir), "%s", in.file_path);
		char *slash = strrchr(g->memdir, '/');
		if (slash != NULL && slash != g->memdir)
			*slash = '\0';
	}
	return true;
}

/*
 * One QEMU argument, as a shell reads it: quoted when it holds anything but
 * the characters QEMU options are made of, so the output pastes into a
 * shell whatever a socket path holds.
 */
__attribute__((format(printf, 2, 3)))
static void qemu_arg(struct hld_text *t, const char *fmt, ...)
{
	char a[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(a, sizeof(a), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(a)) {
		t->failed = true;
		return;
	}
	bool plain = n > 0;
	for (const char *c = a; *c; c++)
		plain = plain && (isalnum((unsigned char)*c) || strchr("_=,./:@%+-", *c) != NULL);
	hld_printf(t, "%s", t->len ? " " : "");
	if (plain) {
		hld_printf(t, "%s", a);
		return;
	}
	hld_printf(t, "'");
	for (const char *c = a; *c; c++)
		hld_printf(t, *c == '\'' ? "'\\''" : "%c", *c);
	hld_printf(t, "'");
}

/* A value inside a QEMU option list, where a comma is written twice. */
static const char *qemu_val(const char *v, char *out, size_t size)
{
	size_t o = 0;
	for (; *v && o + 2 < size; v++) {
		out[o++] = *v;
		if (*v == ',')
			out[o++] = ',';
	}
	out[o] = '\0';
	return out;
}

/* The pool a shm port's peer maps, as an ivshmem-plain BAR (its peer: hlshm --pci). */
static bool shm_args(const struct guest_port *gp, struct hld_text *t, struct hl_jw *r)
{
	struct hl_pool_info in;
	if (hl_sw_port_shm_pool_info(gp->p, &in) < 0) {
		hld_fail(r, "port %s: pool: %s", gp->p->name, hl_last_error());
		return false;
	}
	char path[512];
	qemu_arg(t, "-object");
	qemu_arg(t, "memory-backend-file,id=hlpool-%s,size=%llu,mem-path=%s,share=on", gp->p->name,
		 (unsigned long long)in.size, qemu_val(in.file_path, path, sizeof(path)));
	qemu_arg(t, "-device");
	qemu_arg(t, "ivshmem-plain,memdev=hlpool-%s", gp->p->name);
	return true;
}

void hld_cmd_qemu_args(struct daemon *d, const struct hl_json *req, struct hl_jw *r)
{
	struct guest g;
	struct hld_text t = {0};

	if (!parse(d, req, false, &g, r))
		return;
	/*
	 * Guest RAM must be shared with the switch (share=on), and QEMU 7.2
	 * under TCG needs vectors=0 for vhost-user. A server port waits for
	 * QEMU, which reconnects by itself when the switch restarts; a client
	 * port means QEMU listens.
	 */
	char val[512];
	if (g.vhost > 0) {
		qemu_arg(&t, "-m");
		qemu_arg(&t, "%lluM", (unsigned long long)g.mem_mb);
		qemu_arg(&t, "-object");
		qemu_arg(&t, "memory-backend-file,id=hlmem,size=%lluM,mem-path=%s,share=on", (unsigned long long)g.mem_mb,
			 qemu_val(g.memdir, val, sizeof(val)));
		qemu_arg(&t, "-numa");
		qemu_arg(&t, "node,memdev=hlmem");
	}
	for (unsigned i = 0; i < g.n; i++) {
		const struct guest_port *gp = &g.port[i];
		const char *n = gp->p->name;
		if (strcmp(gp->c->kind, "shm") == 0) {
			if (!shm_args(gp, &t, r)) {
				hld_text_free(&t);
				return;
			}
			continue;
		}
		qemu_arg(&t, "-chardev");
		qemu_arg(&t, "socket,id=chr-%s,path=%s%s", n, qemu_val(gp->c->path, val, sizeof(val)),
			 gp->c->client ? ",server=on,wait=off" : ",reconnect=1");
		qemu_arg(&t, "-netdev");
		/*
		 * Multiqueue: the port's queue pairs, and an MSI-X vector for each
		 * queue plus the control queue and the config change (2N+2), as
		 * virtio-net wants them to spread interrupts over vCPUs.
		 */
		unsigned nq = gp->c->queues;
		if (nq > 1) {
			qemu_arg(&t, "vhost-user,id=net-%s,chardev=chr-%s,queues=%u", n, n, nq);
			qemu_arg(&t, "-device");
			qemu_arg(&t, "virtio-net-pci,netdev=net-%s,mac=%s,mq=on,vectors=%u", n, gp->mac, 2 * nq + 2);
			continue;
		}
		qemu_arg(&t, "vhost-user,id=net-%s,chardev=chr-%s", n, n);
		qemu_arg(&t, "-device");
		qemu_arg(&t, "virtio-net-pci,netdev=net-%s,mac=%s,vectors=0", n, gp->mac);
	}
	if (t.failed || t.s == NULL) {
		hld_text_free(&t);
		return hld_fail(r, "out of memory");
	}
	hld_ok_begin(r);
	hl_jw_kv_str(r, "args", t.s);
	hl_jw_kv_str(r, "mac", g.port[0].mac);
	if (strcmp(g.port[0].c->kind, "shm") == 0)
		hl_jw_kv_str(r, "guest", "hlshm-static --pci --port NAME --mac MAC");
	hl_jw_key(r, "ports");
	hl_jw_arr_begin(r);
	for (unsigned i = 0; i < g.n; i++) {
		hl_jw_obj_begin(r);
		hl_jw_kv_str(r, "name", g.port[i].p->name);
		hl_jw_kv_str(r, "kind", g.port[i].c->kind);
		hl_jw_kv_str(r, "mac", g.port[i].mac);
		hl_jw_obj_end(r);
	}
	hl_jw_arr_end(r);
	hl_jw_obj_end(r);
	hld_text_free(&t);
}

/* An attribute value in single quotes. */
static void xml_attr(struct hld_text *t, const char *v)
{
	for (; *v; v++) {
		switch (*v) {
		case '&': hld_printf(t, "&amp;"); break;
		case '<': hld_printf(t, "&lt;"); break;
		case '>': hld_printf(t, "&gt;"); break;
		case '\'': hld_printf(t, "&apos;"); break;
		case '"': hld_printf(t, "&quot;"); break;
		default: hld_printf(t, "%c", *v);
		}
	}
}

/*
 * libvirt's view of the same: the switch's server port is a client socket
 * for QEMU (with reconnect, so the guest survives a switch restart), and
 * guest RAM is shared memfd memory (on hugepages when the pool is), on a
 * NUMA cell with memAccess='shared' for libvirt versions that want one.
 */
void hld_cmd_libvirt_xml(struct daemon *d, const struct hl_json *req, struct hl_jw *r)
{
	struct guest g;
	struct hld_text dom = {0}, dev = {0};

	if (!parse(d, req, true, &g, r))
		return;
	hld_printf(&dom, "<memoryBacking>\n%s  <source type='memfd'/>\n  <access mode='shared'/>\n</memoryBacking>\n",
		   g.hugepages ? "  <hugepages/>\n" : "");
	hld_printf(&dom, "<cpu>\n  <numa>\n    <cell id='0' cpus='0");
	if (g.vcpus > 1)
		hld_printf(&dom, "-%llu", (unsigned long long)g.vcpus - 1);
	hld_printf(&dom, "' memory='%llu' unit='MiB' memAccess='shared'/>\n  </numa>\n</cpu>\n",
		   (unsigned long long)g.mem_mb);
	for (unsigned i = 0; i < g.n; i++) {
		const struct guest_port *gp = &g.port[i];
		hld_printf(&dev, "<interface type='vhostuser'>\n  <mac address='%s'/>\n  <source type='unix' path='",
			   gp->mac);
		xml_attr(&dev, gp->c->path);
		if (gp->c->client)
			hld_printf(&dev, "' mode='server'/>\n");
		else
			hld_printf(&dev, "' mode='client'>\n    <reconnect enabled='yes' timeout='1'/>\n  </source>\n");
		hld_printf(&dev, "  <model type='virtio'/>\n");
		if (gp->c->queues > 1)
			hld_printf(&dev, "  <driver queues='%u'/>\n", gp->c->queues);
		hld_printf(&dev, "</interface>\n");
	}
	if (dom.failed || dev.failed || dom.s == NULL || dev.s == NULL) {
		hld_text_free(&dom);
		hld_text_free(&dev);
		return hld_fail(r, "out of memory");
	}
	hld_ok_begin(r);
	hl_jw_kv_str(r, "domain", dom.s);
	hl_jw_kv_str(r, "devices", dev.s);
	hl_jw_kv_u64(r, "memory_mib", g.mem_mb);
	hl_jw_kv_u64(r, "vcpus", g.vcpus);
	hl_jw_obj_end(r);
	hld_text_free(&dom);
	hld_text_free(&dev);
}
