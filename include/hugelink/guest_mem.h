/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A guest's memory as the back-end sees it: a set of regions, each a range of
 * guest-physical addresses (GPA) mapped at some host virtual address (HVA).
 *
 * Built once when the front-end sends its memory table (control path), then
 * read-only: translations may run from any number of data-path threads. The
 * look-up is one hl_xlate table, so it is O(1) whatever the region count
 * (509 regions cost the same as 1). Its page size is the largest that aligns
 * every region boundary (gpa, size and hva), between 4 KiB and 2 MiB: the
 * table has one entry per page, so guest RAM in 2 MiB hugepages costs 8
 * bytes per 2 MiB, and 4 KiB-aligned regions still work at 512 times that.
 *
 * Guest addresses come from descriptors the guest wrote, so every translation
 * checks the whole range [gpa, gpa + len) against guest memory, including
 * wrap-around of gpa + len.
 *
 * Hook for later: a second table GPA -> host IOVA (for DMA to a NIC) will sit
 * beside gpa2hva, built from the same regions; iova_valid says whether it is.
 */
#ifndef HUGELINK_GUEST_MEM_H
#define HUGELINK_GUEST_MEM_H

#include <stdbool.h>
#include <stdint.h>

#include <hugelink/common.h>
#include <hugelink/xlate.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HL_GUEST_MEM_MAX_REGIONS 512
/* 2 MiB: larger pages would not make look-ups faster, only the table smaller. */
#define HL_GUEST_MEM_MAX_SHIFT 21

struct hl_guest_region {
	uint64_t gpa;         /* guest-physical start */
	uint64_t size;        /* bytes */
	void *hva;            /* where this process mapped it */
	uint64_t mmap_offset; /* offset into the shared fd (kept for unmap/IOVA) */
};

struct hl_guest_mem {
	struct hl_xlate gpa2hva;
	struct hl_xlate gpa2iova; /* not built yet: see iova_valid */
	bool iova_valid;
	unsigned nregions;
	struct hl_guest_region regions[HL_GUEST_MEM_MAX_REGIONS];
};

/*
 * Build the translation for `n` regions (n <= 512). Refused with -EINVAL:
 * too many regions, an empty region, a NULL hva, a region wrapping the
 * address space, one not 4 KiB aligned (gpa, size or hva), or two regions
 * overlapping in GPA. On failure `m` holds no
 * table and needs no hl_guest_mem_free().
 */
int hl_guest_mem_build(struct hl_guest_mem *m, const struct hl_guest_region *r, unsigned n);
void hl_guest_mem_free(struct hl_guest_mem *m);

/* Slow path of hl_gpa_to_hva(): the range crosses a page. */
void *hl_gpa_to_hva_slow(const struct hl_guest_mem *m, uint64_t gpa, uint64_t len,
			 uint64_t *contig);

/*
 * Host pointer for guest range [gpa, gpa + len), or NULL unless all of it is
 * guest memory (len 0 counts as 1 byte at gpa). `*contig` (if not NULL) gets
 * how many bytes from the returned pointer are contiguous in the host; when
 * that is less than len the range spans regions mapped apart, and the caller
 * translates gpa + *contig for the rest.
 */
static inline void *hl_gpa_to_hva(const struct hl_guest_mem *m, uint64_t gpa, uint64_t len,
				  uint64_t *contig)
{
	const struct hl_xlate *x = &m->gpa2hva;
	uint64_t in_page = x->page_mask - (gpa & x->page_mask); /* bytes after gpa in its page */

	/* Fast path: the whole range is inside gpa's page (this also rules out wrap). */
	if (hl_likely(len != 0 && len - 1 <= in_page)) {
		uint64_t h = hl_xlate(x, gpa);
		if (hl_unlikely(h == HL_BAD_ADDR))
			return NULL;
		if (contig)
			*contig = len;
		return (void *)(uintptr_t)h;
	}
	return hl_gpa_to_hva_slow(m, gpa, len, contig);
}

#ifdef __cplusplus
}
#endif
#endif
