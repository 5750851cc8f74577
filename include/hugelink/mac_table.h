/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The L2 switch's MAC learning table: source MAC -> port it was last seen
 * on, with aging.
 *
 * Threads:
 *   - any number of data-path threads call hl_mac_learn() and
 *     hl_mac_lookup() concurrently, without locks;
 *   - at most one control thread at a time calls hl_mac_age(),
 *     hl_mac_flush_port(), hl_mac_dump() and hl_mac_table_stats(),
 *     concurrently with the data path.
 *   create/destroy run while no other thread uses the table.
 *
 * Layout: open addressing with linear probing over 2 * capacity slots (so
 * the load stays at or under one half), each slot 16 bytes: one atomic word
 * packing MAC (48 bits) | port + 1 (16 bits), 0 for empty and all-ones for a
 * tombstone, and next to it the last-seen time. A lookup therefore reads a
 * MAC and its port in one atomic load and can never pair a MAC with a port
 * it was not learned on. Inserts claim a slot by CAS (the first tombstone or
 * empty slot of the probe chain), a move is a CAS of the word from the old
 * port to the new, and learning a known MAC on its own port writes the
 * timestamp only when it has moved on by the refresh interval (1 ms, or an
 * eighth of the aging time if smaller), so busy MACs do not bounce the cache
 * line between cores.
 *
 * Deletion (aging, flush) is the control thread's alone: it turns a slot into
 * a tombstone, which keeps probe chains intact and is reused by later
 * inserts. Each hl_mac_age() and hl_mac_flush_port() sweep then turns
 * tombstones that end a chain (followed by an empty slot) back into empty
 * slots, so unknown-MAC lookups stay short.
 *
 * Races the design accepts, each healed by the next hl_mac_age():
 *   - an entry refreshed in the instant it expires may still be dropped; the
 *     next frame from that MAC learns it again;
 *   - an insert racing with a deletion can leave a MAC in two slots, or in a
 *     slot a lookup cannot reach; lookups then see the first copy (a port the
 *     MAC was learned on) or miss (the frame is flooded). hl_mac_age() drops
 *     such copies.
 * Lookups never block and never return a port the MAC was not learned on.
 *
 * Learning happens per packet, so refusals there (multicast source, table
 * full) are counted, never logged.
 */
#ifndef HUGELINK_MAC_TABLE_H
#define HUGELINK_MAC_TABLE_H

#include <stdint.h>

#include <hugelink/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HL_MAC_PORT_MAX 0xFFFEu          /* ports 0..HL_MAC_PORT_MAX can be learned */
#define HL_MAC_TABLE_MAX_CAPACITY (1u << 22)

struct hl_mac_table;

struct hl_mac_entry {
	uint8_t mac[6];
	uint16_t port;
	uint64_t age_ns; /* now - last seen */
};

struct hl_mac_stats {
	uint64_t learned;  /* new entries */
	uint64_t moved;    /* known MACs seen on another port */
	uint8_t last_move_mac[6]; /* the latest of those moves ... */
	int last_move_port;       /* ... and where to; -1: none yet */
	uint64_t full;     /* new MACs refused for lack of room */
	uint64_t expired;  /* entries dropped by hl_mac_age() for their age */
	unsigned entries;  /* entries now in the table */
	uint64_t invalid;  /* learns refused: multicast, broadcast or zero MAC, bad port */
};

/*
 * Room for `capacity` entries (rounded up to a power of two, at most
 * HL_MAC_TABLE_MAX_CAPACITY). Entries not seen for more than aging_ns are
 * forgotten (0: never).
 */
int hl_mac_table_create(unsigned capacity, uint64_t aging_ns, struct hl_mac_table **out);
void hl_mac_table_destroy(struct hl_mac_table *t);

/*
 * Learn that `mac` (a source address) was seen on `port` at now_ns. Returns
 * 0, -EINVAL for a multicast, broadcast or all-zero MAC or a port above
 * HL_MAC_PORT_MAX (nothing learned), -ENOSPC when the table holds capacity
 * entries already (counted in stats.full), -EAGAIN in the unlikely case
 * that other threads kept changing its slot through 16 attempts (nothing
 * learned; the next frame tries again). A MAC seen on another port than
 * before moves there (stats.moved, and stats.last_move_* name the latest).
 */
int hl_mac_learn(struct hl_mac_table *t, const uint8_t mac[6], uint16_t port, uint64_t now_ns);

/*
 * The port `mac` was last seen on, or -1 if it is unknown, multicast, or was
 * last seen more than the aging time before now_ns.
 */
int hl_mac_lookup(const struct hl_mac_table *t, const uint8_t mac[6], uint64_t now_ns);

/* Control thread: drop entries older than the aging time; returns how many. */
unsigned hl_mac_age(struct hl_mac_table *t, uint64_t now_ns);

/* Control thread: forget every MAC learned on `port` (a deleted port); returns how many. */
unsigned hl_mac_flush_port(struct hl_mac_table *t, uint16_t port);

/*
 * Control thread: copy up to `max` live (not expired) entries to out, in
 * table order; returns how many were written.
 */
unsigned hl_mac_dump(const struct hl_mac_table *t, uint64_t now_ns, struct hl_mac_entry *out,
		     unsigned max);

/* Control thread: counters since create (relaxed: each is exact, not all at one instant). */
void hl_mac_table_stats(const struct hl_mac_table *t, struct hl_mac_stats *st);

#ifdef __cplusplus
}
#endif
#endif
