/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A program of one's own against the installed libhugelink (pkg-config
 * hugelink): map the pool of a running hugelinkd through its record, as a
 * peer process would, and say what it is.
 *
 *   cc hl_pool_info.c $(pkg-config --cflags --libs hugelink) -o hl_pool_info
 *   ./hl_pool_info /run/hugelink/hugelink.meta
 */
#include <inttypes.h>
#include <stdio.h>

#include <hugelink/common.h>
#include <hugelink/pool.h>

int main(int argc, char **argv)
{
	const char *record = argc > 1 ? argv[1] : "/run/hugelink/hugelink.meta";
	struct hl_pool *p;
	struct hl_pool_info in;

	if (hl_pool_attach(record, 0, &p) < 0) {
		fprintf(stderr, "hl_pool_info: %s\n", hl_last_error());
		return 1;
	}
	hl_pool_get_info(p, &in);
	printf("pool %s: %" PRIu64 " MiB in %u pages of %" PRIu64 " KiB, %u segment(s), %s\n  file %s\n", in.name,
	       in.size >> 20, in.npages, in.page_size >> 10, in.nsegs, in.hugepages ? "hugetlbfs" : "shared memory",
	       in.file_path);
	hl_pool_detach(p);
	return 0;
}
