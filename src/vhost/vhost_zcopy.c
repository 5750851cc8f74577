/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guest -> host, zero-copy: the bytes a guest transmits stay where it wrote
 * them, and the switch's buffers point at them.
 *
 * Invariants:
 *  - The switch decides on host memory only. The first HL_VHOST_ZC_COPY
 *    bytes of the frame (Ethernet and IP headers; the virtio-net header is
 *    skipped) are copied into the head buffer; only the rest is attached as
 *    external segments. A guest rewriting its buffer after the kick changes
 *    payload bytes at most, never where the packet goes.
 *  - A chain is pinned from dequeue until the last reference to its external
 *    segments is dropped, on whatever thread; its head id then goes through
 *    the context's `done` ring (lock-free) and the dequeue thread puts it on
 *    the used ring. Completions come out of order; split rings allow that.
 *  - No starvation: at most zc_max_pinned chains are pinned, and once the
 *    oldest pin is older than zc_max_pin_ns, new packets are copied (and
 *    returned at once) until it is freed. The guest always has descriptors
 *    to send with, however slowly a consumer frees.
 *  - A context lives while its queue runs or any buffer points into it
 *    (refs: one for the queue, one per pinned chain). It holds references on
 *    the guest memory mappings, so a front-end that removes memory,
 *    resets or disconnects cannot unmap it from under a consumer.
 *  - When a queue stops with chains still pinned, the control thread (the
 *    data path is shut out by then) waits briefly, then returns the rest on
 *    the used ring itself: the front-end gets every descriptor back before
 *    it reads the ring base, and a buffer freed later completes into the
 *    orphaned context, never into a ring again. None leaked, none twice.
 *    Nothing in a context points into itself except through `slots`, and
 *    contexts are never copied.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hugelink/ring.h>
#include <hugelink/vhost_port.h>

#include "vhost_mem.h"
#include "vhost_zcopy.h"

#define STOP_WAIT_NS 20000000ull /* how long a stop waits for pinned buffers to come back */

struct zc_slot {
	struct hl_vhost_zc *zc;
	uint32_t segs;  /* atomic: external segments of this chain still referenced */
	uint16_t head;
	uint8_t busy;   /* pinned and not yet on the used ring */
	uint64_t t_pin;
};

struct zc_pin {
	uint16_t head;
	uint64_t t;
};

struct hl_vhost_zc {
	uint32_t refs;              /* atomic */
	uint16_t num;
	unsigned pinned;            /* owner of the queue only */
	uint32_t fifo_first, fifo_next; /* pins in order, for the age bound; stale entries skipped */
	struct zc_pin *fifo;        /* num entries */
	struct hl_ring *done;
	const struct hl_xlate *iova; /* host address -> IOVA (physical) */
	unsigned nmaps;
	struct hl_vu_mapping *maps[HL_VHOST_MAX_MEM_SLOTS];
	struct zc_slot slots[];
};

static uint32_t default_min_len = HL_VHOST_ZC_DEFAULT_MIN_LEN;

uint32_t hl_vhost_zc_min_len_default(void)
{
	return __atomic_load_n(&default_min_len, __ATOMIC_RELAXED);
}

static void zc_destroy(struct hl_vhost_zc *zc)
{
	for (unsigned i = 0; i < zc->nmaps; i++)
		hl_vu_mapping_put(zc->maps[i]);
	hl_ring_free(zc->done);
	free(zc->fifo);
	free(zc);
}

static void zc_put(struct hl_vhost_zc *zc)
{
	if (__atomic_sub_fetch(&zc->refs, 1, __ATOMIC_ACQ_REL) == 0)
		zc_destroy(zc);
}

struct hl_vhost_zc *hl_vhost_zc_create(const struct hl_vhost_dev *d, unsigned num)
{
	struct hl_vhost_zc *zc = calloc(1, sizeof(*zc) + num * sizeof(zc->slots[0]));
	if (zc == NULL || (zc->fifo = calloc(num, sizeof(*zc->fifo))) == NULL ||
	    hl_ring_create("zc-done", num, HL_RING_F_SC_DEQ, &zc->done) < 0) {
		if (zc != NULL)
			free(zc->fifo);
		free(zc);
		return NULL;
	}
	zc->refs = 1;
	zc->num = (uint16_t)(num - 1); /* kept as a mask: num is a power of two */
	zc->iova = &d->hva2iova;
	for (unsigned i = 0; i < d->nregions; i++) {
		if (d->regions[i].map == NULL)
			continue;
		hl_vu_mapping_get(d->regions[i].map);
		zc->maps[zc->nmaps++] = d->regions[i].map;
	}
	for (unsigned i = 0; i < num; i++) {
		zc->slots[i].zc = zc;
		zc->slots[i].head = (uint16_t)i;
	}
	return zc;
}

/* Last reference to one external segment (any thread). */
static void zc_seg_free(void *va, void *opaque)
{
	struct zc_slot *s = opaque;
	(void)va;
	if (__atomic_sub_fetch(&s->segs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	struct hl_vhost_zc *zc = s->zc;
	void *obj = (void *)(uintptr_t)(s->head + 1u);
	/* cannot fail: at most num chains are pinned and the ring holds num */
	hl_ring_enqueue_bulk(zc->done, &obj, 1);
	zc_put(zc);
}

/* Put the chains whose buffers came back on the used ring. */
static void zc_drain(struct hl_vhost_vq *vq, struct hl_vhost_zc *zc)
{
	void *objs[64];
	unsigned n;
	while ((n = hl_ring_dequeue_burst(zc->done, objs, 64)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			uint16_t head = (uint16_t)((uintptr_t)objs[i] - 1);
			struct zc_slot *s = &zc->slots[head & zc->num];
			if (hl_unlikely(!s->busy))
				continue; /* returned at a stop already */
			s->busy = 0;
			zc->pinned--;
			hl_vring_put_used(&vq->vr, head, 0);
		}
	}
	vq->stats.zc_pinned = zc->pinned;
}

/* Time of the oldest chain still pinned, or 0. */
static uint64_t zc_oldest(struct hl_vhost_zc *zc)
{
	while (zc->fifo_first != zc->fifo_next) {
		const struct zc_pin *p = &zc->fifo[zc->fifo_first & zc->num];
		const struct zc_slot *s = &zc->slots[p->head & zc->num];
		if (s->busy && s->t_pin == p->t)
			return p->t;
		zc->fifo_first++;
	}
	return 0;
}

void hl_vhost_zc_stop(struct hl_vhost_vq *vq)
{
	struct hl_vhost_zc *zc = vq->zc;
	if (zc == NULL)
		return;
	uint64_t t0 = hl_now_ns();
	for (;;) {
		zc_drain(vq, zc);
		if (zc->pinned == 0 || hl_now_ns() - t0 > STOP_WAIT_NS)
			break;
		usleep(200);
	}
	for (unsigned i = 0; zc->pinned > 0 && i <= zc->num; i++) {
		struct zc_slot *s = &zc->slots[i];
		if (!s->busy)
			continue;
		s->busy = 0;
		zc->pinned--;
		hl_vring_put_used(&vq->vr, s->head, 0);
		vq->stats.zc_reclaimed++;
	}
	vq->stats.zc_pinned = 0;
	hl_vring_flush_used(&vq->vr);
	hl_vhost_vq_notify(vq);
	vq->zc = NULL;
	zc_put(zc); /* the queue's reference; buffers still out keep it (and guest memory) alive */
}

/* Copy [off, off + len) of the readable iovs to dst. */
static void gather(uint8_t *dst, const struct hl_iov *iov, unsigned niov, uint32_t off, uint32_t len)
{
	for (unsigned i = 0; i < niov && len > 0; i++) {
		if (off >= iov[i].len) {
			off -= iov[i].len;
			continue;
		}
		uint32_t k = iov[i].len - off < len ? iov[i].len - off : len;
		memcpy(dst, (const uint8_t *)iov[i].base + off, k);
		dst += k;
		len -= k;
		off = 0;
	}
}

/*
 * Leave bytes [skip + HL_VHOST_ZC_COPY, skip + len) in guest memory as
 * external segments after head b, which gets the first HL_VHOST_ZC_COPY.
 * Returns 0, or -1 (no buffers; b is as it was).
 */
static int pin_chain(struct hl_vhost_zc *zc, struct hl_bufpool *bp, struct hl_buf *b, uint16_t head,
		     const struct hl_iov *iov, unsigned niov, uint32_t skip, uint32_t len, uint64_t now)
{
	struct zc_slot *s = &zc->slots[head & zc->num];
	struct hl_buf *segs[HL_VHOST_MAX_IOV];
	uint32_t off = skip + HL_VHOST_ZC_COPY, left = len - HL_VHOST_ZC_COPY;
	unsigned n = 0;

	for (unsigned i = 0; i < niov && left > 0; i++) {
		if (off >= iov[i].len) {
			off -= iov[i].len;
			continue;
		}
		uint32_t k = iov[i].len - off < left ? iov[i].len - off : left;
		uint8_t *va = (uint8_t *)iov[i].base + off;
		segs[n] = hl_buf_alloc(bp);
		if (hl_unlikely(segs[n] == NULL)) {
			hl_buf_free_bulk(segs, n);
			return -1;
		}
		uint64_t iova = hl_xlate(zc->iova, (uintptr_t)va);
		hl_buf_attach_extbuf(segs[n], va, iova, k, zc_seg_free, s);
		n++;
		left -= k;
		off = 0;
	}
	gather(hl_buf_data(b), iov, niov, skip, HL_VHOST_ZC_COPY);
	b->data_len = b->pkt_len = HL_VHOST_ZC_COPY;
	s->segs = n;
	s->busy = 1;
	s->t_pin = now;
	zc->fifo[zc->fifo_next++ & zc->num] = (struct zc_pin){.head = head, .t = now};
	zc->pinned++;
	__atomic_fetch_add(&zc->refs, 1, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < n; i++)
		hl_buf_chain(b, segs[i]);
	return 0;
}

uint16_t hl_vhost_dequeue_zc(struct hl_vhost_vq *vq, struct hl_bufpool *bp, struct hl_buf **pkts, uint16_t n)
{
	struct hl_vhost_zc *zc = vq->zc;
	struct hl_iov iov[HL_VHOST_MAX_IOV];
	struct hl_chain ch;
	uint16_t got = 0;

	zc_drain(vq, zc);
	unsigned avail = hl_vring_avail_count(&vq->vr);
	if (avail > n)
		avail = n;
	if (avail == 0)
		goto out;
	if (hl_buf_alloc_bulk(bp, pkts, avail) < 0) {
		vq->stats.drop_no_buf++;
		goto out;
	}
	uint64_t now = hl_fast_ns(), oldest = zc_oldest(zc);
	bool aged = oldest != 0 && now - oldest > vq->zc_max_pin_ns;
	for (unsigned k = 0; k < avail; k++) {
		uint16_t head = hl_vring_pop_avail(&vq->vr);
		struct hl_buf *b = pkts[got];
		uint32_t len;
		if (hl_unlikely(!hl_vhost_walk_tx(vq, head, iov, &ch, &len)))
			continue;
		if (len > HL_VHOST_ZC_COPY && len >= vq->zc_min_len) {
			/* the fifo bound keeps a ring of num entries from overrunning when pins outlive later ones */
			bool room = zc->pinned < vq->zc_max_pinned && zc->fifo_next - zc->fifo_first <= zc->num;
			if (room && !aged &&
			    pin_chain(zc, bp, b, head, iov, ch.nr_out, vq->hdr_len, len, now) == 0) {
				vq->stats.zcopy++;
				vq->stats.bytes += len;
				got++;
				continue;
			}
			vq->stats.zc_fallback++;
		}
		if (hl_unlikely(hl_vhost_copy_chain(iov, ch.nr_out, vq->hdr_len, len, b, bp) < 0)) {
			vq->stats.drop_no_buf++;
			hl_vring_put_used(&vq->vr, head, 0);
			continue;
		}
		hl_vring_put_used(&vq->vr, head, 0);
		vq->stats.copied++;
		vq->stats.bytes += len;
		got++;
	}
	if (got < avail)
		hl_buf_free_bulk(pkts + got, avail - got);
	vq->stats.packets += got;
	vq->stats.zc_pinned = zc->pinned;
out:
	hl_vring_flush_used(&vq->vr);
	hl_vhost_vq_notify(vq);
	return got;
}

/* ---- choosing the AUTO threshold on this machine ---------------------------- */

static void calib_free(void *va, void *opaque)
{
	(void)va;
	struct hl_ring *r = opaque;
	void *obj = (void *)1;
	hl_ring_enqueue_bulk(r, &obj, 1);
}

/* Copy cost, ns a packet: bursts of 32 frames of `size` from `src`, prefetched first like the dequeue does. */
static double calib_copy(struct hl_bufpool *bp, const uint8_t *src, size_t area, uint8_t *dst, uint32_t size,
			 unsigned rounds)
{
	struct hl_buf *b[64];
	unsigned per = (size + 1919) / 1920 < 2 ? 1 : (size + 1919) / 1920; /* buffers a copy fills */
	uint64_t t0 = hl_now_ns();
	for (unsigned r = 0; r < rounds; r++) {
		const uint8_t *s[32];
		for (unsigned k = 0; k < 32; k++) {
			s[k] = src + ((uint64_t)(r * 32 + k) * 4096 * 3) % (area - size - 4096);
			__builtin_prefetch(s[k]);
			__builtin_prefetch(s[k] + 64);
		}
		for (unsigned k = 0; k < 32; k += 64 / per > 32 ? 32 : 64 / per) {
			unsigned n = 64 / per > 32 ? 32 : 64 / per;
			if (hl_buf_alloc_bulk(bp, b, n * per) < 0)
				return -1;
			for (unsigned j = 0; j < n && k + j < 32; j++)
				memcpy(dst, s[k + j], size);
			hl_buf_free_bulk(b, n * per);
		}
	}
	return (double)(hl_now_ns() - t0) / (rounds * 32.0);
}

/* Pinning cost, ns a packet: head + one external segment, 64 bytes gathered, freed, completed. */
static double calib_pin(struct hl_bufpool *bp, uint8_t *src, size_t area, struct hl_ring *done, unsigned rounds)
{
	struct hl_buf *b[64];
	void *objs[32];
	uint64_t t0 = hl_now_ns();
	for (unsigned r = 0; r < rounds; r++) {
		if (hl_buf_alloc_bulk(bp, b, 64) < 0)
			return -1;
		for (unsigned k = 0; k < 32; k++) {
			uint8_t *p = src + ((uint64_t)(r * 32 + k) * 4096 * 3) % (area - 8192);
			__builtin_prefetch(p);
			memcpy(hl_buf_data(b[k]), p, HL_VHOST_ZC_COPY);
			b[k]->data_len = b[k]->pkt_len = HL_VHOST_ZC_COPY;
			hl_buf_attach_extbuf(b[32 + k], p + HL_VHOST_ZC_COPY, HL_BAD_ADDR, 1024, calib_free, done);
			hl_buf_chain(b[k], b[32 + k]);
		}
		hl_buf_free_bulk(b, 32);
		hl_ring_dequeue_bulk(done, objs, 32);
	}
	return (double)(hl_now_ns() - t0) / (rounds * 32.0);
}

uint32_t hl_vhost_zc_calibrate(struct hl_bufpool *bp)
{
	/*
	 * A guest's frame was just written by another core: it sits in the
	 * shared cache, not in ours and not in DRAM. An area larger than our
	 * L2 but well inside a server's L3 stands for that.
	 */
	enum { AREA = 4 << 20, ROUNDS = 64 };
	static const uint32_t sizes[] = {128, 256, 512, 768, 1024, 1536, 2048, 3072, 4096, 8192, 16384};
	uint8_t *src = malloc(AREA), *dst = malloc(16384);
	struct hl_ring *r = NULL;
	uint32_t best = 65536;
	double pin_ns = -1, copy_ns = -1;
	if (src == NULL || dst == NULL || hl_ring_create("zc-calib", 64, 0, &r) < 0)
		goto out;
	memset(src, 0x5a, AREA);
	memset(dst, 0, 16384);
	pin_ns = calib_pin(bp, src, AREA, r, ROUNDS);
	for (unsigned i = 0; pin_ns > 0 && i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		copy_ns = calib_copy(bp, src, AREA, dst, sizes[i], ROUNDS);
		if (copy_ns < 0)
			break;
		if (copy_ns > pin_ns) {
			best = sizes[i];
			break;
		}
	}
	if (pin_ns < 0 || copy_ns < 0) {
		HL_LOG_WARN("vhost zero-copy: could not measure (no buffers); AUTO keeps %u B", hl_vhost_zc_min_len_default());
		best = hl_vhost_zc_min_len_default();
		goto out;
	}
	HL_LOG_INFO("vhost zero-copy: pinning costs %.0f ns a packet; copying %u B or more costs more", pin_ns, best);
	__atomic_store_n(&default_min_len, best, __ATOMIC_RELAXED);
out:
	free(src);
	free(dst);
	hl_ring_free(r);
	return best;
}
