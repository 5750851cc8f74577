/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hugelinkd's uplink ports: the fields of a "vxlan" port's JSON, checked
 * (a request is hostile until then) and bounded, and the same fields
 * written back, so what `port list` shows and what the saved port list
 * holds re-create the port exactly.
 *
 *   {"kind":"vxlan","name":"up0","remote":"192.0.2.2","vni":42,
 *    "local":"192.0.2.1","dstport":4789,"mtu":1450}
 * ("remote": "192.0.2.2,192.0.2.3" for several, flood and learn)
 *   {"kind":"afxdp","name":"nic0","ifname":"eth1","queues":1,
 *    "mode":"native","zerocopy":"auto"}
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <hugelink/sw_uplinks.h>

#include "hugelinkd.h"

bool hld_uplink_kind(const char *kind)
{
	return strcmp(kind, "vxlan") == 0 || strcmp(kind, "afxdp") == 0;
}

/* An optional unsigned field within [lo, hi]; absent or null: dflt. */
static int uint_field(const struct hl_json *spec, const char *key, uint64_t lo, uint64_t hi, uint64_t dflt,
		      const char *name, uint64_t *out)
{
	const struct hl_json *j = hl_json_get(spec, key);
	if (j == NULL || hl_json_is_null(j)) {
		*out = dflt;
		return 0;
	}
	if (!hl_json_u64(j, out) || *out < lo || *out > hi)
		return hl_error(-EINVAL, "port %s: \"%s\" must be an integer in %llu..%llu", name, key,
				(unsigned long long)lo, (unsigned long long)hi);
	return 0;
}

/* A dotted IPv4 address field; absent or null allowed only when !need. */
static int ip_field(const struct hl_json *spec, const char *key, bool need, const char *name, uint32_t *ip,
		    char txt[16])
{
	const struct hl_json *j = hl_json_get(spec, key);
	const char *s = hl_json_str(j);
	*ip = 0;
	txt[0] = '\0';
	if (!need && (j == NULL || hl_json_is_null(j)))
		return 0;
	struct in_addr a;
	if (s == NULL || strlen(s) >= 16 || inet_pton(AF_INET, s, &a) != 1)
		return hl_error(-EINVAL, "vxlan port %s: \"%s\" must be an IPv4 address (a.b.c.d)", name, key);
	*ip = a.s_addr;
	snprintf(txt, 16, "%s", s);
	return 0;
}

/* An optional string field, one of choices (NULL-terminated; the first is the default), into out. */
static int choice_field(const struct hl_json *spec, const char *key, const char *const *choices, const char *name,
			char out[8])
{
	const struct hl_json *j = hl_json_get(spec, key);
	const char *v = hl_json_str(j);
	if (j == NULL || hl_json_is_null(j))
		v = choices[0];
	for (unsigned i = 0; v != NULL && choices[i] != NULL; i++) {
		if (strcmp(v, choices[i]) == 0) {
			snprintf(out, 8, "%s", v);
			return 0;
		}
	}
	return hl_error(-EINVAL, "port %s: \"%s\" must be one of %s, %s%s%s", name, key, choices[0], choices[1],
			choices[2] ? ", " : "", choices[2] ? choices[2] : "");
}

static int afxdp_create(struct daemon *d, const char *name, const struct hl_json *spec, struct port_conf *c,
			struct hl_sw_port **p)
{
	static const char *const modes[] = {"native", "generic", NULL}, *const zcs[] = {"auto", "on", "off", NULL};
	const char *ifname = hl_json_str(hl_json_get(spec, "ifname"));
	uint64_t queues;
	int rc;
	if (ifname == NULL || ifname[0] == '\0' || strlen(ifname) >= sizeof(c->up.ifname))
		return hl_error(-EINVAL, "afxdp port %s: \"ifname\" must be an interface name under 16 characters", name);
	if ((rc = uint_field(spec, "queues", 1, HL_AFXDP_MAX_QUEUES, 1, name, &queues)) < 0 ||
	    (rc = choice_field(spec, "mode", modes, name, c->up.mode)) < 0 ||
	    (rc = choice_field(spec, "zerocopy", zcs, name, c->up.zerocopy)) < 0)
		return rc;
	snprintf(c->up.ifname, sizeof(c->up.ifname), "%s", ifname);
	c->up.queues = (unsigned)queues;
	snprintf(c->kind, sizeof(c->kind), "afxdp");
	struct hl_afxdp_params prm = {
		.name = name, .ifname = ifname, .queues = c->up.queues,
		.mode = strcmp(c->up.mode, "generic") == 0 ? HL_AFXDP_MODE_GENERIC : HL_AFXDP_MODE_NATIVE,
		.zerocopy = strcmp(c->up.zerocopy, "on") == 0	 ? HL_AFXDP_ZC_ON
			    : strcmp(c->up.zerocopy, "off") == 0 ? HL_AFXDP_ZC_OFF
								 : HL_AFXDP_ZC_AUTO};
	return hl_sw_port_afxdp_create(d->pool, &prm, p);
}

/* "remote": one to HL_VXLAN_MAX_REMOTES dotted IPv4 addresses, comma-separated. */
static int remotes_field(const struct hl_json *spec, const char *name, struct hl_vxlan_params *prm, char *txt,
			 size_t txtlen)
{
	const char *s = hl_json_str(hl_json_get(spec, "remote"));
	if (s == NULL || s[0] == '\0' || strlen(s) >= txtlen)
		return hl_error(-EINVAL, "vxlan port %s: \"remote\" must be up to %u IPv4 addresses, comma-separated",
				name, HL_VXLAN_MAX_REMOTES);
	snprintf(txt, txtlen, "%s", s);
	prm->nremote = 0;
	for (const char *p = s; *p != '\0';) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char one[16];
		struct in_addr a;
		if (len == 0 || len >= sizeof(one) || prm->nremote == HL_VXLAN_MAX_REMOTES)
			return hl_error(-EINVAL, "vxlan port %s: \"remote\" must be up to %u IPv4 addresses, "
					"comma-separated", name, HL_VXLAN_MAX_REMOTES);
		memcpy(one, p, len);
		one[len] = '\0';
		if (inet_pton(AF_INET, one, &a) != 1)
			return hl_error(-EINVAL, "vxlan port %s: remote \"%s\" is not an IPv4 address (a.b.c.d)", name, one);
		prm->remote[prm->nremote++] = a.s_addr;
		p += len + (comma ? 1 : 0);
		if (comma && *p == '\0')
			return hl_error(-EINVAL, "vxlan port %s: \"remote\" ends with a comma", name);
	}
	return 0;
}

static int vxlan_create(const char *name, const struct hl_json *spec, struct port_conf *c, struct hl_sw_port **p)
{
	struct hl_vxlan_params prm = {0};
	uint64_t vni, dport, mtu;
	int rc;
	if ((rc = remotes_field(spec, name, &prm, c->up.remote, sizeof(c->up.remote))) < 0 ||
	    (rc = ip_field(spec, "local", false, name, &prm.local, c->up.local)) < 0)
		return rc;
	if (hl_json_get(spec, "vni") == NULL)
		return hl_error(-EINVAL, "vxlan port %s: missing \"vni\" (0..16777215)", name);
	if ((rc = uint_field(spec, "vni", 0, 0xffffff, 0, name, &vni)) < 0 ||
	    (rc = uint_field(spec, "dstport", 1, 65535, HL_VXLAN_PORT_DEFAULT, name, &dport)) < 0 ||
	    (rc = uint_field(spec, "mtu", HL_VXLAN_MTU_MIN, 1500, HL_VXLAN_MTU_DEFAULT, name, &mtu)) < 0)
		return rc;
	prm.vni = (uint32_t)vni;
	prm.dstport = (uint16_t)dport;
	prm.mtu = (uint16_t)mtu;
	c->up.vni = prm.vni;
	c->up.dstport = prm.dstport;
	c->up.mtu = prm.mtu;
	snprintf(c->kind, sizeof(c->kind), "vxlan");
	return hl_sw_port_vxlan_create(name, &prm, p);
}

int hld_uplink_create(struct daemon *d, const char *kind, const struct hl_json *spec, struct port_conf *c,
		      struct hl_sw_port **p)
{
	if (strcmp(kind, "vxlan") == 0)
		return vxlan_create(c->name, spec, c, p);
	if (strcmp(kind, "afxdp") == 0)
		return afxdp_create(d, c->name, spec, c, p);
	return hl_error(-EINVAL, "unknown uplink kind \"%s\"", kind);
}

void hld_uplink_json(const struct port_conf *c, struct hl_jw *w)
{
	if (strcmp(c->kind, "afxdp") == 0) {
		hl_jw_kv_str(w, "ifname", c->up.ifname);
		hl_jw_kv_u64(w, "queues", c->up.queues);
		hl_jw_kv_str(w, "mode", c->up.mode);
		hl_jw_kv_str(w, "zerocopy", c->up.zerocopy);
		return;
	}
	if (strcmp(c->kind, "vxlan") != 0)
		return;
	hl_jw_kv_str(w, "remote", c->up.remote);
	if (c->up.local[0] != '\0')
		hl_jw_kv_str(w, "local", c->up.local);
	hl_jw_kv_u64(w, "vni", c->up.vni);
	hl_jw_kv_u64(w, "dstport", c->up.dstport);
	hl_jw_kv_u64(w, "mtu", c->up.mtu);
}

static void afxdp_stats_json(const struct hl_afxdp_port *x, struct hl_jw *w)
{
	struct hl_afxdp_stats st;
	hl_afxdp_port_stats(x, &st);
	hl_jw_key(w, "afxdp");
	hl_jw_obj_begin(w);
	hl_jw_kv_u64(w, "rx_no_buf", st.rx_no_buf);
	hl_jw_kv_u64(w, "rx_bad_desc", st.rx_bad_desc);
	hl_jw_kv_u64(w, "tx_too_big", st.tx_too_big);
	hl_jw_kv_u64(w, "tx_no_frame", st.tx_no_frame);
	hl_jw_kv_u64(w, "tx_errors", st.tx_errors);
	hl_jw_kv_u64(w, "kicks", st.kicks);
	hl_jw_kv_bool(w, "zerocopy", st.zerocopy);
	hl_jw_kv_u64(w, "kernel_rx_dropped", st.kern_rx_dropped);
	hl_jw_kv_u64(w, "kernel_rx_ring_full", st.kern_rx_ring_full);
	hl_jw_kv_u64(w, "kernel_fill_empty", st.kern_fill_empty);
	hl_jw_kv_u64(w, "kernel_invalid_descs", st.kern_invalid_descs);
	/* every UMEM frame is in one of these */
	hl_jw_kv_u64(w, "umem_frames", st.frames);
	hl_jw_kv_u64(w, "umem_free", st.frames_free);
	hl_jw_kv_u64(w, "umem_fill", st.frames_fill);
	hl_jw_kv_u64(w, "umem_tx", st.frames_tx);
	hl_jw_obj_end(w);
}

void hld_uplink_stats_json(const struct hl_sw_port *p, struct hl_jw *w)
{
	const struct hl_afxdp_port *x = hl_sw_port_afxdp(p);
	if (x != NULL)
		return afxdp_stats_json(x, w);
	const struct hl_vxlan_port *vx = hl_sw_port_vxlan(p);
	if (vx == NULL)
		return;
	struct hl_vxlan_stats st;
	hl_vxlan_port_stats(vx, &st);
	hl_jw_key(w, "vxlan");
	hl_jw_obj_begin(w);
	for (unsigned k = 0; k < HL_VXLAN_DROP_MAX; k++)
		hl_jw_kv_u64(w, hl_vxlan_drop_name((enum hl_vxlan_drop)k), st.drops[k]);
	hl_jw_kv_u64(w, "socket_drops", st.socket_drops);
	hl_jw_kv_u64(w, "tx_datagrams", st.tx_datagrams);
	hl_jw_obj_end(w);
}
