/* SPDX-License-Identifier: BSD-3-Clause */
/* Test frames: see frame.h. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

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

void hl_frame_fill(uint8_t *d, const uint8_t dst[6], const uint8_t src[6], uint64_t seq, unsigned size)
{
	memcpy(d, dst, 6);
	memcpy(d + 6, src, 6);
	d[12] = HL_FRAME_ETHERTYPE >> 8;
	d[13] = HL_FRAME_ETHERTYPE & 0xff;
	memcpy(d + SEQ_OFF, &seq, 8);
	for (unsigned i = HL_FRAME_MIN; i < size; i++)
		d[i] = (uint8_t)(seq + i);
}

void hl_frame_check(const uint8_t *d, uint32_t len, const uint8_t me[6], struct hl_frame_counters *c, bool verify)
{
	if (len < HL_FRAME_MIN || memcmp(d, me, 6) != 0 || d[12] != (HL_FRAME_ETHERTYPE >> 8) ||
	    d[13] != (HL_FRAME_ETHERTYPE & 0xff)) {
		c->rx_other++;
		return;
	}
	c->rx++;
	c->rx_bytes += len;
	if (!verify)
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
	       ",\"tx_mpps\":%.3f,\"rx_mpps\":%.3f,\"rx_gbps\":%.3f}\n",
	       tag, name, secs, c->tx, c->tx_bytes, c->rx, c->rx_bytes, c->rx_bad, c->rx_other,
	       secs > 0 ? (double)c->tx / secs / 1e6 : 0, secs > 0 ? (double)c->rx / secs / 1e6 : 0,
	       secs > 0 ? (double)c->rx_bytes * 8 / secs / 1e9 : 0);
	fflush(stdout);
}
