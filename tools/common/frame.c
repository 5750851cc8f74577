/* SPDX-License-Identifier: BSD-3-Clause */
/* Test frames: see frame.h. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <hugelink/buf.h>
#include <hugelink/offload.h>

#include "frame.h"

#define SEQ_OFF 14

int hl_frame_parse_mac(const char *s, uint8_t m[6])
{
	unsigned v[6];
	char extra;
	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &extra) != 6)
		return -1;
	for (int i = 0; i < 6; i++) {
		if (v[i] > 255)
			return -1;
		m[i] = (uint8_t)v[i];
	}
	return 0;
}

void hl_frame_eth(uint8_t *d, const uint8_t *dst, const uint8_t src[6], uint16_t type)
{
	if (dst != NULL)
		memcpy(d, dst, 6);
	else
		memset(d, 0xff, 6);
	memcpy(d + 6, src, 6);
	d[12] = (uint8_t)(type >> 8);
	d[13] = (uint8_t)type;
}

struct hl_buf *hl_frame_buf(struct hl_bufpool *bp, const uint8_t *dst, const uint8_t src[6], uint16_t type,
			    unsigned len)
{
	struct hl_buf *b = hl_buf_alloc(bp);
	if (b == NULL)
		return NULL;
	uint8_t *d = hl_buf_data(b);
	memset(d, 0, len);
	hl_frame_eth(d, dst, src, type);
	b->data_len = b->pkt_len = len;
	return b;
}

void hl_frame_fill(uint8_t *d, const uint8_t dst[6], const uint8_t src[6], uint64_t seq, unsigned size)
{
	hl_frame_eth(d, dst, src, HL_FRAME_ETHERTYPE);
	memcpy(d + SEQ_OFF, &seq, 8);
	if (size > HL_FRAME_MIN)
		hl_frame_fill_part(d + HL_FRAME_MIN, seq, HL_FRAME_MIN, size - HL_FRAME_MIN);
}

void hl_frame_fill_part(uint8_t *d, uint64_t seq, unsigned from, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		d[i] = (uint8_t)(seq + from + i);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* The TCP pseudo-header's sum for an IPv4 header and an L4 length. */
static uint16_t pseudo_sum(const uint8_t *ip, uint32_t l4_len)
{
	uint8_t b[4] = {0, 6};
	put16(b + 2, (uint16_t)l4_len);
	return hl_csum_add(hl_csum_add(0, ip + 12, 8), b, sizeof(b));
}

void hl_frame_tcp_fields(uint8_t *d, const uint8_t dst[6], const uint8_t src[6], uint16_t ip_id, uint32_t seq,
			 uint32_t payload)
{
	static const uint8_t a[4] = {10, 9, 0, 1}, b[4] = {10, 9, 0, 2};
	uint8_t *ip = d + 14, *tcp = ip + 20;

	hl_frame_eth(d, dst, src, 0x0800);
	memset(ip, 0, 40);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(40 + payload));
	put16(ip + 4, ip_id);
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, a, 4);
	memcpy(ip + 16, b, 4);
	put16(tcp, 40000);
	put16(tcp + 2, 5201);
	put32(tcp + 4, seq);
	tcp[12] = 5 << 4;
	tcp[13] = 0x18; /* PSH, ACK */
	put16(tcp + 14, 65535);
}

void hl_frame_tcp_header(uint8_t *d, const uint8_t dst[6], const uint8_t src[6], uint32_t seq, uint32_t payload)
{
	uint8_t *ip = d + 14, *tcp = ip + 20;

	hl_frame_tcp_fields(d, dst, src, (uint16_t)seq, seq, payload);
	uint16_t s = (uint16_t)~hl_csum_add(0, ip, 20);
	memcpy(ip + 10, &s, 2);
	s = pseudo_sum(ip, 20 + payload);
	memcpy(tcp + 16, &s, 2);
}

void hl_frame_tcp_payload(uint8_t *d, uint32_t q, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		d[i] = hl_frame_tcp_byte(q + i);
}

/* Count a received frame: for `me`, of at least min bytes and ethertype type? True if its bytes are to be checked. */
static bool count_rx(const uint8_t *d, uint32_t len, uint32_t min, uint16_t type, const uint8_t me[6],
		     struct hl_frame_counters *c, bool verify)
{
	if (len < min || memcmp(d, me, 6) != 0 || get16(d + 12) != type) {
		c->rx_other++;
		return false;
	}
	c->rx++;
	c->rx_bytes += len;
	return verify;
}

void hl_frame_tcp_check(const uint8_t *d, uint32_t len, bool partial, const uint8_t me[6],
			struct hl_frame_counters *c, bool verify)
{
	if (!count_rx(d, len, HL_FRAME_TCP_HDRS, 0x0800, me, c, verify))
		return;
	const uint8_t *ip = d + 14, *tcp = ip + 20;
	uint32_t pl = len - HL_FRAME_TCP_HDRS;
	bool ok = ip[0] == 0x45 && ip[9] == 6 && get16(ip + 2) == 40 + pl && hl_csum_add(0, ip, 20) == 0xffff;
	/* a partial checksum holds the pseudo-header's sum until someone completes it */
	if (ok && !partial)
		ok = hl_csum_add(pseudo_sum(ip, 20 + pl), tcp, 20 + pl) == 0xffff;
	uint32_t q = get32(tcp + 4);
	for (uint32_t i = 0; ok && i < pl; i++)
		ok = tcp[20 + i] == hl_frame_tcp_byte(q + i);
	c->rx_bad += !ok;
}


void hl_frame_check(const uint8_t *d, uint32_t len, const uint8_t me[6], struct hl_frame_counters *c, bool verify)
{
	if (!count_rx(d, len, HL_FRAME_MIN, HL_FRAME_ETHERTYPE, me, c, verify))
		return;
	uint64_t seq;
	memcpy(&seq, d + SEQ_OFF, 8);
	for (unsigned i = HL_FRAME_MIN; i < len; i++)
		if (d[i] != (uint8_t)(seq + i)) {
			c->rx_bad++;
			return;
		}
}

void hl_frame_report(const char *tag, const char *name, const struct hl_frame_counters *c, double secs)
{
	printf("{\"%s\":\"%s\",\"seconds\":%.3f,\"tx_packets\":%" PRIu64 ",\"tx_bytes\":%" PRIu64
	       ",\"rx_packets\":%" PRIu64 ",\"rx_bytes\":%" PRIu64 ",\"rx_bad\":%" PRIu64 ",\"rx_other\":%" PRIu64
	       ",\"rx_offload\":%" PRIu64 ",\"tx_mpps\":%.3f,\"rx_mpps\":%.3f,\"rx_gbps\":%.3f}\n",
	       tag, name, secs, c->tx, c->tx_bytes, c->rx, c->rx_bytes, c->rx_bad, c->rx_other, c->rx_offload,
	       secs > 0 ? (double)c->tx / secs / 1e6 : 0, secs > 0 ? (double)c->rx / secs / 1e6 : 0,
	       secs > 0 ? (double)c->rx_bytes * 8 / secs / 1e9 : 0);
	fflush(stdout);
}
