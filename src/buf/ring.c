/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Setting up and tearing down rings (the data path is inline in ring.h,
 * which also states who writes which index).
 *
 * hl_ring_init() writes the whole header before the ring is handed to anyone;
 * hl_ring_attach() re-checks it, because a ring in shared memory may have been
 * laid out (or scribbled on) by another process and is not trusted to have a
 * sane size.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <hugelink/ring.h>

size_t hl_ring_memsize(unsigned count)
{
	if (!HL_IS_POW2(count) || count > HL_RING_MAX_COUNT)
		return 0;
	return sizeof(struct hl_ring) + (size_t)count * sizeof(void *);
}

int hl_ring_init(void *mem, size_t len, unsigned count, unsigned flags)
{
	struct hl_ring *r = mem;
	size_t need = hl_ring_memsize(count);

	if (mem == NULL || ((uintptr_t)mem & (HL_CACHE_LINE - 1)) != 0)
		return hl_error(-EINVAL, "ring: mem must be %d-byte aligned", HL_CACHE_LINE);
	if (need == 0)
		return hl_error(-EINVAL, "ring: count %u is not a power of two in 1..2^31", count);
	if (len < need)
		return hl_error(-EINVAL, "ring: len %zu < %zu needed for count %u", len, need, count);
	if (flags & ~(HL_RING_F_SP_ENQ | HL_RING_F_SC_DEQ))
		return hl_error(-EINVAL, "ring: unknown flags 0x%x", flags);

	memset(r, 0, sizeof(*r));
	r->flags = flags;
	r->size = count;
	r->mask = count - 1;
	/* magic last: a peer that sees it sees the rest of the header too */
	__atomic_store_n(&r->magic, HL_RING_MAGIC, __ATOMIC_RELEASE);
	return 0;
}

struct hl_ring *hl_ring_attach(void *mem, size_t len)
{
	struct hl_ring *r = mem;

	if (mem == NULL || ((uintptr_t)mem & (HL_CACHE_LINE - 1)) != 0 || len < sizeof(*r))
		return NULL;
	if (__atomic_load_n(&r->magic, __ATOMIC_ACQUIRE) != HL_RING_MAGIC)
		return NULL;
	size_t need = hl_ring_memsize(r->size);
	if (need == 0 || need > len || r->mask != r->size - 1 ||
	    (r->flags & ~(HL_RING_F_SP_ENQ | HL_RING_F_SC_DEQ)))
		return NULL;
	return r;
}

int hl_ring_create(const char *name, unsigned count, unsigned flags, struct hl_ring **out)
{
	size_t need = hl_ring_memsize(count);
	void *mem;
	int rc;

	if (name == NULL || strlen(name) >= HL_RING_NAME_LEN)
		return hl_error(-EINVAL, "ring: name must be 0..%d characters", HL_RING_NAME_LEN - 1);
	if (need == 0)
		return hl_error(-EINVAL, "ring %s: count %u is not a power of two in 1..2^31", name,
				count);
	mem = aligned_alloc(HL_CACHE_LINE, HL_ALIGN_UP(need, (size_t)HL_CACHE_LINE));
	if (mem == NULL)
		return hl_error(-ENOMEM, "ring %s: no memory for %u slots", name, count);
	rc = hl_ring_init(mem, need, count, flags);
	if (rc < 0) {
		free(mem);
		return rc;
	}
	strcpy(((struct hl_ring *)mem)->name, name);
	*out = mem;
	return 0;
}

void hl_ring_free(struct hl_ring *r)
{
	free(r);
}

void hl_ring_reset(struct hl_ring *r, uint32_t start)
{
	__atomic_store_n(&r->prod.head, start, __ATOMIC_SEQ_CST);
	__atomic_store_n(&r->prod.tail, start, __ATOMIC_SEQ_CST);
	__atomic_store_n(&r->cons.head, start, __ATOMIC_SEQ_CST);
	__atomic_store_n(&r->cons.tail, start, __ATOMIC_SEQ_CST);
}
