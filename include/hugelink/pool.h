/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The hugelink pool: the switch's packet memory, shared with other processes
 * and guests.
 *
 * A pool is one file on hugetlbfs (2 MiB or 1 GiB pages), mapped whole. Its
 * pages are physically scattered; at creation the owner reads each page's
 * physical address once, groups physically contiguous pages into segments,
 * and never pretends that two segments are contiguous. The owner writes a
 * metadata record (pool_meta.h) to `<run_dir>/<name>.meta` and a copy into
 * the pool's first page. Peers attach through the record alone.
 *
 * Every address space (the owner, a peer process, QEMU, a guest behind an
 * ivshmem BAR) sees the pool as one contiguous range of pool offsets; only
 * the base differs. So translation goes through the pool offset:
 *     va <-> offset   base arithmetic
 *     offset -> iova  dense page table (one load)
 *     iova -> offset  page-number hash with linear probing
 *
 * When hugepages cannot be had the pool falls back to a shared-memory file
 * (tmpfs, like memfd but nameable so peers and a restarted owner can find it)
 * with IOVA = pool offset; when physical addresses read as zero (no
 * CAP_SYS_ADMIN) the hugepage pool also uses IOVA = pool offset. Both are
 * reported by hl_pool_get_info() and logged; neither is silent.
 *
 * Ownership: one owner (holds an exclusive flock on the pool file) writes the
 * record, the pool header and the zone table; peers only read them.
 */
#ifndef HUGELINK_POOL_H
#define HUGELINK_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include <hugelink/common.h>
#include <hugelink/pool_meta.h>
#include <hugelink/xlate.h>

#ifdef __cplusplus
extern "C" {
#endif

struct hl_pool;

/* hl_pool_params.flags and hl_pool_attach() flags */
#define HL_POOL_F_NO_HUGE 0x1u /* create: use the shared-memory fallback */
#define HL_POOL_F_REPLACE 0x2u /* create: remove a stale pool left by a dead owner */
#define HL_POOL_F_OWNER   0x4u /* attach: take over ownership (owner must be gone) */

#define HL_POOL_DEFAULT_RUN_DIR "/run/hugelink"
#define HL_POOL_DEFAULT_SHM_DIR "/dev/shm"

struct hl_pool_params {
	const char *name;         /* [A-Za-z0-9_.-]{1,31}, not starting with '.' */
	uint64_t size;            /* bytes; rounded up to the page size */
	const char *hugepage_dir; /* NULL: a hugetlbfs mount from /proc/mounts */
	const char *run_dir;      /* NULL: HL_POOL_DEFAULT_RUN_DIR */
	const char *shm_dir;      /* NULL: HL_POOL_DEFAULT_SHM_DIR */
	uint64_t page_size;       /* 0: 1 GiB if enough are free, else 2 MiB */
	unsigned flags;
};

struct hl_pool_info {
	char name[HL_META_NAME_LEN];
	char record_path[256];
	char file_path[256];
	void *va;
	uint64_t size;
	uint64_t page_size;
	uint64_t data_offset; /* first byte free for zones */
	unsigned npages;
	unsigned nsegs;
	bool hugepages; /* backed by hugetlbfs */
	bool phys_iova; /* IOVA is the host physical address */
	bool owner;
	char fallback_reason[256]; /* "" when neither fallback applies */
};

/* One physically (and IOVA-) contiguous run of pages. */
struct hl_pool_seg {
	uint64_t pool_off;
	uint64_t len;
	uint64_t iova;
	uint64_t phys;
};

/*
 * The part of a pool the data path reads. First member of struct hl_pool,
 * so the inline translations below need no call.
 */
struct hl_pool_view {
	uint8_t *base;
	uint64_t size;
	struct hl_xlate off2iova; /* dense */
	struct hl_xlate iova2off; /* hash, or dense when IOVA = offset */
};

/*
 * Create (or, by p->flags, adopt) a pool: its hugepage files, their record
 * and the translation tables. 0 and *out, or a negative errno (-EEXIST: a
 * pool of that name is there, live or left by a dead owner).
 */
int hl_pool_create(const struct hl_pool_params *p, struct hl_pool **out);

/*
 * Map the pool a record describes, in this process, from the record alone.
 * With HL_POOL_F_OWNER the caller becomes the owner (fails with -EBUSY while
 * the previous owner lives); otherwise it is a peer.
 */
int hl_pool_attach(const char *record_path, unsigned flags, struct hl_pool **out);

/* Unmap. The files stay (a peer's normal exit; an owner handing over). */
void hl_pool_detach(struct hl_pool *p);

/* Owner: unmap and remove the pool file and its record. Peer: -EPERM, detaches. */
int hl_pool_destroy(struct hl_pool *p);

/*
 * Remove the files of a pool whose owner is gone, given its record path.
 * -EBUSY while an owner holds it; -ENOENT if there is nothing to clean.
 */
int hl_pool_clean(const char *record_path);

/*
 * Remove what a dead owner of pool `name` left, found by name rather than
 * through a record: "<name>.pool" and the pools of its isolated ports
 * ("<name>.<port>.pool") in mem_dir (NULL: every hugetlbfs mount and
 * HL_POOL_DEFAULT_SHM_DIR), and, with run_dir, their records there.
 * Nothing is removed while any of those pool files has a live owner
 * (-EBUSY). Returns the number of files removed.
 */
int hl_pool_clean_name(const char *name, const char *mem_dir, const char *run_dir);

/*
 * For adopting a dead owner's pool from another run directory: find the
 * file of pool `name` (as hl_pool_clean_name does), check the record copy
 * in its first page like any record, and write it to record_path, ready
 * for hl_pool_attach(record_path, HL_POOL_F_OWNER, ...). -ENOENT: no such
 * file; -EBUSY: it has a live owner; -EBADMSG: its owner died before the
 * pool was complete (nothing to adopt: clean it).
 */
int hl_pool_recover_record(const char *name, const char *mem_dir, const char *record_path);

/* Sizes and counts of a pool, and its segments in mapping order. */
int hl_pool_get_info(const struct hl_pool *p, struct hl_pool_info *info);
const struct hl_pool_seg *hl_pool_segments(const struct hl_pool *p, unsigned *n);

/* The fd of the pool's (first) file, for passing to a peer (vhost-user). */
int hl_pool_fd(const struct hl_pool *p);

/* The validated record this pool was created or attached with. */
const struct hl_meta_view *hl_pool_meta(const struct hl_pool *p);

/* Number of /proc/self/pagemap reads this process has made (for tests). */
uint64_t hl_pagemap_reads(void);

/* ---- zones: named, persistent carve-outs of the pool ---------------------- */

#define HL_ZONE_NAME_LEN 32
#define HL_ZONE_F_CONTIG 0x1u /* must not cross a segment boundary */

/*
 * Owner only. Reserve `len` bytes aligned to `align` (a power of two) and
 * name them; the zone table lives in the pool, so peers and a restarted
 * owner find zones by name. -EEXIST for a taken name, -ENOMEM when no gap fits.
 */
int hl_pool_zone_reserve(struct hl_pool *p, const char *name, uint64_t len, uint64_t align,
			 unsigned flags, uint64_t *off);
int hl_pool_zone_free(struct hl_pool *p, const char *name);
int hl_pool_zone_lookup(const struct hl_pool *p, const char *name, uint64_t *off, uint64_t *len);

/* ---- translation (data path) --------------------------------------------- */

static inline const struct hl_pool_view *hl_pool_view(const struct hl_pool *p)
{
	return (const struct hl_pool_view *)p;
}

static inline uint64_t hl_pool_va2off(const struct hl_pool *p, const void *va)
{
	const struct hl_pool_view *v = hl_pool_view(p);
	uint64_t off = (uint64_t)((uintptr_t)va - (uintptr_t)v->base);
	return hl_likely(off < v->size) ? off : HL_BAD_ADDR;
}

static inline void *hl_pool_off2va(const struct hl_pool *p, uint64_t off)
{
	const struct hl_pool_view *v = hl_pool_view(p);
	return hl_likely(off < v->size) ? v->base + off : NULL;
}

static inline uint64_t hl_pool_off2iova(const struct hl_pool *p, uint64_t off)
{
	return hl_xlate(&hl_pool_view(p)->off2iova, off);
}

static inline uint64_t hl_pool_iova2off(const struct hl_pool *p, uint64_t iova)
{
	return hl_xlate(&hl_pool_view(p)->iova2off, iova);
}

static inline uint64_t hl_pool_va2iova(const struct hl_pool *p, const void *va)
{
	uint64_t off = hl_pool_va2off(p, va);
	return hl_likely(off != HL_BAD_ADDR) ? hl_pool_off2iova(p, off) : HL_BAD_ADDR;
}

static inline void *hl_pool_iova2va(const struct hl_pool *p, uint64_t iova)
{
	uint64_t off = hl_pool_iova2off(p, iova);
	return hl_likely(off != HL_BAD_ADDR) ? hl_pool_view(p)->base + off : NULL;
}

#ifdef __cplusplus
}
#endif
#endif
