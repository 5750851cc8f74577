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
 *     buffer is touched; a refused one is dropped and counted by reason.
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

#include "shm_port_pvt.h"
#include "shm_test_pvt.h"

void (*hl_shm_test_hook)(enum hl_shm_ring_id ring, enum hl_shm_step step);

#define BATCH 64 /* buffers taken back or posted per step */

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

static void count_refused(struct hl_shm_port *p, int why)
{
	if (why == HL_SHM_DESC_BAD_OFF)
		cnt_add(&p->st.c.bad_offset, 1);
	else if (why == HL_SHM_DESC_BAD_LEN)
		cnt_add(&p->st.c.bad_len, 1);
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
 * Taking k descriptors from a ring the peer produces, in two passes so the
 * cache misses of a burst overlap: check every descriptor's offset and
 * length and start fetching what the second pass reads (the buffer's
 * metadata, and with `data` the frame's first line, which the peer's core
 * just wrote), then claim each buffer. idx[i] is the buffer index, or
 * UINT32_MAX for a descriptor already refused (and counted); len[i] its
 * checked length. The second pass uses these, never the slot again: the
 * peer may rewrite it in between.
 */
static void check_descs(struct hl_shm_port *p, const struct hl_shm_ring *r, uint32_t k, uint32_t len_min,
			bool data, uint32_t *idx, uint32_t *len)
{
	struct shm_ctx *c = p->ctx;
	for (uint32_t i = 0; i < k; i++) {
		uint64_t d = hl_shm_ring_get(r, i);
		int why = hl_shm_desc_index(c, d, len_min, &idx[i]);
		if (hl_unlikely(why != HL_SHM_DESC_OK)) {
			count_refused(p, why);
			idx[i] = UINT32_MAX;
			continue;
		}
		len[i] = hl_shm_desc_len(d);
		__builtin_prefetch(&c->bufs[idx[i]]);
		if (data)
			__builtin_prefetch(c->base + hl_shm_desc_off(d));
	}
}

/*
 * Buffer idx, if it is this peer's to hand over; its owner becomes
 * new_owner. NULL (counted) otherwise.
 */
static inline struct hl_buf *claim(struct hl_shm_port *p, uint32_t idx, uint32_t new_owner)
{
	struct shm_ctx *c = p->ctx;
	if (hl_unlikely(idx == UINT32_MAX))
		return NULL;
	struct hl_buf *b = c->bufs + idx;
	if (hl_unlikely(hl_shm_owner_get(c, idx) != p->tag || hl_buf_refcnt(b) == 0)) {
		count_refused(p, -1);
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
		check_descs(p, r, k, 0, false, idx, len);
		for (uint32_t i = 0; i < k; i++) {
			struct hl_buf *b = claim(p, idx[i], HL_SHM_OWNER_FREE);
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

static unsigned take_tx(struct hl_shm_port *p, struct hl_buf **pkts, unsigned n)
{
	struct hl_shm_ring *r = &p->ring[HL_SHM_RING_TX];
	uint32_t k = ring_avail(p, HL_SHM_RING_TX), idx[BATCH], len[BATCH];
	unsigned got = 0;

	if (k > n)
		k = n;
	if (k > BATCH)
		k = BATCH;
	if (k == 0)
		return 0;
	intent_begin(p, HL_SHM_RING_TX, r->own, k);
	hook(HL_SHM_RING_TX, HL_SHM_STEP_INTENT);
	check_descs(p, r, k, 1, true, idx, len);
	for (uint32_t i = 0; i < k; i++) {
		struct hl_buf *b = claim(p, idx[i], HL_SHM_OWNER_SWITCH);
		if (hl_unlikely(b == NULL))
			continue;
		/* the peer's reference becomes the caller's */
		b->data_off = HL_BUF_HEADROOM;
		b->data_len = b->pkt_len = len[i];
		b->nb_segs = 1;
		b->next = NULL;
		pkts[got++] = b;
		if (i == k / 2)
			hook(HL_SHM_RING_TX, HL_SHM_STEP_OWNERS);
	}
	hl_shm_ring_publish(r, k);
	hook(HL_SHM_RING_TX, HL_SHM_STEP_INDEX);
	intent_end(p, HL_SHM_RING_TX);
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

static bool zero_copy_ok(const struct shm_ctx *c, const struct hl_buf *b)
{
	return b->pool == c->bp && !(b->flags & HL_BUF_F_EXTERNAL) && b->next == NULL &&
	       b->nb_segs == 1 && b->data_off == HL_BUF_HEADROOM && b->data_len == b->pkt_len &&
	       hl_buf_refcnt(b) == 1;
}

/* A private copy of a packet (any chain, any memory) in a fresh buffer. */
static struct hl_buf *copy_pkt(struct shm_ctx *c, const struct hl_buf *b)
{
	struct hl_buf *n = hl_buf_alloc(c->bp);
	if (n == NULL)
		return NULL;
	uint8_t *dst = hl_buf_data(n);
	uint32_t at = 0;
	for (const struct hl_buf *s = b; s != NULL && at < b->pkt_len; s = s->next) {
		uint32_t len = s->data_len;
		if (len > b->pkt_len - at)
			len = b->pkt_len - at;
		memcpy(dst + at, hl_buf_data(s), len);
		at += len;
	}
	n->data_len = n->pkt_len = at;
	return n;
}

unsigned hl_shm_port_tx_burst(struct hl_shm_port *p, struct hl_buf **pkts, unsigned n)
{
	struct shm_ctx *c = p->ctx;
	struct hl_shm_ring *r = &p->ring[HL_SHM_RING_RX];
	struct hl_buf *out[BATCH], *keep[BATCH], *spent[BATCH];
	uint32_t space = ring_avail_for(p, HL_SHM_RING_RX, n < BATCH ? n : BATCH);
	unsigned k = 0, nkeep = 0, nspent = 0, i, zc = 0, cp = 0, big = 0;

	if (n > BATCH)
		n = BATCH;
	for (i = 0; i < n && k < space; i++) {
		struct hl_buf *b = pkts[i], *o;
		if (hl_unlikely(b->pkt_len > c->max_len || b->pkt_len == 0)) {
			big++;
			keep[nkeep++] = b;
			continue;
		}
		if (hl_likely(zero_copy_ok(c, b))) {
			/* the caller's reference becomes the peer's: no count to touch */
			o = b;
			zc++;
		} else {
			o = copy_pkt(c, b);
			if (o == NULL) {
				cnt_add_shared(&p->st.no_buf, 1);
				break;
			}
			spent[nspent++] = b;
			cp++;
		}
		hl_shm_ring_put(r, k, buf_desc(o, o->pkt_len));
		out[k++] = o;
	}
	cnt_add(&p->st.too_big, big);
	cnt_add(&p->st.zcopy, zc);
	cnt_add(&p->st.copied, cp);
	if (i < n)
		cnt_add(&p->st.tx_full, n - i);
	if (k > 0) {
		hand_over(p, HL_SHM_RING_RX, out, k);
		cnt_add(&p->st.c.rx_packets, k);
	}
	hl_shm_mirror_counters(p);
	/* originals of the copies are done with; what did not go goes back, in order */
	hl_buf_free_bulk(spent, nspent);
	for (unsigned j = i; j < n; j++)
		keep[nkeep++] = pkts[j];
	memcpy(pkts + k, keep, nkeep * sizeof(*keep));
	return k;
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

