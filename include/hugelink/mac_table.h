/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The L2 switch's MAC learning table: (VLAN, source MAC) -> port it was last
 * seen on, with aging.
 *
 * Threads:
 *   - any number of data-path threads call hl_mac_learn() and
 *     hl_mac_lookup() concurrently, without locks;
 *   - at most one control thread at a time calls hl_mac_age(),
 *     hl_mac_flush_port(), hl_mac_dump() and hl_mac_table_stats(),
 *     concurrently with the data path.
 *   create/destroy run while no other thread uses the table.
 *
 * Keys: a MAC is learned per VLAN (0..HL_MAC_VLAN_MAX; 0 is what ports
 * without VLANs use), so one MAC on two VLANs is two entries, each with its
 * own port and age, and a lookup names the VLAN it asks in.
 *
 * Layout: open addressing with linear probing over 2 * capacity slots (so
 * the load stays at or under one half), each slot 24 bytes: a 64-bit key
 * word holding the VLAN + 1 (12 bits) and the MAC (48 bits) under a 4-bit
 * generation, a 32-bit port word (generation | port + 1), and the last-seen
 * time. Empty and deleted slots are key values no entry can have (a zero
 * VLAN field, resp. the broadcast MAC under VLAN field 0xfff) and keep the
 * slot's generation. Every insert into a slot bumps its generation; the
 * insert that claimed the slot by CAS on the key then publishes the port
 * word with the same generation, and a lookup takes a port only from a port
 * word whose generation matches the key it found: an insert not yet
 * finished reads as a miss, and a slot emptied and filled again between the
 * lookup's two loads shows another generation, so a lookup never pairs a
 * VLAN and MAC with a port it was not learned on unless one slot is reused
 * 16 times within those two loads. A move is a CAS of the port word, within
 * its generation, from the old port to the new; learning a known MAC on its
 * own port writes the timestamp only when it has moved on by the refresh
 * interval (1 ms, or an eighth of the aging time if smaller), so busy MACs
 * do not bounce the cache line between cores.
 *
 * Deletion (aging, flush) is the control thread's alone: it turns a slot into
 * a tombstone, which keeps probe chains intact and is reused by later
 * inserts. Each hl_mac_age() and hl_mac_flush_port() sweep then turns
 * tombstones that end a chain (followed by an empty slot) back into empty
 * slots, so unknown-MAC lookups stay short.
 *
 * Races the design accepts, each healed by the next hl_mac_age() or frame:
 *   - an entry refreshed in the instant it expires may still be dropped; the
 *     next frame from that MAC learns it again;
 *   - an insert racing with a deletion can leave a MAC in two slots, or in a
 *     slot a lookup cannot reach; lookups then see the first copy (a port the
 *     MAC was learned on) or miss (the frame is flooded). hl_mac_age() drops
 *     such copies;
 *   - hl_mac_flush_port() racing with a move of the same MAC off that port
 *     may forget it on its new port; its next frame learns it again;
 *   - an insert that loses its port word's CAS 16 times in a row (to stale
 *     movers of the slot's last entry) leaves an entry that reads as a miss
 *     (its frames flood) until it ages out.
 * Lookups never block and never return a port the MAC was not learned on
 * in that VLAN (within the 16-reuse bound above).
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
#define HL_MAC_VLAN_MAX 4094u            /* VLANs 0..HL_MAC_VLAN_MAX (802.1Q ids; 0: untagged ports) */
#define HL_MAC_TABLE_MAX_CAPACITY (1u << 22)

struct hl_mac_table;

struct hl_mac_entry {
	uint8_t mac[6];
	uint16_t port;
	uint16_t vlan;
	uint64_t age_ns; /* now - last seen */
};

struct hl_mac_stats {
	uint64_t learned;  /* new entries */
	uint64_t moved;    /* known MACs seen on another port */
	uint8_t last_move_mac[6]; /* the latest of those moves ... */
	int last_move_port;       /* ... and where to; -1: none yet */
	uint16_t last_move_vlan;  /* ... in which VLAN (kept apart: may be of a move at the same instant) */
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
/* The same in VLAN `vlan`; -EINVAL also for a VLAN above HL_MAC_VLAN_MAX. hl_mac_learn() is VLAN 0. */
int hl_mac_learn_vlan(struct hl_mac_table *t, uint16_t vlan, const uint8_t mac[6], uint16_t port,
		      uint64_t now_ns);

/*
 * The port `mac` was last seen on, or -1 if it is unknown, multicast, or was
 * last seen more than the aging time before now_ns.
 */
int hl_mac_lookup(const struct hl_mac_table *t, const uint8_t mac[6], uint64_t now_ns);
/* The same in VLAN `vlan` (-1 also for a VLAN above HL_MAC_VLAN_MAX). hl_mac_lookup() is VLAN 0. */
int hl_mac_lookup_vlan(const struct hl_mac_table *t, uint16_t vlan, const uint8_t mac[6], uint64_t now_ns);

/* Control thread: drop entries older than the aging time; returns how many. */
unsigned hl_mac_age(struct hl_mac_table *t, uint64_t now_ns);

/* Control thread: forget every MAC learned on `port` (a deleted port); returns how many. */
unsigned hl_mac_flush_port(struct hl_mac_table *t, uint16_t port);
/*
 * Control thread: forget the MACs learned on `port` in VLANs whose bit in
 * keep (bit v % 64 of word v / 64 for VLAN v, bit 0 for VLAN 0) is clear:
 * the VLANs a port left. Returns how many.
 */
unsigned hl_mac_flush_port_vlans(struct hl_mac_table *t, uint16_t port, const uint64_t keep[64]);

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
