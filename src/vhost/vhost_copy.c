/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copying a guest's packet out of its descriptors into pool buffers, for
 * packets that do not fit one buffer or are not worth pinning. Each guest
 * byte is read once; the guest may be rewriting them as we go.
 */
#include <string.h>

#include "vhost_zcopy_pvt.h"

int hl_vhost_copy_chain(const struct hl_iov *iov, unsigned niov, uint32_t skip, uint32_t len, struct hl_buf *b,
			struct hl_bufpool *bp)
{
	struct hl_buf *seg = b;
	unsigned i = 0;
	uint32_t off = skip;

	while (i < niov && off >= iov[i].len)
		off -= iov[i++].len;
	b->pkt_len = len;
	while (len > 0 && i < niov) {
		uint32_t room = hl_buf_tailroom(seg);
		if (room == 0) {
			struct hl_buf *n = hl_buf_alloc(bp);
			if (hl_unlikely(n == NULL))
				goto fail;
			hl_buf_chain(b, n);
			seg = n;
			room = hl_buf_tailroom(seg);
		}
		uint32_t k = iov[i].len - off;
		if (k > room)
			k = room;
		if (k > len)
			k = len;
		memcpy((uint8_t *)hl_buf_data(seg) + seg->data_len, (const uint8_t *)iov[i].base + off, k);
		seg->data_len += k;
		len -= k;
		off += k;
		if (off == iov[i].len) {
			i++;
			off = 0;
		}
	}
	return 0;
fail:
	if (b->next != NULL)
		hl_buf_free(b->next);
	b->next = NULL;
	b->nb_segs = 1;
	b->data_len = b->pkt_len = 0;
	return -1;
}
