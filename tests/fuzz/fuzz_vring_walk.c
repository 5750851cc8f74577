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

#define NUM 64
#define REG 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *r0, *r1;
	static struct hl_guest_mem mem;
	static int ready;

	if (!ready) {
		hl_log_set_level(HL_LOG_OFF);
		r0 = aligned_alloc(4096, REG);
		r1 = aligned_alloc(4096, REG);
		struct hl_guest_region g[2] = {{0x10000, REG, r0, 0}, {0x40000, REG, r1, 0}};
		if (hl_guest_mem_build(&mem, g, 2) < 0)
			abort();
		ready = 1;
	}
	if (size < 8)
		return 0;
	/* the ring at the start of region 0; the rest of the input fills guest memory */
	memset(r0, 0, REG);
	memset(r1, 0, REG);
	size_t k = size - 8 < REG ? size - 8 : REG;
	memcpy(r0, data + 8, k);
	if (size - 8 > REG)
		memcpy(r1, data + 8 + REG, size - 8 - REG < REG ? size - 8 - REG : REG);
	uint64_t features = (uint64_t)data[0] << 28; /* INDIRECT / EVENT_IDX from the input */
	struct hl_vring vr;
	void *desc = r0, *avail = r0 + 16 * NUM, *used = r0 + 4096;
	if (hl_vring_init(&vr, NUM, desc, avail, used, features) < 0)
		return 0;
	uint16_t start;
	memcpy(&start, data + 1, 2);
	hl_vring_set_base(&vr, start, start);
	unsigned n = hl_vring_avail_count(&vr);
	struct hl_iov iov[16];
	struct hl_chain ch;
	unsigned walked = 0, refused = 0;
	for (unsigned i = 0; i < n; i++) {
		uint16_t head = hl_vring_pop_avail(&vr);
		if (hl_vring_walk(&vr, &mem, head, iov, 16, &ch) < 0) {
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
	assert(n <= NUM);
	return 0;
}
