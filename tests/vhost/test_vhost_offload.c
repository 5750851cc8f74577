/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guest offloads over a real vhost-user socket: hugelink's virtio-user
 * front-end plays the guest and sends 64 KiB TCP frames with a TSO header;
 * the back-end (copy and zero-copy dequeue) checks the header into the
 * frame's metadata, and an echo thread sends each frame back the way the
 * switch would (hl_ol_prepare for what the receive queue negotiated, then
 * the enqueue). A guest that takes TSO gets the 64 KiB frame and its
 * header back; one that does not gets segments with correct checksums. A
 * header that lies costs its frame, counted by reason, and no buffer.
 */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include <hugelink/offload.h>
#include <hugelink/vhost_port.h>
#include <hugelink/virtio_user.h>

#include "../../src/vhost/vhost_port_pvt.h"
#include "echo_util.h"
#include "hl_test.h"
#include "tcp_frame.h"
#include "../memory/pool_util.h"

#define PAYLOAD 64000u
#define MSS 1448u

static struct hl_vhost_port port;
static struct hl_pool *sw_pool;
static struct hl_bufpool *sw_bp;
static volatile int stop_echo;
static uint64_t seen_offload; /* frames the back-end marked with offload metadata */
static bool no_offload;       /* the next port offers no offloads */

static void *echo_thread(void *arg)
{
	struct hl_buf *pkts[HL_VHOST_BURST], *segs[HL_OL_SEGS_MAX];
	struct hl_ol_stats st = {0};
	(void)arg;
	while (!stop_echo) {
		uint16_t n = echo_take(&port, sw_bp, pkts);
		if (n == 0)
			continue;
		uint32_t caps = __atomic_load_n(&port.vq[0].ol_caps, __ATOMIC_RELAXED);
		for (uint16_t k = 0; k < n; k++) {
			if (pkts[k]->flags & HL_BUF_F_OFFLOAD)
				__atomic_fetch_add(&seen_offload, 1, __ATOMIC_RELAXED);
			int m = hl_ol_prepare(pkts[k], caps, HL_OL_FRAME_MAX, sw_bp, segs, HL_OL_SEGS_MAX, &st);
			if (m < 0) {
				hl_buf_free(pkts[k]);
				continue;
			}
			uint16_t sent = 0;
			for (int tries = 0; sent < m && tries < 20000 && !stop_echo; tries++) {
				uint16_t s = hl_vhost_enqueue_burst(&port, 0, segs + sent, (uint16_t)(m - sent), NULL);
				if (s == 0)
					usleep(20);
				sent += s;
			}
			hl_buf_free_bulk(segs, (unsigned)m);
		}
	}
	return NULL;
}

/* The frame in pool buffers, marked the way a TSO sender marks it. */
static struct hl_buf *tso_frame(struct hl_bufpool *bp, const uint8_t *f, uint32_t len, bool gso)
{
	return tso_chain(bp, f, len, gso ? MSS : 0);
}

/* A received segment of the test's frame (sequence numbers from 7). */
static bool segment_ok(const uint8_t *f, uint32_t len, const uint8_t *orig, uint32_t *payload_seen)
{
	return segment_of(f, len, orig, PAYLOAD, 7, payload_seen);
}

struct env {
	struct hl_pool *fe_pool;
	struct hl_bufpool *fe_bp;
	struct hl_vuser u;
	pthread_t th;
};

static int env_open(struct env *e, enum hl_vhost_zc_mode zc, uint64_t fe_features)
{
	char path[256];
	int rc;

	stop_echo = 0;
	seen_offload = 0;
	if ((rc = pool_with_bufs(hl_test_tmpdir(), "osw", 64 << 20, 8192, &sw_pool, &sw_bp)) < 0 ||
	    (rc = pool_with_bufs(hl_test_tmpdir(), "ofe", 64 << 20, 8192, &e->fe_pool, &e->fe_bp)) < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/ol.sock", hl_test_tmpdir());
	struct hl_vhost_port_params pp = {.path = path, .zc_mode = zc, .no_offload = no_offload};
	if ((rc = hl_vhost_port_open(&port, &pp)) < 0)
		return rc;
	if (pthread_create(&e->th, NULL, echo_thread, NULL) != 0)
		return -EAGAIN;
	struct hl_vuser_params up = {.path = path, .pool = e->fe_pool, .bp = e->fe_bp, .ring_size = 256,
				     .features = fe_features};
	if ((rc = hl_vuser_open(&e->u, &up)) < 0)
		return rc;
	return echo_ready(&port) ? 0 : -ETIMEDOUT;
}

static void env_close(struct env *e)
{
	echo_stop(&e->u, &stop_echo, e->th);
	CHECK_EQ(hl_bufpool_in_use(e->fe_bp), 0);
	CHECK_EQ(hl_bufpool_in_use(sw_bp), 0);
	hl_vhost_port_close(&port);
	hl_bufpool_free(e->fe_bp);
	hl_bufpool_free(sw_bp);
	hl_pool_destroy(e->fe_pool);
	hl_pool_destroy(sw_pool);
}


/* Send `count` 64 KiB TSO frames and take back what comes; returns frames (or segments) received. */
static unsigned round_trip(struct env *e, unsigned count, bool expect_whole, unsigned *bad, uint32_t *payload)
{
	static uint8_t f[HDRS + PAYLOAD];
	struct hl_buf *rx[32];
	unsigned sent = 0, got = 0;
	uint32_t want = count * PAYLOAD;

	frame_bytes(f, PAYLOAD, 7);
	*bad = 0;
	*payload = 0;
	for (int spin = 0; spin < 400000 && *payload < want; spin++) {
		if (sent < count) {
			struct hl_buf *b = tso_frame(e->fe_bp, f, HDRS + PAYLOAD, true);
			if (b != NULL && hl_vuser_tx_burst(&e->u, &b, 1) == 1)
				sent++;
			else if (b != NULL)
				hl_buf_free(b);
		}
		uint16_t n = hl_vuser_rx_burst(&e->u, rx, 32);
		for (uint16_t i = 0; i < n; i++) {
			uint32_t len;
			uint8_t *flat = flatten(rx[i], &len);
			if (expect_whole) {
				/* the frame comes back as it went, its TSO request in its header */
				bool ok = tso_whole(rx[i], flat, len, f, HDRS + PAYLOAD, MSS);
				*bad += !ok;
				*payload += ok ? PAYLOAD : 0;
			} else if (!segment_ok(flat, len, f, payload)) {
				(*bad)++;
			}
			free(flat);
			got++;
			hl_buf_free(rx[i]);
		}
		if (n == 0)
			usleep(20);
	}
	hl_vuser_tx_reclaim(&e->u);
	return got;
}

static void tso_to_tso_guest(enum hl_vhost_zc_mode zc)
{
	struct env e;
	unsigned bad;
	uint32_t payload;

	HL_TEST_NEED(access("/dev/hugepages", F_OK) == 0, "hugetlbfs at /dev/hugepages");
	REQUIRE_OK(env_open(&e, zc, BASE_F | HOST_F | GUEST_F));
	CHECK_EQ(port.vq[1].ol_caps, HL_OL_CAP_CSUM | HL_OL_CAP_TSO4 | HL_OL_CAP_TSO6);
	CHECK_EQ(port.vq[0].ol_caps, HL_OL_CAP_CSUM | HL_OL_CAP_TSO4 | HL_OL_CAP_TSO6);
	unsigned got = round_trip(&e, 40, true, &bad, &payload);
	CHECK_EQ(got, 40);
	CHECK_EQ(bad, 0);
	CHECK_EQ(payload, 40 * PAYLOAD);
	CHECK_EQ(seen_offload, 40);
	CHECK_EQ(port.vq[1].stats.ol.accepted, 40);
	CHECK_EQ(port.vq[1].stats.drop_bad_offload, 0);
	if (zc == HL_VHOST_ZC_ON)
		CHECK_EQ(port.vq[1].stats.zcopy, 40); /* a 64 KiB frame left in guest memory */
	CHECK_EQ(e.u.stats.rx_bad, 0);
	env_close(&e);
}

HL_TEST(tso_frames_reach_a_tso_guest_whole_copy)
{
	tso_to_tso_guest(HL_VHOST_ZC_OFF);
}

HL_TEST(tso_frames_reach_a_tso_guest_whole_zero_copy)
{
	tso_to_tso_guest(HL_VHOST_ZC_ON);
}

HL_TEST(tso_frames_are_segmented_for_a_guest_without_tso)
{
	struct env e;
	unsigned bad;
	uint32_t payload;

	HL_TEST_NEED(access("/dev/hugepages", F_OK) == 0, "hugetlbfs at /dev/hugepages");
	/* this guest may send TSO but takes neither TSO nor partial checksums */
	REQUIRE_OK(env_open(&e, HL_VHOST_ZC_AUTO, BASE_F | HOST_F));
	CHECK_EQ(port.vq[0].ol_caps, 0);
	unsigned got = round_trip(&e, 10, false, &bad, &payload);
	CHECK_EQ(bad, 0);
	CHECK_EQ(payload, 10 * PAYLOAD);
	CHECK_EQ(got, 10 * ((PAYLOAD + MSS - 1) / MSS));
	env_close(&e);
}

HL_TEST(lying_headers_cost_their_frame_and_no_buffer)
{
	struct env e;
	static uint8_t f[HDRS + PAYLOAD];

	HL_TEST_NEED(access("/dev/hugepages", F_OK) == 0, "hugetlbfs at /dev/hugepages");
	REQUIRE_OK(env_open(&e, HL_VHOST_ZC_AUTO, BASE_F | HOST_F | GUEST_F));
	frame_bytes(f, 1000, 7);
	/* csum_start beyond the frame, csum_offset off the TCP checksum, gso_size 0, TSO6 on IPv4 */
	for (int c = 0; c < 4; c++) {
		struct hl_buf *b = tso_frame(e.fe_bp, f, HDRS + 1000, c >= 2);
		REQUIRE(b != NULL);
		if (c == 0)
			b->ol.csum_start = 5000;
		else if (c == 1)
			b->ol.csum_offset = 6;
		else if (c == 2)
			b->ol.gso_size = 0;
		else
			b->ol.gso_type = HL_OL_GSO_TCPV6;
		REQUIRE(hl_vuser_tx_burst(&e.u, &b, 1) == 1);
	}
	/* and one honest frame after them, which must still arrive */
	struct hl_buf *b = tso_frame(e.fe_bp, f, HDRS + 1000, false);
	REQUIRE(b != NULL && hl_vuser_tx_burst(&e.u, &b, 1) == 1);
	struct hl_buf *rx[8];
	unsigned got = 0;
	for (int spin = 0; spin < 20000 && got == 0; spin++) {
		uint16_t n = hl_vuser_rx_burst(&e.u, rx, 8);
		got += n;
		hl_buf_free_bulk(rx, n);
		if (n == 0)
			usleep(100);
	}
	CHECK_EQ(got, 1);
	const struct hl_vhost_vq_stats *st = &port.vq[1].stats;
	CHECK_EQ(st->drop_bad_offload, 4);
	CHECK_EQ(st->ol.refused[HL_OL_R_CSUM_START], 1);
	CHECK_EQ(st->ol.refused[HL_OL_R_CSUM_OFFSET], 1);
	CHECK_EQ(st->ol.refused[HL_OL_R_GSO_SIZE], 1);
	CHECK_EQ(st->ol.refused[HL_OL_R_GSO_MISMATCH], 1);
	/* the refused chains went back to the guest like any other */
	for (int i = 0; i < 200 && hl_vuser_tx_reclaim(&e.u) == 0 && hl_bufpool_in_use(e.fe_bp) > 0; i++)
		usleep(1000);
	env_close(&e);
}

HL_TEST(a_port_with_offload_off_grants_none)
{
	struct env e;
	static uint8_t f[HDRS + 1000];

	HL_TEST_NEED(access("/dev/hugepages", F_OK) == 0, "hugetlbfs at /dev/hugepages");
	no_offload = true;
	int rc = env_open(&e, HL_VHOST_ZC_AUTO, BASE_F | HOST_F | GUEST_F);
	no_offload = false;
	REQUIRE_OK(rc);
	CHECK_EQ(e.u.fe.features & (HOST_F | GUEST_F), 0);
	CHECK_EQ(port.vq[0].ol_caps, 0);
	CHECK_EQ(port.vq[1].ol_caps, 0);
	/* a frame that asks for a checksum is not sent on a device that did not grant it */
	frame_bytes(f, 1000, 7);
	struct hl_buf *b = tso_frame(e.fe_bp, f, HDRS + 1000, false);
	REQUIRE(b != NULL);
	CHECK_EQ(hl_vuser_tx_burst(&e.u, &b, 1), 0);
	hl_buf_free(b);
	env_close(&e);
}
