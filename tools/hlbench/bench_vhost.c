/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hlbench vhost: one direction of a vhost-user link, one core per side.
 *
 * The front-end is DPDK's net_virtio_user in dpdk-testpmd (txonly for g2h,
 * rxonly for h2g), so neither side of a comparison is hugelink's alone. The
 * back-end is hugelink's port, driven by this process on one core, or with
 * --vs-dpdk also DPDK's net_vhost in a second testpmd, measured in the same
 * run. Rates are medians of per-second samples after a warm-up second: for
 * g2h what the back-end dequeued, for h2g what the back-end delivered into
 * the front-end's receive ring (DPDK's: what its front-end received).
 *
 * Both back-ends share two cores with whatever else the machine runs, and
 * load that comes and goes between the two measurements skews their ratio.
 * So they take turns for N rounds (--rounds, default 6); the ratio printed is
 * the median of the N per-round ratios, with their min and max and the
 * rounds themselves (ratio_min, ratio_max, ratio_rounds), and each rate the
 * median of its N rates. Before each round a fixed loop is timed
 * (probe_ms, with its spread): a round taken in a slow spell of the host
 * shows there.
 * With auto and another mode, auto's line has vs_best: the median over
 * rounds of auto's rate over the better of the other modes' in that round
 * (and vs_best_peak, the same from each mode's best second, and
 * zc_min_len, the threshold the start-up calibration chose).
 * Each side's best second is printed too (mpps_peak, ratio_peak), and
 * HLBENCH_SAMPLES=1 in the environment lists our per-second samples and
 * how many polls found the ring empty.
 *
 * A rate is set by the slower side, and a back-end that outruns its
 * front-end idles. So each back-end's busy time a packet is printed as well
 * (ns_pkt: DPDK's from testpmd's --record-core-cycles, which counts the
 * bursts that moved packets; ours counts those and the poll after each,
 * which returns zero-copy completions), and cost_ratio, DPDK's over
 * ours, median over rounds: how much faster our back-end is than DPDK's
 * whichever side set the rate.
 *
 * --ring packed has the front-end (and DPDK's back-end, which follows it)
 * use packed virtqueues (virtio-user packed_vq=1) instead of split ones,
 * in every mode. --ring best gives the front-end DPDK's fastest set-up:
 * packed rings, in_order=1, vectorized=1 (AVX-512, allowed by
 * --force-max-simd-bitwidth=512), no mergeable receive buffers; each
 * back-end gets what of it it grants, as a guest would.
 *
 * --queues N gives the link N queue pairs (virtio-user and net_vhost with
 * queues=N, testpmd with --rxq=N --txq=N) and still one core a side: the
 * front-end's forwarding core serves all N, and so does our back-end,
 * which polls each pair in turn, as a switch worker polls the pairs it
 * was given. The JSON lines say "queues".
 *
 * --dirty-log measures each of our modes a second time in every round with
 * dirty logging on, as during a live migration (a log over the front-end's
 * whole memory, the used ring logged too), and prints that line with
 * log_cost: the median over rounds of the busy time a packet with logging
 * over the same without, from the same round.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hugelink/vhost_port.h>

#include "bench.h"
#include "plot.h"

#define MAX_SAMPLES 120

struct peer {
	pid_t pid;
	char log[256];
};

/*
 * testpmd's --txpkts for a frame of `size` bytes: one segment up to 2048
 * (its mbufs' data room), else equal segments, so large frames reach the
 * back-end as descriptor chains.
 */
static void txpkts(unsigned size, char *out, size_t len)
{
	unsigned nseg = (size + 2047) / 2048, each = size / nseg;
	size_t at = 0;
	for (unsigned i = 0; i < nseg && at < len; i++)
		at += (size_t)snprintf(out + at, len - at, "%s%u", i ? "," : "",
				       i + 1 < nseg ? each : size - each * (nseg - 1));
}

static const char *ring_mode = "split"; /* --ring: the front-end's virtqueue set-up */
static unsigned npairs = 1;             /* --queues */

/* The front-end's device: testpmd's virtio-user on sock, with the ring set-up asked for. */
static void frontend_vdev(char *out, size_t len, const char *sock)
{
	const char *opt = strcmp(ring_mode, "packed") == 0 ? ",packed_vq=1"
			  : strcmp(ring_mode, "best") == 0 ? ",packed_vq=1,in_order=1,vectorized=1,mrg_rxbuf=0"
							   : "";
	snprintf(out, len, "net_virtio_user0,path=%s,queues=%u%s", sock, npairs, opt);
}

/* testpmd's queues for --queues N: N of each on its one port */
static const char *queue_opts(void)
{
	static char s[48];
	snprintf(s, sizeof(s), " --rxq=%u --txq=%u", npairs, npairs);
	return npairs > 1 ? s : "";
}

/* EAL options of a testpmd: the front-end's vectorized path needs AVX-512 allowed. */
static const char *peer_eal(bool frontend)
{
	return frontend && strcmp(ring_mode, "best") == 0 ? " --force-max-simd-bitwidth=512" : "";
}

static int peer_start(struct peer *p, const char *dir, const char *tag, int main_lcore, const char *vdev,
		      const char *fwd, unsigned size, const char *extra)
{
	static unsigned runs; /* a fresh EAL prefix each time: a reused one broke the next run */
	char cmd[1400], segs[300];
	txpkts(size, segs, sizeof(segs));
	snprintf(p->log, sizeof(p->log), "%s/%s.log", dir, tag);
	/*
	 * The last round's log goes now, not when the shell truncates it: a
	 * wait_log() in between would find that round's lines and time this
	 * round from before its testpmd had started.
	 */
	unlink(p->log);
	snprintf(cmd, sizeof(cmd),
		 "exec dpdk-testpmd -l 0,1 --main-lcore %d --no-pci --no-huge -m 512 --file-prefix hlb-%s-%d-%u%s "
		 "--vdev '%s' -- --nb-cores=1 --forward-mode=%s --txpkts=%s --stats-period 1 "
		 "--no-lsc-interrupt --total-num-mbufs=%u%s%s > '%s' 2>&1",
		 main_lcore, tag, (int)getpid(), ++runs, peer_eal(strncmp(tag, "fe-", 3) == 0), vdev, fwd, segs, size > 2048 ? 32768 : 8192,
		 size > 2048 ? " --tx-offloads=0x8000" : "", extra, p->log);
	p->pid = fork();
	if (p->pid < 0)
		return -errno;
	if (p->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return 0;
}

static void peer_stop(struct peer *p)
{
	if (p->pid <= 0)
		return;
	kill(p->pid, SIGINT);
	for (int i = 0; i < 200; i++) {
		if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
			p->pid = 0;
			return;
		}
		usleep(50000);
	}
	kill(p->pid, SIGKILL);
	waitpid(p->pid, NULL, 0);
	p->pid = 0;
}

/* Per-second "Rx-pps:" (or Tx-pps) samples from a testpmd log, skipping the first `skip`. */
static unsigned peer_samples(const struct peer *p, const char *key, unsigned skip, double *out)
{
	FILE *f = fopen(p->log, "r");
	char line[512];
	unsigned n = 0, seen = 0;
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) && n < MAX_SAMPLES) {
		char *k = strstr(line, key);
		if (k == NULL)
			continue;
		double v = strtod(k + strlen(key), NULL);
		if (seen++ >= skip && v > 0)
			out[n++] = v;
	}
	fclose(f);
	return n;
}

static bool wait_log(const struct peer *p, const char *text, int ms)
{
	char line[512];
	for (int t = 0; t < ms; t += 50) {
		FILE *f = fopen(p->log, "r");
		bool found = false;
		while (f && !found && fgets(line, sizeof(line), f))
			found = strstr(line, text) != NULL;
		if (f)
			fclose(f);
		if (found)
			return true;
		usleep(50000);
	}
	return false;
}

static const char *const mode_names[] = {[HL_VHOST_ZC_OFF] = "copy", [HL_VHOST_ZC_ON] = "zcopy",
					   [HL_VHOST_ZC_AUTO] = "auto"};

static uint32_t auto_min_len; /* AUTO's threshold as the last calibration chose it */

/*
 * Our back-end on core 0 for `seconds`; returns the median rate (pps), *peak
 * the best second, *ns_pkt the median per second of the back-end's busy time
 * a packet: the time of the polls that moved packets, and of the poll after
 * each (where a zero-copy burst's completions go back), over the packets.
 * A back-end faster than its front-end idles in empty polls; this is what
 * a packet costs it, whoever sets the rate.
 */
int bench_log_start(struct hl_vhost_port *port)
{
	uint64_t end = hl_vhost_port_mem_end(port);
	/* sparse: only the words for the pages written are ever touched */
	uint64_t size = (hl_vhost_log_bytes(end) + 4095) & ~4095ull;
	int fd = memfd_create("hlbench-log", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	return hl_vhost_port_log_start(port, fd, size);
}

static double run_hugelink(const char *dir, bool g2h, unsigned size, enum hl_vhost_zc_mode mode, bool dirty_log,
			   unsigned seconds, double *peer_pps, double *peak, double *ns_pkt)
{
	char sock[300], vdev[400], name[32];
	struct hl_pool *pool;
	struct hl_bufpool *bp;
	struct hl_vhost_port *port;
	struct peer fe = {0};
	double samples[MAX_SAMPLES];
	unsigned ns = 0;

	snprintf(sock, sizeof(sock), "%s/hl.sock", dir);
	unlink(sock); /* a previous round's */
	snprintf(name, sizeof(name), "hlbench-v-%d", (int)getpid());
	struct hl_pool_params pp = {.name = name, .size = 128 << 20, .run_dir = dir};
	if (hl_pool_create(&pp, &pool) < 0 || hl_bufpool_create(pool, "b", 16384, 2048, 256, &bp) < 0)
		return -1;
	if (mode == HL_VHOST_ZC_AUTO)
		auto_min_len = hl_vhost_zc_calibrate(bp, NULL); /* as hugelinkd does at start */
	struct hl_vhost_port_params vp = {.path = sock, .zc_mode = mode, .nqueues = 2 * npairs};
	if (hl_vhost_port_create(&vp, &port) < 0)
		return -1;
	frontend_vdev(vdev, sizeof(vdev), sock);
	peer_start(&fe, dir, g2h ? "fe-tx" : "fe-rx", 0, vdev, g2h ? "txonly" : "rxonly", size, queue_opts());
	/* on core 0 for the run only: testpmd instances forked later must not inherit it */
	bench_set_cpu(0, 0);
	hl_buf_thread_attach();

	/* a template frame for h2g, like testpmd's txonly: Ethernet + IPv4 + UDP */
	struct hl_buf *pkts[HL_VHOST_BURST];
	uint64_t count = 0, last = 0, t_last = hl_now_ns(), t_end = 0, t_ready = 0, polls = 0, empty = 0;
	uint64_t busy = 0, busy_last = 0, t_poll = 0;
	double cost[MAX_SAMPLES];
	unsigned nc = 0;
	bool ready = false, was_busy = false, moved = false;
	hl_fast_clock_init();
	for (;;) {
		hl_vhost_port_poll_ctrl(port, 0);
		/* every pair running: testpmd starts them all */
		unsigned up = 0;
		for (unsigned q = 0; !ready && q < 2 * npairs; q++)
			up += hl_vhost_port_queue_ready(port, q);
		if (!ready && up == 2 * npairs && wait_log(&fe, "pps", 1)) {
			ready = true;
			if (dirty_log && bench_log_start(port) < 0) {
				fprintf(stderr, "hlbench vhost: dirty logging: %s\n", hl_last_error());
				break;
			}
			t_ready = t_last = hl_now_ns();
			t_end = t_last + (uint64_t)(seconds + 1) * 1000000000ull;
			count = last = 0;
		}
		if (!ready) {
			usleep(1000);
			if (t_end == 0 && hl_now_ns() - t_last > 30000000000ull)
				break;
			continue;
		}
		for (unsigned i = 0; i < 64; i++) {
			unsigned k = i % npairs; /* each poll the next pair */
			uint64_t t = hl_fast_ns();
			if (was_busy)
				busy += t - t_poll;
			t_poll = t;
			uint64_t before = count;
			if (g2h) {
				uint16_t n = hl_vhost_dequeue_burst(port, 2 * k + 1, bp, pkts, HL_VHOST_BURST);
				hl_buf_free_bulk(pkts, n);
				count += n;
				polls++;
				empty += n == 0;
			} else if (hl_buf_alloc_bulk(bp, pkts, HL_VHOST_BURST) == 0) {
				for (unsigned k = 0; k < HL_VHOST_BURST; k++) {
					uint8_t *d = hl_buf_data(pkts[k]);
					memset(d, 0, 42);
					d[12] = 0x08;
					d[14] = 0x45;
					pkts[k]->data_len = pkts[k]->pkt_len = size;
				}
				count += hl_vhost_enqueue_burst(port, 2 * k, pkts, HL_VHOST_BURST, NULL);
				hl_buf_free_bulk(pkts, HL_VHOST_BURST);
			}
			/* this poll, or the one before, moved packets */
			was_busy = count != before || moved;
			moved = count != before;
		}
		uint64_t now = hl_now_ns();
		if (now - t_last >= 1000000000ull) {
			double pps = (double)(count - last) * 1e9 / (double)(now - t_last);
			/* the first second after the link came up is warm-up */
			if (t_last >= t_ready + 900000000ull && ns < MAX_SAMPLES) {
				if (count > last)
					cost[nc++] = (double)(busy - busy_last) / (double)(count - last);
				samples[ns++] = pps;
			}
			busy_last = busy;
			last = count;
			t_last = now;
			if (now >= t_end)
				break;
		}
	}
	peer_stop(&fe);
	bench_set_cpu(0, -1);
	double ps[MAX_SAMPLES];
	unsigned np = peer_samples(&fe, g2h ? "Tx-pps:" : "Rx-pps:", 2, ps);
	*peer_pps = np ? bench_median(ps, np) : 0;
	hl_buf_thread_detach();
	struct hl_vhost_vq_stats st, st0;
	uint32_t zc_min_len;
	hl_vhost_port_queue_stats(port, 1, &st, &zc_min_len);
	hl_vhost_port_queue_stats(port, 0, &st0, NULL);
	hl_vhost_port_destroy(port);
	hl_bufpool_free(bp);
	hl_pool_destroy(pool);
	*ns_pkt = nc > 0 ? bench_median(cost, nc) : 0;
	if (getenv("HLBENCH_SAMPLES") != NULL) { /* the spread behind the median */
		for (unsigned i = 0; i < ns; i++)
			fprintf(stderr, "hlbench vhost: hugelink sample %u: %.3f Mpps\n", i, samples[i] / 1e6);
		fprintf(stderr, "hlbench vhost: %s: %" PRIu64 " copied, %" PRIu64 " zero-copied, %" PRIu64
			" fell back to copy (threshold %u B)\n", mode_names[mode], st.copied, st.zcopy,
			st.zc_fallback, zc_min_len);
		if (dirty_log)
			fprintf(stderr, "hlbench vhost: dirty log: %" PRIu64 " words set, %" PRIu64 " pages outside it\n",
				st0.log_words + st.log_words, st0.log_dropped + st.log_dropped);
		if (g2h && polls > empty) /* a back-end that waits on its front-end polls empty rings */
			fprintf(stderr, "hlbench vhost: %" PRIu64 " polls, %.1f%% empty, %.1f packets a full one, "
				"busy %.1f ns a packet\n", polls, 100.0 * (double)empty / (double)polls,
				(double)count / (double)(polls - empty), *ns_pkt);
	}
	*peak = bench_max(samples, ns);
	return bench_median(samples, ns);
}

/*
 * testpmd's own busy time a packet (--record-core-cycles: the cycles of the
 * bursts that moved packets, over the packets, for the whole run), in ns; 0
 * if it printed none.
 */
static double peer_ns_pkt(const struct peer *p)
{
	FILE *f = fopen(p->log, "r");
	char line[512];
	double ns = 0;
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		const char *c = strstr(line, "CPU cycles/packet="), *m = strstr(line, " at ");
		double cycles = c ? strtod(c + strlen("CPU cycles/packet="), NULL) : 0;
		double mhz = m ? strtod(m + 4, NULL) : 0;
		if (cycles > 0 && mhz > 0 && strstr(line, "MHz") != NULL)
			ns = cycles * 1000.0 / mhz;
	}
	fclose(f);
	return ns;
}

/* DPDK's net_vhost back-end (forwarding on core 0) against the same front-end (core 1); as above. */
static double run_dpdk(const char *dir, bool g2h, unsigned size, unsigned seconds, double *peak, double *ns_pkt)
{
	char sock[300], vdev[400];
	struct peer be = {0}, fe = {0};
	double s[MAX_SAMPLES];

	snprintf(sock, sizeof(sock), "%s/dpdk.sock", dir);
	unlink(sock); /* a previous round's: the front-end must not find it early */
	char extra[80];
	snprintf(vdev, sizeof(vdev), "net_vhost0,iface=%s,queues=%u", sock, npairs);
	snprintf(extra, sizeof(extra), " --record-core-cycles%s", queue_opts());
	peer_start(&be, dir, g2h ? "be-rx" : "be-tx", 1, vdev, g2h ? "rxonly" : "txonly", size, extra);
	for (int i = 0; i < 200 && access(sock, F_OK) != 0; i++)
		usleep(50000);
	frontend_vdev(vdev, sizeof(vdev), sock);
	peer_start(&fe, dir, g2h ? "fe-tx2" : "fe-rx2", 0, vdev, g2h ? "txonly" : "rxonly", size, queue_opts());
	wait_log(g2h ? &be : &fe, "pps", 30000);
	sleep(seconds + 2);
	peer_stop(&fe);
	peer_stop(&be);
	unsigned n = peer_samples(g2h ? &be : &fe, "Rx-pps:", 2, s);
	*ns_pkt = peer_ns_pkt(&be);
	*peak = bench_max(s, n);
	return bench_median(s, n);
}


/* Comma-separated unsigned numbers; how many, or -1. */
static int parse_list(const char *arg, unsigned *out, int max)
{
	int n = 0;
	for (const char *p = arg; *p != '\0' && n < max;) {
		char *end;
		unsigned long v = strtoul(p, &end, 0);
		if (end == p || (*end != ',' && *end != '\0'))
			return -1;
		out[n++] = (unsigned)v;
		p = *end == ',' ? end + 1 : end;
	}
	return n;
}

static int parse_modes(const char *arg, enum hl_vhost_zc_mode *out)
{
	int n = 0;
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", arg);
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t != NULL && n < 3; t = strtok_r(NULL, ",", &save)) {
		int m = -1;
		for (int k = 0; k < 3; k++)
			if (strcmp(t, mode_names[k]) == 0)
				m = k;
		if (m < 0)
			return -1;
		out[n++] = (enum hl_vhost_zc_mode)m;
	}
	return n;
}

#define MAX_SIZES 16

int bench_vhost(int argc, char **argv)
{
	static const struct option opts[] = {{"dir", required_argument, 0, 'd'},
					     {"size", required_argument, 0, 's'},
					     {"seconds", required_argument, 0, 't'},
					     {"mode", required_argument, 0, 'm'},
					     {"vs-dpdk", no_argument, 0, 'v'},
					     {"rounds", required_argument, 0, 'r'},
					     {"plot", required_argument, 0, 'p'},
					     {"dirty-log", no_argument, 0, 'l'},
					     {"ring", required_argument, 0, 'R'},
					     {"queues", required_argument, 0, 'q'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	const char *dirs = "g2h", *plot = NULL, *ring = "split";
	unsigned sizes[MAX_SIZES] = {64}, seconds = 5, rounds = BENCH_ROUNDS, queues = 1;
	enum hl_vhost_zc_mode modes[3] = {HL_VHOST_ZC_OFF};
	int nsizes = 1, nmodes = 1;
	bool vs = false, dirty_log = false;
	int o;

	while ((o = getopt_long(argc, argv, "d:s:t:m:vr:p:lR:q:h", opts, NULL)) != -1) {
		switch (o) {
		case 'd': dirs = optarg; break;
		case 's': nsizes = parse_list(optarg, sizes, MAX_SIZES); break;
		case 't': seconds = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'm': nmodes = parse_modes(optarg, modes); break;
		case 'v': vs = true; break;
		case 'r': rounds = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'p': plot = optarg; break;
		case 'l': dirty_log = true; break;
		case 'R': ring = optarg; break;
		case 'q': queues = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'h':
			printf("usage: hlbench vhost --dir g2h|h2g --size B[,B...] [--mode copy|zcopy|auto[,...]]\n"
			       "                     [--seconds S] [--vs-dpdk] [--rounds N] [--plot FILE.svg] [--dirty-log]\n"
			       "                     [--ring split|packed|best] [--queues N]\n");
			return 0;
		default: return 2;
		}
	}
	bool g2h = strcmp(dirs, "h2g") != 0;
	if (strcmp(ring, "split") != 0 && strcmp(ring, "packed") != 0 && strcmp(ring, "best") != 0) {
		fprintf(stderr, "hlbench vhost: --ring is split, packed or best\n");
		return 2;
	}
	ring_mode = ring;
	if (queues < 1 || queues > HL_VHOST_MAX_QUEUE_PAIRS) {
		fprintf(stderr, "hlbench vhost: --queues is 1..%d queue pairs\n", HL_VHOST_MAX_QUEUE_PAIRS);
		return 2;
	}
	npairs = queues;
	if (nmodes < 1) {
		fprintf(stderr, "hlbench vhost: --mode takes copy, zcopy and auto, comma-separated\n");
		return 2;
	}
	for (int i = 0; i < nsizes; i++)
		if (sizes[i] < 60 || sizes[i] > (g2h ? 65535u : 1518u))
			nsizes = -1;
	if (nsizes < 1) {
		fprintf(stderr, "hlbench vhost: --size must be 60..65535 for g2h (chains above 2048), 60..1518 for h2g\n");
		return 2;
	}
	if (!g2h && (nmodes > 1 || modes[0] != HL_VHOST_ZC_OFF)) {
		fprintf(stderr, "hlbench vhost: zero-copy is a dequeue (g2h) mode\n");
		return 2;
	}
	if (rounds < 1 || rounds > MAX_SAMPLES) {
		fprintf(stderr, "hlbench vhost: --rounds must be 1..%d\n", MAX_SAMPLES);
		return 2;
	}
	if (access("/usr/bin/dpdk-testpmd", X_OK) != 0) {
		fprintf(stderr, "hlbench vhost: needs dpdk-testpmd (Debian dpdk-dev) as the front-end\n");
		return 1;
	}
	char dir[] = "/tmp/hlbench-vhost.XXXXXX";
	if (mkdtemp(dir) == NULL)
		return 1;
	hl_log_set_level(HL_LOG_WARN);
	struct plot_series ser[4] = {{.name = "hugelink copy"}, {.name = "hugelink zcopy"}, {.name = "hugelink auto"},
				     {.name = "DPDK 22.11 vhost (copy)", .dashed = true}};
	int rc = 0;
	for (int si = 0; si < nsizes; si++) {
		unsigned size = sizes[si];
		double r_ours[3][MAX_SAMPLES], r_dpdk[MAX_SAMPLES], peak_ours[3] = {0}, peak_dpdk = 0, pk = 0;
		double c_ours[3][MAX_SAMPLES], c_dpdk[MAX_SAMPLES]; /* busy ns a packet */
		double r_log[3][MAX_SAMPLES], c_log[3][MAX_SAMPLES], peak_log[3] = {0}; /* --dirty-log */
		/*
		 * Rounds alternate every mode and DPDK, so slow drifts in load hit
		 * them alike, and each round starts one later in the turn: the run
		 * that follows the peers' exit is measurably slower here, and that
		 * must not always be the same one.
		 */
		int turn = nmodes + (vs ? 1 : 0);
		double probe[MAX_SAMPLES];
		for (unsigned r = 0; r < rounds; r++) {
			c_dpdk[r] = r_dpdk[r] = 0;
			probe[r] = bench_probe_ns() / 1e6;
			for (int j = 0; j < turn; j++) {
				int mi = (int)((j + r) % (unsigned)turn);
				if (mi == nmodes) {
					r_dpdk[r] = run_dpdk(dir, g2h, size, seconds, &pk, &c_dpdk[r]) / 1e6;
					peak_dpdk = pk / 1e6 > peak_dpdk ? pk / 1e6 : peak_dpdk;
					continue;
				}
				double fe_pps = 0;
				r_ours[mi][r] = run_hugelink(dir, g2h, size, modes[mi], false, seconds, &fe_pps, &pk,
							     &c_ours[mi][r]) / 1e6;
				peak_ours[mi] = pk / 1e6 > peak_ours[mi] ? pk / 1e6 : peak_ours[mi];
				if (dirty_log) { /* right after, so both see the same load */
					r_log[mi][r] = run_hugelink(dir, g2h, size, modes[mi], true, seconds, &fe_pps, &pk,
								    &c_log[mi][r]) / 1e6;
					peak_log[mi] = pk / 1e6 > peak_log[mi] ? pk / 1e6 : peak_log[mi];
				}
			}
			if (rounds > 1) {
				char line[200] = "";
				size_t at = 0;
				for (int mi = 0; mi < nmodes && at < sizeof(line); mi++)
					at += (size_t)snprintf(line + at, sizeof(line) - at, " %.3f (%s)", r_ours[mi][r],
							       mode_names[modes[mi]]);
				fprintf(stderr, "hlbench vhost: %u B round %u (probe %.1f ms): hugelink%s, dpdk %.3f Mpps\n",
					size, r + 1, probe[r], line, r_dpdk[r]);
			}
		}
		double dpdk = vs ? bench_median(r_dpdk, rounds) : 0, dpdk_ns = vs ? bench_median(c_dpdk, rounds) : 0;
		/*
		 * auto against the better of the other modes measured, round by round:
		 * the figure AUTO's threshold is judged by (1.0: as fast as the better)
		 */
		char vs_best[128] = "";
		int ai = -1;
		for (int mi = 0; mi < nmodes; mi++)
			if (modes[mi] == HL_VHOST_ZC_AUTO)
				ai = mi;
		if (ai >= 0 && nmodes > 1) {
			double vb[MAX_SAMPLES];
			unsigned nvb = 0;
			for (unsigned r = 0; r < rounds; r++) {
				double best = 0;
				for (int mi = 0; mi < nmodes; mi++)
					if (mi != ai && modes[mi] != HL_VHOST_ZC_AUTO && r_ours[mi][r] > best)
						best = r_ours[mi][r];
				if (best > 0)
					vb[nvb++] = r_ours[ai][r] / best;
			}
			if (nvb > 0)
				snprintf(vs_best, sizeof(vs_best), ",\"vs_best\":%.3f", bench_median(vb, nvb));
			/* the same from each mode's best second: what a run-long slow spell cannot lower */
			double best_peak = 0;
			for (int mi = 0; mi < nmodes; mi++)
				if (modes[mi] != HL_VHOST_ZC_AUTO && peak_ours[mi] > best_peak)
					best_peak = peak_ours[mi];
			size_t at = strlen(vs_best);
			if (best_peak > 0)
				snprintf(vs_best + at, sizeof(vs_best) - at, ",\"vs_best_peak\":%.3f",
					 peak_ours[ai] / best_peak);
		}
		if (ai >= 0) {
			size_t at = strlen(vs_best);
			snprintf(vs_best + at, sizeof(vs_best) - at, ",\"zc_min_len\":%u", auto_min_len);
		}
		for (int mi = 0; mi < nmodes; mi++) {
			double ratio_r[MAX_SAMPLES], cost_r[MAX_SAMPLES];
			unsigned nratio = 0, ncost = 0;
			for (unsigned r = 0; r < rounds && vs; r++) {
				if (r_dpdk[r] > 0)
					ratio_r[nratio++] = r_ours[mi][r] / r_dpdk[r];
				if (c_dpdk[r] > 0 && c_ours[mi][r] > 0)
					cost_r[ncost++] = c_dpdk[r] / c_ours[mi][r];
			}
			double ours = bench_median(r_ours[mi], rounds);
			/*
			 * The best second of each side is printed too: on a machine shared
			 * with bursty load it is the one figure that load cannot raise.
			 */
			char ratio[1200] = "";
			size_t at = bench_spread_json(ratio, sizeof(ratio), "ratio", ratio_r, nratio, "%.3f");
			if (nratio > 0)
				at += (size_t)snprintf(ratio + at, sizeof(ratio) - at, ",\"ratio_peak\":%.3f",
						       peak_dpdk > 0 ? peak_ours[mi] / peak_dpdk : 0);
			/*
			 * What a packet costs each back-end in busy time, as a ratio (DPDK's
			 * over ours): the rate either could reach with a front-end that
			 * outran it. When the front-end sets both rates, this is the figure
			 * that still tells the back-ends apart.
			 */
			at += bench_spread_json(ratio + at, sizeof(ratio) - at, "cost_ratio", cost_r, ncost, "%.3f");
			/* the host's speed before each round: a slow round shows as a long probe */
			bench_spread_json(ratio + at, sizeof(ratio) - at, "probe_ms", probe, rounds, "%.2f");
			printf("{\"bench\":\"vhost\",\"backend\":\"hugelink\",\"frontend\":\"dpdk\",\"dir\":\"%s\","
			       "\"ring\":\"%s\",\"size\":%u,\"mode\":\"%s\",\"mpps\":%.3f,\"mpps_peak\":%.3f,\"gbps\":%.3f,"
			       "\"ns_pkt\":%.1f,\"queues\":%u,\"seconds\":%u,\"rounds\":%u%s%s}\n",
			       g2h ? "g2h" : "h2g", ring, size, mode_names[modes[mi]], ours, peak_ours[mi],
			       ours * size * 8 / 1000, bench_median(c_ours[mi], rounds), npairs, seconds, rounds, ratio,
			       mi == ai ? vs_best : "");
			if (dirty_log) {
				double lc[MAX_SAMPLES], lr[MAX_SAMPLES];
				unsigned nl = 0;
				for (unsigned r = 0; r < rounds; r++)
					if (c_ours[mi][r] > 0 && c_log[mi][r] > 0 && r_ours[mi][r] > 0) {
						lc[nl] = c_log[mi][r] / c_ours[mi][r];
						lr[nl++] = r_log[mi][r] / r_ours[mi][r];
					}
				double lm = bench_median(r_log[mi], rounds);
				printf("{\"bench\":\"vhost\",\"backend\":\"hugelink\",\"frontend\":\"dpdk\",\"dir\":\"%s\","
				       "\"size\":%u,\"mode\":\"%s\",\"dirty_log\":true,\"mpps\":%.3f,\"mpps_peak\":%.3f,"
				       "\"ns_pkt\":%.1f,\"log_cost\":%.3f,\"log_cost_min\":%.3f,\"log_cost_max\":%.3f,"
				       "\"log_rate\":%.3f,\"queues\":%u,\"seconds\":%u}\n",
				       g2h ? "g2h" : "h2g", size, mode_names[modes[mi]], lm, peak_log[mi],
				       bench_median(c_log[mi], rounds), nl ? bench_median(lc, nl) : 0,
				       nl ? bench_min(lc, nl) : 0, nl ? bench_max(lc, nl) : 0, nl ? bench_median(lr, nl) : 0,
				       npairs, seconds);
				if (lm <= 0)
					rc = 1;
			}
			struct plot_series *ps = &ser[modes[mi]];
			ps->x[ps->n] = size;
			ps->y[ps->n++] = ours * size * 8 / 1000;
			if (ours <= 0)
				rc = 1;
		}
		if (vs) {
			printf("{\"bench\":\"vhost\",\"backend\":\"dpdk\",\"frontend\":\"dpdk\",\"dir\":\"%s\",\"ring\":\"%s\","
			       "\"size\":%u,\"mode\":\"copy\",\"mpps\":%.3f,\"mpps_peak\":%.3f,\"gbps\":%.3f,\"ns_pkt\":%.1f,"
			       "\"queues\":%u,\"seconds\":%u}\n",
			       g2h ? "g2h" : "h2g", ring, size, dpdk, peak_dpdk, dpdk * size * 8 / 1000, dpdk_ns, npairs,
			       seconds);
			ser[3].x[ser[3].n] = size;
			ser[3].y[ser[3].n++] = dpdk * size * 8 / 1000;
		}
		fflush(stdout);
	}
	if (plot != NULL) {
		struct plot_series used[4];
		unsigned nu = 0;
		for (int k = 0; k < 4; k++)
			if (ser[k].n > 0)
				used[nu++] = ser[k];
		char title[128];
		snprintf(title, sizeof(title), "vhost-user %s, one core per side (medians)",
			 g2h ? "guest -> host" : "host -> guest");
		if (plot_svg(plot, title, "Gbit/s", used, nu) < 0) {
			fprintf(stderr, "hlbench vhost: could not write %s\n", plot);
			rc = 1;
		}
	}
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (getenv("HLBENCH_KEEP") != NULL) /* the peers' logs, for a run that went wrong */
		fprintf(stderr, "hlbench vhost: logs kept in %s\n", dir);
	else if (system(cmd) != 0)
		fprintf(stderr, "hlbench: could not remove %s\n", dir);
	return rc;
}
