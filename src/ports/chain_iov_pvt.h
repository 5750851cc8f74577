/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A buffer chain as an iovec for the kernel (writev, sendmmsg), shared by
 * the ports that hand frames to a kernel socket or device. Buffer metadata
 * is ours, but a chain may describe memory a peer filled, so every segment
 * is checked to lie inside its buffer, and the walk is bounded, which also
 * stops a chain that loops back on itself.
 */
#ifndef HL_PORTS_CHAIN_IOV_PVT_H
#define HL_PORTS_CHAIN_IOV_PVT_H

#include <stdint.h>
#include <sys/uio.h>

#include <hugelink/buf.h>

/*
 * The non-empty segments of chain b into iov (room for max_segs), their
 * count in *niov; the chain's length in bytes, or UINT64_MAX when it has
 * more than max_segs segments or one outside its buffer.
 */
static inline uint64_t hl__chain_iov(const struct hl_buf *b, struct iovec *iov, unsigned max_segs, unsigned *niov)
{
	uint64_t total = 0;
	unsigned segs = 0, k = 0;

	for (; b != NULL; b = b->next) {
		if (++segs > max_segs || b->buf_va == NULL || b->data_off > b->buf_len ||
		    b->data_len > b->buf_len - b->data_off)
			return UINT64_MAX;
		if (b->data_len == 0)
			continue;
		iov[k++] = (struct iovec){hl_buf_data(b), b->data_len};
		total += b->data_len;
	}
	*niov = k;
	return total;
}

#endif
