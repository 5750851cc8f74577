/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Glue between the protocol engine and the data path: when the engine starts
 * a queue, lay an hl_vring over the guest's ring and let the data path in;
 * when it stops one, shut the data path out and report where it stopped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <hugelink/vhost_port.h>

#include "vhost_port_pvt.h"

#include "vhost_zcopy_pvt.h"

/* Control thread, queue paused or not running: the log state the data path uses from now on. */
static void take_log(struct hl_vhost_dev *d, struct hl_vhost_vq *vq, unsigned q)
{
	const struct hl_vu_vring *v = &d->vq[q];
	vq->log = hl_vhost_dev_log_state(d);
	vq->hva2gpa = &d->hva2gpa;
	vq->log_used = vq->log.bits != NULL && (v->addr.flags & HL_VU_VRING_F_LOG);
	vq->log_used_gpa = v->addr.log_guest_addr;
	vq->log_cache.n = 0;
}

/* used->flags and avail_event (packed: the device event area), which asking for kicks (or not) writes */
static void log_used_flags(struct hl_vhost_vq *vq)
{
	if (!vq->log_used)
		return;
	if (vq->packed) {
		hl_vhost_vq_log_hva(vq, vq->pvr.device_event, sizeof(*vq->pvr.device_event));
		vq->stats.log_words += vq->log_cache.n;
		hl_vhost_log_cache_flush(&vq->log_cache, &vq->log, &vq->stats.log_dropped);
		return;
	}
	hl_vhost_log_write(&vq->log, vq->log_used_gpa, 2, &vq->stats.log_dropped);
	hl_vhost_log_write(&vq->log, vq->log_used_gpa + 4 + 8ull * vq->vr.num, 2, &vq->stats.log_dropped);
}

static void set_notify(struct hl_vhost_vq *vq, bool enable)
{
	if (vq->packed)
		hl_vring_packed_set_notify(&vq->pvr, enable);
	else
		hl_vring_set_notify(&vq->vr, enable);
}

static void queue_start(struct hl_vhost_dev *d, unsigned q)
{
	struct hl_vhost_port *p = d->opaque;
	struct hl_vhost_vq *vq = &p->vq[q];
	const struct hl_vu_vring *v = &d->vq[q];

	vq->packed = hl_vhost_dev_packed(d);
	int rc = vq->packed ? hl_vring_packed_init(&vq->pvr, v->num, v->desc, v->avail, v->used, d->features)
			    : hl_vring_init(&vq->vr, v->num, v->desc, v->avail, v->used, d->features);
	/* every buffer before base was completed (nothing is in flight across a stop) */
	if (rc == 0 && vq->packed)
		rc = hl_vring_packed_set_base(&vq->pvr, v->base);
	else if (rc == 0)
		hl_vring_set_base(&vq->vr, v->base, v->base);
	if (rc < 0) {
		HL_LOG_WARN("vhost-user %s: queue %u: %s", p->be.path, q, hl_last_error());
		return;
	}
	vq->log_used_total = vq->pvr.used_total;
	if (!vq->packed) {
		uint16_t used_idx = __atomic_load_n(&((const struct hl_vring_used *)v->used)->idx, __ATOMIC_ACQUIRE);
		if (used_idx != v->base) /* the front-end's ring state and its memory disagree: worth a line */
			HL_LOG_WARN("vhost-user %s: queue %u resumes at %u but the guest's used index is %u", p->be.path,
				    q, v->base, used_idx);
	}
	vq->mem = &d->mem;
	vq->call_fd = v->call_fd;
	vq->mrg_rxbuf = d->features & HL_VIRTIO_BIT(HL_VIRTIO_NET_F_MRG_RXBUF);
	vq->hdr_len = (d->features & HL_VIRTIO_BIT(HL_VIRTIO_F_VERSION_1)) || vq->mrg_rxbuf ? 12 : 10;
	/* a feature set against the spec's dependencies keeps its consistent part, said once */
	int orc = (q & 1) ? hl_ol_caps_guest_tx(d->features, &vq->ol_caps) : hl_ol_caps_guest_rx(d->features, &vq->ol_caps);
	if (orc < 0)
		HL_LOG_WARN("vhost-user %s: queue %u: %s", p->be.path, q, hl_last_error());
	vq->zc = NULL;
	/* offered only without zero-copy (hl_vhost_port_open), so no pin can come back out of order */
	vq->in_order = (q & 1) && (d->features & HL_VIRTIO_BIT(HL_VIRTIO_F_IN_ORDER)) && p->zc_mode == HL_VHOST_ZC_OFF;
	vq->io_count = 0;
	if ((q & 1) && p->zc_mode != HL_VHOST_ZC_OFF) {
		vq->zc_min_len = p->zc_mode == HL_VHOST_ZC_ON ? 0 : p->zc_min_len ? p->zc_min_len
										 : hl_vhost_zc_min_len_default();
		vq->zc_max_pinned = p->zc_max_pinned ? p->zc_max_pinned : v->num / 2;
		vq->zc_max_pin_ns = p->zc_max_pin_ns ? p->zc_max_pin_ns : HL_VHOST_ZC_DEFAULT_MAX_PIN_NS;
		vq->zc = hl_vhost_zc_create(d, v->num);
		if (vq->zc == NULL)
			HL_LOG_WARN("vhost-user %s: queue %u: no memory for zero-copy, copying", p->be.path, q);
	}
	take_log(d, vq, q);
	/* poll mode: the guest need not kick */
	set_notify(vq, false);
	log_used_flags(vq);
	if ((q & 1) && vq->wake_epfd >= 0 && v->kick_fd >= 0) {
		struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = vq->wake_data};
		if (epoll_ctl(vq->wake_epfd, EPOLL_CTL_ADD, v->kick_fd, &ev) < 0)
			HL_LOG_WARN("vhost-user %s: queue %u: cannot watch its kick fd: %s", p->be.path, q,
				    strerror(errno));
	}
	__atomic_store_n(&vq->running, 1, __ATOMIC_RELEASE);
	__atomic_or_fetch(&p->running_mask, 1u << q, __ATOMIC_RELEASE);
	HL_LOG_INFO("vhost-user %s: queue %u running (%u entries, %s%s)", p->be.path, q, v->num,
		    vq->packed ? "packed" : "split",
		    d->features & HL_VIRTIO_BIT(HL_VIRTIO_F_IN_ORDER) ? ", in order" : "");
}

static uint16_t queue_stop(struct hl_vhost_dev *d, unsigned q)
{
	struct hl_vhost_port *p = d->opaque;
	struct hl_vhost_vq *vq = &p->vq[q];

	if (!__atomic_load_n(&vq->running, __ATOMIC_ACQUIRE))
		return d->vq[q].base;
	__atomic_and_fetch(&p->running_mask, ~(1u << q), __ATOMIC_RELEASE);
	__atomic_store_n(&vq->running, 0, __ATOMIC_RELAXED);
	hl__fence_ctrl();
	while (__atomic_load_n(&vq->busy, __ATOMIC_ACQUIRE))
		__builtin_ia32_pause();
	/* every pinned chain goes back on the used ring before the front-end reads the base */
	hl_vhost_zc_stop(vq);
	/* stopped while a migration logs it: the guest goes on elsewhere */
	if (vq->log.bits != NULL) {
		__atomic_store_n(&p->migrated_away, 1, __ATOMIC_RELEASE);
		HL_LOG_INFO("vhost-user %s: queue %u stopped with dirty logging on: the guest migrated", p->be.path, q);
	}
	/* before the engine closes the fd, or a stale registration would linger */
	if ((q & 1) && vq->wake_epfd >= 0 && d->vq[q].kick_fd >= 0)
		epoll_ctl(vq->wake_epfd, EPOLL_CTL_DEL, d->vq[q].kick_fd, NULL);
	uint16_t base = vq->packed ? hl_vring_packed_get_base(&vq->pvr) : vq->vr.last_avail_idx;
	HL_LOG_INFO("vhost-user %s: queue %u stopped at %s%u", p->be.path, q,
		    vq->packed ? (base & 0x8000u ? "wrap 1, " : "wrap 0, ") : "", base & (vq->packed ? 0x7fffu : 0xffffu));
	return base;
}

/*
 * A migration starts or ends: each running queue is paused for the switch
 * (its data path out, its burst's bits flushed by then), takes the new log
 * and goes on. No stop: pinned zero-copy chains stay pinned.
 */
static void log_change(struct hl_vhost_dev *d)
{
	struct hl_vhost_port *p = d->opaque;
	for (unsigned q = 0; q < HL_VHOST_MAX_QUEUES; q++) {
		struct hl_vhost_vq *vq = &p->vq[q];
		bool ran = __atomic_load_n(&vq->running, __ATOMIC_ACQUIRE);
		if (ran) {
			__atomic_store_n(&vq->running, 0, __ATOMIC_RELAXED);
			hl__fence_ctrl();
			while (__atomic_load_n(&vq->busy, __ATOMIC_ACQUIRE))
				__builtin_ia32_pause();
		}
		take_log(d, vq, q);
		if (ran) {
			/* what the ring holds now may be copied already: the used ring is dirty as a whole */
			if (vq->log_used && vq->packed) {
				/* packed: the descriptor ring is where used descriptors go */
				hl_vhost_vq_log_hva(vq, vq->pvr.desc, hl_vring_packed_desc_bytes(vq->pvr.num));
				hl_vhost_log_cache_flush(&vq->log_cache, &vq->log, &vq->stats.log_dropped);
				vq->log_used_total = vq->pvr.used_total;
			} else if (vq->log_used) {
				hl_vhost_log_write(&vq->log, vq->log_used_gpa, hl_vring_used_bytes(vq->vr.num),
						   &vq->stats.log_dropped);
			}
			__atomic_store_n(&vq->running, 1, __ATOMIC_RELEASE);
		}
	}
	HL_LOG_INFO("vhost-user %s: dirty logging %s", p->be.path, hl_vhost_dev_log_state(d).bits ? "on" : "off");
}

/* SEND_RARP (control thread): the switch side sends it with its next receive. */
static void rarp(struct hl_vhost_dev *d, const uint8_t mac[6])
{
	struct hl_vhost_port *p = d->opaque;
	uint64_t m = 0;
	for (unsigned i = 0; i < 6; i++)
		m = m << 8 | mac[i];
	__atomic_store_n(&p->rarp, m << 16 | 1, __ATOMIC_RELEASE);
	HL_LOG_INFO("vhost-user %s: SEND_RARP for %02x:%02x:%02x:%02x:%02x:%02x", p->be.path, mac[0], mac[1], mac[2],
		    mac[3], mac[4], mac[5]);
}

bool hl_vhost_port_take_rarp(struct hl_vhost_port *p, struct hl_buf *b)
{
	uint64_t m = __atomic_exchange_n(&p->rarp, 0, __ATOMIC_ACQUIRE);
	if (m == 0)
		return false;
	uint8_t mac[6], *f = hl_buf_data(b);
	for (unsigned i = 0; i < 6; i++)
		mac[i] = (uint8_t)(m >> (16 + 8 * (5 - i)));
	/* RFC 903 reverse request: who am I, from the guest's MAC, to everyone; padded to 60 bytes */
	static const uint8_t arp[] = {0x80, 0x35, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x03};
	memset(f, 0, 60);
	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	memcpy(f + 12, arp, sizeof(arp));
	memcpy(f + 22, mac, 6); /* sender hardware address; sender IP 0 */
	memcpy(f + 32, mac, 6); /* target hardware address; target IP 0 */
	b->data_len = b->pkt_len = 60;
	p->rarps_sent++;
	return true;
}

static const struct hl_vhost_ops port_ops = {
	.queue_start = queue_start, .queue_stop = queue_stop, .log_change = log_change, .rarp = rarp};

int hl_vhost_port_open(struct hl_vhost_port *p, const struct hl_vhost_port_params *prm)
{
	hl__fence_init();
	memset(p, 0, sizeof(*p));
	for (unsigned q = 0; q < HL_VHOST_MAX_QUEUES; q++)
		p->vq[q].call_fd = p->vq[q].wake_epfd = -1;
	p->zc_mode = prm->zc_mode;
	if (p->zc_mode != HL_VHOST_ZC_OFF)
		hl_fast_clock_init(); /* pin ages are taken per burst */
	p->zc_min_len = prm->zc_min_len;
	p->zc_max_pinned = prm->zc_max_pinned;
	p->zc_max_pin_ns = prm->zc_max_pin_ns;
	unsigned nq = prm->nqueues ? prm->nqueues : 2;
	if (nq > HL_VHOST_MAX_QUEUES)
		return hl_error(-EINVAL, "vhost-user %s: %u virtqueues (at most %d: %d queue pairs)", prm->path, nq,
				HL_VHOST_MAX_QUEUES, HL_VHOST_MAX_QUEUE_PAIRS);
	uint64_t features = prm->features ? prm->features
					  : (HL_VHOST_DEFAULT_FEATURES | HL_VIRTIO_BIT(HL_VIRTIO_F_IN_ORDER) |
					     (prm->no_offload ? 0 : HL_VHOST_OFFLOAD_FEATURES)) &
						    ~(prm->no_packed ? HL_VIRTIO_BIT(HL_VIRTIO_F_RING_PACKED) : 0);
	/*
	 * IN_ORDER promises chains back in the order they came. A pinned
	 * zero-copy chain comes back when the switch frees its buffers, which
	 * is later than the copies after it: a port that may pin never offers it.
	 */
	if (prm->zc_mode != HL_VHOST_ZC_OFF)
		features &= ~HL_VIRTIO_BIT(HL_VIRTIO_F_IN_ORDER);
	struct hl_vhost_backend_params bp = {
		.path = prm->path,
		.client = prm->client,
		.features = features,
		.nqueues = nq,
		.ops = &port_ops,
		.opaque = p,
	};
	/* more than one queue pair is offered as virtio-net MQ; the front-end says how many it uses */
	if (nq > 2)
		bp.features |= HL_VIRTIO_BIT(HL_VIRTIO_NET_F_MQ);
	return hl_vhost_backend_open(&p->be, &bp);
}

void hl_vhost_port_close(struct hl_vhost_port *p)
{
	hl_vhost_backend_close(&p->be);
	hl_vhost_zc_collect();
}

int hl_vhost_port_create(const struct hl_vhost_port_params *prm, struct hl_vhost_port **out)
{
	struct hl_vhost_port *p = aligned_alloc(HL_CACHE_LINE, sizeof(*p));
	if (p == NULL)
		return hl_error(-ENOMEM, "vhost-user %s: no memory for the port", prm->path);
	int rc = hl_vhost_port_open(p, prm);
	if (rc < 0) {
		free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void hl_vhost_port_destroy(struct hl_vhost_port *p)
{
	if (p == NULL)
		return;
	hl_vhost_port_close(p);
	free(p);
}

bool hl_vhost_port_queue_ready(const struct hl_vhost_port *p, unsigned q)
{
	return q < HL_VHOST_MAX_QUEUES && __atomic_load_n(&p->vq[q].running, __ATOMIC_ACQUIRE);
}

void hl_vhost_port_queue_stats(const struct hl_vhost_port *p, unsigned q, struct hl_vhost_vq_stats *st,
			       uint32_t *zc_min_len)
{
	memset(st, 0, sizeof(*st));
	if (q >= HL_VHOST_MAX_QUEUES)
		return;
	const struct hl_vhost_vq *vq = &p->vq[q];
	const struct hl_vhost_vq_stats *f = &vq->stats;
#define HL_VQ_READ(x) st->x = __atomic_load_n(&f->x, __ATOMIC_RELAXED)
	HL_VQ_READ(packets);
	HL_VQ_READ(bytes);
	HL_VQ_READ(zcopy);
	HL_VQ_READ(copied);
	HL_VQ_READ(zc_fallback);
	HL_VQ_READ(zc_reclaimed);
	HL_VQ_READ(zc_pinned);
	HL_VQ_READ(drop_no_buf);
	HL_VQ_READ(drop_bad_chain);
	HL_VQ_READ(drop_too_big);
	HL_VQ_READ(calls);
	HL_VQ_READ(drop_bad_offload);
	HL_VQ_READ(log_words);
	HL_VQ_READ(log_dropped);
#undef HL_VQ_READ
	hl_ol_stats_add(&st->ol, &f->ol);
	if (zc_min_len != NULL)
		*zc_min_len = __atomic_load_n(&vq->zc_min_len, __ATOMIC_RELAXED);
}

int hl_vhost_port_poll_ctrl(struct hl_vhost_port *p, int timeout_ms)
{
	/* zero-copy contexts of stopped queues go once the buffers that pointed into them are back */
	hl_vhost_zc_collect();
	return hl_vhost_backend_poll(&p->be, timeout_ms);
}

void hl_vhost_vq_notify(struct hl_vhost_vq *vq)
{
	bool need = vq->packed ? hl_vring_packed_need_notify(&vq->pvr) : hl_vring_need_notify(&vq->vr);
	if (need && vq->call_fd >= 0) {
		eventfd_write(vq->call_fd, 1);
		vq->stats.calls++;
	}
}

void hl_vhost_vq_log_flush(struct hl_vhost_vq *vq)
{
	struct hl_vring *vr = &vq->vr;
	uint16_t n = (uint16_t)(vr->last_used_idx - vr->used_flushed);
	if (vq->log_used && n != 0) {
		/* the elements written since the last flush, in one or two runs around the ring */
		uint32_t from = vr->used_flushed & vr->mask;
		uint32_t k = n > vr->num ? vr->num : n;
		uint32_t first = from + k > vr->num ? vr->num - from : k;
		uint64_t ring = vq->log_used_gpa + 4;
		hl_vhost_log_cache_add(&vq->log_cache, &vq->log, ring + 8ull * from, 8ull * first, &vq->stats.log_dropped);
		if (first < k)
			hl_vhost_log_cache_add(&vq->log_cache, &vq->log, ring, 8ull * (k - first), &vq->stats.log_dropped);
	}
	vq->stats.log_words += vq->log_cache.n;
	hl_vhost_log_cache_flush(&vq->log_cache, &vq->log, &vq->stats.log_dropped);
}

void hl_vhost_vq_flush_packed_logged(struct hl_vhost_vq *vq)
{
	struct hl_vring_packed *vr = &vq->pvr;
	hl_vring_packed_flush_used(vr);
	uint32_t n = vr->used_total - vq->log_used_total;
	vq->log_used_total = vr->used_total;
	if (vq->log_used && n != 0) {
		/* the slots used since the last flush end at used_idx: one or two runs around the ring */
		uint32_t k = n > vr->num ? vr->num : n;
		uint32_t from = (vr->used_idx + vr->num - k) % vr->num;
		uint32_t first = from + k > vr->num ? vr->num - from : k;
		hl_vhost_vq_log_hva(vq, &vr->desc[from], 16ull * first);
		if (first < k)
			hl_vhost_vq_log_hva(vq, &vr->desc[0], 16ull * (k - first));
	}
	vq->stats.log_words += vq->log_cache.n;
	hl_vhost_log_cache_flush(&vq->log_cache, &vq->log, &vq->stats.log_dropped);
}

void hl_vhost_vq_log_used_idx(struct hl_vhost_vq *vq)
{
	if (vq->log_used)
		hl_vhost_log_write(&vq->log, vq->log_used_gpa + 2, 2, &vq->stats.log_dropped);
}

/* One message into the engine as if the front-end had sent it; 0 or what it refused. */
static int inject(struct hl_vhost_dev *d, struct hl_vu_msg *m, int *fds, unsigned nfds)
{
	struct hl_vu_msg r;
	m->hdr.flags = HL_VU_VERSION;
	int rc = hl_vhost_dev_handle(d, m, sizeof(m->hdr) + m->hdr.size, fds, nfds, &r);
	if (rc < 0)
		return rc;
	/* a refused SET_LOG_BASE answers with a status */
	return rc == (int)(sizeof(r.hdr) + sizeof(uint64_t)) && r.payload.u64 != 0 ? -EINVAL : 0;
}

uint64_t hl_vhost_port_mem_end(const struct hl_vhost_port *p)
{
	const struct hl_vhost_dev *d = &p->be.dev;
	uint64_t end = 0;
	for (unsigned i = 0; i < d->nregions; i++)
		if (d->regions[i].gpa + d->regions[i].size > end)
			end = d->regions[i].gpa + d->regions[i].size;
	return end;
}

int hl_vhost_port_log_start(struct hl_vhost_port *p, int fd, uint64_t size)
{
	struct hl_vhost_dev *d = &p->be.dev;
	struct hl_vu_msg m = {.hdr = {.request = HL_VU_SET_LOG_BASE, .size = sizeof(struct hl_vu_log)}};
	m.payload.log = (struct hl_vu_log){.mmap_size = size, .mmap_offset = 0};
	int rc = inject(d, &m, &fd, 1);
	if (rc < 0 || d->log.log.bits == NULL)
		return rc < 0 ? rc : hl_error(-EINVAL, "vhost-user %s: log refused", p->be.path);
	m = (struct hl_vu_msg){.hdr = {.request = HL_VU_SET_FEATURES, .size = 8}};
	m.payload.u64 = d->features | (1ull << HL_VU_F_LOG_ALL);
	if ((rc = inject(d, &m, NULL, 0)) < 0)
		return rc;
	for (unsigned q = 0; q < HL_VHOST_MAX_QUEUES; q++) {
		if (!d->vq[q].started)
			continue;
		m = (struct hl_vu_msg){.hdr = {.request = HL_VU_SET_VRING_ADDR, .size = sizeof(struct hl_vu_vring_addr)}};
		m.payload.addr = d->vq[q].addr;
		m.payload.addr.flags |= HL_VU_VRING_F_LOG;
		m.payload.addr.log_guest_addr = hl_xlate(&d->hva2gpa, (uintptr_t)d->vq[q].used);
		if ((rc = inject(d, &m, NULL, 0)) < 0)
			return rc;
	}
	return 0;
}

int hl_vhost_port_log_stop(struct hl_vhost_port *p)
{
	struct hl_vu_msg m = {.hdr = {.request = HL_VU_SET_FEATURES, .size = 8}};
	m.payload.u64 = p->be.dev.features & ~(1ull << HL_VU_F_LOG_ALL);
	return inject(&p->be.dev, &m, NULL, 0);
}

int hl_vhost_port_set_queue_wakeup(struct hl_vhost_port *p, unsigned q, int epfd, uint64_t data)
{
	if (q >= HL_VHOST_MAX_QUEUES || !(q & 1))
		return hl_error(-EINVAL, "vhost-user %s: queue %u is not a transmit queue", p->be.path, q);
	struct hl_vhost_vq *vq = &p->vq[q];
	/* registered now if running (its start does otherwise), and out of the epfd it leaves */
	int fd = p->be.dev.vq[q].kick_fd;
	bool live = p->be.dev.vq[q].started && fd >= 0;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = data};
	if (live && epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return hl_error(-errno, "vhost-user %s: watch kick fd: %s", p->be.path, strerror(errno));
	if (live && vq->wake_epfd >= 0 && vq->wake_epfd != epfd)
		epoll_ctl(vq->wake_epfd, EPOLL_CTL_DEL, fd, NULL);
	vq->wake_epfd = epfd;
	vq->wake_data = data;
	return 0;
}

int hl_vhost_port_set_wakeup(struct hl_vhost_port *p, int epfd, uint64_t data)
{
	for (unsigned q = 1; q < HL_VHOST_MAX_QUEUES; q += 2) {
		int rc = hl_vhost_port_set_queue_wakeup(p, q, epfd, data);
		if (rc < 0)
			return rc;
	}
	return 0;
}

bool hl_vhost_port_arm(struct hl_vhost_port *p, unsigned q)
{
	struct hl_vhost_vq *vq = &p->vq[q];
	if (!hl_vhost_vq_enter(vq))
		return true; /* not running: its start will wake nobody, but sleeping is bounded */
	set_notify(vq, true);
	if (hl_unlikely(vq->log.bits != NULL))
		log_used_flags(vq);
	bool empty = vq->packed ? !hl_vring_packed_avail(&vq->pvr) : hl_vring_avail_count(&vq->vr) == 0;
	hl_vhost_vq_leave(vq);
	return empty;
}

void hl_vhost_port_disarm(struct hl_vhost_port *p, unsigned q)
{
	struct hl_vhost_vq *vq = &p->vq[q];
	if (!hl_vhost_vq_enter(vq))
		return;
	set_notify(vq, false);
	if (hl_unlikely(vq->log.bits != NULL))
		log_used_flags(vq);
	hl_vhost_vq_leave(vq);
}
