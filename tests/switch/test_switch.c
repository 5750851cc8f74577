/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The switch core against stub ports: each stub hands the switch the frames
 * a test queued for it and records every frame the switch transmits to it,
 * so forwarding is checked port by port. Unknown destinations, broadcast
 * and multicast flood to every port but the ingress one; sources are
 * learned and known destinations go to one port only; nothing goes back out
 * of the port it came from; a port that refuses frames costs tx_full drops
 * and no buffer; ports deleted while traffic flows are never called after
 * their close, ports reset while it flows are never called during their
 * reset, and no buffer of the switch's pool is left in use.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <hugelink/switch.h>

#include "hl_test.h"
#include "../memory/pool_util.h"

#define MAX_REC 4096
#define MAX_PEND 512

/* What a stub saw; outlives the stub, so a test reads it after the port is gone. */
struct stub_log {
	unsigned ngot;                  /* frames transmitted to the port and taken */
	struct {
		uint8_t dst[6], src[6];
		uint32_t seq;
	} got[MAX_REC];
	unsigned refused;               /* frames offered and refused */
	unsigned after_close;           /* calls of any op after close: must stay 0 */
	unsigned closes;
	unsigned resets;                /* reset calls */
	unsigned during_reset;          /* rx or tx calls while a reset ran: must stay 0 */
};

struct stub {
	struct hl_sw_port base;
	struct stub_log *log;
	pthread_mutex_t lock;           /* the test queues, a worker takes */
	struct {
		uint8_t dst[6], src[6];
		uint32_t seq;
	} pend[MAX_PEND];
	unsigned npend, pend_at;
	int endless;                    /* rx makes a burst of pend[0] on every call, seq counting up */
	uint32_t next_seq;
	unsigned accept;                /* frames a tx call takes; the rest are refused */
	int closed;
	int in_reset;                   /* atomic: a reset is running */
	int want_reset;                 /* atomic: needs_reset says yes once */
};

static struct hl_pool *pool;
static struct hl_bufpool *bp;

static uint16_t stub_rx(struct hl_sw_port *p, struct hl_bufpool *from, struct hl_buf **pkts, uint16_t n)
{
	struct stub *s = (struct stub *)p;
	uint16_t k = 0;
	pthread_mutex_lock(&s->lock);
	if (s->closed)
		s->log->after_close++;
	if (__atomic_load_n(&s->in_reset, __ATOMIC_ACQUIRE))
		s->log->during_reset++;
	while (k < n && (s->endless ? s->npend > 0 : s->pend_at < s->npend)) {
		struct hl_buf *b = hl_buf_alloc(from);
		if (b == NULL)
			break;
		unsigned i = s->endless ? 0 : s->pend_at++;
		uint8_t *d = hl_buf_data(b);
		memset(d, 0, 60);
		memcpy(d, s->pend[i].dst, 6);
		memcpy(d + 6, s->pend[i].src, 6);
		uint32_t seq = s->endless ? s->next_seq++ : s->pend[i].seq;
		memcpy(d + 14, &seq, 4);
		b->data_len = b->pkt_len = 60;
		pkts[k++] = b;
	}
	pthread_mutex_unlock(&s->lock);
	return k;
}

static uint16_t stub_tx(struct hl_sw_port *p, struct hl_buf **pkts, uint16_t n, uint64_t *bytes)
{
	struct stub *s = (struct stub *)p;
	uint16_t took = 0;
	pthread_mutex_lock(&s->lock);
	if (s->closed)
		s->log->after_close++;
	if (__atomic_load_n(&s->in_reset, __ATOMIC_ACQUIRE))
		s->log->during_reset++;
	for (uint16_t k = 0; k < n; k++) {
		if (took < s->accept) {
			const uint8_t *d = hl_buf_data(pkts[k]);
			unsigned i = s->log->ngot < MAX_REC ? s->log->ngot : MAX_REC - 1;
			memcpy(s->log->got[i].dst, d, 6);
			memcpy(s->log->got[i].src, d + 6, 6);
			memcpy(&s->log->got[i].seq, d + 14, 4);
			s->log->ngot++;
			*bytes += pkts[k]->pkt_len;
			took++;
		} else {
			s->log->refused++;
		}
		hl_buf_free(pkts[k]); /* taken or not, the reference is the port's to drop */
	}
	pthread_mutex_unlock(&s->lock);
	return took;
}

/* Kept until the test ends, so a call after close is counted rather than a read of freed memory. */
static struct stub *graveyard[256];
static unsigned ngrave;

static void stub_close(struct hl_sw_port *p)
{
	struct stub *s = (struct stub *)p;
	pthread_mutex_lock(&s->lock);
	s->closed = 1;
	s->log->closes++;
	pthread_mutex_unlock(&s->lock);
	graveyard[ngrave++ % 256] = s;
}

static bool stub_needs_reset(struct hl_sw_port *p)
{
	return __atomic_exchange_n(&((struct stub *)p)->want_reset, 0, __ATOMIC_ACQ_REL) != 0;
}

/* Long enough for a worker that still held the port to be caught calling it. */
static int stub_reset(struct hl_sw_port *p, const char *why)
{
	struct stub *s = (struct stub *)p;
	(void)why;
	__atomic_store_n(&s->in_reset, 1, __ATOMIC_RELEASE);
	usleep(2000);
	s->log->resets++;
	__atomic_store_n(&s->in_reset, 0, __ATOMIC_RELEASE);
	return 0;
}

static const struct hl_sw_port_ops stub_ops = {
	.kind = "stub", .rx = stub_rx, .tx = stub_tx, .close = stub_close, .max_sleep_ms = 1};
/* the same, with a reset */
static const struct hl_sw_port_ops stub_reset_ops = {
	.kind = "stub", .rx = stub_rx, .tx = stub_tx, .close = stub_close, .needs_reset = stub_needs_reset,
	.reset = stub_reset, .max_sleep_ms = 1};

static struct stub *stub_new(const char *name, struct stub_log *log)
{
	struct stub *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->base.ops = &stub_ops;
	snprintf(s->base.name, sizeof(s->base.name), "%s", name);
	pthread_mutex_init(&s->lock, NULL);
	s->log = log;
	s->accept = UINT32_MAX;
	return s;
}

static void graveyard_free(void)
{
	for (unsigned i = 0; i < ngrave && i < 256; i++) {
		pthread_mutex_destroy(&graveyard[i]->lock);
		free(graveyard[i]);
	}
	ngrave = 0;
}

static void mac(uint8_t m[6], uint8_t last)
{
	memcpy(m, (uint8_t[6]){0x02, 0x68, 0, 0, 0, last}, 6);
}

static void send_from(struct stub *s, const uint8_t dst[6], const uint8_t src[6], uint32_t seq)
{
	pthread_mutex_lock(&s->lock);
	unsigned i = s->npend++;
	memcpy(s->pend[i].dst, dst, 6);
	memcpy(s->pend[i].src, src, 6);
	s->pend[i].seq = seq;
	pthread_mutex_unlock(&s->lock);
}

static unsigned got_of(struct stub *s)
{
	pthread_mutex_lock(&s->lock);
	unsigned n = s->log->ngot;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* Wait until the switch received every queued frame and moved them on (bounded). */
static void settle(struct hl_switch *sw, struct stub **st, unsigned n)
{
	for (int spin = 0; spin < 2000; spin++) {
		unsigned left = 0;
		for (unsigned i = 0; i < n; i++) {
			pthread_mutex_lock(&st[i]->lock);
			left += st[i]->npend - st[i]->pend_at;
			pthread_mutex_unlock(&st[i]->lock);
		}
		if (left == 0 && hl_bufpool_in_use(bp) == 0)
			break;
		hl_switch_ctrl(sw);
		usleep(1000);
	}
}

/* Frames port i received with sequence number seq. */
static unsigned count_seq(const struct stub_log *l, uint32_t seq)
{
	unsigned n = 0;
	for (unsigned i = 0; i < l->ngot && i < MAX_REC; i++)
		n += l->got[i].seq == seq;
	return n;
}

#define NP 4
static struct hl_switch *sw;
static struct stub *ports[NP];
static struct stub_log logs[NP];
static uint8_t M[NP][6], X[6]; /* port i's own MAC; a MAC nobody has */

static void four_ports(unsigned workers)
{
	HL_TEST_NEED(access("/dev/hugepages", F_OK) == 0, "hugetlbfs at /dev/hugepages");
	if (pool == NULL)
		REQUIRE_OK(pool_with_bufs(hl_test_tmpdir(), "sturdysw", 32 << 20, 4096, &pool, &bp));
	struct hl_switch_params sp = {.bp = bp, .workers = workers, .first_cpu = -1};
	REQUIRE_OK(hl_switch_create(&sp, &sw));
	memset(logs, 0, sizeof(logs));
	mac(X, 0x99);
	for (unsigned i = 0; i < NP; i++) {
		mac(M[i], (uint8_t)(0xa0 + i));
		char name[16];
		snprintf(name, sizeof(name), "p%u", i);
		ports[i] = stub_new(name, &logs[i]);
		REQUIRE(ports[i] != NULL);
		REQUIRE_OK(hl_switch_add_port(sw, &ports[i]->base));
	}
}

static void teardown(void)
{
	hl_switch_destroy(sw); /* closes the ports still in it */
	sw = NULL;
	for (unsigned i = 0; i < NP; i++) {
		CHECK_EQ(logs[i].closes, 1);
		CHECK_EQ(logs[i].after_close, 0);
	}
	graveyard_free();
	CHECK_EQ(hl_bufpool_in_use(bp), 0);
}

static struct hl_sw_port_stats pstats(unsigned i)
{
	struct hl_sw_port_stats st;
	hl_switch_port_stats(sw, &ports[i]->base, &st);
	return st;
}

HL_TEST(unknown_destination_floods_all_but_the_ingress_port)
{
	uint8_t a[6], x[6];
	four_ports(1);
	mac(a, 0xa0);
	mac(x, 0x99); /* nobody's */
	for (uint32_t seq = 1; seq <= 5; seq++)
		send_from(ports[0], x, a, seq);
	settle(sw, ports, NP);
	CHECK_EQ(logs[0].ngot, 0);
	for (unsigned i = 1; i < NP; i++) {
		CHECK_EQ(logs[i].ngot, 5);
		for (uint32_t seq = 1; seq <= 5; seq++)
			CHECK_EQ(count_seq(&logs[i], seq), 1);
	}
	CHECK_EQ(pstats(0).rx_packets, 5);
	CHECK_EQ(pstats(0).tx_packets, 0);
	CHECK_EQ(pstats(2).tx_packets, 5);
	teardown();
}

HL_TEST(sources_are_learned_and_known_destinations_go_to_one_port)
{
	uint8_t m[NP][6], x[6];
	four_ports(1);
	mac(x, 0x99);
	for (unsigned i = 0; i < NP; i++) {
		mac(m[i], (uint8_t)(0xa0 + i));
		send_from(ports[i], x, m[i], 100 + i); /* each port announces its MAC by flooding */
		settle(sw, ports, NP);
	}
	unsigned before[NP];
	for (unsigned i = 0; i < NP; i++)
		before[i] = got_of(ports[i]);
	/* every port to every other, by MAC: one copy, to that port alone */
	uint32_t seq = 1000;
	for (unsigned from = 0; from < NP; from++)
		for (unsigned to = 0; to < NP; to++)
			if (to != from)
				send_from(ports[from], m[to], m[from], seq++);
	settle(sw, ports, NP);
	for (unsigned i = 0; i < NP; i++) {
		CHECK_EQ(got_of(ports[i]) - before[i], NP - 1);
		for (unsigned k = before[i]; k < logs[i].ngot; k++)
			CHECK(memcmp(logs[i].got[k].dst, m[i], 6) == 0);
	}
	CHECK_EQ(hl_mac_lookup(hl_switch_mac_table(sw), m[2], hl_fast_ns()), ports[2]->base.id);
	/* a MAC that moves is learned where it is now */
	send_from(ports[3], x, m[1], 2000);
	settle(sw, ports, NP);
	unsigned b1 = got_of(ports[1]), b3 = got_of(ports[3]);
	send_from(ports[0], m[1], m[0], 2001);
	settle(sw, ports, NP);
	CHECK_EQ(got_of(ports[3]) - b3, 1);
	CHECK_EQ(got_of(ports[1]) - b1, 0);
	teardown();
}

HL_TEST(nothing_goes_back_out_of_its_ingress_port)
{
	four_ports(1);
	/* M[1] lives behind port 0 too: a frame from port 0 to M[1] has nowhere to go */
	send_from(ports[0], X, M[0], 1);
	send_from(ports[0], X, M[1], 2);
	settle(sw, ports, NP);
	unsigned before[NP];
	for (unsigned i = 0; i < NP; i++)
		before[i] = got_of(ports[i]);
	uint64_t drops = pstats(0).drops[HL_SW_DROP_NO_PORT];
	for (uint32_t seq = 10; seq < 20; seq++)
		send_from(ports[0], M[1], M[0], seq);
	settle(sw, ports, NP);
	for (unsigned i = 0; i < NP; i++)
		CHECK_EQ(got_of(ports[i]) - before[i], 0);
	CHECK_EQ(pstats(0).drops[HL_SW_DROP_NO_PORT] - drops, 10);
	CHECK_EQ(logs[0].ngot, 0); /* not one frame of the floods either */
	teardown();
}

HL_TEST(broadcast_and_multicast_reach_every_other_port)
{
	uint8_t m0[6], m2[6], bc[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, mc[6] = {0x01, 0x00, 0x5e, 0, 0, 1};
	four_ports(1);
	mac(m0, 0xa0);
	mac(m2, 0xa2);
	send_from(ports[2], bc, m2, 1); /* m2 learned on port 2 */
	settle(sw, ports, NP);
	send_from(ports[0], bc, m0, 2);
	send_from(ports[0], mc, m0, 3);
	/* a multicast source is never learned: a frame to it floods */
	send_from(ports[1], bc, mc, 4);
	settle(sw, ports, NP);
	send_from(ports[3], mc, m0, 5);
	settle(sw, ports, NP);
	const unsigned want[][NP] = {
		{1, 1, 0, 1}, /* seq 1 from port 2 */
		{0, 1, 1, 1}, /* seq 2 from 0 */
		{0, 1, 1, 1}, /* seq 3 from 0 */
		{1, 0, 1, 1}, /* seq 4 from 1 */
		{1, 1, 1, 0}, /* seq 5 from 3 */
	};
	for (uint32_t seq = 1; seq <= 5; seq++)
		for (unsigned i = 0; i < NP; i++)
			CHECK_EQ(count_seq(&logs[i], seq), want[seq - 1][i]);
	CHECK_EQ(hl_mac_lookup(hl_switch_mac_table(sw), mc, hl_fast_ns()), -1);
	teardown();
}

HL_TEST(a_port_refusing_frames_costs_drops_not_buffers)
{
	four_ports(1);
	send_from(ports[1], X, M[1], 1);
	settle(sw, ports, NP);
	pthread_mutex_lock(&ports[1]->lock);
	ports[1]->accept = 3; /* of each burst, three frames */
	pthread_mutex_unlock(&ports[1]->lock);
	pthread_mutex_lock(&ports[2]->lock);
	ports[2]->accept = 0; /* a ring that stays full */
	pthread_mutex_unlock(&ports[2]->lock);
	unsigned b1 = got_of(ports[1]);
	/* one burst of 10 to M[1] (known, port 1), then 10 floods */
	for (uint32_t seq = 10; seq < 20; seq++)
		send_from(ports[0], M[1], M[0], seq);
	settle(sw, ports, NP);
	for (uint32_t seq = 20; seq < 30; seq++)
		send_from(ports[0], X, M[0], seq);
	settle(sw, ports, NP);
	struct hl_sw_port_stats s1 = pstats(1), s2 = pstats(2), s3 = pstats(3);
	unsigned took1 = got_of(ports[1]) - b1;
	CHECK(took1 >= 6 && took1 < 20);
	CHECK_EQ(logs[1].refused + took1, 20);
	CHECK_EQ(s1.drops[HL_SW_DROP_TX_FULL], logs[1].refused);
	/* port 2 took the announcement of M[1] only, before it filled up */
	CHECK_EQ(logs[2].ngot, 1);
	CHECK_EQ(logs[2].refused, 10);
	CHECK_EQ(s2.drops[HL_SW_DROP_TX_FULL], 10);
	CHECK_EQ(s2.tx_packets, 1);
	CHECK_EQ(s3.drops[HL_SW_DROP_TX_FULL], 0);
	CHECK_EQ(s3.tx_packets, 11);
	CHECK_EQ(s1.tx_packets, took1);
	CHECK_EQ(hl_bufpool_in_use(bp), 0);
	teardown();
}

/*
 * Port 0 floods without pause while the control thread deletes and re-adds
 * the others: the workers must never call a port after its close, every
 * flood copy bound for a deleted port is freed, and the pool ends empty.
 */
static void deletion_under_traffic(unsigned workers)
{
	uint8_t m0[6], x[6];
	struct stub_log extra[3];
	four_ports(workers);
	memset(extra, 0, sizeof(extra));
	mac(m0, 0xa0);
	mac(x, 0x99);
	pthread_mutex_lock(&ports[0]->lock);
	memcpy(ports[0]->pend[0].dst, x, 6);
	memcpy(ports[0]->pend[0].src, m0, 6);
	ports[0]->npend = 1;
	ports[0]->endless = 1;
	pthread_mutex_unlock(&ports[0]->lock);
	unsigned dels = 0, delivered = 0;
	for (unsigned round = 0; round < 60; round++) {
		unsigned victim = 1 + round % 3;
		char name[16];
		usleep(2000);
		snprintf(name, sizeof(name), "p%u", victim);
		REQUIRE_OK(hl_switch_del_port(sw, name));
		dels++;
		/* the deleted port's log still counts: nothing may reach it from here on */
		struct stub_log *l = ports[victim]->log;
		unsigned frozen = l->ngot;
		usleep(1000);
		CHECK_EQ(l->ngot, frozen);
		delivered += frozen;
		/* a fresh port under the same name, logging apart */
		struct stub_log *nl = round < 57 ? &logs[victim] : &extra[victim - 1];
		memset(nl, 0, sizeof(*nl));
		ports[victim] = stub_new(name, nl);
		REQUIRE(ports[victim] != NULL);
		REQUIRE_OK(hl_switch_add_port(sw, &ports[victim]->base));
		hl_switch_ctrl(sw);
	}
	usleep(5000);
	pthread_mutex_lock(&ports[0]->lock);
	ports[0]->endless = 0;
	ports[0]->npend = ports[0]->pend_at = 0;
	uint32_t made = ports[0]->next_seq;
	pthread_mutex_unlock(&ports[0]->lock);
	CHECK(made > 1000); /* traffic flowed throughout */
	CHECK(delivered > 0);
	CHECK_EQ(dels, 60);
	hl_switch_destroy(sw);
	sw = NULL;
	unsigned after = 0, closes = 0;
	for (unsigned i = 0; i < ngrave && i < 256; i++) {
		after += graveyard[i]->log->after_close;
		closes++;
	}
	CHECK_EQ(after, 0);
	CHECK_EQ(closes, 60 + NP);
	graveyard_free();
	CHECK_EQ(hl_bufpool_in_use(bp), 0);
}

HL_TEST(ports_deleted_while_forwarding_one_worker)
{
	deletion_under_traffic(1);
}

HL_TEST(ports_deleted_while_forwarding_two_workers)
{
	deletion_under_traffic(2);
}

/*
 * Ports reset under traffic, on request and because they asked: never
 * called by a worker while the reset runs, and forwarding again after.
 */
HL_TEST(ports_reset_under_traffic_are_out_of_the_workers_reach)
{
	four_ports(2);
	for (unsigned i = 1; i < NP; i++)
		ports[i]->base.ops = &stub_reset_ops; /* no traffic yet: the workers see one stub or the other */
	pthread_mutex_lock(&ports[0]->lock);
	memcpy(ports[0]->pend[0].dst, X, 6);
	memcpy(ports[0]->pend[0].src, M[0], 6);
	ports[0]->npend = 1;
	ports[0]->endless = 1;
	pthread_mutex_unlock(&ports[0]->lock);
	CHECK_EQ(hl_switch_reset_port(sw, "p0", "test"), -EOPNOTSUPP);
	CHECK_EQ(hl_switch_reset_port(sw, "nosuch", "test"), -ENOENT);
	for (unsigned round = 0; round < 30; round++) {
		char name[8];
		snprintf(name, sizeof(name), "p%u", 1 + round % 3);
		CHECK_EQ(hl_switch_reset_port(sw, name, "test"), 0);
		usleep(1000);
	}
	/* one that asks for it: the control loop resets it */
	__atomic_store_n(&ports[2]->want_reset, 1, __ATOMIC_RELEASE);
	hl_switch_ctrl(sw);
	unsigned before = got_of(ports[3]);
	usleep(20000);
	CHECK(got_of(ports[3]) > before); /* still forwarding */
	pthread_mutex_lock(&ports[0]->lock);
	ports[0]->endless = 0;
	ports[0]->npend = ports[0]->pend_at = 0;
	pthread_mutex_unlock(&ports[0]->lock);
	CHECK_EQ(logs[1].resets, 10);
	CHECK_EQ(logs[2].resets, 11);
	CHECK_EQ(logs[3].resets, 10);
	for (unsigned i = 1; i < NP; i++)
		CHECK_EQ(logs[i].during_reset, 0);
	CHECK_EQ(hl_mac_lookup(hl_switch_mac_table(sw), M[0], hl_fast_ns()), 0); /* the MAC table kept */
	teardown();
}

/* last: nothing of the pool may be left */
HL_TEST(pool_released)
{
	REQUIRE(pool != NULL);
	CHECK_EQ(hl_bufpool_in_use(bp), 0);
	hl_bufpool_free(bp);
	hl_pool_destroy(pool);
	pool = NULL;
}
