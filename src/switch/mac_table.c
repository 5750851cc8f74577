/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * MAC learning table: lock-free learn and lookup for the data path, aging,
 * flushing and dumping for one control thread (mac_table.h has the design).
 *
 * Invariants:
 *   - a slot's key is gen << 60 | body, body being 0 (empty), HL_MAC_TOMB
 *     (deleted) or (VLAN + 1) << 48 | MAC (an entry). The body changes only
 *     by CAS: empty/tombstone -> entry with gen + 1 (data path insert),
 *     entry -> tombstone and tombstone -> empty within the generation
 *     (control thread only). An entry's key never changes: a move changes
 *     the port word;
 *   - the port word is gen << 16 | port + 1. The insert whose CAS
 *     published a key sets it afterwards (publish_port), with that key's
 *     generation; moves CAS it within the generation. A reader takes the
 *     port only where both generations agree, and a learn that finds its
 *     key with the other generation's word leaves it to that insert;
 *   - `seen` is written before the CAS that publishes a key (release), so a
 *     reader that acquires the key sees a timestamp at least that recent;
 *   - `entries` counts keys that are entries; an insert reserves its place
 *     in it before the CAS, so the table never holds more than `capacity`.
 * The tombstone's body is the broadcast MAC under VLAN field 0xfff, which
 * can never be learned, and no lookup is made for a multicast MAC, so no
 * MAC matches it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <hugelink/mac_table.h>

#define HL_MAC_BODY ((1ull << 60) - 1) /* the key's VLAN and MAC, below the generation */
#define HL_MAC_TOMB HL_MAC_BODY
#define HL_MAC_REFRESH_NS 1000000ull
/* Learn gives up (-EAGAIN) after this many lost races for one slot. */
#define HL_MAC_LEARN_TRIES 16

struct hl_mac_slot {
	uint64_t key;  /* atomic: gen << 60 | 0, HL_MAC_TOMB, or (VLAN + 1) << 48 | MAC */
	uint32_t port; /* atomic: gen << 16 | port + 1 */
	uint32_t unused;
	uint64_t seen; /* atomic: last time the MAC was seen (ns) */
};

struct hl_mac_table {
	/* read-only after create: shares no line with the counters */
	struct hl_mac_slot *slots;
	uint32_t mask;      /* slots - 1 */
	unsigned shift;     /* 64 - log2(slots): the hash's top bits index the table */
	unsigned capacity;  /* entries allowed: slots / 2 */
	uint64_t aging_ns;  /* 0: never */
	uint64_t refresh_ns;

	/* written by inserts (and the control thread) */
	unsigned entries hl_cache_aligned;
	uint64_t learned;
	uint64_t moved;
	uint64_t last_move; /* MAC << 16 | port + 1 of the latest move */
	uint16_t last_move_vlan;
	uint64_t full;
	uint64_t invalid;

	/* control thread only */
	uint64_t expired hl_cache_aligned;
};

static inline uint64_t mac_u64(const uint8_t mac[6])
{
	return (uint64_t)mac[0] << 40 | (uint64_t)mac[1] << 32 | (uint64_t)mac[2] << 24 |
	       (uint64_t)mac[3] << 16 | (uint64_t)mac[4] << 8 | (uint64_t)mac[5];
}

/* A source worth learning: unicast (I/G bit clear) and not all zeros. */
static inline bool mac_unicast(const uint8_t mac[6], uint64_t m)
{
	return !(mac[0] & 1) && m != 0;
}

/* The key body of (vlan, MAC m); vlan <= HL_MAC_VLAN_MAX. */
static inline uint64_t key_body(uint16_t vlan, uint64_t m)
{
	return (uint64_t)(vlan + 1u) << 48 | m;
}

static inline uint64_t body_of(uint64_t k)
{
	return k & HL_MAC_BODY;
}

static inline unsigned gen_of(uint64_t k)
{
	return (unsigned)(k >> 60);
}

static inline uint32_t mac_home(const struct hl_mac_table *t, uint64_t body)
{
	/* Fibonacci hashing: one multiply spreads the VLAN, OUI and NIC bytes alike */
	return (uint32_t)((body * 0x9E3779B97F4A7C15ull) >> t->shift);
}

static inline bool key_is_entry(uint64_t k)
{
	return body_of(k) != 0 && body_of(k) != HL_MAC_TOMB;
}

static inline bool key_is_free(uint64_t k)
{
	return !key_is_entry(k);
}

static inline uint64_t load_key(const struct hl_mac_slot *s)
{
	return __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);
}

static inline bool cas_key(struct hl_mac_slot *s, uint64_t old, uint64_t new)
{
	return __atomic_compare_exchange_n(&s->key, &old, new, false, __ATOMIC_RELEASE,
					   __ATOMIC_RELAXED);
}

/* The port the entry k in slot s holds, or -1 while its insert has not published one. */
static inline int slot_port(const struct hl_mac_slot *s, uint64_t k)
{
	uint32_t p = __atomic_load_n(&s->port, __ATOMIC_ACQUIRE);
	if ((p >> 16) != gen_of(k) || (p & 0xFFFF) == 0)
		return -1;
	return (int)(p & 0xFFFF) - 1;
}

/*
 * The insert that published key k in slot s sets the port word to pw. By
 * CAS from what it read, while k is still there: a mover of the slot's
 * previous entry can only fail such a CAS (it needs that entry's
 * generation), and a later insert into the slot, after k was deleted, has
 * written its own word, which must not be overwritten. Bounded like a
 * learn: an entry whose word never came stays a miss until it ages out.
 */
static void publish_port(struct hl_mac_slot *s, uint64_t k, uint32_t pw)
{
	for (unsigned tries = 0; tries < HL_MAC_LEARN_TRIES; tries++) {
		uint32_t old = __atomic_load_n(&s->port, __ATOMIC_RELAXED);
		if (load_key(s) != k)
			return; /* deleted meanwhile: the word is not this insert's to write */
		if (__atomic_compare_exchange_n(&s->port, &old, pw, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
			return;
	}
}

static inline bool too_old(const struct hl_mac_table *t, uint64_t seen, uint64_t now)
{
	return t->aging_ns != 0 && now > seen && now - seen > t->aging_ns;
}

static inline void count(uint64_t *c)
{
	__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

int hl_mac_table_create(unsigned capacity, uint64_t aging_ns, struct hl_mac_table **out)
{
	struct hl_mac_table *t;
	unsigned cap = 1, log2 = 1;

	if (out == NULL)
		return hl_error(-EINVAL, "mac table: out is NULL");
	*out = NULL;
	if (capacity == 0 || capacity > HL_MAC_TABLE_MAX_CAPACITY)
		return hl_error(-EINVAL, "mac table: capacity %u not in 1..%u", capacity,
				HL_MAC_TABLE_MAX_CAPACITY);
	while (cap < capacity) {
		cap <<= 1;
		log2++;
	}
	void *mem;
	if (posix_memalign(&mem, HL_CACHE_LINE, sizeof(*t)) != 0)
		return hl_error(-ENOMEM, "mac table: no memory for the header");
	t = mem;
	memset(t, 0, sizeof(*t));
	/* twice the slots of the entries allowed: load <= 1/2 keeps probes short */
	if (posix_memalign(&mem, HL_CACHE_LINE, (size_t)cap * 2 * sizeof(struct hl_mac_slot)) != 0) {
		free(t);
		return hl_error(-ENOMEM, "mac table: no memory for %u slots", cap * 2);
	}
	t->slots = mem;
	memset(t->slots, 0, (size_t)cap * 2 * sizeof(struct hl_mac_slot));
	t->mask = cap * 2 - 1;
	t->shift = 64 - log2;
	t->capacity = cap;
	t->aging_ns = aging_ns;
	t->refresh_ns = HL_MAC_REFRESH_NS;
	if (aging_ns != 0 && aging_ns / 8 < t->refresh_ns)
		t->refresh_ns = aging_ns / 8;
	*out = t;
	return 0;
}

void hl_mac_table_destroy(struct hl_mac_table *t)
{
	if (t == NULL)
		return;
	free(t->slots);
	free(t);
}

int hl_mac_learn_vlan(struct hl_mac_table *t, uint16_t vlan, const uint8_t mac[6], uint16_t port,
		      uint64_t now_ns)
{
	if (hl_unlikely(t == NULL || mac == NULL))
		return -EINVAL;
	uint64_t m = mac_u64(mac);
	if (hl_unlikely(!mac_unicast(mac, m) || port > HL_MAC_PORT_MAX || vlan > HL_MAC_VLAN_MAX)) {
		count(&t->invalid);
		return -EINVAL;
	}
	const uint64_t want = key_body(vlan, m);

	for (unsigned tries = 0; tries < HL_MAC_LEARN_TRIES; tries++) {
		uint32_t i = mac_home(t, want);
		struct hl_mac_slot *free_slot = NULL;
		uint64_t free_key = 0;
		uint64_t k = 0;

		/* Walk the whole chain: the MAC may sit past a tombstone we could reuse. */
		for (uint32_t n = 0; n <= t->mask; n++, i = (i + 1) & t->mask) {
			struct hl_mac_slot *s = &t->slots[i];
			k = load_key(s);
			if (key_is_free(k)) {
				if (free_slot == NULL) {
					free_slot = s;
					free_key = k;
				}
				if (body_of(k) == 0)
					break;
				continue;
			}
			if (body_of(k) != want)
				continue;
			uint32_t pw = __atomic_load_n(&s->port, __ATOMIC_ACQUIRE);
			uint32_t mine = (uint32_t)gen_of(k) << 16 | (uint32_t)(port + 1);
			if ((pw >> 16) != gen_of(k))
				return 0; /* another thread's insert of this MAC is publishing its port */
			if (hl_likely(pw == mine)) {
				uint64_t seen = __atomic_load_n(&s->seen, __ATOMIC_RELAXED);
				if (now_ns > seen && now_ns - seen > t->refresh_ns)
					__atomic_store_n(&s->seen, now_ns, __ATOMIC_RELAXED);
				return 0;
			}
			__atomic_store_n(&s->seen, now_ns, __ATOMIC_RELAXED);
			if (__atomic_compare_exchange_n(&s->port, &pw, mine, false, __ATOMIC_RELEASE,
							__ATOMIC_RELAXED)) {
				count(&t->moved);
				__atomic_store_n(&t->last_move, m << 16 | (uint64_t)(port + 1), __ATOMIC_RELAXED);
				__atomic_store_n(&t->last_move_vlan, vlan, __ATOMIC_RELAXED);
				return 0;
			}
			goto retry; /* moved or deleted under us: look again */
		}

		if (free_slot == NULL ||
		    __atomic_load_n(&t->entries, __ATOMIC_RELAXED) >= t->capacity) {
			count(&t->full);
			return -ENOSPC;
		}
		if (__atomic_fetch_add(&t->entries, 1, __ATOMIC_RELAXED) >= t->capacity) {
			__atomic_fetch_sub(&t->entries, 1, __ATOMIC_RELAXED);
			count(&t->full);
			return -ENOSPC;
		}
		uint64_t gen = (uint64_t)((gen_of(free_key) + 1) & 0xF);
		__atomic_store_n(&free_slot->seen, now_ns, __ATOMIC_RELAXED);
		if (cas_key(free_slot, free_key, gen << 60 | want)) {
			publish_port(free_slot, gen << 60 | want, (uint32_t)gen << 16 | (uint32_t)(port + 1));
			count(&t->learned);
			return 0;
		}
		__atomic_fetch_sub(&t->entries, 1, __ATOMIC_RELAXED);
retry:;
	}
	return -EAGAIN;
}

int hl_mac_learn(struct hl_mac_table *t, const uint8_t mac[6], uint16_t port, uint64_t now_ns)
{
	return hl_mac_learn_vlan(t, 0, mac, port, now_ns);
}

int hl_mac_lookup_vlan(const struct hl_mac_table *t, uint16_t vlan, const uint8_t mac[6], uint64_t now_ns)
{
	if (hl_unlikely(t == NULL || mac == NULL || vlan > HL_MAC_VLAN_MAX))
		return -1;
	uint64_t m = mac_u64(mac);
	if (!mac_unicast(mac, m))
		return -1;
	const uint64_t want = key_body(vlan, m);
	uint32_t i = mac_home(t, want);

	for (uint32_t n = 0; n <= t->mask; n++, i = (i + 1) & t->mask) {
		const struct hl_mac_slot *s = &t->slots[i];
		uint64_t k = load_key(s);
		if (body_of(k) == 0)
			return -1;
		if (body_of(k) == want) {
			if (too_old(t, __atomic_load_n(&s->seen, __ATOMIC_RELAXED), now_ns))
				return -1;
			return slot_port(s, k);
		}
	}
	return -1;
}

int hl_mac_lookup(const struct hl_mac_table *t, const uint8_t mac[6], uint64_t now_ns)
{
	return hl_mac_lookup_vlan(t, 0, mac, now_ns);
}

/*
 * Whether the entry `k` in slot `at` is the one lookups find: no empty slot
 * and no other copy of its MAC lies between its home slot and `at`.
 */
static bool entry_reachable(const struct hl_mac_table *t, uint32_t at, uint64_t k)
{
	uint64_t b = body_of(k);

	for (uint32_t i = mac_home(t, b); i != at; i = (i + 1) & t->mask) {
		uint64_t o = load_key(&t->slots[i]);
		if (body_of(o) == 0 || body_of(o) == b)
			return false;
	}
	return true;
}

/* Delete the entry k in slot i (control thread); false if it changed meanwhile. */
static bool entry_delete(struct hl_mac_table *t, uint32_t i, uint64_t k)
{
	if (!cas_key(&t->slots[i], k, (k & ~HL_MAC_BODY) | HL_MAC_TOMB))
		return false;
	__atomic_fetch_sub(&t->entries, 1, __ATOMIC_RELAXED);
	return true;
}

/*
 * Turn tombstones that end a chain back into empty slots (control thread).
 * Walking backwards from an empty slot, each tombstone whose successor is
 * empty can go, and so on down a run of them. An insert that claims the
 * successor concurrently can be cut off from its home; entry_reachable()
 * catches that at the next aging sweep.
 */
static void sweep_tombstones(struct hl_mac_table *t)
{
	uint32_t e = 0, n = 0;

	while (n <= t->mask && body_of(load_key(&t->slots[e])) != 0) {
		e = (e + 1) & t->mask;
		n++;
	}
	if (n > t->mask)
		return; /* no empty slot at all: nothing ends a chain */
	bool next_empty = true;
	for (uint32_t i = (e - 1) & t->mask; i != e; i = (i - 1) & t->mask) {
		uint64_t k = load_key(&t->slots[i]);
		if (body_of(k) == HL_MAC_TOMB && next_empty && cas_key(&t->slots[i], k, k & ~HL_MAC_BODY))
			continue;
		next_empty = body_of(k) == 0;
	}
}

unsigned hl_mac_age(struct hl_mac_table *t, uint64_t now_ns)
{
	unsigned expired = 0;

	if (t == NULL)
		return 0;
	for (uint32_t i = 0; i <= t->mask; i++) {
		struct hl_mac_slot *s = &t->slots[i];
		uint64_t k = load_key(s);
		if (!key_is_entry(k))
			continue;
		bool old = too_old(t, __atomic_load_n(&s->seen, __ATOMIC_RELAXED), now_ns);
		/* strays (a second copy, or cut off by a sweep) go whatever their age */
		if ((old || !entry_reachable(t, i, k)) && entry_delete(t, i, k) && old)
			expired++;
	}
	sweep_tombstones(t);
	t->expired += expired;
	return expired;
}

/* The VLAN an entry's key names. */
static inline unsigned key_vlan(uint64_t k)
{
	return (unsigned)(((body_of(k) >> 48) & 0xFFF) - 1);
}

/* Forget port's entries, all of them (keep NULL) or those of VLANs not in keep. */
static unsigned flush_port(struct hl_mac_table *t, uint16_t port, const uint64_t *keep)
{
	unsigned n = 0;

	if (t == NULL || port > HL_MAC_PORT_MAX)
		return 0;
	for (uint32_t i = 0; i <= t->mask; i++) {
		uint64_t k = load_key(&t->slots[i]);
		if (!key_is_entry(k) || slot_port(&t->slots[i], k) != (int)port)
			continue;
		unsigned v = key_vlan(k);
		if ((keep == NULL || v > HL_MAC_VLAN_MAX || !(keep[v / 64] >> (v % 64) & 1)) && entry_delete(t, i, k))
			n++;
	}
	sweep_tombstones(t);
	return n;
}

unsigned hl_mac_flush_port(struct hl_mac_table *t, uint16_t port)
{
	return flush_port(t, port, NULL);
}

unsigned hl_mac_flush_port_vlans(struct hl_mac_table *t, uint16_t port, const uint64_t keep[64])
{
	return keep == NULL ? 0 : flush_port(t, port, keep);
}

unsigned hl_mac_dump(const struct hl_mac_table *t, uint64_t now_ns, struct hl_mac_entry *out,
		     unsigned max)
{
	unsigned n = 0;

	if (t == NULL || out == NULL)
		return 0;
	for (uint32_t i = 0; i <= t->mask && n < max; i++) {
		const struct hl_mac_slot *s = &t->slots[i];
		uint64_t k = load_key(s);
		if (!key_is_entry(k))
			continue;
		uint64_t seen = __atomic_load_n(&s->seen, __ATOMIC_RELAXED);
		int port = slot_port(s, k);
		if (port < 0 || too_old(t, seen, now_ns) || !entry_reachable(t, i, k))
			continue;
		struct hl_mac_entry *e = &out[n++];
		for (int b = 0; b < 6; b++)
			e->mac[b] = (uint8_t)(k >> (40 - 8 * b));
		e->port = (uint16_t)port;
		e->vlan = (uint16_t)key_vlan(k);
		e->age_ns = now_ns > seen ? now_ns - seen : 0;
	}
	return n;
}

void hl_mac_table_stats(const struct hl_mac_table *t, struct hl_mac_stats *st)
{
	if (st == NULL)
		return;
	memset(st, 0, sizeof(*st));
	if (t == NULL)
		return;
	st->learned = __atomic_load_n(&t->learned, __ATOMIC_RELAXED);
	st->moved = __atomic_load_n(&t->moved, __ATOMIC_RELAXED);
	uint64_t lm = __atomic_load_n(&t->last_move, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < 6; i++)
		st->last_move_mac[i] = (uint8_t)(lm >> (16 + 8 * (5 - i)));
	st->last_move_port = lm ? (int)(lm & 0xffff) - 1 : -1;
	st->last_move_vlan = __atomic_load_n(&t->last_move_vlan, __ATOMIC_RELAXED);
	st->full = __atomic_load_n(&t->full, __ATOMIC_RELAXED);
	st->expired = t->expired;
	st->entries = __atomic_load_n(&t->entries, __ATOMIC_RELAXED);
	st->invalid = __atomic_load_n(&t->invalid, __ATOMIC_RELAXED);
}
