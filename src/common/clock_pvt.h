/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The data path's clock, inline: clock_gettime costs tens of nanoseconds in
 * a VM, and a per-burst timestamp should not. The scale is written once by
 * hl_fast_clock_init() (release) and only read after; until then, or where
 * the TSC cannot be trusted, the clock is hl_now_ns(). Library-internal: the
 * exported hl_fast_ns() is the same clock for everyone else.
 */
#ifndef HL_CLOCK_PVT_H
#define HL_CLOCK_PVT_H

#include <stdint.h>

#include <hugelink/common.h>

extern uint64_t hl__tsc_mult; /* ns per TSC tick, fixed point 32.32; 0: no usable TSC */
extern uint64_t hl__tsc_base; /* TSC at calibration */
extern uint64_t hl__ns_base;  /* hl_now_ns() at calibration */

static inline uint64_t hl__fast_ns(void)
{
	if (hl_likely(hl__tsc_mult != 0)) {
		uint64_t d = __builtin_ia32_rdtsc() - hl__tsc_base;
		return hl__ns_base + (uint64_t)(((unsigned __int128)d * hl__tsc_mult) >> 32);
	}
	return hl_now_ns();
}

#endif
