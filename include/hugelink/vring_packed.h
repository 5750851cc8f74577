/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device (back-end) side of a virtio packed virtqueue (VIRTIO_F_RING_PACKED).
 *
 * One ring of descriptors in guest memory that both sides write, plus two
 * event suppression words: the driver's (read here) and the device's
 * (written here). The guest may write anything anywhere in the ring at any
 * moment, so:
 *   - the device's positions (next descriptor to take, next used slot) and
 *     wrap counters are device-owned shadows, never read back;
 *   - a descriptor is taken only when its AVAIL bit equals our avail wrap
 *     counter and its USED bit does not; the first descriptor of a chain is
 *     read with acquire, and each descriptor once into a local copy;
 *   - a chain is the run of consecutive available descriptors up to the
 *     first without NEXT, at most num long; one that runs into a descriptor
 *     not available, or past num, has no end we can trust: the queue is
 *     marked broken (nothing more is taken until it is set up again);
 *   - any other bad chain (address, length, order, indirect table, buffer
 *     id) is refused and counted, with its id and extent known, so the
 *     caller returns it used with len 0 and the guest gets it back;
 *   - used descriptors are never written past what was taken: the device
 *     only overwrites descriptors it has consumed.
 * Used descriptors are written in completion order, one per chain, each
 * skipping the ring slots its chain took; with VIRTIO_F_IN_ORDER one may
 * stand for a run of chains (the last one's id, all their slots). Their flags (what makes them
 * visible) are published by hl_vring_packed_flush_used(), the first of the
 * batch last, so the driver sees a burst at once.
 *
 * Typical loop (one thread per queue; no locks, syscalls or allocation):
 *
 *     while (n < burst && (rc = hl_vring_packed_walk(vr, mem, iov, N, &ch)) != -EAGAIN) {
 *             if (rc == -EIO)
 *                     break;                     // broken: nothing more
 *             ... rc == 0: copy to/from iov ...
 *             hl_vring_packed_put_used(vr, ch.head, rc == 0 ? written : 0, ch.ndesc);
 *     }
 *     hl_vring_packed_flush_used(vr);
 *     if (hl_vring_packed_need_notify(vr))
 *             ... interrupt the guest ...
 */
#ifndef HUGELINK_VRING_PACKED_H
#define HUGELINK_VRING_PACKED_H

#include <stdbool.h>
#include <stdint.h>

#include <hugelink/common.h>
#include <hugelink/guest_mem.h>
#include <hugelink/virtio_ring.h>
#include <hugelink/vring_split.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Used descriptors held back for one publication (more are published as they come). */
#define HL_VRING_PACKED_BATCH 64

struct hl_vring_packed {
	/* read-mostly: set at init */
	struct hl_vring_packed_desc *desc;               /* guest memory, both sides write */
	const struct hl_vring_packed_event *driver_event; /* guest memory, driver-written */
	struct hl_vring_packed_event *device_event;       /* guest memory, device-written */
	uint16_t num;
	bool event_idx; /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;  /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	uint64_t features;

	/* device-owned state */
	uint16_t avail_idx; /* next descriptor to take */
	bool avail_wrap;
	uint16_t used_idx;  /* next used descriptor to write */
	bool used_wrap;
	uint16_t in_flight;  /* ring slots taken and not yet used */
	uint32_t used_total; /* slots used since init, free-running: for notification decisions */
	uint32_t signalled_total;
	uint16_t npend;      /* used descriptors written, their flags not yet */
	uint16_t pend_idx[HL_VRING_PACKED_BATCH];
	uint16_t pend_flags[HL_VRING_PACKED_BATCH];
	bool broken;
	struct hl_vring_stats stats;
};

/* Bytes of the descriptor ring for `num` entries. */
static inline uint64_t hl_vring_packed_desc_bytes(unsigned num)
{
	return (uint64_t)num * sizeof(struct hl_vring_packed_desc);
}

/*
 * Attach to a ring mapped in this process: num in 1..32768 (packed rings
 * need not be a power of two), desc 16-byte and the event words 4-byte
 * aligned (-EINVAL otherwise). Both wrap counters start at 1, positions at
 * 0: a fresh queue. hl_vring_packed_set_base() resumes elsewhere.
 */
int hl_vring_packed_init(struct hl_vring_packed *vr, unsigned num, void *desc, void *driver_event,
			 void *device_event, uint64_t features);

/*
 * Same, with guest-physical addresses (vhost-user SET_VRING_ADDR: desc,
 * then the driver area, then the device area); each part must be inside
 * guest memory and contiguous in the host (-EFAULT).
 */
int hl_vring_packed_init_gpa(struct hl_vring_packed *vr, const struct hl_guest_mem *m, unsigned num,
			     uint64_t desc_gpa, uint64_t driver_gpa, uint64_t device_gpa, uint64_t features);

/*
 * vhost-user SET_VRING_BASE / GET_VRING_BASE for packed rings: the next
 * descriptor to take in bits 0-14, its wrap counter in bit 15. Used
 * descriptors resume at the same place (whatever was in flight was returned
 * before the queue stopped). -EINVAL if the position is not below num.
 */
int hl_vring_packed_set_base(struct hl_vring_packed *vr, uint16_t state);
uint16_t hl_vring_packed_get_base(const struct hl_vring_packed *vr);

/* Is a descriptor available at our position (a hint: the walk checks again)? */
static inline bool hl_vring_packed_avail(const struct hl_vring_packed *vr)
{
	uint16_t f = __atomic_load_n(&vr->desc[vr->avail_idx].flags, __ATOMIC_ACQUIRE);
	return !vr->broken && !!(f & HL_VRING_PACKED_DESC_F_AVAIL) == vr->avail_wrap &&
	       !!(f & HL_VRING_PACKED_DESC_F_USED) != vr->avail_wrap;
}

/*
 * How many descriptors in a row, from our position, are available (at most
 * max): an upper bound on the chains a burst can take, each at least one
 * slot. A hint like hl_vring_packed_avail(): the walk decides.
 */
static inline unsigned hl_vring_packed_avail_slots(const struct hl_vring_packed *vr, unsigned max)
{
	unsigned i = vr->avail_idx, k;
	bool wrap = vr->avail_wrap;

	if (vr->broken)
		return 0;
	for (k = 0; k < max; k++) {
		uint16_t f = __atomic_load_n(&vr->desc[i].flags, __ATOMIC_ACQUIRE);
		if (!!(f & HL_VRING_PACKED_DESC_F_AVAIL) != wrap || !!(f & HL_VRING_PACKED_DESC_F_USED) == wrap)
			break;
		if (++i == vr->num) {
			i = 0;
			wrap = !wrap;
		}
	}
	return k;
}

/*
 * Start loading the next `count` descriptors (four to a cache line), so
 * their misses overlap instead of coming one chain at a time.
 */
static inline void hl_vring_packed_prefetch(const struct hl_vring_packed *vr, unsigned count)
{
	for (unsigned k = 0; k < count; k += 4) {
		unsigned i = vr->avail_idx + k;
		__builtin_prefetch(&vr->desc[i < vr->num ? i : i - vr->num]);
	}
}

/*
 * Take the chain at our position: its elements as host iovs (readable then
 * writable), its buffer id in out->head and the ring slots it took in
 * out->ndesc (what hl_vring_packed_put_used() must skip). Returns:
 *   0           the chain, checked
 *   -EAGAIN     nothing available (not counted)
 *   -EIO        the queue is (now) broken: nothing was taken
 *   -EINVAL, -EFAULT, -EOVERFLOW, -ENOBUFS  the chain is refused, counted
 *               as for split rings; out->head and out->ndesc are valid and
 *               the chain must still be returned (len 0)
 */
int hl_vring_packed_walk(struct hl_vring_packed *vr, const struct hl_guest_mem *mem, struct hl_iov *iov,
			 unsigned max_iov, struct hl_chain *out);

/*
 * Queue a used descriptor for buffer `id` whose chain took `slots` ring
 * slots (out->ndesc of its walk), `len` bytes written. Not visible to the
 * driver until flushed (a full batch is flushed here). -ENOSPC (counted in
 * bad_used) if more slots than were taken.
 */
int hl_vring_packed_put_used(struct hl_vring_packed *vr, uint16_t id, uint32_t len, uint16_t slots);

/* Publish the queued used descriptors (their flags; the batch's first last, release). */
void hl_vring_packed_flush_used(struct hl_vring_packed *vr);

/*
 * Ask the guest to kick us (enable) or not: the device event word, with
 * EVENT_IDX for our next position. Enabling ends with a full barrier:
 * re-check hl_vring_packed_avail() after it, or a kick sent in between is
 * lost.
 */
void hl_vring_packed_set_notify(struct hl_vring_packed *vr, bool enable);

/*
 * After a flush: should the guest be interrupted? Honours the driver's
 * event suppression (ENABLE, DISABLE, or with EVENT_IDX a descriptor
 * position and wrap). Remembers what it decided on: once per flush.
 */
bool hl_vring_packed_need_notify(struct hl_vring_packed *vr);

#ifdef __cplusplus
}
#endif
#endif
