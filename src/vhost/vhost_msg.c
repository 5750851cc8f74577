/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The shape of each vhost-user request: how long its payload is and how many
 * file descriptors come with it. Checked before the engine reads a field,
 * so the handlers in vhost_dev.c may trust sizes (not values).
 */
#include <errno.h>
#include <stddef.h>

#include <hugelink/vhost_dev.h>

enum fds { FD_NONE, FD_ONE, FD_OPT, FD_REGIONS };

struct shape {
	const char *name;
	uint16_t min, max; /* payload bytes */
	uint8_t fds;
};

#define U64 sizeof(uint64_t), sizeof(uint64_t)
#define STATE sizeof(struct hl_vu_vring_state), sizeof(struct hl_vu_vring_state)

static const struct shape shapes[HL_VU_REQUEST_MAX] = {
	[HL_VU_GET_FEATURES] = {"GET_FEATURES", 0, 0, FD_NONE},
	[HL_VU_SET_FEATURES] = {"SET_FEATURES", U64, FD_NONE},
	[HL_VU_SET_OWNER] = {"SET_OWNER", 0, 0, FD_NONE},
	[HL_VU_RESET_OWNER] = {"RESET_OWNER", 0, 0, FD_NONE},
	[HL_VU_SET_MEM_TABLE] = {"SET_MEM_TABLE", 8, sizeof(struct hl_vu_mem_table), FD_REGIONS},
	[HL_VU_SET_LOG_BASE] = {"SET_LOG_BASE", 8, 16, FD_OPT},
	[HL_VU_SET_LOG_FD] = {"SET_LOG_FD", 0, 8, FD_OPT},
	[HL_VU_SET_VRING_NUM] = {"SET_VRING_NUM", STATE, FD_NONE},
	[HL_VU_SET_VRING_ADDR] = {"SET_VRING_ADDR", sizeof(struct hl_vu_vring_addr),
				  sizeof(struct hl_vu_vring_addr), FD_NONE},
	[HL_VU_SET_VRING_BASE] = {"SET_VRING_BASE", STATE, FD_NONE},
	[HL_VU_GET_VRING_BASE] = {"GET_VRING_BASE", STATE, FD_NONE},
	[HL_VU_SET_VRING_KICK] = {"SET_VRING_KICK", U64, FD_OPT},
	[HL_VU_SET_VRING_CALL] = {"SET_VRING_CALL", U64, FD_OPT},
	[HL_VU_SET_VRING_ERR] = {"SET_VRING_ERR", U64, FD_OPT},
	[HL_VU_GET_PROTOCOL_FEATURES] = {"GET_PROTOCOL_FEATURES", 0, 0, FD_NONE},
	[HL_VU_SET_PROTOCOL_FEATURES] = {"SET_PROTOCOL_FEATURES", U64, FD_NONE},
	[HL_VU_GET_QUEUE_NUM] = {"GET_QUEUE_NUM", 0, 0, FD_NONE},
	[HL_VU_SET_VRING_ENABLE] = {"SET_VRING_ENABLE", STATE, FD_NONE},
	[HL_VU_SEND_RARP] = {"SEND_RARP", U64, FD_NONE},
	[HL_VU_NET_SET_MTU] = {"NET_SET_MTU", U64, FD_NONE},
	[HL_VU_GET_CONFIG] = {"GET_CONFIG", 12, 12 + 256, FD_NONE},
	[HL_VU_SET_CONFIG] = {"SET_CONFIG", 12, 12 + 256, FD_NONE},
	[HL_VU_RESET_DEVICE] = {"RESET_DEVICE", 0, 0, FD_NONE},
	[HL_VU_GET_MAX_MEM_SLOTS] = {"GET_MAX_MEM_SLOTS", 0, 0, FD_NONE},
	[HL_VU_ADD_MEM_REG] = {"ADD_MEM_REG", sizeof(struct hl_vu_mem_single),
			       sizeof(struct hl_vu_mem_single), FD_ONE},
	[HL_VU_REM_MEM_REG] = {"REM_MEM_REG", sizeof(struct hl_vu_mem_single),
			       sizeof(struct hl_vu_mem_single), FD_OPT},
	[HL_VU_SET_STATUS] = {"SET_STATUS", U64, FD_NONE},
	[HL_VU_GET_STATUS] = {"GET_STATUS", 0, 0, FD_NONE},
};

const char *hl_vu_request_name(uint32_t req)
{
	if (req < HL_VU_REQUEST_MAX && shapes[req].name != NULL)
		return shapes[req].name;
	return "UNKNOWN";
}

int hl_vu_msg_check(const struct hl_vu_msg *m, size_t len, unsigned nfds)
{
	if (len < sizeof(m->hdr))
		return hl_error(-EBADMSG, "vhost-user: %zu-byte message shorter than its header", len);
	uint32_t req = m->hdr.request;
	const char *name = hl_vu_request_name(req);
	if ((m->hdr.flags & HL_VU_VERSION_MASK) != HL_VU_VERSION)
		return hl_error(-EBADMSG, "vhost-user %s: version %u, want %u", name,
				m->hdr.flags & HL_VU_VERSION_MASK, HL_VU_VERSION);
	if (m->hdr.flags & HL_VU_FLAG_REPLY)
		return hl_error(-EBADMSG, "vhost-user %s: a reply sent as a request", name);
	if (m->hdr.size > HL_VU_MAX_PAYLOAD || len != sizeof(m->hdr) + m->hdr.size)
		return hl_error(-EBADMSG, "vhost-user %s: size %u does not match %zu bytes received",
				name, m->hdr.size, len);
	if (nfds > HL_VU_MAX_FDS)
		return hl_error(-EBADMSG, "vhost-user %s: %u fds", name, nfds);
	if (req >= HL_VU_REQUEST_MAX || shapes[req].name == NULL)
		return 0; /* unknown: the engine answers it */
	const struct shape *s = &shapes[req];
	if (m->hdr.size < s->min || m->hdr.size > s->max)
		return hl_error(-EBADMSG, "vhost-user %s: payload of %u bytes, want %u..%u", name,
				m->hdr.size, s->min, s->max);
	switch (s->fds) {
	case FD_NONE:
		if (nfds != 0)
			return hl_error(-EBADMSG, "vhost-user %s: %u unexpected fds", name, nfds);
		break;
	case FD_ONE:
		if (nfds != 1)
			return hl_error(-EBADMSG, "vhost-user %s: %u fds, want 1", name, nfds);
		break;
	case FD_OPT:
		if (nfds > 1)
			return hl_error(-EBADMSG, "vhost-user %s: %u fds, want at most 1", name, nfds);
		break;
	case FD_REGIONS: {
		uint32_t n = m->payload.mem.nregions;
		if (n == 0 || n > HL_VU_MEM_TABLE_MAX)
			return hl_error(-EBADMSG, "vhost-user %s: nregions %u out of 1..%u", name, n,
					HL_VU_MEM_TABLE_MAX);
		if (m->hdr.size < 8 + n * sizeof(struct hl_vu_mem_region))
			return hl_error(-EBADMSG, "vhost-user %s: %u regions do not fit in %u bytes",
					name, n, m->hdr.size);
		if (nfds != n)
			return hl_error(-EBADMSG, "vhost-user %s: %u fds for %u regions", name, nfds, n);
		break;
	}
	}
	return 0;
}
