/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shm ports, switch side: the pool layout, the owner table, the four rings'
 * switch halves, and recovery after the switch died (model in shm_port.h).
 *
 * Invariants:
 *   - the owner table has two copies: a private one (ctx->own), which is the
 *     truth every check reads, and the one in the pool, which only records
 *     it for the next switch after a crash. A peer that scribbles on the
 *     pool's copy cannot make this switch accept a buffer; the private copy
 *     is loaded from the pool's exactly once, in hl_shm_recover.
 *   - owner[i] == PEER(p) implies buffer i is "in use" in the bufpool with
 *     one reference that is the peer's, and that no switch-side holder will
 *     write it. A buffer is set PEER before the ring index that hands it
 *     over is published, and leaves PEER before the switch uses it. FREE
 *     and SWITCH both mean "the switch side's" (buffers freed by other
 *     code keep SWITCH); recovery frees both alike.
 *   - every descriptor a peer wrote is checked (offset at a data start of
 *     the bufpool, length, owner == PEER(this port), refcnt != 0) before the
 *     buffer is touched; a refused one is dropped and counted by reason.
 *   - ring roles: this side produces rx (in tx_burst, the caller serialises
 *     it) and fill (in rx_burst), consumes tx and done (in rx_burst). So
 *     each ring has one switch-side writer.
 *   - burst order, for the crash story in shm_port.h:
 *       producer: slots, intent (release), owners, index (release), intent idle;
 *       consumer: intent (release), owners, index (release), intent idle.
 *     hl_shm_test_hook sees each step.
 *   - process-wide: one context per pool (its owner table and bufpool),
 *     found and changed under g_lock, off the data path.
 *   - the doorbell cannot lose a wake-up: the switch stores kick_armed then
 *     reads the peer's indices, the peer stores an index then reads
 *     kick_armed, each with a full fence in between, so at least one of
 *     them sees the other's store.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hugelink/shm_port.h>

void (*hl_shm_test_hook)(enum hl_shm_ring_id ring, enum hl_shm_step step);

#define DEFAULT_RING 256
#define BATCH 64 /* buffers taken back or posted per step */

struct shm_ctx {
	struct hl_pool *pool;
	struct hl_bufpool *bp;
	struct hl_buf *bufs; /* bp's metadata array: index <-> buffer without a call */
	uint8_t *base;       /* the pool's mapping: descriptor offsets -> addresses */
	struct hl_bufpool_geom g;
	unsigned page_shift;
	struct hl_div32 by_stride;
	uint32_t max_len;   /* room - headroom */
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
	bool claimed; /* served by someone (always, but for recovered ports) */
	int kick_fd;  /* the doorbell FIFO, read side; -1 without one */
	char kick_path[256];
	struct hl_shm_port_stats st; /* each field has one writer; relaxed stores */
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shm_ctx *g_ctxs;

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

static inline uint32_t owner_get(const struct shm_ctx *c, uint32_t i)
{
	return __atomic_load_n(&c->own[i], __ATOMIC_RELAXED);
}

static inline void owner_set(struct shm_ctx *c, uint32_t i, uint32_t v)
{
	__atomic_store_n(&c->own[i], v, __ATOMIC_RELAXED);
	__atomic_store_n(&c->words[i], v, __ATOMIC_RELAXED);
}

enum { DESC_OK, DESC_BAD_OFF, DESC_BAD_LEN };

/*
 * Buffer index of a descriptor that must point exactly at a data start of
 * the bufpool; len_min..max_len bytes.
 */
static inline int desc_index(const struct shm_ctx *c, uint64_t d, uint32_t len_min, uint32_t *idx)
{
	const struct hl_bufpool_geom *g = &c->g;
	uint64_t off = hl_shm_desc_off(d);
	uint32_t len = hl_shm_desc_len(d);

	if (hl_unlikely(off < g->zone_off + HL_BUF_HEADROOM || off >= g->zone_off + g->zone_len))
		return DESC_BAD_OFF;
	uint64_t rel = off - g->zone_off - HL_BUF_HEADROOM;
	bool exact;
	uint32_t slot = hl_div32(c->by_stride, (uint32_t)(rel & (g->page_size - 1)), &exact);
	if (hl_unlikely(!exact || slot >= g->per_page))
		return DESC_BAD_OFF;
	uint64_t i = (rel >> c->page_shift) * g->per_page + slot;
	if (hl_unlikely(i >= g->n))
		return DESC_BAD_OFF;
	if (hl_unlikely(len < len_min || len > c->max_len))
		return DESC_BAD_LEN;
	*idx = (uint32_t)i;
	return DESC_OK;
}

static inline uint64_t buf_desc(const struct hl_buf *b, uint32_t len)
{
	return hl_shm_desc(b->pool_off + HL_BUF_HEADROOM, len);
}

static void count_refused(struct hl_shm_port *p, int why)
{
	if (why == DESC_BAD_OFF)
		cnt_add(&p->st.c.bad_offset, 1);
	else if (why == DESC_BAD_LEN)
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

_Static_assert(sizeof(struct hl_shm_counters) % sizeof(uint64_t) == 0, "counters are 64-bit words");

/* Copy the counters into the control block, where the peer and tools see them. */
static void mirror_counters(struct hl_shm_port *p)
{
	const uint64_t *src = (const uint64_t *)&p->st.c;
	uint64_t *dst = (uint64_t *)&p->ctrl->counters;
	for (size_t i = 0; i < sizeof(struct hl_shm_counters) / sizeof(uint64_t); i++)
		__atomic_store_n(&dst[i], __atomic_load_n(&src[i], __ATOMIC_RELAXED), __ATOMIC_RELAXED);
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
		int why = desc_index(c, d, len_min, &idx[i]);
		if (hl_unlikely(why != DESC_OK)) {
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
	if (hl_unlikely(owner_get(c, idx) != p->tag || hl_buf_refcnt(b) == 0)) {
		count_refused(p, -1);
		return NULL;
	}
	owner_set(c, idx, new_owner);
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
 * next slots: the producer half of the intent protocol (shm_port.h).
 */
static void hand_over(struct hl_shm_port *p, enum hl_shm_ring_id id, struct hl_buf **bufs, uint32_t k)
{
	struct hl_shm_ring *r = &p->ring[id];
	hook(id, HL_SHM_STEP_SLOTS);
	intent_begin(p, id, r->own, k);
	hook(id, HL_SHM_STEP_INTENT);
	for (uint32_t i = 0; i < k; i++) {
		owner_set(p->ctx, (uint32_t)(bufs[i] - p->ctx->bufs), p->tag);
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
	mirror_counters(p);
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
	mirror_counters(p);
	/* originals of the copies are done with; what did not go goes back, in order */
	hl_buf_free_bulk(spent, nspent);
	for (unsigned j = i; j < n; j++)
		keep[nkeep++] = pkts[j];
	memcpy(pkts + k, keep, nkeep * sizeof(*keep));
	return k;
}

/* ---- doorbell ------------------------------------------------------------------------ */

/* "<dir of the record>/<pool>.shm.<port>.kick"; false if it does not fit. */
static bool kick_path_of(struct hl_pool *pool, const char *port, char *buf, size_t n)
{
	struct hl_pool_info info;
	if (hl_pool_get_info(pool, &info) < 0)
		return false;
	const char *slash = strrchr(info.record_path, '/');
	int dir = slash != NULL ? (int)(slash - info.record_path) : 1;
	const char *base = slash != NULL ? info.record_path : ".";
	int w = snprintf(buf, n, "%.*s/%s.shm.%s.kick", dir, base, info.name, port);
	return w > 0 && (size_t)w < n;
}

/* Make (or reuse) the FIFO and hold its read side; a port without one still works. */
static void kick_open(struct hl_shm_port *p)
{
	struct stat st;

	p->kick_fd = -1;
	if (!kick_path_of(p->ctx->pool, p->name, p->kick_path, sizeof(p->kick_path))) {
		p->kick_path[0] = '\0';
		return;
	}
	if (mkfifo(p->kick_path, 0600) < 0 && errno != EEXIST) {
		HL_LOG_WARN("shm port %s: no doorbell (%s: %s); polling only", p->name, p->kick_path,
			    strerror(errno));
		p->kick_path[0] = '\0';
		return;
	}
	/* O_RDWR: never blocks, and the FIFO always has a reader */
	int fd = open(p->kick_path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		HL_LOG_WARN("shm port %s: %s is not a usable FIFO; polling only", p->name, p->kick_path);
		if (fd >= 0)
			close(fd);
		p->kick_path[0] = '\0';
		return;
	}
	p->kick_fd = fd;
}

static void kick_close(struct hl_shm_port *p)
{
	if (p->kick_fd >= 0)
		close(p->kick_fd);
	if (p->kick_path[0] != '\0')
		unlink(p->kick_path);
	p->kick_fd = -1;
}

int hl_shm_port_kick_fd(const struct hl_shm_port *p)
{
	return p->kick_fd;
}

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

/* ---- contexts (one per pool) ------------------------------------------------------ */

static unsigned log2u(uint64_t v)
{
	return (unsigned)__builtin_ctzll(v);
}

static size_t owner_words_off(void)
{
	return HL_ALIGN_UP(sizeof(struct hl_shm_owner_hdr), (size_t)HL_CACHE_LINE);
}

static struct shm_ctx *ctx_find(struct hl_pool *pool)
{
	for (struct shm_ctx *c = g_ctxs; c != NULL; c = c->next)
		if (c->pool == pool)
			return c;
	return NULL;
}

static void ctx_unlink(struct shm_ctx *c)
{
	for (struct shm_ctx **pp = &g_ctxs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
}

static int ctx_geom(struct shm_ctx *c)
{
	if (!HL_IS_POW2(c->g.page_size) || c->g.page_size > (1ull << 31) || c->g.stride == 0 ||
	    c->g.per_page == 0)
		return hl_error(-EINVAL, "shm: bufpool geometry makes no sense");
	if (c->g.data_room - HL_BUF_HEADROOM > HL_SHM_LEN_MAX)
		return hl_error(-EINVAL, "shm: buffers of %u bytes do not fit a descriptor's 16-bit length",
				c->g.data_room);
	c->page_shift = log2u(c->g.page_size);
	c->by_stride = hl_div32_init(c->g.stride);
	c->max_len = c->g.data_room - HL_BUF_HEADROOM;
	return 0;
}

/* Caller holds g_lock. A fresh owner table for bp in pool. */
static int ctx_create(struct hl_pool *pool, struct hl_bufpool *bp, struct shm_ctx **out)
{
	struct shm_ctx *c = calloc(1, sizeof(*c));
	uint64_t off, len;
	int rc;

	if (c == NULL)
		return hl_error(-ENOMEM, "shm: out of memory");
	c->pool = pool;
	c->bp = bp;
	c->bufs = hl_bufpool_buf_at(bp, 0);
	c->base = hl_pool_off2va(pool, 0);
	hl_bufpool_geom(bp, &c->g);
	rc = ctx_geom(c);
	if (rc < 0)
		goto fail;
	c->own = calloc(c->g.n, sizeof(uint32_t));
	if (c->own == NULL) {
		rc = hl_error(-ENOMEM, "shm: out of memory");
		goto fail;
	}
	len = owner_words_off() + (uint64_t)c->g.n * sizeof(uint32_t);
	rc = hl_pool_zone_reserve(pool, HL_SHM_OWNER_ZONE, len, HL_CACHE_LINE, 0, &off);
	if (rc < 0)
		goto fail;
	c->oh = hl_pool_off2va(pool, off);
	memset(c->oh, 0, len);
	c->words = (uint32_t *)((uint8_t *)c->oh + owner_words_off());
	c->oh->version = HL_SHM_VERSION;
	c->oh->hdr_size = sizeof(struct hl_shm_owner_hdr);
	snprintf(c->oh->bp_name, sizeof(c->oh->bp_name), "%s", hl_bufpool_name(bp));
	c->oh->bp_n = c->g.n;
	c->oh->bp_room = c->g.data_room;
	c->oh->words_off = owner_words_off();
	__atomic_store_n(&c->oh->magic, HL_SHM_OWNER_MAGIC, __ATOMIC_RELEASE);
	c->next = g_ctxs;
	g_ctxs = c;
	*out = c;
	return 0;
fail:
	free(c->own);
	free(c);
	return rc;
}

static void ctx_free(struct shm_ctx *c)
{
	ctx_unlink(c);
	hl_pool_zone_free(c->pool, HL_SHM_OWNER_ZONE);
	free(c->own);
	free(c);
}

/* ---- ports: create, find, destroy ------------------------------------------------- */

static uint64_t ring_bytes(uint32_t size)
{
	return HL_ALIGN_UP((uint64_t)hl_shm_ring_memsize(size), (uint64_t)HL_CACHE_LINE);
}

static int port_open_rings(struct hl_shm_port *p)
{
	uint8_t *zone = (uint8_t *)p->ctrl;
	for (unsigned r = 0; r < HL_SHM_NRINGS; r++) {
		bool producer = r == HL_SHM_RING_RX || r == HL_SHM_RING_FILL;
		int rc = hl_shm_ring_open(&p->ring[r], zone + p->ctrl->ring_off[r], p->ctrl->ring_size,
					  producer);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int hl_shm_port_create(struct hl_pool *pool, struct hl_bufpool *bp, const char *name,
		       unsigned ring_size, struct hl_shm_port **out)
{
	struct hl_shm_port *p = NULL;
	struct shm_ctx *c;
	uint64_t off, len;
	int rc;

	if (pool == NULL || bp == NULL || out == NULL)
		return hl_error(-EINVAL, "shm port: pool, bufpool or out is NULL");
	if (hl_bufpool_pool(bp) != pool)
		return hl_error(-EINVAL, "shm port: the bufpool is not in this pool");
	if (name == NULL || name[0] == '\0' || strlen(name) + strlen(HL_SHM_ZONE_PREFIX) >= HL_ZONE_NAME_LEN)
		return hl_error(-EINVAL, "shm port: name must be 1..%zu characters",
				HL_ZONE_NAME_LEN - 1 - strlen(HL_SHM_ZONE_PREFIX));
	if (ring_size == 0)
		ring_size = DEFAULT_RING;
	if (!HL_IS_POW2(ring_size) || ring_size < HL_SHM_RING_MIN || ring_size > HL_SHM_RING_MAX)
		return hl_error(-EINVAL, "shm port %s: ring_size %u must be a power of two in %u..%u",
				name, ring_size, HL_SHM_RING_MIN, HL_SHM_RING_MAX);

	pthread_mutex_lock(&g_lock);
	c = ctx_find(pool);
	if (c != NULL && c->bp != bp) {
		rc = hl_error(-EBUSY, "shm port %s: the pool's shm ports serve bufpool %s", name,
			      hl_bufpool_name(c->bp));
		goto out;
	}
	if (c == NULL && (rc = ctx_create(pool, bp, &c)) < 0)
		goto out;
	unsigned id = 0;
	while (id < HL_SHM_MAX_PORTS && c->ports[id] != NULL)
		id++;
	if (id == HL_SHM_MAX_PORTS) {
		rc = hl_error(-ENOSPC, "shm port %s: all %u shm ports in use", name, HL_SHM_MAX_PORTS);
		goto out_ctx;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		rc = hl_error(-ENOMEM, "shm port %s: out of memory", name);
		goto out_ctx;
	}
	p->kick_fd = -1;
	p->ctx = c;
	p->id = id;
	p->tag = HL_SHM_OWNER_PEER(id);
	p->fill_target = ring_size / 2;
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->zone, sizeof(p->zone), HL_SHM_ZONE_PREFIX "%s", name);

	len = sizeof(struct hl_shm_ctrl) + HL_SHM_NRINGS * ring_bytes(ring_size);
	rc = hl_pool_zone_reserve(pool, p->zone, len, HL_CACHE_LINE, 0, &off);
	if (rc < 0)
		goto out_ctx;
	struct hl_shm_ctrl *ctl = hl_pool_off2va(pool, off);
	memset(ctl, 0, len);
	ctl->version = HL_SHM_VERSION;
	ctl->ctrl_size = sizeof(*ctl);
	ctl->ring_size = ring_size;
	ctl->port_id = id;
	ctl->zone_len = len;
	for (unsigned r = 0; r < HL_SHM_NRINGS; r++) {
		ctl->ring_off[r] = sizeof(*ctl) + r * ring_bytes(ring_size);
		hl_shm_ring_format((uint8_t *)ctl + ctl->ring_off[r], ring_size, 0);
	}
	ctl->bp_zone_off = c->g.zone_off;
	ctl->bp_zone_len = c->g.zone_len;
	ctl->bp_page_size = c->g.page_size;
	ctl->bp_n = c->g.n;
	ctl->bp_room = c->g.data_room;
	ctl->bp_stride = c->g.stride;
	ctl->bp_per_page = c->g.per_page;
	ctl->headroom = HL_BUF_HEADROOM;
	p->ctrl = ctl;
	rc = port_open_rings(p);
	if (rc < 0) {
		hl_pool_zone_free(pool, p->zone);
		goto out_ctx;
	}
	__atomic_store_n(&ctl->magic, HL_SHM_MAGIC, __ATOMIC_RELEASE);
	snprintf(c->oh->ports[id], sizeof(c->oh->ports[id]), "%s", p->zone);
	p->claimed = true;
	c->ports[id] = p;
	c->nports++;
	kick_open(p);
	pthread_mutex_unlock(&g_lock);
	hl_shm_port_refill(p);
	mirror_counters(p);
	HL_LOG_INFO("shm port %s: id %u, rings of %u, zone %s at 0x%llx", name, id, ring_size,
		    p->zone, (unsigned long long)off);
	*out = p;
	return 0;
out_ctx:
	free(p);
	if (c->nports == 0)
		ctx_free(c);
out:
	pthread_mutex_unlock(&g_lock);
	return rc;
}

int hl_shm_port_find(struct hl_pool *pool, const char *name, struct hl_shm_port **out)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&g_lock);
	struct shm_ctx *c = ctx_find(pool);
	for (unsigned i = 0; c != NULL && i < HL_SHM_MAX_PORTS; i++) {
		if (c->ports[i] != NULL && strcmp(c->ports[i]->name, name) == 0) {
			*out = c->ports[i];
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&g_lock);
	return rc;
}

int hl_shm_port_claim(struct hl_pool *pool, const char *name, struct hl_shm_port **out)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&g_lock);
	struct shm_ctx *c = ctx_find(pool);
	for (unsigned i = 0; c != NULL && i < HL_SHM_MAX_PORTS; i++) {
		struct hl_shm_port *p = c->ports[i];
		if (p == NULL || strcmp(p->name, name) != 0)
			continue;
		if (p->claimed) {
			rc = hl_error(-EBUSY, "shm port %s is already served", name);
		} else {
			p->claimed = true;
			*out = p;
			rc = 0;
		}
		break;
	}
	pthread_mutex_unlock(&g_lock);
	return rc;
}

unsigned hl_shm_port_unclaimed(struct hl_pool *pool, char (*names)[HL_ZONE_NAME_LEN], unsigned max)
{
	unsigned n = 0;

	pthread_mutex_lock(&g_lock);
	struct shm_ctx *c = ctx_find(pool);
	for (unsigned i = 0; c != NULL && i < HL_SHM_MAX_PORTS && n < max; i++)
		if (c->ports[i] != NULL && !c->ports[i]->claimed)
			snprintf(names[n++], HL_ZONE_NAME_LEN, "%s", c->ports[i]->name);
	pthread_mutex_unlock(&g_lock);
	return n;
}

void hl_shm_port_destroy(struct hl_shm_port *p)
{
	if (p == NULL)
		return;
	struct shm_ctx *c = p->ctx;
	unsigned taken = 0;

	pthread_mutex_lock(&g_lock);
	/* a peer still looking sees the port go before its buffers do */
	__atomic_store_n(&p->ctrl->magic, 0, __ATOMIC_RELEASE);
	for (uint32_t i = 0; i < c->g.n; i++) {
		if (owner_get(c, i) != p->tag)
			continue;
		owner_set(c, i, HL_SHM_OWNER_FREE);
		struct hl_buf *b = hl_bufpool_buf_at(c->bp, i);
		if (hl_buf_refcnt(b) != 0)
			hl_buf_free(b);
		taken++;
	}
	/* zone before name: a crash in between leaves a name without a zone,
	 * which recovery drops; the other order would leak the zone */
	hl_pool_zone_free(c->pool, p->zone);
	memset(c->oh->ports[p->id], 0, sizeof(c->oh->ports[p->id]));
	c->ports[p->id] = NULL;
	if (--c->nports == 0)
		ctx_free(c);
	pthread_mutex_unlock(&g_lock);
	kick_close(p);
	HL_LOG_INFO("shm port %s: removed, %u buffers taken back from its peer", p->name, taken);
	free(p);
}

/* ---- introspection ------------------------------------------------------------------ */

void hl_shm_port_stats(const struct hl_shm_port *p, struct hl_shm_port_stats *st)
{
	const uint64_t *src = (const uint64_t *)&p->st;
	uint64_t *dst = (uint64_t *)st;
	for (size_t i = 0; i < sizeof(*st) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

bool hl_shm_port_peer_attached(const struct hl_shm_port *p, uint32_t *pid)
{
	uint32_t v = __atomic_load_n(&p->ctrl->peer_pid, __ATOMIC_ACQUIRE);
	if (pid != NULL)
		*pid = v;
	if (v == 0)
		return false;
	/* a peer that died attached leaves its pid behind */
	return kill((pid_t)v, 0) == 0 || errno == EPERM;
}

const char *hl_shm_port_name(const struct hl_shm_port *p)
{
	return p->name;
}

struct hl_bufpool *hl_shm_port_bufpool(const struct hl_shm_port *p)
{
	return p->ctx->bp;
}

uint32_t hl_shm_port_id(const struct hl_shm_port *p)
{
	return p->id;
}

unsigned hl_shm_port_peer_held(const struct hl_shm_port *p)
{
	unsigned n = 0;
	for (uint32_t i = 0; i < p->ctx->g.n; i++)
		n += owner_get(p->ctx, i) == p->tag;
	return n;
}

int hl_shm_owner_census(struct hl_pool *pool, unsigned *free_or_switch, unsigned *peer)
{
	int rc = -ENOENT;
	pthread_mutex_lock(&g_lock);
	struct shm_ctx *c = ctx_find(pool);
	if (c != NULL) {
		unsigned f = 0, q = 0;
		for (uint32_t i = 0; i < c->g.n; i++) {
			uint32_t v = owner_get(c, i);
			if (v & HL_SHM_OWNER_PEER_BIT)
				q++;
			else
				f++;
			/* the pool's copy must say the same */
			if (__atomic_load_n(&c->words[i], __ATOMIC_RELAXED) != v)
				rc = -EBADMSG;
		}
		*free_or_switch = f;
		*peer = q;
		if (rc != -EBADMSG)
			rc = 0;
	}
	pthread_mutex_unlock(&g_lock);
	return rc;
}

/* ---- recovery ------------------------------------------------------------------------ */

struct recover {
	struct shm_ctx *c;
	struct hl_shm_recover_report *rep;
};

/* Resolve one ring's intent against the published index (see shm_port.h). */
static void resolve_intent(struct recover *rv, struct hl_shm_port *p, enum hl_shm_ring_id id)
{
	struct shm_ctx *c = rv->c;
	struct hl_shm_intent *in = &p->ctrl->intent[id];
	struct hl_shm_ring_hdr *h = (struct hl_shm_ring_hdr *)((uint8_t *)p->ctrl + p->ctrl->ring_off[id]);
	uint32_t size = p->ctrl->ring_size, mask = size - 1;
	bool producer = id == HL_SHM_RING_RX || id == HL_SHM_RING_FILL;

	if (__atomic_load_n(&in->state, __ATOMIC_ACQUIRE) != HL_SHM_INTENT_ACTIVE)
		goto done;
	uint32_t start = in->start, count = in->count;
	if (count > size) {
		rv->rep->bad_entries++;
		goto done;
	}
	uint32_t *idxp = producer ? &h->prod : &h->cons;
	bool published = __atomic_load_n(idxp, __ATOMIC_ACQUIRE) == start + count;

	if (producer && published)
		rv->rep->intents_committed++;
	else if (producer)
		rv->rep->intents_undone++;
	else if (!published)
		rv->rep->intents_forward++;
	for (uint32_t i = 0; i < count && !(published && !producer); i++) {
		uint32_t idx;
		if (desc_index(c, h->slots[(start + i) & mask], 0, &idx) != DESC_OK) {
			rv->rep->bad_entries++;
			continue;
		}
		uint32_t v = owner_get(c, idx);
		if (producer && published) {
			/* the peer may hold it: make the table say so */
			if (!(v & HL_SHM_OWNER_PEER_BIT))
				owner_set(c, idx, p->tag);
			else if (v != p->tag)
				rv->rep->bad_entries++;
		} else if (v == p->tag) {
			/* never handed over (producer), or handed over (consumer) */
			owner_set(c, idx, HL_SHM_OWNER_SWITCH);
		}
	}
	if (producer && !published)
		__atomic_store_n(idxp, start, __ATOMIC_RELEASE);
	else if (!producer && !published)
		__atomic_store_n(idxp, start + count, __ATOMIC_RELEASE);
done:
	__atomic_store_n(&in->state, HL_SHM_INTENT_IDLE, __ATOMIC_RELEASE);
}

/* Re-attach port zone `zname` as port id; NULL (counted) if it makes no sense. */
static struct hl_shm_port *recover_port(struct recover *rv, uint32_t id, const char *zname)
{
	struct shm_ctx *c = rv->c;
	uint64_t off, len;

	if (hl_pool_zone_lookup(c->pool, zname, &off, &len) < 0 ||
	    strncmp(zname, HL_SHM_ZONE_PREFIX, strlen(HL_SHM_ZONE_PREFIX)) != 0 ||
	    len < sizeof(struct hl_shm_ctrl)) {
		HL_LOG_WARN("shm recover: port %u's zone %s is missing or too small", id, zname);
		return NULL;
	}
	struct hl_shm_ctrl *ctl = hl_pool_off2va(c->pool, off);
	uint32_t rs = ctl->ring_size;
	if (ctl->magic != HL_SHM_MAGIC || ctl->version != HL_SHM_VERSION || ctl->port_id != id ||
	    !HL_IS_POW2(rs) || rs < HL_SHM_RING_MIN || rs > HL_SHM_RING_MAX ||
	    ctl->zone_len != len || len < sizeof(*ctl) + HL_SHM_NRINGS * ring_bytes(rs)) {
		HL_LOG_WARN("shm recover: control block of %s is damaged", zname);
		return NULL;
	}
	for (unsigned r = 0; r < HL_SHM_NRINGS; r++)
		if (ctl->ring_off[r] != sizeof(*ctl) + r * ring_bytes(rs)) {
			HL_LOG_WARN("shm recover: ring %u of %s is misplaced", r, zname);
			return NULL;
		}
	struct hl_shm_port *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->kick_fd = -1;
	p->ctx = c;
	p->ctrl = ctl;
	p->id = id;
	p->tag = HL_SHM_OWNER_PEER(id);
	p->fill_target = rs / 2;
	snprintf(p->zone, sizeof(p->zone), "%s", zname);
	snprintf(p->name, sizeof(p->name), "%s", zname + strlen(HL_SHM_ZONE_PREFIX));
	for (unsigned r = 0; r < HL_SHM_NRINGS; r++)
		resolve_intent(rv, p, (enum hl_shm_ring_id)r);
	if (port_open_rings(p) < 0) {
		/* indices a peer made inconsistent: the ring stays broken until reset */
		for (unsigned r = 0; r < HL_SHM_NRINGS; r++) {
			struct hl_shm_ring *ring = &p->ring[r];
			if (ring->hdr == NULL) {
				ring->hdr = (struct hl_shm_ring_hdr *)((uint8_t *)ctl + ctl->ring_off[r]);
				ring->slots = ring->hdr->slots;
				ring->size = rs;
				ring->mask = rs - 1;
				ring->producer = r == HL_SHM_RING_RX || r == HL_SHM_RING_FILL;
				ring->broken = true;
				ring->broken_events = 1;
				p->st.c.ring_broken++;
			}
		}
	}
	return p;
}

static bool keep_peer_owned(unsigned index, void *opaque)
{
	const struct shm_ctx *c = opaque;
	return (owner_get(c, index) & HL_SHM_OWNER_PEER_BIT) != 0;
}

int hl_shm_recover(struct hl_pool *pool, unsigned cache_size, struct hl_bufpool **bp_out,
		   struct hl_shm_recover_report *rep)
{
	struct hl_shm_recover_report local;
	struct hl_pool_info info;
	struct recover rv;
	struct shm_ctx *c = NULL;
	struct hl_bufpool *bp = NULL;
	uint64_t off, len, bp_off, bp_len;
	char bp_name[HL_BUF_NAME_LEN], bp_zone[HL_ZONE_NAME_LEN];
	int rc;

	if (pool == NULL || bp_out == NULL)
		return hl_error(-EINVAL, "shm recover: pool or bp_out is NULL");
	if (rep == NULL)
		rep = &local;
	memset(rep, 0, sizeof(*rep));
	hl_pool_get_info(pool, &info);
	if (!info.owner)
		return hl_error(-EPERM, "shm recover: attach the pool as its owner first");
	pthread_mutex_lock(&g_lock);
	if (ctx_find(pool) != NULL) {
		rc = hl_error(-EBUSY, "shm recover: this process already serves the pool's shm ports");
		goto out;
	}
	rc = hl_pool_zone_lookup(pool, HL_SHM_OWNER_ZONE, &off, &len);
	if (rc < 0) {
		rc = hl_error(rc, "shm recover: no owner table in the pool");
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		rc = hl_error(-ENOMEM, "shm recover: out of memory");
		goto out;
	}
	c->pool = pool;
	c->base = hl_pool_off2va(pool, 0);
	c->oh = hl_pool_off2va(pool, off);
	const struct hl_shm_owner_hdr *oh = c->oh;
	memcpy(bp_name, oh->bp_name, sizeof(bp_name));
	bp_name[sizeof(bp_name) - 1] = '\0';
	snprintf(bp_zone, sizeof(bp_zone), "b:%s", bp_name);
	if (oh->magic != HL_SHM_OWNER_MAGIC || oh->version != HL_SHM_VERSION ||
	    oh->words_off != owner_words_off() || oh->bp_n == 0 ||
	    len < owner_words_off() + (uint64_t)oh->bp_n * sizeof(uint32_t) ||
	    oh->bp_room <= HL_BUF_HEADROOM || oh->bp_room > info.page_size ||
	    hl_pool_zone_lookup(pool, bp_zone, &bp_off, &bp_len) < 0) {
		rc = hl_error(-EBADMSG, "shm recover: the owner table's header is damaged");
		goto out;
	}
	/* the bufpool's geometry, as hl_bufpool_create lays it out; adopt re-checks it */
	c->g.zone_off = bp_off;
	c->g.zone_len = bp_len;
	c->g.page_size = info.page_size;
	c->g.n = oh->bp_n;
	c->g.data_room = oh->bp_room;
	c->g.stride = HL_ALIGN_UP(oh->bp_room, (uint32_t)HL_CACHE_LINE);
	c->g.per_page = (uint32_t)(info.page_size / c->g.stride);
	if ((rc = ctx_geom(c)) < 0)
		goto out;
	c->words = (uint32_t *)((uint8_t *)c->oh + owner_words_off());
	c->own = malloc((size_t)c->g.n * sizeof(uint32_t));
	if (c->own == NULL) {
		rc = hl_error(-ENOMEM, "shm recover: out of memory");
		goto out;
	}
	/* the one time the pool's owner table is believed, and then only in range */
	for (uint32_t i = 0; i < c->g.n; i++) {
		uint32_t v = __atomic_load_n(&c->words[i], __ATOMIC_RELAXED);
		bool ok = v == HL_SHM_OWNER_FREE || v == HL_SHM_OWNER_SWITCH ||
			  ((v & HL_SHM_OWNER_PEER_BIT) && (v & ~HL_SHM_OWNER_PEER_BIT) < HL_SHM_MAX_PORTS &&
			   oh->ports[v & ~HL_SHM_OWNER_PEER_BIT][0] != '\0');
		if (!ok) {
			rep->bad_entries++;
			v = HL_SHM_OWNER_SWITCH;
		}
		c->own[i] = v;
	}
	rv.c = c;
	rv.rep = rep;
	for (uint32_t id = 0; id < HL_SHM_MAX_PORTS; id++) {
		char zname[HL_ZONE_NAME_LEN];
		memcpy(zname, oh->ports[id], sizeof(zname));
		zname[sizeof(zname) - 1] = '\0';
		if (zname[0] == '\0')
			continue;
		struct hl_shm_port *p = recover_port(&rv, id, zname);
		if (p == NULL) {
			/* its buffers come back; its name and zone go (a port whose
			 * removal the crash interrupted ends up here too) */
			rep->bad_entries++;
			memset(c->oh->ports[id], 0, sizeof(c->oh->ports[id]));
			if (strncmp(zname, HL_SHM_ZONE_PREFIX, strlen(HL_SHM_ZONE_PREFIX)) == 0)
				hl_pool_zone_free(pool, zname);
			for (uint32_t i = 0; i < c->g.n; i++)
				if (c->own[i] == HL_SHM_OWNER_PEER(id))
					c->own[i] = HL_SHM_OWNER_SWITCH;
			continue;
		}
		c->ports[id] = p;
		c->nports++;
		rep->ports++;
		kick_open(p);
	}
	rc = hl_bufpool_adopt(pool, bp_name, c->g.n, c->g.data_room, cache_size, keep_peer_owned, c, &bp);
	if (rc < 0)
		goto out;
	/* adopt checked the zone against n and data_room, so the geometry is c->g */
	c->bp = bp;
	c->bufs = hl_bufpool_buf_at(bp, 0);
	for (uint32_t i = 0; i < c->g.n; i++) {
		uint32_t v = c->own[i];
		if (v & HL_SHM_OWNER_PEER_BIT) {
			rep->kept++;
		} else {
			rep->reclaimed += v == HL_SHM_OWNER_SWITCH;
			v = HL_SHM_OWNER_FREE;
		}
		owner_set(c, i, v);
	}
	for (uint32_t id = 0; id < HL_SHM_MAX_PORTS; id++) {
		struct hl_shm_port *p = c->ports[id];
		if (p == NULL)
			continue;
		__atomic_store_n(&p->ctrl->switch_gen, p->ctrl->switch_gen + 1, __ATOMIC_RELEASE);
		mirror_counters(p);
	}
	c->next = g_ctxs;
	g_ctxs = c;
	pthread_mutex_unlock(&g_lock);
	HL_LOG_INFO("shm recover: %u ports, %u buffers kept with peers, %u reclaimed; intents: "
		    "%u committed, %u undone, %u rolled forward; %u bad entries",
		    rep->ports, rep->kept, rep->reclaimed, rep->intents_committed, rep->intents_undone,
		    rep->intents_forward, rep->bad_entries);
	for (uint32_t id = 0; id < HL_SHM_MAX_PORTS; id++)
		if (c->ports[id] != NULL)
			hl_shm_port_refill(c->ports[id]);
	*bp_out = bp;
	return 0;
out:
	if (c != NULL) {
		for (uint32_t id = 0; id < HL_SHM_MAX_PORTS; id++) {
			if (c->ports[id] != NULL && c->ports[id]->kick_fd >= 0)
				close(c->ports[id]->kick_fd);
			free(c->ports[id]);
		}
		free(c->own);
		free(c);
	}
	pthread_mutex_unlock(&g_lock);
	return rc;
}
