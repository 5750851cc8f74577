/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device side of a packed virtqueue: take available chains, walk and check
 * them, write used descriptors back into the ring, decide on notifications.
 *
 * Trust: the descriptor ring, the driver's event word and any indirect
 * table are guest memory the guest may rewrite concurrently. Each
 * descriptor is loaded once into a local (volatile loads) and only the copy
 * is checked and used. Positions, wrap counters, in_flight and the pending
 * batch are ours and never read back. We write: used descriptors (id, len,
 * flags) at slots we have consumed, and the device event word; nothing
 * else.
 *
 * Every path is bounded: a chain visits at most num ring descriptors, an
 * indirect table at most HL_VRING_MAX_SIZE entries, each element's
 * translation is bounded by its u32 length. One thread owns a queue.
 */
#include <errno.h>
#include <string.h>

#include <hugelink/vring_packed.h>

#include "vring_walk_pvt.h"

#define F_AVAIL HL_VRING_PACKED_DESC_F_AVAIL
#define F_USED HL_VRING_PACKED_DESC_F_USED

static int walk_indirect(struct hl_walk *w, struct hl_vring_packed *vr, uint16_t id,
			 const struct hl_vring_packed_desc *d);

static inline bool is_avail(uint16_t flags, bool wrap)
{
	return !!(flags & F_AVAIL) == wrap && !!(flags & F_USED) != wrap;
}

static inline void load_desc(const struct hl_vring_packed_desc *src, struct hl_vring_packed_desc *d)
{
	const volatile struct hl_vring_packed_desc *s = src;
	d->addr = s->addr;
	d->len = s->len;
	d->id = s->id;
	d->flags = s->flags;
}

int hl_vring_packed_walk(struct hl_vring_packed *vr, const struct hl_guest_mem *mem, struct hl_iov *iov,
			 unsigned max_iov, struct hl_chain *out)
{
	struct hl_walk w = {.st = &vr->stats, .ring = vr, .mem = mem, .iov = iov, .max_iov = max_iov};
	uint16_t pos = vr->avail_idx;
	bool wrap = vr->avail_wrap;
	struct hl_vring_packed_desc d;
	unsigned slots = 0, indirect = 0;
	int err = 0;

	if (hl_unlikely(vr->broken))
		return -EIO;
	/* Acquire: the rest of the chain, written before this flag, is visible after it. */
	uint16_t f = __atomic_load_n(&vr->desc[pos].flags, __ATOMIC_ACQUIRE);
	if (!is_avail(f, wrap))
		return -EAGAIN;
	for (;;) {
		load_desc(&vr->desc[pos], &d);
		/*
		 * The first descriptor's flags were read above; the rest must be
		 * available too, or the driver exposed a chain before finishing it
		 * (or lies): its end cannot be known, and neither where the next
		 * chain starts.
		 */
		if (hl_unlikely(!is_avail(d.flags, wrap) || ++slots > vr->num)) {
			uint64_t *c = slots > vr->num ? &vr->stats.loop : &vr->stats.bad_desc_index;
			vr->broken = true;
			hl__walk_refuse(vr, c, -EIO, d.id, "chain runs into slot %llu that is not available (%llu slots)",
					pos, slots);
			HL_LOG_ERR("vring %p (packed): a chain at slot %u has no end (slot %u not available or over %u "
				   "slots): queue stopped",
				   (void *)vr, vr->avail_idx, pos, vr->num);
			return -EIO;
		}
		if (++pos == vr->num) {
			pos = 0;
			wrap = !wrap;
		}
		if (err == 0) {
			if (d.flags & HL_VRING_DESC_F_INDIRECT) {
				/* an indirect table is a chain of its own: alone, without NEXT */
				if (hl_unlikely(slots > 1 || (d.flags & HL_VRING_DESC_F_NEXT) || indirect))
					err = hl__walk_refuse(vr, &vr->stats.bad_indirect, -EINVAL, d.id,
							      "INDIRECT descriptor in a chain (slot %llu, flags 0x%llx)",
							      slots, d.flags);
				else
					err = walk_indirect(&w, vr, d.id, &d);
				indirect++;
			} else if (hl_unlikely(indirect)) {
				err = hl__walk_refuse(vr, &vr->stats.bad_indirect, -EINVAL, d.id,
						      "descriptor after an INDIRECT one (slot %llu, flags 0x%llx)", slots,
						      d.flags);
			} else {
				err = hl__walk_add(&w, d.id, d.addr, d.len, d.flags & HL_VRING_DESC_F_WRITE);
			}
		}
		if (!(d.flags & HL_VRING_DESC_F_NEXT))
			break;
	}
	/*
	 * More slots in flight than the ring holds: the driver offered slots
	 * we had not given back. Nothing it says can be trusted any more.
	 */
	if (hl_unlikely(vr->in_flight + slots > vr->num)) {
		vr->broken = true;
		hl__walk_refuse(vr, &vr->stats.bad_avail_idx, -EIO, d.id, "%llu slots in flight and %llu more",
				vr->in_flight, slots);
		HL_LOG_ERR("vring %p (packed): the driver offered slots still in flight (%u + %u > %u): queue stopped",
			   (void *)vr, vr->in_flight, slots, vr->num);
		return -EIO;
	}
	/* The buffer id is in the last descriptor; we echo it, and callers index by it. */
	if (err == 0 && hl_unlikely(d.id >= vr->num))
		err = hl__walk_refuse(vr, &vr->stats.bad_desc_index, -EINVAL, d.id, "buffer id %llu >= queue size %llu",
				      d.id, vr->num);
	vr->avail_idx = pos;
	vr->avail_wrap = wrap;
	vr->in_flight = (uint16_t)(vr->in_flight + slots); /* <= num: the ring holds no more */
	out->head = d.id;
	out->ndesc = (uint16_t)slots;
	if (err < 0) {
		out->nr_out = out->nr_in = out->out_len = out->in_len = 0;
		return err;
	}
	vr->stats.chains++;
	hl__walk_result(&w, out);
	return 0;
}

/*
 * An indirect table: len / 16 descriptors, every one an element; only
 * their WRITE flag means anything (the spec has the device ignore the rest,
 * ids included).
 */
static int walk_indirect(struct hl_walk *w, struct hl_vring_packed *vr, uint16_t id,
			 const struct hl_vring_packed_desc *d)
{
	uint64_t contig = 0;

	if (hl_unlikely(!vr->indirect))
		return hl__walk_refuse(vr, &vr->stats.bad_indirect, -EINVAL, id,
				       "INDIRECT descriptor but the feature was not negotiated (%llu/%llu)", d->flags,
				       d->len);
	if (hl_unlikely(d->len == 0 || d->len % sizeof(*d) || d->len / sizeof(*d) > HL_VRING_MAX_SIZE))
		return hl__walk_refuse(vr, &vr->stats.bad_indirect, -EINVAL, id,
				       "indirect table len %llu is 0, not a multiple of 16 or over %llu entries",
				       d->len, HL_VRING_MAX_SIZE);
	const uint8_t *t = hl_gpa_to_hva(w->mem, d->addr, d->len, &contig);
	if (hl_unlikely(t == NULL))
		return hl__walk_refuse(vr, &vr->stats.bad_indirect, -EFAULT, id,
				       "indirect table gpa 0x%llx len %llu not in guest memory", d->addr, d->len);
	uint32_t n = d->len / sizeof(*d);
	for (uint32_t i = 0; i < n; i++) {
		struct hl_vring_packed_desc e;
		uint64_t gpa = d->addr + (uint64_t)i * sizeof(e);
		if (hl_likely(contig == d->len && ((uintptr_t)t % _Alignof(struct hl_vring_packed_desc)) == 0)) {
			load_desc((const struct hl_vring_packed_desc *)t + i, &e);
		} else {
			/* split across regions or misaligned (rare): piece by piece */
			if (!hl__walk_read_guest(w->mem, gpa, &e, sizeof(e)))
				return hl__walk_refuse(vr, &vr->stats.bad_indirect, -EFAULT, id,
						       "indirect entry %llu at gpa 0x%llx unreadable", i, gpa);
		}
		int rc = hl__walk_add(w, id, e.addr, e.len, e.flags & HL_VRING_DESC_F_WRITE);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int hl_vring_packed_put_used(struct hl_vring_packed *vr, uint16_t id, uint32_t len, uint16_t slots)
{
	/* Never past what was taken: the slots we write are ones we consumed. */
	if (hl_unlikely(slots == 0 || slots > vr->in_flight)) {
		vr->stats.bad_used++;
		return -ENOSPC;
	}
	volatile struct hl_vring_packed_desc *u = &vr->desc[vr->used_idx];
	u->id = id;
	u->len = len;
	vr->pend_idx[vr->npend] = vr->used_idx;
	vr->pend_flags[vr->npend] =
		(uint16_t)((vr->used_wrap ? F_AVAIL | F_USED : 0) | (len > 0 ? HL_VRING_DESC_F_WRITE : 0));
	vr->npend++;
	unsigned next = vr->used_idx + slots;
	if (next >= vr->num) {
		next -= vr->num;
		vr->used_wrap = !vr->used_wrap;
	}
	vr->used_idx = (uint16_t)next;
	vr->in_flight = (uint16_t)(vr->in_flight - slots);
	vr->used_total += slots;
	if (vr->npend == HL_VRING_PACKED_BATCH)
		hl_vring_packed_flush_used(vr);
	return 0;
}

void hl_vring_packed_flush_used(struct hl_vring_packed *vr)
{
	unsigned n = vr->npend;
	if (n == 0)
		return;
	/*
	 * The driver polls the batch's first slot only; the others' flags go
	 * first, and the first's last, with release: the ids, lengths and the
	 * other flags are visible before the driver can see any of them.
	 */
	for (unsigned k = 1; k < n; k++)
		__atomic_store_n(&vr->desc[vr->pend_idx[k]].flags, vr->pend_flags[k], __ATOMIC_RELAXED);
	__atomic_store_n(&vr->desc[vr->pend_idx[0]].flags, vr->pend_flags[0], __ATOMIC_RELEASE);
	vr->npend = 0;
}

bool hl_vring_packed_need_notify(struct hl_vring_packed *vr)
{
	uint32_t dist = vr->used_total - vr->signalled_total;

	if (dist == 0)
		return false; /* nothing new since the last decision: no barrier either */
	/* Our flags must be visible before we read the driver's event word (see split rings). */
	hl_smp_mb();
	vr->signalled_total = vr->used_total;
	uint16_t flags = __atomic_load_n(&vr->driver_event->flags, __ATOMIC_RELAXED) & 3u;
	if (flags == HL_VRING_PACKED_EVENT_DISABLE)
		return false;
	if (flags != HL_VRING_PACKED_EVENT_DESC || !vr->event_idx)
		return true; /* ENABLE, or the reserved value: tell it */
	uint16_t ow = __atomic_load_n(&vr->driver_event->off_wrap, __ATOMIC_RELAXED);
	return hl_vring_packed_event_hit(ow, vr->used_idx, vr->used_wrap, vr->num, dist);
}

void hl_vring_packed_set_notify(struct hl_vring_packed *vr, bool enable)
{
	volatile struct hl_vring_packed_event *e = vr->device_event;
	if (enable && vr->event_idx) {
		e->off_wrap = (uint16_t)(vr->avail_idx | (vr->avail_wrap ? 0x8000u : 0));
		__atomic_store_n(&e->flags, HL_VRING_PACKED_EVENT_DESC, __ATOMIC_RELEASE);
	} else {
		__atomic_store_n(&e->flags, enable ? HL_VRING_PACKED_EVENT_ENABLE : HL_VRING_PACKED_EVENT_DISABLE,
				 __ATOMIC_RELAXED);
	}
	/* Our write must be seen before we look at the ring again (see header). */
	hl_smp_mb();
}

/* ---- set-up (control path) ---- */

int hl_vring_packed_init(struct hl_vring_packed *vr, unsigned num, void *desc, void *driver_event,
			 void *device_event, uint64_t features)
{
	memset(vr, 0, sizeof(*vr));
	if (num == 0 || num > HL_VRING_MAX_SIZE)
		return hl_error(-EINVAL, "vring (packed): num %u is not in 1..%u", num, HL_VRING_MAX_SIZE);
	if (desc == NULL || (uintptr_t)desc % HL_VRING_PACKED_DESC_ALIGN)
		return hl_error(-EINVAL, "vring (packed): descriptor ring %p is NULL or not %u-byte aligned", desc,
				HL_VRING_PACKED_DESC_ALIGN);
	if (driver_event == NULL || (uintptr_t)driver_event % HL_VRING_PACKED_EVENT_ALIGN || device_event == NULL ||
	    (uintptr_t)device_event % HL_VRING_PACKED_EVENT_ALIGN)
		return hl_error(-EINVAL, "vring (packed): event words %p, %p NULL or not %u-byte aligned",
				driver_event, device_event, HL_VRING_PACKED_EVENT_ALIGN);
	vr->desc = desc;
	vr->driver_event = driver_event;
	vr->device_event = device_event;
	vr->num = (uint16_t)num; /* 32768 fits */
	vr->features = features;
	vr->event_idx = features & HL_VIRTIO_BIT(HL_VIRTIO_RING_F_EVENT_IDX);
	vr->indirect = features & HL_VIRTIO_BIT(HL_VIRTIO_RING_F_INDIRECT_DESC);
	vr->avail_wrap = vr->used_wrap = true;
	return 0;
}

static void *part(const struct hl_guest_mem *m, uint64_t gpa, uint64_t len)
{
	uint64_t contig = 0;
	void *p = hl_gpa_to_hva(m, gpa, len, &contig);
	return p != NULL && contig >= len ? p : NULL;
}

int hl_vring_packed_init_gpa(struct hl_vring_packed *vr, const struct hl_guest_mem *m, unsigned num,
			     uint64_t desc_gpa, uint64_t driver_gpa, uint64_t device_gpa, uint64_t features)
{
	memset(vr, 0, sizeof(*vr));
	if (num == 0 || num > HL_VRING_MAX_SIZE)
		return hl_error(-EINVAL, "vring (packed): num %u is not in 1..%u", num, HL_VRING_MAX_SIZE);
	void *desc = part(m, desc_gpa, hl_vring_packed_desc_bytes(num));
	void *drv = part(m, driver_gpa, sizeof(struct hl_vring_packed_event));
	void *dev = part(m, device_gpa, sizeof(struct hl_vring_packed_event));
	if (desc == NULL || drv == NULL || dev == NULL)
		return hl_error(-EFAULT,
				"vring (packed): ring parts (desc 0x%llx, driver 0x%llx, device 0x%llx) not inside "
				"guest memory or not contiguous in this process",
				(unsigned long long)desc_gpa, (unsigned long long)driver_gpa,
				(unsigned long long)device_gpa);
	return hl_vring_packed_init(vr, num, desc, drv, dev, features);
}

int hl_vring_packed_set_base(struct hl_vring_packed *vr, uint16_t state)
{
	uint16_t idx = state & 0x7fffu;
	if (idx >= vr->num)
		return hl_error(-EINVAL, "vring (packed): base %u is not below the queue size %u", idx, vr->num);
	vr->avail_idx = vr->used_idx = idx;
	vr->avail_wrap = vr->used_wrap = state >> 15;
	vr->in_flight = 0;
	vr->npend = 0;
	vr->signalled_total = vr->used_total;
	vr->broken = false;
	return 0;
}

uint16_t hl_vring_packed_get_base(const struct hl_vring_packed *vr)
{
	return (uint16_t)(vr->avail_idx | (vr->avail_wrap ? 0x8000u : 0));
}
