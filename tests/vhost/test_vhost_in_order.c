/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * VIRTIO_F_IN_ORDER in the vhost-user back-end, on split and packed rings,
 * driven as in test_vhost_packed: messages straight into the port's engine,
 * guest memory a memfd, hugelink's ring drivers (in their in-order mode) on
 * the guest side. A transmit burst goes back as one used entry naming the
 * burst's last chain (split: written where the first would go, the used
 * index moved by the whole burst; packed: one used descriptor at the
 * burst's first slot, its other slots left as the guest wrote them), bad
 * chains inside a burst included; receive queues still write an entry per
 * chain, each with its own length. Frames are checked both ways over many
 * laps, the ring base is right across a stop and a restart, a port that may
 * pin (zero-copy on or auto) does not offer the feature, and the driver
 * stops on a batch naming no chain in flight. hugelink's own front-end,
 * asking for IN_ORDER, echoes frames through the back-end over a real
 * socket. Pool buffers in use are 0 at the end.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <hugelink/virtio_user.h>

#include "../memory/pool_util.h"
#include "echo_util.h"
#include "hl_test.h"
#include "vq_env.h"

#define BASE_FEATURES (F(HL_VIRTIO_F_VERSION_1) | F(HL_VIRTIO_RING_F_EVENT_IDX) | F(HL_VIRTIO_NET_F_MRG_RXBUF))
#define IN_ORDER F(HL_VIRTIO_F_IN_ORDER)
#define PACKED F(HL_VIRTIO_F_RING_PACKED)

/* The id the transmit queue's driver gave the chain it added last. */
static uint16_t last_tx_id(void)
{
	if (packed)
		return ptx.order[ptx.order_put == 0 ? ptx.num - 1 : ptx.order_put - 1];
	return stx.order[(uint16_t)(stx.avail_idx - 1) & stx.mask];
}

/* The guest takes back its transmit chains: all `want` of them, tokens in order from *tok, lengths 0. */
static bool guest_reap_tx(uint32_t *tok, unsigned want)
{
	uint32_t len;
	void *t;
	unsigned n = 0;
	bool ok = true;
	while ((t = drv_used(true, &len)) != NULL) {
		ok = ok && (uintptr_t)t == *tok + 1 && len == 0;
		(*tok)++;
		n++;
	}
	return ok && n == want;
}

HL_TEST(offered_only_where_no_chain_can_be_pinned)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/offer.sock", hl_test_tmpdir());
	struct hl_vu_msg r;
	static const enum hl_vhost_zc_mode modes[] = {HL_VHOST_ZC_OFF, HL_VHOST_ZC_ON, HL_VHOST_ZC_AUTO};
	for (unsigned m = 0; m < 3; m++) {
		for (int given = 0; given <= 1; given++) {
			/* features given explicitly, IN_ORDER among them, or the defaults */
			struct hl_vhost_port_params pp = {.path = path, .zc_mode = modes[m],
							  .features = given ? BASE_FEATURES | IN_ORDER : 0};
			REQUIRE_OK(hl_vhost_port_open(&port, &pp));
			CHECK_EQ(msg(HL_VU_GET_FEATURES, NULL, 0, NULL, 0, &r), 20);
			CHECK_EQ(!!(r.payload.u64 & IN_ORDER), modes[m] == HL_VHOST_ZC_OFF);
			CHECK_EQ(!!(r.payload.u64 & PACKED), !given);
			/* a front-end that asks for it all the same is refused */
			uint64_t bad0 = port.be.dev.stats.bad_msgs;
			msg(HL_VU_SET_FEATURES, &(uint64_t){BASE_FEATURES | IN_ORDER}, 8, NULL, 0, NULL);
			CHECK_EQ(port.be.dev.stats.bad_msgs - bad0, modes[m] == HL_VHOST_ZC_OFF ? 0u : 1u);
			hl_vhost_port_close(&port);
		}
	}
}

/* Split ring: one used element a burst, where the first would go, naming the last; many laps. */
HL_TEST(split_transmit_burst_is_one_used_element)
{
	REQUIRE_OK(open_env(64, BASE_FEATURES | IN_ORDER));
	CHECK(port.vq[1].in_order);
	CHECK(!port.vq[0].in_order);
	CHECK(stx.in_order);
	uint32_t seq = 0, next = 0, tok = 0;
	unsigned got = 0, bad = 0, sent = 0, one_entry = 0, reaped_ok = 0, rounds = 0, refused = 0;
	for (unsigned round = 0; round < 80; round++) {
		unsigned count = 1 + round * 7 % 30, bad_at = round % 5 == 2 ? count / 2 : NO_SEQ;
		uint16_t used0 = stx.used->idx;
		/* the elements after the first, as the guest last saw them: the burst must not write them */
		struct hl_vring_used_elem before[32];
		for (unsigned i = 0; i < count; i++)
			before[i] = stx.used->ring[(uint16_t)(used0 + i) & stx.mask];
		unsigned k = guest_send(next, count, TX_TWO_EVERY_THIRD, bad_at);
		REQUIRE(k == count);
		uint16_t last = last_tx_id();
		uint32_t skip = bad_at != NO_SEQ ? next + bad_at : NO_SEQ;
		unsigned got0 = got;
		bad += switch_take(&seq, &got, skip);
		if (skip != NO_SEQ && seq == skip)
			seq++;
		refused += skip != NO_SEQ;
		bool one = stx.used->idx == (uint16_t)(used0 + count) &&
			   stx.used->ring[used0 & stx.mask].id == last && stx.used->ring[used0 & stx.mask].len == 0;
		for (unsigned i = 1; i < count; i++)
			one = one && memcmp(&stx.used->ring[(uint16_t)(used0 + i) & stx.mask], &before[i],
					    sizeof(before[i])) == 0;
		one_entry += one;
		reaped_ok += guest_reap_tx(&tok, count);
		sent += count - (skip != NO_SEQ);
		next += count;
		rounds++;
		CHECK_EQ(got - got0, count - (skip != NO_SEQ));
	}
	CHECK_EQ(one_entry, rounds);
	CHECK_EQ(reaped_ok, rounds);
	CHECK_EQ(got, sent);
	CHECK_EQ(bad, 0);
	CHECK(next > 10 * ring_num); /* many laps of the used ring */
	struct hl_vhost_vq_stats st;
	hl_vhost_port_queue_stats(&port, 1, &st, NULL);
	CHECK_EQ(st.packets, sent);
	CHECK_EQ(st.drop_bad_chain, refused);
	CHECK_EQ(port.vq[1].vr.stats.bad_used, 0);
	CHECK(stx.skipped > 0 && stx.skipped < next);
	close_env();
}

/* Packed ring: one used descriptor a burst at its first slot, the rest of its slots untouched. */
HL_TEST(packed_transmit_burst_is_one_used_descriptor)
{
	static const unsigned sizes[] = {200, 37};
	for (unsigned si = 0; si < 2; si++) {
		REQUIRE_OK(open_env(sizes[si], BASE_FEATURES | PACKED | IN_ORDER));
		CHECK(port.vq[1].in_order && port.vq[1].packed);
		CHECK(ptx.in_order);
		uint32_t seq = 0, next = 0, tok = 0;
		unsigned got = 0, bad = 0, sent = 0, one_desc = 0, reaped_ok = 0, rounds = 0;
		for (unsigned round = 0; round < 80; round++) {
			unsigned count = 1 + round * 7 % 30, bad_at = round % 5 == 2 ? count / 2 : NO_SEQ;
			if (count * 2 > sizes[si])
				count = sizes[si] / 2;
			uint16_t first = ptx.next_avail;
			uint32_t slots0 = ptx.avail_total;
			REQUIRE(guest_send(next, count, TX_TWO_EVERY_THIRD, bad_at) == count);
			unsigned slots = ptx.avail_total - slots0;
			uint16_t last = last_tx_id();
			struct hl_vring_packed_desc *d = ptx.desc;
			/* the slots after the first, as the guest wrote them */
			struct hl_vring_packed_desc before[64];
			for (unsigned i = 1; i < slots; i++)
				before[i] = d[(first + i) % sizes[si]];
			uint32_t skip = bad_at != NO_SEQ ? next + bad_at : NO_SEQ;
			bad += switch_take(&seq, &got, skip);
			if (skip != NO_SEQ && seq == skip)
				seq++;
			bool wrap = ptx.used_wrap;
			uint16_t f = d[first].flags;
			bool one = d[first].id == last && !!(f & HL_VRING_PACKED_DESC_F_USED) == wrap &&
				   !!(f & HL_VRING_PACKED_DESC_F_AVAIL) == wrap && !(f & HL_VRING_DESC_F_WRITE);
			for (unsigned i = 1; i < slots; i++)
				one = one && memcmp(&d[(first + i) % sizes[si]], &before[i], sizeof(before[i])) == 0;
			one_desc += one;
			reaped_ok += guest_reap_tx(&tok, count);
			sent += count - (skip != NO_SEQ);
			next += count;
			rounds++;
		}
		CHECK_EQ(one_desc, rounds);
		CHECK_EQ(reaped_ok, rounds);
		CHECK_EQ(got, sent);
		CHECK_EQ(bad, 0);
		CHECK(ptx.avail_total > 5 * sizes[si]); /* the wrap counters flipped many times */
		CHECK_EQ(port.vq[1].pvr.stats.bad_used, 0);
		CHECK_EQ(port.vq[1].pvr.in_flight, 0);
		CHECK(ptx.skipped > 0 && ptx.skipped < next);
		close_env();
	}
}

/*
 * Receive: an entry per chain all the same, each with its own length (a
 * skipped chain would count as filled, and frames are shorter than the
 * buffers), frames several chains long with MRG_RXBUF.
 */
HL_TEST(receive_writes_every_chain_with_its_length)
{
	for (int pk = 0; pk <= 1; pk++) {
		REQUIRE_OK(open_env(pk ? 100 : 128, BASE_FEATURES | IN_ORDER | (pk ? PACKED : 0)));
		unsigned posted = 0, delivered = 0, rx_bad = 0, frames = 0, entries_ok = 0, bursts = 0;
		uint32_t rseq = 0;
		for (unsigned round = 0; round < 40; round++) {
			guest_post_rx(&posted, delivered);
			uint16_t used0 = pk ? 0 : srx.used->idx, at0 = pk ? prx.next_used : 0;
			uint16_t s = enqueue_frames(frames, 1 + round % 8);
			frames += s;
			/* every element of the burst names the chain at its place and says how much it holds */
			bool ok = s > 0;
			unsigned chains = 0;
			if (!pk) {
				for (uint16_t u = used0; u != srx.used->idx; u++, chains++) {
					const struct hl_vring_used_elem *e = &srx.used->ring[u & srx.mask];
					ok = ok && e->id == srx.order[u & srx.mask] && e->len > 0 && e->len <= 512;
				}
			} else {
				for (unsigned i = at0, wrap = prx.used_wrap;; chains++) {
					uint16_t f = prx.desc[i].flags;
					if (!!(f & HL_VRING_PACKED_DESC_F_USED) != wrap || !!(f & HL_VRING_PACKED_DESC_F_AVAIL) != wrap)
						break;
					ok = ok && prx.desc[i].id == prx.order[(prx.order_get + chains) % prx.num] &&
					     prx.desc[i].len > 0 && prx.desc[i].len <= 512 && (f & HL_VRING_DESC_F_WRITE);
					if (++i == prx.num) {
						i = 0;
						wrap = !wrap;
					}
				}
			}
			entries_ok += ok && chains >= s;
			bursts++;
			rx_bad += guest_take_rx(&rseq, &delivered);
		}
		CHECK(frames > 100);
		CHECK_EQ(rseq, frames);
		CHECK_EQ(rx_bad, 0);
		CHECK_EQ(entries_ok, bursts);
		CHECK_EQ(pk ? prx.skipped : srx.skipped, 0);
		close_env();
	}
}

/* GET_VRING_BASE after in-order bursts: everything taken is on the used ring, and a restart goes on from there. */
HL_TEST(base_right_across_a_restart)
{
	for (int pk = 0; pk <= 1; pk++) {
		REQUIRE_OK(open_env(pk ? 100 : 64, BASE_FEATURES | IN_ORDER | (pk ? PACKED : 0)));
		uint32_t seq = 0, next = 0, tok = 0;
		unsigned got = 0, bad = 0;
		bool reaped = true;
		for (unsigned i = 0; i < 5; i++) { /* 150 chains: past one lap */
			next += guest_send(next, 30, TX_TWO_EVERY_THIRD, NO_SEQ);
			bad += switch_take(&seq, &got, NO_SEQ);
			reaped = reaped && guest_reap_tx(&tok, 30);
		}
		CHECK(reaped);
		CHECK_EQ(got, 150);
		struct hl_vu_msg r;
		CHECK(msg_state(HL_VU_GET_VRING_BASE, 1, 0, &r) > 0);
		uint32_t want = pk ? 0 : 150;
		if (pk) { /* every third frame takes two slots: 200 slots, two laps of 100, wrap counter 1 again */
			uint32_t pos = ptx.next_avail | (ptx.avail_wrap ? 0x8000u : 0);
			want = pos << 16 | pos;
		}
		CHECK_EQ(r.payload.state.num, want);
		if (!pk)
			CHECK_EQ(stx.used->idx, 150);
		next += guest_send(next, 20, TX_TWO_EVERY_THIRD, NO_SEQ);
		CHECK_EQ(msg_state(HL_VU_SET_VRING_BASE, 1, r.payload.state.num, NULL), 0);
		CHECK_EQ(msg_u64(HL_VU_SET_VRING_KICK, 1 | HL_VU_VRING_NOFD), 0);
		REQUIRE(hl_vhost_port_queue_ready(&port, 1));
		CHECK(port.vq[1].in_order);
		bad += switch_take(&seq, &got, NO_SEQ);
		CHECK(guest_reap_tx(&tok, 20));
		CHECK_EQ(got, 170);
		CHECK_EQ(bad, 0);
		close_env();
	}
}

/* Without IN_ORDER the same port writes an element per chain: the batching is the feature's alone. */
HL_TEST(without_the_feature_every_chain_has_its_element)
{
	REQUIRE_OK(open_env(64, BASE_FEATURES));
	CHECK(!port.vq[1].in_order);
	uint16_t used0 = stx.used->idx;
	REQUIRE(guest_send(0, 20, TX_TWO_EVERY_THIRD, NO_SEQ) == 20);
	uint32_t seq = 0, tok = 0;
	unsigned got = 0;
	CHECK_EQ(switch_take(&seq, &got, NO_SEQ), 0);
	CHECK_EQ(got, 20);
	unsigned named = 0;
	for (unsigned i = 0; i < 20; i++)
		named += stx.used->ring[(used0 + i) & stx.mask].id == stx.avail->ring[(used0 + i) & stx.mask];
	CHECK_EQ(named, 20);
	CHECK(guest_reap_tx(&tok, 20));
	close_env();
}

/* The driver's side of a hostile device: a batch naming a chain not in flight stops the queue. */
HL_TEST(driver_stops_on_a_batch_naming_no_chain_in_flight)
{
	static uint8_t ring[16384] __attribute__((aligned(16)));
	struct hl_vring_driver d;
	REQUIRE_OK(hl_vring_driver_init(&d, ring, 16, BASE_FEATURES | IN_ORDER));
	struct hl_drv_buf b = {0x1000, 100};
	for (uintptr_t t = 1; t <= 4; t++)
		REQUIRE_OK(hl_vring_driver_add(&d, &b, 1, 0, (void *)t));
	/* a batch of three naming the third: three back, in order; the fourth stays out */
	d.used->ring[0] = (struct hl_vring_used_elem){d.order[2], 0};
	__atomic_store_n(&d.used->idx, 3, __ATOMIC_RELEASE);
	uint32_t len = 1;
	CHECK(hl_vring_driver_get_used(&d, &len) == (void *)1);
	CHECK(hl_vring_driver_get_used(&d, &len) == (void *)2);
	CHECK(hl_vring_driver_get_used(&d, &len) == (void *)3);
	CHECK_EQ(len, 0);
	CHECK(hl_vring_driver_get_used(&d, &len) == NULL);
	CHECK(!d.broken);
	/* then one naming a head that is free (never added, or back already) */
	d.used->ring[3] = (struct hl_vring_used_elem){d.order[0], 0};
	__atomic_store_n(&d.used->idx, 4, __ATOMIC_RELEASE);
	CHECK(hl_vring_driver_get_used(&d, &len) == NULL);
	CHECK(d.broken);
	hl_vring_driver_fini(&d);

	struct hl_vring_packed_driver p;
	REQUIRE_OK(hl_vring_packed_driver_init(&p, ring, 16, BASE_FEATURES | PACKED | IN_ORDER));
	for (uintptr_t t = 1; t <= 3; t++)
		REQUIRE_OK(hl_vring_packed_driver_add(&p, &b, 1, 0, (void *)t));
	/* used, wrap 1, at the first slot, naming an id nobody holds */
	p.desc[0].id = 9;
	__atomic_store_n(&p.desc[0].flags, HL_VRING_PACKED_DESC_F_AVAIL | HL_VRING_PACKED_DESC_F_USED, __ATOMIC_RELEASE);
	CHECK(hl_vring_packed_driver_get_used(&p, &len) == NULL);
	CHECK(p.broken);
	hl_vring_packed_driver_fini(&p);
}

static volatile int stop_echo;

/* The switch side: serve the socket, send back what the guest sends. */
static void *echo_thread(void *arg)
{
	struct hl_buf *pkts[HL_VHOST_BURST];
	(void)arg;
	while (!stop_echo) {
		uint16_t n = echo_take(&port, bp, pkts);
		echo_give(&port, pkts, n, &stop_echo);
		hl_buf_free_bulk(pkts, n);
	}
	return NULL;
}

/* hugelink's virtio-user front-end with IN_ORDER: its transmit chains come back in batches, every frame echoed. */
HL_TEST(our_front_end_in_order_through_the_back_end)
{
	struct hl_pool *fe_pool;
	struct hl_bufpool *fe_bp;
	struct hl_vuser u;
	pthread_t th;
	char path[256];

	REQUIRE_OK(pool_with_bufs(hl_test_tmpdir(), "inosw", 32 << 20, 4096, &pool, &bp));
	REQUIRE_OK(pool_with_bufs(hl_test_tmpdir(), "inofe", 32 << 20, 4096, &fe_pool, &fe_bp));
	snprintf(path, sizeof(path), "%s/fe.sock", hl_test_tmpdir());
	struct hl_vhost_port_params pp = {.path = path};
	REQUIRE_OK(hl_vhost_port_open(&port, &pp));
	stop_echo = 0;
	REQUIRE(pthread_create(&th, NULL, echo_thread, NULL) == 0);
	struct hl_vuser_params up = {.path = path, .pool = fe_pool, .bp = fe_bp, .ring_size = 128,
				     .features = BASE_FEATURES | IN_ORDER};
	REQUIRE_OK(hl_vuser_open(&u, &up));
	CHECK(u.fe.features & IN_ORDER);
	REQUIRE(echo_ready(&port));
	CHECK(port.vq[1].in_order);
	CHECK(u.tx.in_order);

	const unsigned count = 5000;
	unsigned sent = 0, got = 0, bad = 0;
	for (int spin = 0; got < count && spin < 400000; spin++) {
		struct hl_buf *b[16];
		unsigned m = 0;
		while (sent + m < count && m < 16 && (b[m] = hl_buf_alloc(fe_bp)) != NULL) {
			uint32_t len = frame_len(sent + m);
			make_frame(hl_buf_data(b[m]), sent + m, len);
			b[m]->data_len = b[m]->pkt_len = len;
			m++;
		}
		uint16_t q = hl_vuser_tx_burst(&u, b, (uint16_t)m);
		hl_buf_free_bulk(b + q, m - q);
		sent += q;
		struct hl_buf *rx[32];
		uint16_t n = hl_vuser_rx_burst(&u, rx, 32);
		for (uint16_t i = 0; i < n; i++, got++)
			bad += !buf_is_frame(rx[i], got);
		hl_buf_free_bulk(rx, n);
		if (n == 0)
			usleep(20);
	}
	hl_vuser_tx_reclaim(&u);
	CHECK_EQ(got, count);
	CHECK_EQ(bad, 0);
	CHECK(!u.tx.broken && !u.rx.broken);
	CHECK(u.tx.skipped > 0); /* transmit chains did come back in batches */
	CHECK_EQ(u.rx.skipped, 0); /* receive chains each on their own */
	CHECK_EQ(u.stats.rx_bad, 0);
	echo_stop(&u, &stop_echo, th);
	CHECK_EQ(port.vq[1].stats.drop_bad_chain, 0);
	CHECK_EQ(echo_close(&port, fe_bp, fe_pool, bp, pool), 0);
}
