/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <hugelink/common.h>
#include <hugelink/pool.h>

#include "hugepage_sys.h"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif

static uint64_t pagemap_reads;

uint64_t hl_pagemap_reads(void)
{
	return __atomic_load_n(&pagemap_reads, __ATOMIC_RELAXED);
}

int64_t hl_hugetlbfs_page_size(const char *dir)
{
	struct statfs st;

	if (statfs(dir, &st) < 0)
		return -errno;
	if ((uint32_t)st.f_type != (uint32_t)HUGETLBFS_MAGIC)
		return -ENOTSUP;
	return (int64_t)st.f_bsize;
}

int hl_hugetlbfs_find(uint64_t page_size, char *dir, size_t dirlen)
{
	FILE *f = setmntent("/proc/mounts", "r");
	struct mntent *m;
	int rc = -ENOENT;

	if (f == NULL)
		return -errno;
	while ((m = getmntent(f)) != NULL) {
		if (strcmp(m->mnt_type, "hugetlbfs") != 0)
			continue;
		if (hl_hugetlbfs_page_size(m->mnt_dir) != (int64_t)page_size)
			continue;
		if (access(m->mnt_dir, W_OK) != 0)
			continue;
		if (strlen(m->mnt_dir) + 1 > dirlen)
			continue;
		strcpy(dir, m->mnt_dir);
		rc = 0;
		break;
	}
	endmntent(f);
	return rc;
}

int64_t hl_hugepages_free(uint64_t page_size)
{
	char path[128];
	FILE *f;
	long long n = -1;

	snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/free_hugepages",
		 page_size >> 10);
	f = fopen(path, "r");
	if (f == NULL)
		return -errno;
	if (fscanf(f, "%lld", &n) != 1)
		n = -EIO;
	fclose(f);
	return n;
}

int64_t hl_pagemap_phys(int fd, const void *va)
{
	uint64_t e;
	long pg = sysconf(_SC_PAGESIZE);
	off_t at = (off_t)((uintptr_t)va / (uintptr_t)pg) * (off_t)sizeof(e);

	__atomic_fetch_add(&pagemap_reads, 1, __ATOMIC_RELAXED);
	if (pread(fd, &e, sizeof(e), at) != (ssize_t)sizeof(e))
		return -EIO;
	if (!(e & (1ull << 63)))
		return -EFAULT; /* not present */
	uint64_t pfn = e & ((1ull << 55) - 1);
	return (int64_t)(pfn * (uint64_t)pg + ((uintptr_t)va % (uintptr_t)pg));
}
