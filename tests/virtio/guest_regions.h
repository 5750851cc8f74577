/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fake guest memory for the ring tests: three 64 KiB chunks of host memory
 * at guest-physical A (ring and indirect tables), B (right after A in GPA,
 * elsewhere in the host, so a buffer across the boundary needs two iovs)
 * and C (after a hole), and optionally 8 GiB at D that nothing touches (for
 * length overflows).
 */
#ifndef HL_TEST_GUEST_REGIONS_H
#define HL_TEST_GUEST_REGIONS_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <hugelink/guest_mem.h>

#define KB64 (64u << 10)
#define GPA_A 0x100000ull
#define GPA_B 0x110000ull
#define GPA_C 0x400000ull
#define GPA_D 0x100000000ull

/* The chunks zeroed in *a, *b, *c, and their translation in *mem. */
static inline int guest_regions_make(char **a, char **b, char **c, struct hl_guest_mem *mem, bool big_region)
{
	struct hl_guest_region r[4];
	unsigned n = 3;
	*a = aligned_alloc(4096, KB64);
	*b = aligned_alloc(4096, KB64);
	*c = aligned_alloc(4096, KB64);
	if (*a == NULL || *b == NULL || *c == NULL)
		return -ENOMEM;
	memset(*a, 0, KB64);
	memset(*b, 0, KB64);
	memset(*c, 0, KB64);
	r[0] = (struct hl_guest_region){.gpa = GPA_A, .size = KB64, .hva = *a};
	r[1] = (struct hl_guest_region){.gpa = GPA_B, .size = KB64, .hva = *b};
	r[2] = (struct hl_guest_region){.gpa = GPA_C, .size = KB64, .hva = *c};
	if (big_region)
		r[n++] = (struct hl_guest_region){
			.gpa = GPA_D, .size = 8ull << 30, .hva = (void *)(uintptr_t)0x200000000000ull};
	return hl_guest_mem_build(mem, r, n);
}

static inline void guest_regions_free(char *a, char *b, char *c, struct hl_guest_mem *mem)
{
	hl_guest_mem_free(mem);
	free(a);
	free(b);
	free(c);
}

#endif
