/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * MAC learning table: learn, look up and move; aging on an injected clock
 * (with the refresh interval); flushing a port; a full table; sources that
 * must not be learned; chains through deleted slots; thousands of random
 * operations checked against a plain model; and data-path threads learning
 * and looking up while the control thread ages, flushes and dumps, where no
 * lookup may ever return a port its MAC was not learned on.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <hugelink/mac_table.h>

#include "hl_test.h"

#define MS 1000000ull
#define SEC (1000 * MS)
#define T0 (1000 * SEC) /* a clock that is not near zero */

static void mac_of(unsigned i, uint8_t mac[6])
{
	mac[0] = 0x02; /* locally administered unicast */
	mac[1] = 0x68;
	mac[2] = (uint8_t)(i >> 24);
	mac[3] = (uint8_t)(i >> 16);
	mac[4] = (uint8_t)(i >> 8);
	mac[5] = (uint8_t)i;
}

static struct hl_mac_stats stats(const struct hl_mac_table *t)
{
	struct hl_mac_stats st;
	hl_mac_table_stats(t, &st);
	return st;
}

/* xorshift64*: a fixed seed keeps failures reproducible */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1Dull;
}

HL_TEST(create_refuses_bad_input)
{
	struct hl_mac_table *t = (void *)1;

	CHECK_EQ(hl_mac_table_create(0, SEC, &t), -EINVAL);
	CHECK(t == NULL);
	CHECK_STR_HAS(hl_last_error(), "capacity");
	CHECK_EQ(hl_mac_table_create(HL_MAC_TABLE_MAX_CAPACITY + 1, SEC, &t), -EINVAL);
	CHECK_EQ(hl_mac_table_create(16, SEC, NULL), -EINVAL);
	REQUIRE_OK(hl_mac_table_create(1, SEC, &t));
	hl_mac_table_destroy(t);
	hl_mac_table_destroy(NULL);

	/* NULL table or MAC: refused, never a crash */
	uint8_t a[6];
	mac_of(1, a);
	CHECK_EQ(hl_mac_learn(NULL, a, 1, T0), -EINVAL);
	CHECK_EQ(hl_mac_lookup(NULL, a, T0), -1);
	CHECK_EQ(hl_mac_age(NULL, T0), 0);
	CHECK_EQ(hl_mac_flush_port(NULL, 1), 0);
	CHECK_EQ(hl_mac_dump(NULL, T0, NULL, 4), 0);
}

HL_TEST(learn_lookup_move)
{
	struct hl_mac_table *t;
	uint8_t a[6], b[6], c[6];

	REQUIRE_OK(hl_mac_table_create(64, 10 * SEC, &t));
	mac_of(1, a);
	mac_of(2, b);
	mac_of(3, c);
	CHECK_EQ(hl_mac_lookup(t, a, T0), -1);
	CHECK_EQ(hl_mac_learn(t, a, 3, T0), 0);
	CHECK_EQ(hl_mac_learn(t, b, 0, T0), 0);
	CHECK_EQ(hl_mac_lookup(t, a, T0), 3);
	CHECK_EQ(hl_mac_lookup(t, b, T0), 0);
	CHECK_EQ(hl_mac_lookup(t, c, T0), -1);
	/* seen again on the same port: nothing new */
	CHECK_EQ(hl_mac_learn(t, a, 3, T0 + 1), 0);
	CHECK_EQ(stats(t).learned, 2);
	CHECK_EQ(stats(t).moved, 0);
	CHECK_EQ(stats(t).last_move_port, -1);
	/* the station moved */
	CHECK_EQ(hl_mac_learn(t, a, 7, T0 + 2), 0);
	CHECK_EQ(hl_mac_lookup(t, a, T0 + 2), 7);
	CHECK_EQ(hl_mac_lookup(t, b, T0 + 2), 0);
	CHECK_EQ(stats(t).moved, 1);
	CHECK_EQ(stats(t).last_move_port, 7);
	CHECK_EQ(memcmp(stats(t).last_move_mac, a, 6), 0);
	CHECK_EQ(stats(t).entries, 2);
	/* the highest port that fits, and one past it */
	CHECK_EQ(hl_mac_learn(t, c, HL_MAC_PORT_MAX, T0), 0);
	CHECK_EQ(hl_mac_lookup(t, c, T0), HL_MAC_PORT_MAX);
	CHECK_EQ(hl_mac_learn(t, c, HL_MAC_PORT_MAX + 1, T0), -EINVAL);
	CHECK_EQ(hl_mac_lookup(t, c, T0), HL_MAC_PORT_MAX);
	CHECK_EQ(stats(t).entries, 3);
	CHECK_EQ(stats(t).invalid, 1);
	hl_mac_table_destroy(t);
}

HL_TEST(multicast_broadcast_zero_not_learned)
{
	struct hl_mac_table *t;
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t mcast[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
	static const uint8_t v6mc[6] = {0x33, 0x33, 0x00, 0x00, 0x00, 0x01};
	static const uint8_t zero[6] = {0};

	REQUIRE_OK(hl_mac_table_create(16, SEC, &t));
	CHECK_EQ(hl_mac_learn(t, bcast, 1, T0), -EINVAL);
	CHECK_EQ(hl_mac_learn(t, mcast, 1, T0), -EINVAL);
	CHECK_EQ(hl_mac_learn(t, v6mc, 1, T0), -EINVAL);
	CHECK_EQ(hl_mac_learn(t, zero, 1, T0), -EINVAL);
	CHECK_EQ(stats(t).entries, 0);
	CHECK_EQ(stats(t).learned, 0);
	CHECK_EQ(stats(t).invalid, 4);
	CHECK_EQ(hl_mac_lookup(t, bcast, T0), -1);
	CHECK_EQ(hl_mac_lookup(t, mcast, T0), -1);
	CHECK_EQ(hl_mac_lookup(t, zero, T0), -1);

	/* a deleted slot holds the tombstone: broadcast must still miss */
	uint8_t a[6];
	mac_of(9, a);
	CHECK_EQ(hl_mac_learn(t, a, 0xFFFE, T0), 0);
	CHECK_EQ(hl_mac_flush_port(t, 0xFFFE), 1);
	CHECK_EQ(hl_mac_lookup(t, bcast, T0), -1);
	CHECK_EQ(hl_mac_lookup(t, a, T0), -1);
	hl_mac_table_destroy(t);
}

HL_TEST(aging_on_injected_clock)
{
	struct hl_mac_table *t;
	const uint64_t aging = 10 * SEC;
	uint8_t a[6], b[6];

	REQUIRE_OK(hl_mac_table_create(64, aging, &t));
	mac_of(10, a);
	mac_of(11, b);
	CHECK_EQ(hl_mac_learn(t, a, 1, T0), 0);
	CHECK_EQ(hl_mac_learn(t, b, 2, T0 + 5 * SEC), 0);
	CHECK_EQ(hl_mac_lookup(t, a, T0 + aging), 1);      /* exactly the aging time: kept */
	CHECK_EQ(hl_mac_lookup(t, a, T0 + aging + 1), -1); /* older: gone for lookups */
	CHECK_EQ(hl_mac_lookup(t, b, T0 + aging + 1), 2);
	CHECK_EQ(hl_mac_age(t, T0 + aging), 0);
	CHECK_EQ(stats(t).entries, 2);
	CHECK_EQ(hl_mac_age(t, T0 + aging + 1), 1);
	CHECK_EQ(stats(t).entries, 1);
	CHECK_EQ(stats(t).expired, 1);
	CHECK_EQ(hl_mac_lookup(t, a, T0 + aging + 1), -1);
	CHECK_EQ(hl_mac_lookup(t, b, T0 + aging + 1), 2);

	/* seen again within the refresh interval: the timestamp stays put */
	uint64_t t1 = T0 + 100 * SEC;
	CHECK_EQ(hl_mac_learn(t, a, 1, t1), 0);
	CHECK_EQ(hl_mac_learn(t, a, 1, t1 + MS / 2), 0);
	CHECK_EQ(hl_mac_lookup(t, a, t1 + aging + 1), -1);
	/* beyond it: refreshed */
	CHECK_EQ(hl_mac_learn(t, a, 1, t1 + 2 * MS), 0);
	CHECK_EQ(hl_mac_lookup(t, a, t1 + aging + 1), 1);
	CHECK_EQ(hl_mac_lookup(t, a, t1 + 2 * MS + aging + 1), -1);

	/* expired but not yet aged out: seeing it again brings it back */
	CHECK_EQ(hl_mac_learn(t, a, 1, t1 + 3 * aging), 0);
	CHECK_EQ(hl_mac_lookup(t, a, t1 + 3 * aging), 1);

	/* a clock that stepped back a little counts as age 0 */
	CHECK_EQ(hl_mac_lookup(t, a, t1 + 3 * aging - SEC), 1);

	/* the dump reports ages */
	struct hl_mac_entry e[4];
	CHECK_EQ(hl_mac_dump(t, t1 + 3 * aging + 7, e, 4), 1);
	CHECK_EQ(memcmp(e[0].mac, a, 6), 0);
	CHECK_EQ(e[0].port, 1);
	CHECK_EQ(e[0].age_ns, 7);
	hl_mac_table_destroy(t);

	/* aging 0: nothing ever expires */
	REQUIRE_OK(hl_mac_table_create(8, 0, &t));
	CHECK_EQ(hl_mac_learn(t, a, 4, T0), 0);
	CHECK_EQ(hl_mac_lookup(t, a, UINT64_MAX), 4);
	CHECK_EQ(hl_mac_age(t, UINT64_MAX), 0);
	CHECK_EQ(stats(t).entries, 1);
	hl_mac_table_destroy(t);
}

HL_TEST(flush_port)
{
	struct hl_mac_table *t;
	uint8_t m[6];

	REQUIRE_OK(hl_mac_table_create(64, SEC, &t));
	for (unsigned i = 0; i < 20; i++) {
		mac_of(100 + i, m);
		CHECK_EQ(hl_mac_learn(t, m, (uint16_t)(1 + i % 2), T0), 0);
	}
	CHECK_EQ(hl_mac_flush_port(t, 3), 0);
	CHECK_EQ(hl_mac_flush_port(t, 0xFFFF), 0);
	CHECK_EQ(hl_mac_flush_port(t, 1), 10);
	CHECK_EQ(stats(t).entries, 10);
	for (unsigned i = 0; i < 20; i++) {
		mac_of(100 + i, m);
		CHECK_EQ(hl_mac_lookup(t, m, T0), i % 2 ? 2 : -1);
	}
	CHECK_EQ(hl_mac_flush_port(t, 1), 0);
	CHECK_EQ(hl_mac_flush_port(t, 2), 10);
	CHECK_EQ(stats(t).entries, 0);
	/* a flush is not aging */
	CHECK_EQ(stats(t).expired, 0);
	hl_mac_table_destroy(t);
}

HL_TEST(full_table)
{
	struct hl_mac_table *t;
	uint8_t m[6];

	REQUIRE_OK(hl_mac_table_create(5, SEC, &t)); /* room for 8 */
	for (unsigned i = 0; i < 8; i++) {
		mac_of(200 + i, m);
		CHECK_EQ(hl_mac_learn(t, m, 1, T0), 0);
	}
	mac_of(300, m);
	CHECK_EQ(hl_mac_learn(t, m, 1, T0), -ENOSPC);
	CHECK_EQ(hl_mac_learn(t, m, 1, T0), -ENOSPC);
	CHECK_EQ(stats(t).full, 2);
	CHECK_EQ(stats(t).entries, 8);
	CHECK_EQ(hl_mac_lookup(t, m, T0), -1);
	/* known MACs still refresh and move in a full table */
	uint8_t k[6];
	mac_of(203, k);
	CHECK_EQ(hl_mac_learn(t, k, 1, T0 + 5 * MS), 0);
	CHECK_EQ(hl_mac_learn(t, k, 2, T0 + 6 * MS), 0);
	CHECK_EQ(hl_mac_lookup(t, k, T0 + 6 * MS), 2);
	/* room again once a port's entries go */
	CHECK_EQ(hl_mac_flush_port(t, 2), 1);
	CHECK_EQ(hl_mac_learn(t, m, 1, T0), 0);
	CHECK_EQ(hl_mac_lookup(t, m, T0), 1);
	CHECK_EQ(stats(t).full, 2);
	/* and once entries age out */
	CHECK_EQ(hl_mac_age(t, T0 + SEC + 1), 8);
	CHECK_EQ(stats(t).entries, 0);
	for (unsigned i = 0; i < 8; i++) {
		mac_of(400 + i, m);
		CHECK_EQ(hl_mac_learn(t, m, 3, T0 + 2 * SEC), 0);
	}
	CHECK_EQ(stats(t).entries, 8);
	hl_mac_table_destroy(t);
}

/*
 * A table of 8 slots, half full: chains are long and wrap. Deleting from
 * their middle (flushing a port) must leave the entries behind reachable,
 * and the freed slots must be usable again, round after round.
 */
HL_TEST(chain_survives_deletions)
{
	struct hl_mac_table *t;
	uint8_t m[6];
	unsigned id[6];
	uint64_t s = 42;

	REQUIRE_OK(hl_mac_table_create(4, SEC, &t));
	/* random MACs: consecutive ones would spread evenly and never collide */
	for (unsigned round = 0; round < 200; round++) {
		for (unsigned i = 0; i < 6; i++)
			id[i] = (unsigned)rnd(&s) | 1u << 31; /* distinct from each other w.h.p. */
		for (unsigned i = 0; i < 4; i++) {
			mac_of(id[i], m);
			CHECK_EQ(hl_mac_learn(t, m, (uint16_t)(i % 2), T0), 0);
		}
		CHECK_EQ(hl_mac_flush_port(t, 1), 2);
		for (unsigned i = 0; i < 4; i++) {
			mac_of(id[i], m);
			CHECK_EQ(hl_mac_lookup(t, m, T0), i % 2 ? -1 : 0);
		}
		/* the freed room is usable, and the survivors are still found */
		for (unsigned i = 4; i < 6; i++) {
			mac_of(id[i], m);
			CHECK_EQ(hl_mac_learn(t, m, 2, T0), 0);
			CHECK_EQ(hl_mac_lookup(t, m, T0), 2);
		}
		for (unsigned i = 0; i < 6; i++) {
			mac_of(id[i], m);
			CHECK_EQ(hl_mac_lookup(t, m, T0), i >= 4 ? 2 : i % 2 ? -1 : 0);
		}
		CHECK_EQ(stats(t).entries, 4);
		CHECK_EQ(hl_mac_flush_port(t, 0) + hl_mac_flush_port(t, 2), 4);
		CHECK_EQ(stats(t).entries, 0);
		if (hl_test_failed())
			break;
	}
	hl_mac_table_destroy(t);
}

/* ---- the table against a model ------------------------------------------ */

struct model_ent {
	bool present;
	uint16_t port;
	uint64_t seen;
};

struct model {
	struct model_ent *e;
	unsigned universe, capacity, count;
	uint64_t aging, refresh;
	uint64_t learned, moved, full, expired;
};

static bool model_old(const struct model *md, uint64_t seen, uint64_t now)
{
	return md->aging && now > seen && now - seen > md->aging;
}

static int model_learn(struct model *md, unsigned i, uint16_t port, uint64_t now)
{
	struct model_ent *e = &md->e[i];

	if (e->present) {
		if (e->port == port) {
			if (now > e->seen && now - e->seen > md->refresh)
				e->seen = now;
		} else {
			e->port = port;
			e->seen = now;
			md->moved++;
		}
		return 0;
	}
	if (md->count >= md->capacity) {
		md->full++;
		return -ENOSPC;
	}
	*e = (struct model_ent){true, port, now};
	md->count++;
	md->learned++;
	return 0;
}

static int model_lookup(const struct model *md, unsigned i, uint64_t now)
{
	const struct model_ent *e = &md->e[i];
	return e->present && !model_old(md, e->seen, now) ? e->port : -1;
}

static unsigned model_age(struct model *md, uint64_t now)
{
	unsigned n = 0;
	for (unsigned i = 0; i < md->universe; i++)
		if (md->e[i].present && model_old(md, md->e[i].seen, now)) {
			md->e[i].present = false;
			n++;
		}
	md->count -= n;
	md->expired += n;
	return n;
}

static unsigned model_flush(struct model *md, uint16_t port)
{
	unsigned n = 0;
	for (unsigned i = 0; i < md->universe; i++)
		if (md->e[i].present && md->e[i].port == port) {
			md->e[i].present = false;
			n++;
		}
	md->count -= n;
	return n;
}

/* Every lookup, the dump and the counters agree with the model; false on the first miss. */
static bool model_compare(struct hl_mac_table *t, const struct model *md, uint64_t now)
{
	uint8_t m[6];
	unsigned live = 0;

	for (unsigned i = 0; i < md->universe; i++) {
		mac_of(i, m);
		int want = model_lookup(md, i, now);
		int got = hl_mac_lookup(t, m, now);
		live += want >= 0;
		if (got != want) {
			hl_test_fail(__FILE__, __LINE__, "MAC %u: lookup %d, model %d", i, got, want);
			return false;
		}
	}
	struct hl_mac_entry *d = calloc(md->universe + 1, sizeof(*d));
	unsigned nd = hl_mac_dump(t, now, d, md->universe + 1);
	bool ok = nd == live;
	for (unsigned k = 0; ok && k < nd; k++) {
		unsigned i = (unsigned)d[k].mac[4] << 8 | d[k].mac[5];
		mac_of(i, m);
		ok = i < md->universe && memcmp(m, d[k].mac, 6) == 0 &&
		     (int)d[k].port == model_lookup(md, i, now) &&
		     d[k].age_ns == (now > md->e[i].seen ? now - md->e[i].seen : 0);
	}
	free(d);
	if (!ok) {
		hl_test_fail(__FILE__, __LINE__, "dump: %u entries, model has %u live", nd, live);
		return false;
	}
	struct hl_mac_stats st = stats(t);
	if (st.entries != md->count || st.learned != md->learned || st.moved != md->moved ||
	    st.full != md->full || st.expired != md->expired) {
		hl_test_fail(__FILE__, __LINE__,
			     "stats: entries %u/%u learned %" PRIu64 "/%" PRIu64 " moved %" PRIu64
			     "/%" PRIu64 " full %" PRIu64 "/%" PRIu64 " expired %" PRIu64 "/%" PRIu64,
			     st.entries, md->count, st.learned, md->learned, st.moved, md->moved,
			     st.full, md->full, st.expired, md->expired);
		return false;
	}
	return true;
}

static void model_run(unsigned capacity, unsigned universe, unsigned ops, uint64_t seed)
{
	struct hl_mac_table *t;
	struct model md = {.universe = universe, .capacity = capacity, .aging = 50 * MS,
			   .refresh = MS};
	uint64_t now = T0, s = seed;
	uint8_t m[6];

	md.e = calloc(universe, sizeof(*md.e));
	REQUIRE_OK(hl_mac_table_create(capacity, md.aging, &t));
	for (unsigned op = 0; op < ops; op++) {
		now += rnd(&s) % (3 * MS);
		unsigned r = (unsigned)(rnd(&s) % 100);
		unsigned i = (unsigned)(rnd(&s) % universe);
		mac_of(i, m);
		if (r < 75) {
			/* mostly the port it was on, so refreshes happen as well as moves */
			uint16_t port = (uint16_t)(rnd(&s) % 8 == 0 ? rnd(&s) % 6 : i % 6);
			int want = model_learn(&md, i, port, now);
			int got = hl_mac_learn(t, m, port, now);
			if (got != want) {
				hl_test_fail(__FILE__, __LINE__, "op %u: learn MAC %u port %u: %d, model %d",
					     op, i, port, got, want);
				break;
			}
		} else if (r < 88) {
			if (hl_mac_lookup(t, m, now) != model_lookup(&md, i, now)) {
				hl_test_fail(__FILE__, __LINE__, "op %u: lookup MAC %u", op, i);
				break;
			}
		} else if (r < 96) {
			unsigned want = model_age(&md, now);
			CHECK_EQ(hl_mac_age(t, now), want);
		} else {
			uint16_t port = (uint16_t)(rnd(&s) % 6);
			CHECK_EQ(hl_mac_flush_port(t, port), model_flush(&md, port));
		}
		if ((op % 97 == 0 || op == ops - 1) && !model_compare(t, &md, now))
			break;
		if (hl_test_failed())
			break;
	}
	/* everything ages out, and every lookup misses again */
	now += 10 * md.aging;
	CHECK_EQ(hl_mac_age(t, now), model_age(&md, now));
	CHECK_EQ(stats(t).entries, 0);
	CHECK(model_compare(t, &md, now));
	CHECK(md.learned > 0 && md.moved > 0 && md.expired > 0);
	hl_mac_table_destroy(t);
	free(md.e);
}

HL_TEST(random_ops_match_model)
{
	model_run(64, 100, 20000, 0x1234567);       /* regularly full */
	model_run(4, 12, 5000, 0xfeedbeef);          /* chains wrap around 8 slots */
	model_run(256, 200, 10000, 0x9e3779b97f4aull); /* never full: long-lived tombstones */
}

/* ---- threads ------------------------------------------------------------- */

#define MT_THREADS 3
#define MT_UNIVERSE 1500 /* more MACs than room: inserts also fail for lack of space */
#define MT_CAPACITY 1024
#define MT_ITERS 400000

struct mt {
	struct hl_mac_table *t;
	uint64_t clock; /* atomic: virtual time, advanced by the control thread */
	unsigned bad;   /* atomic: lookups that returned a port never learned */
	unsigned errors; /* atomic: learns that failed other than -ENOSPC */
	unsigned hits;   /* atomic */
	unsigned done;   /* atomic: workers finished */
};

/* MAC i is learned only on one of these two ports. */
static bool mt_port_ok(unsigned i, int port)
{
	return port == (int)(i % 13) || port == (int)(i % 13) + 100;
}

struct mt_worker {
	struct mt *mt;
	uint64_t seed;
};

static void *mt_worker(void *arg)
{
	struct mt_worker *w = arg;
	struct mt *mt = w->mt;
	uint64_t s = w->seed;
	uint8_t m[6];
	unsigned hits = 0;

	for (unsigned it = 0; it < MT_ITERS; it++) {
		uint64_t now = __atomic_load_n(&mt->clock, __ATOMIC_RELAXED);
		uint64_t r = rnd(&s);
		unsigned i = (unsigned)(r % MT_UNIVERSE);
		mac_of(i, m);
		if ((r >> 32) % 4 == 0) {
			uint16_t port = (uint16_t)(i % 13 + ((r >> 40) & 1 ? 100 : 0));
			int rc = hl_mac_learn(mt->t, m, port, now);
			if (rc != 0 && rc != -ENOSPC)
				__atomic_fetch_add(&mt->errors, 1, __ATOMIC_RELAXED);
		} else {
			int port = hl_mac_lookup(mt->t, m, now);
			if (port >= 0 && !mt_port_ok(i, port))
				__atomic_fetch_add(&mt->bad, 1, __ATOMIC_RELAXED);
			hits += port >= 0;
		}
	}
	__atomic_fetch_add(&mt->hits, hits, __ATOMIC_RELAXED);
	__atomic_fetch_add(&mt->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* The dump has each MAC once, each on a port it was learned on. */
static bool mt_dump_ok(struct hl_mac_table *t, uint64_t now, unsigned *count)
{
	static struct hl_mac_entry d[MT_CAPACITY + 1];
	static uint8_t seen[MT_UNIVERSE];
	unsigned n = hl_mac_dump(t, now, d, MT_CAPACITY + 1);
	bool ok = n <= MT_CAPACITY;

	memset(seen, 0, sizeof(seen));
	for (unsigned k = 0; ok && k < n; k++) {
		unsigned i = (unsigned)d[k].mac[4] << 8 | d[k].mac[5];
		ok = i < MT_UNIVERSE && !seen[i] && mt_port_ok(i, d[k].port);
		if (ok)
			seen[i] = 1;
	}
	*count = n;
	return ok;
}

HL_TEST(threads_learn_and_lookup_while_aging)
{
	struct mt mt = {.clock = T0};
	pthread_t th[MT_THREADS];
	struct mt_worker w[MT_THREADS];
	unsigned sweeps = 0, dump_bad = 0, n;

	REQUIRE_OK(hl_mac_table_create(MT_CAPACITY, 20 * MS, &mt.t));
	for (unsigned k = 0; k < MT_THREADS; k++) {
		w[k] = (struct mt_worker){&mt, 0x51ed270b + 7919 * k};
		REQUIRE(pthread_create(&th[k], NULL, mt_worker, &w[k]) == 0);
	}
	/* control thread: time runs on, entries age, a port is deleted now and then */
	while (__atomic_load_n(&mt.done, __ATOMIC_ACQUIRE) < MT_THREADS) {
		uint64_t now = __atomic_add_fetch(&mt.clock, MS, __ATOMIC_RELAXED);
		hl_mac_age(mt.t, now);
		if (sweeps % 7 == 3)
			hl_mac_flush_port(mt.t, (uint16_t)(sweeps % 13));
		if (sweeps % 5 == 0 && !mt_dump_ok(mt.t, now, &n))
			dump_bad++;
		if (stats(mt.t).entries > MT_CAPACITY)
			dump_bad++;
		sweeps++;
	}
	for (unsigned k = 0; k < MT_THREADS; k++)
		pthread_join(th[k], NULL);

	CHECK_EQ(__atomic_load_n(&mt.bad, __ATOMIC_RELAXED), 0);
	CHECK_EQ(__atomic_load_n(&mt.errors, __ATOMIC_RELAXED), 0);
	CHECK_EQ(dump_bad, 0);
	struct hl_mac_stats st = stats(mt.t);
	CHECK(st.learned > 0);
	CHECK(st.moved > 0);
	CHECK(st.expired > 0);
	CHECK(mt.hits > 0);
	CHECK(sweeps > 0);
	/* quiet now: one sweep removes any stray copy, and the counter is exact */
	uint64_t now = mt.clock;
	hl_mac_age(mt.t, now);
	CHECK(mt_dump_ok(mt.t, now, &n));
	CHECK_EQ(n, stats(mt.t).entries);
	CHECK_EQ(hl_mac_age(mt.t, now + SEC), n);
	CHECK_EQ(stats(mt.t).entries, 0);
	uint8_t m[6];
	unsigned found = 0;
	for (unsigned i = 0; i < MT_UNIVERSE; i++) {
		mac_of(i, m);
		found += hl_mac_lookup(mt.t, m, now + SEC) >= 0;
	}
	CHECK_EQ(found, 0);
	printf("# %u control sweeps, %" PRIu64 " learned, %" PRIu64 " moved, %" PRIu64
	       " expired, %" PRIu64 " full\n",
	       sweeps, st.learned, st.moved, st.expired, st.full);
	hl_mac_table_destroy(mt.t);
}
