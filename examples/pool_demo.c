/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The pool, end to end, in two processes: the owner creates a hugepage pool,
 * writes a message into it and publishes the metadata record; a second
 * process (this program again, exec'd) maps the same pool through the record
 * alone, finds the message by its IOVA, and answers it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hugelink/pool.h>

static int peer(const char *record, const char *iova_s)
{
	struct hl_pool *p;
	struct hl_pool_info in;
	uint64_t iova = strtoull(iova_s, NULL, 0);

	if (hl_pool_attach(record, 0, &p) < 0) {
		fprintf(stderr, "peer: %s\n", hl_last_error());
		return 1;
	}
	hl_pool_get_info(p, &in);
	char *msg = hl_pool_iova2va(p, iova);
	printf("  [peer %d] attached %s: %" PRIu64 " MiB at %p, %u segments, pagemap reads: %" PRIu64 "\n",
	       (int)getpid(), record, in.size >> 20, in.va, in.nsegs, hl_pagemap_reads());
	printf("  [peer %d] IOVA 0x%" PRIx64 " -> VA %p: \"%s\"\n", (int)getpid(), iova, (void *)msg,
	       msg ? msg : "(miss)");
	if (msg == NULL)
		return 1;
	snprintf(msg + 256, 64, "hello back from pid %d", (int)getpid());
	hl_pool_detach(p);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--peer") == 0)
		return peer(argv[2], argv[3]);

	const char *run_dir = argc > 1 ? argv[1] : "/tmp/hugelink-demo";
	struct hl_pool_params prm = {.name = "demo", .size = 64ull << 20, .run_dir = run_dir,
				     .flags = HL_POOL_F_REPLACE};
	struct hl_pool *p;
	struct hl_pool_info in;

	printf("hugelink pool demo\n");
	fflush(stdout);
	if (hl_pool_create(&prm, &p) < 0) {
		fprintf(stderr, "create: %s\n", hl_last_error());
		return 1;
	}
	hl_pool_get_info(p, &in);
	printf("  [owner %d] pool '%s': %" PRIu64 " MiB of %" PRIu64 " KiB pages at %p, %s, IOVA %s\n",
	       (int)getpid(), in.name, in.size >> 20, in.page_size >> 10, in.va,
	       in.hugepages ? "hugetlbfs" : "shared memory", in.phys_iova ? "= physical" : "= offset");
	if (in.fallback_reason[0])
		printf("  [owner] fallback: %s\n", in.fallback_reason);
	unsigned n;
	const struct hl_pool_seg *s = hl_pool_segments(p, &n);
	printf("  [owner] %u pages in %u physically contiguous segment(s):\n", in.npages, n);
	for (unsigned i = 0; i < n && i < 6; i++)
		printf("      seg %u: pool offset 0x%08" PRIx64 " len %5" PRIu64 " KiB  IOVA 0x%" PRIx64 "\n",
		       i, s[i].pool_off, s[i].len >> 10, s[i].iova);
	if (n > 6)
		printf("      ... %u more\n", n - 6);
	printf("  [owner] record: %s (copy at pool offset 0)\n", in.record_path);

	uint64_t off;
	if (hl_pool_zone_reserve(p, "mailbox", 4096, 4096, HL_ZONE_F_CONTIG, &off) < 0)
		return 1;
	char *box = hl_pool_off2va(p, off);
	uint64_t iova = hl_pool_va2iova(p, box);
	snprintf(box, 256, "hello from pid %d", (int)getpid());
	printf("  [owner] wrote \"%s\" at VA %p = pool offset 0x%" PRIx64 " = IOVA 0x%" PRIx64 "\n", box,
	       (void *)box, off, iova);

	char iova_s[32];
	snprintf(iova_s, sizeof(iova_s), "0x%" PRIx64, iova);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		execl("/proc/self/exe", argv[0], "--peer", in.record_path, iova_s, (char *)NULL);
		_exit(127);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0 && strncmp(box + 256, "hello back", 10) == 0;
	printf("  [owner] read back: \"%s\"\n", box + 256);
	hl_pool_destroy(p);
	printf("  [owner] pool destroyed, files removed\n%s\n", ok ? "demo ok" : "demo FAILED");
	return ok ? 0 : 1;
}
