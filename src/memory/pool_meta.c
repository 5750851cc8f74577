/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Parsing and sealing metadata records. The parser is the trust boundary
 * between a pool's owner and everyone who maps it: it accepts a record only
 * if every field is in range, every size is free of overflow, the segments
 * tile the pool exactly once, and every file is a plain name inside the
 * record's directory. It never touches memory outside [buf, buf + len).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <hugelink/pool_meta.h>

#include "../common/bounded_str.h"

static uint32_t record_crc(const void *buf, size_t len)
{
	const size_t at = offsetof(struct hl_meta_hdr, crc32c);
	const uint32_t zero = 0;
	uint32_t c = hl_crc32c(0, buf, at);
	c = hl_crc32c(c, &zero, sizeof(zero));
	return hl_crc32c(c, (const uint8_t *)buf + at + sizeof(zero), len - at - sizeof(zero));
}

void hl_meta_seal(void *buf, size_t len)
{
	struct hl_meta_hdr *h = buf;
	h->crc32c = record_crc(buf, len);
}

/* A directory we accept: absolute, no "." or ".." components, no "//". */
static bool clean_abs_path(const char *p)
{
	/* "//" anywhere, the leading one included (which the walk below would skip over) */
	if (p[0] != '/' || strstr(p, "//") != NULL)
		return false;
	for (const char *c = p; *c; ) {
		const char *next;
		size_t n;

		while (*c == '/')
			c++;
		next = strchr(c, '/');
		n = next ? (size_t)(next - c) : strlen(c);
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (next && next[1] == '/')
			return false;
		c += n;
	}
	return true;
}

/* A file we accept: a plain name, no separators, not "." or "..". */
static bool plain_name(const char *n)
{
	return n[0] != '\0' && strchr(n, '/') == NULL && strcmp(n, ".") != 0 && strcmp(n, "..") != 0;
}

static int cmp_u64_pair(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;
	return x[0] < y[0] ? -1 : x[0] > y[0];
}

static int check_header(const struct hl_meta_hdr *h, size_t len)
{
	if (h->magic != HL_META_MAGIC)
		return hl_error(-EBADMSG, "pool record: bad magic 0x%08x", h->magic);
	if (h->version != HL_META_VERSION)
		return hl_error(-EPROTONOSUPPORT, "pool record: version %u not supported (want %u)",
				h->version, HL_META_VERSION);
	if (h->hdr_size != sizeof(*h))
		return hl_error(-EINVAL, "pool record: hdr_size %u, want %zu", h->hdr_size, sizeof(*h));
	if (h->total_size != len)
		return hl_error(-EBADMSG, "pool record: total_size %u but %zu bytes present (truncated?)",
				h->total_size, len);
	if (h->nfiles == 0 || h->nfiles > HL_META_MAX_FILES)
		return hl_error(-EINVAL, "pool record: nfiles %u out of range", h->nfiles);
	if (h->nsegs == 0 || h->nsegs > HL_META_MAX_SEGS)
		return hl_error(-EINVAL, "pool record: nsegs %u out of range", h->nsegs);
	if (hl_meta_size(h->nfiles, h->nsegs) != len)
		return hl_error(-EBADMSG, "pool record: total_size %u does not match nfiles %u, nsegs %u",
				h->total_size, h->nfiles, h->nsegs);
	if (record_crc(h, len) != h->crc32c)
		return hl_error(-EBADMSG, "pool record: crc32c mismatch");
	if (h->page_shift != 12 && h->page_shift != 21 && h->page_shift != 30)
		return hl_error(-EINVAL, "pool record: page_shift %u not 12, 21 or 30", h->page_shift);
	if (h->flags & ~HL_META_F_KNOWN)
		return hl_error(-EINVAL, "pool record: unknown flags 0x%x", h->flags);
	uint64_t mask = (1ull << h->page_shift) - 1;
	if (h->pool_size == 0 || (h->pool_size & mask) || h->pool_size > (1ull << 46))
		return hl_error(-EINVAL, "pool record: pool_size %llu not a page multiple below 64 TiB",
				(unsigned long long)h->pool_size);
	if (h->data_offset >= h->pool_size)
		return hl_error(-ERANGE, "pool record: data_offset %llu beyond pool_size",
				(unsigned long long)h->data_offset);
	if (!hl_str_bounded(h->name, sizeof(h->name)) || !hl_pool_name_ok(h->name))
		return hl_error(-EINVAL, "pool record: name is not a valid pool name");
	if (!hl_str_bounded(h->dir, sizeof(h->dir)) || !clean_abs_path(h->dir))
		return hl_error(-EPERM, "pool record: dir is not a clean absolute path");
	return 0;
}

static int check_files(const struct hl_meta_hdr *h, const struct hl_meta_file *f)
{
	uint64_t mask = (1ull << h->page_shift) - 1;

	for (uint32_t i = 0; i < h->nfiles; i++) {
		if (!hl_str_bounded(f[i].name, sizeof(f[i].name)))
			return hl_error(-EINVAL, "pool record: files[%u].name not terminated", i);
		if (!plain_name(f[i].name))
			return hl_error(-EPERM, "pool record: files[%u].name '%s' is outside the pool directory",
					i, f[i].name);
		if (f[i].size == 0 || (f[i].size & mask) || f[i].size > (1ull << 46))
			return hl_error(-EINVAL, "pool record: files[%u].size %llu invalid", i,
					(unsigned long long)f[i].size);
	}
	return 0;
}

static int check_segments(const struct hl_meta_hdr *h, const struct hl_meta_file *f,
			  const struct hl_meta_seg *s)
{
	uint64_t mask = (1ull << h->page_shift) - 1;
	uint64_t (*by_pool)[2], (*by_iova)[2];
	int rc = 0;

	by_pool = calloc(h->nsegs, sizeof(*by_pool));
	by_iova = calloc(h->nsegs, sizeof(*by_iova));
	if (by_pool == NULL || by_iova == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < h->nsegs; i++) {
		const struct hl_meta_seg *g = &s[i];
		if (g->file >= h->nfiles) {
			rc = hl_error(-ERANGE, "pool record: segs[%u].file %u out of range", i, g->file);
			goto out;
		}
		if (g->reserved != 0) {
			rc = hl_error(-EINVAL, "pool record: segs[%u].reserved not zero", i);
			goto out;
		}
		if (g->len == 0 || ((g->len | g->file_off | g->pool_off | g->iova | g->phys) & mask)) {
			rc = hl_error(-EINVAL, "pool record: segs[%u] len/offsets not page aligned", i);
			goto out;
		}
		if (g->file_off + g->len < g->file_off || g->pool_off + g->len < g->pool_off ||
		    g->iova + g->len < g->iova || g->phys + g->len < g->phys) {
			rc = hl_error(-EOVERFLOW, "pool record: segs[%u] offset + len overflows", i);
			goto out;
		}
		if (g->file_off + g->len > f[g->file].size) {
			rc = hl_error(-ERANGE, "pool record: segs[%u] ends past files[%u].size", i, g->file);
			goto out;
		}
		if (g->pool_off + g->len > h->pool_size) {
			rc = hl_error(-ERANGE, "pool record: segs[%u] ends past pool_size", i);
			goto out;
		}
		by_pool[i][0] = g->pool_off;
		by_pool[i][1] = g->len;
		by_iova[i][0] = g->iova;
		by_iova[i][1] = g->len;
	}
	/* Segments must tile the pool: sorted by pool_off, no overlap, no gap. */
	qsort(by_pool, h->nsegs, sizeof(*by_pool), cmp_u64_pair);
	for (uint32_t i = 1; i < h->nsegs; i++) {
		if (by_pool[i - 1][0] + by_pool[i - 1][1] > by_pool[i][0]) {
			rc = hl_error(-ERANGE, "pool record: segments overlap at pool offset %llu",
				      (unsigned long long)by_pool[i][0]);
			goto out;
		}
	}
	uint64_t at = 0;
	for (uint32_t i = 0; i < h->nsegs; i++) {
		if (by_pool[i][0] != at) {
			rc = hl_error(-ERANGE, "pool record: segments leave a gap at pool offset %llu",
				      (unsigned long long)at);
			goto out;
		}
		at += by_pool[i][1];
	}
	if (at != h->pool_size) {
		rc = hl_error(-ERANGE, "pool record: segments cover %llu of pool_size %llu",
			      (unsigned long long)at, (unsigned long long)h->pool_size);
		goto out;
	}
	/* Two segments at one IOVA would make IOVA -> VA ambiguous. */
	qsort(by_iova, h->nsegs, sizeof(*by_iova), cmp_u64_pair);
	for (uint32_t i = 1; i < h->nsegs; i++) {
		if (by_iova[i - 1][0] + by_iova[i - 1][1] > by_iova[i][0]) {
			rc = hl_error(-ERANGE, "pool record: segment iova ranges overlap at 0x%llx",
				      (unsigned long long)by_iova[i][0]);
			goto out;
		}
	}
out:
	free(by_pool);
	free(by_iova);
	return rc;
}

int hl_meta_parse(const void *buf, size_t len, struct hl_meta_view *v)
{
	const struct hl_meta_hdr *h = buf;
	int rc;

	memset(v, 0, sizeof(*v));
	if (buf == NULL || len < sizeof(*h))
		return hl_error(-EBADMSG, "pool record: %zu bytes is shorter than its header", len);
	if (((uintptr_t)buf & 7) != 0)
		return hl_error(-EINVAL, "pool record: buffer not 8-byte aligned");
	rc = check_header(h, len);
	if (rc < 0)
		return rc;
	const struct hl_meta_file *f = (const void *)((const uint8_t *)buf + sizeof(*h));
	const struct hl_meta_seg *s = (const void *)(f + h->nfiles);
	rc = check_files(h, f);
	if (rc < 0)
		return rc;
	rc = check_segments(h, f, s);
	if (rc < 0)
		return rc;
	v->hdr = h;
	v->files = f;
	v->segs = s;
	return 0;
}
