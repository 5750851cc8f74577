/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A vhost-user port: a back-end endpoint (vhost_backend.h) plus the data
 * path of its virtqueues, copying packets between guest buffers and pool
 * buffers in bursts.
 *
 * virtio-net numbering: queue 2k is the guest's receive queue (the switch
 * enqueues into it), queue 2k+1 its transmit queue (the switch dequeues).
 *
 * Threads: one control thread calls hl_vhost_port_poll_ctrl(); each queue is
 * driven by at most one data-path thread at a time. The two meet only in the
 * queue's `running`/`busy` words: the data path announces itself in `busy`
 * and re-checks `running`; the control path clears `running` and waits for
 * `busy` to drop before it touches the ring or guest memory. That costs one
 * store and one fence per burst, not per packet, and no lock.
 */
#ifndef HUGELINK_VHOST_PORT_H
#define HUGELINK_VHOST_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include <hugelink/buf.h>
#include <hugelink/vhost_backend.h>
#include <hugelink/vring_split.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HL_VHOST_BURST 32
#define HL_VHOST_MAX_IOV 64
#define HL_VHOST_MAX_SEGS_TX 64 /* segments of one packet a virtio-user device sends */

/* Features a vhost port offers unless told otherwise. */
#define HL_VHOST_DEFAULT_FEATURES                                                              \
	(HL_VIRTIO_BIT(HL_VIRTIO_F_VERSION_1) | HL_VIRTIO_BIT(HL_VIRTIO_NET_F_MRG_RXBUF) |      \
	 HL_VIRTIO_BIT(HL_VIRTIO_RING_F_EVENT_IDX) | HL_VIRTIO_BIT(HL_VIRTIO_RING_F_INDIRECT_DESC))

struct hl_vhost_vq_stats {
	uint64_t packets;
	uint64_t bytes;
	uint64_t drop_no_buf;    /* dequeue: no pool buffer; enqueue: no guest buffer */
	uint64_t drop_bad_chain; /* descriptor chain refused by the walker */
	uint64_t drop_too_big;   /* enqueue: packet larger than the guest's buffers */
	uint64_t calls;          /* interrupts sent to the guest */
};

struct hl_vhost_vq {
	struct hl_vring vr;
	const struct hl_guest_mem *mem;
	int call_fd;
	uint16_t hdr_len; /* virtio-net header: 12 with VERSION_1 or MRG_RXBUF, else 10 */
	bool mrg_rxbuf;
	int running;      /* control thread writes; data path reads */
	int busy;         /* data path writes; control thread waits on it */
	struct hl_vhost_vq_stats stats; /* data-path thread only */
} hl_cache_aligned;

struct hl_vhost_port {
	struct hl_vhost_backend be;
	struct hl_vhost_vq vq[HL_VHOST_MAX_QUEUES];
};

struct hl_vhost_port_params {
	const char *path;
	bool client;
	uint64_t features; /* 0: HL_VHOST_DEFAULT_FEATURES */
	unsigned nqueues;  /* 0: 2 (one receive and one transmit queue) */
};

int hl_vhost_port_open(struct hl_vhost_port *p, const struct hl_vhost_port_params *prm);
void hl_vhost_port_close(struct hl_vhost_port *p);

/* Control thread: see hl_vhost_backend_poll(). */
int hl_vhost_port_poll_ctrl(struct hl_vhost_port *p, int timeout_ms);

/* Is queue q running (set up, enabled, and not stopped)? */
static inline bool hl_vhost_port_queue_ready(const struct hl_vhost_port *p, unsigned q)
{
	return __atomic_load_n(&p->vq[q].running, __ATOMIC_ACQUIRE);
}

/*
 * Guest -> host: take up to n packets the guest transmitted on queue q (odd),
 * copied into buffers from bp. Returns how many; the caller owns them.
 */
uint16_t hl_vhost_dequeue_burst(struct hl_vhost_port *p, unsigned q, struct hl_bufpool *bp,
				struct hl_buf **pkts, uint16_t n);

/*
 * Host -> guest: copy up to n packets into the guest's receive queue q
 * (even). Returns how many were delivered; the caller still owns (and frees)
 * all n buffers.
 */
uint16_t hl_vhost_enqueue_burst(struct hl_vhost_port *p, unsigned q, struct hl_buf **pkts, uint16_t n);

/* Data-path entry and exit (see the note on threads above). */
static inline bool hl_vhost_vq_enter(struct hl_vhost_vq *vq)
{
	if (!__atomic_load_n(&vq->running, __ATOMIC_ACQUIRE))
		return false;
	__atomic_store_n(&vq->busy, 1, __ATOMIC_SEQ_CST);
	if (hl_unlikely(!__atomic_load_n(&vq->running, __ATOMIC_SEQ_CST))) {
		__atomic_store_n(&vq->busy, 0, __ATOMIC_RELEASE);
		return false;
	}
	return true;
}

static inline void hl_vhost_vq_leave(struct hl_vhost_vq *vq)
{
	__atomic_store_n(&vq->busy, 0, __ATOMIC_RELEASE);
}

/* Tell the guest about used buffers if it asked to be told. */
void hl_vhost_vq_notify(struct hl_vhost_vq *vq);

#ifdef __cplusplus
}
#endif
#endif
