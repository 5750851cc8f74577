/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Header lengths of a frame offloads can apply to: Ethernet, VLAN tags, IPv4
 * or IPv6 with its extension headers, TCP or UDP.
 *
 * Invariants:
 *   - the parser reads a private copy of the frame's first bytes, never the
 *     frame: in zero-copy mode most of it is guest memory the guest may
 *     rewrite while we look, and a peer on a shared pool can rewrite a pool
 *     buffer. Each field is read once into a local and checked there.
 *   - every offset is checked against the copy before it is read; the copy
 *     is at most HL_OL_HDR_MAX bytes, so headers longer than that are
 *     refused as such, and frames shorter than their headers as malformed.
 *   - loops over extension headers advance by at least 8 bytes a turn and
 *     stop at the copy's end: no frame makes them run long.
 */
#include <errno.h>

#include "ol_internal.h"

#define ETH_HLEN 14u
#define ETH_P_IPV4 0x0800u
#define ETH_P_IPV6 0x86ddu
#define ETH_P_8021Q 0x8100u
#define ETH_P_8021AD 0x88a8u
#define VLAN_TAGS_MAX 2u

#define IPPROTO_HOPOPTS_ 0u
#define IPPROTO_TCP_ 6u
#define IPPROTO_UDP_ 17u
#define IPPROTO_ROUTING_ 43u
#define IPPROTO_FRAGMENT_ 44u
#define IPPROTO_DSTOPTS_ 60u

#define IP_MF_OFFSET 0x3fffu /* more fragments, fragment offset */

/* Are bytes [0, end) there? If not, why: the copy stopped short of a longer frame, or the frame did. */
#define NEED(end)                                                                      \
	do {                                                                           \
		if ((end) > len) {                                                     \
			*why = len < pkt_len ? HL_OL_R_HDR_TOO_LONG : HL_OL_R_MALFORMED; \
			return len < pkt_len ? -EMSGSIZE : -EINVAL;                    \
		}                                                                      \
	} while (0)

#define REFUSE(r, err)                                                                 \
	do {                                                                           \
		*why = (r);                                                            \
		return (err);                                                          \
	} while (0)

int hl_ol_parse_bytes(const uint8_t *p, uint32_t len, uint32_t pkt_len, struct hl_ol_hdrs *h,
		      enum hl_ol_reason *why)
{
	uint32_t off = ETH_HLEN, l3_off, l4_off;
	uint16_t type;
	uint8_t proto;

	memset(h, 0, sizeof(*h));
	NEED(ETH_HLEN);
	type = hl_ol_get16(p + 12);
	for (unsigned tags = 0; type == ETH_P_8021Q || type == ETH_P_8021AD; tags++) {
		if (tags == VLAN_TAGS_MAX)
			REFUSE(HL_OL_R_NOT_IP, -EPROTONOSUPPORT);
		NEED(off + 4);
		type = hl_ol_get16(p + off + 2);
		off += 4;
	}
	l3_off = off;

	if (type == ETH_P_IPV4) {
		NEED(off + 20);
		uint8_t vihl = p[off];
		uint32_t ihl = (vihl & 0xfu) * 4u;
		if (vihl >> 4 != 4 || ihl < 20)
			REFUSE(HL_OL_R_MALFORMED, -EINVAL);
		NEED(off + ihl);
		/* a first fragment has the L4 header, but its checksum covers the whole datagram */
		if (hl_ol_get16(p + off + 6) & IP_MF_OFFSET)
			REFUSE(HL_OL_R_IP_FRAGMENT, -EPROTONOSUPPORT);
		proto = p[off + 9];
		off += ihl;
		h->ip_ver = 4;
	} else if (type == ETH_P_IPV6) {
		NEED(off + 40);
		if (p[off] >> 4 != 6)
			REFUSE(HL_OL_R_MALFORMED, -EINVAL);
		proto = p[off + 6];
		off += 40;
		for (bool first = true;; first = false) {
			if (proto == IPPROTO_FRAGMENT_)
				REFUSE(HL_OL_R_IP_FRAGMENT, -EPROTONOSUPPORT);
			if (proto != IPPROTO_HOPOPTS_ && proto != IPPROTO_ROUTING_ &&
			    proto != IPPROTO_DSTOPTS_)
				break;
			/* RFC 8200: hop-by-hop options come first or not at all */
			if (proto == IPPROTO_HOPOPTS_ && !first)
				REFUSE(HL_OL_R_MALFORMED, -EINVAL);
			NEED(off + 8); /* every one of them is at least 8 bytes */
			if (proto == IPPROTO_ROUTING_ && p[off + 3] != 0)
				h->routed = 1;
			uint32_t elen = ((uint32_t)p[off + 1] + 1u) * 8u;
			proto = p[off];
			off += elen;
			NEED(off);
		}
		h->ip_ver = 6;
	} else {
		REFUSE(HL_OL_R_NOT_IP, -EPROTONOSUPPORT);
	}
	l4_off = off;

	if (proto == IPPROTO_TCP_) {
		NEED(off + 20);
		uint32_t doff = (uint32_t)(p[off + 12] >> 4) * 4u;
		if (doff < 20)
			REFUSE(HL_OL_R_MALFORMED, -EINVAL);
		NEED(off + doff);
		h->tcp_flags = p[off + 13];
		h->l4_len = (uint8_t)doff;
	} else if (proto == IPPROTO_UDP_) {
		NEED(off + 8);
		h->l4_len = 8;
	} else {
		REFUSE(HL_OL_R_L4_PROTO, -EPROTONOSUPPORT);
	}
	h->l2_len = (uint8_t)l3_off;
	h->l3_len = (uint16_t)(l4_off - l3_off);
	h->l4_proto = proto;
	return 0;
}

int hl_ol_parse(const struct hl_buf *pkt, struct hl_ol_hdrs *h, enum hl_ol_reason *why)
{
	uint8_t copy[HL_OL_HDR_MAX];
	uint32_t len = pkt->pkt_len < HL_OL_HDR_MAX ? pkt->pkt_len : HL_OL_HDR_MAX;

	if (hl_ol_read(pkt, 0, copy, len) < 0) {
		*why = HL_OL_R_MALFORMED; /* the chain is shorter than its pkt_len */
		return -EINVAL;
	}
	return hl_ol_parse_bytes(copy, len, pkt->pkt_len, h, why);
}
