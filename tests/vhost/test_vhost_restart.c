/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A zero-copy back-end killed with SIGKILL under pinned buffers, and started
 * again, as hugelinkd is under a guest: the back-end runs in a child process
 * (its own pool, hugelink's vhost port), the guest is hugelink's front-end
 * here. After each kill the front-end does what QEMU does when the back-end
 * is gone and GET_VRING_BASE cannot be asked: it takes the used index in its
 * own memory as the ring base, so every avail entry after it is offered
 * again to the next back-end. That is only right if, at the moment of the
 * kill, the chains still out were exactly those avail entries; checked
 * after every kill, and the next back-end (a new child, the base handed over
 * on a new connection) must never return an id the front-end does not have
 * in flight, nor one twice (its driver stops the ring on either).
 *
 * The back-end frees the frames it pins in a scrambled order, copies small
 * ones (returned at once in copy mode), and is killed while it holds some.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hugelink/vhost_port.h>
#include <hugelink/virtio_user.h>

#include "hl_test.h"

#include "../memory/pool_util.h"

#define RING 256
#define CYCLES 6 /* kills and restarts */
#define HOLD 24  /* frames the back-end holds at most */

static struct hl_pool *fe_pool;
static struct hl_bufpool *fe_bp;
static char sock_path[256];

/* The back-end: dequeue forever, free pinned frames out of order. Never returns. */
static void backend(unsigned cycle)
{
	struct hl_pool *pool;
	struct hl_bufpool *bp;
	char name[32];
	snprintf(name, sizeof(name), "rsw-%d", (int)getppid());
	struct hl_pool_params pp = {.name = name, .size = 64 << 20, .run_dir = hl_test_tmpdir(),
				    .page_size = 2 << 20, .flags = HL_POOL_F_REPLACE};
	struct hl_vhost_port *port;
	struct hl_vhost_port_params prm = {.path = sock_path, .zc_mode = HL_VHOST_ZC_ON,
					   .zc_max_pin_ns = 10000000000ull};
	if (hl_pool_create(&pp, &pool) < 0 || hl_bufpool_create(pool, "rsw", 4096, 2048, 0, &bp) < 0 ||
	    hl_vhost_port_create(&prm, &port) < 0)
		_exit(2);
	struct hl_buf *held[HOLD], *pkts[HL_VHOST_BURST];
	unsigned nheld = 0, seed = cycle * 7919u + 1, idle = 0;
	for (;;) {
		hl_vhost_port_poll_ctrl(port, 0);
		uint16_t n = hl_vhost_dequeue_burst(port, 1, bp, pkts, HL_VHOST_BURST);
		for (uint16_t i = 0; i < n; i++) {
			bool pinned = pkts[i]->next != NULL && (pkts[i]->next->flags & HL_BUF_F_EXTERNAL);
			if (pinned && nheld < HOLD)
				held[nheld++] = pkts[i];
			else
				hl_buf_free(pkts[i]);
		}
		/*
		 * With traffic, one held frame back now and then, any of them:
		 * completions out of order. Without (the ring is full, or the
		 * front-end waits), the oldest now and then: a kill finds some held.
		 */
		idle = n > 0 ? 0 : idle + 1;
		if (nheld > 0 && (n > 0 ? rand_r(&seed) % 3 == 0 : idle % 100 == 0)) {
			unsigned k = n > 0 ? (unsigned)rand_r(&seed) % nheld : 0;
			hl_buf_free(held[k]);
			memmove(held + k, held + k + 1, (--nheld - k) * sizeof(held[0]));
		}
		if (n == 0)
			usleep(50);
	}
}

static pid_t start_backend(unsigned cycle)
{
	pid_t pid = fork();
	if (pid == 0)
		backend(cycle);
	return pid;
}

static void kill_backend(pid_t pid)
{
	int st;
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

static struct hl_buf *frame(uint32_t seq, uint32_t len)
{
	struct hl_buf *b = hl_buf_alloc(fe_bp);
	if (b == NULL)
		return NULL;
	uint8_t *d = hl_buf_data(b);
	memset(d, (uint8_t)seq, len);
	memcpy(d, (uint8_t[6]){2, 0, 0, 0, 0, 0x22}, 6);
	b->data_len = b->pkt_len = len;
	return b;
}

/* Send `count` frames, large (pinned) and small (copied) mixed; false once the driver stopped the ring. */
static bool traffic(struct hl_vuser *u, unsigned count, uint32_t *seq)
{
	for (unsigned sent = 0, spin = 0; sent < count && spin < 200000 && !u->tx.broken; spin++) {
		struct hl_buf *b = frame(*seq, *seq % 3 == 0 ? 60 : 1500);
		if (b != NULL && hl_vuser_tx_burst(u, &b, 1) == 1) {
			sent++;
			++*seq;
		} else {
			hl_buf_free(b);
			usleep(20);
		}
	}
	hl_vuser_tx_reclaim(u);
	return !u->tx.broken;
}

/*
 * What a front-end that lost its back-end assumes: the chains still out are
 * those of avail entries [used->idx, avail->idx), each once. True if so.
 */
static bool base_is_used_idx(struct hl_vuser *u, unsigned *out)
{
	struct hl_vring_driver *d = &u->tx;
	hl_vuser_tx_reclaim(u);
	uint16_t used = __atomic_load_n(&d->used->idx, __ATOMIC_ACQUIRE), avail = d->avail_idx;
	bool seen[RING] = {false}, ok = used == d->last_used_idx;
	unsigned in_flight = 0;
	for (unsigned h = 0; h < d->num; h++)
		in_flight += d->tokens[h] != NULL;
	for (uint16_t p = used; p != avail; p++) {
		uint16_t h = d->avail->ring[p & d->mask];
		ok = ok && h < d->num && d->tokens[h] != NULL && !seen[h];
		if (h < d->num)
			seen[h] = true;
	}
	*out = in_flight;
	return ok && in_flight == (uint16_t)(avail - used);
}

/* Connect to the new back-end and resume both rings at their used index, as QEMU does. */
static int resume(struct hl_vuser *u)
{
	uint64_t want = u->fe.features;
	hl_vhost_frontend_close(&u->fe);
	int rc = hl_vhost_frontend_connect(&u->fe, sock_path, 5000);
	if (rc == 0)
		rc = hl_vhost_frontend_negotiate(&u->fe, want);
	if (rc == 0)
		rc = hl_vhost_frontend_set_mem(&u->fe, fe_pool);
	struct hl_vring_driver *d[2] = {&u->rx, &u->tx};
	for (unsigned q = 0; q < 2 && rc == 0; q++)
		rc = hl_vhost_frontend_start_queue(&u->fe, q, RING, d[q]->desc, d[q]->avail, d[q]->used,
						   __atomic_load_n(&d[q]->used->idx, __ATOMIC_ACQUIRE), u->kick[q],
						   u->call[q]);
	return rc;
}

HL_TEST(killed_under_pinned_buffers_and_restarted)
{
	HL_TEST_NEED(access("/dev/hugepages", F_OK) == 0, "hugetlbfs at /dev/hugepages");
	REQUIRE_OK(pool_with_bufs(hl_test_tmpdir(), "rfe", 64 << 20, 4096, &fe_pool, &fe_bp));
	snprintf(sock_path, sizeof(sock_path), "%s/restart.sock", hl_test_tmpdir());
	struct hl_vuser u;
	pid_t pid = start_backend(0);
	REQUIRE(pid > 0);
	struct hl_vuser_params up = {.path = sock_path, .pool = fe_pool, .bp = fe_bp, .ring_size = RING};
	REQUIRE_OK(hl_vuser_open(&u, &up));
	uint32_t seq = 0;
	unsigned consistent = 0, clean = 0, resumed = 0, held_at_kill = 0;
	for (unsigned c = 1; c <= CYCLES; c++) {
		clean += traffic(&u, 1000, &seq);
		usleep(20000); /* the back-end holds some, has freed others */
		kill_backend(pid);
		unsigned out;
		bool ok = base_is_used_idx(&u, &out);
		held_at_kill += out;
		if (!ok)
			printf("# kill %u: the chains out (%u) are not avail[used..avail) (used %u, avail %u)\n", c,
				     out, u.tx.used->idx, u.tx.avail_idx);
		consistent += ok;
		pid = start_backend(c);
		REQUIRE(pid > 0);
		resumed += resume(&u) == 0;
	}
	clean += traffic(&u, 1000, &seq);
	printf("# %u kills with %u chains out in all\n", CYCLES, held_at_kill);
	CHECK_EQ(consistent, CYCLES);    /* the used index said what was done with, at every kill */
	CHECK_EQ(resumed, CYCLES);
	CHECK_EQ(clean, CYCLES + 1);     /* no id out of flight or twice, before or after a restart */
	CHECK(held_at_kill > CYCLES);    /* the kills did come with chains out */
	CHECK(u.stats.rx_bad == 0);
	/* a clean stop gives back what the last one holds; the front-end has every buffer */
	hl_vuser_close(&u);
	kill_backend(pid);
	CHECK_EQ(hl_bufpool_in_use(fe_bp), 0);
	/* the back-ends' pool, left by the last one killed, taken over and removed */
	struct hl_pool *sw;
	char name[32];
	snprintf(name, sizeof(name), "rsw-%d", (int)getpid());
	struct hl_pool_params pp = {.name = name, .size = 64 << 20, .run_dir = hl_test_tmpdir(),
				    .page_size = 2 << 20, .flags = HL_POOL_F_REPLACE};
	REQUIRE_OK(hl_pool_create(&pp, &sw));
	CHECK_EQ(hl_pool_destroy(sw), 0);
	hl_bufpool_free(fe_bp);
	CHECK_EQ(hl_pool_destroy(fe_pool), 0);
}
