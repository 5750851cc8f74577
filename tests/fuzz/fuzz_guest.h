/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guest memory for the ring harnesses: two 64 KiB regions with a hole
 * between them (GPA 0x10000 and 0x40000), made once, and refilled from each
 * input: the bytes after an 8-byte header of parameters go to region 0 (the
 * ring at its start), then region 1. The header's byte 0 is the ring's
 * feature bits from bit 28 on (INDIRECT, EVENT_IDX, ...), bytes 1-2 where
 * the device starts; the rest is the harness's own.
 */
#ifndef HL_FUZZ_GUEST_H
#define HL_FUZZ_GUEST_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <hugelink/guest_mem.h>

#define FUZZ_REG 65536
#define FUZZ_HDR 8
#define FUZZ_NUM 64 /* a ring's descriptors (the most, where the input picks the size) */

struct fuzz_guest {
	uint8_t *r0, *r1;
	struct hl_guest_mem mem;
	uint64_t features; /* header byte 0, from bit 28 on */
	uint16_t start;    /* header bytes 1-2 */
};

/* The guest an input makes, or NULL for an input shorter than its header. */
static inline struct fuzz_guest *fuzz_guest(const uint8_t *data, size_t size)
{
	static struct fuzz_guest g;
	if (size < FUZZ_HDR)
		return NULL;
	if (g.r0 == NULL) {
		hl_log_set_level(HL_LOG_OFF);
		g.r0 = aligned_alloc(4096, FUZZ_REG);
		g.r1 = aligned_alloc(4096, FUZZ_REG);
		struct hl_guest_region r[2] = {{0x10000, FUZZ_REG, g.r0, 0}, {0x40000, FUZZ_REG, g.r1, 0}};
		if (g.r0 == NULL || g.r1 == NULL || hl_guest_mem_build(&g.mem, r, 2) < 0)
			abort();
	}
	memset(g.r0, 0, FUZZ_REG);
	memset(g.r1, 0, FUZZ_REG);
	if (size > FUZZ_HDR) {
		size_t left = size - FUZZ_HDR, k = left < FUZZ_REG ? left : FUZZ_REG;
		memcpy(g.r0, data + FUZZ_HDR, k);
		if (left > FUZZ_REG)
			memcpy(g.r1, data + FUZZ_HDR + FUZZ_REG, left - FUZZ_REG < FUZZ_REG ? left - FUZZ_REG : FUZZ_REG);
	}
	g.features = (uint64_t)data[0] << 28;
	memcpy(&g.start, data + 1, 2);
	return &g;
}

#endif
