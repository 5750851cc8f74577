/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A VXLAN tunnel endpoint (RFC 7348) to one remote or a few, over the host kernel's
 * IPv4 stack: Ethernet frames from the switch leave as UDP datagrams to
 * remote:dstport with an 8-byte VXLAN header carrying the port's VNI, and
 * datagrams arriving on dstport from the remote with that VNI come back as
 * frames.
 *
 * Underlay: receive is a UDP socket bound to local:dstport, read with
 * recvmmsg straight into pool buffers; transmit is a raw IPv4 socket
 * written with sendmmsg, so that each datagram's UDP source port can carry
 * a hash of the inner flow (a UDP socket's source port is its bound port),
 * which is what spreads tunnel traffic over the underlay's multipath and
 * the receiver's queues. The outer IPv4, UDP and VXLAN headers are built
 * once per port and patched per frame (lengths, IP id and checksum, UDP
 * source port); the UDP checksum is 0, as RFC 7348 allows for IPv4. The
 * kernel routes the datagrams and resolves the next hop.
 *
 * Everything that arrives is hostile: a datagram too short for the VXLAN
 * header, without its I flag, with another VNI, from another address, or
 * whose inner frame is a runt or larger than the port's MTU is counted by
 * reason and dropped; its buffer is reused.
 *
 * Buffers: the port keeps up to one burst of empty buffers of the bufpool
 * it receives into between polls (refilled as frames are handed over), and
 * frees them when it is closed.
 *
 * Threads: receive and transmit may run on two threads; each direction on
 * one thread at a time, with its own counters. open/close run while
 * neither is in use.
 */
#ifndef HUGELINK_VXLAN_PORT_H
#define HUGELINK_VXLAN_PORT_H

#include <stdint.h>

#include <hugelink/buf.h>
#include <hugelink/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HL_VXLAN_PORT_DEFAULT 4789u /* the IANA port */
/* Inner IP MTU when none is given: a 1500-byte underlay less the 50 bytes of outer headers. */
#define HL_VXLAN_MTU_DEFAULT 1450u
#define HL_VXLAN_MTU_MIN 68u
/* Outer IPv4 (20) + UDP (8) + VXLAN (8): what a frame costs on the underlay beyond itself. */
#define HL_VXLAN_OUTER_LEN 36u
/* Transmit: chains of more segments than this are refused (tx_errors). */
#define HL_VXLAN_MAX_SEGS 16u
#define HL_VXLAN_BURST 32u

#define HL_VXLAN_MAX_REMOTES 8u
#define HL_VXLAN_LEARN_SLOTS 1024u /* inner MACs the port remembers a remote for (several remotes) */
#define HL_VXLAN_LEARN_AGE_S 300u  /* and for how long without a frame from them */

struct hl_vxlan_params {
	/*
	 * IPv4 addresses of the far tunnel ends, network order, unicast, no
	 * two alike; nremote 0 means 1. With several, frames for an inner MAC
	 * learned behind one remote go to it, all others (broadcast,
	 * multicast, unknown or aged out) to every remote: flood and learn.
	 */
	uint32_t remote[HL_VXLAN_MAX_REMOTES];
	unsigned nremote;
	uint32_t local;   /* source and bound address, network order; 0: any, the kernel picks */
	uint32_t vni;     /* 0 .. 2^24-1 */
	uint16_t dstport; /* UDP port both ends listen on, host order; 0: HL_VXLAN_PORT_DEFAULT */
	uint16_t mtu;     /* inner IP MTU, both ways; 0: HL_VXLAN_MTU_DEFAULT */
};

/* Why a datagram or frame was dropped; names are what `hlctl stats` shows. */
enum hl_vxlan_drop {
	HL_VXLAN_RX_TRUNCATED,      /* shorter than the VXLAN header */
	HL_VXLAN_RX_BAD_FLAGS,      /* the I flag (a valid VNI) is not set */
	HL_VXLAN_RX_WRONG_VNI,      /* another VNI than the port's */
	HL_VXLAN_RX_UNKNOWN_REMOTE, /* from an address that is not a remote */
	HL_VXLAN_RX_INNER_RUNT,     /* inner frame shorter than an Ethernet header */
	HL_VXLAN_RX_INNER_TOO_BIG,  /* inner frame beyond the MTU (or beyond a buffer) */
	HL_VXLAN_RX_NO_BUF,         /* no buffer to receive into: read and dropped */
	HL_VXLAN_TX_TOO_BIG,        /* a frame from the switch beyond the MTU */
	HL_VXLAN_TX_ERRORS,         /* malformed chains, datagrams the kernel refused */
	HL_VXLAN_DROP_MAX
};
/* A short stable name ("wrong_vni") for counters; "?" out of range. */
const char *hl_vxlan_drop_name(enum hl_vxlan_drop d);

struct hl_vxlan_stats {
	uint64_t rx_packets, rx_bytes; /* inner frames handed to the caller, their bytes */
	uint64_t tx_packets, tx_bytes; /* inner frames sent, their bytes */
	uint64_t tx_datagrams;         /* datagrams: more than frames where frames were flooded */
	uint64_t drops[HL_VXLAN_DROP_MAX];
	uint64_t socket_drops; /* datagrams the kernel dropped at the receive socket (its buffer was full) */
};

struct hl_vxlan_port;

/*
 * Open the sockets and build the outer headers. -EADDRINUSE when something
 * else (another port, the kernel's own vxlan device) holds local:dstport,
 * -EPERM without CAP_NET_RAW, -EINVAL for bad parameters (reason in
 * hl_last_error()). On failure nothing is left open.
 */
int hl_vxlan_port_open(const struct hl_vxlan_params *prm, struct hl_vxlan_port **out);
/* Close the sockets and free the buffers it holds. NULL is fine. */
void hl_vxlan_port_close(struct hl_vxlan_port *vx);

/*
 * Receive up to n (at most HL_VXLAN_BURST) inner frames into buffers of bp,
 * which must be the same bufpool every call; the caller owns what is
 * returned. Returns how many frames are in pkts.
 */
uint16_t hl_vxlan_rx_burst(struct hl_vxlan_port *vx, struct hl_bufpool *bp, struct hl_buf **pkts, uint16_t n);

/*
 * Encapsulate and send up to n frames (any chain of up to HL_VXLAN_MAX_SEGS
 * segments) in one sendmmsg where the kernel takes them all. Stops when the
 * socket's queue is full; a frame beyond the MTU or malformed is counted and
 * skipped. Returns how many were sent and adds their inner bytes to *bytes;
 * the caller still owns (and frees) all n buffers: the kernel copied them.
 */
uint16_t hl_vxlan_tx_burst(struct hl_vxlan_port *vx, struct hl_buf **pkts, uint16_t n, uint64_t *bytes);

/* The UDP source port a frame is sent from: 49152..65535, from a hash of its flow (MACs, IP addresses, ports). */
uint16_t hl_vxlan_flow_port(const struct hl_buf *pkt);

/* Control thread, about once a second: forget MACs not heard from for HL_VXLAN_LEARN_AGE_S. */
void hl_vxlan_port_age(struct hl_vxlan_port *vx);

/* The receive socket, to poll() for POLLIN. */
int hl_vxlan_port_fd(const struct hl_vxlan_port *vx);
/* The parameters in effect (defaults filled in). */
void hl_vxlan_port_params(const struct hl_vxlan_port *vx, struct hl_vxlan_params *prm);
/* Counters, safe to read from any thread while the port runs. */
void hl_vxlan_port_stats(const struct hl_vxlan_port *vx, struct hl_vxlan_stats *st);

#ifdef __cplusplus
}
#endif
#endif
