/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the descriptor walker: the input becomes a guest's
 * descriptor table, avail ring and indirect tables inside two guest memory
 * regions with a hole between them; the device side walks every available
 * chain. Every chain must be walked or refused, and every iov must lie inside
 * guest memory (the writes below let ASan check that).
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <hugelink/guest_mem.h>
#include <hugelink/vring_split.h>

#include "fuzz_guest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_guest *g = fuzz_guest(data, size);
	if (g == NULL)
		return 0;
	struct hl_vring vr;
	void *desc = g->r0, *avail = g->r0 + 16 * FUZZ_NUM, *used = g->r0 + 4096;
	if (hl_vring_init(&vr, FUZZ_NUM, desc, avail, used, g->features) < 0)
		return 0;
	hl_vring_set_base(&vr, g->start, g->start);
	unsigned n = hl_vring_avail_count(&vr);
	struct hl_iov iov[16];
	struct hl_chain ch;
	unsigned walked = 0, refused = 0;
	for (unsigned i = 0; i < n; i++) {
		uint16_t head = hl_vring_pop_avail(&vr);
		if (hl_vring_walk(&vr, &g->mem, head, iov, 16, &ch) < 0) {
			refused++;
			hl_vring_put_used(&vr, head, 0);
			continue;
		}
		walked++;
		for (unsigned j = 0; j < ch.nr_out + ch.nr_in; j++)
			if (iov[j].len)
				((volatile uint8_t *)iov[j].base)[iov[j].len - 1] ^= 0;
		hl_vring_put_used(&vr, head, ch.in_len);
	}
	hl_vring_flush_used(&vr);
	assert(walked + refused == n);
	assert(n <= FUZZ_NUM);
	return 0;
}
