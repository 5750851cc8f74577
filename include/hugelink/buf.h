/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Packet buffers: fixed-size data rooms carved out of an hl_pool, each
 * described by a struct hl_buf.
 *
 * Where things live:
 *   - data rooms are in a pool zone ("b:<name>"), so peers and guests that
 *     map the pool can read and DMA into them. Each data room lies within
 *     one pool page, so its IOVA range is contiguous (segments are runs of
 *     whole pages) and a single IOVA + length describes it.
 *   - struct hl_buf metadata is process-local (malloc'd): it holds pointers
 *     (VA, next, pool, callback) that mean nothing in another address space,
 *     and no peer should be able to corrupt our free lists or refcounts.
 *
 * Life of a buffer: free buffers have refcnt 0 and sit in the pool's shared
 * free ring or in a per-thread cache. Allocation sets refcnt to 1;
 * hl_buf_ref() adds one; hl_buf_free() drops one, and the holder that drops
 * the last one releases the buffer: an attached external buffer is handed
 * back through its free callback, the metadata is reset and returned to the
 * pool, and the reference the buffer held on its `next` segment is dropped
 * in turn. So a chain is freed by freeing its head, and a segment shared by
 * two chains (refcnt 2) survives until both are freed.
 *
 * Freeing a buffer whose refcnt is already 0 is counted (stats.double_free),
 * logged, and otherwise ignored. A double free that races with the buffer
 * being allocated again cannot be told from a legitimate free; that is the
 * caller's bug and is not detected.
 *
 * Per-thread caches: a thread that calls hl_buf_thread_attach() gets a cache
 * slot id, and every bufpool keeps one small cache per slot, touched only by
 * that thread, in front of the shared ring. Threads that do not attach go to
 * the ring directly (correct, just one atomic operation per burst more).
 * hl_buf_thread_detach() (or the thread's exit) flushes the thread's caches
 * back to the rings. Buffers sitting in caches count as free. A cache holds
 * up to 2 * cache_size buffers: a small allocation that misses refills it
 * to cache_size beyond the request, a free that would overflow it sends the
 * older half to the ring, and bursts of cache_size or more go to the ring
 * directly (an allocation takes what the cache has first, so a thread never
 * gets -ENOBUFS while its own cache could have served it). Buffers cached
 * by another thread are out of reach until that thread frees or detaches.
 */
#ifndef HUGELINK_BUF_H
#define HUGELINK_BUF_H

#include <stdbool.h>
#include <stdint.h>

#include <hugelink/common.h>
#include <hugelink/pool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HL_BUF_HEADROOM 128      /* default data_off */
#define HL_BUF_MAX_THREADS 64    /* cache slots, i.e. attached threads */
#define HL_BUF_CACHE_MAX 512     /* cache_size limit */
#define HL_BUF_NAME_LEN (HL_ZONE_NAME_LEN - 2) /* bufpool name + "b:" prefix */

/* hl_buf.flags */
#define HL_BUF_F_EXTERNAL 0x1u /* buf_va/buf_iova point at memory we do not own */
#define HL_BUF_F_OFFLOAD  0x2u /* head only: `ol` below describes the frame (offload.h) */

/*
 * What a frame asks of the port it leaves by, or says of itself: the one
 * home of offload metadata for every port kind (a virtio-net header, a TAP
 * device's vnet header, an shm descriptor). Meaningful in a chain's head,
 * and only while HL_BUF_F_OFFLOAD is set: a plain frame never reads or
 * writes it, so it costs plain traffic nothing. Filled by the ingress port
 * after checking it against the frame (hl_ol_from_vnet), acted on by the
 * egress port when it cannot take the frame as it is (hl_ol_prepare).
 */
#define HL_OL_F_CSUM_PARTIAL 0x1u /* L4 checksum to be completed: csum_start/offset */
#define HL_OL_F_CSUM_VALID   0x2u /* checksums already verified (virtio DATA_VALID) */
#define HL_OL_F_ECN          0x4u /* segmentation: CWR may be set (first segment keeps it) */

#define HL_OL_GSO_NONE  0u
#define HL_OL_GSO_TCPV4 1u
#define HL_OL_GSO_TCPV6 2u

struct hl_buf_ol {
	uint16_t csum_start;  /* from the frame's first byte: where the L4 sum starts */
	uint16_t csum_offset; /* from csum_start: where the sum is stored */
	uint16_t gso_size;    /* payload bytes per segment (MSS); 0 without gso */
	uint16_t hdr_len;     /* l2_len + l3_len + l4_len, checked against the frame */
	uint16_t l3_len;      /* IP header, IPv6 extension headers included */
	uint8_t l2_len;       /* Ethernet, VLAN tags included */
	uint8_t l4_len;       /* TCP header with options, or 8 for UDP */
	uint8_t flags;        /* HL_OL_F_* */
	uint8_t gso_type;     /* HL_OL_GSO_* */
	uint16_t rsvd;
};
_Static_assert(sizeof(struct hl_buf_ol) == 16, "hl_buf_ol is 16 bytes");

struct hl_buf;
struct hl_bufpool;

/* Called once, when the last reference to an external buffer is dropped. */
typedef void (*hl_buf_ext_free_cb)(void *va, void *opaque);

struct hl_buf {
	/* first cache line: what the data path reads per packet */
	uint8_t *buf_va;    /* start of the data room (headroom included) */
	uint64_t buf_iova;  /* IOVA of buf_va; contiguous for buf_len bytes */
	uint32_t buf_len;
	uint16_t data_off;  /* packet data starts at buf_va + data_off */
	uint16_t nb_segs;   /* segments in the chain (meaningful in the head) */
	uint32_t data_len;  /* bytes of data in this segment */
	uint32_t pkt_len;   /* bytes in the whole chain (meaningful in the head) */
	uint32_t refcnt;    /* atomic; 0 while free */
	uint16_t port;
	uint16_t flags;
	struct hl_buf *next; /* next segment; this buffer holds a reference on it */
	struct hl_bufpool *pool;
	uint64_t pool_off;  /* pool offset of this buffer's own data room */

	/* second cache line: external-buffer bookkeeping, cold */
	hl_buf_ext_free_cb ext_free hl_cache_aligned;
	void *ext_opaque;
	uint64_t udata;     /* free for the application */
	struct hl_buf_ol ol; /* with HL_BUF_F_OFFLOAD; not reset on free (the flag is) */
};

struct hl_bufpool_stats {
	uint32_t n;          /* buffers in the pool */
	uint32_t in_use;     /* allocated and not yet freed */
	uint32_t in_ring;    /* free, in the shared ring */
	uint32_t in_caches;  /* free, in per-thread caches */
	uint64_t double_free; /* frees of a buffer whose refcnt was already 0 */
	uint64_t alloc_fail; /* allocations refused for lack of buffers */
};

/*
 * Owner only (it reserves a zone). n buffers of data_room bytes each
 * (headroom included; 64-byte aligned, at most the pool's page size).
 * cache_size: buffers each attached thread may keep (0: no caches).
 */
int hl_bufpool_create(struct hl_pool *pool, const char *name, unsigned n, unsigned data_room,
		      unsigned cache_size, struct hl_bufpool **out);

/*
 * Flush all caches, free the zone and the metadata. No thread may use the
 * bufpool during or after this; buffers still in use are logged.
 */
void hl_bufpool_free(struct hl_bufpool *bp);

/* Allocated and not yet freed. Exact while no thread allocates or frees. */
unsigned hl_bufpool_in_use(const struct hl_bufpool *bp);
void hl_bufpool_stats(const struct hl_bufpool *bp, struct hl_bufpool_stats *st);
struct hl_pool *hl_bufpool_pool(const struct hl_bufpool *bp);

/*
 * Give this thread a cache slot (idempotent). Returns the slot id, or
 * -EBUSY when all HL_BUF_MAX_THREADS are taken.
 */
int hl_buf_thread_attach(void);
/* Flush this thread's caches in every bufpool and give up its slot. */
void hl_buf_thread_detach(void);

/* All n or none: 0, or -ENOBUFS. Each buffer has refcnt 1 and is reset. */
int hl_buf_alloc_bulk(struct hl_bufpool *bp, struct hl_buf **bufs, unsigned n);
/* NULL when the pool is exhausted. */
struct hl_buf *hl_buf_alloc(struct hl_bufpool *bp);

/* Drop one reference from each of bufs[0..n) (NULL entries are skipped). */
void hl_buf_free_bulk(struct hl_buf **bufs, unsigned n);
void hl_buf_free(struct hl_buf *b);

static inline void hl_buf_ref(struct hl_buf *b)
{
	__atomic_fetch_add(&b->refcnt, 1, __ATOMIC_RELAXED);
}

static inline uint32_t hl_buf_refcnt(const struct hl_buf *b)
{
	return __atomic_load_n(&b->refcnt, __ATOMIC_RELAXED);
}

/*
 * Point b (refcnt 1, not external) at len bytes of memory it does not own,
 * e.g. a guest's buffer for zero-copy dequeue. free_cb(va, opaque) is called
 * exactly once, when the last reference to b is dropped. data_off becomes 0
 * and data_len len.
 */
int hl_buf_attach_extbuf(struct hl_buf *b, void *va, uint64_t iova, uint32_t len,
			 hl_buf_ext_free_cb free_cb, void *opaque);

/*
 * Metadata outside any bufpool, for an owner that points it at external
 * memory again and again (zero-copy segments): hl_buf_init_owned() once,
 * then hl_buf_owned_attach() for each use. The last reference calls
 * free_cb(va, opaque) and hands b back to its owner as it is; nothing goes
 * to a pool, and the owner may attach it again from inside free_cb's
 * return. Such a buffer has no pool, no index and no own data room.
 */
void hl_buf_init_owned(struct hl_buf *b, hl_buf_ext_free_cb free_cb, void *opaque);

/* b from hl_buf_init_owned(), with no reference left: one segment of len bytes at va. */
static inline void hl_buf_owned_attach(struct hl_buf *b, void *va, uint64_t iova, uint32_t len)
{
	b->buf_va = (uint8_t *)va;
	b->buf_iova = iova;
	b->buf_len = len;
	b->data_off = 0;
	b->nb_segs = 1;
	b->data_len = len;
	b->pkt_len = len;
	b->next = NULL;
	__atomic_store_n(&b->refcnt, 1, __ATOMIC_RELAXED);
}

/*
 * Append `tail` (one segment or a chain) to the chain headed by `head`. The
 * head's nb_segs grows by the tail's segment count and its pkt_len by the
 * sum of the tail's data_len (the tail's own pkt_len is not used, so a fresh
 * segment needs only data_len set). The chain takes over the caller's
 * reference on tail: freeing head frees it.
 */
int hl_buf_chain(struct hl_buf *head, struct hl_buf *tail);

/* ---- buffers by index, and adopting a bufpool after a crash ------------------ */

/*
 * Where a bufpool's data rooms sit in the pool: buffer i's room starts at
 *     zone_off + (i / per_page) * page_size + (i % per_page) * stride
 * and no room crosses a page. Lets another process (a peer that maps the
 * pool) turn a pool offset back into a buffer index without our metadata.
 */
struct hl_bufpool_geom {
	uint64_t zone_off;  /* pool offset of the "b:<name>" zone */
	uint64_t zone_len;
	uint64_t page_size; /* the pool's page size, a power of two */
	uint32_t n;         /* buffers */
	uint32_t data_room; /* bytes per room, headroom included */
	uint32_t stride;    /* data_room rounded up to a cache line */
	uint32_t per_page;  /* rooms per page */
};

/* The pool's layout (rooms, stride, rooms a page), for peers that map it. */
void hl_bufpool_geom(const struct hl_bufpool *bp, struct hl_bufpool_geom *g);
const char *hl_bufpool_name(const struct hl_bufpool *bp);

/* The bufpool's own metadata for buffer `index` (NULL if index >= n). */
struct hl_buf *hl_bufpool_buf_at(struct hl_bufpool *bp, unsigned index);

/*
 * The index of buffer b in its bufpool (its own data room, even while
 * external); UINT32_MAX for metadata outside any bufpool.
 */
unsigned hl_buf_index(const struct hl_buf *b);

/*
 * Called by hl_bufpool_adopt() for each buffer index: true keeps the buffer
 * "in use" (refcnt 1, data room untouched), false puts it on the free list.
 */
typedef bool (*hl_bufpool_keep_fn)(unsigned index, void *opaque);

/*
 * Owner only. Rebuild a bufpool over the zone "b:<name>" that a previous
 * owner of this pool (e.g. a crashed switch) created with the same n and
 * data_room: fresh process-local metadata, no byte of any data room is
 * written. Buffers keep(i) says are held elsewhere stay in use with refcnt 1
 * (free them, or hand them on, through hl_bufpool_buf_at()); the rest are
 * free. keep may be NULL (every buffer free). -ENOENT without the zone,
 * -EINVAL when n or data_room do not give the zone's length.
 */
int hl_bufpool_adopt(struct hl_pool *pool, const char *name, unsigned n, unsigned data_room,
		     unsigned cache_size, hl_bufpool_keep_fn keep, void *opaque,
		     struct hl_bufpool **out);

static inline void *hl_buf_data(const struct hl_buf *b)
{
	return b->buf_va + b->data_off;
}

static inline uint64_t hl_buf_data_iova(const struct hl_buf *b)
{
	return b->buf_iova + b->data_off;
}

/* Bytes free after the data in this segment. */
static inline uint32_t hl_buf_tailroom(const struct hl_buf *b)
{
	return b->buf_len - b->data_off - b->data_len;
}

#ifdef __cplusplus
}
#endif
#endif
