/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The guest the vhost ring tests (test_vhost_packed, test_vhost_in_order)
 * play: one vhost port whose protocol engine gets its messages straight
 * from the test, guest memory a memfd the engine maps, and hugelink's ring
 * drivers, split or packed as the features say, on the guest side of
 * queue 0 (receive) and queue 1 (transmit). One environment a test binary
 * at a time: open_env() sets it up, close_env() checks that every pool
 * buffer came back and takes it all down again. Frames carry their number
 * (see make_frame), so either side can check what it got, and in order.
 */
#ifndef HL_TEST_VQ_ENV_H
#define HL_TEST_VQ_ENV_H

#include <stdbool.h>
#include <stdint.h>

#include <hugelink/vhost_port.h>
#include <hugelink/vring_driver.h>
#include <hugelink/vring_packed_driver.h>

#include "../../src/vhost/vhost_port_pvt.h"

/* Guest memory: its physical base, size and layout (offsets into it). */
#define GPA0 0x100000ull
#define MEM (4ull << 20)
#define RXRING 0x0ull
#define TXRING 0x10000ull
#define TXIND 0x20000ull /* indirect tables of the transmit queue */
#define TXBUF 0x40000ull /* 2 KiB a buffer */
#define RXBUF 0x140000ull
#define NBUF 512 /* more than any ring holds: a buffer is free again before its turn comes */
#define IND_MAX 4
#define HDR 12

#define F(b) HL_VIRTIO_BIT(b)
#define NO_SEQ UINT32_MAX /* a frame number no test reaches: "none" */

extern struct hl_vhost_port port;
extern struct hl_pool *pool;
extern struct hl_bufpool *bp;
extern uint8_t *g; /* guest memory, as the guest sees it */
extern int memfd, callfd[2];
extern unsigned ring_num;
extern bool packed;
extern struct hl_vring_driver srx, stx;
extern struct hl_vring_packed_driver prx, ptx;
extern enum hl_vhost_zc_mode env_zc; /* the next port's zero-copy mode */

static inline uint64_t gpa(uint64_t off) { return GPA0 + off; }

/* A front-end message into the port's engine: what the engine returns; its reply in *r if r. */
int msg(uint32_t req, const void *payload, uint32_t size, int *fds, unsigned nfds, struct hl_vu_msg *r);
int msg_u64(uint32_t req, uint64_t v);
int msg_state(uint32_t req, uint32_t idx, uint32_t num, struct hl_vu_msg *r);
/* Queue q's ring at ring_off, its addresses front-end virtual: ours, the memfd's mapping here. */
int set_addr(unsigned q, uint64_t ring_off);
/* Start (or restart) queue q at base: size, base, addresses, call, kick (none: polled). */
int start_queue(unsigned q, uint32_t base);

/* A port (zero-copy as env_zc), guest memory, both queues running rings of num entries with `features`. */
int open_env(unsigned num, uint64_t features);
void close_env(void);

/* Frame `seq` of len bytes: its number, then a pattern of it; frame_len(seq) long where a test sends many. */
void make_frame(uint8_t *f, uint32_t seq, uint32_t len);
bool frame_is(const uint8_t *f, uint32_t seq, uint32_t len);
static inline uint32_t frame_len(uint32_t seq) { return 60 + seq * 37 % 1400; }
/* The frame in b (head and its segments, pinned or not) is frame seq, frame_len(seq) long. */
bool buf_is_frame(const struct hl_buf *b, uint32_t seq);

/* The guest's driver of the transmit (txq) or receive queue, split or packed. */
int drv_add(bool txq, const struct hl_drv_buf *b, unsigned nr_out, unsigned nr_in, void *tok);
void *drv_used(bool txq, uint32_t *len);

/* How guest_send lays out a frame: header and frame in one descriptor, in two, or in two every third frame. */
enum tx_layout { TX_ONE, TX_TWO, TX_TWO_EVERY_THIRD };

/*
 * The guest transmits `count` frames from seq on (token seq + 1 each), laid
 * out as `layout` says; frame k is a chain outside guest memory when
 * bad_at == k (the back-end refuses it; no frame comes of it). Returns how
 * many the ring took.
 */
unsigned guest_send(uint32_t seq, unsigned count, enum tx_layout layout, unsigned bad_at);

/*
 * The switch takes all the guest sent, frames checked in order from *seq
 * (frame skip_seq, refused, passed over; NO_SEQ: none), *got counting
 * them. Returns how many were not what they should be.
 */
unsigned switch_take(uint32_t *seq, unsigned *got, uint32_t skip_seq);

/* Frame seq of len bytes into the guest's receive queue: how many went (0 also when no buffer). */
uint16_t enqueue_one(uint32_t seq, uint32_t len);
/* Frames frame_len() long from seq on, m of them (8 at most), into the receive queue: how many went. */
uint16_t enqueue_frames(uint32_t seq, unsigned m);

/* The guest posts 512-byte receive buffers while the ring has room, *posted counting them. */
void guest_post_rx(unsigned *posted, unsigned delivered);
/*
 * The guest takes every frame delivered, each over num_buffers chains, in
 * order from *rseq; *delivered counts the chains. Returns the frames that
 * were not right (content, length, header flags, num_buffers).
 */
unsigned guest_take_rx(uint32_t *rseq, unsigned *delivered);

#endif
