/* SPDX-License-Identifier: BSD-3-Clause */
/* hlctl: hugelink's command line. `hlctl pool-info RECORD [--json]` reads a pool's record. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <hugelink/pool.h>

static int pool_info(const char *record, int json)
{
	struct hl_pool *p;
	struct hl_pool_info in;

	if (hl_pool_attach(record, 0, &p) < 0) {
		fprintf(stderr, "hlctl: %s\n", hl_last_error());
		return 1;
	}
	hl_pool_get_info(p, &in);
	if (json)
		printf("{\"name\":\"%s\",\"size\":%" PRIu64 ",\"page_size\":%" PRIu64 ",\"pages\":%u,"
		       "\"segments\":%u,\"hugepages\":%s,\"iova\":\"%s\",\"file\":\"%s\"}\n",
		       in.name, in.size, in.page_size, in.npages, in.nsegs, in.hugepages ? "true" : "false",
		       in.phys_iova ? "pa" : "offset", in.file_path);
	else
		printf("pool %s: %" PRIu64 " MiB, %" PRIu64 " KiB pages x %u in %u segments, %s, IOVA %s\n  file %s\n",
		       in.name, in.size >> 20, in.page_size >> 10, in.npages, in.nsegs,
		       in.hugepages ? "hugetlbfs" : "shared memory", in.phys_iova ? "= physical" : "= offset",
		       in.file_path);
	hl_pool_detach(p);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "pool-info") == 0)
		return pool_info(argv[2], argc > 3 && strcmp(argv[3], "--json") == 0);
	fprintf(stderr, "usage: hlctl pool-info RECORD [--json]\n");
	return 2;
}
