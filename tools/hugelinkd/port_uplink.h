/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hugelinkd's ports that leave the host (port_uplink.c): their JSON fields
 * checked and turned into a port, and written back for `port list`, stats
 * and the saved port list, so the commands and the port list on disk know
 * only that such kinds exist.
 */
#ifndef HUGELINKD_PORT_UPLINK_H
#define HUGELINKD_PORT_UPLINK_H

#include <stdbool.h>
#include <stdint.h>

#include <hugelink/json.h>
#include <hugelink/switch.h>

/* What an uplink port was created with (in struct port_conf). */
struct uplink_conf {
	char remote[8 * 16];        /* vxlan: dotted IPv4, comma-separated when several */
	char local[16];             /* dotted IPv4; "" when not given */
	uint32_t vni;
	uint16_t dstport, mtu;
	char ifname[16];            /* afxdp */
	unsigned queues;
	char mode[8], zerocopy[8];  /* "native"/"generic"; "auto"/"on"/"off" */
};

struct daemon;
struct port_conf;

/* Whether kind is one of the kinds below ("vxlan", "afxdp"). */
bool hld_uplink_kind(const char *kind);
/*
 * Check spec's fields for a port of that kind and create it (not yet in the
 * switch); fills c's kind and uplink fields. 0 or -errno with the reason.
 */
int hld_uplink_create(struct daemon *d, const char *kind, const struct hl_json *spec, struct port_conf *c,
		      struct hl_sw_port **p);
/* The fields that re-create the port (for port list and the saved list), into an open object. */
void hld_uplink_json(const struct port_conf *c, struct hl_jw *w);
/* The port's own counters, by reason, into an open object (nothing for other kinds). */
void hld_uplink_stats_json(const struct hl_sw_port *p, struct hl_jw *w);

#endif
