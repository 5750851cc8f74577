/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The memif data path, client side: the switch's own buffers on the rings.
 * On M2S every slot holds a pool buffer we offered; the server writes a
 * frame into it and we hand the buffer to the switch as it is (no copy),
 * offering a fresh one in its place. On S2M we lend the switch's frames by
 * pool offset and free them once the server's tail passes their slots.
 *
 * Who writes what: we write both heads, every S2M descriptor and the M2S
 * descriptors' region, offset and room; the server writes both tails, an
 * M2S descriptor's length and flags, and the S2M rings' flags. A tail is
 * accepted only between what we reclaimed and our head; an M2S length
 * larger than the room we offered breaks the ring; the region and offset
 * of an M2S descriptor are never read back, the buffer is the one in
 * `held`. A frame whose bytes are not in the pool (guest memory lent by a
 * vhost zero-copy dequeue, an isolated shm pool) is copied into pool
 * buffers first: the server can only be given what region 1 holds.
 */
#include <string.h>

#include "memif_ring_pvt.h"

#define POOL_REGION 1

/* Enter a running, unbroken queue and read the server's tail, which must lie in [from, to]. */
static bool q_open_tail(struct hl_memif_q *q, uint16_t from, uint16_t to, uint16_t *tail)
{
	if (!hl_memif_q_enter(q))
		return false;
	if (hl_likely(!__atomic_load_n(&q->fault, __ATOMIC_RELAXED))) {
		*tail = __atomic_load_n(&q->ring->tail, __ATOMIC_ACQUIRE);
		if (hl_likely((uint16_t)(*tail - from) <= (uint16_t)(to - from)))
			return true;
		hl__memif_fault(q, &q->stats.bad_ring);
	}
	hl_memif_q_leave(q);
	return false;
}

/* What an M2S buffer offers: the switch's buffer room, or less with --buffer-size. */
static inline uint32_t offered_room(const struct hl_memif_port *p)
{
	uint32_t room = p->bp_room;
	return p->ctl.cfg.buffer_size < room ? p->ctl.cfg.buffer_size : room;
}

/* Offer fresh buffers in every slot the server gave back, up to a ring ahead of pos. */
static void refill(struct hl_memif_port *p, struct hl_memif_q *q)
{
	struct hl_buf *b[64];
	struct hl_pool *pool = hl_bufpool_pool(p->bp);
	uint16_t want = (uint16_t)(q->size - (uint16_t)(q->lim - q->pos));
	uint32_t room = offered_room(p);
	while (want > 0) {
		unsigned k = want < 64 ? want : 64;
		if (hl_buf_alloc_bulk(p->bp, b, k) < 0) {
			q->stats.drop_no_buf++;
			break;
		}
		for (unsigned i = 0; i < k; i++) {
			uint16_t s = (uint16_t)(q->lim + i) & q->mask;
			struct hl_memif_desc *d = &q->ring->desc[s];
			d->flags = 0;
			d->region = POOL_REGION;
			d->offset = (uint32_t)hl_pool_va2off(pool, hl_buf_data(b[i]));
			d->length = room;
			q->held[s] = b[i];
		}
		q->lim = (uint16_t)(q->lim + k);
		want = (uint16_t)(want - k);
	}
	__atomic_store_n(&q->ring->head, q->lim, __ATOMIC_RELEASE);
}

void hl_memif_client_offer(struct hl_memif_port *p, struct hl_memif_q *q)
{
	refill(p, q);
}

/* bp is p->bp: the buffers handed over are the ones offered from it */
static uint16_t rx_queue(struct hl_memif_port *p, struct hl_memif_q *q, struct hl_bufpool *bp, struct hl_buf **pkts,
			 uint16_t n)
{
	(void)bp;
	uint16_t tail, got = 0;
	if (!q_open_tail(q, q->pos, q->lim, &tail))
		return 0;
	uint16_t pos = q->pos, avail = (uint16_t)(tail - pos);
	while (got < n && avail > 0) {
		/* where the frame ends: its last slot has no NEXT */
		uint16_t k = 0;
		while (k < avail && (__atomic_load_n(&q->ring->desc[(uint16_t)(pos + k) & q->mask].flags,
						    __ATOMIC_RELAXED) & HL_MEMIF_DESC_F_NEXT))
			k++;
		if (k == avail) {
			/* a chain over every slot we offered can never end */
			if (avail == (uint16_t)(q->lim - pos))
				hl__memif_fault(q, &q->stats.bad_desc);
			break;
		}
		struct hl_buf *head = NULL, *last = NULL;
		bool bad = false;
		for (uint16_t j = 0; j <= k; j++) {
			uint16_t s = (uint16_t)(pos + j) & q->mask;
			struct hl_buf *b = q->held[s];
			uint32_t len = __atomic_load_n(&q->ring->desc[s].length, __ATOMIC_RELAXED);
			q->held[s] = NULL;
			if (hl_unlikely(len > offered_room(p)))
				bad = true;
			b->data_len = bad ? 0 : len;
			if (head == NULL) {
				head = last = b;
				head->pkt_len = b->data_len;
			} else {
				last->next = b;
				last = b;
				head->nb_segs++;
				head->pkt_len += b->data_len;
			}
		}
		pos = (uint16_t)(pos + k + 1);
		avail = (uint16_t)(avail - k - 1);
		if (hl_unlikely(bad)) {
			hl_buf_free(head);
			hl__memif_fault(q, &q->stats.bad_desc);
			break;
		}
		if (hl_unlikely(head->pkt_len == 0 || head->pkt_len > HL_MEMIF_FRAME_MAX)) {
			q->stats.drop_too_big++;
			hl_buf_free(head);
			continue;
		}
		if (k > 0)
			q->stats.chained++;
		q->stats.bytes += head->pkt_len;
		pkts[got++] = head;
	}
	q->stats.packets += got;
	q->stats.zcopy += got;
	q->pos = pos;
	/* also when an earlier refill found no buffers: an empty ring would never be given back */
	if ((uint16_t)(q->lim - q->pos) != q->size)
		refill(p, q);
	hl_memif_q_leave(q);
	return got;
}

uint16_t hl_memif_client_rx_burst(struct hl_memif_port *p, struct hl_buf **pkts, uint16_t n)
{
	return hl__memif_rx_all(p, p->bp, pkts, n, rx_queue);
}

/* A frame all of whose bytes the server can reach through region 1; else a copy of it in pool buffers, or NULL. */
static struct hl_buf *in_pool(struct hl_memif_port *p, struct hl_memif_q *q, struct hl_buf *pkt)
{
	struct hl_pool *pool = hl_bufpool_pool(p->bp);
	const struct hl_buf *s = pkt;
	for (; s != NULL; s = s->next)
		if (hl_unlikely(hl_pool_va2off(pool, hl_buf_data(s)) == HL_BAD_ADDR ||
				(s->data_len > 0 &&
				 hl_pool_va2off(pool, (uint8_t *)hl_buf_data(s) + s->data_len - 1) == HL_BAD_ADDR)))
			break;
	if (hl_likely(s == NULL))
		return pkt;
	struct hl_buf *head = hl_buf_alloc(p->bp), *cur = head;
	if (head == NULL)
		return NULL;
	for (s = pkt; s != NULL; s = s->next) {
		const uint8_t *src = hl_buf_data(s);
		uint32_t left = s->data_len;
		while (left > 0) {
			if (hl_buf_tailroom(cur) == 0) {
				struct hl_buf *n = hl_buf_alloc(p->bp);
				if (n == NULL) {
					hl_buf_free(head);
					return NULL;
				}
				n->data_off = 0;
				cur->next = n;
				cur = n;
				head->nb_segs++;
			}
			uint32_t k = left < hl_buf_tailroom(cur) ? left : hl_buf_tailroom(cur);
			memcpy((uint8_t *)hl_buf_data(cur) + cur->data_len, src, k);
			cur->data_len += k;
			head->pkt_len += k;
			src += k;
			left -= k;
		}
	}
	q->stats.copied++;
	hl_buf_free(pkt);
	return head;
}

/* Free what the server has given back: every slot up to its tail. */
static void reclaim(struct hl_memif_q *q, uint16_t tail)
{
	struct hl_buf *done[64];
	unsigned nd = 0;
	for (uint16_t s = q->lim; s != tail; s++) {
		struct hl_buf **h = &q->held[s & q->mask];
		if (*h == NULL)
			continue;
		done[nd++] = *h;
		*h = NULL;
		if (nd == 64) {
			hl_buf_free_bulk(done, nd);
			nd = 0;
		}
	}
	hl_buf_free_bulk(done, nd);
	q->lim = tail;
}

uint16_t hl_memif_client_tx_burst(struct hl_memif_port *p, unsigned qi, struct hl_buf **pkts, uint16_t n)
{
	unsigned nq = __atomic_load_n(&p->nq, __ATOMIC_ACQUIRE);
	if (nq == 0)
		return 0;
	struct hl_memif_q *q = &p->tx[qi % nq];
	struct hl_pool *pool = hl_bufpool_pool(p->bp);
	uint16_t tail, sent = 0;
	if (!q_open_tail(q, q->lim, q->pos, &tail))
		return 0;
	reclaim(q, tail);
	uint16_t pos = q->pos, space = (uint16_t)(q->size - (uint16_t)(pos - q->lim));
	for (; sent < n; sent++) {
		struct hl_buf *pkt = pkts[sent];
		if (pkt->nb_segs > space || pkt->pkt_len > HL_MEMIF_FRAME_MAX)
			break;
		pkt = in_pool(p, q, pkt);
		if (pkt == NULL) {
			/* no buffer to copy into: the original is still the caller's */
			q->stats.drop_no_buf++;
			break;
		}
		pkts[sent] = pkt;
		if (hl_unlikely(pkt->nb_segs > space)) {
			/* its copy takes more slots than are free: dropped (a NULL is skipped by the caller's free) */
			hl_buf_free(pkt);
			pkts[sent] = NULL;
			break;
		}
		uint16_t k = 0;
		for (struct hl_buf *s = pkt; s != NULL; s = s->next, k++) {
			uint16_t slot = (uint16_t)(pos + k) & q->mask;
			struct hl_memif_desc *d = &q->ring->desc[slot];
			d->region = POOL_REGION;
			d->offset = (uint32_t)hl_pool_va2off(pool, hl_buf_data(s));
			d->length = s->data_len;
			d->flags = s->next != NULL ? HL_MEMIF_DESC_F_NEXT : 0;
			/* the chain is freed whole, from its head, when the server passes its last slot */
			q->held[slot] = s->next == NULL ? pkt : NULL;
		}
		if (k > 1)
			q->stats.chained++;
		q->stats.bytes += pkt->pkt_len;
		pos = (uint16_t)(pos + k);
		space = (uint16_t)(space - k);
	}
	q->stats.packets += sent;
	q->stats.zcopy += sent;
	if (pos != q->pos)
		hl__memif_publish(q, &q->ring->head, pos);
	hl_memif_q_leave(q);
	return sent;
}
