/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A dead, departed or misbehaving shm peer costs no buffer and no port:
 * the switch (its control thread, as hugelinkd runs it) resets the port
 * (shm_abi.h, liveness). Peers here are real processes killed with
 * SIGKILL while they hold buffers, on a shared and on an isolated port; a
 * live peer that only beats is left alone past the dead-peer bound; a peer
 * that detaches holding buffers gives them back; a ring a peer broke is
 * reset by hl_switch_reset_port. After every reset a new peer attaches and
 * traffic flows, and the switch's buffers in use are exactly those the
 * owner tables give peers.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hugelink/shm_peer.h>
#include <hugelink/shm_port.h>
#include <hugelink/sw_ports.h>
#include <hugelink/switch.h>

#include "hl_test.h"
#include "../memory/pool_util.h"
#include "shm_util.h"

static struct hl_pool *pool;
static struct hl_bufpool *bp;
static struct hl_switch *sw;
static pthread_t ctrl_th;
static volatile int ctrl_stop;

/* hugelinkd's control loop, in short */
static void *ctrl_thread(void *arg)
{
	(void)arg;
	while (!ctrl_stop) {
		hl_switch_ctrl(sw);
		usleep(5000);
	}
	return NULL;
}

static void setup(void)
{
	HL_TEST_NEED(access("/dev/hugepages", F_OK) == 0, "hugetlbfs at /dev/hugepages");
	REQUIRE_OK(pool_with_bufs(hl_test_tmpdir(), "sturdylv", 64 << 20, 4096, &pool, &bp));
	struct hl_switch_params sp = {.bp = bp, .first_cpu = -1};
	REQUIRE_OK(hl_switch_create(&sp, &sw));
	ctrl_stop = 0;
	REQUIRE(pthread_create(&ctrl_th, NULL, ctrl_thread, NULL) == 0);
}

static void teardown(void)
{
	ctrl_stop = 1;
	pthread_join(ctrl_th, NULL);
	hl_switch_destroy(sw);
	sw = NULL;
	pool_release(pool, bp);
}

static struct hl_shm_port *add_shm(const char *name, bool isolated)
{
	struct hl_sw_port *p;
	if (hl_sw_port_shm_create(pool, bp, name, isolated, &p) < 0 || hl_switch_add_port(sw, p) < 0)
		return NULL;
	return hl_sw_port_shm(p);
}

static const char *record_of(const char *name)
{
	return hl_sw_port_shm_record(hl_switch_find_port(sw, name));
}

static struct hl_shm_port_stats stats(struct hl_shm_port *sp)
{
	struct hl_shm_port_stats st;
	hl_shm_port_stats(sp, &st);
	return st;
}

/* Start shm_holder on a port; its pid, and in *held what it says it holds. */
static pid_t holder(const char *record, const char *port, unsigned n, unsigned *held)
{
	int fd[2];
	char bin[512], num[16], line[64] = "";
	snprintf(bin, sizeof(bin), "%s/shm_holder", hl_test_bindir());
	snprintf(num, sizeof(num), "%u", n);
	if (pipe(fd) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		execl(bin, bin, record, port, num, (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	FILE *f = fdopen(fd[0], "r");
	if (f == NULL || fgets(line, sizeof(line), f) == NULL || sscanf(line, "held %u", held) != 1)
		*held = 0;
	if (f != NULL)
		fclose(f);
	return pid;
}

static unsigned held_by_peers(struct hl_shm_port **ports, unsigned n)
{
	unsigned held = 0;
	for (unsigned i = 0; i < n; i++)
		held += hl_shm_port_bufpool(ports[i]) == bp ? hl_shm_port_peer_held(ports[i]) : 0;
	return held;
}

/*
 * Buffers the switch has in use, against what the owner tables give peers,
 * summed over the ports; buffers a peer gave back are taken off done at the
 * next poll, so both sides are read again until they agree (for a while).
 */
static bool books_balance(struct hl_shm_port **ports, unsigned n)
{
	for (int i = 0; i < 400; i++) {
		if (hl_bufpool_in_use(bp) == held_by_peers(ports, n))
			return true;
		usleep(1000);
	}
	printf("# buffers in use %u, held by peers %u\n", hl_bufpool_in_use(bp), held_by_peers(ports, n));
	return false;
}

/* Send k frames from peer a to peer b through the switch; how many b received intact. */
static unsigned traffic(struct hl_shm_peer *a, struct hl_shm_peer *b, uint8_t src, uint8_t dst, unsigned k)
{
	struct hl_shm_pkt pk[32];
	unsigned sent = 0, got = 0;
	for (int spin = 0; (sent < k || got < sent) && spin < 20000; spin++) {
		unsigned want = k - sent < 32 ? k - sent : 32;
		unsigned m = hl_shm_tx_alloc(a, pk, want);
		for (unsigned i = 0; i < m; i++) {
			pk[i].len = shm_frame_len(sent + i);
			shm_frame_fill(pk[i].data, pk[i].len, src, dst, sent + i);
		}
		unsigned t = hl_shm_tx_burst(a, pk, m);
		hl_shm_release(a, pk + t, m - t);
		sent += t;
		unsigned r = hl_shm_rx_burst(b, pk, 32);
		for (unsigned i = 0; i < r; i++)
			got += shm_frame_check(pk[i].data, pk[i].len) >= 0;
		hl_shm_release(b, pk, r);
		if (m == 0 && r == 0)
			usleep(200);
	}
	return got;
}

/*
 * The peer of port "a" is killed holding buffers: the port is reset once
 * its beat has stood still for the bound (not before, while it lived), a
 * new peer's attach waits for that reset, and traffic resumes.
 */
static void killed_holding(bool isolated)
{
	setup();
	struct hl_shm_port *a = add_shm("a", isolated), *b = add_shm("b", false);
	REQUIRE(a != NULL && b != NULL);
	unsigned held = 0;
	pid_t pid = holder(record_of("a"), "a", 40, &held);
	REQUIRE(pid > 0);
	CHECK_EQ(held, 40);

	/* alive and beating, though it moves no frame: left alone past the dead-peer bound */
	usleep((HL_SHM_BEAT_DEAD_MS + 700) * 1000);
	CHECK_EQ(stats(a).c.resets, 0);
	/* what it took, and the fill ring topped up behind it */
	unsigned before = hl_shm_port_peer_held(a);
	CHECK(before >= held + 64);

	uint64_t t0 = hl_now_ns();
	kill(pid, SIGKILL);
	int st;
	REQUIRE(waitpid(pid, &st, 0) == pid && WIFSIGNALED(st));
	/* a new peer at once: it waits for the switch to take the dead one's buffers back */
	struct hl_shm_peer *pa, *pb;
	int rc = hl_shm_attach(record_of("a"), "a", &pa);
	REQUIRE_OK(rc);
	double waited = (double)(hl_now_ns() - t0) / 1e9;
	CHECK(waited >= HL_SHM_BEAT_DEAD_MS / 1000.0 - 0.5);
	struct hl_shm_port_stats s = stats(a);
	CHECK_EQ(s.c.resets, 1);
	CHECK_EQ(s.c.reclaimed, before);
	CHECK(hl_switch_find_port(sw, "a") != NULL);
	REQUIRE_OK(hl_shm_attach(record_of("b"), "b", &pb));
	unsigned got = traffic(pa, pb, 0xa, 0xb, 200);
	CHECK(got >= 190); /* the first frames flood while the switch learns; none may be lost but to that */
	CHECK_EQ(traffic(pb, pa, 0xb, 0xa, 200), 200);
	struct hl_shm_port *ports[] = {a, b};
	CHECK(books_balance(ports, 2));

	/* a clean detach holding buffers: the port is reset, the buffers come back */
	struct hl_shm_pkt keep[8];
	unsigned k = 0;
	for (int spin = 0; k < 8 && spin < 2000; spin++, usleep(1000))
		k += hl_shm_tx_alloc(pb, keep + k, 8 - k);
	CHECK_EQ(k, 8);
	uint64_t resets_b = stats(b).c.resets;
	hl_shm_detach(pb);
	for (int i = 0; i < 400 && stats(b).c.resets == resets_b; i++)
		usleep(5000);
	CHECK_EQ(stats(b).c.resets, resets_b + 1);
	CHECK(stats(b).c.reclaimed >= 8);
	CHECK(books_balance(ports, 2));
	hl_shm_detach(pa);
	teardown();
}

HL_TEST(a_peer_killed_holding_buffers_gives_them_back)
{
	killed_holding(false);
}

HL_TEST(an_isolated_peer_killed_holding_buffers_gives_them_back)
{
	killed_holding(true);
}

/* A peer breaks its tx ring; an operator's reset brings the port back without removing it. */
HL_TEST(a_broken_ring_is_reset_without_removing_the_port)
{
	setup();
	struct hl_shm_port *c = add_shm("c", false), *d = add_shm("d", false);
	REQUIRE(c != NULL && d != NULL);
	struct hl_shm_peer *pc, *pd;
	REQUIRE_OK(hl_shm_attach(record_of("c"), "c", &pc));
	REQUIRE_OK(hl_shm_attach(record_of("d"), "d", &pd));
	CHECK_EQ(traffic(pd, pc, 0xd, 0xc, 100), 100);
	struct hl_shm_port *ports[] = {c, d};
	CHECK(books_balance(ports, 2));
	/* an index no producer could have published */
	struct hl_shm_ring *tx = hl_shm_peer_ring(pc, HL_SHM_RING_TX);
	__atomic_store_n(&tx->hdr->prod, tx->own + 100000, __ATOMIC_RELEASE);
	for (int i = 0; i < 400 && stats(c).c.ring_broken == 0; i++)
		usleep(5000);
	CHECK_EQ(stats(c).c.ring_broken, 1);
	CHECK_EQ(stats(c).c.resets, 0); /* a broken ring waits for an operator */
	CHECK_EQ(hl_switch_reset_port(sw, "c", "test"), 0);
	CHECK_EQ(stats(c).c.resets, 1);
	CHECK_EQ(hl_switch_reset_port(sw, "nope", "test"), -ENOENT);
	CHECK(books_balance(ports, 2));
	/* the evicted peer's view is stale: it attaches again, and frames flow both ways */
	hl_shm_detach(pc);
	REQUIRE_OK(hl_shm_attach(record_of("c"), "c", &pc));
	CHECK_EQ(traffic(pc, pd, 0xc, 0xd, 100), 100);
	CHECK_EQ(traffic(pd, pc, 0xd, 0xc, 100), 100);
	CHECK(books_balance(ports, 2));
	hl_shm_detach(pc);
	hl_shm_detach(pd);
	teardown();
}
