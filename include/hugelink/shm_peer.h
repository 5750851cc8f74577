/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shm ports, peer side: what a process, or a program in a guest that sees
 * the pool as a BAR, links to use one port of a switch's pool (format in
 * shm_abi.h, the switch side in shm_port.h).
 *
 * A peer owns a buffer from the moment rx_burst or tx_alloc hands it over
 * until tx_burst or release gives it back; it may write only the buffers
 * it owns. Everything the switch wrote is checked once, at attach, or as it
 * is read (every descriptor), so a broken switch or a hostile co-peer
 * cannot make the peer touch memory outside its mapping. One thread at a
 * time per peer handle.
 */
#ifndef HUGELINK_SHM_PEER_H
#define HUGELINK_SHM_PEER_H

#include <stddef.h>
#include <stdint.h>

#include <hugelink/shm_abi.h>
#include <hugelink/shm_ring.h>

#ifdef __cplusplus
extern "C" {
#endif

struct hl_shm_peer;

/* A packet as the peer sees it. desc identifies the buffer to the switch. */
struct hl_shm_pkt {
	void *data;
	uint32_t len;
	uint64_t desc;
};

struct hl_shm_peer_stats {
	uint64_t rx_packets, tx_packets, allocated, released;
	uint64_t kicks;       /* doorbell writes */
	uint64_t bad_desc;    /* descriptors from the switch outside the bufpool */
	uint64_t ring_broken; /* the switch's index was impossible */
};

/* Map the pool the record describes (no pagemap) and take port `port`. */
int hl_shm_attach(const char *record, const char *port, struct hl_shm_peer **out);

/*
 * Take port `port` of a pool already mapped whole at base (len bytes), e.g.
 * a PCI BAR; the pool's header is at offset 0. Offsets translate as base + off.
 * Such a peer has no doorbell (see hl_shm_port_kick_fd).
 */
int hl_shm_attach_mem(void *base, size_t len, const char *port, struct hl_shm_peer **out);

/* Stop using the port (buffers still held stay the peer's) and unmap. */
void hl_shm_detach(struct hl_shm_peer *peer);

/* Packets the switch sent; the peer owns them until it releases them. */
unsigned hl_shm_rx_burst(struct hl_shm_peer *peer, struct hl_shm_pkt *pkts, unsigned n);

/* Empty buffers from fill: data points at room for len bytes. */
unsigned hl_shm_tx_alloc(struct hl_shm_peer *peer, struct hl_shm_pkt *pkts, unsigned n);

/*
 * Send pkts[i] (a buffer the peer owns, from tx_alloc or rx: desc says which)
 * with pkts[i].len bytes; returns how many were queued (a prefix).
 */
unsigned hl_shm_tx_burst(struct hl_shm_peer *peer, const struct hl_shm_pkt *pkts, unsigned n);

/* Hand buffers back unused (received or allocated); returns how many (a prefix). */
unsigned hl_shm_release(struct hl_shm_peer *peer, const struct hl_shm_pkt *pkts, unsigned n);

void hl_shm_peer_stats(const struct hl_shm_peer *peer, struct hl_shm_peer_stats *st);
/* Largest packet a buffer holds. */
uint32_t hl_shm_peer_mtu(const struct hl_shm_peer *peer);
/* The peer's private view of one of its rings (tests drive it raw). */
struct hl_shm_ring *hl_shm_peer_ring(struct hl_shm_peer *peer, enum hl_shm_ring_id id);
/* The port's control block as this peer maps it. */
const struct hl_shm_ctrl *hl_shm_peer_ctrl(const struct hl_shm_peer *peer);

#ifdef __cplusplus
}
#endif
#endif
