/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Single-producer single-consumer descriptor rings between the switch and a
 * peer that may be hostile (layout and roles in shm_abi.h).
 *
 * Invariants:
 *   - a side's own index lives in r->own; the shared copy is only ever
 *     stored to (release, after the slots it covers are written or read),
 *     never read back, so a peer scribbling on it cannot move us;
 *   - the other side's index is read once per call (acquire, so the slots
 *     it covers are visible) and accepted only if it moved forward from
 *     r->seen and by no more than it could have: a producer's consumer
 *     index lies in [seen, own], a consumer's producer index in
 *     [max(seen, own), own + size]. Anything else marks the ring broken
 *     (sticky until hl_shm_ring_reset), so a bad index costs one check and
 *     never a loop over 2^32 slots;
 *   - slot = index & mask; indices wrap mod 2^32 and all size slots are used.
 */
#include <errno.h>
#include <string.h>

#include <hugelink/shm_ring.h>

size_t hl_shm_ring_memsize(uint32_t size)
{
	if (!HL_IS_POW2(size))
		return 0;
	return sizeof(struct hl_shm_ring_hdr) + (size_t)size * (sizeof(uint64_t) + sizeof(struct hl_shm_ol));
}

void hl_shm_ring_format(void *mem, uint32_t size, uint32_t start)
{
	struct hl_shm_ring_hdr *h = mem;

	memset(mem, 0, hl_shm_ring_memsize(size));
	__atomic_store_n(&h->prod, start, __ATOMIC_RELEASE);
	__atomic_store_n(&h->cons, start, __ATOMIC_RELEASE);
}

int hl_shm_ring_open(struct hl_shm_ring *r, void *mem, uint32_t size, bool producer)
{
	struct hl_shm_ring_hdr *h = mem;
	uint32_t prod, cons;

	if (!HL_IS_POW2(size))
		return hl_error(-EINVAL, "shm ring: size %u is not a power of two", size);
	prod = __atomic_load_n(&h->prod, __ATOMIC_ACQUIRE);
	cons = __atomic_load_n(&h->cons, __ATOMIC_ACQUIRE);
	if ((uint32_t)(prod - cons) > size)
		return hl_error(-EBADMSG, "shm ring: indices %u/%u are %u apart in a ring of %u",
				prod, cons, prod - cons, size);
	memset(r, 0, sizeof(*r));
	r->hdr = h;
	r->slots = h->slots;
	r->ol = hl_shm_ring_ol(h, size);
	r->size = size;
	r->mask = size - 1;
	r->producer = producer;
	r->own = producer ? prod : cons;
	r->seen = producer ? cons : prod;
	return 0;
}

static uint32_t mark_broken(struct hl_shm_ring *r, uint32_t other)
{
	if (!r->broken) {
		r->broken = true;
		r->broken_events++;
		HL_LOG_WARN("shm ring: %s index %u impossible (own %u, last seen %u, size %u): ring broken",
			    r->producer ? "consumer" : "producer", other, r->own, r->seen, r->size);
	}
	return 0;
}

uint32_t hl_shm_ring_avail(struct hl_shm_ring *r)
{
	if (hl_unlikely(r->broken))
		return 0;
	if (r->producer) {
		uint32_t c = __atomic_load_n(&r->hdr->cons, __ATOMIC_ACQUIRE);
		if (hl_unlikely((uint32_t)(c - r->seen) > (uint32_t)(r->own - r->seen)))
			return mark_broken(r, c);
		r->seen = c;
		return r->size - (r->own - c);
	}
	uint32_t p = __atomic_load_n(&r->hdr->prod, __ATOMIC_ACQUIRE);
	uint32_t d = p - r->own;
	if (hl_unlikely(d > r->size || d < (uint32_t)(r->seen - r->own)))
		return mark_broken(r, p);
	r->seen = p;
	return d;
}

void hl_shm_ring_publish(struct hl_shm_ring *r, uint32_t n)
{
	r->own += n;
	__atomic_store_n(r->producer ? &r->hdr->prod : &r->hdr->cons, r->own, __ATOMIC_RELEASE);
}

void hl_shm_ring_reset(struct hl_shm_ring *r)
{
	uint32_t prod = __atomic_load_n(&r->hdr->prod, __ATOMIC_ACQUIRE);
	uint32_t cons = __atomic_load_n(&r->hdr->cons, __ATOMIC_ACQUIRE);

	r->broken = false;
	if ((uint32_t)(prod - cons) > r->size) {
		/* nothing consistent to resume from: start empty at our index */
		prod = cons = r->own;
		__atomic_store_n(&r->hdr->prod, prod, __ATOMIC_RELEASE);
		__atomic_store_n(&r->hdr->cons, cons, __ATOMIC_RELEASE);
	}
	r->own = r->producer ? prod : cons;
	r->seen = r->producer ? cons : prod;
}
