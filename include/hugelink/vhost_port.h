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
 * store and one fence per burst, not per packet, and no lock. The control
 * thread changes a running queue's dirty log the same way (running off,
 * busy drained, the new log taken, running on), and hands a SEND_RARP to
 * the receiving side in one atomic word (`rarp`).
 */
#ifndef HUGELINK_VHOST_PORT_H
#define HUGELINK_VHOST_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include <hugelink/buf.h>
#include <hugelink/offload.h>
#include <hugelink/vhost_backend.h>
#include <hugelink/vhost_log.h>
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
	 HL_VIRTIO_BIT(HL_VIRTIO_RING_F_EVENT_IDX) | HL_VIRTIO_BIT(HL_VIRTIO_RING_F_INDIRECT_DESC) | \
	 HL_VIRTIO_BIT(HL_VIRTIO_NET_F_GUEST_ANNOUNCE))

/*
 * The offloads a port offers with offload on (the default): the guest may
 * hand over partial checksums and TCP frames of up to 64 KiB (CSUM,
 * HOST_TSO4/6, HOST_ECN) and take them (GUEST_CSUM, GUEST_TSO4/6,
 * GUEST_ECN). UFO is not offered: it is IP fragmentation, which modern
 * guests do not send and the switch does not do. Neither is
 * CTRL_GUEST_OFFLOADS: it needs the control queue, and what a guest
 * accepts is then fixed at negotiation (a guest that turns GRO off with
 * ethtool still gets big frames, which its stack takes).
 */
#define HL_VHOST_OFFLOAD_FEATURES                                                              \
	(HL_VIRTIO_BIT(HL_VIRTIO_NET_F_CSUM) | HL_VIRTIO_BIT(HL_VIRTIO_NET_F_GUEST_CSUM) |        \
	 HL_VIRTIO_BIT(HL_VIRTIO_NET_F_HOST_TSO4) | HL_VIRTIO_BIT(HL_VIRTIO_NET_F_HOST_TSO6) |     \
	 HL_VIRTIO_BIT(HL_VIRTIO_NET_F_HOST_ECN) | HL_VIRTIO_BIT(HL_VIRTIO_NET_F_GUEST_TSO4) |     \
	 HL_VIRTIO_BIT(HL_VIRTIO_NET_F_GUEST_TSO6) | HL_VIRTIO_BIT(HL_VIRTIO_NET_F_GUEST_ECN))

/* Largest IP packet one segment of a guest's TSO frame may carry (a jumbo frame's). */
#define HL_VHOST_OL_MTU 9000u

/*
 * Guest -> host zero-copy (vhost_zcopy.c). OFF copies every packet; ON
 * leaves in guest memory everything past the first HL_VHOST_ZC_COPY bytes
 * of every packet longer than that; AUTO does so from zc_min_len bytes up
 * (copying is cheaper for small packets).
 */
enum hl_vhost_zc_mode { HL_VHOST_ZC_OFF, HL_VHOST_ZC_ON, HL_VHOST_ZC_AUTO };
#define HL_VHOST_ZC_COPY 64              /* bytes always copied: what the switch decides on */
#define HL_VHOST_ZC_DEFAULT_MIN_LEN 512  /* AUTO, when not measured or given */
#define HL_VHOST_ZC_DEFAULT_MAX_PIN_NS 1000000ull

struct hl_vhost_zc;

struct hl_vhost_vq_stats {
	uint64_t packets;
	uint64_t bytes;
	uint64_t zcopy;          /* dequeue: packets left in guest memory (pinned) */
	uint64_t copied;         /* dequeue: packets copied */
	uint64_t zc_fallback;    /* would have been zero-copied, copied because of a bound */
	uint64_t zc_reclaimed;   /* pinned chains returned at a queue stop before their buffers were freed */
	uint64_t zc_pinned;      /* chains pinned now */
	uint64_t drop_no_buf;    /* dequeue: no pool buffer; enqueue: no guest buffer */
	uint64_t drop_bad_chain; /* descriptor chain refused by the walker */
	uint64_t drop_too_big;   /* enqueue: packet larger than the guest's buffers */
	uint64_t calls;          /* interrupts sent to the guest */
	uint64_t drop_bad_offload; /* dequeue: a virtio-net header refused (reasons in ol.refused) */
	uint64_t log_words;      /* dirty log: words of bits ORed into the shared bitmap */
	uint64_t log_dropped;    /* dirty log: pages written outside what the log covers */
	struct hl_ol_stats ol;   /* dequeue: headers checked; enqueue: headers not deliverable */
};

struct hl_vhost_vq {
	struct hl_vring vr;
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
	int running;      /* control thread writes; data path reads */
	int busy;         /* data path writes; control thread waits on it */
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
	int wake_epfd;      /* -1, or where transmit queues' kick fds are registered */
	uint64_t wake_data; /* epoll data for those registrations */
};

struct hl_vhost_port_params {
	const char *path;
	bool client;
	uint64_t features; /* 0: HL_VHOST_DEFAULT_FEATURES, with the offloads unless no_offload */
	bool no_offload;   /* offer no offloads (HL_VHOST_OFFLOAD_FEATURES) */
	unsigned nqueues;  /* 0: 2 (one receive and one transmit queue) */
	enum hl_vhost_zc_mode zc_mode;
	uint32_t zc_min_len;     /* AUTO threshold; 0: hl_vhost_zc_min_len_default() */
	uint32_t zc_max_pinned;  /* 0: half the ring */
	uint64_t zc_max_pin_ns;  /* 0: HL_VHOST_ZC_DEFAULT_MAX_PIN_NS */
};

/*
 * The AUTO threshold used when a port gives none: 512, or what
 * hl_vhost_zc_calibrate() measured on this machine.
 */
uint32_t hl_vhost_zc_min_len_default(void);
/*
 * Time the dequeue path in copy and in zero-copy mode (completion to the
 * used ring included), with buffers from bp, on a ring in our own memory
 * driven like a front-end's, for frames of 128 B to 16 KiB; the size from
 * which zero-copy is no slower becomes the default (65536, i.e. never, if
 * it is slower throughout; 512 if nothing could be measured, e.g. bp has
 * fewer than a burst of buffers free). Returns it. Takes about 10 ms on a
 * thread of its own; the machine should be otherwise quiet.
 */
uint32_t hl_vhost_zc_calibrate(struct hl_bufpool *bp);
/*
 * Zero-copy queues stopped while buffers still pointed into the guest: each
 * keeps its guest memory mapped until those buffers are freed, and goes at
 * the next hl_vhost_port_poll_ctrl() or hl_vhost_port_close() after that.
 */
unsigned hl_vhost_zc_orphaned(void);

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

/*
 * Sleeping instead of polling. hl_vhost_port_set_wakeup() (control thread,
 * once) has the port keep the kick fds of its transmit queues registered in
 * epfd, edge-triggered with `data`, across reconnects: a kick is one event
 * and nobody needs to read the eventfd. Before it sleeps, the data-path
 * thread arms each queue it polls: the guest is asked to kick again, and
 * arm returns false if packets arrived meanwhile (then it must not sleep).
 * After waking, disarm goes back to polling without kicks.
 */
int hl_vhost_port_set_wakeup(struct hl_vhost_port *p, int epfd, uint64_t data);
bool hl_vhost_port_arm(struct hl_vhost_port *p, unsigned q);
void hl_vhost_port_disarm(struct hl_vhost_port *p, unsigned q);

/*
 * Control thread: turn dirty logging on as a migrating front-end would
 * (SET_LOG_BASE with fd, size bytes of log, LOG_ALL, the log flag on every
 * running queue's used ring), through the same message handling. For
 * measuring what logging costs (hlbench vhost --dirty-log) without a
 * migration. Takes fd.
 */
int hl_vhost_port_log_start(struct hl_vhost_port *p, int fd, uint64_t size);
/* Control thread: LOG_ALL off again (SET_FEATURES), the log kept for the next start. */
int hl_vhost_port_log_stop(struct hl_vhost_port *p);

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

/* Dirty logging: the burst's bits and the used elements, before the used index goes out. */
void hl_vhost_vq_log_flush(struct hl_vhost_vq *vq);
void hl_vhost_vq_log_used_idx(struct hl_vhost_vq *vq);

/*
 * Publish the used elements of this burst (hl_vring_flush_used), with the
 * pages they and the burst's copies dirtied logged first while a migration
 * runs. Costs one predictable branch when it does not.
 */
static inline void hl_vhost_vq_flush(struct hl_vhost_vq *vq)
{
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

#ifdef __cplusplus
}
#endif
#endif
