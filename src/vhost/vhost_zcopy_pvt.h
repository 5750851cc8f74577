/* SPDX-License-Identifier: BSD-3-Clause */
/* Guest -> host: what copy and zero-copy dequeue share; internal to src/vhost. */
#ifndef HL_VHOST_ZCOPY_PVT_H
#define HL_VHOST_ZCOPY_PVT_H

#include <string.h>

#include <hugelink/vhost_port.h>

#include "vhost_port_pvt.h"

/* Control thread, at queue start: a context for a ring of num entries, or NULL. */
struct hl_vhost_zc *hl_vhost_zc_create(const struct hl_vhost_dev *d, unsigned num);
/* Control thread, data path shut out: return every pinned chain; the context goes once its buffers are back. */
void hl_vhost_zc_stop(struct hl_vhost_vq *vq);
/* Control path: free the contexts of stopped queues whose buffers have all been freed since. */
void hl_vhost_zc_collect(void);
/*
 * The context, here so that the per-packet part of pinning inlines into the
 * dequeue loop; vhost_zcopy.c owns its life and explains its invariants.
 */
enum { HL_ZC_FREE, HL_ZC_PINNED, HL_ZC_DONE };

#define HL_ZC_COPIED (1u << 16) /* a fifo entry for a chain done with at once, waiting for those before it */

struct hl_zc_slot {
	/*
	 * The segment a one-piece frame is attached to: the slot's own, so a
	 * pin allocates nothing and a free returns nothing to a pool. Further
	 * pieces of a chain come from the bufpool.
	 */
	struct hl_buf seg;
	uint32_t st;    /* atomic: HL_ZC_* */
	uint32_t segs;  /* atomic: external segments of this chain still referenced */
	uint32_t seq;   /* the pin's place in fifo */
	uint16_t head;
	uint16_t slots; /* packed rings: the ring slots its chain took (what its used descriptor skips) */
	uint8_t orphan; /* owner: given back to the guest while still out (a stop, or too old) */
	uint64_t t_pin;
};

struct hl_vhost_zc {
	struct hl_vhost_zc *next_orphan; /* on the orphans list, after a stop that left chains out */
	uint16_t num;                    /* ring size (packed: rounded up to a power of two) - 1: a mask */
	unsigned pinned;                 /* owner of the queue only: pins not yet on the used ring */
	uint32_t fifo_first, fifo_next;  /* chains taken and not yet on the used ring, in avail order */
	uint32_t *fifo;                  /* num entries: a pinned head, or a done one | HL_ZC_COPIED */
	unsigned orphans;                /* owner: slots given back while pinned, not yet freed */
	unsigned scan_tick;              /* bursts, for the walk over orphaned slots */
	const struct hl_xlate *iova;     /* host address -> IOVA (physical) */
	uint64_t now;                    /* this burst's time, once a packet was worth pinning */
	int aged;                        /* -1: not looked at yet this burst; 1: the oldest pin is too old */
	unsigned nmaps;
	struct hl_vu_mapping *maps[HL_VHOST_MAX_MEM_SLOTS];
	struct hl_zc_slot *slots;        /* num entries, cache-aligned */
};

/* Out of line: completions onto the used ring; this burst's time and age bound; chains; gathers. */
void hl_vhost_zc_drain(struct hl_vhost_vq *vq);
void hl_vhost_zc_age(struct hl_vhost_vq *vq);
int hl_vhost_zc_pin_pieces(struct hl_vhost_zc *zc, struct hl_bufpool *bp, struct hl_buf *b, uint16_t head,
			   const struct hl_iov *iov, unsigned niov, uint32_t skip, uint32_t len);
void hl_vhost_zc_gather(uint8_t *dst, const struct hl_iov *iov, unsigned niov, uint32_t off, uint32_t len);

/* Slot s now describes the chain b -> s->seg (-> n - 1 more), len bytes in all. */
static inline void hl_vhost_zc_pinned(struct hl_vhost_zc *zc, struct hl_zc_slot *s, struct hl_buf *b,
				      uint16_t head, unsigned n, uint32_t len)
{
	/* b is fresh: the chain is b and the segments, linked already */
	b->next = &s->seg;
	b->nb_segs = (uint16_t)(1 + n);
	b->data_len = HL_VHOST_ZC_COPY;
	b->pkt_len = len;
	s->segs = n;
	s->t_pin = zc->now;
	s->seq = zc->fifo_next;
	/* no other thread sees the slot before the buffers leave this burst */
	__atomic_store_n(&s->st, HL_ZC_PINNED, __ATOMIC_RELAXED);
	zc->fifo[zc->fifo_next++ & zc->num] = head;
	zc->pinned++;
}

/*
 * Data path, between hl_vhost_vq_enter/leave, for a queue with vq->zc set;
 * the copy loop calls them (vhost_dequeue.c), so that what zero-copy does
 * not take costs what copy mode costs.
 *
 * begin: at the start of a burst, put the chains whose buffers came back on
 * the used ring (true if it looked: the used ring then needs a flush), and
 * set *from, the length from which packets are worth pinning.
 * pin: leave the frame (len bytes after the virtio-net header) in guest
 * memory behind head buffer b. -1: not pinned (a bound, or no buffers), b
 * untouched; copy it. 0: pinned and b holds the first HL_VHOST_ZC_COPY
 * bytes. 1: pinned, and the caller copies those bytes, which lie in iov[0]
 * after the header, before the burst ends.
 * end: at the end of a burst.
 */
static inline bool hl_vhost_zc_begin(struct hl_vhost_vq *vq, uint32_t *from)
{
	struct hl_vhost_zc *zc = vq->zc;
	*from = vq->zc_min_len > HL_VHOST_ZC_COPY ? vq->zc_min_len : HL_VHOST_ZC_COPY + 1;
	zc->aged = -1;
	/* nothing pinned, nothing to complete: AUTO with small packets costs what copy mode does */
	if (zc->pinned == 0 && zc->orphans == 0)
		return false;
	hl_vhost_zc_drain(vq);
	return true;
}

static inline int hl_vhost_zc_pin(struct hl_vhost_vq *vq, struct hl_bufpool *bp, struct hl_buf *b, uint16_t head,
				  const struct hl_iov *iov, unsigned niov, uint32_t len)
{
	struct hl_vhost_zc *zc = vq->zc;
	if (zc->aged < 0) /* once a burst, and only in bursts with something worth pinning */
		hl_vhost_zc_age(vq);
	/*
	 * The fifo bound keeps a ring of num entries from overrunning when pins
	 * outlive later ones; a head still pinned (a guest offering it twice) is
	 * copied, so that a slot never describes two chains.
	 */
	struct hl_zc_slot *s = &zc->slots[head & zc->num];
	if (hl_unlikely(zc->aged || zc->pinned >= vq->zc_max_pinned || zc->fifo_next - zc->fifo_first > zc->num ||
			__atomic_load_n(&s->st, __ATOMIC_RELAXED) != HL_ZC_FREE))
		goto fallback;
	if (hl_likely(niov == 1)) {
		/* header and frame in one piece, the common case: the slot's segment, nothing to count */
		uint8_t *va = (uint8_t *)iov[0].base + vq->hdr_len + HL_VHOST_ZC_COPY;
		hl_buf_owned_attach(&s->seg, va, hl_xlate(zc->iova, (uintptr_t)va), len - HL_VHOST_ZC_COPY);
		hl_vhost_zc_pinned(zc, s, b, head, 1, len);
		vq->stats.zcopy++;
		return 1;
	}
	if (hl_vhost_zc_pin_pieces(zc, bp, b, head, iov, niov, vq->hdr_len, len) < 0)
		goto fallback;
	vq->stats.zcopy++;
	if (iov[0].len >= vq->hdr_len + (uint32_t)HL_VHOST_ZC_COPY)
		return 1;
	hl_vhost_zc_gather(hl_buf_data(b), iov, niov, vq->hdr_len, HL_VHOST_ZC_COPY);
	return 0;
fallback:
	vq->stats.zc_fallback++;
	return -1;
}

/* Packed rings: the chain pinned under buffer id `head` took `slots` ring slots. */
static inline void hl_vhost_zc_pinned_slots(struct hl_vhost_zc *zc, uint16_t head, uint16_t slots)
{
	zc->slots[head & zc->num].slots = slots;
}

static inline void hl_vhost_zc_end(struct hl_vhost_vq *vq)
{
	vq->stats.zc_pinned = vq->zc->pinned;
}

/*
 * A chain the dequeue is done with at once (copied, or refused): on the used
 * ring now if every chain taken before it is there, else in the fifo behind
 * them. A fifo that is full can only come from a guest offering heads it
 * has in flight; its chain goes out at once.
 */
static inline void hl_vhost_tx_done(struct hl_vhost_vq *vq, uint16_t head)
{
	struct hl_vhost_zc *zc = vq->zc;
	if (zc == NULL || zc->fifo_first == zc->fifo_next || hl_unlikely(zc->fifo_next - zc->fifo_first > zc->num)) {
		hl_vhost_vq_tx_used(vq, head);
		return;
	}
	zc->fifo[zc->fifo_next++ & zc->num] = head | HL_ZC_COPIED;
}

/*
 * Walk the transmit chain at head into iov/ch, *len the frame's length (the
 * virtio-net header skipped). A chain the walker refuses, or one shorter
 * than the header, goes straight back on the used ring, counted: false.
 */
static inline bool hl_vhost_walk_tx(struct hl_vhost_vq *vq, uint16_t head, struct hl_iov *iov, struct hl_chain *ch,
				    uint32_t *len)
{
	if (hl_unlikely(hl_vring_walk(&vq->vr, vq->mem, head, iov, HL_VHOST_MAX_IOV, ch) < 0 ||
			ch->out_len < vq->hdr_len)) {
		vq->stats.drop_bad_chain++;
		hl_vhost_tx_done(vq, head);
		return false;
	}
	*len = ch->out_len - vq->hdr_len;
	return true;
}

/*
 * The virtio-net header's offload fields (the first 10 bytes of either
 * layout), copied out of guest memory once, wherever the descriptors split
 * them; false (and *h not all filled) when its flags and gso type are both
 * 0, the plain frame's header, which costs one load. The walk guarantees
 * at least hdr_len readable bytes.
 */
static inline bool hl_vhost_read_vnet_hdr(const struct hl_iov *iov, unsigned niov, struct hl_virtio_net_hdr *h)
{
	if (hl_likely(iov[0].len >= sizeof(*h))) {
		uint16_t w;
		memcpy(&w, iov[0].base, sizeof(w));
		if (hl_likely(w == 0))
			return false;
		memcpy(h, iov[0].base, sizeof(*h));
		return true;
	}
	hl_vhost_zc_gather((uint8_t *)h, iov, niov, 0, sizeof(*h));
	return h->flags != 0 || h->gso_type != 0;
}

/*
 * Copy bytes [skip, skip + len) of the readable iovs into b (a fresh buffer)
 * and as many more buffers from bp as it takes. -1 when bp runs out; b is
 * then empty again and nothing else is held.
 */
int hl_vhost_copy_chain(const struct hl_iov *iov, unsigned niov, uint32_t skip, uint32_t len, struct hl_buf *b,
			struct hl_bufpool *bp);

#endif
