/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shm ports, switch side, the data path: the switch's halves of the four
 * rings (format and crash story in shm_abi.h). Ports are made and removed
 * in shm_setup.c and brought back after a crash in shm_recover.c.
 *
 * Invariants:
 *   - a buffer is set PEER before the ring index that hands it over is
 *     published, and leaves PEER before the switch uses it; checks read
 *     the private owner table (shm_port_pvt.h), never the pool's.
 *   - every descriptor a peer wrote is checked (offset at a data start of
 *     the bufpool, length, owner == PEER(this port), refcnt != 0) before the
 *     buffer is touched, and every run of slots against the frame rules
 *     (MORE, OL, the features in effect) before any buffer of the frame is
 *     claimed; a refused frame is dropped whole and counted once, by
 *     reason. A frame's slots are read once, into private arrays, and its
 *     offload entry once, into a private copy: what is checked is what is
 *     used, whatever the peer writes meanwhile.
 *   - plain frames (no flag in any slot of the burst) take the path they
 *     took before chains existed: the flags cost one OR per slot and one
 *     branch per burst. Only a burst with a flag reads the features word.
 *   - a chain handed to the peer is unlinked first: each segment a buffer
 *     of its own with one reference, the peer's, so it may come back on
 *     done in any order; a chain taken from the peer is linked, each
 *     peer's reference becoming its predecessor's.
 *   - ring roles: this side produces rx (in tx_burst, the caller serialises
 *     it) and fill (in rx_burst), consumes tx and done (in rx_burst). So
 *     each ring has one switch-side writer.
 *   - burst order, for the crash story in shm_abi.h:
 *       producer: slots, intent (release), owners, index (release), intent idle;
 *       consumer: intent (release), owners, index (release), intent idle.
 *     hl_shm_test_hook (shm_test_pvt.h) sees each step.
 *   - the doorbell cannot lose a wake-up: the switch stores kick_armed then
 *     reads the peer's indices, the peer stores an index then reads
 *     kick_armed, each with a full fence in between, so at least one of
 *     them sees the other's store.
 */
#include <string.h>
#include <unistd.h>

#include <hugelink/offload.h>

#include "shm_port_pvt.h"
#include "shm_test_pvt.h"

void (*hl_shm_test_hook)(enum hl_shm_ring_id ring, enum hl_shm_step step);

#define BATCH 64 /* slots taken, buffers taken back or posted per step */
_Static_assert(BATCH >= HL_SHM_SEGS_MAX, "a burst of slots holds a frame at its longest");
#define OUT_SLOTS 256 /* slots one intent hands the peer at most (transmit) */
/* the largest IP packet a segment of a peer's frame may carry, as a guest's */
#define PEER_OL_MTU 9000u
#define PEER_OL_CAPS (HL_OL_CAP_CSUM | HL_OL_CAP_TSO4 | HL_OL_CAP_TSO6 | HL_OL_CAP_ECN)

/* ---- small helpers ------------------------------------------------------------- */

/*
 * Per burst, not per packet. Each counter has one writer (the receive side
 * is one worker; the transmit side runs under the port's tx lock), so a
 * plain load and store will do: a locked add here cost ~20% of the
 * forwarding rate, waiting on the ring stores before it. The one counter
 * both sides write (no_buf) takes the atomic add.
 */
static inline void cnt_add(uint64_t *c, uint64_t v)
{
	if (v != 0)
		__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

static inline void cnt_add_shared(uint64_t *c, uint64_t v)
{
	__atomic_fetch_add(c, v, __ATOMIC_RELAXED);
}

static inline void hook(enum hl_shm_ring_id r, enum hl_shm_step s)
{
	void (*h)(enum hl_shm_ring_id, enum hl_shm_step) = hl_shm_test_hook;
	if (hl_unlikely(h != NULL))
		h(r, s);
}

static inline uint64_t buf_desc(const struct hl_buf *b, uint32_t len)
{
	return hl_shm_desc(b->pool_off + HL_BUF_HEADROOM, len);
}

/* Why a frame from the peer was refused, beyond the descriptor checks' reasons. */
enum { WHY_NOT_OWNED = HL_SHM_DESC_BAD_LEN + 1, WHY_BAD_CHAIN, WHY_BAD_OL };

static void count_refused(struct hl_shm_port *p, int why)
{
	if (why == HL_SHM_DESC_BAD_OFF)
		cnt_add(&p->st.c.bad_offset, 1);
	else if (why == HL_SHM_DESC_BAD_LEN)
		cnt_add(&p->st.c.bad_len, 1);
	else if (why == WHY_BAD_CHAIN)
		cnt_add(&p->st.c.bad_chain, 1);
	else if (why == WHY_BAD_OL)
		cnt_add(&p->st.c.bad_ol, 1);
	else
		cnt_add(&p->st.c.not_owned, 1);
}

static void intent_begin(struct hl_shm_port *p, enum hl_shm_ring_id r, uint32_t start, uint32_t n)
{
	struct hl_shm_intent *in = &p->ctrl->intent[r];
	__atomic_store_n(&in->start, start, __ATOMIC_RELAXED);
	__atomic_store_n(&in->count, n, __ATOMIC_RELAXED);
	__atomic_store_n(&in->state, HL_SHM_INTENT_ACTIVE, __ATOMIC_RELEASE);
}

static void intent_end(struct hl_shm_port *p, enum hl_shm_ring_id r)
{
	__atomic_store_n(&p->ctrl->intent[r].state, HL_SHM_INTENT_IDLE, __ATOMIC_RELEASE);
}

/*
 * A ring the other side broke: count it once, as a port error. want > 0:
 * a producer that needs that much space (hl_shm_ring_space).
 */
static uint32_t ring_avail_for(struct hl_shm_port *p, enum hl_shm_ring_id r, uint32_t want)
{
	struct hl_shm_ring *ring = &p->ring[r];
	uint64_t before = ring->broken_events;
	uint32_t n = want > 0 ? hl_shm_ring_space(ring, want) : hl_shm_ring_avail(ring);
	if (hl_unlikely(ring->broken_events != before)) {
		cnt_add_shared(&p->st.c.ring_broken, 1); /* either side may find its ring broken */
		HL_LOG_ERR("shm port %s: peer broke ring %d; the port stops using it", p->name, (int)r);
	}
	return n;
}

static inline uint32_t ring_avail(struct hl_shm_port *p, enum hl_shm_ring_id r)
{
	return ring_avail_for(p, r, 0);
}

/* ---- data path: peer -> switch -------------------------------------------------- */

/*
 * Reading slots [from, to) of a ring the peer produces, in two passes so
 * the cache misses of a burst overlap: check every descriptor's offset and
 * length and start fetching what the second pass reads (the buffer's
 * metadata, and with `data` the frame's first line, which the peer's core
 * just wrote), then claim each buffer. idx[i] is the buffer index, or
 * BAD_IDX(why) for a descriptor already found wrong; len[i] its checked
 * length, fl[i] its flags (fl NULL: a ring whose flags mean nothing). The
 * second pass uses these, never the slot again: the peer may rewrite it in
 * between. Returns the OR of the flags.
 */
#define BAD_IDX(why) (UINT32_MAX - (uint32_t)(why))
#define IS_BAD_IDX(i) ((i) >= BAD_IDX(HL_SHM_DESC_BAD_LEN))
#define FL_OL ((uint8_t)(HL_SHM_DESC_OL >> 46))
#define FL_MORE ((uint8_t)(HL_SHM_DESC_MORE >> 46))

static inline __attribute__((always_inline)) uint8_t check_descs(struct hl_shm_port *p, const struct hl_shm_ring *r,
								   uint32_t from, uint32_t to, uint32_t len_min,
								   bool data, uint32_t *idx, uint32_t *len, uint8_t *fl)
{
	struct shm_ctx *c = p->ctx;
	uint64_t any = 0;
	for (uint32_t i = from; i < to; i++) {
		uint64_t d = hl_shm_ring_get(r, i);
		if (fl != NULL) {
			/* the flags in bits 0 and 1, a few length bits above them that no test looks at */
			fl[i] = (uint8_t)(d >> 46);
			any |= d;
		}
		int why = hl_shm_desc_index(c, d, len_min, &idx[i]);
		if (hl_unlikely(why != HL_SHM_DESC_OK)) {
			idx[i] = BAD_IDX(why);
			continue;
		}
		len[i] = hl_shm_desc_len(d);
		__builtin_prefetch(&c->bufs[idx[i]]);
		if (data)
			__builtin_prefetch(c->base + hl_shm_desc_off(d));
	}
	return (uint8_t)((any & HL_SHM_DESC_FLAGS) >> 46);
}

/*
 * Buffer idx, if it is this peer's to hand over; its owner becomes
 * new_owner. NULL (counted unless quiet) otherwise.
 */
static inline struct hl_buf *claim(struct hl_shm_port *p, uint32_t idx, uint32_t new_owner, bool quiet)
{
	struct shm_ctx *c = p->ctx;
	if (hl_unlikely(IS_BAD_IDX(idx))) {
		if (!quiet)
			count_refused(p, (int)(UINT32_MAX - idx));
		return NULL;
	}
	struct hl_buf *b = c->bufs + idx;
	if (hl_unlikely(hl_shm_owner_get(c, idx) != p->tag || hl_buf_refcnt(b) == 0)) {
		if (!quiet)
			count_refused(p, WHY_NOT_OWNED);
		return NULL;
	}
	hl_shm_owner_set(c, idx, new_owner);
	return b;
}

unsigned hl_shm_port_reclaim(struct hl_shm_port *p)
{
	struct hl_shm_ring *r = &p->ring[HL_SHM_RING_DONE];
	struct hl_buf *bufs[BATCH];
	uint32_t idx[BATCH], len[BATCH];
	unsigned total = 0, back = 0;

	for (;;) {
		uint32_t k = ring_avail(p, HL_SHM_RING_DONE), m = 0;
		if (k == 0)
			break;
		if (k > BATCH)
			k = BATCH;
		intent_begin(p, HL_SHM_RING_DONE, r->own, k);
		hook(HL_SHM_RING_DONE, HL_SHM_STEP_INTENT);
		/* a buffer given back is a buffer: done's flags mean nothing */
		check_descs(p, r, 0, k, 0, false, idx, len, NULL);
		for (uint32_t i = 0; i < k; i++) {
			struct hl_buf *b = claim(p, idx[i], HL_SHM_OWNER_FREE, false);
			if (hl_unlikely(b == NULL))
				continue;
			bufs[m++] = b;
			if (i == k / 2)
				hook(HL_SHM_RING_DONE, HL_SHM_STEP_OWNERS);
		}
		hl_shm_ring_publish(r, k);
		hook(HL_SHM_RING_DONE, HL_SHM_STEP_INDEX);
		intent_end(p, HL_SHM_RING_DONE);
		/* the buffers are no one's now; nothing in the pool names them */
		hl_buf_free_bulk(bufs, m);
		cnt_add(&p->st.c.returned, m);
		total += k;
		back += m;
		/* a peer that refills done as fast as we drain it gets one ring's worth */
		if (k < BATCH || total >= r->size)
			break;
	}
	return back;
}

/* A buffer the peer handed over, as one segment of len bytes. */
static inline void seg_init(struct hl_buf *b, uint32_t len)
{
	b->data_off = HL_BUF_HEADROOM;
	b->data_len = b->pkt_len = len;
	b->nb_segs = 1;
	b->next = NULL;
	/* metadata of the frame it last carried to the peer is not this one's; and a
	 * buffer a peer held was never external */
	b->flags = 0;
}

static unsigned take_plain(struct hl_shm_port *p, struct hl_buf **pkts, uint32_t k, const uint32_t *idx,
			   const uint32_t *len)
{
	struct hl_shm_ring *r = &p->ring[HL_SHM_RING_TX];
	unsigned got = 0;

	intent_begin(p, HL_SHM_RING_TX, r->own, k);
	hook(HL_SHM_RING_TX, HL_SHM_STEP_INTENT);
	for (uint32_t i = 0; i < k; i++) {
		struct hl_buf *b = claim(p, idx[i], HL_SHM_OWNER_SWITCH, false);
		if (hl_unlikely(b == NULL))
			continue;
		/* the peer's reference becomes the caller's */
		seg_init(b, len[i]);
		pkts[got++] = b;
		if (i == k / 2)
			hook(HL_SHM_RING_TX, HL_SHM_STEP_OWNERS);
	}
	hl_shm_ring_publish(r, k);
	hook(HL_SHM_RING_TX, HL_SHM_STEP_INDEX);
	intent_end(p, HL_SHM_RING_TX);
	return got;
}

/* One frame of a burst: slots [first, first + nsegs), refused for `why` unless 0. */
struct frame {
	uint8_t first, nsegs, why;
};

/*
 * Cut slots [0, lim) into frames by their MORE flags, at most n of them,
 * judging each by the rules that need no buffer (shm_abi.h). Returns the
 * slots of the burst: whole frames only. `published`: lim is all the peer
 * published, so a frame cut off at lim is one it published half of.
 */
static uint32_t cut_frames(const struct hl_shm_port *p, uint32_t lim, bool published, unsigned n,
			   const uint32_t *idx, const uint32_t *len, const uint8_t *fl, uint32_t feat,
			   struct frame *fr, unsigned *nfr)
{
	uint32_t i = 0;
	unsigned f = 0;

	while (i < lim && f < n) {
		uint32_t e = i, bytes = 0;
		uint8_t why = 0;
		while (e < lim && (fl[e] & FL_MORE) && e - i + 1 < HL_SHM_SEGS_MAX)
			e++;
		if (e == lim) {
			/* the run goes on past what we read */
			if (!published && i > 0)
				break; /* the rest of it comes with the next burst */
			e = lim - 1;
			why = WHY_BAD_CHAIN;
		} else if (fl[e] & FL_MORE) {
			why = WHY_BAD_CHAIN; /* longer than HL_SHM_SEGS_MAX */
		}
		uint32_t nsegs = e - i + 1;
		if (why == 0 && nsegs > 1 && !(feat & HL_SHM_F_CHAIN))
			why = WHY_BAD_CHAIN;
		for (uint32_t j = i + 1; j <= e && why == 0; j++)
			if (fl[j] & FL_OL)
				why = WHY_BAD_CHAIN;
		if (why == 0 && (fl[i] & FL_OL) && !(feat & HL_SHM_F_OFFLOAD))
			why = WHY_BAD_OL;
		for (uint32_t j = i; j <= e && why == 0; j++) {
			if (IS_BAD_IDX(idx[j]))
				why = (uint8_t)(UINT32_MAX - idx[j]);
			else
				bytes += len[j];
		}
		if (why == 0 && bytes > p->ctx->max_frame)
			why = HL_SHM_DESC_BAD_LEN;
		fr[f++] = (struct frame){(uint8_t)i, (uint8_t)nsegs, why};
		i = e + 1;
	}
	*nfr = f;
	return i;
}

/*
 * Claim every buffer of a frame, or none: a segment that is not the peer's
 * (or one named twice) hands the ones claimed before it back. `at` counts
 * the burst's slots claimed so far, for the crash tests' hook.
 */
static bool claim_frame(struct hl_shm_port *p, const struct frame *f, const uint32_t *idx, uint32_t k,
			uint32_t *at)
{
	for (uint32_t j = 0; j < f->nsegs; j++) {
		if (claim(p, idx[f->first + j], HL_SHM_OWNER_SWITCH, true) == NULL) {
			for (uint32_t u = 0; u < j; u++)
				hl_shm_owner_set(p->ctx, idx[f->first + u], p->tag);
			count_refused(p, WHY_NOT_OWNED);
			return false;
		}
		if ((*at)++ == k / 2)
			hook(HL_SHM_RING_TX, HL_SHM_STEP_OWNERS);
	}
	return true;
}

/* The claimed buffers of frame f as one chain, each peer's reference now its predecessor's. */
static struct hl_buf *link_frame(struct hl_shm_port *p, const struct frame *f, const uint32_t *idx,
				 const uint32_t *len)
{
	struct hl_buf *head = p->ctx->bufs + idx[f->first], *prev = head;
	uint32_t bytes = len[f->first];

	seg_init(head, len[f->first]);
	for (uint32_t j = 1; j < f->nsegs; j++) {
		struct hl_buf *b = p->ctx->bufs + idx[f->first + j];
		seg_init(b, len[f->first + j]);
		prev->next = b;
		prev = b;
		bytes += len[f->first + j];
	}
	head->nb_segs = f->nsegs;
	head->pkt_len = bytes;
	return head;
}

/* A burst with a flag somewhere: frames of several slots, offload entries. */
static unsigned take_frames(struct hl_shm_port *p, struct hl_buf **pkts, unsigned n, uint32_t lim,
			    bool published, const uint32_t *idx, const uint32_t *len, const uint8_t *fl)
{
	struct hl_shm_ring *r = &p->ring[HL_SHM_RING_TX];
	uint32_t feat = hl_shm_features(p), at = 0;
	struct frame fr[BATCH];
	unsigned nfr, got = 0;

	uint32_t k = cut_frames(p, lim, published, n, idx, len, fl, feat, fr, &nfr);
	if (k == 0)
		return 0;
	intent_begin(p, HL_SHM_RING_TX, r->own, k);
	hook(HL_SHM_RING_TX, HL_SHM_STEP_INTENT);
	for (unsigned f = 0; f < nfr; f++) {
		const struct frame *x = &fr[f];
		if (x->why != 0) {
			count_refused(p, x->why);
			continue;
		}
		if (!claim_frame(p, x, idx, k, &at))
			continue;
		struct hl_buf *head = link_frame(p, x, idx, len);
		if (fl[x->first] & FL_OL) {
			struct hl_shm_ol sol;
			struct hl_buf_ol claimed;
			hl_shm_ring_get_ol(r, x->first, &sol);
			memcpy(&claimed, &sol, sizeof(claimed));
			if (hl_ol_check(head, &claimed, PEER_OL_CAPS, PEER_OL_MTU, &p->ol) < 0) {
				/* handed over, and a lie: dropped like a guest's frame */
				count_refused(p, WHY_BAD_OL);
				hl_buf_free(head);
				continue;
			}
		}
		pkts[got++] = head;
	}
	hl_shm_ring_publish(r, k);
	hook(HL_SHM_RING_TX, HL_SHM_STEP_INDEX);
	intent_end(p, HL_SHM_RING_TX);
	return got;
}

static unsigned take_tx(struct hl_shm_port *p, struct hl_buf **pkts, unsigned n)
{
	struct hl_shm_ring *r = &p->ring[HL_SHM_RING_TX];
	uint32_t avail = ring_avail(p, HL_SHM_RING_TX), idx[BATCH], len[BATCH];
	uint8_t fl[BATCH];
	unsigned got;

	uint32_t lim = avail < BATCH ? avail : BATCH;
	uint32_t k = lim < n ? lim : n;
	if (k == 0)
		return 0;
	if (hl_likely(check_descs(p, r, 0, k, 1, true, idx, len, fl) == 0)) {
		got = take_plain(p, pkts, k, idx, len);
	} else {
		/* n counts frames: read on as far as a burst goes */
		check_descs(p, r, k, lim, 1, true, idx, len, fl);
		got = take_frames(p, pkts, n, lim, lim == avail, idx, len, fl);
	}
	cnt_add(&p->st.c.tx_packets, got);
	return got;
}

/*
 * Give the peer the k buffers whose descriptors are already in ring `id`'s
 * next slots: the producer half of the intent protocol (shm_abi.h).
 */
static void hand_over(struct hl_shm_port *p, enum hl_shm_ring_id id, struct hl_buf **bufs, uint32_t k)
{
	struct hl_shm_ring *r = &p->ring[id];
	hook(id, HL_SHM_STEP_SLOTS);
	intent_begin(p, id, r->own, k);
	hook(id, HL_SHM_STEP_INTENT);
	for (uint32_t i = 0; i < k; i++) {
		hl_shm_owner_set(p->ctx, (uint32_t)(bufs[i] - p->ctx->bufs), p->tag);
		if (i == k / 2)
			hook(id, HL_SHM_STEP_OWNERS);
	}
	hl_shm_ring_publish(r, k);
	hook(id, HL_SHM_STEP_INDEX);
	intent_end(p, id);
}

unsigned hl_shm_port_refill(struct hl_shm_port *p)
{
	struct shm_ctx *c = p->ctx;
	struct hl_shm_ring *r = &p->ring[HL_SHM_RING_FILL];
	struct hl_buf *bufs[BATCH];
	unsigned total = 0;

	/* at most fill_target per call, however fast the peer takes them */
	while (total < p->fill_target) {
		uint32_t space = ring_avail(p, HL_SHM_RING_FILL);
		uint32_t queued = r->size - space;
		if (r->broken || queued >= p->fill_target)
			break;
		uint32_t k = p->fill_target - queued;
		if (k > p->fill_target - total)
			k = p->fill_target - total;
		if (k > BATCH)
			k = BATCH;
		while (k > 0 && hl_buf_alloc_bulk(c->bp, bufs, k) < 0)
			k /= 2;
		if (k == 0) {
			cnt_add_shared(&p->st.no_buf, 1);
			break;
		}
		for (uint32_t i = 0; i < k; i++)
			hl_shm_ring_put(r, i, buf_desc(bufs[i], c->max_len));
		hand_over(p, HL_SHM_RING_FILL, bufs, k);
		cnt_add(&p->st.c.filled, k);
		total += k;
	}
	return total;
}

unsigned hl_shm_port_rx_burst(struct hl_shm_port *p, struct hl_buf **pkts, unsigned n)
{
	hl_shm_port_reclaim(p);
	unsigned got = take_tx(p, pkts, n);
	hl_shm_port_refill(p);
	hl_shm_mirror_counters(p);
	return got;
}

bool hl_shm_port_pending(struct hl_shm_port *p)
{
	const struct hl_shm_ring *t = &p->ring[HL_SHM_RING_TX], *d = &p->ring[HL_SHM_RING_DONE];
	return (!t->broken && __atomic_load_n(&t->hdr->prod, __ATOMIC_RELAXED) != t->own) ||
	       (!d->broken && __atomic_load_n(&d->hdr->prod, __ATOMIC_RELAXED) != d->own);
}

/* ---- data path: switch -> peer -------------------------------------------------- */

/* A plain frame in one buffer of ours that no one else holds: it goes as it is. */
static inline bool zero_copy_ok(const struct shm_ctx *c, const struct hl_buf *b)
{
	return b->pool == c->bp && !(b->flags & (HL_BUF_F_EXTERNAL | HL_BUF_F_OFFLOAD)) && b->next == NULL &&
	       b->nb_segs == 1 && b->data_off == HL_BUF_HEADROOM && b->data_len == b->pkt_len &&
	       hl_buf_refcnt(b) == 1;
}

/*
 * Segments of chain b if every one may go to the peer as it is (ours, not
 * external, at the headroom, 1..room bytes, no other holder), at most
 * max_segs and adding up to its pkt_len; 0 when it must be copied.
 */
static uint32_t chain_zero_copy(const struct shm_ctx *c, const struct hl_buf *b, uint32_t max_segs)
{
	uint32_t n = 0, bytes = 0;
	for (const struct hl_buf *s = b; s != NULL; s = s->next) {
		if (++n > max_segs || s->pool != c->bp || (s->flags & HL_BUF_F_EXTERNAL) ||
		    s->data_off != HL_BUF_HEADROOM || s->data_len == 0 || s->data_len > c->max_len ||
		    hl_buf_refcnt(s) != 1)
			return 0;
		bytes += s->data_len;
	}
	return bytes == b->pkt_len ? n : 0;
}

/*
 * One transmit call's progress. A plain frame takes one slot and needs no
 * bookkeeping beyond k; a chain counts its extra slots, so frames are the
 * slots written less those.
 */
struct tx_run {
	struct hl_buf *out[OUT_SLOTS];
	uint32_t k;     /* slots written, not yet handed over */
	uint32_t space; /* free slots from the last one handed over: k may reach it */
	uint32_t slots; /* slots handed over already */
	uint32_t extra; /* slots beyond a frame's first */
	uint32_t feat;  /* the features in effect, read at the first frame that needs them */
};

#define FEAT_UNREAD UINT32_MAX

enum { TX_ZC, TX_COPY, TX_SKIP, TX_FULL, TX_NOBUF };

static void tx_flush(struct hl_shm_port *p, struct tx_run *t)
{
	if (t->k == 0)
		return;
	hand_over(p, HL_SHM_RING_RX, t->out, t->k);
	t->slots += t->k;
	t->space -= t->k;
	t->k = 0;
}

/*
 * A frame that is not a plain buffer of ours: a chain, one to copy, or one
 * with offload metadata. Writes its slots (and offload entry) when it goes;
 * TX_SKIP leaves it to the caller (too big, or needing an offload the peer
 * does not take), TX_FULL and TX_NOBUF end the call.
 */
static int tx_frame(struct hl_shm_port *p, struct hl_buf *b, struct tx_run *t)
{
	struct shm_ctx *c = p->ctx;
	struct hl_shm_ring *r = &p->ring[HL_SHM_RING_RX];

	if (t->feat == FEAT_UNREAD)
		t->feat = hl_shm_features(p);
	bool chain = t->feat & HL_SHM_F_CHAIN, ol = false;
	if (b->flags & HL_BUF_F_OFFLOAD) {
		/* the switch asked offloads() for this burst; the peer may have changed its mind since */
		ol = t->feat & HL_SHM_F_OFFLOAD;
		if (!ol && ((b->ol.flags & HL_OL_F_CSUM_PARTIAL) || b->ol.gso_type != HL_OL_GSO_NONE)) {
			cnt_add(&p->st.ol_unfit, 1);
			return TX_SKIP;
		}
	}
	if (b->pkt_len == 0 || b->pkt_len > (chain ? c->max_frame : c->max_len)) {
		cnt_add(&p->st.too_big, 1);
		return TX_SKIP;
	}
	uint32_t nslots = chain_zero_copy(c, b, chain ? HL_SHM_SEGS_MAX : 1);
	bool zc = nslots != 0;
	if (!zc)
		nslots = (b->pkt_len + c->max_len - 1) / c->max_len;
	if (t->k + nslots > t->space) {
		/* the peer may have freed more than the space seen at the start */
		t->space = ring_avail(p, HL_SHM_RING_RX);
		if (t->k + nslots > t->space)
			return TX_FULL;
	}
	/* leaves room in out[] for a whole call of plain frames after this one */
	if (t->k + nslots > OUT_SLOTS - BATCH)
		tx_flush(p, t);
	struct hl_buf *o = b;
	if (!zc && (o = hl_ol_copy(b, c->bp)) == NULL) {
		cnt_add_shared(&p->st.no_buf, 1);
		return TX_NOBUF;
	}
	if (ol) {
		struct hl_shm_ol e;
		memcpy(&e, &o->ol, sizeof(e));
		hl_shm_ring_put_ol(r, t->k, &e);
	}
	struct hl_buf *s = o;
	for (uint32_t j = 0; j < nslots; j++) {
		struct hl_buf *next = s->next;
		uint64_t d = buf_desc(s, s->data_len);
		if (j + 1 < nslots)
			d |= HL_SHM_DESC_MORE;
		if (j == 0 && ol)
			d |= HL_SHM_DESC_OL;
		hl_shm_ring_put(r, t->k + j, d);
		/* its own buffer now: the reference the chain held is the peer's */
		s->next = NULL;
		s->nb_segs = 1;
		s->pkt_len = s->data_len;
		t->out[t->k + j] = s;
		s = next;
	}
	t->k += nslots;
	t->extra += nslots - 1;
	return zc ? TX_ZC : TX_COPY;
}

unsigned hl_shm_port_tx_burst(struct hl_shm_port *p, struct hl_buf **pkts, unsigned n)
{
	struct shm_ctx *c = p->ctx;
	struct hl_shm_ring *r = &p->ring[HL_SHM_RING_RX];
	struct hl_buf *keep[BATCH], *spent[BATCH];
	struct tx_run t;
	unsigned nkeep = 0, nspent = 0, i, zc = 0, cp = 0;

	if (n > BATCH)
		n = BATCH;
	t.k = t.slots = t.extra = 0;
	t.feat = FEAT_UNREAD;
	t.space = ring_avail_for(p, HL_SHM_RING_RX, n > 0 ? n : 1);
	for (i = 0; i < n; i++) {
		struct hl_buf *b = pkts[i];
		if (hl_likely(zero_copy_ok(c, b) && b->pkt_len - 1u < c->max_len && t.k < t.space)) {
			/* the caller's reference becomes the peer's: no count to touch */
			hl_shm_ring_put(r, t.k, buf_desc(b, b->pkt_len));
			t.out[t.k++] = b;
			zc++;
			continue;
		}
		int rc = tx_frame(p, b, &t);
		if (rc == TX_ZC) {
			zc++;
		} else if (rc == TX_COPY) {
			spent[nspent++] = b;
			cp++;
		} else if (rc == TX_SKIP) {
			keep[nkeep++] = b;
		} else {
			break;
		}
	}
	cnt_add(&p->st.zcopy, zc);
	cnt_add(&p->st.copied, cp);
	if (i < n)
		cnt_add(&p->st.tx_full, n - i);
	tx_flush(p, &t);
	unsigned frames = t.slots - t.extra;
	cnt_add(&p->st.c.rx_packets, frames);
	hl_shm_mirror_counters(p);
	/* originals of the copies are done with; what did not go goes back, in order */
	hl_buf_free_bulk(spent, nspent);
	for (unsigned j = i; j < n; j++)
		keep[nkeep++] = pkts[j];
	memcpy(pkts + frames, keep, nkeep * sizeof(*keep));
	return frames;
}

/* ---- sleeping: the switch's half of the doorbell ----------------------------- */

bool hl_shm_port_arm(struct hl_shm_port *p)
{
	__atomic_store_n(&p->ctrl->kick_armed, 1, __ATOMIC_RELAXED);
	hl_smp_mb();
	return !hl_shm_port_pending(p);
}

void hl_shm_port_disarm(struct hl_shm_port *p)
{
	char buf[256];

	__atomic_store_n(&p->ctrl->kick_armed, 0, __ATOMIC_RELAXED);
	/* bounded: a peer that kicks without end does not keep us here */
	for (int i = 0; i < 64 && p->kick_fd >= 0; i++)
		if (read(p->kick_fd, buf, sizeof(buf)) < (ssize_t)sizeof(buf))
			break;
}

