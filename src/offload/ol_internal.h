/* SPDX-License-Identifier: BSD-3-Clause */
/* What the files of src/offload share: chain cursors and copies, the parser's core, counting. Not API. */
#ifndef HL_OL_INTERNAL_H
#define HL_OL_INTERNAL_H

#include <hugelink/offload.h>

#define HL_OL_TCP_CSUM_OFF 16u /* the checksum field, from the start of the TCP header */
#define HL_OL_UDP_CSUM_OFF 6u
#define HL_OL_TCP_FIN 0x01u
#define HL_OL_TCP_PSH 0x08u
#define HL_OL_TCP_CWR 0x80u

static inline uint16_t hl_ol_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void hl_ol_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline uint32_t hl_ol_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void hl_ol_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A position in a chain: byte off of segment seg (seg NULL: past the end). */
struct hl_ol_cur {
	const struct hl_buf *seg;
	uint32_t off;
};

/* Put c at byte off of pkt; false when the chain is shorter. */
bool hl_ol_cur_seek(struct hl_ol_cur *c, const struct hl_buf *pkt, uint32_t off);

/* Copy n bytes from c to dst and move c past them; the bytes copied (< n: the chain ended). */
uint32_t hl_ol_cur_copy(struct hl_ol_cur *c, void *dst, uint32_t n);

/* Copy n bytes from byte off of pkt to dst: 0, or -ERANGE when the chain is shorter. */
int hl_ol_read(const struct hl_buf *pkt, uint32_t off, void *dst, uint32_t n);

/* Bytes a fresh buffer of bp holds (its data room less the headroom). */
uint32_t hl_ol_room(const struct hl_bufpool *bp);

/*
 * n fresh buffers of bp linked into one chain (nb_segs n, lengths 0), or
 * NULL with nothing allocated when bp has not n free.
 */
struct hl_buf *hl_ol_chain_alloc(struct hl_bufpool *bp, unsigned n);

/*
 * Fill a chain from hl_ol_chain_alloc(): hdr_len bytes from hdr (in the
 * head, which must hold them), then n bytes from c, each buffer up to room
 * bytes. Sets data_len of each buffer and the head's pkt_len. 0, or -ERANGE
 * when c ran out.
 */
int hl_ol_chain_fill(struct hl_buf *head, uint32_t room, const void *hdr, uint32_t hdr_len,
		     struct hl_ol_cur *c, uint32_t n);

/*
 * A chain equal to pkt whose bytes [from, upto) the caller may write, and
 * whose head's metadata it may change: pkt itself when no other chain
 * reaches those bytes (every segment up to them has refcnt 1: a segment
 * shared by another chain shares everything after it too) and the segments
 * holding them are pool memory (not external); else a new chain with the
 * segments up to upto copied into fresh buffers of bp and the rest shared
 * (one more reference), with pkt's metadata and offload state. pkt is not
 * changed either way. 0; -ENOBUFS (nothing allocated); -ERANGE (pkt is
 * shorter than upto).
 */
int hl_ol_writable(struct hl_buf *pkt, uint32_t from, uint32_t upto, struct hl_bufpool *bp,
		   struct hl_buf **out);

/*
 * The parser's core over len contiguous bytes, the first of a frame of
 * pkt_len bytes (len = min(pkt_len, HL_OL_HDR_MAX)). 0, or a negative errno
 * with *why set.
 */
int hl_ol_parse_bytes(const uint8_t *p, uint32_t len, uint32_t pkt_len, struct hl_ol_hdrs *h,
		      enum hl_ol_reason *why);

/* Complete pkt's partial checksum (hl_ol_prepare's second case). Returns 1 with *out, or a negative errno. */
int hl_ol_csum_complete(struct hl_buf *pkt, struct hl_bufpool *bp, struct hl_buf **out,
			struct hl_ol_stats *st);

/* Count a refusal (logging the first of its reason on this port) and return err. */
int hl_ol_refuse(struct hl_ol_stats *st, enum hl_ol_reason r, int err);

/* A checksum as it is stored: 0 becomes 0xffff, which UDP requires and TCP accepts alike. */
static inline uint16_t hl_ol_csum_final(uint16_t sum)
{
	uint16_t c = (uint16_t)~sum;
	return c != 0 ? c : 0xffff;
}

#endif
