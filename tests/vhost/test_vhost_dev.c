/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vhost-user protocol engine driven without sockets: negotiation, memory
 * tables, queue life cycle, and hostile messages (each refused, counted, and
 * leaving no fd or mapping behind).
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <hugelink/vhost_dev.h>

#include "fd_util.h"
#include "hl_test.h"

#define GPA0 0x100000ull
#define UVA0 0x7f0000000000ull
#define REG (2ull << 20)

static unsigned started[HL_VHOST_MAX_QUEUES], stopped[HL_VHOST_MAX_QUEUES];

static void on_start(struct hl_vhost_dev *d, unsigned q)
{
	(void)d;
	started[q]++;
}

static uint16_t on_stop(struct hl_vhost_dev *d, unsigned q)
{
	stopped[q]++;
	return (uint16_t)(d->vq[q].base + 7); /* the data path read 7 more */
}

static const struct hl_vhost_ops ops = {.queue_start = on_start, .queue_stop = on_stop};

static struct hl_vhost_dev *new_dev(void)
{
	struct hl_vhost_dev *d = calloc(1, sizeof(*d));
	hl_vhost_dev_init(d, 1ull << 32 /* VERSION_1 */, 2, &ops, NULL);
	memset(started, 0, sizeof(started));
	memset(stopped, 0, sizeof(stopped));
	return d;
}

static void free_dev(struct hl_vhost_dev *d)
{
	hl_vhost_dev_reset(d);
	free(d);
}

/* Send one message; returns the engine's answer, reply in *r. */
static int send_msg(struct hl_vhost_dev *d, uint32_t req, uint32_t flags, const void *payload,
		    uint32_t size, int *fds, unsigned nfds, struct hl_vu_msg *r)
{
	struct hl_vu_msg m;
	memset(&m, 0, sizeof(m));
	m.hdr = (struct hl_vu_hdr){.request = req, .flags = HL_VU_VERSION | flags, .size = size};
	if (size)
		memcpy(m.payload.raw, payload, size);
	return hl_vhost_dev_handle(d, &m, sizeof(m.hdr) + size, fds, nfds, r);
}

static int send_u64(struct hl_vhost_dev *d, uint32_t req, uint64_t v, struct hl_vu_msg *r)
{
	return send_msg(d, req, 0, &v, 8, NULL, 0, r);
}

static int send_state(struct hl_vhost_dev *d, uint32_t req, uint32_t idx, uint32_t num, struct hl_vu_msg *r)
{
	struct hl_vu_vring_state s = {idx, num};
	return send_msg(d, req, 0, &s, sizeof(s), NULL, 0, r);
}

static int set_mem(struct hl_vhost_dev *d, const struct hl_vu_mem_region *regs, int *fds, unsigned n)
{
	struct hl_vu_mem_table t;
	struct hl_vu_msg r;
	memset(&t, 0, sizeof(t));
	t.nregions = n;
	memcpy(t.regions, regs, n * sizeof(*regs));
	/* ask for an ack: refusals are only visible with REPLY_ACK */
	int rc = send_msg(d, HL_VU_SET_MEM_TABLE, HL_VU_FLAG_NEED_REPLY, &t,
			  (uint32_t)(8 + n * sizeof(*regs)), fds, n, &r);
	if (rc == 20)
		return r.payload.u64 == 0 ? 0 : -1;
	return rc;
}

/* The one region every ring test needs: REG bytes of a fresh memfd at GPA0 / UVA0. */
static int set_one_region(struct hl_vhost_dev *d)
{
	int fd = memfd_of(REG);
	struct hl_vu_mem_region reg = {GPA0, REG, UVA0, 0};
	return set_mem(d, &reg, &fd, 1);
}

HL_TEST(negotiation)
{
	struct hl_vhost_dev *d = new_dev();
	struct hl_vu_msg r;

	CHECK_EQ(send_msg(d, HL_VU_GET_FEATURES, 0, NULL, 0, NULL, 0, &r), 20);
	CHECK(r.hdr.flags & HL_VU_FLAG_REPLY);
	CHECK_EQ(r.payload.u64, (1ull << 32) | (1ull << HL_VU_F_PROTOCOL_FEATURES) | (1ull << HL_VU_F_LOG_ALL));
	CHECK_EQ(send_msg(d, HL_VU_GET_PROTOCOL_FEATURES, 0, NULL, 0, NULL, 0, &r), 20);
	uint64_t pf = r.payload.u64;
	CHECK(pf & (1ull << HL_VU_PROTOCOL_F_MQ));
	CHECK(pf & (1ull << HL_VU_PROTOCOL_F_REPLY_ACK));
	CHECK(pf & (1ull << HL_VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS));
	CHECK(pf & (1ull << HL_VU_PROTOCOL_F_STATUS));
	CHECK(pf & (1ull << HL_VU_PROTOCOL_F_LOG_SHMFD));
	CHECK(pf & (1ull << HL_VU_PROTOCOL_F_RARP));
	CHECK_EQ(send_u64(d, HL_VU_SET_PROTOCOL_FEATURES, pf, &r), 0);
	CHECK_EQ(send_msg(d, HL_VU_GET_MAX_MEM_SLOTS, 0, NULL, 0, NULL, 0, &r), 20);
	CHECK_EQ(r.payload.u64, 509);
	CHECK_EQ(send_msg(d, HL_VU_GET_QUEUE_NUM, 0, NULL, 0, NULL, 0, &r), 20);
	CHECK_EQ(r.payload.u64, 1); /* queue pairs: the device's 2 virtqueues make one */
	/* with REPLY_ACK, a refused SET answers 1 and a good one 0 */
	uint64_t bad = 1ull << 5;
	CHECK_EQ(send_msg(d, HL_VU_SET_FEATURES, HL_VU_FLAG_NEED_REPLY, &bad, 8, NULL, 0, &r), 20);
	CHECK_EQ(r.payload.u64, 1);
	CHECK_STR_HAS(hl_last_error(), "SET_FEATURES");
	uint64_t good = 1ull << 32;
	CHECK_EQ(send_msg(d, HL_VU_SET_FEATURES, HL_VU_FLAG_NEED_REPLY, &good, 8, NULL, 0, &r), 20);
	CHECK_EQ(r.payload.u64, 0);
	CHECK_EQ(d->features, good);
	CHECK_EQ(send_u64(d, HL_VU_SET_STATUS, 0xf, &r), 0);
	CHECK_EQ(send_msg(d, HL_VU_GET_STATUS, 0, NULL, 0, NULL, 0, &r), 20);
	CHECK_EQ(r.payload.u64, 0xf);
	CHECK_EQ(d->stats.bad_msgs, 1);
	free_dev(d);
}

HL_TEST(queue_life_cycle)
{
	struct hl_vhost_dev *d = new_dev();
	struct hl_vu_msg r;
	int base_fds = open_fds();
	int fd = memfd_of(REG);
	struct hl_vu_mem_region reg = {GPA0, REG, UVA0, 0};

	REQUIRE(fd >= 0);
	REQUIRE_OK(set_mem(d, &reg, &fd, 1));
	CHECK_EQ(d->nregions, 1);
	uint8_t *hva = d->regions[0].hva;
	CHECK(hl_vhost_gpa_to_hva(d, GPA0 + 100, 64) == hva + 100);
	CHECK(hl_vhost_gpa_to_hva(d, GPA0 + REG - 8, 16) == NULL); /* runs off the end */
	CHECK(hl_vhost_gpa_to_hva(d, GPA0 - 4096, 8) == NULL);

	CHECK_EQ(send_state(d, HL_VU_SET_VRING_NUM, 0, 256, &r), 0);
	struct hl_vu_vring_addr a = {.index = 0, .desc_user_addr = UVA0 + 0x1000,
				     .avail_user_addr = UVA0 + 0x2000, .used_user_addr = UVA0 + 0x3000};
	CHECK_EQ(send_msg(d, HL_VU_SET_VRING_ADDR, 0, &a, sizeof(a), NULL, 0, &r), 0);
	CHECK_EQ(send_state(d, HL_VU_SET_VRING_BASE, 0, 5, &r), 0);
	CHECK_EQ(started[0], 0); /* no kick yet */
	int kick = eventfd(0, EFD_CLOEXEC), kfd = kick; /* the engine takes kfd */
	uint64_t idx = 0;
	CHECK_EQ(send_msg(d, HL_VU_SET_VRING_KICK, 0, &idx, 8, &kfd, 1, &r), 0);
	CHECK_EQ(kfd, -1);
	CHECK_EQ(started[0], 1); /* no PROTOCOL_FEATURES: enabled at once */
	CHECK(d->vq[0].desc == hva + 0x1000);
	CHECK(d->vq[0].avail == hva + 0x2000);
	CHECK(d->vq[0].used == hva + 0x3000);
	CHECK_EQ(d->vq[0].kick_fd, kick);
	/* running queues refuse a new size or base */
	CHECK_EQ(send_state(d, HL_VU_SET_VRING_NUM, 0, 128, &r), 0);
	CHECK_EQ(d->vq[0].num, 256);
	/* GET_VRING_BASE stops it and reports where the data path stopped */
	CHECK_EQ(send_state(d, HL_VU_GET_VRING_BASE, 0, 0, &r), 20);
	CHECK_EQ(r.payload.state.index, 0);
	CHECK_EQ(r.payload.state.num, 12);
	CHECK_EQ(stopped[0], 1);
	CHECK(!d->vq[0].started);
	CHECK_EQ(d->vq[0].kick_fd, -1);
	/* a bad queue index in a question drops the connection */
	CHECK(send_state(d, HL_VU_GET_VRING_BASE, 9, 0, &r) < 0);
	hl_vhost_dev_reset(d);
	CHECK_EQ(open_fds(), base_fds);
	free_dev(d);
}

HL_TEST(protocol_features_gate_enable)
{
	struct hl_vhost_dev *d = new_dev();
	struct hl_vu_msg r;

	CHECK_EQ(send_u64(d, HL_VU_SET_FEATURES, (1ull << 32) | (1ull << HL_VU_F_PROTOCOL_FEATURES), &r), 0);
	REQUIRE_OK(set_one_region(d));
	CHECK_EQ(send_state(d, HL_VU_SET_VRING_NUM, 1, 64, &r), 0);
	struct hl_vu_vring_addr a = {.index = 1, .desc_user_addr = UVA0, .avail_user_addr = UVA0 + 0x400,
				     .used_user_addr = UVA0 + 0x800};
	CHECK_EQ(send_msg(d, HL_VU_SET_VRING_ADDR, 0, &a, sizeof(a), NULL, 0, &r), 0);
	CHECK_EQ(send_u64(d, HL_VU_SET_VRING_KICK, 1 | HL_VU_VRING_NOFD, &r), 0);
	CHECK_EQ(started[1], 0); /* disabled until SET_VRING_ENABLE */
	CHECK_EQ(send_state(d, HL_VU_SET_VRING_ENABLE, 1, 1, &r), 0);
	CHECK_EQ(started[1], 1);
	CHECK_EQ(send_state(d, HL_VU_SET_VRING_ENABLE, 1, 0, &r), 0);
	CHECK_EQ(stopped[1], 1);
	free_dev(d);
}

HL_TEST(hostile_memory_tables)
{
	struct hl_vhost_dev *d = new_dev();
	int base_fds = open_fds();
	struct hl_vu_msg r;

	CHECK_EQ(send_u64(d, HL_VU_SET_PROTOCOL_FEATURES, 1ull << HL_VU_PROTOCOL_F_REPLY_ACK, &r), 0);
	/* a region larger than its file would fault on first touch */
	int fd = memfd_of(REG / 2);
	struct hl_vu_mem_region big = {GPA0, REG, UVA0, 0};
	CHECK(set_mem(d, &big, &fd, 1) < 0);
	CHECK_STR_HAS(hl_last_error(), "beyond its file");
	CHECK_EQ(d->nregions, 0);
	/* offset + size overflows */
	fd = memfd_of(REG);
	struct hl_vu_mem_region ovf = {GPA0, REG, UVA0, UINT64_MAX - 4095};
	CHECK(set_mem(d, &ovf, &fd, 1) < 0);
	CHECK_STR_HAS(hl_last_error(), "overflow");
	/* unaligned */
	fd = memfd_of(REG);
	struct hl_vu_mem_region un = {GPA0 + 1, REG - 4096, UVA0, 0};
	CHECK(set_mem(d, &un, &fd, 1) < 0);
	/* overlapping guest-physical ranges: all or nothing */
	int fds[2] = {memfd_of(REG), memfd_of(REG)};
	struct hl_vu_mem_region two[2] = {{GPA0, REG, UVA0, 0}, {GPA0 + REG / 2, REG, UVA0 + 4 * REG, 0}};
	CHECK(set_mem(d, two, fds, 2) < 0);
	CHECK_STR_HAS(hl_last_error(), "overlap");
	CHECK_EQ(d->nregions, 0);
	/* fds that do not match the region count, and too many regions */
	fd = memfd_of(REG);
	struct hl_vu_mem_table t = {.nregions = 2};
	CHECK_EQ(send_msg(d, HL_VU_SET_MEM_TABLE, 0, &t, 8 + 2 * 32, &fd, 1, &r), 0);
	CHECK_STR_HAS(hl_last_error(), "fds for 2 regions");
	t.nregions = 9;
	CHECK_EQ(send_msg(d, HL_VU_SET_MEM_TABLE, 0, &t, sizeof(t), NULL, 0, &r), 0);
	CHECK_STR_HAS(hl_last_error(), "nregions");
	/* a non-file fd */
	fd = eventfd(0, EFD_CLOEXEC);
	struct hl_vu_mem_region ok = {GPA0, REG, UVA0, 0};
	CHECK(set_mem(d, &ok, &fd, 1) < 0);
	CHECK_STR_HAS(hl_last_error(), "regular file");
	CHECK(d->stats.bad_msgs >= 7);
	CHECK_EQ(d->nregions, 0);
	CHECK_EQ(open_fds(), base_fds);
	free_dev(d);
}

HL_TEST(rings_outside_memory_do_not_start)
{
	struct hl_vhost_dev *d = new_dev();
	struct hl_vu_msg r;

	REQUIRE_OK(set_one_region(d));
	CHECK_EQ(send_state(d, HL_VU_SET_VRING_NUM, 0, 1024, &r), 0);
	CHECK_EQ(send_state(d, HL_VU_SET_VRING_NUM, 0, 1000, &r), 0); /* not a power of two */
	CHECK_EQ(d->vq[0].num, 1024);
	struct hl_vu_vring_addr a = {.index = 0, .desc_user_addr = UVA0 + REG - 4096,
				     .avail_user_addr = UVA0, .used_user_addr = UVA0 + 0x4000};
	CHECK_EQ(send_msg(d, HL_VU_SET_VRING_ADDR, 0, &a, sizeof(a), NULL, 0, &r), 0);
	CHECK_EQ(send_u64(d, HL_VU_SET_VRING_KICK, 0 | HL_VU_VRING_NOFD, &r), 0);
	CHECK_EQ(started[0], 0); /* 16 KiB of descriptors do not fit in the last 4 KiB */
	CHECK_STR_HAS(hl_last_error(), "descriptor ring");
	a.desc_user_addr = UVA0 + 8; /* misaligned */
	CHECK_EQ(send_msg(d, HL_VU_SET_VRING_ADDR, 0, &a, sizeof(a), NULL, 0, &r), 0);
	CHECK_EQ(started[0], 0);
	a.desc_user_addr = UVA0 + 0x10000;
	CHECK_EQ(send_msg(d, HL_VU_SET_VRING_ADDR, 0, &a, sizeof(a), NULL, 0, &r), 0);
	CHECK_EQ(started[0], 1);
	free_dev(d);
}

HL_TEST(many_memory_slots)
{
	struct hl_vhost_dev *d = new_dev();
	struct hl_vu_msg r;
	int base_fds = open_fds();

	/* 509 regions, each 8 KiB at scattered guest addresses */
	for (unsigned i = 0; i < HL_VHOST_MAX_MEM_SLOTS; i++) {
		struct hl_vu_mem_single s = {0, {GPA0 + (uint64_t)i * 0x100000, 8192,
						 UVA0 + (uint64_t)i * 0x10000, 0}};
		int fd = memfd_of(8192);
		REQUIRE(fd >= 0);
		int rc = send_msg(d, HL_VU_ADD_MEM_REG, 0, &s, sizeof(s), &fd, 1, &r);
		if (rc != 0) {
			hl_test_fail(__FILE__, __LINE__, "ADD_MEM_REG %u: %d %s", i, rc, hl_last_error());
			break;
		}
	}
	CHECK_EQ(d->nregions, HL_VHOST_MAX_MEM_SLOTS);
	for (unsigned i = 0; i < HL_VHOST_MAX_MEM_SLOTS; i++) {
		uint8_t *h = hl_vhost_gpa_to_hva(d, GPA0 + (uint64_t)i * 0x100000 + 8000, 100);
		CHECK(h != NULL);
		if (h)
			h[0] = (uint8_t)i; /* mapped and writable */
		CHECK(hl_vhost_gpa_to_hva(d, GPA0 + (uint64_t)i * 0x100000 + 8192, 1) == NULL);
	}
	int fd = memfd_of(8192);
	struct hl_vu_mem_single extra = {0, {0x4000000000ull, 8192, 0x100000000ull, 0}};
	CHECK_EQ(send_msg(d, HL_VU_ADD_MEM_REG, 0, &extra, sizeof(extra), &fd, 1, &r), 0);
	CHECK_STR_HAS(hl_last_error(), "slots");
	/* an overlapping region is refused and the old map stays */
	fd = memfd_of(8192);
	struct hl_vu_mem_single dup = {0, {GPA0, 8192, 0x200000000ull, 0}};
	CHECK_EQ(send_msg(d, HL_VU_REM_MEM_REG, 0, &dup, sizeof(dup), NULL, 0, &r), 0);
	CHECK_EQ(d->nregions, HL_VHOST_MAX_MEM_SLOTS - 1);
	CHECK(hl_vhost_gpa_to_hva(d, GPA0, 8) == NULL);
	CHECK_EQ(send_msg(d, HL_VU_ADD_MEM_REG, 0, &dup, sizeof(dup), &fd, 1, &r), 0);
	CHECK(hl_vhost_gpa_to_hva(d, GPA0, 8) != NULL);
	struct hl_vu_mem_single second = {0, {GPA0 + 0x100000, 8192, UVA0 + 0x10000, 0}};
	CHECK_EQ(send_msg(d, HL_VU_REM_MEM_REG, 0, &second, sizeof(second), NULL, 0, &r), 0);
	fd = memfd_of(8192);
	struct hl_vu_mem_single over = {0, {GPA0, 8192, 0x300000000ull, 0}};
	CHECK_EQ(send_msg(d, HL_VU_ADD_MEM_REG, 0, &over, sizeof(over), &fd, 1, &r), 0);
	CHECK_STR_HAS(hl_last_error(), "overlap");
	CHECK_EQ(d->nregions, HL_VHOST_MAX_MEM_SLOTS - 1);
	CHECK(hl_vhost_gpa_to_hva(d, GPA0 + 0x200000, 8) != NULL); /* the old map still works */
	/* the same region again, as QEMU sends it once per queue pair: mapped once, gone with the last REM */
	uint64_t bad = d->stats.bad_msgs;
	for (int i = 0; i < 2; i++) {
		fd = memfd_of(8192);
		CHECK_EQ(send_msg(d, HL_VU_ADD_MEM_REG, 0, &dup, sizeof(dup), &fd, 1, &r), 0);
	}
	CHECK_EQ(d->stats.bad_msgs, bad);
	CHECK_EQ(d->nregions, HL_VHOST_MAX_MEM_SLOTS - 1);
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(send_msg(d, HL_VU_REM_MEM_REG, 0, &dup, sizeof(dup), NULL, 0, &r), 0);
		CHECK(hl_vhost_gpa_to_hva(d, GPA0, 8) != NULL);
	}
	CHECK_EQ(send_msg(d, HL_VU_REM_MEM_REG, 0, &dup, sizeof(dup), NULL, 0, &r), 0);
	CHECK(hl_vhost_gpa_to_hva(d, GPA0, 8) == NULL);
	CHECK_EQ(d->nregions, HL_VHOST_MAX_MEM_SLOTS - 2);
	CHECK_EQ(d->stats.bad_msgs, bad);
	struct hl_vu_mem_single none = {0, {0x1234000, 4096, 0, 0}};
	CHECK_EQ(send_msg(d, HL_VU_REM_MEM_REG, 0, &none, sizeof(none), NULL, 0, &r), 0);
	CHECK_STR_HAS(hl_last_error(), "no region");
	hl_vhost_dev_reset(d);
	CHECK_EQ(open_fds(), base_fds);
	free_dev(d);
}

HL_TEST(broken_framing_hangs_up)
{
	struct hl_vhost_dev *d = new_dev();
	struct hl_vu_msg m, r;

	memset(&m, 0, sizeof(m));
	m.hdr = (struct hl_vu_hdr){.request = HL_VU_SET_OWNER, .flags = HL_VU_VERSION, .size = 8};
	CHECK(hl_vhost_dev_handle(d, &m, sizeof(m.hdr), NULL, 0, &r) < 0); /* size lies */
	m.hdr = (struct hl_vu_hdr){.request = HL_VU_SET_OWNER, .flags = 2, .size = 0};
	CHECK(hl_vhost_dev_handle(d, &m, sizeof(m.hdr), NULL, 0, &r) < 0); /* version */
	m.hdr = (struct hl_vu_hdr){.request = HL_VU_SET_OWNER, .flags = 1, .size = 0};
	CHECK(hl_vhost_dev_handle(d, &m, 5, NULL, 0, &r) < 0); /* short header */
	CHECK_EQ(hl_vhost_dev_handle(d, &m, sizeof(m.hdr), NULL, 0, &r), 0);
	CHECK(d->owner);
	/* unknown request: an error ack where REPLY_ACK allows one, no hang-up */
	CHECK_EQ(send_u64(d, HL_VU_SET_PROTOCOL_FEATURES, 1ull << HL_VU_PROTOCOL_F_REPLY_ACK, &r), 0);
	CHECK_EQ(send_msg(d, 99, HL_VU_FLAG_NEED_REPLY, NULL, 0, NULL, 0, &r), 20);
	CHECK_EQ(r.payload.u64, 1);
	CHECK_EQ(d->stats.unknown_msgs, 1);
	/* wrong payload size for a known request */
	CHECK_EQ(send_msg(d, HL_VU_SET_VRING_NUM, HL_VU_FLAG_NEED_REPLY, "abc", 3, NULL, 0, &r), 20);
	CHECK_EQ(r.payload.u64, 1);
	CHECK_EQ(d->stats.bad_msgs, 4);
	free_dev(d);
}

HL_TEST(random_messages_never_crash)
{
	struct hl_vhost_dev *d = new_dev();
	int base_fds = open_fds();
	uint64_t s = 0xfeedface;
	struct hl_vu_msg m, r;

	for (int it = 0; it < 30000; it++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		memset(&m, 0, sizeof(m));
		uint32_t size = (uint32_t)((s >> 20) % 300);
		for (uint32_t k = 0; k < size; k++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			m.payload.raw[k] = (uint8_t)(s >> 56);
		}
		/* mostly valid headers so the handlers are reached */
		m.hdr = (struct hl_vu_hdr){.request = (uint32_t)((s >> 8) % 45), .flags = HL_VU_VERSION,
					   .size = size};
		if ((s >> 40) % 2 && m.hdr.request == HL_VU_SET_VRING_NUM)
			m.hdr.size = size = 8;
		int fds[2] = {-1, -1};
		unsigned nfds = (s >> 33) % 3 == 0 ? 1 : 0;
		if (nfds)
			fds[0] = memfd_of(8192);
		hl_vhost_dev_handle(d, &m, sizeof(m.hdr) + size, fds, nfds, &r);
	}
	CHECK(d->stats.msgs == 30000);
	CHECK(d->stats.bad_msgs > 0);
	hl_vhost_dev_reset(d);
	CHECK_EQ(open_fds(), base_fds);
	free_dev(d);
}
