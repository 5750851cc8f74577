/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The SIGBUS guard for memif regions (memif_pvt.h says what it does).
 * Memory a peer hands over as a file it still holds can lose pages at any
 * moment (ftruncate); hugetlbfs files and the memfds DPDK's zero-copy mode
 * passes take no seals against that, so checking cannot prevent it and
 * the data path cannot afford to ask before every access.
 *
 * Invariants. A slot is published (its range, then `used` with release)
 * before the region is used and withdrawn before it is unmapped; the
 * handler reads slots with acquire and touches nothing but the slot it
 * matched: mmap over the range (async-signal-safe as a system call) and
 * one atomic store. The handler is installed once, with the first guarded
 * region; the action it replaced still takes every SIGBUS outside one.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "memif_pvt.h"

#define GUARD_SLOTS 256

static struct guard_slot {
	uintptr_t start, end;
	int *fault;
	int used;
} slots[GUARD_SLOTS];

static struct sigaction previous;
static pthread_once_t installed = PTHREAD_ONCE_INIT;
static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	for (unsigned i = 0; i < GUARD_SLOTS; i++) {
		struct guard_slot *s = &slots[i];
		if (!__atomic_load_n(&s->used, __ATOMIC_ACQUIRE) || a < s->start || a >= s->end)
			continue;
		/* zero pages where the peer's were: the access completes, the port is ended */
		if (mmap((void *)s->start, s->end - s->start, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
			__atomic_store_n(s->fault, 1, __ATOMIC_RELEASE);
			return;
		}
		break;
	}
	/* not ours: as it would have been without the guard */
	if (previous.sa_flags & SA_SIGINFO) {
		previous.sa_sigaction(sig, si, ctx);
		return;
	}
	if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
		previous.sa_handler(sig);
		return;
	}
	signal(SIGBUS, SIG_DFL);
	raise(SIGBUS);
}

static void install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &previous);
}

int hl__memif_guard_add(void *va, uint64_t len, int *fault)
{
	pthread_once(&installed, install);
	pthread_mutex_lock(&slot_lock);
	for (unsigned i = 0; i < GUARD_SLOTS; i++) {
		struct guard_slot *s = &slots[i];
		if (s->used)
			continue;
		s->start = (uintptr_t)va;
		s->end = (uintptr_t)va + len;
		s->fault = fault;
		__atomic_store_n(&s->used, 1, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&slot_lock);
		return (int)i;
	}
	pthread_mutex_unlock(&slot_lock);
	return hl_error(-ENOSPC, "memif: all %d region guard slots are taken", GUARD_SLOTS);
}

void hl__memif_guard_del(int slot)
{
	if (slot < 0 || slot >= GUARD_SLOTS)
		return;
	pthread_mutex_lock(&slot_lock);
	__atomic_store_n(&slots[slot].used, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&slot_lock);
}
