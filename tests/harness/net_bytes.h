/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Bytes in network order for tests that build and read frames, and the
 * RFC 1071 reference checksum they hold the data path's sums against. The
 * reference sums a byte at a time, on purpose unlike hl_csum_add(), so that
 * a fault in the code under test cannot hide in its own check.
 */
#ifndef HL_TEST_NET_BYTES_H
#define HL_TEST_NET_BYTES_H

#include <stddef.h>
#include <stdint.h>

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* RFC 1071, unfolded: s plus n bytes in network order (an odd last byte as the high one). */
static inline uint32_t ref_add(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		s += (i & 1) ? p[i] : (uint32_t)p[i] << 8;
	return s;
}

static inline uint16_t ref_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* The folded sum, not inverted, of len bytes started from s. */
static inline uint16_t ref_sum(const uint8_t *p, size_t len, uint32_t s)
{
	return ref_fold(ref_add(s, p, len));
}

#endif
