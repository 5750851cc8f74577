/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The virtio-net header, both ways: a guest's claims checked into
 * struct hl_buf_ol (hl_ol_from_vnet), and b->ol written out for a receiver
 * (hl_ol_to_vnet); and which offloads negotiated features allow. Claims
 * made in struct hl_buf_ol's own form (hl_ol_check) are put as a header
 * would say them and go through the same checks.
 *
 * Invariants:
 *   - the guest's header is copied once before any field is looked at; a
 *     guest rewriting it meanwhile changes nothing we decide on.
 *   - b->ol is filled from what the parser measured, never from the guest's
 *     numbers: csum_start and csum_offset are accepted only when they equal
 *     the measured ones, hdr_len is replaced. So every offset downstream is
 *     within the frame and within its headers.
 *   - HL_BUF_F_OFFLOAD is set last, on success only: a refused or plain
 *     frame leaves here with the flag clear.
 *   - checks go from the header alone, to the header against the frame's
 *     length, to the header against the parsed frame: the first that fails
 *     names the reason counted.
 */
#include <errno.h>

#include "ol_internal.h"

#define GSO_KIND(t) ((t) & (uint8_t)~HL_VIRTIO_NET_HDR_GSO_ECN)

static int caps_consistent(uint32_t *caps, const char *dir)
{
	uint32_t c = *caps;
	int rc = 0;

	if ((c & (HL_OL_CAP_TSO4 | HL_OL_CAP_TSO6)) && !(c & HL_OL_CAP_CSUM)) {
		c &= ~(HL_OL_CAP_TSO4 | HL_OL_CAP_TSO6 | HL_OL_CAP_ECN);
		rc = hl_error(-EINVAL, "offload %s: TSO negotiated without checksum offload; TSO not used", dir);
	}
	if ((c & HL_OL_CAP_ECN) && !(c & (HL_OL_CAP_TSO4 | HL_OL_CAP_TSO6))) {
		c &= ~HL_OL_CAP_ECN;
		rc = hl_error(-EINVAL, "offload %s: ECN negotiated without TSO; ECN not used", dir);
	}
	*caps = c;
	return rc;
}

int hl_ol_caps_guest_tx(uint64_t features, uint32_t *caps)
{
	uint32_t c = 0;

	if (features & HL_VIRTIO_BIT(HL_VIRTIO_NET_F_CSUM))
		c |= HL_OL_CAP_CSUM;
	if (features & HL_VIRTIO_BIT(HL_VIRTIO_NET_F_HOST_TSO4))
		c |= HL_OL_CAP_TSO4;
	if (features & HL_VIRTIO_BIT(HL_VIRTIO_NET_F_HOST_TSO6))
		c |= HL_OL_CAP_TSO6;
	if (features & HL_VIRTIO_BIT(HL_VIRTIO_NET_F_HOST_ECN))
		c |= HL_OL_CAP_ECN;
	/* HOST_UFO is never offered, so never here */
	*caps = c;
	return caps_consistent(caps, "guest transmit");
}

int hl_ol_caps_guest_rx(uint64_t features, uint32_t *caps)
{
	uint32_t c = 0;

	if (features & HL_VIRTIO_BIT(HL_VIRTIO_NET_F_GUEST_CSUM))
		c |= HL_OL_CAP_CSUM;
	if (features & HL_VIRTIO_BIT(HL_VIRTIO_NET_F_GUEST_TSO4))
		c |= HL_OL_CAP_TSO4;
	if (features & HL_VIRTIO_BIT(HL_VIRTIO_NET_F_GUEST_TSO6))
		c |= HL_OL_CAP_TSO6;
	if (features & HL_VIRTIO_BIT(HL_VIRTIO_NET_F_GUEST_ECN))
		c |= HL_OL_CAP_ECN;
	*caps = c;
	return caps_consistent(caps, "guest receive");
}

/* The header alone: what was negotiated, and whether the fields agree with each other. */
static int check_header(const struct hl_virtio_net_hdr *h, uint8_t flags, uint32_t caps,
			struct hl_ol_stats *st)
{
	uint8_t kind = GSO_KIND(h->gso_type);

	if (flags & HL_VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (flags & HL_VIRTIO_NET_HDR_F_DATA_VALID)
			return hl_ol_refuse(st, HL_OL_R_FLAGS_CONFLICT, -EINVAL);
		if (!(caps & HL_OL_CAP_CSUM))
			return hl_ol_refuse(st, HL_OL_R_CSUM_NOT_NEGOTIATED, -EOPNOTSUPP);
	}
	if (h->gso_type == HL_VIRTIO_NET_HDR_GSO_NONE)
		return 0;
	if ((kind == HL_VIRTIO_NET_HDR_GSO_TCPV4 && !(caps & HL_OL_CAP_TSO4)) ||
	    (kind == HL_VIRTIO_NET_HDR_GSO_TCPV6 && !(caps & HL_OL_CAP_TSO6)) ||
	    kind == HL_VIRTIO_NET_HDR_GSO_UDP)
		return hl_ol_refuse(st, HL_OL_R_GSO_NOT_NEGOTIATED, -EOPNOTSUPP);
	if (kind != HL_VIRTIO_NET_HDR_GSO_TCPV4 && kind != HL_VIRTIO_NET_HDR_GSO_TCPV6)
		return hl_ol_refuse(st, HL_OL_R_GSO_TYPE, -EINVAL);
	if ((h->gso_type & HL_VIRTIO_NET_HDR_GSO_ECN) && !(caps & HL_OL_CAP_ECN))
		return hl_ol_refuse(st, HL_OL_R_ECN_NOT_NEGOTIATED, -EOPNOTSUPP);
	if (!(flags & HL_VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return hl_ol_refuse(st, HL_OL_R_GSO_NO_CSUM, -EINVAL);
	if (h->gso_size == 0)
		return hl_ol_refuse(st, HL_OL_R_GSO_SIZE, -EINVAL);
	return 0;
}

int hl__ol_from_vnet(struct hl_buf *pkt, const struct hl_virtio_net_hdr *vh, uint32_t caps,
		     uint32_t mtu, struct hl_ol_stats *st)
{
	const uint8_t known = HL_VIRTIO_NET_HDR_F_NEEDS_CSUM | HL_VIRTIO_NET_HDR_F_DATA_VALID;
	struct hl_virtio_net_hdr h;
	struct hl_buf_ol ol;
	struct hl_ol_hdrs p;
	enum hl_ol_reason why;
	uint32_t len = pkt->pkt_len, hdr, payload;
	uint8_t flags;
	int rc;

	memcpy(&h, vh, sizeof(h));
	pkt->flags &= (uint16_t)~HL_BUF_F_OFFLOAD;
	flags = h.flags;
	if (flags & ~known) {
		st->flags_ignored++; /* virtio 1.1, 5.1.6.2.2: a device ignores flag bits it does not know */
		flags &= known;
	}
	rc = check_header(&h, flags, caps, st);
	if (rc < 0)
		return rc;

	if (!(flags & HL_VIRTIO_NET_HDR_F_NEEDS_CSUM)) {
		/* no segmentation here: check_header() wants NEEDS_CSUM with it */
		if (!(flags & HL_VIRTIO_NET_HDR_F_DATA_VALID))
			return 0;
		if (!(caps & HL_OL_CAP_TRUST_VALID)) {
			st->flags_ignored++;
			return 0;
		}
		memset(&pkt->ol, 0, sizeof(pkt->ol));
		pkt->ol.flags = HL_OL_F_CSUM_VALID;
		pkt->flags |= HL_BUF_F_OFFLOAD;
		st->accepted++;
		return 0;
	}

	/* against the frame's length: nothing below reads past these */
	if (len > HL_OL_FRAME_MAX)
		return hl_ol_refuse(st, HL_OL_R_FRAME_TOO_BIG, -EMSGSIZE);
	if (h.csum_start >= len)
		return hl_ol_refuse(st, HL_OL_R_CSUM_START, -EINVAL);
	if ((uint32_t)h.csum_start + h.csum_offset + 2u > len)
		return hl_ol_refuse(st, HL_OL_R_CSUM_OFFSET, -EINVAL);

	/* against the parsed frame */
	rc = hl_ol_parse(pkt, &p, &why);
	if (rc < 0)
		return hl_ol_refuse(st, why, rc);
	if (len - p.l2_len > HL_OL_IP_MAX)
		return hl_ol_refuse(st, HL_OL_R_FRAME_TOO_BIG, -EMSGSIZE);
	if (h.csum_start != p.l2_len + p.l3_len)
		return hl_ol_refuse(st, HL_OL_R_CSUM_START, -EINVAL);
	if (h.csum_offset != (p.l4_proto == 6 ? HL_OL_TCP_CSUM_OFF : HL_OL_UDP_CSUM_OFF))
		return hl_ol_refuse(st, HL_OL_R_CSUM_OFFSET, -EINVAL);
	hdr = (uint32_t)p.l2_len + p.l3_len + p.l4_len;

	memset(&ol, 0, sizeof(ol));
	ol.csum_start = h.csum_start;
	ol.csum_offset = h.csum_offset;
	ol.hdr_len = (uint16_t)hdr;
	ol.l2_len = p.l2_len;
	ol.l3_len = p.l3_len;
	ol.l4_len = p.l4_len;
	ol.flags = HL_OL_F_CSUM_PARTIAL;

	if (h.gso_type != HL_VIRTIO_NET_HDR_GSO_NONE) {
		uint8_t kind = GSO_KIND(h.gso_type);

		if (p.l4_proto != 6 || (kind == HL_VIRTIO_NET_HDR_GSO_TCPV4) != (p.ip_ver == 4))
			return hl_ol_refuse(st, HL_OL_R_GSO_MISMATCH, -EINVAL);
		/* the pseudo-header of each segment is built from the IPv6 header's destination */
		if (p.routed)
			return hl_ol_refuse(st, HL_OL_R_IPV6_ROUTED, -EPROTONOSUPPORT);
		payload = len - hdr;
		if ((uint32_t)p.l3_len + p.l4_len + h.gso_size > mtu ||
		    payload > HL_OL_SEGS_MAX * (uint32_t)h.gso_size)
			return hl_ol_refuse(st, HL_OL_R_GSO_SIZE, -EMSGSIZE);
		/* the spec makes it a hint without GUEST_HDRLEN, which is not offered */
		if (h.hdr_len < hdr || h.hdr_len > len)
			st->hdr_len_fixed++;
		/* as Linux does: a frame that fits one segment is not segmentation */
		if (payload > h.gso_size) {
			ol.gso_type = kind == HL_VIRTIO_NET_HDR_GSO_TCPV4 ? HL_OL_GSO_TCPV4 : HL_OL_GSO_TCPV6;
			ol.gso_size = h.gso_size;
			if ((h.gso_type & HL_VIRTIO_NET_HDR_GSO_ECN) || (p.tcp_flags & HL_OL_TCP_CWR))
				ol.flags |= HL_OL_F_ECN;
		}
	}
	pkt->ol = ol;
	pkt->flags |= HL_BUF_F_OFFLOAD;
	st->accepted++;
	return 0;
}

int hl_ol_check(struct hl_buf *pkt, const struct hl_buf_ol *claimed, uint32_t caps, uint32_t mtu,
		struct hl_ol_stats *st)
{
	const uint8_t known = HL_OL_F_CSUM_PARTIAL | HL_OL_F_CSUM_VALID | HL_OL_F_ECN;
	struct hl_virtio_net_hdr h;
	struct hl_buf_ol c;

	memcpy(&c, claimed, sizeof(c));
	memset(&h, 0, sizeof(h));
	if (c.flags & HL_OL_F_CSUM_PARTIAL)
		h.flags |= HL_VIRTIO_NET_HDR_F_NEEDS_CSUM;
	if (c.flags & HL_OL_F_CSUM_VALID)
		h.flags |= HL_VIRTIO_NET_HDR_F_DATA_VALID;
	if (c.flags & ~known)
		h.flags |= 0x80; /* a bit no header defines: ignored and counted there */
	if (c.gso_type == HL_OL_GSO_TCPV4)
		h.gso_type = HL_VIRTIO_NET_HDR_GSO_TCPV4;
	else if (c.gso_type == HL_OL_GSO_TCPV6)
		h.gso_type = HL_VIRTIO_NET_HDR_GSO_TCPV6;
	else if (c.gso_type != HL_OL_GSO_NONE)
		h.gso_type = 0x7f; /* no gso type of virtio's: refused as unknown */
	if (c.flags & HL_OL_F_ECN)
		h.gso_type |= HL_VIRTIO_NET_HDR_GSO_ECN;
	h.hdr_len = c.hdr_len;
	h.gso_size = c.gso_size;
	h.csum_start = c.csum_start;
	h.csum_offset = c.csum_offset;
	/* trust is the port's to give a writer it knows, never a claim's */
	return hl__ol_from_vnet(pkt, &h, caps & ~HL_OL_CAP_TRUST_VALID, mtu, st);
}

int hl__ol_to_vnet(const struct hl_buf *pkt, uint32_t caps, struct hl_virtio_net_hdr *vh)
{
	const struct hl_buf_ol *ol = &pkt->ol;
	struct hl_virtio_net_hdr h;

	memset(&h, 0, sizeof(h));
	memset(vh, 0, sizeof(*vh));
	if (ol->gso_type != HL_OL_GSO_NONE) {
		uint32_t need = HL_OL_CAP_CSUM |
				(ol->gso_type == HL_OL_GSO_TCPV4 ? HL_OL_CAP_TSO4 : HL_OL_CAP_TSO6) |
				(ol->flags & HL_OL_F_ECN ? HL_OL_CAP_ECN : 0);
		if ((caps & need) != need || !(ol->flags & HL_OL_F_CSUM_PARTIAL) ||
		    ol->gso_type > HL_OL_GSO_TCPV6)
			return -EOPNOTSUPP;
		h.gso_type = ol->gso_type == HL_OL_GSO_TCPV4 ? HL_VIRTIO_NET_HDR_GSO_TCPV4
							     : HL_VIRTIO_NET_HDR_GSO_TCPV6;
		if (ol->flags & HL_OL_F_ECN)
			h.gso_type |= HL_VIRTIO_NET_HDR_GSO_ECN;
		h.gso_size = ol->gso_size;
	}
	if (ol->flags & HL_OL_F_CSUM_PARTIAL) {
		if (!(caps & HL_OL_CAP_CSUM))
			return -EOPNOTSUPP;
		h.flags = HL_VIRTIO_NET_HDR_F_NEEDS_CSUM;
		h.csum_start = ol->csum_start;
		h.csum_offset = ol->csum_offset;
		h.hdr_len = ol->hdr_len;
	} else if ((ol->flags & HL_OL_F_CSUM_VALID) && (caps & HL_OL_CAP_CSUM)) {
		/* the spec lets a device say DATA_VALID only to a driver that negotiated GUEST_CSUM */
		h.flags = HL_VIRTIO_NET_HDR_F_DATA_VALID;
	}
	memcpy(vh, &h, sizeof(h));
	return 0;
}
