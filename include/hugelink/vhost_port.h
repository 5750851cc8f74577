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
 * driven by at most one data-path thread at a time (how the two keep out of
 * each other's way is in src/vhost/vhost_port_pvt.h). The port is opaque:
 * what it holds is the library's business.
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

/*
 * Features a vhost port offers unless told otherwise. Packed rings are
 * offered: a front-end uses them only when it is configured to (QEMU
 * packed=on, DPDK packed_vq=1), and gets split rings otherwise.
 */
#define HL_VHOST_DEFAULT_FEATURES                                                              \
	(HL_VIRTIO_BIT(HL_VIRTIO_F_VERSION_1) | HL_VIRTIO_BIT(HL_VIRTIO_NET_F_MRG_RXBUF) |      \
	 HL_VIRTIO_BIT(HL_VIRTIO_RING_F_EVENT_IDX) | HL_VIRTIO_BIT(HL_VIRTIO_RING_F_INDIRECT_DESC) | \
	 HL_VIRTIO_BIT(HL_VIRTIO_NET_F_GUEST_ANNOUNCE) | HL_VIRTIO_BIT(HL_VIRTIO_F_RING_PACKED))

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

struct hl_vhost_port;

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

struct hl_vhost_port_params {
	const char *path;
	bool client;
	uint64_t features; /* 0: HL_VHOST_DEFAULT_FEATURES, with the offloads unless no_offload, and
			    * IN_ORDER unless zero-copy may pin (never offered then, even if given here) */
	bool no_offload;   /* offer no offloads (HL_VHOST_OFFLOAD_FEATURES) */
	bool no_packed;    /* offer split rings only (no VIRTIO_F_RING_PACKED) */
	/*
	 * Virtqueues, 2 per queue pair (up to HL_VHOST_MAX_QUEUES); 0: 2. With
	 * more than one pair the port offers VIRTIO_NET_F_MQ and GET_QUEUE_NUM
	 * answers the pairs; the guest enables those it uses.
	 */
	unsigned nqueues;
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
#define HL_VHOST_ZC_NEVER 65536u  /* a threshold no frame reaches: zero-copy never paid */
#define HL_VHOST_ZC_CAL_NSIZES 12

/* What a calibration found. */
struct hl_vhost_zc_calib {
	uint32_t min_len;  /* the threshold picked, the default from now on */
	bool measured;     /* false: nothing could be timed; min_len is HL_VHOST_ZC_DEFAULT_MIN_LEN */
	double ms;         /* how long it took */
	/* with measured: per frame size timed, the medians over rounds */
	uint32_t size[HL_VHOST_ZC_CAL_NSIZES];
	double ratio[HL_VHOST_ZC_CAL_NSIZES];   /* zero-copy time / copy time */
	double copy_ns[HL_VHOST_ZC_CAL_NSIZES]; /* ns a packet */
	double zc_ns[HL_VHOST_ZC_CAL_NSIZES];
};

/*
 * Time the dequeue path in copy and in zero-copy mode (completion to the
 * used ring included), with buffers from bp, on a ring in our own memory
 * driven like a front-end's, for frames of 128 B to 16 KiB; the size from
 * which zero-copy is no slower at every larger size becomes the default
 * (HL_VHOST_ZC_NEVER if it is slower at 16 KiB; 512, with measured false,
 * if nothing could be measured, e.g. bp has fewer than a burst of buffers
 * free). Returns it, and fills out (may be NULL) with what was measured.
 * Takes about 10 ms on a thread of its own; the machine should be
 * otherwise quiet.
 */
uint32_t hl_vhost_zc_calibrate(struct hl_bufpool *bp, struct hl_vhost_zc_calib *out);
/*
 * Zero-copy queues stopped while buffers still pointed into the guest: each
 * keeps its guest memory mapped until those buffers are freed, and goes at
 * the next hl_vhost_port_poll_ctrl() or hl_vhost_port_close() after that.
 */
unsigned hl_vhost_zc_orphaned(void);

/*
 * A vhost-user port: socket, device and both data paths. 0 and *out, or a
 * negative errno; hl_vhost_port_destroy() it once.
 */
int hl_vhost_port_create(const struct hl_vhost_port_params *prm, struct hl_vhost_port **out);
/* Close the socket, return pinned buffers' chains, unmap, free. */
void hl_vhost_port_destroy(struct hl_vhost_port *p);

/* Control thread: see hl_vhost_backend_poll(). */
int hl_vhost_port_poll_ctrl(struct hl_vhost_port *p, int timeout_ms);

/* Is queue q running (set up, enabled, and not stopped)? */
bool hl_vhost_port_queue_ready(const struct hl_vhost_port *p, unsigned q);

/*
 * A snapshot of queue q's counters (each read atomically; any thread).
 * zc_min_len, if not NULL, gets the queue's zero-copy threshold.
 */
void hl_vhost_port_queue_stats(const struct hl_vhost_port *p, unsigned q, struct hl_vhost_vq_stats *st,
			       uint32_t *zc_min_len);

/*
 * Guest -> host: take up to n packets the guest transmitted on queue q (odd),
 * copied into buffers from bp. Returns how many; the caller owns them.
 * Split or packed ring, as the front-end negotiated; zero-copy on either.
 */
uint16_t hl_vhost_dequeue_burst(struct hl_vhost_port *p, unsigned q, struct hl_bufpool *bp,
				struct hl_buf **pkts, uint16_t n);

/*
 * Host -> guest: copy up to n packets into the guest's receive queue q
 * (even). Returns how many were delivered, and adds their bytes to *bytes
 * (if not NULL); the caller still owns (and frees) all n buffers.
 */
uint16_t hl_vhost_enqueue_burst(struct hl_vhost_port *p, unsigned q, struct hl_buf **pkts, uint16_t n,
				uint64_t *bytes);

/*
 * Sleeping instead of polling. hl_vhost_port_set_wakeup() (control thread)
 * has the port keep the kick fds of its transmit queues registered in
 * epfd, edge-triggered with `data`, across reconnects: a kick is one event
 * and nobody needs to read the eventfd. Before it sleeps, the data-path
 * thread arms each queue it polls: the guest is asked to kick again, and
 * arm returns false if packets arrived meanwhile (then it must not sleep).
 * After waking, disarm goes back to polling without kicks.
 */
int hl_vhost_port_set_wakeup(struct hl_vhost_port *p, int epfd, uint64_t data);
/*
 * The same for one transmit queue q (odd), so queue pairs polled by
 * different threads sleep apart. Called again, the registration moves to
 * the new epfd (the queue changed threads).
 */
int hl_vhost_port_set_queue_wakeup(struct hl_vhost_port *p, unsigned q, int epfd, uint64_t data);
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
/* Control thread: where the front-end's guest memory ends (the highest region end; 0: none yet). */
uint64_t hl_vhost_port_mem_end(const struct hl_vhost_port *p);
/* Control thread: LOG_ALL off again (SET_FEATURES), the log kept for the next start. */
int hl_vhost_port_log_stop(struct hl_vhost_port *p);

#ifdef __cplusplus
}
#endif
#endif
