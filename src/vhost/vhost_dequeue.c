/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guest -> host, copy mode: packets the guest put on its transmit queue are
 * copied into pool buffers, and every chain goes back on the used ring
 * (length 0: the device wrote nothing) whether it was taken or refused.
 *
 * The guest may rewrite its buffers while we copy; we read each byte once
 * and decide nothing from guest memory afterwards. The virtio-net header is
 * skipped (no offloads are negotiated, so it carries nothing we need).
 */
#include <string.h>

#include <hugelink/vhost_port.h>

/* Copy `len` bytes starting `skip` bytes into the readable iovs, into a buffer chain. */
static int copy_out(const struct hl_iov *iov, unsigned niov, uint32_t skip, uint32_t len,
		    struct hl_buf *head, struct hl_bufpool *bp)
{
	struct hl_buf *seg = head;
	unsigned i = 0;
	uint32_t off = skip;

	while (i < niov && off >= iov[i].len)
		off -= iov[i++].len;
	head->pkt_len = len;
	while (len > 0 && i < niov) {
		uint32_t room = hl_buf_tailroom(seg);
		if (room == 0) {
			struct hl_buf *n = hl_buf_alloc(bp);
			if (hl_unlikely(n == NULL))
				return -1;
			hl_buf_chain(head, n);
			seg = n;
			room = hl_buf_tailroom(seg);
		}
		uint32_t k = iov[i].len - off;
		if (k > room)
			k = room;
		if (k > len)
			k = len;
		memcpy((uint8_t *)hl_buf_data(seg) + seg->data_len, (uint8_t *)iov[i].base + off, k);
		seg->data_len += k;
		len -= k;
		off += k;
		if (off == iov[i].len) {
			i++;
			off = 0;
		}
	}
	return 0;
}

uint16_t hl_vhost_dequeue_burst(struct hl_vhost_port *p, unsigned q, struct hl_bufpool *bp,
				struct hl_buf **pkts, uint16_t n)
{
	struct hl_vhost_vq *vq = &p->vq[q];
	struct hl_iov iov[HL_VHOST_MAX_IOV];
	struct hl_chain ch;
	uint16_t got = 0;

	if (!hl_vhost_vq_enter(vq))
		return 0;
	unsigned avail = hl_vring_avail_count(&vq->vr);
	if (avail > n)
		avail = n;
	if (avail == 0)
		goto out;
	if (hl_buf_alloc_bulk(bp, pkts, avail) < 0) {
		vq->stats.drop_no_buf++;
		goto out; /* leave the chains for later: the guest loses nothing */
	}
	/*
	 * Two passes, as small copies are bound by cache misses on data the
	 * guest's core just wrote: the first walks every chain and prefetches
	 * its payload, the second copies the single-piece packets, so the
	 * misses overlap instead of queueing one behind the other.
	 */
	struct {
		const uint8_t *src;
		uint32_t len;
	} pend[HL_VHOST_BURST];
	for (unsigned k = 0; k < avail; k++) {
		uint16_t head = hl_vring_pop_avail(&vq->vr);
		struct hl_buf *b = pkts[got];
		if (hl_unlikely(hl_vring_walk(&vq->vr, vq->mem, head, iov, HL_VHOST_MAX_IOV, &ch) < 0 ||
				ch.out_len < vq->hdr_len)) {
			vq->stats.drop_bad_chain++;
			hl_vring_put_used(&vq->vr, head, 0);
			continue;
		}
		uint32_t len = ch.out_len - vq->hdr_len;
		pend[got].src = NULL;
		if (hl_likely(ch.nr_out == 1 && len <= hl_buf_tailroom(b) && got < HL_VHOST_BURST)) {
			/* the common case: header and frame in one descriptor */
			const uint8_t *src = (const uint8_t *)iov[0].base + vq->hdr_len;
			__builtin_prefetch(src);
			if (len > 64)
				__builtin_prefetch(src + 64);
			pend[got].src = src;
			pend[got].len = len;
			b->data_len = b->pkt_len = len;
		} else if (hl_unlikely(copy_out(iov, ch.nr_out, vq->hdr_len, len, b, bp) < 0)) {
			vq->stats.drop_no_buf++;
			/* give the segments back, keep the head buffer for the next chain */
			if (b->next != NULL)
				hl_buf_free(b->next);
			b->next = NULL;
			b->nb_segs = 1;
			b->data_len = b->pkt_len = 0;
			hl_vring_put_used(&vq->vr, head, 0);
			continue;
		}
		hl_vring_put_used(&vq->vr, head, 0);
		vq->stats.bytes += len;
		got++;
	}
	for (unsigned k = 0; k < got; k++)
		if (pend[k].src != NULL)
			memcpy(hl_buf_data(pkts[k]), pend[k].src, pend[k].len);
	if (got < avail)
		hl_buf_free_bulk(pkts + got, avail - got);
	vq->stats.packets += got;
	hl_vring_flush_used(&vq->vr);
	hl_vhost_vq_notify(vq);
out:
	hl_vhost_vq_leave(vq);
	return got;
}
