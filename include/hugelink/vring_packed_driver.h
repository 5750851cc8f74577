/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Driver (front-end) side of a virtio packed virtqueue: what a guest
 * kernel's virtio driver does with VIRTIO_F_RING_PACKED, for hugelink's own
 * front-end and for tests.
 *
 * The ring sits in caller-provided memory: the descriptor ring (16 bytes an
 * entry), then the driver event word, then the device event word
 * (hl_vring_packed_size(num) bytes, 16-byte aligned). The driver writes
 * available descriptors and its event word; the device writes used
 * descriptors and its event word. Driver-owned shadows (positions, wrap
 * counters, the free id list, tokens and the slots each id took) are never
 * read back. A used descriptor naming an id that is not in flight marks the
 * queue broken rather than corrupting the free list.
 *
 * One thread per queue; add/get_used do not allocate. init allocates the
 * per-id bookkeeping (control path) and fini frees it.
 */
#ifndef HUGELINK_VRING_PACKED_DRIVER_H
#define HUGELINK_VRING_PACKED_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include <hugelink/common.h>
#include <hugelink/virtio_ring.h>
#include <hugelink/vring_driver.h>

#ifdef __cplusplus
extern "C" {
#endif

struct hl_vring_packed_driver {
	struct hl_vring_packed_desc *desc;
	struct hl_vring_packed_event *driver_event; /* ours */
	struct hl_vring_packed_event *device_event; /* the device's */
	uint16_t num;
	bool event_idx;
	bool interrupts;
	bool broken;
	uint64_t features;

	uint16_t next_avail; /* next slot to fill */
	bool avail_wrap;
	uint16_t next_used;  /* next slot to read a used descriptor from */
	bool used_wrap;
	uint16_t free_slots;
	uint32_t avail_total;  /* slots made available since init, free-running */
	uint32_t kicked_total; /* avail_total at the last kick decision */

	uint16_t free_id;  /* head of the free id list, chained through id_next */
	uint16_t *id_next;
	uint16_t *id_slots; /* per id: ring slots its chain took (0: not in flight) */
	void **tokens;
	/*
	 * VIRTIO_F_IN_ORDER in features: the device may return a batch with one
	 * used descriptor naming its last chain, skipping the others' slots.
	 * The ids in the order they were made available (a ring of num: the
	 * next place to add at, the oldest in flight and how many are), each
	 * one's writable bytes, and the batch being handed out.
	 */
	bool in_order;
	uint16_t *order;
	uint32_t *in_len;
	uint16_t order_put, order_get, order_n;
	uint16_t batch_left;
	uint32_t batch_len;
	uint64_t skipped;    /* chains returned by a batch entry naming a later chain */

	/* optional indirect tables: one of `indirect_max` entries per id */
	struct hl_vring_packed_desc *indirect_va;
	uint64_t indirect_gpa;
	unsigned indirect_max;
};

/*
 * Lay out (and zero) a ring of `num` entries (1..32768) in `mem`, 16-byte
 * aligned, hl_vring_packed_size(num) bytes. features: the negotiated bits
 * (EVENT_IDX is used; INDIRECT needs set_indirect too).
 */
int hl_vring_packed_driver_init(struct hl_vring_packed_driver *d, void *mem, unsigned num, uint64_t features);
void hl_vring_packed_driver_fini(struct hl_vring_packed_driver *d);

/* Bytes for a packed ring of `num` entries laid out by hl_vring_packed_driver_init(). */
uint64_t hl_vring_packed_size(unsigned num);

/* Offsets of the driver and the device event words inside that layout. */
uint64_t hl_vring_packed_driver_event_offset(unsigned num);
uint64_t hl_vring_packed_device_event_offset(unsigned num);

/*
 * Use indirect tables for multi-buffer adds: `va` (16-byte aligned,
 * device-visible at `gpa`) holds num tables of `max_entries` descriptors.
 * Needs INDIRECT_DESC in features.
 */
int hl_vring_packed_driver_set_indirect(struct hl_vring_packed_driver *d, void *va, uint64_t gpa,
					unsigned max_entries);

/*
 * Make nr_out device-readable then nr_in device-writable buffers available
 * as one chain (consecutive slots, or one slot and an indirect table),
 * identified by `token` (not NULL) when it comes back; the first slot's
 * flags are written last. -ENOSPC if the ring has not the slots or ids,
 * -EINVAL on bad arguments.
 */
int hl_vring_packed_driver_add(struct hl_vring_packed_driver *d, const struct hl_drv_buf *bufs, unsigned nr_out,
			       unsigned nr_in, void *token);

/* Must the device be kicked for what was added since the last call? */
bool hl_vring_packed_driver_kick_needed(struct hl_vring_packed_driver *d);

/*
 * Next chain the device is done with: its token, and in *len the bytes the
 * device says it wrote. NULL if none (or the queue is broken). With
 * IN_ORDER, a used descriptor naming a later chain than the next one in
 * flight returns every chain up to it, one a call, in order (the chains
 * before the last counted as wholly written); one naming no chain in
 * flight breaks the queue.
 */
void *hl_vring_packed_driver_get_used(struct hl_vring_packed_driver *d, uint32_t *len);

/*
 * Ask for interrupts or not: the driver event word (with EVENT_IDX, for
 * the next used slot). After enabling, check get_used again.
 */
void hl_vring_packed_driver_set_interrupt(struct hl_vring_packed_driver *d, bool enable);

#ifdef __cplusplus
}
#endif
#endif
