/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vhost-user back-end on packed virtqueues, driven the way a guest
 * drives it: messages straight into the port's protocol engine, guest
 * memory a memfd the engine maps, and hugelink's packed ring driver
 * (vring_packed_driver.h) on the guest side of both queues. Frames go
 * both ways over many laps of rings whose size is not a power of two
 * (the wrap counters flip), with indirect tables and mergeable receive
 * buffers; notifications follow the event suppression words; the ring
 * base carries the wrap counter across a stop and a restart; the slots
 * and buffers the back-end writes are logged while a migration runs. A
 * hostile guest's descriptors (bad ids, addresses, indirect tables,
 * lengths, chains with no end, flags of the wrong lap) are refused,
 * counted and survived. Zero-copy dequeue pins frames in the guest's
 * buffers and returns their chains as they are freed, in any order, and
 * all of them before GET_VRING_BASE answers. Pool buffers in use are 0 at
 * the end.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fd_util.h"
#include "hl_test.h"
#include "vq_env.h"

#define FEATURES                                                                                              \
	(F(HL_VIRTIO_F_VERSION_1) | F(HL_VIRTIO_F_RING_PACKED) | F(HL_VIRTIO_RING_F_EVENT_IDX) |               \
	 F(HL_VIRTIO_RING_F_INDIRECT_DESC) | F(HL_VIRTIO_NET_F_MRG_RXBUF))

/* The guest takes back its transmit chains: how many came. */
static unsigned guest_reap_tx(void)
{
	uint32_t len;
	unsigned n = 0;
	while (hl_vring_packed_driver_get_used(&ptx, &len) != NULL)
		n++;
	return n;
}

/* Did the engine refuse the message `expr` sends (counted; without REPLY_ACK nothing is answered)? */
#define REFUSED(expr)                                                                                          \
	({                                                                                                     \
		uint64_t bad0_ = port.be.dev.stats.bad_msgs;                                                   \
		(void)(expr);                                                                                  \
		port.be.dev.stats.bad_msgs == bad0_ + 1;                                                       \
	})

HL_TEST(packed_rings_offered_and_sized)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/offer.sock", hl_test_tmpdir());
	struct hl_vu_msg r;
	for (int no_packed = 0; no_packed <= 1; no_packed++) {
		struct hl_vhost_port_params pp = {.path = path, .no_packed = no_packed};
		REQUIRE_OK(hl_vhost_port_open(&port, &pp));
		CHECK_EQ(msg(HL_VU_GET_FEATURES, NULL, 0, NULL, 0, &r), 20);
		CHECK_EQ(!!(r.payload.u64 & F(HL_VIRTIO_F_RING_PACKED)), !no_packed);
		/* a size that is not a power of two: packed rings only */
		CHECK(REFUSED(msg_state(HL_VU_SET_VRING_NUM, 0, 200, NULL)));
		if (!no_packed) {
			CHECK_EQ(msg_u64(HL_VU_SET_FEATURES, FEATURES), 0);
			CHECK_EQ(msg_state(HL_VU_SET_VRING_NUM, 0, 200, NULL), 0);
			CHECK(REFUSED(msg_state(HL_VU_SET_VRING_NUM, 0, 40000, NULL)));
			/* a position past the ring */
			CHECK(REFUSED(msg_state(HL_VU_SET_VRING_BASE, 0, 0x8000 | 200, NULL)));
			CHECK(!REFUSED(msg_state(HL_VU_SET_VRING_BASE, 0, 0x8000 | 199, NULL)));
		} else {
			CHECK(REFUSED(msg_u64(HL_VU_SET_FEATURES, FEATURES)));
		}
		hl_vhost_port_close(&port);
	}
}

HL_TEST(ring_addresses_checked_against_guest_memory)
{
	REQUIRE_OK(open_env(200, FEATURES));
	CHECK(port.vq[1].packed);
	/* SET_VRING_ADDR while running stops the queue; one outside guest memory keeps it stopped */
	struct hl_vu_vring_addr a = {.index = 1, .desc_user_addr = (uintptr_t)(g + TXRING),
				     .avail_user_addr = (uintptr_t)(g + MEM - 2), /* the event word runs past the end */
				     .used_user_addr = (uintptr_t)(g + TXRING + 0x8000)};
	CHECK_EQ(msg(HL_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, NULL), 0);
	CHECK(!hl_vhost_port_queue_ready(&port, 1));
	a.avail_user_addr = (uintptr_t)(g + TXRING + 0x8002); /* not 4-byte aligned */
	CHECK_EQ(msg(HL_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, NULL), 0);
	CHECK(!hl_vhost_port_queue_ready(&port, 1));
	a.avail_user_addr = (uintptr_t)(g + TXRING + 0x8004);
	a.desc_user_addr = (uintptr_t)(g + MEM - 16 * 100); /* 200 descriptors do not fit */
	CHECK_EQ(msg(HL_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, NULL), 0);
	CHECK(!hl_vhost_port_queue_ready(&port, 1));
	CHECK_EQ(set_addr(1, TXRING), 0);
	CHECK(hl_vhost_port_queue_ready(&port, 1));
	close_env();
}

/* Many laps both ways: sizes that are and are not powers of two, direct and indirect. */
HL_TEST(frames_both_ways_over_many_laps)
{
	static const unsigned sizes[] = {200, 256, 37};
	for (unsigned si = 0; si < 3; si++) {
		REQUIRE_OK(open_env(sizes[si], FEATURES));
		uint32_t seq = 0, next = 0;
		unsigned got = 0, bad = 0, sent = 0, back = 0;
		for (unsigned round = 0; round < 60; round++) {
			unsigned k = guest_send(next, 1 + round * 13 % 48, round % 3 == 1 ? TX_TWO : TX_ONE, NO_SEQ);
			next += k;
			sent += k;
			bad += switch_take(&seq, &got, NO_SEQ);
			back += guest_reap_tx();
		}
		CHECK_EQ(got, sent);
		CHECK_EQ(back, sent);
		CHECK_EQ(bad, 0);
		CHECK(sent > 3 * sizes[si]); /* several laps: the wrap counter flipped */
		struct hl_vhost_vq_stats st;
		hl_vhost_port_queue_stats(&port, 1, &st, NULL);
		CHECK_EQ(st.packets, sent);
		CHECK_EQ(st.drop_bad_chain, 0);

		/* guest receive: buffers of 512 bytes, so longer frames take several (MRG_RXBUF) */
		unsigned posted = 0, delivered = 0, rx_bad = 0, frames = 0;
		uint32_t rseq = 0;
		for (unsigned round = 0; round < 40; round++) {
			guest_post_rx(&posted, delivered);
			frames += enqueue_frames(frames, 1 + round % 8);
			/* the guest takes each frame: num_buffers chains, in order */
			rx_bad += guest_take_rx(&rseq, &delivered);
		}
		CHECK(frames > 100);
		CHECK_EQ(rseq, frames);
		CHECK_EQ(rx_bad, 0);
		hl_vhost_port_queue_stats(&port, 0, &st, NULL);
		CHECK_EQ(st.packets, frames);
		close_env();
	}
}

/* Without MRG_RXBUF a frame larger than the guest's buffer is refused and the buffer kept. */
HL_TEST(frame_too_big_for_one_buffer)
{
	REQUIRE_OK(open_env(64, FEATURES & ~F(HL_VIRTIO_NET_F_MRG_RXBUF)));
	struct hl_drv_buf b = {gpa(RXBUF), 300};
	REQUIRE_OK(hl_vring_packed_driver_add(&prx, &b, 0, 1, (void *)1));
	struct hl_buf *pk[2] = {hl_buf_alloc(bp), hl_buf_alloc(bp)};
	REQUIRE(pk[0] != NULL && pk[1] != NULL);
	make_frame(hl_buf_data(pk[0]), 1, 1000);
	pk[0]->data_len = pk[0]->pkt_len = 1000;
	make_frame(hl_buf_data(pk[1]), 2, 200);
	pk[1]->data_len = pk[1]->pkt_len = 200;
	uint32_t len;
	CHECK_EQ(hl_vhost_enqueue_burst(&port, 0, pk, 1, NULL), 0);
	CHECK(hl_vring_packed_driver_get_used(&prx, &len) == NULL); /* the buffer is still the guest's offer */
	CHECK_EQ(hl_vhost_enqueue_burst(&port, 0, pk + 1, 1, NULL), 1);
	CHECK(hl_vring_packed_driver_get_used(&prx, &len) == (void *)1);
	CHECK_EQ(len, 200 + HDR);
	CHECK(frame_is(g + RXBUF + HDR, 2, 200));
	struct hl_vhost_vq_stats st;
	hl_vhost_port_queue_stats(&port, 0, &st, NULL);
	CHECK_EQ(st.drop_too_big, 1);
	hl_buf_free_bulk(pk, 2);
	close_env();
}

static uint64_t calls_pending(int fd)
{
	uint64_t v = 0;
	return read(fd, &v, sizeof(v)) == sizeof(v) ? v : 0;
}

/* Interrupts as the driver's event word asks; kicks as ours does. */
HL_TEST(event_suppression)
{
	for (int event_idx = 1; event_idx >= 0; event_idx--) {
		REQUIRE_OK(open_env(128, event_idx ? FEATURES : FEATURES & ~F(HL_VIRTIO_RING_F_EVENT_IDX)));
		struct hl_buf *pk = hl_buf_alloc(bp);
		REQUIRE(pk != NULL);
		make_frame(hl_buf_data(pk), 9, 100);
		pk->data_len = pk->pkt_len = 100;
		for (unsigned i = 0; i < 8; i++) {
			struct hl_drv_buf b = {gpa(RXBUF + i * 2048ull), 2048};
			REQUIRE_OK(hl_vring_packed_driver_add(&prx, &b, 0, 1, (void *)(uintptr_t)(i + 1)));
		}
		uint32_t len;
		calls_pending(callfd[0]);
		hl_vring_packed_driver_set_interrupt(&prx, false);
		CHECK_EQ(hl_vhost_enqueue_burst(&port, 0, &pk, 1, NULL), 1);
		CHECK_EQ(calls_pending(callfd[0]), 0);
		CHECK(hl_vring_packed_driver_get_used(&prx, &len) != NULL);
		hl_vring_packed_driver_set_interrupt(&prx, true);
		CHECK_EQ(hl_vhost_enqueue_burst(&port, 0, &pk, 1, NULL), 1);
		CHECK_EQ(calls_pending(callfd[0]), 1);
		CHECK(hl_vring_packed_driver_get_used(&prx, &len) != NULL);
		struct hl_vhost_vq_stats st;
		hl_vhost_port_queue_stats(&port, 0, &st, NULL);
		CHECK_EQ(st.calls, 1);
		/* polling: no kicks wanted; armed: a kick for the next descriptor */
		const volatile struct hl_vring_packed_event *de = ptx.device_event;
		CHECK_EQ(de->flags, HL_VRING_PACKED_EVENT_DISABLE);
		CHECK(hl_vhost_port_arm(&port, 1)); /* nothing pending: may sleep */
		CHECK_EQ(de->flags, event_idx ? HL_VRING_PACKED_EVENT_DESC : HL_VRING_PACKED_EVENT_ENABLE);
		if (event_idx)
			CHECK_EQ(de->off_wrap, 0x8000);
		CHECK_EQ(guest_send(0, 1, TX_ONE, NO_SEQ), 1);
		CHECK(hl_vring_packed_driver_kick_needed(&ptx));
		CHECK(!hl_vhost_port_arm(&port, 1)); /* a frame is waiting: no sleep */
		hl_vhost_port_disarm(&port, 1);
		CHECK_EQ(de->flags, HL_VRING_PACKED_EVENT_DISABLE);
		uint32_t seq = 0;
		unsigned got = 0;
		CHECK_EQ(switch_take(&seq, &got, NO_SEQ), 0);
		CHECK_EQ(got, 1);
		CHECK_EQ(guest_reap_tx(), 1);
		hl_buf_free(pk);
		close_env();
	}
}

/* GET_VRING_BASE reports position and wrap counter (twice: avail and used); a restart resumes there. */
HL_TEST(base_keeps_the_wrap_counter_across_a_restart)
{
	REQUIRE_OK(open_env(100, FEATURES));
	uint32_t seq = 0, next = 0;
	unsigned got = 0, bad = 0;
	for (unsigned i = 0; i < 5; i++) { /* 150 slots: one wrap, position 50 */
		next += guest_send(next, 30, TX_ONE, NO_SEQ);
		bad += switch_take(&seq, &got, NO_SEQ);
		guest_reap_tx();
	}
	CHECK_EQ(got, 150);
	struct hl_vu_msg r;
	CHECK(msg_state(HL_VU_GET_VRING_BASE, 1, 0, &r) > 0);
	CHECK_EQ(r.payload.state.num, (50u << 16) | 50u); /* wrap counter 0 in both bits 15 and 31 */
	CHECK(!hl_vhost_port_queue_ready(&port, 1));
	/* frames the guest sends while the queue is stopped wait in the ring */
	next += guest_send(next, 70, TX_ONE, NO_SEQ);
	CHECK_EQ(msg_state(HL_VU_SET_VRING_BASE, 1, r.payload.state.num, NULL), 0);
	CHECK_EQ(msg_u64(HL_VU_SET_VRING_KICK, 1 | HL_VU_VRING_NOFD), 0);
	CHECK(hl_vhost_port_queue_ready(&port, 1));
	bad += switch_take(&seq, &got, NO_SEQ);
	CHECK_EQ(guest_reap_tx(), 70);
	CHECK_EQ(got, 220);
	CHECK_EQ(msg_state(HL_VU_GET_VRING_BASE, 1, 0, &r) > 0, 1);
	CHECK_EQ(r.payload.state.num, (0x8000u | 20) << 16 | 0x8000u | 20); /* second wrap, position 20 */
	CHECK_EQ(bad, 0);
	close_env();
}

/*
 * A front-end whose used position lags its avail one (QEMU sends both):
 * the chains in between were taken by a back-end before us and never
 * returned; they are still available in the ring and are taken again.
 */
HL_TEST(base_with_chains_in_flight_takes_them_again)
{
	REQUIRE_OK(open_env(64, FEATURES));
	struct hl_vu_msg r;
	CHECK(msg_state(HL_VU_GET_VRING_BASE, 1, 0, &r) > 0);
	CHECK_EQ(r.payload.state.num, 0x80008000u);
	/* ten frames offered; a back-end "took" six of them (avail 6) and returned none (used 0) */
	CHECK_EQ(guest_send(0, 10, TX_ONE, NO_SEQ), 10);
	CHECK_EQ(msg_state(HL_VU_SET_VRING_BASE, 1, 0x8000u << 16 | 0x8000u | 6, NULL), 0);
	CHECK_EQ(msg_u64(HL_VU_SET_VRING_KICK, 1 | HL_VU_VRING_NOFD), 0);
	REQUIRE(hl_vhost_port_queue_ready(&port, 1));
	uint32_t seq = 0;
	unsigned got = 0;
	CHECK_EQ(switch_take(&seq, &got, NO_SEQ), 0); /* all ten, from frame 0, in order */
	CHECK_EQ(got, 10);
	CHECK_EQ(guest_reap_tx(), 10);
	close_env();
}

/* ---- a hostile guest writes the transmit ring by hand ---- */

static struct hl_vring_packed_desc *txd(unsigned i) { return (struct hl_vring_packed_desc *)(g + TXRING) + i; }

/* Make descriptor i available in lap `wrap` (flags last, as a driver must). */
static void put_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t id, uint16_t flags, bool wrap)
{
	txd(i)->addr = addr;
	txd(i)->len = len;
	txd(i)->id = id;
	uint16_t f = flags | (wrap ? HL_VRING_PACKED_DESC_F_AVAIL : HL_VRING_PACKED_DESC_F_USED);
	__atomic_store_n(&txd(i)->flags, f, __ATOMIC_RELEASE);
}

static bool returned_used(unsigned i, bool wrap)
{
	uint16_t f = __atomic_load_n(&txd(i)->flags, __ATOMIC_ACQUIRE);
	bool a = f & HL_VRING_PACKED_DESC_F_AVAIL, u = f & HL_VRING_PACKED_DESC_F_USED;
	return a == wrap && u == wrap;
}

static unsigned take_all(void)
{
	struct hl_buf *pkts[HL_VHOST_BURST];
	unsigned n = 0, k;
	while ((k = hl_vhost_dequeue_burst(&port, 1, bp, pkts, HL_VHOST_BURST)) > 0) {
		hl_buf_free_bulk(pkts, k);
		n += k;
	}
	return n;
}

HL_TEST(hostile_descriptors_refused_counted_returned)
{
	REQUIRE_OK(open_env(16, FEATURES));
	const struct hl_vring_stats *vs = &port.vq[1].pvr.stats;
	uint64_t ok = gpa(TXBUF);
	memset(g + TXBUF, 0, 4096);
	unsigned i = 0;
	put_desc(i++, ok, 100, 5000, 0, true);                           /* id >= queue size */
	put_desc(i++, gpa(MEM) + 4096, 100, 1, 0, true);                 /* outside guest memory */
	put_desc(i++, UINT64_MAX - 10, 100, 2, 0, true);                 /* wraps the address space */
	put_desc(i++, gpa(TXIND), 24, 3, HL_VRING_DESC_F_INDIRECT, true); /* table len not a multiple of 16 */
	put_desc(i++, gpa(MEM) - 8, 32, 4, HL_VRING_DESC_F_INDIRECT, true); /* table past guest memory */
	put_desc(i++, ok, 100, 5, HL_VRING_DESC_F_NEXT, true);           /* lengths over 2^32 */
	put_desc(i++, ok, 0xffffffffu, 5, 0, true);
	put_desc(i++, ok, 4, 6, 0, true);                                /* shorter than the header */
	put_desc(i++, ok, 100, 7, HL_VRING_DESC_F_WRITE | HL_VRING_DESC_F_NEXT, true); /* readable after writable */
	put_desc(i++, ok, 100, 7, 0, true);
	put_desc(i++, ok, 100, 8, 0, true);                              /* a good one, last */
	CHECK_EQ(take_all(), 1);
	for (unsigned k = 0; k < i; k++) {
		bool second = k == 6 || k == 9; /* a chain's used descriptor is in its first slot */
		if (!second)
			CHECK(returned_used(k, true));
	}
	CHECK_EQ(txd(0)->id, 5000); /* the id echoed as given */
	CHECK_EQ(vs->bad_desc_index, 1);
	CHECK_EQ(vs->bad_addr, 2);
	CHECK_EQ(vs->bad_indirect, 2);
	CHECK_EQ(vs->len_overflow, 1);
	CHECK_EQ(vs->bad_order, 1);
	struct hl_vhost_vq_stats st;
	hl_vhost_port_queue_stats(&port, 1, &st, NULL);
	CHECK_EQ(st.drop_bad_chain, 8);
	CHECK_EQ(st.packets, 1);

	/* a descriptor of the wrong lap is not available: nothing taken, nothing counted */
	put_desc(i, ok, 100, 9, 0, false);
	CHECK_EQ(take_all(), 0);
	hl_vhost_port_queue_stats(&port, 1, &st, NULL);
	CHECK_EQ(st.drop_bad_chain, 8);
	CHECK(!port.vq[1].pvr.broken);

	/* a chain that runs into a slot not available has no end: the queue stops, the burst survives */
	put_desc(i, ok, 100, 9, HL_VRING_DESC_F_NEXT, true);
	CHECK_EQ(take_all(), 0);
	CHECK(port.vq[1].pvr.broken);
	CHECK_EQ(vs->bad_desc_index, 2);
	close_env();

	/*
	 * Every slot available with NEXT, a chain longer than the ring: the
	 * slot after the last is the first again, of the next lap, which the
	 * same flags cannot make available: no end, the queue stops.
	 */
	REQUIRE_OK(open_env(16, FEATURES));
	for (unsigned k = 0; k < 16; k++)
		put_desc(k, ok, 100, (uint16_t)k, HL_VRING_DESC_F_NEXT, true);
	CHECK_EQ(take_all(), 0);
	CHECK(port.vq[1].pvr.broken);
	CHECK_EQ(port.vq[1].pvr.stats.bad_desc_index, 1);
	/* a restart at a sane base clears it */
	struct hl_vu_msg r;
	CHECK(msg_state(HL_VU_GET_VRING_BASE, 1, 0, &r) > 0);
	CHECK_EQ(r.payload.state.num, 0x80008000u);
	for (unsigned k = 0; k < 16; k++)
		put_desc(k, ok, 100, (uint16_t)k, 0, true);
	CHECK_EQ(msg_state(HL_VU_SET_VRING_BASE, 1, 0x8000, NULL), 0);
	CHECK_EQ(msg_u64(HL_VU_SET_VRING_KICK, 1 | HL_VU_VRING_NOFD), 0);
	CHECK_EQ(take_all(), 16);
	close_env();
}

/* Indirect tables a guest lies in: entries outside memory, too many pieces; refused, the ring goes on. */
HL_TEST(hostile_indirect_tables)
{
	REQUIRE_OK(open_env(16, FEATURES));
	struct hl_vring_packed_desc *t = (struct hl_vring_packed_desc *)(g + TXIND);
	memset(g + TXBUF, 0, 4096);
	t[0] = (struct hl_vring_packed_desc){gpa(TXBUF), HDR, 0, 0};
	t[1] = (struct hl_vring_packed_desc){gpa(MEM) + 100, 100, 0, 0}; /* outside */
	put_desc(0, gpa(TXIND), 32, 0, HL_VRING_DESC_F_INDIRECT, true);
	/* an indirect descriptor inside a chain */
	put_desc(1, gpa(TXBUF), HDR, 1, HL_VRING_DESC_F_NEXT, true);
	put_desc(2, gpa(TXIND), 16, 1, HL_VRING_DESC_F_INDIRECT, true);
	/* a table of 100 entries of 1 byte each, in pages apart: more than the iovs a chain may have */
	struct hl_vring_packed_desc *big = (struct hl_vring_packed_desc *)(g + TXIND + 0x1000);
	for (unsigned k = 0; k < 100; k++)
		big[k] = (struct hl_vring_packed_desc){gpa(TXBUF + 4096ull * k + 4095), 2, 0, 0};
	put_desc(3, gpa(TXIND + 0x1000), 100 * 16, 3, HL_VRING_DESC_F_INDIRECT, true);
	put_desc(4, gpa(TXBUF), 100, 4, 0, true);
	CHECK_EQ(take_all(), 1);
	const struct hl_vring_stats *vs = &port.vq[1].pvr.stats;
	CHECK_EQ(vs->bad_addr, 1);
	CHECK_EQ(vs->bad_indirect, 1);
	CHECK_EQ(vs->too_many_iov, 1);
	CHECK(returned_used(0, true) && returned_used(1, true) && returned_used(3, true) && returned_used(4, true));
	close_env();
}

/* Receive buffers a guest lies about: refused, counted and given back; the frame goes into the next good one. */
HL_TEST(hostile_receive_buffers)
{
	REQUIRE_OK(open_env(16, FEATURES));
	struct hl_vring_packed_desc *rd = (struct hl_vring_packed_desc *)(g + RXRING);
	uint64_t buf = gpa(RXBUF);
	static const struct {
		uint64_t addr;
		uint32_t len;
		uint16_t id, flags;
	} d[] = {
		{0, 100, 0, 0},                                 /* device-readable: nothing to write into */
		{0, 6, 1, HL_VRING_DESC_F_WRITE},               /* shorter than the virtio-net header */
		{0, 2048, 4000, HL_VRING_DESC_F_WRITE},         /* id out of range */
		{MEM, 2048, 3, HL_VRING_DESC_F_WRITE},          /* outside guest memory */
		{0, 2048, 4, HL_VRING_DESC_F_WRITE},            /* a good one */
	};
	for (unsigned i = 0; i < 5; i++) {
		rd[i].addr = (d[i].addr == MEM ? gpa(MEM) : buf) + 2048ull * i;
		rd[i].len = d[i].len;
		rd[i].id = d[i].id;
		__atomic_store_n(&rd[i].flags, d[i].flags | HL_VRING_PACKED_DESC_F_AVAIL, __ATOMIC_RELEASE);
	}
	CHECK_EQ(enqueue_one(5, 300), 1);
	for (unsigned i = 0; i < 5; i++) {
		uint16_t f = __atomic_load_n(&rd[i].flags, __ATOMIC_ACQUIRE);
		CHECK((f & HL_VRING_PACKED_DESC_F_AVAIL) && (f & HL_VRING_PACKED_DESC_F_USED)); /* all back */
		CHECK_EQ(rd[i].len, i < 4 ? 0 : HDR + 300);
	}
	CHECK_EQ(rd[4].id, 4);
	CHECK(frame_is(g + RXBUF + 4 * 2048 + HDR, 5, 300));
	struct hl_vhost_vq_stats st;
	hl_vhost_port_queue_stats(&port, 0, &st, NULL);
	CHECK_EQ(st.drop_bad_chain, 4);
	CHECK_EQ(st.packets, 1);
	CHECK_EQ(port.vq[0].pvr.stats.bad_desc_index, 1);
	CHECK_EQ(port.vq[0].pvr.stats.bad_addr, 1);
	close_env();
}

static bool page_dirty(const uint8_t *log, uint64_t gpa_)
{
	uint64_t p = gpa_ >> 12;
	return log[p / 8] & (1u << (p % 8));
}

/* While a migration logs: the receive buffers written and the ring slots used are dirty. */
HL_TEST(dirty_log_of_packed_rings)
{
	REQUIRE_OK(open_env(64, FEATURES));
	uint64_t size = hl_vhost_log_bytes(gpa(MEM));
	int lfd = memfd_of(size);
	REQUIRE(lfd >= 0);
	uint8_t *log = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, lfd, 0);
	REQUIRE(log != MAP_FAILED);
	REQUIRE_OK(hl_vhost_port_log_start(&port, dup(lfd), size));
	CHECK(port.vq[0].log_used && port.vq[1].log_used);
	memset(log, 0, size);
	/* receive: one frame over three 512-byte buffers, the third on a page of its own */
	static const uint64_t at[3] = {RXBUF, RXBUF + 512, RXBUF + 0x3000};
	for (unsigned i = 0; i < 3; i++) {
		struct hl_drv_buf b = {gpa(at[i]), 512};
		REQUIRE_OK(hl_vring_packed_driver_add(&prx, &b, 0, 1, (void *)(uintptr_t)(i + 1)));
	}
	CHECK_EQ(enqueue_one(3, 1200), 1);
	CHECK(page_dirty(log, gpa(RXBUF)));
	CHECK(page_dirty(log, gpa(RXBUF + 0x3000)));
	CHECK(!page_dirty(log, gpa(RXBUF + 0x1000))); /* nothing written there */
	CHECK(page_dirty(log, gpa(RXRING)));         /* the used descriptors */
	CHECK(!page_dirty(log, gpa(TXRING)));
	/* transmit: only the ring the used descriptors go to */
	CHECK_EQ(guest_send(0, 4, TX_ONE, NO_SEQ), 4);
	CHECK_EQ(take_all(), 4);
	CHECK(page_dirty(log, gpa(TXRING)));
	CHECK(!page_dirty(log, gpa(TXBUF))); /* read, not written */
	struct hl_vhost_vq_stats st;
	hl_vhost_port_queue_stats(&port, 0, &st, NULL);
	CHECK(st.log_words > 0);
	CHECK_EQ(st.log_dropped, 0);
	CHECK_EQ(hl_vhost_port_log_stop(&port), 0);
	munmap(log, size);
	close(lfd);
	close_env();
}

/* Zero-copy on a packed ring: chains back in avail order once their buffers are freed, and all at a stop. */
HL_TEST(zero_copy_on_packed_rings)
{
	env_zc = HL_VHOST_ZC_ON;
	REQUIRE_OK(open_env(50, FEATURES)); /* not a power of two */
	env_zc = HL_VHOST_ZC_OFF;
	struct hl_buf *pkts[HL_VHOST_BURST];
	struct hl_vhost_vq_stats st;
	uint32_t seq = 1; /* frame 0 is 60 bytes: copied, not worth pinning */
	unsigned bad = 0;
	for (unsigned lap = 0; lap < 6; lap++) { /* 120 frames over 50 slots: wraps while pins are out */
		CHECK_EQ(guest_send(seq, 20, lap % 2 == 1 ? TX_TWO : TX_ONE, NO_SEQ), 20);
		uint16_t n = hl_vhost_dequeue_burst(&port, 1, bp, pkts, HL_VHOST_BURST);
		CHECK_EQ(n, 20);
		for (uint16_t i = 0; i < n; i++)
			bad += !buf_is_frame(pkts[i], seq + i);
		CHECK_EQ(guest_reap_tx(), 0); /* every one pinned: nothing back yet */
		/* every other one freed: none comes back while the first is still out (avail order) */
		for (uint16_t i = 1; i < n; i += 2)
			hl_buf_free(pkts[i]);
		for (unsigned k = 0; k < 8; k++)
			CHECK_EQ(hl_vhost_dequeue_burst(&port, 1, bp, pkts + HL_VHOST_BURST - 1, 1), 0);
		CHECK_EQ(guest_reap_tx(), 0);
		for (uint16_t i = 0; i < n; i += 2)
			hl_buf_free(pkts[i]);
		hl_vhost_dequeue_burst(&port, 1, bp, pkts, 1);
		CHECK_EQ(guest_reap_tx(), 20);
		seq += n;
	}
	CHECK_EQ(bad, 0);
	hl_vhost_port_queue_stats(&port, 1, &st, NULL);
	CHECK_EQ(st.zcopy, 120);
	CHECK_EQ(st.zc_pinned, 0);

	/* a stop with frames still pinned: all back on the ring before the base is reported */
	CHECK_EQ(guest_send(seq, 10, TX_ONE, NO_SEQ), 10);
	uint16_t n = hl_vhost_dequeue_burst(&port, 1, bp, pkts, HL_VHOST_BURST);
	CHECK_EQ(n, 10);
	struct hl_vu_msg r;
	CHECK(msg_state(HL_VU_GET_VRING_BASE, 1, 0, &r) > 0);
	CHECK_EQ(guest_reap_tx(), 10);
	CHECK_EQ(r.payload.state.num, (0x8000u | 130 % 50) << 16 | 0x8000u | 130 % 50); /* two wraps: counter 1 again */
	hl_vhost_port_queue_stats(&port, 1, &st, NULL);
	CHECK_EQ(st.zc_reclaimed, 10);
	for (uint16_t i = 0; i < n; i++) /* the consumer still reads them: guest memory stays mapped */
		bad += !buf_is_frame(pkts[i], seq + i);
	hl_buf_free_bulk(pkts, n);
	hl_vhost_port_poll_ctrl(&port, 0);
	CHECK_EQ(hl_vhost_zc_orphaned(), 0);
	CHECK_EQ(bad, 0);
	close_env();
}
