/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device (back-end) side of a virtio split virtqueue.
 *
 * The ring lives in guest memory; the guest may write anything into the
 * descriptor table, the avail ring (flags, idx, ring[], used_event) at any
 * moment, even while we read them. So:
 *   - last_avail_idx and last_used_idx are device-owned shadow copies; the
 *     device never reads them back from guest memory;
 *   - avail->idx is read once per hl_vring_avail_count() (acquire) and
 *     checked: more than num new entries means a broken driver, and the queue
 *     is marked broken (nothing more is taken from it until reset);
 *   - every descriptor is read once into a local copy before it is checked
 *     and used (no double fetch);
 *   - a chain that fails a check is refused and counted; the caller still
 *     returns its head on the used ring with len 0, so the guest gets every
 *     buffer back and one bad chain does not stop the queue.
 * The device writes only the used ring (elements, idx, flags) and avail_event.
 *
 * Typical loop (one thread per queue; no locks, no syscalls, no allocation):
 *
 *     unsigned n = hl_vring_avail_count(vr);
 *     while (n--) {
 *             uint16_t head = hl_vring_pop_avail(vr);
 *             if (hl_vring_walk(vr, mem, head, iov, N, &ch) < 0) {
 *                     hl_vring_put_used(vr, head, 0);
 *                     continue;
 *             }
 *             ... copy to/from iov ...
 *             hl_vring_put_used(vr, head, bytes_written);
 *     }
 *     hl_vring_flush_used(vr);
 *     if (hl_vring_need_notify(vr))
 *             ... interrupt the guest ...
 */
#ifndef HUGELINK_VRING_SPLIT_H
#define HUGELINK_VRING_SPLIT_H

#include <stdbool.h>
#include <stdint.h>

#include <hugelink/common.h>
#include <hugelink/guest_mem.h>
#include <hugelink/virtio_ring.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One piece of a chain, in host memory. */
struct hl_iov {
	void *base;
	uint32_t len;
};

/* A walked chain: iov[0, nr_out) device-readable, then nr_in device-writable. */
struct hl_chain {
	uint16_t head;
	uint16_t ndesc;   /* descriptors visited, indirect ones included */
	uint32_t nr_out;
	uint32_t nr_in;
	uint32_t out_len; /* bytes readable by the device */
	uint32_t in_len;  /* bytes writable by the device */
};

/* Why chains (or the queue) were refused. Written by the device thread only. */
struct hl_vring_stats {
	uint64_t bad_avail_idx;  /* avail->idx ran more than num ahead: queue broken */
	uint64_t bad_desc_index; /* head or next >= num (or >= indirect table size) */
	uint64_t loop;           /* chain longer than num / than its indirect table */
	uint64_t bad_indirect;   /* nested, with NEXT, bad len, table outside memory */
	uint64_t bad_addr;       /* buffer not inside guest memory (incl. u64 wrap) */
	uint64_t len_overflow;   /* chain total over UINT32_MAX */
	uint64_t bad_order;      /* device-readable descriptor after a writable one */
	uint64_t too_many_iov;   /* chain needs more than max_iov pieces */
	uint64_t bad_used;       /* put_used with the used ring already full */
	uint64_t chains;         /* chains walked successfully */
};

struct hl_vring {
	/* read-mostly: set at init */
	struct hl_vring_desc *desc;   /* guest memory, driver-written */
	struct hl_vring_avail *avail; /* guest memory, driver-written */
	struct hl_vring_used *used;   /* guest memory, device-written */
	uint16_t num;
	uint16_t mask;
	bool event_idx; /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;  /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	uint64_t features;

	/* device-owned state */
	uint16_t last_avail_idx; /* next avail slot to take (shadow, never read back) */
	uint16_t last_used_idx;  /* next used slot to fill (shadow) */
	uint16_t used_flushed;   /* used->idx as last published */
	uint16_t signalled_used; /* used idx at the last need_notify decision */
	bool broken;             /* set once; nothing is taken any more */
	struct hl_vring_stats stats;
};

/* Bytes of each ring part for `num` entries, event-index words included. */
static inline uint64_t hl_vring_desc_bytes(unsigned num) { return HL_VRING_DESC_SIZE(num); }
static inline uint64_t hl_vring_avail_bytes(unsigned num) { return HL_VRING_AVAIL_SIZE(num); }
static inline uint64_t hl_vring_used_bytes(unsigned num) { return HL_VRING_USED_SIZE(num); }

/*
 * Attach to a ring already mapped in this process. num must be a power of
 * two <= 32768; desc, avail and used aligned as the spec says (-EINVAL).
 * Indices start at 0 (a fresh queue); set last_avail_idx / last_used_idx
 * afterwards to resume (vhost-user SET_VRING_BASE).
 */
int hl_vring_init(struct hl_vring *vr, unsigned num, void *desc, void *avail, void *used,
		  uint64_t features);

/*
 * Same, with the three parts given as guest-physical addresses; each part
 * must be inside guest memory and contiguous in the host (-EINVAL/-EFAULT).
 */
int hl_vring_init_gpa(struct hl_vring *vr, const struct hl_guest_mem *m, unsigned num,
		      uint64_t desc_gpa, uint64_t avail_gpa, uint64_t used_gpa,
		      uint64_t features);

/*
 * Resume at given indices (vhost-user SET_VRING_BASE, or after a reconnect:
 * the used idx is then the one in guest memory). Clears `broken`.
 */
void hl_vring_set_base(struct hl_vring *vr, uint16_t last_avail_idx, uint16_t last_used_idx);

/* Number of chains the driver has made available and we have not taken. */
unsigned hl_vring_avail_count(struct hl_vring *vr);

/*
 * Take the next available head. Only call it as many times as the last
 * hl_vring_avail_count() allowed. The head is the guest's value, unchecked;
 * hl_vring_walk() checks it.
 */
static inline uint16_t hl_vring_pop_avail(struct hl_vring *vr)
{
	uint16_t slot = vr->last_avail_idx++ & vr->mask;
	return __atomic_load_n(&vr->avail->ring[slot], __ATOMIC_RELAXED);
}

/*
 * Start loading the descriptors of the next `count` available heads (at most
 * what hl_vring_avail_count() allowed), so that their cache misses (the
 * driver's core wrote them) overlap instead of coming one chain at a time.
 * A hint only: the heads read here decide nothing (masked, they cannot point
 * outside the table); each is popped and checked again when its turn comes.
 */
static inline void hl_vring_prefetch_avail(const struct hl_vring *vr, unsigned count)
{
	for (unsigned k = 0; k < count; k++) {
		uint16_t slot = (uint16_t)(vr->last_avail_idx + k) & vr->mask;
		uint16_t head = __atomic_load_n(&vr->avail->ring[slot], __ATOMIC_RELAXED);
		__builtin_prefetch(&vr->desc[head & vr->mask]);
	}
}

/*
 * Follow the chain at `head` (NEXT and INDIRECT), translate each descriptor
 * into host iovs (split where guest memory is not contiguous in the host).
 * Returns 0, or refuses the chain, counting why:
 *   -EINVAL     index out of range, readable after writable, bad indirect
 *   -ELOOP      more descriptors than num (or than the indirect table)
 *   -EFAULT     a buffer or indirect table not inside guest memory
 *   -EOVERFLOW  total length over UINT32_MAX
 *   -ENOBUFS    more than max_iov pieces
 *   -EIO        the queue is broken
 * Refusals log at debug level only: a hostile guest must not flood the log.
 */
int hl_vring_walk(struct hl_vring *vr, const struct hl_guest_mem *mem, uint16_t head,
		  struct hl_iov *iov, unsigned max_iov, struct hl_chain *out);

/*
 * Queue a used element (not yet visible to the guest). `id` is echoed back
 * as the guest gave it. -ENOSPC (counted) if num elements are already
 * pending since the last flush.
 */
int hl_vring_put_used(struct hl_vring *vr, uint32_t id, uint32_t len);

/*
 * VIRTIO_F_IN_ORDER: `count` chains, the next ones in the order they were
 * made available, go back with one used element, written where the first
 * of them would go and naming the last (`last_id`, `len` bytes written into
 * it); the used idx moves by count. The driver takes the others as wholly
 * used, so only chains the device wrote nothing into (or filled) may be
 * batched. -ENOSPC (counted) if that would pass num unpublished.
 */
int hl_vring_put_used_batch(struct hl_vring *vr, uint32_t last_id, uint32_t len, uint16_t count);
/* Publish the queued used elements: release-store used->idx. */
void hl_vring_flush_used(struct hl_vring *vr);

/*
 * After a flush: should the guest be interrupted? Honours avail->flags
 * NO_INTERRUPT, or with EVENT_IDX the used_event the guest wrote. Remembers
 * the used idx it decided on, so call it once per flush.
 */
bool hl_vring_need_notify(struct hl_vring *vr);

/*
 * Ask the guest to kick us (enable) or not. With EVENT_IDX, enable writes
 * avail_event = last_avail_idx and disable does nothing (the stale event
 * already suppresses kicks); without, it sets/clears used->flags NO_NOTIFY.
 * Enabling ends with a full barrier: re-check hl_vring_avail_count() after
 * it, or a kick sent in between is lost.
 */
void hl_vring_set_notify(struct hl_vring *vr, bool enable);

#ifdef __cplusplus
}
#endif
#endif
