/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shm ports: a peer and the switch side in one process through the API
 * (zero copy both ways, copies where a peer cannot share), a peer in its own
 * process attached through the record, two peers forwarding through an
 * hl_switch, and a hostile peer whose garbage is refused and counted while
 * the other port carries on and no buffer leaks or is used twice.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hugelink/offload.h>
#include <hugelink/shm_abi.h>
#include <hugelink/shm_peer.h>
#include <hugelink/shm_port.h>
#include <hugelink/sw_ports.h>
#include <hugelink/switch.h>

#include "hl_test.h"
#include "tcp_frame.h"
#include "shm_test_pvt.h"
#include "../memory/pool_util.h"
#include "shm_env.h"

#define NBUF 1024u
#define RING 64u
#define SW_RING 256u /* what hl_sw_port_shm_create asks for */

static unsigned peer_held_total(struct env *e)
{
	unsigned f = 0, q = 0;
	if (hl_shm_owner_census(e->pool, &f, &q) < 0)
		return UINT32_MAX;
	CHECK_EQ(f + q, NBUF);
	return q;
}

/*
 * Nothing leaked, nothing used twice: the buffers in use are exactly those
 * the peers of the n ports hold, by the ports' count and by the owner table.
 */
static void check_held_by_peers(struct env *e, struct hl_shm_port *const *ports, unsigned n)
{
	unsigned held = 0;
	for (unsigned i = 0; i < n; i++)
		held += hl_shm_port_peer_held(ports[i]);
	CHECK_EQ(hl_bufpool_in_use(e->bp), held);
	CHECK_EQ(peer_held_total(e), held);
}

HL_TEST(port_layout_and_attach_checks)
{
	struct env e;
	struct hl_shm_port *p;
	struct hl_shm_peer *pe;

	REQUIRE_ENV(&e, "shm", NBUF, 8);
	CHECK_EQ(hl_shm_port_create(e.pool, e.bp, "a", 100, &p), -EINVAL);
	CHECK_EQ(hl_shm_port_create(e.pool, e.bp, "this-name-is-far-too-long-for-a-zone", 64, &p), -EINVAL);
	REQUIRE_OK(hl_shm_port_create(e.pool, e.bp, "a", RING, &p));
	struct hl_shm_port *dup;
	CHECK_EQ(hl_shm_port_create(e.pool, e.bp, "a", RING, &dup), -EEXIST);
	/* the fill ring holds half a ring of buffers for the peer */
	CHECK_EQ(hl_shm_port_peer_held(p), RING / 2);
	CHECK_EQ(hl_bufpool_in_use(e.bp), RING / 2);
	CHECK_EQ(peer_held_total(&e), RING / 2);

	CHECK_EQ(hl_shm_attach_mem(e.info.va, e.info.size, "nope", &pe), -ENOENT);
	CHECK_EQ(hl_shm_attach_mem(e.info.va, 4096, "a", &pe), -EBADMSG); /* mapping too short */
	REQUIRE_OK(hl_shm_attach_mem(e.info.va, e.info.size, "a", &pe));
	CHECK(hl_shm_port_peer_attached(p, NULL));
	struct hl_shm_peer *pe2;
	CHECK_EQ(hl_shm_attach_mem(e.info.va, e.info.size, "a", &pe2), 0); /* same pid takes it over */
	hl_shm_detach(pe2);
	CHECK(!hl_shm_port_peer_attached(p, NULL));
	CHECK_EQ(hl_shm_peer_mtu(pe), SHM_ROOM - HL_BUF_HEADROOM);
	const struct hl_shm_ctrl *c = hl_shm_peer_ctrl(pe);
	CHECK_EQ(c->magic, HL_SHM_MAGIC);
	CHECK_EQ(c->ring_size, RING);
	hl_shm_detach(pe);
	hl_shm_port_destroy(p);
	CHECK_EQ(hl_pool_zone_lookup(e.pool, "shm:a", &(uint64_t){0}, &(uint64_t){0}), -ENOENT);
	CHECK_EQ(hl_pool_zone_lookup(e.pool, HL_SHM_OWNER_ZONE, &(uint64_t){0}, &(uint64_t){0}), -ENOENT);
	env_close(&e);
}

static void ext_free_cb(void *va, void *opaque)
{
	(void)va;
	(*(int *)opaque)++;
}

HL_TEST(peer_and_switch_in_one_process)
{
	struct env e;
	struct hl_shm_port *p;
	struct hl_shm_peer *pe;
	struct hl_shm_pkt pk[16], back[16];
	struct hl_buf *bufs[16];

	REQUIRE_ENV(&e, "shm", NBUF, 8);
	REQUIRE_OK(hl_shm_port_create(e.pool, e.bp, "a", RING, &p));
	REQUIRE_OK(hl_shm_attach_mem(e.info.va, e.info.size, "a", &pe));

	/* peer -> switch: fill buffers, written in place, arrive as the bufpool's own */
	unsigned k = hl_shm_tx_alloc(pe, pk, 10);
	CHECK_EQ(k, 10);
	for (unsigned i = 0; i < k; i++) {
		CHECK_EQ(pk[i].len, SHM_ROOM - HL_BUF_HEADROOM);
		pk[i].len = shm_frame_len(i);
		shm_frame_fill(pk[i].data, pk[i].len, 1, 2, i);
	}
	CHECK_EQ(hl_shm_tx_burst(pe, pk, k), k);
	unsigned got = hl_shm_port_rx_burst(p, bufs, 16);
	REQUIRE(got == 10);
	for (unsigned i = 0; i < got; i++) {
		CHECK_EQ(shm_frame_check(hl_buf_data(bufs[i]), bufs[i]->data_len), i);
		CHECK(hl_buf_data(bufs[i]) == pk[i].data); /* no copy */
		CHECK(hl_bufpool_buf_at(e.bp, hl_buf_index(bufs[i])) == bufs[i]);
		CHECK_EQ(hl_buf_refcnt(bufs[i]), 1);
	}
	/* the fill ring was topped up again */
	CHECK_EQ(hl_shm_port_peer_held(p), RING / 2);

	/* switch -> peer: refcnt-1 buffers go as they are, their references now the peer's */
	CHECK_EQ(hl_shm_port_tx_burst(p, bufs, got), got);
	CHECK_EQ(hl_bufpool_in_use(e.bp), RING / 2 + 10);
	CHECK_EQ(hl_shm_rx_burst(pe, back, 16), 10);
	for (unsigned i = 0; i < 10; i++) {
		CHECK(back[i].data == pk[i].data);
		CHECK_EQ(shm_frame_check(back[i].data, back[i].len), i);
	}
	/* a flooded buffer (refcnt 2), a chain and another pool's buffer are copied */
	struct hl_buf *b = hl_buf_alloc(e.bp), *t = hl_buf_alloc(e.bp);
	REQUIRE(b != NULL && t != NULL);
	const uint32_t len7 = shm_frame_len(7);
	shm_frame_fill(hl_buf_data(b), len7, 3, 4, 7);
	b->data_len = b->pkt_len = 600;
	memcpy(hl_buf_data(t), (uint8_t *)hl_buf_data(b) + 600, len7 - 600);
	t->data_len = len7 - 600;
	REQUIRE_OK(hl_buf_chain(b, t)); /* one frame in two segments */
	hl_buf_ref(b);
	struct hl_shm_port_stats st0, st1;
	hl_shm_port_stats(p, &st0);
	struct hl_buf *two[2] = {b, b};
	CHECK_EQ(hl_shm_port_tx_burst(p, two, 2), 2); /* both copies sent, both references dropped */
	hl_shm_port_stats(p, &st1);
	CHECK_EQ(st1.copied - st0.copied, 2);
	CHECK_EQ(st1.zcopy - st0.zcopy, 0);
	CHECK_EQ(hl_shm_rx_burst(pe, back + 10, 6), 2);
	for (unsigned i = 10; i < 12; i++) {
		CHECK(back[i].data != hl_buf_data(b));
		CHECK_EQ(shm_frame_check(back[i].data, back[i].len), 7);
	}
	/* a buffer whose data does not start at the headroom is copied too */
	struct hl_buf *moved = hl_buf_alloc(e.bp);
	REQUIRE(moved != NULL);
	moved->data_off = 64;
	moved->data_len = moved->pkt_len = shm_frame_len(9);
	shm_frame_fill(hl_buf_data(moved), moved->data_len, 3, 4, 9);
	CHECK_EQ(hl_shm_port_tx_burst(p, &moved, 1), 1);
	struct hl_shm_pkt one;
	CHECK_EQ(hl_shm_rx_burst(pe, &one, 1), 1);
	CHECK_EQ(shm_frame_check(one.data, one.len), 9);
	CHECK_EQ(hl_shm_release(pe, &one, 1), 1);
	hl_shm_port_stats(p, &st1);
	CHECK_EQ(st1.copied - st0.copied, 3);
	/* an external buffer (e.g. a guest's, zero-copy dequeue) is copied */
	static uint8_t ext_mem[2048];
	static int ext_freed;
	struct hl_buf *x = hl_buf_alloc(e.bp);
	REQUIRE(x != NULL);
	shm_frame_fill(ext_mem, shm_frame_len(11), 5, 6, 11);
	REQUIRE_OK(hl_buf_attach_extbuf(x, ext_mem, 0, shm_frame_len(11), ext_free_cb, &ext_freed));
	CHECK_EQ(hl_shm_port_tx_burst(p, &x, 1), 1);
	CHECK_EQ(ext_freed, 1); /* the port dropped the original: nothing keeps the guest's memory */
	CHECK_EQ(hl_shm_rx_burst(pe, &one, 1), 1);
	CHECK(one.data != (void *)ext_mem);
	CHECK_EQ(shm_frame_check(one.data, one.len), 11);
	CHECK_EQ(hl_shm_release(pe, &one, 1), 1);
	hl_shm_port_stats(p, &st1);
	CHECK_EQ(st1.copied - st0.copied, 4);
	/* too big for a room: skipped and counted, not sent */
	struct hl_buf *big = hl_buf_alloc(e.bp);
	REQUIRE(big != NULL);
	big->data_len = big->pkt_len = SHM_ROOM; /* more than room - headroom */
	CHECK_EQ(hl_shm_port_tx_burst(p, &big, 1), 0);
	CHECK_EQ(hl_buf_refcnt(big), 1); /* not sent: still the caller's */
	hl_buf_free(big);
	hl_shm_port_stats(p, &st1);
	CHECK_EQ(st1.too_big - st0.too_big, 1);

	/* the peer hands everything back; unused fill buffers too */
	CHECK_EQ(hl_shm_release(pe, back, 12), 12);
	k = hl_shm_tx_alloc(pe, pk, 16);
	CHECK_EQ(k, 16);
	CHECK_EQ(hl_shm_release(pe, pk, k), k);
	CHECK_EQ(hl_shm_port_rx_burst(p, bufs, 16), 0);
	CHECK_EQ(hl_shm_port_peer_held(p), RING / 2);
	CHECK_EQ(hl_bufpool_in_use(e.bp), RING / 2);
	hl_shm_port_stats(p, &st1);
	CHECK_EQ(st1.c.returned, 2 + 12 + 16);
	CHECK_EQ(st1.c.bad_offset + st1.c.bad_len + st1.c.not_owned + st1.c.ring_broken, 0);
	hl_shm_detach(pe);
	hl_shm_port_destroy(p); /* takes back the fill ring's buffers */
	env_close(&e);
}

static int run_peer_process(const char *record, const char *port, unsigned n, pid_t *pid)
{
	char path[512], n_s[16];
	snprintf(path, sizeof(path), "%s/shm_peer", hl_test_bindir());
	snprintf(n_s, sizeof(n_s), "%u", n);
	*pid = fork();
	if (*pid == 0) {
		execl(path, "shm_peer", record, port, n_s, (char *)NULL);
		_exit(127);
	}
	return *pid < 0 ? -errno : 0;
}

HL_TEST(peer_in_another_process_through_the_record)
{
	struct env e;
	struct hl_shm_port *p;
	struct hl_buf *bufs[32];
	const unsigned n = 300;
	pid_t pid;

	REQUIRE_ENV(&e, "shm", NBUF, 8);
	REQUIRE_OK(hl_shm_port_create(e.pool, e.bp, "proc", RING, &p));
	REQUIRE_OK(run_peer_process(e.info.record_path, "proc", n, &pid));

	/* echo every frame back once it checks out */
	unsigned got = 0, bad = 0;
	uint64_t deadline = hl_now_ns() + 15ull * 1000000000ull;
	while (got < n && hl_now_ns() < deadline) {
		unsigned k = hl_shm_port_rx_burst(p, bufs, 32), s = 0;
		for (unsigned i = 0; i < k; i++)
			bad += shm_frame_check(hl_buf_data(bufs[i]), bufs[i]->data_len) != (long)(got + i);
		while (s < k && hl_now_ns() < deadline)
			s += hl_shm_port_tx_burst(p, bufs + s, k - s);
		hl_buf_free_bulk(bufs + s, k - s); /* what went is the peer's */
		got += k;
		if (k == 0)
			usleep(100);
	}
	int st = -1;
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK(WIFEXITED(st));
	CHECK_EQ(WEXITSTATUS(st), 0);
	CHECK_EQ(got, n);
	CHECK_EQ(bad, 0);
	/* the peer released all it received: whatever it still holds is in fill */
	hl_shm_port_reclaim(p);
	struct hl_shm_port_stats ps;
	hl_shm_port_stats(p, &ps);
	CHECK_EQ(ps.c.tx_packets, n);
	CHECK_EQ(ps.c.rx_packets, n);
	CHECK_EQ(ps.zcopy, n);
	CHECK_EQ(ps.c.returned, n);
	CHECK_EQ(hl_shm_port_peer_held(p), RING / 2);
	CHECK_EQ(hl_bufpool_in_use(e.bp), RING / 2);
	CHECK(!hl_shm_port_peer_attached(p, NULL));
	hl_shm_port_destroy(p);
	env_close(&e);
}

/* ---- two peers through an hl_switch ------------------------------------------------ */

/*
 * Peer a sends n frames to MAC :0b (unknown, so flooded) or to broadcast;
 * the other peers receive them all, payloads checked. With one receiver the
 * frame is a refcnt-1 buffer and moves as is; with two it is flooded
 * (refcnt 2) and each receiver gets its own copy. Afterwards every buffer
 * in use is in a fill ring, and the owner table agrees.
 */
static void forward_run(unsigned workers, unsigned nrecv)
{
	static const char *const names[3] = {"pa", "pb", "pc"};
	struct env e;
	struct hl_switch *sw;
	struct hl_sw_port *sp[3];
	struct hl_shm_peer *pe[3];
	struct hl_shm_port *port[3];
	struct hl_shm_pkt pk[32];
	const unsigned n = 2000, nports = 1 + nrecv;

	REQUIRE_ENV(&e, "shm", NBUF, 8);
	struct hl_switch_params prm = {.bp = e.bp, .first_cpu = -1, .idle_us = 1000000,
				       .workers = workers};
	REQUIRE_OK(hl_switch_create(&prm, &sw));
	for (unsigned i = 0; i < nports; i++) {
		REQUIRE_OK(hl_sw_port_shm_create(e.pool, e.bp, names[i], false, &sp[i]));
		if (i == 0) {
			/* an isolated port cannot take a shared one's name */
			struct hl_sw_port *x;
			CHECK_EQ(hl_sw_port_shm_create(e.pool, e.bp, names[0], true, &x), -EEXIST);
		}
		CHECK(strcmp(sp[i]->ops->state(sp[i]), "shared, no peer") == 0);
		REQUIRE_OK(hl_switch_add_port(sw, sp[i]));
		REQUIRE_OK(hl_shm_attach_mem(e.info.va, e.info.size, names[i], &pe[i]));
		CHECK(strcmp(sp[i]->ops->state(sp[i]), "shared, peer attached") == 0);
		port[i] = hl_sw_port_shm(sp[i]);
		REQUIRE(port[i] != NULL);
	}

	unsigned sent = 0, got[3] = {0}, bad = 0, least = 0;
	uint64_t deadline = hl_now_ns() + 20ull * 1000000000ull;
	while ((sent < n || least < n) && hl_now_ns() < deadline) {
		unsigned want = n - sent < 32 ? n - sent : 32;
		/* at most 48 in flight, so no receiver's rx ring overflows */
		if (sent - least + want > 48)
			want = 48 - (sent - least);
		unsigned k = hl_shm_tx_alloc(pe[0], pk, want);
		for (unsigned i = 0; i < k; i++) {
			pk[i].len = shm_frame_len(sent + i);
			shm_frame_fill(pk[i].data, pk[i].len, 0xa, nrecv == 1 ? 0xb : 0xff, sent + i);
			if (nrecv > 1)
				memset(pk[i].data, 0xff, 6);
		}
		CHECK_EQ(hl_shm_tx_burst(pe[0], pk, k), k);
		sent += k;
		unsigned moved = k;
		least = n;
		for (unsigned j = 1; j < nports; j++) {
			unsigned r = hl_shm_rx_burst(pe[j], pk, 32);
			for (unsigned i = 0; i < r; i++)
				bad += shm_frame_check(pk[i].data, pk[i].len) != (long)(got[j] + i);
			/* done fills up while the worker that polls this port sleeps
			 * (peers attached with attach_mem do not ring the doorbell):
			 * hold on to the rest and retry */
			unsigned rel = 0;
			while (rel < r && hl_now_ns() < deadline) {
				unsigned m = hl_shm_release(pe[j], pk + rel, r - rel);
				rel += m;
				if (m == 0)
					usleep(200);
			}
			CHECK_EQ(rel, r);
			got[j] += r;
			moved += r;
			if (got[j] < least)
				least = got[j];
		}
		if (moved == 0)
			usleep(50);
	}
	CHECK_EQ(sent, n);
	CHECK_EQ(least, n);
	CHECK_EQ(bad, 0);
	/* let the workers take back what the receivers released */
	struct hl_shm_port_stats ps;
	for (int t = 0; t < 2000; t++) {
		bool settled = true;
		for (unsigned j = 0; j < nports; j++) {
			hl_shm_port_stats(port[j], &ps);
			settled = settled && hl_shm_port_peer_held(port[j]) == SW_RING / 2 &&
				  (j == 0 || ps.c.returned == n);
		}
		if (settled)
			break;
		usleep(1000);
	}
	hl_shm_port_stats(port[0], &ps);
	CHECK_EQ(ps.c.tx_packets, n);
	struct hl_sw_port_stats ss;
	hl_switch_port_stats(sw, sp[0], &ss);
	CHECK_EQ(ss.rx_packets, n);
	CHECK_EQ(ss.drops[HL_SW_DROP_BAD], 0);
	uint64_t zc = 0, cp = 0;
	for (unsigned j = 1; j < nports; j++) {
		hl_shm_port_stats(port[j], &ps);
		CHECK_EQ(ps.c.rx_packets, n);
		zc += ps.zcopy;
		cp += ps.copied;
		CHECK_EQ(ps.c.returned, n);
		CHECK_EQ(ps.tx_full, 0);
		hl_switch_port_stats(sw, sp[j], &ss);
		CHECK_EQ(ss.tx_packets, n);
		CHECK_EQ(ss.drops[HL_SW_DROP_TX_FULL], 0);
	}
	/* one receiver: the sender's buffer moves as is; a flood is copied for
	 * all but the last port it goes to, which gets the original */
	CHECK_EQ(zc, n);
	CHECK_EQ(cp, (nrecv - 1) * n);
	/* exact accounting: everything in use is in a fill ring */
	for (unsigned j = 0; j < nports; j++)
		CHECK_EQ(hl_shm_port_peer_held(port[j]), SW_RING / 2);
	CHECK_EQ(peer_held_total(&e), nports * SW_RING / 2);
	CHECK_EQ(hl_bufpool_in_use(e.bp), nports * SW_RING / 2);
	for (unsigned j = 0; j < nports; j++)
		hl_shm_detach(pe[j]);
	hl_switch_destroy(sw); /* closes the ports, which take their buffers back */
	env_close(&e);
}

HL_TEST(two_port_forwarding_through_the_switch)
{
	forward_run(1, 1);
}

HL_TEST(two_port_forwarding_two_workers)
{
	forward_run(2, 1);
}

HL_TEST(flood_to_two_peers_is_copied)
{
	forward_run(1, 2);
}

/* ---- a hostile peer ------------------------------------------------------------------ */

HL_TEST(hostile_peer_is_refused_and_counted)
{
	struct env e;
	struct hl_shm_port *ph, *pg;

	REQUIRE_ENV(&e, "shm", NBUF, 8);
	REQUIRE_OK(hl_shm_port_create(e.pool, e.bp, "hostile", RING, &ph));
	REQUIRE_OK(hl_shm_port_create(e.pool, e.bp, "good", RING, &pg));
	struct hl_shm_peer *h, *g;
	REQUIRE_OK(hl_shm_attach_mem(e.info.va, e.info.size, "hostile", &h));
	REQUIRE_OK(hl_shm_attach_mem(e.info.va, e.info.size, "good", &g));
	struct hl_shm_pkt pk[8], gk[8];
	REQUIRE(hl_shm_tx_alloc(h, pk, 4) == 4);
	REQUIRE(hl_shm_tx_alloc(g, gk, 2) == 2);

	struct hl_bufpool_geom geo;
	hl_bufpool_geom(e.bp, &geo);
	const uint64_t off0 = hl_shm_desc_off(pk[0].desc);
	const uint64_t max = SHM_ROOM - HL_BUF_HEADROOM;
	struct hl_buf *free_one = hl_buf_alloc(e.bp); /* the switch's: not the peer's */
	REQUIRE(free_one != NULL);
	uint64_t d[] = {
		hl_shm_desc(0x10, 64),                            /* pool header */
		hl_shm_desc(e.info.size + 4096, 64),              /* past the pool */
		hl_shm_desc(HL_SHM_OFF_MASK, 64),                 /* 48-bit garbage */
		hl_shm_desc(off0 + 1, 64),                        /* misaligned */
		hl_shm_desc(off0 - HL_BUF_HEADROOM, 64),          /* the room, not its data */
		hl_shm_desc(geo.zone_off + geo.zone_len + HL_BUF_HEADROOM, 64), /* just past the last */
		hl_shm_desc(off0, 0),                             /* empty */
		hl_shm_desc(off0, (uint32_t)max + 1),             /* longer than the room */
		hl_shm_desc(hl_shm_desc_off(gk[0].desc), 64),     /* the other port's */
		hl_shm_desc(free_one->pool_off + HL_BUF_HEADROOM, 64), /* the switch's */
		hl_shm_desc(hl_shm_desc_off(pk[1].desc), 64),     /* fine */
		hl_shm_desc(hl_shm_desc_off(pk[1].desc), 64),     /* the same buffer twice */
	};
	memset(pk[1].data, 0xee, 64);
	raw_push(h, HL_SHM_RING_TX, d, HL_ARRAY_SIZE(d));
	struct hl_buf *bufs[32];
	unsigned got = hl_shm_port_rx_burst(ph, bufs, 32);
	REQUIRE(got == 1);
	CHECK(hl_buf_data(bufs[0]) == pk[1].data);
	CHECK_EQ(bufs[0]->data_len, 64);
	struct hl_shm_port_stats st;
	hl_shm_port_stats(ph, &st);
	CHECK_EQ(st.c.bad_offset, 6);
	CHECK_EQ(st.c.bad_len, 2);
	CHECK_EQ(st.c.not_owned, 3);
	CHECK_EQ(st.c.tx_packets, 1);
	/* the counters are in the control block for the peer to read */
	CHECK_EQ(hl_shm_peer_ctrl(h)->counters.bad_offset, 6);

	/* done: returning what it does not hold, or holds no longer */
	uint64_t dd[] = {
		hl_shm_desc(off0, 0),                         /* fine: a fill buffer it holds */
		hl_shm_desc(off0, 0),                         /* the same again */
		d[8],                                         /* the other port's */
		hl_shm_desc(hl_shm_desc_off(pk[1].desc), 0),  /* sent already: the switch's now */
		d[0],                                         /* not a buffer */
	};
	raw_push(h, HL_SHM_RING_DONE, dd, HL_ARRAY_SIZE(dd));
	hl_shm_port_reclaim(ph);
	hl_shm_port_stats(ph, &st);
	CHECK_EQ(st.c.returned, 1);
	CHECK_EQ(st.c.not_owned, 3 + 3);
	CHECK_EQ(st.c.bad_offset, 6 + 1);
	/* the good port's buffer is still the good port's */
	CHECK_EQ(hl_shm_port_peer_held(pg), RING / 2);

	/* garbage indices: the tx ring breaks, is counted once, and stays quiet */
	struct hl_shm_ring_hdr *tx = hl_shm_peer_ring(h, HL_SHM_RING_TX)->hdr;
	tx->prod += 1000;
	CHECK_EQ(hl_shm_port_rx_burst(ph, bufs + 1, 31), 0);
	tx->prod -= 2000;
	CHECK_EQ(hl_shm_port_rx_burst(ph, bufs + 1, 31), 0);
	struct hl_shm_ring_hdr *fill = hl_shm_peer_ring(h, HL_SHM_RING_FILL)->hdr;
	fill->cons += 5000; /* consumed more than was ever posted */
	CHECK_EQ(hl_shm_port_refill(ph), 0);
	hl_shm_port_stats(ph, &st);
	CHECK_EQ(st.c.ring_broken, 2);
	CHECK(!hl_shm_port_pending(ph));

	/* the good port is unaffected */
	gk[0].len = shm_frame_len(5);
	shm_frame_fill(gk[0].data, gk[0].len, 1, 2, 5);
	CHECK_EQ(hl_shm_tx_burst(g, gk, 1), 1);
	CHECK_EQ(hl_shm_port_rx_burst(pg, bufs + 1, 31), 1);
	CHECK_EQ(shm_frame_check(hl_buf_data(bufs[1]), bufs[1]->data_len), 5);
	CHECK_EQ(hl_shm_port_tx_burst(pg, bufs, 2), 2); /* one from each peer, both zero copy */
	CHECK_EQ(hl_shm_rx_burst(g, gk, 8), 2);
	CHECK_EQ(memcmp(gk[0].data, pk[1].data, 64), 0);
	CHECK_EQ(hl_shm_release(g, gk, 2), 2);
	hl_shm_port_reclaim(pg);
	struct hl_shm_port_stats gs;
	hl_shm_port_stats(pg, &gs);
	CHECK_EQ(gs.c.bad_offset + gs.c.bad_len + gs.c.not_owned + gs.c.ring_broken, 0);
	CHECK_EQ(gs.c.returned, 2);

	/* nothing leaked, nothing used twice */
	hl_buf_free(free_one);
	check_held_by_peers(&e, (struct hl_shm_port *[]){ph, pg}, 2);
	hl_shm_detach(h);
	hl_shm_detach(g);
	hl_shm_port_destroy(ph);
	hl_shm_port_destroy(pg);
	env_close(&e);
}

/* A peer that rewrites its tx slots while the switch is taking them. */
static struct hl_shm_ring_hdr *g_rewrite_ring;
static uint32_t g_rewrite_start, g_rewrite_n, g_rewrite_mask;

static void rewrite_slots(enum hl_shm_ring_id ring, enum hl_shm_step step)
{
	if (ring != HL_SHM_RING_TX || step != HL_SHM_STEP_OWNERS || g_rewrite_ring == NULL)
		return;
	/* every slot of the burst, checked ones included: the longest length, a bad offset */
	for (uint32_t i = 0; i < g_rewrite_n; i++)
		g_rewrite_ring->slots[(g_rewrite_start + i) & g_rewrite_mask] = hl_shm_desc(0x10, HL_SHM_LEN_MAX);
}

HL_TEST(descriptors_rewritten_after_the_check_change_nothing)
{
	struct env e;
	struct hl_shm_port *p;
	struct hl_shm_peer *pe;
	struct hl_shm_pkt pk[8];
	struct hl_buf *bufs[8];

	REQUIRE_ENV(&e, "shm", NBUF, 8);
	REQUIRE_OK(hl_shm_port_create(e.pool, e.bp, "racer", RING, &p));
	REQUIRE_OK(hl_shm_attach_mem(e.info.va, e.info.size, "racer", &pe));
	REQUIRE(hl_shm_tx_alloc(pe, pk, 8) == 8);
	for (unsigned i = 0; i < 8; i++) {
		pk[i].len = shm_frame_len(20 + i);
		shm_frame_fill(pk[i].data, pk[i].len, 1, 2, 20 + i);
	}
	struct hl_shm_ring *tx = hl_shm_peer_ring(pe, HL_SHM_RING_TX);
	g_rewrite_ring = tx->hdr;
	g_rewrite_start = tx->own;
	g_rewrite_n = 8;
	g_rewrite_mask = tx->mask;
	REQUIRE(hl_shm_tx_burst(pe, pk, 8) == 8);
	hl_shm_test_hook = rewrite_slots;
	unsigned got = hl_shm_port_rx_burst(p, bufs, 8);
	hl_shm_test_hook = NULL;
	g_rewrite_ring = NULL;
	/* the slots did change under the switch, and it took what it had checked */
	CHECK_EQ(hl_shm_desc_len(tx->hdr->slots[g_rewrite_start & g_rewrite_mask]), HL_SHM_LEN_MAX);
	CHECK_EQ(got, 8);
	unsigned same = 0;
	for (unsigned i = 0; i < got; i++)
		same += hl_buf_data(bufs[i]) == pk[i].data && bufs[i]->data_len == pk[i].len &&
			bufs[i]->pkt_len == pk[i].len &&
			shm_frame_check(hl_buf_data(bufs[i]), bufs[i]->data_len) == (long)(20 + i);
	CHECK_EQ(same, 8);
	hl_buf_free_bulk(bufs, got);
	hl_shm_detach(pe);
	hl_shm_port_destroy(p);
	env_close(&e);
}

/* The peer checks what the switch side writes too: its own safety matters. */
HL_TEST(peer_refuses_garbage_from_the_switch_side)
{
	struct env e;
	struct hl_shm_port *p;
	struct hl_shm_peer *pe;
	struct hl_shm_pkt pk[8];
	struct hl_shm_peer_stats st;

	REQUIRE_ENV(&e, "shm", NBUF, 8);
	REQUIRE_OK(hl_shm_port_create(e.pool, e.bp, "p", RING, &p));

	/* a control block whose bufpool geometry lies is refused at attach */
	uint64_t off, len;
	REQUIRE_OK(hl_pool_zone_lookup(e.pool, "shm:p", &off, &len));
	struct hl_shm_ctrl *ctl = hl_pool_off2va(e.pool, off);
	uint64_t saved = ctl->bp_zone_len;
	ctl->bp_zone_len = e.info.size; /* runs past the end of the mapping */
	CHECK_EQ(hl_shm_attach_mem(e.info.va, e.info.size, "p", &pe), -EBADMSG);
	ctl->bp_zone_len = saved;
	uint32_t stride = ctl->bp_stride;
	ctl->bp_stride = 100; /* not a cache-line multiple, smaller than a room */
	CHECK_EQ(hl_shm_attach_mem(e.info.va, e.info.size, "p", &pe), -EBADMSG);
	ctl->bp_stride = stride;
	uint64_t ro = ctl->ring_off[HL_SHM_RING_DONE];
	ctl->ring_off[HL_SHM_RING_DONE] = len; /* a ring past its zone */
	CHECK_EQ(hl_shm_attach_mem(e.info.va, e.info.size, "p", &pe), -EBADMSG);
	ctl->ring_off[HL_SHM_RING_DONE] = ro;
	REQUIRE_OK(hl_shm_attach_mem(e.info.va, e.info.size, "p", &pe));

	/* descriptors on rx and fill that point anywhere but a data start */
	struct hl_shm_ring *rx = hl_shm_peer_ring(pe, HL_SHM_RING_RX);
	uint32_t at = rx->hdr->prod;
	const uint64_t bad[] = {hl_shm_desc(0, 60), hl_shm_desc(HL_SHM_OFF_MASK, 60),
				hl_shm_desc(e.info.size - 64, 60)};
	for (unsigned i = 0; i < HL_ARRAY_SIZE(bad); i++)
		rx->hdr->slots[(at + i) & rx->mask] = bad[i];
	__atomic_store_n(&rx->hdr->prod, at + HL_ARRAY_SIZE(bad), __ATOMIC_RELEASE);
	CHECK_EQ(hl_shm_rx_burst(pe, pk, 8), 0);
	hl_shm_peer_stats(pe, &st);
	CHECK_EQ(st.bad_desc, HL_ARRAY_SIZE(bad));
	/* an impossible producer index: the ring breaks, nothing is read */
	__atomic_store_n(&rx->hdr->prod, at + 5000, __ATOMIC_RELEASE);
	CHECK_EQ(hl_shm_rx_burst(pe, pk, 8), 0);
	hl_shm_peer_stats(pe, &st);
	CHECK_EQ(st.ring_broken, 1);
	/* the peer's own API refuses to send what is not a buffer */
	CHECK_EQ(hl_shm_tx_alloc(pe, pk, 2), 2);
	pk[0].len = SHM_ROOM; /* longer than the room */
	CHECK_EQ(hl_shm_tx_burst(pe, pk, 2), 0);
	pk[0].len = 60;
	pk[1].desc = hl_shm_desc(hl_shm_desc_off(pk[1].desc) + 8, 60);
	CHECK_EQ(hl_shm_tx_burst(pe, pk, 2), 1);
	hl_shm_detach(pe);
	hl_shm_port_destroy(p);
	env_close(&e);
}

/* ---- chains and offload entries --------------------------------------------------------- */

/*
 * Frames of several buffers and with offload metadata both ways, in one
 * process: a peer's chain arrives as one linked frame in its own buffers,
 * goes back unlinked into its segments, and a chain the peer cannot take
 * is copied into one buffer or not sent; offload entries are checked into
 * the frame's metadata and written back from it.
 */
HL_TEST(chains_and_offload_entries_both_ways)
{
	struct env e;
	struct hl_shm_port *p, *q;
	struct hl_shm_peer *pe, *plain;
	struct hl_shm_pkt pk[16], back[16];
	static uint8_t f[HDRS + 3000];

	REQUIRE_ENV(&e, "shm", NBUF, 8);
	REQUIRE_OK(hl_shm_port_create(e.pool, e.bp, "c", RING, &p));
	REQUIRE_OK(hl_shm_port_create(e.pool, e.bp, "n", RING, &q));
	REQUIRE_OK(hl_shm_attach_mem_features(e.info.va, e.info.size, "c", HL_SHM_F_ALL | 0x100, &pe));
	REQUIRE_OK(hl_shm_attach_mem(e.info.va, e.info.size, "n", &plain));
	CHECK_EQ(hl_shm_peer_features(pe), HL_SHM_F_ALL); /* what is not offered is not taken */
	CHECK_EQ(hl_shm_port_features(p), HL_SHM_F_ALL);
	CHECK_EQ(hl_shm_port_features(q), HL_SHM_F_BEAT); /* the beat, which every peer of the library takes */
	CHECK_EQ(hl_shm_port_max_frame(p), HL_SHM_FRAME_MAX);
	CHECK_EQ(hl_shm_port_max_frame(q), SHM_ROOM - HL_BUF_HEADROOM);

	/* a TCP frame of 3054 bytes in two buffers, asking for a checksum and segments of 1000 */
	frame_bytes(f, 3000, 7);
	REQUIRE(hl_shm_tx_alloc(pe, pk, 2) == 2);
	memcpy(pk[0].data, f, 2000);
	memcpy(pk[1].data, f + 2000, HDRS + 1000);
	pk[0].len = 2000;
	pk[1].len = HDRS + 1000;
	pk[0].flags = HL_SHM_PKT_MORE | HL_SHM_PKT_OL;
	pk[0].ol = (struct hl_shm_ol){.csum_start = 34, .csum_offset = 16, .gso_size = 1000, .hdr_len = 1,
				      .flags = HL_SHM_OL_F_CSUM_PARTIAL, .gso_type = HL_SHM_OL_GSO_TCPV4};
	CHECK_EQ(hl_shm_tx_burst(pe, pk, 2), 2);
	struct hl_buf *bufs[16];
	REQUIRE(hl_shm_port_rx_burst(p, bufs, 16) == 1);
	struct hl_buf *b = bufs[0];
	CHECK_EQ(b->nb_segs, 2);
	CHECK_EQ(b->pkt_len, HDRS + 3000);
	CHECK(b->next != NULL && b->next->next == NULL);
	CHECK(hl_buf_data(b) == pk[0].data && hl_buf_data(b->next) == pk[1].data); /* no copy */
	CHECK(b->flags & HL_BUF_F_OFFLOAD);
	/* measured, not believed: the header length hint was wrong */
	CHECK_EQ(b->ol.hdr_len, HDRS);
	CHECK_EQ(b->ol.l2_len, 14);
	CHECK_EQ(b->ol.l3_len, 20);
	CHECK_EQ(b->ol.l4_len, 20);
	CHECK_EQ(b->ol.gso_type, HL_OL_GSO_TCPV4);
	CHECK_EQ(b->ol.gso_size, 1000);
	struct hl_ol_stats ol = {0};
	hl_shm_port_ol_stats(p, &ol);
	CHECK_EQ(ol.accepted, 1);
	CHECK_EQ(ol.hdr_len_fixed, 1);

	/* back to the peer as it is: two slots, MORE and OL, the entry what the switch measured */
	CHECK_EQ(hl_shm_port_tx_burst(p, bufs, 1), 1);
	REQUIRE(hl_shm_rx_burst(pe, back, 16) == 2);
	CHECK_EQ(back[0].flags, HL_SHM_PKT_MORE | HL_SHM_PKT_OL);
	CHECK_EQ(back[1].flags, 0);
	CHECK_EQ(back[0].nsegs, 2);
	CHECK_EQ(back[0].pkt_len, HDRS + 3000);
	CHECK(back[0].data == pk[0].data && back[1].data == pk[1].data);
	CHECK_EQ(back[0].ol.hdr_len, HDRS);
	CHECK_EQ(back[0].ol.gso_size, 1000);
	CHECK_EQ(back[0].ol.flags, HL_SHM_OL_F_CSUM_PARTIAL);
	/* each segment is a buffer of its own now: released in any order */
	CHECK_EQ(hl_shm_release(pe, back + 1, 1), 1);
	CHECK_EQ(hl_shm_release(pe, back, 1), 1);
	hl_shm_port_reclaim(p);
	CHECK_EQ(hl_bufpool_in_use(e.bp), 2 * (RING / 2));

	/* a chain of the switch's to a peer without chains: one buffer if it fits, else not at all */
	struct hl_buf *c1 = hl_buf_alloc(e.bp), *c2 = hl_buf_alloc(e.bp);
	REQUIRE(c1 != NULL && c2 != NULL);
	shm_frame_fill(hl_buf_data(c1), shm_frame_len(3), 3, 4, 3);
	memcpy(hl_buf_data(c2), (uint8_t *)hl_buf_data(c1) + 100, shm_frame_len(3) - 100);
	c1->data_len = c1->pkt_len = 100;
	c2->data_len = shm_frame_len(3) - 100;
	REQUIRE_OK(hl_buf_chain(c1, c2));
	struct hl_buf *two[2] = {c1, NULL};
	CHECK_EQ(hl_shm_port_tx_burst(q, two, 1), 1);
	struct hl_shm_port_stats st;
	hl_shm_port_stats(q, &st);
	CHECK_EQ(st.copied, 1);
	REQUIRE(hl_shm_rx_burst(plain, back, 16) == 1);
	CHECK_EQ(back[0].flags, 0);
	CHECK_EQ(shm_frame_check(back[0].data, back[0].len), 3);
	CHECK_EQ(hl_shm_release(plain, back, 1), 1);
	/* 5000 bytes in three buffers: too big for one, and the peer takes no chains */
	REQUIRE(hl_buf_alloc_bulk(e.bp, bufs, 3) == 0);
	for (int i = 0; i < 3; i++) {
		bufs[i]->data_len = i < 2 ? 2000 : 1000;
		bufs[i]->pkt_len = bufs[i]->data_len;
		if (i > 0)
			REQUIRE_OK(hl_buf_chain(bufs[0], bufs[i]));
	}
	CHECK_EQ(hl_shm_port_tx_burst(q, bufs, 1), 0);
	hl_shm_port_stats(q, &st);
	CHECK_EQ(st.too_big, 1);
	/* the same chain to the peer that takes chains goes as it is, three slots */
	CHECK_EQ(hl_shm_port_tx_burst(p, bufs, 1), 1);
	REQUIRE(hl_shm_rx_burst(pe, back, 16) == 3);
	CHECK_EQ(back[0].nsegs, 3);
	CHECK_EQ(back[0].pkt_len, 5000);
	CHECK_EQ(hl_shm_release(pe, back, 3), 3);
	/* a partial checksum the plain peer cannot take is not sent; a verified frame goes plain */
	struct hl_buf *x = hl_buf_alloc(e.bp), *y = hl_buf_alloc(e.bp);
	REQUIRE(x != NULL && y != NULL);
	memcpy(hl_buf_data(x), f, 200);
	x->data_len = x->pkt_len = 200;
	x->flags |= HL_BUF_F_OFFLOAD;
	x->ol = (struct hl_buf_ol){.csum_start = 34, .csum_offset = 16, .hdr_len = HDRS, .l2_len = 14,
				   .l3_len = 20, .l4_len = 20, .flags = HL_OL_F_CSUM_PARTIAL};
	memcpy(hl_buf_data(y), f, 200);
	y->data_len = y->pkt_len = 200;
	y->flags |= HL_BUF_F_OFFLOAD;
	y->ol = (struct hl_buf_ol){.flags = HL_OL_F_CSUM_VALID};
	struct hl_buf *xy[2] = {x, y};
	CHECK_EQ(hl_shm_port_tx_burst(q, xy, 2), 1);
	CHECK(xy[1] == x); /* not sent: still the caller's */
	hl_buf_free(x);
	hl_shm_port_stats(q, &st);
	CHECK_EQ(st.ol_unfit, 1);
	REQUIRE(hl_shm_rx_burst(plain, back, 16) == 1);
	CHECK_EQ(back[0].flags, 0);
	CHECK_EQ(hl_shm_release(plain, back, 1), 1);
	hl_shm_port_reclaim(p);
	hl_shm_port_reclaim(q);
	CHECK_EQ(hl_bufpool_in_use(e.bp), hl_shm_port_peer_held(p) + hl_shm_port_peer_held(q));
	CHECK_EQ(hl_shm_port_peer_held(p), RING / 2);
	hl_shm_detach(pe);
	hl_shm_detach(plain);
	hl_shm_port_destroy(p);
	hl_shm_port_destroy(q);
	env_close(&e);
}

/* ---- a hostile peer's chains and offload entries, case by case --------------------------- */

enum { B_FOREIGN = -1, B_SWITCH = -2, B_BAD_OFF = -3 };
enum { C_ACCEPTED, C_BAD_CHAIN, C_BAD_OL, C_BAD_OFFSET, C_BAD_LEN, C_NOT_OWNED, C_NCOUNTERS };
#define MORE HL_SHM_DESC_MORE
#define OL HL_SHM_DESC_OL

struct slot_spec {
	int buf; /* the peer's buffer 0..3, or B_* */
	uint32_t len;
	uint64_t flags;
};

struct hostile_row {
	const char *what;
	unsigned n;
	struct slot_spec s[4];
	bool tcp;                /* the buffers hold a TCP frame (else a test frame) */
	struct hl_shm_ol ol;     /* the entry, for a first slot with OL */
	int counter;             /* the one counter that moves, by one */
	int reason;              /* bad_ol from the checks: the offload reason counted; -1 */
	bool taken;              /* the frame's buffers are no longer the peer's */
};

/* an offload entry: csum_start, csum_offset, gso_size, gso_type, flags */
#define OLE(st, of, gs, gt, fl) {.csum_start = (st), .csum_offset = (of), .gso_size = (gs), .flags = (fl), .gso_type = (gt)}
#define P HL_SHM_OL_F_CSUM_PARTIAL
#define V4 HL_SHM_OL_GSO_TCPV4
#define TCP2 {{0, 1000, MORE | OL}, {1, HDRS + 1500 - 1000, 0}}

static const struct hostile_row rows[] = {
	{"a chain of three", 3, {{0, 1000, MORE}, {1, 1000, MORE}, {2, 500, 0}}, false, {0}, C_ACCEPTED, -1, true},
	{"MORE on the last slot published", 2, {{0, 1000, MORE}, {1, 1000, MORE}}, false, {0}, C_BAD_CHAIN, -1, false},
	{"OL on a slot that does not start a frame", 2, {{0, 1000, MORE}, {1, 1000, OL}}, false, {0}, C_BAD_CHAIN, -1, false},
	{"a buffer twice in one frame", 3, {{0, 1000, MORE}, {1, 1000, MORE}, {0, 1000, 0}}, false, {0}, C_NOT_OWNED, -1, false},
	{"another port's buffer after its own", 2, {{0, 1000, MORE}, {B_FOREIGN, 1000, 0}}, false, {0}, C_NOT_OWNED, -1, false},
	{"the switch's buffer after its own", 2, {{0, 1000, MORE}, {B_SWITCH, 1000, 0}}, false, {0}, C_NOT_OWNED, -1, false},
	{"not a data start inside a chain", 3, {{0, 1000, MORE}, {B_BAD_OFF, 1000, MORE}, {1, 10, 0}}, false, {0}, C_BAD_OFFSET, -1, false},
	{"an empty segment", 2, {{0, 1000, MORE}, {1, 0, 0}}, false, {0}, C_BAD_LEN, -1, false},
	{"a segment longer than its room", 2, {{0, 1000, MORE}, {1, SHM_ROOM - HL_BUF_HEADROOM + 1, 0}}, false, {0}, C_BAD_LEN, -1, false},
	{"a partial checksum", 2, TCP2, true, OLE(34, 16, 0, 0, P), C_ACCEPTED, -1, true},
	{"TSO", 2, TCP2, true, {.csum_start = 34, .csum_offset = 16, .gso_size = 536, .hdr_len = 9999, .l3_len = 7, .l2_len = 99, .l4_len = 3, .flags = P, .gso_type = V4}, C_ACCEPTED, -1, true},
	{"a verified frame: not believed", 2, TCP2, true, {.flags = HL_SHM_OL_F_CSUM_VALID}, C_ACCEPTED, -1, true},
	{"csum_start not at TCP", 2, TCP2, true, OLE(40, 16, 0, 0, P), C_BAD_OL, HL_OL_R_CSUM_START, true},
	{"csum_start past the frame", 2, TCP2, true, OLE(5000, 16, 0, 0, P), C_BAD_OL, HL_OL_R_CSUM_START, true},
	{"csum_offset off the checksum", 2, TCP2, true, OLE(34, 6, 0, 0, P), C_BAD_OL, HL_OL_R_CSUM_OFFSET, true},
	{"an unknown gso type", 2, TCP2, true, OLE(34, 16, 536, 7, P), C_BAD_OL, HL_OL_R_GSO_TYPE, true},
	{"ECN without segmentation", 2, TCP2, true, OLE(34, 16, 0, 0, P | HL_SHM_OL_F_ECN), C_BAD_OL, HL_OL_R_GSO_TYPE, true},
	{"TSO6 on IPv4", 2, TCP2, true, OLE(34, 16, 536, HL_SHM_OL_GSO_TCPV6, P), C_BAD_OL, HL_OL_R_GSO_MISMATCH, true},
	{"segmentation without a partial checksum", 2, TCP2, true, OLE(34, 16, 536, V4, 0), C_BAD_OL, HL_OL_R_GSO_NO_CSUM, true},
	{"gso_size 0", 2, TCP2, true, OLE(34, 16, 0, V4, P), C_BAD_OL, HL_OL_R_GSO_SIZE, true},
	{"segments beyond the MTU", 2, TCP2, true, OLE(34, 16, 60000, V4, P), C_BAD_OL, HL_OL_R_GSO_SIZE, true},
	{"a partial checksum on a frame that is not IP", 2, TCP2, false, OLE(34, 16, 0, 0, P), C_BAD_OL, HL_OL_R_NOT_IP, true},
};

/* Publish raw slots (and, for a first slot with OL, its entry) on the peer's tx ring. */
static void raw_frame(struct hl_shm_peer *pe, const uint64_t *d, unsigned n, const struct hl_shm_ol *ol)
{
	struct hl_shm_ring *r = hl_shm_peer_ring(pe, HL_SHM_RING_TX);
	if (ol != NULL)
		hl_shm_ring_put_ol(r, 0, ol);
	for (unsigned i = 0; i < n; i++)
		hl_shm_ring_put(r, i, d[i]);
	hl_shm_ring_publish(r, n);
}

static uint64_t counter_of(const struct hl_shm_port_stats *st, int c)
{
	const uint64_t v[C_NCOUNTERS] = {st->c.tx_packets, st->c.bad_chain, st->c.bad_ol,
					 st->c.bad_offset, st->c.bad_len, st->c.not_owned};
	return v[c];
}

HL_TEST(hostile_chains_and_offload_entries_cost_their_frame)
{
	struct env e;
	struct hl_shm_port *p, *o, *n;
	struct hl_shm_peer *pe, *other, *plain;
	struct hl_shm_pkt pk[4], gk[2], nk[2];
	struct hl_buf *bufs[32];
	static uint8_t f[HDRS + 1500];

	REQUIRE_ENV(&e, "shm", NBUF, 8);
	REQUIRE_OK(hl_shm_port_create(e.pool, e.bp, "h", 256, &p));
	REQUIRE_OK(hl_shm_port_create(e.pool, e.bp, "o", RING, &o));
	REQUIRE_OK(hl_shm_port_create(e.pool, e.bp, "n", RING, &n));
	REQUIRE_OK(hl_shm_attach_mem_features(e.info.va, e.info.size, "h", HL_SHM_F_ALL, &pe));
	REQUIRE_OK(hl_shm_attach_mem(e.info.va, e.info.size, "o", &other));
	REQUIRE_OK(hl_shm_attach_mem(e.info.va, e.info.size, "n", &plain));
	REQUIRE(hl_shm_tx_alloc(other, gk, 1) == 1);
	struct hl_buf *sw_own = hl_buf_alloc(e.bp);
	REQUIRE(sw_own != NULL);
	frame_bytes(f, 1500, 7);
	const unsigned fill_h = 128;

	for (unsigned r = 0; r < HL_ARRAY_SIZE(rows); r++) {
		const struct hostile_row *w = &rows[r];
		struct hl_shm_port_stats s0, s1;
		struct hl_ol_stats o0 = {0}, o1 = {0};
		REQUIRE(hl_shm_tx_alloc(pe, pk, 4) == 4);
		if (w->tcp) {
			memcpy(pk[0].data, f, 1000);
			memcpy(pk[1].data, f + 1000, HDRS + 1500 - 1000);
		} else {
			for (unsigned i = 0; i < 4; i++)
				shm_frame_fill(pk[i].data, 1000, 1, 2, r);
		}
		uint64_t d[4];
		for (unsigned i = 0; i < w->n; i++) {
			const struct slot_spec *sp = &w->s[i];
			uint64_t off = sp->buf >= 0 ? hl_shm_desc_off(pk[sp->buf].desc)
				     : sp->buf == B_FOREIGN ? hl_shm_desc_off(gk[0].desc)
				     : sp->buf == B_SWITCH ? sw_own->pool_off + HL_BUF_HEADROOM
							   : hl_shm_desc_off(pk[0].desc) + 64;
			d[i] = hl_shm_desc(off, sp->len) | sp->flags;
		}
		hl_shm_port_stats(p, &s0);
		hl_shm_port_ol_stats(p, &o0);
		unsigned held0 = hl_shm_port_peer_held(p);
		raw_frame(pe, d, w->n, (w->s[0].flags & OL) ? &w->ol : NULL);
		unsigned got = hl_shm_port_rx_burst(p, bufs, 32);
		hl_shm_port_stats(p, &s1);
		hl_shm_port_ol_stats(p, &o1);
		unsigned moved = 0;
		for (int c = 0; c < C_NCOUNTERS; c++)
			moved += (unsigned)(counter_of(&s1, c) - counter_of(&s0, c));
		if (counter_of(&s1, w->counter) - counter_of(&s0, w->counter) != 1 || moved != 1)
			hl_test_fail(__FILE__, __LINE__, "%s: counter %d did not move alone", w->what, w->counter);
		CHECK_EQ(got, w->counter == C_ACCEPTED);
		if (w->reason >= 0 && o1.refused[w->reason] - o0.refused[w->reason] != 1)
			hl_test_fail(__FILE__, __LINE__, "%s: offload reason %s not counted", w->what,
				     hl_ol_reason_name((enum hl_ol_reason)w->reason));
		if (got == 1) {
			uint32_t bytes = 0;
			for (unsigned i = 0; i < w->n; i++)
				bytes += w->s[i].len;
			CHECK_EQ(bufs[0]->nb_segs, w->n);
			CHECK_EQ(bufs[0]->pkt_len, bytes);
			bool marked = (bufs[0]->flags & HL_BUF_F_OFFLOAD) != 0;
			CHECK_EQ(marked, w->tcp && w->ol.flags != HL_SHM_OL_F_CSUM_VALID);
			if (marked)
				CHECK(bufs[0]->ol.hdr_len == HDRS && bufs[0]->ol.l2_len == 14 && bufs[0]->ol.l3_len == 20 &&
				      bufs[0]->ol.l4_len == 20);
			if (!marked && w->tcp)
				CHECK_EQ(o1.flags_ignored - o0.flags_ignored, 1);
			hl_buf_free(bufs[0]);
		}
		/* a refused frame's buffers are still the peer's: it gives them back, as it may */
		unsigned segs = 0;
		for (unsigned i = 0; i < 4; i++) {
			bool used = false;
			for (unsigned j = 0; j < w->n; j++)
				used = used || w->s[j].buf == (int)i;
			segs += used;
		}
		/* rx_burst topped fill up by what was taken from it */
		CHECK_EQ(hl_shm_port_peer_held(p), held0 + (s1.c.filled - s0.c.filled) - (w->taken ? segs : 0));
		unsigned back = 0;
		struct hl_shm_pkt rel[4];
		for (unsigned i = 0; i < 4; i++) {
			bool used = false;
			for (unsigned j = 0; j < w->n; j++)
				used = used || w->s[j].buf == (int)i;
			if (!(used && w->taken))
				rel[back++] = pk[i];
		}
		CHECK_EQ(hl_shm_release(pe, rel, back), back);
		hl_shm_port_rx_burst(p, bufs, 32);
		if (hl_shm_port_peer_held(p) != fill_h)
			hl_test_fail(__FILE__, __LINE__, "%s: the peer holds %u, not its fill ring's %u", w->what,
				     hl_shm_port_peer_held(p), fill_h);
		CHECK_EQ(hl_bufpool_in_use(e.bp), fill_h + 2 * (RING / 2) + 1);
	}

	/* longer than HL_SHM_SEGS_MAX: refused whole; the slot after it is a frame of its own */
	{
		static uint64_t d[HL_SHM_SEGS_MAX + 1];
		struct hl_shm_port_stats s0, s1;
		REQUIRE(hl_shm_tx_alloc(pe, pk, 2) == 2);
		for (unsigned i = 0; i < HL_SHM_SEGS_MAX; i++)
			d[i] = hl_shm_desc(hl_shm_desc_off(pk[0].desc), 100) | MORE;
		d[HL_SHM_SEGS_MAX] = hl_shm_desc(hl_shm_desc_off(pk[1].desc), 100);
		hl_shm_port_stats(p, &s0);
		raw_frame(pe, d, HL_SHM_SEGS_MAX + 1, NULL);
		unsigned got = hl_shm_port_rx_burst(p, bufs, 32);
		got += hl_shm_port_rx_burst(p, bufs + got, 32 - got);
		hl_shm_port_stats(p, &s1);
		CHECK_EQ(s1.c.bad_chain - s0.c.bad_chain, 1);
		CHECK_EQ(got, 1);
		CHECK(got == 1 && bufs[0]->nb_segs == 1 && hl_buf_data(bufs[0]) == pk[1].data);
		hl_buf_free_bulk(bufs, got);
		CHECK_EQ(hl_shm_release(pe, pk, 1), 1);
	}
	/* longer than HL_SHM_FRAME_MAX, in buffers of the right size */
	{
		uint64_t d[33];
		struct hl_shm_port_stats s0, s1;
		REQUIRE(hl_shm_tx_alloc(pe, pk, 1) == 1);
		for (unsigned i = 0; i < 33; i++)
			d[i] = hl_shm_desc(hl_shm_desc_off(pk[0].desc), SHM_ROOM - HL_BUF_HEADROOM) | (i < 32 ? MORE : 0);
		hl_shm_port_stats(p, &s0);
		raw_frame(pe, d, 33, NULL);
		CHECK_EQ(hl_shm_port_rx_burst(p, bufs, 32), 0);
		hl_shm_port_stats(p, &s1);
		CHECK_EQ(s1.c.bad_len - s0.c.bad_len, 1);
		CHECK_EQ(s1.c.not_owned - s0.c.not_owned, 0); /* refused before any buffer was looked at */
		CHECK_EQ(hl_shm_release(pe, pk, 1), 1);
	}
	/* a peer that took no features: its chains and entries are refused */
	{
		struct hl_shm_port_stats s0, s1;
		REQUIRE(hl_shm_tx_alloc(plain, nk, 2) == 2);
		struct hl_shm_ol good = OLE(34, 16, 0, 0, P);
		uint64_t d[2] = {hl_shm_desc(hl_shm_desc_off(nk[0].desc), 100) | MORE,
				 hl_shm_desc(hl_shm_desc_off(nk[1].desc), 100)};
		hl_shm_port_stats(n, &s0);
		raw_frame(plain, d, 2, NULL);
		d[0] = hl_shm_desc(hl_shm_desc_off(nk[0].desc), 100) | OL;
		raw_frame(plain, d, 1, &good);
		CHECK_EQ(hl_shm_port_rx_burst(n, bufs, 32), 0);
		hl_shm_port_stats(n, &s1);
		CHECK_EQ(s1.c.bad_chain - s0.c.bad_chain, 1);
		CHECK_EQ(s1.c.bad_ol - s0.c.bad_ol, 1);
		/* and its own library will not send them */
		nk[0].flags = HL_SHM_PKT_MORE;
		CHECK_EQ(hl_shm_tx_burst(plain, nk, 2), 0);
		nk[0].flags = HL_SHM_PKT_OL;
		CHECK_EQ(hl_shm_tx_burst(plain, nk, 1), 0);
		/* done's flags mean nothing: the buffers come back */
		uint64_t dd[2] = {nk[0].desc | MORE | OL, nk[1].desc | MORE};
		struct hl_shm_ring *r = hl_shm_peer_ring(plain, HL_SHM_RING_DONE);
		hl_shm_ring_put(r, 0, dd[0]);
		hl_shm_ring_put(r, 1, dd[1]);
		hl_shm_ring_publish(r, 2);
		hl_shm_port_reclaim(n);
		hl_shm_port_stats(n, &s1);
		CHECK_EQ(s1.c.returned - s0.c.returned, 2);
	}
	/* after all that, an honest chain still goes through */
	REQUIRE(hl_shm_tx_alloc(pe, pk, 2) == 2);
	pk[0].len = 700;
	pk[0].flags = HL_SHM_PKT_MORE;
	pk[1].len = 800;
	CHECK_EQ(hl_shm_tx_burst(pe, pk, 2), 2);
	REQUIRE(hl_shm_port_rx_burst(p, bufs, 32) == 1);
	CHECK_EQ(bufs[0]->pkt_len, 1500);
	hl_buf_free(bufs[0]);
	struct hl_shm_port_stats st;
	hl_shm_port_stats(p, &st);
	CHECK_EQ(st.c.ring_broken, 0);
	CHECK_EQ(hl_shm_peer_ctrl(pe)->counters.bad_ol, st.c.bad_ol);
	hl_buf_free(sw_own);
	check_held_by_peers(&e, (struct hl_shm_port *[]){p, o, n}, 3);
	hl_shm_detach(pe);
	hl_shm_detach(other);
	hl_shm_detach(plain);
	hl_shm_port_destroy(p);
	hl_shm_port_destroy(o);
	hl_shm_port_destroy(n);
	env_close(&e);
}

/* ---- a random hostile peer ------------------------------------------------------------ */

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

#define MAXD 4096

/*
 * A peer that mixes buffers it holds with ones it gave back, other ports',
 * random offsets, bad lengths and repeats, on tx and on done, with MORE
 * and OL set at random and offload entries of random bytes (now and then
 * a true one), while the switch side receives, holds, sends back and
 * frees. Throughout: no buffer the switch accepts is one it already holds
 * (in any frame's chain), and buffers in use are exactly the peers' plus
 * the ones the switch holds.
 */
HL_TEST(random_hostile_peer_never_breaks_accounting)
{
	struct env e;
	struct hl_shm_port *p, *o;
	struct hl_shm_peer *pe, *other;
	struct hl_shm_pkt pk[16];
	static uint64_t mine[MAXD], old[MAXD];
	static struct hl_buf *held[MAXD];
	static bool ours[NBUF]; /* buffers in a frame the switch side holds */
	unsigned nmine = 0, nold = 0, nheld = 0, nsegs_held = 0, reused = 0, mismatch = 0;

	REQUIRE_ENV(&e, "shm", NBUF, 8);
	REQUIRE_OK(hl_shm_port_create(e.pool, e.bp, "r", RING, &p));
	REQUIRE_OK(hl_shm_port_create(e.pool, e.bp, "o", RING, &o));
	REQUIRE_OK(hl_shm_attach_mem_features(e.info.va, e.info.size, "r", HL_SHM_F_ALL, &pe));
	REQUIRE_OK(hl_shm_attach_mem(e.info.va, e.info.size, "o", &other));
	REQUIRE(hl_shm_tx_alloc(other, pk, 4) == 4);
	const uint64_t foreign = pk[0].desc;

	for (unsigned it = 0; it < 20000; it++) {
		unsigned a = (unsigned)(rnd() % 8), k;
		switch (a) {
		case 0: /* take from fill */
			k = hl_shm_tx_alloc(pe, pk, 1 + (unsigned)(rnd() % 8));
			for (unsigned i = 0; i < k && nmine < MAXD; i++)
				mine[nmine++] = pk[i].desc;
			break;
		case 1: /* take from rx */
			k = hl_shm_rx_burst(pe, pk, 1 + (unsigned)(rnd() % 8));
			for (unsigned i = 0; i < k && nmine < MAXD; i++)
				mine[nmine++] = pk[i].desc;
			break;
		case 2:
		case 3: { /* a raw burst on tx or done */
			enum hl_shm_ring_id id = a == 2 ? HL_SHM_RING_TX : HL_SHM_RING_DONE;
			struct hl_shm_ring *r = hl_shm_peer_ring(pe, id);
			unsigned n = 1 + (unsigned)(rnd() % 8), room = hl_shm_ring_avail(r);
			uint64_t d[8];
			if (n > room)
				n = room;
			for (unsigned i = 0; i < n; i++) {
				unsigned pick = (unsigned)(rnd() % 10);
				uint64_t off;
				if (pick < 6 && nmine > 0) {
					unsigned j = (unsigned)(rnd() % nmine);
					off = hl_shm_desc_off(mine[j]);
					if (rnd() % 8 != 0) { /* usually hand it over for good */
						if (nold < MAXD)
							old[nold++] = mine[j];
						mine[j] = mine[--nmine];
					}
				} else if (pick < 8 && nold > 0) {
					off = hl_shm_desc_off(old[rnd() % nold]);
				} else if (pick == 8) {
					off = hl_shm_desc_off(foreign);
				} else {
					off = rnd() % (e.info.size + 8192);
				}
				uint32_t len = rnd() % 16 == 0 ? (uint32_t)(rnd() % 0x10000) : 60 + (uint32_t)(rnd() % 1400);
				d[i] = hl_shm_desc(off, len);
				if (rnd() % 3 == 0)
					d[i] |= HL_SHM_DESC_MORE;
				if (rnd() % 8 == 0)
					d[i] |= HL_SHM_DESC_OL;
			}
			/* offload entries for every slot: bytes, or one that could be true */
			struct hl_shm_ring *r2 = hl_shm_peer_ring(pe, id);
			for (unsigned i = 0; i < n; i++) {
				struct hl_shm_ol ol;
				uint64_t w[2] = {rnd(), rnd()};
				memcpy(&ol, w, sizeof(ol));
				if (rnd() % 2)
					ol = (struct hl_shm_ol){.csum_start = 34, .csum_offset = 16, .gso_size = 536,
								.flags = HL_SHM_OL_F_CSUM_PARTIAL,
								.gso_type = (uint8_t)(rnd() % 3)};
				hl_shm_ring_put_ol(r2, i, &ol);
			}
			raw_push(pe, id, d, n);
			break;
		}
		case 4:
		case 5: { /* the switch side receives and holds */
			struct hl_buf *b[16];
			k = hl_shm_port_rx_burst(p, b, 16);
			for (unsigned i = 0; i < k; i++) {
				uint32_t bytes = 0, segs = 0;
				for (struct hl_buf *x = b[i]; x != NULL; x = x->next, segs++) {
					unsigned idx = hl_buf_index(x);
					reused += ours[idx];
					ours[idx] = true;
					bytes += x->data_len;
				}
				mismatch += bytes != b[i]->pkt_len || segs != b[i]->nb_segs;
				nsegs_held += segs;
				held[nheld++] = b[i];
			}
			break;
		}
		case 6: { /* and sends some back, or drops them */
			unsigned n = nheld < 8 ? nheld : 8;
			for (unsigned j = nheld - n; j < nheld; j++)
				for (struct hl_buf *x = held[j]; x != NULL; x = x->next, nsegs_held--)
					ours[hl_buf_index(x)] = false;
			unsigned sent = rnd() % 2 ? hl_shm_port_tx_burst(p, held + nheld - n, n) : 0;
			hl_buf_free_bulk(held + nheld - n + sent, n - sent);
			nheld -= n;
			break;
		}
		default: { /* every so often, check the books */
			unsigned f = 0, q = 0;
			REQUIRE_OK(hl_shm_owner_census(e.pool, &f, &q));
			mismatch += hl_bufpool_in_use(e.bp) != q + nsegs_held;
			break;
		}
		}
	}
	CHECK_EQ(reused, 0);
	CHECK_EQ(mismatch, 0);
	struct hl_shm_port_stats st;
	hl_shm_port_stats(p, &st);
	CHECK(st.c.tx_packets > 100);
	CHECK(st.c.returned > 100);
	CHECK(st.c.bad_offset > 100);
	CHECK(st.c.bad_len > 10);
	CHECK(st.c.not_owned > 100);
	CHECK_EQ(st.c.ring_broken, 0);
	CHECK(st.c.bad_chain > 100);
	CHECK(st.c.bad_ol > 10);
	printf("# random peer: %llu accepted, %llu returned, refused %llu offset / %llu len / %llu not owned / "
	       "%llu chain / %llu offload\n",
	       (unsigned long long)st.c.tx_packets, (unsigned long long)st.c.returned,
	       (unsigned long long)st.c.bad_offset, (unsigned long long)st.c.bad_len,
	       (unsigned long long)st.c.not_owned, (unsigned long long)st.c.bad_chain,
	       (unsigned long long)st.c.bad_ol);
	/* the other port never lost a buffer to this one */
	CHECK_EQ(hl_shm_port_peer_held(o), RING / 2);
	hl_buf_free_bulk(held, nheld);
	hl_shm_detach(pe);
	hl_shm_detach(other);
	hl_shm_port_destroy(p);
	hl_shm_port_destroy(o);
	env_close(&e);
}

/* ---- the doorbell ------------------------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/*
 * A worker asleep on its ports wakes when a peer attached through the
 * record publishes: the peer kicks the port's FIFO. Without the kick the
 * frame would wait for the worker's sleep bound (100 ms).
 */
HL_TEST(doorbell_wakes_a_sleeping_switch)
{
	struct env e;
	struct hl_switch *sw;
	struct hl_sw_port *sa, *sb;
	struct hl_shm_peer *pa, *pb;
	struct hl_shm_pkt pk[4];
	uint64_t lat[40];

	REQUIRE_ENV(&e, "shm", NBUF, 8);
	struct hl_switch_params prm = {.bp = e.bp, .first_cpu = -1, .idle_us = 1000};
	REQUIRE_OK(hl_switch_create(&prm, &sw));
	REQUIRE_OK(hl_sw_port_shm_create(e.pool, e.bp, "da", false, &sa));
	REQUIRE_OK(hl_sw_port_shm_create(e.pool, e.bp, "db", false, &sb));
	CHECK(hl_shm_port_kick_fd(hl_sw_port_shm(sa)) >= 0);
	REQUIRE_OK(hl_switch_add_port(sw, sa));
	REQUIRE_OK(hl_switch_add_port(sw, sb));
	REQUIRE_OK(hl_shm_attach(e.info.record_path, "da", &pa));
	REQUIRE_OK(hl_shm_attach(e.info.record_path, "db", &pb));

	/*
	 * A shm port lets its worker sleep 1 ms at most (a guest on the BAR has
	 * no doorbell), so a frame published just as the worker wakes by itself
	 * needs no kick. Rounds go on until five were published to a sleeping
	 * worker and kicked (or 40 rounds: a doorbell that never rings fails).
	 */
	struct hl_shm_peer_stats ps = {0};
	unsigned rounds = 0;
	for (unsigned round = 0; round < 40 && ps.kicks < 5; round++, rounds++) {
		struct hl_sw_worker_info wi = {0};
		for (int t = 0; t < 20000 && !wi.sleeping; t++) {
			usleep(50);
			hl_switch_worker_info(sw, 0, &wi);
		}
		REQUIRE(wi.sleeping);
		REQUIRE(hl_shm_tx_alloc(pa, pk, 1) == 1);
		pk[0].len = shm_frame_len(round);
		shm_frame_fill(pk[0].data, pk[0].len, 0xa, 0xb, round);
		uint64_t t0 = hl_now_ns();
		REQUIRE(hl_shm_tx_burst(pa, pk, 1) == 1);
		unsigned got = 0;
		while (got == 0 && hl_now_ns() - t0 < 2000000000ull)
			got = hl_shm_rx_burst(pb, pk, 4);
		lat[round] = hl_now_ns() - t0;
		REQUIRE(got == 1);
		CHECK_EQ(shm_frame_check(pk[0].data, pk[0].len), round);
		CHECK_EQ(hl_shm_release(pb, pk, 1), 1);
		hl_shm_peer_stats(pa, &ps);
	}
	CHECK(ps.kicks >= 5);
	qsort(lat, rounds, sizeof(lat[0]), cmp_u64);
	printf("# %u rounds, %llu kicks; wake-up latency: median %llu us, worst %llu us\n", rounds,
	       (unsigned long long)ps.kicks, (unsigned long long)(lat[rounds / 2] / 1000),
	       (unsigned long long)(lat[rounds - 1] / 1000));
	CHECK(lat[rounds / 2] < 40000000ull); /* well under the 100 ms sleep bound */
	hl_shm_detach(pa);
	hl_shm_detach(pb);
	hl_switch_destroy(sw);
	env_close(&e);
}
