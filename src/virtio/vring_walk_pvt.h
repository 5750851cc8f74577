/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the split and the packed ring walkers share: turning one checked
 * element of a chain (guest address, length, readable or writable) into
 * host iovs, split where guest memory is not contiguous in the host, with
 * the checks every ring layout needs (readable after writable, a u32 chain
 * length, addresses inside guest memory, the iov budget). Refusals are
 * counted in the ring's stats and logged at debug level only: a guest must
 * not be able to flood the log.
 */
#ifndef HL_VRING_WALK_PVT_H
#define HL_VRING_WALK_PVT_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <hugelink/guest_mem.h>
#include <hugelink/vring_split.h>

/* One walk in progress. */
struct hl_walk {
	struct hl_vring_stats *st; /* the ring's refusal counters */
	const void *ring;          /* named in log lines */
	const struct hl_guest_mem *mem;
	struct hl_iov *iov;
	unsigned max_iov;
	unsigned niov;
	unsigned nr_out;
	uint64_t total;   /* u64 so the u32 overflow is detectable */
	uint64_t out_len;
	bool seen_write;
};

/* Count a refusal in *counter, log it at debug level, return err. */
int hl__walk_refuse(const void *ring, uint64_t *counter, int err, uint16_t head, const char *why, uint64_t v1,
		    uint64_t v2);

/* Append one element's guest memory to the walk's iovs; 0 or a refusal. */
static inline int hl__walk_add(struct hl_walk *w, uint16_t head, uint64_t addr, uint32_t len, bool writable)
{
	const struct hl_xlate *x = &w->mem->gpa2hva;
	uint64_t rem = len;

	if (writable)
		w->seen_write = true;
	else if (hl_unlikely(w->seen_write))
		return hl__walk_refuse(w->ring, &w->st->bad_order, -EINVAL, head,
				       "device-readable descriptor (gpa 0x%llx len %llu) after a writable one", addr,
				       len);
	w->total += len;
	if (hl_unlikely(w->total > UINT32_MAX))
		return hl__walk_refuse(w->ring, &w->st->len_overflow, -EOVERFLOW, head,
				       "chain length %llu over 2^32-1 (at descriptor len %llu)", w->total, len);
	if (!writable)
		w->out_len += len;
	if (rem == 0)
		return 0; /* nothing to touch, so nothing to translate */
	if (hl_unlikely(rem - 1 > UINT64_MAX - addr))
		return hl__walk_refuse(w->ring, &w->st->bad_addr, -EFAULT, head,
				       "buffer gpa 0x%llx + len %llu wraps the address space", addr, rem);
	while (rem) {
		/*
		 * Not hl_gpa_to_hva(): it would check the whole rest of the range
		 * for every piece. Here each page is looked up once.
		 */
		uint64_t h = hl_xlate(x, addr);
		uint64_t in_page = x->page_mask + 1 - (addr & x->page_mask);
		uint64_t c;

		if (hl_unlikely(h == HL_BAD_ADDR))
			return hl__walk_refuse(w->ring, &w->st->bad_addr, -EFAULT, head,
					       "buffer gpa 0x%llx (len %llu) not in guest memory", addr, rem);
		c = rem <= in_page ? rem : hl_xlate_contig(x, addr, rem);
		if (hl_unlikely(w->niov >= w->max_iov))
			return hl__walk_refuse(w->ring, &w->st->too_many_iov, -ENOBUFS, head,
					       "chain needs more than %llu iovs (max_iov %llu)", w->max_iov,
					       w->max_iov);
		w->iov[w->niov].base = (void *)(uintptr_t)h;
		w->iov[w->niov].len = (uint32_t)c; /* c <= rem <= u32 */
		w->niov++;
		if (!writable)
			w->nr_out++;
		addr += c;
		rem -= c;
	}
	return 0;
}

/* A finished walk's element counts and lengths, into the chain the caller gets. */
static inline void hl__walk_result(const struct hl_walk *w, struct hl_chain *out)
{
	out->nr_out = w->nr_out;
	out->nr_in = w->niov - w->nr_out;
	out->out_len = (uint32_t)w->out_len;
	out->in_len = (uint32_t)(w->total - w->out_len);
}

/*
 * Copy len bytes of guest memory at gpa into buf, piece by piece (volatile
 * loads: each byte read once): for tables split across regions or
 * misaligned in the host. false if any byte is not guest memory.
 */
bool hl__walk_read_guest(const struct hl_guest_mem *mem, uint64_t gpa, void *buf, unsigned len);

#endif
