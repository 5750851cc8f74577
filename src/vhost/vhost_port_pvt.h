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
 * store and one fence per burst, not per packet, and no lock.
 */
#ifndef HL_VHOST_PORT_PVT_H
#define HL_VHOST_PORT_PVT_H

#include <hugelink/vhost_port.h>

struct hl_vhost_zc;

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
	int wake_epfd;      /* -1, or where transmit queues' kick fds are registered */
	uint64_t wake_data; /* epoll data for those registrations */
};

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

/*
 * A port in memory the caller provides (the switch embeds one in its port):
 * open, then close once. hl_vhost_port_create() is this on the heap.
 */
int hl_vhost_port_open(struct hl_vhost_port *p, const struct hl_vhost_port_params *prm);
void hl_vhost_port_close(struct hl_vhost_port *p);

#endif
