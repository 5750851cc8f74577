/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Driver (front-end) side of a virtio split virtqueue: what a guest kernel's
 * virtio driver does, for hugelink's own vhost-user front-end and for tests.
 *
 * The ring sits in caller-provided memory laid out as the spec says
 * (hl_vring_size(num) bytes: desc, avail, then used at a 4-byte boundary).
 * The driver writes the descriptor table, avail ring and used_event; the
 * device writes the used ring and avail_event. Driver-owned shadows
 * (avail_idx, last_used_idx, the free list, tokens) are never read back from
 * shared memory. A used element naming a head that is not in flight marks
 * the queue broken rather than corrupting the free list.
 *
 * Buffer addresses are device-visible addresses (guest-physical), given by
 * the caller; this code never touches buffer contents.
 *
 * One thread per queue; add/get_used do not allocate. init allocates the
 * per-descriptor bookkeeping (control path) and fini frees it.
 */
#ifndef HUGELINK_VRING_DRIVER_H
#define HUGELINK_VRING_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include <hugelink/common.h>
#include <hugelink/virtio_ring.h>

#ifdef __cplusplus
extern "C" {
#endif

struct hl_drv_buf {
	uint64_t addr; /* device-visible (guest-physical) address */
	uint32_t len;
};

struct hl_vring_driver {
	struct hl_vring_desc *desc;
	struct hl_vring_avail *avail;
	struct hl_vring_used *used;
	uint16_t num;
	uint16_t mask;
	bool event_idx;
	bool interrupts; /* caller wants used-buffer interrupts */
	bool broken;
	uint64_t features;

	uint16_t free_head;    /* first free descriptor, chained through desc[].next */
	uint16_t num_free;
	uint16_t avail_idx;    /* shadow of avail->idx (driver-owned) */
	uint16_t kicked_avail; /* avail idx at the last kick decision */
	uint16_t last_used_idx; /* next used slot to read */

	/* per head: the caller's token (NULL: not in flight) and chain length */
	void **tokens;
	uint16_t *chain_len;
	/*
	 * VIRTIO_F_IN_ORDER in features: the device may return a batch with one
	 * used element naming its last chain. The heads in the order they were
	 * made available (by avail idx), each one's writable bytes (what a
	 * chain the element skipped counts as written), and the batch being
	 * handed out.
	 */
	bool in_order;
	uint16_t *order;
	uint32_t *in_len;
	uint16_t batch_left; /* chains of the current batch still to hand out */
	uint32_t batch_len;  /* what the element said of the batch's last chain */
	uint64_t skipped;    /* chains returned by a batch entry naming a later chain */

	/* optional indirect tables: one of `indirect_max` entries per head */
	struct hl_vring_desc *indirect_va;
	uint64_t indirect_gpa;
	unsigned indirect_max;
};

/* Bytes for a split ring of `num` entries laid out by hl_vring_driver_init(). */
uint64_t hl_vring_size(unsigned num);

/* Offsets of avail and used inside that layout. */
uint64_t hl_vring_avail_offset(unsigned num);
uint64_t hl_vring_used_offset(unsigned num);

/*
 * Lay out (and zero) a ring of `num` entries (power of two <= 32768) in
 * `mem`, 16-byte aligned, hl_vring_size(num) bytes. features: the
 * negotiated bits (EVENT_IDX is used; INDIRECT needs set_indirect too).
 */
int hl_vring_driver_init(struct hl_vring_driver *d, void *mem, unsigned num, uint64_t features);
void hl_vring_driver_fini(struct hl_vring_driver *d);

/*
 * Use indirect tables for multi-buffer adds: `va` (16-byte aligned,
 * device-visible at `gpa`) holds num tables of `max_entries` descriptors,
 * num * max_entries * 16 bytes. Needs INDIRECT_DESC in features.
 */
int hl_vring_driver_set_indirect(struct hl_vring_driver *d, void *va, uint64_t gpa,
				 unsigned max_entries);

/*
 * Make nr_out device-readable then nr_in device-writable buffers available
 * as one chain, identified by `token` (not NULL) when it comes back.
 * -ENOSPC if not enough free descriptors, -EINVAL on bad arguments.
 */
int hl_vring_driver_add(struct hl_vring_driver *d, const struct hl_drv_buf *bufs,
			unsigned nr_out, unsigned nr_in, void *token);

/* Must the device be kicked for what was added since the last call? */
bool hl_vring_driver_kick_needed(struct hl_vring_driver *d);

/*
 * Next chain the device is done with: its token, and in *len the bytes the
 * device says it wrote. NULL if none (or the queue is broken). With
 * IN_ORDER, a used element whose id is a later chain than the next one in
 * flight returns every chain up to it, one a call, in order; one whose id
 * is no chain in flight at all breaks the queue.
 */
void *hl_vring_driver_get_used(struct hl_vring_driver *d, uint32_t *len);

/*
 * Ask for interrupts or not: avail->flags NO_INTERRUPT, or with EVENT_IDX
 * used_event (= the next used idx when enabling). After enabling, check
 * get_used again: the device may have used a buffer meanwhile.
 */
void hl_vring_driver_set_interrupt(struct hl_vring_driver *d, bool enable);

#ifdef __cplusplus
}
#endif
#endif
