/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * memif ports, in both roles. As a server, hugelink is the end DPDK's
 * net_memif (role=client), libmemif and VPP applications connect to; as a
 * client, it connects to a memif server (DPDK role=server, VPP) and
 * reconnects with back-off. The wire format is memif_abi.h; the control
 * engine (memif_msg.c) takes a message and its fd and says what to
 * answer; the socket side (memif_port.c) accepts or connects, maps or lays
 * out memory, starts and stops queues; the data path copies frames
 * between the peer's buffers and the switch's as a server (memif_ring.c)
 * and lends the switch's own buffers as a client (memif_ring_client.c).
 *
 * Memory and trust, server role. Every byte a peer can reach is in its
 * own regions, which it may rewrite at any moment: heads, descriptors,
 * ring flags. The server keeps its own copy of every index it owns (S2M
 * read position, M2S tail), reads each descriptor once into locals and
 * checks the region, offset and length there before touching a byte, and
 * never hands a region's address to anyone: frames are copied into switch
 * buffers on receive and out of them on transmit, so nothing of the
 * switch's pool is ever seen by the peer and no switch buffer is held by it.
 *
 * Client role. Region 0 is a memfd holding the rings; region 1 is the
 * switch's whole pool, so descriptors name switch buffers by pool offset
 * and the server reads transmitted frames from them and writes received
 * frames into them: no copy on hugelink's side, except for a frame whose
 * bytes lie outside the pool (guest memory under vhost zero-copy, an
 * isolated shm port's pool), copied into pool buffers first. The server is
 * trusted with the pool's bytes, as a shared shm port's peer is, but not
 * with our indices: we own both heads and keep our own copy of every
 * position, an M2S descriptor's region and offset are never read back (we
 * know which buffer we offered in each slot), its length must fit that
 * buffer, and a tail that passes our head breaks the ring. Every buffer
 * lent to the server is in `held` until the server gives its slot back,
 * and freed when the connection ends, so nothing is lost however it ends.
 *
 * Threads: as for vhost ports, the control thread (hl_memif_port_poll_ctrl)
 * and one data-path thread per queue meet only in the queue's
 * `running`/`busy` words: the data path announces itself in busy and
 * re-checks running; the control path clears running and waits for busy
 * to drop before it unmaps anything. A ring the data path finds broken
 * (a head past the ring, a descriptor outside its region) is stopped by
 * the data path itself (`fault`), and the control thread then ends the
 * connection and waits for the next.
 */
#ifndef HUGELINK_MEMIF_PORT_H
#define HUGELINK_MEMIF_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include <hugelink/buf.h>
#include <hugelink/memif_abi.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HL_MEMIF_MAX_QUEUES 8
#define HL_MEMIF_MAX_REGIONS 64
#define HL_MEMIF_MAX_LOG2_RING 14
#define HL_MEMIF_FRAME_MAX 65535u /* bytes of one frame, whatever its chain */
#define HL_MEMIF_BURST 32 /* receive buffers allocated at once */
#define HL_MEMIF_HANDSHAKE_MS 5000 /* a peer that has not connected by then is dropped */
#define HL_MEMIF_BACKOFF_MIN_MS 50
#define HL_MEMIF_BACKOFF_MAX_MS 2000

/* ---- the control engine (memif_msg.c): bytes and fds in, actions out --------------- */

enum hl_memif_state {
	HL_MEMIF_S_IDLE,      /* no peer */
	HL_MEMIF_S_HELLO,     /* server: HELLO sent, waiting for INIT */
	HL_MEMIF_S_INIT,      /* server: INIT taken: regions and rings may come, then CONNECT */
	HL_MEMIF_S_CONNECTED, /* CONNECTED sent or taken: rings are running */
	HL_MEMIF_S_WAIT_HELLO, /* client: connected, waiting for the server's HELLO */
	HL_MEMIF_S_SETUP,     /* client: INIT, regions, rings and CONNECT go one per ACK */
};

struct hl_memif_region {
	int fd;
	uint64_t size;
	uint8_t *va;    /* mapped at connect, NULL before */
	bool borrowed;  /* client role: the switch's pool, mapped by the pool, not by us */
	int guard;      /* its slot in the SIGBUS guard (memif_guard.c), -1: none */
};

/* A ring as ADD_RING described it, before and after it is resolved at connect. */
struct hl_memif_ring_desc {
	bool present;
	uint16_t region;
	uint32_t offset;
	uint8_t log2_size;
	int fd;       /* the ring's eventfd */
};

struct hl_memif_cfg {
	uint32_t id;
	char secret[HL_MEMIF_SECRET_SZ + 1];
	uint16_t queues;       /* queue pairs offered (1..HL_MEMIF_MAX_QUEUES) */
	uint8_t log2_ring;     /* largest ring offered */
	uint32_t buffer_size;  /* client role: the most an M2S buffer offers (a server's client lays out its own) */
	char name[HL_MEMIF_NAME_SZ]; /* ours, in HELLO and CONNECTED */
};

struct hl_memif_ctl_stats {
	uint64_t msgs;        /* messages taken */
	uint64_t bad_msgs;    /* refused: wrong size, order, field or fd; each ends the connection */
	uint64_t connects;    /* CONNECTED sent */
	uint64_t disconnects; /* connections ended, for whatever reason */
};

struct hl_memif_ctl {
	struct hl_memif_cfg cfg;
	enum hl_memif_state state;
	uint16_t peer_version;
	char peer_name[HL_MEMIF_NAME_SZ + 1];    /* from INIT */
	char peer_if_name[HL_MEMIF_NAME_SZ + 1]; /* from CONNECT */
	char reason[HL_MEMIF_DISC_SZ];           /* why the last connection ended */
	uint16_t nregions;
	struct hl_memif_region region[HL_MEMIF_MAX_REGIONS];
	struct hl_memif_ring_desc s2m[HL_MEMIF_MAX_QUEUES], m2s[HL_MEMIF_MAX_QUEUES];
	struct hl_memif_ctl_stats stats;
	int region_fault;     /* set by the SIGBUS guard: a region's file shrank under its mapping */
	bool client;
	unsigned step;        /* client: messages sent after INIT */
	uint16_t nq;          /* client: queue pairs agreed from HELLO */
	uint8_t log2_ring;    /* client: ring size agreed from HELLO */
};

enum hl_memif_action {
	HL_MEMIF_A_NONE,    /* nothing to send */
	HL_MEMIF_A_REPLY,   /* send *reply */
	HL_MEMIF_A_CONNECT, /* CONNECT taken: map and check (hl_memif_ctl_connect), then send *reply */
	HL_MEMIF_A_HANGUP,  /* send *reply (a DISCONNECT) and close; ctl->reason says why */
	HL_MEMIF_A_SETUP,   /* client: HELLO taken: lay out c->nq rings of c->log2_ring, then hl_memif_ctl_client_next */
	HL_MEMIF_A_UP,      /* client: CONNECTED taken: start the queues */
};

/* A control engine with nothing agreed yet, for one interface as cfg says. */
void hl_memif_ctl_init(struct hl_memif_ctl *c, const struct hl_memif_cfg *cfg);
/* A new peer on the socket: the HELLO to send it. */
void hl_memif_ctl_hello(struct hl_memif_ctl *c, struct hl_memif_msg *reply);
/*
 * One message of len bytes from the peer, with fd (-1: none; the engine
 * takes it over either way: keeps it or closes it). Fills *reply.
 */
enum hl_memif_action hl_memif_ctl_handle(struct hl_memif_ctl *c, const void *msg, size_t len, int fd,
					 struct hl_memif_msg *reply);
/*
 * After HL_MEMIF_A_CONNECT: map every region (checked against its file's
 * real size) and check every ring lies whole in one, with the cookie. 0, or
 * a negative errno with ctl->reason set and *reply a DISCONNECT.
 */
int hl_memif_ctl_connect(struct hl_memif_ctl *c, struct hl_memif_msg *reply);
/* Forget the peer: unmap regions, close fds, back to IDLE. */
void hl_memif_ctl_reset(struct hl_memif_ctl *c);
/* A DISCONNECT with reason. */
void hl_memif_ctl_disconnect_msg(struct hl_memif_msg *m, const char *reason);
/*
 * Client role: a message from the server (HELLO, ACK, CONNECTED,
 * DISCONNECT), same rules as hl_memif_ctl_handle. On ACK the next of our
 * messages is in *reply, its fd in *reply_fd (-1: none; still ours).
 */
enum hl_memif_action hl_memif_ctl_client_handle(struct hl_memif_ctl *c, const void *msg, size_t len, int fd,
						struct hl_memif_msg *reply, int *reply_fd);
/* Client role, after HL_MEMIF_A_SETUP laid out regions and rings: the INIT to send. */
void hl_memif_ctl_client_init(struct hl_memif_ctl *c, struct hl_memif_msg *reply);

/* Queue pairs the peer set up (S2M and M2S rings 0..n-1 all present). */
unsigned hl_memif_ctl_queues(const struct hl_memif_ctl *c);

/* ---- the port ------------------------------------------------------------------- */

struct hl_memif_q_stats {
	uint64_t packets, bytes;
	uint64_t chained;       /* frames of more than one descriptor */
	uint64_t drop_no_buf;   /* rx: no switch buffer */
	uint64_t drop_too_big;  /* tx: the peer's offered buffers cannot hold the frame; rx: over HL_MEMIF_FRAME_MAX */
	uint64_t bad_desc;      /* a descriptor outside its region, or a broken chain: the ring is stopped */
	uint64_t bad_ring;      /* a head past the ring: the ring is stopped */
	uint64_t kicks;         /* eventfd writes for a peer that asked for them */
	uint64_t zcopy;         /* client role: frames lent or taken in the switch's own buffers */
	uint64_t copied;        /* client role tx: frames copied into pool buffers first (bytes outside the pool) */
};

/* One direction of one queue pair, resolved in the peer's memory. */
struct hl_memif_q {
	struct hl_memif_ring *ring;
	uint16_t mask;      /* ring_size - 1 */
	uint16_t size;
	uint16_t pos;       /* server rx: next slot to read, tx: our tail; client rx: next slot, tx: our head */
	uint16_t lim;       /* client rx: our head (offered up to); client tx: the tail we last reclaimed to */
	struct hl_buf **held; /* client role: the buffer lent in each slot (a frame's head in its last slot) */
	int fd;             /* the ring's eventfd */
	int running;        /* control thread writes; data path reads */
	int busy;           /* data path writes; control thread waits on it */
	int fault;          /* data path: the ring is broken, the control thread ends the connection */
	struct hl_memif_q_stats stats; /* data-path thread only */
} hl_cache_aligned;

struct hl_memif_port_params {
	const char *path;       /* the socket, on the file system */
	uint32_t id;
	const char *secret;     /* NULL or "": none */
	unsigned queues;        /* 0: 1 */
	unsigned ring_size;     /* 0: 1024; a power of two up to 1 << HL_MEMIF_MAX_LOG2_RING */
	unsigned buffer_size;   /* client role: the most an M2S buffer offers, up to the switch's room; 0: 2048 */
	const char *name;       /* ours, shown to the peer */
	bool client;            /* connect to a server at path instead of listening */
	struct hl_bufpool *bp;  /* client role: the switch's bufpool, whose pool becomes region 1 */
};

struct hl_memif_port {
	char path[108];
	int listen_fd;
	int conn_fd;            /* -1: no peer */
	uint64_t conn_since_ns; /* when the peer connected, for the handshake bound */
	struct hl_memif_ctl ctl;
	unsigned nq;            /* queue pairs running */
	struct hl_memif_q rx[HL_MEMIF_MAX_QUEUES]; /* the rings we receive on: S2M as a server, M2S as a client */
	struct hl_memif_q tx[HL_MEMIF_MAX_QUEUES]; /* the rings we send on: M2S as a server, S2M as a client */
	unsigned rx_next;       /* data path: the queue the next rx burst starts at */
	int wake_epfd;          /* -1, or where S2M eventfds are registered */
	uint64_t wake_data;
	uint64_t rejected;      /* connections refused while one was up */
	uint64_t faults;        /* connections ended by a broken ring */
	bool client;
	struct hl_bufpool *bp;  /* client role */
	uint32_t bp_room;       /* client role: a fresh buffer's room after its headroom */
	uint64_t retry_ns;      /* client role: next connect attempt */
	unsigned backoff_ms;    /* client role: doubles on each failure, up to HL_MEMIF_BACKOFF_MAX_MS */
	uint64_t connect_fails; /* client role: attempts that found no server */
};

/*
 * Server: bind and listen on prm->path (an old socket file there is
 * replaced). Client: connect to it from the first hl_memif_port_poll_ctrl
 * on, again after each failure or disconnect.
 */
int hl_memif_port_open(struct hl_memif_port *p, const struct hl_memif_port_params *prm);
void hl_memif_port_close(struct hl_memif_port *p);
/* Control thread: accept, run the handshake, end broken connections. Never blocks. */
void hl_memif_port_poll_ctrl(struct hl_memif_port *p);
bool hl_memif_port_up(const struct hl_memif_port *p);

/* Peer -> switch: up to n frames from the S2M rings, copied into buffers from bp. */
uint16_t hl_memif_rx_burst(struct hl_memif_port *p, struct hl_bufpool *bp, struct hl_buf **pkts, uint16_t n);
/* Switch -> peer: copy up to n frames into M2S ring q; returns how many went. The caller still owns all n. */
uint16_t hl_memif_tx_burst(struct hl_memif_port *p, unsigned q, struct hl_buf **pkts, uint16_t n);

/* Client role, server -> switch: frames in the switch's own buffers from the M2S rings; refills them. */
uint16_t hl_memif_client_rx_burst(struct hl_memif_port *p, struct hl_buf **pkts, uint16_t n);
/*
 * Client role, switch -> server: lend up to n frames on S2M ring q. Takes
 * over the frames that went (returned count), held until the server gives
 * their slots back; the caller still owns the rest.
 */
uint16_t hl_memif_client_tx_burst(struct hl_memif_port *p, unsigned q, struct hl_buf **pkts, uint16_t n);
/* Client role, control thread, before q runs: offer a pool buffer in every free M2S slot. */
void hl_memif_client_offer(struct hl_memif_port *p, struct hl_memif_q *q);
/* Client role, control thread, queues stopped: give back every buffer still lent. */
void hl_memif_client_release(struct hl_memif_port *p);

/*
 * Sleeping instead of polling: set_wakeup (control thread, once) keeps the
 * eventfds of the rings we receive on (S2M as a server, M2S as a client)
 * registered in epfd with data, edge-triggered, across reconnects. arm
 * clears MASK_INT on those rings so the peer signals, and returns false if
 * frames arrived meanwhile; disarm masks again, so a busy peer makes no
 * syscall.
 */
int hl_memif_port_set_wakeup(struct hl_memif_port *p, int epfd, uint64_t data);
bool hl_memif_port_arm(struct hl_memif_port *p);
void hl_memif_port_disarm(struct hl_memif_port *p);

#ifdef __cplusplus
}
#endif
#endif
