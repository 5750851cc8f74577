/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hlbench: hugelink's benchmarks. Each subcommand measures hugelink against a
 * peer in the same run and prints one JSON line per measurement, with medians
 * of repeated runs, because the machines are shared and noisy.
 */
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double bench_median(const double *v, unsigned n)
{
	/* sorting a copy: callers keep their samples in order, pairs of rounds paired */
	double local[128], *c = n <= 128 ? local : malloc(n * sizeof(*c));
	if (n == 0 || c == NULL)
		return 0;
	memcpy(c, v, n * sizeof(*c));
	qsort(c, n, sizeof(*c), cmp_double);
	double m = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
	if (c != local)
		free(c);
	return m;
}

double bench_max(const double *v, unsigned n)
{
	double m = 0;
	for (unsigned i = 0; i < n; i++)
		m = i == 0 || v[i] > m ? v[i] : m;
	return m;
}

double bench_min(const double *v, unsigned n)
{
	double m = 0;
	for (unsigned i = 0; i < n; i++)
		m = i == 0 || v[i] < m ? v[i] : m;
	return m;
}

/*
 * A fixed amount of work: a chain of dependent multiplies and adds, which
 * no compiler can shorten and no cache miss can lengthen. On a quiet core
 * it takes the same time every run; when it takes longer, the host was
 * slower for everyone (steal time, frequency, a noisy neighbour), and the
 * round it precedes says so in its JSON.
 */
double bench_probe_ns(void)
{
	struct timespec a, b;
	volatile uint64_t sink;
	uint64_t x = 88172645463325252ull;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (unsigned i = 0; i < 4000000; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		__asm__ volatile("" : "+r"(x)); /* one step at a time, between the two clock reads */
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	sink = x;
	(void)sink;
	return (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
}

size_t bench_spread_json(char *buf, size_t size, const char *key, const double *v, unsigned n, const char *fmt)
{
	size_t at = 0;
#define PUT(...)                                                                         \
	do {                                                                             \
		int w = snprintf(buf + at, at < size ? size - at : 0, __VA_ARGS__);      \
		at += w > 0 ? (size_t)w : 0;                                             \
	} while (0)
	if (n == 0)
		return 0;
	PUT(",\"%s\":", key);
	PUT(fmt, bench_median(v, n));
	PUT(",\"%s_min\":", key);
	PUT(fmt, bench_min(v, n));
	PUT(",\"%s_max\":", key);
	PUT(fmt, bench_max(v, n));
	PUT(",\"%s_rounds\":[", key);
	for (unsigned i = 0; i < n; i++) {
		PUT("%s", i ? "," : "");
		PUT(fmt, v[i]);
	}
	PUT("]");
#undef PUT
	return at < size ? at : size - 1;
}

void bench_set_cpu(pid_t tid, int cpu)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	if (cpu >= 0) {
		CPU_SET(cpu, &s);
	} else {
		long n = sysconf(_SC_NPROCESSORS_CONF);
		for (long i = 0; i < n && i < CPU_SETSIZE; i++)
			CPU_SET(i, &s);
	}
	sched_setaffinity(tid, sizeof(s), &s);
}

int bench_other_cpu(const char *tag, int sw_cpu, const char *other)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int cpu = sw_cpu == 0 ? 1 : 0;
	if (ncpu < 2 || sw_cpu >= ncpu) {
		fprintf(stderr, "hlbench %s: needs two CPUs (switch on %d, %s on %d); %ld online\n", tag, sw_cpu, other,
			cpu, ncpu);
		return -1;
	}
	return cpu;
}

int bench_sizes(const char *tag, const char *list, unsigned *sizes, unsigned *n, unsigned max, unsigned lo,
		unsigned hi)
{
	for (const char *s = list; *s != '\0';) {
		char *end;
		unsigned long v = strtoul(s, &end, 10);
		if (end == s || (*end != ',' && *end != '\0') || *n == max || v < lo || v > hi) {
			fprintf(stderr, "hlbench %s: --size takes up to %u sizes of %u..%u\n", tag, max, lo, hi);
			return -1;
		}
		sizes[(*n)++] = (unsigned)v;
		s = *end == ',' ? end + 1 : end;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: hlbench xlate [--pool-mb N] [--reps N]\n"
		   "  translate random addresses over a pool: O(1) table vs pagemap vs segment scan\n"
		   "       hlbench vhost --dir g2h|h2g --size B[,B...] [--mode copy|zcopy|auto[,...]] [--seconds S]\n"
		   "                     [--vs-dpdk] [--rounds N] [--plot FILE.svg] [--dirty-log] [--ring split|packed|best]\n"
		   "  one direction of a vhost-user link against DPDK's virtio-user (and vhost)\n"
		   "       hlbench switch --size B[,B...] [--seconds S] [--cpu N] [--vs-ovs] [--tso] [--idle-us N]\n"
		   "  frames between two vhost-user ports through hugelinkd (and Open vSwitch with DPDK)\n"
		   "       hlbench memif --size B[,B...] [--seconds S] [--rounds N] [--zero-copy] [--no-shm]\n"
		   "  frames through two memif ports: hugelinkd against testpmd's own memif, and shm ports\n"
		   "       hlbench shm --size B[,B...] [--seconds S] [--rounds N] [--cpu N] [--room B]\n"
		   "  frames between two shm peers through the switch, in this process\n"
		   "       hlbench dirtylog [--size B] [--rounds N] [--bursts K]\n"
		   "  what dirty logging (a live migration) costs the enqueue into a guest, same run\n"
		   "       hlbench afxdp|vxlan [--size B] [--seconds S] [--rounds N] [--verbose]\n"
		   "  a vhost endpoint out of an AF_XDP port against a TAP port; two hugelinkd joined by VXLAN\n"
		   "  against the kernel's bridge + vxlan (scripts/bench/uplinks.py)\n"
		   "       hlbench plot --out FILE.svg [--title T] [--best] RESULTS.jsonl...\n"
		   "  one chart (Gbit/s by frame size) from the JSON lines of earlier runs\n");
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "xlate") == 0)
		return bench_xlate(argc - 1, argv + 1);
	if (strcmp(argv[1], "vhost") == 0)
		return bench_vhost(argc - 1, argv + 1);
	if (strcmp(argv[1], "switch") == 0)
		return bench_switch(argc - 1, argv + 1);
	if (strcmp(argv[1], "shm") == 0)
		return bench_shm(argc - 1, argv + 1);
	if (strcmp(argv[1], "memif") == 0)
		return bench_memif(argc - 1, argv + 1);
	if (strcmp(argv[1], "plot") == 0)
		return bench_plot(argc - 1, argv + 1);
	if (strcmp(argv[1], "dirtylog") == 0)
		return bench_dirtylog(argc - 1, argv + 1);
	if (strcmp(argv[1], "afxdp") == 0 || strcmp(argv[1], "vxlan") == 0)
		return bench_uplink(argc - 1, argv + 1);
	fprintf(stderr, "hlbench: unknown benchmark '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
