/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A memif port as a switch port, either role: the rings the peer sends on
 * are the switch's receive side, the others its transmit side. As a
 * server the port copies both ways, so every buffer handed to tx is done
 * with when tx returns; as a client it lends the switch's buffers to the
 * server and frees them when their slots come back (memif_port.h). With
 * several queue pairs rx polls them all in turn.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <hugelink/memif_port.h>
#include <hugelink/sw_ports.h>
#include <hugelink/switch.h>

struct sw_memif {
	struct hl_sw_port sw; /* first: the switch's view */
	struct hl_memif_port mp;
};

static struct sw_memif *of(struct hl_sw_port *p)
{
	return (struct sw_memif *)p;
}

static uint16_t mi_rx(struct hl_sw_port *p, struct hl_bufpool *bp, struct hl_buf **pkts, uint16_t n)
{
	struct hl_memif_port *mp = &of(p)->mp;
	return mp->client ? hl_memif_client_rx_burst(mp, pkts, n) : hl_memif_rx_burst(mp, bp, pkts, n);
}

/* One queue's share of a burst: a server copies (all n are done with), a client lends what went. */
static uint16_t tx_queue(struct hl_memif_port *mp, unsigned q, struct hl_buf **pkts, uint16_t n, uint64_t *bytes)
{
	uint64_t before = mp->tx[q].stats.bytes;
	uint16_t sent = mp->client ? hl_memif_client_tx_burst(mp, q, pkts, n) : hl_memif_tx_burst(mp, q, pkts, n);
	*bytes += mp->tx[q].stats.bytes - before;
	hl_buf_free_bulk(mp->client ? pkts + sent : pkts, mp->client ? (unsigned)(n - sent) : n);
	return sent;
}

/*
 * With several queue pairs a frame goes to the queue its MAC addresses
 * hash to, so one flow keeps one ring and its order.
 */
static uint16_t mi_tx(struct hl_sw_port *p, struct hl_buf **pkts, uint16_t n, uint64_t *bytes)
{
	struct hl_memif_port *mp = &of(p)->mp;
	unsigned nq = __atomic_load_n(&mp->nq, __ATOMIC_ACQUIRE);
	if (nq == 0) {
		hl_buf_free_bulk(pkts, n);
		return 0;
	}
	if (nq == 1)
		return tx_queue(mp, 0, pkts, n, bytes);
	struct hl_buf *by_q[HL_MEMIF_MAX_QUEUES][HL_SW_BURST];
	uint16_t cnt[HL_MEMIF_MAX_QUEUES] = {0}, sent = 0;
	for (uint16_t i = 0; i < n; i++) {
		const uint8_t *e = hl_buf_data(pkts[i]);
		unsigned q = (unsigned)(e[5] ^ e[11] ^ e[4] ^ e[10]) % nq;
		if (cnt[q] == HL_SW_BURST) {
			hl_buf_free(pkts[i]);
			continue;
		}
		by_q[q][cnt[q]++] = pkts[i];
	}
	for (unsigned q = 0; q < nq; q++)
		if (cnt[q] != 0)
			sent = (uint16_t)(sent + tx_queue(mp, q, by_q[q], cnt[q], bytes));
	return sent;
}

static bool mi_arm(struct hl_sw_port *p)
{
	return hl_memif_port_arm(&of(p)->mp);
}

static void mi_disarm(struct hl_sw_port *p)
{
	hl_memif_port_disarm(&of(p)->mp);
}

static int mi_set_wakeup(struct hl_sw_port *p, int epfd, uint64_t data)
{
	return hl_memif_port_set_wakeup(&of(p)->mp, epfd, data);
}

/*
 * A memif descriptor has no room for offload metadata: a peer takes every
 * frame as it is on the wire. So checksums a sender left to the device
 * are completed, and TSO frames cut for a standard 1500-byte MTU, by the
 * switch before they enter a ring (hl_ol_prepare); a frame without such
 * requests goes as it is, in chained descriptors when it is larger than
 * one buffer.
 */
static void mi_offloads(const struct hl_sw_port *p, uint32_t *caps, uint32_t *max_frame)
{
	(void)p;
	*caps = 0;
	*max_frame = 1514;
}

static void mi_ctrl(struct hl_sw_port *p)
{
	hl_memif_port_poll_ctrl(&of(p)->mp);
}

static void mi_stats(const struct hl_sw_port *p, struct hl_sw_port_stats *st)
{
	const struct hl_memif_port *mp = &((const struct sw_memif *)p)->mp;
	for (unsigned i = 0; i < HL_MEMIF_MAX_QUEUES; i++) {
		const struct hl_memif_q_stats *rx = &mp->rx[i].stats, *tx = &mp->tx[i].stats;
		st->drops[HL_SW_DROP_NO_BUF] += __atomic_load_n(&rx->drop_no_buf, __ATOMIC_RELAXED);
		st->drops[HL_SW_DROP_BAD] += __atomic_load_n(&rx->drop_too_big, __ATOMIC_RELAXED) +
					     __atomic_load_n(&rx->bad_desc, __ATOMIC_RELAXED) +
					     __atomic_load_n(&rx->bad_ring, __ATOMIC_RELAXED);
		st->drops[HL_SW_DROP_TOO_BIG] += __atomic_load_n(&tx->drop_too_big, __ATOMIC_RELAXED);
		st->errors += __atomic_load_n(&tx->bad_desc, __ATOMIC_RELAXED) +
			      __atomic_load_n(&tx->bad_ring, __ATOMIC_RELAXED);
		if (mp->client) {
			/* the server copies into and out of our buffers; we copy only what lies outside the pool */
			st->zcopy_packets += __atomic_load_n(&rx->zcopy, __ATOMIC_RELAXED);
			st->copy_packets += __atomic_load_n(&tx->copied, __ATOMIC_RELAXED);
		} else {
			st->copy_packets += __atomic_load_n(&rx->packets, __ATOMIC_RELAXED);
		}
	}
	st->errors += __atomic_load_n(&mp->ctl.stats.bad_msgs, __ATOMIC_RELAXED);
}

static const char *mi_state(const struct hl_sw_port *p)
{
	const struct hl_memif_port *mp = &((const struct sw_memif *)p)->mp;
	if (hl_memif_port_up(mp))
		return "up";
	if (mp->conn_fd >= 0)
		return "negotiating";
	return mp->client ? "connecting" : "listening";
}

static void mi_close(struct hl_sw_port *p)
{
	hl_memif_port_close(&of(p)->mp);
	free(p);
}

static const struct hl_sw_port_ops memif_ops = {
	.kind = "memif",
	.rx = mi_rx,
	.tx = mi_tx,
	.arm = mi_arm,
	.disarm = mi_disarm,
	.set_wakeup = mi_set_wakeup,
	.ctrl = mi_ctrl,
	.offloads = mi_offloads,
	.stats = mi_stats,
	.state = mi_state,
	.close = mi_close,
	/* a peer that sleeps between frames still gets its M2S ring filled by other ports' traffic */
	.max_sleep_ms = 0,
};

int hl_sw_port_memif_create(const struct hl_sw_memif_params *prm, struct hl_sw_port **out)
{
	if (prm->name == NULL || prm->name[0] == '\0' || strlen(prm->name) >= HL_SW_NAME_LEN)
		return hl_error(-EINVAL, "port name must be 1..%d characters", HL_SW_NAME_LEN - 1);
	struct sw_memif *m;
	if (posix_memalign((void **)&m, HL_CACHE_LINE, sizeof(*m)) != 0)
		return hl_error(-ENOMEM, "port %s: out of memory", prm->name);
	memset(m, 0, sizeof(*m));
	m->sw.ops = &memif_ops;
	strcpy(m->sw.name, prm->name);
	struct hl_memif_port_params mp = {.path = prm->path, .id = prm->id, .secret = prm->secret,
					  .queues = prm->queues, .ring_size = prm->ring_size,
					  .buffer_size = prm->buffer_size, .name = prm->name,
					  .client = prm->client, .bp = prm->bp};
	int rc = hl_memif_port_open(&m->mp, &mp);
	if (rc < 0) {
		free(m);
		return rc;
	}
	*out = &m->sw;
	return 0;
}

const struct hl_memif_port *hl_sw_port_memif(const struct hl_sw_port *p)
{
	return p->ops == &memif_ops ? &((const struct sw_memif *)p)->mp : NULL;
}
