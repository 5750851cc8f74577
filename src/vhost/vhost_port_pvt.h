/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Inside a vhost-user port: its queues' state and the handshake that keeps
 * the control thread and the data path apart. Library-internal (and for
 * white-box tests); users hold an opaque struct hl_vhost_port.
 *
 * Threads: one control thread calls hl_vhost_port_poll_ctrl(); each queue is
 * driven by at most one data-path thread at a time. The two meet only in the
 * queue's `running`/`busy` words: the data path announces itself in `busy`
 * and re-checks `running`; the control path clears `running` and waits for
 * `busy` to drop before it touches the ring or guest memory. That costs one
 * store per burst and no lock: the fence each side needs between its store
 * and its load is the asymmetric pair of fence_pvt.h, a compiler barrier on
 * the data path's side. The control
 * thread changes a running queue's dirty log the same way (running off,
 * busy drained, the new log taken, running on), and hands a SEND_RARP to
 * the receiving side in one atomic word (`rarp`).
 */
#ifndef HL_VHOST_PORT_PVT_H
#define HL_VHOST_PORT_PVT_H

#include <hugelink/vhost_log.h>
#include <hugelink/vhost_port.h>
#include <hugelink/vring_packed.h>

#include "../common/fence_pvt.h"

struct hl_vhost_zc;

struct hl_vhost_vq {
	struct hl_vring vr;          /* split queues */
	struct hl_vring_packed pvr;  /* packed queues (VIRTIO_F_RING_PACKED) */
	bool packed;                 /* which of the two; fixed while running */
	const struct hl_guest_mem *mem;
	int call_fd;
	uint16_t hdr_len; /* virtio-net header: 12 with VERSION_1 or MRG_RXBUF, else 10 */
	bool mrg_rxbuf;
	/*
	 * Negotiated offloads (HL_OL_CAP_*): on a transmit queue what the guest
	 * may ask of us, on a receive queue what it takes; 0: none, and the
	 * virtio-net header is neither read nor filled in.
	 */
	uint32_t ol_caps;
	/*
	 * VIRTIO_F_IN_ORDER on a transmit queue: a burst's chains go back with
	 * one used entry (the last chain's id, and their slots on a packed
	 * ring). Never with zero-copy, whose pins come back out of order (the
	 * port does not offer it then). Receive queues write an entry per chain
	 * all the same: the driver reads each one's length.
	 */
	bool in_order;
	uint16_t io_last;            /* split, in order: the burst's last chain, not yet on the ring */
	uint16_t io_count;           /* ... and how many chains the entry stands for */
	struct hl_vhost_zc *zc;      /* transmit queues with zero-copy on, while running */
	uint32_t zc_min_len;         /* zero-copy packets from this many bytes up */
	uint32_t zc_max_pinned;      /* chains pinned at once */
	uint64_t zc_max_pin_ns;      /* once the oldest pin is older, copy */
	/*
	 * Dirty logging during a migration (vhost_log.h): bits NULL when off,
	 * which is all the data path looks at otherwise. Set by the control
	 * thread while the queue is paused (running 0, busy 0).
	 */
	struct hl_vhost_log log;
	const struct hl_xlate *hva2gpa; /* our address of guest memory -> its page in the log */
	bool log_used;                  /* also log the used ring (VHOST_VRING_F_LOG) ... */
	uint64_t log_used_gpa;          /* ... which sits at this guest-physical address */
	struct hl_vhost_log_cache log_cache; /* this burst's bits; empty between bursts */
	uint32_t log_used_total;        /* packed: pvr.used_total when the used slots were last logged */
	int running;      /* control thread writes; data path reads */
	int busy;         /* data path writes; control thread waits on it */
	int wake_epfd;      /* -1, or where this transmit queue's kick fd is registered */
	uint64_t wake_data; /* epoll data for that registration */
	struct hl_vhost_vq_stats stats; /* data-path thread only */
} hl_cache_aligned;

struct hl_vhost_port {
	struct hl_vhost_backend be;
	struct hl_vhost_vq vq[HL_VHOST_MAX_QUEUES];
	enum hl_vhost_zc_mode zc_mode;
	uint32_t zc_min_len, zc_max_pinned;
	uint64_t zc_max_pin_ns;
	/*
	 * SEND_RARP after a migration: the control thread stores the guest's
	 * MAC (<< 16, | 1: pending); the switch side takes it and sends a
	 * RARP as if the guest had (hl_vhost_port_take_rarp).
	 */
	uint64_t rarp;
	uint64_t rarps_sent;
	int migrated_away; /* atomic: a queue stopped while dirty logging was on (a migration's end) */
	/*
	 * Bit q set while queue q runs (control thread writes, with `running`):
	 * the data path picks among running queues with one load, and a queue
	 * the guest never enabled is never looked at.
	 */
	uint32_t running_mask;
};

/* Queues running now, as a bit mask (any thread; a queue may stop just after). */
static inline uint32_t hl_vhost_port_running(const struct hl_vhost_port *p)
{
	return __atomic_load_n(&p->running_mask, __ATOMIC_ACQUIRE);
}

/* Data-path entry and exit (see the note on threads above). */
static inline bool hl_vhost_vq_enter(struct hl_vhost_vq *vq)
{
	return hl__dp_enter(&vq->running, &vq->busy);
}

static inline void hl_vhost_vq_leave(struct hl_vhost_vq *vq)
{
	hl__dp_leave(&vq->busy);
}

/* Control thread: did the guest migrate away since the last call? (True once.) */
static inline bool hl_vhost_port_migrated_away(struct hl_vhost_port *p)
{
	return __atomic_exchange_n(&p->migrated_away, 0, __ATOMIC_ACQ_REL) != 0;
}

/* Is a RARP for the guest waiting to be sent? One load. */
static inline bool hl_vhost_port_rarp_pending(const struct hl_vhost_port *p)
{
	return __atomic_load_n(&p->rarp, __ATOMIC_RELAXED) != 0;
}

/*
 * Data path, for the one thread that receives from the port: fill b with
 * the broadcast RARP a SEND_RARP asked for (the guest's MAC as source, so a
 * switch floods it and learns where the guest is now). False if none.
 */
bool hl_vhost_port_take_rarp(struct hl_vhost_port *p, struct hl_buf *b);

/* Tell the guest about used buffers if it asked to be told. */
void hl_vhost_vq_notify(struct hl_vhost_vq *vq);

/* The copy data path on packed rings (same contract as the public bursts), queue entered. */
uint16_t hl_vhost_dequeue_packed(struct hl_vhost_vq *vq, struct hl_bufpool *bp, struct hl_buf **pkts, uint16_t n);
uint16_t hl_vhost_enqueue_packed(struct hl_vhost_vq *vq, struct hl_buf **pkts, uint16_t n, uint64_t *bytes);

/* Dirty logging: the burst's bits and the used elements, before the used index goes out. */
void hl_vhost_vq_log_flush(struct hl_vhost_vq *vq);
void hl_vhost_vq_log_used_idx(struct hl_vhost_vq *vq);

/* A chain back to the guest, `len` bytes written, on either ring layout (slots: packed only). */
static inline void hl_vhost_vq_put_used(struct hl_vhost_vq *vq, uint16_t id, uint32_t len, uint16_t slots)
{
	if (vq->packed)
		hl_vring_packed_put_used(&vq->pvr, id, len, slots);
	else
		hl_vring_put_used(&vq->vr, id, len);
}

/* A split transmit chain done with (length 0): on the used ring now, or with IN_ORDER in the burst's one entry. */
static inline void hl_vhost_vq_tx_used(struct hl_vhost_vq *vq, uint16_t head)
{
	if (vq->in_order) {
		vq->io_last = head;
		vq->io_count++;
		return;
	}
	hl_vring_put_used(&vq->vr, head, 0);
}

/* With IN_ORDER: the burst's transmit chains back as one used entry, before the flush. */
static inline void hl_vhost_vq_tx_used_end(struct hl_vhost_vq *vq)
{
	if (vq->io_count != 0) {
		hl_vring_put_used_batch(&vq->vr, vq->io_last, 0, vq->io_count);
		vq->io_count = 0;
	}
}

/* Packed: publish the used descriptors, then log the slots they took (their flags were the last write). */
void hl_vhost_vq_flush_packed_logged(struct hl_vhost_vq *vq);

/*
 * Publish the used elements of this burst (hl_vring_flush_used), with the
 * pages they and the burst's copies dirtied logged first while a migration
 * runs. Costs one predictable branch when it does not.
 */
static inline void hl_vhost_vq_flush(struct hl_vhost_vq *vq)
{
	if (vq->packed) {
		if (hl_unlikely(vq->log.bits != NULL))
			hl_vhost_vq_flush_packed_logged(vq);
		else
			hl_vring_packed_flush_used(&vq->pvr);
		return;
	}
	if (hl_unlikely(vq->log.bits != NULL)) {
		hl_vhost_vq_log_flush(vq);
		hl_vring_flush_used(&vq->vr);
		hl_vhost_vq_log_used_idx(vq);
		return;
	}
	hl_vring_flush_used(&vq->vr);
}

/* Mark len bytes the data path wrote at our address p (guest memory) dirty; only while logging. */
static inline void hl_vhost_vq_log_hva(struct hl_vhost_vq *vq, const void *p, uint64_t len)
{
	uint64_t gpa = hl_xlate(vq->hva2gpa, (uintptr_t)p);
	if (hl_unlikely(gpa == HL_BAD_ADDR)) {
		vq->stats.log_dropped++;
		return;
	}
	hl_vhost_log_cache_add(&vq->log_cache, &vq->log, gpa, len, &vq->stats.log_dropped);
}

/*
 * A port in memory the caller provides (the switch embeds one in its port):
 * open, then close once. hl_vhost_port_create() is this on the heap.
 */
int hl_vhost_port_open(struct hl_vhost_port *p, const struct hl_vhost_port_params *prm);
void hl_vhost_port_close(struct hl_vhost_port *p);

#endif
