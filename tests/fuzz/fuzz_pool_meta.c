/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the pool record parser (hl_meta_parse), the trust
 * boundary between a pool's owner and every peer and guest that maps it.
 *
 * Input: a flags byte, then the record. Flag bit 0 seals the record (its
 * CRC recomputed) and bit 1 writes a correct magic, version, header size
 * and total size into it first, so that mutations reach the checks behind
 * those; without them the fuzzer explores the first checks. The record is
 * parsed from a buffer of exactly its size (ASan catches a read past it).
 *
 * Whatever it accepts must be what a mapper can trust: every file a plain
 * name and every segment inside its file, segments tiling [0, pool_size)
 * once, no two at one IOVA, every size page-aligned; and a record accepted
 * once is accepted again (the parser keeps no state).
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <hugelink/pool_meta.h>

static int cmp_off(const void *a, const void *b)
{
	const struct hl_meta_seg *x = *(const struct hl_meta_seg *const *)a, *y = *(const struct hl_meta_seg *const *)b;
	return x->pool_off < y->pool_off ? -1 : x->pool_off > y->pool_off;
}

static int cmp_iova(const void *a, const void *b)
{
	const struct hl_meta_seg *x = *(const struct hl_meta_seg *const *)a, *y = *(const struct hl_meta_seg *const *)b;
	return x->iova < y->iova ? -1 : x->iova > y->iova;
}

static void check_view(const struct hl_meta_view *v, const uint8_t *buf, size_t len)
{
	const struct hl_meta_hdr *h = v->hdr;
	assert((const uint8_t *)h == buf && h->total_size == len);
	assert(hl_meta_size(h->nfiles, h->nsegs) == len);
	assert((const uint8_t *)v->files == buf + sizeof(*h));
	assert((const uint8_t *)(v->segs + h->nsegs) == buf + len);
	uint64_t mask = (1ull << h->page_shift) - 1;
	assert(h->page_shift == 12 || h->page_shift == 21 || h->page_shift == 30);
	assert(h->pool_size > 0 && !(h->pool_size & mask) && h->data_offset < h->pool_size);
	assert(memchr(h->name, 0, sizeof(h->name)) != NULL && memchr(h->dir, 0, sizeof(h->dir)) != NULL);
	assert(h->dir[0] == '/' && strstr(h->dir, "/../") == NULL && strstr(h->dir, "//") == NULL);
	for (uint32_t i = 0; i < h->nfiles; i++) {
		const struct hl_meta_file *f = &v->files[i];
		assert(memchr(f->name, 0, sizeof(f->name)) != NULL);
		assert(f->name[0] != '\0' && strchr(f->name, '/') == NULL && strcmp(f->name, "..") != 0);
		assert(f->size > 0 && !(f->size & mask));
	}
	const struct hl_meta_seg **by = malloc(h->nsegs * sizeof(*by));
	assert(by != NULL);
	for (uint32_t i = 0; i < h->nsegs; i++) {
		const struct hl_meta_seg *g = &v->segs[i];
		assert(g->file < h->nfiles && g->len > 0 && !(g->len & mask));
		assert(g->file_off + g->len >= g->file_off && g->file_off + g->len <= v->files[g->file].size);
		by[i] = g;
	}
	qsort(by, h->nsegs, sizeof(*by), cmp_off);
	uint64_t at = 0;
	for (uint32_t i = 0; i < h->nsegs; i++) {
		assert(by[i]->pool_off == at);
		at += by[i]->len;
	}
	assert(at == h->pool_size);
	qsort(by, h->nsegs, sizeof(*by), cmp_iova);
	for (uint32_t i = 1; i < h->nsegs; i++)
		assert(by[i - 1]->iova + by[i - 1]->len <= by[i]->iova);
	free(by);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	if (!quiet) {
		hl_log_set_level(HL_LOG_OFF);
		quiet = 1;
	}
	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	size_t len = size - 1;
	/* malloc's alignment (16) is more than the parser's 8, and the buffer is exactly len bytes */
	uint8_t *buf = malloc(len ? len : 1);
	assert(buf != NULL);
	memcpy(buf, data + 1, len);
	if ((flags & 2) && len >= sizeof(struct hl_meta_hdr)) {
		struct hl_meta_hdr *h = (struct hl_meta_hdr *)buf;
		h->magic = HL_META_MAGIC;
		h->version = HL_META_VERSION;
		h->hdr_size = sizeof(*h);
		h->total_size = (uint32_t)len;
	}
	if ((flags & 1) && len >= sizeof(struct hl_meta_hdr))
		hl_meta_seal(buf, len);
	struct hl_meta_view v;
	hl_clear_error();
	int rc = hl_meta_parse(buf, len, &v);
	assert(rc <= 0);
	if (rc == 0) {
		check_view(&v, buf, len);
		struct hl_meta_view again;
		assert(hl_meta_parse(buf, len, &again) == 0 && again.segs == v.segs);
	} else {
		assert(hl_last_error()[0] != '\0'); /* a refusal says why */
	}
	free(buf);
	return 0;
}
