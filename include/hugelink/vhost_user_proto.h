/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vhost-user wire format (the protocol QEMU and DPDK speak over a UNIX
 * socket), declared once with size asserts. Facts from the vhost-user
 * specification; every message is a 12-byte header and a payload of
 * `size` bytes, with file descriptors passed as SCM_RIGHTS ancillary data.
 * Everything here arrives from a peer and is validated before use
 * (vhost_msg.c).
 */
#ifndef HUGELINK_VHOST_USER_PROTO_H
#define HUGELINK_VHOST_USER_PROTO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum hl_vu_request {
	HL_VU_GET_FEATURES = 1,
	HL_VU_SET_FEATURES = 2,
	HL_VU_SET_OWNER = 3,
	HL_VU_RESET_OWNER = 4,
	HL_VU_SET_MEM_TABLE = 5,
	HL_VU_SET_LOG_BASE = 6,
	HL_VU_SET_LOG_FD = 7,
	HL_VU_SET_VRING_NUM = 8,
	HL_VU_SET_VRING_ADDR = 9,
	HL_VU_SET_VRING_BASE = 10,
	HL_VU_GET_VRING_BASE = 11,
	HL_VU_SET_VRING_KICK = 12,
	HL_VU_SET_VRING_CALL = 13,
	HL_VU_SET_VRING_ERR = 14,
	HL_VU_GET_PROTOCOL_FEATURES = 15,
	HL_VU_SET_PROTOCOL_FEATURES = 16,
	HL_VU_GET_QUEUE_NUM = 17,
	HL_VU_SET_VRING_ENABLE = 18,
	HL_VU_SEND_RARP = 19,
	HL_VU_NET_SET_MTU = 20,
	HL_VU_GET_CONFIG = 24,
	HL_VU_SET_CONFIG = 25,
	HL_VU_RESET_DEVICE = 34,
	HL_VU_GET_MAX_MEM_SLOTS = 36,
	HL_VU_ADD_MEM_REG = 37,
	HL_VU_REM_MEM_REG = 38,
	HL_VU_SET_STATUS = 39,
	HL_VU_GET_STATUS = 40,
	HL_VU_REQUEST_MAX = 41,
};

/* header flags */
#define HL_VU_VERSION 0x1u
#define HL_VU_VERSION_MASK 0x3u
#define HL_VU_FLAG_REPLY (1u << 2)
#define HL_VU_FLAG_NEED_REPLY (1u << 3)

/* feature bits in GET/SET_FEATURES */
#define HL_VU_F_LOG_ALL 26 /* the back-end logs the pages it writes (live migration) */
#define HL_VU_F_PROTOCOL_FEATURES 30

/* SET_VRING_ADDR flags: log writes to the used ring at log_guest_addr */
#define HL_VU_VRING_F_LOG 1u

/* protocol feature bits */
#define HL_VU_PROTOCOL_F_MQ 0
#define HL_VU_PROTOCOL_F_LOG_SHMFD 1
#define HL_VU_PROTOCOL_F_RARP 2
#define HL_VU_PROTOCOL_F_REPLY_ACK 3
#define HL_VU_PROTOCOL_F_NET_MTU 4
#define HL_VU_PROTOCOL_F_BACKEND_REQ 5
#define HL_VU_PROTOCOL_F_CONFIG 9
#define HL_VU_PROTOCOL_F_RESET_DEVICE 13
#define HL_VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS 15
#define HL_VU_PROTOCOL_F_STATUS 16

/* u64 payload of SET_VRING_KICK/CALL/ERR */
#define HL_VU_VRING_IDX_MASK 0xffu
#define HL_VU_VRING_NOFD (1u << 8)

#define HL_VU_MEM_TABLE_MAX 8  /* regions in one SET_MEM_TABLE */
#define HL_VU_MAX_FDS 8        /* fds in one message */
#define HL_VU_MAX_PAYLOAD 4096 /* longer messages are refused */

struct hl_vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size; /* payload bytes */
} __attribute__((packed));

struct hl_vu_vring_state {
	uint32_t index;
	uint32_t num;
} __attribute__((packed));

struct hl_vu_vring_addr {
	uint32_t index;
	uint32_t flags; /* bit 0: log */
	uint64_t desc_user_addr;  /* front-end virtual addresses */
	uint64_t used_user_addr;
	uint64_t avail_user_addr;
	uint64_t log_guest_addr;
} __attribute__((packed));

struct hl_vu_mem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr; /* in the front-end's address space */
	uint64_t mmap_offset;    /* into the fd passed with the message */
} __attribute__((packed));

struct hl_vu_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct hl_vu_mem_region regions[HL_VU_MEM_TABLE_MAX];
} __attribute__((packed));

/* SET_LOG_BASE payload; the log's fd comes with it */
struct hl_vu_log {
	uint64_t mmap_size;
	uint64_t mmap_offset;
} __attribute__((packed));

struct hl_vu_mem_single {
	uint64_t padding;
	struct hl_vu_mem_region region;
} __attribute__((packed));

struct hl_vu_msg {
	struct hl_vu_hdr hdr;
	union {
		uint64_t u64;
		struct hl_vu_vring_state state;
		struct hl_vu_vring_addr addr;
		struct hl_vu_mem_table mem;
		struct hl_vu_mem_single single;
		struct hl_vu_log log;
		uint8_t raw[HL_VU_MAX_PAYLOAD];
	} payload;
} __attribute__((packed));

/* the sizes the vhost-user specification gives: the wire format cannot drift */
_Static_assert(sizeof(struct hl_vu_hdr) == 12, "the vhost-user header is 12 bytes");
_Static_assert(sizeof(struct hl_vu_vring_state) == 8, "SET_VRING_NUM/BASE payloads are 8 bytes");
_Static_assert(sizeof(struct hl_vu_vring_addr) == 40, "SET_VRING_ADDR payloads are 40 bytes");
_Static_assert(sizeof(struct hl_vu_mem_region) == 32, "a vhost-user memory region is 32 bytes");
_Static_assert(sizeof(struct hl_vu_mem_table) == 264, "SET_MEM_TABLE payloads are 264 bytes");
_Static_assert(sizeof(struct hl_vu_log) == 16, "SET_LOG_BASE payloads are 16 bytes");
_Static_assert(sizeof(struct hl_vu_mem_single) == 40, "ADD/REM_MEM_REG payloads are 40 bytes");
_Static_assert(sizeof(struct hl_vu_msg) == 12 + HL_VU_MAX_PAYLOAD, "a message is its header and the largest payload");

/*
 * Check a received message's shape: version, size against the request's
 * payload, number of fds. 0 or -EBADMSG with hl_last_error() naming it.
 */
int hl_vu_msg_check(const struct hl_vu_msg *m, size_t len, unsigned nfds);
const char *hl_vu_request_name(uint32_t req);

#ifdef __cplusplus
}
#endif
#endif
