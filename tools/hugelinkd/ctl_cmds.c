/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hugelinkd's control commands. Each request is hostile until checked:
 * every field is type-checked and bounded here, and anything wrong gets
 * {"ok":false,"error":...} with the reason; the daemon carries on.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include <hugelink/memif_port.h>
#include <hugelink/pool.h>
#include <hugelink/shm_port.h>
#include <hugelink/sw_ports.h>

#include "hugelinkd.h"

void hld_fail(struct hl_jw *r, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	hl_jw_obj_begin(r);
	hl_jw_kv_bool(r, "ok", false);
	hl_jw_kv_str(r, "error", msg);
	hl_jw_obj_end(r);
}

void hld_ok_begin(struct hl_jw *r)
{
	hl_jw_obj_begin(r);
	hl_jw_kv_bool(r, "ok", true);
}

/* A string field that must be there, non-empty and shorter than max. */
static const char *need_str(const struct hl_json *req, const char *key, size_t max, struct hl_jw *r)
{
	const char *s = hl_json_str(hl_json_get(req, key));
	if (s == NULL || s[0] == '\0') {
		hld_fail(r, "missing \"%s\" (a non-empty string)", key);
		return NULL;
	}
	if (strlen(s) >= max) {
		hld_fail(r, "\"%s\" is longer than %zu characters", key, max - 1);
		return NULL;
	}
	return s;
}

/*
 * A memif port and its peer (memif_port.h). As a server the switch copies
 * every frame; whether the client copies too shows in its regions: one
 * that lays out buffers of its own (DPDK's default) has them in the one
 * region with its rings, a zero-copy client exports its packet memory as
 * further regions. As a client the switch lends its own buffers (region 1
 * is its pool) and the server copies.
 */
static void list_memif(struct hl_jw *r, const struct port_conf *c, const struct hl_memif_port *mp)
{
	hl_jw_kv_str(r, "socket", c->path);
	hl_jw_kv_str(r, "role", c->client ? "client" : "server");
	hl_jw_kv_u64(r, "id", c->memif.id);
	hl_jw_kv_u64(r, "rings", c->memif.rings);
	hl_jw_kv_u64(r, "ring_size", c->memif.ring_size);
	if (mp == NULL)
		return;
	bool up = hl_memif_port_up(mp);
	hl_jw_kv_str(r, "peer", up ? mp->ctl.peer_name : "");
	hl_jw_kv_str(r, "peer_if", up ? mp->ctl.peer_if_name : "");
	char ver[16];
	snprintf(ver, sizeof(ver), "%u.%u", mp->ctl.peer_version >> 8, mp->ctl.peer_version & 0xff);
	hl_jw_kv_str(r, "version", up ? ver : "");
	hl_jw_kv_u64(r, "queues", up ? mp->nq : 0);
	hl_jw_kv_u64(r, "regions", up ? mp->ctl.nregions : 0);
	hl_jw_kv_str(r, "copy", c->client ? "switch zero-copy" : "switch copies");
	hl_jw_kv_bool(r, "peer_zero_copy", up && !c->client && mp->ctl.nregions > 1);
	if (c->client)
		hl_jw_kv_u64(r, "connect_fails", mp->connect_fails);
	hl_jw_kv_u64(r, "connects", mp->ctl.stats.connects);
	hl_jw_kv_u64(r, "bad_msgs", mp->ctl.stats.bad_msgs);
	hl_jw_kv_u64(r, "faults", mp->faults);
	hl_jw_kv_u64(r, "rejected", mp->rejected);
	hl_jw_kv_str(r, "last_reason", mp->ctl.reason);
}

/*
 * "ports": an object a port, in slot order, opening with its name, kind
 * and state; fields() adds the rest.
 */
static void json_ports(struct daemon *d, struct hl_jw *r,
		       void (*fields)(struct daemon *d, struct hl_sw_port *p, struct hl_jw *r))
{
	hl_jw_key(r, "ports");
	hl_jw_arr_begin(r);
	for (unsigned i = 0; i < HL_SW_MAX_PORTS; i++) {
		struct hl_sw_port *p = hl_switch_port_at(d->sw, i);
		if (p == NULL)
			continue;
		hl_jw_obj_begin(r);
		hl_jw_kv_str(r, "name", p->name);
		hl_jw_kv_str(r, "kind", p->ops->kind);
		hl_jw_kv_str(r, "state", p->ops->state(p));
		fields(d, p, r);
		hl_jw_obj_end(r);
	}
	hl_jw_arr_end(r);
}

/* A port as it was configured. */
static void list_port(struct daemon *d, struct hl_sw_port *p, struct hl_jw *r)
{
	const struct port_conf *c = &d->conf[p->id];
	if (strcmp(c->kind, "vhost") == 0) {
		hl_jw_kv_str(r, "path", c->path);
		hl_jw_kv_str(r, "mode", c->client ? "client" : "server");
		hl_jw_kv_str(r, "zcopy", c->zcopy);
		hl_jw_kv_str(r, "offload", c->offload);
		hl_jw_kv_str(r, "packed", c->packed);
		struct hl_sw_vhost_info vi;
		if (strcmp(p->ops->state(p), "up") == 0 && hl_sw_port_vhost_info(p, &vi) == 0) {
			hl_jw_kv_str(r, "ring", vi.packed ? "packed" : "split");
			hl_jw_kv_bool(r, "in_order", vi.in_order);
		}
		hl_jw_kv_u64(r, "queues", c->queues);
		hld_worker_map_json(r, c, true);
	} else if (strcmp(c->kind, "tap") == 0) {
		hl_jw_kv_str(r, "ifname", hl_sw_port_tap_ifname(p));
		hl_jw_kv_str(r, "offload", c->offload);
	} else if (strcmp(c->kind, "shm") == 0) {
		/* a shared port's peer maps the whole pool: it is trusted with every buffer
		 * in it; an isolated port's peer maps its own pool (the record) alone */
		bool iso = hl_sw_port_shm_isolated(p);
		const char *rec = hl_sw_port_shm_record(p);
		hl_jw_kv_bool(r, "shared", !iso);
		hl_jw_kv_bool(r, "isolated", iso);
		if (rec != NULL)
			hl_jw_kv_str(r, "record", rec);
	} else if (strcmp(c->kind, "memif") == 0) {
		list_memif(r, c, hl_sw_port_memif(p));
	} else {
		hld_uplink_json(c, r);
	}
	hld_vlan_json(r, &p->vlan, true);
}

static void cmd_port_list(struct daemon *d, struct hl_jw *r)
{
	hld_ok_begin(r);
	json_ports(d, r, list_port);
	hl_jw_obj_end(r);
}

/* A port's offload counters: what was checked coming in, what was done going out. */
static void json_offload(struct hl_jw *r, const struct hl_ol_stats *o)
{
	hl_jw_key(r, "offload");
	hl_jw_obj_begin(r);
	hl_jw_kv_u64(r, "accepted", o->accepted);
	hl_jw_kv_u64(r, "gso_frames", o->gso_frames);
	hl_jw_kv_u64(r, "gso_segments", o->gso_segments);
	hl_jw_kv_u64(r, "csum_done", o->csum_done);
	hl_jw_kv_u64(r, "csum_copied", o->csum_copied);
	hl_jw_kv_u64(r, "hdr_len_fixed", o->hdr_len_fixed);
	hl_jw_kv_u64(r, "flags_ignored", o->flags_ignored);
	hl_jw_key(r, "refused");
	hl_jw_obj_begin(r);
	for (unsigned k = 0; k < HL_OL_R_MAX; k++)
		hl_jw_kv_u64(r, hl_ol_reason_name((enum hl_ol_reason)k), o->refused[k]);
	hl_jw_obj_end(r);
	hl_jw_obj_end(r);
}

/* The log's state, in stats and in log-level's reply. */
static void json_log(struct hl_jw *r)
{
	struct hl_log_stats ls;
	hl_log_stats(&ls);
	hl_jw_kv_str(r, "level", hl_log_level_name(hl_log_get_level()));
	hl_jw_kv_str(r, "target", hl_log_target());
	hl_jw_kv_u64(r, "suppressed", ls.suppressed);
	hl_jw_kv_u64(r, "unsent", ls.unsent);
}

/* A memif port's own counters, all queues added up: chains, broken rings, kicks, the handshake. */
static void json_memif(struct hl_jw *r, const struct hl_memif_port *mp)
{
	struct hl_memif_q_stats rx = {0}, tx = {0};
	for (unsigned i = 0; i < HL_MEMIF_MAX_QUEUES; i++) {
		const struct hl_memif_q_stats *a = &mp->rx[i].stats, *b = &mp->tx[i].stats;
		rx.chained += __atomic_load_n(&a->chained, __ATOMIC_RELAXED);
		rx.bad_desc += __atomic_load_n(&a->bad_desc, __ATOMIC_RELAXED);
		rx.bad_ring += __atomic_load_n(&a->bad_ring, __ATOMIC_RELAXED);
		tx.chained += __atomic_load_n(&b->chained, __ATOMIC_RELAXED);
		tx.bad_desc += __atomic_load_n(&b->bad_desc, __ATOMIC_RELAXED);
		tx.bad_ring += __atomic_load_n(&b->bad_ring, __ATOMIC_RELAXED);
		tx.kicks += __atomic_load_n(&b->kicks, __ATOMIC_RELAXED);
	}
	hl_jw_key(r, "memif");
	hl_jw_obj_begin(r);
	hl_jw_kv_u64(r, "rx_chained", rx.chained);
	hl_jw_kv_u64(r, "tx_chained", tx.chained);
	hl_jw_kv_u64(r, "bad_desc", rx.bad_desc + tx.bad_desc);
	hl_jw_kv_u64(r, "bad_ring", rx.bad_ring + tx.bad_ring);
	hl_jw_kv_u64(r, "tx_kicks", tx.kicks);
	hl_jw_kv_u64(r, "bad_msgs", __atomic_load_n(&mp->ctl.stats.bad_msgs, __ATOMIC_RELAXED));
	hl_jw_kv_u64(r, "connects", __atomic_load_n(&mp->ctl.stats.connects, __ATOMIC_RELAXED));
	hl_jw_kv_u64(r, "faults", __atomic_load_n(&mp->faults, __ATOMIC_RELAXED));
	hl_jw_obj_end(r);
}

/*
 * A vhost port's queue pairs, as the switch sees them: rx is what it took
 * from the guest's transmit queue 2k+1, tx what it gave the guest's
 * receive queue 2k; "enabled" while the guest runs both; "worker" polls
 * the pair's transmit queue.
 */
static void json_vhost_queues(struct hl_jw *r, const struct hl_sw_port *p, const struct hl_sw_vhost_info *vi)
{
	hl_jw_key(r, "queues");
	hl_jw_arr_begin(r);
	for (unsigned k = 0; k < vi->pairs; k++) {
		const struct hl_sw_vhost_queue *tx = &vi->pair[k][0], *rx = &vi->pair[k][1];
		hl_jw_obj_begin(r);
		hl_jw_kv_u64(r, "pair", k);
		hl_jw_kv_bool(r, "enabled", ((vi->running >> (2 * k)) & 3u) == 3u);
		hl_jw_kv_u64(r, "worker", hl_switch_queue_worker(p, k));
		hl_jw_kv_u64(r, "rx_packets", rx->packets);
		hl_jw_kv_u64(r, "rx_bytes", rx->bytes);
		hl_jw_kv_u64(r, "rx_drops", rx->drop_no_buf + rx->drop_bad_chain + rx->drop_bad_offload);
		hl_jw_kv_u64(r, "tx_packets", tx->packets);
		hl_jw_kv_u64(r, "tx_bytes", tx->bytes);
		hl_jw_kv_u64(r, "tx_drops", tx->short_tx);
		hl_jw_obj_end(r);
	}
	hl_jw_arr_end(r);
}

/* A port's counters. */
static void stats_port(struct daemon *d, struct hl_sw_port *p, struct hl_jw *r)
{
	struct hl_sw_port_stats st;
	hl_switch_port_stats(d->sw, p, &st);
	hl_jw_kv_u64(r, "rx_packets", st.rx_packets);
	hl_jw_kv_u64(r, "rx_bytes", st.rx_bytes);
	hl_jw_kv_u64(r, "tx_packets", st.tx_packets);
	hl_jw_kv_u64(r, "tx_bytes", st.tx_bytes);
	hl_jw_key(r, "drops");
	hl_jw_obj_begin(r);
	for (unsigned k = 0; k < HL_SW_DROP_MAX; k++)
		hl_jw_kv_u64(r, hl_sw_drop_names[k], st.drops[k]);
	hl_jw_obj_end(r);
	json_offload(r, &st.ol);
	hl_jw_kv_u64(r, "zcopy_packets", st.zcopy_packets);
	hl_jw_kv_u64(r, "copy_packets", st.copy_packets);
	hl_jw_kv_u64(r, "errors", st.errors);
	hl_jw_kv_u64(r, "dirty_log_words", st.dirty_log_words);
	hl_jw_kv_u64(r, "dirty_log_dropped", st.dirty_log_dropped);
	hl_jw_kv_u64(r, "rarps", st.rarps);
	struct hl_sw_vhost_info vi;
	if (hl_sw_port_vhost_info(p, &vi) == 0)
		json_vhost_queues(r, p, &vi);
	hld_uplink_stats_json(p, r);
	const struct hl_memif_port *mp = hl_sw_port_memif(p);
	if (mp != NULL)
		json_memif(r, mp);
	const struct hl_shm_port *sp = hl_sw_port_shm(p);
	if (sp != NULL) {
		uint32_t f = hl_shm_port_features(sp);
		struct hl_shm_port_stats ss;
		hl_shm_port_stats(sp, &ss);
		hl_jw_kv_u64(r, "peer_held", hl_shm_port_peer_held(sp));
		/* resets: the peer died or left (or port-reset), and its buffers came back */
		hl_jw_kv_u64(r, "resets", ss.c.resets);
		hl_jw_kv_u64(r, "reclaimed", ss.c.reclaimed);
		hl_jw_kv_u64(r, "ring_broken", ss.c.ring_broken);
		/* what the peer took of the shm format's features */
		hl_jw_kv_bool(r, "peer_chains", f & HL_SHM_F_CHAIN);
		hl_jw_kv_bool(r, "peer_offloads", f & HL_SHM_F_OFFLOAD);
	}
}

static void cmd_stats(struct daemon *d, struct hl_jw *r)
{
	uint64_t now = hl_now_ns();
	hld_ok_begin(r);
	hl_jw_kv_str(r, "pool", d->name);
	hl_jw_kv_dbl(r, "uptime_s", (double)(now - d->started_ns) / 1e9);
	hl_jw_kv_dbl(r, "last_outage_s", (double)d->outage_ns / 1e9);
	hl_jw_key(r, "workers");
	hl_jw_arr_begin(r);
	for (unsigned w = 0; w < hl_switch_workers(d->sw); w++) {
		struct hl_sw_worker_info wi;
		hl_switch_worker_info(d->sw, w, &wi);
		hl_jw_obj_begin(r);
		hl_jw_kv_u64(r, "id", w);
		hl_jw_kv_str(r, "state", wi.sleeping ? "sleeping" : "polling");
		hl_jw_kv_u64(r, "sleeps", wi.sleeps);
		hl_jw_kv_dbl(r, "busy_pct", wi.total_ns ? 100.0 * (double)wi.busy_ns / (double)wi.total_ns : 0);
		hl_jw_obj_end(r);
	}
	hl_jw_arr_end(r);
	struct hl_bufpool_stats bs;
	hl_bufpool_stats(d->bp, &bs);
	hl_jw_key(r, "buffers");
	hl_jw_obj_begin(r);
	hl_jw_kv_u64(r, "total", bs.n);
	hl_jw_kv_u64(r, "in_use", bs.in_use);
	hl_jw_obj_end(r);
	/* where zcopy auto starts to pin, and whether that was measured here or is the default */
	hl_jw_key(r, "zcopy_auto");
	hl_jw_obj_begin(r);
	hl_jw_kv_u64(r, "min_len", d->zc_calib.min_len);
	hl_jw_kv_bool(r, "measured", d->zc_calib.measured);
	hl_jw_obj_end(r);
	if (d->ctl != NULL) {
		/* this request is counted already: the numbers include it */
		hl_jw_key(r, "control");
		hl_jw_obj_begin(r);
		hl_jw_kv_u64(r, "requests", d->ctl->requests);
		hl_jw_kv_u64(r, "refused", d->ctl->refused);
		hl_jw_kv_u64(r, "bad_requests", d->ctl->bad_requests);
		hl_jw_kv_u64(r, "too_large", d->ctl->too_large);
		hl_jw_kv_u64(r, "timeouts", d->ctl->timeouts);
		hl_jw_kv_u64(r, "busy", d->ctl->busy);
		hl_jw_obj_end(r);
	}
	hl_jw_key(r, "log");
	hl_jw_obj_begin(r);
	json_log(r);
	hl_jw_obj_end(r);
	json_ports(d, r, stats_port);
	hl_jw_obj_end(r);
}

/* {"cmd":"log-level"} shows the level, with "level" sets it: for the whole daemon, at once. */
static void cmd_log_level(const struct hl_json *req, struct hl_jw *r)
{
	const struct hl_json *jl = hl_json_get(req, "level");
	if (jl != NULL && !hl_json_is_null(jl)) {
		int l = hl_log_level_parse(hl_json_str(jl));
		if (l < 0)
			return hld_fail(r, "\"level\" must be err, warn, info or debug");
		int was = hl_log_get_level();
		hl_log_set_level(l);
		/* said at the more verbose of the two levels, so it is seen whichever way it went */
		hl_log(l > was ? l : was, "hugelinkd: log level %s (was %s)", hl_log_level_name(l),
		       hl_log_level_name(was));
	}
	hld_ok_begin(r);
	json_log(r);
	hl_jw_obj_end(r);
}

/* The Prometheus text, for `hlctl stats --prometheus`. */
static void cmd_metrics(struct daemon *d, struct hl_jw *r)
{
	struct hld_text t = {0};
	hld_metrics(d, &t);
	if (t.failed || t.s == NULL) {
		hld_text_free(&t);
		return hld_fail(r, "out of memory rendering the metrics");
	}
	hld_ok_begin(r);
	hl_jw_kv_str(r, "format", "prometheus-text-0.0.4");
	hl_jw_kv_str(r, "text", t.s);
	hl_jw_obj_end(r);
	hld_text_free(&t);
}

static void cmd_mac(struct daemon *d, struct hl_jw *r)
{
	static struct hl_mac_entry e[4096];
	unsigned n = hl_mac_dump(hl_switch_mac_table(d->sw), hl_fast_ns(), e, 4096);
	hld_ok_begin(r);
	hl_jw_kv_dbl(r, "aging_s", (double)hl_switch_aging_ns(d->sw) / 1e9);
	struct hl_sw_mac_moves ms;
	hl_switch_mac_moves(d->sw, &ms);
	hl_jw_kv_u64(r, "moved", ms.moved);
	if (ms.last_port >= 0) {
		char mac[18];
		const uint8_t *m = ms.last_mac;
		struct hl_sw_port *p = hl_switch_port_at(d->sw, (unsigned)ms.last_port);
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
		hl_jw_key(r, "last_move");
		hl_jw_obj_begin(r);
		hl_jw_kv_str(r, "mac", mac);
		hl_jw_kv_str(r, "port", p ? p->name : "?");
		hl_jw_obj_end(r);
	}
	hl_jw_key(r, "entries");
	hl_jw_arr_begin(r);
	for (unsigned i = 0; i < n; i++) {
		char mac[18];
		struct hl_sw_port *p = hl_switch_port_at(d->sw, e[i].port);
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", e[i].mac[0], e[i].mac[1], e[i].mac[2],
			 e[i].mac[3], e[i].mac[4], e[i].mac[5]);
		hl_jw_obj_begin(r);
		hl_jw_kv_str(r, "mac", mac);
		hl_jw_kv_str(r, "port", p ? p->name : "?");
		hl_jw_kv_u64(r, "vlan", e[i].vlan);
		hl_jw_kv_dbl(r, "age_s", (double)e[i].age_ns / 1e9);
		hl_jw_obj_end(r);
	}
	hl_jw_arr_end(r);
	hl_jw_obj_end(r);
}

/* The answer to a command on a port: its error, or ok (and the port list saved when `save`). */
static void port_done(struct daemon *d, struct hl_jw *r, int rc, bool save)
{
	if (rc < 0)
		return hld_fail(r, "%s", hl_last_error());
	hld_ok_begin(r);
	hl_jw_obj_end(r);
	if (save)
		hld_state_save(d);
}

static void cmd_port_add(struct daemon *d, const struct hl_json *req, struct hl_jw *r)
{
	port_done(d, r, hld_port_add(d, req), true);
}

/* A port back to a fresh state without removing it: an shm port whose ring its peer broke. */
static void cmd_port_reset(struct daemon *d, const struct hl_json *req, struct hl_jw *r)
{
	const char *name = need_str(req, "name", HL_SW_NAME_LEN, r);
	if (name == NULL)
		return;
	port_done(d, r, hl_switch_reset_port(d->sw, name, "asked for"), false);
}

/*
 * {"cmd":"port-set","name":N, ...}: change a port in place. Every field is
 * optional, at least one is needed, and all are checked before any is
 * applied; the port list is saved after.
 */
static void cmd_port_set(struct daemon *d, const struct hl_json *req, struct hl_jw *r)
{
	const char *name = need_str(req, "name", HL_SW_NAME_LEN, r);
	if (name == NULL)
		return;
	struct hl_sw_port *p = hl_switch_find_port(d->sw, name);
	if (p == NULL)
		return hld_fail(r, "no port %s", name);
	bool vlan = hl_json_get(req, "vlan") != NULL || hl_json_get(req, "trunk") != NULL ||
		    hl_json_get(req, "native_vlan") != NULL;
	struct hld_worker_map wm;
	int rc = hld_worker_map_field(req, &d->conf[p->id], hl_switch_workers(d->sw), &wm);
	if (rc == 0 && !vlan && !wm.set)
		rc = hl_error(-EINVAL, "port %s: nothing to set (the fields are: \"vlan\", \"trunk\", \"native_vlan\", "
			      "\"worker_map\")", name);
	if (rc == 0 && vlan)
		rc = hld_port_set_vlan(d, req, name);
	if (rc == 0 && wm.set)
		rc = hld_worker_map_apply(d, p, &wm);
	port_done(d, r, rc, true);
}

static void cmd_port_del(struct daemon *d, const struct hl_json *req, struct hl_jw *r)
{
	const char *name = need_str(req, "name", HL_SW_NAME_LEN, r);
	if (name == NULL)
		return;
	port_done(d, r, hld_port_del(d, name), true);
}

void hld_handle(void *opaque, const struct hl_json *req, struct hl_jw *r)
{
	struct daemon *d = opaque;
	const char *cmd = hl_json_str(hl_json_get(req, "cmd"));

	if (!d->ready) {
		/* nothing is built yet that a command could use: say so, do not make the client wait */
		hl_jw_obj_begin(r);
		hl_jw_kv_bool(r, "ok", false);
		hl_jw_kv_str(r, "error", "starting: hugelinkd is not ready yet");
		hl_jw_kv_bool(r, "starting", true);
		hl_jw_kv_str(r, "pool", d->name);
		hl_jw_obj_end(r);
		return;
	}
	if (strcmp(cmd, "ping") == 0) {
		hld_ok_begin(r);
		hl_jw_kv_str(r, "version", HL_VERSION);
		hl_jw_kv_str(r, "pool", d->name);
		hl_jw_kv_u64(r, "pid", (uint64_t)getpid());
		hl_jw_obj_end(r);
	} else if (strcmp(cmd, "port-add") == 0) {
		cmd_port_add(d, req, r);
	} else if (strcmp(cmd, "port-del") == 0) {
		cmd_port_del(d, req, r);
	} else if (strcmp(cmd, "port-set") == 0) {
		cmd_port_set(d, req, r);
	} else if (strcmp(cmd, "port-reset") == 0) {
		cmd_port_reset(d, req, r);
	} else if (strcmp(cmd, "port-set") == 0) {
		cmd_port_set(d, req, r);
	} else if (strcmp(cmd, "port-list") == 0) {
		cmd_port_list(d, r);
	} else if (strcmp(cmd, "stats") == 0) {
		cmd_stats(d, r);
	} else if (strcmp(cmd, "mac") == 0) {
		cmd_mac(d, r);
	} else if (strcmp(cmd, "metrics") == 0) {
		cmd_metrics(d, r);
	} else if (strcmp(cmd, "log-level") == 0) {
		cmd_log_level(req, r);
	} else if (strcmp(cmd, "qemu-args") == 0) {
		hld_cmd_qemu_args(d, req, r);
	} else if (strcmp(cmd, "libvirt-xml") == 0) {
		hld_cmd_libvirt_xml(d, req, r);
	} else {
		hld_fail(r, "unknown command \"%s\"", cmd);
	}
}

/* ---- ports ------------------------------------------------------------- */

static bool path_in_use(struct daemon *d, const char *path)
{
	for (unsigned i = 0; i < HL_SW_MAX_PORTS; i++)
		if (d->conf[i].used && (strcmp(d->conf[i].kind, "vhost") == 0 || strcmp(d->conf[i].kind, "memif") == 0) &&
		    strcmp(d->conf[i].path, path) == 0)
			return true;
	return false;
}

/* An optional "on" (the default) or "off" field, into out (4 bytes). */
static int on_off_field(const struct hl_json *spec, const char *key, const char *name, char *out)
{
	const struct hl_json *j = hl_json_get(spec, key);
	const char *v = hl_json_str(j);
	if (j != NULL && !hl_json_is_null(j) && (v == NULL || (strcmp(v, "on") != 0 && strcmp(v, "off") != 0)))
		return hl_error(-EINVAL, "port %s: \"%s\" must be \"on\" or \"off\"", name, key);
	snprintf(out, 4, "%s", v ? v : "on");
	return 0;
}

/* "offload": "on" (the default) or "off". */
static int offload_field(const struct hl_json *spec, const char *name, struct port_conf *c)
{
	return on_off_field(spec, "offload", name, c->offload);
}

/* An optional whole number field: *out keeps its default when the field is absent or null. */
static int uint_field(const struct hl_json *spec, const char *key, const char *name, uint64_t max, unsigned *out)
{
	const struct hl_json *j = hl_json_get(spec, key);
	if (j == NULL || hl_json_is_null(j))
		return 0;
	uint64_t v;
	if (!hl_json_u64(j, &v) || v > max)
		return hl_error(-EINVAL, "memif port %s: \"%s\" must be a whole number up to %llu", name, key,
				(unsigned long long)max);
	*out = (unsigned)v;
	return 0;
}

/*
 * "socket" (absolute path), "role" ("server" or "client"), "id", "secret", "rings"
 * (queue pairs), "ring_size" (a power of two), "buffer_size"; the memif
 * port checks the ranges again when it opens.
 */
static int memif_fields(struct daemon *d, const struct hl_json *spec, const char *name, struct port_conf *c)
{
	const char *path = hl_json_str(hl_json_get(spec, "socket"));
	const struct hl_json *jrole = hl_json_get(spec, "role"), *jsec = hl_json_get(spec, "secret");
	const char *role = hl_json_str(jrole), *secret = hl_json_str(jsec);
	unsigned id = 0;
	int rc;
	if (path == NULL || path[0] != '/' || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return hl_error(-EINVAL, "memif port %s: \"socket\" must be an absolute socket path under %zu bytes",
				name, sizeof(((struct sockaddr_un *)0)->sun_path));
	if (jrole != NULL && !hl_json_is_null(jrole) &&
	    (role == NULL || (strcmp(role, "server") != 0 && strcmp(role, "client") != 0)))
		return hl_error(-EINVAL, "memif port %s: \"role\" must be \"server\" or \"client\"", name);
	if (jsec != NULL && !hl_json_is_null(jsec) && (secret == NULL || strlen(secret) > HL_MEMIF_SECRET_SZ))
		return hl_error(-EINVAL, "memif port %s: \"secret\" must be a string of at most %d bytes", name,
				HL_MEMIF_SECRET_SZ);
	if (path_in_use(d, path))
		return hl_error(-EADDRINUSE, "memif port %s: socket %s is used by another port", name, path);
	c->memif.rings = 1;
	c->memif.ring_size = 1024;
	c->memif.buffer_size = 2048;
	if ((rc = uint_field(spec, "id", name, UINT32_MAX, &id)) < 0 ||
	    (rc = uint_field(spec, "rings", name, HL_MEMIF_MAX_QUEUES, &c->memif.rings)) < 0 ||
	    (rc = uint_field(spec, "ring_size", name, 1u << HL_MEMIF_MAX_LOG2_RING, &c->memif.ring_size)) < 0 ||
	    (rc = uint_field(spec, "buffer_size", name, 65536, &c->memif.buffer_size)) < 0)
		return rc;
	c->memif.id = id;
	c->client = role != NULL && strcmp(role, "client") == 0;
	snprintf(c->kind, sizeof(c->kind), "memif");
	snprintf(c->path, sizeof(c->path), "%s", path);
	snprintf(c->memif.secret, sizeof(c->memif.secret), "%s", secret ? secret : "");
	return 0;
}

int hld_port_add(struct daemon *d, const struct hl_json *spec)
{
	const char *kind = hl_json_str(hl_json_get(spec, "kind"));
	const char *name = hl_json_str(hl_json_get(spec, "name"));
	struct port_conf c = {.used = true};
	struct hl_sw_port *p = NULL;
	int rc;

	if (kind == NULL)
		return hl_error(-EINVAL, "missing \"kind\" (vhost, tap, shm, memif, vxlan or afxdp)");
	if (name == NULL || name[0] == '\0' || strlen(name) >= HL_SW_NAME_LEN)
		return hl_error(-EINVAL, "\"name\" must be a string of 1..%d characters", HL_SW_NAME_LEN - 1);
	for (const char *s = name; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '-' || *s == '_' || *s == '.'))
			return hl_error(-EINVAL, "port name \"%s\": use letters, digits, '-', '_' and '.'", name);
	if (hl_switch_find_port(d->sw, name) != NULL)
		return hl_error(-EEXIST, "port %s already exists", name);
	snprintf(c.name, sizeof(c.name), "%s", name);
	if ((rc = hld_vlan_fields(spec, name, &c.vlan)) < 0)
		return rc;
	struct hld_worker_map wm;
	/* a kind that has no pairs is refused whatever else is wrong: the vhost branch checks it again */
	snprintf(c.kind, sizeof(c.kind), "%s", kind);
	if (strcmp(kind, "vhost") != 0 && (rc = hld_worker_map_field(spec, &c, hl_switch_workers(d->sw), &wm)) < 0)
		return rc;
	memset(&wm, 0, sizeof(wm));

	if (strcmp(kind, "vhost") == 0) {
		const char *path = hl_json_str(hl_json_get(spec, "path"));
		const char *mode = hl_json_str(hl_json_get(spec, "mode"));
		const char *zc = hl_json_str(hl_json_get(spec, "zcopy"));
		if ((rc = offload_field(spec, name, &c)) < 0 || (rc = on_off_field(spec, "packed", name, c.packed)) < 0)
			return rc;
		if (path == NULL || path[0] != '/' || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return hl_error(-EINVAL, "vhost port %s: \"path\" must be an absolute socket path under %zu bytes",
					name, sizeof(((struct sockaddr_un *)0)->sun_path));
		if (mode == NULL || (strcmp(mode, "server") != 0 && strcmp(mode, "client") != 0))
			return hl_error(-EINVAL, "vhost port %s: \"mode\" must be \"server\" or \"client\"", name);
		if (zc != NULL && strcmp(zc, "auto") != 0 && strcmp(zc, "on") != 0 && strcmp(zc, "off") != 0)
			return hl_error(-EINVAL, "vhost port %s: \"zcopy\" must be auto, on or off", name);
		if (path_in_use(d, path))
			return hl_error(-EADDRINUSE, "vhost port %s: path %s is used by another port", name, path);
		const struct hl_json *jq = hl_json_get(spec, "queues");
		uint64_t nq = 1;
		if (jq != NULL && !hl_json_is_null(jq) && (!hl_json_u64(jq, &nq) || nq < 1 || nq > HL_VHOST_MAX_QUEUE_PAIRS))
			return hl_error(-EINVAL, "vhost port %s: \"queues\" must be a whole number of queue pairs 1..%d",
					name, HL_VHOST_MAX_QUEUE_PAIRS);
		c.queues = (unsigned)nq;
		if ((rc = hld_worker_map_field(spec, &c, hl_switch_workers(d->sw), &wm)) < 0)
			return rc;
		c.client = strcmp(mode, "client") == 0;
		snprintf(c.kind, sizeof(c.kind), "vhost");
		snprintf(c.path, sizeof(c.path), "%s", path);
		snprintf(c.zcopy, sizeof(c.zcopy), "%s", zc ? zc : "auto");
		struct hl_sw_vhost_params vp = {
			.name = name, .path = path, .client = c.client, .no_offload = strcmp(c.offload, "off") == 0,
			.no_packed = strcmp(c.packed, "off") == 0,
			.queues = c.queues,
			.zcopy = strcmp(c.zcopy, "on") == 0	 ? HL_VHOST_ZC_ON
				 : strcmp(c.zcopy, "off") == 0 ? HL_VHOST_ZC_OFF
							       : HL_VHOST_ZC_AUTO};
		rc = hl_sw_port_vhost_create(&vp, &p);
	} else if (strcmp(kind, "tap") == 0) {
		const struct hl_json *jif = hl_json_get(spec, "ifname");
		const char *ifname = hl_json_str(jif);
		if (jif != NULL && !hl_json_is_null(jif) && (ifname == NULL || strlen(ifname) >= 16))
			return hl_error(-EINVAL, "tap port %s: \"ifname\" must be a string under 16 characters", name);
		if ((rc = offload_field(spec, name, &c)) < 0)
			return rc;
		snprintf(c.kind, sizeof(c.kind), "tap");
		snprintf(c.ifname, sizeof(c.ifname), "%s", ifname ? ifname : "");
		rc = hl_sw_port_tap_create(name, ifname, strcmp(c.offload, "off") != 0, &p);
	} else if (strcmp(kind, "shm") == 0) {
		const struct hl_json *jiso = hl_json_get(spec, "isolated");
		int iso = jiso == NULL || hl_json_is_null(jiso) ? 0 : hl_json_bool(jiso);
		if (iso < 0)
			return hl_error(-EINVAL, "shm port %s: \"isolated\" must be true or false", name);
		snprintf(c.kind, sizeof(c.kind), "shm");
		c.isolated = iso == 1;
		rc = hl_sw_port_shm_create(d->pool, d->bp, name, c.isolated, &p);
	} else if (strcmp(kind, "memif") == 0) {
		if ((rc = memif_fields(d, spec, name, &c)) < 0)
			return rc;
		struct hl_sw_memif_params mp = {.name = name, .path = c.path, .client = c.client, .bp = d->bp,
						.id = c.memif.id,
						.secret = c.memif.secret, .queues = c.memif.rings,
						.ring_size = c.memif.ring_size, .buffer_size = c.memif.buffer_size};
		rc = hl_sw_port_memif_create(&mp, &p);
	} else if (hld_uplink_kind(kind)) {
		rc = hld_uplink_create(d, kind, spec, &c, &p);
	} else {
		return hl_error(-EINVAL, "unknown port kind \"%s\" (vhost, tap, shm, memif, vxlan or afxdp)", kind);
	}
	if (rc < 0)
		return rc;
	if ((rc = hl_sw_port_set_vlan(p, &c.vlan)) < 0 || (rc = hl_switch_add_port(d->sw, p)) < 0) {
		p->ops->close(p);
		return rc;
	}
	c.vlan = p->vlan; /* as the switch keeps it: a trunk's native VLAN among those it carries */
	d->conf[p->id] = c;
	if (wm.set && (rc = hld_worker_map_apply(d, p, &wm)) < 0) {
		d->conf[p->id].used = false;
		hl_switch_del_port(d->sw, name);
		return rc;
	}
	return 0;
}

int hld_port_del(struct daemon *d, const char *name)
{
	struct hl_sw_port *p = hl_switch_find_port(d->sw, name);
	if (p == NULL)
		return hl_error(-ENOENT, "no port %s", name);
	unsigned id = p->id;
	int rc = hl_switch_del_port(d->sw, name);
	if (rc == 0)
		d->conf[id].used = false;
	return rc;
}
