/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Building page-number translation tables (see xlate.h for the layouts).
 * Control path: runs when a pool is created or attached, or when a guest
 * memory table arrives.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <hugelink/xlate.h>

/* Dense when the pages fill at least half of their span (plus slack). */
static bool want_dense(uint64_t npages, uint64_t span)
{
	return span <= 2 * npages + 64;
}

unsigned hl_xlate_best_shift(const struct hl_xrange *r, unsigned n, unsigned max_shift)
{
	uint64_t bits = 0;

	for (unsigned i = 0; i < n; i++)
		bits |= r[i].src | r[i].len | r[i].dst;
	unsigned s = bits ? (unsigned)__builtin_ctzll(bits) : max_shift;
	return s < max_shift ? s : max_shift;
}

static int check_ranges(const struct hl_xrange *r, unsigned n, unsigned shift, uint64_t *npages,
			uint64_t *lo_pn, uint64_t *hi_pn)
{
	uint64_t mask = (1ull << shift) - 1;
	uint64_t total = 0, lo = UINT64_MAX, hi = 0;

	for (unsigned i = 0; i < n; i++) {
		if (r[i].len == 0 || ((r[i].src | r[i].len | r[i].dst) & mask))
			return hl_error(-EINVAL, "xlate: range %u is empty or not aligned to 2^%u", i, shift);
		if (r[i].src + r[i].len < r[i].src || r[i].dst + r[i].len < r[i].dst)
			return hl_error(-EOVERFLOW, "xlate: range %u wraps the address space", i);
		uint64_t first = r[i].src >> shift;
		uint64_t last = ((r[i].src + r[i].len) >> shift) - 1;
		total += r[i].len >> shift;
		if (first < lo)
			lo = first;
		if (last > hi)
			hi = last;
	}
	if (total > UINT32_MAX)
		return hl_error(-E2BIG, "xlate: %llu pages is more than a table holds",
				(unsigned long long)total);
	*npages = total;
	*lo_pn = lo;
	*hi_pn = hi;
	return 0;
}

static int build_dense(struct hl_xlate *x, const struct hl_xrange *r, unsigned n)
{
	x->direct = calloc(x->span, sizeof(*x->direct));
	if (x->direct == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		uint64_t pages = r[i].len >> x->shift;
		uint64_t base = (r[i].src >> x->shift) - x->first_pn;
		for (uint64_t k = 0; k < pages; k++) {
			if (x->direct[base + k] != 0)
				return hl_error(-EINVAL, "xlate: range %u overlaps another", i);
			x->direct[base + k] = (r[i].dst + (k << x->shift)) | 1;
		}
	}
	return 0;
}

static int build_hash(struct hl_xlate *x, const struct hl_xrange *r, unsigned n)
{
	uint64_t nslots = 16;
	while (nslots < 2 * (uint64_t)x->npages)
		nslots <<= 1;
	x->slots = calloc(nslots, sizeof(*x->slots));
	if (x->slots == NULL)
		return -ENOMEM;
	x->hmask = nslots - 1;

	for (unsigned i = 0; i < n; i++) {
		uint64_t pages = r[i].len >> x->shift;
		for (uint64_t k = 0; k < pages; k++) {
			uint64_t pn = (r[i].src >> x->shift) + k;
			uint64_t h = hl_xlate_hash(pn);
			unsigned p = 0;
			for (;; p++) {
				struct hl_xslot *s = &x->slots[(h + p) & x->hmask];
				if (s->key == pn + 1)
					return hl_error(-EINVAL, "xlate: range %u overlaps another", i);
				if (s->key == 0) {
					s->key = pn + 1;
					s->dst = r[i].dst + (k << x->shift);
					break;
				}
			}
			if (p > UINT16_MAX)
				return hl_error(-E2BIG, "xlate: probe sequence too long");
			if (p > x->max_probe)
				x->max_probe = (uint16_t)p;
		}
	}
	return 0;
}

int hl_xlate_build(struct hl_xlate *x, const struct hl_xrange *r, unsigned n, unsigned shift)
{
	uint64_t npages = 0, lo = 0, hi = 0;
	int rc;

	memset(x, 0, sizeof(*x));
	if (shift < 12 || shift > 40)
		return hl_error(-EINVAL, "xlate: page shift %u out of range", shift);
	x->shift = (uint8_t)shift;
	x->page_mask = (1ull << shift) - 1;
	if (n == 0) {
		x->dense = 1; /* span 0: every look-up misses */
		return 0;
	}
	rc = check_ranges(r, n, shift, &npages, &lo, &hi);
	if (rc < 0)
		return rc;
	x->npages = (uint32_t)npages;
	if (want_dense(npages, hi - lo + 1)) {
		x->dense = 1;
		x->first_pn = lo;
		x->span = hi - lo + 1;
		rc = build_dense(x, r, n);
	} else {
		rc = build_hash(x, r, n);
	}
	if (rc < 0)
		hl_xlate_free(x);
	return rc;
}

void hl_xlate_free(struct hl_xlate *x)
{
	free(x->direct);
	free(x->slots);
	x->direct = NULL;
	x->slots = NULL;
	x->span = 0;
	x->npages = 0;
	x->dense = 1;
}

uint64_t hl_xlate_contig(const struct hl_xlate *x, uint64_t a, uint64_t len)
{
	uint64_t d = hl_xlate(x, a);
	uint64_t done;

	if (d == HL_BAD_ADDR || len == 0)
		return 0;
	done = (x->page_mask + 1) - (a & x->page_mask);
	while (done < len) {
		uint64_t next = hl_xlate(x, a + done);
		if (next != d + done)
			break;
		done += x->page_mask + 1;
	}
	return done < len ? done : len;
}
