/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hlbench xlate: VA -> IOVA over a pool of random addresses, three ways:
 *   table    hugelink's page-number table (pool.h, one load per look-up);
 *   pagemap  open + seek + read + close of /proc/self/pagemap per look-up,
 *            as DPDK's rte_mem_virt2phy does;
 *   segscan  a linear scan of the segment list.
 * The reverse direction (IOVA -> VA, the hash layout) is reported too as
 * table_iova2va and segscan_iova2va. Every implementation's answers are
 * checked against the others before anything is timed.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hugelink/pool.h>

#include "bench.h"

#define NADDR (1u << 20)

static uint64_t pagemap_va2pa(const void *va)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0)
		return HL_BAD_ADDR;
	off_t at = (off_t)((uintptr_t)va / 4096) * 8;
	if (lseek(fd, at, SEEK_SET) != at || read(fd, &e, 8) != 8)
		e = 0;
	close(fd);
	uint64_t pfn = e & ((1ull << 55) - 1);
	return pfn ? pfn * 4096 + ((uintptr_t)va & 4095) : HL_BAD_ADDR;
}

static uint64_t segscan_va2iova(const struct hl_pool_seg *s, unsigned n, const uint8_t *base,
				const void *va)
{
	uint64_t off = (uint64_t)((const uint8_t *)va - base);
	for (unsigned i = 0; i < n; i++)
		if (off - s[i].pool_off < s[i].len)
			return s[i].iova + (off - s[i].pool_off);
	return HL_BAD_ADDR;
}

static void *segscan_iova2va(const struct hl_pool_seg *s, unsigned n, uint8_t *base, uint64_t iova)
{
	for (unsigned i = 0; i < n; i++)
		if (iova - s[i].iova < s[i].len)
			return base + s[i].pool_off + (iova - s[i].iova);
	return NULL;
}

struct ctx {
	struct hl_pool *p;
	const struct hl_pool_seg *segs;
	unsigned nsegs;
	uint8_t *base;
	void **va;
	uint64_t *iova;
};

enum impl { TABLE, PAGEMAP, SEGSCAN, TABLE_REV, SEGSCAN_REV };
static const char *impl_names[] = {"table", "pagemap", "segscan", "table_iova2va", "segscan_iova2va"};

/* One timed pass; returns ns per look-up. The sink keeps the work alive. */
static double run_once(const struct ctx *c, enum impl im, unsigned ops, uint64_t *sink)
{
	uint64_t acc = 0, t0 = hl_now_ns();

	switch (im) {
	case TABLE:
		for (unsigned i = 0; i < ops; i++)
			acc += hl_pool_va2iova(c->p, c->va[i & (NADDR - 1)]);
		break;
	case PAGEMAP:
		for (unsigned i = 0; i < ops; i++)
			acc += pagemap_va2pa(c->va[i & (NADDR - 1)]);
		break;
	case SEGSCAN:
		for (unsigned i = 0; i < ops; i++)
			acc += segscan_va2iova(c->segs, c->nsegs, c->base, c->va[i & (NADDR - 1)]);
		break;
	case TABLE_REV:
		for (unsigned i = 0; i < ops; i++)
			acc += (uintptr_t)hl_pool_iova2va(c->p, c->iova[i & (NADDR - 1)]);
		break;
	case SEGSCAN_REV:
		for (unsigned i = 0; i < ops; i++)
			acc += (uintptr_t)segscan_iova2va(c->segs, c->nsegs, c->base,
							  c->iova[i & (NADDR - 1)]);
		break;
	}
	uint64_t t1 = hl_now_ns();
	*sink += acc;
	return (double)(t1 - t0) / ops;
}

static int verify(const struct ctx *c, bool phys)
{
	for (unsigned i = 0; i < NADDR; i += 997) {
		uint64_t t = hl_pool_va2iova(c->p, c->va[i]);
		if (t != c->iova[i] || t != segscan_va2iova(c->segs, c->nsegs, c->base, c->va[i]) ||
		    hl_pool_iova2va(c->p, t) != c->va[i] ||
		    segscan_iova2va(c->segs, c->nsegs, c->base, t) != c->va[i]) {
			fprintf(stderr, "hlbench: implementations disagree at %p\n", c->va[i]);
			return -1;
		}
		if (phys && i % (997 * 16) == 0 && pagemap_va2pa(c->va[i]) != t) {
			fprintf(stderr, "hlbench: table and pagemap disagree at %p\n", c->va[i]);
			return -1;
		}
	}
	return 0;
}

int bench_xlate(int argc, char **argv)
{
	unsigned pool_mb = 1024, reps = 7;
	static const struct option opts[] = {{"pool-mb", required_argument, 0, 'm'},
					     {"reps", required_argument, 0, 'r'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	int o;

	while ((o = getopt_long(argc, argv, "m:r:h", opts, NULL)) != -1) {
		switch (o) {
		case 'm': pool_mb = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'r': reps = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'h':
			printf("usage: hlbench xlate [--pool-mb N (default 1024)] [--reps N (default 7, min 5)]\n");
			return 0;
		default: return 2;
		}
	}
	if (reps < 5)
		reps = 5;
	if (pool_mb < 16)
		pool_mb = 16;

	char run_dir[] = "/tmp/hlbench.XXXXXX", name[32];
	if (mkdtemp(run_dir) == NULL)
		return 1;
	snprintf(name, sizeof(name), "hlbench-%d", (int)getpid());

	/* the largest pool up to the request that hugepages allow */
	struct hl_pool *p = NULL;
	struct hl_pool_info info;
	for (unsigned mb = pool_mb; mb >= 16; mb /= 2) {
		struct hl_pool_params prm = {.name = name, .size = (uint64_t)mb << 20, .run_dir = run_dir};
		if (hl_pool_create(&prm, &p) < 0)
			return 1;
		hl_pool_get_info(p, &info);
		if (info.hugepages || mb / 2 < 16)
			break;
		hl_pool_destroy(p);
		p = NULL;
	}
	if (info.size >> 20 != pool_mb || !info.phys_iova)
		fprintf(stderr, "hlbench: measuring a %llu MiB %s pool (asked for %u MiB)%s%s\n",
			(unsigned long long)(info.size >> 20), info.hugepages ? "hugepage" : "shared-memory",
			pool_mb, info.fallback_reason[0] ? ": " : "", info.fallback_reason);

	struct ctx c = {.p = p, .base = info.va};
	c.segs = hl_pool_segments(p, &c.nsegs);
	c.va = malloc(NADDR * sizeof(*c.va));
	c.iova = malloc(NADDR * sizeof(*c.iova));
	uint64_t seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
	for (unsigned i = 0; i < NADDR; i++) {
		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		c.va[i] = c.base + seed % info.size;
		c.iova[i] = hl_pool_va2iova(p, c.va[i]);
	}
	int rc = verify(&c, info.phys_iova);
	uint64_t sink = 0;
	double table_ns[2] = {0, 0}; /* va2iova, iova2va: the peers' ratios are against these */
	for (enum impl im = TABLE; rc == 0 && im <= SEGSCAN_REV; im++) {
		if (im == PAGEMAP && !info.phys_iova)
			continue; /* pagemap has nothing to say about an offset-IOVA pool */
		unsigned ops = im == PAGEMAP ? 20000 : (im == TABLE || im == TABLE_REV ? 8 * NADDR : NADDR / 4);
		double ns[64];
		unsigned n = reps < 64 ? reps : 64;
		run_once(&c, im, ops / 8, &sink); /* warm caches and TLB */
		for (unsigned r = 0; r < n; r++)
			ns[r] = run_once(&c, im, ops, &sink);
		double med = bench_median(ns, n);
		bool rev = im >= TABLE_REV;
		if (im == TABLE || im == TABLE_REV)
			table_ns[rev] = med;
		char ratio[48] = "";
		if (im != TABLE && im != TABLE_REV && table_ns[rev] > 0)
			snprintf(ratio, sizeof(ratio), ",\"table_speedup\":%.1f", med / table_ns[rev]);
		printf("{\"bench\":\"xlate\",\"impl\":\"%s\",\"ns_per_op\":%.3f,\"ops\":%u,\"pages\":%u,"
		       "\"segments\":%u,\"pool_mb\":%llu,\"reps\":%u,\"iova\":\"%s\"%s}\n",
		       impl_names[im], med, ops, info.npages, info.nsegs,
		       (unsigned long long)(info.size >> 20), n, info.phys_iova ? "pa" : "offset", ratio);
		fflush(stdout);
	}
	if (sink == 42)
		fprintf(stderr, " \n");
	free(c.va);
	free(c.iova);
	hl_pool_destroy(p);
	rmdir(run_dir);
	return rc ? 1 : 0;
}
