/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hugepage pools: translations agree with pagemap, a second process attaches
 * through the record alone, zones, crashed owners, and no leftovers.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hugelink/pool.h>
#include <hugelink/pool_meta.h>

#include "hl_test.h"
#include "pool_util.h"

#define MB (1ull << 20)

static int create_huge(const char *name, uint64_t size, struct hl_pool **p)
{
	struct hl_pool_params prm = {.name = pool_run_name(name), .size = size, .run_dir = hl_test_tmpdir(),
				     .page_size = 2 * MB};
	return hl_pool_create(&prm, p);
}

static uint64_t pagemap_pa(int fd, const void *va)
{
	uint64_t e = 0;
	if (pread(fd, &e, 8, (off_t)((uintptr_t)va / 4096) * 8) != 8)
		return 0;
	return (e & ((1ull << 55) - 1)) * 4096 + ((uintptr_t)va & 4095);
}

HL_TEST(every_page_matches_pagemap)
{
	struct hl_pool *p;
	struct hl_pool_info info;

	HL_TEST_NEED(free_hugepages_2m() >= 32, "32 free 2 MiB hugepages");
	REQUIRE_OK(create_huge("t-pagemap", 64 * MB, &p));
	hl_pool_get_info(p, &info);
	CHECK(info.hugepages);
	HL_TEST_NEED(info.phys_iova, "physical addresses readable from pagemap (root)");
	CHECK_EQ(info.npages, 32);
	CHECK_EQ(info.page_size, 2 * MB);

	int fd = open("/proc/self/pagemap", O_RDONLY);
	REQUIRE(fd >= 0);
	for (unsigned i = 0; i < info.npages; i++) {
		const uint8_t *page = (const uint8_t *)info.va + (uint64_t)i * 2 * MB;
		const uint64_t probes[] = {0, 1, 4095, 4096, 999999, 2 * MB - 1};
		for (unsigned k = 0; k < HL_ARRAY_SIZE(probes); k++) {
			const uint8_t *va = page + probes[k];
			uint64_t iova = hl_pool_va2iova(p, va);
			CHECK_EQ(iova, pagemap_pa(fd, va));
			CHECK(hl_pool_iova2va(p, iova) == va);
			CHECK_EQ(hl_pool_iova2off(p, iova), (uint64_t)(va - (const uint8_t *)info.va));
		}
	}
	close(fd);
	/* segments tile the pool, and no two neighbours could have been merged */
	unsigned n;
	const struct hl_pool_seg *s = hl_pool_segments(p, &n);
	CHECK_EQ(n, info.nsegs);
	uint64_t at = 0;
	for (unsigned i = 0; i < n; i++) {
		CHECK_EQ(s[i].pool_off, at);
		CHECK_EQ(s[i].iova, s[i].phys);
		if (i > 0)
			CHECK(s[i - 1].phys + s[i - 1].len != s[i].phys);
		at += s[i].len;
	}
	CHECK_EQ(at, info.size);
	/* outside the pool misses */
	CHECK_EQ(hl_pool_va2iova(p, (const uint8_t *)info.va + info.size), HL_BAD_ADDR);
	CHECK_EQ(hl_pool_va2iova(p, (const uint8_t *)info.va - 1), HL_BAD_ADDR);
	CHECK(hl_pool_iova2va(p, 0x10) == NULL);
	REQUIRE_OK(hl_pool_destroy(p));
}

static int run_peer(const char *record, uint64_t iova, const char *expect, const char *reply)
{
	char path[512], iova_s[32];
	snprintf(path, sizeof(path), "%s/pool_peer", hl_test_bindir());
	snprintf(iova_s, sizeof(iova_s), "%llu", (unsigned long long)iova);
	pid_t pid = fork();
	if (pid == 0) {
		execl(path, "pool_peer", record, iova_s, expect, reply, (char *)NULL);
		_exit(127);
	}
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

HL_TEST(second_process_attaches_through_record)
{
	struct hl_pool *p;
	struct hl_pool_info info;

	HL_TEST_NEED(free_hugepages_2m() >= 16, "16 free 2 MiB hugepages");
	REQUIRE_OK(create_huge("t-attach", 32 * MB, &p));
	hl_pool_get_info(p, &info);
	/* a spot that straddles nothing: mid-pool, away from the header */
	uint64_t off = 17 * MB + 4321;
	char *va = hl_pool_off2va(p, off);
	uint64_t iova = hl_pool_off2iova(p, off);
	REQUIRE(va != NULL && iova != HL_BAD_ADDR);
	strcpy(va, "hello from the owner");
	/* the peer checks it never read pagemap and writes its reply 4 KiB on */
	int rc = run_peer(info.record_path, iova, "hello from the owner", "peer was here");
	CHECK_EQ(rc, 0);
	CHECK(strcmp(va + 4096, "peer was here") == 0);
	/* a peer given the wrong expectation reports it (the check can fail) */
	CHECK(run_peer(info.record_path, iova, "something else", "x") != 0);
	REQUIRE_OK(hl_pool_destroy(p));
}

HL_TEST(zones_persist_in_the_pool)
{
	struct hl_pool *p, *peer;
	struct hl_pool_info info;
	uint64_t a, b, c, off, len;

	HL_TEST_NEED(free_hugepages_2m() >= 16, "16 free 2 MiB hugepages");
	REQUIRE_OK(create_huge("t-zones", 16 * MB, &p));
	hl_pool_get_info(p, &info);
	REQUIRE_OK(hl_pool_zone_reserve(p, "ring0", 4096, 4096, 0, &a));
	REQUIRE_OK(hl_pool_zone_reserve(p, "bufs", 3 * MB / 2, 64, HL_ZONE_F_CONTIG, &b));
	REQUIRE_OK(hl_pool_zone_reserve(p, "ring1", 100, 64, 0, &c));
	CHECK(a >= info.data_offset && a % 4096 == 0);
	CHECK(b >= a + 4096 || b + 3 * MB / 2 <= a);
	CHECK(c % 64 == 0);
	/* "big" no longer fits in the first page: a contiguous zone must not
	 * straddle two physically separate pages */
	uint64_t big;
	REQUIRE_OK(hl_pool_zone_reserve(p, "big", MB, 4096, HL_ZONE_F_CONTIG, &big));
	unsigned n;
	const struct hl_pool_seg *s = hl_pool_segments(p, &n);
	bool inside = false;
	for (unsigned i = 0; i < n; i++)
		inside |= big >= s[i].pool_off && big + MB <= s[i].pool_off + s[i].len;
	CHECK(inside);
	CHECK_EQ(hl_pool_iova2off(p, hl_pool_off2iova(p, big) + MB - 1), big + MB - 1);
	CHECK_EQ(hl_pool_zone_reserve(p, "ring0", 64, 64, 0, &off), -EEXIST);
	CHECK_EQ(hl_pool_zone_reserve(p, "huge", 64 * MB, 64, 0, &off), -ENOMEM);

	/* a peer finds zones by name, and may not edit them */
	REQUIRE_OK(hl_pool_attach(info.record_path, 0, &peer));
	REQUIRE_OK(hl_pool_zone_lookup(peer, "bufs", &off, &len));
	CHECK_EQ(off, b);
	CHECK_EQ(len, 3 * MB / 2);
	CHECK_EQ(hl_pool_zone_reserve(peer, "x", 64, 64, 0, &off), -EPERM);
	REQUIRE_OK(hl_pool_zone_free(p, "bufs"));
	CHECK_EQ(hl_pool_zone_lookup(peer, "bufs", &off, &len), -ENOENT);
	/* a freed gap is reused */
	REQUIRE_OK(hl_pool_zone_reserve(p, "again", 4096, 4096, 0, &off));
	CHECK(off < c);
	CHECK_EQ(hl_pool_destroy(peer), -EPERM); /* a peer cannot remove the pool */
	CHECK(path_exists(info.file_path));
	REQUIRE_OK(hl_pool_destroy(p));
}

HL_TEST(crashed_owner_is_replaced)
{
	char record[512];
	struct hl_pool *p;

	HL_TEST_NEED(free_hugepages_2m() >= 16, "16 free 2 MiB hugepages");
	snprintf(record, sizeof(record), "%s/%s.meta", hl_test_tmpdir(), pool_run_name("t-crash"));
	pid_t pid = fork();
	if (pid == 0) {
		struct hl_pool *q;
		if (create_huge("t-crash", 8 * MB, &q) < 0)
			_exit(1);
		uint64_t off;
		if (hl_pool_zone_reserve(q, "state", 64, 64, 0, &off) < 0)
			_exit(1);
		strcpy(hl_pool_off2va(q, off), "survives");
		raise(SIGKILL); /* die holding the pool */
	}
	int st;
	REQUIRE(waitpid(pid, &st, 0) == pid);
	REQUIRE(WIFSIGNALED(st));

	/* the name is taken until cleaned or replaced ... */
	CHECK_EQ(create_huge("t-crash", 8 * MB, &p), -EEXIST);
	/* ... a new owner can take it over, memory and zones intact */
	REQUIRE_OK(hl_pool_attach(record, HL_POOL_F_OWNER, &p));
	uint64_t off, len;
	REQUIRE_OK(hl_pool_zone_lookup(p, "state", &off, &len));
	CHECK(strcmp(hl_pool_off2va(p, off), "survives") == 0);
	/* while it lives, nobody else becomes owner or cleans it */
	struct hl_pool *q;
	CHECK_EQ(hl_pool_attach(record, HL_POOL_F_OWNER, &q), -EBUSY);
	CHECK_EQ(hl_pool_clean(record), -EBUSY);
	hl_pool_detach(p); /* hand-over: files stay */
	CHECK(path_exists(record));
	REQUIRE_OK(hl_pool_clean(record));
	CHECK(!path_exists(record));
	CHECK_EQ(hl_pool_clean(record), -ENOENT);
}

/* A child that creates pool `name` in run_dir, leaves a mark in a zone, and dies holding it. */
static bool die_holding(const char *name, const char *run_dir)
{
	pid_t pid = fork();
	if (pid == 0) {
		struct hl_pool *q;
		struct hl_pool_params prm = {.name = name, .size = 8 * MB, .run_dir = run_dir, .page_size = 2 * MB};
		uint64_t off;
		if (hl_pool_create(&prm, &q) < 0 || hl_pool_zone_reserve(q, "state", 64, 64, 0, &off) < 0)
			_exit(1);
		strcpy(hl_pool_off2va(q, off), "survives");
		raise(SIGKILL);
	}
	int st;
	return waitpid(pid, &st, 0) == pid && WIFSIGNALED(st);
}

static void sub_dir(char *buf, size_t n, const char *leaf)
{
	snprintf(buf, n, "%s/%s", hl_test_tmpdir(), leaf);
	mkdir(buf, 0755);
}

HL_TEST(dead_owner_found_by_name_adopted_elsewhere_then_cleaned)
{
	char dir_a[400], dir_b[400], rec_a[512], rec_b[512];
	const char *name = pool_run_name("t-stale");
	struct hl_pool *p, *q;

	HL_TEST_NEED(free_hugepages_2m() >= 8, "8 free 2 MiB hugepages");
	sub_dir(dir_a, sizeof(dir_a), "stale-a");
	sub_dir(dir_b, sizeof(dir_b), "stale-b");
	snprintf(rec_a, sizeof(rec_a), "%s/%s.meta", dir_a, name);
	snprintf(rec_b, sizeof(rec_b), "%s/%s.meta", dir_b, name);
	REQUIRE(die_holding(name, dir_a));

	/* from another run directory the name is taken: the file has no record there */
	struct hl_pool_params prm = {.name = name, .size = 8 * MB, .run_dir = dir_b, .page_size = 2 * MB};
	CHECK_EQ(hl_pool_create(&prm, &p), -EEXIST);
	CHECK_STR_HAS(hl_last_error(), "dead owner");
	/* the record copy in the pool's first page brings it back, zones intact */
	REQUIRE_OK(hl_pool_recover_record(name, NULL, rec_b));
	REQUIRE_OK(hl_pool_attach(rec_b, HL_POOL_F_OWNER, &p));
	uint64_t off, len;
	REQUIRE_OK(hl_pool_zone_lookup(p, "state", &off, &len));
	CHECK(strcmp(hl_pool_off2va(p, off), "survives") == 0);
	/* a live owner keeps it from being cleaned or adopted again */
	CHECK_EQ(hl_pool_clean_name(name, NULL, dir_a), -EBUSY);
	CHECK(path_exists(rec_a));
	CHECK_EQ(hl_pool_recover_record(name, NULL, rec_a), -EBUSY);
	CHECK_EQ(hl_pool_attach(rec_a, HL_POOL_F_OWNER, &q), -EBUSY);
	struct hl_pool_info info;
	hl_pool_get_info(p, &info);
	char file[256];
	snprintf(file, sizeof(file), "%s", info.file_path);
	hl_pool_detach(p); /* dies again, in effect: the files stay */

	/* removed by name, with the records of both run directories */
	CHECK_EQ(hl_pool_clean_name(name, NULL, dir_a), 2); /* pool file and record a */
	CHECK(!path_exists(file));
	CHECK(!path_exists(rec_a));
	CHECK_EQ(hl_pool_clean_name(name, NULL, dir_b), 1); /* record b, whose file is gone */
	CHECK(!path_exists(rec_b));
	CHECK_EQ(hl_pool_clean_name(name, NULL, dir_b), 0);
	CHECK_EQ(hl_pool_recover_record(name, NULL, rec_b), -ENOENT);
	CHECK_EQ(hl_pool_clean_name("../etc", NULL, NULL), -EINVAL);
}

HL_TEST(damaged_or_half_made_pool_files)
{
	char dir[400], rec[512], rec2[512];
	const char *name = pool_run_name("t-dmg");
	struct hl_pool *p;

	HL_TEST_NEED(free_hugepages_2m() >= 8, "8 free 2 MiB hugepages");
	sub_dir(dir, sizeof(dir), "dmg");
	snprintf(rec, sizeof(rec), "%s/%s.meta", dir, name);
	snprintf(rec2, sizeof(rec2), "%s/%s.copy.meta", dir, name);
	REQUIRE(die_holding(name, dir));
	struct hl_pool_params prm = {.name = name, .size = 8 * MB, .run_dir = dir, .page_size = 2 * MB};
	REQUIRE_OK(hl_pool_attach(rec, 0, &p));
	struct hl_pool_info info;
	hl_pool_get_info(p, &info);
	char file[256];
	snprintf(file, sizeof(file), "%s", info.file_path);
	hl_pool_detach(p);

	/* hugetlbfs takes no write(): damage goes in through a mapping */
	int fd = open(file, O_RDWR);
	REQUIRE(fd >= 0);
	uint8_t *pg = mmap(NULL, 2 * MB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	REQUIRE(pg != MAP_FAILED);
	struct hl_pool_hdr *h = (struct hl_pool_hdr *)pg;
	/* a flipped byte in the record copy: refused, nothing written */
	pg[h->record_off + 40] ^= 0x5a;
	CHECK(hl_pool_recover_record(name, NULL, rec2) < 0);
	CHECK(!path_exists(rec2));
	pg[h->record_off + 40] ^= 0x5a;
	/* a record length that points past the file: refused */
	uint32_t len = h->record_len;
	h->record_len = 0x7fffffff;
	CHECK_EQ(hl_pool_recover_record(name, NULL, rec2), -EBADMSG);
	h->record_len = len;
	REQUIRE_OK(hl_pool_recover_record(name, NULL, rec2)); /* the undamaged copy is good */
	CHECK(path_exists(rec2));
	REQUIRE(unlink(rec2) == 0);

	/* no magic: its owner died creating it, so a new pool replaces it by itself */
	h->magic = 0;
	munmap(pg, 2 * MB);
	REQUIRE(unlink(rec) == 0);
	CHECK_EQ(hl_pool_recover_record(name, NULL, rec2), -EBADMSG);
	REQUIRE_OK(hl_pool_create(&prm, &p));
	CHECK_EQ(hl_pool_destroy(p), 0);
	CHECK(!path_exists(file));
	CHECK(!path_exists(rec));
}

HL_TEST(destroy_leaves_no_files_or_mappings)
{
	struct hl_pool *p;
	struct hl_pool_info info;

	HL_TEST_NEED(free_hugepages_2m() >= 16, "16 free 2 MiB hugepages");
	long before = free_hugepages_2m();
	unsigned long long reserved = maps_reserved_bytes();
	REQUIRE_OK(create_huge("t-destroy", 16 * MB, &p));
	hl_pool_get_info(p, &info);
	CHECK_EQ(maps_count(info.file_path), 1);
	CHECK(free_hugepages_2m() <= before - 8);
	CHECK(path_exists(info.file_path) && path_exists(info.record_path));
	REQUIRE_OK(hl_pool_destroy(p));
	CHECK(!path_exists(info.file_path));
	CHECK(!path_exists(info.record_path));
	CHECK_EQ(maps_count(info.file_path), 0);
	CHECK_EQ(free_hugepages_2m(), before);
	CHECK(maps_reserved_bytes() < reserved + 16 * MB);
	/* and an attached peer's detach leaves the owner's mapping alone */
	REQUIRE_OK(create_huge("t-destroy", 16 * MB, &p));
	struct hl_pool *peer;
	REQUIRE_OK(hl_pool_attach(info.record_path, 0, &peer));
	CHECK_EQ(maps_count(info.file_path), 2);
	hl_pool_detach(peer);
	CHECK_EQ(maps_count(info.file_path), 1);
	REQUIRE_OK(hl_pool_destroy(p));
	CHECK_EQ(maps_count(info.file_path), 0);
}
