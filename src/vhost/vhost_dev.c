/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vhost-user back-end's message handlers (see vhost_dev.h).
 *
 * Queue life cycle, as the specification has it: a queue starts when it has
 * a size, ring addresses inside mapped memory, a kick (fd or "no fd: poll"),
 * and is enabled (implicitly when PROTOCOL_FEATURES was not negotiated, else
 * by SET_VRING_ENABLE). GET_VRING_BASE stops it and reports where the
 * back-end stopped reading; the data path is told first (ops->queue_stop),
 * so buffers it holds are completed or reclaimed before memory goes away.
 * A memory table change stops every running queue, remaps, and restarts
 * those whose rings still translate.
 *
 * Live migration: the front-end hands over a dirty log (SET_LOG_BASE) and
 * turns LOG_ALL on and off with SET_FEATURES while the queues run; every
 * change reaches the data path through ops->log_change, which pauses each
 * running queue while it takes the new state, so the old log is unmapped
 * only once no queue can write into it.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>


#include "vhost_mem_pvt.h"

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void close_all(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		close_fd(&fds[i]);
}

void hl_vhost_dev_init(struct hl_vhost_dev *d, uint64_t features, unsigned nqueues,
		       const struct hl_vhost_ops *ops, void *opaque)
{
	memset(d, 0, sizeof(*d));
	d->supported_features = features | (1ull << HL_VU_F_PROTOCOL_FEATURES) | (1ull << HL_VU_F_LOG_ALL);
	d->supported_protocol = (1ull << HL_VU_PROTOCOL_F_MQ) | (1ull << HL_VU_PROTOCOL_F_REPLY_ACK) |
				(1ull << HL_VU_PROTOCOL_F_LOG_SHMFD) | (1ull << HL_VU_PROTOCOL_F_RARP) |
				(1ull << HL_VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |
				(1ull << HL_VU_PROTOCOL_F_STATUS) |
				(1ull << HL_VU_PROTOCOL_F_RESET_DEVICE);
	d->nqueues = nqueues > HL_VHOST_MAX_QUEUES ? HL_VHOST_MAX_QUEUES : nqueues;
	d->ops = ops;
	d->opaque = opaque;
	hl_guest_mem_build(&d->mem, NULL, 0);
	hl_xlate_build(&d->uva2hva, NULL, 0, 12);
	hl_xlate_build(&d->hva2iova, NULL, 0, 12);
	hl_xlate_build(&d->hva2gpa, NULL, 0, 12);
	for (unsigned q = 0; q < HL_VHOST_MAX_QUEUES; q++)
		d->vq[q].kick_fd = d->vq[q].call_fd = d->vq[q].err_fd = -1;
}

static uint16_t stop_queue(struct hl_vhost_dev *d, unsigned q)
{
	struct hl_vu_vring *v = &d->vq[q];
	if (v->started) {
		if (d->ops && d->ops->queue_stop)
			v->base = d->ops->queue_stop(d, q);
		v->started = false;
	}
	return v->base;
}

void hl_vhost_dev_reset(struct hl_vhost_dev *d)
{
	for (unsigned q = 0; q < HL_VHOST_MAX_QUEUES; q++) {
		stop_queue(d, q);
		struct hl_vu_vring *v = &d->vq[q];
		close_fd(&v->kick_fd);
		close_fd(&v->call_fd);
		close_fd(&v->err_fd);
		memset(v, 0, sizeof(*v));
		v->kick_fd = v->call_fd = v->err_fd = -1;
	}
	hl_vu_mem_clear(d);
	hl_vhost_log_unmap(&d->log);
	d->features = d->protocol_features = 0;
	d->owner = false;
	d->status = 0;
}

/* Host address of a ring part given by front-end VA; NULL unless whole and aligned. */
static void *ring_part(const struct hl_vhost_dev *d, uint64_t uva, uint64_t len, uint64_t align)
{
	if (uva & (align - 1))
		return NULL;
	uint64_t h = hl_xlate(&d->uva2hva, uva);
	if (h == HL_BAD_ADDR || hl_xlate_contig(&d->uva2hva, uva, len) != len)
		return NULL;
	return (void *)(uintptr_t)h;
}

static int translate_rings(struct hl_vhost_dev *d, unsigned q)
{
	struct hl_vu_vring *v = &d->vq[q];
	uint64_t n = v->num;

	if (hl_vhost_dev_packed(d)) {
		/* one descriptor ring, then the driver's and the device's event words (4 bytes each) */
		v->desc = ring_part(d, v->addr.desc_user_addr, 16 * n, 16);
		v->avail = ring_part(d, v->addr.avail_user_addr, 4, 4);
		v->used = ring_part(d, v->addr.used_user_addr, 4, 4);
		if (v->desc == NULL || v->avail == NULL || v->used == NULL)
			return hl_error(-EFAULT, "vhost-user queue %u (packed): %s not inside guest memory (or misaligned)",
					q, v->desc == NULL ? "descriptor ring" : v->avail == NULL ? "driver event area"
												  : "device event area");
		return 0;
	}
	v->desc = ring_part(d, v->addr.desc_user_addr, 16 * n, 16);
	v->avail = ring_part(d, v->addr.avail_user_addr, 6 + 2 * n, 2);
	v->used = ring_part(d, v->addr.used_user_addr, 6 + 8 * n, 4);
	if (v->desc == NULL || v->avail == NULL || v->used == NULL)
		return hl_error(-EFAULT, "vhost-user queue %u: %s ring not inside guest memory (or misaligned)",
				q, v->desc == NULL ? "descriptor" : v->avail == NULL ? "avail" : "used");
	return 0;
}

static bool queue_enabled(const struct hl_vhost_dev *d, const struct hl_vu_vring *v)
{
	return v->enabled || !(d->features & (1ull << HL_VU_F_PROTOCOL_FEATURES));
}

/*
 * LOG_ALL without a log yet: a front-end that reconnects in the middle of a
 * migration (QEMU after a back-end restart) sets up the rings before it
 * hands over the log, and what a queue wrote in between would reach the
 * destination stale. Such a queue starts once the log is there.
 */
static bool log_pending(const struct hl_vhost_dev *d)
{
	return (d->features & (1ull << HL_VU_F_LOG_ALL)) && d->log.log.bits == NULL;
}

static void maybe_start(struct hl_vhost_dev *d, unsigned q)
{
	struct hl_vu_vring *v = &d->vq[q];
	if (v->started || v->num == 0 || !v->addr_set || !v->kick_set || d->nregions == 0 ||
	    !queue_enabled(d, v) || log_pending(d))
		return;
	if (translate_rings(d, q) < 0)
		return;
	v->started = true;
	if (d->ops && d->ops->queue_start)
		d->ops->queue_start(d, q);
}

/* ---- handlers: return 0 (done), >0 (reply bytes), <0 (refused) --------- */

static int reply_u64(const struct hl_vu_msg *m, struct hl_vu_msg *r, uint64_t v)
{
	r->hdr = (struct hl_vu_hdr){.request = m->hdr.request, .flags = HL_VU_VERSION | HL_VU_FLAG_REPLY,
				    .size = sizeof(uint64_t)};
	r->payload.u64 = v;
	return (int)(sizeof(r->hdr) + sizeof(uint64_t));
}

static int queue_index(const struct hl_vhost_dev *d, uint32_t idx, const char *what)
{
	if (idx >= d->nqueues || idx >= HL_VHOST_MAX_QUEUES)
		return hl_error(-ERANGE, "vhost-user %s: queue %u out of range (%u queues)", what, idx,
				d->nqueues);
	return (int)idx;
}

/* Memory is about to change under the rings: stop every queue, noting which ran. */
static void stop_all(struct hl_vhost_dev *d, bool *was)
{
	for (unsigned q = 0; q < HL_VHOST_MAX_QUEUES; q++) {
		was[q] = d->vq[q].started;
		stop_queue(d, q);
	}
}

/* Restart the queues that ran, where their rings still translate. */
static void restart(struct hl_vhost_dev *d, const bool *was)
{
	for (unsigned q = 0; q < HL_VHOST_MAX_QUEUES; q++)
		if (was[q])
			maybe_start(d, q);
}

static int set_mem_table(struct hl_vhost_dev *d, const struct hl_vu_mem_table *t, int *fds)
{
	bool was[HL_VHOST_MAX_QUEUES];
	int rc = 0;

	stop_all(d, was);
	hl_vu_mem_clear(d);
	for (uint32_t i = 0; i < t->nregions; i++) {
		rc = hl_vu_region_map(&d->regions[i], &t->regions[i], fds[i]);
		fds[i] = -1;
		if (rc < 0) {
			close_all(fds + i + 1, t->nregions - i - 1);
			break;
		}
		d->nregions = i + 1;
	}
	if (rc == 0)
		rc = hl_vu_mem_rebuild(d);
	if (rc < 0) {
		hl_vu_mem_clear(d); /* all or nothing */
		return rc;
	}
	restart(d, was);
	return 0;
}

/* A region the front-end added already, the same in every field; NULL if none. */
static struct hl_vu_region *same_region(struct hl_vhost_dev *d, const struct hl_vu_mem_region *m)
{
	for (unsigned i = 0; i < d->nregions; i++) {
		struct hl_vu_region *r = &d->regions[i];
		if (r->gpa == m->guest_phys_addr && r->size == m->memory_size && r->uva == m->userspace_addr &&
		    r->mmap_offset == m->mmap_offset)
			return r;
	}
	return NULL;
}

static int add_mem_reg(struct hl_vhost_dev *d, const struct hl_vu_mem_region *m, int fd)
{
	struct hl_vu_region *again = same_region(d, m);
	if (again != NULL && again->dups < UINT32_MAX) {
		/* the same memory once more (one message per queue pair): counted, not mapped twice */
		close(fd);
		again->dups++;
		return 0;
	}
	if (d->nregions >= HL_VHOST_MAX_MEM_SLOTS) {
		close(fd);
		return hl_error(-ENOSPC, "vhost-user ADD_MEM_REG: all %d slots in use", HL_VHOST_MAX_MEM_SLOTS);
	}
	int rc = hl_vu_region_map(&d->regions[d->nregions], m, fd);
	if (rc < 0)
		return rc;
	/* the translation tables are rebuilt: the data path must not be reading them */
	bool was[HL_VHOST_MAX_QUEUES];
	stop_all(d, was);
	d->nregions++;
	rc = hl_vu_mem_rebuild(d);
	if (rc < 0) {
		/* the new region overlapped: drop it and keep the old map */
		hl_vu_region_unmap(&d->regions[--d->nregions]);
		hl_vu_mem_rebuild(d);
		restart(d, was);
		return rc;
	}
	restart(d, was);
	for (unsigned q = 0; q < HL_VHOST_MAX_QUEUES; q++)
		maybe_start(d, q);
	return 0;
}

static int rem_mem_reg(struct hl_vhost_dev *d, const struct hl_vu_mem_region *m)
{
	for (unsigned i = 0; i < d->nregions; i++) {
		struct hl_vu_region *r = &d->regions[i];
		if (r->gpa != m->guest_phys_addr || r->size != m->memory_size)
			continue;
		if (r->dups > 0) { /* added more than once: it stays until the last removal */
			r->dups--;
			return 0;
		}
		/* rings may live in it: stop all, remove, restart what still translates */
		bool was[HL_VHOST_MAX_QUEUES];
		stop_all(d, was);
		hl_vu_region_unmap(r);
		d->regions[i] = d->regions[--d->nregions];
		memset(&d->regions[d->nregions], 0, sizeof(*r));
		d->regions[d->nregions].fd = -1;
		int rc = hl_vu_mem_rebuild(d);
		restart(d, was);
		return rc;
	}
	return hl_error(-ENOENT, "vhost-user REM_MEM_REG: no region at gpa 0x%llx size %llu",
			(unsigned long long)m->guest_phys_addr, (unsigned long long)m->memory_size);
}

static int set_vring_fd(struct hl_vhost_dev *d, uint32_t req, uint64_t v, int *fds, unsigned nfds)
{
	int q = queue_index(d, (uint32_t)(v & HL_VU_VRING_IDX_MASK), hl_vu_request_name(req));
	bool nofd = v & HL_VU_VRING_NOFD;

	if (q < 0)
		return q;
	if (nofd != (nfds == 0))
		return hl_error(-EBADMSG, "vhost-user %s: no-fd flag %s but %u fds", hl_vu_request_name(req),
				nofd ? "set" : "clear", nfds);
	struct hl_vu_vring *r = &d->vq[q];
	/*
	 * The data path signals call_fd and sleeps on kick_fd: stop it before
	 * either changes under it.
	 */
	bool was = r->started;
	if (was)
		stop_queue(d, (unsigned)q);
	int *slot = req == HL_VU_SET_VRING_KICK ? &r->kick_fd : req == HL_VU_SET_VRING_CALL ? &r->call_fd : &r->err_fd;
	close_fd(slot);
	*slot = nofd ? -1 : fds[0];
	if (!nofd)
		fds[0] = -1;
	if (req == HL_VU_SET_VRING_KICK)
		r->kick_set = true;
	if (req == HL_VU_SET_VRING_KICK || was)
		maybe_start(d, (unsigned)q);
	return 0;
}

static void log_changed(struct hl_vhost_dev *d)
{
	if (d->ops && d->ops->log_change)
		d->ops->log_change(d);
}

/* Highest guest-physical address (exclusive) of any region: what a log must cover. */
static uint64_t mem_end(const struct hl_vhost_dev *d)
{
	uint64_t end = 0;
	for (unsigned i = 0; i < d->nregions; i++)
		if (d->regions[i].gpa + d->regions[i].size > end)
			end = d->regions[i].gpa + d->regions[i].size;
	return end;
}

/*
 * SET_LOG_BASE: map the new log, let running queues switch to it, then drop
 * the old one. Refused: the old log (if any) stays.
 */
static int set_log_base(struct hl_vhost_dev *d, const struct hl_vu_msg *m, int *fds, unsigned nfds)
{
	struct hl_vhost_log_map nl, old = d->log;
	int fd = nfds ? fds[0] : -1;
	int rc;

	if (nfds)
		fds[0] = -1;
	if (m->hdr.size != sizeof(struct hl_vu_log)) {
		if (fd >= 0)
			close(fd);
		rc = hl_error(-EINVAL, "vhost-user SET_LOG_BASE: %u-byte payload, want %zu (size, offset)",
			      m->hdr.size, sizeof(struct hl_vu_log));
	} else {
		rc = hl_vhost_log_map(&nl, m->payload.log.mmap_size, m->payload.log.mmap_offset, fd, mem_end(d));
	}
	if (rc < 0) {
		d->stats.bad_log++;
		return rc;
	}
	d->log = nl;
	log_changed(d);
	hl_vhost_log_unmap(&old);
	d->stats.log_bases++;
	for (unsigned q = 0; q < HL_VHOST_MAX_QUEUES; q++)
		maybe_start(d, q); /* those that waited for it */
	HL_LOG_INFO("vhost-user: dirty log of %llu bytes mapped (guest memory up to 0x%llx)",
		    (unsigned long long)nl.log.size, (unsigned long long)mem_end(d));
	return 0;
}

/* Requests that carry their own reply; the rest answer only with REPLY_ACK. */
static bool has_reply(uint32_t req)
{
	switch (req) {
	case HL_VU_GET_FEATURES:
	case HL_VU_GET_PROTOCOL_FEATURES:
	case HL_VU_GET_VRING_BASE:
	case HL_VU_GET_QUEUE_NUM:
	case HL_VU_GET_MAX_MEM_SLOTS:
	case HL_VU_GET_STATUS:
		return true;
	default:
		return false;
	}
}

/*
 * SET_VRING_BASE on a packed ring: the next descriptor to take in bits
 * 0-14 and its wrap counter in bit 15; QEMU adds the next used position
 * and its wrap counter in bits 16-31 (DPDK's front-end leaves them 0).
 * Where the two differ, chains between them were taken by a back-end
 * before us and never returned: they are still marked available in the
 * ring, so this one resumes from the used position and takes them again
 * (a transmit frame may go out twice; the guest loses no buffer).
 */
static int set_packed_base(struct hl_vhost_dev *d, unsigned q, uint32_t num)
{
	uint16_t avail = (uint16_t)num, used = (uint16_t)(num >> 16);
	uint16_t base = used != 0 ? used : avail;
	if ((base & 0x7fffu) >= (d->vq[q].num ? d->vq[q].num : HL_VHOST_MAX_RING))
		return hl_error(-EINVAL, "vhost-user SET_VRING_BASE: packed position %u is not below the queue size %u",
				base & 0x7fffu, d->vq[q].num);
	if (used != 0 && used != avail)
		HL_LOG_INFO("vhost-user queue %u: chains in flight (avail 0x%x, used 0x%x): taken again", q, avail, used);
	d->vq[q].base = base;
	return 0;
}

static int dispatch(struct hl_vhost_dev *d, const struct hl_vu_msg *m, int *fds, unsigned nfds,
		    struct hl_vu_msg *r)
{
	const uint64_t v = m->payload.u64;
	int q;

	switch (m->hdr.request) {
	case HL_VU_GET_FEATURES:
		return reply_u64(m, r, d->supported_features);
	case HL_VU_SET_FEATURES: {
		if (v & ~d->supported_features)
			return hl_error(-EINVAL, "vhost-user SET_FEATURES: 0x%llx not offered",
					(unsigned long long)(v & ~d->supported_features));
		bool log_flips = (d->features ^ v) & (1ull << HL_VU_F_LOG_ALL);
		d->features = v;
		if (log_flips) /* at run time, when a migration begins or ends */
			log_changed(d);
		for (unsigned i = 0; log_flips && i < HL_VHOST_MAX_QUEUES; i++)
			maybe_start(d, i); /* those that waited for a log no longer needed */
		return 0;
	}
	case HL_VU_GET_PROTOCOL_FEATURES:
		return reply_u64(m, r, d->supported_protocol);
	case HL_VU_SET_PROTOCOL_FEATURES:
		if (v & ~d->supported_protocol)
			return hl_error(-EINVAL, "vhost-user SET_PROTOCOL_FEATURES: 0x%llx not offered",
					(unsigned long long)(v & ~d->supported_protocol));
		d->protocol_features = v;
		return 0;
	case HL_VU_SET_OWNER:
		d->owner = true;
		return 0;
	case HL_VU_RESET_OWNER:
	case HL_VU_RESET_DEVICE:
		hl_vhost_dev_reset(d);
		return 0;
	case HL_VU_GET_QUEUE_NUM:
		/* queue pairs, as QEMU and DPDK read it (each compares it with its queues=) */
		return reply_u64(m, r, (d->nqueues + 1) / 2);
	case HL_VU_GET_MAX_MEM_SLOTS:
		return reply_u64(m, r, HL_VHOST_MAX_MEM_SLOTS);
	case HL_VU_SET_STATUS:
		if (v > 0xff)
			return hl_error(-EINVAL, "vhost-user SET_STATUS: 0x%llx is not a status byte",
					(unsigned long long)v);
		d->status = (uint8_t)v;
		return 0;
	case HL_VU_GET_STATUS:
		return reply_u64(m, r, d->status);
	case HL_VU_SET_MEM_TABLE:
		return set_mem_table(d, &m->payload.mem, fds);
	case HL_VU_ADD_MEM_REG: {
		int fd = fds[0];
		fds[0] = -1;
		return add_mem_reg(d, &m->payload.single.region, fd);
	}
	case HL_VU_REM_MEM_REG:
		return rem_mem_reg(d, &m->payload.single.region);
	case HL_VU_SET_VRING_NUM: {
		uint32_t n = m->payload.state.num;
		if ((q = queue_index(d, m->payload.state.index, "SET_VRING_NUM")) < 0)
			return q;
		/* packed rings may have any size; split ones are powers of two */
		if (n == 0 || n > HL_VHOST_MAX_RING || (!HL_IS_POW2(n) && !hl_vhost_dev_packed(d)))
			return hl_error(-EINVAL, "vhost-user SET_VRING_NUM: %u is not %s in 1..%d", n,
					hl_vhost_dev_packed(d) ? "a size" : "a power of two", HL_VHOST_MAX_RING);
		if (d->vq[q].started)
			return hl_error(-EBUSY, "vhost-user SET_VRING_NUM: queue %d is running", q);
		d->vq[q].num = n;
		return 0;
	}
	case HL_VU_SET_VRING_ADDR: {
		if ((q = queue_index(d, m->payload.addr.index, "SET_VRING_ADDR")) < 0)
			return q;
		const struct hl_vu_vring_addr *a = &m->payload.addr, *o = &d->vq[q].addr;
		if (d->vq[q].started && a->desc_user_addr == o->desc_user_addr &&
		    a->used_user_addr == o->used_user_addr && a->avail_user_addr == o->avail_user_addr) {
			/* only the log flag or address: a migration starting or ending, no need to stop */
			d->vq[q].addr = *a;
			log_changed(d);
			return 0;
		}
		uint16_t base = stop_queue(d, (unsigned)q);
		d->vq[q].addr = m->payload.addr;
		d->vq[q].addr_set = true;
		d->vq[q].base = base;
		maybe_start(d, (unsigned)q);
		return 0;
	}
	case HL_VU_SET_VRING_BASE:
		if ((q = queue_index(d, m->payload.state.index, "SET_VRING_BASE")) < 0)
			return q;
		if (d->vq[q].started)
			return hl_error(-EBUSY, "vhost-user SET_VRING_BASE: queue %d is running", q);
		if (hl_vhost_dev_packed(d))
			return set_packed_base(d, (unsigned)q, m->payload.state.num);
		if (m->payload.state.num > 0xffff)
			return hl_error(-EINVAL, "vhost-user SET_VRING_BASE: %u is not a 16-bit index",
					m->payload.state.num);
		d->vq[q].base = (uint16_t)m->payload.state.num;
		return 0;
	case HL_VU_GET_VRING_BASE: {
		if ((q = queue_index(d, m->payload.state.index, "GET_VRING_BASE")) < 0)
			return q;
		uint16_t base = stop_queue(d, (unsigned)q);
		struct hl_vu_vring *vr = &d->vq[q];
		close_fd(&vr->kick_fd);
		vr->kick_set = false;
		r->hdr = (struct hl_vu_hdr){.request = m->hdr.request,
					    .flags = HL_VU_VERSION | HL_VU_FLAG_REPLY,
					    .size = sizeof(struct hl_vu_vring_state)};
		/* packed: the used position and its wrap counter equal the avail one's (nothing in flight) */
		uint32_t num = hl_vhost_dev_packed(d) ? (uint32_t)base << 16 | base : base;
		r->payload.state = (struct hl_vu_vring_state){.index = (uint32_t)q, .num = num};
		return (int)(sizeof(r->hdr) + sizeof(r->payload.state));
	}
	case HL_VU_SET_VRING_KICK:
	case HL_VU_SET_VRING_CALL:
	case HL_VU_SET_VRING_ERR:
		return set_vring_fd(d, m->hdr.request, v, fds, nfds);
	case HL_VU_SET_VRING_ENABLE:
		if ((q = queue_index(d, m->payload.state.index, "SET_VRING_ENABLE")) < 0)
			return q;
		if (m->payload.state.num > 1)
			return hl_error(-EINVAL, "vhost-user SET_VRING_ENABLE: %u is not 0 or 1",
					m->payload.state.num);
		d->vq[q].enabled = m->payload.state.num;
		if (d->vq[q].enabled)
			maybe_start(d, (unsigned)q);
		else
			stop_queue(d, (unsigned)q);
		return 0;
	case HL_VU_SET_LOG_BASE:
		return set_log_base(d, m, fds, nfds);
	case HL_VU_SET_LOG_FD:
		return 0; /* the log never grows on the back-end's request: its fd is not needed */
	case HL_VU_SEND_RARP:
		d->stats.rarps++;
		if (d->ops && d->ops->rarp)
			d->ops->rarp(d, m->payload.raw);
		return 0;
	case HL_VU_NET_SET_MTU:
		return 0; /* nothing to do for a switch port */
	default:
		d->stats.unknown_msgs++;
		return hl_error(-EOPNOTSUPP, "vhost-user: request %u (%s) not supported", m->hdr.request,
				hl_vu_request_name(m->hdr.request));
	}
}

/* With LOG_SHMFD the front-end waits for an answer to SET_LOG_BASE, refused or not. */
static bool log_base_answers(const struct hl_vhost_dev *d)
{
	return d->protocol_features & (1ull << HL_VU_PROTOCOL_F_LOG_SHMFD);
}

/* Empty when the log was taken, a nonzero status when it was refused. */
static int log_base_reply(const struct hl_vu_msg *m, struct hl_vu_msg *r, int rc)
{
	if (rc < 0)
		return reply_u64(m, r, 1);
	r->hdr = (struct hl_vu_hdr){.request = m->hdr.request, .flags = HL_VU_VERSION | HL_VU_FLAG_REPLY, .size = 0};
	return (int)sizeof(r->hdr);
}

int hl_vhost_dev_handle(struct hl_vhost_dev *d, const struct hl_vu_msg *m, size_t len, int *fds,
			unsigned nfds, struct hl_vu_msg *reply)
{
	int rc;

	d->stats.msgs++;
	rc = hl_vu_msg_check(m, len, nfds);
	if (rc < 0) {
		d->stats.bad_msgs++;
		close_all(fds, nfds);
		/* framing we cannot trust, or a question we cannot answer: hang up */
		if (len < sizeof(m->hdr) || len != sizeof(m->hdr) + m->hdr.size ||
		    (m->hdr.flags & HL_VU_VERSION_MASK) != HL_VU_VERSION || has_reply(m->hdr.request))
			return rc;
		if (m->hdr.request == HL_VU_SET_LOG_BASE && log_base_answers(d)) {
			d->stats.bad_log++;
			return log_base_reply(m, reply, rc);
		}
		goto ack;
	}
	rc = dispatch(d, m, fds, nfds, reply);
	close_all(fds, nfds); /* whatever the handler did not keep */
	if (rc < 0 && rc != -EOPNOTSUPP)
		d->stats.bad_msgs++;
	if (rc > 0)
		return rc;
	if (m->hdr.request == HL_VU_SET_LOG_BASE && log_base_answers(d))
		return log_base_reply(m, reply, rc);
	if (rc < 0 && has_reply(m->hdr.request))
		return rc;
ack:
	if ((m->hdr.flags & HL_VU_FLAG_NEED_REPLY) &&
	    (d->protocol_features & (1ull << HL_VU_PROTOCOL_F_REPLY_ACK)))
		return reply_u64(m, reply, rc < 0 ? 1 : 0);
	return 0;
}
