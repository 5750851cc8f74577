/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Offloads and large frames between a vhost-user guest and a memif peer
 * through an hl_switch. memif descriptors carry no per-frame metadata, so
 * whatever a guest left to the device must be done before a frame enters
 * a memif ring: a guest's 64 KiB TSO frame reaches the memif peer as
 * segments of at most 1514 bytes with correct IPv4 and TCP sums, and a
 * frame with only a partial checksum arrives with its sum completed. The
 * other way a 9000-byte frame the peer sends as a chain of descriptors
 * reaches a guest whole, with no offload request in its header.
 *
 * The peer is hugelink's own memif client role, in this process, with
 * buffers from a pool of its own: the switch's memif port is the server,
 * as it is for a DPDK or VPP application. At the end every buffer of every
 * pool is back.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include <hugelink/memif_port.h>
#include <hugelink/offload.h>
#include <hugelink/sw_ports.h>
#include <hugelink/switch.h>
#include <hugelink/virtio_user.h>

#include "hl_test.h"
#include "tcp_frame.h"
#include "../memory/pool_util.h"

#define PAYLOAD 64000u
#define MSS 1448u
#define SEQ0 11u
#define JUMBO 9000u

struct rig {
	struct hl_pool *sw_pool, *fe_pool, *mc_pool;
	struct hl_bufpool *sw_bp, *fe_bp, *mc_bp;
	struct hl_switch *sw;
	struct hl_sw_port *svh, *smi;
	struct hl_memif_port mc; /* the peer: a memif client */
	struct hl_vuser u;
	pthread_t ctrl;
	volatile int stop;
};

/* The control thread: the switch's sockets and the peer's handshake. */
static void *ctrl_main(void *arg)
{
	for (struct rig *g = arg; !g->stop; usleep(500)) {
		hl_switch_ctrl(g->sw);
		hl_memif_port_poll_ctrl(&g->mc);
	}
	return NULL;
}

static bool up(const struct hl_sw_port *p)
{
	return strcmp(p->ops->state(p), "up") == 0;
}

static uint8_t g_frame[HDRS + PAYLOAD];

static int rig_open(struct rig *g)
{
	char vpath[256], mpath[256];
	int rc;

	memset(g, 0, sizeof(*g));
	g->mc.conn_fd = g->mc.listen_fd = -1;
	frame_bytes(g_frame, PAYLOAD, SEQ0);
	if ((rc = pool_with_bufs(hl_test_tmpdir(), "mosw", 32 << 20, 4096, &g->sw_pool, &g->sw_bp)) < 0 ||
	    (rc = pool_with_bufs(hl_test_tmpdir(), "mofe", 32 << 20, 4096, &g->fe_pool, &g->fe_bp)) < 0 ||
	    (rc = pool_with_bufs(hl_test_tmpdir(), "momc", 16 << 20, 4096, &g->mc_pool, &g->mc_bp)) < 0)
		return rc;
	struct hl_switch_params prm = {.bp = g->sw_bp, .first_cpu = -1, .idle_us = 1000000};
	if ((rc = hl_switch_create(&prm, &g->sw)) < 0)
		return rc;
	snprintf(vpath, sizeof(vpath), "%s/mo-vh.sock", hl_test_tmpdir());
	snprintf(mpath, sizeof(mpath), "%s/mo-mi.sock", hl_test_tmpdir());
	struct hl_sw_vhost_params vp = {.name = "vh", .path = vpath};
	struct hl_sw_memif_params mp = {.name = "mi", .path = mpath, .ring_size = 256};
	if ((rc = hl_sw_port_vhost_create(&vp, &g->svh)) < 0 || (rc = hl_switch_add_port(g->sw, g->svh)) < 0 ||
	    (rc = hl_sw_port_memif_create(&mp, &g->smi)) < 0 || (rc = hl_switch_add_port(g->sw, g->smi)) < 0)
		return rc;
	struct hl_memif_port_params cp = {.path = mpath, .ring_size = 256, .name = "peer", .client = true,
					  .bp = g->mc_bp};
	if ((rc = hl_memif_port_open(&g->mc, &cp)) < 0)
		return rc;
	if (pthread_create(&g->ctrl, NULL, ctrl_main, g) != 0)
		return -EAGAIN;
	struct hl_vuser_params up_ = {.path = vpath, .pool = g->fe_pool, .bp = g->fe_bp, .ring_size = 256,
				      .features = BASE_F | HOST_F | GUEST_F};
	if ((rc = hl_vuser_open(&g->u, &up_)) < 0)
		return rc;
	for (int i = 0; i < 500 && !(up(g->svh) && up(g->smi) && hl_memif_port_up(&g->mc)); i++)
		usleep(10000);
	return up(g->svh) && up(g->smi) && hl_memif_port_up(&g->mc) ? 0 : -ETIMEDOUT;
}

static void rig_close(struct rig *g)
{
	hl_vuser_close(&g->u);
	g->stop = 1;
	pthread_join(g->ctrl, NULL);
	hl_memif_port_close(&g->mc);
	hl_switch_destroy(g->sw);
	CHECK_EQ(hl_bufpool_in_use(g->mc_bp), 0);
	CHECK_EQ(hl_bufpool_in_use(g->fe_bp), 0);
	CHECK_EQ(hl_bufpool_in_use(g->sw_bp), 0);
	hl_bufpool_free(g->mc_bp);
	hl_pool_destroy(g->mc_pool);
	hl_bufpool_free(g->fe_bp);
	hl_pool_destroy(g->fe_pool);
	hl_bufpool_free(g->sw_bp);
	hl_pool_destroy(g->sw_pool);
}

/* What the memif peer got: frames, those that were no good segment, payload seen, the longest. */
struct tally {
	unsigned got, bad;
	uint32_t seen, biggest;
};

/* One burst at the memif peer, each frame checked as a segment of g_frame. */
static uint16_t peer_take(struct rig *g, uint32_t payload, struct tally *t)
{
	struct hl_buf *rx[32];
	uint16_t m = hl_memif_client_rx_burst(&g->mc, rx, 32);
	for (uint16_t i = 0; i < m; i++) {
		uint32_t len = 0;
		uint8_t *flat = flatten(rx[i], &len);
		t->bad += flat == NULL || !segment_of(flat, len, g_frame, payload, SEQ0, &t->seen);
		t->biggest = len > t->biggest ? len : t->biggest;
		t->got++;
		free(flat);
	}
	hl_buf_free_bulk(rx, m);
	return m;
}

/*
 * The guest sends `count` copies of a frame with `payload` bytes (TSO at
 * mss, or a partial checksum only with mss 0); the memif peer checks them.
 */
static struct tally guest_to_memif(struct rig *g, unsigned count, uint32_t payload, uint16_t mss)
{
	struct tally t = {0};
	unsigned sent = 0;

	frame_bytes(g_frame, payload, SEQ0);
	for (int spin = 0; spin < 200000 && t.seen < count * payload; spin++) {
		if (sent < count && sent * payload < t.seen + 2 * payload) {
			struct hl_buf *b = tso_chain(g->fe_bp, g_frame, HDRS + payload, mss);
			if (b != NULL && hl_vuser_tx_burst(&g->u, &b, 1) == 1)
				sent++;
			else if (b != NULL)
				hl_buf_free(b);
		}
		hl_vuser_tx_reclaim(&g->u);
		if (peer_take(g, payload, &t) == 0)
			usleep(50);
	}
	return t;
}

HL_TEST(guest_tso_frame_reaches_a_memif_peer_as_checked_segments)
{
	struct rig g;
	struct hl_sw_port_stats ss;
	uint32_t caps = 1, max_frame = 0;

	HL_TEST_NEED(free_hugepages_2m() >= 48, "48 free 2 MiB hugepages");
	REQUIRE_OK(rig_open(&g));
	g.smi->ops->offloads(g.smi, &caps, &max_frame);
	CHECK_EQ(caps, 0);
	CHECK_EQ(max_frame, 1514);
	struct tally t = guest_to_memif(&g, 4, PAYLOAD, MSS);
	hl_switch_port_stats(g.sw, g.smi, &ss);
	CHECK_EQ(t.bad, 0);
	CHECK_EQ(t.seen, 4 * PAYLOAD);
	CHECK_EQ(t.got, 4 * ((PAYLOAD + MSS - 1) / MSS));
	CHECK(t.biggest <= 1514);
	CHECK_EQ(ss.ol.gso_frames, 4);
	CHECK_EQ(ss.ol.gso_segments, t.got);
	CHECK_EQ(ss.tx_packets, t.got);
	rig_close(&g);
}

HL_TEST(guest_partial_checksum_is_completed_before_memif)
{
	struct rig g;
	struct hl_sw_port_stats ss;

	HL_TEST_NEED(free_hugepages_2m() >= 48, "48 free 2 MiB hugepages");
	REQUIRE_OK(rig_open(&g));
	struct tally t = guest_to_memif(&g, 16, 1000, 0);
	hl_switch_port_stats(g.sw, g.smi, &ss);
	CHECK_EQ(t.bad, 0);
	CHECK_EQ(t.got, 16);
	CHECK_EQ(t.seen, 16 * 1000);
	CHECK_EQ(t.biggest, HDRS + 1000);
	CHECK_EQ(ss.ol.gso_frames, 0);
	CHECK(ss.ol.csum_done >= 16);
	rig_close(&g);
}

/* A frame of len bytes in buffers of bp, chained, as the memif peer lends it. */
static struct hl_buf *plain_chain(struct hl_bufpool *bp, const uint8_t *f, uint32_t len)
{
	struct hl_buf *b = tso_chain(bp, f, len, 0);
	if (b != NULL) {
		b->flags &= (uint16_t)~HL_BUF_F_OFFLOAD;
		memset(&b->ol, 0, sizeof(b->ol));
	}
	return b;
}

HL_TEST(memif_jumbo_chain_reaches_the_guest_whole)
{
	struct rig g;
	static uint8_t f[JUMBO];
	struct hl_buf *rx[32];
	unsigned got = 0, good = 0, sent = 0;

	HL_TEST_NEED(free_hugepages_2m() >= 48, "48 free 2 MiB hugepages");
	REQUIRE_OK(rig_open(&g));
	frame_bytes(f, JUMBO - HDRS, SEQ0);
	/* the other way round: from the peer's MAC to the guest's */
	memcpy(f, g_frame + 6, 6);
	memcpy(f + 6, g_frame, 6);
	for (int spin = 0; spin < 100000 && got < 8; spin++) {
		if (sent < 8 && sent <= got + 1) {
			struct hl_buf *b = plain_chain(g.mc_bp, f, JUMBO);
			if (b != NULL && hl_memif_client_tx_burst(&g.mc, 0, &b, 1) == 1)
				sent++;
			else if (b != NULL)
				hl_buf_free(b);
		}
		uint16_t m = hl_vuser_rx_burst(&g.u, rx, 32);
		for (uint16_t i = 0; i < m; i++) {
			uint32_t len;
			uint8_t *flat = flatten(rx[i], &len);
			good += flat != NULL && len == JUMBO && memcmp(flat, f, JUMBO) == 0 &&
				!(rx[i]->flags & HL_BUF_F_OFFLOAD);
			free(flat);
			got++;
			hl_buf_free(rx[i]);
		}
		if (m == 0)
			usleep(50);
	}
	CHECK_EQ(sent, 8);
	CHECK_EQ(got, 8);
	CHECK_EQ(good, 8);
	CHECK_EQ(g.u.stats.rx_bad, 0);
	const struct hl_memif_port *sp = hl_sw_port_memif(g.smi);
	CHECK_EQ(sp->rx[0].stats.chained, 8);
	CHECK_EQ(g.mc.tx[0].stats.chained, 8);
	rig_close(&g);
}
