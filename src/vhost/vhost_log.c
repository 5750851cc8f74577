/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dirty-page bitmap of a migrating guest (see vhost_log.h): checking and
 * mapping what SET_LOG_BASE hands over, and setting bits in it.
 *
 * The front-end's fd and numbers are hostile: the size and offset are
 * checked against the file's real size before the mapping (a log past the
 * end of its file would fault the switch on the first bit), and against the
 * guest memory the log must cover. Every bit set afterwards is bounded by
 * the mapped size, so memory added later cannot make a write escape it.
 */
#include <errno.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hugelink/vhost_log.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "a 64-bit word of the bitmap holds pages in byte order only on little-endian hosts");

#define MAP_ALIGN 4096ull

int hl_vhost_log_check(uint64_t size, uint64_t offset, uint64_t file_size, uint64_t mem_end)
{
	if (size == 0)
		return hl_error(-EINVAL, "vhost-user SET_LOG_BASE: log of size 0");
	if (offset + size < offset)
		return hl_error(-EOVERFLOW, "vhost-user SET_LOG_BASE: offset 0x%llx + size 0x%llx wraps",
				(unsigned long long)offset, (unsigned long long)size);
	if (offset + size > file_size)
		return hl_error(-ERANGE, "vhost-user SET_LOG_BASE: offset %llu + size %llu past the end of its file (%llu bytes)",
				(unsigned long long)offset, (unsigned long long)size,
				(unsigned long long)file_size);
	uint64_t need = hl_vhost_log_bytes(mem_end);
	if (size < need)
		return hl_error(-ENOSPC, "vhost-user SET_LOG_BASE: %llu bytes of log cannot cover guest memory up to 0x%llx (%llu needed)",
				(unsigned long long)size, (unsigned long long)mem_end,
				(unsigned long long)need);
	return 0;
}

int hl_vhost_log_map(struct hl_vhost_log_map *m, uint64_t size, uint64_t offset, int fd, uint64_t mem_end)
{
	struct stat st;
	int rc;

	if (fd < 0)
		return hl_error(-EBADF, "vhost-user SET_LOG_BASE: no fd for the log");
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = hl_error(-EINVAL, "vhost-user SET_LOG_BASE: the log fd is not a regular file");
		goto out;
	}
	rc = hl_vhost_log_check(size, offset, (uint64_t)st.st_size, mem_end);
	if (rc < 0)
		goto out;
	uint64_t map_off = offset & ~(MAP_ALIGN - 1);
	uint64_t len = offset + size - map_off;
	void *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)map_off);
	if (base == MAP_FAILED) {
		rc = hl_error(-errno, "vhost-user SET_LOG_BASE: mmap of %llu bytes failed", (unsigned long long)len);
		goto out;
	}
	*m = (struct hl_vhost_log_map){.log = {.bits = (uint8_t *)base + (offset - map_off), .size = size},
				       .base = base, .len = len};
out:
	close(fd);
	return rc;
}

void hl_vhost_log_unmap(struct hl_vhost_log_map *m)
{
	if (m->base != NULL)
		munmap(m->base, m->len);
	*m = (struct hl_vhost_log_map){0};
}

/* OR mask (pages 64 * word ...) into the bitmap: one atomic when the word is whole and aligned. */
static void or_word(const struct hl_vhost_log *log, uint64_t word, uint64_t mask, uint64_t *dropped)
{
	uint64_t at = word * 8;
	uint8_t *p = log->bits + at;

	if (hl_likely(at + 8 <= log->size && ((uintptr_t)p & 7) == 0)) {
		/* release: the writes this bit stands for come before it */
		__atomic_fetch_or((uint64_t *)(void *)p, mask, __ATOMIC_RELEASE);
		return;
	}
	for (unsigned i = 0; i < 8; i++) {
		uint8_t b = (uint8_t)(mask >> (8 * i));
		if (b == 0)
			continue;
		if (at + i < log->size)
			__atomic_fetch_or(p + i, b, __ATOMIC_RELEASE);
		else
			*dropped += (uint64_t)__builtin_popcount(b);
	}
}

/*
 * Pages [*first, *last] that [gpa, gpa + len) touches, cut at the end of the
 * log (what is cut adds to *dropped); false when nothing is left.
 */
static bool page_span(const struct hl_vhost_log *log, uint64_t gpa, uint64_t len, uint64_t *dropped,
		      uint64_t *first, uint64_t *last)
{
	uint64_t end = gpa + len, pages = log->size * 8;

	*first = gpa >> HL_VHOST_LOG_PAGE_SHIFT;
	*last = end < gpa ? UINT64_MAX >> HL_VHOST_LOG_PAGE_SHIFT : (end - 1) >> HL_VHOST_LOG_PAGE_SHIFT;
	if (hl_likely(*last < pages))
		return true;
	*dropped += *last - (*first > pages ? *first : pages) + 1;
	if (*first >= pages)
		return false;
	*last = pages - 1;
	return true;
}

/* Bits of word w (pages 64w .. 64w + 63) that pages [first, last] cover. */
static inline uint64_t word_mask(uint64_t w, uint64_t first, uint64_t last)
{
	unsigned lo = w == first >> 6 ? (unsigned)(first & 63) : 0;
	unsigned hi = w == last >> 6 ? (unsigned)(last & 63) : 63;
	return (~0ull >> (63 - hi)) & (~0ull << lo);
}

void hl_vhost_log_write(const struct hl_vhost_log *log, uint64_t gpa, uint64_t len, uint64_t *dropped)
{
	uint64_t first, last;
	if (len == 0 || !page_span(log, gpa, len, dropped, &first, &last))
		return;
	for (uint64_t w = first >> 6; w <= last >> 6; w++)
		or_word(log, w, word_mask(w, first, last), dropped);
}

void hl_vhost_log_cache_flush(struct hl_vhost_log_cache *c, const struct hl_vhost_log *log, uint64_t *dropped)
{
	for (unsigned i = 0; i < c->n; i++)
		or_word(log, c->e[i].word, c->e[i].mask, dropped);
	c->n = 0;
}

static inline void cache_one(struct hl_vhost_log_cache *c, const struct hl_vhost_log *log, uint64_t word,
			     uint64_t mask, uint64_t *dropped)
{
	/* newest first: a burst writes into few words, mostly the last one */
	for (unsigned i = c->n; i-- > 0;) {
		if (c->e[i].word == word) {
			c->e[i].mask |= mask;
			return;
		}
	}
	if (hl_unlikely(c->n == HL_VHOST_LOG_CACHE))
		hl_vhost_log_cache_flush(c, log, dropped);
	c->e[c->n].word = word;
	c->e[c->n].mask = mask;
	c->n++;
}

void hl_vhost_log_cache_add(struct hl_vhost_log_cache *c, const struct hl_vhost_log *log, uint64_t gpa,
			    uint64_t len, uint64_t *dropped)
{
	uint64_t first, last;
	if (len == 0 || !page_span(log, gpa, len, dropped, &first, &last))
		return;
	for (uint64_t w = first >> 6; w <= last >> 6; w++)
		cache_one(c, log, w, word_mask(w, first, last), dropped);
}
