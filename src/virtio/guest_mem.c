/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guest memory table: builds the GPA -> HVA translation from the front-end's
 * region list and handles the translations that cross a page.
 *
 * The region list is copied into the table, so the caller's array may go.
 * Nothing here writes guest memory. hl_gpa_to_hva_slow() runs on the data
 * path (a descriptor crossing a page): no locks, no allocation; its cost is
 * one look-up per page the range covers.
 */
#include <errno.h>
#include <string.h>

#include <hugelink/guest_mem.h>

int hl_guest_mem_build(struct hl_guest_mem *m, const struct hl_guest_region *r, unsigned n)
{
	struct hl_xrange xr[HL_GUEST_MEM_MAX_REGIONS] = {{0}};
	int rc;

	memset(m, 0, sizeof(*m));
	if (n > HL_GUEST_MEM_MAX_REGIONS)
		return hl_error(-EINVAL, "guest_mem: %u regions, at most %u", n,
				HL_GUEST_MEM_MAX_REGIONS);
	if (n > 0 && r == NULL)
		return hl_error(-EINVAL, "guest_mem: regions is NULL");
	for (unsigned i = 0; i < n; i++) {
		if (r[i].size == 0)
			return hl_error(-EINVAL, "guest_mem: region %u size is 0", i);
		if (r[i].hva == NULL)
			return hl_error(-EINVAL, "guest_mem: region %u hva is NULL", i);
		if (r[i].gpa + r[i].size < r[i].gpa ||
		    (uintptr_t)r[i].hva + r[i].size < (uintptr_t)r[i].hva)
			return hl_error(-EINVAL, "guest_mem: region %u gpa/hva + size wraps", i);
		/*
		 * Checked here rather than left to hl_xlate_build: at a small
		 * shift an overlap would show up there too, but naming both
		 * regions helps whoever debugs a front-end's memory table.
		 */
		for (unsigned k = 0; k < i; k++)
			if (r[i].gpa < r[k].gpa + r[k].size && r[k].gpa < r[i].gpa + r[i].size)
				return hl_error(-EINVAL,
						"guest_mem: region %u gpa overlaps region %u", i, k);
		xr[i] = (struct hl_xrange){.src = r[i].gpa, .len = r[i].size,
					   .dst = (uint64_t)(uintptr_t)r[i].hva};
	}
	/* Any region boundary below 2^shift makes the shift smaller; 4 KiB is the floor. */
	unsigned shift = hl_xlate_best_shift(xr, n, HL_GUEST_MEM_MAX_SHIFT);
	if (shift < 12) {
		for (unsigned i = 0; i < n; i++)
			if ((xr[i].src | xr[i].len | xr[i].dst) & 4095)
				return hl_error(-EINVAL,
						"guest_mem: region %u gpa, size or hva not 4 KiB aligned",
						i);
	}
	rc = hl_xlate_build(&m->gpa2hva, xr, n, shift);
	if (rc < 0)
		return rc;
	m->nregions = n;
	if (n)
		memcpy(m->regions, r, n * sizeof(*r));
	return 0;
}

void hl_guest_mem_free(struct hl_guest_mem *m)
{
	hl_xlate_free(&m->gpa2hva);
	if (m->iova_valid)
		hl_xlate_free(&m->gpa2iova);
	m->iova_valid = false;
	m->nregions = 0;
}

void *hl_gpa_to_hva_slow(const struct hl_guest_mem *m, uint64_t gpa, uint64_t len,
			 uint64_t *contig)
{
	const struct hl_xlate *x = &m->gpa2hva;
	uint64_t first, done, want = len;

	if (len == 0)
		len = 1;
	if (len - 1 > UINT64_MAX - gpa)
		return NULL; /* the range wraps past the top of the address space */
	first = hl_xlate_contig(x, gpa, len);
	if (first == 0)
		return NULL;
	/* The pointer is only worth having if the rest is guest memory too. */
	for (done = first; done < len;) {
		uint64_t more = hl_xlate_contig(x, gpa + done, len - done);
		if (more == 0)
			return NULL;
		done += more;
	}
	if (contig)
		*contig = first < want ? first : want;
	return (void *)(uintptr_t)hl_xlate(x, gpa);
}
