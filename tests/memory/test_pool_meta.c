/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Malformed metadata records: each is refused with the right errno and a
 * message naming the field, and a refused attach leaves nothing mapped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <hugelink/pool.h>

#include "hl_test.h"
#include "pool_util.h"

#define MB (1ull << 20)
#define POOL_SIZE (16 * MB)

static struct hl_pool *owner;
static struct hl_pool_info oinfo;
static uint64_t *good; /* a valid two-segment record of the owner's pool */
static size_t good_len;

static struct hl_meta_hdr *H(void *b) { return b; }
static struct hl_meta_file *F(void *b) { return (struct hl_meta_file *)(H(b) + 1); }
static struct hl_meta_seg *S(void *b) { return (struct hl_meta_seg *)(F(b) + H(b)->nfiles); }

static int write_file(const char *path, const void *b, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	ssize_t w = write(fd, b, n);
	close(fd);
	return w == (ssize_t)n ? 0 : -1;
}

/*
 * A shared-memory pool, and a record describing it as two segments (the
 * second half first in the table, to exercise the general mapper). The
 * in-pool copy is updated to match, as an owner relaying out its pool would.
 */
static int setup(void)
{
	if (owner != NULL)
		return 0;
	char name[32];
	snprintf(name, sizeof(name), "t-meta-%d", (int)getpid());
	struct hl_pool_params prm = {.name = name, .size = POOL_SIZE, .run_dir = hl_test_tmpdir(),
				     .flags = HL_POOL_F_NO_HUGE};
	int rc = hl_pool_create(&prm, &owner);
	if (rc < 0)
		return rc;
	hl_pool_get_info(owner, &oinfo);
	const struct hl_meta_view *m = hl_pool_meta(owner);
	good_len = hl_meta_size(1, 2);
	good = calloc(1, HL_ALIGN_UP(good_len, 8));
	memcpy(good, m->hdr, sizeof(*m->hdr) + sizeof(*m->files));
	H(good)->nsegs = 2;
	H(good)->total_size = (uint32_t)good_len;
	S(good)[0] = (struct hl_meta_seg){.file = 0, .file_off = POOL_SIZE / 2, .len = POOL_SIZE / 2,
					  .iova = POOL_SIZE / 2, .pool_off = POOL_SIZE / 2};
	S(good)[1] = (struct hl_meta_seg){.file = 0, .file_off = 0, .len = POOL_SIZE / 2,
					  .iova = 0, .pool_off = 0};
	hl_meta_seal(good, good_len);
	struct hl_pool_hdr *ph = oinfo.va;
	memcpy((uint8_t *)oinfo.va + ph->record_off, good, good_len);
	ph->record_len = (uint32_t)good_len;
	return 0;
}

HL_TEST(valid_two_segment_record_attaches)
{
	char path[512];
	struct hl_pool *q;

	REQUIRE_OK(setup());
	snprintf(path, sizeof(path), "%s/good.meta", hl_test_tmpdir());
	REQUIRE(write_file(path, good, good_len) == 0);
	REQUIRE_OK(hl_pool_attach(path, 0, &q));
	struct hl_pool_info qi;
	hl_pool_get_info(q, &qi);
	CHECK_EQ(qi.nsegs, 2);
	strcpy((char *)oinfo.va + POOL_SIZE / 2 + 100, "second half");
	CHECK(strcmp(hl_pool_off2va(q, POOL_SIZE / 2 + 100), "second half") == 0);
	CHECK_EQ(hl_pool_va2iova(q, hl_pool_off2va(q, 12345)), 12345);
	hl_pool_detach(q);
}

struct mcase {
	const char *what;
	void (*mutate)(void *b);
	bool reseal;
	int err;
	const char *says;
};

#define M(fn, body) static void fn(void *b) { body; }
M(m_magic, H(b)->magic ^= 1)
M(m_version, H(b)->version = 2)
M(m_crc, S(b)[1].iova ^= 1ull << 40)
M(m_hdr_size, H(b)->hdr_size = 100)
M(m_nsegs_huge, H(b)->nsegs = 0xffffffffu)
M(m_nsegs_mismatch, H(b)->nsegs = 3)
M(m_nfiles_zero, H(b)->nfiles = 0)
M(m_page_shift, H(b)->page_shift = 13)
M(m_flags, H(b)->flags |= 0x80)
M(m_pool_unaligned, H(b)->pool_size += 4096)
M(m_pool_huge, H(b)->pool_size = 1ull << 62)
M(m_data_offset, H(b)->data_offset = H(b)->pool_size)
M(m_name, strcpy(H(b)->name, "../x"))
M(m_dir_relative, strcpy(H(b)->dir, "dev/shm"))
M(m_dir_dotdot, strcpy(H(b)->dir, "/dev/shm/../../etc"))
M(m_dir_double_slash, strcpy(H(b)->dir, "//dev/shm"))
M(m_dir_unterminated, memset(H(b)->dir, 'a', sizeof(H(b)->dir)); H(b)->dir[0] = '/')
M(m_dir_not_tmpfs, strcpy(H(b)->dir, "/"))
M(m_dir_not_huge, H(b)->flags |= HL_META_F_HUGETLBFS)
M(m_file_slash, strcpy(F(b)[0].name, "../passwd"))
M(m_file_other, strcpy(F(b)[0].name, "other.pool"))
M(m_file_unterminated, memset(F(b)[0].name, 'a', sizeof(F(b)[0].name)))
M(m_file_size_overflow, F(b)[0].size = 1ull << 63)
M(m_file_larger, F(b)[0].size = POOL_SIZE + 2 * MB)
M(m_seg_file, S(b)[1].file = 5)
M(m_seg_reserved, S(b)[0].reserved = 1)
M(m_seg_unaligned, S(b)[1].file_off += 4096)
M(m_seg_overlap, S(b)[1].pool_off = POOL_SIZE / 2)
M(m_seg_gap, S(b)[1].len -= 2 * MB)
M(m_seg_past_pool, S(b)[0].pool_off += 2 * MB)
M(m_seg_past_file, S(b)[1].file_off = POOL_SIZE)
M(m_seg_len_overflow, S(b)[1].len = 1ull << 63; S(b)[1].pool_off = 1ull << 63)
M(m_seg_iova_overlap, S(b)[1].iova = S(b)[0].iova + 2 * MB)
M(m_seg_zero_len, S(b)[1].len = 0)
M(m_other_pool, H(b)->create_ns += 1)

static const struct mcase cases[] = {
	{"wrong magic", m_magic, true, -EBADMSG, "magic"},
	{"wrong version", m_version, true, -EPROTONOSUPPORT, "version"},
	{"wrong CRC", m_crc, false, -EBADMSG, "crc32c"},
	{"hdr_size", m_hdr_size, true, -EINVAL, "hdr_size"},
	{"nsegs overflows the record", m_nsegs_huge, true, -EINVAL, "nsegs"},
	{"nsegs disagrees with size", m_nsegs_mismatch, true, -EBADMSG, "nsegs"},
	{"no files", m_nfiles_zero, true, -EINVAL, "nfiles"},
	{"page_shift", m_page_shift, true, -EINVAL, "page_shift"},
	{"unknown flags", m_flags, true, -EINVAL, "flags"},
	{"pool_size not a page multiple", m_pool_unaligned, true, -EINVAL, "pool_size"},
	{"pool_size absurd", m_pool_huge, true, -EINVAL, "pool_size"},
	{"data_offset past the pool", m_data_offset, true, -ERANGE, "data_offset"},
	{"bad pool name", m_name, true, -EINVAL, "name"},
	{"relative dir", m_dir_relative, true, -EPERM, "dir"},
	{"dir with ..", m_dir_dotdot, true, -EPERM, "dir"},
	{"dir starting with //", m_dir_double_slash, true, -EPERM, "dir"},
	{"dir unterminated", m_dir_unterminated, true, -EPERM, "dir"},
	{"dir not shared memory", m_dir_not_tmpfs, true, -EPERM, "not tmpfs"},
	{"dir not hugetlbfs", m_dir_not_huge, true, -EPERM, "not hugetlbfs"},
	{"file outside the directory", m_file_slash, true, -EPERM, "outside the pool directory"},
	{"file of another pool", m_file_other, true, -EPERM, "not this pool's"},
	{"file name unterminated", m_file_unterminated, true, -EINVAL, "files[0].name"},
	{"file size overflows", m_file_size_overflow, true, -EINVAL, "files[0].size"},
	{"file larger than on disk", m_file_larger, true, -EINVAL, "files[0].size"},
	{"segment file index", m_seg_file, true, -ERANGE, "segs[1].file"},
	{"segment reserved field", m_seg_reserved, true, -EINVAL, "segs[0].reserved"},
	{"segment unaligned", m_seg_unaligned, true, -EINVAL, "segs[1]"},
	{"segments overlap", m_seg_overlap, true, -ERANGE, "overlap"},
	{"segments leave a gap", m_seg_gap, true, -ERANGE, "gap"},
	{"segment past the pool", m_seg_past_pool, true, -ERANGE, "pool_size"},
	{"segment past its file", m_seg_past_file, true, -ERANGE, "files[0].size"},
	{"segment length overflows", m_seg_len_overflow, true, -EOVERFLOW, "overflows"},
	{"segment IOVAs overlap", m_seg_iova_overlap, true, -ERANGE, "iova"},
	{"segment of zero length", m_seg_zero_len, true, -EINVAL, "segs[1]"},
	{"record of another pool", m_other_pool, true, -ESTALE, "does not match"},
};

/* Attach must fail as expected and leave the address space as it was. */
static void expect_refused(const void *rec, size_t len, int err, const char *says, const char *what)
{
	char path[512];
	struct hl_pool *q = (struct hl_pool *)1;

	snprintf(path, sizeof(path), "%s/bad.meta", hl_test_tmpdir());
	if (write_file(path, rec, len) != 0) {
		hl_test_fail(__FILE__, __LINE__, "cannot write %s", path);
		return;
	}
	int mapped = maps_count(oinfo.file_path);
	unsigned long long reserved = maps_reserved_bytes();
	hl_clear_error();
	int rc = hl_pool_attach(path, 0, &q);
	if (rc != err || strstr(hl_last_error(), says) == NULL)
		hl_test_fail(__FILE__, __LINE__, "%s: got %d '%s', want %d mentioning '%s'", what, rc,
			     hl_last_error(), err, says);
	CHECK(q == NULL);
	CHECK_EQ(maps_count(oinfo.file_path), mapped);
	/* a leaked reservation would be at least the pool's size */
	CHECK(maps_reserved_bytes() < reserved + POOL_SIZE);
}

HL_TEST(each_malformed_record_is_refused)
{
	uint64_t *b = calloc(1, HL_ALIGN_UP(good_len, 8) + 64);

	REQUIRE_OK(setup());
	for (unsigned i = 0; i < HL_ARRAY_SIZE(cases); i++) {
		memcpy(b, good, good_len);
		cases[i].mutate(b);
		if (cases[i].reseal)
			hl_meta_seal(b, good_len);
		expect_refused(b, good_len, cases[i].err, cases[i].says, cases[i].what);
	}
	free(b);
}

HL_TEST(truncated_records_are_refused)
{
	REQUIRE_OK(setup());
	const size_t lens[] = {0, 1, 8, sizeof(struct hl_meta_hdr) - 1, sizeof(struct hl_meta_hdr),
			       sizeof(struct hl_meta_hdr) + 71, good_len - 48, good_len - 1};
	for (unsigned i = 0; i < HL_ARRAY_SIZE(lens); i++) {
		if (lens[i] == 0) {
			/* an empty file is not a record */
			expect_refused(good, 0, -EBADMSG, "record", "empty record");
			continue;
		}
		expect_refused(good, lens[i], -EBADMSG, "pool record", "truncated record");
	}
	/* trailing garbage is as wrong as missing bytes */
	uint64_t *b = calloc(1, good_len + 64);
	memcpy(b, good, good_len);
	expect_refused(b, good_len + 8, -EBADMSG, "total_size", "record with trailing bytes");
	free(b);
}

HL_TEST(parse_rejects_unaligned_buffer)
{
	REQUIRE_OK(setup());
	uint8_t *b = malloc(good_len + 8);
	struct hl_meta_view v;
	memcpy(b + 1, good, good_len);
	CHECK_EQ(hl_meta_parse(b + 1, good_len, &v), -EINVAL);
	memcpy(b, good, good_len);
	CHECK_EQ(hl_meta_parse(b, good_len, &v), 0);
	CHECK(v.hdr != NULL && v.segs != NULL && v.files != NULL);
	free(b);
}

HL_TEST(random_corruption_never_crashes)
{
	/* flip bytes, reseal, parse: every outcome is an error or a valid view */
	uint64_t seed = 0x1234567;
	uint64_t *b = calloc(1, HL_ALIGN_UP(good_len, 8));
	unsigned accepted = 0;

	REQUIRE_OK(setup());
	for (int it = 0; it < 20000; it++) {
		memcpy(b, good, good_len);
		int flips = 1 + (int)(seed % 4);
		for (int k = 0; k < flips; k++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			((uint8_t *)b)[(seed >> 33) % good_len] ^= (uint8_t)(1u << ((seed >> 20) & 7));
		}
		hl_meta_seal(b, good_len);
		struct hl_meta_view v;
		if (hl_meta_parse(b, good_len, &v) == 0) {
			accepted++;
			CHECK(v.hdr->nsegs >= 1 && v.hdr->nsegs <= 2);
		}
	}
	/* flips in padding-free fields are mostly caught; some (names, iova) stay valid */
	CHECK(accepted < 20000);
	free(b);
	hl_pool_destroy(owner);
	owner = NULL;
	CHECK(!path_exists(oinfo.file_path));
}
