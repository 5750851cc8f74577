/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for whole control requests: each line of the input is
 * one request as a client sends it, answered by the control server's own
 * request path (hl_ctl_server_answer: parse, check, count) and hugelinkd's
 * command dispatch (hld_handle, tools/hugelinkd/ctl_cmds.c, and its port
 * list on disk, port_config.c) against a live switch and pool. One daemon
 * lives through all the lines of an input, so adds, deletes, listings and
 * stats meet each other.
 *
 * vhost, TAP, VXLAN and AF_XDP ports would make sockets and interfaces
 * (and attach XDP programs) wherever a request says; here their create
 * calls (those of src/switch/sw_port_vhost.c, sw_port_tap.c,
 * sw_port_vxlan.c and sw_port_afxdp.c that the dispatch calls) make stub
 * ports that check what the dispatch let through. shm ports are real, in a pool in a private
 * directory. A vhost stub has a receive queue a pair, polled apart as a
 * real one's are, and the switch two workers, so a worker map (port-add's
 * or port-set's "worker_map") really moves queues between them.
 *
 * Checked after every request: the reply is one JSON object with a boolean
 * "ok" and, when false, a non-empty "error"; every line is counted once as
 * a request or a bad request, and as refused exactly when "ok" is false. After every input: the saved port list
 * brings back exactly the ports there were (and every queue pair on the
 * worker it had), and once they are all deleted
 * no buffer of the switch's pool is in use.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include <hugelink/ctl.h>
#include <hugelink/pool.h>
#include <hugelink/sw_ports.h>
#include <hugelink/sw_uplinks.h>

#include "hugelinkd.h"

#define MAX_LINES 64

/* ---- what stands in for vhost and TAP ports --------------------------------------------- */

struct stub_port {
	struct hl_sw_port base;
	char ifname[16];
	char path[108];
	bool client;
};

static uint16_t stub_rx(struct hl_sw_port *p, struct hl_bufpool *bp, struct hl_buf **pkts, uint16_t n)
{
	(void)p, (void)bp, (void)pkts, (void)n;
	return 0;
}

static uint16_t stub_tx(struct hl_sw_port *p, struct hl_buf **pkts, uint16_t n, uint64_t *bytes)
{
	(void)p, (void)bytes;
	hl_buf_free_bulk(pkts, n);
	return 0;
}

static const char *stub_state(const struct hl_sw_port *p)
{
	(void)p;
	return "down";
}

static void stub_close(struct hl_sw_port *p)
{
	free(p);
}

/* a queue pair's transmit queue, polled apart as a multiqueue port's are: never anything in it */
static uint16_t stub_rx_queue(struct hl_sw_port *p, unsigned q, struct hl_bufpool *bp, struct hl_buf **pkts,
			      uint16_t n)
{
	assert(q < (p->nrxq > 1 ? p->nrxq : 1u));
	return stub_rx(p, bp, pkts, n);
}

static uint32_t stub_rxq_ready(const struct hl_sw_port *p)
{
	(void)p;
	return 0;
}

static const struct hl_sw_port_ops vhost_stub_ops = {
	.kind = "vhost", .rx = stub_rx, .tx = stub_tx, .state = stub_state, .close = stub_close,
	.rx_queue = stub_rx_queue, .rxq_ready = stub_rxq_ready};
static const struct hl_sw_port_ops tap_stub_ops = {
	.kind = "tap", .rx = stub_rx, .tx = stub_tx, .state = stub_state, .close = stub_close};

static bool name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n >= HL_SW_NAME_LEN)
		return false;
	for (const char *s = name; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '_' || *s == '.'))
			return false;
	return true;
}

static struct stub_port *stub_new(const struct hl_sw_port_ops *ops, const char *name)
{
	struct stub_port *s = calloc(1, sizeof(*s));
	assert(s != NULL);
	s->base.ops = ops;
	snprintf(s->base.name, sizeof(s->base.name), "%s", name);
	return s;
}

int hl_sw_port_vhost_create(const struct hl_sw_vhost_params *prm, struct hl_sw_port **out)
{
	/* what the dispatch checked before it got here */
	assert(name_ok(prm->name));
	assert(prm->path != NULL && prm->path[0] == '/' && strlen(prm->path) < sizeof(((struct sockaddr_un *)0)->sun_path));
	assert(prm->zcopy == HL_VHOST_ZC_AUTO || prm->zcopy == HL_VHOST_ZC_ON || prm->zcopy == HL_VHOST_ZC_OFF);
	assert(prm->queues >= 1 && prm->queues <= HL_VHOST_MAX_QUEUE_PAIRS);
	struct stub_port *s = stub_new(&vhost_stub_ops, prm->name);
	s->base.nrxq = (uint16_t)prm->queues; /* as the real port: one receive queue a pair */
	snprintf(s->path, sizeof(s->path), "%s", prm->path);
	s->client = prm->client;
	*out = &s->base;
	return 0;
}

const char *hl_sw_port_vhost_path(const struct hl_sw_port *p, bool *client)
{
	const struct stub_port *s = (const struct stub_port *)p;
	if (client != NULL)
		*client = s->client;
	return s->path;
}

/* A stub vhost port: what a real one says before any front-end connected. */
int hl_sw_port_vhost_info(const struct hl_sw_port *p, struct hl_sw_vhost_info *info)
{
	if (p->ops != &vhost_stub_ops)
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	info->pairs = p->nrxq > 1 ? p->nrxq : 1;
	return 0;
}

int hl_sw_port_tap_create(const char *name, const char *ifname, bool offload, struct hl_sw_port **out)
{
	(void)offload;
	assert(name_ok(name));
	assert(ifname == NULL || strlen(ifname) < 16);
	struct stub_port *s = stub_new(&tap_stub_ops, name);
	snprintf(s->ifname, sizeof(s->ifname), "%s", ifname != NULL && ifname[0] ? ifname : name);
	*out = &s->base;
	return 0;
}

const char *hl_sw_port_tap_ifname(const struct hl_sw_port *p)
{
	return ((const struct stub_port *)p)->ifname;
}

/* VXLAN and AF_XDP ports would open sockets and attach XDP programs: stubs too (sw_uplinks.h). */
static const struct hl_sw_port_ops vxlan_stub_ops = {
	.kind = "vxlan", .rx = stub_rx, .tx = stub_tx, .state = stub_state, .close = stub_close};
static const struct hl_sw_port_ops afxdp_stub_ops = {
	.kind = "afxdp", .rx = stub_rx, .tx = stub_tx, .state = stub_state, .close = stub_close};

int hl_sw_port_vxlan_create(const char *name, const struct hl_vxlan_params *prm, struct hl_sw_port **out)
{
	assert(name_ok(name));
	assert(prm->nremote >= 1 && prm->nremote <= HL_VXLAN_MAX_REMOTES && prm->vni <= 0xffffffu);
	assert(prm->dstport != 0 && prm->mtu >= HL_VXLAN_MTU_MIN && prm->mtu <= 1500);
	*out = &stub_new(&vxlan_stub_ops, name)->base;
	return 0;
}

const struct hl_vxlan_port *hl_sw_port_vxlan(const struct hl_sw_port *p)
{
	(void)p;
	return NULL;
}

int hl_sw_port_afxdp_create(struct hl_pool *pool, const struct hl_afxdp_params *prm, struct hl_sw_port **out)
{
	assert(pool != NULL && name_ok(prm->name));
	assert(prm->ifname != NULL && prm->ifname[0] != '\0' && strlen(prm->ifname) < 16);
	assert(prm->queues >= 1 && prm->queues <= HL_AFXDP_MAX_QUEUES);
	*out = &stub_new(&afxdp_stub_ops, prm->name)->base;
	return 0;
}

const struct hl_afxdp_port *hl_sw_port_afxdp(const struct hl_sw_port *p)
{
	(void)p;
	return NULL;
}

/* ---- the daemon ---------------------------------------------------------------------------- */

static struct daemon d;
static struct hl_ctl_server srv;
static char dir[] = "/tmp/hlfuzz-ctl.XXXXXX";
static char state_path[64];

static void cleanup(void)
{
	hl_switch_destroy(d.sw);
	hl_bufpool_free(d.bp);
	hl_pool_destroy(d.pool);
	unlink(state_path);
	rmdir(dir);
}

static void setup(void)
{
	hl_log_set_level(HL_LOG_OFF);
	if (mkdtemp(dir) == NULL)
		abort();
	static char name[32]; /* the daemon's name for as long as it lives */
	snprintf(name, sizeof(name), "fzctl-%d", (int)getpid());
	struct hl_pool_params pp = {.name = name, .size = 16 << 20, .run_dir = dir, .shm_dir = dir,
				    .flags = HL_POOL_F_NO_HUGE};
	if (hl_pool_create(&pp, &d.pool) < 0 || hl_bufpool_create(d.pool, "sw", 2048, 2048, 0, &d.bp) < 0)
		abort();
	/* two workers: a worker map has somewhere to move pairs to */
	struct hl_switch_params sp = {.bp = d.bp, .workers = 2, .first_cpu = -1};
	if (hl_switch_create(&sp, &d.sw) < 0)
		abort();
	d.name = name;
	d.started_ns = hl_now_ns();
	snprintf(state_path, sizeof(state_path), "%s/ports.json", dir);
	d.state_path = state_path;
	srv.fn = hld_handle;
	srv.opaque = &d;
	atexit(cleanup);
}

static unsigned nports(void)
{
	unsigned n = 0;
	for (unsigned i = 0; i < HL_SW_MAX_PORTS; i++)
		n += hl_switch_port_at(d.sw, i) != NULL;
	return n;
}

static void del_all(void)
{
	for (unsigned i = 0; i < HL_SW_MAX_PORTS; i++) {
		struct hl_sw_port *p = hl_switch_port_at(d.sw, i);
		char name[HL_SW_NAME_LEN];
		if (p == NULL)
			continue;
		snprintf(name, sizeof(name), "%s", p->name);
		assert(hld_port_del(&d, name) == 0);
	}
}

static int check_reply(const struct hl_jw *w)
{
	struct hl_json *r;
	assert(hl_jw_cstr(w) != NULL);
	assert(hl_json_parse(hl_jw_cstr(w), hl_jw_len(w), &r) == 0);
	assert(hl_json_type(r) == HL_JSON_OBJ);
	int ok = hl_json_bool(hl_json_get(r, "ok"));
	assert(ok == 0 || ok == 1);
	if (!ok) {
		const char *e = hl_json_str(hl_json_get(r, "error"));
		assert(e != NULL && e[0] != '\0');
	}
	hl_json_free(r);
	return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (d.sw == NULL)
		setup();
	if (size > HL_CTL_MAX_REQUEST)
		return 0;
	/* a first byte of 0xff: the daemon is still starting */
	d.ready = !(size > 0 && data[0] == 0xff);
	uint64_t before = srv.requests + srv.bad_requests, refused = srv.refused;
	unsigned lines = 0, refusals = 0;
	for (size_t at = 0; at < size && lines < MAX_LINES; lines++) {
		const uint8_t *nl = memchr(data + at, '\n', size - at);
		size_t len = nl != NULL ? (size_t)(nl - (data + at)) : size - at;
		/* the server's buffer: exactly the request, so a read past it is caught */
		char *text = malloc(len ? len : 1);
		assert(text != NULL);
		memcpy(text, data + at, len);
		struct hl_jw w;
		hl_jw_init(&w);
		hl_ctl_server_answer(&srv, text, len, &w);
		refusals += !check_reply(&w);
		hl_jw_free(&w);
		free(text);
		at += len + 1;
	}
	assert(srv.requests + srv.bad_requests - before == lines);
	assert(srv.refused - refused == refusals); /* every refusal counted, and nothing else */

	/* the port list on disk is the ports there are: deleting them all and loading it brings them back */
	d.ready = true;
	unsigned n = nports();
	if (n > 0) {
		/* and every queue pair polled by the worker it had: a worker map comes back too */
		static char names[HL_SW_MAX_PORTS][HL_SW_NAME_LEN];
		static unsigned wk[HL_SW_MAX_PORTS][HL_VHOST_MAX_QUEUE_PAIRS], nq[HL_SW_MAX_PORTS];
		unsigned k = 0;
		for (unsigned i = 0; i < HL_SW_MAX_PORTS; i++) {
			struct hl_sw_port *p = hl_switch_port_at(d.sw, i);
			if (p == NULL || d.conf[i].nmap == 0)
				continue;
			snprintf(names[k], sizeof(names[k]), "%s", p->name);
			nq[k] = d.conf[i].queues;
			for (unsigned q = 0; q < nq[k]; q++)
				wk[k][q] = hl_switch_queue_worker(p, q);
			k++;
		}
		del_all(); /* as the daemon's own exit does: the list on disk stays */
		assert(hld_config_load(&d, state_path, false) == 0);
		assert(nports() == n);
		for (unsigned j = 0; j < k; j++) {
			struct hl_sw_port *p = hl_switch_find_port(d.sw, names[j]);
			assert(p != NULL);
			for (unsigned q = 0; q < nq[j]; q++)
				assert(hl_switch_queue_worker(p, q) == wk[j][q]);
		}
		del_all();
	}
	unlink(state_path);
	assert(nports() == 0);
	assert(hl_bufpool_in_use(d.bp) == 0);
	return 0;
}
