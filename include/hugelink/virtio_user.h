/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A virtio-net device driven from user space over vhost-user, like DPDK's
 * virtio-user: the process owns its memory (a pool, shared whole with the
 * back-end as guest memory, guest-physical address = our virtual address),
 * lays out one receive and one transmit ring in it, and sends and receives
 * bursts of pool buffers. Tests, benchmarks and container applications use
 * it to reach any vhost-user back-end (hugelink's, DPDK's, OVS's).
 *
 * Buffers on the rings are ours until the back-end returns them on the used
 * ring: transmit buffers are freed then (lazily, at the next transmit burst
 * or at close); receive buffers are handed to the caller and replaced.
 * One thread drives both rings.
 */
#ifndef HUGELINK_VIRTIO_USER_H
#define HUGELINK_VIRTIO_USER_H

#include <stdbool.h>
#include <stdint.h>

#include <hugelink/buf.h>
#include <hugelink/vhost_frontend.h>
#include <hugelink/vhost_port.h>
#include <hugelink/vring_driver.h>
#include <hugelink/vring_packed_driver.h>

#ifdef __cplusplus
extern "C" {
#endif

struct hl_vuser_params {
	const char *path;       /* the back-end's socket */
	bool server;            /* listen for the back-end instead of connecting */
	int timeout_ms;         /* for connect/accept; 0: 5000 */
	struct hl_pool *pool;   /* owned by the caller; we reserve ring zones in it */
	struct hl_bufpool *bp;  /* buffers from that pool */
	unsigned ring_size;     /* 0: 256 */
	/*
	 * 0: VERSION_1 | MRG_RXBUF | EVENT_IDX. With offload bits (those of
	 * HL_VHOST_OFFLOAD_FEATURES the back-end grants) frames with offload
	 * metadata go out with it in their header, and received headers are
	 * checked into the frames' metadata. With VIRTIO_F_RING_PACKED both
	 * queues are packed rings if the back-end grants it, split otherwise.
	 */
	uint64_t features;
	const char *name;       /* zone name prefix, unique per pool; NULL: "vu" */
};

struct hl_vuser_stats {
	uint64_t tx_packets, tx_bytes, tx_full; /* tx_full: not sent, ring full */
	uint64_t rx_packets, rx_bytes, rx_bad;  /* rx_bad: malformed completion, or a header refused */
	uint64_t kicks;
	struct hl_ol_stats ol;                  /* receive: the back-end's headers checked */
};

struct hl_vuser {
	struct hl_vhost_frontend fe;
	struct hl_pool *pool;
	struct hl_bufpool *bp;
	bool packed;                       /* the queues are packed rings (prx, ptx), else split (rx, tx) */
	struct hl_vring_driver rx, tx;
	struct hl_vring_packed_driver prx, ptx;
	int kick[2], call[2];
	uint16_t hdr_len;
	bool mrg_rxbuf;
	uint32_t ol_tx, ol_rx; /* negotiated offloads (HL_OL_CAP_*): what we may send, what we take */
	char zone[2][32];
	struct hl_vuser_stats stats;
};

/* Connect a virtio-user front-end to a back-end's socket and set its queues up. */
int hl_vuser_open(struct hl_vuser *u, const struct hl_vuser_params *p);

/* Send up to n packets (ownership passes on success). Returns how many were queued. */
uint16_t hl_vuser_tx_burst(struct hl_vuser *u, struct hl_buf **pkts, uint16_t n);

/* Receive up to n packets into pkts (the caller owns them). */
uint16_t hl_vuser_rx_burst(struct hl_vuser *u, struct hl_buf **pkts, uint16_t n);

/* Reclaim transmit buffers the back-end has finished with; returns how many. */
unsigned hl_vuser_tx_reclaim(struct hl_vuser *u);

/* Stop both queues, free every buffer still on the rings, disconnect. */
void hl_vuser_close(struct hl_vuser *u);

#ifdef __cplusplus
}
#endif
#endif
