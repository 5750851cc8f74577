/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Multiqueue on a switch's vhost port, against a guest made of hugelink's
 * own front-end pieces (vhost_frontend.h for the messages, vring_driver.h
 * for four queue pairs of rings in its own pool): what is offered and
 * answered (VIRTIO_NET_F_MQ, GET_QUEUE_NUM), frames received from each
 * pair's transmit queue and from no other, frames to the guest spread over
 * its running receive queues by flow with every flow on one queue, a pair
 * the guest disabled never polled nor sent to, and a pair disabled in the
 * middle of traffic with zero-copy chains pinned: they go back to the
 * guest at once, the switch's buffers are freed later without harm, and
 * the pair runs again when enabled. Every buffer on both sides is counted
 * back at the end.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <hugelink/sw_ports.h>
#include <hugelink/switch.h>
#include <hugelink/vhost_frontend.h>
#include <hugelink/vring_driver.h>

#include "../../src/switch/flow_hash_pvt.h"
#include "hl_test.h"
#include "../memory/pool_util.h"

#define PAIRS 4
#define RING 256
#define HDR 12 /* VERSION_1 */

static struct hl_sw_port *port;
static volatile int stop_ctrl;

/* The switch's control thread: the port's socket and messages. */
static void *ctrl_thread(void *arg)
{
	(void)arg;
	while (!stop_ctrl) {
		port->ops->ctrl(port);
		usleep(200);
	}
	return NULL;
}

/* The guest: its pool, and per virtqueue a ring and its eventfds. */
struct guest {
	struct hl_vhost_frontend fe;
	struct hl_pool *pool;
	struct hl_bufpool *bp;
	struct hl_vring_driver vq[2 * PAIRS];
	int kick[2 * PAIRS], call[2 * PAIRS];
};

static int guest_open(struct guest *g, const char *path)
{
	int rc;
	memset(g, 0, sizeof(*g));
	if ((rc = pool_with_bufs(hl_test_tmpdir(), "mq-guest", 32 << 20, 2048, &g->pool, &g->bp)) < 0 ||
	    (rc = hl_vhost_frontend_connect(&g->fe, path, 3000)) < 0 ||
	    (rc = hl_vhost_frontend_negotiate(&g->fe, HL_VIRTIO_BIT(HL_VIRTIO_F_VERSION_1) |
							 HL_VIRTIO_BIT(HL_VIRTIO_NET_F_MQ))) < 0 ||
	    (rc = hl_vhost_frontend_set_mem(&g->fe, g->pool)) < 0)
		return rc;
	for (unsigned q = 0; q < 2 * PAIRS; q++) {
		char zone[16];
		uint64_t off;
		snprintf(zone, sizeof(zone), "mq-vq%u", q);
		if ((rc = hl_pool_zone_reserve(g->pool, zone, hl_vring_size(RING), 4096, HL_ZONE_F_CONTIG, &off)) < 0 ||
		    (rc = hl_vring_driver_init(&g->vq[q], hl_pool_off2va(g->pool, off), RING, g->fe.features)) < 0)
			return rc;
		hl_vring_driver_set_interrupt(&g->vq[q], false);
		g->kick[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		g->call[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	}
	return 0;
}

static int guest_start(struct guest *g, unsigned q)
{
	struct hl_vring_driver *d = &g->vq[q];
	return hl_vhost_frontend_start_queue(&g->fe, q, RING, d->desc, d->avail, d->used, 0, g->kick[q], g->call[q]);
}

/* Receive buffers on receive queue q until it is full. */
static void guest_fill_rx(struct guest *g, unsigned q)
{
	while (g->vq[q].num_free > 0) {
		struct hl_buf *b = hl_buf_alloc(g->bp);
		if (b == NULL)
			return;
		struct hl_drv_buf db = {.addr = (uintptr_t)hl_buf_data(b) - HDR, .len = b->buf_len - b->data_off + HDR};
		if (hl_vring_driver_add(&g->vq[q], &db, 0, 1, b) < 0) {
			hl_buf_free(b);
			return;
		}
	}
}

/* A frame from the guest on pair k: bytes 14.. say which pair and which one it is. */
static int guest_send(struct guest *g, unsigned k, uint32_t seq, uint32_t len)
{
	struct hl_buf *b = hl_buf_alloc(g->bp);
	if (b == NULL)
		return -ENOBUFS;
	uint8_t *d = hl_buf_data(b);
	memcpy(d, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x88\xb5", 14);
	d[14] = (uint8_t)k;
	memcpy(d + 15, &seq, 4);
	for (uint32_t i = 19; i < len; i++)
		d[i] = (uint8_t)(i ^ seq);
	memset(d - HDR, 0, HDR);
	struct hl_drv_buf db = {.addr = (uintptr_t)d - HDR, .len = len + HDR};
	int rc = hl_vring_driver_add(&g->vq[2 * k + 1], &db, 1, 0, b);
	if (rc < 0)
		hl_buf_free(b);
	return rc;
}

/* Transmit buffers the switch is done with, freed; how many. */
static unsigned guest_reclaim(struct guest *g, unsigned q)
{
	unsigned n = 0;
	uint32_t len;
	struct hl_buf *b;
	while ((b = hl_vring_driver_get_used(&g->vq[q], &len)) != NULL) {
		hl_buf_free(b);
		n++;
	}
	return n;
}

static void guest_close(struct guest *g)
{
	uint16_t base;
	for (unsigned q = 0; q < 2 * PAIRS; q++)
		hl_vhost_frontend_stop_queue(&g->fe, q, &base);
	for (unsigned q = 0; q < 2 * PAIRS; q++) {
		guest_reclaim(g, q);
		for (unsigned i = 0; g->vq[q].tokens != NULL && i < RING; i++)
			if (g->vq[q].tokens[i] != NULL) {
				hl_buf_free(g->vq[q].tokens[i]);
				g->vq[q].tokens[i] = NULL;
			}
		hl_vring_driver_fini(&g->vq[q]);
		close(g->kick[q]);
		close(g->call[q]);
	}
	hl_vhost_frontend_close(&g->fe);
}

/* Take everything pair k of the port has for the switch, checking it came from pair k. */
static unsigned sw_take(struct hl_bufpool *bp, unsigned k, uint32_t *wrong, struct hl_buf **keep, unsigned nkeep)
{
	struct hl_buf *pkts[HL_SW_BURST];
	unsigned got = 0;
	for (int tries = 0; tries < 50; tries++) {
		uint16_t n = port->ops->rx_queue(port, k, bp, pkts, HL_SW_BURST);
		for (uint16_t i = 0; i < n; i++) {
			const uint8_t *d = hl_buf_data(pkts[i]);
			if (pkts[i]->data_len < 19 || d[14] != k)
				(*wrong)++;
			if (got < nkeep)
				keep[got] = pkts[i];
			else
				hl_buf_free(pkts[i]);
			got++;
		}
		if (n == 0)
			usleep(200);
	}
	return got;
}

/* A UDP/IPv4 frame of flow f (its source port) from the switch to the guest. */
static struct hl_buf *flow_frame(struct hl_bufpool *bp, unsigned f)
{
	struct hl_buf *b = hl_buf_alloc(bp);
	if (b == NULL)
		return NULL;
	uint8_t *d = hl_buf_data(b);
	memset(d, 0, 60);
	memcpy(d, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x09\x08\x00", 14);
	d[14] = 0x45;
	d[17] = 46;
	d[22] = 64;
	d[23] = 17;
	memcpy(d + 26, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
	d[34] = (uint8_t)(f >> 8);
	d[35] = (uint8_t)f;
	d[36] = 0x13;
	d[37] = 0x88;
	b->data_len = b->pkt_len = 60;
	return b;
}

/* What the guest got on each receive queue, as flow -> queue; how many frames in all. */
static unsigned guest_collect(struct guest *g, int *flow_q, unsigned nflows, unsigned *per_q, unsigned *split)
{
	unsigned n = 0;
	for (unsigned k = 0; k < PAIRS; k++) {
		uint32_t len;
		struct hl_buf *b;
		while ((b = hl_vring_driver_get_used(&g->vq[2 * k], &len)) != NULL) {
			const uint8_t *d = hl_buf_data(b);
			unsigned f = (unsigned)d[34] << 8 | d[35];
			if (len == 60 + HDR && f < nflows) {
				if (flow_q[f] >= 0 && flow_q[f] != (int)k)
					(*split)++;
				flow_q[f] = (int)k;
				per_q[k]++;
				n++;
			}
			hl_buf_free(b);
		}
		guest_fill_rx(g, 2 * k);
	}
	return n;
}

/* Send `per` frames of each of nflows flows through the port's transmit side; how many went. */
static unsigned sw_send_flows(struct hl_bufpool *bp, unsigned nflows, unsigned per)
{
	unsigned went = 0;
	for (unsigned r = 0; r < per; r++)
		for (unsigned f0 = 0; f0 < nflows; f0 += 16) {
			struct hl_buf *pkts[16];
			uint16_t n = 0;
			for (unsigned f = f0; f < f0 + 16 && f < nflows; f++)
				if ((pkts[n] = flow_frame(bp, f)) != NULL)
					n++;
			uint64_t bytes = 0;
			went += port->ops->tx(port, pkts, n, &bytes);
		}
	return went;
}

/* Byte `at` of a (possibly chained) frame. */
static uint8_t byte_at(const struct hl_buf *b, uint32_t at)
{
	for (; b != NULL; b = b->next) {
		if (at < b->data_len)
			return ((const uint8_t *)hl_buf_data(b))[at];
		at -= b->data_len;
	}
	return 0;
}

static bool wait_ready(uint32_t want)
{
	for (int i = 0; i < 3000; i++) {
		if (port->ops->rxq_ready(port) == want)
			return true;
		usleep(1000);
	}
	return false;
}

HL_TEST(four_queue_pairs)
{
	char path[256];
	struct hl_pool *sw_pool;
	struct hl_bufpool *sw_bp;
	struct guest g;
	pthread_t th;

	snprintf(path, sizeof(path), "%s/mq.sock", hl_test_tmpdir());
	REQUIRE_OK(pool_with_bufs(hl_test_tmpdir(), "mq-sw", 32 << 20, 2048, &sw_pool, &sw_bp));
	struct hl_sw_vhost_params prm = {.name = "mq", .path = path, .zcopy = HL_VHOST_ZC_ON, .queues = PAIRS};
	REQUIRE_OK(hl_sw_port_vhost_create(&prm, &port));
	CHECK_EQ(port->nrxq, PAIRS);
	REQUIRE(pthread_create(&th, NULL, ctrl_thread, NULL) == 0);

	/* offered and answered: MQ, and four pairs */
	REQUIRE_OK(guest_open(&g, path));
	CHECK(g.fe.features & HL_VIRTIO_BIT(HL_VIRTIO_NET_F_MQ));
	CHECK_EQ(g.fe.backend_queues, PAIRS);
	CHECK_EQ(port->ops->rxq_ready(port), 0u); /* nothing runs before the guest starts a queue */
	for (unsigned q = 0; q < 2 * PAIRS; q++)
		REQUIRE_OK(guest_start(&g, q));
	/* the guest uses three pairs: the fourth is set up and disabled, as QEMU leaves unused ones */
	REQUIRE_OK(hl_vhost_frontend_enable_queue(&g.fe, 6, false));
	REQUIRE_OK(hl_vhost_frontend_enable_queue(&g.fe, 7, false));
	CHECK(wait_ready(0x7));
	struct hl_sw_vhost_info vi;
	REQUIRE_OK(hl_sw_port_vhost_info(port, &vi));
	CHECK_EQ(vi.pairs, PAIRS);
	CHECK_EQ(vi.running, 0x3fu);
	CHECK_STR_HAS(port->ops->state(port), "up");
	for (unsigned k = 0; k < PAIRS; k++)
		guest_fill_rx(&g, 2 * k);

	/* guest -> switch: each pair's frames come out of that pair, and only there */
	uint32_t wrong = 0, seq[PAIRS] = {0};
	for (unsigned k = 0; k < 3; k++)
		for (unsigned i = 0; i < 20; i++)
			CHECK_EQ(guest_send(&g, k, seq[k]++, 60), 0);
	CHECK_EQ(guest_send(&g, 3, 0, 60), 0); /* into a disabled queue: the switch must not take it */
	unsigned got[PAIRS];
	for (unsigned k = 0; k < PAIRS; k++)
		got[k] = sw_take(sw_bp, k, &wrong, NULL, 0);
	CHECK_EQ(got[0], 20);
	CHECK_EQ(got[1], 20);
	CHECK_EQ(got[2], 20);
	CHECK_EQ(got[3], 0);
	CHECK_EQ(wrong, 0);
	REQUIRE_OK(hl_sw_port_vhost_info(port, &vi));
	CHECK_EQ(vi.pair[1][1].packets, 20);
	CHECK_EQ(vi.pair[3][1].packets, 0);
	CHECK_EQ(vi.q[1].packets, 60); /* the port's total: every pair added up */
	for (unsigned k = 0; k < 3; k++)
		CHECK_EQ(guest_reclaim(&g, 2 * k + 1), 20); /* 60-byte frames are copied, not pinned */

	/* switch -> guest: by flow, over the three running receive queues */
	enum { NFLOWS = 96 };
	int flow_q[NFLOWS];
	unsigned per_q[PAIRS] = {0}, split = 0;
	memset(flow_q, 0xff, sizeof(flow_q));
	unsigned went = sw_send_flows(sw_bp, NFLOWS, 2);
	unsigned seen = guest_collect(&g, flow_q, NFLOWS, per_q, &split);
	went += sw_send_flows(sw_bp, NFLOWS, 2);
	seen += guest_collect(&g, flow_q, NFLOWS, per_q, &split);
	CHECK_EQ(went, 4 * NFLOWS);
	CHECK_EQ(seen, went);
	CHECK_EQ(split, 0); /* every flow kept one queue */
	CHECK(per_q[0] > 0 && per_q[1] > 0 && per_q[2] > 0);
	CHECK_EQ(per_q[3], 0); /* never to the disabled pair */
	unsigned flows_on[PAIRS] = {0};
	for (unsigned f = 0; f < NFLOWS; f++)
		if (flow_q[f] >= 0)
			flows_on[flow_q[f]]++;
	CHECK(flows_on[0] >= 10 && flows_on[1] >= 10 && flows_on[2] >= 10); /* spread, not piled on one */
	REQUIRE_OK(hl_sw_port_vhost_info(port, &vi));
	CHECK_EQ(vi.pair[0][0].packets + vi.pair[1][0].packets + vi.pair[2][0].packets, went);
	CHECK_EQ(vi.pair[1][0].packets, per_q[1]);
	CHECK_EQ(vi.q[0].short_tx, 0);

	/* pair 2 disabled in the middle of traffic, with zero-copy chains pinned */
	struct hl_buf *held[16];
	for (unsigned i = 0; i < 16; i++)
		CHECK_EQ(guest_send(&g, 2, seq[2]++, 512), 0);
	CHECK_EQ(sw_take(sw_bp, 2, &wrong, held, 16), 16);
	REQUIRE_OK(hl_sw_port_vhost_info(port, &vi));
	CHECK_EQ(vi.pinned, 16);
	CHECK_EQ(guest_reclaim(&g, 5), 0); /* pinned: still the switch's */
	CHECK_EQ(guest_send(&g, 0, seq[0]++, 60), 0);
	REQUIRE_OK(hl_vhost_frontend_enable_queue(&g.fe, 4, false));
	REQUIRE_OK(hl_vhost_frontend_enable_queue(&g.fe, 5, false));
	CHECK(wait_ready(0x3));
	CHECK_EQ(guest_reclaim(&g, 5), 16); /* every pinned chain went back at the stop */
	REQUIRE_OK(hl_sw_port_vhost_info(port, &vi));
	CHECK_EQ(vi.pinned, 0);
	CHECK_EQ(vi.running, 0x0fu);
	CHECK_EQ(sw_take(sw_bp, 0, &wrong, NULL, 0), 1); /* pair 0 went on meanwhile */
	/* the frames the switch still holds stay readable, and freeing them touches no guest ring */
	unsigned intact = 0;
	for (unsigned i = 0; i < 16; i++) {
		intact += held[i]->pkt_len == 512 && held[i]->nb_segs > 1 &&
			  byte_at(held[i], 511) == (uint8_t)(511 ^ (seq[2] - 16 + i));
	}
	CHECK_EQ(intact, 16);
	hl_buf_free_bulk(held, 16);
	CHECK_EQ(guest_reclaim(&g, 5), 0);
	/* to the guest now: only pairs 0 and 1, flows that were on 2 moved, each still on one queue */
	memset(flow_q, 0xff, sizeof(flow_q));
	memset(per_q, 0, sizeof(per_q));
	went = sw_send_flows(sw_bp, NFLOWS, 2);
	seen = guest_collect(&g, flow_q, NFLOWS, per_q, &split);
	CHECK_EQ(seen, went);
	CHECK_EQ(went, 2 * NFLOWS);
	CHECK_EQ(per_q[2], 0);
	CHECK(per_q[0] > 0 && per_q[1] > 0);
	CHECK_EQ(split, 0);

	/* enabled again: it runs from where it stopped */
	REQUIRE_OK(hl_vhost_frontend_enable_queue(&g.fe, 4, true));
	REQUIRE_OK(hl_vhost_frontend_enable_queue(&g.fe, 5, true));
	CHECK(wait_ready(0x7));
	for (unsigned i = 0; i < 8; i++)
		CHECK_EQ(guest_send(&g, 2, seq[2]++, 60), 0);
	CHECK_EQ(sw_take(sw_bp, 2, &wrong, NULL, 0), 8);
	CHECK_EQ(wrong, 0);
	CHECK_EQ(guest_reclaim(&g, 5), 8);
	memset(per_q, 0, sizeof(per_q));
	went = sw_send_flows(sw_bp, NFLOWS, 1);
	seen = guest_collect(&g, flow_q, NFLOWS, per_q, &split);
	CHECK_EQ(seen, went);
	CHECK(per_q[2] > 0);

	/* every buffer back: the switch's at once, the guest's once it has stopped its queues */
	CHECK_EQ(hl_bufpool_in_use(sw_bp), 0);
	guest_close(&g);
	CHECK_EQ(hl_bufpool_in_use(g.bp), 0);
	stop_ctrl = 1;
	pthread_join(th, NULL);
	port->ops->close(port);
	pool_release(g.pool, g.bp);
	pool_release(sw_pool, sw_bp);
}

/* The flow hash: same flow, same value; what it reads is bounded by the frame. */
HL_TEST(flow_hash)
{
	struct hl_pool *pool;
	struct hl_bufpool *bp;
	REQUIRE_OK(pool_with_bufs(hl_test_tmpdir(), "mq-hash", 8 << 20, 64, &pool, &bp));
	struct hl_buf *a = flow_frame(bp, 7), *b = flow_frame(bp, 7), *c = flow_frame(bp, 8);
	REQUIRE(a != NULL && b != NULL && c != NULL);
	CHECK_EQ(hl_flow_hash(a), hl_flow_hash(b));
	CHECK(hl_flow_hash(a) != hl_flow_hash(c)); /* the source port is part of the flow */
	((uint8_t *)hl_buf_data(b))[40] = 0x55;    /* payload: not part of it */
	CHECK_EQ(hl_flow_hash(a), hl_flow_hash(b));
	((uint8_t *)hl_buf_data(b))[20] = 0x20;    /* a first fragment: no ports, so all fragments agree */
	((uint8_t *)hl_buf_data(c))[20] = 0x20;
	CHECK_EQ(hl_flow_hash(b), hl_flow_hash(c));
	c->data_len = c->pkt_len = 30;             /* cut short: its MACs, nothing past data_len */
	uint32_t h = hl_flow_hash(c);
	c->data_len = c->pkt_len = 12;
	CHECK_EQ(hl_flow_hash(c), 0);
	c->data_len = c->pkt_len = 30;
	CHECK_EQ(hl_flow_hash(c), h);
	unsigned hits[3] = {0};
	for (uint32_t x = 0; x < 3000; x++)
		hits[hl_flow_pick(x * 2654435761u, 3)]++;
	CHECK(hits[0] > 800 && hits[1] > 800 && hits[2] > 800);
	hl_buf_free(a);
	hl_buf_free(b);
	hl_buf_free(c);
	pool_release(pool, bp);
}
