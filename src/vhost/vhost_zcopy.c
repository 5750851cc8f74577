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
 *    segments is dropped, on whatever thread. That thread marks the chain's
 *    slot done, one plain store, and touches nothing of the context
 *    afterwards; the dequeue thread finds done slots by walking its pins in
 *    order, and puts them on the used ring.
 *  - The used ring is filled in the order the chains were taken from the
 *    avail ring, whatever order the buffers come back in: a chain copied
 *    (or refused) behind one still pinned waits in the fifo behind it. So
 *    the used index is at every moment also the count of avail entries
 *    done with, which is what a front-end falls back on when the back-end
 *    dies (QEMU resumes the ring at the used index: everything after it is
 *    offered again, and nothing before it may still be out). Out-of-order
 *    completion would hand such a front-end ids it no longer has in flight.
 *  - Slot states: FREE -> PINNED (dequeue thread) -> DONE (last free) ->
 *    FREE (dequeue thread, on the used ring). Only the last free writes
 *    DONE, and only the queue's owner writes the rest.
 *  - No starvation: at most zc_max_pinned chains are pinned, and once the
 *    oldest pin is older than zc_max_pin_ns, new packets are copied until
 *    it is freed. An old pin holding half the guest's ring behind it is
 *    given back on the used ring while still out (orphaned, as at a stop:
 *    the guest may reuse the buffer, the consumer still reads mapped
 *    memory, only that frame's payload can change), so the guest always
 *    has descriptors to send with, however slowly a consumer frees.
 *  - A context lives while its queue runs or any buffer points into it. It
 *    holds references on the guest memory mappings, so a front-end that
 *    removes memory, resets or disconnects cannot unmap it from under a
 *    consumer. A stop that leaves chains out (orphaned) puts the context on
 *    a list the control path looks at (hl_vhost_zc_collect()); once every
 *    orphaned slot is DONE, the context and its mappings go.
 *  - When a queue stops with chains still pinned, the control thread (the
 *    data path is shut out by then) waits briefly, then returns the rest on
 *    the used ring itself: the front-end gets every descriptor back before
 *    it reads the ring base, and a buffer freed later completes into the
 *    orphaned context, never into a ring again. None leaked, none twice.
 *    Nothing in a context points into itself except through `slots`, and
 *    contexts are never copied.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hugelink/vhost_port.h>

#include "../common/clock_pvt.h"

#include "vhost_mem_pvt.h"
#include "vhost_port_pvt.h"
#include "vhost_zcopy_pvt.h"

#define STOP_WAIT_NS 20000000ull /* how long a stop waits for pinned buffers to come back */

#define ZC_REAP_EVERY 8 /* bursts between walks for orphaned slots that came back */

static void zc_destroy(struct hl_vhost_zc *zc)
{
	for (unsigned i = 0; i < zc->nmaps; i++)
		hl_vu_mapping_put(zc->maps[i]);
	free(zc->fifo);
	free(zc->slots);
	free(zc);
}

/* Contexts a stop left with chains out; control path only. */
static pthread_mutex_t orphans_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hl_vhost_zc *orphans;
static unsigned n_orphans; /* atomic, so that a look at an empty list costs a load */

static bool zc_all_back(const struct hl_vhost_zc *zc)
{
	for (unsigned i = 0; i <= zc->num; i++)
		if (zc->slots[i].orphan && __atomic_load_n(&zc->slots[i].st, __ATOMIC_ACQUIRE) != HL_ZC_DONE)
			return false;
	return true;
}

void hl_vhost_zc_collect(void)
{
	if (__atomic_load_n(&n_orphans, __ATOMIC_RELAXED) == 0)
		return;
	pthread_mutex_lock(&orphans_lock);
	for (struct hl_vhost_zc **pp = &orphans; *pp != NULL;) {
		struct hl_vhost_zc *zc = *pp;
		if (!zc_all_back(zc)) {
			pp = &zc->next_orphan;
			continue;
		}
		*pp = zc->next_orphan;
		__atomic_fetch_sub(&n_orphans, 1, __ATOMIC_RELAXED);
		zc_destroy(zc);
	}
	pthread_mutex_unlock(&orphans_lock);
}

unsigned hl_vhost_zc_orphaned(void)
{
	return __atomic_load_n(&n_orphans, __ATOMIC_RELAXED);
}

/* What came back by the time the process ends goes too (buffers never freed keep theirs). */
__attribute__((destructor)) static void zc_collect_at_exit(void)
{
	hl_vhost_zc_collect();
}

static void zc_seg_free(void *va, void *opaque);

struct hl_vhost_zc *hl_vhost_zc_create(const struct hl_vhost_dev *d, unsigned num)
{
	/* a packed ring's size need not be a power of two; its buffer ids are below it */
	while (!HL_IS_POW2(num))
		num++;
	struct hl_vhost_zc *zc = calloc(1, sizeof(*zc));
	if (zc == NULL || (zc->fifo = calloc(num, sizeof(*zc->fifo))) == NULL ||
	    (zc->slots = aligned_alloc(HL_CACHE_LINE, num * sizeof(*zc->slots))) == NULL) {
		if (zc != NULL)
			free(zc->fifo);
		free(zc);
		return NULL;
	}
	memset(zc->slots, 0, num * sizeof(*zc->slots));
	zc->num = (uint16_t)(num - 1); /* kept as a mask */
	zc->iova = &d->hva2iova;
	for (unsigned i = 0; i < d->nregions; i++) {
		if (d->regions[i].map == NULL)
			continue;
		hl_vu_mapping_get(d->regions[i].map);
		zc->maps[zc->nmaps++] = d->regions[i].map;
	}
	for (unsigned i = 0; i < num; i++) {
		zc->slots[i].head = (uint16_t)i;
		hl_buf_init_owned(&zc->slots[i].seg, zc_seg_free, &zc->slots[i]);
	}
	return zc;
}

/* Last reference to one external segment (any thread). */
static void zc_seg_free(void *va, void *opaque)
{
	struct hl_zc_slot *s = opaque;
	(void)va;
	/* the only segment left (a one-piece chain, the common case) needs no read-modify-write */
	if (__atomic_load_n(&s->segs, __ATOMIC_ACQUIRE) != 1 &&
	    __atomic_sub_fetch(&s->segs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	/*
	 * Release: the consumer's reads of the frame come before the guest can
	 * have it back. From here the slot may go back to the guest and the
	 * context may go: nothing of it is touched after the store.
	 */
	__atomic_store_n(&s->st, HL_ZC_DONE, __ATOMIC_RELEASE);
}

/* The pinned slot fifo entry i stands for, or NULL for a copied chain's entry (or one moved on). */
static inline struct hl_zc_slot *zc_entry(struct hl_vhost_zc *zc, uint32_t i)
{
	uint32_t e = zc->fifo[i & zc->num];
	if (e & HL_ZC_COPIED)
		return NULL;
	struct hl_zc_slot *s = &zc->slots[e & zc->num];
	return s->seq == i && __atomic_load_n(&s->st, __ATOMIC_RELAXED) != HL_ZC_FREE ? s : NULL;
}

/* A done chain onto the used ring; true if s was done. */
static inline bool zc_complete(struct hl_vhost_vq *vq, struct hl_vhost_zc *zc, struct hl_zc_slot *s)
{
	/* acquire: the consumer's last reads of the frame come before the guest gets it back */
	if (__atomic_load_n(&s->st, __ATOMIC_ACQUIRE) != HL_ZC_DONE)
		return false;
	__atomic_store_n(&s->st, HL_ZC_FREE, __ATOMIC_RELAXED);
	zc->pinned--;
	hl_vhost_vq_put_used(vq, s->head, 0, s->slots);
	return true;
}

/* A chain still pinned goes back to the guest now; its slot waits for the buffers (orphaned). */
static void zc_give_back(struct hl_vhost_vq *vq, struct hl_vhost_zc *zc, struct hl_zc_slot *s)
{
	s->orphan = 1;
	zc->orphans++;
	zc->pinned--;
	vq->stats.zc_reclaimed++;
	hl_vhost_vq_put_used(vq, s->head, 0, s->slots);
}

/* Orphaned slots whose buffers came back are free for a pin again. */
static void zc_reap(struct hl_vhost_zc *zc)
{
	for (unsigned i = 0; zc->orphans > 0 && i <= zc->num; i++) {
		struct hl_zc_slot *s = &zc->slots[i];
		if (s->orphan && __atomic_load_n(&s->st, __ATOMIC_ACQUIRE) == HL_ZC_DONE) {
			s->orphan = 0;
			__atomic_store_n(&s->st, HL_ZC_FREE, __ATOMIC_RELAXED);
			zc->orphans--;
		}
	}
}

/*
 * Put the chains at the front of the fifo on the used ring, in order, up to
 * the first still pinned. That one is given back anyway when it is older
 * than zc_max_pin_ns and holds half the ring behind it (the clock is read
 * only then).
 */
static void zc_drain(struct hl_vhost_vq *vq, struct hl_vhost_zc *zc)
{
	uint32_t i = zc->fifo_first, end = zc->fifo_next;
	for (; i != end; i++) {
		uint32_t e = zc->fifo[i & zc->num];
		if (e & HL_ZC_COPIED) {
			hl_vring_put_used(&vq->vr, (uint16_t)e, 0);
			continue;
		}
		struct hl_zc_slot *s = zc_entry(zc, i);
		if (s == NULL || zc_complete(vq, zc, s))
			continue;
		if (hl_likely(end - i <= (zc->num + 1u) / 2) || hl__fast_ns() - s->t_pin <= vq->zc_max_pin_ns)
			break;
		zc_give_back(vq, zc, s);
	}
	zc->fifo_first = i;
	if (hl_unlikely(zc->orphans > 0) && ++zc->scan_tick % ZC_REAP_EVERY == 0)
		zc_reap(zc);
	vq->stats.zc_pinned = zc->pinned;
}

/* Time of the oldest chain still pinned (the first pin in the fifo), or 0. */
static uint64_t zc_oldest(struct hl_vhost_zc *zc)
{
	for (uint32_t i = zc->fifo_first; i != zc->fifo_next; i++) {
		const struct hl_zc_slot *s = zc_entry(zc, i);
		if (s != NULL)
			return s->t_pin;
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
	/* what is still out goes back in order too, the copies behind it with it */
	for (uint32_t i = zc->fifo_first; i != zc->fifo_next; i++) {
		uint32_t e = zc->fifo[i & zc->num];
		struct hl_zc_slot *s = zc_entry(zc, i);
		if (e & HL_ZC_COPIED)
			hl_vring_put_used(&vq->vr, (uint16_t)e, 0);
		else if (s != NULL && !zc_complete(vq, zc, s))
			zc_give_back(vq, zc, s);
	}
	zc->fifo_first = zc->fifo_next;
	zc_reap(zc);
	unsigned out = zc->orphans;
	vq->stats.zc_pinned = 0;
	hl_vhost_vq_flush(vq);
	hl_vhost_vq_notify(vq);
	vq->zc = NULL;
	if (out == 0) {
		zc_destroy(zc);
	} else { /* buffers still out keep it (and guest memory) alive */
		pthread_mutex_lock(&orphans_lock);
		zc->next_orphan = orphans;
		orphans = zc;
		__atomic_fetch_add(&n_orphans, 1, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&orphans_lock);
	}
	hl_vhost_zc_collect();
}

/*
 * A frame in several pieces: bytes [skip + HL_VHOST_ZC_COPY, skip + len)
 * stay in guest memory as external segments after head b, the first in the
 * slot's own, the others from bp (one bulk allocation, counted first, so a
 * failure leaves nothing attached: -1, b as it was).
 */
int hl_vhost_zc_pin_pieces(struct hl_vhost_zc *zc, struct hl_bufpool *bp, struct hl_buf *b, uint16_t head,
			   const struct hl_iov *iov, unsigned niov, uint32_t skip, uint32_t len)
{
	struct hl_zc_slot *s = &zc->slots[head & zc->num];
	struct hl_buf *segs[HL_VHOST_MAX_IOV];
	uint32_t off = skip + HL_VHOST_ZC_COPY, left = len - HL_VHOST_ZC_COPY;
	unsigned first = 0, n = 0;

	while (first < niov && off >= iov[first].len)
		off -= iov[first++].len;
	for (unsigned i = first, o = off, l = left; i < niov && l > 0; i++, o = 0) {
		uint32_t piece = iov[i].len - o < l ? iov[i].len - o : l;
		l -= piece;
		n += piece > 0; /* an empty descriptor becomes no segment */
	}
	if (hl_unlikely(n == 0 || (n > 1 && hl_buf_alloc_bulk(bp, segs + 1, n - 1) < 0)))
		return -1;
	segs[0] = &s->seg;
	for (unsigned i = first, k = 0; k < n; i++, off = 0) {
		uint32_t piece = iov[i].len - off < left ? iov[i].len - off : left;
		if (piece == 0)
			continue;
		uint8_t *va = (uint8_t *)iov[i].base + off;
		uint64_t iova = hl_xlate(zc->iova, (uintptr_t)va);
		if (k == 0)
			hl_buf_owned_attach(segs[0], va, iova, piece);
		else
			hl_buf_attach_extbuf(segs[k], va, iova, piece, zc_seg_free, s);
		if (k > 0)
			segs[k - 1]->next = segs[k];
		left -= piece;
		k++;
	}
	hl_vhost_zc_pinned(zc, s, b, head, n, len);
	return 0;
}

void hl_vhost_zc_gather(uint8_t *dst, const struct hl_iov *iov, unsigned niov, uint32_t off, uint32_t len)
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

void hl_vhost_zc_drain(struct hl_vhost_vq *vq)
{
	zc_drain(vq, vq->zc);
}

void hl_vhost_zc_age(struct hl_vhost_vq *vq)
{
	struct hl_vhost_zc *zc = vq->zc;
	zc->now = hl__fast_ns();
	uint64_t oldest = zc_oldest(zc);
	zc->aged = oldest != 0 && zc->now - oldest > vq->zc_max_pin_ns;
}
