/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The switch and a port with several receive queues (nrxq > 1, as a
 * multiqueue vhost port): its queues are dealt to the workers in turn, by
 * load, each queue is always polled by the one worker it went to, a queue
 * the port says is not ready is never polled at all, queues that become
 * ready are polled from then on, frames from every queue are forwarded,
 * and a port that cannot be polled apart is refused. Queues moved to
 * other workers while frames stream through them are polled by their new
 * worker alone once the move returns, never by two threads at once, and
 * no frame or buffer goes missing. Stub ports record which thread polled
 * which queue.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <hugelink/switch.h>

#include "hl_test.h"
#include "../memory/pool_util.h"

#define QS 4

struct qstub {
	struct hl_sw_port base;
	uint32_t ready;             /* atomic: queues worth a poll */
	unsigned pend[QS];          /* atomic: frames each queue still has */
	int stop;                   /* atomic: no more frames from any queue (pend is not reset under a poll) */
	unsigned polls[QS];         /* atomic */
	unsigned not_ready_polls;   /* atomic: polls of a queue that was not ready: must stay 0 */
	pthread_t by[QS];           /* who polled each queue first ... */
	unsigned moved[QS];         /* ... and polls by anyone else: must stay 0 */
	int seen[QS];
	unsigned got;               /* atomic: frames transmitted to the port */
	int inside[QS];             /* atomic: threads in rx_queue(q) now */
	unsigned overlap;           /* atomic: times two were: must stay 0 */
	int expect[QS];             /* atomic: the worker (index in tids) that alone may poll q; -1: any */
	unsigned wrong[QS];         /* atomic: polls by another: must stay 0 */
	unsigned taken;             /* atomic: frames received from every queue */
};

/* The workers' threads, once the test knows them, so a poll can tell which worker made it. */
static pthread_t tids[2];

static int worker_of_self(void)
{
	for (int i = 0; i < 2; i++)
		if (pthread_equal(tids[i], pthread_self()))
			return i;
	return -1;
}

static uint16_t q_rx_queue(struct hl_sw_port *p, unsigned q, struct hl_bufpool *bp, struct hl_buf **pkts,
			   uint16_t n)
{
	struct qstub *s = (struct qstub *)p;
	if (__atomic_fetch_add(&s->inside[q], 1, __ATOMIC_ACQ_REL) != 0)
		__atomic_add_fetch(&s->overlap, 1, __ATOMIC_RELAXED);
	int want = __atomic_load_n(&s->expect[q], __ATOMIC_ACQUIRE);
	if (want >= 0 && worker_of_self() != want)
		__atomic_add_fetch(&s->wrong[q], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->polls[q], 1, __ATOMIC_RELAXED);
	if (!(__atomic_load_n(&s->ready, __ATOMIC_ACQUIRE) & (1u << q)))
		__atomic_add_fetch(&s->not_ready_polls, 1, __ATOMIC_RELAXED);
	if (!s->seen[q]) {
		s->by[q] = pthread_self();
		__atomic_store_n(&s->seen[q], 1, __ATOMIC_RELEASE);
	} else if (!pthread_equal(s->by[q], pthread_self())) {
		__atomic_add_fetch(&s->moved[q], 1, __ATOMIC_RELAXED);
	}
	uint16_t k = 0;
	while (k < n && !__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE) && __atomic_load_n(&s->pend[q], __ATOMIC_ACQUIRE) > 0) {
		struct hl_buf *b = hl_buf_alloc(bp);
		if (b == NULL)
			break;
		uint8_t *d = hl_buf_data(b);
		memset(d, 0, 60);
		memset(d, 0xff, 6); /* broadcast: to every other port */
		memcpy(d + 6, (uint8_t[6]){0x02, 0x71, 0, 0, 0, (uint8_t)q}, 6);
		b->data_len = b->pkt_len = 60;
		pkts[k++] = b;
		__atomic_sub_fetch(&s->pend[q], 1, __ATOMIC_RELEASE);
	}
	__atomic_add_fetch(&s->taken, k, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&s->inside[q], 1, __ATOMIC_RELEASE);
	return k;
}

static uint16_t q_rx(struct hl_sw_port *p, struct hl_bufpool *bp, struct hl_buf **pkts, uint16_t n)
{
	(void)p, (void)bp, (void)pkts, (void)n;
	return 0;
}

static uint32_t q_ready(const struct hl_sw_port *p)
{
	return __atomic_load_n(&((const struct qstub *)p)->ready, __ATOMIC_ACQUIRE);
}

static uint16_t q_tx(struct hl_sw_port *p, struct hl_buf **pkts, uint16_t n, uint64_t *bytes)
{
	struct qstub *s = (struct qstub *)p;
	for (uint16_t i = 0; i < n; i++)
		*bytes += pkts[i]->pkt_len;
	hl_buf_free_bulk(pkts, n);
	__atomic_add_fetch(&s->got, n, __ATOMIC_RELAXED);
	return n;
}

static bool q_arm_queue(struct hl_sw_port *p, unsigned q)
{
	(void)p, (void)q;
	return true;
}

static void q_close(struct hl_sw_port *p)
{
	(void)p; /* the test owns its stubs */
}

static const struct hl_sw_port_ops qstub_ops = {
	.kind = "qstub", .rx = q_rx, .tx = q_tx, .close = q_close, .rx_queue = q_rx_queue, .rxq_ready = q_ready,
	.arm_queue = q_arm_queue, .max_sleep_ms = 1};
/* several queues and no way to poll one of them */
static const struct hl_sw_port_ops noq_ops = {.kind = "noq", .rx = q_rx, .tx = q_tx, .close = q_close};

static void qstub_init(struct qstub *s, const char *name, unsigned nrxq, const struct hl_sw_port_ops *ops)
{
	memset(s, 0, sizeof(*s));
	for (unsigned q = 0; q < QS; q++)
		s->expect[q] = -1;
	s->base.ops = ops;
	s->base.nrxq = (uint16_t)nrxq;
	snprintf(s->base.name, sizeof(s->base.name), "%s", name);
}

static bool wait_got(const struct qstub *s, unsigned want)
{
	for (int i = 0; i < 4000; i++) {
		if (__atomic_load_n(&s->got, __ATOMIC_RELAXED) >= want)
			return true;
		usleep(500);
	}
	return false;
}

HL_TEST(queues_spread_over_workers)
{
	struct hl_pool *pool;
	struct hl_bufpool *bp;
	struct hl_switch *sw;
	REQUIRE_OK(pool_with_bufs(hl_test_tmpdir(), "rxq-sw", 16 << 20, 1024, &pool, &bp));
	struct hl_switch_params prm = {.bp = bp, .workers = 2, .first_cpu = -1};
	REQUIRE_OK(hl_switch_create(&prm, &sw));

	static struct qstub mq, sink, mq3, bad, huge;
	qstub_init(&mq, "mq", QS, &qstub_ops);
	qstub_init(&sink, "sink", 0, &qstub_ops);
	REQUIRE_OK(hl_switch_add_port(sw, &mq.base));
	REQUIRE_OK(hl_switch_add_port(sw, &sink.base));
	/* one queue at a time to the least loaded worker: 0, 1, 0, 1; then the sink to worker 0 */
	CHECK_EQ(mq.base.rxq_mask[0], 0x5u);
	CHECK_EQ(mq.base.rxq_mask[1], 0xau);
	CHECK_EQ(mq.base.worker, 0);
	CHECK_EQ(sink.base.worker, 0);

	/* queues 0 and 1 run; 2 has frames but is not ready, 3 has nothing */
	__atomic_store_n(&mq.pend[0], 100, __ATOMIC_RELEASE);
	__atomic_store_n(&mq.pend[1], 100, __ATOMIC_RELEASE);
	__atomic_store_n(&mq.pend[2], 100, __ATOMIC_RELEASE);
	__atomic_store_n(&mq.ready, 0x3u, __ATOMIC_RELEASE);
	CHECK(wait_got(&sink, 200));
	usleep(20000);
	CHECK_EQ(__atomic_load_n(&sink.got, __ATOMIC_RELAXED), 200);
	CHECK_EQ(__atomic_load_n(&mq.polls[2], __ATOMIC_RELAXED), 0); /* not ready: never polled */
	CHECK_EQ(__atomic_load_n(&mq.polls[3], __ATOMIC_RELAXED), 0);
	/* two workers at once */
	CHECK(__atomic_load_n(&mq.seen[0], __ATOMIC_ACQUIRE) && __atomic_load_n(&mq.seen[1], __ATOMIC_ACQUIRE) &&
	      !pthread_equal(mq.by[0], mq.by[1]));

	/* queue 2 ready now: polled from then on, by queue 0's worker */
	__atomic_store_n(&mq.ready, 0x7u, __ATOMIC_RELEASE);
	CHECK(wait_got(&sink, 300));
	CHECK(__atomic_load_n(&mq.seen[2], __ATOMIC_ACQUIRE) && pthread_equal(mq.by[2], mq.by[0]));
	CHECK_EQ(__atomic_load_n(&mq.not_ready_polls, __ATOMIC_RELAXED), 0);
	for (unsigned q = 0; q < QS; q++)
		CHECK_EQ(__atomic_load_n(&mq.moved[q], __ATOMIC_RELAXED), 0);
	struct hl_sw_port_stats st;
	hl_switch_port_stats(sw, &mq.base, &st);
	CHECK_EQ(st.rx_packets, 300);

	/* gone, its load with it: a three-queue port starts on the idle worker */
	REQUIRE_OK(hl_switch_del_port(sw, "mq"));
	qstub_init(&mq3, "mq3", 3, &qstub_ops);
	REQUIRE_OK(hl_switch_add_port(sw, &mq3.base));
	CHECK_EQ(mq3.base.rxq_mask[1], 0x5u);
	CHECK_EQ(mq3.base.rxq_mask[0], 0x2u);
	CHECK_EQ(mq3.base.worker, 1);

	/* several queues the switch could not poll apart, or more than it can tell apart: refused */
	qstub_init(&bad, "bad", 2, &noq_ops);
	CHECK_EQ(hl_switch_add_port(sw, &bad.base), -EINVAL);
	qstub_init(&huge, "huge", HL_SW_MAX_RXQ + 1, &qstub_ops);
	CHECK_EQ(hl_switch_add_port(sw, &huge.base), -EINVAL);
	CHECK(hl_switch_find_port(sw, "bad") == NULL && hl_switch_find_port(sw, "huge") == NULL);

	hl_switch_destroy(sw);
	pool_release(pool, bp);
}

/* Until queue q has been polled `n` more times (by whoever may). */
static bool wait_polls(const struct qstub *s, unsigned q, unsigned n)
{
	unsigned from = __atomic_load_n(&s->polls[q], __ATOMIC_RELAXED);
	for (int i = 0; i < 20000; i++) { /* up to 10 s: a loaded host may hold a worker back that long */
		if (__atomic_load_n(&s->polls[q], __ATOMIC_RELAXED) - from >= n)
			return true;
		usleep(500);
	}
	return false;
}

HL_TEST(queues_move_while_frames_flow)
{
	struct hl_pool *pool;
	struct hl_bufpool *bp;
	struct hl_switch *sw;
	REQUIRE_OK(pool_with_bufs(hl_test_tmpdir(), "rxq-mv", 16 << 20, 1024, &pool, &bp));
	struct hl_switch_params prm = {.bp = bp, .workers = 2, .first_cpu = -1};
	REQUIRE_OK(hl_switch_create(&prm, &sw));

	static struct qstub mq, sink, other, late;
	qstub_init(&mq, "mq", QS, &qstub_ops);
	qstub_init(&sink, "sink", 0, &qstub_ops);
	qstub_init(&other, "other", QS, &qstub_ops);
	REQUIRE_OK(hl_switch_add_port(sw, &mq.base));
	REQUIRE_OK(hl_switch_add_port(sw, &sink.base));
	CHECK_EQ(mq.base.rxq_mask[0], 0x5u);
	CHECK_EQ(mq.base.rxq_mask[1], 0xau);

	/* frames without end from every queue, broadcast: each one reaches the sink */
	for (unsigned q = 0; q < QS; q++)
		__atomic_store_n(&mq.pend[q], 1u << 30, __ATOMIC_RELEASE);
	__atomic_store_n(&mq.ready, 0xfu, __ATOMIC_RELEASE);
	CHECK(wait_got(&sink, 1000));
	/* both workers polled once (on a loaded host the second may start late) */
	for (int i = 0; i < 20000 && !(__atomic_load_n(&mq.seen[0], __ATOMIC_ACQUIRE) &&
				       __atomic_load_n(&mq.seen[1], __ATOMIC_ACQUIRE)); i++)
		usleep(500);
	REQUIRE(__atomic_load_n(&mq.seen[0], __ATOMIC_ACQUIRE) && __atomic_load_n(&mq.seen[1], __ATOMIC_ACQUIRE));
	tids[0] = mq.by[0]; /* queue 0 started on worker 0, queue 1 on worker 1 */
	tids[1] = mq.by[1];
	REQUIRE(!pthread_equal(tids[0], tids[1]));

	static const unsigned maps[][QS] = {{1, 0, 1, 0}, {1, 1, 1, 1}, {0, 0, 1, 1}, {0, 1, 0, 1}, {0, 0, 0, 0}};
	unsigned moves = 0, stale = 0;
	for (unsigned round = 0; round < 40; round++) {
		const unsigned *m = maps[round % HL_ARRAY_SIZE(maps)];
		/* while it moves, any worker may poll; from its return on, only the new one */
		for (unsigned q = 0; q < QS; q++)
			__atomic_store_n(&mq.expect[q], -1, __ATOMIC_RELEASE);
		REQUIRE_OK(hl_switch_move_queues(sw, &mq.base, m, QS));
		for (unsigned q = 0; q < QS; q++) {
			__atomic_store_n(&mq.expect[q], (int)m[q], __ATOMIC_RELEASE);
			stale += hl_switch_queue_worker(&mq.base, q) != m[q] || !(mq.base.rxq_mask[m[q]] & (1u << q)) ||
				 (mq.base.rxq_mask[!m[q]] & (1u << q));
		}
		for (unsigned q = 0; q < QS; q++)
			moves += wait_polls(&mq, q, 20);
	}
	CHECK_EQ(stale, 0);
	CHECK_EQ(moves, 40 * QS); /* every queue kept being polled after each move */
	CHECK_EQ(mq.base.worker, 0); /* queue 0's worker, after the last map */
	unsigned wrong = 0;
	for (unsigned q = 0; q < QS; q++)
		wrong += __atomic_load_n(&mq.wrong[q], __ATOMIC_RELAXED);
	CHECK_EQ(wrong, 0);
	CHECK_EQ(__atomic_load_n(&mq.overlap, __ATOMIC_RELAXED), 0);

	/* refused, and nothing moves: a worker it does not have, more queues than the port's, a port not in it */
	CHECK_EQ(hl_switch_move_queues(sw, &mq.base, (unsigned[]){1, 2}, 2), -EINVAL);
	CHECK_EQ(hl_switch_move_queues(sw, &mq.base, (unsigned[]){1, 1, 1, 1, 1}, QS + 1), -EINVAL);
	CHECK_EQ(hl_switch_move_queues(sw, &other.base, (unsigned[]){1}, 1), -ENOENT);
	CHECK_EQ(mq.base.rxq_mask[0], 0xfu);
	CHECK_EQ(mq.base.rxq_mask[1], 0x0u);

	/* fewer entries than queues: the rest stay; then auto, beside the sink on worker 0: 1, 0, 1, 0 */
	REQUIRE_OK(hl_switch_move_queues(sw, &mq.base, (unsigned[]){1}, 1));
	CHECK_EQ(mq.base.rxq_mask[0], 0xeu);
	CHECK_EQ(mq.base.rxq_mask[1], 0x1u);
	REQUIRE_OK(hl_switch_move_queues(sw, &mq.base, NULL, 0));
	CHECK_EQ(mq.base.rxq_mask[0], 0xau);
	CHECK_EQ(mq.base.rxq_mask[1], 0x5u);
	CHECK(wait_polls(&mq, 0, 20) && wait_polls(&mq, 3, 20));
	/* a port with one receive queue moves too */
	REQUIRE_OK(hl_switch_move_queues(sw, &sink.base, (unsigned[]){1}, 1));
	CHECK_EQ(sink.base.worker, 1);
	CHECK_EQ(hl_switch_queue_worker(&sink.base, 0), 1);

	/* the traffic stops: every frame taken reached the sink (every buffer is back: pool_release, once
	 * the workers' caches went back with them) */
	__atomic_store_n(&mq.stop, 1, __ATOMIC_RELEASE);
	/* the last burst a worker took may still be on its way (a loaded host descheduled it) */
	for (int i = 0; i < 10000 && __atomic_load_n(&sink.got, __ATOMIC_RELAXED) !=
					 __atomic_load_n(&mq.taken, __ATOMIC_RELAXED); i++)
		usleep(1000);
	usleep(50000);
	CHECK_EQ(__atomic_load_n(&sink.got, __ATOMIC_RELAXED), __atomic_load_n(&mq.taken, __ATOMIC_RELAXED));
	CHECK(__atomic_load_n(&mq.taken, __ATOMIC_RELAXED) > 40 * QS * 20);
	struct hl_sw_port_stats st;
	hl_switch_port_stats(sw, &mq.base, &st);
	CHECK_EQ(st.rx_packets, __atomic_load_n(&mq.taken, __ATOMIC_RELAXED));

	/* the workers' loads followed the moves: 2 queues on worker 0, 2 and the sink on 1: 0, 0, then 1 */
	qstub_init(&late, "late", 3, &qstub_ops);
	REQUIRE_OK(hl_switch_add_port(sw, &late.base));
	CHECK_EQ(late.base.rxq_mask[0], 0x3u);
	CHECK_EQ(late.base.rxq_mask[1], 0x4u);

	hl_switch_destroy(sw);
	pool_release(pool, bp);
}
