/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The crash tests' way into a switch-side burst: a hook called at each
 * step of the intent protocol (shm_abi.h), so a test that kills the process
 * there leaves the pool exactly as a crash at that instruction would. Not
 * API: tests reach it through src/shm on their include path. The hook is
 * NULL outside tests; the data path pays one predicted branch per step.
 */
#ifndef HL_SHM_TEST_PVT_H
#define HL_SHM_TEST_PVT_H

#include <hugelink/shm_abi.h>

enum hl_shm_step {
	HL_SHM_STEP_SLOTS,   /* producer: slots written, no intent yet */
	HL_SHM_STEP_INTENT,  /* intent published, nothing else */
	HL_SHM_STEP_OWNERS,  /* owner words half updated */
	HL_SHM_STEP_INDEX,   /* index published, intent still active */
};

/* Called with the ring and the step of each burst; set before the bursts start. */
extern void (*hl_shm_test_hook)(enum hl_shm_ring_id ring, enum hl_shm_step step);

#endif
