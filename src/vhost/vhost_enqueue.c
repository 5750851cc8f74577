/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Host -> guest, copy mode: each packet is copied, behind a virtio-net
 * header, into buffers the guest made available on its receive queue. The
 * header is zero for a plain frame and says what the frame's offload
 * metadata says otherwise (checksum to complete or already verified, TCP
 * segmentation left to the guest), within what the guest negotiated. With
 * MRG_RXBUF a packet may fill several chains; the header's num_buffers says
 * how many. A packet that does not fit what the guest offers is not
 * delivered, and the chains it would have used are given back untouched (the
 * shadow indices roll back: nothing is visible to the guest before a flush).
 *
 * With VIRTIO_F_IN_ORDER chains are taken and returned in the order the
 * guest offered them (a roll-back leaves them in place), but each still
 * gets its own used entry: the spec lets the driver take a chain a batched
 * entry skips as filled to its end, and a frame's chains hold what the
 * frame needs, not that.
 *
 * While the guest migrates, every byte written into its buffers is logged
 * (header included), a rolled-back chain too: its memory changed all the
 * same. The bits go out with the used index (hl_vhost_vq_flush).
 */
#include <errno.h>
#include <string.h>

#include <hugelink/vhost_port.h>

#include "vhost_port_pvt.h"

/* Cursor over a packet's segments. */
struct src {
	const struct hl_buf *seg;
	uint32_t off;
};

/* Copy up to `room` bytes of the packet into iov[0..niov) after `at` bytes; returns bytes copied. */
static uint32_t fill(struct src *s, const struct hl_iov *iov, unsigned niov, uint32_t at, uint32_t *left)
{
	uint32_t done = 0;
	unsigned i = 0;

	while (i < niov && at >= iov[i].len)
		at -= iov[i++].len;
	while (*left > 0 && i < niov && s->seg != NULL) {
		uint32_t have = s->seg->data_len - s->off;
		if (have == 0) {
			s->seg = s->seg->next;
			s->off = 0;
			continue;
		}
		uint32_t k = iov[i].len - at;
		if (k > have)
			k = have;
		memcpy((uint8_t *)iov[i].base + at, (const uint8_t *)hl_buf_data(s->seg) + s->off, k);
		s->off += k;
		at += k;
		done += k;
		*left -= k;
		if (at == iov[i].len) {
			i++;
			at = 0;
		}
	}
	return done;
}

/* The first `bytes` bytes of a chain's writable pieces were written: dirty pages. */
static void log_written(struct hl_vhost_vq *vq, const struct hl_iov *iov, unsigned niov, uint32_t bytes)
{
	for (unsigned i = 0; i < niov && bytes > 0; i++) {
		uint32_t k = iov[i].len < bytes ? iov[i].len : bytes;
		hl_vhost_vq_log_hva(vq, iov[i].base, k);
		bytes -= k;
	}
}

/*
 * Fill the writable part of a walked chain with the next bytes of the
 * packet, after room for the header in its first chain (nbufs 0, whose
 * writable pieces are kept in first[] for the header). Returns the bytes
 * the chain now holds (header included), logged while a migration runs.
 */
static uint32_t fill_chain(struct hl_vhost_vq *vq, struct src *s, const struct hl_iov *iov, const struct hl_chain *ch,
			   unsigned nbufs, struct hl_iov *first, unsigned *nfirst, uint32_t *left)
{
	const struct hl_iov *w = iov + ch->nr_out;
	uint32_t at = nbufs == 0 ? vq->hdr_len : 0;
	if (nbufs == 0) {
		*nfirst = ch->nr_in;
		memcpy(first, w, ch->nr_in * sizeof(*w));
	}
	uint32_t wrote = fill(s, w, ch->nr_in, at, left);
	if (hl_unlikely(vq->log.bits != NULL))
		log_written(vq, w, ch->nr_in, at + wrote); /* the header's bytes are in there */
	return at + wrote;
}

/*
 * The offload fields a receiver that negotiated caps gets for b. The switch
 * made every frame fit this port before it came here (hl_ol_prepare), so a
 * frame that still asks for more is a bug elsewhere: it goes out with a
 * plain header, counted.
 */
static void ol_header(struct hl_vhost_vq *vq, const struct hl_buf *b, struct hl_virtio_net_hdr_v1 *h)
{
	if (hl_unlikely(hl_ol_to_vnet(b, vq->ol_caps, &h->hdr) < 0))
		vq->stats.ol.refused[HL_OL_R_BAD_META]++;
}

/* Write the header (num_buffers last) into the first writable bytes of a chain. */
static void put_header(struct hl_vhost_vq *vq, const struct hl_buf *b, const struct hl_iov *iov, unsigned niov,
		       uint16_t hdr_len, uint16_t nbufs)
{
	struct hl_virtio_net_hdr_v1 h;
	memset(&h, 0, sizeof(h));
	if (b->flags & HL_BUF_F_OFFLOAD)
		ol_header(vq, b, &h);
	h.num_buffers = nbufs;
	const uint8_t *src = (const uint8_t *)&h;
	for (unsigned i = 0, done = 0; i < niov && done < hdr_len; i++) {
		uint32_t k = iov[i].len < hdr_len - done ? iov[i].len : hdr_len - done;
		memcpy(iov[i].base, src + done, k);
		done += k;
	}
}

/*
 * Header with num_buffers 1 as two plain stores (building it in a struct on
 * the stack first costs a failed store-to-load forward per packet).
 */
static inline void put_header_one(uint8_t *dst, uint16_t hdr_len)
{
	uint64_t lo = 0;
	uint32_t hi = (uint32_t)1 << 16; /* csum_offset 0, num_buffers 1 (little-endian) */
	uint16_t hi10 = 0;

	memcpy(dst, &lo, sizeof(lo));
	if (hl_likely(hdr_len == sizeof(struct hl_virtio_net_hdr_v1)))
		memcpy(dst + 8, &hi, sizeof(hi));
	else
		memcpy(dst + 8, &hi10, sizeof(hi10)); /* the 10-byte header has no num_buffers */
}

/* A burst's end, either ring layout: counted, published, and the guest told if it asked. */
static void finish_burst(struct hl_vhost_vq *vq, uint16_t sent, uint64_t sent_bytes, uint64_t *bytes)
{
	vq->stats.packets += sent;
	vq->stats.bytes += sent_bytes;
	if (bytes != NULL)
		*bytes += sent_bytes;
	hl_vhost_vq_flush(vq);
	hl_vhost_vq_notify(vq);
}

/*
 * Single-piece packets whose chain is one writable piece, walked and
 * waiting for their copies: the guest's buffers were last touched by its
 * own core, so each first write misses; the walk prefetches them for a
 * whole run of packets and the copies come after, so the misses overlap.
 */
struct fast_run {
	unsigned n;
	struct {
		uint8_t *dst;
		const struct hl_buf *b;
		uint16_t head, slots; /* slots: packed rings only */
	} e[HL_VHOST_BURST];
};

/* The run's copies, headers and used elements, in the order the chains were taken. */
static void fast_run_finish(struct hl_vhost_vq *vq, struct fast_run *r, uint16_t *sent, uint64_t *sent_bytes)
{
	const uint16_t hl = vq->hdr_len;
	for (unsigned i = 0; i < r->n; i++) {
		uint8_t *dst = r->e[i].dst;
		const struct hl_buf *b = r->e[i].b;
		memcpy(dst + hl, hl_buf_data(b), b->pkt_len);
		if (hl_likely(!(b->flags & HL_BUF_F_OFFLOAD))) {
			put_header_one(dst, hl);
		} else {
			struct hl_iov one = {.base = dst, .len = hl};
			put_header(vq, b, &one, 1, hl, 1);
		}
		hl_vhost_vq_put_used(vq, r->e[i].head, hl + b->pkt_len, r->e[i].slots);
		if (hl_unlikely(vq->log.bits != NULL))
			hl_vhost_vq_log_hva(vq, dst, hl + b->pkt_len);
		*sent_bytes += b->pkt_len;
	}
	*sent = (uint16_t)(*sent + r->n);
	r->n = 0;
}

/* Queue a walked chain's copy, its buffer prefetched for writing; the run is finished when full. */
static inline void fast_run_add(struct hl_vhost_vq *vq, struct fast_run *r, uint8_t *dst, const struct hl_buf *b,
				uint16_t head, uint16_t slots, uint16_t *sent, uint64_t *sent_bytes)
{
	hl_prefetch_w(dst);
	if (((uintptr_t)dst & 63) + vq->hdr_len + b->pkt_len > 64)
		hl_prefetch_w(dst + 64);
	r->e[r->n].dst = dst;
	r->e[r->n].b = b;
	r->e[r->n].head = head;
	r->e[r->n++].slots = slots;
	if (r->n == HL_VHOST_BURST)
		fast_run_finish(vq, r, sent, sent_bytes);
}

/* Does a walked chain take b as a fast-run packet: one writable piece with room for header and frame? */
static inline bool fast_fits(const struct hl_vhost_vq *vq, const struct hl_chain *ch, const struct hl_buf *b)
{
	return ch->nr_out == 0 && ch->nr_in == 1 && ch->in_len >= vq->hdr_len &&
	       ch->in_len - vq->hdr_len >= b->pkt_len;
}

uint16_t hl_vhost_enqueue_burst(struct hl_vhost_port *p, unsigned q, struct hl_buf **pkts, uint16_t n,
				uint64_t *bytes)
{
	struct hl_vhost_vq *vq = &p->vq[q];
	struct hl_iov iov[HL_VHOST_MAX_IOV], first[HL_VHOST_MAX_IOV];
	struct hl_chain ch;
	struct fast_run run;
	uint16_t sent = 0;
	uint64_t sent_bytes = 0;

	if (!hl_vhost_vq_enter(vq))
		return 0;
	if (vq->packed) {
		sent = hl_vhost_enqueue_packed(vq, pkts, n, bytes);
		hl_vhost_vq_leave(vq);
		return sent;
	}
	unsigned avail = hl_vring_avail_count(&vq->vr);
	hl_vring_prefetch_avail(&vq->vr, avail < n ? avail : n);
	run.n = 0;
	for (uint16_t k = 0; k < n && avail > 0; k++) {
		struct hl_buf *b = pkts[k];
		uint16_t save_avail = vq->vr.last_avail_idx, save_used;
		unsigned save_count = avail;
		uint32_t left = b->pkt_len;
		struct src s = {.seg = b, .off = 0};
		uint16_t nbufs = 0, head = 0;
		unsigned nfirst = 0;
		bool ok = true, too_big = false, walked = false;
		int rc = 0;

		/*
		 * The common case: a one-segment packet into one chain of one
		 * writable piece, copied with the rest of its run. Anything else
		 * goes on below with this chain, after the run's copies.
		 */
		if (hl_likely(b->next == NULL && b->data_len == b->pkt_len)) {
			head = hl_vring_pop_avail(&vq->vr);
			avail--;
			rc = hl_vring_walk(&vq->vr, vq->mem, head, iov, HL_VHOST_MAX_IOV, &ch);
			if (hl_likely(rc == 0 && fast_fits(vq, &ch, b))) {
				fast_run_add(vq, &run, iov[0].base, b, head, 0, &sent, &sent_bytes);
				continue;
			}
			walked = true;
		}
		/* the run's used elements go first: they were taken first */
		if (run.n != 0)
			fast_run_finish(vq, &run, &sent, &sent_bytes);
		save_used = vq->vr.last_used_idx;

		/* one chain, or several with MRG_RXBUF, until the packet is in */
		do {
			if (walked) {
				walked = false;
			} else {
				if (avail == 0) {
					ok = false;
					vq->stats.drop_no_buf++;
					break;
				}
				head = hl_vring_pop_avail(&vq->vr);
				avail--;
				rc = hl_vring_walk(&vq->vr, vq->mem, head, iov, HL_VHOST_MAX_IOV, &ch);
			}
			if (rc < 0 || ch.nr_in == 0 || (nbufs == 0 && ch.in_len < vq->hdr_len)) {
				/* a bad chain goes back empty; it costs this packet nothing */
				vq->stats.drop_bad_chain++;
				hl_vring_put_used(&vq->vr, head, 0);
				if (nbufs == 0) {
					save_avail = vq->vr.last_avail_idx;
					save_used = vq->vr.last_used_idx;
					save_count = avail;
				}
				continue;
			}
			uint32_t wrote = fill_chain(vq, &s, iov, &ch, nbufs, first, &nfirst, &left);
			nbufs++;
			hl_vring_put_used(&vq->vr, head, wrote);
			if (left > 0 && !vq->mrg_rxbuf) {
				ok = false;
				too_big = true;
				vq->stats.drop_too_big++;
			}
		} while (ok && left > 0);

		if (!ok) {
			/* undo: the chains this packet took are offered again */
			vq->vr.last_avail_idx = save_avail;
			vq->vr.last_used_idx = save_used;
			avail = save_count;
			if (too_big)
				continue; /* try the next packet: it may be smaller */
			break;
		}
		put_header(vq, b, first, nfirst, vq->hdr_len, nbufs);
		sent_bytes += b->pkt_len;
		sent++;
	}
	if (run.n != 0)
		fast_run_finish(vq, &run, &sent, &sent_bytes);
	finish_burst(vq, sent, sent_bytes, bytes);
	hl_vhost_vq_leave(vq);
	return sent;
}

/* The chains one packet took on a packed ring, returned once it is all in. */
#define PACKED_MAX_CHAINS 64

struct taken {
	uint16_t id, slots;
	uint32_t len;
};

/*
 * The same on a packed ring. A used descriptor overwrites the ring slot of
 * the chain it returns, so a packet's chains go back used only once the
 * packet is all in: one that does not fit rolls back our position (and
 * nothing in the ring changed but the guest's buffers), and the chains are
 * offered again. A chain refused before the packet found its first buffer
 * goes back at once, empty.
 */
uint16_t hl_vhost_enqueue_packed(struct hl_vhost_vq *vq, struct hl_buf **pkts, uint16_t n, uint64_t *bytes)
{
	struct hl_vring_packed *vr = &vq->pvr;
	struct hl_iov iov[HL_VHOST_MAX_IOV], first[HL_VHOST_MAX_IOV];
	struct taken t[PACKED_MAX_CHAINS];
	struct hl_chain ch;
	struct fast_run run;
	uint16_t sent = 0;
	uint64_t sent_bytes = 0;
	const unsigned max_chains = vq->mrg_rxbuf ? PACKED_MAX_CHAINS : 1;

	/*
	 * Prefetch only descriptors the driver has made available: the ones
	 * past them are where it is writing now, and pulling those lines here
	 * on every poll of a full ring slows the driver's refill.
	 */
	unsigned ahead = hl_vring_packed_avail_slots(vr, n < HL_VHOST_BURST ? n : HL_VHOST_BURST);
	if (ahead == 0) {
		finish_burst(vq, 0, 0, bytes);
		return 0;
	}
	hl_vring_packed_prefetch(vr, ahead);
	run.n = 0;
	for (uint16_t k = 0; k < n; k++) {
		struct hl_buf *b = pkts[k];
		uint16_t save_idx = vr->avail_idx, save_flight;
		bool save_wrap = vr->avail_wrap;
		uint32_t left = b->pkt_len;
		struct src s = {.seg = b, .off = 0};
		unsigned nbufs = 0, nt = 0, nfirst = 0;
		bool ok = true, too_big = false, walked = false;
		int rc = 0;

		/* the common case, as on split rings: copied with the rest of its run */
		if (hl_likely(b->next == NULL && b->data_len == b->pkt_len)) {
			rc = hl_vring_packed_walk(vr, vq->mem, iov, HL_VHOST_MAX_IOV, &ch);
			if (hl_likely(rc == 0 && fast_fits(vq, &ch, b))) {
				fast_run_add(vq, &run, iov[0].base, b, ch.head, ch.ndesc, &sent, &sent_bytes);
				continue;
			}
			walked = true;
		}
		if (run.n != 0)
			fast_run_finish(vq, &run, &sent, &sent_bytes);
		/* in flight before this packet's first chain, the run's chains now returned */
		save_flight = (uint16_t)(vr->in_flight - (walked && rc != -EAGAIN && rc != -EIO ? ch.ndesc : 0));

		do {
			if (walked)
				walked = false;
			else
				rc = hl_vring_packed_walk(vr, vq->mem, iov, HL_VHOST_MAX_IOV, &ch);
			if (rc == -EAGAIN || rc == -EIO) {
				ok = false;
				if (nt > 0) /* ran out half-way; an empty ring is the switch's to count */
					vq->stats.drop_no_buf++;
				break;
			}
			if (rc < 0 || ch.nr_in == 0 || (nbufs == 0 && ch.in_len < vq->hdr_len)) {
				vq->stats.drop_bad_chain++;
				if (nbufs == 0) {
					/* nothing of this packet in it yet: back now, and the packet starts after it */
					hl_vring_packed_put_used(vr, ch.head, 0, ch.ndesc);
					save_idx = vr->avail_idx;
					save_wrap = vr->avail_wrap;
					save_flight = vr->in_flight;
				} else {
					t[nt++] = (struct taken){ch.head, ch.ndesc, 0};
				}
				if (nt == PACKED_MAX_CHAINS) {
					ok = false;
					break;
				}
				continue;
			}
			t[nt].len = fill_chain(vq, &s, iov, &ch, nbufs, first, &nfirst, &left);
			t[nt].id = ch.head;
			t[nt++].slots = ch.ndesc;
			nbufs++;
			if (left > 0 && (nbufs == max_chains || nt == PACKED_MAX_CHAINS)) {
				ok = false;
				too_big = true;
				vq->stats.drop_too_big++;
			}
		} while (ok && left > 0);

		if (!ok) {
			/* undo: the chains this packet took are offered again */
			vr->avail_idx = save_idx;
			vr->avail_wrap = save_wrap;
			vr->in_flight = save_flight;
			if (too_big)
				continue; /* the next packet may be smaller */
			break;
		}
		put_header(vq, b, first, nfirst, vq->hdr_len, (uint16_t)nbufs);
		for (unsigned i = 0; i < nt; i++)
			hl_vring_packed_put_used(vr, t[i].id, t[i].len, t[i].slots);
		sent_bytes += b->pkt_len;
		sent++;
	}
	if (run.n != 0)
		fast_run_finish(vq, &run, &sent, &sent_bytes);
	finish_burst(vq, sent, sent_bytes, bytes);
	return sent;
}
