/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Offloads between an shm peer and a vhost-user guest through an
 * hl_switch, end to end: hugelink's virtio-user front-end plays the guest.
 * A 64 KiB TCP frame an shm peer sends as a chain of buffers with a TSO
 * request reaches a guest that negotiated TSO whole, its request in the
 * virtio-net header, and a guest that did not as segments with correct
 * checksums; the guest's 64 KiB TSO frames reach a peer that took chains
 * and offloads as one chain with its offload entry, and a peer that took
 * neither as checked segments of one buffer each. Afterwards every buffer
 * in use is a fill buffer the peer holds.
 */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include <hugelink/offload.h>
#include <hugelink/shm_peer.h>
#include <hugelink/shm_port.h>
#include <hugelink/sw_ports.h>
#include <hugelink/switch.h>
#include <hugelink/virtio_user.h>

#include "hl_test.h"
#include "tcp_frame.h"
#include "../memory/pool_util.h"
#include "shm_env.h"

#define NBUF 4096u
#define PAYLOAD 64000u
#define MSS 1448u
#define SEQ0 7u
#define SW_RING 256u
#define ENTRIES 256u


struct rig {
	struct env e;
	struct hl_switch *sw;
	struct hl_sw_port *ssh, *svh;
	struct hl_shm_peer *peer;
	struct hl_pool *fe_pool;
	struct hl_bufpool *fe_bp;
	struct hl_vuser u;
	pthread_t ctrl;
	volatile int stop;
};

/* The switch's control thread: the vhost port's socket and negotiation. */
static void *ctrl_main(void *arg)
{
	struct rig *g = arg;
	while (!g->stop) {
		hl_switch_ctrl(g->sw);
		usleep(500);
	}
	return NULL;
}

static uint8_t g_frame[HDRS + PAYLOAD];

static int rig_open(struct rig *g, uint32_t shm_features, uint64_t fe_features)
{
	char path[256];
	int rc;

	memset(g, 0, sizeof(*g));
	frame_bytes(g_frame, PAYLOAD, SEQ0);
	if ((rc = env_open(&g->e, "sol", NBUF)) < 0 ||
	    (rc = pool_with_bufs(hl_test_tmpdir(), "solfe", 64 << 20, 8192, &g->fe_pool, &g->fe_bp)) < 0)
		return rc;
	struct hl_switch_params prm = {.bp = g->e.bp, .first_cpu = -1, .idle_us = 1000000};
	if ((rc = hl_switch_create(&prm, &g->sw)) < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/sol.sock", hl_test_tmpdir());
	struct hl_sw_vhost_params vp = {.name = "vh", .path = path};
	if ((rc = hl_sw_port_shm_create(g->e.pool, g->e.bp, "sh", false, &g->ssh)) < 0 ||
	    (rc = hl_switch_add_port(g->sw, g->ssh)) < 0 || (rc = hl_sw_port_vhost_create(&vp, &g->svh)) < 0 ||
	    (rc = hl_switch_add_port(g->sw, g->svh)) < 0)
		return rc;
	if ((rc = hl_shm_attach_mem_features(g->e.info.va, g->e.info.size, "sh", shm_features, &g->peer)) < 0)
		return rc;
	if (pthread_create(&g->ctrl, NULL, ctrl_main, g) != 0)
		return -EAGAIN;
	struct hl_vuser_params up = {.path = path, .pool = g->fe_pool, .bp = g->fe_bp, .ring_size = 256,
				     .features = fe_features};
	if ((rc = hl_vuser_open(&g->u, &up)) < 0)
		return rc;
	for (int i = 0; i < 500 && strcmp(g->svh->ops->state(g->svh), "up") != 0; i++)
		usleep(10000);
	return strcmp(g->svh->ops->state(g->svh), "up") == 0 ? 0 : -ETIMEDOUT;
}

static void rig_close(struct rig *g)
{
	hl_vuser_close(&g->u);
	g->stop = 1;
	pthread_join(g->ctrl, NULL);
	hl_shm_detach(g->peer);
	/* the switch's buffers: what the shm peer holds, its fill ring, and nothing else */
	struct hl_shm_port *sp = hl_sw_port_shm(g->ssh);
	for (int i = 0; i < 2000 && hl_shm_port_peer_held(sp) != SW_RING / 2; i++)
		usleep(1000);
	CHECK_EQ(hl_shm_port_peer_held(sp), SW_RING / 2);
	CHECK_EQ(hl_bufpool_in_use(g->e.bp), SW_RING / 2);
	hl_switch_destroy(g->sw);
	pool_release(g->fe_pool, g->fe_bp);
	env_close(&g->e);
}

static const struct hl_shm_ol tso_entry = {.csum_start = 34, .csum_offset = 16, .gso_size = MSS,
					  .hdr_len = HDRS, .flags = HL_SHM_OL_F_CSUM_PARTIAL,
					  .gso_type = HL_SHM_OL_GSO_TCPV4};

/* Hand back what the peer received, waiting for done to drain if need be. */
static void give_back(struct rig *g, const struct hl_shm_pkt *pk, unsigned n)
{
	for (unsigned done = 0, tries = 0; done < n && tries < 10000; tries++) {
		done += hl_shm_release(g->peer, pk + done, n - done);
		if (done < n)
			usleep(100);
	}
}

/* What a receiver got: frames (or segments), those that failed their checks, payload bytes of good ones. */
struct got {
	unsigned frames, bad;
	uint32_t payload;
};

/*
 * All of `count` frames of PAYLOAD bytes arrived, whole or each cut into
 * its MSS-sized segments, none bad.
 */
static void check_got(const struct got *r, unsigned count, bool whole)
{
	CHECK_EQ(r->frames, whole ? count : count * ((PAYLOAD + MSS - 1) / MSS));
	CHECK_EQ(r->bad, 0);
	CHECK_EQ(r->payload, count * PAYLOAD);
}

/* Send `count` TSO frames from the shm peer; what the guest gets, checked, frames or segments. */
static struct got shm_to_guest(struct rig *g, unsigned count, bool whole)
{
	struct hl_shm_pkt pk[64];
	struct hl_buf *rx[32];
	struct got r = {0, 0, 0};
	unsigned sent = 0;

	for (int spin = 0; spin < 200000 && r.payload < count * PAYLOAD; spin++) {
		if (sent < count && sent - (whole ? r.frames : r.frames / 45) < 2) {
			unsigned n = shm_chain_fill(g->peer, pk, g_frame, HDRS + PAYLOAD, &tso_entry);
			if (n > 0 && hl_shm_tx_burst(g->peer, pk, n) == n)
				sent++;
			else if (n > 0)
				give_back(g, pk, n);
		}
		uint16_t m = hl_vuser_rx_burst(&g->u, rx, 32);
		for (uint16_t i = 0; i < m; i++) {
			uint32_t len;
			uint8_t *flat = flatten(rx[i], &len);
			if (whole) {
				bool ok = tso_whole(rx[i], flat, len, g_frame, HDRS + PAYLOAD, MSS);
				r.bad += !ok;
				r.payload += ok ? PAYLOAD : 0;
			} else if (!segment_of(flat, len, g_frame, PAYLOAD, SEQ0, &r.payload)) {
				r.bad++;
			}
			free(flat);
			r.frames++;
			hl_buf_free(rx[i]);
		}
		if (m == 0)
			usleep(50);
	}
	return r;
}

/* The guest sends `count` TSO frames; what the shm peer gets, checked, frames or segments. */
static struct got guest_to_shm(struct rig *g, unsigned count, bool whole)
{
	static struct hl_shm_pkt pk[ENTRIES];
	static uint8_t flat[HDRS + PAYLOAD];
	struct got r = {0, 0, 0};
	unsigned sent = 0;

	for (int spin = 0; spin < 200000 && r.payload < count * PAYLOAD; spin++) {
		if (sent < count && sent * PAYLOAD < r.payload + 2 * PAYLOAD) {
			struct hl_buf *b = tso_chain(g->fe_bp, g_frame, HDRS + PAYLOAD, MSS);
			if (b != NULL && hl_vuser_tx_burst(&g->u, &b, 1) == 1)
				sent++;
			else if (b != NULL)
				hl_buf_free(b);
		}
		hl_vuser_tx_reclaim(&g->u);
		unsigned m = hl_shm_rx_burst(g->peer, pk, ENTRIES);
		for (unsigned i = 0; i < m; i += pk[i].nsegs) {
			uint32_t len = shm_chain_flatten(pk + i, flat);
			if (whole) {
				bool ok = len == HDRS + PAYLOAD && pk[i].pkt_len == len && pk[i].nsegs > 1 &&
					  memcmp(flat + 14, g_frame + 14, len - 14) == 0 &&
					  (pk[i].flags & HL_SHM_PKT_OL) && pk[i].ol.gso_type == HL_SHM_OL_GSO_TCPV4 &&
					  pk[i].ol.gso_size == MSS && pk[i].ol.csum_start == 34 &&
					  pk[i].ol.csum_offset == 16 && pk[i].ol.hdr_len == HDRS &&
					  (pk[i].ol.flags & HL_SHM_OL_F_CSUM_PARTIAL);
				r.bad += !ok;
				r.payload += ok ? PAYLOAD : 0;
			} else if (pk[i].nsegs != 1 || (pk[i].flags & HL_SHM_PKT_OL) ||
				   !segment_of(flat, len, g_frame, PAYLOAD, SEQ0, &r.payload)) {
				r.bad++;
			}
			r.frames++;
		}
		give_back(g, pk, m);
		if (m == 0)
			usleep(50);
	}
	return r;
}

HL_TEST(shm_tso_frame_reaches_a_tso_guest_whole)
{
	struct rig g;

	HL_TEST_NEED(free_hugepages_2m() >= 48, "48 free 2 MiB hugepages");
	REQUIRE_OK(rig_open(&g, HL_SHM_F_ALL, BASE_F | HOST_F | GUEST_F));
	CHECK_EQ(hl_shm_peer_features(g.peer), HL_SHM_F_ALL);
	struct got r = shm_to_guest(&g, 8, true);
	check_got(&r, 8, true);
	struct hl_sw_port_stats ss;
	hl_switch_port_stats(g.sw, g.ssh, &ss);
	CHECK_EQ(ss.rx_packets, 8);
	CHECK_EQ(ss.ol.accepted, 8); /* the peer's entries, checked against the frames */
	hl_switch_port_stats(g.sw, g.svh, &ss);
	CHECK_EQ(ss.tx_packets, 8);
	CHECK_EQ(ss.ol.gso_frames, 0); /* nothing cut on the way */
	CHECK_EQ(g.u.stats.rx_bad, 0);
	rig_close(&g);
}

HL_TEST(shm_tso_frame_is_segmented_for_a_guest_without_tso)
{
	struct rig g;

	HL_TEST_NEED(free_hugepages_2m() >= 48, "48 free 2 MiB hugepages");
	REQUIRE_OK(rig_open(&g, HL_SHM_F_ALL, BASE_F));
	struct got r = shm_to_guest(&g, 4, false);
	check_got(&r, 4, false);
	struct hl_sw_port_stats ss;
	hl_switch_port_stats(g.sw, g.svh, &ss);
	CHECK_EQ(ss.ol.gso_frames, 4);
	CHECK_EQ(ss.ol.gso_segments, r.frames);
	rig_close(&g);
}

HL_TEST(guest_tso_frame_reaches_a_chain_and_offload_peer_whole)
{
	struct rig g;

	HL_TEST_NEED(free_hugepages_2m() >= 48, "48 free 2 MiB hugepages");
	REQUIRE_OK(rig_open(&g, HL_SHM_F_ALL, BASE_F | HOST_F | GUEST_F));
	struct got r = guest_to_shm(&g, 8, true);
	check_got(&r, 8, true);
	struct hl_shm_port_stats ps;
	hl_shm_port_stats(hl_sw_port_shm(g.ssh), &ps);
	CHECK_EQ(ps.c.rx_packets, 8);
	CHECK_EQ(ps.too_big + ps.ol_unfit, 0);
	rig_close(&g);
}

HL_TEST(guest_tso_frame_is_segmented_for_a_plain_peer)
{
	struct rig g;

	HL_TEST_NEED(free_hugepages_2m() >= 48, "48 free 2 MiB hugepages");
	REQUIRE_OK(rig_open(&g, 0, BASE_F | HOST_F | GUEST_F));
	CHECK_EQ(hl_shm_peer_features(g.peer), HL_SHM_F_BEAT); /* nothing but the beat */
	uint32_t caps = 1, max_frame = 0;
	g.ssh->ops->offloads(g.ssh, &caps, &max_frame);
	CHECK_EQ(caps, 0);
	CHECK_EQ(max_frame, SHM_ROOM - HL_BUF_HEADROOM);
	struct got r = guest_to_shm(&g, 4, false);
	check_got(&r, 4, false);
	rig_close(&g);
}
