/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The wire format of shm ports: every structure the switch and its peers
 * (processes that map the pool, guests that see it as an ivshmem BAR) read
 * or write in shared memory, and nothing else. It includes no other
 * hugelink header, so a peer can be written against this file alone; the
 * zones named here are found through the pool's own header (pool_meta.h).
 *
 * Invariants:
 *   - nothing here is a pointer: descriptors and bp_zone_off are offsets
 *     from the start of the pool, ring_off and words_off from the start of
 *     their zone, so every address space resolves them as its base + off;
 *   - every field sits at an offset asserted below, in the byte order of
 *     the one machine both sides run on; a 32-bit peer (where uint64_t
 *     aligns to 4) sees the same layout, as every 64-bit field is at a
 *     multiple of 8;
 *   - HL_SHM_VERSION covers the control block and the rings: a new size,
 *     offset or meaning of any of their fields is a new version, which both
 *     sides refuse to mix. The owner table, which only switches read (the
 *     next one after a crash), has a version of its own,
 *     HL_SHM_OWNER_VERSION, so a change of ring format does not stop a
 *     switch from recovering the buffers an older one left with peers.
 *
 * Version 2 (this one) against 1: a frame may span several buffers (flag
 * MORE in its descriptors) and carry offload metadata (flag OL, and a
 * struct hl_shm_ol beside the ring's slots), each a feature the switch
 * offers and a peer accepts (HL_SHM_F_*); two counters more, and a larger
 * control block. Descriptors stay 64 bits, so a ring of plain frames costs
 * both sides exactly what it did.
 *
 * Pool layout, per switch pool:
 *   "b:<bp>"     the switch's packet buffers (bufpool bp);
 *   "shm-owner"  struct hl_shm_owner_hdr, then one 32-bit owner word per
 *                buffer of that bufpool (HL_SHM_OWNER_*);
 *   "shm:<port>" struct hl_shm_ctrl, then four rings (HL_SHM_RING_*).
 *
 * Buffers: buffer i of the bufpool has its data start at
 *   bp_zone_off + (i / bp_per_page) * bp_page_size
 *               + (i % bp_per_page) * bp_stride + headroom
 * (fields of struct hl_shm_ctrl) and holds bp_room - headroom bytes from
 * there. Every segment of a frame begins at a data start; a frame is one
 * buffer, or with HL_SHM_F_CHAIN up to HL_SHM_SEGS_MAX of them.
 *
 * Ownership: a peer owns a buffer from the moment it takes it from rx or
 * fill until it publishes it on tx or done; everything else is the
 * switch's. The owner table says PEER(port) from just before the switch
 * publishes the buffer on rx or fill until the switch takes it off tx or
 * done, so it covers the peer's interval.
 *
 * Trust: every byte of the pool is writable by every peer ("shared" ports
 * map the whole pool; an isolated port's pool holds only that port), so
 * the switch treats whatever a peer can reach as input. It never follows a
 * pointer out of shared memory, bounds every index it reads there, checks
 * every descriptor a peer wrote against the bufpool's geometry and its own
 * private copy of the owner table before touching the buffer, and reads
 * back nothing else of what it wrote itself but at recovery, which checks
 * again every field it reads. So a peer that scribbles over this layout damages
 * packets (which it could do anyway by writing buffer bytes), never the
 * switch, and never makes it use a buffer twice. Each structure below says
 * what its fields let a peer do.
 */
#ifndef HUGELINK_SHM_ABI_H
#define HUGELINK_SHM_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HL_SHM_MAGIC 0x4d53484cu       /* "HLSM": a live struct hl_shm_ctrl */
#define HL_SHM_OWNER_MAGIC 0x4f53484cu /* "HLSO": a struct hl_shm_owner_hdr */
#define HL_SHM_VERSION 2       /* the control block and the rings */
#define HL_SHM_OWNER_VERSION 1 /* the owner table */

#define HL_SHM_OWNER_ZONE "shm-owner"
#define HL_SHM_ZONE_PREFIX "shm:"
/* A zone name with its NUL: "shm:" and a port name must fit it. */
#define HL_SHM_ZONE_NAME_LEN 32
/* struct hl_shm_owner_hdr's bufpool name field, NUL included. */
#define HL_SHM_BP_NAME_LEN 32

/* What the indices and the control block's parts are padded to. */
#define HL_SHM_CACHE_LINE 64

#define HL_SHM_MAX_PORTS 64
#define HL_SHM_RING_MIN 16
#define HL_SHM_RING_MAX 4096

/* ---- descriptors ----------------------------------------------------------- */

/*
 * A descriptor is one 64-bit ring slot naming one buffer: the pool offset
 * of its first byte in the low 46 bits, two flags, and the length in the
 * high 16. By ring:
 *   rx    switch -> peer: a segment of a frame for the peer, len its bytes;
 *   fill  switch -> peer: an empty buffer, len = bp_room - headroom, no flags;
 *   tx    peer -> switch: a segment of a frame in a buffer the peer owns,
 *         len 1..room;
 *   done  peer -> switch: a buffer the peer gives back, len 0..room; the
 *         switch reads offset and length only.
 * ("room": bp_room - headroom.)
 *
 * Frames, on rx and tx: MORE says the next slot holds the next segment of
 * the same frame, so a frame is a run of consecutive slots, MORE on all but
 * the last; its length is the sum of its segments' (no field says it
 * apart, so none can disagree). At most HL_SHM_SEGS_MAX segments and
 * HL_SHM_FRAME_MAX bytes, and more than one only where both sides have
 * HL_SHM_F_CHAIN. OL, on a frame's first slot only, says the ring's
 * offload entry of that slot (struct hl_shm_ol) describes the frame; only
 * with HL_SHM_F_OFFLOAD. A producer publishes its index only between
 * frames, so a consumer never sees half a frame.
 *
 * What the switch takes off tx and done is checked before any buffer is
 * touched: offset exactly a data start (else counted bad_offset), length
 * within bounds and the frame within HL_SHM_FRAME_MAX (bad_len), every
 * buffer the peer's and named once (not_owned), the run of slots a frame
 * (bad_chain: more than HL_SHM_SEGS_MAX segments, MORE on the last slot
 * published, OL on a slot that does not start a frame, either flag without
 * its feature), its offload entry true of the frame (bad_ol). A refused
 * frame is consumed whole and counted once, by the first reason found;
 * its buffers stay the peer's, but for an offload entry found untrue of
 * the frame (bad_ol after the frame was taken), which drops the frame like
 * a guest's (its buffers are free again). There are no links between
 * slots, so a chain cannot loop, and no length field but each segment's,
 * so a frame's length cannot disagree with its segments. A peer checks the
 * switch's descriptors the same way before it dereferences one.
 */
#define HL_SHM_OFF_BITS 46
#define HL_SHM_OFF_MASK ((1ull << HL_SHM_OFF_BITS) - 1)
#define HL_SHM_LEN_SHIFT 48
#define HL_SHM_LEN_MAX 0xffffu
#define HL_SHM_DESC_OL (1ull << 46)   /* first slot of a frame: its offload entry is valid */
#define HL_SHM_DESC_MORE (1ull << 47) /* the next slot continues this frame */
#define HL_SHM_DESC_FLAGS (HL_SHM_DESC_OL | HL_SHM_DESC_MORE)

/* Ethernet with two VLAN tags, then an IP packet at its largest (16-bit length). */
#define HL_SHM_FRAME_MAX (65535u + 22u)
/* Segments one frame may have: a frame at its largest in 1 KiB buffers. */
#define HL_SHM_SEGS_MAX 64u

static inline uint64_t hl_shm_desc(uint64_t off, uint32_t len)
{
	return (off & HL_SHM_OFF_MASK) | ((uint64_t)(len & HL_SHM_LEN_MAX) << HL_SHM_LEN_SHIFT);
}

static inline uint64_t hl_shm_desc_off(uint64_t d)
{
	return d & HL_SHM_OFF_MASK;
}

static inline uint32_t hl_shm_desc_len(uint64_t d)
{
	return (uint32_t)(d >> HL_SHM_LEN_SHIFT);
}

/* ---- features -------------------------------------------------------------------- */

/*
 * What a port does beyond plain single-buffer frames: the switch offers a
 * set (ctrl->features_offered), a peer accepts a part of it
 * (ctrl->features), and a feature is in effect both ways only while both
 * say it. The switch sends a peer nothing it did not accept (a chain is
 * copied into one buffer or not sent, offloads are done in software first)
 * and refuses from it what it did not accept (counted bad_chain, bad_ol).
 */
#define HL_SHM_F_CHAIN 0x1u   /* frames of several buffers (MORE), up to HL_SHM_FRAME_MAX bytes */
#define HL_SHM_F_OFFLOAD 0x2u /* offload metadata (OL): partial checksums; TCP segmentation, with CHAIN */
#define HL_SHM_F_BEAT 0x4u    /* the peer beats (ctrl->peer_beat): the switch may judge it dead */
#define HL_SHM_F_ALL (HL_SHM_F_CHAIN | HL_SHM_F_OFFLOAD | HL_SHM_F_BEAT)

/*
 * Liveness. A peer that accepted HL_SHM_F_BEAT moves ctrl->peer_beat (any
 * new value) at least every HL_SHM_BEAT_MS while it is attached; the switch
 * takes one whose beat stood still for HL_SHM_BEAT_DEAD_MS as dead. So does
 * it a peer that detached (peer_pid back to 0, peer_gen moved since the
 * port was last reset). Either way the switch resets the port: it stores
 * HL_SHM_PEER_RESETTING in peer_pid (compare-and-swap, so it never races an
 * attach), takes back every buffer the owner table gives the port, lays the
 * four rings out afresh, adds 1 to switch_gen and stores 0 in peer_pid
 * (release): the port is free for the next peer, with nothing lost. The
 * same reset is what an operator asks for on a port whose ring is broken.
 * A peer that did not accept the feature is never judged by its beat.
 *
 * A peer attaching waits while peer_pid says RESETTING, and does not take
 * over a dead peer's claim on a port that offers HL_SHM_F_BEAT: it waits
 * for the switch to reset the port, so that the dead peer's buffers come
 * back before the rings start again. (This needs no new version: the
 * fields were reserved and zero, a switch that does not offer the feature
 * reads none of them, and a peer that does not accept it is never reset
 * for its beat.)
 */
#define HL_SHM_BEAT_MS 250u
#define HL_SHM_BEAT_DEAD_MS 3000u
#define HL_SHM_PEER_RESETTING 0xffffffffu

/* ---- rings --------------------------------------------------------------------- */

/* Index into ring_off[] and intent[]; the order is part of the format. */
enum hl_shm_ring_id {
	HL_SHM_RING_RX,   /* switch produces: packets for the peer */
	HL_SHM_RING_TX,   /* peer produces: packets from the peer */
	HL_SHM_RING_FILL, /* switch produces: empty buffers the peer may fill and send */
	HL_SHM_RING_DONE, /* peer produces: buffers the peer is finished with */
	HL_SHM_NRINGS
};

/*
 * A ring's shared part: single producer, single consumer, ring_size slots
 * (a power of two). The producer writes slots (and offload entries), then
 * stores prod (release); the consumer reads prod (acquire), then the slots
 * below it, then stores cons (release) when it is done with them. Indices
 * run freely mod 2^32, slot = index & (ring_size - 1), and all ring_size
 * slots are used.
 *
 * Each index has its own cache line and one writer, the side it belongs
 * to. Neither side trusts its own index here: each keeps a private copy
 * and only stores to this one, so a peer that rewrites the switch's index
 * moves nothing. Each bounds the other's: a producer takes cons only in
 * [last seen, own], a consumer prod only in [max(last seen, own),
 * own + ring_size]; on anything else the switch marks the ring broken
 * (counted ring_broken) and stops using it until the port is reset
 * (see liveness, below).
 * Slots the switch produced are read back only at recovery, as checked
 * descriptors.
 *
 * After the ring_size slots come ring_size offload entries, entry i for
 * the frame whose first slot is slot i: written by the producer of a frame
 * with OL before it publishes, read by the consumer once, and only for such
 * a frame, so plain frames never touch them. Every ring has them; fill and
 * done never use them.
 */
struct hl_shm_ring_hdr {
	uint32_t prod; /* the producer's (rx, fill: switch; tx, done: peer) */
	uint8_t pad0[HL_SHM_CACHE_LINE - 4];
	uint32_t cons; /* the consumer's */
	uint8_t pad1[HL_SHM_CACHE_LINE - 4];
	uint64_t slots[]; /* descriptors: the producer writes, the consumer reads each once */
	/* then struct hl_shm_ol ol[ring_size] */
};
_Static_assert(offsetof(struct hl_shm_ring_hdr, cons) == HL_SHM_CACHE_LINE, "hl_shm_ring_hdr ABI");
_Static_assert(offsetof(struct hl_shm_ring_hdr, slots) == 2 * HL_SHM_CACHE_LINE, "hl_shm_ring_hdr ABI");
_Static_assert(sizeof(struct hl_shm_ring_hdr) == 2 * HL_SHM_CACHE_LINE, "hl_shm_ring_hdr ABI");

/*
 * What a frame asks of its receiver, or says of itself; the layout and
 * meaning of the switch's own per-frame offload record, so it is copied as
 * it is. Lengths and offsets count from the frame's first byte. The switch
 * believes none of it from a peer: it parses the frame's headers and
 * accepts an entry only as the same rules accept a guest's virtio-net
 * header (csum_start where the TCP or UDP header starts, csum_offset at its
 * checksum, segmentation of TCP only over the IP version named, with a
 * partial checksum, gso_size > 0 and at most 128 segments, no fragments),
 * then describes the frame from what it measured: hdr_len and the l*_len
 * are hints it replaces, CSUM_VALID from a peer is ignored (a peer is not
 * trusted to have verified anything), unknown flag bits are ignored. What
 * the switch writes on rx is what it measured.
 */
#define HL_SHM_OL_F_CSUM_PARTIAL 0x1u /* complete the L4 checksum: csum_start, csum_offset */
#define HL_SHM_OL_F_CSUM_VALID 0x2u   /* checksums verified (switch -> peer only) */
#define HL_SHM_OL_F_ECN 0x4u          /* segmentation: CWR may be set (the first segment keeps it) */

#define HL_SHM_OL_GSO_NONE 0u
#define HL_SHM_OL_GSO_TCPV4 1u /* cut into TCP segments of gso_size payload bytes */
#define HL_SHM_OL_GSO_TCPV6 2u

struct hl_shm_ol {
	uint16_t csum_start;  /* where the L4 checksum's range starts */
	uint16_t csum_offset; /* from csum_start: where the checksum is stored */
	uint16_t gso_size;    /* payload bytes per segment; 0 without segmentation */
	uint16_t hdr_len;     /* l2_len + l3_len + l4_len */
	uint16_t l3_len;      /* IP header with IPv6 extension headers */
	uint8_t l2_len;       /* Ethernet with VLAN tags */
	uint8_t l4_len;       /* TCP header with options, or 8 for UDP */
	uint8_t flags;        /* HL_SHM_OL_F_* */
	uint8_t gso_type;     /* HL_SHM_OL_GSO_* */
	uint16_t reserved;    /* 0 */
};
_Static_assert(offsetof(struct hl_shm_ol, csum_offset) == 2, "hl_shm_ol ABI");
_Static_assert(offsetof(struct hl_shm_ol, gso_size) == 4, "hl_shm_ol ABI");
_Static_assert(offsetof(struct hl_shm_ol, hdr_len) == 6, "hl_shm_ol ABI");
_Static_assert(offsetof(struct hl_shm_ol, l3_len) == 8, "hl_shm_ol ABI");
_Static_assert(offsetof(struct hl_shm_ol, l2_len) == 10, "hl_shm_ol ABI");
_Static_assert(offsetof(struct hl_shm_ol, l4_len) == 11, "hl_shm_ol ABI");
_Static_assert(offsetof(struct hl_shm_ol, flags) == 12, "hl_shm_ol ABI");
_Static_assert(offsetof(struct hl_shm_ol, gso_type) == 13, "hl_shm_ol ABI");
_Static_assert(sizeof(struct hl_shm_ol) == 16, "hl_shm_ol ABI");

/* The offload entries of the ring at h, of ring_size entries. */
static inline struct hl_shm_ol *hl_shm_ring_ol(struct hl_shm_ring_hdr *h, uint32_t ring_size)
{
	return (struct hl_shm_ol *)(void *)(h->slots + ring_size);
}

/* ---- crash consistency ----------------------------------------------------------- */

/*
 * The switch may be killed at any instruction; the next switch recovers
 * the pool with its peers still attached. Each ring has one intent in the
 * control block, for the burst the switch has under way on it, written by
 * the switch only:
 * A burst covers whole frames, so its {start, count} counts slots and
 * recovery goes slot by slot, each a buffer, whatever frames they make.
 *   producing (rx, fill): slots written (first, so the intent's range
 *     names exactly this burst's buffers); intent {start, count} published
 *     (release); owner words set PEER; ring index published (release);
 *     intent cleared (release).
 *     Recovery: index == start + count: committed, owner words of the
 *     burst's slots redone to PEER; otherwise rolled back: owner words that
 *     say PEER(this port) go back to SWITCH and the index is start.
 *   consuming (tx, done): peer's index read; intent {start, count}
 *     published; owner words PEER -> SWITCH/FREE; index published; intent
 *     cleared.
 *     Recovery: index == start + count: done. Otherwise rolled forward:
 *     buffers in the burst's slots still marked PEER(this port) are taken
 *     (the peer handed them over) and the index becomes start + count.
 * A killed process's executed stores all reach memory, so recovery sees a
 * program-order prefix of the burst (the release stores order it for a
 * peer watching live). Loss of the memory itself is not covered.
 *
 * A peer neither reads nor writes intents. One that corrupts its own can
 * only move buffers of its own port at recovery: count is bounded by
 * ring_size, every slot is checked as a descriptor, and only buffers marked
 * PEER(this port) (or, for a committed burst, no peer's) change hands; a
 * wrong start at worst leaves the ring broken.
 */
#define HL_SHM_INTENT_IDLE 0u
#define HL_SHM_INTENT_ACTIVE 1u

struct hl_shm_intent {
	uint32_t state;    /* IDLE or ACTIVE; stored last (release) when activating */
	uint32_t start;    /* the switch's ring index when the burst began */
	uint32_t count;    /* slots in the burst (whole frames) */
	uint32_t reserved; /* 0 */
};
_Static_assert(offsetof(struct hl_shm_intent, start) == 4, "hl_shm_intent ABI");
_Static_assert(offsetof(struct hl_shm_intent, count) == 8, "hl_shm_intent ABI");
_Static_assert(sizeof(struct hl_shm_intent) == 16, "hl_shm_intent ABI");

/* ---- the control block ----------------------------------------------------------- */

/*
 * The switch's counters of a port, copied here after each burst for the
 * peer and tools. The switch keeps its own and never reads these back, so
 * a peer that rewrites them misleads only their readers, until the next
 * burst; recovery starts them again from 0.
 */
struct hl_shm_counters {
	uint64_t rx_packets;  /* frames to the peer */
	uint64_t tx_packets;  /* frames from the peer, accepted */
	uint64_t bad_offset;  /* frames from the peer refused, by reason (shm_abi.h, descriptors) */
	uint64_t bad_len;
	uint64_t not_owned;
	uint64_t ring_broken; /* times a ring was found broken */
	uint64_t returned;    /* buffers taken back from done */
	uint64_t filled;      /* buffers posted on fill */
	uint64_t bad_chain;   /* frames refused: slots that make no frame */
	uint64_t bad_ol;      /* frames refused: offload metadata not true of the frame */
	uint64_t resets;      /* times the port was reset (a peer dead or gone, or asked for) */
	uint64_t reclaimed;   /* buffers taken back from peers at those resets */
	uint64_t reserved[4]; /* 0 */
};
_Static_assert(sizeof(struct hl_shm_counters) == 2 * HL_SHM_CACHE_LINE, "hl_shm_counters ABI");

/*
 * The start of zone "shm:<port>". The switch lays it out at creation and
 * stores magic last (release); it clears magic first when it removes the
 * port. The layout fields are written once and read by a peer once, at
 * attach, where it checks them against its mapping. The switch's data path
 * works from private copies and never reads them again; recovery checks
 * again those it needs (magic, version, ctrl_size, port_id, ring_size,
 * zone_len, ring_off) and drops a port where they no longer describe its zone (its
 * buffers come back), and reads the bufpool fields never. So a peer that
 * rewrites them breaks its own port across a restart at most, and
 * misleads peers that attach after it. The fields after headroom change at
 * run time; each group says who writes it.
 */
struct hl_shm_ctrl {
	/* layout: switch, at creation */
	uint32_t magic;
	uint16_t version;
	uint16_t ctrl_size;      /* sizeof(struct hl_shm_ctrl) */
	uint32_t ring_size;      /* slots per ring, a power of two */
	uint32_t port_id;        /* the owner table's PEER(port_id) tag */
	uint64_t zone_len;
	uint64_t ring_off[HL_SHM_NRINGS]; /* from the start of the zone, by enum hl_shm_ring_id */
	/* the switch's bufpool, so a peer can check and translate descriptors */
	uint64_t bp_zone_off;    /* from the start of the pool */
	uint64_t bp_zone_len;
	uint64_t bp_page_size;
	uint32_t bp_n;
	uint32_t bp_room;
	uint32_t bp_stride;
	uint32_t bp_per_page;
	uint32_t headroom;       /* packets start this far into a room */
	/* switch, +1 at each recovery (release): a peer that sees it move knows
	 * a new switch serves it. Never read back but by recovery. */
	uint32_t switch_gen;
	/*
	 * peer: its pid while attached, 0 when not, taken with a compare-and-
	 * swap so two peers do not share a port; +1 to peer_gen at each attach.
	 * The switch reports them (a peer can claim any pid) and, to reset the
	 * port, swaps peer_pid to HL_SHM_PEER_RESETTING and back to 0.
	 */
	uint32_t peer_pid;
	uint32_t peer_gen;
	/*
	 * switch: 1 while it sleeps and wants a kick on the doorbell. The switch
	 * stores it and reads the peer's indices; the peer stores an index and
	 * reads this, each with a full fence in between. A peer that rewrites it
	 * only loses (or wastes) its own wake-ups.
	 */
	uint32_t kick_armed;
	/* switch, at creation: the HL_SHM_F_* it offers */
	uint32_t features_offered;
	/*
	 * peer: the part of features_offered it accepts, stored at attach
	 * (before peer_gen moves). The switch reads it where a frame needs a
	 * feature and never trusts it further: a peer that rewrites it can only
	 * get frames it cannot read, or have its own refused.
	 */
	uint32_t features;
	/* peer, with HL_SHM_F_BEAT: any new value at least every HL_SHM_BEAT_MS (see above) */
	uint32_t peer_beat;
	/* switch only: one per ring, by enum hl_shm_ring_id (see above) */
	struct hl_shm_intent intent[HL_SHM_NRINGS] __attribute__((aligned(HL_SHM_CACHE_LINE)));
	/* switch only */
	struct hl_shm_counters counters __attribute__((aligned(HL_SHM_CACHE_LINE)));
} __attribute__((aligned(HL_SHM_CACHE_LINE)));
_Static_assert(offsetof(struct hl_shm_ctrl, version) == 4, "hl_shm_ctrl ABI");
_Static_assert(offsetof(struct hl_shm_ctrl, ctrl_size) == 6, "hl_shm_ctrl ABI");
_Static_assert(offsetof(struct hl_shm_ctrl, ring_size) == 8, "hl_shm_ctrl ABI");
_Static_assert(offsetof(struct hl_shm_ctrl, port_id) == 12, "hl_shm_ctrl ABI");
_Static_assert(offsetof(struct hl_shm_ctrl, zone_len) == 16, "hl_shm_ctrl ABI");
_Static_assert(offsetof(struct hl_shm_ctrl, ring_off) == 24, "hl_shm_ctrl ABI");
_Static_assert(offsetof(struct hl_shm_ctrl, bp_zone_off) == 56, "hl_shm_ctrl ABI");
_Static_assert(offsetof(struct hl_shm_ctrl, bp_zone_len) == 64, "hl_shm_ctrl ABI");
_Static_assert(offsetof(struct hl_shm_ctrl, bp_page_size) == 72, "hl_shm_ctrl ABI");
_Static_assert(offsetof(struct hl_shm_ctrl, bp_n) == 80, "hl_shm_ctrl ABI");
_Static_assert(offsetof(struct hl_shm_ctrl, bp_room) == 84, "hl_shm_ctrl ABI");
_Static_assert(offsetof(struct hl_shm_ctrl, bp_stride) == 88, "hl_shm_ctrl ABI");
_Static_assert(offsetof(struct hl_shm_ctrl, bp_per_page) == 92, "hl_shm_ctrl ABI");
_Static_assert(offsetof(struct hl_shm_ctrl, headroom) == 96, "hl_shm_ctrl ABI");
_Static_assert(offsetof(struct hl_shm_ctrl, switch_gen) == 100, "hl_shm_ctrl ABI");
_Static_assert(offsetof(struct hl_shm_ctrl, peer_pid) == 104, "hl_shm_ctrl ABI");
_Static_assert(offsetof(struct hl_shm_ctrl, peer_gen) == 108, "hl_shm_ctrl ABI");
_Static_assert(offsetof(struct hl_shm_ctrl, kick_armed) == 112, "hl_shm_ctrl ABI");
_Static_assert(offsetof(struct hl_shm_ctrl, features_offered) == 116, "hl_shm_ctrl ABI");
_Static_assert(offsetof(struct hl_shm_ctrl, features) == 120, "hl_shm_ctrl ABI");
_Static_assert(offsetof(struct hl_shm_ctrl, peer_beat) == 124, "hl_shm_ctrl ABI");
_Static_assert(offsetof(struct hl_shm_ctrl, intent) == 2 * HL_SHM_CACHE_LINE, "hl_shm_ctrl ABI");
_Static_assert(offsetof(struct hl_shm_ctrl, counters) == 3 * HL_SHM_CACHE_LINE, "hl_shm_ctrl ABI");
_Static_assert(sizeof(struct hl_shm_ctrl) == 5 * HL_SHM_CACHE_LINE, "hl_shm_ctrl ABI");

/* ---- the owner table ------------------------------------------------------------- */

/*
 * Owner words, one per buffer of the bufpool, at words_off in zone
 * "shm-owner". Written by the switch only, and read by no peer. The
 * running switch checks every ownership against a private copy, so these
 * are only the record the next switch starts from after a crash; it
 * believes each word once and then only in range (an unknown value, or a
 * PEER tag of a port that does not exist, counts as SWITCH). A peer that
 * rewrites them can at most, across a restart, have buffers kept with a
 * port (leaked until that port is removed) or freed under itself; no buffer
 * is both free and held, as the new switch holds none.
 */
#define HL_SHM_OWNER_FREE 0u
#define HL_SHM_OWNER_SWITCH 1u /* the switch side's, not free: in flight when it died */
#define HL_SHM_OWNER_PEER_BIT 0x80000000u
#define HL_SHM_OWNER_PEER(id) (HL_SHM_OWNER_PEER_BIT | (uint32_t)(id))

/*
 * The start of zone "shm-owner", written by the switch when it makes the
 * pool's first port (magic last, release), and the port names as ports
 * come and go. Read back only by recovery, which refuses the whole table
 * (and so the pool's recovery) when the header is damaged and drops a port
 * whose name leads to no sane control block.
 */
struct hl_shm_owner_hdr {
	uint32_t magic;
	uint16_t version;                   /* HL_SHM_OWNER_VERSION */
	uint16_t hdr_size;                  /* sizeof(struct hl_shm_owner_hdr) */
	char bp_name[HL_SHM_BP_NAME_LEN];   /* the bufpool the words describe, zone "b:<bp_name>" */
	uint32_t bp_n;                      /* words in the table */
	uint32_t bp_room;
	uint64_t words_off;                 /* HL_SHM_OWNER_WORDS_OFF */
	/* ports[id]: the zone of port id ("shm:<name>"), "" when free; set once
	 * the zone is laid out, cleared once it is freed */
	char ports[HL_SHM_MAX_PORTS][HL_SHM_ZONE_NAME_LEN];
};
_Static_assert(offsetof(struct hl_shm_owner_hdr, bp_name) == 8, "hl_shm_owner_hdr ABI");
_Static_assert(offsetof(struct hl_shm_owner_hdr, bp_n) == 40, "hl_shm_owner_hdr ABI");
_Static_assert(offsetof(struct hl_shm_owner_hdr, bp_room) == 44, "hl_shm_owner_hdr ABI");
_Static_assert(offsetof(struct hl_shm_owner_hdr, words_off) == 48, "hl_shm_owner_hdr ABI");
_Static_assert(offsetof(struct hl_shm_owner_hdr, ports) == 56, "hl_shm_owner_hdr ABI");
_Static_assert(sizeof(struct hl_shm_owner_hdr) == 2104, "hl_shm_owner_hdr ABI");

/* The owner words start on the first cache line after the header. */
#define HL_SHM_OWNER_WORDS_OFF 2112u
_Static_assert(HL_SHM_OWNER_WORDS_OFF % HL_SHM_CACHE_LINE == 0 &&
		       HL_SHM_OWNER_WORDS_OFF - sizeof(struct hl_shm_owner_hdr) < HL_SHM_CACHE_LINE,
	       "owner words on the first line after the header");

#ifdef __cplusplus
}
#endif
#endif
