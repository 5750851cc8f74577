/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guest offloads: partial checksums (virtio-net CSUM), TCP segmentation
 * (TSO4, TSO6) and ECN, done in software wherever a port cannot take them.
 *
 * A frame's offload metadata lives in its head, struct hl_buf_ol (buf.h),
 * and means something only while HL_BUF_F_OFFLOAD is set. Three steps touch it:
 *   - ingress: hl_ol_from_vnet() checks a virtio-net header a guest wrote
 *     against the frame and the offloads that port negotiated, and either
 *     marks the frame, leaves it plain, or refuses it. It is the only place
 *     a guest's claims enter: everything downstream trusts b->ol's lengths
 *     and offsets, never the frame's bytes, for where it reads and writes.
 *   - egress: hl_ol_prepare() makes a frame fit the port it leaves by:
 *     as it is when the port can take it (always, for a plain frame), with
 *     its checksum completed in software, or cut into segments in fresh
 *     buffers (software GSO).
 *   - delivery: hl_ol_to_vnet() writes the virtio-net header a receiver
 *     that negotiated offloads gets in front of the frame.
 *
 * Port capabilities (HL_OL_CAP_*) are one mask per port and direction, set
 * by the control path from what was negotiated: what a guest may ask of us
 * on its transmit queue (hl_ol_caps_guest_tx), what a receiver accepts
 * (hl_ol_caps_guest_rx).
 *
 * Memory: nothing here writes into a segment with HL_BUF_F_EXTERNAL set
 * (guest memory in zero-copy mode) or into a segment another chain shares
 * (refcnt > 1). A checksum whose field lies in such a segment is completed
 * in a private copy of the segments up to the field, fresh buffers from the
 * bufpool given, sharing the rest of the chain.
 *
 * Data path: no allocation but the bufpool's, no system call, no lock. A
 * plain frame costs one predictable branch in hl_ol_from_vnet(),
 * hl_ol_prepare() and hl_ol_to_vnet() (they are inline for that). A
 * refusal is counted in the port's hl_ol_stats; the first of each reason
 * on a port is logged once, the rest only counted.
 *
 * Threads: a struct hl_ol_stats is written by the one thread that runs the
 * port's direction, like the port's other counters.
 */
#ifndef HUGELINK_OFFLOAD_H
#define HUGELINK_OFFLOAD_H

#include <stdint.h>
#include <string.h>

#include <hugelink/buf.h>
#include <hugelink/common.h>
#include <hugelink/virtio_ring.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- capabilities ---------------------------------------------------------- */

#define HL_OL_CAP_CSUM 0x1u /* partial checksums (CSUM_PARTIAL / NEEDS_CSUM); DATA_VALID to a receiver */
#define HL_OL_CAP_TSO4 0x2u /* TCP over IPv4 segmentation; needs CSUM */
#define HL_OL_CAP_TSO6 0x4u /* TCP over IPv6 segmentation; needs CSUM */
#define HL_OL_CAP_ECN  0x8u /* segmentation of frames with CWR set; needs TSO4 or TSO6 */
/*
 * hl_ol_from_vnet() only: the header's writer is trusted to have verified
 * checksums when it says DATA_VALID (a host kernel's TAP device). Never for
 * a guest: a guest's DATA_VALID is ignored, as the spec forbids it on transmit.
 */
#define HL_OL_CAP_TRUST_VALID 0x10u

/* ---- limits ---------------------------------------------------------------- */

#define HL_OL_HDR_MAX  256u   /* Ethernet + IP (+ IPv6 extension headers) + TCP/UDP, at most */
#define HL_OL_IP_MAX   65535u /* an IP packet at its largest (16-bit length fields) */
#define HL_OL_FRAME_MAX (HL_OL_IP_MAX + 22u) /* behind Ethernet and two VLAN tags */
/*
 * Most segments one frame may ask for: bounds the buffers a guest can make
 * one frame cost (64 KiB at MSS 512). hl_ol_from_vnet() refuses more.
 */
#define HL_OL_SEGS_MAX 128u

/* ---- why a frame was refused ----------------------------------------------- */

enum hl_ol_reason {
	/* the header asks for what the port did not negotiate */
	HL_OL_R_CSUM_NOT_NEGOTIATED, /* NEEDS_CSUM without CAP_CSUM */
	HL_OL_R_GSO_NOT_NEGOTIATED,  /* TCPV4/TCPV6 without TSO4/TSO6; UDP (UFO is never offered) */
	HL_OL_R_ECN_NOT_NEGOTIATED,  /* GSO_ECN without CAP_ECN */
	/* the header contradicts itself */
	HL_OL_R_FLAGS_CONFLICT,      /* NEEDS_CSUM together with DATA_VALID */
	HL_OL_R_GSO_TYPE,            /* an unknown gso type, or the ECN bit alone */
	HL_OL_R_GSO_NO_CSUM,         /* segmentation without NEEDS_CSUM */
	HL_OL_R_GSO_SIZE,            /* 0, a segment beyond the MTU, or more than HL_OL_SEGS_MAX segments */
	/* the header contradicts the frame */
	HL_OL_R_CSUM_START,          /* beyond the frame, or not where the TCP/UDP header starts */
	HL_OL_R_CSUM_OFFSET,         /* past the frame, or not the TCP/UDP checksum field */
	HL_OL_R_GSO_MISMATCH,        /* TCPV4 on IPv6 or TCPV6 on IPv4, or not TCP */
	HL_OL_R_FRAME_TOO_BIG,       /* an IP packet beyond HL_OL_IP_MAX */
	/* the frame itself */
	HL_OL_R_MALFORMED,           /* headers cut short or not well formed */
	HL_OL_R_HDR_TOO_LONG,        /* headers beyond HL_OL_HDR_MAX */
	HL_OL_R_NOT_IP,              /* neither IPv4 nor IPv6 (after up to two VLAN tags) */
	HL_OL_R_L4_PROTO,            /* neither TCP nor UDP */
	HL_OL_R_IP_FRAGMENT,         /* an IPv4 fragment, or an IPv6 fragment header */
	HL_OL_R_IPV6_ROUTED,         /* segmentation through a routing header with segments left */
	/* egress: hl_ol_prepare() */
	HL_OL_R_BAD_META,            /* b->ol does not describe the frame (a producer's bug, or headers rewritten since) */
	HL_OL_R_PORT_TOO_SMALL,      /* the headers alone fill the port's largest frame */
	HL_OL_R_TOO_MANY_SEGS,       /* more segments than the caller's array holds */
	HL_OL_R_BUF_TOO_SMALL,       /* the bufpool's buffers cannot hold the headers */
	HL_OL_R_NOBUFS,              /* the bufpool ran out (nothing is left allocated) */
	HL_OL_R_MAX
};
_Static_assert(HL_OL_R_MAX <= 32, "hl_ol_stats.warned has a bit per reason");

/* A short stable name ("csum_start", "nobufs") for counters; "?" out of range. */
const char *hl_ol_reason_name(enum hl_ol_reason r);

/* ---- counters, one set per port ---------------------------------------------- */

struct hl_ol_stats {
	uint64_t accepted;       /* frames hl_ol_from_vnet() marked with offload metadata */
	uint64_t gso_frames;     /* frames cut into segments in software */
	uint64_t gso_segments;   /* segments they made */
	uint64_t csum_done;      /* checksums completed in software (frames not cut) */
	uint64_t csum_copied;    /* of those, frames copied first: the field lay in memory not ours to write */
	uint64_t hdr_len_fixed;  /* segmentation hdr_len hints that were wrong: recomputed, not refused */
	uint64_t flags_ignored;  /* header flag bits ignored: unknown, or DATA_VALID from an untrusted writer */
	uint64_t refused[HL_OL_R_MAX]; /* frames refused, by reason; the bufpool running out is NOBUFS */
	uint32_t warned;         /* reasons already logged on this port */
};

/* Add src's counters to dst (src may be another thread's, being written). */
void hl_ol_stats_add(struct hl_ol_stats *dst, const struct hl_ol_stats *src);
/* Take base (an earlier sum) off dst. */
void hl_ol_stats_sub(struct hl_ol_stats *dst, const struct hl_ol_stats *base);

/* ---- capabilities from negotiated virtio-net features (control path) --------- */

/*
 * What a guest that negotiated `features` may ask on its transmit queue:
 * CSUM, HOST_TSO4/6, HOST_ECN. A set that breaks the spec's dependencies
 * (TSO without CSUM, ECN without TSO) is cut to its consistent part in
 * *caps and reported: -EINVAL with the reason in hl_last_error().
 */
int hl_ol_caps_guest_tx(uint64_t features, uint32_t *caps);
/* What a guest that negotiated `features` accepts on its receive queue: GUEST_CSUM, GUEST_TSO4/6, GUEST_ECN. */
int hl_ol_caps_guest_rx(uint64_t features, uint32_t *caps);

/* ---- checksums ---------------------------------------------------------------- */

/*
 * The 16-bit ones' complement sum (RFC 1071) of len bytes at p, any
 * alignment, added to sum; not inverted. The sum is taken in host order and
 * is byte-order independent: ~result stored with memcpy is the checksum as
 * it goes on the wire. The bytes must start at an even offset of the range
 * being checksummed (hl_csum_chain() handles odd ones).
 */
uint16_t hl_csum_add(uint16_t sum, const void *p, size_t len);

/*
 * The same over len bytes of a chain from byte off, across segments of any
 * length: 0, or -ERANGE (nothing added) when the chain is shorter.
 */
int hl_csum_chain(const struct hl_buf *pkt, uint32_t off, uint32_t len, uint16_t *sum);

/* Ones' complement addition of two sums. */
static inline uint16_t hl_csum_add16(uint16_t a, uint16_t b)
{
	uint32_t s = (uint32_t)a + b;
	return (uint16_t)((s & 0xffff) + (s >> 16));
}

/* ---- headers ---------------------------------------------------------------- */

/* What hl_ol_parse() found in front of a frame's L4 payload. */
struct hl_ol_hdrs {
	uint16_t l3_len;   /* IP header, IPv6 extension headers included */
	uint8_t l2_len;    /* Ethernet and VLAN tags */
	uint8_t l4_len;    /* TCP header with options, or 8 for UDP */
	uint8_t ip_ver;    /* 4 or 6 */
	uint8_t l4_proto;  /* 6 (TCP) or 17 (UDP) */
	uint8_t tcp_flags; /* TCP only: FIN 0x01 ... CWR 0x80 */
	uint8_t routed;    /* IPv6: a routing header with segments left (another final destination) */
};

/*
 * Parse the headers of a frame offloads can apply to: Ethernet, up to two
 * VLAN tags (802.1Q, 802.1ad), IPv4 (options allowed, fragments not) or
 * IPv6 (hop-by-hop, routing and destination options headers; a fragment
 * header is refused), then TCP or UDP, all within HL_OL_HDR_MAX bytes and
 * the frame. Reads across segments; what it reads is copied first, so bytes
 * a guest rewrites meanwhile cannot make it inconsistent. IP length fields
 * are not checked: segmentation rewrites them, and a partial checksum covers
 * the frame as its sender laid it out. 0, or a negative errno with *why set
 * (nothing counted).
 */
int hl_ol_parse(const struct hl_buf *pkt, struct hl_ol_hdrs *h, enum hl_ol_reason *why);

/* ---- ingress: a guest's virtio-net header ----------------------------------- */

/* The out-of-line part of hl_ol_from_vnet() (a header that asks for work). */
int hl__ol_from_vnet(struct hl_buf *pkt, const struct hl_virtio_net_hdr *vh, uint32_t caps,
		     uint32_t mtu, struct hl_ol_stats *st);

/*
 * Check the virtio-net header a guest wrote for frame pkt (its head freshly
 * taken from a bufpool, HL_BUF_F_OFFLOAD clear) against the frame and the
 * offloads negotiated on the port (caps, from hl_ol_caps_guest_tx), and
 * describe the frame in pkt->ol. vh may point into guest memory: it is read
 * once. mtu: the largest IP packet a segment may carry on that port.
 *
 * Returns 0 with the frame either marked (HL_BUF_F_OFFLOAD, pkt->ol) or
 * left plain (no flags, nothing to do), or a negative errno with the reason
 * counted in st: the caller drops the frame. In detail:
 *   - flags: NEEDS_CSUM needs CAP_CSUM, and the checksum must be TCP's or
 *     UDP's: csum_start where that header starts, csum_offset at its
 *     checksum field, both within the frame. NEEDS_CSUM with DATA_VALID is
 *     refused. DATA_VALID alone (the spec forbids it on transmit) is
 *     ignored, and counted, unless caps has CAP_TRUST_VALID. Unknown bits
 *     are ignored and counted, as the spec requires of a device.
 *   - gso_type: TCPV4 and TCPV6 if negotiated and matching the frame (TCP
 *     over that IP version, no fragment); UDP (UFO) is never negotiated;
 *     ECN needs CAP_ECN. Segmentation needs NEEDS_CSUM (the spec makes the
 *     driver set it, as Linux does) and 0 < gso_size, with one segment's IP
 *     packet within mtu and at most HL_OL_SEGS_MAX segments. A frame whose
 *     payload fits one segment is not segmentation: it keeps its partial
 *     checksum only. HL_OL_F_ECN is set when the guest says ECN or the TCP
 *     header has CWR.
 *   - hdr_len is only a hint: the header length is recomputed; a
 *     segmentation hint below it or beyond the frame counts in
 *     hdr_len_fixed and is not refused. Without segmentation it is not
 *     looked at (Linux leaves it 0).
 *   - an IP packet beyond HL_OL_IP_MAX is refused.
 */
static inline int hl_ol_from_vnet(struct hl_buf *pkt, const struct hl_virtio_net_hdr *vh,
				  uint32_t caps, uint32_t mtu, struct hl_ol_stats *st)
{
	uint16_t w; /* flags and gso_type: both 0 for a plain frame */

	memcpy(&w, vh, sizeof(w));
	if (hl_likely(w == 0))
		return 0;
	return hl__ol_from_vnet(pkt, vh, caps, mtu, st);
}

/*
 * The same checks for offload metadata a port's peer claims in the switch's
 * own form (an shm peer's offload entry): claimed says what hl_ol_from_vnet
 * would have read from a virtio-net header (CSUM_PARTIAL for NEEDS_CSUM,
 * CSUM_VALID for DATA_VALID, gso_type and ECN for the header's gso type,
 * csum_start, csum_offset, gso_size, hdr_len), and is checked by the same
 * rules, reasons and counters; its l2_len, l3_len and l4_len are not read
 * (they are measured), an unknown gso type is refused as HL_OL_R_GSO_TYPE,
 * unknown flag bits are ignored and counted. claimed may be shared memory:
 * it is read once.
 */
int hl_ol_check(struct hl_buf *pkt, const struct hl_buf_ol *claimed, uint32_t caps, uint32_t mtu,
		struct hl_ol_stats *st);

/* ---- delivery: the header a receiver gets ----------------------------------- */

/* The out-of-line part of hl_ol_to_vnet() (a packet that carries offload metadata). */
int hl__ol_to_vnet(const struct hl_buf *pkt, uint32_t caps, struct hl_virtio_net_hdr *vh);

/*
 * Fill the virtio-net header (the first 10 bytes of either layout; a
 * num_buffers field is the caller's) for frame pkt delivered to a receiver
 * that negotiated caps (hl_ol_caps_guest_rx). A plain frame gets zeros; a
 * verified one (HL_OL_F_CSUM_VALID) DATA_VALID when the receiver has
 * CAP_CSUM; a partial checksum NEEDS_CSUM with csum_start/offset; a frame to
 * be segmented its gso type (and ECN), gso_size and hdr_len. -EOPNOTSUPP
 * (header zeroed) if the frame needs what the receiver did not negotiate:
 * it should have been through hl_ol_prepare() for that port.
 */
static inline int hl_ol_to_vnet(const struct hl_buf *pkt, uint32_t caps,
				struct hl_virtio_net_hdr *vh)
{
	if (hl_likely(!(pkt->flags & HL_BUF_F_OFFLOAD))) {
		memset(vh, 0, sizeof(*vh));
		return 0;
	}
	return hl__ol_to_vnet(pkt, caps, vh);
}

/* ---- egress: make a frame fit a port --------------------------------------- */

/* The out-of-line part of hl_ol_prepare() (a packet the port cannot take as it is). */
int hl__ol_prepare(struct hl_buf *pkt, uint32_t caps, uint32_t max_frame, struct hl_bufpool *bp,
		   struct hl_buf **out, unsigned max_out, struct hl_ol_stats *st);

/*
 * Make frame pkt fit a port with capabilities caps (hl_ol_caps_guest_rx,
 * or what a TAP or shm port can take) whose frames are at most max_frame
 * bytes, Ethernet header included. The frames to send go to out[0..n),
 * max_out >= 1 entries of the caller's; returns n >= 1, or a negative errno.
 * bp gives the buffers for copies and segments (NULL: none, -ENOBUFS when
 * one is needed).
 *
 *   - plain frames, and frames the port takes as they are (a partial
 *     checksum to a CSUM port; segmentation to a port with the TSO bit, CSUM
 *     and, if HL_OL_F_ECN, ECN, when one segment fits max_frame; a frame
 *     that is only CSUM_VALID anywhere): out[0] = pkt, returns 1. Their
 *     lengths are not checked; that stays the port's job.
 *   - a partial checksum the port cannot take: completed in software and
 *     marked CSUM_VALID, in place when every segment up to the field is
 *     private pool memory, else in a copy of those segments (csum_copied).
 *     Returns 1, out[0] being pkt or the copy.
 *   - segmentation the port cannot take: cut into segments of gso_size
 *     payload bytes (fewer when a segment would exceed max_frame), each in
 *     fresh buffers from bp (chained when a segment exceeds one buffer),
 *     headers copied and rewritten (IPv4 id + i, total length and header
 *     checksum; IPv6 payload length; TCP sequence, FIN and PSH on the last
 *     segment only, CWR on the first only), TCP checksum computed with the
 *     pseudo-header from the IP addresses, each marked CSUM_VALID. Returns
 *     the number of segments.
 *
 * Ownership: on success the caller's reference on pkt is consumed (it went
 * to out[0], or was dropped after copying), and the caller holds one
 * reference on each out[i]. On error nothing changed: the caller still
 * holds its reference on pkt (and usually frees it), and nothing allocated
 * here is left (a bufpool running dry midway frees what it had made).
 * Errors, each counted in st: -ENOSPC (more segments than max_out),
 * -ENOBUFS (the bufpool ran out), -EMSGSIZE (the headers alone fill
 * max_frame, or the buffers cannot hold them), -EINVAL (pkt->ol does not
 * describe the frame).
 */
static inline int hl_ol_prepare(struct hl_buf *pkt, uint32_t caps, uint32_t max_frame,
				struct hl_bufpool *bp, struct hl_buf **out, unsigned max_out,
				struct hl_ol_stats *st)
{
	if (hl_likely(!(pkt->flags & HL_BUF_F_OFFLOAD))) {
		out[0] = pkt;
		return 1;
	}
	return hl__ol_prepare(pkt, caps, max_frame, bp, out, max_out, st);
}

/* ---- copies ------------------------------------------------------------------ */

/*
 * A copy of frame pkt (any chain, any memory) in fresh buffers of bp, each
 * filled to its room before the next, its offload state along (the head's
 * flag and metadata, port, udata). NULL when bp has too few buffers free
 * (nothing is left allocated) or the chain is shorter than its pkt_len.
 */
struct hl_buf *hl_ol_copy(const struct hl_buf *pkt, struct hl_bufpool *bp);

/* ---- VLAN tags ---------------------------------------------------------------- */

/*
 * Put an 802.1Q tag (TPID 0x8100, then tci: priority and VLAN id) between
 * the MAC addresses and the EtherType of frame pkt, whose head must hold
 * the first 14 bytes. In place when pkt is private pool memory with 4 bytes
 * of headroom (only the MACs move); else in a copy of the segments up to
 * the tag from bp, the rest shared. With HL_BUF_F_OFFLOAD, l2_len,
 * csum_start and hdr_len grow by 4, so segmentation and checksums still
 * find their headers. Ownership as hl_ol_prepare(): 0 and *out (pkt itself
 * or the copy, the caller's reference on pkt consumed), or a negative errno
 * with pkt unchanged and still the caller's: -ENOBUFS (bp ran out or is
 * NULL), -EINVAL (a head too short), -EMSGSIZE (bp's buffers too small).
 */
int hl_ol_vlan_push(struct hl_buf *pkt, uint16_t tci, struct hl_bufpool *bp, struct hl_buf **out);

/*
 * Take out the 4-byte tag that follows the MAC addresses of frame pkt
 * (the caller has checked it is one; the head must hold 18 bytes), the
 * same way: in place when pkt's head is private pool memory, else in a
 * copy; offload metadata shrinks by 4. Returns as hl_ol_vlan_push().
 */
int hl_ol_vlan_pop(struct hl_buf *pkt, struct hl_bufpool *bp, struct hl_buf **out);

#ifdef __cplusplus
}
#endif
#endif
