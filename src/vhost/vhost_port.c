/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Glue between the protocol engine and the data path: when the engine starts
 * a queue, lay an hl_vring over the guest's ring and let the data path in;
 * when it stops one, shut the data path out and report where it stopped.
 */
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>

#include <hugelink/vhost_port.h>

static void queue_start(struct hl_vhost_dev *d, unsigned q)
{
	struct hl_vhost_port *p = d->opaque;
	struct hl_vhost_vq *vq = &p->vq[q];
	const struct hl_vu_vring *v = &d->vq[q];

	if (hl_vring_init(&vq->vr, v->num, v->desc, v->avail, v->used, d->features) < 0) {
		HL_LOG_WARN("vhost-user %s: queue %u: %s", p->be.path, q, hl_last_error());
		return;
	}
	/* every buffer before base was completed (nothing is in flight across a stop) */
	hl_vring_set_base(&vq->vr, v->base, v->base);
	vq->mem = &d->mem;
	vq->call_fd = v->call_fd;
	vq->mrg_rxbuf = d->features & HL_VIRTIO_BIT(HL_VIRTIO_NET_F_MRG_RXBUF);
	vq->hdr_len = (d->features & HL_VIRTIO_BIT(HL_VIRTIO_F_VERSION_1)) || vq->mrg_rxbuf ? 12 : 10;
	/* poll mode: the guest need not kick */
	hl_vring_set_notify(&vq->vr, false);
	__atomic_store_n(&vq->running, 1, __ATOMIC_RELEASE);
	HL_LOG_INFO("vhost-user %s: queue %u running (%u entries)", p->be.path, q, v->num);
}

static uint16_t queue_stop(struct hl_vhost_dev *d, unsigned q)
{
	struct hl_vhost_port *p = d->opaque;
	struct hl_vhost_vq *vq = &p->vq[q];

	if (!__atomic_load_n(&vq->running, __ATOMIC_ACQUIRE))
		return d->vq[q].base;
	__atomic_store_n(&vq->running, 0, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&vq->busy, __ATOMIC_SEQ_CST))
		__builtin_ia32_pause();
	HL_LOG_INFO("vhost-user %s: queue %u stopped at %u", p->be.path, q, vq->vr.last_avail_idx);
	return vq->vr.last_avail_idx;
}

static const struct hl_vhost_ops port_ops = {.queue_start = queue_start, .queue_stop = queue_stop};

int hl_vhost_port_open(struct hl_vhost_port *p, const struct hl_vhost_port_params *prm)
{
	memset(p, 0, sizeof(*p));
	for (unsigned q = 0; q < HL_VHOST_MAX_QUEUES; q++)
		p->vq[q].call_fd = -1;
	struct hl_vhost_backend_params bp = {
		.path = prm->path,
		.client = prm->client,
		.features = prm->features ? prm->features : HL_VHOST_DEFAULT_FEATURES,
		.nqueues = prm->nqueues ? prm->nqueues : 2,
		.ops = &port_ops,
		.opaque = p,
	};
	return hl_vhost_backend_open(&p->be, &bp);
}

void hl_vhost_port_close(struct hl_vhost_port *p)
{
	hl_vhost_backend_close(&p->be);
}

int hl_vhost_port_poll_ctrl(struct hl_vhost_port *p, int timeout_ms)
{
	return hl_vhost_backend_poll(&p->be, timeout_ms);
}

void hl_vhost_vq_notify(struct hl_vhost_vq *vq)
{
	if (hl_vring_need_notify(&vq->vr) && vq->call_fd >= 0) {
		eventfd_write(vq->call_fd, 1);
		vq->stats.calls++;
	}
}
