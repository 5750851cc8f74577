/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the switch side's files share: the per-pool context and the port
 * object, the owner table's two copies, descriptor checks, and the set-up
 * steps both creation (shm_setup.c) and recovery (shm_recover.c) take. Not
 * API.
 *
 * Invariants:
 *   - the owner table has two copies: a private one (ctx->own), which is the
 *     truth every check reads, and the one in the pool, which only records
 *     it for the next switch after a crash. A peer that scribbles on the
 *     pool's copy cannot make this switch accept a buffer; the private copy
 *     is loaded from the pool's exactly once, in hl_shm_recover.
 *   - owner[i] == PEER(p) implies buffer i is "in use" in the bufpool with
 *     one reference that is the peer's, and that no switch-side holder will
 *     write it. FREE and SWITCH both mean "the switch side's" (buffers freed
 *     by other code keep SWITCH); recovery frees both alike.
 *   - process-wide: one context per pool (its owner table and bufpool),
 *     found and changed under hl_shm_lock, off the data path.
 */
#ifndef HL_SHM_PORT_PVT_H
#define HL_SHM_PORT_PVT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <hugelink/buf.h>
#include <hugelink/offload.h>
#include <hugelink/pool.h>
#include <hugelink/shm_abi.h>
#include <hugelink/shm_port.h>
#include <hugelink/shm_ring.h>

/* The format's own name lengths, against the pool's and the bufpool's. */
_Static_assert(HL_SHM_ZONE_NAME_LEN == HL_ZONE_NAME_LEN, "shm zone names are pool zone names");
_Static_assert(HL_BUF_NAME_LEN <= HL_SHM_BP_NAME_LEN, "a bufpool name fits the owner table's");

/* An offload entry is the switch's own record of a frame's offloads, copied as it is. */
_Static_assert(sizeof(struct hl_shm_ol) == sizeof(struct hl_buf_ol), "hl_shm_ol is hl_buf_ol");
_Static_assert(offsetof(struct hl_shm_ol, csum_start) == offsetof(struct hl_buf_ol, csum_start) &&
		       offsetof(struct hl_shm_ol, csum_offset) == offsetof(struct hl_buf_ol, csum_offset) &&
		       offsetof(struct hl_shm_ol, gso_size) == offsetof(struct hl_buf_ol, gso_size) &&
		       offsetof(struct hl_shm_ol, hdr_len) == offsetof(struct hl_buf_ol, hdr_len) &&
		       offsetof(struct hl_shm_ol, l3_len) == offsetof(struct hl_buf_ol, l3_len) &&
		       offsetof(struct hl_shm_ol, l2_len) == offsetof(struct hl_buf_ol, l2_len) &&
		       offsetof(struct hl_shm_ol, l4_len) == offsetof(struct hl_buf_ol, l4_len) &&
		       offsetof(struct hl_shm_ol, flags) == offsetof(struct hl_buf_ol, flags) &&
		       offsetof(struct hl_shm_ol, gso_type) == offsetof(struct hl_buf_ol, gso_type),
	       "hl_shm_ol is hl_buf_ol, field by field");
_Static_assert(HL_SHM_OL_F_CSUM_PARTIAL == HL_OL_F_CSUM_PARTIAL && HL_SHM_OL_F_CSUM_VALID == HL_OL_F_CSUM_VALID &&
		       HL_SHM_OL_F_ECN == HL_OL_F_ECN,
	       "offload flags mean the same on the wire");
_Static_assert(HL_SHM_OL_GSO_NONE == HL_OL_GSO_NONE && HL_SHM_OL_GSO_TCPV4 == HL_OL_GSO_TCPV4 &&
		       HL_SHM_OL_GSO_TCPV6 == HL_OL_GSO_TCPV6,
	       "gso types mean the same on the wire");
_Static_assert(HL_SHM_FRAME_MAX == HL_OL_FRAME_MAX, "a frame at its largest is the offload module's");

struct shm_ctx {
	struct hl_pool *pool;
	struct hl_bufpool *bp;
	struct hl_buf *bufs; /* bp's metadata array: index <-> buffer without a call */
	uint8_t *base;       /* the pool's mapping: descriptor offsets -> addresses */
	struct hl_bufpool_geom g;
	unsigned page_shift;
	struct hl_div32 by_stride;
	uint32_t max_len;   /* room - headroom */
	uint32_t max_frame; /* with chains: HL_SHM_FRAME_MAX, or what HL_SHM_SEGS_MAX rooms hold */
	struct hl_shm_owner_hdr *oh;
	uint32_t *words;    /* the owner table in the pool */
	uint32_t *own;      /* the private copy that checks read */
	struct hl_shm_port *ports[HL_SHM_MAX_PORTS];
	unsigned nports;
	struct shm_ctx *next;
};

struct hl_shm_port {
	struct shm_ctx *ctx;
	struct hl_shm_ctrl *ctrl;
	struct hl_shm_ring ring[HL_SHM_NRINGS];
	char name[HL_ZONE_NAME_LEN];
	char zone[HL_ZONE_NAME_LEN];
	uint32_t id;
	uint32_t tag; /* HL_SHM_OWNER_PEER(id) */
	uint32_t fill_target;
	uint32_t offered; /* HL_SHM_F_*: the switch's own copy of ctrl->features_offered */
	bool claimed; /* served by someone (always, but for recovered ports) */
	int kick_fd;  /* the doorbell FIFO, read side; -1 without one */
	char kick_path[256];
	struct hl_shm_port_stats st; /* each field has one writer; relaxed stores */
	/* liveness, control thread only (shm_reset.c): what the peer showed last, and when */
	uint32_t pid_seen, gen_seen, beat_seen;
	uint64_t beat_ns;      /* 0: nothing seen yet */
	uint32_t gen_at_reset; /* peer_gen when the port was last made ready for a peer */
	struct hl_ol_stats ol;       /* frames from the peer: offload entries checked (receive side) */
};

/* ---- the owner table ----------------------------------------------------------- */

static inline uint32_t hl_shm_owner_get(const struct shm_ctx *c, uint32_t i)
{
	return __atomic_load_n(&c->own[i], __ATOMIC_RELAXED);
}

static inline void hl_shm_owner_set(struct shm_ctx *c, uint32_t i, uint32_t v)
{
	__atomic_store_n(&c->own[i], v, __ATOMIC_RELAXED);
	__atomic_store_n(&c->words[i], v, __ATOMIC_RELAXED);
}

/* ---- descriptors ---------------------------------------------------------------- */

enum { HL_SHM_DESC_OK, HL_SHM_DESC_BAD_OFF, HL_SHM_DESC_BAD_LEN };

/*
 * The features in effect on p: what it offers and its peer accepts. Read
 * where a frame needs one, never cached: a peer may change its word, and
 * the frame it sends or gets then follows what it says now.
 */
static inline uint32_t hl_shm_features(const struct hl_shm_port *p)
{
	return p->offered & __atomic_load_n(&p->ctrl->features, __ATOMIC_RELAXED);
}

/*
 * Buffer index of a descriptor that must point exactly at a data start of
 * the bufpool; len_min..max_len bytes. Its flags are not looked at.
 */
static inline int hl_shm_desc_index(const struct shm_ctx *c, uint64_t d, uint32_t len_min, uint32_t *idx)
{
	const struct hl_bufpool_geom *g = &c->g;
	uint64_t off = hl_shm_desc_off(d);
	uint32_t len = hl_shm_desc_len(d);

	if (hl_unlikely(off < g->zone_off + HL_BUF_HEADROOM || off >= g->zone_off + g->zone_len))
		return HL_SHM_DESC_BAD_OFF;
	uint64_t rel = off - g->zone_off - HL_BUF_HEADROOM;
	bool exact;
	uint32_t slot = hl_div32(c->by_stride, (uint32_t)(rel & (g->page_size - 1)), &exact);
	if (hl_unlikely(!exact || slot >= g->per_page))
		return HL_SHM_DESC_BAD_OFF;
	uint64_t i = (rel >> c->page_shift) * g->per_page + slot;
	if (hl_unlikely(i >= g->n))
		return HL_SHM_DESC_BAD_OFF;
	if (hl_unlikely(len < len_min || len > c->max_len))
		return HL_SHM_DESC_BAD_LEN;
	*idx = (uint32_t)i;
	return HL_SHM_DESC_OK;
}

/* ---- the control block ------------------------------------------------------------ */

_Static_assert(sizeof(struct hl_shm_counters) % sizeof(uint64_t) == 0, "counters are 64-bit words");

/* Copy the counters into the control block, where the peer and tools see them. */
static inline void hl_shm_mirror_counters(struct hl_shm_port *p)
{
	const uint64_t *src = (const uint64_t *)&p->st.c;
	uint64_t *dst = (uint64_t *)&p->ctrl->counters;
	for (size_t i = 0; i < sizeof(struct hl_shm_counters) / sizeof(uint64_t); i++)
		__atomic_store_n(&dst[i], __atomic_load_n(&src[i], __ATOMIC_RELAXED), __ATOMIC_RELAXED);
}

/* Bytes one ring takes in a port's zone: ring_off[r + 1] - ring_off[r]. */
static inline uint64_t hl_shm_ring_bytes(uint32_t size)
{
	return HL_ALIGN_UP((uint64_t)hl_shm_ring_memsize(size), (uint64_t)HL_SHM_CACHE_LINE);
}

/* ---- set-up shared by creation and recovery (shm_setup.c) ---------------------------- */

/* Guards every context, its port table and the list of contexts. */
extern pthread_mutex_t hl_shm_lock;

/* The context of pool, or NULL. Caller holds hl_shm_lock. */
struct shm_ctx *hl_shm_ctx_find(struct hl_pool *pool);

/* Make c the context of its pool. Caller holds hl_shm_lock. */
void hl_shm_ctx_link(struct shm_ctx *c);

/* Derive the divisor and limits from c->g; refuses a geometry descriptors cannot name. */
int hl_shm_ctx_geom(struct shm_ctx *c);

/* Open the switch's side of p's four rings, laid out as p->ctrl says. */
int hl_shm_port_open_rings(struct hl_shm_port *p);

/* Make (or reuse) p's doorbell FIFO; a port without one still works. */
void hl_shm_kick_open(struct hl_shm_port *p);

/* Every buffer the owner table gives p's peer, back to the switch side (freed); how many. Holds hl_shm_lock. */
unsigned hl_shm_take_back(struct hl_shm_port *p);

#endif
