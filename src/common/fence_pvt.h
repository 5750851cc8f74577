/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fence pair of the data path's enter/leave handshakes (a vhost queue's
 * and a memif ring's running/busy words): the data path stores busy, then
 * loads running; the control thread stores running, then loads busy. Each
 * side needs its store ordered before its load (x86 reorders exactly
 * that), and a full fence on every burst stalled the data path until the
 * burst's stores to rings another core holds had drained (an eighth to a
 * third of a forwarding worker's time). So the fence is asymmetric: with
 * the kernel's membarrier (MEMBARRIER_CMD_PRIVATE_EXPEDITED, registered
 * when the first such port opens), the data path's side is a compiler barrier
 * and the control thread's side makes every running thread of the process
 * execute a full barrier; without it, both sides are full fences.
 * Library-internal. Only threads of one process meet in these words.
 */
#ifndef HL_FENCE_PVT_H
#define HL_FENCE_PVT_H

#include <stdbool.h>

#include <hugelink/common.h>

/*
 * False until the kernel took the registration, then true for good. A data
 * path that read false takes a full fence, which pairs with either control
 * side; one that read true pairs with a membarrier, the only control side
 * there is from then on. Library loading does not register (a constructor
 * would add a syscall before main, where a program cannot yet block
 * signals).
 */
extern bool hl__membarrier;

/* Register with the kernel if it can (once; any thread, before or while data paths run). */
void hl__fence_init(void);

/* The data path's side: between its store and its load. */
static inline void hl__fence_data(void)
{
	if (hl_likely(__atomic_load_n(&hl__membarrier, __ATOMIC_ACQUIRE)))
		__asm__ volatile("" ::: "memory");
	else
		hl_smp_mb();
}

/* The control thread's side: between its store and its load. A syscall with membarrier. */
void hl__fence_ctrl(void);

/*
 * The data path enters a queue guarded by a running/busy pair: false, and
 * not entered, when the control thread has stopped it or is stopping it.
 */
static inline bool hl__dp_enter(const int *running, int *busy)
{
	if (!__atomic_load_n(running, __ATOMIC_ACQUIRE))
		return false;
	__atomic_store_n(busy, 1, __ATOMIC_RELAXED);
	hl__fence_data();
	if (hl_unlikely(!__atomic_load_n(running, __ATOMIC_ACQUIRE))) {
		__atomic_store_n(busy, 0, __ATOMIC_RELEASE);
		return false;
	}
	return true;
}

/* Out again: what the data path did inside is visible before busy drops. */
static inline void hl__dp_leave(int *busy)
{
	__atomic_store_n(busy, 0, __ATOMIC_RELEASE);
}

#endif
