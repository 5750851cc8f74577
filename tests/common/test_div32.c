/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hl_div32 against the divide instruction: quotients and exactness for the
 * divisors descriptor checks use (buffer strides), powers of two, odd and
 * huge ones, at the edges of 32 bits and at random.
 */
#include <stdlib.h>

#include <hugelink/common.h>

#include "hl_test.h"

static unsigned mismatches(uint32_t d, uint32_t n)
{
	struct hl_div32 v = hl_div32_init(d);
	bool exact = false;
	uint32_t q = hl_div32(v, n, &exact);
	return (q != n / d) + (exact != (n % d == 0));
}

HL_TEST(matches_division)
{
	static const uint32_t ds[] = {1, 2, 3, 7, 64, 192, 1984, 2048, 2112, 2176, 4096, 9216,
				      65535, 65536, 1000003, 0x7fffffffu, 0x80000000u, 0xfffffffbu,
				      0xffffffffu};
	unsigned bad = 0, checked = 0;
	srand(7);
	for (unsigned i = 0; i < HL_ARRAY_SIZE(ds); i++) {
		uint32_t d = ds[i];
		/* every multiple of d near 0 and near 2^32, and its neighbours */
		for (uint64_t k = 0; k < 4096; k++) {
			uint64_t lo = k * d, hi = 0xffffffffull - (0xffffffffull % d) - k * d;
			for (int e = -1; e <= 1; e++) {
				if (lo + e <= 0xffffffffull && (int64_t)lo + e >= 0)
					bad += mismatches(d, (uint32_t)(lo + e)), checked++;
				if (hi + e <= 0xffffffffull && (int64_t)hi + e >= 0)
					bad += mismatches(d, (uint32_t)(hi + e)), checked++;
			}
		}
		for (unsigned r = 0; r < 100000; r++) {
			uint32_t n = ((uint32_t)rand() << 16) ^ (uint32_t)rand();
			bad += mismatches(d, n), checked++;
		}
	}
	/* random divisors too */
	for (unsigned r = 0; r < 200000; r++) {
		uint32_t d = (((uint32_t)rand() << 16) ^ (uint32_t)rand()) >> (rand() % 31);
		uint32_t n = ((uint32_t)rand() << 16) ^ (uint32_t)rand();
		if (d == 0)
			continue;
		bad += mismatches(d, n), checked++;
		bad += mismatches(d, n - n % d), checked++;
	}
	CHECK_EQ(bad, 0);
	CHECK(checked > 2000000);
}

HL_TEST(zero_divisor_divides_nothing)
{
	struct hl_div32 v = hl_div32_init(0);
	bool exact = true;
	CHECK_EQ(hl_div32(v, 12345, &exact), 0);
	CHECK(!exact);
}
