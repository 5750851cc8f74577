/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The virtio 1.x split-virtqueue ABI (virtio 1.1 section 2.7) and the
 * virtio-net header, as they lie in guest memory.
 *
 * These structures live in memory the guest (driver) can write at any time,
 * including while the device reads them. Nothing here is trusted: the device
 * side (vring_split.c) reads every field once into a local copy and checks it.
 * Who writes what:
 *   - descriptor table and avail ring: the driver only;
 *   - used ring: the device only, except that avail_event at its end is
 *     also device-written and used_event at the end of the avail ring is
 *     driver-written (VIRTIO_RING_F_EVENT_IDX).
 *
 * All fields are little-endian. hugelink only runs on little-endian hosts
 * (checked below), so they are declared as plain integers.
 */
#ifndef HUGELINK_VIRTIO_RING_H
#define HUGELINK_VIRTIO_RING_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "hugelink's virtio ring code assumes a little-endian host"
#endif

/* Descriptor flags */
#define HL_VRING_DESC_F_NEXT     1u /* chain continues in `next` */
#define HL_VRING_DESC_F_WRITE    2u /* device-writable (else device-readable) */
#define HL_VRING_DESC_F_INDIRECT 4u /* buffer is a table of descriptors */

/* avail->flags, written by the driver: "don't interrupt me" (no EVENT_IDX) */
#define HL_VRING_AVAIL_F_NO_INTERRUPT 1u
/* used->flags, written by the device: "don't kick me" (no EVENT_IDX) */
#define HL_VRING_USED_F_NO_NOTIFY 1u

/* Feature bits */
#define HL_VIRTIO_F_NOTIFY_ON_EMPTY     24
#define HL_VIRTIO_RING_F_INDIRECT_DESC  28
#define HL_VIRTIO_RING_F_EVENT_IDX      29
#define HL_VIRTIO_F_VERSION_1           32
#define HL_VIRTIO_F_RING_PACKED         34
#define HL_VIRTIO_F_IN_ORDER            35
#define HL_VIRTIO_NET_F_CSUM            0
#define HL_VIRTIO_NET_F_GUEST_CSUM      1
#define HL_VIRTIO_NET_F_MAC             5
#define HL_VIRTIO_NET_F_GUEST_TSO4      7
#define HL_VIRTIO_NET_F_GUEST_TSO6      8
#define HL_VIRTIO_NET_F_GUEST_ECN       9
#define HL_VIRTIO_NET_F_GUEST_UFO       10
#define HL_VIRTIO_NET_F_HOST_TSO4       11
#define HL_VIRTIO_NET_F_HOST_TSO6       12
#define HL_VIRTIO_NET_F_HOST_ECN        13
#define HL_VIRTIO_NET_F_HOST_UFO        14
#define HL_VIRTIO_NET_F_MRG_RXBUF       15
#define HL_VIRTIO_NET_F_STATUS          16
/* the guest announces itself (gratuitous ARP) when told, e.g. after a migration */
#define HL_VIRTIO_NET_F_GUEST_ANNOUNCE  21
/* several queue pairs (max_virtqueue_pairs in the device's config space) */
#define HL_VIRTIO_NET_F_MQ              22

#define HL_VIRTIO_BIT(b) (1ull << (b))

/* Largest queue size the spec allows; sizes are powers of two. */
#define HL_VRING_MAX_SIZE 32768u

/* Ring part alignments (split ring, virtio 1.x). */
#define HL_VRING_DESC_ALIGN  16u
#define HL_VRING_AVAIL_ALIGN 2u
#define HL_VRING_USED_ALIGN  4u

/* Driver-written. */
struct hl_vring_desc {
	uint64_t addr;  /* guest-physical address of the buffer */
	uint32_t len;   /* bytes; for INDIRECT, the table size (n * 16) */
	uint16_t flags; /* HL_VRING_DESC_F_* */
	uint16_t next;  /* index of the next descriptor when F_NEXT */
};
_Static_assert(sizeof(struct hl_vring_desc) == 16, "virtq_desc is 16 bytes");

/* Driver-written, followed by ring[num] and then le16 used_event. */
struct hl_vring_avail {
	uint16_t flags;
	uint16_t idx;    /* next slot the driver will fill; free-running */
	uint16_t ring[]; /* num heads, then used_event (EVENT_IDX) */
};
_Static_assert(sizeof(struct hl_vring_avail) == 4, "virtq_avail header is 4 bytes");

struct hl_vring_used_elem {
	uint32_t id;  /* head of the chain the device is done with */
	uint32_t len; /* bytes the device wrote into the chain */
};
_Static_assert(sizeof(struct hl_vring_used_elem) == 8, "virtq_used_elem is 8 bytes");

/* Device-written, followed by ring[num] and then le16 avail_event. */
struct hl_vring_used {
	uint16_t flags;
	uint16_t idx; /* next slot the device will fill; free-running */
	struct hl_vring_used_elem ring[];
};
_Static_assert(sizeof(struct hl_vring_used) == 4, "virtq_used header is 4 bytes");

/* Byte sizes of each part for a queue of `num` entries (with event fields). */
#define HL_VRING_DESC_SIZE(num)  ((uint64_t)(num) * sizeof(struct hl_vring_desc))
#define HL_VRING_AVAIL_SIZE(num) (6u + 2ull * (num))
#define HL_VRING_USED_SIZE(num)  (6u + 8ull * (num))

/* Where the event-index words sit, past the end of each ring. */
static inline volatile uint16_t *hl_vring_used_event(struct hl_vring_avail *a, unsigned num)
{
	return (volatile uint16_t *)&a->ring[num];
}

static inline volatile uint16_t *hl_vring_avail_event(struct hl_vring_used *u, unsigned num)
{
	return (volatile uint16_t *)&u->ring[num];
}

/*
 * True if moving an index from `old` to `new_idx` passes `event`, i.e. the
 * other side asked to hear about slot `event` and it is now filled.
 */
static inline int hl_vring_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

/*
 * Packed virtqueue (VIRTIO_F_RING_PACKED, virtio 1.1+): one ring of
 * descriptors that both sides write. The driver makes a descriptor available
 * by setting AVAIL to its wrap counter and USED to the inverse; the device
 * marks one used by setting both to its own. Each side polls one place: the
 * next descriptor after the last it processed.
 */
#define HL_VRING_PACKED_DESC_F_AVAIL (1u << 7)
#define HL_VRING_PACKED_DESC_F_USED  (1u << 15)

struct hl_vring_packed_desc {
	uint64_t addr;  /* guest-physical address of the element (unused when used) */
	uint32_t len;   /* element length; in a used descriptor, bytes written */
	uint16_t id;    /* buffer id: in the last descriptor of a chain */
	uint16_t flags; /* NEXT, WRITE, INDIRECT, AVAIL, USED */
};
_Static_assert(sizeof(struct hl_vring_packed_desc) == 16, "pvirtq_desc is 16 bytes");

/*
 * Event suppression: the driver area is the driver's (which used buffers it
 * wants to hear of), the device area the device's (which kicks it wants).
 * off_wrap: ring offset in bits 0-14 and a wrap counter in bit 15, read
 * only when flags is DESC (which needs VIRTIO_RING_F_EVENT_IDX).
 */
#define HL_VRING_PACKED_EVENT_ENABLE  0u
#define HL_VRING_PACKED_EVENT_DISABLE 1u
#define HL_VRING_PACKED_EVENT_DESC    2u

struct hl_vring_packed_event {
	uint16_t off_wrap;
	uint16_t flags;
};
_Static_assert(sizeof(struct hl_vring_packed_event) == 4, "pvirtq_event_suppress is 4 bytes");

/*
 * Did the `dist` slots just written, ending before position `pos` (whose
 * lap has wrap counter `wrap`), include the slot an event word names
 * (offset in bits 0-14, wrap counter in bit 15)? The named slot is taken
 * one lap back when its wrap counter is not `wrap`. A lap or more (dist >=
 * num) always includes it. Both sides decide this way: the device for used
 * buffers, the driver for kicks.
 */
static inline int hl_vring_packed_event_hit(uint16_t off_wrap, uint16_t pos, int wrap, uint16_t num, uint32_t dist)
{
	if (dist >= num)
		return 1;
	int32_t event = (int32_t)(off_wrap & 0x7fffu) - (!!(off_wrap & 0x8000u) == !!wrap ? 0 : (int32_t)num);
	int32_t behind = (int32_t)pos - event; /* 1: the last slot written */
	return behind >= 1 && (uint32_t)behind <= dist;
}

#define HL_VRING_PACKED_DESC_ALIGN  16u
#define HL_VRING_PACKED_EVENT_ALIGN 4u

/* virtio-net header, legacy layout without num_buffers. */
#define HL_VIRTIO_NET_HDR_F_NEEDS_CSUM 1u
#define HL_VIRTIO_NET_HDR_F_DATA_VALID 2u
#define HL_VIRTIO_NET_HDR_F_RSC_INFO   4u /* device -> driver only, with VIRTIO_NET_F_RSC_EXT */
#define HL_VIRTIO_NET_HDR_GSO_NONE  0u
#define HL_VIRTIO_NET_HDR_GSO_TCPV4 1u
#define HL_VIRTIO_NET_HDR_GSO_UDP   3u
#define HL_VIRTIO_NET_HDR_GSO_TCPV6 4u
#define HL_VIRTIO_NET_HDR_GSO_ECN   0x80u

struct hl_virtio_net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
};
_Static_assert(sizeof(struct hl_virtio_net_hdr) == 10, "virtio_net_hdr is 10 bytes");

/* With VERSION_1 or MRG_RXBUF: num_buffers says how many chains one packet used (rx). */
struct hl_virtio_net_hdr_v1 {
	struct hl_virtio_net_hdr hdr;
	uint16_t num_buffers;
};
_Static_assert(sizeof(struct hl_virtio_net_hdr_v1) == 12, "virtio_net_hdr_v1 is 12 bytes");

#ifdef __cplusplus
}
#endif
#endif
