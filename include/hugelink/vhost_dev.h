/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vhost-user back-end's protocol engine: one device's state as the
 * front-end (QEMU, DPDK virtio-user, hugelink's own front-end) configures it.
 *
 * It takes a message and the file descriptors that came with it, and returns
 * what to do: send a reply, send nothing, or drop the connection. It opens
 * no sockets and runs no event loop, so the same engine serves the daemon,
 * the tests and a fuzzer.
 *
 * Trust: every byte and fd comes from the front-end. Memory regions are
 * checked against their fd's real size before they are mapped (a region
 * larger than its file would fault the switch on first touch); ring
 * addresses are checked to lie, whole and aligned, inside mapped memory.
 * Guest-physical and front-end-virtual addresses translate through O(1)
 * page-number tables (xlate.h), however many regions there are.
 *
 * Ownership: the engine owns every fd it is handed (it closes the ones it
 * does not keep) and every mapping it makes. The data path reads
 * struct hl_vu_vring of started queues; the control thread must stop a queue
 * (ops->queue_stop) before it changes memory under it.
 */
#ifndef HUGELINK_VHOST_DEV_H
#define HUGELINK_VHOST_DEV_H

#include <stdbool.h>
#include <stdint.h>

#include <hugelink/guest_mem.h>
#include <hugelink/vhost_log.h>
#include <hugelink/vhost_user_proto.h>
#include <hugelink/virtio_ring.h>
#include <hugelink/xlate.h>

#ifdef __cplusplus
extern "C" {
#endif

/* virtqueues of a device: 16 queue pairs of virtio-net (receive 2k, transmit 2k+1) */
#define HL_VHOST_MAX_QUEUE_PAIRS 16
#define HL_VHOST_MAX_QUEUES (2 * HL_VHOST_MAX_QUEUE_PAIRS)
#define HL_VHOST_MAX_MEM_SLOTS 509
#define HL_VHOST_MAX_RING 32768

/*
 * One mmap of a front-end region, counted: the region holds one reference,
 * and so does every zero-copy context that may still have buffers pointing
 * into it, so guest memory stays mapped until the last such buffer is freed
 * even when the front-end removes the region or goes away.
 */
struct hl_vu_mapping {
	uint32_t refs;       /* atomic */
	void *base;
	uint64_t len;
};

struct hl_vu_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uva;        /* front-end's address for the same bytes */
	uint64_t mmap_offset;
	uint8_t *hva;        /* host address of gpa */
	void *map_base;      /* what mmap returned */
	uint64_t map_len;
	struct hl_vu_mapping *map;
	uint64_t page_size;  /* of the file behind it: 4 KiB, or the hugepage size */
	uint64_t *page_pa;   /* physical address of each page of the mapping; NULL: unknown */
	int fd;
	/*
	 * ADD_MEM_REG of this very region again: QEMU 7.2 sends one per queue
	 * pair of a multiqueue device. Each is taken (nothing mapped twice) and
	 * undone by a REM_MEM_REG before the region goes.
	 */
	uint32_t dups;
};

struct hl_vu_vring {
	uint32_t num;
	uint16_t base;       /* SET_VRING_BASE: next avail index to read (packed: position | wrap << 15) */
	bool addr_set;
	bool enabled;        /* SET_VRING_ENABLE, or implied without PROTOCOL_FEATURES */
	bool kick_set;       /* SET_VRING_KICK seen (fd, or no fd: poll) */
	bool started;        /* the data path may run it */
	struct hl_vu_vring_addr addr;
	void *desc, *avail, *used; /* host addresses, valid while started (packed: ring, driver and device events) */
	int kick_fd, call_fd, err_fd;
};

struct hl_vhost_dev;

/* What the engine tells the layer above (all optional). */
struct hl_vhost_ops {
	/* queue became runnable: rings mapped, kick known, enabled */
	void (*queue_start)(struct hl_vhost_dev *d, unsigned q);
	/* queue must stop now; return the next avail index (for GET_VRING_BASE) */
	uint16_t (*queue_stop)(struct hl_vhost_dev *d, unsigned q);
	/*
	 * Dirty logging changed (log mapped or replaced, LOG_ALL on or off, a
	 * ring's log flag): running queues take hl_vhost_dev_log_state() now,
	 * before the old log is unmapped.
	 */
	void (*log_change)(struct hl_vhost_dev *d);
	/* SEND_RARP: the guest with this MAC now lives behind this port */
	void (*rarp)(struct hl_vhost_dev *d, const uint8_t mac[6]);
};

struct hl_vhost_counters {
	uint64_t msgs;
	uint64_t bad_msgs;     /* refused: malformed, out of range, wrong fds */
	uint64_t unknown_msgs; /* requests this back-end does not implement */
	uint64_t log_bases;    /* SET_LOG_BASE accepted */
	uint64_t bad_log;      /* SET_LOG_BASE refused (also in bad_msgs) */
	uint64_t rarps;        /* SEND_RARP received */
};

struct hl_vhost_dev {
	uint64_t supported_features;
	uint64_t supported_protocol;
	uint64_t features;          /* acked by SET_FEATURES */
	uint64_t protocol_features; /* acked by SET_PROTOCOL_FEATURES */
	bool owner;
	uint8_t status;
	unsigned nqueues;           /* virtqueues; GET_QUEUE_NUM answers the queue pairs they make */
	unsigned nregions;
	struct hl_vu_region regions[HL_VHOST_MAX_MEM_SLOTS];
	struct hl_guest_mem mem;    /* GPA -> host, what descriptors use */
	struct hl_xlate uva2hva;    /* front-end VA -> host, what ring addresses use */
	struct hl_xlate hva2iova;   /* host address of guest RAM -> physical, where it is in hugepages */
	struct hl_xlate hva2gpa;    /* host address of guest RAM -> guest-physical, for the dirty log */
	struct hl_vhost_log_map log; /* SET_LOG_BASE; bits NULL: none */
	struct hl_vu_vring vq[HL_VHOST_MAX_QUEUES];
	struct hl_vhost_counters stats;
	const struct hl_vhost_ops *ops;
	void *opaque;
};

/* A device with nothing negotiated yet; ops are called as messages arrive. */
void hl_vhost_dev_init(struct hl_vhost_dev *d, uint64_t features, unsigned nqueues,
		       const struct hl_vhost_ops *ops, void *opaque);
/* Stop queues, unmap memory, close fds: back to the state after init. */
void hl_vhost_dev_reset(struct hl_vhost_dev *d);

/*
 * Handle one message of `len` bytes (header included) with `nfds` fds, which
 * the engine now owns. Returns the number of bytes of `reply` to send (0:
 * none), or a negative errno when the connection should be dropped.
 */
int hl_vhost_dev_handle(struct hl_vhost_dev *d, const struct hl_vu_msg *m, size_t len, int *fds,
			unsigned nfds, struct hl_vu_msg *reply);

/* The log a queue writes now: the mapped one while LOG_ALL is negotiated, else none (bits NULL). */
static inline struct hl_vhost_log hl_vhost_dev_log_state(const struct hl_vhost_dev *d)
{
	if ((d->features & (1ull << HL_VU_F_LOG_ALL)) && d->log.log.bits != NULL)
		return d->log.log;
	return (struct hl_vhost_log){0};
}

/*
 * Are the queues packed (VIRTIO_F_RING_PACKED acked)? Then a queue's three
 * addresses are its descriptor ring, the driver and the device event areas
 * (desc, avail, used below), and its base carries wrap counters.
 */
static inline bool hl_vhost_dev_packed(const struct hl_vhost_dev *d)
{
	return d->features & HL_VIRTIO_BIT(HL_VIRTIO_F_RING_PACKED);
}

/* Guest-physical to host address; NULL unless [gpa, gpa+len) is mapped whole. */
static inline void *hl_vhost_gpa_to_hva(const struct hl_vhost_dev *d, uint64_t gpa, uint64_t len)
{
	uint64_t contig = 0;
	void *h = hl_gpa_to_hva(&d->mem, gpa, len, &contig);
	return h != NULL && contig >= len ? h : NULL;
}

#ifdef __cplusplus
}
#endif
#endif
