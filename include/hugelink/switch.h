/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The L2 switch: ports of any kind behind one small interface, a learning
 * MAC table, and poll-mode workers that move bursts between ports.
 *
 * Threads and what they own:
 *   - the control thread adds and removes ports, runs each port's control
 *     plane (sockets, reconnects) and ages the MAC table. It publishes the
 *     port array; removing a port unpublishes it and waits until every
 *     worker has passed a quiescent point (or sleeps) before the port may be
 *     closed, so a worker never touches a closed port.
 *   - each worker polls the receive side of the ports assigned to it
 *     (round-robin at add time; a port with several receive queues, such
 *     as a multiqueue vhost port, has each queue assigned on its own, so
 *     its queues spread over the workers) and transmits to any port. With one worker
 *     (the default) nothing is shared; with more, a port's transmit side is
 *     taken under a per-port spinlock, as OVS does when PMDs outnumber
 *     transmit queues.
 *   - counters are per worker and per port, written by that worker only and
 *     summed when read.
 *
 * Offloads are decided at egress: a frame that carries offload metadata
 * (a partial checksum, a TCP frame to be segmented) goes to a port that
 * takes it as it is, and is completed or cut into segments in software,
 * once per output port that cannot (hl_ol_prepare), so guest-to-guest
 * traffic moves 64 KiB frames and nothing is segmented twice.
 *
 * A packet is forwarded by its destination MAC: known unicast to the port
 * it was learned on, broadcast, multicast and unknown unicast to every port
 * but the one it came from (one reference per copy; ports copy or write the
 * bytes, never modify them). Nothing goes back out of its ingress port.
 *
 * VLANs (802.1Q): a port is untagged (VLAN 0, the default: its frames are
 * switched as they are, tags or not, among the other VLAN 0 ports), an
 * access port of one VLAN (frames enter and leave untagged; a tagged one
 * arriving is dropped) or a trunk (frames carry a tag; only the VLANs it
 * carries pass, and malformed ones are dropped; untagged ones belong to
 * its native VLAN if it has one, else are dropped too). Learning, lookups
 * and flooding are per VLAN, so no frame crosses from one VLAN to another.
 * The tag is pushed or popped at egress, per output port and frame, where a
 * frame that came in untagged leaves tagged or the other way round
 * (hl_ol_vlan_push/pop: in place when the buffer is the switch's alone,
 * else in a copy of the head). A port's membership may change while it
 * forwards (hl_switch_set_port_vlan): workers read it through a pointer to
 * an immutable copy, replaced whole and freed once every worker has passed
 * a quiescent point, as a removed port is.
 *
 * An idle worker backs off: after `idle_us` without a packet it arms every
 * port it polls (asks the guest to kick) and sleeps in epoll on the kick
 * fds, with a bound so port changes are noticed.
 */
#ifndef HUGELINK_SWITCH_H
#define HUGELINK_SWITCH_H

#include <stdbool.h>
#include <stdint.h>

#include <hugelink/buf.h>
#include <hugelink/mac_table.h>
#include <hugelink/offload.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HL_SW_MAX_PORTS 64
#define HL_SW_MAX_WORKERS 8
#define HL_SW_BURST 32
#define HL_SW_NAME_LEN 32
#define HL_SW_MAX_RXQ 32 /* receive queues of one port polled apart (a bit each) */
/*
 * A worker that moved nothing for this long sleeps until a kick. Short on
 * purpose: on a host whose guests share the switch's cores, a poll that
 * finds nothing takes CPU time from the guests that make the traffic (two
 * TCG guests' TCP ran 2.3-2.6x faster with 50 us than with 200 ms), while
 * a stream that keeps a ring busy never leaves a gap this long.
 */
#define HL_SW_IDLE_US 50u

/* Why a packet was dropped; names are what `hlctl stats` shows. */
enum hl_sw_drop {
	HL_SW_DROP_TX_FULL,   /* the output port could not take it (guest ring full, TAP busy) */
	HL_SW_DROP_NO_BUF,    /* no switch buffer to receive into */
	HL_SW_DROP_BAD,       /* malformed: refused descriptor chain, runt frame */
	HL_SW_DROP_TOO_BIG,   /* larger than the output port's buffers */
	HL_SW_DROP_NO_PORT,   /* learned port is gone, or nowhere else to send */
	HL_SW_DROP_VLAN_TAGGED,   /* a tagged frame arriving on an access port */
	HL_SW_DROP_VLAN_FILTERED, /* on a trunk: untagged, or of a VLAN it does not carry */
	HL_SW_DROP_VLAN_BAD,      /* on a trunk: double tag (802.1ad, QinQ), VLAN id 0 or 4095, cut short */
	HL_SW_DROP_MAX
};
extern const char *const hl_sw_drop_names[HL_SW_DROP_MAX];

struct hl_sw_port_stats {
	uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
	uint64_t drops[HL_SW_DROP_MAX];
	uint64_t zcopy_packets, copy_packets;
	uint64_t errors;
	/* live migration: words of the dirty-page bitmap set, pages outside it, RARPs sent for the guest */
	uint64_t dirty_log_words, dirty_log_dropped, rarps;
	/*
	 * Offloads: what the port checked on the way in (its ops->stats) and
	 * what the switch did on the way out to make frames fit it (software
	 * segmentation and checksums, hl_ol_prepare), added up.
	 */
	struct hl_ol_stats ol;
};

struct hl_sw_port;

/* A port's VLAN membership (hl_sw_port_set_vlan). */
#define HL_SW_VLAN_NONE   0u /* untagged: VLAN 0, as a switch without VLANs */
#define HL_SW_VLAN_ACCESS 1u /* untagged frames of VLAN `vid` */
#define HL_SW_VLAN_TRUNK  2u /* 802.1Q-tagged frames of the VLANs in `trunk` */
#define HL_SW_VLAN_ID_MAX 4094u
struct hl_sw_vlan {
	uint16_t mode; /* HL_SW_VLAN_* */
	uint16_t vid;  /* access: 1..HL_SW_VLAN_ID_MAX */
	/*
	 * trunk: 0, or the VLAN (1..HL_SW_VLAN_ID_MAX) of its untagged frames,
	 * whose frames also leave it untagged; a trunk carries its native VLAN
	 * whether `trunk` lists it or not (hl_sw_port_set_vlan adds it)
	 */
	uint16_t native;
	uint64_t trunk[64]; /* trunk: bit v % 64 of word v / 64 for VLAN v (1..HL_SW_VLAN_ID_MAX) */
};

/* Does a port with membership v carry VLAN vid (0: untagged ports)? */
static inline bool hl_sw_vlan_carries(const struct hl_sw_vlan *v, uint16_t vid)
{
	if (v->mode == HL_SW_VLAN_NONE)
		return vid == 0;
	if (v->mode == HL_SW_VLAN_ACCESS)
		return vid == v->vid;
	return vid != 0 && vid <= HL_SW_VLAN_ID_MAX && (v->trunk[vid >> 6] >> (vid & 63) & 1);
}

/*
 * What a port kind provides. rx/tx/arm/disarm run on a worker; the rest on
 * the control thread.
 */
struct hl_sw_port_ops {
	const char *kind;
	/* Receive up to n packets into buffers from bp; the caller owns them. */
	uint16_t (*rx)(struct hl_sw_port *p, struct hl_bufpool *bp, struct hl_buf **pkts, uint16_t n);
	/*
	 * Send up to n; returns how many went and adds their bytes to *bytes.
	 * Takes over the caller's reference on all n: what went is the port's
	 * (or its peer's) now, what did not is freed. So a zero-copy port hands
	 * a buffer on without touching its reference count.
	 */
	uint16_t (*tx)(struct hl_sw_port *p, struct hl_buf **pkts, uint16_t n, uint64_t *bytes);
	/* Before sleeping: ask to be woken; false if packets already wait. */
	bool (*arm)(struct hl_sw_port *p);
	void (*disarm)(struct hl_sw_port *p);
	/*
	 * Register the fds that wake a sleeping worker in epfd with `data`.
	 * Called again with another epfd (hl_switch_move_queues), it moves
	 * the registration there; a kind that cannot returns an error.
	 */
	int (*set_wakeup)(struct hl_sw_port *p, int epfd, uint64_t data);
	/* Control plane work (sockets, reconnects); must not block. */
	void (*ctrl)(struct hl_sw_port *p);
	/* Counters only the port sees (drops inside it, zero-copy counts); added to the switch's. */
	void (*stats)(const struct hl_sw_port *p, struct hl_sw_port_stats *st);
	/* "up", "down", "listening", "connecting", ... */
	const char *(*state)(const struct hl_sw_port *p);
	void (*close)(struct hl_sw_port *p);
	/*
	 * What frames the port takes as they are (HL_OL_CAP_*) and the largest
	 * it takes, Ethernet header included; asked only for a burst that holds
	 * a frame with offload metadata, whatever worker sends. NULL: none, and
	 * frames of HL_BUF_F_OFFLOAD are completed or cut to 1514 bytes first.
	 */
	void (*offloads)(const struct hl_sw_port *p, uint32_t *caps, uint32_t *max_frame);
	/*
	 * Optional, control thread. needs_reset: does the port want a reset on
	 * its own (its peer died, say)? hl_switch_ctrl() asks at every call.
	 * reset: bring the port back to a fresh state without removing it; it
	 * runs with the port out of every worker's reach (hl_switch_reset_port).
	 */
	bool (*needs_reset)(struct hl_sw_port *p);
	int (*reset)(struct hl_sw_port *p, const char *why);
	/*
	 * Control thread, optional: true once after the port's guest migrated
	 * away (its MACs are then forgotten, see hl_switch_mac_moves).
	 */
	bool (*migrated_away)(struct hl_sw_port *p);
	/*
	 * Several receive queues polled apart, for a port whose nrxq > 1
	 * (then rx, arm, disarm and set_wakeup are not used): rx_queue is rx
	 * for queue q; rxq_ready tells, a bit a queue, which are worth a poll
	 * now, so a queue the peer never enabled costs its worker nothing;
	 * arm_queue, disarm_queue and set_queue_wakeup are arm, disarm and
	 * set_wakeup for queue q. Each queue goes to a worker of its own
	 * (round-robin), so one port's queues are received in parallel.
	 */
	uint16_t (*rx_queue)(struct hl_sw_port *p, unsigned q, struct hl_bufpool *bp, struct hl_buf **pkts,
			     uint16_t n);
	uint32_t (*rxq_ready)(const struct hl_sw_port *p);
	bool (*arm_queue)(struct hl_sw_port *p, unsigned q);
	void (*disarm_queue)(struct hl_sw_port *p, unsigned q);
	int (*set_queue_wakeup)(struct hl_sw_port *p, unsigned q, int epfd, uint64_t data);
	/* Longest a worker may sleep with this port armed (ms; 0: no limit): for peers that cannot always kick. */
	unsigned max_sleep_ms;
	/*
	 * rx hands over frames in place, another core's writes still on their
	 * way (it started fetching their first lines): the switch forwards
	 * such a burst after polling the next port, not at once.
	 */
	bool rx_in_flight;
};

/* A port as the switch sees it; kinds (sw_ports.h) embed it and set ops and name. */
struct hl_sw_port {
	/*
	 * Set by the switch: the membership the workers go by, an immutable
	 * copy of `vlan` made by hl_switch_add_port and replaced whole by
	 * hl_switch_set_port_vlan (the old one is freed after a quiescent
	 * point). Read once a burst, and once a port a flooded frame.
	 */
	const struct hl_sw_vlan *vlan_live;
	const struct hl_sw_port_ops *ops;
	char name[HL_SW_NAME_LEN];
	uint16_t id;      /* set by the switch: index in its port array */
	uint16_t worker;  /* set by the switch: who polls rx (with nrxq > 1: queue 0) */
	int tx_lock;      /* taken around tx only when there are several workers */
	uint16_t nrxq;    /* set by the kind: receive queues polled apart (ops->rx_queue); 0 or 1: rx */
	uint32_t rxq_mask[HL_SW_MAX_WORKERS]; /* set by the switch, with nrxq > 1: the queues each worker polls */
	/*
	 * Control thread: the membership, set by hl_sw_port_set_vlan before
	 * hl_switch_add_port and by hl_switch_set_port_vlan after; workers never
	 * read it. Last, so that its 512-byte trunk map sits apart from what
	 * every poll reads.
	 */
	struct hl_sw_vlan vlan;
};

/*
 * Control thread, before hl_switch_add_port (hl_switch_set_port_vlan
 * changes a port in a switch): make p an untagged, access or trunk port.
 * A trunk's native VLAN is added to the VLANs it carries. -EINVAL for an
 * unknown mode, an access VLAN, trunk VLAN or native VLAN outside
 * 1..HL_SW_VLAN_ID_MAX, a native VLAN on a port that is not a trunk, or a
 * trunk that carries none; p is unchanged then.
 */
int hl_sw_port_set_vlan(struct hl_sw_port *p, const struct hl_sw_vlan *v);

struct hl_switch;

struct hl_switch_params {
	struct hl_bufpool *bp;  /* packet buffers (the switch's pool) */
	unsigned workers;       /* 0: 1 */
	uint64_t aging_ns;      /* 0: 300 s */
	unsigned mac_entries;   /* 0: 4096 */
	unsigned idle_us;       /* poll this long without traffic before sleeping; 0: HL_SW_IDLE_US */
	int first_cpu;          /* pin worker i to first_cpu + i; -1: no pinning */
};

/* Start the switch and its workers. 0 and *out, or a negative errno. */
int hl_switch_create(const struct hl_switch_params *prm, struct hl_switch **out);
/* Stops the workers. Ports still in it are closed. */
void hl_switch_destroy(struct hl_switch *sw);

/* Control thread. Names are unique; -EEXIST, -ENOSPC. */
int hl_switch_add_port(struct hl_switch *sw, struct hl_sw_port *p);
/* Unpublish, wait for the workers, forget its MACs, close it. -ENOENT. */
int hl_switch_del_port(struct hl_switch *sw, const char *name);
/*
 * Unpublish, wait for the workers, reset the port (ops->reset), publish it
 * again: meanwhile frames for it go as for a port that is not there
 * (flooded to the others, or dropped), and its MAC entries stay.
 * -ENOENT, -EOPNOTSUPP for a kind that cannot reset, or the reset's error.
 */
int hl_switch_reset_port(struct hl_switch *sw, const char *name, const char *why);
struct hl_sw_port *hl_switch_find_port(struct hl_switch *sw, const char *name);
/*
 * Control thread: hand p's receive queues to other workers, to[q] for
 * queue q < n (a port with nrxq <= 1 has one queue, 0); the rest keep
 * theirs. to NULL: back to where adding the port now would put them (the
 * least loaded workers, beside the other ports). A queue's old worker
 * stops polling it before the new one starts, and its kicks wake the new
 * one; frames waiting in it stay there for the new worker. Each move is
 * logged. -ENOENT for a port not in the switch, -EINVAL for n above the
 * port's queues or a worker out of range (nothing moves then), or the
 * kind's error from moving its wake-up.
 */
int hl_switch_move_queues(struct hl_switch *sw, struct hl_sw_port *p, const unsigned *to, unsigned n);
/* Control thread: the worker that polls receive queue q of p (for q beyond its queues: queue 0's). */
unsigned hl_switch_queue_worker(const struct hl_sw_port *p, unsigned q);
/* The i-th port in the table (NULL where free), for listing. */
struct hl_sw_port *hl_switch_port_at(struct hl_switch *sw, unsigned i);
/*
 * Change the membership of port `name` while it forwards: checked as by
 * hl_sw_port_set_vlan, published to the workers at once (each sees the old
 * membership or the new, whole; a frame already queued for the port in a
 * VLAN it left is dropped as no_port), and once every worker has
 * passed a quiescent point the MACs the port learned in VLANs it left are
 * forgotten and the old membership freed. -ENOENT, -EINVAL, -ENOMEM.
 */
int hl_switch_set_port_vlan(struct hl_switch *sw, const char *name, const struct hl_sw_vlan *v);

/* Control thread, every few milliseconds: ports' control plane and the resets they want, MAC aging. */
void hl_switch_ctrl(struct hl_switch *sw);

/* A port's counters as the switch sees them (any thread). */
void hl_switch_port_stats(struct hl_switch *sw, const struct hl_sw_port *p, struct hl_sw_port_stats *st);

struct hl_sw_worker_info {
	bool sleeping;
	uint64_t sleeps;     /* times it went to sleep */
	uint64_t busy_ns;    /* time spent on bursts that moved packets */
	uint64_t total_ns;   /* time since start */
	uint64_t loops;
};
unsigned hl_switch_workers(const struct hl_switch *sw);
void hl_switch_worker_info(const struct hl_switch *sw, unsigned w, struct hl_sw_worker_info *wi);
struct hl_mac_table *hl_switch_mac_table(struct hl_switch *sw);

/*
 * MAC moves: a MAC learned on another port than before, or forgotten with a
 * port whose guest migrated away and learned on another within
 * HL_SW_FORGOTTEN_NS. Control thread.
 */
#define HL_SW_FORGOTTEN 64
#define HL_SW_FORGOTTEN_NS 60000000000ull
struct hl_sw_mac_moves {
	uint64_t moved;
	uint8_t last_mac[6]; /* the latest move ... */
	int last_port;       /* ... to this port id; -1: none yet */
};
void hl_switch_mac_moves(const struct hl_switch *sw, struct hl_sw_mac_moves *m);
uint64_t hl_switch_aging_ns(const struct hl_switch *sw);

#ifdef __cplusplus
}
#endif
#endif
