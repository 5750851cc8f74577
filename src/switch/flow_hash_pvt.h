/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A frame's flow, as a number: what picks a multiqueue port's egress queue,
 * so every frame of one flow takes the same queue and keeps its order.
 *
 * The flow is the IPv4 or IPv6 source and destination with, for TCP and
 * UDP (an IPv4 fragment after the first has no ports: none for any
 * fragment), the two ports; one VLAN tag is looked through. Anything else
 * (ARP, other EtherTypes, headers cut short) is its two MAC addresses.
 * Only the first segment is read, and never past its data_len: the bytes
 * come from a guest.
 */
#ifndef HL_FLOW_HASH_PVT_H
#define HL_FLOW_HASH_PVT_H

#include <stdint.h>
#include <string.h>

#include <hugelink/buf.h>

static inline uint64_t hl_flow_mix(uint64_t h, uint64_t v)
{
	h ^= v;
	h *= 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 29);
}

static inline uint32_t hl_flow_hash(const struct hl_buf *b)
{
	const uint8_t *e = hl_buf_data(b);
	uint32_t len = b->data_len, off = 12;
	uint64_t a = 0, c = 0, h = 0;

	if (len < 14)
		return 0;
	uint16_t type = (uint16_t)(e[12] << 8 | e[13]);
	if (type == 0x8100 && len >= 18) {
		off = 16;
		type = (uint16_t)(e[16] << 8 | e[17]);
	}
	off += 2;
	const uint8_t *ip = e + off;
	uint32_t l4 = 0, proto = 0;
	if (type == 0x0800 && len >= off + 20 && (ip[0] >> 4) == 4) {
		memcpy(&a, ip + 12, 8); /* source and destination */
		h = hl_flow_mix(0x4, a);
		proto = ip[9];
		bool frag = ((ip[6] & 0x3f) | ip[7]) != 0; /* MF or an offset */
		l4 = frag ? 0 : off + (ip[0] & 0xfu) * 4u;
	} else if (type == 0x86dd && len >= off + 40) {
		memcpy(&a, ip + 8, 8);
		memcpy(&c, ip + 16, 8);
		h = hl_flow_mix(hl_flow_mix(0x6, a), c);
		memcpy(&a, ip + 24, 8);
		memcpy(&c, ip + 32, 8);
		h = hl_flow_mix(hl_flow_mix(h, a), c);
		proto = ip[6];
		l4 = off + 40;
	} else {
		memcpy(&a, e, 8);
		memcpy(&c, e + 4, 8); /* bytes 4..11: the rest of both MACs */
		return (uint32_t)(hl_flow_mix(hl_flow_mix(0, a), c) >> 32);
	}
	if ((proto == 6 || proto == 17) && l4 != 0 && len >= l4 + 4) {
		uint32_t ports;
		memcpy(&ports, e + l4, 4);
		h = hl_flow_mix(h, (uint64_t)ports << 8 | proto);
	}
	return (uint32_t)(h >> 32);
}

/* One of n choices (n >= 1) for hash h, without a division. */
static inline unsigned hl_flow_pick(uint32_t h, unsigned n)
{
	return (unsigned)(((uint64_t)h * n) >> 32);
}

#endif
