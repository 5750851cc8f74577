/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The memif wire format, version 2.0: what crosses the control socket and
 * what lies in the shared regions. Nothing else is in this header, and
 * every structure's size and every field's offset is asserted, so the ABI
 * cannot drift with a compiler or a refactor.
 *
 * Roles. The client ("slave" in older texts) owns all shared memory: it
 * creates the regions (files passed as fds), lays out the rings and the
 * packet buffers in them, and sends one eventfd per ring. The server
 * ("master") only maps what it is given. Ring directions are named from
 * the client: S2M rings carry client -> server, M2S rings server -> client.
 *
 * Control sequence (SOCK_SEQPACKET, each message exactly 128 bytes):
 *   server: HELLO                 (its limits)
 *   client: INIT                  (version, interface id, secret)   server: ACK
 *   client: ADD_REGION  x regions (fd: the region's file)           server: ACK
 *   client: ADD_RING    x rings   (fd: the ring's eventfd)          server: ACK
 *   client: CONNECT                                                 server: CONNECTED
 * Either side may send DISCONNECT (a reason) and close.
 *
 * Rings. ring_size = 1 << log2_ring_size slots; head and tail count slots
 * modulo 2^16, so head - tail never exceeds ring_size for a sane peer.
 *   S2M: the client fills slots and advances head; the server reads up to
 *        head and gives the slots back by advancing tail.
 *   M2S: the client offers empty buffers by advancing head (each slot's
 *        length = room); the server fills slots from tail, sets their
 *        length and flags, and advances tail; the client reads up to tail.
 * So head is always the client's word and tail the server's. A frame of
 * several buffers is consecutive slots, each but the last with
 * HL_MEMIF_DESC_F_NEXT. A ring's flags are written by its receiver:
 * HL_MEMIF_RING_F_MASK_INT asks the sender not to signal the eventfd
 * (the receiver polls).
 */
#ifndef HUGELINK_MEMIF_ABI_H
#define HUGELINK_MEMIF_ABI_H

#include <stddef.h>
#include <stdint.h>

#define HL_MEMIF_COOKIE 0x3E31F20u
#define HL_MEMIF_VERSION ((2u << 8) | 0u)
#define HL_MEMIF_NAME_SZ 32
#define HL_MEMIF_SECRET_SZ 24
#define HL_MEMIF_DISC_SZ 96
#define HL_MEMIF_MSG_SIZE 128

enum hl_memif_msg_type {
	HL_MEMIF_MSG_NONE = 0,
	HL_MEMIF_MSG_ACK = 1,
	HL_MEMIF_MSG_HELLO = 2,
	HL_MEMIF_MSG_INIT = 3,
	HL_MEMIF_MSG_ADD_REGION = 4,
	HL_MEMIF_MSG_ADD_RING = 5,
	HL_MEMIF_MSG_CONNECT = 6,
	HL_MEMIF_MSG_CONNECTED = 7,
	HL_MEMIF_MSG_DISCONNECT = 8,
};

#define HL_MEMIF_MODE_ETHERNET 0
#define HL_MEMIF_ADD_RING_F_S2M 1u
#define HL_MEMIF_RING_F_MASK_INT 1u
#define HL_MEMIF_DESC_F_NEXT 1u

/* server -> client: what the server takes (counts are the largest index, not counts) */
struct hl_memif_hello {
	uint8_t name[HL_MEMIF_NAME_SZ];
	uint16_t min_version;
	uint16_t max_version;
	uint16_t max_region;
	uint16_t max_m2s_ring;
	uint16_t max_s2m_ring;
	uint8_t max_log2_ring_size;
} __attribute__((packed));

/* client -> server */
struct hl_memif_init {
	uint16_t version;
	uint32_t id;
	uint8_t mode;
	uint8_t secret[HL_MEMIF_SECRET_SZ];
	uint8_t name[HL_MEMIF_NAME_SZ];
} __attribute__((packed));

/* client -> server, with the region's fd; the server maps [0, size) of it */
struct hl_memif_add_region {
	uint16_t index;
	uint64_t size;
} __attribute__((packed));

/* client -> server, with the ring's eventfd */
struct hl_memif_add_ring {
	uint16_t flags;
	uint16_t index;
	uint16_t region;
	uint32_t offset;
	uint8_t log2_ring_size;
	uint16_t private_hdr_size;
} __attribute__((packed));

/* CONNECT (client -> server) and CONNECTED (server -> client) */
struct hl_memif_connect {
	uint8_t if_name[HL_MEMIF_NAME_SZ];
} __attribute__((packed));

struct hl_memif_disconnect {
	uint32_t code;
	uint8_t string[HL_MEMIF_DISC_SZ];
} __attribute__((packed));

struct hl_memif_msg {
	uint16_t type;
	union {
		struct hl_memif_hello hello;
		struct hl_memif_init init;
		struct hl_memif_add_region add_region;
		struct hl_memif_add_ring add_ring;
		struct hl_memif_connect connect;
		struct hl_memif_disconnect disconnect;
		uint8_t raw[HL_MEMIF_MSG_SIZE - 2];
	};
} __attribute__((packed));

/*
 * A buffer: where it lies in which region, and how many bytes it holds.
 * Naturally aligned (no packing), so each field can be loaded and stored
 * atomically where it lies in shared memory.
 */
struct hl_memif_desc {
	uint16_t flags;  /* HL_MEMIF_DESC_F_* */
	uint16_t region;
	uint32_t length;
	uint32_t offset;
	uint32_t metadata;
};

/* A ring's header; its descriptors follow at offset 128. */
struct hl_memif_ring {
	uint32_t cookie;  /* client: HL_MEMIF_COOKIE */
	uint16_t flags;   /* the ring's receiver: HL_MEMIF_RING_F_MASK_INT */
	uint16_t head;    /* client */
	uint8_t pad0[56];
	uint16_t tail;    /* server */
	uint8_t pad1[62];
	struct hl_memif_desc desc[];
};

#define HL_MEMIF_RING_BYTES(log2) (sizeof(struct hl_memif_ring) + sizeof(struct hl_memif_desc) * ((size_t)1 << (log2)))

_Static_assert(sizeof(struct hl_memif_hello) == 43, "memif hello is 43 bytes");
_Static_assert(sizeof(struct hl_memif_init) == 63, "memif init is 63 bytes");
_Static_assert(sizeof(struct hl_memif_add_region) == 10, "memif add_region is 10 bytes");
_Static_assert(sizeof(struct hl_memif_add_ring) == 13, "memif add_ring is 13 bytes");
_Static_assert(sizeof(struct hl_memif_connect) == 32, "memif connect is 32 bytes");
_Static_assert(sizeof(struct hl_memif_disconnect) == 100, "memif disconnect is 100 bytes");
_Static_assert(sizeof(struct hl_memif_msg) == HL_MEMIF_MSG_SIZE, "memif messages are 128 bytes");
_Static_assert(offsetof(struct hl_memif_msg, hello) == 2, "a message's body follows its 16-bit type");
_Static_assert(sizeof(struct hl_memif_desc) == 16, "memif descriptors are 16 bytes");
_Static_assert(offsetof(struct hl_memif_desc, length) == 4 && offsetof(struct hl_memif_desc, offset) == 8,
	       "descriptor fields where memif puts them");
_Static_assert(offsetof(struct hl_memif_ring, head) == 6, "ring head at byte 6");
_Static_assert(offsetof(struct hl_memif_ring, tail) == 64, "ring tail on the second cache line");
_Static_assert(offsetof(struct hl_memif_ring, desc) == 128, "descriptors on the third cache line");
_Static_assert(sizeof(struct hl_memif_ring) == 128, "ring header is 128 bytes");

#endif
