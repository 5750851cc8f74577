/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shm ports, peer side: what a process, or a program in a guest that sees
 * the pool as a BAR, links to use one port of a switch's pool (format in
 * shm_abi.h, the switch side in shm_port.h).
 *
 * A peer owns a buffer from the moment rx_burst or tx_alloc hands it over
 * until tx_burst or release gives it back; it may write only the buffers
 * it owns. Frames are arrays of struct hl_shm_pkt, one entry per buffer:
 * a plain frame is one entry, a chain (HL_SHM_F_CHAIN) consecutive entries
 * with HL_SHM_PKT_MORE on all but the last, and offload metadata
 * (HL_SHM_F_OFFLOAD) rides in the first entry. A burst never splits a
 * frame. Features are asked for at attach; without them the switch sends
 * plain frames only (it copies or segments for the peer) and refuses the
 * peer's chains and offload metadata. Everything the switch wrote is checked once, at attach, or as it
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

#define HL_SHM_PKT_MORE 0x1u /* the next entry holds the next segment of this frame */
#define HL_SHM_PKT_OL 0x2u   /* first entry of a frame: ol describes the frame */

/* One buffer of a frame as the peer sees it. desc identifies the buffer to the switch. */
struct hl_shm_pkt {
	void *data;       /* this segment's first byte */
	uint32_t len;     /* its bytes */
	uint16_t flags;   /* HL_SHM_PKT_*: set by rx_burst; the caller's for tx_burst */
	uint16_t nsegs;   /* rx_burst, first entry: the frame's segments (1: a plain frame) */
	uint64_t desc;
	uint32_t pkt_len; /* rx_burst, first entry: the frame's bytes */
	uint32_t reserved;
	struct hl_shm_ol ol; /* with HL_SHM_PKT_OL */
};

struct hl_shm_peer_stats {
	uint64_t rx_packets, tx_packets, allocated, released;
	uint64_t kicks;       /* doorbell writes */
	uint64_t bad_desc;    /* descriptors from the switch outside the bufpool, or frames that break the rules */
	uint64_t ring_broken; /* the switch's index was impossible */
};

/*
 * An attach option, beside the HL_SHM_F_* asked for: where the port's last
 * peer died, take its claim and its rings over as they are (frames waiting
 * on rx included) instead of waiting for the switch to reset the port; the
 * buffers the dead peer held off the rings stay with the port until its
 * next reset.
 */
#define HL_SHM_ATTACH_TAKEOVER 0x80000000u

/*
 * Map the pool the record describes (no pagemap) and take port `port`,
 * asking for features (HL_SHM_F_*; in effect: those the switch offers too,
 * hl_shm_peer_features). -EPROTONOSUPPORT for a switch of another shm
 * format.
 */
int hl_shm_attach_features(const char *record, const char *port, uint32_t features, struct hl_shm_peer **out);
/* The same with no features: plain frames both ways. */
int hl_shm_attach(const char *record, const char *port, struct hl_shm_peer **out);

/*
 * Take port `port` of a pool already mapped whole at base (len bytes), e.g.
 * a PCI BAR; the pool's header is at offset 0. Offsets translate as base + off.
 * Such a peer has no doorbell (see hl_shm_port_kick_fd).
 */
int hl_shm_attach_mem_features(void *base, size_t len, const char *port, uint32_t features,
			       struct hl_shm_peer **out);
int hl_shm_attach_mem(void *base, size_t len, const char *port, struct hl_shm_peer **out);

/* Stop using the port (buffers still held stay the peer's) and unmap. */
void hl_shm_detach(struct hl_shm_peer *peer);

/*
 * Frames the switch sent, whole, as up to n entries; returns the entries
 * filled. The peer owns each buffer until it releases it. With chains, n
 * below HL_SHM_SEGS_MAX may leave a long frame waiting for a larger array.
 */
unsigned hl_shm_rx_burst(struct hl_shm_peer *peer, struct hl_shm_pkt *pkts, unsigned n);

/* Empty buffers from fill: data points at room for len bytes; flags 0. */
unsigned hl_shm_tx_alloc(struct hl_shm_peer *peer, struct hl_shm_pkt *pkts, unsigned n);

/*
 * Send frames: each entry a buffer the peer owns (from tx_alloc or rx: desc
 * says which) with len bytes, flags as above (nsegs and pkt_len are
 * counted here). Returns the entries queued, a prefix of whole frames: it
 * stops at a frame that does not fit the ring, breaks the rules (a
 * descriptor that is not a buffer, an empty segment, a feature not in
 * effect, more than HL_SHM_SEGS_MAX segments or HL_SHM_FRAME_MAX bytes) or
 * ends without its last entry.
 */
unsigned hl_shm_tx_burst(struct hl_shm_peer *peer, const struct hl_shm_pkt *pkts, unsigned n);

/* Hand buffers back unused (received or allocated), one per entry whatever its flags; a prefix. */
unsigned hl_shm_release(struct hl_shm_peer *peer, const struct hl_shm_pkt *pkts, unsigned n);

/*
 * Tell the switch this peer lives (HL_SHM_F_BEAT, which every peer of this
 * library accepts where the switch offers it). rx_burst and tx_burst beat
 * by themselves; a peer that may go HL_SHM_BEAT_MS without calling either
 * calls this, or the switch takes it for dead after HL_SHM_BEAT_DEAD_MS and
 * resets the port, taking its buffers back.
 */
void hl_shm_peer_beat(struct hl_shm_peer *peer);

/* The peer's own counters (what it sent, received and refused). */
void hl_shm_peer_stats(const struct hl_shm_peer *peer, struct hl_shm_peer_stats *st);
/* Largest packet a buffer holds. */
uint32_t hl_shm_peer_mtu(const struct hl_shm_peer *peer);
/* The features in effect (HL_SHM_F_*): asked for at attach and offered by the switch. */
uint32_t hl_shm_peer_features(const struct hl_shm_peer *peer);
/* The peer's private view of one of its rings (tests drive it raw). */
struct hl_shm_ring *hl_shm_peer_ring(struct hl_shm_peer *peer, enum hl_shm_ring_id id);
/* The port's control block as this peer maps it. */
const struct hl_shm_ctrl *hl_shm_peer_ctrl(const struct hl_shm_peer *peer);

#ifdef __cplusplus
}
#endif
#endif
