/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device side of a split virtqueue: take available chains, walk and check
 * them, return them on the used ring, decide on notifications.
 *
 * Trust: the descriptor table, the avail ring and any indirect table are
 * guest memory the guest may rewrite concurrently. Each descriptor is loaded
 * once into a local (volatile loads, so the compiler cannot re-read it), and
 * only the local copy is checked and used. Indices we keep (last_avail_idx,
 * last_used_idx, used_flushed, signalled_used) are device-owned and never
 * read back from guest memory. We write: used ring elements, used->idx,
 * used->flags and avail_event; nothing else.
 *
 * Every path is bounded: a chain visits at most num descriptors in the
 * table plus, for its one indirect table, at most that table's size; each
 * descriptor's translation is bounded by the u32 chain length. One thread
 * owns a queue; there are no locks, syscalls (refusals log at debug level,
 * which is filtered before formatting) or allocation here.
 *
 * Order: hot path first (avail, walk, used, notify), helpers after their
 * callers, set-up at the end.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <hugelink/vring_split.h>

#include "vring_walk_pvt.h"

/* Where descriptors are read from: the ring's table or an indirect table. */
struct table {
	const struct hl_vring_desc *host; /* NULL: read entry by entry from gpa */
	uint64_t gpa;
	uint32_t size; /* entries */
};

static bool fetch_desc(const struct hl_walk *w, const struct table *t, uint32_t i,
		       struct hl_vring_desc *d);
static int enter_indirect(struct hl_walk *w, struct hl_vring *vr, uint16_t head,
			  const struct hl_vring_desc *d, bool nested, struct table *t);

/* Count, log quietly, return err (see hl__walk_refuse). */
static inline int refuse(struct hl_vring *vr, uint64_t *counter, int err, uint16_t head,
			 const char *why, uint64_t v1, uint64_t v2)
{
	return hl__walk_refuse(vr, counter, err, head, why, v1, v2);
}

unsigned hl_vring_avail_count(struct hl_vring *vr)
{
	uint16_t idx, n;

	if (hl_unlikely(vr->broken))
		return 0;
	/* Acquire: ring[] entries the driver wrote before idx are visible after. */
	idx = __atomic_load_n(&vr->avail->idx, __ATOMIC_ACQUIRE);
	n = (uint16_t)(idx - vr->last_avail_idx);
	if (hl_unlikely(n > vr->num)) {
		/*
		 * Cannot be a driver with num buffers at most in flight: no way
		 * to tell which entries are real, so stop the queue until reset.
		 */
		vr->broken = true;
		vr->stats.bad_avail_idx++;
		HL_LOG_ERR("vring: avail->idx %u is %u ahead of last_avail_idx %u, more than the "
			   "queue size %u: driver bug or hostile guest, queue stopped",
			   idx, n, vr->last_avail_idx, vr->num);
		return 0;
	}
	return n;
}

/*
 * The shape nearly every chain has: one direct descriptor whose buffer is
 * one host-contiguous piece of guest memory (within a page, or across one
 * page boundary into the next page of the same mapping). Fills the chain
 * and returns true only then; anything else (and every refusal) is left to
 * the general walk, which applies the full checks to the same copy.
 */
static inline bool walk_one(struct hl_vring *vr, const struct hl_guest_mem *mem,
			    const struct hl_vring_desc *d, struct hl_iov *iov, unsigned max_iov,
			    struct hl_chain *out)
{
	const struct hl_xlate *x = &mem->gpa2hva;
	uint64_t addr = d->addr, len = d->len, page = x->page_mask + 1;

	if ((d->flags & (HL_VRING_DESC_F_NEXT | HL_VRING_DESC_F_INDIRECT)) || len == 0 ||
	    max_iov == 0 || len > page || addr > UINT64_MAX - len)
		return false;
	uint64_t h = hl_xlate(x, addr);
	uint64_t in_page = page - (addr & x->page_mask);
	if (h == HL_BAD_ADDR || (len > in_page && hl_xlate(x, addr + in_page) != h + in_page))
		return false;
	bool writable = d->flags & HL_VRING_DESC_F_WRITE;
	iov[0].base = (void *)(uintptr_t)h;
	iov[0].len = (uint32_t)len;
	vr->stats.chains++;
	out->ndesc = 1;
	out->nr_out = !writable;
	out->nr_in = writable;
	out->out_len = writable ? 0 : (uint32_t)len;
	out->in_len = writable ? (uint32_t)len : 0;
	return true;
}

int hl_vring_walk(struct hl_vring *vr, const struct hl_guest_mem *mem, uint16_t head,
		  struct hl_iov *iov, unsigned max_iov, struct hl_chain *out)
{
	struct hl_walk w = {.st = &vr->stats, .ring = vr, .mem = mem, .iov = iov, .max_iov = max_iov};
	struct table t = {.host = vr->desc, .size = vr->num};
	struct hl_vring_desc d;
	bool in_indirect = false, loaded;
	uint32_t i = head, count = 0, ndesc = 0;
	int rc;

	if (hl_unlikely(vr->broken))
		return -EIO;
	if (hl_unlikely(head >= vr->num))
		return refuse(vr, &vr->stats.bad_desc_index, -EINVAL, head,
			      "head index %llu >= queue size %llu", head, vr->num);
	fetch_desc(&w, &t, head, &d); /* the ring's own table: cannot fail */
	if (hl_likely(walk_one(vr, mem, &d, iov, max_iov, out))) {
		out->head = head;
		return 0;
	}
	/* The general walk goes on from this same copy: the head is read once. */
	loaded = true;
	for (;;) {
		/* Each entry visited at most once in a sane chain: more is a loop. */
		if (hl_unlikely(++count > t.size))
			return refuse(vr, &vr->stats.loop, -ELOOP, head,
				      "chain longer than its table (%llu entries, indirect %llu)",
				      t.size, in_indirect);
		if (loaded)
			loaded = false;
		else if (hl_unlikely(!fetch_desc(&w, &t, i, &d)))
			return refuse(vr, &vr->stats.bad_indirect, -EFAULT, head,
				      "indirect entry %llu at gpa 0x%llx unreadable", i,
				      t.gpa + 16ull * i);
		ndesc++;
		if (d.flags & HL_VRING_DESC_F_INDIRECT) {
			rc = enter_indirect(&w, vr, head, &d, in_indirect, &t);
			if (rc < 0)
				return rc;
			in_indirect = true;
			i = 0;
			count = 0;
			continue;
		}
		rc = hl__walk_add(&w, head, d.addr, d.len, d.flags & HL_VRING_DESC_F_WRITE);
		if (rc < 0)
			return rc;
		if (!(d.flags & HL_VRING_DESC_F_NEXT))
			break;
		i = d.next;
		if (hl_unlikely(i >= t.size))
			return refuse(vr, &vr->stats.bad_desc_index, -EINVAL, head,
				      "next index %llu >= table size %llu", i, t.size);
	}
	vr->stats.chains++;
	out->head = head;
	out->ndesc = (uint16_t)(ndesc > UINT16_MAX ? UINT16_MAX : ndesc);
	hl__walk_result(&w, out);
	return 0;
}

/* Check an INDIRECT descriptor and switch the walk to its table. */
static int enter_indirect(struct hl_walk *w, struct hl_vring *vr, uint16_t head,
			  const struct hl_vring_desc *d, bool nested, struct table *t)
{
	uint64_t contig = 0;
	void *p;

	if (hl_unlikely(!vr->indirect))
		return refuse(vr, &vr->stats.bad_indirect, -EINVAL, head,
			      "INDIRECT descriptor but the feature was not negotiated (%llu/%llu)",
			      d->flags, d->len);
	if (hl_unlikely(nested))
		return refuse(vr, &vr->stats.bad_indirect, -EINVAL, head,
			      "INDIRECT descriptor inside an indirect table (gpa 0x%llx len %llu)",
			      d->addr, d->len);
	if (hl_unlikely(d->flags & HL_VRING_DESC_F_NEXT))
		return refuse(vr, &vr->stats.bad_indirect, -EINVAL, head,
			      "INDIRECT descriptor with NEXT set (flags 0x%llx, next %llu)",
			      d->flags, d->next);
	/* The spec bounds any chain by the queue size; tables too, so walks stay short. */
	if (hl_unlikely(d->len == 0 || d->len % sizeof(struct hl_vring_desc) ||
			d->len / sizeof(struct hl_vring_desc) > HL_VRING_MAX_SIZE))
		return refuse(vr, &vr->stats.bad_indirect, -EINVAL, head,
			      "indirect table len %llu is 0, not a multiple of 16 or over %llu entries",
			      d->len, HL_VRING_MAX_SIZE);
	p = hl_gpa_to_hva(w->mem, d->addr, d->len, &contig);
	if (hl_unlikely(p == NULL))
		return refuse(vr, &vr->stats.bad_indirect, -EFAULT, head,
			      "indirect table gpa 0x%llx len %llu not in guest memory", d->addr,
			      d->len);
	/* Split across regions or misaligned: read it entry by entry (rare). */
	bool direct = contig == d->len && ((uintptr_t)p % _Alignof(struct hl_vring_desc)) == 0;
	t->host = direct ? p : NULL;
	t->gpa = d->addr;
	t->size = d->len / sizeof(struct hl_vring_desc);
	return 0;
}

static bool fetch_desc(const struct hl_walk *w, const struct table *t, uint32_t i,
		       struct hl_vring_desc *d)
{
	if (hl_likely(t->host != NULL)) {
		const volatile struct hl_vring_desc *s = &t->host[i];
		d->addr = s->addr;
		d->len = s->len;
		d->flags = s->flags;
		d->next = s->next;
		return true;
	}
	/* Entry by entry: the table was checked to be in guest memory, but map each piece. */
	return hl__walk_read_guest(w->mem, t->gpa + (uint64_t)i * sizeof(*d), d, sizeof(*d));
}

int hl_vring_put_used(struct hl_vring *vr, uint32_t id, uint32_t len)
{
	volatile struct hl_vring_used_elem *e;

	/* More than num unpublished would overwrite elements the guest has not seen. */
	if (hl_unlikely((uint16_t)(vr->last_used_idx - vr->used_flushed) >= vr->num)) {
		vr->stats.bad_used++;
		return -ENOSPC;
	}
	e = &vr->used->ring[vr->last_used_idx & vr->mask];
	e->id = id;
	e->len = len;
	vr->last_used_idx++;
	return 0;
}

int hl_vring_put_used_batch(struct hl_vring *vr, uint32_t last_id, uint32_t len, uint16_t count)
{
	if (count == 0)
		return 0;
	if (hl_unlikely((unsigned)(uint16_t)(vr->last_used_idx - vr->used_flushed) + count > vr->num)) {
		vr->stats.bad_used++;
		return -ENOSPC;
	}
	volatile struct hl_vring_used_elem *e = &vr->used->ring[vr->last_used_idx & vr->mask];
	e->id = last_id;
	e->len = len;
	vr->last_used_idx = (uint16_t)(vr->last_used_idx + count);
	return 0;
}

void hl_vring_flush_used(struct hl_vring *vr)
{
	/*
	 * Nothing new: no store. The driver polls used->idx, and a store of the
	 * same value still takes its cache line away from the driver's core, on
	 * every empty poll of a back-end waiting for room.
	 */
	if (vr->used_flushed == vr->last_used_idx)
		return;
	/* Release: the elements are visible before the index that exposes them. */
	__atomic_store_n(&vr->used->idx, vr->last_used_idx, __ATOMIC_RELEASE);
	vr->used_flushed = vr->last_used_idx;
}

bool hl_vring_need_notify(struct hl_vring *vr)
{
	uint16_t old = vr->signalled_used, new_idx = vr->used_flushed;

	if (old == new_idx)
		return false; /* nothing published since the last decision: no barrier either */
	/*
	 * Full barrier: our used->idx store must be visible before we read the
	 * guest's flags/used_event, or we and the guest can each miss the other.
	 */
	hl_smp_mb();
	vr->signalled_used = new_idx;
	if (vr->event_idx) {
		uint16_t event = *hl_vring_used_event(vr->avail, vr->num);
		return hl_vring_need_event(event, new_idx, old);
	}
	uint16_t flags = __atomic_load_n(&vr->avail->flags, __ATOMIC_RELAXED);
	return !(flags & HL_VRING_AVAIL_F_NO_INTERRUPT);
}

void hl_vring_set_notify(struct hl_vring *vr, bool enable)
{
	if (vr->event_idx) {
		if (!enable)
			return;
		*hl_vring_avail_event(vr->used, vr->num) = vr->last_avail_idx;
	} else {
		uint16_t f = enable ? 0 : HL_VRING_USED_F_NO_NOTIFY;
		__atomic_store_n(&vr->used->flags, f, __ATOMIC_RELAXED);
	}
	/* Our write must be seen before we re-read avail->idx (see header). */
	hl_smp_mb();
}

/* ---- set-up (control path) ---- */

int hl_vring_init(struct hl_vring *vr, unsigned num, void *desc, void *avail, void *used,
		  uint64_t features)
{
	memset(vr, 0, sizeof(*vr));
	if (!HL_IS_POW2(num) || num > HL_VRING_MAX_SIZE)
		return hl_error(-EINVAL, "vring: num %u is not a power of two <= %u", num,
				HL_VRING_MAX_SIZE);
	if (desc == NULL || (uintptr_t)desc % HL_VRING_DESC_ALIGN)
		return hl_error(-EINVAL, "vring: desc %p is NULL or not %u-byte aligned", desc,
				HL_VRING_DESC_ALIGN);
	if (avail == NULL || (uintptr_t)avail % HL_VRING_AVAIL_ALIGN)
		return hl_error(-EINVAL, "vring: avail %p is NULL or not %u-byte aligned", avail,
				HL_VRING_AVAIL_ALIGN);
	if (used == NULL || (uintptr_t)used % HL_VRING_USED_ALIGN)
		return hl_error(-EINVAL, "vring: used %p is NULL or not %u-byte aligned", used,
				HL_VRING_USED_ALIGN);
	vr->desc = desc;
	vr->avail = avail;
	vr->used = used;
	vr->num = (uint16_t)num; /* 32768 fits */
	vr->mask = (uint16_t)(num - 1);
	vr->features = features;
	vr->event_idx = features & HL_VIRTIO_BIT(HL_VIRTIO_RING_F_EVENT_IDX);
	vr->indirect = features & HL_VIRTIO_BIT(HL_VIRTIO_RING_F_INDIRECT_DESC);
	return 0;
}

int hl_vring_init_gpa(struct hl_vring *vr, const struct hl_guest_mem *m, unsigned num,
		      uint64_t desc_gpa, uint64_t avail_gpa, uint64_t used_gpa,
		      uint64_t features)
{
	static const char *const names[3] = {"desc", "avail", "used"};
	uint64_t gpa[3] = {desc_gpa, avail_gpa, used_gpa};
	uint64_t len[3] = {hl_vring_desc_bytes(num), hl_vring_avail_bytes(num),
			   hl_vring_used_bytes(num)};
	void *hva[3];

	memset(vr, 0, sizeof(*vr));
	if (!HL_IS_POW2(num) || num > HL_VRING_MAX_SIZE)
		return hl_error(-EINVAL, "vring: num %u is not a power of two <= %u", num,
				HL_VRING_MAX_SIZE);
	for (int i = 0; i < 3; i++) {
		uint64_t contig = 0;
		hva[i] = hl_gpa_to_hva(m, gpa[i], len[i], &contig);
		if (hva[i] == NULL)
			return hl_error(-EFAULT, "vring: %s gpa 0x%llx (%llu bytes) not in guest memory",
					names[i], (unsigned long long)gpa[i],
					(unsigned long long)len[i]);
		if (contig != len[i])
			return hl_error(-EINVAL, "vring: %s gpa 0x%llx spans regions mapped apart",
					names[i], (unsigned long long)gpa[i]);
	}
	return hl_vring_init(vr, num, hva[0], hva[1], hva[2], features);
}

void hl_vring_set_base(struct hl_vring *vr, uint16_t last_avail_idx, uint16_t last_used_idx)
{
	vr->last_avail_idx = last_avail_idx;
	vr->last_used_idx = last_used_idx;
	vr->used_flushed = last_used_idx;
	vr->signalled_used = last_used_idx;
	vr->broken = false;
}
