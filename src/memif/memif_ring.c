/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The memif data path, server side: frames out of the peer's S2M rings
 * into switch buffers, and switch frames into the buffers the peer offers
 * on its M2S rings. Both directions copy: the peer's regions are its own
 * memory, and a switch buffer is never lent to it.
 *
 * Who writes what: the peer writes S2M heads, M2S heads and every
 * descriptor's region/offset, and the M2S rings' flags; we write S2M and
 * M2S tails, the S2M rings' flags, and an M2S descriptor's length and
 * flags. Our positions live in struct hl_memif_q, never read back from the
 * ring. Each descriptor is read once into locals and checked there (region
 * index, offset + length within the region) before a byte moves, so a peer
 * rewriting it meanwhile changes nothing. A head more than a ring ahead of
 * our position, or a descriptor outside its region, marks the ring broken
 * (`fault`): it is not touched again and the control thread ends the
 * connection. No buffer is held across a burst, so a broken or vanished
 * peer never costs the switch a buffer.
 */
#include <string.h>

#include "memif_ring_pvt.h"

/* A descriptor read once, and where its bytes are; NULL when it lies outside its region. */
static inline uint8_t *desc_bytes(const struct hl_memif_port *p, const struct hl_memif_desc *d_shared,
				  struct hl_memif_desc *d)
{
	d->flags = __atomic_load_n(&d_shared->flags, __ATOMIC_RELAXED);
	d->region = __atomic_load_n(&d_shared->region, __ATOMIC_RELAXED);
	d->length = __atomic_load_n(&d_shared->length, __ATOMIC_RELAXED);
	d->offset = __atomic_load_n(&d_shared->offset, __ATOMIC_RELAXED);
	if (hl_unlikely(d->region >= p->ctl.nregions))
		return NULL;
	const struct hl_memif_region *r = &p->ctl.region[d->region];
	if (hl_unlikely((uint64_t)d->offset + d->length > r->size))
		return NULL;
	return r->va + d->offset;
}

/* Append len bytes to the frame whose last segment is *cur; false when no buffer is left. */
static inline bool put_bytes(struct hl_bufpool *bp, struct hl_buf *head, struct hl_buf **cur, const uint8_t *src,
			     uint32_t len)
{
	while (len > 0) {
		struct hl_buf *c = *cur;
		uint32_t room = hl_buf_tailroom(c);
		if (room == 0) {
			struct hl_buf *s = hl_buf_alloc(bp);
			if (hl_unlikely(s == NULL))
				return false;
			s->data_off = 0;
			c->next = s;
			head->nb_segs++;
			*cur = c = s;
			room = hl_buf_tailroom(c);
		}
		uint32_t k = len < room ? len : room;
		memcpy((uint8_t *)hl_buf_data(c) + c->data_len, src, k);
		c->data_len += k;
		head->pkt_len += k;
		src += k;
		len -= k;
	}
	return true;
}

enum rx_verdict { RX_FRAME, RX_DROPPED, RX_WAIT, RX_BROKEN };

/*
 * One frame starting at slot pos, of at most avail slots: copied into a
 * fresh chain (*out) headed by *fresh when there is one (it is then taken:
 * *fresh becomes NULL), dropped (its slots are still consumed), incomplete
 * (its last slot not yet published: wait), or broken.
 */
static enum rx_verdict rx_frame(struct hl_memif_port *p, struct hl_memif_q *q, struct hl_bufpool *bp, uint16_t pos,
				uint16_t avail, uint16_t *used, struct hl_buf **fresh, struct hl_buf **out)
{
	struct hl_buf *head = *fresh, *cur = head;
	uint64_t total = 0; /* 64 bits: a chain of 4 GiB lengths in a large region must not wrap */
	bool nobuf = false;
	*fresh = NULL;
	for (uint16_t k = 0; k < avail; k++) {
		struct hl_memif_desc d;
		const uint8_t *src = desc_bytes(p, &q->ring->desc[(uint16_t)(pos + k) & q->mask], &d);
		if (hl_unlikely(src == NULL)) {
			hl_buf_free(head);
			hl__memif_fault(q, &q->stats.bad_desc);
			return RX_BROKEN;
		}
		total += d.length;
		if (hl_likely(!nobuf && total <= HL_MEMIF_FRAME_MAX)) {
			if (head == NULL) {
				head = cur = hl_buf_alloc(bp);
				nobuf = head == NULL;
			}
			if (head != NULL && !put_bytes(bp, head, &cur, src, d.length))
				nobuf = true;
		}
		if (!(d.flags & HL_MEMIF_DESC_F_NEXT)) {
			*used = (uint16_t)(k + 1);
			if (hl_likely(!nobuf && total <= HL_MEMIF_FRAME_MAX && total > 0)) {
				if (k > 0)
					q->stats.chained++;
				*out = head;
				return RX_FRAME;
			}
			hl_buf_free(head);
			if (total == 0)
				q->stats.bad_desc++; /* an empty frame: dropped, the ring is fine */
			else if (nobuf)
				q->stats.drop_no_buf++;
			else
				q->stats.drop_too_big++;
			return RX_DROPPED;
		}
	}
	hl_buf_free(head);
	/* a chain as long as the whole ring can never end */
	if (avail == q->size) {
		hl__memif_fault(q, &q->stats.bad_desc);
		return RX_BROKEN;
	}
	return RX_WAIT;
}

/*
 * Enter a running, unbroken queue and read the peer's head: the slots
 * between our position and it (received frames on S2M, offered buffers on
 * M2S) in *count. false, and the queue left, when there is nothing to do
 * or the head is more than a ring ahead (the ring is broken).
 */
static bool q_open(struct hl_memif_q *q, uint16_t *count)
{
	if (!hl_memif_q_enter(q))
		return false;
	if (hl_likely(!__atomic_load_n(&q->fault, __ATOMIC_RELAXED))) {
		uint16_t head = __atomic_load_n(&q->ring->head, __ATOMIC_ACQUIRE);
		*count = (uint16_t)(head - q->pos);
		if (hl_likely(*count <= q->size))
			return true;
		hl__memif_fault(q, &q->stats.bad_ring);
	}
	hl_memif_q_leave(q);
	return false;
}

/* A slot of the burst read ahead: where its bytes are, and how many (send side: how many fit). */
struct slot {
	uint8_t *bytes;
	uint32_t len;
};

/*
 * Prefetch the descriptors of slots pos..pos+m-1, for writing when we
 * write them back (length and flags of offered buffers): the peer's core
 * last wrote them, and each line is four slots.
 */
static inline void prefetch_descs(const struct hl_memif_q *q, uint16_t pos, unsigned m, bool write)
{
	for (unsigned k = 0; k < m; k++) {
		const struct hl_memif_desc *d = &q->ring->desc[(uint16_t)(pos + k) & q->mask];
		if (k == 0 || ((uintptr_t)d & 63) == 0) {
			if (write)
				hl_prefetch_w(d);
			else
				__builtin_prefetch(d);
		}
	}
}

/* A received frame's lines, up to a buffer's worth: the copy that follows reads them all. */
static inline void prefetch_frame(const uint8_t *b, uint32_t len)
{
	uint32_t n = len < 2048 ? len : 2048;
	for (uint32_t off = 0; off < n; off += 64)
		__builtin_prefetch(b + off);
}

/*
 * The leading slots from pos on, up to m, that each hold a whole frame in
 * one descriptor (received) or offer a buffer (to send into): each read once
 * into locals and checked as desc_bytes() does, its bytes prefetched (for
 * writing when we fill them). The first slot that is anything else ends
 * the run, and the frame-at-a-time path takes over there, reading it anew:
 * that path decides what a chain, an empty or a bad descriptor is. Taking
 * the burst's misses together overlaps them; one frame at a time, each
 * waited a round trip to the peer's core.
 */
static unsigned look_ahead(const struct hl_memif_port *p, const struct hl_memif_q *q, uint16_t pos, unsigned m,
			   bool fill, struct slot *s)
{
	prefetch_descs(q, pos, m, fill);
	for (unsigned k = 0; k < m; k++) {
		struct hl_memif_desc d;
		uint8_t *b = desc_bytes(p, &q->ring->desc[(uint16_t)(pos + k) & q->mask], &d);
		if (b == NULL || d.length == 0 || (!fill && (d.flags & HL_MEMIF_DESC_F_NEXT)))
			return k;
		if (fill)
			hl_prefetch_w(b);
		else
			prefetch_frame(b, d.length);
		s[k] = (struct slot){b, d.length};
	}
	return m;
}

static uint16_t rx_queue(struct hl_memif_port *p, struct hl_memif_q *q, struct hl_bufpool *bp, struct hl_buf **pkts,
			 uint16_t n)
{
	uint16_t avail, got = 0;
	if (!q_open(q, &avail))
		return 0;
	uint16_t pos = q->pos;
	/* one allocation for the burst's heads; a burst the pool cannot serve whole allocates per frame */
	struct hl_buf *heads[HL_MEMIF_BURST];
	unsigned nh = avail < n ? avail : n, hi = 0;
	if (nh > HL_MEMIF_BURST)
		nh = HL_MEMIF_BURST;
	if (hl_buf_alloc_bulk(bp, heads, nh) < 0)
		nh = 0;
	struct slot s[HL_MEMIF_BURST];
	unsigned fast = look_ahead(p, q, pos, nh, false, s);
	for (unsigned k = 0; k < fast; k++)
		hl_prefetch_w(hl_buf_data(heads[k]));
	/* the run read ahead: one slot a frame, into the burst's heads */
	for (; got < fast && hl_likely(s[got].len <= hl_buf_tailroom(heads[got])); got++) {
		struct hl_buf *b = heads[got];
		memcpy(hl_buf_data(b), s[got].bytes, s[got].len);
		b->data_len = b->pkt_len = s[got].len;
		q->stats.bytes += s[got].len;
		pkts[got] = b;
	}
	hi = got;
	pos = (uint16_t)(pos + got);
	avail = (uint16_t)(avail - got);
	while (got < n && avail > 0) {
		uint16_t used = 0;
		struct hl_buf *b = NULL, *fresh = hi < nh ? heads[hi] : NULL;
		enum rx_verdict v = rx_frame(p, q, bp, pos, avail, &used, &fresh, &b);
		if (fresh == NULL && hi < nh)
			hi++;
		if (v == RX_WAIT || v == RX_BROKEN)
			break;
		pos = (uint16_t)(pos + used);
		avail = (uint16_t)(avail - used);
		if (v == RX_FRAME) {
			q->stats.bytes += b->pkt_len;
			pkts[got++] = b;
		}
	}
	hl_buf_free_bulk(heads + hi, nh - hi);
	q->stats.packets += got;
	if (pos != q->pos) {
		q->pos = pos;
		/* the slots are the peer's again once it sees tail */
		__atomic_store_n(&q->ring->tail, pos, __ATOMIC_RELEASE);
	}
	hl_memif_q_leave(q);
	return got;
}

uint16_t hl_memif_rx_burst(struct hl_memif_port *p, struct hl_bufpool *bp, struct hl_buf **pkts, uint16_t n)
{
	return hl__memif_rx_all(p, bp, pkts, n, rx_queue);
}

/*
 * One frame into the slots from pos on, of at most space slots: true when it
 * all went (*used slots written, not yet published), false when it does not
 * fit (nothing is published) or the ring is broken (q->fault).
 */
static bool tx_frame(struct hl_memif_port *p, struct hl_memif_q *q, const struct hl_buf *pkt, uint16_t pos,
		     uint16_t space, uint16_t *used)
{
	const struct hl_buf *seg = pkt;
	uint32_t soff = 0;
	uint16_t k = 0;
	while (seg != NULL && seg->data_len == soff && seg->next != NULL) {
		seg = seg->next;
		soff = 0;
	}
	for (;;) {
		if (k == space)
			return false;
		struct hl_memif_desc *ds = &q->ring->desc[(uint16_t)(pos + k) & q->mask];
		struct hl_memif_desc d;
		uint8_t *dst = desc_bytes(p, ds, &d);
		if (hl_unlikely(dst == NULL || d.length == 0)) {
			hl__memif_fault(q, &q->stats.bad_desc);
			return false;
		}
		uint32_t doff = 0;
		while (seg != NULL && doff < d.length) {
			uint32_t k2 = seg->data_len - soff;
			if (k2 > d.length - doff)
				k2 = d.length - doff;
			memcpy(dst + doff, (const uint8_t *)hl_buf_data(seg) + soff, k2);
			doff += k2;
			soff += k2;
			if (soff == seg->data_len) {
				seg = seg->next;
				soff = 0;
			}
		}
		k++;
		bool more = seg != NULL;
		__atomic_store_n(&ds->length, doff, __ATOMIC_RELAXED);
		__atomic_store_n(&ds->flags, (uint16_t)(more ? HL_MEMIF_DESC_F_NEXT : 0), __ATOMIC_RELAXED);
		if (!more)
			break;
	}
	*used = k;
	return true;
}

uint16_t hl_memif_tx_burst(struct hl_memif_port *p, unsigned qi, struct hl_buf **pkts, uint16_t n)
{
	unsigned nq = __atomic_load_n(&p->nq, __ATOMIC_ACQUIRE);
	if (nq == 0)
		return 0;
	struct hl_memif_q *q = &p->tx[qi % nq];
	uint16_t space, sent = 0;
	if (!q_open(q, &space))
		return 0;
	uint16_t pos = q->pos;
	struct slot s[HL_MEMIF_BURST];
	unsigned m = n < space ? n : space;
	unsigned fast = look_ahead(p, q, pos, m < HL_MEMIF_BURST ? m : HL_MEMIF_BURST, true, s);
	/* the run read ahead: single-buffer frames, one slot each, every line they will fill taken first */
	for (unsigned k = 0; k < fast; k++) {
		uint32_t len = pkts[k]->data_len < s[k].len ? pkts[k]->data_len : s[k].len;
		for (uint32_t off = 64; off < len && off < 2048; off += 64)
			hl_prefetch_w(s[k].bytes + off);
	}
	for (; sent < fast; sent++) {
		const struct hl_buf *pk = pkts[sent];
		if (pk->next != NULL || pk->data_len > s[sent].len || pk->data_len == 0)
			break;
		struct hl_memif_desc *ds = &q->ring->desc[(uint16_t)(pos + sent) & q->mask];
		memcpy(s[sent].bytes, hl_buf_data(pk), pk->data_len);
		__atomic_store_n(&ds->length, (uint32_t)pk->data_len, __ATOMIC_RELAXED);
		__atomic_store_n(&ds->flags, (uint16_t)0, __ATOMIC_RELAXED);
		q->stats.bytes += pk->data_len;
	}
	pos = (uint16_t)(pos + sent);
	space = (uint16_t)(space - sent);
	for (; sent < n; sent++) {
		uint16_t used = 0;
		if (pkts[sent]->pkt_len > HL_MEMIF_FRAME_MAX) {
			q->stats.drop_too_big++;
			break;
		}
		if (!tx_frame(p, q, pkts[sent], pos, space, &used))
			break;
		if (used > 1)
			q->stats.chained++;
		q->stats.bytes += pkts[sent]->pkt_len;
		pos = (uint16_t)(pos + used);
		space = (uint16_t)(space - used);
	}
	q->stats.packets += sent;
	if (pos != q->pos)
		hl__memif_publish(q, &q->ring->tail, pos);
	hl_memif_q_leave(q);
	return sent;
}

bool hl_memif_port_arm(struct hl_memif_port *p)
{
	unsigned nq = __atomic_load_n(&p->nq, __ATOMIC_ACQUIRE);
	bool empty = true;
	for (unsigned i = 0; i < nq; i++) {
		struct hl_memif_q *q = &p->rx[i];
		if (!hl_memif_q_enter(q))
			continue;
		__atomic_store_n(&q->ring->flags, 0, __ATOMIC_RELAXED);
		/* the peer reads flags after it moves its index: one of us sees the other */
		hl_smp_mb();
		const uint16_t *theirs = p->client ? &q->ring->tail : &q->ring->head;
		if (__atomic_load_n(theirs, __ATOMIC_RELAXED) != q->pos)
			empty = false;
		hl_memif_q_leave(q);
	}
	return empty;
}

void hl_memif_port_disarm(struct hl_memif_port *p)
{
	unsigned nq = __atomic_load_n(&p->nq, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < nq; i++) {
		struct hl_memif_q *q = &p->rx[i];
		if (!hl_memif_q_enter(q))
			continue;
		__atomic_store_n(&q->ring->flags, HL_MEMIF_RING_F_MASK_INT, __ATOMIC_RELAXED);
		hl_memif_q_leave(q);
	}
}
