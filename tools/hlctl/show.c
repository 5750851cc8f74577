/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hlctl's text views: aligned tables for port list, stats and the MAC table,
 * and `hlctl top`, which turns two stats replies into rates.
 *
 * Replies come from a daemon that may be older or newer than this hlctl, so
 * every field is optional here: a missing number shows as 0, a missing
 * string as "-", and nothing is assumed about the order of ports.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hugelink/common.h>
#include <hugelink/json.h>

#include "hlctl.h"

#define MAX_COLS 10

/* A table of strings printed with each column as wide as its widest cell. */
struct table {
	unsigned ncols;
	size_t nrows, cap;
	char *(*rows)[MAX_COLS];
};

__attribute__((format(printf, 3, 4)))
static void cell(struct table *t, unsigned col, const char *fmt, ...)
{
	va_list ap;
	char buf[512];

	if (col >= t->ncols || t->nrows == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	free(t->rows[t->nrows - 1][col]);
	t->rows[t->nrows - 1][col] = strdup(buf);
}

static void row(struct table *t)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		void *r = realloc(t->rows, cap * sizeof(*t->rows));
		if (r == NULL) {
			fprintf(stderr, "hlctl: out of memory\n");
			exit(HLCTL_FAILED);
		}
		t->rows = r;
		t->cap = cap;
	}
	memset(t->rows[t->nrows], 0, sizeof(t->rows[0]));
	t->nrows++;
}

static void table_init(struct table *t, unsigned ncols, const char *const *header)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	row(t);
	for (unsigned c = 0; c < ncols; c++)
		cell(t, c, "%s", header[c]);
}

static void table_print(struct table *t)
{
	size_t width[MAX_COLS] = {0};

	for (size_t r = 0; r < t->nrows; r++)
		for (unsigned c = 0; c < t->ncols; c++) {
			size_t l = t->rows[r][c] ? strlen(t->rows[r][c]) : 1;
			if (l > width[c])
				width[c] = l;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (unsigned c = 0; c < t->ncols; c++) {
			const char *s = t->rows[r][c] ? t->rows[r][c] : "-";
			if (c + 1 == t->ncols)
				printf("%s\n", s);
			else
				printf("%-*s  ", (int)width[c], s);
		}
	}
	for (size_t r = 0; r < t->nrows; r++)
		for (unsigned c = 0; c < t->ncols; c++)
			free(t->rows[r][c]);
	free(t->rows);
	memset(t, 0, sizeof(*t));
}

static const char *str_or(const struct hl_json *obj, const char *key, const char *dflt)
{
	const char *s = hl_json_str(hl_json_get(obj, key));
	return s ? s : dflt;
}

void hlctl_show_ports(const struct hl_json *reply)
{
	static const char *const hdr[] = {"NAME", "KIND", "STATE", "DETAILS"};
	const struct hl_json *ports = hl_json_get(reply, "ports");
	struct table t;

	table_init(&t, 4, hdr);
	for (size_t i = 0; i < hl_json_len(ports); i++) {
		const struct hl_json *p = hl_json_at(ports, i);
		char det[480] = "";
		size_t off = 0;
		static const char *const keys[] = {"mode", "path", "ifname", "zcopy", "role", "socket", "peer", "version",
						   "copy", "remote", "local", "vni", "dstport", "mtu", "queues", "zerocopy"};

		for (size_t k = 0; k < HL_ARRAY_SIZE(keys); k++) {
			const struct hl_json *j = hl_json_get(p, keys[k]);
			const char *v = hl_json_str(j);
			if (j != NULL && v == NULL && off < sizeof(det)) /* a number */
				off += (size_t)snprintf(det + off, sizeof(det) - off, "%s%s=%" PRIu64,
							off ? " " : "", keys[k], hlctl_u64(p, keys[k]));
			else if (v != NULL && off < sizeof(det))
				off += (size_t)snprintf(det + off, sizeof(det) - off, "%s%s=%s",
							off ? " " : "", keys[k], v);
		}
		static const char *const nums[] = {"id", "regions"}; /* "queues" is among the keys */
		for (size_t k = 0; k < HL_ARRAY_SIZE(nums); k++) {
			uint64_t v;
			if (hl_json_u64(hl_json_get(p, nums[k]), &v) && off < sizeof(det))
				off += (size_t)snprintf(det + off, sizeof(det) - off, "%s%s=%llu", off ? " " : "",
							nums[k], (unsigned long long)v);
		}
		int pzc = hl_json_bool(hl_json_get(p, "peer_zero_copy"));
		if (pzc >= 0 && off < sizeof(det))
			off += (size_t)snprintf(det + off, sizeof(det) - off, "%speer %s", off ? " " : "",
						pzc ? "zero-copy" : "copies");
		int shared = hl_json_bool(hl_json_get(p, "shared"));
		if (shared >= 0 && off < sizeof(det))
			off += (size_t)snprintf(det + off, sizeof(det) - off, "%s%s", off ? " " : "",
						shared ? "shared" : "isolated");
		uint64_t vid;
		if (hl_json_u64(hl_json_get(p, "vlan"), &vid) && vid != 0 && off < sizeof(det))
			off += (size_t)snprintf(det + off, sizeof(det) - off, "%svlan=%" PRIu64, off ? " " : "", vid);
		const struct hl_json *tr = hl_json_get(p, "trunk");
		for (size_t k = 0; k < hl_json_len(tr) && off < sizeof(det); k++) {
			/* a VLAN id, or a run of them as "N-M" */
			const struct hl_json *it = hl_json_at(tr, k);
			uint64_t tv = 0;
			char num[24];
			const char *item = hl_json_str(it);
			if (item == NULL) {
				hl_json_u64(it, &tv);
				snprintf(num, sizeof(num), "%" PRIu64, tv);
				item = num;
			}
			off += (size_t)snprintf(det + off, sizeof(det) - off, "%s%s", k ? "," : off ? " trunk=" : "trunk=",
						item);
		}
		if (hl_json_u64(hl_json_get(p, "native_vlan"), &vid) && vid != 0 && off < sizeof(det))
			off += (size_t)snprintf(det + off, sizeof(det) - off, "%snative=%" PRIu64, off ? " " : "", vid);
		row(&t);
		cell(&t, 0, "%s", str_or(p, "name", "-"));
		cell(&t, 1, "%s", str_or(p, "kind", "-"));
		cell(&t, 2, "%s", str_or(p, "state", "-"));
		cell(&t, 3, "%s", det[0] ? det : "-");
	}
	table_print(&t);
	if (hl_json_len(ports) == 0)
		printf("(no ports)\n");
}

static uint64_t drops_total(const struct hl_json *port)
{
	const struct hl_json *d = hl_json_get(port, "drops");
	uint64_t sum = 0;

	if (hl_json_type(d) == HL_JSON_NUM)
		return hlctl_u64(port, "drops");
	for (size_t i = 0; i < hl_json_len(d); i++)
		sum += hlctl_u64(d, hl_json_key_at(d, i));
	return sum;
}

static void share(char *buf, size_t n, uint64_t zc, uint64_t cp)
{
	if (zc + cp == 0)
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%.1f%%", 100.0 * (double)zc / (double)(zc + cp));
}

static void show_workers(const struct hl_json *reply)
{
	const struct hl_json *ws = hl_json_get(reply, "workers");

	if (hl_json_len(ws) == 0)
		return;
	printf("workers:");
	for (size_t i = 0; i < hl_json_len(ws); i++) {
		const struct hl_json *w = hl_json_at(ws, i);
		printf("%s #%" PRIu64 " %s busy %.1f%% sleeps %" PRIu64, i ? ";" : "", hlctl_u64(w, "id"),
		       str_or(w, "state", "?"), hlctl_num(w, "busy_pct"), hlctl_u64(w, "sleeps"));
	}
	printf("\n");
}

void hlctl_show_stats(const struct hl_json *reply)
{
	static const char *const hdr[] = {"PORT", "KIND", "RX_PKTS", "RX_BYTES", "TX_PKTS",
					  "TX_BYTES", "DROPS", "ERRORS", "ZCOPY"};
	const struct hl_json *ports = hl_json_get(reply, "ports");
	struct table t;
	char zc[16];

	printf("uptime %.1f s\n", hlctl_num(reply, "uptime_s"));
	table_init(&t, 9, hdr);
	for (size_t i = 0; i < hl_json_len(ports); i++) {
		const struct hl_json *p = hl_json_at(ports, i);
		row(&t);
		cell(&t, 0, "%s", str_or(p, "name", "-"));
		cell(&t, 1, "%s", str_or(p, "kind", "-"));
		cell(&t, 2, "%" PRIu64, hlctl_u64(p, "rx_packets"));
		cell(&t, 3, "%" PRIu64, hlctl_u64(p, "rx_bytes"));
		cell(&t, 4, "%" PRIu64, hlctl_u64(p, "tx_packets"));
		cell(&t, 5, "%" PRIu64, hlctl_u64(p, "tx_bytes"));
		cell(&t, 6, "%" PRIu64, drops_total(p));
		cell(&t, 7, "%" PRIu64, hlctl_u64(p, "errors"));
		share(zc, sizeof(zc), hlctl_u64(p, "zcopy_packets"), hlctl_u64(p, "copy_packets"));
		cell(&t, 8, "%s", zc);
	}
	table_print(&t);
	/* the reasons behind non-zero drop counts, one line per port */
	for (size_t i = 0; i < hl_json_len(ports); i++) {
		const struct hl_json *p = hl_json_at(ports, i), *d = hl_json_get(p, "drops");
		bool any = false;
		for (size_t k = 0; k < hl_json_len(d); k++) {
			uint64_t n = hlctl_u64(d, hl_json_key_at(d, k));
			if (n == 0)
				continue;
			if (!any)
				printf("drops %s:", str_or(p, "name", "-"));
			printf(" %s=%" PRIu64, hl_json_key_at(d, k), n);
			any = true;
		}
		if (any)
			printf("\n");
	}
	/* offloads: what was done in software for each port, and headers refused by reason */
	for (size_t i = 0; i < hl_json_len(ports); i++) {
		const struct hl_json *p = hl_json_at(ports, i), *o = hl_json_get(p, "offload");
		const struct hl_json *rf = hl_json_get(o, "refused");
		uint64_t acc = hlctl_u64(o, "accepted"), gf = hlctl_u64(o, "gso_frames");
		uint64_t gs = hlctl_u64(o, "gso_segments"), cs = hlctl_u64(o, "csum_done");
		if (o == NULL || acc + gf + gs + cs == 0)
			continue;
		printf("offload %s: accepted=%" PRIu64 " segmented=%" PRIu64 " (into %" PRIu64 ") csum_done=%" PRIu64,
		       str_or(p, "name", "-"), acc, gf, gs, cs);
		for (size_t k = 0; k < hl_json_len(rf); k++) {
			uint64_t n = hlctl_u64(rf, hl_json_key_at(rf, k));
			if (n != 0)
				printf(" refused_%s=%" PRIu64, hl_json_key_at(rf, k), n);
		}
		printf("\n");
	}
	/* multiqueue vhost ports: one line per queue pair */
	for (size_t i = 0; i < hl_json_len(ports); i++) {
		const struct hl_json *p = hl_json_at(ports, i), *qs = hl_json_get(p, "queues");
		for (size_t k = 0; hl_json_len(qs) > 1 && k < hl_json_len(qs); k++) {
			const struct hl_json *q = hl_json_at(qs, k);
			int on = hl_json_bool(hl_json_get(q, "enabled"));
			printf("queues %s: pair %" PRIu64 " %s worker %" PRIu64 " rx=%" PRIu64 " tx=%" PRIu64
			       " rx_drops=%" PRIu64 " tx_drops=%" PRIu64 "\n",
			       str_or(p, "name", "-"), hlctl_u64(q, "pair"), on == 1 ? "enabled" : "disabled",
			       hlctl_u64(q, "worker"), hlctl_u64(q, "rx_packets"), hlctl_u64(q, "tx_packets"),
			       hlctl_u64(q, "rx_drops"), hlctl_u64(q, "tx_drops"));
		}
	}
	/* shm ports whose peer died, left or broke a ring: what the resets took back */
	for (size_t i = 0; i < hl_json_len(ports); i++) {
		const struct hl_json *p = hl_json_at(ports, i);
		if (hlctl_u64(p, "resets") + hlctl_u64(p, "ring_broken") != 0)
			printf("shm %s: resets=%" PRIu64 " reclaimed=%" PRIu64 " ring_broken=%" PRIu64 "\n",
			       str_or(p, "name", "-"), hlctl_u64(p, "resets"), hlctl_u64(p, "reclaimed"),
			       hlctl_u64(p, "ring_broken"));
	}
	const struct hl_json *c = hl_json_get(reply, "control");
	if (c != NULL)
		printf("control: %" PRIu64 " requests, %" PRIu64 " refused\n", hlctl_u64(c, "requests"),
		       hlctl_u64(c, "refused"));
	show_workers(reply);
	const struct hl_json *log = hl_json_get(reply, "log");
	if (log != NULL)
		printf("log: %s to %s, %" PRIu64 " line(s) held back by the rate limit, %" PRIu64 " unsent\n",
		       str_or(log, "level", "-"), str_or(log, "target", "-"), hlctl_u64(log, "suppressed"),
		       hlctl_u64(log, "unsent"));
}

void hlctl_show_mac(const struct hl_json *reply)
{
	static const char *const hdr[] = {"MAC", "VLAN", "PORT", "AGE"};
	const struct hl_json *es = hl_json_get(reply, "entries");
	struct table t;

	table_init(&t, 4, hdr);
	for (size_t i = 0; i < hl_json_len(es); i++) {
		const struct hl_json *e = hl_json_at(es, i);
		row(&t);
		cell(&t, 0, "%s", str_or(e, "mac", "-"));
		cell(&t, 1, "%" PRIu64, hlctl_u64(e, "vlan"));
		cell(&t, 2, "%s", str_or(e, "port", "-"));
		cell(&t, 3, "%.1fs", hlctl_num(e, "age_s"));
	}
	table_print(&t);
	printf("%zu entries, aging %.0f s\n", hl_json_len(es), hlctl_num(reply, "aging_s"));
	const struct hl_json *lm = hl_json_get(reply, "last_move");
	if (lm != NULL)
		printf("%" PRIu64 " MAC moves, the last: %s to %s\n", hlctl_u64(reply, "moved"), str_or(lm, "mac", "-"),
		       str_or(lm, "port", "-"));
}

/* ---- top ---- */

static int fetch_stats(const struct hlctl *h, struct hl_json **reply, uint64_t *when)
{
	char *raw;
	int rc = hlctl_call(h, "{\"cmd\":\"stats\"}", &raw, reply);

	*when = hl_now_ns();
	free(raw);
	if (rc != HLCTL_OK) {
		hl_json_free(*reply);
		*reply = NULL;
	}
	return rc;
}

static const struct hl_json *port_named(const struct hl_json *stats, const char *name)
{
	const struct hl_json *ports = hl_json_get(stats, "ports");

	for (size_t i = 0; name && i < hl_json_len(ports); i++) {
		const char *n = hl_json_str(hl_json_get(hl_json_at(ports, i), "name"));
		if (n && strcmp(n, name) == 0)
			return hl_json_at(ports, i);
	}
	return NULL;
}

/* Counter growth since the last sample; a counter that went back was reset. */
static uint64_t delta(uint64_t now, uint64_t before)
{
	return now >= before ? now - before : now;
}

static void top_block(const struct hl_json *prev, const struct hl_json *cur, double dt, bool tty)
{
	static const char *const hdr[] = {"PORT", "KIND", "RX_PPS", "RX_GBPS", "TX_PPS",
					  "TX_GBPS", "DROPS/S", "ZCOPY", "SW_SEGS/S"};
	const struct hl_json *ports = hl_json_get(cur, "ports");
	struct table t;
	char zc[16];

	if (tty)
		printf("\033[H\033[2J");
	printf("hugelinkd: uptime %.1f s, interval %.2f s\n", hlctl_num(cur, "uptime_s"), dt);
	table_init(&t, 9, hdr);
	for (size_t i = 0; i < hl_json_len(ports); i++) {
		const struct hl_json *p = hl_json_at(ports, i);
		const struct hl_json *o = port_named(prev, hl_json_str(hl_json_get(p, "name")));
		uint64_t rxp = delta(hlctl_u64(p, "rx_packets"), hlctl_u64(o, "rx_packets"));
		uint64_t rxb = delta(hlctl_u64(p, "rx_bytes"), hlctl_u64(o, "rx_bytes"));
		uint64_t txp = delta(hlctl_u64(p, "tx_packets"), hlctl_u64(o, "tx_packets"));
		uint64_t txb = delta(hlctl_u64(p, "tx_bytes"), hlctl_u64(o, "tx_bytes"));
		uint64_t dr = delta(drops_total(p), o ? drops_total(o) : 0);
		uint64_t z = delta(hlctl_u64(p, "zcopy_packets"), hlctl_u64(o, "zcopy_packets"));
		uint64_t c = delta(hlctl_u64(p, "copy_packets"), hlctl_u64(o, "copy_packets"));
		/* segments the switch cut in software for this port: TSO it could not pass on */
		uint64_t sg = delta(hlctl_u64(hl_json_get(p, "offload"), "gso_segments"),
				    hlctl_u64(hl_json_get(o, "offload"), "gso_segments"));

		row(&t);
		cell(&t, 0, "%s", str_or(p, "name", "-"));
		cell(&t, 1, "%s", str_or(p, "kind", "-"));
		cell(&t, 2, "%.0f", (double)rxp / dt);
		cell(&t, 3, "%.3f", (double)rxb * 8 / dt / 1e9);
		cell(&t, 4, "%.0f", (double)txp / dt);
		cell(&t, 5, "%.3f", (double)txb * 8 / dt / 1e9);
		cell(&t, 6, "%.0f", (double)dr / dt);
		share(zc, sizeof(zc), z, c);
		cell(&t, 7, "%s", zc);
		cell(&t, 8, "%.0f", (double)sg / dt);
	}
	table_print(&t);
	show_workers(cur);
	if (!tty)
		printf("\n");
	fflush(stdout);
}

int hlctl_top(const struct hlctl *h, double interval, unsigned long count)
{
	struct hl_json *prev = NULL, *cur = NULL;
	uint64_t t_prev, t_cur;
	bool tty = isatty(STDOUT_FILENO);
	int rc;

	rc = fetch_stats(h, &prev, &t_prev);
	if (rc != HLCTL_OK)
		return rc;
	for (unsigned long i = 0; count == 0 || i < count; i++) {
		struct timespec ts = {.tv_sec = (time_t)interval,
				      .tv_nsec = (long)((interval - (double)(time_t)interval) * 1e9)};
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		rc = fetch_stats(h, &cur, &t_cur);
		if (rc != HLCTL_OK)
			break;
		double dt = (double)(t_cur - t_prev) / 1e9;
		top_block(prev, cur, dt > 0 ? dt : interval, tty);
		hl_json_free(prev);
		prev = cur;
		cur = NULL;
		t_prev = t_cur;
	}
	hl_json_free(prev);
	return rc;
}
