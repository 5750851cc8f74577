/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The test frames hugelink's traffic tools send and check (hltraffic on
 * vhost-user, hlshm on shm ports): Ethernet to a peer's MAC with a local
 * experimental ethertype, a 64-bit sequence number, then byte i of the
 * frame = (seq + i) & 0xff, so a receiver can check any frame on its own.
 */
#ifndef HL_TOOLS_FRAME_H
#define HL_TOOLS_FRAME_H

#include <stdbool.h>
#include <stdint.h>

#define HL_FRAME_ETHERTYPE 0x88b5
#define HL_FRAME_MIN 22 /* Ethernet header + sequence number */

struct hl_frame_counters {
	uint64_t tx, tx_bytes, rx, rx_bytes, rx_bad, rx_other;
};

int hl_frame_parse_mac(const char *s, uint8_t m[6]);
void hl_frame_fill(uint8_t *d, const uint8_t dst[6], const uint8_t src[6], uint64_t seq, unsigned size);
/* Count one received frame of len contiguous bytes: ours and good, ours and corrupt, or someone else's. */
void hl_frame_check(const uint8_t *d, uint32_t len, const uint8_t me[6], struct hl_frame_counters *c, bool verify);
/* One JSON line: {"<tag>":"<name>","seconds":..,"tx_packets":..,...}. */
void hl_frame_report(const char *tag, const char *name, const struct hl_frame_counters *c, double secs);

#endif
