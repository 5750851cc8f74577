/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Split virtqueues end to end: hugelink's driver side and device side in one
 * process, over "guest memory" made of separate malloc'd chunks at fake GPAs.
 * Then a hostile driver: every malformed chain must be refused, counted and
 * returned with len 0, and random garbage must never crash or hang the walk.
 */
#include <errno.h>
#include <stdlib.h>

#include <hugelink/guest_mem.h>
#include <hugelink/vring_driver.h>
#include <hugelink/vring_split.h>

#include "guest_regions.h"
#include "hl_test.h"

#define IND_OFF 0x4000u   /* indirect tables inside A */
#define IND_MAX 8u
#define MAX_IOV 64

#define F_EVENT HL_VIRTIO_BIT(HL_VIRTIO_RING_F_EVENT_IDX)
#define F_INDIRECT HL_VIRTIO_BIT(HL_VIRTIO_RING_F_INDIRECT_DESC)

struct fix {
	char *a, *b, *c;
	struct hl_guest_mem mem;
	struct hl_vring_driver drv;
	struct hl_vring dev;
	unsigned num;
};

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* big_region: also map 8 GiB at GPA_D onto a host address nothing dereferences */
static int setup(struct fix *f, unsigned num, uint64_t features, bool big_region)
{
	int rc;

	memset(f, 0, sizeof(*f));
	f->num = num;
	rc = guest_regions_make(&f->a, &f->b, &f->c, &f->mem, big_region);
	if (rc < 0)
		return rc;
	if (hl_vring_size(num) > IND_OFF || IND_OFF + (uint64_t)num * IND_MAX * 16 > KB64)
		return -E2BIG;
	rc = hl_vring_driver_init(&f->drv, f->a, num, features);
	if (rc < 0)
		return rc;
	if (features & F_INDIRECT) {
		rc = hl_vring_driver_set_indirect(&f->drv, f->a + IND_OFF, GPA_A + IND_OFF, IND_MAX);
		if (rc < 0)
			return rc;
	}
	return hl_vring_init_gpa(&f->dev, &f->mem, num, GPA_A, GPA_A + hl_vring_avail_offset(num),
				 GPA_A + hl_vring_used_offset(num), features);
}

static void teardown(struct fix *f)
{
	hl_vring_driver_fini(&f->drv);
	guest_regions_free(f->a, f->b, f->c, &f->mem);
}

static uint64_t refused_total(const struct hl_vring_stats *s)
{
	return s->bad_desc_index + s->loop + s->bad_indirect + s->bad_addr + s->len_overflow +
	       s->bad_order + s->too_many_iov;
}

/*
 * The device's loop: take every available chain; for a good one, check the
 * readable bytes read as `out_byte` and fill every writable byte with
 * `in_byte`, returning the writable length; a refused one goes back with 0.
 * Returns the number of chains refused.
 */
static unsigned device_service(struct fix *f, uint8_t out_byte, uint8_t in_byte, bool *data_ok)
{
	struct hl_iov iov[MAX_IOV];
	struct hl_chain ch;
	unsigned refused = 0, n = hl_vring_avail_count(&f->dev);

	while (n--) {
		uint16_t head = hl_vring_pop_avail(&f->dev);
		if (hl_vring_walk(&f->dev, &f->mem, head, iov, MAX_IOV, &ch) < 0) {
			hl_vring_put_used(&f->dev, head, 0);
			refused++;
			continue;
		}
		for (unsigned i = 0; i < ch.nr_out; i++)
			for (uint32_t k = 0; k < iov[i].len; k++)
				if (((uint8_t *)iov[i].base)[k] != out_byte && data_ok)
					*data_ok = false;
		for (unsigned i = ch.nr_out; i < ch.nr_out + ch.nr_in; i++)
			memset(iov[i].base, in_byte, iov[i].len);
		hl_vring_put_used(&f->dev, head, ch.in_len);
	}
	hl_vring_flush_used(&f->dev);
	return refused;
}

static void end_to_end(uint64_t features)
{
	struct fix f;
	uint32_t len = 0;
	bool ok = true;

	REQUIRE_OK(setup(&f, 16, features, false));
	memset(f.b, 0x5a, 1000);
	struct hl_drv_buf bufs[3] = {
		{.addr = GPA_B, .len = 1000},            /* readable */
		{.addr = GPA_C, .len = 300},             /* writable */
		{.addr = GPA_C + 0x1000, .len = 200},    /* writable */
	};
	int tok1, tok2;
	REQUIRE_OK(hl_vring_driver_add(&f.drv, bufs, 1, 2, &tok1));
	CHECK(hl_vring_driver_kick_needed(&f.drv));
	CHECK(!hl_vring_driver_kick_needed(&f.drv)); /* nothing new */
	REQUIRE_OK(hl_vring_driver_add(&f.drv, &bufs[1], 0, 1, &tok2));
	CHECK_EQ(hl_vring_avail_count(&f.dev), 2);
	CHECK_EQ(device_service(&f, 0x5a, 0xc3, &ok), 0);
	CHECK(ok);
	CHECK(hl_vring_need_notify(&f.dev));
	CHECK(!hl_vring_need_notify(&f.dev)); /* nothing new since */
	CHECK(hl_vring_driver_get_used(&f.drv, &len) == &tok1);
	CHECK_EQ(len, 500);
	CHECK(hl_vring_driver_get_used(&f.drv, &len) == &tok2);
	CHECK_EQ(len, 300);
	CHECK(hl_vring_driver_get_used(&f.drv, &len) == NULL);
	CHECK_EQ((uint8_t)f.c[0], 0xc3);
	CHECK_EQ((uint8_t)f.c[299], 0xc3);
	CHECK_EQ((uint8_t)f.c[300], 0);
	CHECK_EQ((uint8_t)f.c[0x1000 + 199], 0xc3);
	CHECK_EQ(f.drv.num_free, 16);
	CHECK_EQ(f.dev.stats.chains, 2);
	CHECK_EQ(refused_total(&f.dev.stats), 0);
	teardown(&f);
}

HL_TEST(end_to_end_plain)
{
	end_to_end(0);
}

HL_TEST(end_to_end_event_idx)
{
	end_to_end(F_EVENT);
}

HL_TEST(end_to_end_indirect)
{
	end_to_end(F_INDIRECT | F_EVENT);
}

HL_TEST(indirect_chain_shape)
{
	struct fix f;
	struct hl_iov iov[MAX_IOV];
	struct hl_chain ch;
	int tok;

	REQUIRE_OK(setup(&f, 16, F_INDIRECT, false));
	struct hl_drv_buf bufs[4] = {
		{GPA_B, 10}, {GPA_B + 100, 20}, {GPA_C, 30}, {GPA_C + 100, 40},
	};
	REQUIRE_OK(hl_vring_driver_add(&f.drv, bufs, 2, 2, &tok));
	CHECK_EQ(f.drv.num_free, 15); /* one ring descriptor for four buffers */
	CHECK_EQ(f.drv.desc[0].flags, HL_VRING_DESC_F_INDIRECT);
	REQUIRE(hl_vring_avail_count(&f.dev) == 1);
	uint16_t head = hl_vring_pop_avail(&f.dev);
	REQUIRE_OK(hl_vring_walk(&f.dev, &f.mem, head, iov, MAX_IOV, &ch));
	CHECK_EQ(ch.ndesc, 5);
	CHECK_EQ(ch.nr_out, 2);
	CHECK_EQ(ch.nr_in, 2);
	CHECK_EQ(ch.out_len, 30);
	CHECK_EQ(ch.in_len, 70);
	CHECK(iov[0].base == f.b && iov[1].base == f.b + 100);
	CHECK(iov[2].base == f.c && iov[3].base == f.c + 100);
	CHECK_EQ(iov[3].len, 40);
	teardown(&f);
}

HL_TEST(chain_crosses_region_boundary)
{
	struct fix f;
	struct hl_iov iov[MAX_IOV];
	struct hl_chain ch;
	int tok;

	REQUIRE_OK(setup(&f, 16, 0, false));
	/* A and B are adjacent in GPA: one descriptor, two host pieces */
	struct hl_drv_buf bufs[2] = {{GPA_B - 100, 300}, {GPA_B + KB64 - 50, 50}};
	REQUIRE_OK(hl_vring_driver_add(&f.drv, bufs, 0, 2, &tok));
	REQUIRE(hl_vring_avail_count(&f.dev) == 1);
	REQUIRE_OK(hl_vring_walk(&f.dev, &f.mem, hl_vring_pop_avail(&f.dev), iov, MAX_IOV, &ch));
	CHECK_EQ(ch.nr_in, 3);
	CHECK(iov[0].base == f.a + KB64 - 100);
	CHECK_EQ(iov[0].len, 100);
	CHECK(iov[1].base == f.b);
	CHECK_EQ(iov[1].len, 200);
	CHECK(iov[2].base == f.b + KB64 - 50);
	CHECK_EQ(ch.in_len, 350);
	/* the same crossing, but with room for only one iov */
	f.dev.last_avail_idx = 0;
	REQUIRE(hl_vring_avail_count(&f.dev) == 1);
	CHECK_EQ(hl_vring_walk(&f.dev, &f.mem, hl_vring_pop_avail(&f.dev), iov, 1, &ch), -ENOBUFS);
	CHECK_EQ(f.dev.stats.too_many_iov, 1);
	teardown(&f);
}

/* Walk the one chain just added; returns the walk's result. */
static int walk_next(struct fix *f, struct hl_iov *iov, unsigned max_iov, struct hl_chain *ch)
{
	if (hl_vring_avail_count(&f->dev) != 1)
		return -EAGAIN;
	return hl_vring_walk(&f->dev, &f->mem, hl_vring_pop_avail(&f->dev), iov, max_iov, ch);
}

HL_TEST(single_descriptor_shapes)
{
	struct fix f;
	struct hl_iov iov[MAX_IOV];
	struct hl_chain ch;
	int tok;

	REQUIRE_OK(setup(&f, 16, 0, false));
	/* across a page inside one region: one host piece, readable */
	struct hl_drv_buf across = {GPA_C + 4096 - 100, 300};
	REQUIRE_OK(hl_vring_driver_add(&f.drv, &across, 1, 0, &tok));
	REQUIRE_OK(walk_next(&f, iov, MAX_IOV, &ch));
	CHECK(ch.nr_out == 1 && ch.nr_in == 0 && ch.out_len == 300 && ch.in_len == 0);
	CHECK(ch.ndesc == 1 && iov[0].base == f.c + 4096 - 100 && iov[0].len == 300);
	/* the same, writable, and with exactly one iov of room */
	REQUIRE_OK(hl_vring_driver_add(&f.drv, &across, 0, 1, &tok));
	REQUIRE_OK(walk_next(&f, iov, 1, &ch));
	CHECK(ch.nr_out == 0 && ch.nr_in == 1 && ch.out_len == 0 && ch.in_len == 300);
	/* longer than a page: still one piece */
	struct hl_drv_buf longer = {GPA_C + 10, 3 * 4096};
	REQUIRE_OK(hl_vring_driver_add(&f.drv, &longer, 0, 1, &tok));
	REQUIRE_OK(walk_next(&f, iov, MAX_IOV, &ch));
	CHECK(ch.nr_in == 1 && iov[0].base == f.c + 10 && iov[0].len == 3 * 4096);
	/* A into B (adjacent in GPA, apart in the host): two pieces */
	struct hl_drv_buf split = {GPA_B - 100, 300};
	REQUIRE_OK(hl_vring_driver_add(&f.drv, &split, 0, 1, &tok));
	REQUIRE_OK(walk_next(&f, iov, MAX_IOV, &ch));
	CHECK(ch.nr_in == 2 && iov[0].base == f.a + KB64 - 100 && iov[1].base == f.b);
	/* ... refused with room for one */
	REQUIRE_OK(hl_vring_driver_add(&f.drv, &split, 0, 1, &tok));
	CHECK_EQ(walk_next(&f, iov, 1, &ch), -ENOBUFS);
	/* from C's last page into the hole after it; and wholly in a hole */
	struct hl_drv_buf out_end = {GPA_C + KB64 - 10, 20}, hole = {GPA_B + KB64 + 4096, 64};
	REQUIRE_OK(hl_vring_driver_add(&f.drv, &out_end, 0, 1, &tok));
	CHECK_EQ(walk_next(&f, iov, MAX_IOV, &ch), -EFAULT);
	REQUIRE_OK(hl_vring_driver_add(&f.drv, &hole, 1, 0, &tok));
	CHECK_EQ(walk_next(&f, iov, MAX_IOV, &ch), -EFAULT);
	CHECK_EQ(f.dev.stats.bad_addr, 2);
	CHECK_EQ(f.dev.stats.too_many_iov, 1);
	CHECK_EQ(f.dev.stats.chains, 4);
	teardown(&f);
}

static void wraparound(uint64_t features)
{
	struct fix f;
	uint32_t len;
	unsigned kicks = 0, irqs = 0;
	static int toks[8];

	REQUIRE_OK(setup(&f, 8, features, false));
	hl_vring_set_notify(&f.dev, true);
	for (unsigned round = 0; round < 70000 / 3; round++) {
		/* 3 per round so the indices wrap past 65535 at odd offsets */
		for (unsigned k = 0; k < 3; k++) {
			struct hl_drv_buf b[2] = {{GPA_B + 64 * k, 16}, {GPA_C + 64 * k, 32}};
			REQUIRE_OK(hl_vring_driver_add(&f.drv, b, 1, 1, &toks[k]));
		}
		kicks += hl_vring_driver_kick_needed(&f.drv);
		REQUIRE(device_service(&f, 0, 0, NULL) == 0);
		hl_vring_set_notify(&f.dev, true);
		irqs += hl_vring_need_notify(&f.dev);
		for (unsigned k = 0; k < 3; k++) {
			REQUIRE(hl_vring_driver_get_used(&f.drv, &len) == &toks[k]);
			REQUIRE(len == 32);
		}
		REQUIRE(hl_vring_driver_get_used(&f.drv, &len) == NULL);
	}
	CHECK(f.dev.last_used_idx == (uint16_t)(70000 / 3 * 3));
	CHECK(f.dev.used->idx == f.dev.last_used_idx);
	CHECK_EQ(f.dev.stats.chains, 70000 / 3 * 3);
	/* every round had new work and the other side asked for it each time */
	CHECK_EQ(kicks, 70000 / 3);
	CHECK_EQ(irqs, 70000 / 3);
	teardown(&f);
}

HL_TEST(wraparound_plain)
{
	wraparound(0);
}

HL_TEST(wraparound_event_idx)
{
	wraparound(F_EVENT);
}

HL_TEST(wraparound_indirect)
{
	wraparound(F_EVENT | F_INDIRECT);
}

HL_TEST(notify_suppression_event_idx)
{
	struct fix f;
	int t[4];
	struct hl_drv_buf b = {GPA_C, 8};
	uint32_t len;

	REQUIRE_OK(setup(&f, 16, F_EVENT, false));
	/* device wants a kick for avail slot 0 */
	hl_vring_set_notify(&f.dev, true);
	REQUIRE_OK(hl_vring_driver_add(&f.drv, &b, 0, 1, &t[0]));
	CHECK(hl_vring_driver_kick_needed(&f.drv));
	/* device is busy and did not re-arm: no kick for the next one */
	REQUIRE_OK(hl_vring_driver_add(&f.drv, &b, 0, 1, &t[1]));
	CHECK(!hl_vring_driver_kick_needed(&f.drv));
	CHECK_EQ(device_service(&f, 0, 1, NULL), 0);
	/* driver asked (used_event = 0): interrupt once for both */
	CHECK(hl_vring_need_notify(&f.dev));
	/* driver has not consumed yet, so used_event is stale: no more interrupts */
	REQUIRE_OK(hl_vring_driver_add(&f.drv, &b, 0, 1, &t[2]));
	hl_vring_set_notify(&f.dev, true); /* avail_event = 2 */
	CHECK(hl_vring_driver_kick_needed(&f.drv));
	CHECK_EQ(device_service(&f, 0, 1, NULL), 0);
	CHECK(!hl_vring_need_notify(&f.dev));
	/* consuming moves used_event along, so the next completion interrupts */
	CHECK(hl_vring_driver_get_used(&f.drv, &len) == &t[0]);
	CHECK(hl_vring_driver_get_used(&f.drv, &len) == &t[1]);
	CHECK(hl_vring_driver_get_used(&f.drv, &len) == &t[2]);
	REQUIRE_OK(hl_vring_driver_add(&f.drv, &b, 0, 1, &t[3]));
	CHECK(!hl_vring_driver_kick_needed(&f.drv)); /* avail_event 2 already passed */
	CHECK_EQ(device_service(&f, 0, 1, NULL), 0);
	CHECK(hl_vring_need_notify(&f.dev));
	/* driver turns interrupts off: used_event left behind, so none */
	CHECK(hl_vring_driver_get_used(&f.drv, &len) == &t[3]);
	hl_vring_driver_set_interrupt(&f.drv, false);
	REQUIRE_OK(hl_vring_driver_add(&f.drv, &b, 0, 1, &t[0]));
	CHECK_EQ(device_service(&f, 0, 1, NULL), 0);
	CHECK(hl_vring_need_notify(&f.dev)); /* used_event was 4 = this slot */
	REQUIRE_OK(hl_vring_driver_add(&f.drv, &b, 0, 1, &t[1]));
	CHECK_EQ(device_service(&f, 0, 1, NULL), 0);
	CHECK(!hl_vring_need_notify(&f.dev));
	teardown(&f);
}

HL_TEST(notify_suppression_flags)
{
	struct fix f;
	int t[2];
	struct hl_drv_buf b = {GPA_C, 8};
	uint32_t len;

	REQUIRE_OK(setup(&f, 16, 0, false));
	hl_vring_set_notify(&f.dev, false);
	CHECK_EQ(f.dev.used->flags, HL_VRING_USED_F_NO_NOTIFY);
	REQUIRE_OK(hl_vring_driver_add(&f.drv, &b, 0, 1, &t[0]));
	CHECK(!hl_vring_driver_kick_needed(&f.drv));
	hl_vring_set_notify(&f.dev, true);
	REQUIRE_OK(hl_vring_driver_add(&f.drv, &b, 0, 1, &t[1]));
	CHECK(hl_vring_driver_kick_needed(&f.drv));
	hl_vring_driver_set_interrupt(&f.drv, false);
	CHECK_EQ(device_service(&f, 0, 1, NULL), 0);
	CHECK(!hl_vring_need_notify(&f.dev));
	CHECK(hl_vring_driver_get_used(&f.drv, &len) == &t[0]);
	CHECK(hl_vring_driver_get_used(&f.drv, &len) == &t[1]);
	hl_vring_driver_set_interrupt(&f.drv, true);
	REQUIRE_OK(hl_vring_driver_add(&f.drv, &b, 0, 1, &t[0]));
	CHECK_EQ(device_service(&f, 0, 1, NULL), 0);
	CHECK(hl_vring_need_notify(&f.dev));
	teardown(&f);
}

HL_TEST(driver_full_and_bad_args)
{
	struct fix f;
	int t;
	struct hl_drv_buf b[5] = {{GPA_C, 8}, {GPA_C, 8}, {GPA_C, 8}, {GPA_C, 8}, {GPA_C, 8}};

	REQUIRE_OK(setup(&f, 4, 0, false));
	CHECK_EQ(hl_vring_driver_add(&f.drv, b, 3, 2, &t), -ENOSPC);
	CHECK_EQ(hl_vring_driver_add(&f.drv, b, 1, 0, NULL), -EINVAL);
	CHECK_EQ(hl_vring_driver_add(&f.drv, b, 0, 0, &t), -EINVAL);
	REQUIRE_OK(hl_vring_driver_add(&f.drv, b, 2, 2, &t));
	CHECK_EQ(hl_vring_driver_add(&f.drv, b, 1, 0, &t), -ENOSPC);
	teardown(&f);
	struct hl_vring vr;
	char ring[4096] __attribute__((aligned(16)));
	CHECK_EQ(hl_vring_init(&vr, 3, ring, ring + 2048, ring + 3000, 0), -EINVAL);
	CHECK_EQ(hl_vring_init(&vr, 65536, ring, ring + 2048, ring + 3000, 0), -EINVAL);
	CHECK_EQ(hl_vring_init(&vr, 4, ring + 8, ring + 2048, ring + 3000, 0), -EINVAL);
	CHECK_EQ(hl_vring_init(&vr, 4, ring, ring + 2049, ring + 3000, 0), -EINVAL);
	CHECK_EQ(hl_vring_init(&vr, 4, ring, ring + 2048, ring + 3002, 0), -EINVAL);
	CHECK_EQ(hl_vring_init(&vr, 4, ring, ring + 2048, ring + 3000, 0), 0);
}

/* ---- hostile driver ---- */

/* Make `head` available directly, as a misbehaving driver would. */
static void post(struct fix *f, uint16_t head)
{
	struct hl_vring_avail *av = f->dev.avail;
	av->ring[av->idx & (f->num - 1)] = head;
	__atomic_store_n(&av->idx, (uint16_t)(av->idx + 1), __ATOMIC_RELEASE);
}

static void setd(struct hl_vring_desc *t, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		 uint16_t next)
{
	t[i] = (struct hl_vring_desc){.addr = addr, .len = len, .flags = flags, .next = next};
}

/*
 * Post one chain, run the device, and check it was refused with exactly
 * `*counter` going up by one and the head coming back with len 0.
 */
static void expect_refused(struct fix *f, uint16_t head, const uint64_t *counter, const char *what)
{
	uint64_t before = *counter, total = refused_total(&f->dev.stats);
	uint16_t slot = f->dev.last_used_idx & (f->num - 1);

	post(f, head);
	if (device_service(f, 0, 0, NULL) != 1)
		hl_test_fail(__FILE__, __LINE__, "%s: not refused", what);
	if (*counter != before + 1 || refused_total(&f->dev.stats) != total + 1)
		hl_test_fail(__FILE__, __LINE__, "%s: wrong counter", what);
	if (f->dev.used->ring[slot].id != head || f->dev.used->ring[slot].len != 0)
		hl_test_fail(__FILE__, __LINE__, "%s: not returned with len 0", what);
	CHECK(f->dev.used->idx == f->dev.last_used_idx);
	CHECK(!f->dev.broken);
}

#define W HL_VRING_DESC_F_WRITE
#define N HL_VRING_DESC_F_NEXT
#define I HL_VRING_DESC_F_INDIRECT

/*
 * The same two broken chains in a table of n descriptors (the ring's own,
 * or an indirect one reached from the chain at head): entry 0's next
 * outside the table, then entries 0 and 1 pointing at each other. Each is
 * refused and counted as what it is.
 */
static void next_outside_and_loop(struct fix *f, struct hl_vring_desc *t, uint16_t n, uint16_t head,
				  const char *next_what, const char *loop_what)
{
	setd(t, 0, GPA_C, 10, N, n);
	expect_refused(f, head, &f->dev.stats.bad_desc_index, next_what);
	setd(t, 0, GPA_C, 10, N, 1);
	setd(t, 1, GPA_C, 10, N, 0);
	expect_refused(f, head, &f->dev.stats.loop, loop_what);
}

HL_TEST(hostile_chains_refused)
{
	struct fix f;
	struct hl_vring_stats *s = &f.dev.stats;

	REQUIRE_OK(setup(&f, 16, F_INDIRECT | F_EVENT, true));
	struct hl_vring_desc *d = f.dev.desc;
	struct hl_vring_desc *ind = (struct hl_vring_desc *)(f.a + IND_OFF);
	uint64_t ind_gpa = GPA_A + IND_OFF;

	expect_refused(&f, 16, &s->bad_desc_index, "head == num");
	expect_refused(&f, 0xffff, &s->bad_desc_index, "head 0xffff");
	next_outside_and_loop(&f, d, 16, 0, "next out of range", "loop a->b->a");
	for (unsigned i = 0; i < 16; i++)
		setd(d, i, GPA_C, 10, N, (uint16_t)((i + 1) % 16));
	expect_refused(&f, 3, &s->loop, "chain through every descriptor and round again");
	setd(d, 0, GPA_C, 10, N, 0);
	expect_refused(&f, 0, &s->loop, "self loop");
	/* all num descriptors in one chain, no loop: fine */
	for (unsigned i = 0; i < 16; i++)
		setd(d, i, GPA_C + 16 * i, 16, (uint16_t)(i == 15 ? W : N), (uint16_t)(i + 1));
	post(&f, 0);
	CHECK_EQ(device_service(&f, 0, 0, NULL), 0);
	CHECK_EQ(f.dev.used->ring[(f.dev.last_used_idx - 1) & 15].len, 16);
	/* indirect */
	setd(d, 0, 0x300000, 32, I, 0);
	expect_refused(&f, 0, &s->bad_indirect, "indirect table in a hole");
	setd(d, 0, GPA_B + KB64 - 16, 32, I, 0);
	expect_refused(&f, 0, &s->bad_indirect, "indirect table running off memory");
	setd(d, 0, ind_gpa, 0, I, 0);
	expect_refused(&f, 0, &s->bad_indirect, "indirect len 0");
	setd(d, 0, ind_gpa, 17, I, 0);
	expect_refused(&f, 0, &s->bad_indirect, "indirect len 17");
	setd(d, 0, ind_gpa, 16u * (HL_VRING_MAX_SIZE + 1), I, 0);
	expect_refused(&f, 0, &s->bad_indirect, "indirect table too big");
	setd(d, 0, ind_gpa, 32, I | N, 1);
	setd(d, 1, GPA_C, 10, W, 0);
	expect_refused(&f, 0, &s->bad_indirect, "indirect with NEXT");
	setd(d, 0, ind_gpa, 32, I, 0);
	setd(ind, 0, GPA_C, 10, N, 1);
	setd(ind, 1, ind_gpa, 32, I, 0);
	expect_refused(&f, 0, &s->bad_indirect, "nested indirect");
	next_outside_and_loop(&f, ind, 2, 0, "next outside the indirect table", "loop inside the indirect table");
	setd(ind, 0, 0x300000, 10, 0, 0);
	expect_refused(&f, 0, &s->bad_addr, "indirect entry in a hole");
	/* indirect table that itself straddles A and B (read entry by entry) is fine */
	setd(d, 0, GPA_B - 16, 32, I, 0);
	setd((struct hl_vring_desc *)(f.a + KB64 - 16), 0, GPA_C, 10, N, 1);
	setd((struct hl_vring_desc *)f.b, 0, GPA_C + 100, 20, W, 0);
	post(&f, 0);
	CHECK_EQ(device_service(&f, 0, 0, NULL), 0);
	CHECK_EQ(f.dev.used->ring[(f.dev.last_used_idx - 1) & 15].len, 20);
	/* buffers */
	setd(d, 0, 0x300000, 10, 0, 0);
	expect_refused(&f, 0, &s->bad_addr, "buffer in a hole");
	setd(d, 0, 0, 1, W, 0);
	expect_refused(&f, 0, &s->bad_addr, "buffer at gpa 0");
	setd(d, 0, UINT64_MAX - 0xfff, 0x2000, W, 0);
	expect_refused(&f, 0, &s->bad_addr, "addr + len wraps u64");
	setd(d, 0, GPA_B + KB64 - 10, 100, W, 0);
	expect_refused(&f, 0, &s->bad_addr, "crosses from memory into a hole");
	setd(d, 0, GPA_A + KB64 - 10, 100, N, 1);
	setd(d, 1, GPA_C + KB64 - 10, 11, W, 0);
	expect_refused(&f, 0, &s->bad_addr, "second descriptor ends past memory");
	setd(d, 0, GPA_D, 0xc0000000u, N, 1);
	setd(d, 1, GPA_D, 0x80000000u, W, 0);
	expect_refused(&f, 0, &s->len_overflow, "total len over u32");
	setd(d, 0, GPA_C, 10, W | N, 1);
	setd(d, 1, GPA_C, 10, 0, 0);
	expect_refused(&f, 0, &s->bad_order, "readable after writable");
	setd(d, 0, GPA_C, 10, W, 0);
	setd(d, 2, ind_gpa, 32, I, 0);
	setd(d, 0, GPA_C, 10, W | N, 2);
	setd(ind, 0, GPA_C, 10, 0, 0);
	expect_refused(&f, 0, &s->bad_order, "readable in indirect after writable in ring");
	/* a zero-length descriptor anywhere is harmless */
	setd(d, 0, 0x300000, 0, N, 1);
	setd(d, 1, GPA_C, 5, W, 0);
	post(&f, 0);
	CHECK_EQ(device_service(&f, 0, 0, NULL), 0);
	CHECK_EQ(refused_total(s), s->bad_desc_index + s->loop + s->bad_indirect + s->bad_addr +
					   s->len_overflow + s->bad_order);
	CHECK_EQ(s->bad_avail_idx, 0);
	teardown(&f);
}

HL_TEST(indirect_without_feature_refused)
{
	struct fix f;

	REQUIRE_OK(setup(&f, 16, 0, false));
	setd(f.dev.desc, 0, GPA_A + IND_OFF, 32, I, 0);
	setd((struct hl_vring_desc *)(f.a + IND_OFF), 0, GPA_C, 10, 0, 0);
	expect_refused(&f, 0, &f.dev.stats.bad_indirect, "indirect not negotiated");
	teardown(&f);
}

HL_TEST(avail_idx_jump_breaks_queue)
{
	struct fix f;
	struct hl_iov iov[4];
	struct hl_chain ch;

	REQUIRE_OK(setup(&f, 16, 0, false));
	f.dev.avail->idx = 17;
	CHECK_EQ(hl_vring_avail_count(&f.dev), 0);
	CHECK(f.dev.broken);
	CHECK_EQ(f.dev.stats.bad_avail_idx, 1);
	CHECK_EQ(hl_vring_avail_count(&f.dev), 0);
	CHECK_EQ(f.dev.stats.bad_avail_idx, 1); /* counted once, not per poll */
	CHECK_EQ(hl_vring_walk(&f.dev, &f.mem, 0, iov, 4, &ch), -EIO);
	/* exactly num ahead is fine; going backwards is a jump too */
	hl_vring_set_base(&f.dev, 0, 0);
	f.dev.avail->idx = 16;
	CHECK_EQ(hl_vring_avail_count(&f.dev), 16);
	f.dev.avail->idx = 0xffff;
	CHECK_EQ(hl_vring_avail_count(&f.dev), 0);
	CHECK(f.dev.broken);
	teardown(&f);
}

HL_TEST(put_used_overrun_refused)
{
	struct fix f;

	REQUIRE_OK(setup(&f, 4, 0, false));
	for (unsigned i = 0; i < 4; i++)
		REQUIRE_OK(hl_vring_put_used(&f.dev, i, 0));
	CHECK_EQ(hl_vring_put_used(&f.dev, 0, 0), -ENOSPC);
	CHECK_EQ(f.dev.stats.bad_used, 1);
	hl_vring_flush_used(&f.dev);
	CHECK_EQ(hl_vring_put_used(&f.dev, 0, 0), 0);
	teardown(&f);
}

HL_TEST(random_garbage)
{
	enum { NUM = 64, ROUNDS = 3000 };
	struct fix f;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	uint64_t walked = 0, refused = 0;

	REQUIRE_OK(setup(&f, NUM, F_INDIRECT | F_EVENT, false));
	struct hl_vring_desc *ind = (struct hl_vring_desc *)(f.a + IND_OFF);
	const uint64_t interesting[] = {GPA_A, GPA_A + KB64 - 8, GPA_B, GPA_B + KB64 - 8, GPA_C,
					GPA_C + KB64 - 8, GPA_A + IND_OFF, 0, 0x300000,
					UINT64_MAX - 7};
	for (unsigned round = 0; round < ROUNDS; round++) {
		/* garbage descriptors, in the ring and in the indirect area */
		for (unsigned i = 0; i < NUM + 64; i++) {
			struct hl_vring_desc *t = i < NUM ? &f.dev.desc[i] : &ind[i - NUM];
			uint64_t r = rnd(&seed);
			t->addr = (r & 3) == 0 ? rnd(&seed)
					       : interesting[r % HL_ARRAY_SIZE(interesting)] +
							 ((r >> 8) & 0x3ff);
			r = rnd(&seed);
			t->len = (r & 7) == 0 ? (uint32_t)rnd(&seed) : (uint32_t)(r >> 16) & 0x7ff;
			t->flags = (uint16_t)((r >> 40) & 7);
			t->next = (r & 0x10) ? (uint16_t)(r >> 48) : (uint16_t)((r >> 48) % (NUM + 2));
			if (t->flags & I && (r & 0x20))
				t->addr = GPA_A + IND_OFF + 16 * ((r >> 12) & 31),
				t->len = 16 * (uint32_t)((r >> 24) & 31);
		}
		for (unsigned i = 0; i < NUM; i++) {
			uint64_t r = rnd(&seed);
			f.dev.avail->ring[i] = (r & 15) == 0 ? (uint16_t)r : (uint16_t)((r >> 8) % NUM);
		}
		f.dev.avail->flags = (uint16_t)rnd(&seed);
		*hl_vring_used_event(f.dev.avail, NUM) = (uint16_t)rnd(&seed);
		/* mostly a plausible idx, sometimes a wild one */
		uint64_t r = rnd(&seed);
		uint16_t idx = (r & 31) ? (uint16_t)(f.dev.last_avail_idx + (r >> 8) % (NUM + 1))
					: (uint16_t)(r >> 8);
		uint64_t chains_before = f.dev.stats.chains, ref_before = refused_total(&f.dev.stats);
		f.dev.avail->idx = idx;
		unsigned n = hl_vring_avail_count(&f.dev);
		unsigned bad = 0;
		if (f.dev.broken) {
			CHECK_EQ(n, 0);
			CHECK((uint16_t)(idx - f.dev.last_avail_idx) > NUM);
			hl_vring_set_base(&f.dev, f.dev.last_avail_idx, f.dev.last_used_idx);
			continue;
		}
		/* device_service writes into every writable iov: ASan checks they are real */
		f.dev.avail->idx = idx;
		bad = device_service(&f, 0, 0xee, NULL);
		hl_vring_need_notify(&f.dev);
		walked += n;
		refused += bad;
		CHECK_EQ(refused_total(&f.dev.stats) - ref_before, bad);
		CHECK_EQ(f.dev.stats.chains - chains_before, n - bad);
		CHECK(f.dev.used->idx == f.dev.last_used_idx);
		CHECK(f.dev.last_avail_idx == f.dev.last_used_idx);
	}
	CHECK(walked > 10000);
	CHECK(refused > 1000);
	CHECK(walked - refused > 100); /* some garbage happens to be valid */
	CHECK(f.dev.stats.bad_avail_idx > 10);
	printf("# random: %llu chains, %llu refused, %llu queue breaks\n",
	       (unsigned long long)walked, (unsigned long long)refused,
	       (unsigned long long)f.dev.stats.bad_avail_idx);
	teardown(&f);
}

HL_TEST(init_gpa_refusals)
{
	struct fix f;
	struct hl_vring vr;

	REQUIRE_OK(setup(&f, 16, 0, false));
	CHECK_EQ(hl_vring_init_gpa(&vr, &f.mem, 16, 0x300000, GPA_A + 0x1000, GPA_A + 0x2000, 0),
		 -EFAULT);
	CHECK_STR_HAS(hl_last_error(), "desc");
	/* used ring straddling A and B: in memory, but not contiguous in the host */
	CHECK_EQ(hl_vring_init_gpa(&vr, &f.mem, 16, GPA_A, GPA_A + 0x1000, GPA_B - 64, 0), -EINVAL);
	CHECK_STR_HAS(hl_last_error(), "used");
	CHECK_EQ(hl_vring_init_gpa(&vr, &f.mem, 16, GPA_A, GPA_C + KB64 - 8, GPA_A + 0x2000, 0),
		 -EFAULT);
	CHECK_STR_HAS(hl_last_error(), "avail");
	CHECK_EQ(hl_vring_init_gpa(&vr, &f.mem, 12, GPA_A, GPA_A + 0x1000, GPA_A + 0x2000, 0),
		 -EINVAL);
	teardown(&f);
}

HL_TEST(driver_refuses_used_id_not_in_flight)
{
	struct fix f;
	struct hl_drv_buf b = {GPA_C, 8};
	uint32_t len;
	int t;

	REQUIRE_OK(setup(&f, 16, 0, false));
	REQUIRE_OK(hl_vring_driver_add(&f.drv, &b, 0, 1, &t));
	REQUIRE_OK(hl_vring_put_used(&f.dev, 5, 8)); /* device lies about the head */
	hl_vring_flush_used(&f.dev);
	CHECK(hl_vring_driver_get_used(&f.drv, &len) == NULL);
	CHECK(f.drv.broken);
	CHECK_EQ(hl_vring_driver_add(&f.drv, &b, 0, 1, &t), -EIO);
	teardown(&f);
}
