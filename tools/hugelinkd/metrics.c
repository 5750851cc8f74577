/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hugelinkd's metrics in the Prometheus text exposition format (0.0.4):
 * what `hlctl stats --prometheus` prints and `--metrics ADDR` serves.
 * Rendered on the control thread only, from the same counters as
 * `hlctl stats --json`, so the two never disagree and nothing here races
 * a port being added or deleted.
 *
 * Names follow Prometheus' rules: hugelink_ prefix, base units (bytes,
 * seconds), counters end in _total, a share is a ratio 0..1; every family
 * has its HELP and TYPE lines, once, before its samples.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hugelink/mac_table.h>
#include <hugelink/shm_port.h>
#include <hugelink/sw_ports.h>

#include "hugelinkd.h"

static void family(struct hld_text *t, const char *name, const char *type, const char *help)
{
	hld_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped, as the format asks. */
static void put_label(struct hld_text *t, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			hld_printf(t, "\\%c", *v);
		else if (*v == '\n')
			hld_printf(t, "\\n");
		else
			hld_printf(t, "%c", *v);
	}
}

/* One port's sample: NAME{port="P"[,EXTRA]} VALUE */
static void port_sample(struct hld_text *t, const char *name, const struct hl_sw_port *p, const char *extra,
			double v)
{
	hld_printf(t, "%s{port=\"", name);
	put_label(t, p->name);
	hld_printf(t, "\"%s%s} %.17g\n", extra ? "," : "", extra ? extra : "", v);
}

/* Where a port family's value comes from: a counter of hl_sw_port_stats, or worked out. */
enum port_value { PV_FIELD, PV_UP, PV_ZC_RATIO, PV_PINNED, PV_CONNECTS, PV_DISCONNECTS };

#define FIELD(f) PV_FIELD, offsetof(struct hl_sw_port_stats, f)

static const struct port_family {
	const char *name, *type, *help;
	enum port_value value;
	size_t off;
} port_families[] = {
	{"hugelink_port_up", "gauge", "1 while the port is up (a vhost port: connected and both queues ready)",
	 PV_UP, 0},
	{"hugelink_port_rx_packets_total", "counter", "Packets the switch received from the port", FIELD(rx_packets)},
	{"hugelink_port_rx_bytes_total", "counter", "Bytes the switch received from the port", FIELD(rx_bytes)},
	{"hugelink_port_tx_packets_total", "counter", "Packets the switch sent to the port", FIELD(tx_packets)},
	{"hugelink_port_tx_bytes_total", "counter", "Bytes the switch sent to the port", FIELD(tx_bytes)},
	{"hugelink_port_zcopy_packets_total", "counter", "Received packets left in place (zero-copy)",
	 FIELD(zcopy_packets)},
	{"hugelink_port_copy_packets_total", "counter", "Received packets copied", FIELD(copy_packets)},
	{"hugelink_port_zcopy_ratio", "gauge", "Share of received packets taken zero-copy since the port was made",
	 PV_ZC_RATIO, 0},
	{"hugelink_port_pinned_buffers", "gauge",
	 "Buffers held for the port now: guest chains pinned by zero-copy (vhost), buffers with the peer (shm)",
	 PV_PINNED, 0},
	{"hugelink_port_errors_total", "counter", "Protocol errors: bad or unknown vhost-user messages", FIELD(errors)},
	{"hugelink_port_gso_segments_total", "counter", "Segments made by software GSO for the port",
	 FIELD(ol.gso_segments)},
	{"hugelink_port_connects_total", "counter", "Front-ends that connected to a vhost port (reconnects included)",
	 PV_CONNECTS, 0},
	{"hugelink_port_disconnects_total", "counter", "Front-ends that went away from a vhost port", PV_DISCONNECTS,
	 0},
};

static double port_value(const struct port_family *f, const struct hl_sw_port *p, const struct hl_sw_port_stats *st)
{
	struct hl_sw_vhost_info vi;
	bool vhost = hl_sw_port_vhost_info(p, &vi) == 0;
	const struct hl_shm_port *sp;
	uint64_t all;

	switch (f->value) {
	case PV_FIELD:
		return (double)*(const uint64_t *)((const char *)st + f->off);
	case PV_UP:
		return strcmp(p->ops->state(p), "up") == 0;
	case PV_ZC_RATIO:
		all = st->zcopy_packets + st->copy_packets;
		return all ? (double)st->zcopy_packets / (double)all : 0;
	case PV_PINNED:
		if (vhost)
			return (double)vi.pinned;
		sp = hl_sw_port_shm(p);
		return sp != NULL ? (double)hl_shm_port_peer_held(sp) : 0;
	case PV_CONNECTS:
		return vhost ? (double)vi.connects : 0;
	case PV_DISCONNECTS:
		return vhost ? (double)vi.disconnects : 0;
	}
	return 0;
}

static void ports(struct daemon *d, struct hld_text *t)
{
	struct hl_sw_port_stats st[HL_SW_MAX_PORTS];
	struct hl_sw_port *p[HL_SW_MAX_PORTS];
	unsigned n = 0;

	for (unsigned i = 0; i < HL_SW_MAX_PORTS; i++) {
		if ((p[n] = hl_switch_port_at(d->sw, i)) == NULL)
			continue;
		hl_switch_port_stats(d->sw, p[n], &st[n]);
		n++;
	}
	family(t, "hugelink_port_info", "gauge", "A port and its kind (value 1)");
	for (unsigned i = 0; i < n; i++) {
		char kind[32];
		snprintf(kind, sizeof(kind), "kind=\"%s\"", p[i]->ops->kind);
		port_sample(t, "hugelink_port_info", p[i], kind, 1);
	}
	for (size_t f = 0; f < HL_ARRAY_SIZE(port_families); f++) {
		family(t, port_families[f].name, port_families[f].type, port_families[f].help);
		for (unsigned i = 0; i < n; i++)
			port_sample(t, port_families[f].name, p[i], NULL, port_value(&port_families[f], p[i], &st[i]));
	}
	family(t, "hugelink_port_drops_total", "counter", "Packets dropped, by reason");
	for (unsigned i = 0; i < n; i++)
		for (unsigned k = 0; k < HL_SW_DROP_MAX; k++) {
			char reason[48];
			snprintf(reason, sizeof(reason), "reason=\"%s\"", hl_sw_drop_names[k]);
			port_sample(t, "hugelink_port_drops_total", p[i], reason, (double)st[i].drops[k]);
		}
}

/*
 * Per direction of each vhost port, every queue pair added up: queue 0 is
 * the guest's receive queues, 1 its transmit queues.
 */
static void queues(struct daemon *d, struct hld_text *t)
{
	static const char *const dir[2] = {"to_guest", "from_guest"};
	static const struct {
		const char *name, *help;
		size_t off;
	} fam[] = {
		{"hugelink_queue_packets_total", "Packets through a vhost port's virtqueue",
		 offsetof(struct hl_sw_vhost_queue, packets)},
		{"hugelink_queue_bytes_total", "Bytes through a vhost port's virtqueue",
		 offsetof(struct hl_sw_vhost_queue, bytes)},
		{"hugelink_queue_interrupts_total", "Interrupts (call eventfd) sent to the guest for the queue",
		 offsetof(struct hl_sw_vhost_queue, calls)},
	};
	static const struct {
		const char *reason;
		size_t off;
	} drops[] = {
		{"no_buf", offsetof(struct hl_sw_vhost_queue, drop_no_buf)},
		{"bad_chain", offsetof(struct hl_sw_vhost_queue, drop_bad_chain)},
		{"too_big", offsetof(struct hl_sw_vhost_queue, drop_too_big)},
		{"bad_offload", offsetof(struct hl_sw_vhost_queue, drop_bad_offload)},
	};
	static struct hl_sw_vhost_info vi[HL_SW_MAX_PORTS]; /* control thread only; large with every pair's counters */
	struct hl_sw_port *p[HL_SW_MAX_PORTS];
	unsigned n = 0;

	for (unsigned i = 0; i < HL_SW_MAX_PORTS; i++)
		if ((p[n] = hl_switch_port_at(d->sw, i)) != NULL && hl_sw_port_vhost_info(p[n], &vi[n]) == 0)
			n++;
	for (size_t f = 0; f < HL_ARRAY_SIZE(fam) + 1; f++) {
		bool is_drops = f == HL_ARRAY_SIZE(fam);
		const char *name = is_drops ? "hugelink_queue_drops_total" : fam[f].name;
		family(t, name, "counter", is_drops ? "Packets a vhost port's virtqueue dropped, by reason" : fam[f].help);
		for (unsigned i = 0; i < n; i++)
			for (unsigned q = 0; q < 2; q++)
				for (size_t r = 0; r < (is_drops ? HL_ARRAY_SIZE(drops) : 1); r++) {
					char extra[96];
					size_t off = is_drops ? drops[r].off : fam[f].off;
					int k = snprintf(extra, sizeof(extra), "queue=\"%u\",direction=\"%s\"", q, dir[q]);
					if (is_drops)
						snprintf(extra + k, sizeof(extra) - (size_t)k, ",reason=\"%s\"", drops[r].reason);
					port_sample(t, name, p[i], extra,
						    (double)*(const uint64_t *)((const char *)&vi[i].q[q] + off));
				}
	}
}

/* Per queue pair of each vhost port (multiqueue): frames and bytes each way. */
static void pairs(struct daemon *d, struct hld_text *t)
{
	static const char *const dir[2] = {"to_guest", "from_guest"};
	static struct hl_sw_vhost_info vi; /* control thread only */
	for (unsigned f = 0; f < 2; f++) {
		const char *name = f == 0 ? "hugelink_queue_pair_packets_total" : "hugelink_queue_pair_bytes_total";
		family(t, name, "counter", f == 0 ? "Packets through one queue pair of a vhost port"
						  : "Bytes through one queue pair of a vhost port");
		for (unsigned i = 0; i < HL_SW_MAX_PORTS; i++) {
			struct hl_sw_port *p = hl_switch_port_at(d->sw, i);
			if (p == NULL || hl_sw_port_vhost_info(p, &vi) < 0)
				continue;
			for (unsigned k = 0; k < vi.pairs; k++)
				for (unsigned q = 0; q < 2; q++) {
					char extra[64];
					snprintf(extra, sizeof(extra), "pair=\"%u\",direction=\"%s\"", k, dir[q]);
					port_sample(t, name, p, extra,
						    (double)(f == 0 ? vi.pair[k][q].packets : vi.pair[k][q].bytes));
				}
		}
	}
}

static void workers(struct daemon *d, struct hld_text *t)
{
	unsigned n = hl_switch_workers(d->sw);
	struct hl_sw_worker_info wi[HL_SW_MAX_WORKERS];

	for (unsigned w = 0; w < n; w++)
		hl_switch_worker_info(d->sw, w, &wi[w]);
	family(t, "hugelink_worker_busy_ratio", "gauge", "Share of a worker's time spent on bursts that moved packets");
	for (unsigned w = 0; w < n; w++)
		hld_printf(t, "hugelink_worker_busy_ratio{worker=\"%u\"} %.6f\n", w,
		    wi[w].total_ns ? (double)wi[w].busy_ns / (double)wi[w].total_ns : 0);
	family(t, "hugelink_worker_busy_seconds_total", "counter", "Time a worker spent on bursts that moved packets");
	for (unsigned w = 0; w < n; w++)
		hld_printf(t, "hugelink_worker_busy_seconds_total{worker=\"%u\"} %.9f\n", w, (double)wi[w].busy_ns / 1e9);
	family(t, "hugelink_worker_sleeps_total", "counter", "Times a worker went to sleep for want of traffic");
	for (unsigned w = 0; w < n; w++)
		hld_printf(t, "hugelink_worker_sleeps_total{worker=\"%u\"} %llu\n", w, (unsigned long long)wi[w].sleeps);
}

void hld_metrics(struct daemon *d, struct hld_text *t)
{
	uint64_t now = hl_now_ns();
	struct hl_bufpool_stats bs;
	struct hl_mac_stats ms;
	struct hl_log_stats ls;

	t->len = 0;
	t->failed = false;
	family(t, "hugelink_info", "gauge", "The daemon's version and pool (value 1)");
	hld_printf(t, "hugelink_info{version=\"%s\",pool=\"", HL_VERSION);
	put_label(t, d->name);
	hld_printf(t, "\"} 1\n");
	family(t, "hugelink_uptime_seconds", "gauge", "Time since the daemon started");
	hld_printf(t, "hugelink_uptime_seconds %.3f\n", (double)(now - d->started_ns) / 1e9);
	family(t, "hugelink_restarts_total", "counter",
	       "Starts that took over from a daemon that died, since the last clean stop in this run directory");
	hld_printf(t, "hugelink_restarts_total %llu\n", (unsigned long long)d->restarts);
	family(t, "hugelink_last_outage_seconds", "gauge", "How long the switch was gone before the last such start");
	hld_printf(t, "hugelink_last_outage_seconds %.3f\n", (double)d->outage_ns / 1e9);

	hl_bufpool_stats(d->bp, &bs);
	family(t, "hugelink_pool_buffers", "gauge", "Packet buffers in the switch's pool");
	hld_printf(t, "hugelink_pool_buffers %llu\n", (unsigned long long)bs.n);
	family(t, "hugelink_pool_buffers_in_use", "gauge", "Packet buffers of the pool in use now");
	hld_printf(t, "hugelink_pool_buffers_in_use %llu\n", (unsigned long long)bs.in_use);

	hl_mac_table_stats(hl_switch_mac_table(d->sw), &ms);
	family(t, "hugelink_mac_table_entries", "gauge", "MAC addresses the switch knows now");
	hld_printf(t, "hugelink_mac_table_entries %u\n", ms.entries);
	family(t, "hugelink_mac_learned_total", "counter", "MAC addresses learned");
	hld_printf(t, "hugelink_mac_learned_total %llu\n", (unsigned long long)ms.learned);
	family(t, "hugelink_mac_table_full_total", "counter", "New MAC addresses refused for lack of room");
	hld_printf(t, "hugelink_mac_table_full_total %llu\n", (unsigned long long)ms.full);

	hl_log_stats(&ls);
	family(t, "hugelink_log_suppressed_lines_total", "counter", "Log lines held back by the rate limit");
	hld_printf(t, "hugelink_log_suppressed_lines_total %llu\n", (unsigned long long)ls.suppressed);
	family(t, "hugelink_log_unsent_lines_total", "counter", "Log lines the log target did not take");
	hld_printf(t, "hugelink_log_unsent_lines_total %llu\n", (unsigned long long)ls.unsent);

	workers(d, t);
	ports(d, t);
	queues(d, t);
	pairs(d, t);
}
