/* SPDX-License-Identifier: BSD-3-Clause */
/* Guest -> host: what copy and zero-copy dequeue share; internal to src/vhost. */
#ifndef HL_VHOST_ZCOPY_H
#define HL_VHOST_ZCOPY_H

#include <hugelink/vhost_port.h>

/* Control thread, at queue start: a context for a ring of num entries, or NULL. */
struct hl_vhost_zc *hl_vhost_zc_create(const struct hl_vhost_dev *d, unsigned num);
/* Control thread, data path shut out: return every pinned chain, drop the queue's reference. */
void hl_vhost_zc_stop(struct hl_vhost_vq *vq);
/* Data path, between hl_vhost_vq_enter/leave, for a queue with vq->zc set. */
uint16_t hl_vhost_dequeue_zc(struct hl_vhost_vq *vq, struct hl_bufpool *bp, struct hl_buf **pkts, uint16_t n);

/*
 * Walk the transmit chain at head into iov/ch, *len the frame's length (the
 * virtio-net header skipped). A chain the walker refuses, or one shorter
 * than the header, goes straight back on the used ring, counted: false.
 */
static inline bool hl_vhost_walk_tx(struct hl_vhost_vq *vq, uint16_t head, struct hl_iov *iov, struct hl_chain *ch,
				    uint32_t *len)
{
	if (hl_unlikely(hl_vring_walk(&vq->vr, vq->mem, head, iov, HL_VHOST_MAX_IOV, ch) < 0 ||
			ch->out_len < vq->hdr_len)) {
		vq->stats.drop_bad_chain++;
		hl_vring_put_used(&vq->vr, head, 0);
		return false;
	}
	*len = ch->out_len - vq->hdr_len;
	return true;
}

/*
 * Copy bytes [skip, skip + len) of the readable iovs into b (a fresh buffer)
 * and as many more buffers from bp as it takes. -1 when bp runs out; b is
 * then empty again and nothing else is held.
 */
int hl_vhost_copy_chain(const struct hl_iov *iov, unsigned niov, uint32_t skip, uint32_t len, struct hl_buf *b,
			struct hl_bufpool *bp);

#endif
