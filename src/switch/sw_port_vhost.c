/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A vhost-user port as a switch port: queue 1 (the guest's transmit queue)
 * is the switch's receive side, queue 0 (the guest's receive queue) its
 * transmit side. The vhost port's own rules (vhost_port.h) keep the data
 * path off a queue while the control plane changes it.
 *
 * With several queue pairs (multiqueue), pair k is queues 2k and 2k+1.
 * The switch polls each pair's transmit queue apart (rx_queue, possibly on
 * different workers), only while the guest has it running; a frame for
 * the guest goes to one of the receive queues running now, picked by its
 * flow (flow_hash_pvt.h), so a flow keeps one queue and its order. Which
 * queues run changes only on the control thread; the data path reads it
 * once a burst (hl_vhost_port_running) and a queue that stops meanwhile
 * refuses the burst, counted as that pair's drops.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <hugelink/sw_ports.h>
#include <hugelink/switch.h>
#include <hugelink/vhost_port.h>

#include "../vhost/vhost_port_pvt.h"
#include "flow_hash_pvt.h"

struct sw_vhost {
	struct hl_sw_port sw; /* first: the switch's view */
	unsigned pairs;       /* queue pairs offered */
	/* per pair, frames the guest's receive queue did not take (tx only, which one thread runs at a time) */
	uint64_t tx_short[HL_VHOST_MAX_QUEUE_PAIRS];
	struct hl_vhost_port vp;
};

/* Bits 2k+odd of a virtqueue mask as bits k: the pairs whose receive (odd 0) or transmit (1) queue runs. */
static inline uint32_t pairs_of(uint32_t m, unsigned odd)
{
	m = (m >> odd) & 0x55555555u;
	m = (m | (m >> 1)) & 0x33333333u;
	m = (m | (m >> 2)) & 0x0f0f0f0fu;
	m = (m | (m >> 4)) & 0x00ff00ffu;
	return (m | (m >> 8)) & 0x0000ffffu;
}

static struct sw_vhost *of(struct hl_sw_port *p)
{
	return (struct sw_vhost *)p;
}

/*
 * After a migration, the guest's RARP (SEND_RARP) goes first, as if the
 * guest had sent it: the switch learns the guest's MAC here at once and
 * floods the broadcast, so every other switch does too.
 */
static uint16_t rx_rarp(struct sw_vhost *v, struct hl_bufpool *bp, struct hl_buf **pkts, uint16_t n)
{
	struct hl_buf *b = hl_buf_alloc(bp);
	if (b == NULL)
		return hl_vhost_dequeue_burst(&v->vp, 1, bp, pkts, n); /* pending still: the next burst */
	if (!hl_vhost_port_take_rarp(&v->vp, b)) {
		hl_buf_free(b);
		return hl_vhost_dequeue_burst(&v->vp, 1, bp, pkts, n);
	}
	pkts[0] = b;
	return (uint16_t)(1 + (n > 1 ? hl_vhost_dequeue_burst(&v->vp, 1, bp, pkts + 1, (uint16_t)(n - 1)) : 0));
}

/* Pair q's transmit queue; the RARP a migration asked for rides with pair 0. */
static uint16_t vh_rx_queue(struct hl_sw_port *p, unsigned q, struct hl_bufpool *bp, struct hl_buf **pkts,
			    uint16_t n)
{
	if (q == 0 && hl_unlikely(hl_vhost_port_rarp_pending(&of(p)->vp)))
		return rx_rarp(of(p), bp, pkts, n);
	return hl_vhost_dequeue_burst(&of(p)->vp, 2 * q + 1, bp, pkts, n);
}

static uint16_t vh_rx(struct hl_sw_port *p, struct hl_bufpool *bp, struct hl_buf **pkts, uint16_t n)
{
	return vh_rx_queue(p, 0, bp, pkts, n);
}

static uint32_t vh_rxq_ready(const struct hl_sw_port *p)
{
	const struct sw_vhost *v = (const struct sw_vhost *)p;
	/* pair 0 also while a RARP waits, which needs no running queue */
	return pairs_of(hl_vhost_port_running(&v->vp), 1) | (hl_vhost_port_rarp_pending(&v->vp) ? 1u : 0u);
}

/* Up to HL_SW_BURST frames into pair q's receive queue; what it did not take counts against the pair. */
static uint16_t tx_pair(struct sw_vhost *v, unsigned q, struct hl_buf **pkts, uint16_t n, uint64_t *bytes)
{
	uint16_t sent = hl_vhost_enqueue_burst(&v->vp, 2 * q, pkts, n, bytes);
	v->tx_short[q] += (uint16_t)(n - sent);
	return sent;
}

/*
 * A copying port: whatever happened, the switch's buffers are done with.
 * One receive queue running (or none: the burst is refused on pair 0) is
 * the single-queue path, with no hashing.
 */
static uint16_t vh_tx(struct hl_sw_port *p, struct hl_buf **pkts, uint16_t n, uint64_t *bytes)
{
	struct sw_vhost *v = of(p);
	uint32_t on = v->pairs > 1 ? pairs_of(hl_vhost_port_running(&v->vp), 0) : 1;
	uint16_t sent = 0;
	if ((on & (on - 1)) == 0) {
		sent = tx_pair(v, on ? (unsigned)__builtin_ctz(on) : 0, pkts, n, bytes);
	} else {
		uint8_t pick[HL_VHOST_MAX_QUEUE_PAIRS];
		unsigned k = 0;
		for (uint32_t m = on; m != 0; m &= m - 1)
			pick[k++] = (uint8_t)__builtin_ctz(m);
		struct hl_buf *by_q[HL_VHOST_MAX_QUEUE_PAIRS][HL_SW_BURST];
		uint16_t cnt[HL_VHOST_MAX_QUEUE_PAIRS] = {0};
		for (uint16_t i = 0; i < n; i++) {
			unsigned q = pick[hl_flow_pick(hl_flow_hash(pkts[i]), k)];
			if (hl_unlikely(cnt[q] == HL_SW_BURST)) {
				v->tx_short[q]++; /* more than a burst offered at once: the rest is short */
				continue;
			}
			by_q[q][cnt[q]++] = pkts[i];
		}
		for (unsigned i = 0; i < k; i++)
			if (cnt[pick[i]] != 0)
				sent = (uint16_t)(sent + tx_pair(v, pick[i], by_q[pick[i]], cnt[pick[i]], bytes));
	}
	hl_buf_free_bulk(pkts, n);
	return sent;
}

static bool vh_arm_queue(struct hl_sw_port *p, unsigned q)
{
	if (q == 0 && hl_vhost_port_rarp_pending(&of(p)->vp))
		return false; /* something to send: no sleeping */
	return hl_vhost_port_arm(&of(p)->vp, 2 * q + 1);
}

static void vh_disarm_queue(struct hl_sw_port *p, unsigned q)
{
	hl_vhost_port_disarm(&of(p)->vp, 2 * q + 1);
}

static int vh_set_queue_wakeup(struct hl_sw_port *p, unsigned q, int epfd, uint64_t data)
{
	return hl_vhost_port_set_queue_wakeup(&of(p)->vp, 2 * q + 1, epfd, data);
}

static bool vh_arm(struct hl_sw_port *p)
{
	return vh_arm_queue(p, 0);
}

static void vh_disarm(struct hl_sw_port *p)
{
	vh_disarm_queue(p, 0);
}

static int vh_set_wakeup(struct hl_sw_port *p, int epfd, uint64_t data)
{
	return hl_vhost_port_set_wakeup(&of(p)->vp, epfd, data);
}

static bool vh_migrated_away(struct hl_sw_port *p)
{
	return hl_vhost_port_migrated_away(&of(p)->vp);
}

static void vh_ctrl(struct hl_sw_port *p)
{
	hl_vhost_port_poll_ctrl(&of(p)->vp, 0);
}

/* The port's counters: every queue pair's added up. */
static void vh_stats(const struct hl_sw_port *p, struct hl_sw_port_stats *st)
{
	const struct sw_vhost *v = (const struct sw_vhost *)p;
	for (unsigned k = 0; k < v->pairs; k++) {
		const struct hl_vhost_vq_stats *rx = &v->vp.vq[2 * k + 1].stats, *tx = &v->vp.vq[2 * k].stats;
		st->drops[HL_SW_DROP_NO_BUF] += __atomic_load_n(&rx->drop_no_buf, __ATOMIC_RELAXED);
		st->drops[HL_SW_DROP_BAD] += __atomic_load_n(&rx->drop_bad_chain, __ATOMIC_RELAXED) +
					     __atomic_load_n(&rx->drop_bad_offload, __ATOMIC_RELAXED);
		st->drops[HL_SW_DROP_TOO_BIG] += __atomic_load_n(&tx->drop_too_big, __ATOMIC_RELAXED);
		st->copy_packets += __atomic_load_n(&rx->copied, __ATOMIC_RELAXED);
		st->zcopy_packets += __atomic_load_n(&rx->zcopy, __ATOMIC_RELAXED);
		hl_ol_stats_add(&st->ol, &rx->ol);
		hl_ol_stats_add(&st->ol, &tx->ol);
		for (unsigned q = 2 * k; q < 2 * k + 2; q++) {
			st->dirty_log_words += __atomic_load_n(&v->vp.vq[q].stats.log_words, __ATOMIC_RELAXED);
			st->dirty_log_dropped += __atomic_load_n(&v->vp.vq[q].stats.log_dropped, __ATOMIC_RELAXED);
		}
	}
	st->errors = __atomic_load_n(&v->vp.be.dev.stats.bad_msgs, __ATOMIC_RELAXED) +
		     __atomic_load_n(&v->vp.be.dev.stats.unknown_msgs, __ATOMIC_RELAXED);
	st->rarps = __atomic_load_n(&v->vp.rarps_sent, __ATOMIC_RELAXED);
}

/*
 * What the guest's receive queue negotiated. Read by any worker while the
 * control thread may restart the queue: a stale answer costs one burst a
 * software checksum it did not need, or a frame the enqueue sends with a
 * plain header (counted there), never memory.
 */
static void vh_offloads(const struct hl_sw_port *p, uint32_t *caps, uint32_t *max_frame)
{
	const struct sw_vhost *v = (const struct sw_vhost *)p;
	const struct hl_vhost_vq *vq = &v->vp.vq[0];
	*caps = __atomic_load_n(&vq->ol_caps, __ATOMIC_RELAXED);
	/* the guest's buffers decide what fits (drop_too_big); mergeable ones take anything */
	*max_frame = HL_OL_FRAME_MAX;
}

static const char *vh_state(const struct hl_sw_port *p)
{
	const struct sw_vhost *v = (const struct sw_vhost *)p;
	if (!hl_vhost_backend_connected(&v->vp.be))
		return v->vp.be.client ? "connecting" : "listening";
	return hl_vhost_port_queue_ready(&v->vp, 0) && hl_vhost_port_queue_ready(&v->vp, 1) ? "up" : "negotiating";
}

static void vh_close(struct hl_sw_port *p)
{
	hl_vhost_port_close(&of(p)->vp);
	free(p);
}

static const struct hl_sw_port_ops vhost_ops = {
	.kind = "vhost",
	.rx = vh_rx,
	.tx = vh_tx,
	.arm = vh_arm,
	.disarm = vh_disarm,
	.set_wakeup = vh_set_wakeup,
	.rx_queue = vh_rx_queue,
	.rxq_ready = vh_rxq_ready,
	.arm_queue = vh_arm_queue,
	.disarm_queue = vh_disarm_queue,
	.set_queue_wakeup = vh_set_queue_wakeup,
	.ctrl = vh_ctrl,
	.stats = vh_stats,
	.state = vh_state,
	.close = vh_close,
	.offloads = vh_offloads,
	.migrated_away = vh_migrated_away,
};

int hl_sw_port_vhost_create(const struct hl_sw_vhost_params *prm, struct hl_sw_port **out)
{
	if (prm->name == NULL || prm->name[0] == '\0' || strlen(prm->name) >= HL_SW_NAME_LEN)
		return hl_error(-EINVAL, "port name must be 1..%d characters", HL_SW_NAME_LEN - 1);
	unsigned pairs = prm->queues ? prm->queues : 1;
	if (pairs > HL_VHOST_MAX_QUEUE_PAIRS)
		return hl_error(-EINVAL, "port %s: %u queue pairs (1..%d)", prm->name, pairs, HL_VHOST_MAX_QUEUE_PAIRS);
	struct sw_vhost *v;
	if (posix_memalign((void **)&v, HL_CACHE_LINE, sizeof(*v)) != 0)
		return hl_error(-ENOMEM, "port %s: out of memory", prm->name);
	memset(v, 0, sizeof(*v));
	v->sw.ops = &vhost_ops;
	strcpy(v->sw.name, prm->name);
	v->pairs = pairs;
	v->sw.nrxq = (uint16_t)pairs;
	struct hl_vhost_port_params vp = {
		.path = prm->path, .client = prm->client, .features = prm->features, .zc_mode = prm->zcopy,
		.no_offload = prm->no_offload, .no_packed = prm->no_packed, .nqueues = 2 * pairs};
	int rc = hl_vhost_port_open(&v->vp, &vp);
	if (rc < 0) {
		free(v);
		return rc;
	}
	*out = &v->sw;
	return 0;
}

const char *hl_sw_port_vhost_path(const struct hl_sw_port *p, bool *client)
{
	if (p->ops != &vhost_ops)
		return NULL;
	const struct sw_vhost *v = (const struct sw_vhost *)p;
	if (client)
		*client = v->vp.be.client;
	return v->vp.be.path;
}

int hl_sw_port_vhost_info(const struct hl_sw_port *p, struct hl_sw_vhost_info *info)
{
	if (p->ops != &vhost_ops)
		return -EINVAL;
	const struct sw_vhost *v = (const struct sw_vhost *)p;
	memset(info, 0, sizeof(*info));
	info->connects = __atomic_load_n(&v->vp.be.connects, __ATOMIC_RELAXED);
	info->disconnects = __atomic_load_n(&v->vp.be.disconnects, __ATOMIC_RELAXED);
	info->packed = __atomic_load_n(&v->vp.vq[1].packed, __ATOMIC_RELAXED);
	info->in_order = __atomic_load_n(&v->vp.be.dev.features, __ATOMIC_RELAXED) & HL_VIRTIO_BIT(HL_VIRTIO_F_IN_ORDER);
	info->pairs = v->pairs;
	info->running = hl_vhost_port_running(&v->vp);
	for (unsigned i = 0; i < 2 * v->pairs; i++) {
		const struct hl_vhost_vq_stats *vs = &v->vp.vq[i].stats;
		struct hl_sw_vhost_queue *q = &info->pair[i / 2][i & 1], *all = &info->q[i & 1];
		q->packets = __atomic_load_n(&vs->packets, __ATOMIC_RELAXED);
		q->bytes = __atomic_load_n(&vs->bytes, __ATOMIC_RELAXED);
		q->drop_no_buf = __atomic_load_n(&vs->drop_no_buf, __ATOMIC_RELAXED);
		q->drop_bad_chain = __atomic_load_n(&vs->drop_bad_chain, __ATOMIC_RELAXED);
		q->drop_too_big = __atomic_load_n(&vs->drop_too_big, __ATOMIC_RELAXED);
		q->drop_bad_offload = __atomic_load_n(&vs->drop_bad_offload, __ATOMIC_RELAXED);
		q->calls = __atomic_load_n(&vs->calls, __ATOMIC_RELAXED);
		q->short_tx = (i & 1) ? 0 : __atomic_load_n(&v->tx_short[i / 2], __ATOMIC_RELAXED);
		info->pinned += __atomic_load_n(&vs->zc_pinned, __ATOMIC_RELAXED);
		all->packets += q->packets;
		all->bytes += q->bytes;
		all->drop_no_buf += q->drop_no_buf;
		all->drop_bad_chain += q->drop_bad_chain;
		all->drop_too_big += q->drop_too_big;
		all->drop_bad_offload += q->drop_bad_offload;
		all->calls += q->calls;
		all->short_tx += q->short_tx;
	}
	return 0;
}
