/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The pool metadata record: the on-disk (and in-pool) description of a
 * hugelink pool that lets another process or a guest map the same memory in
 * the same order and translate addresses without reading pagemap.
 *
 * The record is written once by the pool's owner at creation, atomically
 * (temporary file + rename), and copied into the pool's first page. Readers
 * are peers and guests, so every field is validated by hl_meta_parse()
 * before use: a record is input from another trust domain.
 *
 * Layout (all little-endian, no pointers):
 *     struct hl_meta_hdr
 *     struct hl_meta_file  files[nfiles]
 *     struct hl_meta_seg   segs[nsegs]
 * The CRC32C covers the whole record with the crc field taken as zero.
 */
#ifndef HUGELINK_POOL_META_H
#define HUGELINK_POOL_META_H

#include <stddef.h>
#include <stdint.h>

#include <hugelink/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HL_META_MAGIC 0x4D504C48u /* "HLPM" */
#define HL_META_VERSION 1
#define HL_META_MAX_FILES 64
#define HL_META_MAX_SEGS (1u << 20)
#define HL_META_NAME_LEN 32
#define HL_META_PATH_LEN 192
#define HL_META_FILE_LEN 64

/* Flags in hl_meta_hdr.flags */
#define HL_META_F_HUGETLBFS 0x1u /* files live on hugetlbfs */
#define HL_META_F_PHYS_IOVA 0x2u /* iova is the host physical address */
#define HL_META_F_KNOWN (HL_META_F_HUGETLBFS | HL_META_F_PHYS_IOVA)

struct hl_meta_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t hdr_size;       /* sizeof(struct hl_meta_hdr) */
	uint32_t crc32c;
	uint32_t total_size;     /* bytes in the whole record */
	uint32_t page_shift;     /* 12, 21 or 30 */
	uint32_t flags;          /* HL_META_F_* */
	uint32_t nfiles;
	uint32_t nsegs;
	uint64_t pool_size;      /* bytes; segments tile [0, pool_size) */
	uint64_t data_offset;    /* first byte of the pool free for use */
	uint64_t create_ns;      /* identifies this incarnation of the pool */
	char name[HL_META_NAME_LEN];
	char dir[HL_META_PATH_LEN]; /* absolute directory holding the files */
} __attribute__((packed));
_Static_assert(sizeof(struct hl_meta_hdr) == 280, "hl_meta_hdr ABI");

struct hl_meta_file {
	char name[HL_META_FILE_LEN]; /* a plain name inside hdr.dir */
	uint64_t size;
} __attribute__((packed));
_Static_assert(sizeof(struct hl_meta_file) == 72, "hl_meta_file ABI");

struct hl_meta_seg {
	uint32_t file;     /* index into files[] */
	uint32_t reserved; /* zero */
	uint64_t file_off;
	uint64_t len;
	uint64_t phys;     /* host physical base, 0 when not known */
	uint64_t iova;     /* IOVA base the switch uses for this segment */
	uint64_t pool_off; /* where the segment sits in the pool */
} __attribute__((packed));
_Static_assert(sizeof(struct hl_meta_seg) == 48, "hl_meta_seg ABI");

/*
 * The pool's own header, at pool offset 0, followed by the record copy and
 * the zone table. Written only by the owner; peers and guests read it. A
 * guest that sees only the pool (an ivshmem BAR) starts here.
 */
#define HL_POOL_HDR_MAGIC 0x48504C48u /* "HLPH" */
#define HL_POOL_HDR_VERSION 1
#define HL_POOL_ZONES_MAX 256

struct hl_pool_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t hdr_size;       /* sizeof(struct hl_pool_hdr) */
	uint32_t record_off;     /* pool offset of the record copy */
	uint32_t record_len;
	uint32_t zones_off;      /* pool offset of struct hl_pool_zone[zones_max] */
	uint32_t zones_max;
	uint64_t data_offset;    /* zones are carved from [data_offset, pool size) */
	uint64_t create_ns;      /* equals the record's create_ns */
	uint64_t zone_seq;       /* odd while the owner edits the zone table */
	uint8_t reserved[16];
} __attribute__((packed, aligned(8)));
_Static_assert(sizeof(struct hl_pool_hdr) == 64, "hl_pool_hdr ABI");

#define HL_ZONE_USED 0x1u

struct hl_pool_zone {
	char name[32];
	uint64_t off;
	uint64_t len;
	uint32_t state;   /* HL_ZONE_USED */
	uint32_t flags;   /* HL_ZONE_F_* given at reserve */
	uint64_t reserved;
} __attribute__((packed, aligned(8)));
_Static_assert(sizeof(struct hl_pool_zone) == 64, "hl_pool_zone ABI");

/* A validated record, pointing into the caller's buffer. */
struct hl_meta_view {
	const struct hl_meta_hdr *hdr;
	const struct hl_meta_file *files;
	const struct hl_meta_seg *segs;
};

static inline size_t hl_meta_size(uint32_t nfiles, uint32_t nsegs)
{
	return sizeof(struct hl_meta_hdr) + (size_t)nfiles * sizeof(struct hl_meta_file) +
	       (size_t)nsegs * sizeof(struct hl_meta_seg);
}

/*
 * Check every field of a record of `len` bytes. Returns 0 and fills `v`, or
 * a negative errno with hl_last_error() naming the field at fault:
 * -EBADMSG (magic, CRC, truncation), -EPROTONOSUPPORT (version), -EINVAL
 * (bad field), -ERANGE (out-of-range or overlapping segment), -EOVERFLOW
 * (sizes that overflow), -EPERM (file outside the pool directory).
 * The buffer must be 8-byte aligned and stay alive while `v` is used.
 */
int hl_meta_parse(const void *buf, size_t len, struct hl_meta_view *v);

/* Recompute and store the CRC of a record being written. */
void hl_meta_seal(void *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
