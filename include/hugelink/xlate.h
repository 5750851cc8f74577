/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * O(1) address translation keyed by page number.
 *
 * A table maps a set of disjoint source ranges onto destination addresses.
 * Every range boundary (source and destination) is a multiple of the table's
 * page size, so one entry per page says where that page lands; the offset
 * inside the page carries over unchanged:
 *
 *     dst = entry[src >> shift] + (src & page_mask)
 *
 * Two layouts, picked at build time:
 *   - dense: when the source pages cover most of their span (a pool mapped at
 *     one virtual range, a guest's RAM), an array indexed by page number minus
 *     the first page number: one load, no probing;
 *   - hash: otherwise (physical addresses scattered over the whole machine),
 *     an open-addressing table with linear probing at load factor <= 1/2; the
 *     longest probe seen at build bounds every look-up, so a miss is O(1) too.
 *
 * Build time and memory are linear in the number of pages. A built table is
 * read-only; look-ups may run from any number of threads.
 */
#ifndef HUGELINK_XLATE_H
#define HUGELINK_XLATE_H

#include <stdbool.h>
#include <stdint.h>

#include <hugelink/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One source range and where it lands. */
struct hl_xrange {
	uint64_t src;
	uint64_t len;
	uint64_t dst;
};

struct hl_xslot {
	uint64_t key; /* page number + 1; 0 marks an empty slot */
	uint64_t dst; /* destination page base */
};

struct hl_xlate {
	uint8_t shift;      /* log2 of the page size */
	uint8_t dense;      /* 1: direct index, 0: hash */
	uint16_t max_probe; /* hash: longest probe sequence of any key */
	uint32_t npages;    /* pages mapped */
	uint64_t page_mask; /* page size - 1 */
	/* dense: entry = destination page base | 1, 0 = hole */
	uint64_t first_pn;
	uint64_t span;
	uint64_t *direct;
	/* hash */
	uint64_t hmask;
	struct hl_xslot *slots;
};

/*
 * Build a table for `n` ranges with pages of 2^shift bytes. Ranges must not
 * overlap and must be page-aligned at both ends (-EINVAL otherwise, naming
 * the range). The table owns its memory; free it with hl_xlate_free().
 */
int hl_xlate_build(struct hl_xlate *x, const struct hl_xrange *r, unsigned n, unsigned shift);
void hl_xlate_free(struct hl_xlate *x);

/* Largest shift (<= max_shift) at which every boundary of the ranges is aligned. */
unsigned hl_xlate_best_shift(const struct hl_xrange *r, unsigned n, unsigned max_shift);

static inline uint64_t hl_xlate_hash(uint64_t pn)
{
	/* Fibonacci hashing: page numbers are often consecutive or strided. */
	return (pn * 0x9E3779B97F4A7C15ull) >> 17;
}

/* Translate one address; HL_BAD_ADDR if its page is not mapped. */
static inline uint64_t hl_xlate(const struct hl_xlate *x, uint64_t a)
{
	uint64_t pn = a >> x->shift;

	if (hl_likely(x->dense)) {
		uint64_t i = pn - x->first_pn;
		uint64_t e;

		if (hl_unlikely(i >= x->span))
			return HL_BAD_ADDR;
		e = x->direct[i];
		if (hl_unlikely(e == 0))
			return HL_BAD_ADDR;
		return (e - 1) + (a & x->page_mask);
	}

	uint64_t key = pn + 1;
	uint64_t h = hl_xlate_hash(pn);
	for (unsigned p = 0; p <= x->max_probe; p++) {
		const struct hl_xslot *s = &x->slots[(h + p) & x->hmask];
		if (s->key == key)
			return s->dst + (a & x->page_mask);
		if (s->key == 0)
			break;
	}
	return HL_BAD_ADDR;
}

/*
 * How many bytes starting at `a` (up to `len`) translate to one contiguous
 * destination range; 0 if `a` itself misses. Walks page by page, so it costs
 * one look-up per page crossed.
 */
uint64_t hl_xlate_contig(const struct hl_xlate *x, uint64_t a, uint64_t len);

#ifdef __cplusplus
}
#endif
#endif
