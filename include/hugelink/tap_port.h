/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A Linux TAP device as a switch port, so the host's own network stack can
 * reach the switch: frames the kernel sends out of the interface are read
 * with hl_tap_rx_burst(), frames written with hl_tap_tx_burst() arrive at the
 * kernel as if received on it. Ethernet frames (IFF_TAP | IFF_NO_PI), one
 * read or write per frame, on a nonblocking fd.
 *
 * With HL_TAP_F_OFFLOAD each frame travels behind a virtio-net header
 * (IFF_VNET_HDR), and the kernel is told we take partial checksums and TCP
 * frames of up to 64 KiB (TUNSETOFFLOAD): host-kernel TCP then crosses the
 * switch as big frames, and frames we write may ask the kernel to finish
 * their checksum or segment them. The kernel's headers are checked like a
 * guest's (hl_ol_from_vnet), though its DATA_VALID is believed.
 *
 * The interface exists while the port is open (it is not made persistent)
 * and disappears when the port is closed.
 *
 * Threads: receive and transmit may run on two different threads; each
 * direction on one thread at a time, as are its stats fields. open/close
 * run while neither is in use.
 */
#ifndef HUGELINK_TAP_PORT_H
#define HUGELINK_TAP_PORT_H

#include <stdint.h>

#include <hugelink/buf.h>
#include <hugelink/common.h>
#include <hugelink/offload.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HL_TAP_IFNAMSIZ 16
/* The longest frame the kernel can hand a TAP: 65535-byte MTU, Ethernet and VLAN headers. */
#define HL_TAP_MAX_FRAME (65535u + 14u + 4u)
#define HL_TAP_MIN_FRAME 14u /* an Ethernet header */
/* Transmit: chains of more segments than this are refused (tx_errors). */
#define HL_TAP_MAX_SEGS 64u

struct hl_tap_stats {
	uint64_t rx_packets, rx_bytes;
	uint64_t tx_packets, tx_bytes;
	uint64_t rx_drop_nobuf;   /* no buffer for (part of) a frame: read and dropped */
	uint64_t rx_drop_too_big; /* longer than HL_TAP_MAX_FRAME: cannot come from a sane kernel */
	uint64_t tx_errors;       /* frames refused by the kernel, or malformed chains */
	uint64_t rx_drop_runt;    /* shorter than an Ethernet header */
	uint64_t rx_drop_bad_offload; /* a virtio-net header refused (reasons in ol.refused) */
	struct hl_ol_stats ol;    /* receive: the kernel's headers checked */
};

/* hl_tap_port_open_flags() */
#define HL_TAP_F_OFFLOAD 0x1u /* virtio-net headers, checksum and TSO both ways */

/* What a TAP port with HL_TAP_F_OFFLOAD takes from the switch, and believes of the kernel. */
#define HL_TAP_OL_CAPS (HL_OL_CAP_CSUM | HL_OL_CAP_TSO4 | HL_OL_CAP_TSO6 | HL_OL_CAP_ECN)

struct hl_tap_port {
	int fd;                       /* -1 while closed */
	char ifname[HL_TAP_IFNAMSIZ]; /* the name the kernel gave */
	unsigned ifindex;
	struct hl_tap_stats stats;
	uint8_t *rx_spill;            /* receive: the part of a frame beyond the first buffer */
	unsigned flags;               /* HL_TAP_F_* */
};

/*
 * Create the interface and bring its link up. ifname NULL or "": the kernel
 * picks "hl<N>"; a name with "%d" is a pattern the kernel fills in; any
 * other name is taken as is (-EBUSY if an interface of that name exists and
 * is not a free TAP). The fd is nonblocking and close-on-exec. Needs
 * CAP_NET_ADMIN. On failure t->fd is -1 and nothing is left behind.
 */
int hl_tap_port_open(struct hl_tap_port *t, const char *ifname);
/* The same with HL_TAP_F_* flags; -EOPNOTSUPP when the kernel refuses the offloads. */
int hl_tap_port_open_flags(struct hl_tap_port *t, const char *ifname, unsigned flags);

/* Close the fd (the interface disappears with it). Idempotent. */
void hl_tap_port_close(struct hl_tap_port *t);

/*
 * Read up to n frames the kernel sent, each into a buffer from bp (the
 * caller owns what is returned). A frame longer than one buffer's room is
 * chained over several buffers. A frame that cannot be stored (bp is out of
 * buffers: rx_drop_nobuf) or is malformed (rx_drop_runt, rx_drop_too_big) is
 * still read from the device and dropped, so the device never stays readable
 * with frames nobody takes. Returns how many frames were stored in pkts.
 */
uint16_t hl_tap_rx_burst(struct hl_tap_port *t, struct hl_bufpool *bp, struct hl_buf **pkts,
			 uint16_t n);

/*
 * Write up to n frames (a chain is gathered into one frame with writev).
 * Stops when the kernel's queue is full; a frame the kernel refuses or a
 * malformed chain (empty, too long, more than HL_TAP_MAX_SEGS segments, a
 * segment outside its buffer) is counted in tx_errors and skipped. Returns
 * how many frames were written; the caller still owns (and frees) all n
 * buffers, as with hl_vhost_enqueue_burst().
 */
uint16_t hl_tap_tx_burst(struct hl_tap_port *t, struct hl_buf **pkts, uint16_t n);

/* The fd to poll() for POLLIN when receive is idle (-1 while closed). */
int hl_tap_port_fd(const struct hl_tap_port *t);

#ifdef __cplusplus
}
#endif
#endif
