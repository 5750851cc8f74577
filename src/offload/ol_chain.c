/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reading chains and building new ones, for the offload code.
 *
 * Invariants:
 *   - reads go by segment data_len and stop at the chain's end, whatever
 *     pkt_len says; a short chain is an error, never a read past a segment.
 *   - new chains come from one bufpool, all or nothing: a function that
 *     fails has nothing of its own left allocated.
 *   - a chain is written only where hl_ol_writable() vouched for it: pool
 *     memory (not HL_BUF_F_EXTERNAL) that no other chain reaches. A private
 *     copy shares the segments past the copied ones, taking a reference, so
 *     zero-copy payload stays where it is.
 */
#include <errno.h>

#include "ol_internal.h"

#define ALLOC_BATCH 32

bool hl_ol_cur_seek(struct hl_ol_cur *c, const struct hl_buf *pkt, uint32_t off)
{
	const struct hl_buf *s = pkt;

	while (s != NULL && off >= s->data_len) {
		/* an offset at the very end is valid: the cursor sits past the last byte */
		if (off == s->data_len && s->next == NULL)
			break;
		off -= s->data_len;
		s = s->next;
	}
	c->seg = s;
	c->off = off;
	return s != NULL || off == 0;
}

uint32_t hl_ol_cur_copy(struct hl_ol_cur *c, void *dst, uint32_t n)
{
	uint8_t *d = dst;
	uint32_t done = 0;

	while (done < n && c->seg != NULL) {
		uint32_t have = c->seg->data_len - c->off;
		if (have == 0) {
			c->seg = c->seg->next;
			c->off = 0;
			continue;
		}
		if (have > n - done)
			have = n - done;
		memcpy(d + done, (const uint8_t *)hl_buf_data(c->seg) + c->off, have);
		c->off += have;
		done += have;
	}
	return done;
}

int hl_ol_read(const struct hl_buf *pkt, uint32_t off, void *dst, uint32_t n)
{
	struct hl_ol_cur c;

	if (!hl_ol_cur_seek(&c, pkt, off))
		return -ERANGE;
	return hl_ol_cur_copy(&c, dst, n) == n ? 0 : -ERANGE;
}

uint32_t hl_ol_room(const struct hl_bufpool *bp)
{
	struct hl_bufpool_geom g;

	hl_bufpool_geom(bp, &g);
	return g.data_room - HL_BUF_HEADROOM;
}

struct hl_buf *hl_ol_chain_alloc(struct hl_bufpool *bp, unsigned n)
{
	struct hl_buf *batch[ALLOC_BATCH];
	struct hl_buf *head = NULL, *last = NULL;
	unsigned got = 0;

	if (n == 0 || n > UINT16_MAX)
		return NULL;
	while (got < n) {
		unsigned k = n - got < ALLOC_BATCH ? n - got : ALLOC_BATCH;
		if (hl_buf_alloc_bulk(bp, batch, k) < 0) {
			if (head != NULL)
				hl_buf_free(head); /* the chain's links free the rest */
			return NULL;
		}
		for (unsigned i = 0; i < k; i++) {
			if (last == NULL)
				head = batch[i];
			else
				last->next = batch[i];
			last = batch[i];
		}
		got += k;
	}
	head->nb_segs = (uint16_t)n;
	return head;
}

int hl_ol_chain_fill(struct hl_buf *head, uint32_t room, const void *hdr, uint32_t hdr_len,
		     struct hl_ol_cur *c, uint32_t n)
{
	struct hl_buf *b = head;
	uint32_t used = hdr_len;

	if (hdr_len > 0)
		memcpy(hl_buf_data(head), hdr, hdr_len);
	head->data_len = hdr_len;
	head->pkt_len = hdr_len + n;
	while (n > 0 && b != NULL) {
		uint32_t k = room - used;
		if (k > n)
			k = n;
		if (hl_ol_cur_copy(c, (uint8_t *)hl_buf_data(b) + used, k) != k)
			return -ERANGE;
		b->data_len = used + k;
		n -= k;
		used = 0;
		b = b->next;
	}
	return n == 0 ? 0 : -ERANGE;
}

int hl_ol_writable(struct hl_buf *pkt, uint32_t from, uint32_t upto, struct hl_bufpool *bp,
		   struct hl_buf **out)
{
	const struct hl_buf *s = pkt, *last = NULL;
	struct hl_buf *rest, *head, *tail;
	uint32_t covered = 0, rest_len = 0, room;
	unsigned rest_segs = 0, n;
	bool mine = true;
	struct hl_ol_cur c = {pkt, 0};

	for (; s != NULL && covered < upto; s = s->next) {
		if (hl_buf_refcnt(s) != 1)
			mine = false;
		/* guest memory in between is only read past */
		if ((s->flags & HL_BUF_F_EXTERNAL) && covered + s->data_len > from)
			mine = false;
		covered += s->data_len;
		last = s;
	}
	if (covered < upto)
		return -ERANGE;
	if (mine) {
		*out = pkt;
		return 0;
	}
	if (bp == NULL)
		return -ENOBUFS; /* a port that said it never needs a copy */
	rest = last->next;
	for (s = rest; s != NULL; s = s->next) {
		rest_len += s->data_len;
		rest_segs++;
	}
	room = hl_ol_room(bp);
	n = (covered + room - 1) / room;
	if (n + rest_segs > UINT16_MAX)
		return -ERANGE;
	head = hl_ol_chain_alloc(bp, n);
	if (head == NULL)
		return -ENOBUFS;
	if (hl_ol_chain_fill(head, room, NULL, 0, &c, covered) < 0) {
		hl_buf_free(head);
		return -ERANGE;
	}
	for (tail = head; tail->next != NULL; tail = tail->next)
		;
	if (rest != NULL) {
		hl_buf_ref(rest);
		tail->next = rest;
	}
	head->nb_segs = (uint16_t)(n + rest_segs);
	head->pkt_len = covered + rest_len;
	head->port = pkt->port;
	head->udata = pkt->udata;
	head->flags = pkt->flags & HL_BUF_F_OFFLOAD;
	head->ol = pkt->ol;
	*out = head;
	return 0;
}

struct hl_buf *hl_ol_copy(const struct hl_buf *pkt, struct hl_bufpool *bp)
{
	struct hl_ol_cur c = {pkt, 0};
	uint32_t room = hl_ol_room(bp), len = pkt->pkt_len;
	struct hl_buf *head = hl_ol_chain_alloc(bp, len == 0 ? 1 : (len + room - 1) / room);

	if (head == NULL)
		return NULL;
	if (hl_ol_chain_fill(head, room, NULL, 0, &c, len) < 0) {
		hl_buf_free(head);
		return NULL;
	}
	head->port = pkt->port;
	head->udata = pkt->udata;
	head->flags = pkt->flags & HL_BUF_F_OFFLOAD;
	head->ol = pkt->ol;
	return head;
}
