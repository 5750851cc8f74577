/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Making a frame fit the port it leaves by (hl_ol_prepare): as it is, with
 * its checksum completed, or cut into TCP segments in software.
 *
 * Invariants:
 *   - where to read and write comes from b->ol, never from the frame's
 *     bytes: hl_ol_from_vnet() measured it, and a frame whose headers no
 *     longer parse to the same lengths (a guest rewrote them in its own
 *     memory since) is refused, not cut into inconsistent segments.
 *   - the headers are copied once, into a template; each segment gets the
 *     template and then its fields rewritten. The input is only read, so it
 *     may be shared, external, or both.
 *   - all or nothing: segments are made in fresh buffers and the input is
 *     dropped only once every segment exists; a bufpool running dry frees
 *     the segments made so far and leaves the input to the caller.
 *   - each segment's headers lie in its first buffer (the bufpool's buffers
 *     are checked to hold them); its payload continues into chained buffers
 *     when one buffer cannot hold a segment.
 */
#include <errno.h>

#include "ol_internal.h"

/* A 16-bit field in network order, added to a host-order sum. */
static inline uint16_t sum_be16(uint16_t sum, uint32_t v)
{
	uint8_t b[2];

	hl_ol_put16(b, (uint16_t)v);
	return hl_csum_add(sum, b, sizeof(b));
}

static void free_segs(struct hl_buf **out, unsigned n)
{
	hl_buf_free_bulk(out, n);
}

static int gso(struct hl_buf *pkt, uint32_t max_frame, struct hl_bufpool *bp, struct hl_buf **out,
	       unsigned max_out, struct hl_ol_stats *st)
{
	const struct hl_buf_ol *ol = &pkt->ol;
	const uint32_t l2 = ol->l2_len, l3 = ol->l3_len, l4 = ol->l4_len, hdr = ol->hdr_len;
	const uint32_t l4off = l2 + l3;
	const bool v4 = ol->gso_type == HL_OL_GSO_TCPV4;
	uint8_t t[HL_OL_HDR_MAX];
	struct hl_ol_hdrs p;
	enum hl_ol_reason why;
	struct hl_ol_cur c;
	uint32_t payload, mss, nseg, room, full_n, seq0;
	uint16_t id0, pseudo;
	uint8_t flags0;

	if (hdr != l2 + l3 + l4 || hdr > HL_OL_HDR_MAX || hdr > pkt->pkt_len || ol->gso_size == 0 ||
	    pkt->pkt_len - l2 > HL_OL_IP_MAX)
		return hl_ol_refuse(st, HL_OL_R_BAD_META, -EINVAL);
	if (hl_ol_read(pkt, 0, t, hdr) < 0 || hl_ol_parse_bytes(t, hdr, pkt->pkt_len, &p, &why) < 0 ||
	    p.l2_len != l2 || p.l3_len != l3 || p.l4_len != l4 || p.l4_proto != 6 ||
	    p.ip_ver != (v4 ? 4 : 6))
		return hl_ol_refuse(st, HL_OL_R_BAD_META, -EINVAL);

	payload = pkt->pkt_len - hdr;
	mss = ol->gso_size;
	if (hdr + mss > max_frame) {
		/* smaller segments are still TCP's: a port's limit cuts the MSS, not the frame */
		if (max_frame <= hdr)
			return hl_ol_refuse(st, HL_OL_R_PORT_TOO_SMALL, -EMSGSIZE);
		mss = max_frame - hdr;
	}
	nseg = payload == 0 ? 1 : (payload - 1) / mss + 1;
	if (nseg > max_out)
		return hl_ol_refuse(st, HL_OL_R_TOO_MANY_SEGS, -ENOSPC);
	if (bp == NULL)
		return hl_ol_refuse(st, HL_OL_R_NOBUFS, -ENOBUFS);
	room = hl_ol_room(bp);
	if (room < hdr)
		return hl_ol_refuse(st, HL_OL_R_BUF_TOO_SMALL, -EMSGSIZE);

	/* what every segment shares, taken from the template once */
	uint8_t *ip = t + l2, *tcp = t + l4off;
	id0 = v4 ? hl_ol_get16(ip + 4) : 0;
	seq0 = hl_ol_get32(tcp + 4);
	flags0 = tcp[13];
	hl_ol_put16(tcp + HL_OL_TCP_CSUM_OFF, 0);
	if (v4)
		hl_ol_put16(ip + 10, 0);
	pseudo = v4 ? hl_csum_add(0, ip + 12, 8) : hl_csum_add(0, ip + 8, 32); /* source, destination */
	pseudo = sum_be16(pseudo, 6);                                          /* next header: TCP */

	if (!hl_ol_cur_seek(&c, pkt, hdr))
		return hl_ol_refuse(st, HL_OL_R_BAD_META, -EINVAL);
	full_n = (hdr + mss + room - 1) / room;
	for (uint32_t i = 0; i < nseg; i++) {
		uint32_t pay = payload - i * mss < mss ? payload - i * mss : mss;
		uint32_t n = i + 1 < nseg ? full_n : (hdr + pay + room - 1) / room;
		struct hl_buf *seg = hl_ol_chain_alloc(bp, n);

		if (seg == NULL) {
			free_segs(out, i);
			return hl_ol_refuse(st, HL_OL_R_NOBUFS, -ENOBUFS);
		}
		if (hl_ol_chain_fill(seg, room, t, hdr, &c, pay) < 0) {
			hl_buf_free(seg);
			free_segs(out, i);
			return hl_ol_refuse(st, HL_OL_R_BAD_META, -EINVAL);
		}

		uint8_t *h = hl_buf_data(seg), *sip = h + l2, *stcp = h + l4off;
		uint8_t f = flags0;
		uint16_t sum;

		if (v4) {
			hl_ol_put16(sip + 2, (uint16_t)(l3 + l4 + pay));
			hl_ol_put16(sip + 4, (uint16_t)(id0 + i));
			sum = (uint16_t)~hl_csum_add(0, sip, l3);
			memcpy(sip + 10, &sum, sizeof(sum));
		} else {
			hl_ol_put16(sip + 4, (uint16_t)(l3 - 40 + l4 + pay));
		}
		hl_ol_put32(stcp + 4, seq0 + i * mss);
		if (i > 0)
			f &= (uint8_t)~HL_OL_TCP_CWR;
		if (i + 1 < nseg)
			f &= (uint8_t)~(HL_OL_TCP_FIN | HL_OL_TCP_PSH);
		stcp[13] = f;
		sum = sum_be16(pseudo, l4 + pay);
		if (hl_csum_chain(seg, l4off, l4 + pay, &sum) < 0) { /* cannot fail: we just built it */
			hl_buf_free(seg);
			free_segs(out, i);
			return hl_ol_refuse(st, HL_OL_R_BAD_META, -EINVAL);
		}
		sum = hl_ol_csum_final(sum);
		memcpy(stcp + HL_OL_TCP_CSUM_OFF, &sum, sizeof(sum));

		seg->port = pkt->port;
		seg->udata = pkt->udata;
		seg->flags = HL_BUF_F_OFFLOAD;
		memset(&seg->ol, 0, sizeof(seg->ol));
		seg->ol.csum_start = (uint16_t)l4off;
		seg->ol.csum_offset = HL_OL_TCP_CSUM_OFF;
		seg->ol.hdr_len = (uint16_t)hdr;
		seg->ol.l2_len = (uint8_t)l2;
		seg->ol.l3_len = (uint16_t)l3;
		seg->ol.l4_len = (uint8_t)l4;
		seg->ol.flags = HL_OL_F_CSUM_VALID;
		out[i] = seg;
	}
	hl_buf_free(pkt);
	st->gso_frames++;
	st->gso_segments += nseg;
	return (int)nseg;
}

int hl__ol_prepare(struct hl_buf *pkt, uint32_t caps, uint32_t max_frame, struct hl_bufpool *bp,
		   struct hl_buf **out, unsigned max_out, struct hl_ol_stats *st)
{
	const struct hl_buf_ol *ol = &pkt->ol;

	if (ol->gso_type != HL_OL_GSO_NONE) {
		if (ol->gso_type != HL_OL_GSO_TCPV4 && ol->gso_type != HL_OL_GSO_TCPV6)
			return hl_ol_refuse(st, HL_OL_R_BAD_META, -EINVAL);
		uint32_t need = HL_OL_CAP_CSUM |
				(ol->gso_type == HL_OL_GSO_TCPV4 ? HL_OL_CAP_TSO4 : HL_OL_CAP_TSO6) |
				(ol->flags & HL_OL_F_ECN ? HL_OL_CAP_ECN : 0);
		if ((caps & need) == need && (uint32_t)ol->hdr_len + ol->gso_size <= max_frame)
			goto as_is;
		return gso(pkt, max_frame, bp, out, max_out, st);
	}
	if ((ol->flags & HL_OL_F_CSUM_PARTIAL) && !(caps & HL_OL_CAP_CSUM))
		return hl_ol_csum_complete(pkt, bp, out, st);
as_is:
	out[0] = pkt;
	return 1;
}
