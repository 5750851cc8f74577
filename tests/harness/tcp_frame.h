/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TCP over IPv4 test frames for the offload tests: a frame built flat with
 * its TCP checksum left as a TSO sender leaves it (the pseudo-header's
 * sum), and the checks a receiver of its segments makes, against an
 * RFC 1071 reference that sums a byte at a time (the data path's sums are
 * what is being tested, so they are not used here).
 *
 * Payload byte i of a frame with sequence number seq is (i * 13 + seq) &
 * 0xff, so a segment is checked against the frame it came from wherever it
 * was cut. Also the frame as a pool chain marked for TSO, and a chain
 * flattened for comparing.
 */
#ifndef HL_TEST_TCP_FRAME_H
#define HL_TEST_TCP_FRAME_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <hugelink/buf.h>
#include <hugelink/virtio_ring.h>

#include "frame.h"
#include "net_bytes.h"

#define HDRS 54u /* Ethernet, IPv4, TCP without options */

/* A virtio-net device's basics, and the offloads of either direction. */
#define BASE_F                                                                                     \
	(HL_VIRTIO_BIT(HL_VIRTIO_F_VERSION_1) | HL_VIRTIO_BIT(HL_VIRTIO_NET_F_MRG_RXBUF) |            \
	 HL_VIRTIO_BIT(HL_VIRTIO_RING_F_EVENT_IDX))
#define HOST_F                                                                                     \
	(HL_VIRTIO_BIT(HL_VIRTIO_NET_F_CSUM) | HL_VIRTIO_BIT(HL_VIRTIO_NET_F_HOST_TSO4) |             \
	 HL_VIRTIO_BIT(HL_VIRTIO_NET_F_HOST_TSO6))
#define GUEST_F                                                                                    \
	(HL_VIRTIO_BIT(HL_VIRTIO_NET_F_GUEST_CSUM) | HL_VIRTIO_BIT(HL_VIRTIO_NET_F_GUEST_TSO4) |      \
	 HL_VIRTIO_BIT(HL_VIRTIO_NET_F_GUEST_TSO6))

/*
 * A TCP/IPv4 frame's bytes, flat: the headers of the tools' TCP test frames
 * (tools/common/frame.h), IPv4 checksummed, TCP's sum left to the device.
 */
static inline void frame_bytes(uint8_t *f, uint32_t payload, uint32_t seq)
{
	static const uint8_t dst[6] = {2, 0, 0, 0, 0, 2}, src[6] = {2, 0, 0, 0, 0, 1};
	uint8_t *ip = f + 14, *tcp = ip + 20;
	hl_frame_tcp_fields(f, dst, src, 0x1234, seq, payload > 65495 ? 65495 : payload);
	put16(ip + 10, (uint16_t)~ref_fold(ref_add(0, ip, 20)));
	for (uint32_t i = 0; i < payload; i++)
		tcp[20 + i] = (uint8_t)(i * 13 + seq);
	/* a partial checksum holds the pseudo-header's sum, as a TSO sender leaves it */
	uint32_t ps = ref_add(0, ip + 12, 8) + 6 + 20 + payload;
	put16(tcp + 16, ref_fold(ps));
}

/*
 * A received segment of frame orig (payload bytes of payload, first
 * sequence number seq0): IPv4 header sum, TCP sum over the pseudo-header,
 * payload where it belongs. Adds its payload to *payload_seen.
 */
static inline bool segment_of(const uint8_t *f, uint32_t len, const uint8_t *orig, uint32_t payload,
			      uint32_t seq0, uint32_t *payload_seen)
{
	if (len < HDRS || get16(f + 12) != 0x0800)
		return false;
	const uint8_t *ip = f + 14, *tcp = ip + 20;
	uint32_t tot = get16(ip + 2), pl = tot - 40;
	if (tot + 14u != len || ref_fold(ref_add(0, ip, 20)) != 0xffff)
		return false;
	uint32_t ps = ref_add(0, ip + 12, 8) + 6 + 20 + pl;
	if (ref_fold(ref_add(ps, tcp, 20 + pl)) != 0xffff)
		return false;
	uint32_t seq = get32(tcp + 4);
	uint32_t off = seq - seq0;
	if (off + pl > payload || memcmp(tcp + 20, orig + HDRS + off, pl) != 0)
		return false;
	*payload_seen += pl;
	return true;
}

/*
 * Frame f (len bytes) in pool buffers of bp, marked the way a TSO sender
 * marks it: a partial TCP checksum, and segmentation at mss unless 0.
 */
static inline struct hl_buf *tso_chain(struct hl_bufpool *bp, const uint8_t *f, uint32_t len, uint16_t mss)
{
	struct hl_buf *head = NULL;
	for (uint32_t done = 0; done < len;) {
		struct hl_buf *b = hl_buf_alloc(bp);
		if (b == NULL) {
			hl_buf_free(head);
			return NULL;
		}
		uint32_t k = hl_buf_tailroom(b) < len - done ? hl_buf_tailroom(b) : len - done;
		memcpy(hl_buf_data(b), f + done, k);
		b->data_len = k;
		if (head == NULL) {
			head = b;
			b->pkt_len = k;
		} else {
			hl_buf_chain(head, b);
		}
		done += k;
	}
	head->flags |= HL_BUF_F_OFFLOAD;
	memset(&head->ol, 0, sizeof(head->ol));
	head->ol.flags = HL_OL_F_CSUM_PARTIAL;
	head->ol.csum_start = 34;
	head->ol.csum_offset = 16;
	head->ol.l2_len = 14;
	head->ol.l3_len = 20;
	head->ol.l4_len = 20;
	head->ol.hdr_len = HDRS;
	if (mss != 0) {
		head->ol.gso_type = HL_OL_GSO_TCPV4;
		head->ol.gso_size = mss;
	}
	return head;
}

/*
 * Received frame b (flat: its len bytes) is frame f (flen bytes, MACs
 * aside) whole, with the TSO request at mss a sender of it made.
 */
static inline bool tso_whole(const struct hl_buf *b, const uint8_t *flat, uint32_t len, const uint8_t *f, uint32_t flen,
			     uint16_t mss)
{
	return len == flen && memcmp(flat + 14, f + 14, len - 14) == 0 && (b->flags & HL_BUF_F_OFFLOAD) &&
	       b->ol.gso_type == HL_OL_GSO_TCPV4 && b->ol.gso_size == mss && b->ol.csum_start == 34 &&
	       b->ol.csum_offset == 16;
}

/* A chain's bytes in one malloc'd block (the caller frees it). */
static inline uint8_t *flatten(const struct hl_buf *b, uint32_t *len)
{
	uint8_t *out = malloc(b->pkt_len > 0 ? b->pkt_len : 1);
	uint32_t at = 0;
	for (; b != NULL && out != NULL; b = b->next) {
		memcpy(out + at, hl_buf_data(b), b->data_len);
		at += b->data_len;
	}
	*len = at;
	return out;
}

#endif
