/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Packet buffers, each case on a 2 MiB hugepage pool and on a shared-memory
 * (HL_POOL_F_NO_HUGE) pool: bursts, exhaustion, in-use accounting with
 * per-thread caches, refcounts, chains, external buffers, double frees, and
 * that no data room straddles a segment.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include <hugelink/buf.h>
#include <hugelink/ring.h>

#include "hl_test.h"
#include "../memory/pool_util.h"

#define MB (1ull << 20)

static int create_pool(bool huge, uint64_t size, struct hl_pool **p)
{
	static unsigned seq;
	char name[32];

	snprintf(name, sizeof(name), "t-buf%u-%d", seq++, (int)getpid());
	struct hl_pool_params prm = {.name = name, .size = size, .run_dir = hl_test_tmpdir(),
				     .page_size = huge ? 2 * MB : 0,
				     .flags = huge ? 0 : HL_POOL_F_NO_HUGE};
	return hl_pool_create(&prm, p);
}

/* Run `body` on a fresh pool of the given kind; the pool is destroyed after. */
#define BUF_TEST(name, pool_mb)                                                        \
	static void name##_body(struct hl_pool *p);                                    \
	static void name##_on(bool huge)                                               \
	{                                                                              \
		struct hl_pool *p;                                                     \
		struct hl_pool_info info;                                              \
		if (huge)                                                              \
			HL_TEST_NEED(free_hugepages_2m() >= (pool_mb) / 2,             \
				     "free 2 MiB hugepages for a " #pool_mb " MiB pool");  \
		REQUIRE_OK(create_pool(huge, (uint64_t)(pool_mb) * MB, &p));           \
		hl_pool_get_info(p, &info);                                            \
		CHECK(info.hugepages == huge);                                         \
		name##_body(p);                                                        \
		CHECK_EQ(hl_pool_destroy(p), 0);                                       \
	}                                                                              \
	HL_TEST(name##_hugepages)                                                      \
	{                                                                              \
		name##_on(true);                                                       \
	}                                                                              \
	HL_TEST(name##_no_huge)                                                        \
	{                                                                              \
		name##_on(false);                                                      \
	}                                                                              \
	static void name##_body(struct hl_pool *p)

static struct hl_bufpool_stats stats(struct hl_bufpool *bp)
{
	struct hl_bufpool_stats st;
	hl_bufpool_stats(bp, &st);
	return st;
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
	return x < y ? -1 : x > y;
}

/* No two buffers in bufs[0..n) are the same or overlap. */
static bool all_distinct(struct hl_buf **bufs, unsigned n)
{
	uintptr_t *va = malloc(n * sizeof(*va));
	bool ok = true;

	for (unsigned i = 0; i < n; i++)
		va[i] = (uintptr_t)bufs[i]->buf_va;
	qsort(va, n, sizeof(*va), cmp_ptr);
	for (unsigned i = 1; i < n; i++)
		ok = ok && va[i] - va[i - 1] >= bufs[0]->buf_len;
	free(va);
	return ok;
}

BUF_TEST(create_refuses_bad_input, 8)
{
	struct hl_bufpool *bp;
	uint64_t off, len;

	CHECK_EQ(hl_bufpool_create(p, "bp", 16, HL_BUF_HEADROOM, 0, &bp), -EINVAL);
	CHECK_STR_HAS(hl_last_error(), "data_room");
	CHECK_EQ(hl_bufpool_create(p, "bp", 16, 4 * MB, 0, &bp), -EINVAL);
	CHECK_EQ(hl_bufpool_create(p, "bp", 0, 2048, 0, &bp), -EINVAL);
	CHECK_EQ(hl_bufpool_create(p, "bp", 16, 2048, HL_BUF_CACHE_MAX + 1, &bp), -EINVAL);
	CHECK_STR_HAS(hl_last_error(), "cache_size");
	CHECK_EQ(hl_bufpool_create(p, "", 16, 2048, 0, &bp), -EINVAL);
	CHECK_EQ(hl_bufpool_create(p, "a-name-much-too-long-for-a-zone", 16, 2048, 0, &bp), -EINVAL);
	CHECK_STR_HAS(hl_last_error(), "name");
	CHECK_EQ(hl_bufpool_create(p, "huge", 100000, 2048, 0, &bp), -ENOMEM); /* > pool */
	CHECK_EQ(hl_pool_zone_lookup(p, "b:huge", &off, &len), -ENOENT); /* nothing left */

	REQUIRE_OK(hl_bufpool_create(p, "bp", 16, 2048, 0, &bp));
	struct hl_bufpool *bp2;
	CHECK_EQ(hl_bufpool_create(p, "bp", 16, 2048, 0, &bp2), -EEXIST);
	REQUIRE_OK(hl_pool_zone_lookup(p, "b:bp", &off, &len));
	CHECK(len >= 16 * 2048);
	hl_bufpool_free(bp);
	CHECK_EQ(hl_pool_zone_lookup(p, "b:bp", &off, &len), -ENOENT);
}

BUF_TEST(alloc_free_bursts, 16)
{
	struct hl_bufpool *bp;
	struct hl_buf *bufs[256];

	REQUIRE_OK(hl_bufpool_create(p, "bursts", 1000, 2048, 0, &bp));
	CHECK_EQ(hl_bufpool_in_use(bp), 0);
	CHECK_EQ(stats(bp).in_ring, 1000);
	for (unsigned k = 0; k < 8; k++)
		REQUIRE_OK(hl_buf_alloc_bulk(bp, bufs + 32 * k, 32));
	CHECK_EQ(hl_bufpool_in_use(bp), 256);
	CHECK(all_distinct(bufs, 256));
	for (unsigned i = 0; i < 256; i++) {
		struct hl_buf *b = bufs[i];
		CHECK_EQ(hl_buf_refcnt(b), 1);
		CHECK_EQ(b->data_off, HL_BUF_HEADROOM);
		CHECK_EQ(b->data_len, 0);
		CHECK_EQ(b->nb_segs, 1);
		CHECK(b->next == NULL);
		CHECK_EQ(b->buf_len, 2048);
		CHECK_EQ(hl_buf_tailroom(b), 2048 - HL_BUF_HEADROOM);
		CHECK(hl_buf_data(b) == b->buf_va + HL_BUF_HEADROOM);
		CHECK(hl_pool_off2va(p, b->pool_off) == b->buf_va);
		memset(hl_buf_data(b), (int)i, hl_buf_tailroom(b)); /* writable, in the pool */
		b->data_len = 100;
		b->port = 7;
	}
	hl_buf_free_bulk(bufs, 100);
	CHECK_EQ(hl_bufpool_in_use(bp), 156);
	for (unsigned i = 100; i < 256; i++)
		hl_buf_free(bufs[i]);
	CHECK_EQ(hl_bufpool_in_use(bp), 0);
	CHECK_EQ(stats(bp).double_free, 0);
	/* freed buffers come back reset */
	REQUIRE_OK(hl_buf_alloc_bulk(bp, bufs, 256));
	for (unsigned i = 0; i < 256; i++)
		CHECK(bufs[i]->data_len == 0 && bufs[i]->port == 0);
	hl_buf_free_bulk(bufs, 256);
	CHECK_EQ(hl_bufpool_in_use(bp), 0);
	hl_bufpool_free(bp);
}

static void exhaust(struct hl_pool *p, unsigned cache)
{
	struct hl_bufpool *bp;
	struct hl_buf *bufs[100], *extra[64];

	REQUIRE_OK(hl_bufpool_create(p, "exh", 100, 1024, cache, &bp));
	REQUIRE_OK(hl_buf_alloc_bulk(bp, bufs, 60));
	for (unsigned i = 0; i < 64; i++)
		extra[i] = NULL;
	CHECK_EQ(hl_buf_alloc_bulk(bp, extra, 64), -ENOBUFS); /* 40 left: none given */
	CHECK_EQ(hl_bufpool_in_use(bp), 60);
	CHECK_EQ(stats(bp).alloc_fail, 1);
	for (unsigned i = 0; i < 64; i++)
		CHECK(extra[i] == NULL);
	for (unsigned i = 60; i < 100; i++) {
		bufs[i] = hl_buf_alloc(bp);
		REQUIRE(bufs[i] != NULL);
	}
	CHECK_EQ(hl_bufpool_in_use(bp), 100);
	CHECK(hl_buf_alloc(bp) == NULL);
	CHECK_EQ(hl_buf_alloc_bulk(bp, extra, 2), -ENOBUFS);
	CHECK_EQ(hl_bufpool_in_use(bp), 100);
	CHECK(all_distinct(bufs, 100));
	hl_buf_free_bulk(bufs, 100);
	CHECK_EQ(hl_bufpool_in_use(bp), 0);
	/* everything can be had again, in one burst */
	REQUIRE_OK(hl_buf_alloc_bulk(bp, bufs, 100));
	CHECK(all_distinct(bufs, 100));
	hl_buf_free_bulk(bufs, 100);
	CHECK_EQ(hl_bufpool_in_use(bp), 0);
	hl_bufpool_free(bp);
}

BUF_TEST(exhaustion_no_partial_alloc, 8)
{
	exhaust(p, 0);
	/* the same through this thread's cache */
	REQUIRE(hl_buf_thread_attach() >= 0);
	exhaust(p, 16);
	hl_buf_thread_detach();
}

/* Every data room: IOVA of first and last byte agree with the pool's
 * translation and are IOVA + len - 1 apart, and the room is in one page. */
BUF_TEST(data_rooms_never_straddle, 64)
{
	struct hl_bufpool *bp;
	struct hl_pool_info info;
	const unsigned n = 20000, room = 2176; /* 2 MiB is not a multiple */

	hl_pool_get_info(p, &info);
	REQUIRE_OK(hl_bufpool_create(p, "iova", n, room, 0, &bp));
	struct hl_buf **bufs = malloc(n * sizeof(*bufs));
	REQUIRE(bufs != NULL);
	REQUIRE_OK(hl_buf_alloc_bulk(bp, bufs, n));
	unsigned bad = 0, pages_crossed = 0;
	for (unsigned i = 0; i < n; i++) {
		const struct hl_buf *b = bufs[i];
		uint64_t first = hl_pool_va2iova(p, b->buf_va);
		uint64_t last = hl_pool_va2iova(p, b->buf_va + room - 1);
		bad += first != b->buf_iova || last != b->buf_iova + room - 1 || first == HL_BAD_ADDR;
		bad += hl_pool_va2off(p, b->buf_va) != b->pool_off;
		pages_crossed += b->pool_off / info.page_size !=
				 (b->pool_off + room - 1) / info.page_size;
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(pages_crossed, 0);
	CHECK(all_distinct(bufs, n));
	CHECK(n * (uint64_t)room > 8 * info.page_size); /* the test spans many pages */
	hl_buf_free_bulk(bufs, n);
	CHECK_EQ(hl_bufpool_in_use(bp), 0);
	free(bufs);
	hl_bufpool_free(bp);
}

BUF_TEST(refcount_ref_twice_free_thrice, 8)
{
	struct hl_bufpool *bp;

	REQUIRE_OK(hl_bufpool_create(p, "ref", 8, 1024, 0, &bp));
	struct hl_buf *b = hl_buf_alloc(bp);
	REQUIRE(b != NULL);
	hl_buf_ref(b);
	hl_buf_ref(b);
	CHECK_EQ(hl_buf_refcnt(b), 3);
	hl_buf_free(b);
	CHECK_EQ(hl_bufpool_in_use(bp), 1);
	hl_buf_free(b);
	CHECK_EQ(hl_bufpool_in_use(bp), 1);
	CHECK_EQ(hl_buf_refcnt(b), 1);
	hl_buf_free(b);
	CHECK_EQ(hl_bufpool_in_use(bp), 0);
	CHECK_EQ(hl_buf_refcnt(b), 0);
	CHECK_EQ(stats(bp).double_free, 0);
	CHECK_EQ(stats(bp).in_ring, 8); /* returned exactly once */
	hl_bufpool_free(bp);
}

static void double_free(struct hl_pool *p, unsigned cache)
{
	struct hl_bufpool *bp;
	struct hl_buf *bufs[9];

	REQUIRE_OK(hl_bufpool_create(p, "dbl", 8, 1024, cache, &bp));
	struct hl_buf *b = hl_buf_alloc(bp);
	REQUIRE(b != NULL);
	hl_buf_free(b);
	hl_buf_free(b);
	struct hl_buf *again[2] = {b, b};
	hl_buf_free_bulk(again, 2);
	CHECK_EQ(stats(bp).double_free, 3);
	CHECK_EQ(hl_bufpool_in_use(bp), 0);
	/* the pool still holds each buffer once: 8 distinct, then empty */
	REQUIRE_OK(hl_buf_alloc_bulk(bp, bufs, 8));
	CHECK(all_distinct(bufs, 8));
	CHECK_EQ(hl_buf_alloc_bulk(bp, bufs + 8, 1), -ENOBUFS);
	CHECK_EQ(hl_bufpool_in_use(bp), 8);
	hl_buf_free_bulk(bufs, 8);
	CHECK_EQ(hl_bufpool_in_use(bp), 0);
	CHECK_EQ(stats(bp).double_free, 3);
	hl_bufpool_free(bp);
}

BUF_TEST(double_free_counted_not_corrupting, 8)
{
	double_free(p, 0);
	REQUIRE(hl_buf_thread_attach() >= 0);
	double_free(p, 4);
	hl_buf_thread_detach();
}

BUF_TEST(chains_freed_together, 8)
{
	struct hl_bufpool *bp;
	struct hl_buf *s[4];

	REQUIRE_OK(hl_bufpool_create(p, "chain", 16, 1024, 0, &bp));
	REQUIRE_OK(hl_buf_alloc_bulk(bp, s, 4));
	for (unsigned i = 0; i < 4; i++)
		s[i]->data_len = s[i]->pkt_len = 100 + i;
	REQUIRE_OK(hl_buf_chain(s[2], s[3]));
	REQUIRE_OK(hl_buf_chain(s[0], s[1]));
	REQUIRE_OK(hl_buf_chain(s[0], s[2])); /* a chain onto a chain */
	CHECK_EQ(s[0]->nb_segs, 4);
	CHECK_EQ(s[0]->pkt_len, 100 + 101 + 102 + 103);
	CHECK(s[0]->next == s[1] && s[1]->next == s[2] && s[2]->next == s[3]);
	CHECK_EQ(hl_buf_chain(s[0], s[0]), -EINVAL);
	CHECK_EQ(hl_buf_chain(s[2], s[0]), -EINVAL); /* would make a loop */
	CHECK_EQ(s[0]->nb_segs, 4);
	hl_buf_free(s[0]);
	CHECK_EQ(hl_bufpool_in_use(bp), 0);

	/* a fresh segment with only data_len set counts towards pkt_len */
	REQUIRE_OK(hl_buf_alloc_bulk(bp, s, 2));
	s[0]->data_len = s[0]->pkt_len = 1000;
	s[1]->data_len = 500;
	REQUIRE_OK(hl_buf_chain(s[0], s[1]));
	CHECK_EQ(s[0]->pkt_len, 1500);
	CHECK_EQ(s[0]->nb_segs, 2);
	hl_buf_free(s[0]);
	CHECK_EQ(hl_bufpool_in_use(bp), 0);

	/* a tail shared by two chains lives until both are freed */
	struct hl_buf *a, *b, *t;
	REQUIRE((a = hl_buf_alloc(bp)) && (b = hl_buf_alloc(bp)) && (t = hl_buf_alloc(bp)));
	hl_buf_ref(t);
	REQUIRE_OK(hl_buf_chain(a, t));
	REQUIRE_OK(hl_buf_chain(b, t));
	hl_buf_free(a);
	CHECK_EQ(hl_bufpool_in_use(bp), 2);
	CHECK_EQ(hl_buf_refcnt(t), 1);
	hl_buf_free(b);
	CHECK_EQ(hl_bufpool_in_use(bp), 0);

	/* a head with two references keeps its chain */
	REQUIRE_OK(hl_buf_alloc_bulk(bp, s, 2));
	REQUIRE_OK(hl_buf_chain(s[0], s[1]));
	hl_buf_ref(s[0]);
	hl_buf_free(s[0]);
	CHECK_EQ(hl_bufpool_in_use(bp), 2);
	hl_buf_free(s[0]);
	CHECK_EQ(hl_bufpool_in_use(bp), 0);
	CHECK_EQ(stats(bp).double_free, 0);
	hl_bufpool_free(bp);
}

struct ext_seen {
	int calls;
	void *va;
};

static void ext_free(void *va, void *opaque)
{
	struct ext_seen *s = opaque;
	s->calls++;
	s->va = va;
}

BUF_TEST(external_buffer_callback_once, 8)
{
	static uint8_t guest[4096];
	struct hl_bufpool *bp;
	struct ext_seen seen = {0};

	REQUIRE_OK(hl_bufpool_create(p, "ext", 4, 1024, 0, &bp));
	struct hl_buf *b = hl_buf_alloc(bp);
	REQUIRE(b != NULL);
	uint8_t *own = b->buf_va;
	uint64_t own_iova = b->buf_iova;

	CHECK_EQ(hl_buf_attach_extbuf(b, guest, 0xabc000, sizeof(guest), NULL, &seen), -EINVAL);
	CHECK_STR_HAS(hl_last_error(), "free_cb");
	REQUIRE_OK(hl_buf_attach_extbuf(b, guest + 64, 0xabc040, 1500, ext_free, &seen));
	CHECK(b->flags & HL_BUF_F_EXTERNAL);
	CHECK(hl_buf_data(b) == guest + 64);
	CHECK_EQ(hl_buf_data_iova(b), 0xabc040);
	CHECK_EQ(b->data_len, 1500);
	CHECK_EQ(hl_buf_attach_extbuf(b, guest, 0, 64, ext_free, &seen), -EINVAL); /* already */

	hl_buf_ref(b);
	hl_buf_ref(b);
	hl_buf_free(b);
	hl_buf_free(b);
	CHECK_EQ(seen.calls, 0);
	CHECK_EQ(hl_bufpool_in_use(bp), 1);
	hl_buf_free(b);
	CHECK_EQ(seen.calls, 1);
	CHECK(seen.va == guest + 64);
	CHECK_EQ(hl_bufpool_in_use(bp), 0);
	hl_buf_free(b); /* a double free must not call back again */
	CHECK_EQ(seen.calls, 1);
	CHECK_EQ(stats(bp).double_free, 1);

	/* the metadata went back with its own room restored */
	CHECK(b->buf_va == own && b->buf_iova == own_iova && b->flags == 0);
	CHECK_EQ(b->buf_len, 1024);

	/* an external segment in a chain is handed back when the chain goes */
	struct hl_buf *h = hl_buf_alloc(bp), *t = hl_buf_alloc(bp);
	REQUIRE(h != NULL && t != NULL);
	hl_buf_ref(h);
	CHECK_EQ(hl_buf_attach_extbuf(h, guest, 0, 64, ext_free, &seen), -EINVAL); /* refcnt 2 */
	hl_buf_free(h);
	REQUIRE_OK(hl_buf_attach_extbuf(t, guest, 0xabc000, 512, ext_free, &seen));
	REQUIRE_OK(hl_buf_chain(h, t));
	hl_buf_free(h);
	CHECK_EQ(seen.calls, 2);
	CHECK(seen.va == guest);
	CHECK_EQ(hl_bufpool_in_use(bp), 0);
	hl_bufpool_free(bp);
}

/* The owner takes its metadata back in the callback and attaches it again at once. */
struct owned_seen {
	int calls;
	struct hl_buf *b;
	uint8_t *next_va;
};

static void owned_free(void *va, void *opaque)
{
	struct owned_seen *s = opaque;
	s->calls++;
	if (s->next_va != NULL) {
		CHECK(va != s->next_va);
		hl_buf_owned_attach(s->b, s->next_va, 0xdef000, 100);
		s->next_va = NULL;
	}
}

BUF_TEST(owned_metadata_goes_back_to_its_owner, 8)
{
	static uint8_t guest[4096];
	static struct hl_buf seg;
	struct hl_bufpool *bp;
	struct owned_seen seen = {.b = &seg};

	REQUIRE_OK(hl_bufpool_create(p, "own", 4, 1024, 0, &bp));
	hl_buf_init_owned(&seg, owned_free, &seen);
	CHECK_EQ(hl_buf_refcnt(&seg), 0);
	CHECK_EQ(hl_buf_index(&seg), UINT32_MAX); /* no pool, no index */

	/* behind a pool head: freeing the head returns the head to the pool and the segment to us */
	hl_buf_owned_attach(&seg, guest + 128, 0xabc080, 1400);
	CHECK(hl_buf_data(&seg) == guest + 128 && hl_buf_data_iova(&seg) == 0xabc080);
	CHECK_EQ(seg.data_len, 1400);
	struct hl_buf *h = hl_buf_alloc(bp);
	REQUIRE(h != NULL);
	h->data_len = h->pkt_len = 64;
	REQUIRE_OK(hl_buf_chain(h, &seg));
	CHECK_EQ(h->nb_segs, 2);
	CHECK_EQ(h->pkt_len, 1464);
	CHECK_EQ(hl_bufpool_in_use(bp), 1); /* the segment is no pool's */
	hl_buf_ref(h); /* a second holder of the chain keeps the segment out */
	hl_buf_free(h);
	CHECK_EQ(seen.calls, 0);
	seen.next_va = guest + 2048; /* the owner reuses the segment from inside the callback */
	hl_buf_free(h);
	CHECK_EQ(seen.calls, 1);
	CHECK_EQ(hl_bufpool_in_use(bp), 0);
	CHECK_EQ(stats(bp).in_ring + stats(bp).in_caches, 4); /* nothing extra went into the pool */
	/* reattached in the callback: the free did not touch it afterwards */
	CHECK(hl_buf_data(&seg) == guest + 2048);
	CHECK_EQ(hl_buf_refcnt(&seg), 1);
	CHECK(seg.flags & HL_BUF_F_EXTERNAL);

	/* on its own, and freed twice: one callback, a logged error, no crash */
	hl_buf_free(&seg);
	CHECK_EQ(seen.calls, 2);
	hl_buf_free(&seg);
	CHECK_EQ(seen.calls, 2);
	CHECK_EQ(stats(bp).double_free, 0); /* no pool's count */
	hl_bufpool_free(bp);
}

/* ---- caches across threads -------------------------------------------------- */

#define XFER_ITERS 3000

struct xfer {
	struct hl_bufpool *bp;
	struct hl_ring *r; /* allocator -> freer */
	pthread_barrier_t done, checked;
	uint64_t sent, failed;
};

/* Allocates bursts (some above the cache size) and passes them on. */
static void *alloc_side(void *arg)
{
	struct xfer *x = arg;
	struct hl_buf *bufs[48];

	if (hl_buf_thread_attach() < 0)
		__atomic_fetch_add(&x->failed, 1, __ATOMIC_RELAXED);
	for (unsigned it = 0; it < XFER_ITERS; it++) {
		unsigned n = 1 + it % 48;
		if (hl_buf_alloc_bulk(x->bp, bufs, n) < 0) {
			sched_yield();
			continue;
		}
		/* free some here, into this thread's cache, pass the rest on */
		unsigned keep = n / 3;
		for (unsigned i = 0; i < n; i++)
			bufs[i]->udata = it;
		hl_buf_free_bulk(bufs, keep);
		unsigned off = keep;
		while (off < n) {
			unsigned put = hl_ring_enqueue_burst(x->r, (void *const *)(bufs + off), n - off);
			if (put == 0)
				sched_yield();
			off += put;
		}
		x->sent += n - keep;
	}
	void *end = NULL;
	while (hl_ring_enqueue_bulk(x->r, &end, 1) == 0)
		sched_yield();
	pthread_barrier_wait(&x->done);
	pthread_barrier_wait(&x->checked);
	return NULL; /* thread exit flushes the cache */
}

/* Frees what the other thread allocated, through its own cache. */
static void *free_side(void *arg)
{
	struct xfer *x = arg;
	void *objs[32];
	bool end = false;
	unsigned burst = 1;

	if (hl_buf_thread_attach() < 0)
		__atomic_fetch_add(&x->failed, 1, __ATOMIC_RELAXED);
	while (!end) {
		unsigned got = hl_ring_dequeue_burst(x->r, objs, burst);
		burst = burst % 32 + 1;
		if (got == 0) {
			sched_yield();
			continue;
		}
		if (objs[got - 1] == NULL) {
			end = true;
			got--;
		}
		hl_buf_free_bulk((struct hl_buf **)objs, got);
	}
	pthread_barrier_wait(&x->done);
	pthread_barrier_wait(&x->checked);
	hl_buf_thread_detach();
	return NULL;
}

BUF_TEST(in_use_exact_with_two_thread_caches, 16)
{
	struct xfer x = {0};
	pthread_t a, f;

	REQUIRE_OK(hl_bufpool_create(p, "xfer", 512, 2048, 32, &x.bp));
	REQUIRE_OK(hl_ring_create("xfer", 1024, HL_RING_F_SP_ENQ | HL_RING_F_SC_DEQ, &x.r));
	pthread_barrier_init(&x.done, NULL, 3);
	pthread_barrier_init(&x.checked, NULL, 3);
	REQUIRE(pthread_create(&a, NULL, alloc_side, &x) == 0);
	REQUIRE(pthread_create(&f, NULL, free_side, &x) == 0);
	pthread_barrier_wait(&x.done);

	/* both threads idle, caches full of free buffers: still none in use */
	struct hl_bufpool_stats st = stats(x.bp);
	CHECK_EQ(x.failed, 0);
	CHECK(x.sent > 0);
	CHECK(st.in_caches > 0);
	CHECK_EQ(st.in_use, 0);
	CHECK_EQ(st.in_ring + st.in_caches, 512);
	CHECK_EQ(st.double_free, 0);

	pthread_barrier_wait(&x.checked);
	pthread_join(a, NULL); /* exits without detaching: the exit hook flushes */
	pthread_join(f, NULL);
	st = stats(x.bp);
	CHECK_EQ(st.in_caches, 0);
	CHECK_EQ(st.in_ring, 512);
	CHECK_EQ(hl_bufpool_in_use(x.bp), 0);

	/* this thread's cache: buffers it holds are in use, cached ones free */
	REQUIRE(hl_buf_thread_attach() >= 0);
	struct hl_buf *b[10];
	REQUIRE_OK(hl_buf_alloc_bulk(x.bp, b, 10));
	CHECK_EQ(hl_bufpool_in_use(x.bp), 10);
	CHECK(stats(x.bp).in_caches > 0); /* the refill took more than asked */
	hl_buf_free_bulk(b, 10);
	CHECK_EQ(hl_bufpool_in_use(x.bp), 0);
	hl_buf_thread_detach();
	CHECK_EQ(stats(x.bp).in_caches, 0);

	pthread_barrier_destroy(&x.done);
	pthread_barrier_destroy(&x.checked);
	hl_ring_free(x.r);
	hl_bufpool_free(x.bp);
}
