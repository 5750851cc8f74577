/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One side's private view of a shm ring (layout and roles in shm_abi.h),
 * used alike by the switch and by peers.
 *
 * Invariants: the view holds the only copy of this side's index it trusts
 * (own) and the last valid value of the other side's (seen); the shared
 * indices are stored to, and the other side's read once per call and
 * bounded, so a side that scribbles on the ring breaks it (sticky, counted
 * in broken_events) instead of moving the other. Offload entries are
 * reached through the view too, by the slot a frame starts at; a reader
 * copies one before it looks at any field.
 */
#ifndef HUGELINK_SHM_RING_H
#define HUGELINK_SHM_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <hugelink/common.h>
#include <hugelink/shm_abi.h>

#ifdef __cplusplus
extern "C" {
#endif

struct hl_shm_ring {
	struct hl_shm_ring_hdr *hdr;
	uint64_t *slots;
	struct hl_shm_ol *ol; /* size offload entries, after the slots */
	uint32_t size, mask;
	uint32_t own;
	uint32_t seen;
	bool producer;
	bool broken;        /* sticky: the other side's index was impossible */
	uint64_t broken_events;
};

/* Bytes of a ring of `size` slots (a power of two), its offload entries included. */
size_t hl_shm_ring_memsize(uint32_t size);

/* Lay out a fresh ring at mem (both indices start at `start`). */
void hl_shm_ring_format(void *mem, uint32_t size, uint32_t start);

/*
 * Take one side of a ring laid out at mem. The side's own index is read from
 * shared memory here, once, and must be consistent with the other side's
 * (-EBADMSG otherwise); from then on it lives in r->own.
 */
int hl_shm_ring_open(struct hl_shm_ring *r, void *mem, uint32_t size, bool producer);

/*
 * Producer: free slots; consumer: filled slots. Reads the other side's
 * index once; an index that went backwards or past the far end marks the
 * ring broken (returns 0 from then on).
 */
uint32_t hl_shm_ring_avail(struct hl_shm_ring *r);

/*
 * Producer: free slots, at least `want` if there are. The consumer only
 * ever frees more, so the space seen last time is still there; the other
 * side's index (a cache line its core keeps writing) is read again only
 * when that is not enough.
 */
static inline uint32_t hl_shm_ring_space(struct hl_shm_ring *r, uint32_t want)
{
	uint32_t s = r->size - (r->own - r->seen);
	return hl_likely(!r->broken && s >= want) ? s : hl_shm_ring_avail(r);
}

static inline void hl_shm_ring_put(struct hl_shm_ring *r, uint32_t i, uint64_t d)
{
	__atomic_store_n(&r->slots[(r->own + i) & r->mask], d, __ATOMIC_RELAXED);
}

static inline uint64_t hl_shm_ring_get(const struct hl_shm_ring *r, uint32_t i)
{
	return __atomic_load_n(&r->slots[(r->own + i) & r->mask], __ATOMIC_RELAXED);
}

/* The offload entry of the frame starting at slot own + i: written before publishing. */
static inline void hl_shm_ring_put_ol(struct hl_shm_ring *r, uint32_t i, const struct hl_shm_ol *ol)
{
	memcpy(&r->ol[(r->own + i) & r->mask], ol, sizeof(*ol));
}

/* A private copy of it, read once: the other side may rewrite it meanwhile. */
static inline void hl_shm_ring_get_ol(const struct hl_shm_ring *r, uint32_t i, struct hl_shm_ol *ol)
{
	memcpy(ol, (const void *)&r->ol[(r->own + i) & r->mask], sizeof(*ol));
	__atomic_signal_fence(__ATOMIC_SEQ_CST); /* one read, never re-done from the shared copy */
}

/* Advance this side's index by n and store it (release). */
void hl_shm_ring_publish(struct hl_shm_ring *r, uint32_t n);

/* Clear `broken` and resynchronise from shared memory (after a reset). */
void hl_shm_ring_reset(struct hl_shm_ring *r);

#ifdef __cplusplus
}
#endif
#endif
