/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The asymmetric fence (src/common/fence_pvt.h) as the handshakes use it,
 * in the store-buffer litmus test: a data-path thread stores x, takes its
 * side of the fence and loads y; the control thread stores y, takes its
 * side and loads x. Without both fences x86 lets both loads see 0 (each
 * store still in its core's store buffer), which in a handshake means a
 * queue stopped while the data path is inside it. Round after round, the
 * two threads released together, that outcome must never appear: with
 * membarrier (a compiler barrier on the data path's side) and with full
 * fences on both sides.
 */
#include <pthread.h>
#include <stdbool.h>

#include "../../src/common/fence_pvt.h"
#include "hl_test.h"

#define ROUNDS_MB 30000
#define ROUNDS_FULL 200000

static int x, y, ra;
static unsigned start, done, stop;

/*
 * A few dozen cycles, different each round on each side: the thread that
 * releases a round would otherwise always store well before the other,
 * and the two stores would rarely be in flight together.
 */
static inline void jitter(unsigned n)
{
	for (volatile unsigned k = 0; k < n % 48; k++)
		;
}

static void *data_side(void *arg)
{
	(void)arg;
	for (unsigned i = 1;; i++) {
		while (__atomic_load_n(&start, __ATOMIC_ACQUIRE) != i)
			if (__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
				return NULL;
		jitter(i * 7);
		__atomic_store_n(&x, 1, __ATOMIC_RELAXED);
		hl__fence_data();
		ra = __atomic_load_n(&y, __ATOMIC_RELAXED);
		__atomic_store_n(&done, i, __ATOMIC_RELEASE);
	}
}

/* Rounds in which both loads saw 0. */
static unsigned both_missed(unsigned rounds)
{
	pthread_t t;
	unsigned missed = 0;
	start = done = stop = 0;
	if (pthread_create(&t, NULL, data_side, NULL) != 0)
		return UINT32_MAX;
	for (unsigned i = 1; i <= rounds; i++) {
		__atomic_store_n(&x, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&y, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&start, i, __ATOMIC_RELEASE);
		jitter(i * 13 + 40);
		__atomic_store_n(&y, 1, __ATOMIC_RELAXED);
		hl__fence_ctrl();
		int rb = __atomic_load_n(&x, __ATOMIC_RELAXED);
		while (__atomic_load_n(&done, __ATOMIC_ACQUIRE) != i)
			;
		if (ra == 0 && rb == 0)
			missed++;
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	return missed;
}

HL_TEST(membarrier_side_never_lets_both_miss)
{
	hl__fence_init();
	HL_TEST_NEED(hl__membarrier, "the kernel's membarrier (MEMBARRIER_CMD_PRIVATE_EXPEDITED)");
	CHECK_EQ(both_missed(ROUNDS_MB), 0);
}

HL_TEST(full_fences_never_let_both_miss)
{
	bool was = hl__membarrier;
	hl__membarrier = false;
	CHECK_EQ(both_missed(ROUNDS_FULL), 0);
	hl__membarrier = was;
}
