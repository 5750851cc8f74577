/* SPDX-License-Identifier: BSD-3-Clause */
/* Guest memory table: translation, region crossings, misses, wrap, bad tables, 509 regions. */
#include <errno.h>
#include <stdlib.h>

#include <hugelink/guest_mem.h>

#include "hl_test.h"

#define KB64 (64u << 10)

HL_TEST(translate_and_cross_regions)
{
	/* A and B adjacent in GPA but apart in the host; C after a hole. */
	char *a = aligned_alloc(4096, KB64), *b = aligned_alloc(4096, KB64),
	     *c = aligned_alloc(4096, KB64);
	struct hl_guest_region r[3] = {
		{.gpa = 0x100000, .size = KB64, .hva = a},
		{.gpa = 0x110000, .size = KB64, .hva = b},
		{.gpa = 0x400000, .size = KB64, .hva = c},
	};
	struct hl_guest_mem *m = malloc(sizeof(*m));
	uint64_t contig = 0;

	REQUIRE_OK(hl_guest_mem_build(m, r, 3));
	CHECK_EQ(m->nregions, 3);
	CHECK(hl_gpa_to_hva(m, 0x100000, 1, &contig) == a);
	CHECK_EQ(contig, 1);
	CHECK(hl_gpa_to_hva(m, 0x100010, 4000, &contig) == a + 0x10);
	CHECK_EQ(contig, 4000);
	/* crosses pages inside A: one contiguous piece */
	CHECK(hl_gpa_to_hva(m, 0x100f00, 0x2000, &contig) == a + 0xf00);
	CHECK_EQ(contig, 0x2000);
	/* crosses from A into B: valid, but only the A part is contiguous */
	CHECK(hl_gpa_to_hva(m, 0x10ff00, 0x200, &contig) == a + 0xff00);
	CHECK_EQ(contig, 0x100);
	CHECK(hl_gpa_to_hva(m, 0x110000, 0x100, &contig) == b);
	/* runs off the end of B into the hole: refused as a whole */
	CHECK(hl_gpa_to_hva(m, 0x11ff00, 0x200, &contig) == NULL);
	CHECK(hl_gpa_to_hva(m, 0x11ff00, 0x100, &contig) == b + 0xff00);
	CHECK(hl_gpa_to_hva(m, 0x200000, 1, &contig) == NULL);
	CHECK(hl_gpa_to_hva(m, 0x400000 + KB64 - 8, 8, &contig) == c + KB64 - 8);
	CHECK(hl_gpa_to_hva(m, 0x400000 + KB64 - 8, 9, &contig) == NULL);
	CHECK(hl_gpa_to_hva(m, 0, 1, NULL) == NULL);
	/* gpa + len wraps u64 */
	CHECK(hl_gpa_to_hva(m, 0x100000, UINT64_MAX, &contig) == NULL);
	CHECK(hl_gpa_to_hva(m, UINT64_MAX - 10, 100, &contig) == NULL);
	CHECK(hl_gpa_to_hva(m, UINT64_MAX, 1, &contig) == NULL);
	hl_guest_mem_free(m);
	free(m);
	free(a);
	free(b);
	free(c);
}

HL_TEST(bad_tables_refused)
{
	char *a = aligned_alloc(4096, KB64);
	struct hl_guest_mem *m = malloc(sizeof(*m));
	struct hl_guest_region overlap[2] = {
		{.gpa = 0x100000, .size = KB64, .hva = a},
		{.gpa = 0x108000, .size = KB64, .hva = a},
	};
	struct hl_guest_region zero = {.gpa = 0, .size = 0, .hva = a};
	struct hl_guest_region nul = {.gpa = 0, .size = 4096, .hva = NULL};
	struct hl_guest_region wrap = {.gpa = UINT64_MAX - 4095, .size = 8192, .hva = a};

	CHECK_EQ(hl_guest_mem_build(m, overlap, 2), -EINVAL);
	CHECK_STR_HAS(hl_last_error(), "overlaps");
	CHECK_EQ(hl_guest_mem_build(m, &zero, 1), -EINVAL);
	CHECK_STR_HAS(hl_last_error(), "size");
	CHECK_EQ(hl_guest_mem_build(m, &nul, 1), -EINVAL);
	CHECK_STR_HAS(hl_last_error(), "hva");
	CHECK_EQ(hl_guest_mem_build(m, &wrap, 1), -EINVAL);
	CHECK_EQ(hl_guest_mem_build(m, overlap, HL_GUEST_MEM_MAX_REGIONS + 1), -EINVAL);
	struct hl_guest_region unaligned = {.gpa = 0x1000, .size = 4096, .hva = a + 16};
	CHECK_EQ(hl_guest_mem_build(m, &unaligned, 1), -EINVAL);
	CHECK_STR_HAS(hl_last_error(), "aligned");
	unaligned = (struct hl_guest_region){.gpa = 0x1000, .size = 100, .hva = a};
	CHECK_EQ(hl_guest_mem_build(m, &unaligned, 1), -EINVAL);
	/* empty memory: everything misses */
	REQUIRE_OK(hl_guest_mem_build(m, NULL, 0));
	CHECK(hl_gpa_to_hva(m, 0x100000, 1, NULL) == NULL);
	hl_guest_mem_free(m);
	free(m);
	free(a);
}

HL_TEST(regions_509)
{
	/* 509 separate host chunks at scattered GPAs, as many as vhost-user allows */
	enum { N = 509, SZ = 8192 };
	struct hl_guest_region *r = calloc(N, sizeof(*r));
	struct hl_guest_mem *m = malloc(sizeof(*m));
	uint64_t contig;

	for (unsigned i = 0; i < N; i++) {
		r[i].gpa = 0x10000000ull + (uint64_t)i * 0x100000 + (i % 7) * 0x1000;
		r[i].size = SZ;
		r[i].hva = aligned_alloc(4096, SZ);
	}
	REQUIRE_OK(hl_guest_mem_build(m, r, N));
	for (unsigned i = 0; i < N; i++) {
		char *h = r[i].hva;
		CHECK(hl_gpa_to_hva(m, r[i].gpa, 1, &contig) == h);
		CHECK(hl_gpa_to_hva(m, r[i].gpa + 100, 64, &contig) == h + 100);
		CHECK(hl_gpa_to_hva(m, r[i].gpa + SZ - 1, 1, &contig) == h + SZ - 1);
		CHECK(hl_gpa_to_hva(m, r[i].gpa + 4000, 200, &contig) == h + 4000);
		CHECK_EQ(contig, 200);
		CHECK(hl_gpa_to_hva(m, r[i].gpa + SZ - 1, 2, &contig) == NULL);
		CHECK(hl_gpa_to_hva(m, r[i].gpa - 1, 1, &contig) == NULL);
	}
	hl_guest_mem_free(m);
	for (unsigned i = 0; i < N; i++)
		free(r[i].hva);
	free(r);
	free(m);
}
