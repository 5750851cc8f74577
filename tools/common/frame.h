/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The test frames hugelink's traffic tools send and check (hltraffic on
 * vhost-user, hlshm on shm ports): Ethernet to a peer's MAC with a local
 * experimental ethertype, a 64-bit sequence number, then byte i of the
 * frame = (seq + i) & 0xff, so a receiver can check any frame on its own.
 *
 * TCP test frames (hlshm --tso): Ethernet, IPv4 (10.9.0.1 -> 10.9.0.2, its
 * header checksummed), TCP (its checksum field holding the pseudo-header's
 * sum, as a sender asking for a partial checksum leaves it), then payload
 * whose byte at stream position q (the TCP sequence number counts it) is
 * hl_frame_tcp_byte(q): a segment cut from such a frame anywhere checks on
 * its own, whoever cut it.
 */
#ifndef HL_TOOLS_FRAME_H
#define HL_TOOLS_FRAME_H

#include <stdbool.h>
#include <stdint.h>

#define HL_FRAME_ETHERTYPE 0x88b5
#define HL_FRAME_MIN 22 /* Ethernet header + sequence number */
#define HL_FRAME_TCP_HDRS 54u /* Ethernet, IPv4 and TCP headers of a TCP test frame */

struct hl_frame_counters {
	uint64_t tx, tx_bytes, rx, rx_bytes, rx_bad, rx_other;
	uint64_t rx_offload; /* frames that came with offload metadata (TSO, partial checksum) */
};

struct hl_buf;
struct hl_bufpool;

int hl_frame_parse_mac(const char *s, uint8_t m[6]);
/* An Ethernet header at d: to dst (NULL: broadcast) from src, of ethertype type. */
void hl_frame_eth(uint8_t *d, const uint8_t *dst, const uint8_t src[6], uint16_t type);
/*
 * A new buffer of bp holding a len-byte frame with that Ethernet header and
 * zeroes after it (the caller writes the rest); NULL when bp has none free.
 */
struct hl_buf *hl_frame_buf(struct hl_bufpool *bp, const uint8_t *dst, const uint8_t src[6], uint16_t type,
			    unsigned len);
void hl_frame_fill(uint8_t *d, const uint8_t dst[6], const uint8_t src[6], uint64_t seq, unsigned size);
/* Bytes [from, from + n) of the payload of test frame seq (from >= HL_FRAME_MIN), at d. */
void hl_frame_fill_part(uint8_t *d, uint64_t seq, unsigned from, unsigned n);

static inline uint8_t hl_frame_tcp_byte(uint32_t q)
{
	return (uint8_t)(q ^ (q >> 8) ^ (q >> 16));
}
/*
 * The headers of a TCP test frame with `payload` bytes from stream position
 * seq and IPv4 id ip_id, both checksums 0, for a writer that sums them its
 * own way (the offload tests sum with a reference of their own).
 */
void hl_frame_tcp_fields(uint8_t *d, const uint8_t dst[6], const uint8_t src[6], uint16_t ip_id, uint32_t seq,
			 uint32_t payload);
/* The headers of a TCP test frame with `payload` bytes from stream position seq, checksummed. */
void hl_frame_tcp_header(uint8_t *d, const uint8_t dst[6], const uint8_t src[6], uint32_t seq, uint32_t payload);
/* n payload bytes from stream position q, at d. */
void hl_frame_tcp_payload(uint8_t *d, uint32_t q, uint32_t n);
/*
 * Count one received TCP test frame of len contiguous bytes: ours and good
 * (its IP header sum, its TCP sum unless `partial` says the sender left it
 * to be completed, the payload where its sequence number puts it), ours
 * and corrupt, or someone else's.
 */
void hl_frame_tcp_check(const uint8_t *d, uint32_t len, bool partial, const uint8_t me[6],
			struct hl_frame_counters *c, bool verify);
/* Count one received frame of len contiguous bytes: ours and good, ours and corrupt, or someone else's. */
void hl_frame_check(const uint8_t *d, uint32_t len, const uint8_t me[6], struct hl_frame_counters *c, bool verify);
/* One JSON line: {"<tag>":"<name>","seconds":..,"tx_packets":..,...}. */
void hl_frame_report(const char *tag, const char *name, const struct hl_frame_counters *c, double secs);

#endif
