/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fallbacks: no hugepages (shared memory, IOVA = offset) and hugepages
 * without physical addresses. Each must work and say that it happened.
 */
#include <errno.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hugelink/pool.h>

#include "hl_test.h"
#include "pool_util.h"

#define MB (1ull << 20)

static void check_offset_iova_pool(struct hl_pool *p, const struct hl_pool_info *info)
{
	CHECK(!info->phys_iova);
	CHECK(info->fallback_reason[0] != '\0');
	CHECK_EQ(info->nsegs, 1);
	for (uint64_t off = 0; off < info->size; off += info->size / 64 + 4097) {
		CHECK_EQ(hl_pool_off2iova(p, off), off);
		CHECK(hl_pool_iova2va(p, off) == (uint8_t *)info->va + off);
	}
	CHECK_EQ(hl_pool_off2iova(p, info->size), HL_BAD_ADDR);
}

static void roundtrip_through_peer(struct hl_pool *p, const struct hl_pool_info *info)
{
	struct hl_pool *peer;
	strcpy(hl_pool_off2va(p, 5 * MB), "via fallback");
	REQUIRE_OK(hl_pool_attach(info->record_path, 0, &peer));
	CHECK(strcmp(hl_pool_iova2va(peer, 5 * MB), "via fallback") == 0);
	hl_pool_detach(peer);
}

HL_TEST(forced_shared_memory_fallback)
{
	struct hl_pool *p;
	struct hl_pool_info info;
	struct hl_pool_params prm = {.name = pool_run_name("t-fb-forced"), .size = 24 * MB,
				     .run_dir = hl_test_tmpdir(), .flags = HL_POOL_F_NO_HUGE};

	REQUIRE_OK(hl_pool_create(&prm, &p));
	hl_pool_get_info(p, &info);
	CHECK(!info.hugepages);
	CHECK_STR_HAS(info.fallback_reason, "fallback");
	CHECK_STR_HAS(info.file_path, "/dev/shm/");
	check_offset_iova_pool(p, &info);
	roundtrip_through_peer(p, &info);
	REQUIRE_OK(hl_pool_destroy(p));
	CHECK(!path_exists(info.file_path));
	CHECK(!path_exists(info.record_path));
}

HL_TEST(hugepage_dir_that_is_not_hugetlbfs)
{
	struct hl_pool *p;
	struct hl_pool_info info;
	struct hl_pool_params prm = {.name = pool_run_name("t-fb-dir"), .size = 8 * MB, .run_dir = hl_test_tmpdir(),
				     .hugepage_dir = hl_test_tmpdir()};

	REQUIRE_OK(hl_pool_create(&prm, &p));
	hl_pool_get_info(p, &info);
	CHECK(!info.hugepages);
	CHECK_STR_HAS(info.fallback_reason, "not a hugetlbfs mount");
	REQUIRE_OK(hl_pool_destroy(p));
}

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	int ok = fprintf(f, "%ld\n", v) > 0;
	return (fclose(f) == 0 && ok) ? 0 : -1;
}

HL_TEST(no_hugepages_reserved)
{
	const char *nr = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
	long total = read_long(nr), freep = free_hugepages_2m();
	struct hl_pool *p;
	struct hl_pool_info info;
	struct hl_pool_params prm = {.name = pool_run_name("t-fb-none"), .size = 16 * MB,
				     .run_dir = hl_test_tmpdir(), .page_size = 2 * MB};

	HL_TEST_NEED(geteuid() == 0 && total >= 0, "root, to take the hugepages away for a moment");
	/* leave only the pages others hold: none free */
	REQUIRE(write_long(nr, total - freep) == 0);
	int rc = hl_pool_create(&prm, &p);
	long after = free_hugepages_2m();
	CHECK(write_long(nr, total) == 0);
	CHECK_EQ(read_long(nr), total);
	CHECK_EQ(after, 0);
	REQUIRE_OK(rc);
	hl_pool_get_info(p, &info);
	CHECK(!info.hugepages);
	CHECK_STR_HAS(info.fallback_reason, "free");
	check_offset_iova_pool(p, &info);
	roundtrip_through_peer(p, &info);
	REQUIRE_OK(hl_pool_destroy(p));
}

/* In a child without CAP_SYS_ADMIN pagemap reads PFN 0: hugepages, IOVA = offset. */
HL_TEST(hugepages_without_physical_addresses)
{
	HL_TEST_NEED(free_hugepages_2m() >= 8, "8 free 2 MiB hugepages");
	pid_t pid = fork();
	if (pid == 0) {
		struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
		struct __user_cap_data_struct d[2];
		if (syscall(SYS_capget, &h, d) < 0)
			_exit(10);
		d[0].effective &= ~(1u << CAP_SYS_ADMIN);
		if (syscall(SYS_capset, &h, d) < 0)
			_exit(11);
		struct hl_pool *p;
		struct hl_pool_info info;
		struct hl_pool_params prm = {.name = pool_run_name("t-fb-nophys"), .size = 8 * MB,
					     .run_dir = hl_test_tmpdir(), .page_size = 2 * MB};
		if (hl_pool_create(&prm, &p) < 0)
			_exit(12);
		hl_pool_get_info(p, &info);
		int bad = !info.hugepages || info.phys_iova ||
			  strstr(info.fallback_reason, "physical") == NULL ||
			  hl_pool_off2iova(p, 3 * MB + 5) != 3 * MB + 5;
		hl_pool_destroy(p);
		_exit(bad ? 13 : 0);
	}
	int st;
	REQUIRE(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st));
	CHECK_EQ(WEXITSTATUS(st), 0);
}
