/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the kernel tells us about hugepages: hugetlbfs mounts, free page
 * counts, and physical addresses from /proc/self/pagemap. Control path only;
 * pagemap is read once per page at pool creation and never again.
 */
#ifndef HL_HUGEPAGE_SYS_H
#define HL_HUGEPAGE_SYS_H

#include <stddef.h>
#include <stdint.h>

/* Find a hugetlbfs mount with pages of `page_size` bytes; 0 or -ENOENT. */
int hl_hugetlbfs_find(uint64_t page_size, char *dir, size_t dirlen);

/* Page size of the hugetlbfs mounted at `dir`; -ENOTSUP if not hugetlbfs. */
int64_t hl_hugetlbfs_page_size(const char *dir);

/* Free pages of this size in the system pool, or -errno. */
int64_t hl_hugepages_free(uint64_t page_size);

/*
 * Physical address of the page holding `va`, which must be resident.
 * Returns 0 when the kernel hides physical addresses (no CAP_SYS_ADMIN),
 * -errno on failure. `fd` is an open /proc/self/pagemap.
 */
int64_t hl_pagemap_phys(int fd, const void *va);

#endif
