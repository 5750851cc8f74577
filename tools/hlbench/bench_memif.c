/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hlbench memif: frames between two memif ports, forwarded by hugelinkd,
 * against the same work done by DPDK alone, in the same run.
 *
 * The traffic is one DPDK testpmd (the generator) with two net_memif
 * interfaces as clients (role=client), in io mode with --tx-first: a
 * burst of 256 frames sent on each interface, then whatever arrives on
 * one goes out of the other, so 512 frames circle through whatever
 * connects the two sockets (enough that a middle that is scheduled out
 * for a moment finds its rings full, not the loop empty).
 * That middle is, in turn:
 *   - "hugelink": hugelinkd with two memif server ports, its worker on
 *     the switch core; the generator's frames are addressed to each
 *     other's MACs, so the switch forwards them as known unicast;
 *   - "dpdk": a second testpmd with two net_memif servers (role=server)
 *     forwarding between them in io mode, on the same core: DPDK's memif
 *     with a DPDK application in the middle, the same work without
 *     hugelink;
 *   - "shm" (unless --no-shm): `hlbench shm` with the same frame size,
 *     hugelink's own shared-pool ports through the same switch code.
 * A rate is the median of the generator's one-second samples (both
 * interfaces' receive rates added: every frame the middle forwarded), or
 * hlbench shm's own median. The middles take turns in every round, in an
 * order that rotates, and "vs_dpdk" / "shm_vs" are the medians over rounds
 * of the per-round ratios, with their min and max: a slow spell of the
 * host hits one round's pair together, not one side of the comparison.
 * --zero-copy has the generator export its own hugepages (zero-copy=yes,
 * --single-file-segments) for both middles. The middle testpmd skips its
 * link check (a server's link is down until a client comes); the
 * generator keeps it, so its first burst goes once both links are up.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"

#define TESTPMD "dpdk-testpmd"
#define MAX_SIZES 8
#define MAX_ROUNDS 20
#define MAX_SAMPLES 64
#define WARM_S 2
#define MIDDLES 3

enum middle { M_HUGELINK, M_DPDK, M_SHM };
static const char *const middle_name[MIDDLES] = {"hugelink", "dpdk", "shm"};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

struct rig {
	char dir[64], s1[128], s2[128], log[160], glog[160], hld[512];
	int sw_cpu, gen_cpu;
	bool zero_copy;
};

/* Every "Rx-pps:" the generator printed after byte `from`, two a second (one per interface), added up per second. */
static unsigned rx_samples(const char *log, long from, double *out, unsigned max)
{
	FILE *f = fopen(log, "r");
	char line[512];
	unsigned n = 0, half = 0;
	double acc = 0;
	if (f == NULL)
		return 0;
	fseek(f, from, SEEK_SET);
	while (n < max && fgets(line, sizeof(line), f)) {
		const char *p = strstr(line, "Rx-pps:");
		if (p == NULL)
			continue;
		acc += strtod(p + 7, NULL);
		if (++half == 2) {
			out[n++] = acc;
			acc = 0;
			half = 0;
		}
	}
	fclose(f);
	return n;
}

static long log_size(const char *log)
{
	struct stat st;
	return stat(log, &st) == 0 ? (long)st.st_size : 0;
}

static bool wait_for(const char *log, const char *text, pid_t pid, unsigned ms)
{
	for (unsigned t = 0; t < ms && !stop; t += 50) {
		if (bench_log_has(log, text))
			return true;
		if (bench_exited(pid))
			return false;
		bench_sleep_ms(50);
	}
	return false;
}

/* The server side: hugelinkd with two memif ports, or testpmd with two net_memif servers. */
static pid_t start_middle(struct rig *g, enum middle m)
{
	char cpu[16], name[48], ctl[160], cfg[160], v1[256], v2[256], prefix[48];
	unlink(g->s1);
	unlink(g->s2);
	unlink(g->log);
	snprintf(cpu, sizeof(cpu), "%d", g->sw_cpu);
	if (m == M_HUGELINK) {
		snprintf(name, sizeof(name), "hlbmemif-%d", (int)getpid());
		snprintf(ctl, sizeof(ctl), "%s/ctl.sock", g->dir);
		snprintf(cfg, sizeof(cfg), "%s/ports.json", g->dir);
		FILE *f = fopen(cfg, "w");
		if (f == NULL)
			return -1;
		fprintf(f,
			"{\"ports\":[{\"kind\":\"memif\",\"name\":\"m1\",\"socket\":\"%s\"},"
			"{\"kind\":\"memif\",\"name\":\"m2\",\"socket\":\"%s\"}]}\n",
			g->s1, g->s2);
		fclose(f);
		char *argv[] = {g->hld, "--foreground", "--ctl", ctl, "--run-dir", g->dir, "--pool-mb", "128",
				"--buffers", "16384", "--name", name, "--workers", "1", "--cpu", cpu, "--config", cfg, NULL};
		pid_t pid = bench_spawn(argv, g->log, g->gen_cpu);
		return pid > 0 && wait_for(g->log, "ready", pid, 10000) ? pid : -1;
	}
	snprintf(prefix, sizeof(prefix), "hlbmm%d", (int)getpid());
	snprintf(v1, sizeof(v1), "net_memif0,role=server,socket=%s,socket-abstract=no,id=0", g->s1);
	snprintf(v2, sizeof(v2), "net_memif1,role=server,socket=%s,socket-abstract=no,id=0", g->s2);
	char lcores[16], main_lc[8];
	snprintf(lcores, sizeof(lcores), "%d,%d", g->sw_cpu, g->gen_cpu);
	snprintf(main_lc, sizeof(main_lc), "%d", g->gen_cpu);
	/* stdbuf: testpmd's statistics reach its log as they are printed, not when its stdio buffer fills */
	char *argv[] = {"stdbuf", "-oL", TESTPMD, "-l", lcores, "--main-lcore", main_lc, "--no-pci", "--file-prefix", prefix, "--vdev", v1,
			"--vdev", v2, "--", "--nb-cores=1", "--forward-mode=io", "--stats-period", "5",
			"--no-lsc-interrupt", "--disable-link-check", "--total-num-mbufs=16384", NULL};
	pid_t pid = bench_spawn(argv, g->log, -1);
	return pid > 0 && wait_for(g->log, "packets/burst=", pid, 20000) ? pid : -1;
}

static pid_t start_generator(struct rig *g, unsigned size)
{
	char v1[300], v2[300], prefix[48], txpkts[32], lcores[16], main_lc[8];
	const char *zc = g->zero_copy ? ",zero-copy=yes" : "";
	unlink(g->glog);
	snprintf(prefix, sizeof(prefix), "hlbmg%d", (int)getpid());
	snprintf(v1, sizeof(v1), "net_memif0,role=client,socket=%s,socket-abstract=no,id=0,mac=02:00:00:00:6d:01%s",
		 g->s1, zc);
	snprintf(v2, sizeof(v2), "net_memif1,role=client,socket=%s,socket-abstract=no,id=0,mac=02:00:00:00:6d:02%s",
		 g->s2, zc);
	snprintf(txpkts, sizeof(txpkts), "--txpkts=%u", size);
	snprintf(lcores, sizeof(lcores), "%d,%d", g->sw_cpu, g->gen_cpu);
	snprintf(main_lc, sizeof(main_lc), "%d", g->sw_cpu);
	char *argv[] = {"stdbuf", "-oL", TESTPMD, "-l", lcores, "--main-lcore", main_lc, "--no-pci", "--file-prefix", prefix,
			g->zero_copy ? "--single-file-segments" : "--no-telemetry", "--vdev", v1, "--vdev", v2, "--",
			"--nb-cores=1", "--forward-mode=io", "--tx-first", "--burst=256", txpkts,
			"--eth-peer=0,02:00:00:00:6d:02", "--eth-peer=1,02:00:00:00:6d:01", "--stats-period", "1",
			"--no-lsc-interrupt", "--total-num-mbufs=16384", NULL};
	return bench_spawn(argv, g->glog, -1);
}

/* One middle, one size: the median of the generator's samples, in Mpps (0 on failure, with a reason on stderr). */
static double run_memif(struct rig *g, enum middle m, unsigned size, unsigned seconds)
{
	double s[MAX_SAMPLES], mpps = 0;
	pid_t mid = start_middle(g, m);
	if (mid < 0) {
		fprintf(stderr, "hlbench memif: the %s middle did not start\n", middle_name[m]);
		bench_tail_log("memif", g->log, 8);
		return 0;
	}
	pid_t gen = start_generator(g, size);
	if (gen > 0 && wait_for(g->glog, "packets/burst=", gen, 20000)) {
		bench_sleep_ms(WARM_S * 1000);
		long from = log_size(g->glog);
		for (unsigned t = 0; t < seconds && !stop; t++)
			bench_sleep_ms(1000);
		unsigned want = seconds < MAX_SAMPLES ? seconds : MAX_SAMPLES, n = rx_samples(g->glog, from, s, want);
		/* testpmd prints a second's statistics a little after it ends: wait for the last ones */
		for (unsigned t = 0; n < want && t < 30 && !stop; t++) {
			bench_sleep_ms(50);
			n = rx_samples(g->glog, from, s, want);
		}
		mpps = n > 0 ? bench_median(s, n) / 1e6 : 0;
		if (mpps <= 0) {
			fprintf(stderr, "hlbench memif: no frame went round through %s (%u samples)\n", middle_name[m], n);
			bench_tail_log("memif", g->glog, 10);
			bench_tail_log("memif", g->log, 6);
		}
	} else {
		fprintf(stderr, "hlbench memif: the generator did not start against %s\n", middle_name[m]);
		bench_tail_log("memif", g->glog, 10);
	}
	bench_reap(&gen, 10000);
	bench_reap(&mid, 10000);
	return mpps;
}

/* hlbench shm with the same frame size, run as a child: its "mpps". */
static double run_shm(unsigned size, unsigned seconds)
{
	char cmd[256], line[1024];
	double mpps = 0;
	snprintf(cmd, sizeof(cmd), "/proc/%d/exe shm --size %u --seconds %u --rounds 1", (int)getpid(), size, seconds);
	FILE *p = popen(cmd, "r");
	if (p == NULL)
		return 0;
	while (fgets(line, sizeof(line), p)) {
		const char *m = strstr(line, "\"mpps\":");
		if (m != NULL)
			mpps = strtod(m + 7, NULL);
	}
	pclose(p);
	return mpps;
}

static void stats(const double *v, unsigned n, double *med, double *lo, double *hi)
{
	*med = bench_median(v, n);
	*lo = *hi = n ? v[0] : 0;
	for (unsigned i = 1; i < n; i++) {
		if (v[i] < *lo)
			*lo = v[i];
		if (v[i] > *hi)
			*hi = v[i];
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: hlbench memif --size B[,B...] [--seconds S] [--rounds N] [--zero-copy] [--no-shm]\n"
		   "  frames circling through two memif ports: hugelinkd forwarding them, against testpmd\n"
		   "  forwarding between two net_memif servers of its own, and hugelink's shm ports,\n"
		   "  taking turns in every round; one JSON line per size\n");
}

int bench_memif(int argc, char **argv)
{
	static const struct option opts[] = {{"size", required_argument, 0, 's'},
					     {"seconds", required_argument, 0, 't'},
					     {"rounds", required_argument, 0, 'r'},
					     {"zero-copy", no_argument, 0, 'z'},
					     {"no-shm", no_argument, 0, 'n'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	unsigned sizes[MAX_SIZES], nsizes = 0, seconds = 3, rounds = 3;
	bool shm = true;
	struct rig g = {.sw_cpu = 0, .gen_cpu = 1};
	int o;

	optind = 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			for (char *tok = strtok(optarg, ","); tok; tok = strtok(NULL, ",")) {
				unsigned v = (unsigned)strtoul(tok, NULL, 10);
				if (nsizes == MAX_SIZES || v < 64 || v > 9000) {
					fprintf(stderr, "hlbench memif: --size takes up to %d sizes of 64..9000\n", MAX_SIZES);
					return 2;
				}
				sizes[nsizes++] = v;
			}
			break;
		case 't': seconds = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'r': rounds = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'z': g.zero_copy = true; break;
		case 'n': shm = false; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (nsizes == 0 || seconds < 1 || seconds > MAX_SAMPLES || rounds < 1 || rounds > MAX_ROUNDS) {
		usage(stderr);
		return 2;
	}
	if (system("command -v " TESTPMD " >/dev/null") != 0) {
		fprintf(stderr, "hlbench memif: %s is not installed (Debian dpdk)\n", TESTPMD);
		return 1;
	}
	ssize_t k = readlink("/proc/self/exe", g.hld, sizeof(g.hld) - 32);
	if (k <= 0)
		return 1;
	g.hld[k] = '\0';
	char *slash = strrchr(g.hld, '/');
	snprintf(slash + 1, sizeof(g.hld) - (size_t)(slash + 1 - g.hld), "hugelinkd");
	snprintf(g.dir, sizeof(g.dir), "/tmp/hlbench-memif.XXXXXX");
	if (mkdtemp(g.dir) == NULL) {
		fprintf(stderr, "hlbench memif: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	snprintf(g.s1, sizeof(g.s1), "%s/m1.sock", g.dir);
	snprintf(g.s2, sizeof(g.s2), "%s/m2.sock", g.dir);
	snprintf(g.log, sizeof(g.log), "%s/middle.log", g.dir);
	snprintf(g.glog, sizeof(g.glog), "%s/generator.log", g.dir);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	int rc = 0;
	unsigned nm = shm ? MIDDLES : MIDDLES - 1;
	for (unsigned si = 0; si < nsizes && !stop; si++) {
		double v[MIDDLES][MAX_ROUNDS], vs_dpdk[MAX_ROUNDS], shm_vs[MAX_ROUNDS];
		unsigned ok = 0;
		for (unsigned r = 0; r < rounds && !stop; r++) {
			double got[MIDDLES] = {0};
			for (unsigned j = 0; j < nm; j++) {
				enum middle m = (enum middle)((r + j) % nm);
				got[m] = m == M_SHM ? run_shm(sizes[si], seconds) : run_memif(&g, m, sizes[si], seconds);
			}
			if (got[M_HUGELINK] <= 0 || got[M_DPDK] <= 0 || (shm && got[M_SHM] <= 0))
				continue;
			for (unsigned m = 0; m < nm; m++)
				v[m][ok] = got[m];
			vs_dpdk[ok] = got[M_HUGELINK] / got[M_DPDK];
			shm_vs[ok] = shm ? got[M_SHM] / got[M_HUGELINK] : 0;
			ok++;
		}
		if (ok == 0) {
			printf("{\"bench\":\"memif\",\"size\":%u,\"error\":\"no round completed (see stderr)\"}\n", sizes[si]);
			rc = 1;
			continue;
		}
		double med[MIDDLES], lo[MIDDLES], hi[MIDDLES], rm, rlo, rhi, sm = 0, slo = 0, shi = 0;
		for (unsigned m = 0; m < nm; m++)
			stats(v[m], ok, &med[m], &lo[m], &hi[m]);
		stats(vs_dpdk, ok, &rm, &rlo, &rhi);
		if (shm)
			stats(shm_vs, ok, &sm, &slo, &shi);
		printf("{\"bench\":\"memif\",\"size\":%u,\"zero_copy\":%s,\"rounds\":%u,\"seconds\":%u,"
		       "\"mpps\":%.3f,\"min_mpps\":%.3f,\"max_mpps\":%.3f,\"gbps\":%.3f,"
		       "\"dpdk_mpps\":%.3f,\"dpdk_min_mpps\":%.3f,\"dpdk_max_mpps\":%.3f,"
		       "\"vs_dpdk\":%.3f,\"vs_dpdk_min\":%.3f,\"vs_dpdk_max\":%.3f",
		       sizes[si], g.zero_copy ? "true" : "false", ok, seconds, med[M_HUGELINK], lo[M_HUGELINK],
		       hi[M_HUGELINK], med[M_HUGELINK] * sizes[si] * 8 / 1e3, med[M_DPDK], lo[M_DPDK], hi[M_DPDK], rm,
		       rlo, rhi);
		if (shm)
			printf(",\"shm_mpps\":%.3f,\"shm_min_mpps\":%.3f,\"shm_max_mpps\":%.3f,\"shm_vs\":%.3f,"
			       "\"shm_vs_min\":%.3f,\"shm_vs_max\":%.3f",
			       med[M_SHM], lo[M_SHM], hi[M_SHM], sm, slo, shi);
		printf("}\n");
		fflush(stdout);
	}
	char cmd[256];
	/* DPDK leaves its run-time directories behind */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' /var/run/dpdk/hlbmg%d /var/run/dpdk/hlbmm%d", g.dir, (int)getpid(),
		 (int)getpid());
	if (system(cmd) != 0)
		fprintf(stderr, "hlbench memif: could not remove %s\n", g.dir);
	return stop ? 1 : rc;
}
