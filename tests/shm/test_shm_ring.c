/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shm descriptor rings: order and wrap (slots and the 2^32 index wrap),
 * full and empty, and a hostile other side: indices that go backwards, jump
 * past the far end, or scribble over our own; the ring breaks (sticky,
 * counted once) and never reports more than it holds.
 */
#include <errno.h>
#include <stdlib.h>

#include <hugelink/shm_abi.h>
#include <hugelink/shm_ring.h>

#include "hl_test.h"

#define SIZE 16u

struct pair {
	void *mem;
	struct hl_shm_ring prod, cons;
};

static int pair_open(struct pair *p, uint32_t start)
{
	p->mem = aligned_alloc(HL_CACHE_LINE, hl_shm_ring_memsize(SIZE));
	if (p->mem == NULL)
		return -ENOMEM;
	hl_shm_ring_format(p->mem, SIZE, start);
	int rc = hl_shm_ring_open(&p->prod, p->mem, SIZE, true);
	return rc < 0 ? rc : hl_shm_ring_open(&p->cons, p->mem, SIZE, false);
}

static struct hl_shm_ring_hdr *hdr(struct pair *p)
{
	return p->mem;
}

HL_TEST(memsize_and_descriptor_packing)
{
	/* the slots, then an offload entry per slot */
	CHECK_EQ(hl_shm_ring_memsize(16), 128 + 16 * 8 + 16 * 16);
	CHECK_EQ(hl_shm_ring_memsize(12), 0);
	uint64_t d = hl_shm_desc(0x123456789abcull, 1514);
	CHECK_EQ(hl_shm_desc_off(d), 0x123456789abcull);
	CHECK_EQ(hl_shm_desc_len(d), 1514);
	CHECK_EQ(d & HL_SHM_DESC_FLAGS, 0);
	d = hl_shm_desc(HL_SHM_OFF_MASK, HL_SHM_LEN_MAX);
	CHECK_EQ(hl_shm_desc_off(d), HL_SHM_OFF_MASK);
	CHECK_EQ(hl_shm_desc_len(d), HL_SHM_LEN_MAX);
	/* the flags sit between the two and change neither; an offset never reaches them */
	d = hl_shm_desc(HL_SHM_OFF_MASK, HL_SHM_LEN_MAX) | HL_SHM_DESC_FLAGS;
	CHECK_EQ(hl_shm_desc_off(d), HL_SHM_OFF_MASK);
	CHECK_EQ(hl_shm_desc_len(d), HL_SHM_LEN_MAX);
	CHECK_EQ(hl_shm_desc(~0ull, 0) & HL_SHM_DESC_FLAGS, 0);
	CHECK_EQ(HL_SHM_DESC_FLAGS & (HL_SHM_OFF_MASK | (0xffffull << HL_SHM_LEN_SHIFT)), 0);
}

HL_TEST(offload_entries_follow_the_slots)
{
	struct pair p;
	REQUIRE_OK(pair_open(&p, 7));
	struct hl_shm_ol e = {.csum_start = 34, .csum_offset = 16, .gso_size = 1448, .gso_type = HL_SHM_OL_GSO_TCPV4};
	hl_shm_ring_put(&p.prod, 0, hl_shm_desc(4096, 60) | HL_SHM_DESC_OL);
	hl_shm_ring_put_ol(&p.prod, 0, &e);
	hl_shm_ring_publish(&p.prod, 1);
	CHECK(p.prod.ol == hl_shm_ring_ol(hdr(&p), SIZE));
	CHECK((uint8_t *)p.prod.ol == (uint8_t *)hdr(&p)->slots + SIZE * sizeof(uint64_t));
	/* entry 7 & mask, the frame's first slot; nothing else written */
	CHECK_EQ(p.prod.ol[7 & (SIZE - 1)].gso_size, 1448);
	CHECK_EQ(p.prod.ol[8 & (SIZE - 1)].gso_size, 0);
	struct hl_shm_ol got;
	CHECK_EQ(hl_shm_ring_avail(&p.cons), 1);
	CHECK(hl_shm_ring_get(&p.cons, 0) & HL_SHM_DESC_OL);
	hl_shm_ring_get_ol(&p.cons, 0, &got);
	CHECK_EQ(memcmp(&got, &e, sizeof(e)), 0);
	free(p.mem);
}

/* n rounds of k descriptors, checking order and counts; starts near 2^32. */
static void run_rounds(uint32_t start, unsigned rounds, unsigned k)
{
	struct pair p;
	uint64_t next_put = 1000, next_get = 1000;

	REQUIRE_OK(pair_open(&p, start));
	for (unsigned r = 0; r < rounds; r++) {
		CHECK_EQ(hl_shm_ring_avail(&p.prod), SIZE);
		for (unsigned i = 0; i < k; i++)
			hl_shm_ring_put(&p.prod, i, next_put++);
		/* nothing visible before publish */
		CHECK_EQ(hl_shm_ring_avail(&p.cons), 0);
		hl_shm_ring_publish(&p.prod, k);
		CHECK_EQ(hl_shm_ring_avail(&p.prod), SIZE - k);
		CHECK_EQ(hl_shm_ring_avail(&p.cons), k);
		for (unsigned i = 0; i < k; i++)
			CHECK_EQ(hl_shm_ring_get(&p.cons, i), next_get++);
		hl_shm_ring_publish(&p.cons, k);
		CHECK_EQ(hl_shm_ring_avail(&p.cons), 0);
	}
	CHECK(!p.prod.broken && !p.cons.broken);
	CHECK_EQ(p.prod.own, start + rounds * k);
	free(p.mem);
}

HL_TEST(order_across_slot_wrap)
{
	run_rounds(0, 10, 7); /* 7 does not divide 16: bursts straddle the end */
}

HL_TEST(order_across_index_wrap)
{
	run_rounds(UINT32_MAX - 20, 12, 5);
}

HL_TEST(full_and_empty)
{
	struct pair p;
	REQUIRE_OK(pair_open(&p, UINT32_MAX - 3));
	for (unsigned i = 0; i < SIZE; i++)
		hl_shm_ring_put(&p.prod, i, i);
	hl_shm_ring_publish(&p.prod, SIZE);
	CHECK_EQ(hl_shm_ring_avail(&p.prod), 0);
	CHECK_EQ(hl_shm_ring_avail(&p.cons), SIZE);
	hl_shm_ring_publish(&p.cons, 1);
	CHECK_EQ(hl_shm_ring_avail(&p.prod), 1);
	CHECK_EQ(hl_shm_ring_avail(&p.cons), SIZE - 1);
	CHECK(!p.prod.broken && !p.cons.broken);
	free(p.mem);
}

HL_TEST(consumer_index_backwards_or_ahead_breaks_producer)
{
	struct pair p;
	REQUIRE_OK(pair_open(&p, 5));
	hl_shm_ring_publish(&p.prod, 4);
	hdr(&p)->cons = 7; /* legal: 2 consumed */
	CHECK_EQ(hl_shm_ring_avail(&p.prod), SIZE - 2);
	hdr(&p)->cons = 6; /* backwards */
	CHECK_EQ(hl_shm_ring_avail(&p.prod), 0);
	CHECK(p.prod.broken);
	CHECK_EQ(p.prod.broken_events, 1);
	hdr(&p)->cons = 7; /* sane again, but broken is sticky */
	CHECK_EQ(hl_shm_ring_avail(&p.prod), 0);
	CHECK_EQ(p.prod.broken_events, 1);
	hl_shm_ring_reset(&p.prod);
	CHECK(!p.prod.broken);
	CHECK_EQ(hl_shm_ring_avail(&p.prod), SIZE - 2);
	hdr(&p)->cons = 5 + 4 + 1; /* consumed more than was produced */
	CHECK_EQ(hl_shm_ring_avail(&p.prod), 0);
	CHECK(p.prod.broken);
	free(p.mem);
}

HL_TEST(producer_index_garbage_breaks_consumer)
{
	const uint32_t bad[] = {SIZE + 1, 0x80000000u, UINT32_MAX};
	for (unsigned b = 0; b < HL_ARRAY_SIZE(bad); b++) {
		struct pair p;
		REQUIRE_OK(pair_open(&p, UINT32_MAX - 1));
		hdr(&p)->prod = UINT32_MAX - 1 + 3;
		CHECK_EQ(hl_shm_ring_avail(&p.cons), 3);
		hdr(&p)->prod = UINT32_MAX - 1 + bad[b];
		CHECK_EQ(hl_shm_ring_avail(&p.cons), 0);
		CHECK(p.cons.broken);
		free(p.mem);
	}
	/* a producer index that goes back below what was already seen */
	struct pair p;
	REQUIRE_OK(pair_open(&p, 100));
	hdr(&p)->prod = 110;
	CHECK_EQ(hl_shm_ring_avail(&p.cons), 10);
	hl_shm_ring_publish(&p.cons, 2);
	hdr(&p)->prod = 105; /* still ahead of our 102, but retracts published slots */
	CHECK_EQ(hl_shm_ring_avail(&p.cons), 0);
	CHECK(p.cons.broken);
	free(p.mem);
}

HL_TEST(own_index_scribbled_is_ignored)
{
	struct pair p;
	REQUIRE_OK(pair_open(&p, 0));
	hl_shm_ring_put(&p.prod, 0, 42);
	hl_shm_ring_publish(&p.prod, 1);
	hdr(&p)->prod = 9999; /* the other side writes our index */
	CHECK_EQ(hl_shm_ring_avail(&p.prod), SIZE - 1); /* from our own copy */
	hl_shm_ring_put(&p.prod, 0, 43);
	hl_shm_ring_publish(&p.prod, 1);
	CHECK_EQ(hdr(&p)->prod, 2); /* the next publish puts it right */
	CHECK_EQ(hl_shm_ring_avail(&p.cons), 2);
	CHECK_EQ(hl_shm_ring_get(&p.cons, 0), 42);
	CHECK_EQ(hl_shm_ring_get(&p.cons, 1), 43);
	free(p.mem);
}

HL_TEST(open_refuses_inconsistent_indices)
{
	void *mem = aligned_alloc(HL_CACHE_LINE, hl_shm_ring_memsize(SIZE));
	struct hl_shm_ring r;
	REQUIRE(mem != NULL);
	hl_shm_ring_format(mem, SIZE, 0);
	((struct hl_shm_ring_hdr *)mem)->prod = SIZE + 1;
	CHECK_EQ(hl_shm_ring_open(&r, mem, SIZE, false), -EBADMSG);
	CHECK_EQ(hl_shm_ring_open(&r, mem, 12, false), -EINVAL);
	((struct hl_shm_ring_hdr *)mem)->prod = SIZE;
	CHECK_EQ(hl_shm_ring_open(&r, mem, SIZE, false), 0);
	CHECK_EQ(hl_shm_ring_avail(&r), SIZE);
	free(mem);
}
