/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the packed ring device side: the input becomes a
 * guest's descriptor ring, event words and indirect tables inside two guest
 * memory regions with a hole between them, and the position and wrap
 * counter to start from; the device takes every chain it finds, returns
 * each (in order or reversed, from the input), publishes and decides on a
 * notification. Every walk must end, every chain taken must go back, and
 * every iov must lie inside guest memory (the writes below let ASan check).
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <hugelink/guest_mem.h>
#include <hugelink/vring_packed.h>

#include "fuzz_guest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_guest *g = fuzz_guest(data, size);
	if (g == NULL)
		return 0;
	uint8_t *r0 = g->r0;
	uint64_t features = g->features | HL_VIRTIO_BIT(HL_VIRTIO_F_RING_PACKED);
	unsigned num = 1 + data[3] % FUZZ_NUM; /* any size, not only powers of two */
	struct hl_vring_packed vr;
	if (hl_vring_packed_init(&vr, num, r0, r0 + 16 * FUZZ_NUM, r0 + 16 * FUZZ_NUM + 4, features) < 0)
		abort();
	uint16_t base = g->start;
	if (hl_vring_packed_set_base(&vr, (uint16_t)((base & 0x8000u) | ((base & 0x7fffu) % num))) < 0)
		abort();
	bool reverse = data[4] & 1;
	struct hl_iov iov[16];
	struct hl_chain ch[2 * FUZZ_NUM];
	int rc[2 * FUZZ_NUM];
	unsigned n = 0;
	while (n < 2 * FUZZ_NUM) {
		rc[n] = hl_vring_packed_walk(&vr, &g->mem, iov, 16, &ch[n]);
		if (rc[n] == -EAGAIN || rc[n] == -EIO)
			break;
		assert(ch[n].ndesc >= 1 && ch[n].ndesc <= num);
		if (rc[n] == 0)
			for (unsigned j = 0; j < ch[n].nr_out + ch[n].nr_in; j++)
				if (iov[j].len)
					((volatile uint8_t *)iov[j].base)[iov[j].len - 1] ^= 0;
		n++;
		assert(vr.in_flight <= num);
	}
	/* the ring holds num slots: more chains than that cannot have been taken */
	assert(n <= num);
	for (unsigned i = 0; i < n; i++) {
		unsigned j = reverse ? n - 1 - i : i;
		int u = hl_vring_packed_put_used(&vr, ch[j].head, rc[j] == 0 ? ch[j].in_len : 0, ch[j].ndesc);
		assert(u == 0);
	}
	hl_vring_packed_flush_used(&vr);
	(void)hl_vring_packed_need_notify(&vr);
	hl_vring_packed_set_notify(&vr, true);
	assert(vr.in_flight == 0);
	return 0;
}
