/* SPDX-License-Identifier: BSD-3-Clause */
/* Page-number translation tables: both layouts, misses, collisions, bad input. */
#include <errno.h>
#include <stdlib.h>

#include <hugelink/xlate.h>

#include "hl_test.h"

#define MB2 (2ull << 20)

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

HL_TEST(dense_pool_layout)
{
	/* a pool of 64 pages whose physical pages are scattered */
	struct hl_xrange r[64];
	uint64_t seed = 42;
	struct hl_xlate x;

	for (int i = 0; i < 64; i++)
		r[i] = (struct hl_xrange){.src = (uint64_t)i * MB2, .len = MB2,
					  .dst = (rnd(&seed) & 0xffffffull) * MB2};
	REQUIRE_OK(hl_xlate_build(&x, r, 64, 21));
	CHECK(x.dense);
	for (int i = 0; i < 64; i++) {
		CHECK_EQ(hl_xlate(&x, r[i].src), r[i].dst);
		CHECK_EQ(hl_xlate(&x, r[i].src + 12345), r[i].dst + 12345);
		CHECK_EQ(hl_xlate(&x, r[i].src + MB2 - 1), r[i].dst + MB2 - 1);
	}
	CHECK_EQ(hl_xlate(&x, 64 * MB2), HL_BAD_ADDR);
	CHECK_EQ(hl_xlate(&x, UINT64_MAX), HL_BAD_ADDR);
	hl_xlate_free(&x);
}

HL_TEST(hash_scattered_pages)
{
	/* physical pages spread over 1 TiB: too sparse for a direct array */
	enum { N = 512 };
	struct hl_xrange *r = calloc(N, sizeof(*r));
	uint64_t seed = 7;
	struct hl_xlate x;

	for (int i = 0; i < N; i++) {
		uint64_t pn;
		bool dup;
		do {
			pn = rnd(&seed) & ((1ull << 19) - 1);
			dup = false;
			for (int k = 0; k < i; k++)
				dup |= r[k].src == pn * MB2;
		} while (dup);
		r[i] = (struct hl_xrange){.src = pn * MB2, .len = MB2, .dst = (uint64_t)i * MB2};
	}
	REQUIRE_OK(hl_xlate_build(&x, r, N, 21));
	CHECK(!x.dense);
	CHECK(x.hmask + 1 <= 4 * N); /* memory linear in pages */
	for (int i = 0; i < N; i++) {
		CHECK_EQ(hl_xlate(&x, r[i].src + 77), r[i].dst + 77);
		CHECK_EQ(hl_xlate(&x, r[i].src + MB2 - 1), r[i].dst + MB2 - 1);
	}
	/* every unmapped page misses */
	unsigned misses = 0;
	for (uint64_t pn = 0; pn < 4096; pn++) {
		bool mapped = false;
		for (int i = 0; i < N; i++)
			mapped |= r[i].src == pn * MB2;
		if (!mapped) {
			CHECK_EQ(hl_xlate(&x, pn * MB2 + 5), HL_BAD_ADDR);
			misses++;
		}
	}
	CHECK(misses > 3000);
	hl_xlate_free(&x);
	free(r);
}

HL_TEST(hash_collisions_linear_probing)
{
	/* pages that all land in one home slot must still all be found */
	enum { N = 40 };
	struct hl_xrange r[N];
	unsigned n = 0;
	uint64_t home = hl_xlate_hash(1000003) & 127; /* 2*N rounded up is 128 slots */

	for (uint64_t pn = 1000003; n < N; pn += 1000003) {
		if ((hl_xlate_hash(pn) & 127) != home)
			continue;
		r[n] = (struct hl_xrange){.src = pn << 21, .len = MB2, .dst = (uint64_t)n << 21};
		n++;
	}
	struct hl_xlate x;
	REQUIRE_OK(hl_xlate_build(&x, r, N, 21));
	REQUIRE(!x.dense);
	CHECK_EQ(x.hmask, 127);
	CHECK(x.max_probe >= N - 1);
	for (unsigned i = 0; i < N; i++)
		CHECK_EQ(hl_xlate(&x, r[i].src + 9), r[i].dst + 9);
	/* a miss that hashes into the cluster walks it and stops */
	for (uint64_t pn = 1; pn < 200000; pn++)
		if ((hl_xlate_hash(pn) & 127) == home) {
			CHECK_EQ(hl_xlate(&x, pn << 21), HL_BAD_ADDR);
			break;
		}
	hl_xlate_free(&x);
}

HL_TEST(multi_page_ranges_and_contig)
{
	struct hl_xrange r[3] = {
		{.src = 0, .len = 4 * MB2, .dst = 100 * MB2},
		{.src = 4 * MB2, .len = 2 * MB2, .dst = 10 * MB2},
		{.src = 8 * MB2, .len = MB2, .dst = 104 * MB2},
	};
	struct hl_xlate x;
	REQUIRE_OK(hl_xlate_build(&x, r, 3, 21));
	CHECK_EQ(hl_xlate(&x, 3 * MB2 + 1), 103 * MB2 + 1);
	CHECK_EQ(hl_xlate(&x, 5 * MB2), 11 * MB2);
	CHECK_EQ(hl_xlate(&x, 6 * MB2), HL_BAD_ADDR); /* hole */
	/* contiguous destination stops at a range boundary or a hole */
	CHECK_EQ(hl_xlate_contig(&x, 100, 10 * MB2), 4 * MB2 - 100);
	CHECK_EQ(hl_xlate_contig(&x, 4 * MB2, 10 * MB2), 2 * MB2);
	CHECK_EQ(hl_xlate_contig(&x, 4 * MB2, 1000), 1000);
	CHECK_EQ(hl_xlate_contig(&x, 6 * MB2, 1000), 0);
	hl_xlate_free(&x);
}

HL_TEST(bad_ranges_refused)
{
	struct hl_xlate x;
	struct hl_xrange misaligned = {.src = 4096, .len = MB2, .dst = 0};
	struct hl_xrange wraps = {.src = UINT64_MAX - MB2 + 1, .len = 2 * MB2, .dst = 0};
	struct hl_xrange overlap[2] = {{0, 2 * MB2, 0}, {MB2, MB2, 8 * MB2}};
	struct hl_xrange empty = {.src = 0, .len = 0, .dst = 0};

	CHECK_EQ(hl_xlate_build(&x, &misaligned, 1, 21), -EINVAL);
	CHECK_EQ(hl_xlate_build(&x, &wraps, 1, 21), -EOVERFLOW);
	CHECK_EQ(hl_xlate_build(&x, overlap, 2, 21), -EINVAL);
	CHECK_STR_HAS(hl_last_error(), "overlaps");
	CHECK_EQ(hl_xlate_build(&x, &empty, 1, 21), -EINVAL);
	CHECK_EQ(hl_xlate_build(&x, &misaligned, 1, 3), -EINVAL);
	/* a table with nothing in it misses everything */
	REQUIRE_OK(hl_xlate_build(&x, NULL, 0, 21));
	CHECK_EQ(hl_xlate(&x, 0), HL_BAD_ADDR);
	hl_xlate_free(&x);
}

HL_TEST(best_shift)
{
	struct hl_xrange r[2] = {{0, 4 * MB2, 1ull << 30}, {1ull << 32, 1ull << 12, 0}};
	CHECK_EQ(hl_xlate_best_shift(r, 1, 30), 23);
	CHECK_EQ(hl_xlate_best_shift(r, 2, 30), 12);
	CHECK_EQ(hl_xlate_best_shift(r, 1, 21), 21);
}
