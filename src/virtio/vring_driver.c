/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Driver side of a split virtqueue (see vring_driver.h for who writes what).
 *
 * Free descriptors form a list threaded through desc[].next, as in Linux:
 * adding a chain takes descriptors from the head of the list, and since the
 * chain is itself linked by next, returning it is one splice. The links sit
 * in shared memory, which only we write (the device reads the table); the
 * chain length comes from our own chain_len[], not from flags read back.
 * A device that rewrote the table could corrupt the free list: this side
 * trusts its device (it is hugelink, or the test), unlike vring_split.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <hugelink/vring_driver.h>

uint64_t hl_vring_avail_offset(unsigned num)
{
	return HL_VRING_DESC_SIZE(num);
}

uint64_t hl_vring_used_offset(unsigned num)
{
	return HL_ALIGN_UP(hl_vring_avail_offset(num) + HL_VRING_AVAIL_SIZE(num),
			   (uint64_t)HL_VRING_USED_ALIGN);
}

uint64_t hl_vring_size(unsigned num)
{
	return hl_vring_used_offset(num) + HL_VRING_USED_SIZE(num);
}

int hl_vring_driver_init(struct hl_vring_driver *d, void *mem, unsigned num, uint64_t features)
{
	memset(d, 0, sizeof(*d));
	if (!HL_IS_POW2(num) || num > HL_VRING_MAX_SIZE)
		return hl_error(-EINVAL, "vring_driver: num %u is not a power of two <= %u", num,
				HL_VRING_MAX_SIZE);
	if (mem == NULL || (uintptr_t)mem % HL_VRING_DESC_ALIGN)
		return hl_error(-EINVAL, "vring_driver: mem %p is NULL or not 16-byte aligned", mem);
	d->tokens = calloc(num, sizeof(*d->tokens));
	d->chain_len = calloc(num, sizeof(*d->chain_len));
	d->in_order = features & HL_VIRTIO_BIT(HL_VIRTIO_F_IN_ORDER);
	if (d->in_order) {
		d->order = calloc(num, sizeof(*d->order));
		d->in_len = calloc(num, sizeof(*d->in_len));
	}
	if (!d->tokens || !d->chain_len || (d->in_order && (!d->order || !d->in_len))) {
		hl_vring_driver_fini(d);
		return hl_error(-ENOMEM, "vring_driver: no memory for %u tokens", num);
	}
	memset(mem, 0, hl_vring_size(num));
	d->desc = mem;
	d->avail = (struct hl_vring_avail *)((char *)mem + hl_vring_avail_offset(num));
	d->used = (struct hl_vring_used *)((char *)mem + hl_vring_used_offset(num));
	d->num = (uint16_t)num;
	d->mask = (uint16_t)(num - 1);
	d->features = features;
	d->event_idx = features & HL_VIRTIO_BIT(HL_VIRTIO_RING_F_EVENT_IDX);
	d->interrupts = true;
	for (unsigned i = 0; i + 1 < num; i++)
		d->desc[i].next = (uint16_t)(i + 1);
	d->free_head = 0;
	d->num_free = (uint16_t)num; /* <= 32768 */
	return 0;
}

void hl_vring_driver_fini(struct hl_vring_driver *d)
{
	free(d->tokens);
	free(d->chain_len);
	free(d->order);
	free(d->in_len);
	d->tokens = NULL;
	d->chain_len = NULL;
	d->order = NULL;
	d->in_len = NULL;
}

int hl_vring_driver_set_indirect(struct hl_vring_driver *d, void *va, uint64_t gpa,
				 unsigned max_entries)
{
	if (!(d->features & HL_VIRTIO_BIT(HL_VIRTIO_RING_F_INDIRECT_DESC)))
		return hl_error(-EINVAL, "vring_driver: indirect tables without INDIRECT_DESC");
	if (va == NULL || (uintptr_t)va % 16 || gpa % 16 || max_entries < 2 ||
	    max_entries > HL_VRING_MAX_SIZE)
		return hl_error(-EINVAL, "vring_driver: indirect va/gpa not 16-aligned or "
				"max_entries %u not in [2, %u]", max_entries, HL_VRING_MAX_SIZE);
	d->indirect_va = va;
	d->indirect_gpa = gpa;
	d->indirect_max = max_entries;
	return 0;
}

static void fill(struct hl_vring_desc *t, uint16_t i, const struct hl_drv_buf *b, bool write,
		 bool more, uint16_t next)
{
	t[i].addr = b->addr;
	t[i].len = b->len;
	t[i].flags = (uint16_t)((write ? HL_VRING_DESC_F_WRITE : 0) |
				(more ? HL_VRING_DESC_F_NEXT : 0));
	t[i].next = more ? next : 0;
}

int hl_vring_driver_add(struct hl_vring_driver *d, const struct hl_drv_buf *bufs,
			unsigned nr_out, unsigned nr_in, void *token)
{
	unsigned total = nr_out + nr_in;
	uint16_t head, i;

	if (d->broken)
		return -EIO;
	if (token == NULL || bufs == NULL || total == 0 || total < nr_out)
		return hl_error(-EINVAL, "vring_driver: add needs a token and at least one buffer");
	head = d->free_head;
	if (total > 1 && d->indirect_va && total <= d->indirect_max && d->num_free >= 1) {
		struct hl_vring_desc *t = d->indirect_va + (uint64_t)head * d->indirect_max;
		for (unsigned k = 0; k < total; k++)
			fill(t, (uint16_t)k, &bufs[k], k >= nr_out, k + 1 < total, (uint16_t)(k + 1));
		d->free_head = d->desc[head].next;
		d->desc[head].addr = d->indirect_gpa + (uint64_t)head * d->indirect_max * 16;
		d->desc[head].len = total * 16;
		d->desc[head].flags = HL_VRING_DESC_F_INDIRECT;
		d->desc[head].next = 0;
		d->num_free--;
		d->chain_len[head] = 1;
	} else {
		if (total > d->num_free)
			return -ENOSPC;
		i = head;
		for (unsigned k = 0; k < total; k++) {
			uint16_t next = d->desc[i].next; /* free-list link, our own */
			fill(d->desc, i, &bufs[k], k >= nr_out, k + 1 < total, next);
			if (k + 1 < total)
				i = next;
			else
				d->free_head = next;
		}
		d->num_free = (uint16_t)(d->num_free - total);
		d->chain_len[head] = (uint16_t)total;
	}
	d->tokens[head] = token;
	if (d->in_order) {
		uint32_t w = 0;
		for (unsigned k = nr_out; k < total; k++)
			w += bufs[k].len;
		d->order[d->avail_idx & d->mask] = head;
		d->in_len[head] = w;
	}
	d->avail->ring[d->avail_idx & d->mask] = head;
	d->avail_idx++;
	/* Release: descriptors and ring entry before the index that exposes them. */
	__atomic_store_n(&d->avail->idx, d->avail_idx, __ATOMIC_RELEASE);
	return 0;
}

bool hl_vring_driver_kick_needed(struct hl_vring_driver *d)
{
	uint16_t old = d->kicked_avail, new_idx = d->avail_idx;

	/* Full barrier: avail->idx visible before we read the device's wishes. */
	hl_smp_mb();
	d->kicked_avail = new_idx;
	if (old == new_idx)
		return false;
	if (d->event_idx)
		return hl_vring_need_event(*hl_vring_avail_event(d->used, d->num), new_idx, old);
	return !(__atomic_load_n(&d->used->flags, __ATOMIC_RELAXED) & HL_VRING_USED_F_NO_NOTIFY);
}

void *hl_vring_driver_get_used(struct hl_vring_driver *d, uint32_t *len)
{
	struct hl_vring_used_elem e;
	uint16_t idx, i;
	void *token;

	if (d->broken)
		return NULL;
	if (d->in_order && d->batch_left > 0) {
		e.id = d->order[d->last_used_idx & d->mask];
		e.len = --d->batch_left == 0 ? d->batch_len : d->in_len[e.id];
		goto take;
	}
	/* Acquire: the element is visible once the index says so. */
	idx = __atomic_load_n(&d->used->idx, __ATOMIC_ACQUIRE);
	if (idx == d->last_used_idx)
		return NULL;
	const volatile struct hl_vring_used_elem *s = &d->used->ring[d->last_used_idx & d->mask];
	e.id = s->id;
	e.len = s->len;
	if (d->in_order && e.id < d->num) {
		/* the batch runs from the next chain in flight to the one named, within what idx published */
		uint16_t ahead = (uint16_t)(idx - d->last_used_idx), k = 0;
		uint16_t flying = (uint16_t)(d->avail_idx - d->last_used_idx);
		if (ahead > flying)
			ahead = flying; /* an idx past what we made available names nothing more */
		while (k < ahead && d->order[(uint16_t)(d->last_used_idx + k) & d->mask] != e.id)
			k++;
		if (k == ahead) {
			d->broken = true;
			HL_LOG_ERR("vring_driver: in order, the device returned id %u, which is not among the %u "
				   "chains it published: queue stopped", e.id, ahead);
			return NULL;
		}
		d->batch_len = e.len;
		d->batch_left = k; /* after this one */
		d->skipped += k;
		e.id = d->order[d->last_used_idx & d->mask];
		if (k > 0)
			e.len = d->in_len[e.id];
	}
take:
	if (e.id >= d->num || d->tokens[e.id] == NULL) {
		d->broken = true;
		HL_LOG_ERR("vring_driver: device returned id %u which is not in flight "
			   "(num %u): queue stopped", e.id, d->num);
		return NULL;
	}
	d->last_used_idx++;
	token = d->tokens[e.id];
	d->tokens[e.id] = NULL;
	/* Splice the chain back onto the free list. */
	i = (uint16_t)e.id;
	for (unsigned k = 1; k < d->chain_len[e.id]; k++)
		i = d->desc[i].next;
	d->desc[i].next = d->free_head;
	d->free_head = (uint16_t)e.id;
	d->num_free = (uint16_t)(d->num_free + d->chain_len[e.id]);
	if (d->event_idx && d->interrupts)
		__atomic_store_n(hl_vring_used_event(d->avail, d->num), d->last_used_idx,
				 __ATOMIC_RELAXED);
	if (len)
		*len = e.len;
	return token;
}

void hl_vring_driver_set_interrupt(struct hl_vring_driver *d, bool enable)
{
	d->interrupts = enable;
	if (d->event_idx) {
		if (enable)
			*hl_vring_used_event(d->avail, d->num) = d->last_used_idx;
	} else {
		d->avail->flags = enable ? 0 : HL_VRING_AVAIL_F_NO_INTERRUPT;
	}
	hl_smp_mb();
}
