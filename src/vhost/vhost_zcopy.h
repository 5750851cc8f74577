/* SPDX-License-Identifier: BSD-3-Clause */
/* Guest -> host: what copy and zero-copy dequeue share; internal to src/vhost. */
#ifndef HL_VHOST_ZCOPY_H
#define HL_VHOST_ZCOPY_H

#include <hugelink/vhost_port.h>

/* Control thread, at queue start: a context for a ring of num entries, or NULL. */
struct hl_vhost_zc *hl_vhost_zc_create(const struct hl_vhost_dev *d, unsigned num);
/* Control thread, data path shut out: return every pinned chain; the context goes once its buffers are back. */
void hl_vhost_zc_stop(struct hl_vhost_vq *vq);
/* Control path: free the contexts of stopped queues whose buffers have all been freed since. */
void hl_vhost_zc_collect(void);
/*
 * Data path, between hl_vhost_vq_enter/leave, for a queue with vq->zc set;
 * the copy loop calls them (vhost_dequeue.c), so that what zero-copy does
 * not take costs what copy mode costs.
 *
 * begin: at the start of a burst, put the chains whose buffers came back on
 * the used ring (true if it looked: the used ring then needs a flush), and
 * set *from, the length from which packets are worth pinning.
 * pin: leave the frame (len bytes after the virtio-net header) in guest
 * memory behind head buffer b. -1: not pinned (a bound, or no buffers), b
 * untouched; copy it. 0: pinned and b holds the first HL_VHOST_ZC_COPY
 * bytes. 1: pinned, and the caller copies those bytes, which lie in iov[0]
 * after the header, before the burst ends.
 * end: at the end of a burst.
 */
bool hl_vhost_zc_begin(struct hl_vhost_vq *vq, uint32_t *from);
int hl_vhost_zc_pin(struct hl_vhost_vq *vq, struct hl_bufpool *bp, struct hl_buf *b, uint16_t head,
		    const struct hl_iov *iov, unsigned niov, uint32_t len);
void hl_vhost_zc_end(struct hl_vhost_vq *vq);

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
