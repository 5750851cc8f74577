/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * VLANs: the MAC table keyed by VLAN and MAC (one MAC in two VLANs is two
 * entries; lookups racing with aging and flushing never answer with a port
 * of another VLAN), 802.1Q tags pushed and popped with offload metadata
 * that still segments right, and the switch against raw-frame stub ports:
 * access ports of one VLAN talk, another VLAN sees nothing of theirs, a
 * trunk gets their frames tagged, a guest's TSO frame leaves a trunk of
 * MTU 1500 as tagged 1518-byte segments, hostile tags are counted and
 * dropped, a trunk's native VLAN comes in and goes out untagged, a port's
 * membership changes in place (also while workers forward through it:
 * isolation holds, its MACs of VLANs left are forgotten), and no pool
 * buffer is left in use.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <hugelink/offload.h>
#include <hugelink/switch.h>

#include "hl_test.h"
#include "tcp_frame.h"
#include "../memory/pool_util.h"

static struct hl_pool *pool;
static struct hl_bufpool *bp;

static void need_pool(void)
{
	HL_TEST_NEED(access("/dev/hugepages", F_OK) == 0, "hugetlbfs at /dev/hugepages");
	if (pool == NULL)
		REQUIRE_OK(pool_with_bufs(hl_test_tmpdir(), "vlansw", 32 << 20, 4096, &pool, &bp));
}

static void mac(uint8_t m[6], uint8_t last)
{
	memcpy(m, (uint8_t[6]){0x02, 0x76, 0, 0, 0, last}, 6);
}

/* ---- the MAC table ------------------------------------------------------------ */

HL_TEST(mac_table_per_vlan)
{
	struct hl_mac_table *t;
	uint8_t a[6], b[6];
	const uint64_t T0 = 1000000000ull;
	mac(a, 1);
	mac(b, 2);
	REQUIRE_OK(hl_mac_table_create(64, 0, &t));

	/* one MAC on three VLANs: three entries, each with its own port */
	CHECK_EQ(hl_mac_learn_vlan(t, 10, a, 1, T0), 0);
	CHECK_EQ(hl_mac_learn_vlan(t, 20, a, 2, T0), 0);
	CHECK_EQ(hl_mac_learn(t, a, 3, T0), 0);
	CHECK_EQ(hl_mac_lookup_vlan(t, 10, a, T0), 1);
	CHECK_EQ(hl_mac_lookup_vlan(t, 20, a, T0), 2);
	CHECK_EQ(hl_mac_lookup_vlan(t, 0, a, T0), 3);
	CHECK_EQ(hl_mac_lookup(t, a, T0), 3);
	CHECK_EQ(hl_mac_lookup_vlan(t, 30, a, T0), -1);
	CHECK_EQ(hl_mac_lookup_vlan(t, 10, b, T0), -1);
	struct hl_mac_stats st;
	hl_mac_table_stats(t, &st);
	CHECK_EQ(st.entries, 3);
	CHECK_EQ(st.learned, 3);
	CHECK_EQ(st.moved, 0);

	/* a move in VLAN 20 leaves VLAN 10 alone, and is reported with its VLAN */
	CHECK_EQ(hl_mac_learn_vlan(t, 20, a, 5, T0 + 1), 0);
	CHECK_EQ(hl_mac_lookup_vlan(t, 20, a, T0 + 1), 5);
	CHECK_EQ(hl_mac_lookup_vlan(t, 10, a, T0 + 1), 1);
	hl_mac_table_stats(t, &st);
	CHECK_EQ(st.moved, 1);
	CHECK_EQ(st.last_move_port, 5);
	CHECK_EQ(st.last_move_vlan, 20);
	CHECK(memcmp(st.last_move_mac, a, 6) == 0);

	/* VLANs beyond 4094 are refused and counted, and never found */
	CHECK_EQ(hl_mac_learn_vlan(t, 4095, b, 1, T0), -EINVAL);
	CHECK_EQ(hl_mac_learn_vlan(t, 0xffff, b, 1, T0), -EINVAL);
	CHECK_EQ(hl_mac_lookup_vlan(t, 4095, b, T0), -1);
	CHECK_EQ(hl_mac_learn_vlan(t, 4094, b, 7, T0), 0);
	CHECK_EQ(hl_mac_lookup_vlan(t, 4094, b, T0), 7);
	hl_mac_table_stats(t, &st);
	CHECK_EQ(st.invalid, 2);

	/* the dump names each entry's VLAN */
	struct hl_mac_entry e[8];
	unsigned n = hl_mac_dump(t, T0 + 2, e, 8);
	CHECK_EQ(n, 4);
	unsigned seen = 0;
	for (unsigned i = 0; i < n; i++) {
		bool is_a = memcmp(e[i].mac, a, 6) == 0;
		if (is_a && e[i].vlan == 10 && e[i].port == 1)
			seen |= 1;
		if (is_a && e[i].vlan == 20 && e[i].port == 5)
			seen |= 2;
		if (is_a && e[i].vlan == 0 && e[i].port == 3)
			seen |= 4;
		if (!is_a && e[i].vlan == 4094 && e[i].port == 7)
			seen |= 8;
	}
	CHECK_EQ(seen, 15);

	/* flushing a port forgets its entries in every VLAN, no other */
	CHECK_EQ(hl_mac_learn_vlan(t, 30, b, 1, T0), 0);
	CHECK_EQ(hl_mac_flush_port(t, 1), 2);
	CHECK_EQ(hl_mac_lookup_vlan(t, 10, a, T0 + 2), -1);
	CHECK_EQ(hl_mac_lookup_vlan(t, 30, b, T0 + 2), -1);
	CHECK_EQ(hl_mac_lookup_vlan(t, 20, a, T0 + 2), 5);
	CHECK_EQ(hl_mac_lookup_vlan(t, 4094, b, T0 + 2), 7);

	/* a port that leaves VLANs forgets its MACs there, only there */
	uint64_t keep[64] = {0};
	keep[0] = 1ull << 20;
	CHECK_EQ(hl_mac_learn_vlan(t, 10, a, 5, T0), 0);
	CHECK_EQ(hl_mac_learn_vlan(t, 0, b, 5, T0), 0);
	CHECK_EQ(hl_mac_flush_port_vlans(t, 5, keep), 2);
	CHECK_EQ(hl_mac_lookup_vlan(t, 20, a, T0 + 2), 5);
	CHECK_EQ(hl_mac_lookup_vlan(t, 10, a, T0 + 2), -1);
	CHECK_EQ(hl_mac_lookup_vlan(t, 0, b, T0 + 2), -1);
	CHECK_EQ(hl_mac_lookup_vlan(t, 4094, b, T0 + 2), 7);
	keep[0] = 0;
	CHECK_EQ(hl_mac_flush_port_vlans(t, 5, keep), 1);
	CHECK_EQ(hl_mac_lookup_vlan(t, 20, a, T0 + 2), -1);

	/* a slot emptied and filled again over and over keeps key and port together */
	for (unsigned i = 0; i < 100; i++) {
		uint16_t v = (uint16_t)(100 + i % 7);
		CHECK_EQ(hl_mac_learn_vlan(t, v, b, (uint16_t)(100 + i % 50), T0), 0);
		CHECK_EQ(hl_mac_lookup_vlan(t, v, b, T0), (int)(100 + i % 50));
		CHECK_EQ(hl_mac_flush_port(t, (uint16_t)(100 + i % 50)), 1);
		CHECK_EQ(hl_mac_lookup_vlan(t, v, b, T0), -1);
	}
	hl_mac_table_destroy(t);
}

/*
 * Threads learn a few MACs in many VLANs, each VLAN v only on ports 2v and
 * 2v + 1, and look them up, while the control thread ages and flushes:
 * every answer must be one of the asked VLAN's ports.
 */
#define VT_VLANS 40
#define VT_MACS 24
#define VT_THREADS 2
struct vt {
	struct hl_mac_table *t;
	uint64_t clock;
	int stop;
	unsigned long wrong, found;
};

static void *vt_worker(void *arg)
{
	struct vt *x = arg;
	uint64_t s = 88172645463325252ull ^ (uint64_t)(uintptr_t)&s;
	while (!__atomic_load_n(&x->stop, __ATOMIC_RELAXED)) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		uint16_t v = (uint16_t)(1 + s % VT_VLANS);
		uint8_t m[6];
		mac(m, (uint8_t)((s >> 16) % VT_MACS));
		uint64_t now = __atomic_load_n(&x->clock, __ATOMIC_RELAXED);
		if ((s >> 32) & 1) {
			hl_mac_learn_vlan(x->t, v, m, (uint16_t)(2 * v + ((s >> 40) & 1)), now);
		} else {
			int p = hl_mac_lookup_vlan(x->t, v, m, now);
			if (p >= 0 && p != 2 * v && p != 2 * v + 1)
				__atomic_fetch_add(&x->wrong, 1, __ATOMIC_RELAXED);
			if (p >= 0)
				__atomic_fetch_add(&x->found, 1, __ATOMIC_RELAXED);
		}
	}
	return NULL;
}

HL_TEST(mac_table_vlans_under_threads)
{
	struct vt x = {.clock = 1};
	pthread_t th[VT_THREADS];
	/* tight: inserts keep reusing tombstones */
	REQUIRE_OK(hl_mac_table_create(VT_VLANS * VT_MACS / 2, 5000000ull, &x.t));
	for (unsigned i = 0; i < VT_THREADS; i++)
		REQUIRE(pthread_create(&th[i], NULL, vt_worker, &x) == 0);
	for (unsigned sweep = 0; sweep < 1500; sweep++) {
		uint64_t now = __atomic_add_fetch(&x.clock, 1000000ull, __ATOMIC_RELAXED);
		hl_mac_age(x.t, now);
		hl_mac_flush_port(x.t, (uint16_t)(2 + sweep % (2 * VT_VLANS)));
		if (sweep % 100 == 0)
			usleep(1000);
	}
	__atomic_store_n(&x.stop, 1, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < VT_THREADS; i++)
		pthread_join(th[i], NULL);
	printf("# %lu lookups found a port\n", x.found);
	CHECK(x.found > 0);
	CHECK_EQ(x.wrong, 0);
	/* quiet: every entry the dump shows is in one of its VLAN's ports */
	struct hl_mac_entry e[VT_VLANS * VT_MACS];
	unsigned n = hl_mac_dump(x.t, x.clock, e, VT_VLANS * VT_MACS), bad = 0;
	for (unsigned i = 0; i < n; i++)
		bad += e[i].port != 2 * e[i].vlan && e[i].port != 2 * e[i].vlan + 1;
	CHECK_EQ(bad, 0);
	hl_mac_table_destroy(x.t);
}

/* ---- tag push and pop ------------------------------------------------------------ */

static struct hl_buf *frame_buf(const uint8_t *f, uint32_t len)
{
	struct hl_buf *b = hl_buf_alloc(bp);
	if (b != NULL) {
		memcpy(hl_buf_data(b), f, len);
		b->data_len = b->pkt_len = len;
	}
	return b;
}

static bool tagged_as(const struct hl_buf *b, const uint8_t *plain, uint32_t len, uint16_t tci)
{
	const uint8_t *d = hl_buf_data(b);
	return b->pkt_len == len + 4 && b->data_len >= 18 && memcmp(d, plain, 12) == 0 &&
	       get16(d + 12) == 0x8100 && get16(d + 14) == tci && memcmp(d + 16, plain + 12, len - 12) == 0;
}

static int ext_freed;
static void ext_free(void *va, void *opaque)
{
	(void)va;
	(void)opaque;
	ext_freed++;
}

HL_TEST(tag_push_pop)
{
	need_pool();
	if (hl_test_failed())
		return;
	uint8_t f[64], t[68];
	for (unsigned i = 0; i < sizeof(f); i++)
		f[i] = (uint8_t)(i * 7 + 1);
	put16(f + 12, 0x0800);
	memcpy(t, f, 12);
	put16(t + 12, 0x8100);
	put16(t + 14, 0x200a);
	memcpy(t + 16, f + 12, 52);

	/* private pool buffer: in place, only the MACs move */
	struct hl_buf *b = frame_buf(f, 64), *o;
	REQUIRE(b != NULL);
	uint16_t off = b->data_off;
	REQUIRE_OK(hl_ol_vlan_push(b, 0x200a, bp, &o));
	CHECK(o == b);
	CHECK_EQ(o->data_off, off - 4);
	CHECK(tagged_as(o, f, 64, 0x200a));
	REQUIRE_OK(hl_ol_vlan_pop(o, bp, &b));
	CHECK(b == o);
	CHECK_EQ(b->data_off, off);
	CHECK(b->pkt_len == 64 && memcmp(hl_buf_data(b), f, 64) == 0);

	/* shared (a flooded frame): a private head, the original untouched */
	hl_buf_ref(b);
	REQUIRE_OK(hl_ol_vlan_push(b, 0x200a, bp, &o));
	CHECK(o != b);
	CHECK(tagged_as(o, f, 64, 0x200a));
	CHECK_EQ(hl_buf_refcnt(b), 1);
	CHECK(b->pkt_len == 64 && memcmp(hl_buf_data(b), f, 64) == 0);
	struct hl_buf *o2;
	hl_buf_ref(o);
	REQUIRE_OK(hl_ol_vlan_pop(o, bp, &o2));
	CHECK(o2 != o);
	CHECK(o2->pkt_len == 64 && memcmp(hl_buf_data(o2), f, 64) == 0);
	CHECK(tagged_as(o, f, 64, 0x200a));
	hl_buf_free(o2);
	hl_buf_free(o);
	hl_buf_free(b);

	/* guest memory (zero-copy): never written */
	static uint8_t guest[68];
	memcpy(guest, t, 68);
	b = hl_buf_alloc(bp);
	REQUIRE(b != NULL);
	REQUIRE_OK(hl_buf_attach_extbuf(b, guest, 0, 68, ext_free, NULL));
	REQUIRE_OK(hl_ol_vlan_pop(b, bp, &o));
	CHECK(o != b);
	CHECK(o->pkt_len == 64 && memcmp(hl_buf_data(o), f, 64) == 0);
	CHECK(memcmp(guest, t, 68) == 0);
	CHECK_EQ(ext_freed, 1); /* the caller's reference went with the copy */
	hl_buf_free(o);

	/* too short a head is refused with the frame left as it was */
	b = frame_buf(f, 10);
	REQUIRE(b != NULL);
	CHECK_EQ(hl_ol_vlan_push(b, 1, bp, &o), -EINVAL);
	CHECK_EQ(hl_ol_vlan_pop(b, bp, &o), -EINVAL);
	CHECK_EQ(b->pkt_len, 10);
	hl_buf_free(b);
	CHECK_EQ(hl_bufpool_in_use(bp), 0);
}

/* A guest's 64 KiB TSO frame tagged on its way to a trunk: segments of 1518 bytes, each tagged, each summed right. */
HL_TEST(tso_frame_tagged_segments)
{
	need_pool();
	if (hl_test_failed())
		return;
	const uint32_t payload = 20000, len = HDRS + payload;
	uint8_t *f = malloc(len);
	REQUIRE(f != NULL);
	frame_bytes(f, payload, 5000);
	struct hl_buf *b = tso_chain(bp, f, len, 1460), *o;
	REQUIRE(b != NULL);
	hl_buf_ref(b); /* shared, as when flooded: the tag goes into a private head */
	REQUIRE_OK(hl_ol_vlan_push(b, 42, bp, &o));
	CHECK(o != b);
	CHECK_EQ(o->ol.l2_len, 18);
	CHECK_EQ(o->ol.csum_start, 38);
	CHECK_EQ(o->ol.hdr_len, HDRS + 4);
	CHECK_EQ(b->ol.l2_len, 14);
	hl_buf_free(b);

	struct hl_ol_stats st = {0};
	struct hl_buf *segs[HL_OL_SEGS_MAX];
	int n = hl_ol_prepare(o, 0, 1518, bp, segs, HL_OL_SEGS_MAX, &st);
	CHECK_EQ(n, (int)((payload + 1459) / 1460));
	uint32_t seen = 0, bad = 0;
	for (int i = 0; i < n; i++) {
		uint32_t sl;
		uint8_t *s = flatten(segs[i], &sl);
		REQUIRE(s != NULL);
		/* the tag is where it belongs; without it the segment is the untagged one */
		bad += sl > 1518 || get16(s + 12) != 0x8100 || get16(s + 14) != 42;
		memmove(s + 12, s + 16, sl - 16);
		bad += !segment_of(s, sl - 4, f, payload, 5000, &seen);
		free(s);
		hl_buf_free(segs[i]);
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(seen, payload);

	/* and popped again on the way to an access port: the metadata is the untagged frame's */
	b = tso_chain(bp, f, len, 1460);
	REQUIRE(b != NULL);
	REQUIRE_OK(hl_ol_vlan_push(b, 42, bp, &o));
	REQUIRE_OK(hl_ol_vlan_pop(o, bp, &b));
	CHECK(b->ol.l2_len == 14 && b->ol.csum_start == 34 && b->ol.hdr_len == HDRS);
	n = hl_ol_prepare(b, 0, 1514, bp, segs, HL_OL_SEGS_MAX, &st);
	CHECK_EQ(n, (int)((payload + 1459) / 1460));
	seen = bad = 0;
	for (int i = 0; i < n; i++) {
		uint32_t sl;
		uint8_t *s = flatten(segs[i], &sl);
		REQUIRE(s != NULL);
		bad += !segment_of(s, sl, f, payload, 5000, &seen);
		free(s);
		hl_buf_free(segs[i]);
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(seen, payload);
	free(f);
	CHECK_EQ(hl_bufpool_in_use(bp), 0);
}

/* ---- the switch ------------------------------------------------------------------ */

#define FMAX 96
#define RMAX 256

/* A port that hands the switch raw frames a test queued, and keeps what it is sent. */
struct raw {
	struct hl_sw_port base;
	pthread_mutex_t lock;
	struct rframe {
		uint8_t d[FMAX];
		uint32_t len;
	} pend[64], got[RMAX];
	unsigned npend, at, ngot;
	struct hl_buf *inject;      /* a frame rx hands over as it is (with its offload metadata) */
	const uint8_t *tso_of;      /* check every frame sent as a tagged segment of this TSO frame */
	uint32_t tso_payload, tso_seen, tso_bad, tso_max;
	unsigned gen;               /* atomic: rx hands over this many copies of pend[0] at every call */
	/* every frame sent, of 60 bytes untagged, of 64 tagged 10 or 20, or anything else */
	unsigned long n_plain, n_tag10, n_tag20, n_odd;
	const uint8_t *banned;      /* a source MAC no frame sent here may have ... */
	unsigned long n_banned;     /* ... and how many had it */
};

static uint16_t raw_rx(struct hl_sw_port *p, struct hl_bufpool *from, struct hl_buf **pkts, uint16_t n)
{
	struct raw *r = (struct raw *)p;
	uint16_t k = 0;
	pthread_mutex_lock(&r->lock);
	if (r->inject != NULL && n > 0) {
		pkts[k++] = r->inject;
		r->inject = NULL;
	}
	for (unsigned g = __atomic_load_n(&r->gen, __ATOMIC_RELAXED); k < n && g > 0; g--) {
		struct hl_buf *b = hl_buf_alloc(from);
		if (b == NULL)
			break;
		memcpy(hl_buf_data(b), r->pend[0].d, r->pend[0].len);
		b->data_len = b->pkt_len = r->pend[0].len;
		pkts[k++] = b;
	}
	while (k < n && r->at < r->npend) {
		struct hl_buf *b = hl_buf_alloc(from);
		if (b == NULL)
			break;
		memcpy(hl_buf_data(b), r->pend[r->at].d, r->pend[r->at].len);
		b->data_len = b->pkt_len = r->pend[r->at].len;
		r->at++;
		pkts[k++] = b;
	}
	pthread_mutex_unlock(&r->lock);
	return k;
}

static uint16_t raw_tx(struct hl_sw_port *p, struct hl_buf **pkts, uint16_t n, uint64_t *bytes)
{
	struct raw *r = (struct raw *)p;
	pthread_mutex_lock(&r->lock);
	for (uint16_t k = 0; k < n; k++) {
		if (r->ngot < RMAX) {
			struct rframe *g = &r->got[r->ngot++];
			g->len = pkts[k]->pkt_len;
			memcpy(g->d, hl_buf_data(pkts[k]), pkts[k]->data_len < FMAX ? pkts[k]->data_len : FMAX);
		}
		const uint8_t *d = hl_buf_data(pkts[k]);
		uint32_t len = pkts[k]->pkt_len;
		bool tag = pkts[k]->data_len >= 18 && get16(d + 12) == 0x8100;
		if (len == 60 && !tag)
			r->n_plain++;
		else if (len == 64 && tag && (get16(d + 14) & 0xfff) == 10)
			r->n_tag10++;
		else if (len == 64 && tag && (get16(d + 14) & 0xfff) == 20)
			r->n_tag20++;
		else
			r->n_odd++;
		r->n_banned += r->banned != NULL && pkts[k]->data_len >= 12 && memcmp(d + 6, r->banned, 6) == 0;
		if (r->tso_of != NULL) {
			uint32_t sl;
			uint8_t *f = flatten(pkts[k], &sl);
			r->tso_max = sl > r->tso_max ? sl : r->tso_max;
			if (f == NULL || sl < 18 || get16(f + 12) != 0x8100 || (get16(f + 14) & 0xfff) != 10) {
				r->tso_bad++;
			} else {
				memmove(f + 12, f + 16, sl - 16);
				r->tso_bad += !segment_of(f, sl - 4, r->tso_of, r->tso_payload, 5000, &r->tso_seen);
			}
			free(f);
		}
		*bytes += pkts[k]->pkt_len;
		hl_buf_free(pkts[k]);
	}
	pthread_mutex_unlock(&r->lock);
	return n;
}

/* What a port with an Ethernet MTU of 1500 and no offloads takes. */
static void raw_offloads(const struct hl_sw_port *p, uint32_t *caps, uint32_t *max_frame)
{
	(void)p;
	*caps = 0;
	*max_frame = 1514;
}

static void raw_close(struct hl_sw_port *p)
{
	(void)p; /* the test owns the memory */
}

static const char *raw_state(const struct hl_sw_port *p)
{
	(void)p;
	return "up";
}

static const struct hl_sw_port_ops raw_ops = {
	.kind = "raw", .rx = raw_rx, .tx = raw_tx, .close = raw_close, .state = raw_state, .max_sleep_ms = 1,
	.offloads = raw_offloads};

enum { A10, B10, C20, TRUNK, PLAIN, NRAW };
static struct raw raws[NRAW];
static uint8_t MA[NRAW][6];

static void queue(struct raw *r, const uint8_t *dst, const uint8_t *src, int tag, uint16_t type2, uint32_t len)
{
	pthread_mutex_lock(&r->lock);
	struct rframe *f = &r->pend[r->npend++];
	memset(f->d, 0xab, sizeof(f->d));
	memcpy(f->d, dst, 6);
	memcpy(f->d + 6, src, 6);
	if (tag >= 0) {
		put16(f->d + 12, 0x8100);
		put16(f->d + 14, (uint16_t)tag);
		put16(f->d + 16, type2);
	} else {
		put16(f->d + 12, type2);
	}
	f->len = len;
	pthread_mutex_unlock(&r->lock);
}

static void settle_raw(struct hl_switch *s)
{
	for (int spin = 0; spin < 2000; spin++) {
		unsigned left = 0;
		for (unsigned i = 0; i < NRAW; i++) {
			pthread_mutex_lock(&raws[i].lock);
			left += raws[i].npend - raws[i].at;
			pthread_mutex_unlock(&raws[i].lock);
		}
		if (left == 0 && hl_bufpool_in_use(bp) == 0)
			return;
		hl_switch_ctrl(s);
		usleep(1000);
	}
}

static unsigned got(unsigned i)
{
	pthread_mutex_lock(&raws[i].lock);
	unsigned n = raws[i].ngot;
	pthread_mutex_unlock(&raws[i].lock);
	return n;
}

static struct hl_switch *vsw;

/* Five raw ports: two access ports of VLAN 10, one of VLAN 20, a trunk of 10 and 20, an untagged one. */
static void vlan_switch_of(unsigned workers)
{
	vsw = NULL;
	need_pool();
	if (hl_test_failed())
		return;
	struct hl_switch_params sp = {.bp = bp, .first_cpu = -1, .workers = workers};
	REQUIRE_OK(hl_switch_create(&sp, &vsw));
	memset(raws, 0, sizeof(raws));
	static const char *const names[NRAW] = {"a10", "b10", "c20", "trunk", "plain"};
	for (unsigned i = 0; i < NRAW; i++) {
		struct raw *r = &raws[i];
		pthread_mutex_init(&r->lock, NULL);
		r->base.ops = &raw_ops;
		snprintf(r->base.name, sizeof(r->base.name), "%s", names[i]);
		mac(MA[i], (uint8_t)(0x10 + i));
		struct hl_sw_vlan v = {.mode = HL_SW_VLAN_ACCESS, .vid = i == C20 ? 20 : 10};
		if (i == TRUNK) {
			v.mode = HL_SW_VLAN_TRUNK;
			v.trunk[0] = 1ull << 10 | 1ull << 20;
		} else if (i == PLAIN) {
			v.mode = HL_SW_VLAN_NONE;
		}
		REQUIRE_OK(hl_sw_port_set_vlan(&r->base, &v));
		REQUIRE_OK(hl_switch_add_port(vsw, &r->base));
	}
}

static void vlan_switch(void)
{
	vlan_switch_of(1);
}

static void vlan_switch_end(struct hl_switch *s)
{
	hl_switch_destroy(s);
	for (unsigned i = 0; i < NRAW; i++)
		pthread_mutex_destroy(&raws[i].lock);
	CHECK_EQ(hl_bufpool_in_use(bp), 0);
}

/* a time before every entry was seen: nothing is too old */
#define NOT_AGED 0

static const uint8_t BCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

HL_TEST(switch_vlan_isolation)
{
	vlan_switch();
	if (hl_test_failed())
		return;
	struct hl_switch *s = vsw;

	/* a broadcast from VLAN 10: the other VLAN 10 port, the trunk tagged 10; not VLAN 20, not the plain port */
	queue(&raws[A10], BCAST, MA[A10], -1, 0x0806, 60);
	settle_raw(s);
	CHECK_EQ(got(B10), 1);
	CHECK_EQ(got(TRUNK), 1);
	CHECK_EQ(got(C20), 0);
	CHECK_EQ(got(PLAIN), 0);
	CHECK_EQ(got(A10), 0);
	CHECK(raws[B10].got[0].len == 60 && get16(raws[B10].got[0].d + 12) == 0x0806);
	CHECK(raws[TRUNK].got[0].len == 64 && get16(raws[TRUNK].got[0].d + 12) == 0x8100 &&
	      (get16(raws[TRUNK].got[0].d + 14) & 0xfff) == 10 && get16(raws[TRUNK].got[0].d + 16) == 0x0806);

	/* B answers A: A was learned in VLAN 10, so only A gets it */
	queue(&raws[B10], MA[A10], MA[B10], -1, 0x0800, 60);
	settle_raw(s);
	CHECK_EQ(got(A10), 1);
	CHECK_EQ(got(TRUNK), 1);
	CHECK_EQ(got(C20), 0);

	/* unknown unicast from C (VLAN 20) floods VLAN 20 alone: the trunk, tagged 20 */
	queue(&raws[C20], MA[A10], MA[C20], -1, 0x0800, 60);
	settle_raw(s);
	CHECK_EQ(got(TRUNK), 2);
	CHECK_EQ(got(A10), 1); /* A's MAC is known in VLAN 10 only: nothing crosses */
	CHECK_EQ(got(B10), 1);
	CHECK(get16(raws[TRUNK].got[1].d + 12) == 0x8100 && (get16(raws[TRUNK].got[1].d + 14) & 0xfff) == 20);

	/* from the trunk tagged 20 to C: untagged on arrival; tagged 10 to A */
	queue(&raws[TRUNK], MA[C20], MA[TRUNK], 20, 0x0800, 64);
	queue(&raws[TRUNK], MA[A10], MA[TRUNK], 0x6000 | 10, 0x0800, 64);
	settle_raw(s);
	CHECK_EQ(got(C20), 1);
	CHECK_EQ(got(A10), 2);
	CHECK_EQ(got(B10), 1);
	CHECK(raws[C20].got[0].len == 60 && get16(raws[C20].got[0].d + 12) == 0x0800);
	CHECK(raws[A10].got[1].len == 60 && get16(raws[A10].got[1].d + 12) == 0x0800 &&
	      memcmp(raws[A10].got[1].d + 6, MA[TRUNK], 6) == 0);

	/* the plain port: its broadcast reaches no VLAN port, tagged or not */
	queue(&raws[PLAIN], BCAST, MA[PLAIN], -1, 0x0806, 60);
	queue(&raws[PLAIN], BCAST, MA[PLAIN], 10, 0x0806, 64);
	settle_raw(s);
	CHECK_EQ(got(A10) + got(B10) + got(C20) + got(TRUNK), 2 + 1 + 1 + 2);

	/* the same MAC in two VLANs is two entries */
	queue(&raws[TRUNK], BCAST, MA[A10], 20, 0x0806, 64);
	settle_raw(s);
	CHECK_EQ(got(C20), 2);
	struct hl_mac_entry e[16];
	unsigned n = hl_mac_dump(hl_switch_mac_table(s), NOT_AGED, e, 16), a_in = 0;
	for (unsigned i = 0; i < n; i++)
		if (memcmp(e[i].mac, MA[A10], 6) == 0)
			a_in |= (e[i].vlan == 10 && e[i].port == raws[A10].base.id) ? 1 : (e[i].vlan == 20 && e[i].port == raws[TRUNK].base.id) ? 2 : 4;
	CHECK_EQ(a_in, 3);

	struct hl_sw_port_stats st;
	for (unsigned i = 0; i < NRAW; i++) {
		hl_switch_port_stats(s, &raws[i].base, &st);
		CHECK_EQ(st.drops[HL_SW_DROP_VLAN_TAGGED] + st.drops[HL_SW_DROP_VLAN_FILTERED] +
				 st.drops[HL_SW_DROP_VLAN_BAD] + st.drops[HL_SW_DROP_NO_BUF],
			 0);
	}
	vlan_switch_end(s);
}

HL_TEST(switch_vlan_hostile_frames)
{
	vlan_switch();
	if (hl_test_failed())
		return;
	struct hl_switch *s = vsw;
	uint8_t other[6];
	mac(other, 0x77);

	/* on the trunk */
	queue(&raws[TRUNK], BCAST, other, -1, 0x0800, 60);   /* untagged: filtered */
	queue(&raws[TRUNK], BCAST, other, 30, 0x0800, 64);   /* a VLAN it does not carry: filtered */
	queue(&raws[TRUNK], BCAST, other, 0, 0x0800, 64);    /* VLAN id 0: bad */
	queue(&raws[TRUNK], BCAST, other, 0xfff, 0x0800, 64); /* 4095: bad */
	queue(&raws[TRUNK], BCAST, other, 10, 0x8100, 64);   /* two 802.1Q tags: bad */
	queue(&raws[TRUNK], BCAST, other, 10, 0x88a8, 64);   /* 802.1Q over 802.1ad: bad */
	queue(&raws[TRUNK], BCAST, other, 10, 0x0800, 17);   /* the tag cut short: bad */
	queue(&raws[TRUNK], BCAST, other, 10, 0x0800, 15);
	queue(&raws[TRUNK], BCAST, other, -1, 0x88a8, 64);   /* an 802.1ad outer tag: bad */
	queue(&raws[TRUNK], BCAST, other, -1, 0x9100, 64);
	/* on an access port, any tag is dropped */
	queue(&raws[A10], BCAST, other, 10, 0x0800, 64);
	queue(&raws[A10], BCAST, other, 20, 0x0800, 64);
	queue(&raws[A10], BCAST, other, -1, 0x88a8, 64);
	/* and the untagged port lets its tags through, as without VLANs (to no one: it is alone in VLAN 0) */
	queue(&raws[PLAIN], BCAST, other, 4095, 0x88a8, 64);
	settle_raw(s);
	unsigned total = 0;
	for (unsigned i = 0; i < NRAW; i++)
		total += got(i);
	CHECK_EQ(total, 0);
	struct hl_sw_port_stats st;
	hl_switch_port_stats(s, &raws[TRUNK].base, &st);
	CHECK_EQ(st.rx_packets, 10);
	CHECK_EQ(st.drops[HL_SW_DROP_VLAN_FILTERED], 2);
	CHECK_EQ(st.drops[HL_SW_DROP_VLAN_BAD], 8);
	hl_switch_port_stats(s, &raws[A10].base, &st);
	CHECK_EQ(st.drops[HL_SW_DROP_VLAN_TAGGED], 3);
	hl_switch_port_stats(s, &raws[PLAIN].base, &st);
	CHECK_EQ(st.drops[HL_SW_DROP_VLAN_TAGGED] + st.drops[HL_SW_DROP_VLAN_BAD], 0);
	CHECK_EQ(st.drops[HL_SW_DROP_NO_PORT], 1);
	/* nothing was learned from a dropped frame */
	CHECK_EQ(hl_mac_lookup_vlan(hl_switch_mac_table(s), 10, other, NOT_AGED), -1);
	CHECK_EQ(hl_mac_lookup_vlan(hl_switch_mac_table(s), 30, other, NOT_AGED), -1);

	/* a good frame after all that still goes */
	queue(&raws[TRUNK], BCAST, other, 10, 0x0800, 64);
	settle_raw(s);
	CHECK_EQ(got(A10), 1);
	CHECK_EQ(got(B10), 1);
	vlan_switch_end(s);
}

/* A guest's TSO frame from an access port out of a trunk of MTU 1500: tagged segments of 1518 bytes at most. */
HL_TEST(switch_tso_frame_out_of_trunk)
{
	vlan_switch();
	if (hl_test_failed())
		return;
	struct hl_switch *s = vsw;
	const uint32_t payload = 30000, len = HDRS + payload;
	uint8_t *f = malloc(len);
	REQUIRE(f != NULL);
	frame_bytes(f, payload, 5000);
	/* the trunk learns the destination first, so the frame goes to it alone */
	static const uint8_t dst[6] = {2, 0, 0, 0, 0, 2};
	queue(&raws[TRUNK], BCAST, dst, 10, 0x0806, 64);
	settle_raw(s);
	struct hl_buf *b = tso_chain(bp, f, len, 1460);
	REQUIRE(b != NULL);
	pthread_mutex_lock(&raws[TRUNK].lock);
	raws[TRUNK].tso_of = f;
	raws[TRUNK].tso_payload = payload;
	pthread_mutex_unlock(&raws[TRUNK].lock);
	pthread_mutex_lock(&raws[A10].lock);
	raws[A10].inject = b;
	pthread_mutex_unlock(&raws[A10].lock);
	settle_raw(s);
	pthread_mutex_lock(&raws[TRUNK].lock);
	struct raw r = raws[TRUNK];
	pthread_mutex_unlock(&raws[TRUNK].lock);
	CHECK_EQ(r.tso_bad, 0);
	CHECK_EQ(r.tso_seen, payload);
	CHECK_EQ(r.tso_max, 1518);
	CHECK_EQ(r.ngot, (payload + 1459) / 1460);
	CHECK_EQ(got(B10), 1); /* the trunk's broadcast alone */
	CHECK_EQ(got(C20), 0);
	struct hl_sw_port_stats st;
	hl_switch_port_stats(s, &raws[TRUNK].base, &st);
	CHECK_EQ(st.ol.gso_frames, 1);
	free(f);
	vlan_switch_end(s);
}

/* A trunk of VLANs a and b (0: none) whose untagged frames are VLAN native's (0: none). */
static struct hl_sw_vlan trunk_of(uint16_t a, uint16_t b, uint16_t native)
{
	struct hl_sw_vlan v = {.mode = HL_SW_VLAN_TRUNK, .native = native};
	if (a != 0)
		v.trunk[a / 64] |= 1ull << (a % 64);
	if (b != 0)
		v.trunk[b / 64] |= 1ull << (b % 64);
	return v;
}

static unsigned long counted(unsigned i, const unsigned long *field)
{
	pthread_mutex_lock(&raws[i].lock);
	unsigned long n = *field;
	pthread_mutex_unlock(&raws[i].lock);
	return n;
}

/* The plain port made a trunk of VLAN 20 with native VLAN 10: untagged frames both ways are VLAN 10's. */
HL_TEST(switch_native_vlan)
{
	vlan_switch();
	if (hl_test_failed())
		return;
	struct hl_switch *s = vsw;
	struct raw *n = &raws[PLAIN];
	struct hl_sw_vlan nv = trunk_of(20, 0, 10);
	REQUIRE_OK(hl_switch_set_port_vlan(s, "plain", &nv));
	CHECK(n->base.vlan.mode == HL_SW_VLAN_TRUNK && n->base.vlan.native == 10);
	CHECK(hl_sw_vlan_carries(&n->base.vlan, 10)); /* the native VLAN is carried, listed or not */
	CHECK(hl_sw_vlan_carries(&n->base.vlan, 20));
	CHECK(!hl_sw_vlan_carries(&n->base.vlan, 30));

	/* its untagged broadcast: VLAN 10's access ports untagged, the other trunk tagged 10, not VLAN 20 */
	queue(n, BCAST, MA[PLAIN], -1, 0x0806, 60);
	settle_raw(s);
	CHECK_EQ(got(A10), 1);
	CHECK_EQ(got(B10), 1);
	CHECK_EQ(got(C20), 0);
	CHECK_EQ(got(TRUNK), 1);
	CHECK(raws[A10].got[0].len == 60 && get16(raws[A10].got[0].d + 12) == 0x0806);
	CHECK(raws[TRUNK].got[0].len == 64 && get16(raws[TRUNK].got[0].d + 12) == 0x8100 &&
	      get16(raws[TRUNK].got[0].d + 14) == 10 && get16(raws[TRUNK].got[0].d + 16) == 0x0806);
	CHECK_EQ(hl_mac_lookup_vlan(hl_switch_mac_table(s), 10, MA[PLAIN], NOT_AGED), n->base.id);

	/* its VLAN 20 is tagged: C gets it untagged, the other trunk with the tag as it was */
	queue(n, BCAST, MA[PLAIN], 0x2000 | 20, 0x0800, 64);
	settle_raw(s);
	CHECK_EQ(got(C20), 1);
	CHECK_EQ(got(A10), 1);
	CHECK_EQ(got(TRUNK), 2);
	CHECK(raws[C20].got[0].len == 60 && get16(raws[C20].got[0].d + 12) == 0x0800);
	CHECK(raws[TRUNK].got[1].len == 64 && get16(raws[TRUNK].got[1].d + 14) == (0x2000 | 20));

	/* a frame tagged with the native VLAN is VLAN 10's too */
	queue(n, BCAST, MA[PLAIN], 10, 0x0800, 64);
	settle_raw(s);
	CHECK_EQ(got(A10), 2);
	CHECK(raws[A10].got[1].len == 60 && get16(raws[A10].got[1].d + 12) == 0x0800);
	CHECK(got(TRUNK) == 3 && raws[TRUNK].got[2].len == 64 && get16(raws[TRUNK].got[2].d + 14) == 10);

	/* out of it: VLAN 10 untagged (pushed by no one, popped from the other trunk), VLAN 20 tagged */
	queue(&raws[A10], BCAST, MA[A10], -1, 0x0806, 60);
	queue(&raws[C20], BCAST, MA[C20], -1, 0x0806, 60);
	queue(&raws[TRUNK], BCAST, MA[TRUNK], 10, 0x0806, 64);
	queue(&raws[TRUNK], BCAST, MA[TRUNK], 20, 0x0806, 64);
	queue(&raws[B10], MA[PLAIN], MA[B10], -1, 0x0800, 60); /* known unicast: to it alone */
	settle_raw(s);
	CHECK_EQ(got(PLAIN), 5);
	CHECK_EQ(counted(PLAIN, &n->n_plain), 3);
	CHECK_EQ(counted(PLAIN, &n->n_tag20), 2);
	CHECK_EQ(counted(PLAIN, &n->n_tag10) + counted(PLAIN, &n->n_odd), 0);
	CHECK_EQ(got(A10), 3); /* the trunk's VLAN 10 broadcast; not B's unicast */

	/* VLANs it does not carry are still filtered */
	uint8_t other[6];
	mac(other, 0x78);
	queue(n, BCAST, other, 30, 0x0800, 64);
	settle_raw(s);
	struct hl_sw_port_stats st;
	hl_switch_port_stats(s, &n->base, &st);
	CHECK_EQ(st.drops[HL_SW_DROP_VLAN_FILTERED], 1);
	CHECK_EQ(st.drops[HL_SW_DROP_VLAN_BAD] + st.drops[HL_SW_DROP_VLAN_TAGGED] + st.drops[HL_SW_DROP_NO_BUF], 0);
	vlan_switch_end(s);
}

/* hl_switch_set_port_vlan: refused when wrong, else in force at once, and MACs of VLANs left forgotten. */
HL_TEST(switch_port_set_vlan)
{
	vlan_switch();
	if (hl_test_failed())
		return;
	struct hl_switch *s = vsw;
	struct hl_mac_table *mt = hl_switch_mac_table(s);
	queue(&raws[B10], BCAST, MA[B10], -1, 0x0806, 60);
	queue(&raws[TRUNK], BCAST, MA[TRUNK], 10, 0x0806, 64);
	queue(&raws[TRUNK], BCAST, MA[TRUNK], 20, 0x0806, 64);
	settle_raw(s);
	CHECK_EQ(hl_mac_lookup_vlan(mt, 10, MA[B10], NOT_AGED), raws[B10].base.id);
	CHECK_EQ(hl_mac_lookup_vlan(mt, 20, MA[TRUNK], NOT_AGED), raws[TRUNK].base.id);

	/* refused, and nothing changes: a VLAN id out of range, no such port, a native VLAN on an access port */
	struct hl_sw_vlan v = {.mode = HL_SW_VLAN_ACCESS, .vid = 4095};
	CHECK_EQ(hl_switch_set_port_vlan(s, "b10", &v), -EINVAL);
	v.vid = 20;
	CHECK_EQ(hl_switch_set_port_vlan(s, "nope", &v), -ENOENT);
	v.native = 10;
	CHECK_EQ(hl_switch_set_port_vlan(s, "b10", &v), -EINVAL);
	struct hl_sw_vlan t = trunk_of(10, 0, 4095);
	CHECK_EQ(hl_switch_set_port_vlan(s, "trunk", &t), -EINVAL);
	CHECK(raws[B10].base.vlan.mode == HL_SW_VLAN_ACCESS && raws[B10].base.vlan.vid == 10);
	CHECK_EQ(hl_mac_lookup_vlan(mt, 10, MA[B10], NOT_AGED), raws[B10].base.id);

	/* B moves to VLAN 20: its VLAN 10 MAC is forgotten, A's frames for it no longer reach it, C's do */
	v.native = 0;
	REQUIRE_OK(hl_switch_set_port_vlan(s, "b10", &v));
	CHECK(raws[B10].base.vlan.mode == HL_SW_VLAN_ACCESS && raws[B10].base.vlan.vid == 20);
	CHECK_EQ(hl_mac_lookup_vlan(mt, 10, MA[B10], NOT_AGED), -1);
	unsigned b0 = got(B10), t0 = got(TRUNK);
	queue(&raws[A10], MA[B10], MA[A10], -1, 0x0800, 60);
	queue(&raws[C20], BCAST, MA[C20], -1, 0x0806, 60);
	settle_raw(s);
	CHECK_EQ(got(B10), b0 + 1);
	CHECK(memcmp(raws[B10].got[b0].d + 6, MA[C20], 6) == 0);
	CHECK_EQ(got(TRUNK), t0 + 2); /* A's frame, an unknown unicast now, floods VLAN 10: the trunk alone */

	/* the trunk leaves VLAN 20: its MAC there is forgotten, in VLAN 10 it stays */
	t = trunk_of(10, 0, 0);
	REQUIRE_OK(hl_switch_set_port_vlan(s, "trunk", &t));
	CHECK_EQ(hl_mac_lookup_vlan(mt, 20, MA[TRUNK], NOT_AGED), -1);
	CHECK_EQ(hl_mac_lookup_vlan(mt, 10, MA[TRUNK], NOT_AGED), raws[TRUNK].base.id);

	/* untagged: it meets the plain port in VLAN 0, frames as they are */
	struct hl_sw_vlan none = {.mode = HL_SW_VLAN_NONE};
	REQUIRE_OK(hl_switch_set_port_vlan(s, "trunk", &none));
	CHECK_EQ(hl_mac_lookup_vlan(mt, 10, MA[TRUNK], NOT_AGED), -1);
	t0 = got(TRUNK);
	queue(&raws[PLAIN], BCAST, MA[PLAIN], -1, 0x0806, 60);
	queue(&raws[A10], BCAST, MA[A10], -1, 0x0806, 60);
	settle_raw(s);
	CHECK_EQ(got(TRUNK), t0 + 1);
	CHECK(raws[TRUNK].got[t0].len == 60 && memcmp(raws[TRUNK].got[t0].d + 6, MA[PLAIN], 6) == 0);
	vlan_switch_end(s);
}

/* The memberships the port under change goes through: each mode, with and without native VLANs. */
static struct hl_sw_vlan churn(unsigned i)
{
	switch (i % 6) {
	case 0: return (struct hl_sw_vlan){.mode = HL_SW_VLAN_ACCESS, .vid = 10};
	case 1: return (struct hl_sw_vlan){.mode = HL_SW_VLAN_ACCESS, .vid = 20};
	case 2: return trunk_of(10, 20, 0);
	case 3: return trunk_of(20, 0, 10);
	case 4: return trunk_of(10, 0, 20);
	default: return (struct hl_sw_vlan){.mode = HL_SW_VLAN_NONE};
	}
}

/*
 * Two workers forward a stream of broadcasts from VLAN 10 (A), VLAN 20 (C)
 * and the port whose membership the control thread keeps changing (the
 * plain port, untagged frames): no frame ever crosses VLANs (B hears
 * nothing of C, C nothing of A, the fixed trunk only tagged frames of 10
 * and 20), every frame leaves in a shape some membership allows, and once
 * it stops the last membership holds, with every buffer back in the pool.
 */
HL_TEST(switch_port_set_vlan_while_forwarding)
{
	vlan_switch_of(2);
	if (hl_test_failed())
		return;
	struct hl_switch *s = vsw;
	struct raw *p = &raws[PLAIN];
	const unsigned gens[] = {A10, C20, PLAIN};
	for (unsigned g = 0; g < HL_ARRAY_SIZE(gens); g++) {
		struct raw *r = &raws[gens[g]];
		queue(r, BCAST, MA[gens[g]], -1, 0x0806, 60);
		pthread_mutex_lock(&r->lock);
		r->at = r->npend; /* pend[0] is the template of the stream, not a frame to send once */
		pthread_mutex_unlock(&r->lock);
	}
	raws[B10].banned = MA[C20];
	raws[C20].banned = MA[A10];
	for (unsigned g = 0; g < HL_ARRAY_SIZE(gens); g++)
		__atomic_store_n(&raws[gens[g]].gen, 4, __ATOMIC_RELAXED);
	unsigned changes = 0;
	for (unsigned i = 0; i < 2000; i++) {
		struct hl_sw_vlan v = churn(i);
		changes += hl_switch_set_port_vlan(s, "plain", &v) == 0;
		if (i % 50 == 0)
			hl_switch_ctrl(s);
	}
	for (unsigned g = 0; g < HL_ARRAY_SIZE(gens); g++)
		__atomic_store_n(&raws[gens[g]].gen, 0, __ATOMIC_RELAXED);
	settle_raw(s);
	CHECK_EQ(changes, 2000);
	CHECK_EQ(hl_bufpool_in_use(bp), 0);
	unsigned long carried = counted(PLAIN, &p->n_plain) + counted(PLAIN, &p->n_tag10) + counted(PLAIN, &p->n_tag20);
	printf("# the changing port got %lu frames (%lu untagged), B %lu, the trunk %lu\n", carried,
	       counted(PLAIN, &p->n_plain), counted(B10, &raws[B10].n_plain),
	       counted(TRUNK, &raws[TRUNK].n_tag10) + counted(TRUNK, &raws[TRUNK].n_tag20));
	CHECK(carried > 0);
	CHECK(counted(TRUNK, &raws[TRUNK].n_tag10) > 0 && counted(TRUNK, &raws[TRUNK].n_tag20) > 0);
	CHECK_EQ(counted(PLAIN, &p->n_odd), 0);
	CHECK_EQ(counted(B10, &raws[B10].n_banned), 0);
	CHECK_EQ(counted(C20, &raws[C20].n_banned), 0);
	CHECK_EQ(counted(B10, &raws[B10].n_odd) + counted(B10, &raws[B10].n_tag10) + counted(B10, &raws[B10].n_tag20), 0);
	CHECK_EQ(counted(C20, &raws[C20].n_odd) + counted(C20, &raws[C20].n_tag10) + counted(C20, &raws[C20].n_tag20), 0);
	CHECK_EQ(counted(TRUNK, &raws[TRUNK].n_plain) + counted(TRUNK, &raws[TRUNK].n_odd), 0);

	/* it ends an access port of VLAN 20: A's broadcast misses it, C's reaches it untagged */
	struct hl_sw_vlan v = {.mode = HL_SW_VLAN_ACCESS, .vid = 20};
	REQUIRE_OK(hl_switch_set_port_vlan(s, "plain", &v));
	unsigned long n0 = counted(PLAIN, &p->n_plain) + counted(PLAIN, &p->n_tag10) + counted(PLAIN, &p->n_tag20);
	queue(&raws[A10], BCAST, MA[A10], -1, 0x0806, 60);
	settle_raw(s);
	queue(&raws[C20], BCAST, MA[C20], -1, 0x0806, 60);
	settle_raw(s);
	CHECK_EQ(counted(PLAIN, &p->n_plain) + counted(PLAIN, &p->n_tag10) + counted(PLAIN, &p->n_tag20), n0 + 1);
	/* nothing of the plain port's stream is left learned in a VLAN it is not in */
	struct hl_mac_entry e[16];
	unsigned k = hl_mac_dump(hl_switch_mac_table(s), NOT_AGED, e, 16), stray = 0;
	for (unsigned i = 0; i < k; i++)
		stray += e[i].port == p->base.id && e[i].vlan != 20;
	CHECK_EQ(stray, 0);
	vlan_switch_end(s);
}

HL_TEST(port_vlan_membership_checked)
{
	struct raw r = {.base = {.ops = &raw_ops, .name = "v"}};
	struct hl_sw_vlan v = {.mode = HL_SW_VLAN_ACCESS, .vid = 0};
	CHECK_EQ(hl_sw_port_set_vlan(&r.base, &v), -EINVAL);
	v.vid = 4095;
	CHECK_EQ(hl_sw_port_set_vlan(&r.base, &v), -EINVAL);
	v.vid = 4094;
	CHECK_EQ(hl_sw_port_set_vlan(&r.base, &v), 0);
	CHECK_EQ(r.base.vlan.vid, 4094);
	struct hl_sw_vlan t = {.mode = HL_SW_VLAN_TRUNK};
	CHECK_EQ(hl_sw_port_set_vlan(&r.base, &t), -EINVAL); /* carries nothing */
	t.trunk[0] = 1;                                       /* VLAN 0 */
	CHECK_EQ(hl_sw_port_set_vlan(&r.base, &t), -EINVAL);
	t.trunk[0] = 0;
	t.trunk[63] = 1ull << 63; /* 4095 */
	CHECK_EQ(hl_sw_port_set_vlan(&r.base, &t), -EINVAL);
	t.trunk[63] = 1ull << 62; /* 4094 */
	CHECK_EQ(hl_sw_port_set_vlan(&r.base, &t), 0);
	CHECK(hl_sw_vlan_carries(&r.base.vlan, 4094));
	CHECK(!hl_sw_vlan_carries(&r.base.vlan, 0));
	struct hl_sw_vlan bad = {.mode = 7};
	CHECK_EQ(hl_sw_port_set_vlan(&r.base, &bad), -EINVAL);
	CHECK_EQ(r.base.vlan.mode, HL_SW_VLAN_TRUNK);

	/* a native VLAN: a trunk's alone, 1..4094, and carried once set, even by a trunk that lists nothing */
	struct hl_sw_vlan n = {.mode = HL_SW_VLAN_ACCESS, .vid = 10, .native = 10};
	CHECK_EQ(hl_sw_port_set_vlan(&r.base, &n), -EINVAL);
	n = (struct hl_sw_vlan){.mode = HL_SW_VLAN_NONE, .native = 10};
	CHECK_EQ(hl_sw_port_set_vlan(&r.base, &n), -EINVAL);
	n = (struct hl_sw_vlan){.mode = HL_SW_VLAN_TRUNK, .native = 4095};
	n.trunk[0] = 1ull << 20;
	CHECK_EQ(hl_sw_port_set_vlan(&r.base, &n), -EINVAL);
	CHECK_EQ(r.base.vlan.native, 0);
	n = (struct hl_sw_vlan){.mode = HL_SW_VLAN_TRUNK, .native = 4094};
	CHECK_EQ(hl_sw_port_set_vlan(&r.base, &n), 0);
	CHECK(hl_sw_vlan_carries(&r.base.vlan, 4094) && !hl_sw_vlan_carries(&r.base.vlan, 20));
	CHECK_EQ(r.base.vlan.native, 4094);
}

/* last: nothing of the pool may be left */
HL_TEST(vlan_pool_gone)
{
	REQUIRE(pool != NULL);
	pool_release(pool, bp);
	pool = NULL;
	bp = NULL;
}
