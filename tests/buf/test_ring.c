/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Rings: full and empty, bulk all-or-nothing, the 2^32 index wrap, rings in
 * caller (and pool) memory, and SPSC / MPMC threads passing sequence numbers
 * where every value must arrive exactly once and each producer's values in
 * order.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include <hugelink/pool.h>
#include <hugelink/ring.h>

#include "hl_test.h"

#define V(x) ((void *)(uintptr_t)(x))
#define U(p) ((uint64_t)(uintptr_t)(p))

HL_TEST(init_refuses_bad_input)
{
	static uint8_t mem[4096] __attribute__((aligned(64)));
	struct hl_ring *r;

	CHECK_EQ(hl_ring_memsize(0), 0);
	CHECK_EQ(hl_ring_memsize(12), 0);
	CHECK(hl_ring_memsize(16) >= sizeof(struct hl_ring) + 16 * sizeof(void *));
	CHECK_EQ(hl_ring_init(mem, sizeof(mem), 12, 0), -EINVAL);
	CHECK_STR_HAS(hl_last_error(), "count");
	CHECK_EQ(hl_ring_init(mem + 8, sizeof(mem) - 8, 16, 0), -EINVAL);
	CHECK_STR_HAS(hl_last_error(), "aligned");
	CHECK_EQ(hl_ring_init(mem, hl_ring_memsize(16) - 1, 16, 0), -EINVAL);
	CHECK_STR_HAS(hl_last_error(), "len");
	CHECK_EQ(hl_ring_init(mem, sizeof(mem), 16, 0x80), -EINVAL);
	CHECK_STR_HAS(hl_last_error(), "flags");
	CHECK_EQ(hl_ring_create("r", 100, 0, &r), -EINVAL);
	CHECK_EQ(hl_ring_create("a-name-that-is-much-too-long-for-a-ring", 64, 0, &r), -EINVAL);
}

static void full_empty(unsigned flags)
{
	struct hl_ring *r;
	void *out[16];
	void *in[16];

	for (unsigned i = 0; i < 16; i++)
		in[i] = V(100 + i);
	REQUIRE_OK(hl_ring_create("fe", 8, flags, &r));
	CHECK_EQ(hl_ring_capacity(r), 8);
	CHECK_EQ(hl_ring_count(r), 0);
	CHECK_EQ(hl_ring_free_count(r), 8);
	CHECK_EQ(hl_ring_dequeue_burst(r, out, 4), 0);
	CHECK_EQ(hl_ring_dequeue_bulk(r, out, 1), 0);

	CHECK_EQ(hl_ring_enqueue_bulk(r, in, 6), 6);
	CHECK_EQ(hl_ring_enqueue_bulk(r, in + 6, 3), 0); /* 2 free: none taken */
	CHECK_EQ(hl_ring_count(r), 6);
	CHECK_EQ(hl_ring_enqueue_burst(r, in + 6, 3), 2); /* as many as fit */
	CHECK_EQ(hl_ring_count(r), 8);
	CHECK_EQ(hl_ring_free_count(r), 0);
	CHECK_EQ(hl_ring_enqueue_burst(r, in + 8, 1), 0);

	CHECK_EQ(hl_ring_dequeue_bulk(r, out, 9), 0); /* only 8: none taken */
	CHECK_EQ(hl_ring_count(r), 8);
	CHECK_EQ(hl_ring_dequeue_bulk(r, out, 3), 3);
	CHECK_EQ(hl_ring_dequeue_burst(r, out + 3, 16), 5);
	for (unsigned i = 0; i < 8; i++)
		CHECK_EQ(U(out[i]), 100 + i);
	CHECK_EQ(hl_ring_count(r), 0);
	CHECK_EQ(hl_ring_dequeue_burst(r, out, 16), 0);
	hl_ring_free(r);
}

HL_TEST(full_and_empty_mpmc)
{
	full_empty(0);
}

HL_TEST(full_and_empty_spsc)
{
	full_empty(HL_RING_F_SP_ENQ | HL_RING_F_SC_DEQ);
}

/* FIFO through the 2^32 wrap of the indices, with bursts that also wrap the
 * slot array at varying places. */
static void wrap(unsigned flags)
{
	const uint32_t starts[] = {UINT32_MAX - 5, UINT32_MAX - 100, UINT32_MAX};
	struct hl_ring *r;

	REQUIRE_OK(hl_ring_create("wrap", 32, flags, &r));
	for (unsigned s = 0; s < HL_ARRAY_SIZE(starts); s++) {
		uint64_t next_in = 0, next_out = 0;
		void *buf[32];

		hl_ring_reset(r, starts[s]);
		CHECK_EQ(hl_ring_count(r), 0);
		CHECK_EQ(hl_ring_free_count(r), 32);
		for (unsigned it = 0; it < 200; it++) {
			unsigned n = 1 + (it * 7) % 31;
			for (unsigned i = 0; i < n; i++)
				buf[i] = V(next_in + i);
			unsigned put = hl_ring_enqueue_burst(r, buf, n);
			next_in += put;
			CHECK_EQ(hl_ring_count(r), next_in - next_out);
			unsigned m = 1 + (it * 5) % 29;
			unsigned got = hl_ring_dequeue_burst(r, buf, m);
			for (unsigned i = 0; i < got; i++)
				CHECK_EQ(U(buf[i]), next_out + i);
			next_out += got;
			CHECK(hl_ring_count(r) <= 32);
			CHECK_EQ(hl_ring_count(r), next_in - next_out);
		}
		/* fill completely across the wrap, then drain */
		uint64_t have = next_in - next_out;
		for (unsigned i = 0; i < 32 - have; i++)
			buf[i] = V(next_in + i);
		CHECK_EQ(hl_ring_enqueue_bulk(r, buf, (unsigned)(32 - have)), 32 - have);
		next_in += 32 - have;
		CHECK_EQ(hl_ring_free_count(r), 0);
		CHECK_EQ(hl_ring_enqueue_bulk(r, buf, 1), 0);
		CHECK_EQ(hl_ring_dequeue_bulk(r, buf, 32), 32);
		for (unsigned i = 0; i < 32; i++)
			CHECK_EQ(U(buf[i]), next_out + i);
		next_out += 32;
		/* the indices really went through 2^32 */
		CHECK(r->prod.tail < starts[s] || starts[s] == 0);
		CHECK_EQ((uint32_t)(r->prod.tail - starts[s]), (uint32_t)next_in);
		CHECK(next_in > 200);
	}
	hl_ring_free(r);
}

HL_TEST(index_wraparound_mpmc)
{
	wrap(0);
}

HL_TEST(index_wraparound_spsc)
{
	wrap(HL_RING_F_SP_ENQ | HL_RING_F_SC_DEQ);
}

HL_TEST(ring_in_caller_memory)
{
	size_t len = hl_ring_memsize(64);
	uint8_t *mem = aligned_alloc(64, HL_ALIGN_UP(len, (size_t)64));
	void *buf[64];

	REQUIRE(mem != NULL);
	memset(mem, 0xa5, len);
	CHECK(hl_ring_attach(mem, len) == NULL); /* garbage is not a ring */
	REQUIRE_OK(hl_ring_init(mem, len, 64, HL_RING_F_SP_ENQ));
	struct hl_ring *r = hl_ring_attach(mem, len);
	REQUIRE(r == (struct hl_ring *)mem);
	CHECK(hl_ring_attach(mem, len - 1) == NULL); /* does not fit */
	/* the slots start right after the header, inside the caller's memory */
	CHECK((uint8_t *)&r->slots[63] + sizeof(void *) <= mem + len);
	for (unsigned i = 0; i < 64; i++)
		buf[i] = V(i * 3);
	CHECK_EQ(hl_ring_enqueue_bulk(r, buf, 64), 64);
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(hl_ring_dequeue_bulk(r, buf, 64), 64);
	for (unsigned i = 0; i < 64; i++)
		CHECK_EQ(U(buf[i]), i * 3);
	/* a corrupted size is refused rather than trusted */
	r->size = 1u << 20;
	CHECK(hl_ring_attach(mem, len) == NULL);
	free(mem);
}

/* A ring in a pool zone, written through one mapping and read through a
 * second (peer) mapping of the same pool: no pointers in the header. */
HL_TEST(ring_in_pool_zone_seen_by_peer)
{
	char name[32];
	struct hl_pool *p, *peer;
	struct hl_pool_info info;
	uint64_t off, zlen;

	snprintf(name, sizeof(name), "t-ring-%d", (int)getpid());
	struct hl_pool_params prm = {.name = name, .size = 4ull << 20, .run_dir = hl_test_tmpdir(),
				     .flags = HL_POOL_F_NO_HUGE};
	REQUIRE_OK(hl_pool_create(&prm, &p));
	hl_pool_get_info(p, &info);
	size_t len = hl_ring_memsize(128);
	REQUIRE_OK(hl_pool_zone_reserve(p, "ring", len, 64, 0, &off));
	REQUIRE_OK(hl_ring_init(hl_pool_off2va(p, off), len, 128, 0));
	struct hl_ring *r = hl_ring_attach(hl_pool_off2va(p, off), len);
	REQUIRE(r != NULL);
	for (uint64_t i = 0; i < 100; i++) {
		void *v = V(0x1000 + i);
		CHECK_EQ(hl_ring_enqueue_bulk(r, &v, 1), 1);
	}

	REQUIRE_OK(hl_pool_attach(info.record_path, 0, &peer));
	REQUIRE_OK(hl_pool_zone_lookup(peer, "ring", &off, &zlen));
	struct hl_ring *pr = hl_ring_attach(hl_pool_off2va(peer, off), zlen);
	REQUIRE(pr != NULL);
	CHECK(pr != r); /* a different mapping */
	CHECK_EQ(hl_ring_count(pr), 100);
	void *out[128];
	CHECK_EQ(hl_ring_dequeue_burst(pr, out, 128), 100);
	for (unsigned i = 0; i < 100; i++)
		CHECK_EQ(U(out[i]), 0x1000 + i);
	CHECK_EQ(hl_ring_count(r), 0); /* the owner's view agrees */
	hl_pool_detach(peer);
	REQUIRE_OK(hl_pool_destroy(p));
}

/* ---- threads ---------------------------------------------------------------- */

#define PER_PRODUCER 1000000u
#define NPROD_MAX 2

struct run {
	struct hl_ring *r;
	unsigned nprod;
	unsigned ncons;
	uint64_t total;
	uint64_t consumed; /* atomic */
	uint8_t *seen[NPROD_MAX];
	uint64_t errors; /* atomic: out-of-order or unknown values */
	unsigned prod_done; /* atomic: producers that have enqueued everything */
};

struct worker {
	struct run *run;
	unsigned id;
	uint64_t got;
};

/* value = producer << 32 | (seq + 1): never 0, so a stale NULL slot shows */
static void *producer(void *arg)
{
	struct worker *w = arg;
	struct run *run = w->run;
	uint64_t seq = 0;
	unsigned burst = 1 + w->id;
	void *buf[32];

	while (seq < PER_PRODUCER) {
		unsigned n = burst;
		if (n > PER_PRODUCER - seq)
			n = (unsigned)(PER_PRODUCER - seq);
		for (unsigned i = 0; i < n; i++)
			buf[i] = V(((uint64_t)w->id << 32) | (seq + i + 1));
		unsigned put = (seq & 1) ? hl_ring_enqueue_bulk(run->r, buf, n)
					 : hl_ring_enqueue_burst(run->r, buf, n);
		if (put == 0)
			sched_yield();
		seq += put;
		burst = burst % 31 + 1;
	}
	__atomic_fetch_add(&run->prod_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *consumer(void *arg)
{
	struct worker *w = arg;
	struct run *run = w->run;
	uint64_t last[NPROD_MAX] = {0};
	unsigned burst = 3 + w->id;
	void *buf[32];

	for (;;) {
		/* read before dequeueing: once all producers are done, an empty
		 * ring means everything published has been taken (a lost value
		 * then shows as a count mismatch instead of a hang) */
		unsigned done = __atomic_load_n(&run->prod_done, __ATOMIC_ACQUIRE);
		unsigned got = (burst & 1) ? hl_ring_dequeue_bulk(run->r, buf, burst)
					   : hl_ring_dequeue_burst(run->r, buf, burst);
		burst = burst % 32 + 1;
		if (got == 0) {
			if (done == run->nprod && hl_ring_count(run->r) == 0)
				break;
			sched_yield();
			continue;
		}
		for (unsigned i = 0; i < got; i++) {
			uint64_t v = U(buf[i]);
			uint64_t p = v >> 32, seq = v & 0xffffffffu;
			if (p >= run->nprod || seq == 0 || seq > PER_PRODUCER || seq <= last[p]) {
				__atomic_fetch_add(&run->errors, 1, __ATOMIC_RELAXED);
				continue;
			}
			last[p] = seq; /* per consumer, each producer's values rise */
			__atomic_fetch_add(&run->seen[p][seq - 1], 1, __ATOMIC_RELAXED);
		}
		w->got += got;
		__atomic_fetch_add(&run->consumed, got, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void threaded(unsigned nprod, unsigned ncons, unsigned flags, unsigned count)
{
	struct run run = {.nprod = nprod, .ncons = ncons, .total = (uint64_t)nprod * PER_PRODUCER};
	struct worker pw[NPROD_MAX], cw[2];
	pthread_t pt[NPROD_MAX], ct[2];

	REQUIRE_OK(hl_ring_create("thr", count, flags, &run.r));
	for (unsigned p = 0; p < nprod; p++) {
		run.seen[p] = calloc(PER_PRODUCER, 1);
		REQUIRE(run.seen[p] != NULL);
	}
	for (unsigned i = 0; i < ncons; i++) {
		cw[i] = (struct worker){.run = &run, .id = i};
		REQUIRE(pthread_create(&ct[i], NULL, consumer, &cw[i]) == 0);
	}
	for (unsigned i = 0; i < nprod; i++) {
		pw[i] = (struct worker){.run = &run, .id = i};
		REQUIRE(pthread_create(&pt[i], NULL, producer, &pw[i]) == 0);
	}
	for (unsigned i = 0; i < nprod; i++)
		pthread_join(pt[i], NULL);
	for (unsigned i = 0; i < ncons; i++)
		pthread_join(ct[i], NULL);

	CHECK_EQ(run.errors, 0);
	CHECK_EQ(run.consumed, run.total);
	uint64_t bad = 0, sum = 0;
	for (unsigned p = 0; p < nprod; p++) {
		for (unsigned s = 0; s < PER_PRODUCER; s++)
			bad += run.seen[p][s] != 1;
		free(run.seen[p]);
	}
	for (unsigned i = 0; i < ncons; i++)
		sum += cw[i].got;
	CHECK_EQ(bad, 0); /* every value exactly once */
	CHECK_EQ(sum, run.total);
	if (ncons == 2) /* both consumers took part, or the test proves little */
		CHECK(cw[0].got > 0 && cw[1].got > 0);
	CHECK_EQ(hl_ring_count(run.r), 0);
	hl_ring_free(run.r);
}

HL_TEST(spsc_threads_in_order)
{
	threaded(1, 1, HL_RING_F_SP_ENQ | HL_RING_F_SC_DEQ, 256);
}

HL_TEST(mpmc_two_producers_two_consumers)
{
	threaded(2, 2, 0, 64);
}
