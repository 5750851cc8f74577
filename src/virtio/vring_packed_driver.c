/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Driver side of a packed virtqueue (see vring_packed_driver.h). Ids are
 * handed out from a free list; each in-flight id remembers its token and
 * how many ring slots its chain took, which is how far a used descriptor
 * for it moves our read position. Everything the device writes (used ids,
 * lengths, flags) is checked against that before it is believed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <hugelink/vring_packed_driver.h>

#define F_AVAIL HL_VRING_PACKED_DESC_F_AVAIL
#define F_USED HL_VRING_PACKED_DESC_F_USED

uint64_t hl_vring_packed_driver_event_offset(unsigned num)
{
	return (uint64_t)num * sizeof(struct hl_vring_packed_desc);
}

uint64_t hl_vring_packed_device_event_offset(unsigned num)
{
	return hl_vring_packed_driver_event_offset(num) + sizeof(struct hl_vring_packed_event);
}

uint64_t hl_vring_packed_size(unsigned num)
{
	return hl_vring_packed_device_event_offset(num) + sizeof(struct hl_vring_packed_event);
}

int hl_vring_packed_driver_init(struct hl_vring_packed_driver *d, void *mem, unsigned num, uint64_t features)
{
	memset(d, 0, sizeof(*d));
	if (num == 0 || num > HL_VRING_MAX_SIZE || mem == NULL || (uintptr_t)mem % HL_VRING_PACKED_DESC_ALIGN)
		return hl_error(-EINVAL, "vring driver (packed): num %u not in 1..%u, or ring %p not 16-byte aligned",
				num, HL_VRING_MAX_SIZE, mem);
	memset(mem, 0, hl_vring_packed_size(num));
	d->desc = mem;
	d->driver_event = (void *)((char *)mem + hl_vring_packed_driver_event_offset(num));
	d->device_event = (void *)((char *)mem + hl_vring_packed_device_event_offset(num));
	d->num = (uint16_t)num;
	d->features = features;
	d->event_idx = features & HL_VIRTIO_BIT(HL_VIRTIO_RING_F_EVENT_IDX);
	d->interrupts = true;
	d->avail_wrap = d->used_wrap = true;
	d->free_slots = (uint16_t)num;
	d->id_next = calloc(num, sizeof(*d->id_next));
	d->id_slots = calloc(num, sizeof(*d->id_slots));
	d->tokens = calloc(num, sizeof(*d->tokens));
	d->in_order = features & HL_VIRTIO_BIT(HL_VIRTIO_F_IN_ORDER);
	if (d->in_order) {
		d->order = calloc(num, sizeof(*d->order));
		d->in_len = calloc(num, sizeof(*d->in_len));
	}
	if (d->id_next == NULL || d->id_slots == NULL || d->tokens == NULL ||
	    (d->in_order && (d->order == NULL || d->in_len == NULL))) {
		hl_vring_packed_driver_fini(d);
		return hl_error(-ENOMEM, "vring driver (packed): no memory for %u ids", num);
	}
	for (unsigned i = 0; i < num; i++)
		d->id_next[i] = (uint16_t)(i + 1); /* num: the end of the list */
	return 0;
}

void hl_vring_packed_driver_fini(struct hl_vring_packed_driver *d)
{
	free(d->id_next);
	free(d->id_slots);
	free(d->tokens);
	free(d->order);
	free(d->in_len);
	d->id_next = d->id_slots = d->order = NULL;
	d->tokens = NULL;
	d->in_len = NULL;
}

int hl_vring_packed_driver_set_indirect(struct hl_vring_packed_driver *d, void *va, uint64_t gpa,
					unsigned max_entries)
{
	if (!(d->features & HL_VIRTIO_BIT(HL_VIRTIO_RING_F_INDIRECT_DESC)) || va == NULL ||
	    (uintptr_t)va % HL_VRING_PACKED_DESC_ALIGN || max_entries < 2 || max_entries > HL_VRING_MAX_SIZE)
		return hl_error(-EINVAL, "vring driver (packed): indirect tables need INDIRECT_DESC, 16-byte "
					 "alignment and 2..%u entries",
				HL_VRING_MAX_SIZE);
	d->indirect_va = va;
	d->indirect_gpa = gpa;
	d->indirect_max = max_entries;
	return 0;
}

static inline uint16_t avail_flags(bool wrap, uint16_t f)
{
	return (uint16_t)(f | (wrap ? F_AVAIL : F_USED));
}

int hl_vring_packed_driver_add(struct hl_vring_packed_driver *d, const struct hl_drv_buf *bufs, unsigned nr_out,
			       unsigned nr_in, void *token)
{
	unsigned n = nr_out + nr_in;
	if (token == NULL || n == 0 || n > d->num)
		return -EINVAL;
	bool indirect = n > 1 && d->indirect_va != NULL && n <= d->indirect_max;
	unsigned slots = indirect ? 1 : n;
	if (d->broken || slots > d->free_slots || d->free_id >= d->num)
		return -ENOSPC;
	uint16_t id = d->free_id;
	d->free_id = d->id_next[id];
	d->tokens[id] = token;
	d->id_slots[id] = (uint16_t)slots;
	if (d->in_order) {
		uint32_t w = 0;
		for (unsigned k = nr_out; k < n; k++)
			w += bufs[k].len;
		d->order[d->order_put] = id;
		d->order_put = (uint16_t)(d->order_put + 1 == d->num ? 0 : d->order_put + 1);
		d->order_n++;
		d->in_len[id] = w;
	}

	uint16_t first = d->next_avail, first_flags = 0;
	if (indirect) {
		struct hl_vring_packed_desc *t = d->indirect_va + (size_t)id * d->indirect_max;
		for (unsigned k = 0; k < n; k++)
			t[k] = (struct hl_vring_packed_desc){
				.addr = bufs[k].addr, .len = bufs[k].len,
				.flags = k >= nr_out ? HL_VRING_DESC_F_WRITE : 0};
		struct hl_vring_packed_desc *e = &d->desc[first];
		e->addr = d->indirect_gpa + (uint64_t)id * d->indirect_max * sizeof(*t);
		e->len = (uint32_t)(n * sizeof(*t));
		e->id = id;
		first_flags = avail_flags(d->avail_wrap, HL_VRING_DESC_F_INDIRECT);
		if (++d->next_avail == d->num) {
			d->next_avail = 0;
			d->avail_wrap = !d->avail_wrap;
		}
	} else {
		for (unsigned k = 0; k < n; k++) {
			struct hl_vring_packed_desc *e = &d->desc[d->next_avail];
			uint16_t f = (uint16_t)((k >= nr_out ? HL_VRING_DESC_F_WRITE : 0) |
						(k + 1 < n ? HL_VRING_DESC_F_NEXT : 0));
			e->addr = bufs[k].addr;
			e->len = bufs[k].len;
			e->id = id; /* the last one's is the one that counts */
			/* the first slot's flags last: the device must not see half a chain */
			if (k == 0)
				first_flags = avail_flags(d->avail_wrap, f);
			else
				__atomic_store_n(&e->flags, avail_flags(d->avail_wrap, f), __ATOMIC_RELAXED);
			if (++d->next_avail == d->num) {
				d->next_avail = 0;
				d->avail_wrap = !d->avail_wrap;
			}
		}
	}
	__atomic_store_n(&d->desc[first].flags, first_flags, __ATOMIC_RELEASE);
	d->free_slots = (uint16_t)(d->free_slots - slots);
	d->avail_total += slots;
	return 0;
}

bool hl_vring_packed_driver_kick_needed(struct hl_vring_packed_driver *d)
{
	uint32_t dist = d->avail_total - d->kicked_total;

	/* Full barrier: our flags visible before we read the device's wishes. */
	hl_smp_mb();
	d->kicked_total = d->avail_total;
	if (dist == 0)
		return false;
	uint16_t flags = __atomic_load_n(&d->device_event->flags, __ATOMIC_RELAXED) & 3u;
	if (flags == HL_VRING_PACKED_EVENT_DISABLE)
		return false;
	if (flags != HL_VRING_PACKED_EVENT_DESC || !d->event_idx)
		return true;
	uint16_t ow = __atomic_load_n(&d->device_event->off_wrap, __ATOMIC_RELAXED);
	return hl_vring_packed_event_hit(ow, d->next_avail, d->avail_wrap, d->num, dist);
}

void *hl_vring_packed_driver_get_used(struct hl_vring_packed_driver *d, uint32_t *len)
{
	if (d->broken)
		return NULL;
	uint16_t id;
	uint32_t l;
	uint16_t f = HL_VRING_DESC_F_WRITE;
	if (d->in_order && d->batch_left > 0) {
		id = d->order[d->order_get];
		l = --d->batch_left == 0 ? d->batch_len : d->in_len[id];
		goto take;
	}
	struct hl_vring_packed_desc *e = &d->desc[d->next_used];
	/* Acquire: the id and length are visible once the flags say used. */
	f = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);
	if (!!(f & F_USED) != d->used_wrap || !!(f & F_AVAIL) != d->used_wrap)
		return NULL;
	id = e->id;
	l = e->len;
	if (d->in_order && id < d->num) {
		unsigned k = 0, at = d->order_get;
		while (k < d->order_n && d->order[at] != id) {
			k++;
			at = at + 1 == d->num ? 0 : at + 1;
		}
		if (k == d->order_n) {
			d->broken = true;
			HL_LOG_ERR("vring driver (packed): in order, the device used id %u, which is not in flight: "
				   "queue stopped", id);
			return NULL;
		}
		d->batch_len = (f & HL_VRING_DESC_F_WRITE) ? l : 0;
		d->batch_left = (uint16_t)k; /* after this one */
		d->skipped += k;
		id = d->order[d->order_get];
		l = k > 0 ? d->in_len[id] : d->batch_len;
		f = HL_VRING_DESC_F_WRITE; /* l is what counts now */
	}
take:
	if (d->in_order) {
		d->order_get = (uint16_t)(d->order_get + 1 == d->num ? 0 : d->order_get + 1);
		d->order_n--;
	}
	if (id >= d->num || d->id_slots[id] == 0) {
		d->broken = true;
		HL_LOG_ERR("vring driver (packed): the device used id %u, which is not in flight: queue stopped", id);
		return NULL;
	}
	unsigned next = d->next_used + d->id_slots[id];
	if (next >= d->num) {
		next -= d->num;
		d->used_wrap = !d->used_wrap;
	}
	d->next_used = (uint16_t)next;
	d->free_slots = (uint16_t)(d->free_slots + d->id_slots[id]);
	d->id_slots[id] = 0;
	void *token = d->tokens[id];
	d->tokens[id] = NULL;
	d->id_next[id] = d->free_id;
	d->free_id = id;
	if (len != NULL)
		*len = (f & HL_VRING_DESC_F_WRITE) ? l : 0;
	return token;
}

void hl_vring_packed_driver_set_interrupt(struct hl_vring_packed_driver *d, bool enable)
{
	d->interrupts = enable;
	if (enable && d->event_idx) {
		d->driver_event->off_wrap = (uint16_t)(d->next_used | (d->used_wrap ? 0x8000u : 0));
		__atomic_store_n(&d->driver_event->flags, HL_VRING_PACKED_EVENT_DESC, __ATOMIC_RELEASE);
	} else {
		__atomic_store_n(&d->driver_event->flags,
				 enable ? HL_VRING_PACKED_EVENT_ENABLE : HL_VRING_PACKED_EVENT_DISABLE, __ATOMIC_RELAXED);
	}
	hl_smp_mb();
}
