/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Packet buffer pools (model in buf.h).
 *
 * Invariants:
 *   - every buffer is in exactly one place: in use (refcnt >= 1), in the
 *     shared free ring, or in one thread's cache (both with refcnt 0). So
 *     in_use = n - ring count - cache lengths, and the ring (>= n slots)
 *     never refuses a buffer.
 *   - cache slot i of every bufpool is written only by the thread holding
 *     slot id i (tl_slot); other threads only read its length, for stats.
 *     Slot ids are handed out from a global bitmap.
 *   - g_lock guards the list of bufpools and serialises flushing a cache
 *     from outside its thread (thread detach, bufpool free). It is never
 *     taken on the data path.
 *   - data rooms never cross a pool page, so never a segment boundary;
 *     creation re-checks this through the IOVA translation.
 *   - an adopted bufpool (hl_bufpool_adopt) is built exactly as a created
 *     one over the existing zone, except that kept buffers start in use and
 *     no data room is written; until adoption succeeds the zone is not ours
 *     to free, so a failed adoption leaves it alone.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hugelink/buf.h>
#include <hugelink/ring.h>

_Static_assert(sizeof(struct hl_buf) == 2 * HL_CACHE_LINE, "hl_buf is two cache lines");
_Static_assert(HL_BUF_MAX_THREADS <= 64, "slot ids live in one 64-bit bitmap");

#define FREE_BATCH 64

struct hl_bufcache {
	uint32_t len;         /* relaxed atomics: read by other threads' stats */
	struct hl_buf **objs; /* 2 * cache_size entries */
} hl_cache_aligned;

struct hl_bufpool {
	struct hl_pool *pool;
	struct hl_ring *ring; /* shared free list, MPMC */
	struct hl_buf *bufs;  /* n entries of metadata */
	unsigned n;
	unsigned data_room;
	unsigned cache_size;
	uint64_t zone_off;
	uint64_t zone_len;
	uint64_t page_size;
	unsigned stride;
	unsigned per_page;
	char name[HL_BUF_NAME_LEN];
	char zone[HL_ZONE_NAME_LEN];
	uint64_t double_free; /* atomic */
	uint64_t alloc_fail;  /* atomic */
	struct hl_bufpool *list_next;
	struct hl_buf **cache_mem;
	struct hl_bufcache caches[HL_BUF_MAX_THREADS];
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hl_bufpool *g_pools;
static uint64_t g_slots; /* bit i set: slot id i is taken */
static pthread_once_t g_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_key;
static __thread int tl_slot = -1;

/* ---- releasing and resetting buffers ----------------------------------------- */

static void buf_reset(struct hl_buf *b)
{
	b->data_off = HL_BUF_HEADROOM;
	b->data_len = 0;
	b->pkt_len = 0;
	b->nb_segs = 1;
	b->port = 0;
	b->flags = 0;
	b->next = NULL;
	b->udata = 0;
}

/* Drop one reference; true if it was the last and b must be released. */
static inline bool buf_unref(struct hl_buf *b)
{
	uint32_t r = __atomic_load_n(&b->refcnt, __ATOMIC_ACQUIRE);

	/* Sole holder: nobody else may touch refcnt, so no RMW is needed. */
	if (hl_likely(r == 1)) {
		__atomic_store_n(&b->refcnt, 0, __ATOMIC_RELAXED);
		return true;
	}
	do {
		if (hl_unlikely(r == 0)) {
			struct hl_bufpool *bp = b->pool;
			if (bp == NULL) {
				HL_LOG_ERR("buffer %p outside any bufpool: double free (refcnt already 0), ignored",
					   (void *)b);
				return false;
			}
			__atomic_fetch_add(&bp->double_free, 1, __ATOMIC_RELAXED);
			HL_LOG_ERR("bufpool %s: double free of buffer %u (refcnt already 0), ignored",
				   bp->name, (unsigned)(b - bp->bufs));
			return false;
		}
	} while (!__atomic_compare_exchange_n(&b->refcnt, &r, r - 1, 0, __ATOMIC_ACQ_REL,
					      __ATOMIC_ACQUIRE));
	return r == 1;
}

/*
 * Last reference gone: hand back external memory, restore the own room.
 * Metadata outside any bufpool goes back to its owner with the callback,
 * which may reuse it at once: b is not touched after.
 */
static void buf_release(struct hl_buf *b)
{
	if (hl_unlikely(b->flags & HL_BUF_F_EXTERNAL)) {
		struct hl_bufpool *bp = b->pool;
		hl_buf_ext_free_cb cb = b->ext_free;
		void *va = b->buf_va, *opaque = b->ext_opaque;

		if (bp == NULL) {
			cb(va, opaque);
			return;
		}
		b->buf_va = hl_pool_off2va(bp->pool, b->pool_off);
		b->buf_iova = hl_pool_off2iova(bp->pool, b->pool_off);
		b->buf_len = bp->data_room;
		b->ext_free = NULL;
		b->ext_opaque = NULL;
		cb(va, opaque);
	}
	buf_reset(b);
}

/* Return n free buffers of one bufpool to this thread's cache or the ring. */
static void bufs_put(struct hl_bufpool *bp, struct hl_buf **objs, unsigned n)
{
	int slot = tl_slot;
	unsigned cs = bp->cache_size;

	if (slot >= 0 && n < cs) {
		struct hl_bufcache *c = &bp->caches[slot];
		uint32_t len = c->len;

		if (len + n > 2 * cs) {
			/* keep the most recently freed (cache-warm) half */
			if (hl_ring_enqueue_bulk(bp->ring, (void *const *)&c->objs[cs], len - cs) == 0)
				HL_LOG_ERR("bufpool %s: free ring refused buffers", bp->name);
			len = cs;
		}
		memcpy(&c->objs[len], objs, n * sizeof(*objs));
		__atomic_store_n(&c->len, len + n, __ATOMIC_RELAXED);
		return;
	}
	if (hl_ring_enqueue_bulk(bp->ring, (void *const *)objs, n) == 0)
		HL_LOG_ERR("bufpool %s: free ring refused %u buffers", bp->name, n);
}

/* Caller holds g_lock, and slot's thread is not using bp's cache. */
static void cache_flush(struct hl_bufpool *bp, unsigned slot)
{
	struct hl_bufcache *c = &bp->caches[slot];
	uint32_t len = __atomic_load_n(&c->len, __ATOMIC_ACQUIRE);

	if (len != 0 && hl_ring_enqueue_bulk(bp->ring, (void *const *)c->objs, len) == 0)
		HL_LOG_ERR("bufpool %s: free ring refused buffers", bp->name);
	__atomic_store_n(&c->len, 0, __ATOMIC_RELEASE);
}

/* ---- data path ------------------------------------------------------------ */

int hl_buf_alloc_bulk(struct hl_bufpool *bp, struct hl_buf **bufs, unsigned n)
{
	int slot = tl_slot;
	unsigned cs = bp->cache_size;

	if (hl_unlikely(n == 0))
		return 0;
	if (slot >= 0 && cs > 0) {
		struct hl_bufcache *c = &bp->caches[slot];
		uint32_t len = c->len;
		unsigned i = 0;

		if (len < n && n < cs) {
			/* refill to cache_size beyond this request; fits in 2 * cs */
			len += hl_ring_dequeue_burst(bp->ring, (void **)&c->objs[len], cs + n - len);
			if (len < n) {
				__atomic_store_n(&c->len, len, __ATOMIC_RELAXED);
				goto fail;
			}
		} else if (len < n) {
			/* too big to stage in the cache: the ring's part, then all the
			 * cache has, so cached buffers are never out of reach */
			i = n - len;
			if (hl_ring_dequeue_bulk(bp->ring, (void **)bufs, i) == 0)
				goto fail;
		}
		for (; i < n; i++)
			bufs[i] = c->objs[--len];
		__atomic_store_n(&c->len, len, __ATOMIC_RELAXED);
	} else if (hl_ring_dequeue_bulk(bp->ring, (void **)bufs, n) == 0) {
		goto fail;
	}
	for (unsigned i = 0; i < n; i++)
		__atomic_store_n(&bufs[i]->refcnt, 1, __ATOMIC_RELAXED);
	return 0;
fail:
	__atomic_fetch_add(&bp->alloc_fail, 1, __ATOMIC_RELAXED);
	return -ENOBUFS;
}

struct hl_buf *hl_buf_alloc(struct hl_bufpool *bp)
{
	struct hl_buf *b;
	return hl_buf_alloc_bulk(bp, &b, 1) == 0 ? b : NULL;
}

void hl_buf_free_bulk(struct hl_buf **bufs, unsigned n)
{
	struct hl_buf *batch[FREE_BATCH];
	struct hl_bufpool *cur = NULL;
	unsigned k = 0;

	for (unsigned i = 0; i < n; i++) {
		struct hl_buf *b = bufs[i];

		/* each released segment gives up its reference on the next */
		while (b != NULL && buf_unref(b)) {
			struct hl_buf *next = b->next;
			struct hl_bufpool *bp = b->pool;

			buf_release(b);
			if (bp == NULL) { /* its owner has it back */
				b = next;
				continue;
			}
			if (k == FREE_BATCH || (k > 0 && bp != cur)) {
				bufs_put(cur, batch, k);
				k = 0;
			}
			cur = bp;
			batch[k++] = b;
			b = next;
		}
	}
	if (k > 0)
		bufs_put(cur, batch, k);
}

void hl_buf_free(struct hl_buf *b)
{
	hl_buf_free_bulk(&b, 1);
}

/* ---- control path ------------------------------------------------------- */

void hl_buf_init_owned(struct hl_buf *b, hl_buf_ext_free_cb free_cb, void *opaque)
{
	memset(b, 0, sizeof(*b));
	b->flags = HL_BUF_F_EXTERNAL;
	b->nb_segs = 1;
	b->ext_free = free_cb;
	b->ext_opaque = opaque;
}

int hl_buf_attach_extbuf(struct hl_buf *b, void *va, uint64_t iova, uint32_t len,
			 hl_buf_ext_free_cb free_cb, void *opaque)
{
	if (b == NULL)
		return hl_error(-EINVAL, "extbuf: buffer is NULL");
	if (va == NULL || len == 0)
		return hl_error(-EINVAL, "extbuf: va is NULL or len is 0");
	if (free_cb == NULL)
		return hl_error(-EINVAL, "extbuf: free_cb is NULL");
	if (b->flags & HL_BUF_F_EXTERNAL)
		return hl_error(-EINVAL, "extbuf: buffer already has an external buffer");
	if (hl_buf_refcnt(b) != 1)
		return hl_error(-EINVAL, "extbuf: buffer refcnt is %u, must be 1", hl_buf_refcnt(b));
	b->buf_va = va;
	b->buf_iova = iova;
	b->buf_len = len;
	b->data_off = 0;
	b->data_len = len;
	b->pkt_len = len;
	b->ext_free = free_cb;
	b->ext_opaque = opaque;
	b->flags |= HL_BUF_F_EXTERNAL;
	return 0;
}

int hl_buf_chain(struct hl_buf *head, struct hl_buf *tail)
{
	struct hl_buf *last = head;
	unsigned segs = 0;
	uint32_t bytes = 0;

	if (head == NULL || tail == NULL || head == tail)
		return hl_error(-EINVAL, "chain: head and tail must be two buffers");
	/* Count the tail from its segments rather than trusting its nb_segs and
	 * pkt_len: callers fill data_len of a fresh segment and forget the rest. */
	for (const struct hl_buf *s = tail; s != NULL; s = s->next) {
		if (s == head)
			return hl_error(-EINVAL, "chain: tail already contains head");
		segs++;
		bytes += s->data_len;
	}
	if (head->nb_segs + segs > UINT16_MAX)
		return hl_error(-EOVERFLOW, "chain: nb_segs would exceed %u", UINT16_MAX);
	while (last->next != NULL)
		last = last->next;
	last->next = tail;
	head->nb_segs = (uint16_t)(head->nb_segs + segs);
	head->pkt_len += bytes;
	return 0;
}

static void key_destructor(void *v)
{
	(void)v;
	hl_buf_thread_detach();
}

static void key_create(void)
{
	if (pthread_key_create(&g_key, key_destructor) != 0)
		HL_LOG_WARN("buf: no thread-exit hook; threads must call hl_buf_thread_detach()");
}

int hl_buf_thread_attach(void)
{
	uint64_t used;
	int id;

	if (tl_slot >= 0)
		return tl_slot;
	used = __atomic_load_n(&g_slots, __ATOMIC_RELAXED);
	do {
		if (~used == 0)
			return hl_error(-EBUSY, "buf: all %d thread cache slots are taken",
					HL_BUF_MAX_THREADS);
		id = __builtin_ctzll(~used);
	} while (!__atomic_compare_exchange_n(&g_slots, &used, used | (1ull << id), 0,
					      __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
	pthread_once(&g_key_once, key_create);
	pthread_setspecific(g_key, (void *)1); /* non-NULL: run the destructor */
	tl_slot = id;
	return id;
}

void hl_buf_thread_detach(void)
{
	int slot = tl_slot;

	if (slot < 0)
		return;
	pthread_mutex_lock(&g_lock);
	for (struct hl_bufpool *bp = g_pools; bp != NULL; bp = bp->list_next)
		cache_flush(bp, (unsigned)slot);
	pthread_mutex_unlock(&g_lock);
	tl_slot = -1;
	pthread_setspecific(g_key, NULL);
	__atomic_fetch_and(&g_slots, ~(1ull << slot), __ATOMIC_RELEASE);
}

static unsigned pow2_ceil(unsigned n)
{
	unsigned p = 1;
	while (p < n)
		p <<= 1;
	return p;
}

static void bufpool_destroy(struct hl_bufpool *bp)
{
	if (bp->zone[0] != '\0')
		hl_pool_zone_free(bp->pool, bp->zone);
	hl_ring_free(bp->ring);
	free(bp->bufs);
	free(bp->cache_mem);
	free(bp);
}

/*
 * Build a bufpool over a new zone (adopt false) or over the existing zone of
 * that name (adopt true, keeping the buffers `keep` names in use).
 */
static int bufpool_build(struct hl_pool *pool, const char *name, unsigned n, unsigned data_room,
			 unsigned cache_size, bool adopt, hl_bufpool_keep_fn keep, void *opaque,
			 struct hl_bufpool **out)
{
	struct hl_pool_info info;
	struct hl_bufpool *bp;
	uint64_t stride, per_page, npages, zone_len;
	int rc;

	if (pool == NULL || out == NULL)
		return hl_error(-EINVAL, "bufpool: pool or out is NULL");
	if (name == NULL || name[0] == '\0' || strlen(name) >= HL_BUF_NAME_LEN)
		return hl_error(-EINVAL, "bufpool: name must be 1..%d characters", HL_BUF_NAME_LEN - 1);
	if (n == 0 || n > HL_RING_MAX_COUNT)
		return hl_error(-EINVAL, "bufpool %s: n must be 1..%u", name, HL_RING_MAX_COUNT);
	if (cache_size > HL_BUF_CACHE_MAX)
		return hl_error(-EINVAL, "bufpool %s: cache_size %u > %u", name, cache_size,
				HL_BUF_CACHE_MAX);
	rc = hl_pool_get_info(pool, &info);
	if (rc < 0)
		return rc;
	if (adopt && !info.owner)
		return hl_error(-EPERM, "bufpool %s: only the pool owner adopts a bufpool", name);
	if (data_room <= HL_BUF_HEADROOM || data_room > info.page_size)
		return hl_error(-EINVAL, "bufpool %s: data_room %u must be in %u..%llu (page size)",
				name, data_room, HL_BUF_HEADROOM + 1,
				(unsigned long long)info.page_size);

	/* Whole rooms per page, pages back to back: no room crosses a page. */
	stride = HL_ALIGN_UP((uint64_t)data_room, (uint64_t)HL_CACHE_LINE);
	per_page = info.page_size / stride;
	npages = (n + per_page - 1) / per_page;
	zone_len = (npages - 1) * info.page_size + (n - (npages - 1) * per_page) * stride;

	bp = calloc(1, sizeof(*bp));
	if (bp == NULL)
		return hl_error(-ENOMEM, "bufpool %s: no memory", name);
	bp->pool = pool;
	bp->n = n;
	bp->data_room = data_room;
	bp->cache_size = cache_size;
	bp->zone_len = zone_len;
	bp->page_size = info.page_size;
	bp->stride = (unsigned)stride;
	bp->per_page = (unsigned)per_page;
	strcpy(bp->name, name);
	bp->bufs = aligned_alloc(HL_CACHE_LINE, (size_t)n * sizeof(struct hl_buf));
	if (cache_size > 0)
		bp->cache_mem = calloc((size_t)HL_BUF_MAX_THREADS * 2 * cache_size,
				       sizeof(struct hl_buf *));
	if (bp->bufs == NULL || (cache_size > 0 && bp->cache_mem == NULL)) {
		rc = hl_error(-ENOMEM, "bufpool %s: no memory for %u buffers' metadata", name, n);
		goto fail;
	}
	memset(bp->bufs, 0, (size_t)n * sizeof(struct hl_buf));
	for (unsigned i = 0; i < HL_BUF_MAX_THREADS && cache_size > 0; i++)
		bp->caches[i].objs = bp->cache_mem + (size_t)i * 2 * cache_size;
	rc = hl_ring_create(name, pow2_ceil(n), 0, &bp->ring);
	if (rc < 0)
		goto fail;

	if (adopt) {
		char zname[HL_ZONE_NAME_LEN];
		uint64_t len;

		snprintf(zname, sizeof(zname), "b:%s", name);
		rc = hl_pool_zone_lookup(pool, zname, &bp->zone_off, &len);
		if (rc < 0) {
			rc = hl_error(rc, "bufpool %s: no zone %s to adopt", name, zname);
			goto fail;
		}
		if (len != zone_len || (bp->zone_off & (info.page_size - 1)) != 0) {
			rc = hl_error(-EINVAL, "bufpool %s: zone %s (%llu bytes at 0x%llx) is not %u rooms of %u bytes",
				      name, zname, (unsigned long long)len,
				      (unsigned long long)bp->zone_off, n, data_room);
			goto fail;
		}
	} else {
		snprintf(bp->zone, sizeof(bp->zone), "b:%s", name);
		rc = hl_pool_zone_reserve(pool, bp->zone, zone_len, info.page_size, 0, &bp->zone_off);
		if (rc < 0) {
			bp->zone[0] = '\0';
			goto fail;
		}
	}

	for (unsigned i = 0; i < n; i++) {
		struct hl_buf *b = &bp->bufs[i];
		uint64_t off = bp->zone_off + (i / per_page) * info.page_size + (i % per_page) * stride;
		uint64_t first = hl_pool_off2iova(pool, off);
		uint64_t last = hl_pool_off2iova(pool, off + data_room - 1);

		if (first == HL_BAD_ADDR || last != first + data_room - 1) {
			rc = hl_error(-EFAULT, "bufpool %s: buffer %u at offset 0x%llx is not IOVA-contiguous",
				      name, i, (unsigned long long)off);
			goto fail;
		}
		b->pool = bp;
		b->pool_off = off;
		b->buf_va = hl_pool_off2va(pool, off);
		b->buf_iova = first;
		b->buf_len = data_room;
		buf_reset(b);
		if (keep != NULL && keep(i, opaque)) {
			b->refcnt = 1;
			continue;
		}
		void *obj = b;
		if (hl_ring_enqueue_bulk(bp->ring, &obj, 1) != 1) {
			rc = hl_error(-EFAULT, "bufpool %s: free ring full", name);
			goto fail;
		}
	}
	if (adopt)
		snprintf(bp->zone, sizeof(bp->zone), "b:%s", name); /* ours from now on */

	pthread_mutex_lock(&g_lock);
	bp->list_next = g_pools;
	g_pools = bp;
	pthread_mutex_unlock(&g_lock);
	HL_LOG_DEBUG("bufpool %s: %u buffers of %u bytes, zone %s at 0x%llx (%llu bytes)%s", name, n,
		     data_room, bp->zone, (unsigned long long)bp->zone_off,
		     (unsigned long long)zone_len, adopt ? ", adopted" : "");
	*out = bp;
	return 0;
fail:
	bufpool_destroy(bp);
	return rc;
}

int hl_bufpool_create(struct hl_pool *pool, const char *name, unsigned n, unsigned data_room,
		      unsigned cache_size, struct hl_bufpool **out)
{
	return bufpool_build(pool, name, n, data_room, cache_size, false, NULL, NULL, out);
}

int hl_bufpool_adopt(struct hl_pool *pool, const char *name, unsigned n, unsigned data_room,
		     unsigned cache_size, hl_bufpool_keep_fn keep, void *opaque,
		     struct hl_bufpool **out)
{
	return bufpool_build(pool, name, n, data_room, cache_size, true, keep, opaque, out);
}

void hl_bufpool_free(struct hl_bufpool *bp)
{
	if (bp == NULL)
		return;
	pthread_mutex_lock(&g_lock);
	for (struct hl_bufpool **pp = &g_pools; *pp != NULL; pp = &(*pp)->list_next) {
		if (*pp == bp) {
			*pp = bp->list_next;
			break;
		}
	}
	for (unsigned i = 0; i < HL_BUF_MAX_THREADS && bp->cache_size > 0; i++)
		cache_flush(bp, i);
	pthread_mutex_unlock(&g_lock);
	unsigned used = hl_bufpool_in_use(bp);
	if (used != 0)
		HL_LOG_WARN("bufpool %s: freed with %u buffers still in use", bp->name, used);
	bufpool_destroy(bp);
}

void hl_bufpool_stats(const struct hl_bufpool *bp, struct hl_bufpool_stats *st)
{
	uint32_t cached = 0;

	for (unsigned i = 0; i < HL_BUF_MAX_THREADS && bp->cache_size > 0; i++)
		cached += __atomic_load_n(&bp->caches[i].len, __ATOMIC_RELAXED);
	st->n = bp->n;
	st->in_ring = hl_ring_count(bp->ring);
	st->in_caches = cached;
	/* snapshots taken while others run may overlap; never report < 0 */
	st->in_use = st->in_ring + cached > bp->n ? 0 : bp->n - st->in_ring - cached;
	st->double_free = __atomic_load_n(&bp->double_free, __ATOMIC_RELAXED);
	st->alloc_fail = __atomic_load_n(&bp->alloc_fail, __ATOMIC_RELAXED);
}

unsigned hl_bufpool_in_use(const struct hl_bufpool *bp)
{
	struct hl_bufpool_stats st;
	hl_bufpool_stats(bp, &st);
	return st.in_use;
}

struct hl_pool *hl_bufpool_pool(const struct hl_bufpool *bp)
{
	return bp->pool;
}

void hl_bufpool_geom(const struct hl_bufpool *bp, struct hl_bufpool_geom *g)
{
	g->zone_off = bp->zone_off;
	g->zone_len = bp->zone_len;
	g->page_size = bp->page_size;
	g->n = bp->n;
	g->data_room = bp->data_room;
	g->stride = bp->stride;
	g->per_page = bp->per_page;
}

const char *hl_bufpool_name(const struct hl_bufpool *bp)
{
	return bp->name;
}

struct hl_buf *hl_bufpool_buf_at(struct hl_bufpool *bp, unsigned index)
{
	return index < bp->n ? &bp->bufs[index] : NULL;
}

unsigned hl_buf_index(const struct hl_buf *b)
{
	return b->pool != NULL ? (unsigned)(b - b->pool->bufs) : UINT32_MAX;
}
