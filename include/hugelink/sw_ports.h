/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The switch's port kinds (src/switch/sw_port_*.c): each wraps one kind of
 * port behind struct hl_sw_port (switch.h), so the switch core knows none
 * of them. A create call allocates the port and hands it over, not yet in a
 * switch (hl_switch_add_port); the port's close frees it. Everything here
 * is for the control thread.
 */
#ifndef HUGELINK_SW_PORTS_H
#define HUGELINK_SW_PORTS_H

#include <stdbool.h>
#include <stdint.h>

#include <hugelink/buf.h>
#include <hugelink/pool.h>
#include <hugelink/switch.h>
#include <hugelink/vhost_port.h>

#ifdef __cplusplus
extern "C" {
#endif

struct hl_shm_port;
struct hl_memif_port;

/* ---- vhost-user (sw_port_vhost.c) ------------------------------------------------ */

struct hl_sw_vhost_params {
	const char *name;
	const char *path;
	bool client;
	uint64_t features;  /* 0: default */
	enum hl_vhost_zc_mode zcopy;
	bool no_offload;    /* offer the guest no offloads (checksum, TSO) */
	bool no_packed;     /* offer split virtqueues only (no VIRTIO_F_RING_PACKED) */
	unsigned queues;    /* queue pairs offered, 1..HL_VHOST_MAX_QUEUE_PAIRS (multiqueue); 0: 1 */
};
int hl_sw_port_vhost_create(const struct hl_sw_vhost_params *prm, struct hl_sw_port **out);
/* The socket path and role of a vhost port (for listing and qemu-args). */
const char *hl_sw_port_vhost_path(const struct hl_sw_port *p, bool *client);
/* A vhost port's connection and zero-copy state, for monitoring; -EINVAL for other kinds. */
struct hl_sw_vhost_info {
	uint64_t connects;    /* front-ends that connected (a guest's QEMU, again after each reconnect) */
	uint64_t disconnects;
	uint64_t pinned;      /* guest transmit chains held in place by zero-copy now */
	bool packed;          /* the guest's queues are packed rings (as last negotiated) */
	bool in_order;        /* VIRTIO_F_IN_ORDER negotiated (as last negotiated) */
	/*
	 * Per direction, every queue pair's added up: [0] the guest's receive
	 * queues (the switch sends), [1] its transmit queues.
	 */
	struct hl_sw_vhost_queue {
		uint64_t packets, bytes;
		uint64_t drop_no_buf, drop_bad_chain, drop_too_big, drop_bad_offload;
		uint64_t calls;    /* interrupts sent to the guest */
		uint64_t short_tx; /* receive queues: frames the switch offered that it did not take */
	} q[2];
	unsigned pairs;       /* queue pairs offered */
	uint32_t running;     /* bit q: virtqueue q runs now (the guest enabled it) */
	struct hl_sw_vhost_queue pair[HL_VHOST_MAX_QUEUE_PAIRS][2]; /* the same per pair */
};
int hl_sw_port_vhost_info(const struct hl_sw_port *p, struct hl_sw_vhost_info *info);

/* ---- TAP (sw_port_tap.c) ---------------------------------------------------------- */

/* offload: virtio-net headers with the kernel, checksums and TSO both ways (tap_port.h). */
int hl_sw_port_tap_create(const char *name, const char *ifname, bool offload, struct hl_sw_port **out);
const char *hl_sw_port_tap_ifname(const struct hl_sw_port *p);

/* ---- shm (sw_port_shm.c) ---------------------------------------------------------- */

/*
 * A shared port lives in `pool` and serves bp, which must be the bufpool
 * the switch receives into; a port hl_shm_recover brought back under that
 * name is claimed instead.
 *
 * An isolated port gets a pool of its own, "<pool's name>.<name>" (or, when
 * that is too long, the pool's name cut short and a hash of `name`), with
 * its record in pool's run dir and its file beside pool's (hugepages when
 * pool has them, 2 MiB pages), holding a bufpool of 2048 buffers of bp's
 * room size, an owner table and the port's rings: nothing of any other
 * port. Its peer attaches through that record (hl_sw_port_shm_record) and
 * maps only it. Packets cross with one copy each way, counted in the
 * port's copy_packets: received ones into fresh buffers of the switch's
 * bufpool, transmitted ones into the port's own buffers. If the record
 * exists when the port is created (a killed switch left it), the pool is
 * taken over as its owner and recovered (hl_shm_recover), so an attached
 * peer resumes; if that fails, it is replaced. Closing the port removes
 * the pool's files. -EEXIST when pool holds a shared port of that name,
 * -EBUSY while a live process owns the isolated pool.
 */
int hl_sw_port_shm_create(struct hl_pool *pool, struct hl_bufpool *bp, const char *name,
			  bool isolated, struct hl_sw_port **out);
/* The shm port behind a switch port (NULL for other kinds). */
struct hl_shm_port *hl_sw_port_shm(const struct hl_sw_port *p);
/* Whether p is an isolated shm port. */
bool hl_sw_port_shm_isolated(const struct hl_sw_port *p);
/* The record a peer of p attaches through (isolated: its own pool's); NULL for other kinds. */
const char *hl_sw_port_shm_record(const struct hl_sw_port *p);
/* The pool p's peer maps (file_path, size: what an ivshmem BAR needs); -EINVAL for other kinds. */
int hl_sw_port_shm_pool_info(const struct hl_sw_port *p, struct hl_pool_info *info);

/* ---- memif (sw_port_memif.c) ------------------------------------------------------ */

/*
 * A memif server on a socket at path (DPDK net_memif, libmemif and VPP
 * clients connect to it), or with client a memif client of the server
 * there, whose regions are bp's pool: the server reads and writes the
 * switch's buffers.
 */
struct hl_sw_memif_params {
	const char *name;
	const char *path;
	bool client;
	struct hl_bufpool *bp;  /* client: the bufpool the switch receives into */
	uint32_t id;            /* the interface id the client asks for */
	const char *secret;     /* NULL or "": none */
	unsigned queues;        /* queue pairs offered; 0: 1 */
	unsigned ring_size;     /* largest ring offered; 0: 1024 */
	unsigned buffer_size;   /* 0: 2048 */
};
int hl_sw_port_memif_create(const struct hl_sw_memif_params *prm, struct hl_sw_port **out);
/* The memif port behind a switch port (NULL for other kinds), for listing its peer. */
const struct hl_memif_port *hl_sw_port_memif(const struct hl_sw_port *p);

#ifdef __cplusplus
}
#endif
#endif
