/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Packed virtqueues end to end: hugelink's driver side and device side in
 * one process, over "guest memory" made of separate malloc'd chunks at fake
 * GPAs, through many laps of the ring (wrap counters), with power-of-two
 * and other sizes, chains, indirect tables and completions out of order.
 * Then a hostile driver: bad chains refused, counted and returned; chains
 * with no end stop the queue; random garbage never crashes or hangs a walk.
 */
#include <errno.h>
#include <stdlib.h>

#include <hugelink/guest_mem.h>
#include <hugelink/vring_packed.h>
#include <hugelink/vring_packed_driver.h>

#include "guest_regions.h"
#include "hl_test.h"

#define IND_OFF 0x4000u
#define IND_MAX 8u
#define MAX_IOV 64

#define F_EVENT HL_VIRTIO_BIT(HL_VIRTIO_RING_F_EVENT_IDX)
#define F_INDIRECT HL_VIRTIO_BIT(HL_VIRTIO_RING_F_INDIRECT_DESC)
#define F_PACKED HL_VIRTIO_BIT(HL_VIRTIO_F_RING_PACKED)

struct fix {
	char *a, *b, *c;
	struct hl_guest_mem mem;
	struct hl_vring_packed_driver drv;
	struct hl_vring_packed dev;
	unsigned num;
};

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int setup(struct fix *f, unsigned num, uint64_t features)
{
	memset(f, 0, sizeof(*f));
	f->num = num;
	int rc = guest_regions_make(&f->a, &f->b, &f->c, &f->mem, false);
	if (rc < 0)
		return rc;
	if (hl_vring_packed_size(num) > IND_OFF || IND_OFF + (uint64_t)num * IND_MAX * 16 > KB64)
		return -E2BIG;
	rc = hl_vring_packed_driver_init(&f->drv, f->a, num, features);
	if (rc < 0)
		return rc;
	if (features & F_INDIRECT) {
		rc = hl_vring_packed_driver_set_indirect(&f->drv, f->a + IND_OFF, GPA_A + IND_OFF, IND_MAX);
		if (rc < 0)
			return rc;
	}
	return hl_vring_packed_init_gpa(&f->dev, &f->mem, num, GPA_A, GPA_A + hl_vring_packed_driver_event_offset(num),
					GPA_A + hl_vring_packed_device_event_offset(num), features);
}

static void teardown(struct fix *f)
{
	hl_vring_packed_driver_fini(&f->drv);
	guest_regions_free(f->a, f->b, f->c, &f->mem);
}

static uint64_t refused_total(const struct hl_vring_stats *s)
{
	return s->bad_desc_index + s->loop + s->bad_indirect + s->bad_addr + s->len_overflow + s->bad_order +
	       s->too_many_iov;
}

/*
 * The device: take up to `max` chains; a good one has its readable bytes
 * checked against out_byte and its writable bytes filled with in_byte; a
 * refused one goes back with len 0. Completions are held and returned in
 * reverse order when `reverse`. Returns chains taken; *refused counts.
 */
static unsigned device_service(struct fix *f, unsigned max, uint8_t out_byte, uint8_t in_byte, bool reverse,
			       bool *data_ok, unsigned *refused)
{
	struct hl_iov iov[MAX_IOV];
	struct hl_chain ch[64];
	uint32_t len[64];
	unsigned n = 0;
	int rc;

	while (n < max && n < 64 && (rc = hl_vring_packed_walk(&f->dev, &f->mem, iov, MAX_IOV, &ch[n])) != -EAGAIN) {
		if (rc == -EIO)
			break;
		len[n] = 0;
		if (rc < 0) {
			(*refused)++;
		} else {
			for (unsigned i = 0; i < ch[n].nr_out; i++)
				for (uint32_t k = 0; k < iov[i].len; k++)
					if (((uint8_t *)iov[i].base)[k] != out_byte)
						*data_ok = false;
			for (unsigned i = ch[n].nr_out; i < ch[n].nr_out + ch[n].nr_in; i++)
				memset(iov[i].base, in_byte, iov[i].len);
			len[n] = ch[n].in_len;
		}
		n++;
	}
	for (unsigned k = 0; k < n; k++) {
		unsigned i = reverse ? n - 1 - k : k;
		if (hl_vring_packed_put_used(&f->dev, ch[i].head, len[i], ch[i].ndesc) < 0)
			*data_ok = false;
	}
	hl_vring_packed_flush_used(&f->dev);
	return n;
}

/* Buffers for chain `tag`: `nout` readable then `nin` writable of 40 bytes, spread over B and C. */
static void make_bufs(struct fix *f, unsigned tag, unsigned nout, unsigned nin, struct hl_drv_buf *b, uint8_t out)
{
	for (unsigned k = 0; k < nout + nin; k++) {
		uint64_t off = ((uint64_t)(tag % 64) * 8 + k) * 64 % (KB64 - 64);
		bool in_c = (k + tag) % 2;
		b[k].addr = (in_c ? GPA_C : GPA_B) + off;
		b[k].len = 40;
		memset((in_c ? f->c : f->b) + off, k < nout ? out : 0, 40);
	}
}

/* Many laps of chains of 1..3 readable and 0..2 writable buffers; completions in order or reversed. */
static void laps(unsigned num, uint64_t features, bool reverse)
{
	struct fix f;
	bool ok = true;
	unsigned refused = 0, got = 0, sent = 0, total = num * 9 + 5;
	uint64_t seed = 0x9e3779b97f4a7c15ull ^ num;

	REQUIRE_OK(setup(&f, num, features));
	struct hl_drv_buf b[8];
	while (got < total) {
		/* fill what fits, then serve, then reap */
		while (sent < total) {
			unsigned nout = 1 + (unsigned)(rnd(&seed) % 3), nin = (unsigned)(rnd(&seed) % 3);
			make_bufs(&f, sent, nout, nin, b, 0x5a);
			int rc = hl_vring_packed_driver_add(&f.drv, b, nout, nin, (void *)(uintptr_t)(sent + 1));
			if (rc == -ENOSPC)
				break;
			if (rc < 0) {
				ok = false;
				break;
			}
			sent++;
		}
		unsigned served = device_service(&f, 1 + (unsigned)(rnd(&seed) % 40), 0x5a, 0xa5, reverse, &ok, &refused);
		uint32_t len;
		void *tok;
		unsigned reaped = 0;
		while ((tok = hl_vring_packed_driver_get_used(&f.drv, &len)) != NULL) {
			uintptr_t t = (uintptr_t)tok;
			if (t == 0 || t > sent)
				ok = false;
			got++;
			reaped++;
		}
		if (served == 0 && reaped == 0)
			break; /* nothing moves: fail below rather than spin */
	}
	CHECK_EQ(got, total);
	CHECK(ok);
	CHECK_EQ(refused, 0);
	CHECK(!f.dev.broken && !f.drv.broken);
	CHECK_EQ(f.dev.in_flight, 0);
	CHECK_EQ(f.drv.free_slots, num);
	CHECK(f.dev.stats.chains == total);
	/* both sides agree on where they are, laps later */
	CHECK_EQ(hl_vring_packed_get_base(&f.dev),
		 (uint16_t)(f.drv.next_avail | (f.drv.avail_wrap ? 0x8000u : 0)));
	teardown(&f);
}

HL_TEST(laps_in_order_pow2) { laps(64, F_PACKED, false); }
HL_TEST(laps_in_order_odd_size) { laps(37, F_PACKED, false); }
HL_TEST(laps_out_of_order) { laps(64, F_PACKED, true); }
HL_TEST(laps_indirect) { laps(32, F_PACKED | F_INDIRECT, false); }
HL_TEST(laps_indirect_out_of_order_odd) { laps(23, F_PACKED | F_INDIRECT | F_EVENT, true); }

/* The data the device wrote reaches the driver's buffers, lengths as written. */
HL_TEST(written_bytes_arrive)
{
	struct fix f;
	bool ok = true;
	unsigned refused = 0;
	REQUIRE_OK(setup(&f, 16, F_PACKED));
	struct hl_drv_buf b[3];
	make_bufs(&f, 3, 1, 2, b, 0x11);
	REQUIRE_OK(hl_vring_packed_driver_add(&f.drv, b, 1, 2, (void *)1));
	CHECK_EQ(device_service(&f, 8, 0x11, 0x77, false, &ok, &refused), 1);
	uint32_t len = 0;
	CHECK(hl_vring_packed_driver_get_used(&f.drv, &len) == (void *)1);
	CHECK_EQ(len, 80);
	for (unsigned k = 1; k < 3; k++) {
		const uint8_t *p = (b[k].addr >= GPA_C ? (uint8_t *)f.c + (b[k].addr - GPA_C)
						       : (uint8_t *)f.b + (b[k].addr - GPA_B));
		CHECK(p[0] == 0x77 && p[39] == 0x77);
	}
	CHECK(ok);
	CHECK(hl_vring_packed_driver_get_used(&f.drv, &len) == NULL);
	teardown(&f);
}

/* Driver event word: DISABLE silences, ENABLE asks for every batch, DESC for one slot. */
HL_TEST(used_notifications)
{
	struct fix f;
	bool ok = true;
	unsigned refused = 0;
	struct hl_drv_buf b[1];
	REQUIRE_OK(setup(&f, 8, F_PACKED | F_EVENT));

	hl_vring_packed_driver_set_interrupt(&f.drv, false);
	make_bufs(&f, 0, 0, 1, b, 0);
	REQUIRE_OK(hl_vring_packed_driver_add(&f.drv, b, 0, 1, (void *)1));
	device_service(&f, 8, 0, 1, false, &ok, &refused);
	CHECK(!hl_vring_packed_need_notify(&f.dev));
	CHECK(hl_vring_packed_driver_get_used(&f.drv, NULL) == (void *)1);

	/* with EVENT_IDX, enable asks about the next used slot only */
	hl_vring_packed_driver_set_interrupt(&f.drv, true);
	REQUIRE_OK(hl_vring_packed_driver_add(&f.drv, b, 0, 1, (void *)2));
	REQUIRE_OK(hl_vring_packed_driver_add(&f.drv, b, 0, 1, (void *)3));
	device_service(&f, 1, 0, 1, false, &ok, &refused);
	CHECK(hl_vring_packed_need_notify(&f.dev));
	CHECK(!hl_vring_packed_need_notify(&f.dev)); /* nothing new since */
	device_service(&f, 1, 0, 1, false, &ok, &refused);
	CHECK(!hl_vring_packed_need_notify(&f.dev)); /* the event slot was passed already */
	CHECK(hl_vring_packed_driver_get_used(&f.drv, NULL) == (void *)2);
	CHECK(hl_vring_packed_driver_get_used(&f.drv, NULL) == (void *)3);

	/* an event word across the wrap: ask about slot 1 of the next lap */
	hl_vring_packed_driver_set_interrupt(&f.drv, true);
	for (unsigned i = 0; i < 8; i++) {
		REQUIRE_OK(hl_vring_packed_driver_add(&f.drv, b, 0, 1, (void *)(uintptr_t)(10 + i)));
		device_service(&f, 1, 0, 1, false, &ok, &refused);
		bool want = f.dev.used_idx == ((f.drv.driver_event->off_wrap & 0x7fffu) + 1) % 8 &&
			    f.dev.used_wrap == !!(f.drv.driver_event->off_wrap & 0x8000u);
		CHECK_EQ(hl_vring_packed_need_notify(&f.dev), want);
		CHECK(hl_vring_packed_driver_get_used(&f.drv, NULL) == (void *)(uintptr_t)(10 + i));
	}

	/* a driver that wants to hear only once the second of two more is used */
	uint16_t at = (uint16_t)((f.drv.next_used + 1) % 8);
	bool at_wrap = f.drv.next_used + 1 >= 8 ? !f.drv.used_wrap : f.drv.used_wrap;
	f.drv.driver_event->off_wrap = (uint16_t)(at | (at_wrap ? 0x8000u : 0));
	REQUIRE_OK(hl_vring_packed_driver_add(&f.drv, b, 0, 1, (void *)20));
	REQUIRE_OK(hl_vring_packed_driver_add(&f.drv, b, 0, 1, (void *)21));
	device_service(&f, 1, 0, 1, false, &ok, &refused);
	CHECK(!hl_vring_packed_need_notify(&f.dev)); /* the slot asked about is the next, not yet used */
	device_service(&f, 1, 0, 1, false, &ok, &refused);
	CHECK(hl_vring_packed_need_notify(&f.dev));
	CHECK(hl_vring_packed_driver_get_used(&f.drv, NULL) == (void *)20);
	CHECK(hl_vring_packed_driver_get_used(&f.drv, NULL) == (void *)21);

	/* ENABLE without EVENT_IDX semantics: every batch */
	f.dev.event_idx = false;
	REQUIRE_OK(hl_vring_packed_driver_add(&f.drv, b, 0, 1, (void *)30));
	device_service(&f, 1, 0, 1, false, &ok, &refused);
	CHECK(hl_vring_packed_need_notify(&f.dev)); /* DESC read as "tell me" without the feature */
	CHECK(ok && refused == 0);
	teardown(&f);
}

/* Device event word: what the driver's kick decision sees. */
HL_TEST(kick_suppression)
{
	struct fix f;
	struct hl_drv_buf b[1];
	REQUIRE_OK(setup(&f, 8, F_PACKED | F_EVENT));
	make_bufs(&f, 0, 1, 0, b, 0);
	CHECK(!hl_vring_packed_driver_kick_needed(&f.drv)); /* nothing added */
	REQUIRE_OK(hl_vring_packed_driver_add(&f.drv, b, 1, 0, (void *)1));
	CHECK(hl_vring_packed_driver_kick_needed(&f.drv)); /* the device has asked nothing: ENABLE */
	hl_vring_packed_set_notify(&f.dev, false);
	REQUIRE_OK(hl_vring_packed_driver_add(&f.drv, b, 1, 0, (void *)2));
	CHECK(!hl_vring_packed_driver_kick_needed(&f.drv));
	/* enabled at our position (slot 0, lap 1): the next add there kicks, the one after does not */
	hl_vring_packed_set_notify(&f.dev, true);
	CHECK_EQ(f.dev.device_event->flags, HL_VRING_PACKED_EVENT_DESC);
	CHECK_EQ(f.dev.device_event->off_wrap, 0x8000u);
	teardown(&f);

	REQUIRE_OK(setup(&f, 8, F_PACKED | F_EVENT));
	make_bufs(&f, 0, 1, 0, b, 0);
	hl_vring_packed_set_notify(&f.dev, true);
	REQUIRE_OK(hl_vring_packed_driver_add(&f.drv, b, 1, 0, (void *)1));
	CHECK(hl_vring_packed_driver_kick_needed(&f.drv));
	REQUIRE_OK(hl_vring_packed_driver_add(&f.drv, b, 1, 0, (void *)2));
	CHECK(!hl_vring_packed_driver_kick_needed(&f.drv));
	teardown(&f);
}

/* Write one available descriptor by hand (the driver's lap is `wrap`). */
static void post(struct fix *f, unsigned slot, uint64_t addr, uint32_t len, uint16_t id, uint16_t flags, bool wrap)
{
	struct hl_vring_packed_desc *d = &f->drv.desc[slot];
	d->addr = addr;
	d->len = len;
	d->id = id;
	d->flags = (uint16_t)(flags | (wrap ? HL_VRING_PACKED_DESC_F_AVAIL : HL_VRING_PACKED_DESC_F_USED));
}

/* One hostile chain at slot 0: refused with its id and extent, counted, and returned used. */
static void expect_refused(struct fix *f, const uint64_t *counter, int want_rc, uint16_t id, uint16_t slots,
			   const char *what)
{
	struct hl_iov iov[MAX_IOV];
	struct hl_chain ch;
	uint64_t before = *counter;
	int rc = hl_vring_packed_walk(&f->dev, &f->mem, iov, MAX_IOV, &ch);
	if (rc != want_rc || ch.head != id || ch.ndesc != slots || *counter != before + 1)
		fprintf(stderr, "# %s: rc %d (want %d), id %u (want %u), slots %u (want %u), counted %llu\n", what, rc,
			want_rc, ch.head, id, ch.ndesc, slots, (unsigned long long)(*counter - before));
	CHECK_EQ(rc, want_rc);
	CHECK_EQ(ch.head, id);
	CHECK_EQ(ch.ndesc, slots);
	CHECK_EQ(*counter, before + 1);
	CHECK(!f->dev.broken);
	REQUIRE_OK(hl_vring_packed_put_used(&f->dev, ch.head, 0, ch.ndesc));
	hl_vring_packed_flush_used(&f->dev);
	CHECK_EQ(f->dev.in_flight, 0);
}

static void reset(struct fix *f)
{
	memset(f->drv.desc, 0, hl_vring_packed_desc_bytes(f->num));
	hl_vring_packed_set_base(&f->dev, 0x8000u);
}

HL_TEST(hostile_chains_refused)
{
	struct fix f;
	REQUIRE_OK(setup(&f, 16, F_PACKED | F_INDIRECT));
	const struct hl_vring_stats *s = &f.dev.stats;

	reset(&f);
	post(&f, 0, 0x900000, 64, 3, 0, true); /* not in guest memory */
	expect_refused(&f, &s->bad_addr, -EFAULT, 3, 1, "address outside guest memory");

	reset(&f);
	post(&f, 0, GPA_B, 64, 16, 0, true); /* id >= num */
	expect_refused(&f, &s->bad_desc_index, -EINVAL, 16, 1, "buffer id past the ring");

	reset(&f);
	post(&f, 1, GPA_B, 64, 5, 0, true); /* readable after writable */
	post(&f, 0, GPA_C, 64, 5, HL_VRING_DESC_F_WRITE | HL_VRING_DESC_F_NEXT, true);
	expect_refused(&f, &s->bad_order, -EINVAL, 5, 2, "readable after writable");

	reset(&f);
	post(&f, 1, GPA_B, 0xffffffffu, 2, 0, true); /* the two lengths overflow u32 */
	post(&f, 0, GPA_B, 0xffffffffu, 2, HL_VRING_DESC_F_NEXT, true);
	expect_refused(&f, &s->bad_addr, -EFAULT, 2, 2, "a 4 GiB element");

	reset(&f);
	post(&f, 0, GPA_A + IND_OFF, 32, 1, HL_VRING_DESC_F_INDIRECT | HL_VRING_DESC_F_NEXT, true);
	post(&f, 1, GPA_B, 64, 1, 0, true);
	expect_refused(&f, &s->bad_indirect, -EINVAL, 1, 2, "INDIRECT with NEXT");

	reset(&f);
	post(&f, 0, GPA_A + IND_OFF, 24, 1, HL_VRING_DESC_F_INDIRECT, true); /* not a multiple of 16 */
	expect_refused(&f, &s->bad_indirect, -EINVAL, 1, 1, "indirect length 24");

	reset(&f);
	post(&f, 0, 0x900000, 32, 1, HL_VRING_DESC_F_INDIRECT, true);
	expect_refused(&f, &s->bad_indirect, -EFAULT, 1, 1, "indirect table outside guest memory");

	/* an indirect table pointing outside guest memory, and one with a nested INDIRECT (ignored: an element) */
	reset(&f);
	struct hl_vring_packed_desc *t = (void *)(f.a + IND_OFF);
	t[0] = (struct hl_vring_packed_desc){.addr = GPA_B, .len = 32};
	t[1] = (struct hl_vring_packed_desc){.addr = 0x900000, .len = 32, .flags = HL_VRING_DESC_F_WRITE};
	post(&f, 0, GPA_A + IND_OFF, 32, 4, HL_VRING_DESC_F_INDIRECT, true);
	expect_refused(&f, &s->bad_addr, -EFAULT, 4, 1, "indirect element outside guest memory");

	reset(&f);
	t[1] = (struct hl_vring_packed_desc){.addr = GPA_C, .len = 32, .flags = HL_VRING_DESC_F_INDIRECT};
	post(&f, 0, GPA_A + IND_OFF, 32, 4, HL_VRING_DESC_F_INDIRECT, true);
	struct hl_iov iov[MAX_IOV];
	struct hl_chain ch;
	CHECK_EQ(hl_vring_packed_walk(&f.dev, &f.mem, iov, MAX_IOV, &ch), 0);
	CHECK(ch.nr_out == 2 && ch.out_len == 64 && ch.ndesc == 1 && ch.head == 4);
	REQUIRE_OK(hl_vring_packed_put_used(&f.dev, ch.head, 0, ch.ndesc));

	/* more iovs than the caller has room for */
	reset(&f);
	for (unsigned i = 0; i < 4; i++)
		post(&f, i, GPA_B + 64 * i, 8, 7, i < 3 ? HL_VRING_DESC_F_NEXT : 0, true);
	struct hl_chain c2;
	uint64_t before = s->too_many_iov;
	CHECK_EQ(hl_vring_packed_walk(&f.dev, &f.mem, iov, 2, &c2), -ENOBUFS);
	CHECK(c2.ndesc == 4 && c2.head == 7 && s->too_many_iov == before + 1);
	REQUIRE_OK(hl_vring_packed_put_used(&f.dev, c2.head, 0, c2.ndesc));

	/* used beyond what was taken */
	before = s->bad_used;
	CHECK_EQ(hl_vring_packed_put_used(&f.dev, 1, 0, 1), -ENOSPC);
	CHECK_EQ(s->bad_used, before + 1);
	teardown(&f);

	/* INDIRECT without the feature */
	REQUIRE_OK(setup(&f, 16, F_PACKED));
	reset(&f);
	post(&f, 0, GPA_A + IND_OFF, 32, 1, HL_VRING_DESC_F_INDIRECT, true);
	expect_refused(&f, &f.dev.stats.bad_indirect, -EINVAL, 1, 1, "INDIRECT not negotiated");
	teardown(&f);
}

/* Chains whose end cannot be known stop the queue, and nothing more is taken. */
HL_TEST(endless_chains_break_the_queue)
{
	struct fix f;
	struct hl_iov iov[MAX_IOV];
	struct hl_chain ch;
	REQUIRE_OK(setup(&f, 8, F_PACKED));

	/* NEXT into a slot the driver has not made available */
	reset(&f);
	post(&f, 0, GPA_B, 64, 1, HL_VRING_DESC_F_NEXT, true);
	CHECK_EQ(hl_vring_packed_walk(&f.dev, &f.mem, iov, MAX_IOV, &ch), -EIO);
	CHECK(f.dev.broken);
	CHECK_EQ(f.dev.in_flight, 0);
	CHECK_EQ(hl_vring_packed_walk(&f.dev, &f.mem, iov, MAX_IOV, &ch), -EIO);
	CHECK(!hl_vring_packed_avail(&f.dev));

	/* every slot NEXT, and the first one again looking available in the next lap */
	reset(&f);
	CHECK(!f.dev.broken);
	for (unsigned i = 0; i < 8; i++)
		post(&f, i, GPA_B, 64, 1, HL_VRING_DESC_F_NEXT, true);
	uint64_t before = f.dev.stats.bad_desc_index + f.dev.stats.loop;
	CHECK_EQ(hl_vring_packed_walk(&f.dev, &f.mem, iov, MAX_IOV, &ch), -EIO);
	CHECK(f.dev.broken && f.dev.stats.bad_desc_index + f.dev.stats.loop == before + 1);

	/* a driver that offers again slots still in flight */
	reset(&f);
	for (unsigned i = 0; i < 8; i++)
		post(&f, i, GPA_B, 64, 1, 0, true);
	unsigned taken = 0;
	while (hl_vring_packed_walk(&f.dev, &f.mem, iov, MAX_IOV, &ch) == 0)
		taken++;
	CHECK_EQ(taken, 8);
	for (unsigned i = 0; i < 8; i++)
		post(&f, i, GPA_B, 64, 1, 0, false); /* the next lap, none given back */
	CHECK_EQ(hl_vring_packed_walk(&f.dev, &f.mem, iov, MAX_IOV, &ch), -EIO);
	CHECK(f.dev.broken);

	/* set-up again resumes */
	REQUIRE_OK(hl_vring_packed_set_base(&f.dev, 3 | 0x8000u));
	CHECK(!f.dev.broken && f.dev.avail_idx == 3 && f.dev.avail_wrap && f.dev.used_idx == 3);
	CHECK_EQ(hl_vring_packed_get_base(&f.dev), 3 | 0x8000u);
	CHECK_EQ(hl_vring_packed_set_base(&f.dev, 8), -EINVAL);
	teardown(&f);
}

/* Random bytes in the ring, random laps: every walk ends, every chain taken goes back. */
HL_TEST(random_garbage)
{
	struct fix f;
	uint64_t seed = 42;
	REQUIRE_OK(setup(&f, 16, F_PACKED | F_INDIRECT | F_EVENT));
	unsigned walks = 0, taken = 0;
	for (unsigned round = 0; round < 20000; round++) {
		for (unsigned k = 0; k < 8; k++) {
			unsigned slot = (unsigned)(rnd(&seed) % 16);
			struct hl_vring_packed_desc *d = &f.drv.desc[slot];
			uint64_t r = rnd(&seed);
			switch (r % 4) {
			case 0: memset(d, (int)(r >> 8), sizeof(*d)); break;
			case 1: d->addr = (r & 1 ? GPA_B : GPA_A + IND_OFF) + ((r >> 8) % 4096); break;
			case 2: d->len = (uint32_t)(r >> 16) % 256; break;
			default: d->flags = (uint16_t)(r >> 24); break;
			}
		}
		struct hl_iov iov[MAX_IOV];
		struct hl_chain ch;
		int rc = hl_vring_packed_walk(&f.dev, &f.mem, iov, MAX_IOV, &ch);
		walks++;
		if (rc != -EAGAIN && rc != -EIO) {
			taken++;
			if (hl_vring_packed_put_used(&f.dev, ch.head, rc == 0 ? ch.in_len : 0, ch.ndesc) < 0)
				break;
			hl_vring_packed_flush_used(&f.dev);
			(void)hl_vring_packed_need_notify(&f.dev);
		}
		if (f.dev.broken || round % 97 == 0)
			hl_vring_packed_set_base(&f.dev, (uint16_t)(rnd(&seed) % 16 | (rnd(&seed) & 0x8000u)));
		if (f.dev.in_flight > 16)
			break;
	}
	CHECK_EQ(walks, 20000);
	CHECK(taken > 100); /* the garbage made chains often enough to mean something */
	CHECK(f.dev.in_flight <= 16);
	CHECK(refused_total(&f.dev.stats) > 0);
	teardown(&f);
}

HL_TEST(init_refusals)
{
	struct hl_vring_packed vr;
	struct fix f;
	REQUIRE_OK(setup(&f, 16, F_PACKED));
	CHECK_EQ(hl_vring_packed_init(&vr, 0, f.a, f.a + 256, f.a + 260, 0), -EINVAL);
	CHECK_EQ(hl_vring_packed_init(&vr, 32769, f.a, f.a + 256, f.a + 260, 0), -EINVAL);
	CHECK_EQ(hl_vring_packed_init(&vr, 16, f.a + 8, f.a + 256, f.a + 260, 0), -EINVAL);
	CHECK_EQ(hl_vring_packed_init(&vr, 16, f.a, f.a + 258, f.a + 260, 0), -EINVAL);
	CHECK_EQ(hl_vring_packed_init_gpa(&vr, &f.mem, 16, 0x900000, GPA_A, GPA_A + 4, 0), -EFAULT);
	/* a ring that runs off the end of its region */
	CHECK_EQ(hl_vring_packed_init_gpa(&vr, &f.mem, 16, GPA_C + KB64 - 128, GPA_A, GPA_A + 4, 0), -EFAULT);
	CHECK_EQ(hl_vring_packed_init_gpa(&vr, &f.mem, 16, GPA_A, GPA_A + 256, GPA_A + 260, 0), 0);
	struct hl_vring_packed_driver d;
	CHECK_EQ(hl_vring_packed_driver_init(&d, f.a + 8, 16, 0), -EINVAL);
	teardown(&f);
}

/* The driver does not believe a used id it never gave out. */
HL_TEST(driver_refuses_used_id_not_in_flight)
{
	struct fix f;
	REQUIRE_OK(setup(&f, 8, F_PACKED));
	struct hl_vring_packed_desc *d = &f.drv.desc[0];
	d->id = 5;
	d->flags = HL_VRING_PACKED_DESC_F_AVAIL | HL_VRING_PACKED_DESC_F_USED;
	CHECK(hl_vring_packed_driver_get_used(&f.drv, NULL) == NULL);
	CHECK(f.drv.broken);
	struct hl_drv_buf b = {.addr = GPA_B, .len = 8};
	CHECK_EQ(hl_vring_packed_driver_add(&f.drv, &b, 1, 0, (void *)1), -ENOSPC);
	teardown(&f);
}
