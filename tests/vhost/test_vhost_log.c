/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dirty log of a migrating guest: page arithmetic (ranges crossing bit,
 * byte and word boundaries, at the end of what the log covers, a bitmap not
 * aligned to a word), the per-burst cache against uncached writes, and
 * SET_LOG_BASE from a hostile front-end (each refused with an answer and a
 * counter, no fd or mapping left behind), LOG_ALL switched at run time.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <hugelink/vhost_dev.h>
#include <hugelink/vhost_log.h>

#include "fd_util.h"
#include "hl_test.h"

#define PG 4096ull

static bool bit(const uint8_t *bits, uint64_t page)
{
	return bits[page / 8] & (1u << (page % 8));
}

/* Pages set in bits[0, size) other than [first, last]. */
static unsigned stray_bits(const uint8_t *bits, uint64_t size, uint64_t first, uint64_t last)
{
	unsigned n = 0;
	for (uint64_t p = 0; p < size * 8; p++)
		if (bit(bits, p) != (p >= first && p <= last))
			n++;
	return n;
}

HL_TEST(log_size_for_memory)
{
	CHECK_EQ(hl_vhost_log_bytes(0), 0);
	CHECK_EQ(hl_vhost_log_bytes(1), 1);          /* one page, one bit, one byte */
	CHECK_EQ(hl_vhost_log_bytes(8 * PG), 1);
	CHECK_EQ(hl_vhost_log_bytes(8 * PG + 1), 2);
	CHECK_EQ(hl_vhost_log_bytes(256ull << 20), 8192); /* 256 MiB: 65536 pages */
	CHECK_EQ(hl_vhost_log_bytes(1ull << 40), (1ull << 40) / PG / 8);
}

HL_TEST(ranges_across_boundaries)
{
	static const struct {
		uint64_t gpa, len, first, last;
	} cases[] = {
		{0, 1, 0, 0},
		{PG - 1, 2, 0, 1},                    /* two pages, one byte each */
		{7 * PG + 10, PG, 7, 8},              /* crosses a byte of the bitmap */
		{63 * PG, PG + 1, 63, 64},            /* crosses a 64-bit word */
		{60 * PG, 200 * PG, 60, 259},         /* several whole words */
		{64 * PG, 64 * PG, 64, 127},          /* exactly one word */
		{5 * PG, PG, 5, 5},                   /* ends at a page end: one page, not two */
		{1023 * PG + 4095, 1, 1023, 1023},    /* the last byte the log covers */
	};
	uint64_t size = 128; /* 1024 pages */
	for (int aligned = 1; aligned >= 0; aligned--) {
		/* a bitmap at an odd address takes the byte-wise path */
		uint8_t *buf = calloc(1, size + 16);
		struct hl_vhost_log log = {.bits = buf + (aligned ? 8 : 3), .size = size};
		for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			uint64_t dropped = 0;
			memset(buf, 0, size + 16);
			hl_vhost_log_write(&log, cases[i].gpa, cases[i].len, &dropped);
			CHECK_EQ(stray_bits(log.bits, size, cases[i].first, cases[i].last), 0);
			CHECK_EQ(dropped, 0);
			/* nothing outside the bitmap */
			CHECK_EQ(buf[aligned ? 7 : 2], 0);
			CHECK_EQ(log.bits[size], 0);
		}
		free(buf);
	}
}

HL_TEST(writes_past_the_log_are_dropped_and_counted)
{
	uint8_t *buf = calloc(1, 64);
	struct hl_vhost_log log = {.bits = buf, .size = 10}; /* 80 pages, last word partial */
	uint64_t dropped = 0;

	hl_vhost_log_write(&log, 78 * PG, 4 * PG, &dropped); /* pages 78..81: two in, two out */
	CHECK(bit(buf, 78) && bit(buf, 79));
	CHECK_EQ(dropped, 2);
	CHECK_EQ(buf[10], 0);
	hl_vhost_log_write(&log, 1000 * PG, 1, &dropped); /* wholly outside */
	CHECK_EQ(dropped, 3);
	hl_vhost_log_write(&log, UINT64_MAX - 10, 100, &dropped); /* wraps the address space */
	CHECK(dropped > 3);
	CHECK_EQ(stray_bits(buf, 10, 78, 79), 0);
	/* the cache bounds the same way, word by word at the partial end */
	struct hl_vhost_log_cache c = {0};
	dropped = 0;
	memset(buf, 0, 64);
	hl_vhost_log_cache_add(&c, &log, 72 * PG, 16 * PG, &dropped); /* pages 72..87 */
	CHECK_EQ(dropped, 8);
	hl_vhost_log_cache_flush(&c, &log, &dropped);
	CHECK_EQ(c.n, 0);
	CHECK_EQ(stray_bits(buf, 10, 72, 79), 0);
	CHECK_EQ(buf[10], 0);
	free(buf);
}

HL_TEST(cache_matches_uncached_writes)
{
	uint64_t size = 4096; /* 32768 pages, 128 MiB */
	uint8_t *a = calloc(1, size), *b = calloc(1, size);
	struct hl_vhost_log la = {.bits = a, .size = size}, lb = {.bits = b, .size = size};
	struct hl_vhost_log_cache c = {0};
	uint64_t da = 0, db = 0, x = 12345;

	/* more distinct words than the cache holds: it flushes on its own when full */
	for (unsigned i = 0; i < 500; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t gpa = (x >> 20) % (size * 8 * PG), len = (x >> 8) % (3 * PG) + 1;
		hl_vhost_log_write(&la, gpa, len, &da);
		hl_vhost_log_cache_add(&c, &lb, gpa, len, &db);
		CHECK(c.n <= HL_VHOST_LOG_CACHE);
	}
	hl_vhost_log_cache_flush(&c, &lb, &db);
	CHECK_EQ(memcmp(a, b, size), 0);
	CHECK_EQ(da, db);
	/* before the flush nothing reaches the bitmap */
	memset(b, 0, size);
	hl_vhost_log_cache_add(&c, &lb, 3 * PG, 1, &db);
	CHECK_EQ(b[0], 0);
	hl_vhost_log_cache_flush(&c, &lb, &db);
	CHECK_EQ(b[0], 1u << 3);
	free(a);
	free(b);
}

/* ---- SET_LOG_BASE through the protocol engine ---- */

#define GPA0 0x100000ull
#define UVA0 0x7f0000000000ull
#define REG (2ull << 20)

static unsigned log_changes;

static void on_log_change(struct hl_vhost_dev *d)
{
	(void)d;
	log_changes++;
}

static const struct hl_vhost_ops ops = {.log_change = on_log_change};

static int send_msg(struct hl_vhost_dev *d, uint32_t req, const void *payload, uint32_t size, int *fds,
		    unsigned nfds, struct hl_vu_msg *r)
{
	struct hl_vu_msg m;
	memset(&m, 0, sizeof(m));
	m.hdr = (struct hl_vu_hdr){.request = req, .flags = HL_VU_VERSION, .size = size};
	if (size)
		memcpy(m.payload.raw, payload, size);
	memset(r, 0xee, sizeof(r->hdr) + 8);
	return hl_vhost_dev_handle(d, &m, sizeof(m.hdr) + size, fds, nfds, r);
}

/* SET_LOG_BASE of size/offset with a memfd of fd_size (-1: no fd); the engine's answer. */
static int log_base(struct hl_vhost_dev *d, uint64_t size, uint64_t offset, int64_t fd_size, struct hl_vu_msg *r)
{
	struct hl_vu_log l = {size, offset};
	int fd = fd_size >= 0 ? memfd_of((uint64_t)fd_size) : -1;
	return send_msg(d, HL_VU_SET_LOG_BASE, &l, sizeof(l), &fd, fd >= 0, r);
}

static struct hl_vhost_dev *dev_with_memory(void)
{
	struct hl_vhost_dev *d = calloc(1, sizeof(*d));
	struct hl_vu_msg r;
	hl_vhost_dev_init(d, 1ull << 32, 2, &ops, NULL);
	uint64_t pf = (1ull << HL_VU_PROTOCOL_F_LOG_SHMFD) | (1ull << HL_VU_PROTOCOL_F_REPLY_ACK);
	send_msg(d, HL_VU_SET_PROTOCOL_FEATURES, &pf, 8, NULL, 0, &r);
	/* guest memory up to GPA0 + REG: 3 MiB, 768 pages, 96 bytes of log */
	struct hl_vu_mem_table t = {.nregions = 1, .regions = {{GPA0, REG, UVA0, 0}}};
	int fd = memfd_of(REG);
	send_msg(d, HL_VU_SET_MEM_TABLE, &t, 8 + sizeof(t.regions[0]), &fd, 1, &r);
	return d;
}

/* A refused SET_LOG_BASE still answers (the front-end waits for it), with a nonzero status. */
static void check_refused(struct hl_vhost_dev *d, int rc, const struct hl_vu_msg *r, uint64_t *bad, const char *why,
			  const uint8_t *kept)
{
	CHECK_EQ(rc, 20);
	CHECK_EQ(r->hdr.request, HL_VU_SET_LOG_BASE);
	CHECK(r->hdr.flags & HL_VU_FLAG_REPLY);
	CHECK_EQ(r->payload.u64, 1);
	CHECK_EQ(d->stats.bad_log, ++*bad);
	CHECK_STR_HAS(hl_last_error(), why);
	CHECK(d->log.log.bits == kept); /* the log in use, if any, stays */
}

HL_TEST(hostile_set_log_base)
{
	int base_fds = open_fds();
	struct hl_vhost_dev *d = dev_with_memory();
	struct hl_vu_msg r;
	uint64_t bad = 0;
	REQUIRE(d->nregions == 1);

	check_refused(d, log_base(d, 0, 0, 4096, &r), &r, &bad, "size 0", NULL);
	check_refused(d, log_base(d, 96, 8192, 4096, &r), &r, &bad, "past the end", NULL);
	check_refused(d, log_base(d, 4096, 1, 4096, &r), &r, &bad, "past the end", NULL);
	check_refused(d, log_base(d, 95, 0, 4096, &r), &r, &bad, "cannot cover", NULL);
	check_refused(d, log_base(d, 96, 0, -1, &r), &r, &bad, "no fd", NULL);
	check_refused(d, log_base(d, 4096, UINT64_MAX - 100, 8192, &r), &r, &bad, "wraps", NULL);
	/* the 8-byte form (a log address, no fd) is the kernel's, not ours */
	uint64_t addr = 0x1000;
	check_refused(d, send_msg(d, HL_VU_SET_LOG_BASE, &addr, 8, NULL, 0, &r), &r, &bad, "payload", NULL);
	/* two fds: refused by shape, answered all the same */
	struct hl_vu_log l = {4096, 0};
	int two[2] = {memfd_of(4096), memfd_of(4096)};
	check_refused(d, send_msg(d, HL_VU_SET_LOG_BASE, &l, sizeof(l), two, 2, &r), &r, &bad, "fds", NULL);
	CHECK_EQ(log_changes, 0);
	CHECK_EQ(d->stats.log_bases, 0);

	/* a good one: empty reply, mapped, the data path told */
	CHECK_EQ(log_base(d, 96, 0, 96, &r), 12);
	CHECK_EQ(r.hdr.request, HL_VU_SET_LOG_BASE);
	CHECK_EQ(r.hdr.size, 0);
	CHECK(d->log.log.bits != NULL);
	CHECK_EQ(d->log.log.size, 96);
	CHECK_EQ(log_changes, 1);
	CHECK_EQ(d->stats.log_bases, 1);
	/* not logging until LOG_ALL is negotiated */
	CHECK(hl_vhost_dev_log_state(d).bits == NULL);
	uint64_t f = (1ull << 32) | (1ull << HL_VU_F_LOG_ALL);
	CHECK_EQ(send_msg(d, HL_VU_SET_FEATURES, &f, 8, NULL, 0, &r), 0);
	CHECK_EQ(log_changes, 2);
	CHECK(hl_vhost_dev_log_state(d).bits == d->log.log.bits);
	/* a replacement at an offset, the old one dropped */
	CHECK_EQ(log_base(d, 200, 4096 + 8, 8192, &r), 12);
	CHECK_EQ(log_changes, 3);
	CHECK_EQ(d->log.log.size, 200);
	/* a refused replacement keeps the log in use */
	uint8_t *kept = d->log.log.bits;
	check_refused(d, log_base(d, 0, 0, 4096, &r), &r, &bad, "size 0", kept);
	CHECK(hl_vhost_dev_log_state(d).bits == kept);
	/* LOG_ALL off: no log state, the mapping stays for the next time */
	f = 1ull << 32;
	CHECK_EQ(send_msg(d, HL_VU_SET_FEATURES, &f, 8, NULL, 0, &r), 0);
	CHECK_EQ(log_changes, 4);
	CHECK(hl_vhost_dev_log_state(d).bits == NULL);
	/* the same features again: nothing changes, nobody is told */
	CHECK_EQ(send_msg(d, HL_VU_SET_FEATURES, &f, 8, NULL, 0, &r), 0);
	CHECK_EQ(log_changes, 4);
	/* SET_LOG_FD is taken (and its fd closed) */
	int efd = memfd_of(8);
	uint64_t zero = 0;
	CHECK_EQ(send_msg(d, HL_VU_SET_LOG_FD, &zero, 8, &efd, 1, &r), 0);
	CHECK_EQ(d->stats.bad_msgs, bad);
	hl_vhost_dev_reset(d);
	CHECK(d->log.log.bits == NULL);
	free(d);
	CHECK_EQ(open_fds(), base_fds);
}

HL_TEST(log_reaches_the_file)
{
	struct hl_vhost_dev *d = dev_with_memory();
	struct hl_vu_msg r;
	struct hl_vu_log l = {96, 4096};
	int fd = memfd_of(8192), mine = dup(fd);
	REQUIRE(fd >= 0 && mine >= 0);
	CHECK_EQ(send_msg(d, HL_VU_SET_LOG_BASE, &l, sizeof(l), &fd, 1, &r), 12);
	uint64_t dropped = 0;
	/* the last page of guest memory, at the region's end */
	hl_vhost_log_write(&d->log.log, GPA0 + REG - 1, 1, &dropped);
	uint8_t *seen = mmap(NULL, 8192, PROT_READ, MAP_SHARED, mine, 0);
	REQUIRE(seen != MAP_FAILED);
	uint64_t page = (GPA0 + REG - 1) / PG;
	CHECK(bit(seen + 4096, page));
	CHECK_EQ(stray_bits(seen + 4096, 96, page, page), 0);
	CHECK_EQ(dropped, 0);
	munmap(seen, 8192);
	close(mine);
	hl_vhost_dev_reset(d);
	free(d);
}

static unsigned queue_starts;

static void on_queue_start(struct hl_vhost_dev *d, unsigned q)
{
	(void)d;
	(void)q;
	queue_starts++;
}

/* Queue 1 of d set up in its memory as QEMU does it, kick without an fd. */
static void set_up_queue(struct hl_vhost_dev *d)
{
	struct hl_vu_msg r;
	struct hl_vu_vring_state num = {1, 256};
	CHECK_EQ(send_msg(d, HL_VU_SET_VRING_NUM, &num, sizeof(num), NULL, 0, &r), 0);
	struct hl_vu_vring_addr a = {.index = 1, .flags = HL_VU_VRING_F_LOG, .desc_user_addr = UVA0,
				     .avail_user_addr = UVA0 + 4096, .used_user_addr = UVA0 + 8192,
				     .log_guest_addr = GPA0 + 8192};
	CHECK_EQ(send_msg(d, HL_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, &r), 0);
	uint64_t kick = 1 | HL_VU_VRING_NOFD;
	CHECK_EQ(send_msg(d, HL_VU_SET_VRING_KICK, &kick, 8, NULL, 0, &r), 0);
}

/*
 * A front-end that reconnects in the middle of a migration (QEMU after a
 * back-end restart) negotiates LOG_ALL and sets the rings up before it
 * sends the log: the queue waits for the log, so nothing it writes goes
 * unlogged. LOG_ALL turned off instead lets it start too.
 */
HL_TEST(queue_waits_for_the_log_when_log_all_comes_first)
{
	static const struct hl_vhost_ops start_ops = {.queue_start = on_queue_start, .log_change = on_log_change};
	struct hl_vu_msg r;
	for (int off = 0; off < 2; off++) {
		struct hl_vhost_dev *d = dev_with_memory();
		d->ops = &start_ops;
		queue_starts = 0;
		uint64_t f = (1ull << 32) | (1ull << HL_VU_F_LOG_ALL);
		CHECK_EQ(send_msg(d, HL_VU_SET_FEATURES, &f, 8, NULL, 0, &r), 0);
		set_up_queue(d);
		CHECK(!d->vq[1].started);
		CHECK_EQ(queue_starts, 0);
		if (off) {
			f = 1ull << 32;
			CHECK_EQ(send_msg(d, HL_VU_SET_FEATURES, &f, 8, NULL, 0, &r), 0);
		} else {
			CHECK_EQ(log_base(d, 96, 0, 96, &r), 12);
			CHECK(hl_vhost_dev_log_state(d).bits != NULL);
		}
		CHECK(d->vq[1].started);
		CHECK_EQ(queue_starts, 1);
		/* with the log there (or no LOG_ALL), a queue set up again starts at once */
		struct hl_vu_vring_state st = {1, 0};
		CHECK_EQ(send_msg(d, HL_VU_GET_VRING_BASE, &st, sizeof(st), NULL, 0, &r), (int)(sizeof(r.hdr) + sizeof(st)));
		CHECK(!d->vq[1].started);
		set_up_queue(d);
		CHECK(d->vq[1].started);
		CHECK_EQ(queue_starts, 2);
		hl_vhost_dev_reset(d);
		free(d);
	}
}
