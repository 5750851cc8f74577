/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared-memory ("shm") ports: a peer maps the switch's whole pool, and
 * packets move between them as descriptors (pool offsets), never as bytes.
 *
 * Pool layout, per switch pool:
 *   "b:<bp>"     the switch's packet buffers (buf.h);
 *   "shm-owner"  struct hl_shm_owner_hdr, then one 32-bit owner word per
 *                buffer of that bufpool: HL_SHM_OWNER_FREE, _SWITCH, or
 *                HL_SHM_OWNER_PEER(port id). Written only by the switch.
 *   "shm:<port>" struct hl_shm_ctrl, then four rings (HL_SHM_RING_*).
 *
 * Rings are single-producer single-consumer rings of 64-bit descriptors
 * (hl_shm_desc(): pool offset of the packet's first byte in the low 48
 * bits, length in the high 16). Four per port:
 *   rx    switch -> peer   packets for the peer
 *   tx    peer -> switch   packets from the peer
 *   fill  switch -> peer   empty buffers the peer may fill and send
 *   done  peer -> switch   buffers the peer is finished with
 * A peer owns a buffer from the moment it takes it from rx or fill until it
 * publishes it on tx or done. The owner table says PEER(port) from just
 * before the switch publishes the buffer on rx or fill until the switch
 * takes it off tx or done, so it covers the peer's interval.
 * Packets are single-segment and start HL_BUF_HEADROOM bytes into a data
 * room; a descriptor that does not is refused.
 *
 * Trust: every byte of the pool is writable by every peer, so the switch
 * treats whatever a peer can reach as input: the peer's ring index is read
 * once per burst and must lie between the last value seen and the far end
 * of the ring (else the ring is "broken": counted, and the port stops using
 * it until the port is recreated); each side keeps its own index privately and only stores
 * it to shared memory; every descriptor a peer writes is checked against
 * the bufpool's geometry and the owner table before the buffer is touched.
 * The switch checks ownership against a private copy of the owner table;
 * the pool's copy is only a record for recovery. What a peer can corrupt
 * beyond its rings (the pool's owner table, another port's control block,
 * buffer bytes: "shared" ports map the whole pool writable) it can corrupt;
 * the switch never follows a pointer out of shared memory and bounds every
 * index it reads from it, so such a peer damages packets, not the switch,
 * and never makes it use a buffer twice.
 *
 * Crash consistency (switch killed at any instruction): each ring direction
 * has a one-entry intent in the control block, written by the switch:
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
 * Then the bufpool is adopted: PEER-owned buffers stay in use with their
 * peers, every other buffer (FREE, or SWITCH: the dead switch's in-flight
 * packets) is free again. Peers keep their mappings; they see their rings
 * pause and resume.
 */
#ifndef HUGELINK_SHM_PORT_H
#define HUGELINK_SHM_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hugelink/buf.h>
#include <hugelink/common.h>
#include <hugelink/pool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- descriptors ----------------------------------------------------------- */

#define HL_SHM_OFF_BITS 48
#define HL_SHM_OFF_MASK ((1ull << HL_SHM_OFF_BITS) - 1)
#define HL_SHM_LEN_MAX 0xffffu

static inline uint64_t hl_shm_desc(uint64_t off, uint32_t len)
{
	return (off & HL_SHM_OFF_MASK) | ((uint64_t)(len & HL_SHM_LEN_MAX) << HL_SHM_OFF_BITS);
}

static inline uint64_t hl_shm_desc_off(uint64_t d)
{
	return d & HL_SHM_OFF_MASK;
}

static inline uint32_t hl_shm_desc_len(uint64_t d)
{
	return (uint32_t)(d >> HL_SHM_OFF_BITS);
}

/* ---- shared-memory ABI ----------------------------------------------------- */

#define HL_SHM_MAGIC 0x4d53484cu /* "HLSM" */
#define HL_SHM_VERSION 1
#define HL_SHM_OWNER_MAGIC 0x4f53484cu /* "HLSO" */
#define HL_SHM_OWNER_ZONE "shm-owner"
#define HL_SHM_ZONE_PREFIX "shm:"
#define HL_SHM_MAX_PORTS 64
#define HL_SHM_RING_MIN 16
#define HL_SHM_RING_MAX 4096

enum hl_shm_ring_id {
	HL_SHM_RING_RX,   /* switch produces */
	HL_SHM_RING_TX,   /* peer produces */
	HL_SHM_RING_FILL, /* switch produces */
	HL_SHM_RING_DONE, /* peer produces */
	HL_SHM_NRINGS
};

/* Owner words. */
#define HL_SHM_OWNER_FREE 0u
#define HL_SHM_OWNER_SWITCH 1u
#define HL_SHM_OWNER_PEER_BIT 0x80000000u
#define HL_SHM_OWNER_PEER(id) (HL_SHM_OWNER_PEER_BIT | (uint32_t)(id))

/*
 * A ring's shared part: the producer's index, the consumer's index (each on
 * its own cache line, each written by one side only), then `size` slots.
 * Indices run freely mod 2^32; slot = index & (size - 1).
 */
struct hl_shm_ring_hdr {
	uint32_t prod;
	uint8_t pad0[HL_CACHE_LINE - 4];
	uint32_t cons;
	uint8_t pad1[HL_CACHE_LINE - 4];
	uint64_t slots[];
};
_Static_assert(sizeof(struct hl_shm_ring_hdr) == 2 * HL_CACHE_LINE, "hl_shm_ring_hdr ABI");

/* One intent per ring direction; written by the switch only. */
#define HL_SHM_INTENT_IDLE 0u
#define HL_SHM_INTENT_ACTIVE 1u
struct hl_shm_intent {
	uint32_t state; /* IDLE or ACTIVE; stored last (release) when activating */
	uint32_t start; /* the switch's ring index when the burst began */
	uint32_t count; /* slots in the burst */
	uint32_t reserved;
};
_Static_assert(sizeof(struct hl_shm_intent) == 16, "hl_shm_intent ABI");

/* Counters the switch keeps in the control block, for the peer and tools. */
struct hl_shm_counters {
	uint64_t rx_packets;  /* to the peer */
	uint64_t tx_packets;  /* from the peer, accepted */
	uint64_t bad_offset;  /* peer descriptors refused, by reason */
	uint64_t bad_len;
	uint64_t not_owned;
	uint64_t ring_broken; /* times a ring was found broken */
	uint64_t returned;    /* buffers taken back from done */
	uint64_t filled;      /* buffers posted on fill */
};

/*
 * The control block at the start of zone "shm:<port>". The switch writes
 * every field but peer_pid/peer_gen, once at creation (layout) or as noted.
 */
struct hl_shm_ctrl {
	uint32_t magic;
	uint16_t version;
	uint16_t ctrl_size;      /* sizeof(struct hl_shm_ctrl) */
	uint32_t ring_size;      /* slots per ring, a power of two */
	uint32_t port_id;        /* the owner table's PEER(port_id) tag */
	uint64_t zone_len;
	uint64_t ring_off[HL_SHM_NRINGS]; /* from the start of the zone */
	/* the switch's bufpool, so a peer can check and translate descriptors */
	uint64_t bp_zone_off;
	uint64_t bp_zone_len;
	uint64_t bp_page_size;
	uint32_t bp_n;
	uint32_t bp_room;
	uint32_t bp_stride;
	uint32_t bp_per_page;
	uint32_t headroom;       /* packets start this far into a room */
	uint32_t switch_gen;     /* switch: +1 at each recovery */
	uint32_t peer_pid;       /* peer: its pid while attached, 0 when not */
	uint32_t peer_gen;       /* peer: +1 at each attach */
	uint32_t kick_armed;     /* switch: 1 while it sleeps and wants a kick */
	uint8_t reserved[12];
	struct hl_shm_intent intent[HL_SHM_NRINGS] hl_cache_aligned;
	struct hl_shm_counters counters hl_cache_aligned;
} hl_cache_aligned;
_Static_assert(sizeof(struct hl_shm_ctrl) == 4 * HL_CACHE_LINE, "hl_shm_ctrl ABI");

/* The start of zone "shm-owner"; owner words follow at words_off. */
struct hl_shm_owner_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t hdr_size;
	char bp_name[HL_BUF_NAME_LEN + 2]; /* the bufpool the words describe */
	uint32_t bp_n;
	uint32_t bp_room;
	uint64_t words_off; /* from the start of the zone */
	/* ports[id] names the zone of port id; "" when free */
	char ports[HL_SHM_MAX_PORTS][HL_ZONE_NAME_LEN];
};

/* ---- rings (both sides) ------------------------------------------------------ */

/*
 * One side's private view of a ring. `own` is this side's index (the only
 * copy it trusts), `seen` the last valid value of the other side's index.
 */
struct hl_shm_ring {
	struct hl_shm_ring_hdr *hdr;
	uint64_t *slots;
	uint32_t size, mask;
	uint32_t own;
	uint32_t seen;
	bool producer;
	bool broken;        /* sticky: the other side's index was impossible */
	uint64_t broken_events;
};

/* Bytes of a ring of `size` slots (a power of two). */
size_t hl_shm_ring_memsize(uint32_t size);

/* Lay out a fresh ring at mem (both indices start at `start`). */
void hl_shm_ring_format(void *mem, uint32_t size, uint32_t start);

/*
 * Take one side of a ring laid out at mem. The side's own index is read from
 * shared memory here, once, and must be consistent with the other side's
 * (-EBADMSG otherwise); from then on it lives in r->own.
 */
int hl_shm_ring_open(struct hl_shm_ring *r, void *mem, uint32_t size, bool producer);

/*
 * Producer: free slots; consumer: filled slots. Reads the other side's
 * index once; an index that went backwards or past the far end marks the
 * ring broken (returns 0 from then on).
 */
uint32_t hl_shm_ring_avail(struct hl_shm_ring *r);

/*
 * Producer: free slots, at least `want` if there are. The consumer only
 * ever frees more, so the space seen last time is still there; the other
 * side's index (a cache line its core keeps writing) is read again only
 * when that is not enough.
 */
static inline uint32_t hl_shm_ring_space(struct hl_shm_ring *r, uint32_t want)
{
	uint32_t s = r->size - (r->own - r->seen);
	return hl_likely(!r->broken && s >= want) ? s : hl_shm_ring_avail(r);
}

static inline void hl_shm_ring_put(struct hl_shm_ring *r, uint32_t i, uint64_t d)
{
	__atomic_store_n(&r->slots[(r->own + i) & r->mask], d, __ATOMIC_RELAXED);
}

static inline uint64_t hl_shm_ring_get(const struct hl_shm_ring *r, uint32_t i)
{
	return __atomic_load_n(&r->slots[(r->own + i) & r->mask], __ATOMIC_RELAXED);
}

/* Advance this side's index by n and store it (release). */
void hl_shm_ring_publish(struct hl_shm_ring *r, uint32_t n);

/* Clear `broken` and resynchronise from shared memory (after a reset). */
void hl_shm_ring_reset(struct hl_shm_ring *r);

/* ---- switch side ------------------------------------------------------------- */

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
	uint64_t too_big;      /* packets larger than a buffer's room */
	uint64_t no_buf;       /* copies or fill buffers that found no buffer */
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
 * Receive up to n packets from the peer's tx ring as buffers of the port's
 * bufpool (refcnt 1, the caller's), after taking back what the peer put on
 * done; then top the fill ring up. Refused descriptors are counted.
 */
unsigned hl_shm_port_rx_burst(struct hl_shm_port *p, struct hl_buf **pkts, unsigned n);

/*
 * Put up to n packets on the peer's rx ring; returns how many (k) went.
 * The port takes over the caller's reference on each packet that went: a
 * buffer of the port's bufpool that no one else holds (refcnt 1, one
 * segment, not external, data at HL_BUF_HEADROOM) goes as it is, its
 * reference now the peer's; anything else is copied into a fresh buffer
 * and the original freed. The packets that did not go (ring full, larger
 * than a room: counted too_big, no buffer for a copy) end up in
 * pkts[k..n), in their order, still the caller's. At most 64 packets per
 * call.
 */
unsigned hl_shm_port_tx_burst(struct hl_shm_port *p, struct hl_buf **pkts, unsigned n);

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

void hl_shm_port_stats(const struct hl_shm_port *p, struct hl_shm_port_stats *st);
/* Whether a peer says it is attached (and its pid). */
bool hl_shm_port_peer_attached(const struct hl_shm_port *p, uint32_t *pid);
const char *hl_shm_port_name(const struct hl_shm_port *p);
struct hl_bufpool *hl_shm_port_bufpool(const struct hl_shm_port *p);
uint32_t hl_shm_port_id(const struct hl_shm_port *p);
/* Buffers the owner table says this port's peer holds. */
unsigned hl_shm_port_peer_held(const struct hl_shm_port *p);
/* Owner-table census of a pool's shm ports: buffers per owner kind. */
int hl_shm_owner_census(struct hl_pool *pool, unsigned *free_or_switch, unsigned *peer);

/*
 * The switch's adapter (src/switch/sw_port_shm.c). A shared port lives in
 * `pool` and serves bp, which must be the bufpool the switch receives into;
 * a port hl_shm_recover brought back under that name is claimed instead.
 *
 * An isolated port gets a pool of its own, "<pool's name>.<name>" (or, when
 * that is too long, the pool's name cut short and a hash of `name`), with
 * its record in pool's run dir and its file beside pool's (hugepages when
 * pool has them, 2 MiB pages), holding a bufpool of 2048 buffers of bp's
 * room size, an owner table and the port's rings: nothing of any other
 * port. Its peer attaches through that record (hl_sw_port_shm_record) and
 * maps only it. Packets cross with one copy each way, counted in the
 * port's copy_packets: received ones into fresh buffers of the switch's
 * bufpool, transmitted ones into the port's own buffers. If the record
 * exists when the port is created (a killed switch left it), the pool is
 * taken over as its owner and recovered (hl_shm_recover), so an attached
 * peer resumes; if that fails, it is replaced. Closing the port removes
 * the pool's files. -EEXIST when pool holds a shared port of that name,
 * -EBUSY while a live process owns the isolated pool.
 */
struct hl_sw_port;
int hl_sw_port_shm_create(struct hl_pool *pool, struct hl_bufpool *bp, const char *name,
			  bool isolated, struct hl_sw_port **out);
/* The shm port behind a switch port (NULL for other kinds). */
struct hl_shm_port *hl_sw_port_shm(const struct hl_sw_port *p);
/* Whether p is an isolated shm port. */
bool hl_sw_port_shm_isolated(const struct hl_sw_port *p);
/* The record a peer of p attaches through (isolated: its own pool's); NULL for other kinds. */
const char *hl_sw_port_shm_record(const struct hl_sw_port *p);
/* The pool p's peer maps (file_path, size: what an ivshmem BAR needs); -EINVAL for other kinds. */
int hl_sw_port_shm_pool_info(const struct hl_sw_port *p, struct hl_pool_info *info);

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
 * re-attach every port (find them with hl_shm_port_find). *bp_out is the
 * adopted bufpool; the caller frees it after destroying the ports.
 */
int hl_shm_recover(struct hl_pool *pool, unsigned cache_size, struct hl_bufpool **bp_out,
		   struct hl_shm_recover_report *rep);

/*
 * For tests: called at each step of a switch-side burst with the ring and
 * the step (HL_SHM_STEP_*). A test that makes it kill the process sees the
 * pool exactly as a crash at that instruction would leave it.
 */
enum hl_shm_step {
	HL_SHM_STEP_SLOTS,   /* producer: slots written, no intent yet */
	HL_SHM_STEP_INTENT,  /* intent published, nothing else */
	HL_SHM_STEP_OWNERS,  /* owner words half updated */
	HL_SHM_STEP_INDEX,   /* index published, intent still active */
};
extern void (*hl_shm_test_hook)(enum hl_shm_ring_id ring, enum hl_shm_step step);

/* ---- peer side ----------------------------------------------------------------- */

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
