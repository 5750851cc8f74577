/* SPDX-License-Identifier: BSD-3-Clause */
/* Helpers shared by the memory-layer tests. */
#ifndef HL_TEST_POOL_UTIL_H
#define HL_TEST_POOL_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hugelink/buf.h>
#include <hugelink/pool.h>

#include "hl_test.h"

/*
 * A pool name that carries the pid of the process that first asked (a child
 * forked after that keeps its parent's), so a run that died cannot collide
 * with the next one. The last eight stay valid at once.
 */
static inline const char *pool_run_name(const char *name)
{
	static char buf[8][32];
	static unsigned n;
	static int id;
	if (id == 0)
		id = (int)getpid();
	char *b = buf[n++ % 8];
	snprintf(b, sizeof(buf[0]), "%s-%d", name, id);
	return b;
}

/* Free 2 MiB hugepages right now. */
static inline long free_hugepages_2m(void)
{
	FILE *f = fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "r");
	long n = -1;
	if (f) {
		if (fscanf(f, "%ld", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n;
}

/* Lines of /proc/self/maps that name `needle`. */
static inline int maps_count(const char *needle)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[1024];
	int n = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

/* Bytes of address space mapped PROT_NONE, private and anonymous. */
static inline unsigned long long maps_reserved_bytes(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[1024];
	unsigned long long total = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a, b;
		char perm[8];
		unsigned long long off;
		char dev[16];
		unsigned long long ino;
		if (sscanf(line, "%llx-%llx %7s %llx %15s %llu", &a, &b, perm, &off, dev, &ino) == 6 &&
		    strcmp(perm, "---p") == 0 && ino == 0)
			total += b - a;
	}
	fclose(f);
	return total;
}

static inline int path_exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0;
}

/*
 * A pool of `size` bytes on 2 MiB pages with its record in dir, named
 * "<tag>-<pid>", and a bufpool "tag" of nbufs 2048-byte buffers (no caches).
 */
static inline int pool_with_bufs(const char *dir, const char *tag, uint64_t size, unsigned nbufs,
				 struct hl_pool **p, struct hl_bufpool **bp)
{
	char name[32];
	snprintf(name, sizeof(name), "%s-%d", tag, (int)getpid());
	struct hl_pool_params pp = {.name = name, .size = size, .run_dir = dir, .page_size = 2 << 20};
	int rc = hl_pool_create(&pp, p);
	if (rc < 0)
		return rc;
	return hl_bufpool_create(*p, tag, nbufs, 2048, 0, bp);
}

/* The end of a pool and its bufpool: every buffer back, then both gone (each a check). */
static inline void pool_release(struct hl_pool *p, struct hl_bufpool *bp)
{
	CHECK_EQ(hl_bufpool_in_use(bp), 0);
	hl_bufpool_free(bp);
	CHECK_EQ(hl_pool_destroy(p), 0);
}

#endif
