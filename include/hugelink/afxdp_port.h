/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * An AF_XDP port: a network interface's queues as a switch port, through
 * one XSK socket per queue, without the kernel's network stack.
 *
 * Memory: each queue's UMEM (its frames: 2048 bytes each, the kernel's
 * smallest chunk) lies in a zone of hugelink's pool, "x:<name>", so it is
 * hugepage memory the pool accounts for. The switch's own buffers are
 * 1920-byte rooms, below that chunk size, so they cannot be UMEM frames:
 * a frame is copied once each way, from the UMEM frame the kernel filled
 * into a switch buffer on receive, from the switch's buffer (or a guest's
 * memory) into a free UMEM frame on transmit. With a driver that does
 * zero-copy (--zerocopy on|auto) that copy is the only one between the NIC
 * and the switch; in copy mode (veth, generic XDP) the kernel copies too.
 *
 * UMEM frames never leave the port, so none can be lost: each is, at any
 * time, free (on the port's stack), in the fill ring (the kernel's to
 * receive into), or in the transmit ring until the completion ring gives
 * it back. A state per frame checks every address the kernel returns (a
 * frame it was not given is counted, never reused), and the counts are in
 * the stats.
 *
 * The XDP program is hugelink's own, a few instructions that redirect a
 * queue's frames to its socket through an XSKMAP (and pass them to the
 * kernel's stack when no socket is there). It is attached through a BPF
 * link, so it goes when the port is closed or the process dies, and is
 * never put over another program on the interface.
 *
 * Wakeups: sockets are bound with XDP_USE_NEED_WAKEUP; the kernel is
 * kicked (recvfrom for the fill ring, sendto for transmit) only when it
 * says so. The sockets' fds are what a sleeping worker waits on.
 *
 * Threads: receive and transmit may run on two threads; each direction on
 * one thread at a time. Transmit reclaims completions; receive kicks a
 * transmit ring the kernel has left with frames in it.
 */
#ifndef HUGELINK_AFXDP_PORT_H
#define HUGELINK_AFXDP_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include <hugelink/buf.h>
#include <hugelink/common.h>
#include <hugelink/pool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HL_AFXDP_MAX_QUEUES 16u
#define HL_AFXDP_FRAME_SIZE 2048u
#define HL_AFXDP_FRAMES 2048u     /* per queue: fill ring, receive ring and transmit ring share them */
#define HL_AFXDP_RING_SIZE 1024u  /* each ring */
#define HL_AFXDP_IFNAMSIZ 16

enum hl_afxdp_mode { HL_AFXDP_MODE_NATIVE, HL_AFXDP_MODE_GENERIC };
enum hl_afxdp_zc { HL_AFXDP_ZC_AUTO, HL_AFXDP_ZC_ON, HL_AFXDP_ZC_OFF };

struct hl_afxdp_params {
	const char *name;     /* the port's, for the UMEM zone's name */
	const char *ifname;
	unsigned queues;      /* 0: 1; queues 0..queues-1 of the interface */
	enum hl_afxdp_mode mode;
	enum hl_afxdp_zc zerocopy;
};

struct hl_afxdp_stats {
	uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
	uint64_t rx_no_buf;    /* no switch buffer: the frame went back to the fill ring */
	uint64_t rx_bad_desc;  /* an address or length from the kernel outside what it was given */
	uint64_t tx_too_big;   /* beyond a UMEM frame or the interface's MTU */
	uint64_t tx_no_frame;  /* every UMEM frame in flight: the caller's shortfall */
	uint64_t tx_errors;    /* malformed chains, or the kernel refused a kick */
	uint64_t kicks;        /* wakeups the kernel asked for */
	/* what the kernel counted on the sockets (XDP_STATISTICS) */
	uint64_t kern_rx_dropped, kern_rx_ring_full, kern_fill_empty, kern_invalid_descs;
	/* UMEM frames, all queues: where each is (fill: the fill or receive ring, or waiting to go back) */
	uint32_t frames, frames_free, frames_fill, frames_tx;
	bool zerocopy;         /* the driver took XDP_ZEROCOPY */
};

struct hl_afxdp_port;

/*
 * Open the sockets, their UMEM (a zone of pool, reused when a killed
 * process left it) and the XDP program. Errors say which of kernel,
 * driver or privileges refused: -ENODEV (no such interface), -EINVAL (more
 * queues than it has), -EPERM (needs root: CAP_NET_RAW, CAP_BPF and
 * CAP_NET_ADMIN), -EOPNOTSUPP (the driver has no native XDP or no
 * zero-copy; try --mode generic or --zerocopy off), -EBUSY (another XDP
 * program is on the interface), -ENOTSUP (built without libxdp).
 */
int hl_afxdp_port_open(struct hl_pool *pool, const struct hl_afxdp_params *prm, struct hl_afxdp_port **out);
/* Detach the program, close the sockets, free the zone. */
void hl_afxdp_port_close(struct hl_afxdp_port *x);

/* Up to n frames from the queues into fresh buffers of bp (copied out of the UMEM). */
uint16_t hl_afxdp_rx_burst(struct hl_afxdp_port *x, struct hl_bufpool *bp, struct hl_buf **pkts, uint16_t n);
/*
 * Copy up to n frames into UMEM frames and send them on queue 0; returns
 * how many went, their bytes added to *bytes. The caller still owns (and
 * frees) all n buffers.
 */
uint16_t hl_afxdp_tx_burst(struct hl_afxdp_port *x, struct hl_buf **pkts, uint16_t n, uint64_t *bytes);
/* Whether frames wait in a receive ring (before a worker sleeps). */
bool hl_afxdp_rx_pending(const struct hl_afxdp_port *x);

/* The socket fds a sleeping worker waits on: up to max, returns how many. */
unsigned hl_afxdp_port_fds(const struct hl_afxdp_port *x, int *fds, unsigned max);
/* The largest frame it sends: the interface's MTU + 14, at most a UMEM frame. */
uint32_t hl_afxdp_max_frame(const struct hl_afxdp_port *x);
void hl_afxdp_port_params(const struct hl_afxdp_port *x, struct hl_afxdp_params *prm);
void hl_afxdp_port_stats(const struct hl_afxdp_port *x, struct hl_afxdp_stats *st);

#ifdef __cplusplus
}
#endif
#endif
