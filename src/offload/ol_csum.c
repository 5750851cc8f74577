/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The internet checksum (RFC 1071) over byte ranges and chains, and the
 * completion of a frame's partial checksum in software.
 *
 * Sums are taken in host order, eight bytes a load: the ones' complement
 * sum of 64-bit words, folded, equals that of 16-bit words because 2^16 - 1
 * divides 2^64 - 1, and the sum is byte-order independent (RFC 1071, 2.B),
 * so no byte is swapped until a piece of a chain starts at an odd offset of
 * the range: then its folded sum is swapped (multiplying by 2^8 modulo
 * 2^16 - 1 is a rotation by a byte). Loads go through memcpy, so any
 * alignment is fine and the compiler makes plain unaligned loads of them.
 *
 * Completion writes two bytes, and only where hl_ol_writable() says the
 * chain alone owns them; the frame's metadata changes with them (no longer
 * partial, now verified), in the same private head.
 */
#include <errno.h>

#include "ol_internal.h"

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

/* Fold a ones' complement sum of 64-bit words to 16 bits. */
static inline uint16_t fold64(uint64_t s)
{
	s = (s & 0xffffffffu) + (s >> 32); /* < 2^33 */
	s = (s & 0xffffffffu) + (s >> 32); /* < 2^32 */
	s = (s & 0xffffu) + (s >> 16);     /* < 2^17 */
	s = (s & 0xffffu) + (s >> 16);     /* <= 0xffff */
	return (uint16_t)s;
}

/* w added to a 64-bit sum whose carries are counted apart (each one is worth 2^64, i.e. 1). */
static inline void add64(uint64_t *s, uint64_t *c, uint64_t w)
{
	*s += w;
	*c += *s < w; /* an add-with-carry into the counter */
}

/*
 * The sum of len bytes at p, as 64-bit words (the last one zero-padded,
 * which is RFC 1071's padding of an odd byte in host order). Two sums take
 * turns so that consecutive adds do not wait on each other's carry.
 */
static uint16_t sum_bytes(const uint8_t *p, size_t len)
{
	uint64_t s0 = 0, c0 = 0, s1 = 0, c1 = 0, t = 0;

	while (len >= 32) {
		add64(&s0, &c0, load64(p));
		add64(&s1, &c1, load64(p + 8));
		add64(&s0, &c0, load64(p + 16));
		add64(&s1, &c1, load64(p + 24));
		p += 32;
		len -= 32;
	}
	while (len >= 8) {
		add64(&s0, &c0, load64(p));
		p += 8;
		len -= 8;
	}
	if (len > 0) {
		memcpy(&t, p, len);
		add64(&s1, &c1, t);
	}
	/* carries count words, far below 2^63: their sum cannot wrap */
	c0 += c1;
	add64(&s0, &c0, s1);
	s0 += c0;
	s0 += s0 < c0; /* end-around; after a wrap s0 < c0, so this one cannot carry */
	return fold64(s0);
}

uint16_t hl_csum_add(uint16_t sum, const void *p, size_t len)
{
	return hl_csum_add16(sum, sum_bytes(p, len));
}

int hl_csum_chain(const struct hl_buf *pkt, uint32_t off, uint32_t len, uint16_t *sum)
{
	struct hl_ol_cur c;
	uint16_t acc = 0;
	bool odd = false; /* an odd number of bytes summed so far */

	if (!hl_ol_cur_seek(&c, pkt, off))
		return -ERANGE;
	while (len > 0) {
		if (c.seg == NULL)
			return -ERANGE;
		uint32_t n = c.seg->data_len - c.off;
		if (n > len)
			n = len;
		uint16_t part = sum_bytes((const uint8_t *)hl_buf_data(c.seg) + c.off, n);
		if (odd)
			part = (uint16_t)(part << 8 | part >> 8);
		acc = hl_csum_add16(acc, part);
		odd ^= n & 1;
		len -= n;
		c.seg = c.seg->next;
		c.off = 0;
	}
	*sum = hl_csum_add16(*sum, acc);
	return 0;
}

/* Store two bytes at byte off of a chain the caller may write there (hl_ol_writable). */
static int write_chain(struct hl_buf *pkt, uint32_t off, const uint8_t v[2])
{
	struct hl_ol_cur c;
	unsigned i = 0;

	if (!hl_ol_cur_seek(&c, pkt, off))
		return -ERANGE;
	while (i < 2) {
		if (c.seg == NULL)
			return -ERANGE;
		/* the field may straddle two segments: a byte each */
		if (c.off < c.seg->data_len) {
			((uint8_t *)hl_buf_data(c.seg))[c.off++] = v[i++];
			continue;
		}
		c.seg = c.seg->next;
		c.off = 0;
	}
	return 0;
}

int hl_ol_csum_complete(struct hl_buf *pkt, struct hl_bufpool *bp, struct hl_buf **out,
			struct hl_ol_stats *st)
{
	uint32_t start = pkt->ol.csum_start;
	uint32_t at = start + pkt->ol.csum_offset;
	struct hl_buf *w;
	uint16_t sum = 0, c;
	int rc;

	if (start >= pkt->pkt_len || at + 2 > pkt->pkt_len)
		return hl_ol_refuse(st, HL_OL_R_BAD_META, -EINVAL);
	rc = hl_ol_writable(pkt, at, at + 2, bp, &w);
	if (rc < 0)
		return hl_ol_refuse(st, rc == -ENOBUFS ? HL_OL_R_NOBUFS : HL_OL_R_BAD_META, rc);
	/* the field holds the sender's pseudo-header sum: it is part of the sum */
	rc = hl_csum_chain(w, start, w->pkt_len - start, &sum);
	if (rc == 0) {
		c = hl_ol_csum_final(sum);
		rc = write_chain(w, at, (const uint8_t *)&c);
	}
	if (rc < 0) {
		if (w != pkt)
			hl_buf_free(w);
		return hl_ol_refuse(st, HL_OL_R_BAD_META, -EINVAL);
	}
	w->ol.flags = (uint8_t)((w->ol.flags & ~HL_OL_F_CSUM_PARTIAL) | HL_OL_F_CSUM_VALID);
	if (w != pkt) {
		hl_buf_free(pkt);
		st->csum_copied++;
	}
	st->csum_done++;
	*out = w;
	return 1;
}
