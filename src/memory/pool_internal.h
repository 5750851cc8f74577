/* SPDX-License-Identifier: BSD-3-Clause */
/* The pool object, shared by the files of src/memory. Not API. */
#ifndef HL_POOL_INTERNAL_H
#define HL_POOL_INTERNAL_H

#include <hugelink/pool.h>

struct hl_pool {
	struct hl_pool_view v; /* first: the inline translations cast to it */
	struct hl_meta_view meta;
	void *record; /* private copy of the record bytes */
	size_t record_len;
	struct hl_pool_seg *segs;
	unsigned nsegs;
	int fd; /* files[0]; holds the owner's flock */
	bool owner;
	bool hugepages;
	bool phys_iova;
	uint64_t page_size;
	char name[HL_META_NAME_LEN];
	char record_path[256];
	char file_path[256];
	char fallback_reason[256];
};

static inline struct hl_pool_hdr *hl_pool_hdr(const struct hl_pool *p)
{
	return (struct hl_pool_hdr *)p->v.base;
}

/* Lay out the header page of a new pool; returns data_offset or 0 if too small. */
uint64_t hl_pool_layout(uint64_t pool_size, size_t record_len, uint32_t *record_off,
			uint32_t *zones_off);

/* The helpers that pool.c shares with pool_stale.c. */
void hl_pool_file_name(char *buf, size_t n, const char *pool, unsigned idx);
int hl_pool_write_record(const char *path, const void *rec, size_t len);
int hl_pool_check_dir(const struct hl_meta_hdr *h);
int hl_pool_check_file_names(const struct hl_meta_view *m);
void hl_pool_unlink_files(const struct hl_meta_view *m);

/*
 * True if the pool file at path has a complete header (its owner got as
 * far as publishing it, so peers may map it); false for a file whose
 * owner died while creating it, or that cannot be read.
 */
bool hl_pool_file_published(const char *path);

#endif
