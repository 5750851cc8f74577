/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A vhost-user port as a switch port: queue 1 (the guest's transmit queue)
 * is the switch's receive side, queue 0 (the guest's receive queue) its
 * transmit side. The vhost port's own rules (vhost_port.h) keep the data
 * path off a queue while the control plane changes it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <hugelink/sw_ports.h>
#include <hugelink/switch.h>
#include <hugelink/vhost_port.h>

#include "../vhost/vhost_port_pvt.h"

struct sw_vhost {
	struct hl_sw_port sw; /* first: the switch's view */
	struct hl_vhost_port vp;
};

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

static uint16_t vh_rx(struct hl_sw_port *p, struct hl_bufpool *bp, struct hl_buf **pkts, uint16_t n)
{
	if (hl_unlikely(hl_vhost_port_rarp_pending(&of(p)->vp)))
		return rx_rarp(of(p), bp, pkts, n);
	return hl_vhost_dequeue_burst(&of(p)->vp, 1, bp, pkts, n);
}

/* A copying port: whatever happened, the switch's buffers are done with. */
static uint16_t vh_tx(struct hl_sw_port *p, struct hl_buf **pkts, uint16_t n, uint64_t *bytes)
{
	uint16_t sent = hl_vhost_enqueue_burst(&of(p)->vp, 0, pkts, n, bytes);
	hl_buf_free_bulk(pkts, n);
	return sent;
}

static bool vh_arm(struct hl_sw_port *p)
{
	if (hl_vhost_port_rarp_pending(&of(p)->vp))
		return false; /* something to send: no sleeping */
	return hl_vhost_port_arm(&of(p)->vp, 1);
}

static void vh_disarm(struct hl_sw_port *p)
{
	hl_vhost_port_disarm(&of(p)->vp, 1);
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

static void vh_stats(const struct hl_sw_port *p, struct hl_sw_port_stats *st)
{
	const struct sw_vhost *v = (const struct sw_vhost *)p;
	const struct hl_vhost_vq_stats *rx = &v->vp.vq[1].stats, *tx = &v->vp.vq[0].stats;
	st->drops[HL_SW_DROP_NO_BUF] = __atomic_load_n(&rx->drop_no_buf, __ATOMIC_RELAXED);
	st->drops[HL_SW_DROP_BAD] = __atomic_load_n(&rx->drop_bad_chain, __ATOMIC_RELAXED);
	st->drops[HL_SW_DROP_TOO_BIG] = __atomic_load_n(&tx->drop_too_big, __ATOMIC_RELAXED);
	st->copy_packets = __atomic_load_n(&rx->copied, __ATOMIC_RELAXED);
	st->zcopy_packets = __atomic_load_n(&rx->zcopy, __ATOMIC_RELAXED);
	st->drops[HL_SW_DROP_BAD] += __atomic_load_n(&rx->drop_bad_offload, __ATOMIC_RELAXED);
	st->errors = __atomic_load_n(&v->vp.be.dev.stats.bad_msgs, __ATOMIC_RELAXED) +
		     __atomic_load_n(&v->vp.be.dev.stats.unknown_msgs, __ATOMIC_RELAXED);
	hl_ol_stats_add(&st->ol, &rx->ol);
	hl_ol_stats_add(&st->ol, &tx->ol);
	for (unsigned q = 0; q < 2; q++) {
		st->dirty_log_words += __atomic_load_n(&v->vp.vq[q].stats.log_words, __ATOMIC_RELAXED);
		st->dirty_log_dropped += __atomic_load_n(&v->vp.vq[q].stats.log_dropped, __ATOMIC_RELAXED);
	}
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
	struct sw_vhost *v;
	if (posix_memalign((void **)&v, HL_CACHE_LINE, sizeof(*v)) != 0)
		return hl_error(-ENOMEM, "port %s: out of memory", prm->name);
	memset(v, 0, sizeof(*v));
	v->sw.ops = &vhost_ops;
	strcpy(v->sw.name, prm->name);
	struct hl_vhost_port_params vp = {
		.path = prm->path, .client = prm->client, .features = prm->features, .zc_mode = prm->zcopy,
		.no_offload = prm->no_offload, .no_packed = prm->no_packed};
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
	info->connects = __atomic_load_n(&v->vp.be.connects, __ATOMIC_RELAXED);
	info->disconnects = __atomic_load_n(&v->vp.be.disconnects, __ATOMIC_RELAXED);
	info->pinned = __atomic_load_n(&v->vp.vq[1].stats.zc_pinned, __ATOMIC_RELAXED);
	info->packed = __atomic_load_n(&v->vp.vq[1].packed, __ATOMIC_RELAXED);
	info->in_order = __atomic_load_n(&v->vp.be.dev.features, __ATOMIC_RELAXED) & HL_VIRTIO_BIT(HL_VIRTIO_F_IN_ORDER);
	for (unsigned i = 0; i < 2; i++) {
		const struct hl_vhost_vq_stats *vs = &v->vp.vq[i].stats;
		struct hl_sw_vhost_queue *q = &info->q[i];
		q->packets = __atomic_load_n(&vs->packets, __ATOMIC_RELAXED);
		q->bytes = __atomic_load_n(&vs->bytes, __ATOMIC_RELAXED);
		q->drop_no_buf = __atomic_load_n(&vs->drop_no_buf, __ATOMIC_RELAXED);
		q->drop_bad_chain = __atomic_load_n(&vs->drop_bad_chain, __ATOMIC_RELAXED);
		q->drop_too_big = __atomic_load_n(&vs->drop_too_big, __ATOMIC_RELAXED);
		q->drop_bad_offload = __atomic_load_n(&vs->drop_bad_offload, __ATOMIC_RELAXED);
		q->calls = __atomic_load_n(&vs->calls, __ATOMIC_RELAXED);
	}
	return 0;
}
