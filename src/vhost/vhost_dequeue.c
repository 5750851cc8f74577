/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guest -> host, copy mode: packets the guest put on its transmit queue are
 * copied into pool buffers, and every chain goes back on the used ring
 * (length 0: the device wrote nothing) whether it was taken or refused.
 *
 * The guest may rewrite its buffers while we copy; we read each byte once
 * and decide nothing from guest memory afterwards. The virtio-net header
 * matters only when the guest negotiated offloads (vq->ol_caps): then it
 * is copied out once per packet and, once the frame is in our buffers,
 * checked against the frame (hl_ol_from_vnet) before the packet leaves
 * this burst; a header that lies costs its packet, counted by reason, and
 * the chain still goes back to the guest. Without offloads the header is
 * skipped unread.
 *
 * With zero-copy on (vhost_zcopy.c), the same loop hands the packets worth
 * pinning to hl_vhost_zc_pin(); their chains go on the used ring later,
 * when the switch frees their buffers. Everything else is copied exactly
 * as in copy mode, and its chain goes on the used ring behind the pinned
 * ones taken before it (hl_vhost_tx_done).
 *
 * With VIRTIO_F_IN_ORDER (copy mode only: the port does not offer it when
 * it may pin), a burst's chains, refused ones included, go back as one
 * used entry naming the last of them, written after the burst's copies:
 * every chain here gets length 0, which is what the driver assumes of the
 * chains the entry skips.
 */
#include <errno.h>
#include <string.h>

#include <hugelink/vhost_port.h>

#include "vhost_port_pvt.h"

#include "vhost_zcopy_pvt.h"

/*
 * Packets whose virtio-net header (bit k of asks: packet k's asks for
 * something) the frame contradicts are freed, counted; the rest close up.
 * Returns how many are kept.
 */
static unsigned check_offloads(struct hl_vhost_vq *vq, struct hl_buf **pkts, unsigned got,
			       const struct hl_virtio_net_hdr *vh, uint32_t asks)
{
	unsigned kept = 0;
	for (unsigned k = 0; k < got; k++) {
		if (!(asks & (1u << k)) ||
		    hl_likely(hl_ol_from_vnet(pkts[k], &vh[k], vq->ol_caps, HL_VHOST_OL_MTU, &vq->stats.ol) == 0)) {
			pkts[kept++] = pkts[k];
			continue;
		}
		vq->stats.drop_bad_offload++;
		vq->stats.bytes -= pkts[k]->pkt_len;
		hl_buf_free(pkts[k]);
	}
	return kept;
}

uint16_t hl_vhost_dequeue_burst(struct hl_vhost_port *p, unsigned q, struct hl_bufpool *bp,
				struct hl_buf **pkts, uint16_t n)
{
	struct hl_vhost_vq *vq = &p->vq[q];
	struct hl_iov iov[HL_VHOST_MAX_IOV];
	struct hl_chain ch;
	uint16_t got = 0;
	unsigned pins = 0;
	uint32_t zc_from = UINT32_MAX; /* with zero-copy on: packets from this length up are pinned */
	bool flush = false;

	if (!hl_vhost_vq_enter(vq))
		return 0;
	if (vq->packed) {
		got = hl_vhost_dequeue_packed(vq, bp, pkts, n);
		hl_vhost_vq_leave(vq);
		return got;
	}
	if (vq->zc != NULL)
		flush = hl_vhost_zc_begin(vq, &zc_from);
	unsigned avail = hl_vring_avail_count(&vq->vr);
	if (avail > n)
		avail = n;
	if (vq->ol_caps != 0 && avail > HL_VHOST_BURST)
		avail = HL_VHOST_BURST; /* the headers are kept for one burst */
	if (avail == 0)
		goto idle;
	hl_vring_prefetch_avail(&vq->vr, avail);
	if (hl_buf_alloc_bulk(bp, pkts, avail) < 0) {
		vq->stats.drop_no_buf++;
		goto idle; /* leave the chains for later: the guest loses nothing */
	}
	/*
	 * Two passes, as small copies are bound by cache misses on data the
	 * guest's core just wrote: the first walks every chain and prefetches
	 * its payload, the second copies the single-piece packets (and the
	 * headers of pinned ones), so the misses overlap instead of queueing
	 * one behind the other.
	 */
	struct {
		const uint8_t *src;
		uint32_t len;
	} pend[HL_VHOST_BURST];
	/* with offloads: each packet's header, read once, checked after the copies */
	struct hl_virtio_net_hdr vh[HL_VHOST_BURST];
	uint32_t asks = 0; /* bit k: packet k's header asks for something (flags or gso type set) */
	bool ol = vq->ol_caps != 0;
	for (unsigned k = 0; k < avail; k++) {
		uint16_t head = hl_vring_pop_avail(&vq->vr);
		struct hl_buf *b = pkts[got];
		uint32_t len;
		if (hl_unlikely(!hl_vhost_walk_tx(vq, head, iov, &ch, &len)))
			continue;
		if (got < HL_VHOST_BURST) /* a caller may ask for more than a burst; the rest copy at once */
			pend[got].src = NULL;
		if (ol && hl_vhost_read_vnet_hdr(iov, ch.nr_out, &vh[got]))
			asks |= 1u << got;
		if (len >= zc_from) {
			int r = hl_vhost_zc_pin(vq, bp, b, head, iov, ch.nr_out, len);
			if (r >= 0) {
				if (r == 1 && got < HL_VHOST_BURST) {
					const uint8_t *src = (const uint8_t *)iov[0].base + vq->hdr_len;
					__builtin_prefetch(src);
					__builtin_prefetch(src + HL_VHOST_ZC_COPY - 1);
					pend[got].src = src;
					pend[got].len = HL_VHOST_ZC_COPY;
				} else if (r == 1) {
					memcpy(hl_buf_data(b), (const uint8_t *)iov[0].base + vq->hdr_len,
					       HL_VHOST_ZC_COPY);
				}
				vq->stats.bytes += len;
				got++;
				pins++;
				continue; /* on the used ring once its buffers are freed */
			}
		}
		if (hl_likely(ch.nr_out == 1 && len <= hl_buf_tailroom(b) && got < HL_VHOST_BURST)) {
			/* the common case: header and frame in one descriptor */
			const uint8_t *src = (const uint8_t *)iov[0].base + vq->hdr_len;
			__builtin_prefetch(src);
			if (len > 64)
				__builtin_prefetch(src + 64);
			pend[got].src = src;
			pend[got].len = len;
			b->data_len = b->pkt_len = len;
		} else if (hl_unlikely(hl_vhost_copy_chain(iov, ch.nr_out, vq->hdr_len, len, b, bp) < 0)) {
			/* the head buffer stays ours, empty, for the next chain */
			vq->stats.drop_no_buf++;
			hl_vhost_tx_done(vq, head);
			continue;
		}
		hl_vhost_tx_done(vq, head);
		vq->stats.bytes += len;
		got++;
	}
	for (unsigned k = 0; k < got && k < HL_VHOST_BURST; k++)
		if (pend[k].src != NULL)
			memcpy(hl_buf_data(pkts[k]), pend[k].src, pend[k].len);
	unsigned taken = got;
	vq->stats.copied += got - pins;
	if (asks != 0)
		got = (uint16_t)check_offloads(vq, pkts, got, vh, asks);
	if (vq->zc != NULL)
		hl_vhost_zc_end(vq);
	/* spares (chains refused, or no buffers) still sit after what the loop took */
	if (taken < avail)
		hl_buf_free_bulk(pkts + taken, avail - taken);
	vq->stats.packets += got;
	hl_vhost_vq_tx_used_end(vq); /* after the copies: the guest may reuse the buffers once it sees it */
	flush = true;
idle:
	if (flush) {
		hl_vhost_vq_flush(vq);
		hl_vhost_vq_notify(vq);
	}
	hl_vhost_vq_leave(vq);
	return got;
}

/*
 * The same on a packed ring. The chains a burst may take are bounded first
 * by the descriptors available in a row (each chain is at least one), so
 * the buffers come in one bulk allocation as on a split ring; each chain
 * goes back used (length 0) as soon as it is copied or refused, and the
 * burst's used descriptors are published together. With zero-copy on, a
 * pinned chain goes back when its buffers are freed, its used descriptor
 * skipping the slots it took (vhost_zcopy.c). With IN_ORDER the burst goes
 * back as one used descriptor, the last chain's id over all the burst's
 * slots, after the copies.
 */
uint16_t hl_vhost_dequeue_packed(struct hl_vhost_vq *vq, struct hl_bufpool *bp, struct hl_buf **pkts, uint16_t n)
{
	struct hl_vring_packed *vr = &vq->pvr;
	struct hl_iov iov[HL_VHOST_MAX_IOV];
	struct hl_virtio_net_hdr vh[HL_VHOST_BURST];
	struct hl_chain ch;
	uint32_t asks = 0, zc_from = UINT32_MAX;
	unsigned got = 0, pins = 0, np = 0;
	/* with IN_ORDER: the burst goes back as one used descriptor, the last chain's id over all their slots */
	const bool io = vq->in_order;
	unsigned io_slots = 0;
	uint16_t io_last = 0;
	/*
	 * Single-piece frames (and pinned frames' first bytes) are copied in a
	 * second pass, as on split rings, so their cache misses overlap; their
	 * chains go back used after that copy (slots 0: a pin, not yet).
	 */
	struct {
		const uint8_t *src;
		struct hl_buf *dst;
		uint32_t len;
		uint16_t id, slots;
	} pend[HL_VHOST_BURST];
	bool ol = vq->ol_caps != 0, drained = vq->zc != NULL && hl_vhost_zc_begin(vq, &zc_from);

	unsigned ahead = hl_vring_packed_avail_slots(vr, n < HL_VHOST_BURST ? n : HL_VHOST_BURST);
	if (ahead == 0) {
		if (drained) { /* completions went on the ring */
			hl_vhost_vq_flush(vq);
			hl_vhost_vq_notify(vq);
		}
		return 0;
	}
	hl_vring_packed_prefetch(vr, ahead);
	if (hl_buf_alloc_bulk(bp, pkts, ahead) < 0) {
		vq->stats.drop_no_buf++;
		return 0; /* the chains wait: the guest loses nothing */
	}
	/* at most `ahead` walks: a guest refilling bad chains as fast as we refuse them cannot hold us */
	for (unsigned k = 0; k < ahead; k++) {
		int rc = hl_vring_packed_walk(vr, vq->mem, iov, HL_VHOST_MAX_IOV, &ch);
		if (rc == -EAGAIN || rc == -EIO)
			break;
		if (io) {
			io_last = ch.head;
			io_slots += ch.ndesc;
		}
		if (hl_unlikely(rc < 0 || ch.out_len < vq->hdr_len)) {
			vq->stats.drop_bad_chain++;
			if (!io)
				hl_vring_packed_put_used(vr, ch.head, 0, ch.ndesc);
			continue;
		}
		uint32_t len = ch.out_len - vq->hdr_len;
		struct hl_buf *b = pkts[got];
		bool asked = ol && hl_vhost_read_vnet_hdr(iov, ch.nr_out, &vh[got]);
		if (len >= zc_from) {
			int r = hl_vhost_zc_pin(vq, bp, b, ch.head, iov, ch.nr_out, len);
			if (r >= 0) {
				hl_vhost_zc_pinned_slots(vq->zc, ch.head, ch.ndesc);
				if (r == 1) {
					const uint8_t *src = (const uint8_t *)iov[0].base + vq->hdr_len;
					__builtin_prefetch(src);
					__builtin_prefetch(src + HL_VHOST_ZC_COPY - 1);
					pend[np].src = src;
					pend[np].dst = b;
					pend[np].len = HL_VHOST_ZC_COPY;
					pend[np++].slots = 0;
				}
				if (asked)
					asks |= 1u << got;
				vq->stats.bytes += len;
				got++;
				pins++;
				continue; /* used once its buffers are freed */
			}
		}
		if (hl_likely(ch.nr_out == 1 && len <= hl_buf_tailroom(b))) {
			const uint8_t *src = (const uint8_t *)iov[0].base + vq->hdr_len;
			__builtin_prefetch(src);
			if (len > 64)
				__builtin_prefetch(src + 64);
			b->data_len = b->pkt_len = len;
			pend[np].src = src;
			pend[np].dst = b;
			pend[np].len = len;
			pend[np].id = ch.head;
			pend[np++].slots = io ? 0 : ch.ndesc;
		} else {
			int crc = hl_vhost_copy_chain(iov, ch.nr_out, vq->hdr_len, len, b, bp);
			if (!io)
				hl_vring_packed_put_used(vr, ch.head, 0, ch.ndesc);
			if (hl_unlikely(crc < 0)) {
				vq->stats.drop_no_buf++; /* b is empty again, for the next chain */
				continue;
			}
		}
		if (asked)
			asks |= 1u << got;
		vq->stats.bytes += len;
		got++;
	}
	for (unsigned k = 0; k < np; k++) {
		memcpy(hl_buf_data(pend[k].dst), pend[k].src, pend[k].len);
		if (pend[k].slots != 0)
			hl_vring_packed_put_used(vr, pend[k].id, 0, pend[k].slots);
	}
	if (io_slots != 0)
		hl_vring_packed_put_used(vr, io_last, 0, (uint16_t)io_slots);
	/* spares (chains refused, or fewer chains than slots) */
	if (got < ahead)
		hl_buf_free_bulk(pkts + got, ahead - got);
	vq->stats.copied += got - pins;
	if (asks != 0)
		got = check_offloads(vq, pkts, got, vh, asks);
	if (vq->zc != NULL)
		hl_vhost_zc_end(vq);
	vq->stats.packets += got;
	hl_vhost_vq_flush(vq);
	hl_vhost_vq_notify(vq);
	return (uint16_t)got;
}
