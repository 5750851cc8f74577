/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Lock-free bounded rings of pointers, for passing bursts between threads
 * (and, laid out in pool memory, between processes).
 *
 * The scheme is DPDK's rte_ring: a producer half and a consumer half, each
 * with a head and a tail. Indices run freely and wrap mod 2^32; the slot of
 * index i is i & mask, so the slot count is a power of two and all `count`
 * slots are usable (free-running indices tell full from empty without a
 * spare slot).
 *
 * Who writes what:
 *   prod.head  producers, to claim slots (CAS among multiple producers,
 *              a plain store for a single producer);
 *   prod.tail  producers, in claim order, once their slots are written:
 *              consumers may read slots up to prod.tail;
 *   cons.head  consumers, to claim filled slots;
 *   cons.tail  consumers, in claim order, once they have read their slots:
 *              producers may overwrite slots up to cons.tail + count.
 *   slots      a slot is written only by the producer that claimed it and
 *              read only by the consumer that claimed it afterwards.
 * The header fields (size, mask, flags, name) are written once by
 * hl_ring_init() before the ring is shared and only read afterwards.
 *
 * The header holds no pointers, so a ring placed in shared memory works at
 * any base address. What the slots hold is the caller's business: pointers
 * are only meaningful to processes that share an address space, so rings
 * shared between processes should carry offsets or IOVAs (cast to pointers).
 *
 * A multi-producer (or multi-consumer) operation that is preempted between
 * claiming and publishing holds up the others of its side until it runs
 * again: the ring is lock-free for the side as a whole, not wait-free.
 */
#ifndef HUGELINK_RING_H
#define HUGELINK_RING_H

#include <stddef.h>
#include <stdint.h>

#include <hugelink/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HL_RING_F_SP_ENQ 0x1u /* only one thread ever enqueues */
#define HL_RING_F_SC_DEQ 0x2u /* only one thread ever dequeues */

#define HL_RING_NAME_LEN 32
#define HL_RING_MAX_COUNT (1u << 31)
#define HL_RING_MAGIC 0x484c5247u /* "HLRG" */

struct hl_ring_headtail {
	uint32_t head;
	uint32_t tail;
};

struct hl_ring {
	uint32_t magic;
	uint32_t flags;
	uint32_t size; /* slots, a power of two */
	uint32_t mask;
	char name[HL_RING_NAME_LEN];
	/* producers' and consumers' indices on their own cache lines, so the
	 * two sides do not invalidate each other's line on every claim */
	struct hl_ring_headtail prod hl_cache_aligned;
	struct hl_ring_headtail cons hl_cache_aligned;
	void *slots[] hl_cache_aligned;
};

/* Bytes a ring of `count` slots needs (0 if count is not a power of two). */
size_t hl_ring_memsize(unsigned count);

/*
 * Lay a ring out in caller-provided memory (64-byte aligned, at least
 * hl_ring_memsize(count) bytes), e.g. a pool zone. Nothing is allocated;
 * the ring is `mem` itself and lives as long as that memory.
 */
int hl_ring_init(void *mem, size_t len, unsigned count, unsigned flags);

/*
 * Check that `mem` holds a ring laid out by hl_ring_init() (perhaps by
 * another process) that fits in `len` bytes; return it, or NULL.
 */
struct hl_ring *hl_ring_attach(void *mem, size_t len);

/* A ring in process-local memory; free it with hl_ring_free(). */
int hl_ring_create(const char *name, unsigned count, unsigned flags, struct hl_ring **out);
void hl_ring_free(struct hl_ring *r);

/*
 * Empty the ring and start its indices at `start`. Only while no thread
 * uses the ring; lets tests run the 2^32 wraparound without 2^32 operations.
 */
void hl_ring_reset(struct hl_ring *r, uint32_t start);

/* ---- data path --------------------------------------------------------------- */

static inline void hl_ring_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

/*
 * Claim up to n slots on one side, given the other side's indices (its tail);
 * `room` turns it into how many slots this side may claim (count for
 * producers, 0 for consumers). Returns the number claimed (0 if fewer than n
 * are available and `exact`).
 */
static inline unsigned hl__ring_claim(struct hl_ring_headtail *self,
				      const struct hl_ring_headtail *other, uint32_t room,
				      unsigned n, int exact, int single, uint32_t *old_head)
{
	uint32_t head, avail;
	unsigned want;

	/* Acquire on every read of our head keeps it ordered before the read
	 * of the other side's tail: a head newer than the tail compared with
	 * it would make `avail` wrap to a huge number. */
	head = __atomic_load_n(&self->head, __ATOMIC_ACQUIRE);
	for (;;) {
		want = n;
		avail = room + __atomic_load_n(&other->tail, __ATOMIC_ACQUIRE) - head;
		if (want > avail)
			want = exact ? 0 : avail;
		if (want == 0)
			return 0;
		if (single) {
			__atomic_store_n(&self->head, head + want, __ATOMIC_RELAXED);
			break;
		}
		if (__atomic_compare_exchange_n(&self->head, &head, head + want, 0,
						__ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE))
			break;
	}
	*old_head = head;
	return want;
}

/*
 * Publish claimed slots, after every earlier claim on this side has. The wait
 * is an acquire so that our release below carries the earlier claimers'
 * slot accesses too: the other side synchronises only with the last store
 * to the tail, not with the ones it overwrote.
 */
static inline void hl__ring_publish(struct hl_ring_headtail *self, uint32_t old_head, unsigned n,
				    int single)
{
	if (!single)
		while (__atomic_load_n(&self->tail, __ATOMIC_ACQUIRE) != old_head)
			hl_ring_pause();
	__atomic_store_n(&self->tail, old_head + n, __ATOMIC_RELEASE);
}

static inline unsigned hl__ring_enqueue(struct hl_ring *r, void *const *objs, unsigned n,
					int exact)
{
	int single = (r->flags & HL_RING_F_SP_ENQ) != 0;
	uint32_t head, idx;

	n = hl__ring_claim(&r->prod, &r->cons, r->size, n, exact, single, &head);
	if (n == 0)
		return 0;
	idx = head & r->mask;
	if (hl_likely(idx + n <= r->size)) {
		for (unsigned i = 0; i < n; i++)
			r->slots[idx + i] = objs[i];
	} else {
		unsigned first = r->size - idx;
		for (unsigned i = 0; i < first; i++)
			r->slots[idx + i] = objs[i];
		for (unsigned i = first; i < n; i++)
			r->slots[i - first] = objs[i];
	}
	hl__ring_publish(&r->prod, head, n, single);
	return n;
}

static inline unsigned hl__ring_dequeue(struct hl_ring *r, void **objs, unsigned n, int exact)
{
	int single = (r->flags & HL_RING_F_SC_DEQ) != 0;
	uint32_t head, idx;

	n = hl__ring_claim(&r->cons, &r->prod, 0, n, exact, single, &head);
	if (n == 0)
		return 0;
	idx = head & r->mask;
	if (hl_likely(idx + n <= r->size)) {
		for (unsigned i = 0; i < n; i++)
			objs[i] = r->slots[idx + i];
	} else {
		unsigned first = r->size - idx;
		for (unsigned i = 0; i < first; i++)
			objs[i] = r->slots[idx + i];
		for (unsigned i = first; i < n; i++)
			objs[i] = r->slots[i - first];
	}
	hl__ring_publish(&r->cons, head, n, single);
	return n;
}

/* Enqueue all n objects or none; returns n or 0. */
static inline unsigned hl_ring_enqueue_bulk(struct hl_ring *r, void *const *objs, unsigned n)
{
	return hl__ring_enqueue(r, objs, n, 1);
}

/* Enqueue as many of the n objects as fit; returns how many. */
static inline unsigned hl_ring_enqueue_burst(struct hl_ring *r, void *const *objs, unsigned n)
{
	return hl__ring_enqueue(r, objs, n, 0);
}

/* Dequeue exactly n objects or none; returns n or 0. */
static inline unsigned hl_ring_dequeue_bulk(struct hl_ring *r, void **objs, unsigned n)
{
	return hl__ring_dequeue(r, objs, n, 1);
}

/* Dequeue up to n objects; returns how many. */
static inline unsigned hl_ring_dequeue_burst(struct hl_ring *r, void **objs, unsigned n)
{
	return hl__ring_dequeue(r, objs, n, 0);
}

/*
 * Entries that are published and not yet claimed by a consumer. A snapshot:
 * exact only while nobody else uses the ring.
 */
static inline unsigned hl_ring_count(const struct hl_ring *r)
{
	uint32_t ct = __atomic_load_n(&r->cons.tail, __ATOMIC_ACQUIRE);
	uint32_t pt = __atomic_load_n(&r->prod.tail, __ATOMIC_ACQUIRE);
	uint32_t n = pt - ct;
	return n > r->size ? r->size : n; /* tails read at different times */
}

static inline unsigned hl_ring_free_count(const struct hl_ring *r)
{
	return r->size - hl_ring_count(r);
}

static inline unsigned hl_ring_capacity(const struct hl_ring *r)
{
	return r->size;
}

#ifdef __cplusplus
}
#endif
#endif
