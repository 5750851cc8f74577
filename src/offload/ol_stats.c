/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Counting what offloads refused: one counter per reason and port, and one
 * log line per reason and port, the first time. A hostile guest can make
 * every frame a refusal; it must not make every frame a write to the log.
 */
#include "ol_internal.h"

static const char *const names[HL_OL_R_MAX] = {
	[HL_OL_R_CSUM_NOT_NEGOTIATED] = "csum_not_negotiated",
	[HL_OL_R_GSO_NOT_NEGOTIATED] = "gso_not_negotiated",
	[HL_OL_R_ECN_NOT_NEGOTIATED] = "ecn_not_negotiated",
	[HL_OL_R_FLAGS_CONFLICT] = "flags_conflict",
	[HL_OL_R_GSO_TYPE] = "gso_type",
	[HL_OL_R_GSO_NO_CSUM] = "gso_no_csum",
	[HL_OL_R_GSO_SIZE] = "gso_size",
	[HL_OL_R_CSUM_START] = "csum_start",
	[HL_OL_R_CSUM_OFFSET] = "csum_offset",
	[HL_OL_R_GSO_MISMATCH] = "gso_mismatch",
	[HL_OL_R_FRAME_TOO_BIG] = "frame_too_big",
	[HL_OL_R_MALFORMED] = "malformed",
	[HL_OL_R_HDR_TOO_LONG] = "hdr_too_long",
	[HL_OL_R_NOT_IP] = "not_ip",
	[HL_OL_R_L4_PROTO] = "l4_proto",
	[HL_OL_R_IP_FRAGMENT] = "ip_fragment",
	[HL_OL_R_IPV6_ROUTED] = "ipv6_routed",
	[HL_OL_R_BAD_META] = "bad_meta",
	[HL_OL_R_PORT_TOO_SMALL] = "port_too_small",
	[HL_OL_R_TOO_MANY_SEGS] = "too_many_segs",
	[HL_OL_R_BUF_TOO_SMALL] = "buf_too_small",
	[HL_OL_R_NOBUFS] = "nobufs",
};

const char *hl_ol_reason_name(enum hl_ol_reason r)
{
	return (unsigned)r < HL_OL_R_MAX && names[r] != NULL ? names[r] : "?";
}

int hl_ol_refuse(struct hl_ol_stats *st, enum hl_ol_reason r, int err)
{
	st->refused[r]++;
	if (hl_unlikely(!(st->warned & (1u << r)))) {
		st->warned |= 1u << r;
		HL_LOG_WARN("offload: frame refused (%s); further ones on this port are only counted",
			    hl_ol_reason_name(r));
	}
	return err;
}
