/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Dirty-page logging for live migration of a vhost-user guest.
 *
 * While a guest migrates, the front-end copies its memory to the destination
 * over and over; it knows which pages the guest's vCPUs dirtied, but not the
 * ones the back-end wrote. So the back-end marks them in a bitmap the
 * front-end shares with it (SET_LOG_BASE): bit (p % 8) of byte (p / 8) stands
 * for guest-physical page p of 4 KiB. The front-end clears bits and copies
 * those pages again; a write the back-end forgets to log is stale memory on
 * the destination.
 *
 * Invariants:
 *  - A bit is set after the write it stands for, never before: the front-end
 *    clears a bit and then copies the page, so a bit set early could be
 *    cleared before the write lands and the write would be lost.
 *  - Bits are set with atomic OR (other queues and the front-end's vCPU log
 *    share bytes and words of the bitmap); never a plain store.
 *  - The bitmap covers guest memory up to hl_vhost_log_bytes() of the highest
 *    region end; a write past what the log covers is dropped and counted,
 *    never a write outside the mapping.
 *  - The data path collects bits of a burst in a small per-queue cache
 *    (one entry per 64 pages) and flushes it before it publishes the used
 *    index, so the cost is one atomic per distinct 256 KiB of guest memory
 *    per burst, not one per write.
 */
#ifndef HUGELINK_VHOST_LOG_H
#define HUGELINK_VHOST_LOG_H

#include <stdint.h>

#include <hugelink/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HL_VHOST_LOG_PAGE_SHIFT 12 /* the log's page: 4 KiB whatever backs guest memory */
#define HL_VHOST_LOG_CACHE 16      /* words of bits a queue collects before it must flush */

/* The shared bitmap as the data path sees it; bits == NULL: not logging. */
struct hl_vhost_log {
	uint8_t *bits;
	uint64_t size; /* bytes of bitmap */
};

/* Bits of one burst, 64 pages a word, not yet in the shared bitmap. */
struct hl_vhost_log_cache {
	unsigned n;
	struct {
		uint64_t word; /* covers pages [64 * word, 64 * word + 64) */
		uint64_t mask;
	} e[HL_VHOST_LOG_CACHE];
};

/* Bytes of bitmap that cover guest-physical addresses [0, mem_end). */
static inline uint64_t hl_vhost_log_bytes(uint64_t mem_end)
{
	uint64_t pages = (mem_end >> HL_VHOST_LOG_PAGE_SHIFT) +
			 ((mem_end & ((1ull << HL_VHOST_LOG_PAGE_SHIFT) - 1)) != 0);
	return (pages + 7) / 8;
}

/*
 * Check a SET_LOG_BASE request before anything is mapped: `size` bytes of
 * bitmap at `offset` in a file of `file_size` bytes, to cover guest memory
 * up to `mem_end`. 0, or -EINVAL (size 0), -EOVERFLOW (offset + size wraps),
 * -ERANGE (past the end of the file), -ENOSPC (too small for guest memory),
 * with hl_last_error() saying which.
 */
int hl_vhost_log_check(uint64_t size, uint64_t offset, uint64_t file_size, uint64_t mem_end);

/* Where a mapped log lives; the control path owns it. */
struct hl_vhost_log_map {
	struct hl_vhost_log log;
	void *base;   /* what mmap returned */
	uint64_t len;
};

/*
 * Check (hl_vhost_log_check against fstat of fd) and map a log; takes
 * ownership of fd (closed in any case: the mapping keeps the memory).
 * -EBADF without an fd; *m is untouched on error.
 */
int hl_vhost_log_map(struct hl_vhost_log_map *m, uint64_t size, uint64_t offset, int fd, uint64_t mem_end);
void hl_vhost_log_unmap(struct hl_vhost_log_map *m);

/*
 * Mark guest-physical [gpa, gpa + len) dirty in the cache, flushing it to
 * log first when it is full. Pages past the log add to *dropped.
 */
void hl_vhost_log_cache_add(struct hl_vhost_log_cache *c, const struct hl_vhost_log *log, uint64_t gpa,
			    uint64_t len, uint64_t *dropped);
/* Set every cached bit in the shared bitmap (atomic OR) and empty the cache. */
void hl_vhost_log_cache_flush(struct hl_vhost_log_cache *c, const struct hl_vhost_log *log, uint64_t *dropped);
/* Uncached: mark [gpa, gpa + len) in the bitmap at once. */
void hl_vhost_log_write(const struct hl_vhost_log *log, uint64_t gpa, uint64_t len, uint64_t *dropped);

#ifdef __cplusplus
}
#endif
#endif
