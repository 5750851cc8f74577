/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * 802.1Q tags put into and taken out of frames, with their offload
 * metadata kept right (a 4-byte tag moves every header behind the MACs).
 *
 * Invariants:
 *   - the bytes written are those of a chain hl_ol_writable() vouched for,
 *     or of a private copy: never a segment another chain shares, never
 *     guest memory (HL_BUF_F_EXTERNAL);
 *   - in place, a push takes 4 bytes of the head's headroom and a pop gives
 *     them back: only the 12 bytes of MAC addresses move, the payload never;
 *   - with HL_BUF_F_OFFLOAD, l2_len, csum_start and hdr_len follow the
 *     headers by exactly the tag's 4 bytes, so hl_ol_prepare() still finds
 *     its metadata matching the frame; the rest (csum_offset, l3_len,
 *     l4_len, gso_size) is relative to headers that did not change.
 */
#include <errno.h>

#include "ol_internal.h"

#define ETH_ALEN2 12u  /* destination and source MAC */
#define VLAN_HLEN 4u

/* A chain equal to pkt whose head the caller may write, with `front` bytes of headroom. */
static int private_head(struct hl_buf *pkt, uint32_t upto, uint32_t front, struct hl_bufpool *bp,
			struct hl_buf **out)
{
	struct hl_buf *w;
	int rc = hl_ol_writable(pkt, 0, upto, bp, &w);

	if (rc < 0)
		return rc;
	/* hl_ol_writable() keeps the head's bytes where they are: a head it keeps may lack room in front */
	if (w->data_off < front || w->data_len < upto) {
		if (w != pkt)
			hl_buf_free(w);
		if (bp == NULL)
			return -ENOBUFS;
		w = hl_ol_copy(pkt, bp);
		if (w == NULL)
			return -ENOBUFS;
		if (w->data_off < front || w->data_len < upto) {
			hl_buf_free(w);
			return -EMSGSIZE;
		}
	}
	*out = w;
	return 0;
}

/* The metadata of frame b, whose headers moved by delta bytes. */
static void ol_shift(struct hl_buf *b, int delta)
{
	if (!(b->flags & HL_BUF_F_OFFLOAD))
		return;
	b->ol.l2_len = (uint8_t)(b->ol.l2_len + delta);
	if (b->ol.flags & HL_OL_F_CSUM_PARTIAL)
		b->ol.csum_start = (uint16_t)(b->ol.csum_start + delta);
	if (b->ol.hdr_len != 0)
		b->ol.hdr_len = (uint16_t)(b->ol.hdr_len + delta);
}

int hl_ol_vlan_push(struct hl_buf *pkt, uint16_t tci, struct hl_bufpool *bp, struct hl_buf **out)
{
	struct hl_buf *w = pkt;

	if (pkt->data_len < ETH_ALEN2 + 2 || pkt->pkt_len > UINT32_MAX - VLAN_HLEN)
		return -EINVAL;
	if ((pkt->flags & HL_BUF_F_OFFLOAD) && pkt->ol.l2_len > UINT8_MAX - VLAN_HLEN)
		return -EINVAL;
	if (hl_buf_refcnt(pkt) != 1 || (pkt->flags & HL_BUF_F_EXTERNAL) || pkt->data_off < VLAN_HLEN) {
		int rc = private_head(pkt, ETH_ALEN2, VLAN_HLEN, bp, &w);
		if (rc < 0)
			return rc;
	}
	uint8_t *d = hl_buf_data(w);
	memmove(d - VLAN_HLEN, d, ETH_ALEN2);
	hl_ol_put16(d + ETH_ALEN2 - VLAN_HLEN, 0x8100);
	hl_ol_put16(d + ETH_ALEN2 - VLAN_HLEN + 2, tci);
	w->data_off = (uint16_t)(w->data_off - VLAN_HLEN);
	w->data_len += VLAN_HLEN;
	w->pkt_len += VLAN_HLEN;
	ol_shift(w, (int)VLAN_HLEN);
	if (w != pkt)
		hl_buf_free(pkt);
	*out = w;
	return 0;
}

int hl_ol_vlan_pop(struct hl_buf *pkt, struct hl_bufpool *bp, struct hl_buf **out)
{
	struct hl_buf *w = pkt;

	if (pkt->data_len < ETH_ALEN2 + VLAN_HLEN + 2)
		return -EINVAL;
	if ((pkt->flags & HL_BUF_F_OFFLOAD) && pkt->ol.l2_len < ETH_ALEN2 + VLAN_HLEN + 2)
		return -EINVAL;
	if (hl_buf_refcnt(pkt) != 1 || (pkt->flags & HL_BUF_F_EXTERNAL)) {
		int rc = private_head(pkt, ETH_ALEN2 + VLAN_HLEN, 0, bp, &w);
		if (rc < 0)
			return rc;
	}
	uint8_t *d = hl_buf_data(w);
	memmove(d + VLAN_HLEN, d, ETH_ALEN2);
	w->data_off = (uint16_t)(w->data_off + VLAN_HLEN);
	w->data_len -= VLAN_HLEN;
	w->pkt_len -= VLAN_HLEN;
	ol_shift(w, -(int)VLAN_HLEN);
	if (w != pkt)
		hl_buf_free(pkt);
	*out = w;
	return 0;
}
