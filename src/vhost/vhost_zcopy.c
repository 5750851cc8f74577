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
 *    order, and puts them on the used ring. Completions come out of order
 *    (split rings allow that): a done slot behind one still pinned is found
 *    by a walk over every pin, made every few bursts.
 *  - Slot states: FREE -> PINNED (dequeue thread) -> DONE (last free) ->
 *    FREE (dequeue thread, on the used ring). Only the last free writes
 *    DONE, and only the queue's owner writes the rest.
 *  - No starvation: at most zc_max_pinned chains are pinned, and once the
 *    oldest pin is older than zc_max_pin_ns, new packets are copied (and
 *    returned at once) until it is freed. The guest always has descriptors
 *    to send with, however slowly a consumer frees.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hugelink/vhost_port.h>
#include <hugelink/vring_driver.h>

#include "vhost_mem.h"
#include "vhost_zcopy.h"

#define STOP_WAIT_NS 20000000ull /* how long a stop waits for pinned buffers to come back */

#define ZC_SCAN_EVERY 8 /* bursts between walks over every pin, for completions out of order */

static uint32_t default_min_len = HL_VHOST_ZC_DEFAULT_MIN_LEN;

uint32_t hl_vhost_zc_min_len_default(void)
{
	return __atomic_load_n(&default_min_len, __ATOMIC_RELAXED);
}

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
	struct hl_vhost_zc *zc = calloc(1, sizeof(*zc));
	if (zc == NULL || (zc->fifo = calloc(num, sizeof(*zc->fifo))) == NULL ||
	    (zc->slots = aligned_alloc(HL_CACHE_LINE, num * sizeof(*zc->slots))) == NULL) {
		if (zc != NULL)
			free(zc->fifo);
		free(zc);
		return NULL;
	}
	memset(zc->slots, 0, num * sizeof(*zc->slots));
	zc->num = (uint16_t)(num - 1); /* kept as a mask: num is a power of two */
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

/* The fifo entry at i, if it still stands for a pin not yet on the used ring. */
static inline struct hl_zc_slot *zc_entry(struct hl_vhost_zc *zc, uint32_t i)
{
	struct hl_zc_slot *s = &zc->slots[zc->fifo[i & zc->num] & zc->num];
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
	hl_vring_put_used(&vq->vr, s->head, 0);
	return true;
}

/*
 * Put the chains whose buffers came back on the used ring: in pin order up
 * to the first still out, and, every few bursts or with many pinned, the
 * ones done behind it (all of them when `all`).
 */
static void zc_drain(struct hl_vhost_vq *vq, struct hl_vhost_zc *zc, bool all)
{
	uint32_t i = zc->fifo_first, end = zc->fifo_next;
	for (; i != end; i++) {
		struct hl_zc_slot *s = zc_entry(zc, i);
		if (s != NULL && !zc_complete(vq, zc, s))
			break;
	}
	zc->fifo_first = i;
	if (i != end && (all || ++zc->scan_tick % ZC_SCAN_EVERY == 0 || zc->pinned >= vq->zc_max_pinned)) {
		for (i++; i != end; i++) {
			struct hl_zc_slot *s = zc_entry(zc, i);
			if (s != NULL)
				zc_complete(vq, zc, s);
		}
	}
	vq->stats.zc_pinned = zc->pinned;
}

/* Time of the oldest chain still pinned, or 0. */
static uint64_t zc_oldest(struct hl_vhost_zc *zc)
{
	for (; zc->fifo_first != zc->fifo_next; zc->fifo_first++) {
		const struct hl_zc_slot *s = zc_entry(zc, zc->fifo_first);
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
		zc_drain(vq, zc, true);
		if (zc->pinned == 0 || hl_now_ns() - t0 > STOP_WAIT_NS)
			break;
		usleep(200);
	}
	unsigned out = 0;
	for (unsigned i = 0; zc->pinned > 0 && i <= zc->num; i++) {
		struct hl_zc_slot *s = &zc->slots[i];
		uint32_t st = __atomic_load_n(&s->st, __ATOMIC_ACQUIRE);
		if (st == HL_ZC_FREE)
			continue;
		if (st == HL_ZC_PINNED) { /* still out: the guest gets it back now, the context waits for it */
			s->orphan = 1;
			out++;
			vq->stats.zc_reclaimed++;
		}
		zc->pinned--;
		hl_vring_put_used(&vq->vr, s->head, 0);
	}
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
	zc_drain(vq, vq->zc, false);
}

void hl_vhost_zc_age(struct hl_vhost_vq *vq)
{
	struct hl_vhost_zc *zc = vq->zc;
	zc->now = hl_fast_ns();
	uint64_t oldest = zc_oldest(zc);
	zc->aged = oldest != 0 && zc->now - oldest > vq->zc_max_pin_ns;
}

/* ---- choosing the AUTO threshold on this machine ---------------------------- */

/*
 * Both modes are timed on the real dequeue path, hl_vhost_dequeue_burst(),
 * against a ring in our own memory. A driver on the same thread posts bursts
 * of frames the way a front-end does (each frame in its own 2 KB buffer
 * behind the virtio-net header, larger ones as chains of 2 KB pieces, only
 * the first bytes freshly written, as a sender fills in headers), the
 * consumer frees each burst at once, and the driver takes back what came
 * back on the used ring. A sample is CAL_BURSTS bursts, completions of
 * pinned chains included. For each size a round times copy and zero-copy
 * back to back (in alternating order), and the size's verdict is the median
 * over rounds of the ratio of the two: load that comes and goes on a shared
 * machine moves both sides of a ratio alike.
 */
#define CAL_RING 1024            /* room for two bursts of the longest chains */
#define CAL_PIECE 2048           /* a front-end buffer's data room */
#define CAL_STRIDE 2304          /* ... with headroom, where the header goes */
#define CAL_BUFS 1024            /* front-end buffers cycled through */
#define CAL_BURSTS 4
#define CAL_ROUNDS 9
#define CAL_GPA 0x40000000ull    /* where the calibration's "guest memory" starts */
#define CAL_MIN 128u             /* lowest threshold picked */
#define CAL_NEVER 65536u         /* zero-copy never paid: no frame reaches this */

static const uint32_t cal_sizes[] = {128, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 8192, 16384};
#define CAL_NSIZES (sizeof(cal_sizes) / sizeof(cal_sizes[0]))

struct calib {
	struct hl_bufpool *bp;
	struct hl_vhost_port *port;  /* only vq[1] and be.dev are set */
	struct hl_vhost_zc *zc;
	struct hl_vring_driver drv;
	uint8_t *mem;                /* the ring, then the frame buffers */
	size_t mem_len, buf_off;
	unsigned next_buf;
	uint32_t result;
	bool measured;
	double ratio[CAL_NSIZES], copy_ns[CAL_NSIZES], zc_ns[CAL_NSIZES]; /* medians, ns a packet */
};

/* Post `count` frames of `size` bytes. */
static int calib_post(struct calib *c, uint32_t size, unsigned count)
{
	static const uint8_t hdr[64] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00, 0x45};
	unsigned nseg = (size + CAL_PIECE - 1) / CAL_PIECE;
	for (unsigned k = 0; k < count; k++) {
		struct hl_drv_buf bufs[CAL_NEVER / CAL_PIECE + 1];
		for (unsigned i = 0; i < nseg; i++) {
			uint8_t *va = c->mem + c->buf_off + (size_t)(c->next_buf++ % CAL_BUFS) * CAL_STRIDE;
			uint32_t piece = i + 1 < nseg ? CAL_PIECE : size - CAL_PIECE * (nseg - 1);
			if (i == 0) {
				memset(va, 0, 12); /* the largest virtio-net header */
				memcpy(va + 12, hdr, sizeof(hdr));
				piece += c->port->vq[1].hdr_len;
			}
			bufs[i] = (struct hl_drv_buf){.addr = CAL_GPA + (uint64_t)(va - c->mem), .len = piece};
		}
		if (hl_vring_driver_add(&c->drv, bufs, nseg, 0, (void *)(uintptr_t)(k + 1)) < 0)
			return -1;
	}
	return 0;
}

/* ns a packet for one sample in one mode, or < 0 (no buffers, or the ring misbehaved). */
static double calib_sample(struct calib *c, bool zc, uint32_t size)
{
	struct hl_vhost_vq *vq = &c->port->vq[1];
	struct hl_buf *pkts[HL_VHOST_BURST];
	uint32_t len;
	unsigned back = 0;
	vq->zc = zc ? c->zc : NULL;
	uint64_t t0 = hl_now_ns();
	for (unsigned b = 0; b < CAL_BURSTS; b++) {
		if (calib_post(c, size, HL_VHOST_BURST) < 0)
			return -1;
		uint16_t got = hl_vhost_dequeue_burst(c->port, 1, c->bp, pkts, HL_VHOST_BURST);
		hl_buf_free_bulk(pkts, got);
		if (got != HL_VHOST_BURST)
			return -1;
		while (hl_vring_driver_get_used(&c->drv, &len) != NULL)
			back++;
	}
	if (zc) {
		/* the last burst's completions are part of its cost; the queue drops out of zero-copy clean */
		zc_drain(vq, c->zc, true);
		hl_vring_flush_used(&vq->vr);
		while (hl_vring_driver_get_used(&c->drv, &len) != NULL)
			back++;
	}
	uint64_t t = hl_now_ns() - t0;
	vq->zc = NULL;
	if (back != CAL_BURSTS * HL_VHOST_BURST || c->zc->pinned != 0)
		return -1;
	return (double)t / (CAL_BURSTS * HL_VHOST_BURST);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void calib_measure(struct calib *c)
{
	double r[CAL_NSIZES][CAL_ROUNDS], tc[CAL_NSIZES][CAL_ROUNDS], tz[CAL_NSIZES][CAL_ROUNDS];
	/* round -1 warms caches, the buffer cache and the branch predictors, and is not kept */
	for (int round = -1; round < CAL_ROUNDS; round++) {
		for (unsigned i = 0; i < CAL_NSIZES; i++) {
			bool zc_first = (round + i) & 1;
			double a = calib_sample(c, zc_first, cal_sizes[i]);
			double b = calib_sample(c, !zc_first, cal_sizes[i]);
			if (a <= 0 || b <= 0)
				return;
			if (round < 0)
				continue;
			tz[i][round] = zc_first ? a : b;
			tc[i][round] = zc_first ? b : a;
			r[i][round] = tz[i][round] / tc[i][round];
		}
	}
	for (unsigned i = 0; i < CAL_NSIZES; i++) {
		c->ratio[i] = median(r[i], CAL_ROUNDS);
		c->copy_ns[i] = median(tc[i], CAL_ROUNDS);
		c->zc_ns[i] = median(tz[i], CAL_ROUNDS);
	}
	/*
	 * The threshold: the smallest size from which zero-copy is no slower at
	 * every size measured (a lone win below a loss is noise), placed
	 * between the last loss and the first win where the ratio crosses 1.
	 */
	unsigned first = CAL_NSIZES;
	while (first > 0 && c->ratio[first - 1] <= 1.0)
		first--;
	if (first == CAL_NSIZES) {
		c->result = CAL_NEVER;
	} else if (first == 0) {
		c->result = CAL_MIN;
	} else {
		double lo = cal_sizes[first - 1], hi = cal_sizes[first];
		double x = lo + (hi - lo) * (c->ratio[first - 1] - 1.0) / (c->ratio[first - 1] - c->ratio[first]);
		c->result = ((uint32_t)x + 63) / 64 * 64;
		if (c->result > cal_sizes[first])
			c->result = cal_sizes[first];
	}
	c->measured = true;
}

static void *calib_thread(void *arg)
{
	struct calib *c = arg;
	/* like a data-path thread: buffers come from a per-thread cache */
	if (hl_buf_thread_attach() < 0)
		return NULL;
	calib_measure(c);
	hl_buf_thread_detach();
	return NULL;
}

/* The port, guest memory and ring the calibration runs on; 0 or -1. */
static int calib_setup(struct calib *c)
{
	size_t ring = (hl_vring_size(CAL_RING) + 4095) & ~(size_t)4095;
	c->buf_off = ring;
	c->mem_len = ring + (size_t)CAL_BUFS * CAL_STRIDE;
	c->mem_len = (c->mem_len + 4095) & ~(size_t)4095;
	c->mem = aligned_alloc(4096, c->mem_len);
	c->port = calloc(1, sizeof(*c->port));
	if (c->mem == NULL || c->port == NULL)
		return -1;
	memset(c->mem, 0, c->mem_len);
	struct hl_vhost_dev *d = &c->port->be.dev;
	struct hl_vhost_vq *vq = &c->port->vq[1];
	struct hl_guest_region gr = {.gpa = CAL_GPA, .size = c->mem_len, .hva = c->mem};
	/* an IOVA for every guest byte, as guest memory on hugepages has */
	struct hl_xrange xr = {.src = (uintptr_t)c->mem, .len = c->mem_len, .dst = 1ull << 40};
	if (hl_guest_mem_build(&d->mem, &gr, 1) < 0 || hl_xlate_build(&d->hva2iova, &xr, 1, 12) < 0)
		return -1;
	uint64_t features = HL_VIRTIO_BIT(HL_VIRTIO_F_VERSION_1);
	if (hl_vring_driver_init(&c->drv, c->mem, CAL_RING, features) < 0 ||
	    hl_vring_init(&vq->vr, CAL_RING, c->drv.desc, c->drv.avail, c->drv.used, features) < 0)
		return -1;
	hl_vring_set_notify(&vq->vr, false);
	vq->mem = &d->mem;
	vq->call_fd = -1;
	vq->hdr_len = 12;
	vq->zc_min_len = 0;
	vq->zc_max_pinned = CAL_RING / 2;
	vq->zc_max_pin_ns = 1000000000ull; /* a slow moment must not make a sample copy */
	vq->running = 1;
	c->zc = hl_vhost_zc_create(d, CAL_RING);
	return c->zc != NULL ? 0 : -1;
}

static void calib_teardown(struct calib *c)
{
	if (c->port != NULL) {
		struct hl_vhost_vq *vq = &c->port->vq[1];
		if (c->zc != NULL) {
			vq->zc = c->zc;
			hl_vhost_zc_stop(vq); /* drops the context: nothing is pinned any more */
		}
		hl_vring_driver_fini(&c->drv);
		hl_xlate_free(&c->port->be.dev.hva2iova);
		hl_guest_mem_free(&c->port->be.dev.mem);
	}
	free(c->port);
	free(c->mem);
}

uint32_t hl_vhost_zc_calibrate(struct hl_bufpool *bp)
{
	struct calib *c = calloc(1, sizeof(*c));
	uint32_t best = HL_VHOST_ZC_DEFAULT_MIN_LEN;
	pthread_t th;
	uint64_t t0 = hl_now_ns();

	hl_fast_clock_init();
	if (c != NULL)
		c->bp = bp;
	if (c != NULL && bp != NULL && calib_setup(c) == 0 && pthread_create(&th, NULL, calib_thread, c) == 0)
		pthread_join(th, NULL);
	if (c != NULL && c->measured) {
		best = c->result;
		char line[CAL_NSIZES * 16] = "";
		size_t at = 0;
		for (unsigned i = 0; i < CAL_NSIZES && at < sizeof(line); i++)
			at += (size_t)snprintf(line + at, sizeof(line) - at, " %u:%.2f", cal_sizes[i], c->ratio[i]);
		HL_LOG_INFO("vhost zero-copy: AUTO from %u B (zero-copy/copy time by size:%s; %u B: copy %.0f ns, "
			    "zero-copy %.0f ns a packet; measured in %.1f ms)",
			    best, line, cal_sizes[0], c->copy_ns[0], c->zc_ns[0], (double)(hl_now_ns() - t0) / 1e6);
	} else {
		HL_LOG_WARN("vhost zero-copy: could not measure copy against zero-copy; AUTO from %u B", best);
	}
	if (c != NULL)
		calib_teardown(c);
	free(c);
	__atomic_store_n(&default_min_len, best, __ATOMIC_RELAXED);
	return best;
}
