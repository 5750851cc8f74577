/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Switch crashes and recovery. A child process plays the switch (and a peer)
 * and is killed with SIGKILL at a chosen step of a burst on a chosen ring
 * (hl_shm_test_hook), leaving the pool exactly as a crash there would. The
 * parent takes the pool over as its owner, runs hl_shm_recover, and checks
 * that exactly the right buffers were kept with the peers and reclaimed,
 * that no buffer is both free and a peer's, that a burst published before
 * the crash reaches the peer intact, and that the port carries traffic
 * again; the same with chained frames (two of two buffers each) on tx and
 * rx, where a burst is frames but recovery goes by slots. Also
 * hl_bufpool_adopt on its own.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hugelink/shm_abi.h>
#include <hugelink/shm_peer.h>
#include <hugelink/shm_port.h>

#include "hl_test.h"
#include "shm_test_pvt.h"
#include "../memory/pool_util.h"
#include "shm_util.h"

#define NBUF 256u
#define RING 32u /* fill target 16 */

static enum hl_shm_ring_id g_ring;
static enum hl_shm_step g_step;

static void die_at(enum hl_shm_ring_id ring, enum hl_shm_step step)
{
	if (ring == g_ring && step == g_step)
		kill(getpid(), SIGKILL);
}

static const char *pool_name(void)
{
	static char name[32];
	static unsigned seq;
	snprintf(name, sizeof(name), "t-rec%u-%d", seq++, (int)getpid());
	return name;
}

static void record_of(const char *name, char *buf, size_t n)
{
	snprintf(buf, n, "%s/%s.meta", hl_test_tmpdir(), name);
}

/* The switch's 8 MiB pool `name` with a bufpool of n buffers, in a child: it exits on failure. */
static void child_pool(const char *name, const char *bp_name, unsigned n, struct hl_pool **pool, struct hl_bufpool **bp)
{
	struct hl_pool_params prm = {.name = name, .size = 8 * SHM_MB, .run_dir = hl_test_tmpdir(),
				     .page_size = 2 * SHM_MB};
	if (hl_pool_create(&prm, pool) < 0 || hl_bufpool_create(*pool, bp_name, n, SHM_ROOM, 0, bp) < 0)
		_exit(10);
}

/*
 * body(name) in a child that then dies by SIGKILL, as a crashed switch
 * does (body exits on failure): true once the child is reaped killed so.
 */
static bool child_killed(void (*body)(const char *name), const char *name)
{
	int st;
	HL_CHECKED();
	pid_t pid = fork();
	if (pid < 0) {
		hl_test_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
		return false;
	}
	if (pid == 0) {
		body(name);
		kill(getpid(), SIGKILL);
		_exit(11);
	}
	HL_CHECKED();
	if (waitpid(pid, &st, 0) != pid) {
		hl_test_fail(__FILE__, __LINE__, "waitpid: %s", strerror(errno));
		return false;
	}
	HL_CHECKED();
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) {
		hl_test_fail(__FILE__, __LINE__, "the child was not killed: status 0x%x", st);
		return false;
	}
	return true;
}

/* Two ports p and q, their fill rings full. */
static void child_two_ports(const char *name)
{
	struct hl_pool *pool;
	struct hl_bufpool *bp;
	struct hl_shm_port *p, *q;
	child_pool(name, "rbp", NBUF, &pool, &bp);
	if (hl_shm_port_create(pool, bp, "p", RING, &p) < 0 || hl_shm_port_create(pool, bp, "q", RING, &q) < 0)
		_exit(10);
}

/* Ten buffers taken, each room filled with a byte of its index. */
static void child_ten_buffers(const char *name)
{
	struct hl_pool *pool;
	struct hl_bufpool *bp;
	struct hl_buf *b[10];
	child_pool(name, "abp", 1000, &pool, &bp);
	if (hl_buf_alloc_bulk(bp, b, 10) < 0)
		_exit(10);
	for (unsigned i = 0; i < 10; i++)
		memset(b[i]->buf_va, 0x40 + hl_buf_index(b[i]), SHM_ROOM);
}

/* The switch (and P's peer) in a child; never returns. chain: frames of two buffers. */
static void child_switch(const char *name, enum hl_shm_ring_id ring, enum hl_shm_step step, bool chain)
{
	struct hl_pool *pool;
	struct hl_bufpool *bp;
	struct hl_shm_port *p, *q;
	struct hl_shm_peer *pe;
	struct hl_shm_pkt pk[8];
	struct hl_buf *bufs[8];
	struct hl_pool_info info;

	child_pool(name, "rbp", NBUF, &pool, &bp);
	if (hl_shm_port_create(pool, bp, "p", RING, &p) < 0 || hl_shm_port_create(pool, bp, "q", RING, &q) < 0)
		_exit(11);
	hl_pool_get_info(pool, &info);
	if (hl_shm_attach_mem_features(info.va, info.size, "p", chain ? HL_SHM_F_CHAIN : 0, &pe) < 0)
		_exit(12);
	g_ring = ring;
	g_step = step;
	switch (ring) {
	case HL_SHM_RING_TX:
		if (hl_shm_tx_alloc(pe, pk, 4) != 4)
			_exit(13);
		for (unsigned i = 0; i < 4; i++) {
			pk[i].len = shm_frame_len(i);
			shm_frame_fill(pk[i].data, pk[i].len, 1, 2, i);
			pk[i].flags = chain && i % 2 == 0 ? HL_SHM_PKT_MORE : 0;
		}
		if (hl_shm_tx_burst(pe, pk, 4) != 4)
			_exit(14);
		hl_shm_test_hook = die_at;
		hl_shm_port_rx_burst(p, bufs, 8);
		break;
	case HL_SHM_RING_FILL:
		if (hl_shm_tx_alloc(pe, pk, 4) != 4)
			_exit(13);
		hl_shm_test_hook = die_at;
		hl_shm_port_refill(p);
		break;
	case HL_SHM_RING_RX:
		if (hl_buf_alloc_bulk(bp, bufs, 4) < 0)
			_exit(13);
		for (unsigned i = 0; i < 4; i++) {
			bufs[i]->data_len = bufs[i]->pkt_len = shm_frame_len(100 + i);
			shm_frame_fill(hl_buf_data(bufs[i]), bufs[i]->data_len, 2, 1, 100 + i);
		}
		if (chain) {
			/* each segment checks on its own: the peer sees 100..103 whatever the frames */
			if (hl_buf_chain(bufs[0], bufs[1]) < 0 || hl_buf_chain(bufs[2], bufs[3]) < 0)
				_exit(14);
			bufs[1] = bufs[2];
		}
		hl_shm_test_hook = die_at;
		hl_shm_port_tx_burst(p, bufs, chain ? 2 : 4);
		break;
	case HL_SHM_RING_DONE:
		if (hl_shm_tx_alloc(pe, pk, 4) != 4 || hl_shm_release(pe, pk, 4) != 4)
			_exit(13);
		hl_shm_test_hook = die_at;
		hl_shm_port_reclaim(p);
		break;
	default:
		break;
	}
	_exit(99); /* the hook never fired */
}

struct expect {
	enum hl_shm_ring_id ring;
	enum hl_shm_step step;
	unsigned kept, reclaimed, committed, undone, forward;
	unsigned rx_after; /* buffers the peer finds on rx after recovery */
	bool chain;        /* the burst is two frames of two buffers */
};

/* Owner word of buffer i, as the pool records it. */
static uint32_t owner_word(struct hl_pool *pool, unsigned i)
{
	uint64_t off, len;
	if (hl_pool_zone_lookup(pool, HL_SHM_OWNER_ZONE, &off, &len) < 0)
		return UINT32_MAX;
	const struct hl_shm_owner_hdr *oh = hl_pool_off2va(pool, off);
	return ((const uint32_t *)((const uint8_t *)oh + oh->words_off))[i];
}

static void crash_and_recover(const struct expect *x)
{
	const char *name = pool_name();
	char record[512];
	struct hl_pool *pool;
	struct hl_bufpool *bp;
	struct hl_shm_recover_report rep;
	int st;

	HL_TEST_NEED(free_hugepages_2m() >= 4, "4 free 2 MiB hugepages");
	record_of(name, record, sizeof(record));
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0)
		child_switch(name, x->ring, x->step, x->chain);
	REQUIRE(waitpid(pid, &st, 0) == pid);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) {
		hl_test_fail(__FILE__, __LINE__, "switch child exited %d instead of dying at ring %d step %d",
			     WIFEXITED(st) ? WEXITSTATUS(st) : -1, (int)x->ring, (int)x->step);
		hl_pool_clean(record);
		return;
	}

	REQUIRE_OK(hl_pool_attach(record, HL_POOL_F_OWNER, &pool));
	REQUIRE_OK(hl_shm_recover(pool, 0, &bp, &rep));
	CHECK_EQ(rep.ports, 2);
	CHECK_EQ(rep.kept, x->kept);
	CHECK_EQ(rep.reclaimed, x->reclaimed);
	CHECK_EQ(rep.intents_committed, x->committed);
	CHECK_EQ(rep.intents_undone, x->undone);
	CHECK_EQ(rep.intents_forward, x->forward);
	CHECK_EQ(rep.bad_entries, 0);

	struct hl_shm_port *p, *q, *again;
	REQUIRE_OK(hl_shm_port_find(pool, "p", &p));
	REQUIRE_OK(hl_shm_port_find(pool, "q", &q));
	REQUIRE_OK(hl_shm_port_claim(pool, "p", &again));
	CHECK(again == p);
	CHECK_EQ(hl_shm_port_claim(pool, "p", &again), -EBUSY);
	/* recovery topped the fill rings up: each holds its 16 again */
	unsigned f = 0, peer = 0;
	REQUIRE_OK(hl_shm_owner_census(pool, &f, &peer));
	CHECK_EQ(f + peer, NBUF);
	CHECK_EQ(hl_bufpool_in_use(bp), peer);
	CHECK(peer >= x->kept);
	/* no buffer is both a peer's and free: in use <=> a peer's, refcnt 1 */
	unsigned mismatch = 0;
	for (unsigned i = 0; i < NBUF; i++) {
		bool is_peer = (owner_word(pool, i) & HL_SHM_OWNER_PEER_BIT) != 0;
		mismatch += hl_buf_refcnt(hl_bufpool_buf_at(bp, i)) != (is_peer ? 1u : 0u);
	}
	CHECK_EQ(mismatch, 0);
	struct hl_buf **all = calloc(NBUF, sizeof(*all));
	REQUIRE(all != NULL);
	CHECK_EQ(hl_buf_alloc_bulk(bp, all, f), 0); /* every free buffer, once */
	for (unsigned i = 0; i < f; i++)
		mismatch += (owner_word(pool, hl_buf_index(all[i])) & HL_SHM_OWNER_PEER_BIT) != 0;
	CHECK_EQ(mismatch, 0);
	CHECK_EQ(hl_buf_alloc_bulk(bp, all + f, 1), -ENOBUFS);
	hl_buf_free_bulk(all, f);
	free(all);

	/* a new peer takes the dead one's port over, rings as they are, and finds them consistent */
	struct hl_pool_info info;
	struct hl_shm_peer *pe;
	struct hl_shm_pkt pk[32];
	hl_pool_get_info(pool, &info);
	REQUIRE_OK(hl_shm_attach_mem_features(info.va, info.size, "p",
					      HL_SHM_ATTACH_TAKEOVER | (x->chain ? HL_SHM_F_CHAIN : 0), &pe));
	unsigned r = hl_shm_rx_burst(pe, pk, 32);
	CHECK_EQ(r, x->rx_after);
	for (unsigned i = 0; i < r; i++) {
		CHECK_EQ(shm_frame_check(pk[i].data, pk[i].len), 100 + i);
		CHECK_EQ(pk[i].flags, x->chain && i % 2 == 0 ? HL_SHM_PKT_MORE : 0);
	}
	CHECK_EQ(hl_shm_release(pe, pk, r), r);
	unsigned k = hl_shm_tx_alloc(pe, pk, 32);
	CHECK_EQ(k, RING / 2);
	/* every buffer on fill is recorded as p's */
	struct hl_bufpool_geom g;
	hl_bufpool_geom(bp, &g);
	unsigned theirs = 0;
	for (unsigned i = 0; i < k; i++) {
		uint64_t rel = hl_shm_desc_off(pk[i].desc) - g.zone_off - HL_BUF_HEADROOM;
		unsigned idx = (unsigned)((rel / g.page_size) * g.per_page + (rel % g.page_size) / g.stride);
		theirs += owner_word(pool, idx) == HL_SHM_OWNER_PEER(hl_shm_port_id(p));
	}
	CHECK_EQ(theirs, k);
	for (unsigned i = 0; i < 2; i++) {
		pk[i].len = shm_frame_len(200 + i);
		shm_frame_fill(pk[i].data, pk[i].len, 1, 2, 200 + i);
	}
	CHECK_EQ(hl_shm_tx_burst(pe, pk, 2), 2);
	CHECK_EQ(hl_shm_release(pe, pk + 2, k - 2), k - 2);
	struct hl_buf *bufs[8];
	CHECK_EQ(hl_shm_port_rx_burst(p, bufs, 8), 2);
	for (unsigned i = 0; i < 2; i++)
		CHECK_EQ(shm_frame_check(hl_buf_data(bufs[i]), bufs[i]->data_len), 200 + i);
	hl_buf_free_bulk(bufs, 2);
	struct hl_shm_port_stats ps;
	hl_shm_port_stats(p, &ps);
	CHECK_EQ(ps.c.bad_offset + ps.c.bad_len + ps.c.not_owned + ps.c.ring_broken, 0);
	CHECK_EQ(hl_shm_peer_ctrl(pe)->switch_gen, 1);
	hl_shm_detach(pe);

	/* the ports take back whatever their peers held; nothing is left */
	hl_shm_port_destroy(p);
	hl_shm_port_destroy(q);
	struct hl_bufpool_stats bs;
	hl_bufpool_stats(bp, &bs);
	CHECK_EQ(bs.in_use, 0);
	CHECK_EQ(bs.double_free, 0);
	hl_bufpool_free(bp);
	CHECK_EQ(hl_pool_destroy(pool), 0);
}

/*
 * Before each crash: p's fill ring holds 16 buffers and q's 16 (q is idle).
 *   tx:   the peer took 4 from fill and sent them (fill 12, tx 4).
 *   fill: the peer took 4 from fill and holds them; the switch posts 4.
 *   rx:   the switch hands 4 fresh frames to the peer.
 *   done: the peer took 4 from fill and gave them back on done.
 */
#define CASE(r, s, kept, recl, com, und, fwd, rx)                                      \
	HL_TEST(crash_##r##_##s)                                                       \
	{                                                                              \
		const struct expect x = {HL_SHM_RING_##r, HL_SHM_STEP_##s, kept, recl, com, und, fwd, rx, false}; \
		crash_and_recover(&x);                                                 \
	}

/* The same burst as two chained frames: the same buffers change hands. */
#define CHAIN_CASE(r, s, kept, recl, com, und, fwd, rx)                                \
	HL_TEST(crash_chained_##r##_##s)                                               \
	{                                                                              \
		const struct expect x = {HL_SHM_RING_##r, HL_SHM_STEP_##s, kept, recl, com, und, fwd, rx, true}; \
		crash_and_recover(&x);                                                 \
	}

/*    ring  step    kept recl com und fwd rx */
CASE(TX, INTENT,    28,  4,   0,  0,  1,  0)
CASE(TX, OWNERS,    28,  4,   0,  0,  1,  0)
CASE(TX, INDEX,     28,  4,   0,  0,  0,  0)
CASE(FILL, SLOTS,   32,  0,   0,  0,  0,  0)
CASE(FILL, INTENT,  32,  0,   0,  1,  0,  0)
CASE(FILL, OWNERS,  32,  3,   0,  1,  0,  0)
CASE(FILL, INDEX,   36,  0,   1,  0,  0,  0)
CASE(RX, SLOTS,     32,  0,   0,  0,  0,  0)
CASE(RX, INTENT,    32,  0,   0,  1,  0,  0)
CASE(RX, OWNERS,    32,  3,   0,  1,  0,  0)
CASE(RX, INDEX,     36,  0,   1,  0,  0,  4)
CASE(DONE, INTENT,  28,  4,   0,  0,  1,  0)
CASE(DONE, OWNERS,  28,  1,   0,  0,  1,  0)
CASE(DONE, INDEX,   28,  0,   0,  0,  0,  0)
/*          ring  step    kept recl com und fwd rx */
CHAIN_CASE(TX, INTENT,    28,  4,   0,  0,  1,  0)
CHAIN_CASE(TX, OWNERS,    28,  4,   0,  0,  1,  0)
CHAIN_CASE(TX, INDEX,     28,  4,   0,  0,  0,  0)
CHAIN_CASE(RX, SLOTS,     32,  0,   0,  0,  0,  0)
CHAIN_CASE(RX, INTENT,    32,  0,   0,  1,  0,  0)
CHAIN_CASE(RX, OWNERS,    32,  3,   0,  1,  0,  0)
CHAIN_CASE(RX, INDEX,     36,  0,   1,  0,  0,  4)

HL_TEST(recover_refuses_without_owner_table_or_ownership)
{
	struct hl_pool *pool;
	struct hl_bufpool *bp;

	HL_TEST_NEED(free_hugepages_2m() >= 4, "4 free 2 MiB hugepages");
	REQUIRE_OK(shm_pool_create("rec", 8 * SHM_MB, &pool));
	CHECK_EQ(hl_shm_recover(pool, 0, &bp, NULL), -ENOENT);
	struct hl_pool_info info;
	hl_pool_get_info(pool, &info);
	struct hl_pool *peer;
	REQUIRE_OK(hl_pool_attach(info.record_path, 0, &peer));
	CHECK_EQ(hl_shm_recover(peer, 0, &bp, NULL), -EPERM);
	CHECK_EQ(hl_bufpool_adopt(peer, "x", 8, SHM_ROOM, 0, NULL, NULL, &bp), -EPERM);
	hl_pool_detach(peer);
	CHECK_EQ(hl_pool_destroy(pool), 0);
}

/*
 * A control block of another shm format (or size) is no port this switch
 * can serve: recovery drops it and takes its buffers back, and recovers the
 * rest. An owner table whose header size is wrong is refused whole.
 */
HL_TEST(recover_drops_a_port_of_another_format)
{
	const char *name = pool_name();
	char record[512];

	HL_TEST_NEED(free_hugepages_2m() >= 4, "4 free 2 MiB hugepages");
	record_of(name, record, sizeof(record));
	if (!child_killed(child_two_ports, name))
		return;

	struct hl_pool *pool;
	struct hl_bufpool *bp;
	struct hl_shm_recover_report rep;
	uint64_t off, len;
	REQUIRE_OK(hl_pool_attach(record, HL_POOL_F_OWNER, &pool));
	REQUIRE_OK(hl_pool_zone_lookup(pool, HL_SHM_OWNER_ZONE, &off, &len));
	struct hl_shm_owner_hdr *oh = hl_pool_off2va(pool, off);
	CHECK_EQ(oh->version, HL_SHM_OWNER_VERSION);
	oh->hdr_size++;
	CHECK_EQ(hl_shm_recover(pool, 0, &bp, &rep), -EBADMSG);
	oh->hdr_size--;
	REQUIRE_OK(hl_pool_zone_lookup(pool, "shm:p", &off, &len));
	struct hl_shm_ctrl *ctl = hl_pool_off2va(pool, off);
	CHECK_EQ(ctl->version, HL_SHM_VERSION);
	CHECK_EQ(ctl->ctrl_size, sizeof(*ctl));
	CHECK_EQ(ctl->features_offered, HL_SHM_F_ALL);
	ctl->version = 1;
	REQUIRE_OK(hl_shm_recover(pool, 0, &bp, &rep));
	CHECK_EQ(rep.ports, 1);
	CHECK_EQ(rep.kept, RING / 2);      /* q's fill ring */
	CHECK_EQ(rep.bad_entries, 1);      /* the port dropped */
	struct hl_shm_port *p, *q;
	CHECK_EQ(hl_shm_port_find(pool, "p", &p), -ENOENT);
	REQUIRE_OK(hl_shm_port_claim(pool, "q", &q));
	CHECK_EQ(hl_pool_zone_lookup(pool, "shm:p", &off, &len), -ENOENT);
	CHECK_EQ(hl_bufpool_in_use(bp), RING / 2);
	hl_shm_port_destroy(q);
	pool_release(pool, bp);
}

/* ---- hl_bufpool_adopt on its own ---------------------------------------------------- */

static bool keep_even_below_10(unsigned i, void *opaque)
{
	(*(unsigned *)opaque)++;
	return i < 10 && i % 2 == 0;
}

HL_TEST(bufpool_adopt_keeps_rooms_and_frees_the_rest)
{
	const char *name = pool_name();
	char record[512];

	HL_TEST_NEED(free_hugepages_2m() >= 4, "4 free 2 MiB hugepages");
	record_of(name, record, sizeof(record));
	if (!child_killed(child_ten_buffers, name))
		return;

	struct hl_pool *pool;
	struct hl_bufpool *bp;
	unsigned calls = 0;
	REQUIRE_OK(hl_pool_attach(record, HL_POOL_F_OWNER, &pool));
	CHECK_EQ(hl_bufpool_adopt(pool, "nope", 1000, SHM_ROOM, 0, NULL, NULL, &bp), -ENOENT);
	CHECK_EQ(hl_bufpool_adopt(pool, "abp", 999, SHM_ROOM, 0, NULL, NULL, &bp), -EINVAL);
	CHECK_EQ(hl_bufpool_adopt(pool, "abp", 1000, SHM_ROOM + 64, 0, NULL, NULL, &bp), -EINVAL);
	/* a failed adoption left the zone alone */
	REQUIRE_OK(hl_bufpool_adopt(pool, "abp", 1000, SHM_ROOM, 8, keep_even_below_10, &calls, &bp));
	CHECK_EQ(calls, 1000);
	CHECK_EQ(hl_bufpool_in_use(bp), 5);
	unsigned bad = 0;
	for (unsigned i = 0; i < 10; i += 2) {
		struct hl_buf *b = hl_bufpool_buf_at(bp, i);
		CHECK_EQ(hl_buf_refcnt(b), 1);
		CHECK_EQ(hl_buf_index(b), i);
		CHECK_EQ(b->data_off, HL_BUF_HEADROOM);
		for (unsigned j = 0; j < SHM_ROOM; j++)
			bad += b->buf_va[j] != 0x40 + i;
	}
	CHECK_EQ(bad, 0);
	CHECK(hl_bufpool_buf_at(bp, 1000) == NULL);
	struct hl_bufpool_geom g;
	hl_bufpool_geom(bp, &g);
	CHECK_EQ(g.n, 1000);
	CHECK_EQ(g.stride, SHM_ROOM);
	CHECK_EQ(g.per_page, (2 * SHM_MB) / SHM_ROOM);
	/* the free list holds exactly the others */
	struct hl_buf **all = calloc(1000, sizeof(*all));
	REQUIRE(all != NULL);
	CHECK_EQ(hl_buf_alloc_bulk(bp, all, 995), 0);
	for (unsigned i = 0; i < 995; i++) {
		unsigned idx = hl_buf_index(all[i]);
		bad += idx < 10 && idx % 2 == 0;
	}
	CHECK_EQ(bad, 0);
	CHECK(hl_buf_alloc(bp) == NULL);
	hl_buf_free_bulk(all, 995);
	for (unsigned i = 0; i < 10; i += 2)
		hl_buf_free(hl_bufpool_buf_at(bp, i));
	CHECK_EQ(hl_bufpool_in_use(bp), 0);
	free(all);
	hl_bufpool_free(bp);
	CHECK_EQ(hl_pool_destroy(pool), 0);
}

/*
 * A peer in this process attaches before the switch (a child) dies in the
 * middle of handing it frames, keeps its mapping and its ring state across
 * the crash, and carries on with the recovered switch: its rings paused
 * and resumed.
 */
HL_TEST(peer_keeps_running_across_a_switch_crash)
{
	const char *name = pool_name();
	char record[512], c;
	int to_child[2], to_parent[2], st;

	HL_TEST_NEED(free_hugepages_2m() >= 4, "4 free 2 MiB hugepages");
	record_of(name, record, sizeof(record));
	REQUIRE(pipe(to_child) == 0 && pipe(to_parent) == 0);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		struct hl_pool *pool;
		struct hl_bufpool *bp;
		struct hl_shm_port *p;
		struct hl_buf *bufs[8];
		child_pool(name, "rbp", NBUF, &pool, &bp);
		if (hl_shm_port_create(pool, bp, "p", RING, &p) < 0)
			_exit(10);
		if (write(to_parent[1], "r", 1) != 1 || read(to_child[0], &c, 1) != 1)
			_exit(11);
		/* the peer's 4 frames become the dead switch's in-flight packets */
		if (hl_shm_port_rx_burst(p, bufs, 8) != 4)
			_exit(12);
		for (unsigned i = 0; i < 4; i++) {
			bufs[i]->data_len = bufs[i]->pkt_len = shm_frame_len(100 + i);
			shm_frame_fill(hl_buf_data(bufs[i]), bufs[i]->data_len, 2, 1, 100 + i);
		}
		g_ring = HL_SHM_RING_RX;
		g_step = HL_SHM_STEP_OWNERS;
		hl_shm_test_hook = die_at;
		hl_shm_port_tx_burst(p, bufs, 4);
		_exit(99);
	}
	close(to_child[0]);
	close(to_parent[1]);
	REQUIRE(read(to_parent[0], &c, 1) == 1);

	struct hl_shm_peer *pe;
	struct hl_shm_pkt pk[32];
	REQUIRE_OK(hl_shm_attach(record, "p", &pe));
	REQUIRE(hl_shm_tx_alloc(pe, pk, 4) == 4);
	for (unsigned i = 0; i < 4; i++) {
		pk[i].len = shm_frame_len(i);
		shm_frame_fill(pk[i].data, pk[i].len, 1, 2, i);
	}
	REQUIRE(hl_shm_tx_burst(pe, pk, 4) == 4);
	REQUIRE(write(to_child[1], "g", 1) == 1);
	REQUIRE(waitpid(pid, &st, 0) == pid);
	close(to_child[1]);
	close(to_parent[0]);
	REQUIRE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

	/* the switch is gone: the peer's rings are quiet, not broken */
	CHECK_EQ(hl_shm_rx_burst(pe, pk, 32), 0);
	CHECK_EQ(hl_shm_peer_ctrl(pe)->switch_gen, 0);

	struct hl_pool *pool;
	struct hl_bufpool *bp;
	struct hl_shm_recover_report rep;
	REQUIRE_OK(hl_pool_attach(record, HL_POOL_F_OWNER, &pool));
	REQUIRE_OK(hl_shm_recover(pool, 0, &bp, &rep));
	CHECK_EQ(rep.ports, 1);
	CHECK_EQ(rep.kept, RING / 2); /* the fill ring, topped up before the crash */
	/* the 4 frames the peer sent, on their way back to it: 3 already
	 * marked the peer's, rolled back, and 1 not yet */
	CHECK_EQ(rep.reclaimed, 4);
	CHECK_EQ(rep.intents_undone, 1);
	CHECK_EQ(hl_shm_peer_ctrl(pe)->switch_gen, 1);

	struct hl_shm_port *p;
	REQUIRE_OK(hl_shm_port_claim(pool, "p", &p));
	/* resume: the same peer, the same mapping, the same ring state */
	CHECK_EQ(hl_shm_rx_burst(pe, pk, 32), 0); /* the rolled-back burst never shows */
	unsigned k = hl_shm_tx_alloc(pe, pk, 32);
	CHECK_EQ(k, RING / 2);
	for (unsigned i = 0; i < k; i++) {
		pk[i].len = shm_frame_len(300 + i);
		shm_frame_fill(pk[i].data, pk[i].len, 1, 2, 300 + i);
	}
	CHECK_EQ(hl_shm_tx_burst(pe, pk, k), k);
	struct hl_buf *bufs[32];
	unsigned got = hl_shm_port_rx_burst(p, bufs, 32);
	CHECK_EQ(got, k);
	unsigned bad = 0;
	for (unsigned i = 0; i < got; i++)
		bad += shm_frame_check(hl_buf_data(bufs[i]), bufs[i]->data_len) != (long)(300 + i);
	CHECK_EQ(bad, 0);
	CHECK_EQ(hl_shm_port_tx_burst(p, bufs, got), got);
	CHECK_EQ(hl_shm_rx_burst(pe, pk, 32), got);
	for (unsigned i = 0; i < got; i++)
		bad += shm_frame_check(pk[i].data, pk[i].len) != (long)(300 + i);
	CHECK_EQ(bad, 0);
	CHECK_EQ(hl_shm_release(pe, pk, got), got);
	hl_shm_port_reclaim(p);
	struct hl_shm_peer_stats ps;
	hl_shm_peer_stats(pe, &ps);
	CHECK_EQ(ps.bad_desc + ps.ring_broken, 0);
	CHECK_EQ(hl_bufpool_in_use(bp), RING / 2);
	CHECK_EQ(hl_shm_port_peer_held(p), RING / 2);
	hl_shm_detach(pe);
	hl_shm_port_destroy(p);
	pool_release(pool, bp);
}
