/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared-memory ("shm") ports, switch side: a peer maps the switch's whole
 * pool (or, for an isolated port, a pool of the port's own), and packets
 * move between them as descriptors (pool offsets), never as bytes. The
 * wire format, its ownership rules and its crash story are in shm_abi.h;
 * the peer's API is shm_peer.h; the switch's adapter is in sw_ports.h.
 *
 * Frames are one buffer or, where the peer accepted HL_SHM_F_CHAIN, a chain
 * of them, and may carry offload metadata (HL_SHM_F_OFFLOAD) that the
 * switch checks like a guest's virtio-net header (offload.h).
 *
 * A packet on rx is the peer's until it comes back on tx or done, and
 * the switch keeps the truth of who holds which buffer to itself: nothing
 * a peer writes in the pool makes it accept a buffer that is not the
 * peer's, or use one twice. A switch killed at any point leaves the pool
 * recoverable (hl_shm_recover) with its peers still attached.
 */
#ifndef HUGELINK_SHM_PORT_H
#define HUGELINK_SHM_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hugelink/buf.h>
#include <hugelink/common.h>
#include <hugelink/offload.h>
#include <hugelink/pool.h>
#include <hugelink/shm_abi.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Threads: rx_burst, reclaim, refill and arm/disarm run on one thread at a
 * time (the port's poller); tx_burst on one thread at a time, which may be
 * another (the switch serialises it with the port's tx lock). Ports of one
 * pool may be served by different threads. create, find, claim, destroy
 * and recover are for the control thread; destroy only once no burst runs
 * on that port.
 */

struct hl_shm_port;

struct hl_shm_port_stats {
	struct hl_shm_counters c;
	uint64_t zcopy;        /* packets handed to the peer without a copy */
	uint64_t copied;       /* packets copied into a fresh buffer first */
	uint64_t tx_full;      /* packets for the peer that found rx full */
	uint64_t too_big;      /* packets larger than the peer takes (a room, without chains) */
	uint64_t no_buf;       /* copies or fill buffers that found no buffer */
	uint64_t ol_unfit;     /* packets needing an offload the peer does not take (not sent) */
};

/*
 * Create port `name` in a pool whose owner this process is, serving buffers
 * of bp (which must live in that pool). ring_size: slots per ring, a power
 * of two in HL_SHM_RING_MIN..HL_SHM_RING_MAX (0: 256). The first port of a
 * pool reserves the owner table; the last one destroyed frees it.
 * -EEXIST for a taken name, -EBUSY when the pool's owner table serves
 * another bufpool.
 */
int hl_shm_port_create(struct hl_pool *pool, struct hl_bufpool *bp, const char *name,
		       unsigned ring_size, struct hl_shm_port **out);

/*
 * Find a port this process created or recovered (hl_shm_recover) by name:
 * the handle is shared, not a new reference. -ENOENT.
 */
int hl_shm_port_find(struct hl_pool *pool, const char *name, struct hl_shm_port **out);

/*
 * Take a port hl_shm_recover re-attached, to serve it (once: -EBUSY for a
 * port already served, -ENOENT for none of that name).
 */
int hl_shm_port_claim(struct hl_pool *pool, const char *name, struct hl_shm_port **out);

/*
 * The names of ports hl_shm_recover re-attached that nobody has claimed
 * yet (up to max, each HL_ZONE_NAME_LEN bytes); returns how many. A switch
 * that took a pool over without its port list serves them by these names.
 */
unsigned hl_shm_port_unclaimed(struct hl_pool *pool, char (*names)[HL_ZONE_NAME_LEN], unsigned max);

/*
 * Remove the port: its zone is freed and every buffer its peer held is taken
 * back. The peer must be gone (or never touch the pool again).
 */
void hl_shm_port_destroy(struct hl_shm_port *p);

/*
 * Receive up to n frames from the peer's tx ring as buffers of the port's
 * bufpool (refcnt 1, the caller's; a chain where the peer sent several
 * buffers; HL_BUF_F_OFFLOAD and b->ol where it sent offload metadata that
 * checked out), after taking back what the peer put on done; then top the
 * fill ring up. Refused frames are counted, by reason.
 */
unsigned hl_shm_port_rx_burst(struct hl_shm_port *p, struct hl_buf **pkts, unsigned n);

/*
 * Put up to n packets on the peer's rx ring; returns how many (k) went.
 * The port takes over the caller's reference on each packet that went:
 * buffers of the port's bufpool that no one else holds (refcnt 1, not
 * external, data at HL_BUF_HEADROOM; one, or a chain of them where the
 * peer takes chains) go as they are, their references now the peer's (a
 * chain is unlinked into its segments); anything else is copied into fresh
 * buffers and the original freed. Offload metadata goes along where the
 * peer takes it; where it does not, a frame that needs it is not sent
 * (ol_unfit: the switch's hl_ol_prepare makes frames fit, so this means
 * the peer changed its features meanwhile) and one that is only verified
 * goes plain. The packets that did not go (ring full, larger than the peer
 * takes: counted too_big, no buffer for a copy) end up in pkts[k..n), in
 * their order, still the caller's. At most 64 packets per call.
 */
unsigned hl_shm_port_tx_burst(struct hl_shm_port *p, struct hl_buf **pkts, unsigned n);

/*
 * Control thread, every few milliseconds: has the peer died (it takes
 * HL_SHM_F_BEAT and its beat stood still for HL_SHM_BEAT_DEAD_MS) or left
 * (detached since the port was last reset)? Then the port wants
 * hl_shm_port_reset. Never for a peer that does not beat.
 */
bool hl_shm_port_peer_gone(struct hl_shm_port *p, uint64_t now_ns);

/*
 * Take the port back from its peer, dead, gone or alive (shm_abi.h,
 * "Liveness"): every buffer it held is free again, the rings start empty,
 * and the next peer attaches as to a new port; a live one must attach
 * again. Counted in resets and reclaimed; `why` goes to the log. Control
 * thread, while no burst runs on the port. -EBUSY during another reset.
 */
int hl_shm_port_reset(struct hl_shm_port *p, const char *why);

/* Take back buffers from done; post fresh ones on fill. Part of rx_burst. */
unsigned hl_shm_port_reclaim(struct hl_shm_port *p);
unsigned hl_shm_port_refill(struct hl_shm_port *p);

/* True when the peer has published packets the switch has not taken. */
bool hl_shm_port_pending(struct hl_shm_port *p);

/*
 * The doorbell: a FIFO next to the pool's record,
 * "<run_dir>/<pool>.shm.<port>.kick", that a peer attached through the
 * record writes a byte to after publishing on tx or done while the switch
 * has armed it (ctrl->kick_armed). The fd is readable when kicked (-1 when
 * the FIFO could not be made: the port then works by polling alone). arm
 * returns false if the peer published meanwhile (do not sleep); disarm
 * empties the FIFO. A peer mapped some other way (a BAR) never kicks, so a
 * sleeping switch notices it at its sleep bound.
 */
int hl_shm_port_kick_fd(const struct hl_shm_port *p);
bool hl_shm_port_arm(struct hl_shm_port *p);
void hl_shm_port_disarm(struct hl_shm_port *p);

/* The switch side's counters of one shm port. */
void hl_shm_port_stats(const struct hl_shm_port *p, struct hl_shm_port_stats *st);
/* Adds the checks of the peer's offload entries (receive side) to *ol. */
void hl_shm_port_ol_stats(const struct hl_shm_port *p, struct hl_ol_stats *ol);
/* The features in effect (HL_SHM_F_*): what the port offers and its peer accepts now. */
uint32_t hl_shm_port_features(const struct hl_shm_port *p);
/* The largest frame the peer takes, Ethernet header included: its room, or a chain's. */
uint32_t hl_shm_port_max_frame(const struct hl_shm_port *p);
/* Whether a peer says it is attached (and its pid). */
bool hl_shm_port_peer_attached(const struct hl_shm_port *p, uint32_t *pid);
const char *hl_shm_port_name(const struct hl_shm_port *p);
struct hl_bufpool *hl_shm_port_bufpool(const struct hl_shm_port *p);
uint32_t hl_shm_port_id(const struct hl_shm_port *p);
/* Buffers the owner table says this port's peer holds. */
unsigned hl_shm_port_peer_held(const struct hl_shm_port *p);
/* Owner-table census of a pool's shm ports: buffers per owner kind. */
int hl_shm_owner_census(struct hl_pool *pool, unsigned *free_or_switch, unsigned *peer);

/* ---- recovery ------------------------------------------------------------------ */

struct hl_shm_recover_report {
	unsigned ports;            /* port zones re-attached */
	unsigned kept;             /* buffers left with their peers */
	unsigned reclaimed;        /* buffers the dead switch held, free again */
	unsigned intents_committed; /* producer bursts found published: redone */
	unsigned intents_undone;    /* producer bursts not published: rolled back */
	unsigned intents_forward;   /* consumer bursts not published: rolled forward */
	unsigned bad_entries;       /* slots or owner words that made no sense */
};

/*
 * After the switch died: in a pool this process now owns (hl_pool_attach
 * with HL_POOL_F_OWNER), resolve every port's intents, adopt the bufpool
 * the owner table describes (cache_size as for hl_bufpool_create), and
 * re-attach every port (find them with hl_shm_port_find; hl_shm_port_claim
 * takes one to serve). Buffers the owner table gives a peer stay in use
 * with it; every other buffer (free, or the dead switch's: packets it had
 * in flight) is free again. Peers keep their mappings and see their rings
 * pause and resume. *bp_out is the adopted bufpool; the caller frees it
 * after destroying the ports.
 */
int hl_shm_recover(struct hl_pool *pool, unsigned cache_size, struct hl_bufpool **bp_out,
		   struct hl_shm_recover_report *rep);

#ifdef __cplusplus
}
#endif
#endif
