/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hlbench switch: frames through a software switch between two vhost-user
 * ports, one core for the switch, the other for the traffic.
 *
 * The traffic is this process: virtio-user devices (virtio_user.h) on one
 * thread pinned to the traffic core. Device A sends frames from MAC1 to
 * MAC2 as fast as its ring takes them (only the Ethernet header and a
 * sequence number are written: the payload is whatever the buffer held);
 * device B counts the frames addressed to it and announces MAC2 once a
 * second so a learning switch need not flood. The devices listen
 * (vhost-user server) and the switch connects to them, because that is
 * the only way Open vSwitch's DPDK ports (dpdkvhostuserclient) work, so
 * both switches meet exactly the same peer.
 *
 * hugelink is hugelinkd (next to this binary) with two client-mode vhost
 * ports, one worker pinned to the switch core. Open vSwitch (--vs-ovs) is
 * the Debian DPDK build run from a private directory: ovsdb-server and
 * ovs-vswitchd as children of this process, PMD on the switch core, DPDK's
 * main lcore on the traffic core, a hugepage limit, --huge-unlink so no
 * hugepage file outlives it, and two port-to-port flows (1->2, 2->1).
 *
 * The machines are shared, and load that comes and goes between two
 * measurements would skew their ratio. So both switches are started once,
 * each with its own pair of devices, and measured in alternate one-second
 * samples (after a 300 ms warm-up each), the one not measured frozen with
 * SIGSTOP because both busy-poll the same core. A rate is the median of a
 * switch's samples; "ratio" is the median of the per-round ratios
 * ours/OVS, so each ratio compares two adjacent seconds.
 *
 * --tso: device A sends 64 KiB TCP frames with a TSO request in their
 * virtio-net header (device B takes TSO too), as two guests with offloads
 * do, and rates are Gbit/s of frames B receives, whether they come whole
 * or segmented. Open vSwitch then runs with userspace-tso-enable, its way
 * of passing such frames on.
 *
 * Everything started is stopped, and the scratch directory removed, on
 * every path out including SIGINT/SIGTERM (children get SIGTERM if this
 * process dies; one frozen at that moment stays frozen: kill -9 it).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hugelink/offload.h>
#include <hugelink/virtio_user.h>

#include "../common/frame.h"
#include "bench.h"

#define MAX_SAMPLES 120
#define MAX_SIZES 8
#define BURST 32
#define ERR_LEN 512
#define WARM_NS 300000000ull

#define OVS_VSWITCHD "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk"
#define OVS_SCHEMA "/usr/share/openvswitch/vswitch.ovsschema"

static const uint8_t MAC1[6] = {0x02, 0, 0, 0, 0, 0x01};
static const uint8_t MAC2[6] = {0x02, 0, 0, 0, 0, 0x02};

static volatile sig_atomic_t stop;

/* --tso: A's frames are this many bytes of TCP over IPv4, with a TSO request */
#define TSO_MSS 1448u
#define TSO_HDRS HL_FRAME_TCP_HDRS
static bool tso;
static const char *zcopy_mode = "auto";
/* hugelinkd's --idle-us (0: its default): how long a worker polls an idle port before it sleeps */
static unsigned idle_us;

#define TSO_FEATURES                                                                                  \
	(HL_VIRTIO_BIT(HL_VIRTIO_F_VERSION_1) | HL_VIRTIO_BIT(HL_VIRTIO_NET_F_MRG_RXBUF) |               \
	 HL_VIRTIO_BIT(HL_VIRTIO_RING_F_EVENT_IDX) | HL_VIRTIO_NET_TSO_BITS)
#define HL_VIRTIO_NET_TSO_BITS                                                                        \
	(HL_VIRTIO_BIT(HL_VIRTIO_NET_F_CSUM) | HL_VIRTIO_BIT(HL_VIRTIO_NET_F_HOST_TSO4) |                \
	 HL_VIRTIO_BIT(HL_VIRTIO_NET_F_GUEST_CSUM) | HL_VIRTIO_BIT(HL_VIRTIO_NET_F_GUEST_TSO4))

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

struct result {
	double mpps, tx_mpps, min_mpps, max_mpps;
	double gbps, min_gbps, max_gbps; /* what B received, in bytes: with --tso segments count by their size */
	unsigned samples;
	uint64_t rx_other;
	char err[ERR_LEN];
};

static int fail(struct result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct result *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	return -1;
}

/* A shell command, output appended to log; its exit status (-1 if it could not run). */
static int sh(const char *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int sh(const char *log, const char *fmt, ...)
{
	char cmd[2048], full[2600];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(cmd))
		return -1;
	FILE *f = fopen(log, "a");
	if (f != NULL) {
		fprintf(f, "+ %s\n", cmd);
		fclose(f);
	}
	snprintf(full, sizeof(full), "{ %s; } >> '%s' 2>&1", cmd, log);
	int rc = system(full);
	return rc == -1 || !WIFEXITED(rc) ? -1 : WEXITSTATUS(rc);
}

/* ---- the traffic: virtio-user devices, two per switch, one thread --------- */

struct traffic {
	struct hl_pool *pool;
	struct hl_bufpool *bp;
	struct hl_bufpool *big; /* --tso: one room holds a whole 64 KiB frame */
	struct hl_vuser dev[4];
	bool open[4];
	bool attached;
};

static int traffic_init(struct traffic *t, const char *dir, struct result *r)
{
	char name[32];
	snprintf(name, sizeof(name), "hlbsw-%d-t", (int)getpid());
	struct hl_pool_params pp = {.name = name, .size = tso ? 128 << 20 : 64 << 20, .run_dir = dir};
	if (hl_pool_create(&pp, &t->pool) < 0 || hl_bufpool_create(t->pool, "t", 4096, 2048, 256, &t->bp) < 0 ||
	    (tso && hl_bufpool_create(t->pool, "big", 512, 65536 + 1024, 0, &t->big) < 0))
		return fail(r, "traffic memory: %s", hl_last_error());
	hl_buf_thread_attach();
	t->attached = true;
	return 0;
}

static void traffic_close(struct traffic *t)
{
	for (int i = 0; i < 4; i++)
		if (t->open[i])
			hl_vuser_close(&t->dev[i]);
	if (t->attached)
		hl_buf_thread_detach();
	if (t->bp)
		hl_bufpool_free(t->bp);
	if (t->big)
		hl_bufpool_free(t->big);
	if (t->pool)
		hl_pool_destroy(t->pool);
	memset(t, 0, sizeof(*t));
}

/* Listen on A's socket, then B's, each until the switch connects (it retries). */
static int traffic_connect(struct traffic *t, unsigned dev, const char *sock_a, const char *sock_b, struct result *r)
{
	static const char *zone[4] = {"a", "b", "c", "d"};
	const char *socks[2] = {sock_a, sock_b};
	for (unsigned i = 0; i < 2; i++) {
		struct hl_vuser_params up = {.path = socks[i], .server = true, .timeout_ms = 20000, .pool = t->pool,
					     .bp = t->bp, .name = zone[dev + i], .features = tso ? TSO_FEATURES : 0};
		if (hl_vuser_open(&t->dev[dev + i], &up) < 0)
			return fail(r, "%s: the switch did not connect: %s", socks[i], hl_last_error());
		t->open[dev + i] = true;
	}
	return 0;
}

static void frame(struct hl_buf *b, const uint8_t dst[6], const uint8_t src[6], uint64_t seq, unsigned size)
{
	uint8_t *d = hl_buf_data(b);
	memcpy(d, dst, 6);
	memcpy(d + 6, src, 6);
	d[12] = 0x88; /* IEEE local experimental ethertype */
	d[13] = 0xb5;
	memcpy(d + 14, &seq, 8);
	b->data_len = b->pkt_len = size;
}

/*
 * A TCP/IPv4 test frame of `size` bytes that asks for TSO at TSO_MSS (the
 * headers of tools/common/frame.h; the payload is whatever the buffer
 * held: a switch copies bytes, it does not read them).
 */
static void tso_frame(struct hl_buf *b, const uint8_t dst[6], const uint8_t src[6], uint64_t seq, unsigned size)
{
	uint32_t payload = size - TSO_HDRS;
	hl_frame_tcp_header(hl_buf_data(b), dst, src, (uint32_t)(seq * payload), payload);
	b->data_len = b->pkt_len = size;
	b->flags |= HL_BUF_F_OFFLOAD;
	b->ol = (struct hl_buf_ol){.csum_start = 34, .csum_offset = 16, .gso_size = TSO_MSS, .hdr_len = TSO_HDRS,
				   .l3_len = 20, .l2_len = 14, .l4_len = 20, .flags = HL_OL_F_CSUM_PARTIAL,
				   .gso_type = HL_OL_GSO_TCPV4};
}

/* One frame from B's MAC, so a learning switch forwards to B without flooding. */
static void announce_b(struct traffic *t, unsigned dev)
{
	struct hl_buf *b = hl_buf_alloc(t->bp);
	if (b == NULL)
		return;
	frame(b, MAC1, MAC2, 0, 60);
	if (hl_vuser_tx_burst(&t->dev[dev + 1], &b, 1) != 1)
		hl_buf_free(b);
}

/*
 * One burst: frames for `me` add to *mine (and their bytes to *bytes),
 * others to *other; returns the burst's size.
 */
static unsigned receive(struct hl_vuser *u, const uint8_t me[6], uint64_t *mine, uint64_t *other, uint64_t *bytes)
{
	struct hl_buf *pkts[BURST];
	uint16_t n = hl_vuser_rx_burst(u, pkts, BURST);
	unsigned ok = 0;
	for (unsigned i = 0; i < n; i++) {
		if (pkts[i]->data_len >= 6 && memcmp(hl_buf_data(pkts[i]), me, 6) == 0) {
			ok++;
			*bytes += pkts[i]->pkt_len;
		}
	}
	hl_buf_free_bulk(pkts, n);
	*mine += ok;
	*other += n - ok;
	return n;
}

/* ---- a switch under test ---------------------------------------------------- */

struct target {
	const char *name;
	unsigned dev;      /* its devices in the traffic: dev (A) and dev + 1 (B) */
	pid_t *freeze;     /* the process that forwards: stopped while the other switch is measured */
	pid_t *watch[2];   /* processes whose death ends its measurement */
	bool up;
	uint64_t tx_seq;
	double rx_s[MAX_SAMPLES], tx_s[MAX_SAMPLES], bytes_s[MAX_SAMPLES];
	unsigned n;
	struct result res;
};

static bool target_alive(struct target *tg)
{
	for (unsigned i = 0; i < 2; i++)
		if (tg->watch[i] != NULL && (*tg->watch[i] <= 0 || bench_exited(*tg->watch[i]))) {
			if (*tg->watch[i] > 0)
				*tg->watch[i] = 0;
			return false;
		}
	return true;
}

/* SIGSTOP, and wait until every thread has stopped, so it no longer takes the switch core. */
static bool freeze(struct target *tg)
{
	int st;
	pid_t pid = *tg->freeze;
	if (pid <= 0 || kill(pid, SIGSTOP) < 0)
		return false;
	if (waitpid(pid, &st, WUNTRACED) == pid && !WIFSTOPPED(st)) {
		*tg->freeze = 0;
		return false;
	}
	return true;
}

static void thaw(struct target *tg)
{
	if (*tg->freeze > 0)
		kill(*tg->freeze, SIGCONT);
}

/*
 * Drive tg's devices for ns (or, with until_rx, until B receives a frame,
 * at most ns): A sends, B counts. -1 if a switch process died or we were
 * told to stop.
 */
static int pump(struct traffic *t, struct target *tg, unsigned size, uint64_t ns, bool until_rx, uint64_t *rx_out,
		uint64_t *tx_out, uint64_t *bytes_out)
{
	struct hl_vuser *a = &t->dev[tg->dev], *b = &t->dev[tg->dev + 1];
	uint64_t tx = 0, rx = 0, bytes = 0, junk = 0, t0 = hl_now_ns(), t_check = t0;
	struct hl_bufpool *src = tso ? t->big : t->bp;
	unsigned iter = 0;

	announce_b(t, tg->dev);
	for (;;) {
		struct hl_buf *pkts[BURST];
		hl_vuser_tx_reclaim(a);
		unsigned want = a->tx.num_free < BURST ? a->tx.num_free : BURST;
		if (tso && want > 8)
			want = 8; /* 512 KiB a burst is plenty, and leaves buffers for the receiver */
		if (want > 0 && hl_buf_alloc_bulk(src, pkts, want) == 0) {
			for (unsigned i = 0; i < want; i++) {
				if (tso)
					tso_frame(pkts[i], MAC2, MAC1, tg->tx_seq + i, size);
				else
					frame(pkts[i], MAC2, MAC1, tg->tx_seq + i, size);
			}
			uint16_t sent = hl_vuser_tx_burst(a, pkts, (uint16_t)want);
			if (sent < want)
				hl_buf_free_bulk(pkts + sent, want - sent);
			tx += sent;
			tg->tx_seq += sent;
		}
		/* the receiver drains more than a burst when it can, so B's ring does not overflow */
		for (unsigned k = 0; k < 4 && receive(b, MAC2, &rx, &tg->res.rx_other, &bytes) == BURST; k++)
			;
		receive(a, MAC1, &tg->res.rx_other, &tg->res.rx_other, &junk); /* B's announcements */

		if (until_rx && rx > 0)
			break;
		/* reading the clock costs as much as a burst here: not every time */
		if (++iter % 16 != 0)
			continue;
		uint64_t now = hl_now_ns();
		if (now - t0 >= ns)
			break;
		if (now - t_check >= 200000000ull) {
			t_check = now;
			if (stop)
				return fail(&tg->res, "interrupted");
			if (!target_alive(tg))
				return fail(&tg->res, "a %s process exited during the run", tg->name);
		}
	}
	*rx_out = rx;
	*tx_out = tx;
	if (bytes_out != NULL)
		*bytes_out = bytes;
	return 0;
}

/* The first frame through (the switch may still be setting up), then a warm-up second. */
static int prime(struct traffic *t, struct target *tg, unsigned size)
{
	uint64_t rx, tx;
	if (pump(t, tg, size, 15000000000ull, true, &rx, &tx, NULL) < 0)
		return -1;
	if (rx == 0)
		return fail(&tg->res, "no frame reached port B through %s in 15 s (%" PRIu64 " sent on A)", tg->name,
			    tx);
	return pump(t, tg, size, 1000000000ull, false, &rx, &tx, NULL);
}

/* One one-second sample, after a warm-up of warm_ns. */
static int sample(struct traffic *t, struct target *tg, unsigned size, uint64_t warm_ns)
{
	uint64_t rx, tx, bytes;
	if (warm_ns > 0 && pump(t, tg, size, warm_ns, false, &rx, &tx, NULL) < 0)
		return -1;
	uint64_t t0 = hl_now_ns();
	if (pump(t, tg, size, 1000000000ull, false, &rx, &tx, &bytes) < 0)
		return -1;
	double dt = (double)(hl_now_ns() - t0) / 1e9;
	if (tg->n < MAX_SAMPLES) {
		tg->rx_s[tg->n] = (double)rx / dt;
		tg->tx_s[tg->n] = (double)tx / dt;
		tg->bytes_s[tg->n] = (double)bytes / dt;
		tg->n++;
	}
	return 0;
}

static void summarize(struct target *tg)
{
	struct result *r = &tg->res;
	r->samples = tg->n;
	if (tg->n == 0)
		return;
	r->min_mpps = r->max_mpps = tg->rx_s[0] / 1e6;
	for (unsigned i = 0; i < tg->n; i++) {
		r->min_mpps = tg->rx_s[i] / 1e6 < r->min_mpps ? tg->rx_s[i] / 1e6 : r->min_mpps;
		r->max_mpps = tg->rx_s[i] / 1e6 > r->max_mpps ? tg->rx_s[i] / 1e6 : r->max_mpps;
	}
	r->mpps = bench_median(tg->rx_s, tg->n) / 1e6;
	r->tx_mpps = bench_median(tg->tx_s, tg->n) / 1e6;
	r->gbps = bench_median(tg->bytes_s, tg->n) * 8 / 1e9;
	r->min_gbps = r->max_gbps = tg->bytes_s[0] * 8 / 1e9;
	for (unsigned i = 0; i < tg->n; i++) {
		double g = tg->bytes_s[i] * 8 / 1e9;
		r->min_gbps = g < r->min_gbps ? g : r->min_gbps;
		r->max_gbps = g > r->max_gbps ? g : r->max_gbps;
	}
}

/* ---- hugelink ------------------------------------------------------------ */

struct hld {
	char dir[300], log[400], record[400];
	pid_t pid;
};

static int exe_dir(char *out, size_t n)
{
	ssize_t len = readlink("/proc/self/exe", out, n - 1);
	if (len <= 0)
		return -1;
	out[len] = '\0';
	char *slash = strrchr(out, '/');
	if (slash == NULL)
		return -1;
	*slash = '\0';
	return 0;
}

static int hld_start(struct hld *h, const char *top, const char *hugelinkd, int sw_cpu, int gen_cpu,
		     const char *sa, const char *sb, struct result *r)
{
	char cfg[400], ctl[400], pool[32], cpu[16];
	snprintf(h->dir, sizeof(h->dir), "%s/hl", top);
	snprintf(h->log, sizeof(h->log), "%s/hugelinkd.log", h->dir);
	snprintf(pool, sizeof(pool), "hlbsw-%d", (int)getpid());
	snprintf(h->record, sizeof(h->record), "%s/%s.meta", h->dir, pool);
	snprintf(cfg, sizeof(cfg), "%s/ports.json", h->dir);
	snprintf(ctl, sizeof(ctl), "%s/ctl.sock", h->dir);
	snprintf(cpu, sizeof(cpu), "%d", sw_cpu);
	if (mkdir(h->dir, 0700) < 0)
		return fail(r, "mkdir %s: %s", h->dir, strerror(errno));
	FILE *f = fopen(cfg, "w");
	if (f == NULL)
		return fail(r, "%s: %s", cfg, strerror(errno));
	fprintf(f,
		"{\"ports\":[{\"kind\":\"vhost\",\"name\":\"a\",\"path\":\"%s\",\"mode\":\"client\",\"zcopy\":\"%s\"},"
		"{\"kind\":\"vhost\",\"name\":\"b\",\"path\":\"%s\",\"mode\":\"client\",\"zcopy\":\"%s\"}]}\n",
		sa, zcopy_mode, sb, zcopy_mode);
	fclose(f);
	char idle[16];
	snprintf(idle, sizeof(idle), "%u", idle_us);
	char *argv[] = {(char *)hugelinkd, "--foreground", "--ctl", ctl, "--run-dir", h->dir, "--pool-mb", "128",
			"--name", pool, "--workers", "1", "--cpu", cpu, "--config", cfg,
			idle_us ? "--idle-us" : NULL, idle, NULL};
	h->pid = bench_spawn(argv, h->log, gen_cpu);
	if (h->pid < 0) {
		h->pid = 0;
		return fail(r, "fork: %s", strerror(errno));
	}
	for (int i = 0; !bench_log_has(h->log, "ready"); i++) {
		if (bench_exited(h->pid) || i > 200 || stop) {
			if (bench_exited(h->pid))
				h->pid = 0;
			bench_tail_log("switch", h->log, 10);
			return fail(r, "hugelinkd did not start (log %s above)", h->log);
		}
		bench_sleep_ms(50);
	}
	return 0;
}

static void hld_stop(struct hld *h)
{
	bench_reap(&h->pid, 5000);
	/* after a SIGKILL the pool's hugepage file would stay: its record says where it is */
	if (h->record[0] != '\0' && access(h->record, F_OK) == 0)
		hl_pool_clean(h->record);
}

/* ---- Open vSwitch with DPDK ------------------------------------------------ */

struct ovs {
	char dir[300], log[400], db[400], hugedir[256], prefix[32];
	pid_t dbserver, vswitchd;
};

static bool hugetlbfs_mount(char *out, size_t n)
{
	FILE *f = fopen("/proc/mounts", "r");
	char dev[256], mnt[256], type[64];
	bool found = false;
	while (f && !found && fscanf(f, "%255s %255s %63s %*[^\n]", dev, mnt, type) == 3)
		if (strcmp(type, "hugetlbfs") == 0) {
			snprintf(out, n, "%s", mnt);
			found = true;
		}
	if (f)
		fclose(f);
	return found;
}

/* Why Open vSwitch with DPDK cannot run here, or NULL. */
static const char *ovs_missing(char *hugedir, size_t n)
{
	if (access(OVS_VSWITCHD, X_OK) != 0)
		return "no " OVS_VSWITCHD " (apt-get install openvswitch-switch-dpdk, "
		       "or `bash scripts/setup-host.sh --bench`)";
	if (access(OVS_SCHEMA, R_OK) != 0)
		return "no " OVS_SCHEMA " (openvswitch-common)";
	if (system("command -v ovsdb-server >/dev/null && command -v ovsdb-tool >/dev/null && "
		   "command -v ovs-vsctl >/dev/null && command -v ovs-ofctl >/dev/null && "
		   "command -v ovs-appctl >/dev/null") != 0)
		return "ovsdb-server/ovsdb-tool/ovs-vsctl/ovs-ofctl/ovs-appctl not in PATH (openvswitch-switch)";
	if (!hugetlbfs_mount(hugedir, n))
		return "no hugetlbfs mounted (DPDK needs one; run scripts/setup-host.sh)";
	if (geteuid() != 0)
		return "DPDK needs root here (hugepages)";
	return NULL;
}

static void ovs_stop(struct ovs *o)
{
	/* the documented way first, so ports and DPDK are closed in order */
	if (o->vswitchd > 0 && !bench_exited(o->vswitchd)) {
		sh(o->log, "for c in '%s'/run/ovs-vswitchd*.ctl; do [ -S \"$c\" ] && "
			   "timeout 10 ovs-appctl -t \"$c\" exit --cleanup; done; true",
		   o->dir);
		for (int i = 0; i < 100 && !bench_exited(o->vswitchd); i++)
			bench_sleep_ms(50);
	}
	if (o->vswitchd > 0 && bench_exited(o->vswitchd))
		o->vswitchd = 0;
	bench_reap(&o->vswitchd, 3000);
	bench_reap(&o->dbserver, 3000);
	/* --huge-unlink leaves no hugepage file; a crash before DPDK unlinked could */
	if (o->prefix[0] != '\0') {
		sh(o->log, "rm -rf '/var/run/dpdk/%s'; rm -f '%s/%s'map_* '%s/%s'seg* 2>/dev/null; true", o->prefix,
		   o->hugedir, o->prefix, o->hugedir, o->prefix);
	}
}

#define VSCTL "ovs-vsctl --timeout=60 --db=unix:%s/run/db.sock "

static int ovs_start(struct ovs *o, const char *top, int sw_cpu, int gen_cpu, const char *sa,
		     const char *sb, struct result *r)
{
	char path[600], vlog[400];
	snprintf(o->dir, sizeof(o->dir), "%s/ovs", top);
	snprintf(o->log, sizeof(o->log), "%s/commands.log", o->dir);
	snprintf(o->db, sizeof(o->db), "%s/db/conf.db", o->dir);
	snprintf(o->prefix, sizeof(o->prefix), "hlbovs%d", (int)getpid());
	snprintf(vlog, sizeof(vlog), "%s/log/ovs-vswitchd.log", o->dir);
	const char *sub[] = {"", "/run", "/db", "/log"};
	for (unsigned i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s%s", o->dir, sub[i]);
		if (mkdir(path, 0700) < 0)
			return fail(r, "mkdir %s: %s", path, strerror(errno));
	}
	/* every OVS tool finds its files here, not in /etc or /var */
	snprintf(path, sizeof(path), "%s/run", o->dir);
	setenv("OVS_RUNDIR", path, 1);
	snprintf(path, sizeof(path), "%s/db", o->dir);
	setenv("OVS_DBDIR", path, 1);
	setenv("OVS_SYSCONFDIR", path, 1);
	snprintf(path, sizeof(path), "%s/log", o->dir);
	setenv("OVS_LOGDIR", path, 1);

	if (sh(o->log, "ovsdb-tool create '%s' " OVS_SCHEMA, o->db) != 0) {
		bench_tail_log("switch", o->log, 5);
		return fail(r, "ovsdb-tool create failed");
	}
	char remote[500], pidf[500], logf[500];
	snprintf(remote, sizeof(remote), "--remote=punix:%s/run/db.sock", o->dir);
	snprintf(pidf, sizeof(pidf), "--pidfile=%s/run/ovsdb-server.pid", o->dir);
	snprintf(logf, sizeof(logf), "--log-file=%s/log/ovsdb-server.log", o->dir);
	char *dbargv[] = {"ovsdb-server", o->db, remote, pidf, logf, NULL};
	snprintf(path, sizeof(path), "%s/log/console.log", o->dir);
	o->dbserver = bench_spawn(dbargv, path, gen_cpu);
	snprintf(path, sizeof(path), "%s/run/db.sock", o->dir);
	for (int i = 0; access(path, F_OK) != 0; i++) {
		if (i > 200 || bench_exited(o->dbserver) || stop) {
			bench_tail_log("switch", o->log, 5);
			return fail(r, "ovsdb-server did not start");
		}
		bench_sleep_ms(50);
	}
	if (sh(o->log, VSCTL "--no-wait init", o->dir) != 0 ||
	    sh(o->log,
	       VSCTL "--no-wait set Open_vSwitch . other_config:dpdk-init=true other_config:dpdk-socket-mem=256 "
		     "other_config:dpdk-socket-limit=256 other_config:dpdk-lcore-mask=0x%x "
		     "other_config:pmd-cpu-mask=0x%x other_config:dpdk-hugepage-dir='%s' "
		     "'other_config:dpdk-extra=--file-prefix=%s --no-pci --huge-unlink' "
		     "other_config:userspace-tso-enable=%s",
	       o->dir, 1u << gen_cpu, 1u << sw_cpu, o->hugedir, o->prefix, tso ? "true" : "false") != 0) {
		bench_tail_log("switch", o->log, 5);
		return fail(r, "ovs-vsctl could not configure the database");
	}
	snprintf(pidf, sizeof(pidf), "--pidfile=%s/run/ovs-vswitchd.pid", o->dir);
	snprintf(logf, sizeof(logf), "--log-file=%s", vlog);
	snprintf(remote, sizeof(remote), "unix:%s/run/db.sock", o->dir);
	char *swargv[] = {OVS_VSWITCHD, remote, pidf, logf, NULL};
	snprintf(path, sizeof(path), "%s/log/console.log", o->dir);
	o->vswitchd = bench_spawn(swargv, path, -1);
	/* dpdk-init=true: a DPDK that cannot start takes ovs-vswitchd down with it */
	for (int i = 0;; i++) {
		char cmd[600], out[64] = "";
		snprintf(cmd, sizeof(cmd), VSCTL "get Open_vSwitch . dpdk_initialized 2>/dev/null", o->dir);
		FILE *p = popen(cmd, "r");
		if (p) {
			if (fgets(out, sizeof(out), p) == NULL)
				out[0] = '\0';
			pclose(p);
		}
		if (strncmp(out, "true", 4) == 0)
			break;
		if (i > 600 || bench_exited(o->vswitchd) || stop) {
			if (bench_exited(o->vswitchd))
				o->vswitchd = 0;
			bench_tail_log("switch", vlog, 12);
			return fail(r, "ovs-vswitchd-dpdk did not initialise DPDK (log %s above)", vlog);
		}
		bench_sleep_ms(100);
	}
	if (sh(o->log, VSCTL "add-br br0 -- set bridge br0 datapath_type=netdev", o->dir) != 0 ||
	    sh(o->log,
	       VSCTL "add-port br0 p1 -- set Interface p1 type=dpdkvhostuserclient "
		     "options:vhost-server-path='%s' ofport_request=1",
	       o->dir, sa) != 0 ||
	    sh(o->log,
	       VSCTL "add-port br0 p2 -- set Interface p2 type=dpdkvhostuserclient "
		     "options:vhost-server-path='%s' ofport_request=2",
	       o->dir, sb) != 0 ||
	    sh(o->log, "ovs-ofctl del-flows 'unix:%s/run/br0.mgmt'", o->dir) != 0 ||
	    sh(o->log, "ovs-ofctl add-flow 'unix:%s/run/br0.mgmt' in_port=1,actions=output:2", o->dir) != 0 ||
	    sh(o->log, "ovs-ofctl add-flow 'unix:%s/run/br0.mgmt' in_port=2,actions=output:1", o->dir) != 0) {
		bench_tail_log("switch", o->log, 8);
		bench_tail_log("switch", vlog, 8);
		return fail(r, "could not set up the OVS bridge and its vhost-user ports");
	}
	return 0;
}


/* ---- the command ------------------------------------------------------------ */

/* A failed measurement says why in its JSON line too, not only on stderr. */
static void error_field(struct result *r, char *extra, size_t n)
{
	if (r->err[0] == '\0')
		return;
	for (char *c = r->err; *c; c++)
		if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
			*c = '\'';
	size_t len = strlen(extra);
	snprintf(extra + len, n - len, ",\"error\":\"%s\"", r->err);
}

static void print_line(struct target *tg, unsigned size, unsigned seconds, int sw_cpu, const char *ratio)
{
	char extra[3000];
	snprintf(extra, sizeof(extra), "%s", ratio);
	error_field(&tg->res, extra, sizeof(extra));
	const struct result *r = &tg->res;
	if (tso) {
		printf("{\"bench\":\"switch\",\"switch\":\"%s\",\"tso\":true,\"zcopy\":\"%s\",\"size\":%u,"
		       "\"gbps\":%.3f,\"min_gbps\":%.3f,\"max_gbps\":%.3f,\"rx_mpps\":%.4f,\"tx_mpps\":%.4f,"
		       "\"samples\":%u,\"seconds\":%u,\"switch_cpu\":%d%s}\n",
		       tg->name, tg->dev == 0 ? zcopy_mode : "-", size, r->gbps, r->min_gbps, r->max_gbps, r->mpps,
		       r->tx_mpps, r->samples, seconds, sw_cpu, extra);
		fflush(stdout);
		return;
	}
	printf("{\"bench\":\"switch\",\"switch\":\"%s\",\"size\":%u,\"mpps\":%.3f,\"gbps\":%.3f,"
	       "\"tx_mpps\":%.3f,\"min_mpps\":%.3f,\"max_mpps\":%.3f,\"samples\":%u,\"seconds\":%u,"
	       "\"switch_cpu\":%d%s}\n",
	       tg->name, size, r->mpps, r->mpps * size * 8 / 1000, r->tx_mpps, r->min_mpps, r->max_mpps, r->samples,
	       seconds, sw_cpu, extra);
	fflush(stdout);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: hlbench switch --size B[,B...] [--seconds S] [--cpu N] [--vs-ovs] [--tso] [--zcopy auto|on|off]\n"
		   "                     [--idle-us N]\n"
		   "  frames A -> switch -> B; the switch on CPU N (default 1), the traffic on the other;\n"
		   "  --vs-ovs also measures Open vSwitch with DPDK, in alternate seconds of the same run;\n"
		   "  --tso: A sends TCP frames of B bytes (default 65000, up to 65549) asking for TSO, and\n"
		   "  both devices negotiate TSO (OVS: userspace-tso-enable); rates in Gbit/s;\n"
		   "  --zcopy: hugelinkd's ports' zero-copy mode (default auto);\n"
		   "  --idle-us: hugelinkd's --idle-us (default: its own);\n"
		   "  --seconds: one-second samples of each switch, taking turns (default %d)\n",
		BENCH_ROUNDS);
}

/* S samples of each switch that is up, alternating (and freezing the other) when there are two. */
static unsigned measure(struct traffic *t, struct target *tg, unsigned ntg, unsigned size, unsigned seconds,
			double *ratios, unsigned *nratios, double *probe)
{
	bool alternate = ntg == 2 && tg[0].up && tg[1].up;
	*nratios = 0;
	for (unsigned i = 0; i < ntg; i++) {
		tg[i].n = 0;
		tg[i].res.rx_other = 0;
		if (!alternate)
			thaw(&tg[i]); /* the other one is gone: no more turns */
	}
	unsigned k;
	for (k = 0; k < seconds && !stop; k++) {
		probe[k] = bench_probe_ns() / 1e6; /* on the traffic core, both switches frozen or idle */
		/* who goes first alternates too, so neither always follows a frozen second */
		for (unsigned j = 0; j < ntg; j++) {
			struct target *x = &tg[ntg == 2 && k % 2 ? 1 - j : j];
			if (!x->up)
				continue;
			if (alternate)
				thaw(x);
			if (sample(t, x, size, alternate || k == 0 ? WARM_NS : 0) < 0)
				x->up = false;
			if (alternate && x->up && !freeze(x)) {
				x->up = false;
				fail(&x->res, "a %s process exited during the run", x->name);
			}
		}
		if (alternate && tg[0].up && tg[1].up && tg[0].n == k + 1 && tg[1].n == k + 1) {
			/* with --tso, bytes: a switch that segments passes more frames of less each */
			const double *m0 = tso ? tg[0].bytes_s : tg[0].rx_s, *m1 = tso ? tg[1].bytes_s : tg[1].rx_s;
			if (m1[k] > 0)
				ratios[(*nratios)++] = m0[k] / m1[k];
		}
		if (alternate && !(tg[0].up && tg[1].up)) {
			alternate = false;
			for (unsigned i = 0; i < ntg; i++)
				thaw(&tg[i]);
		}
	}
	for (unsigned i = 0; i < ntg; i++)
		summarize(&tg[i]);
	return k;
}

int bench_switch(int argc, char **argv)
{
	static const struct option opts[] = {{"size", required_argument, 0, 's'},
					     {"seconds", required_argument, 0, 't'},
					     {"cpu", required_argument, 0, 'c'},
					     {"vs-ovs", no_argument, 0, 'v'},
					     {"tso", no_argument, 0, 'T'},
					     {"zcopy", required_argument, 0, 'z'},
					     {"idle-us", required_argument, 0, 'i'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	unsigned sizes[MAX_SIZES], nsizes = 0, seconds = BENCH_ROUNDS;
	int sw_cpu = 1, o;
	bool vs = false;

	char *size_arg = NULL;
	while ((o = getopt_long(argc, argv, "s:t:c:vTz:i:h", opts, NULL)) != -1) {
		switch (o) {
		case 's': size_arg = optarg; break;
		case 'T': tso = true; break;
		case 'z':
			if (strcmp(optarg, "auto") != 0 && strcmp(optarg, "on") != 0 && strcmp(optarg, "off") != 0) {
				usage(stderr);
				return 2;
			}
			zcopy_mode = optarg;
			break;
		case 't': seconds = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'i': idle_us = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'c': sw_cpu = atoi(optarg); break;
		case 'v': vs = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	/* frames of 60..1518 bytes, or with --tso TCP frames of up to 64 KiB (an IPv4 packet's limit) */
	unsigned lo = tso ? TSO_HDRS + 1 : 60, hi = tso ? 65535 + 14 : 1518;
	if (size_arg == NULL && tso)
		size_arg = "65000";
	if (size_arg != NULL && bench_sizes("switch", size_arg, sizes, &nsizes, MAX_SIZES, lo, hi) < 0)
		return 2;
	if (optind < argc || nsizes == 0 || seconds == 0 || seconds > MAX_SAMPLES || sw_cpu < 0 || sw_cpu > 31) {
		usage(stderr);
		return 2;
	}
	int gen_cpu = bench_other_cpu("switch", sw_cpu, "traffic");
	if (gen_cpu < 0)
		return 1;
	char hugelinkd[600], hugedir[256] = "";
	if (exe_dir(hugelinkd, sizeof(hugelinkd) - 16) < 0) {
		fprintf(stderr, "hlbench switch: cannot find my own directory\n");
		return 1;
	}
	strcat(hugelinkd, "/hugelinkd");
	if (access(hugelinkd, X_OK) != 0) {
		fprintf(stderr, "hlbench switch: %s is missing (build tools/hugelinkd)\n", hugelinkd);
		return 1;
	}
	/* ovsdb-server lives in /usr/sbin, which a user's PATH may lack */
	char path[4096];
	snprintf(path, sizeof(path), "%s:/usr/sbin:/sbin", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	setenv("PATH", path, 1);
	if (vs) {
		const char *why = ovs_missing(hugedir, sizeof(hugedir));
		if (why != NULL) {
			fprintf(stderr, "hlbench switch: --vs-ovs: Open vSwitch with DPDK cannot run: %s\n", why);
			return 1;
		}
	}
	char top[] = "/tmp/hlbench-switch.XXXXXX";
	if (mkdtemp(top) == NULL) {
		fprintf(stderr, "hlbench switch: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	hl_log_set_level(HL_LOG_ERR);
	bench_set_cpu(0, gen_cpu);

	static struct traffic t;
	static struct target tg[2];
	static struct hld h;
	static struct ovs ov;
	char sock[4][400];
	unsigned ntg = vs ? 2 : 1;
	snprintf(sock[0], sizeof(sock[0]), "%s/a.sock", top);
	snprintf(sock[1], sizeof(sock[1]), "%s/b.sock", top);
	snprintf(sock[2], sizeof(sock[2]), "%s/p1.sock", top);
	snprintf(sock[3], sizeof(sock[3]), "%s/p2.sock", top);
	tg[0] = (struct target){.name = "hugelink", .dev = 0, .freeze = &h.pid, .watch = {&h.pid}};
	tg[1] = (struct target){
		.name = "ovs-dpdk", .dev = 2, .freeze = &ov.vswitchd, .watch = {&ov.vswitchd, &ov.dbserver}};
	snprintf(ov.hugedir, sizeof(ov.hugedir), "%s", hugedir);

	int rc = 0;
	if (traffic_init(&t, top, &tg[0].res) < 0) {
		fprintf(stderr, "hlbench switch: %s\n", tg[0].res.err);
		rc = 1;
		goto out;
	}
	/* each switch comes up and passes its first frames alone, then is frozen until its turn */
	tg[0].up = hld_start(&h, top, hugelinkd, sw_cpu, gen_cpu, sock[0], sock[1], &tg[0].res) == 0 &&
		   traffic_connect(&t, 0, sock[0], sock[1], &tg[0].res) == 0 && prime(&t, &tg[0], sizes[0]) == 0;
	if (vs) {
		if (tg[0].up && !freeze(&tg[0]))
			tg[0].up = false;
		tg[1].up = ovs_start(&ov, top, sw_cpu, gen_cpu, sock[2], sock[3], &tg[1].res) == 0 &&
			   traffic_connect(&t, 2, sock[2], sock[3], &tg[1].res) == 0 &&
			   prime(&t, &tg[1], sizes[0]) == 0;
		if (tg[1].up && !freeze(&tg[1]))
			tg[1].up = false;
	}
	for (unsigned i = 0; i < ntg; i++)
		if (!tg[i].up)
			fprintf(stderr, "hlbench switch: %s%s: %s\n", i ? "--vs-ovs: " : "", tg[i].name,
				tg[i].res.err[0] ? tg[i].res.err : "interrupted");
	bool told[2] = {!tg[0].up, !tg[1].up};
	for (unsigned i = 0; i < nsizes && !stop; i++) {
		double ratios[MAX_SAMPLES], probe[MAX_SAMPLES];
		unsigned nr = 0;
		char ratio[2400] = "";
		unsigned done = measure(&t, tg, ntg, sizes[i], seconds, ratios, &nr, probe);
		size_t at = bench_spread_json(ratio, sizeof(ratio), "ratio", ratios, nr, "%.3f");
		at += bench_spread_json(ratio + at, sizeof(ratio) - at, "probe_ms", probe, done, "%.2f");
		snprintf(ratio + at, sizeof(ratio) - at, ",\"idle_us\":%u", idle_us);
		print_line(&tg[0], sizes[i], seconds, sw_cpu, ratio);
		if (vs)
			print_line(&tg[1], sizes[i], seconds, sw_cpu, "");
		for (unsigned j = 0; j < ntg; j++)
			if (tg[j].res.mpps <= 0)
				rc = 1;
	}
	for (unsigned i = 0; i < ntg; i++)
		if (tg[i].res.err[0] != '\0') {
			if (!told[i])
				fprintf(stderr, "hlbench switch: %s%s: %s\n", i ? "--vs-ovs: " : "", tg[i].name,
					tg[i].res.err);
			rc = 1;
		}
out:
	/* closing a device waits for its switch's reply: nobody may stay frozen */
	for (unsigned i = 0; i < ntg; i++)
		thaw(&tg[i]);
	traffic_close(&t);
	hld_stop(&h);
	if (vs)
		ovs_stop(&ov);
	if (stop)
		rc = 1;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	if (system(cmd) != 0)
		fprintf(stderr, "hlbench switch: could not remove %s\n", top);
	return rc;
}
