/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hlctl's VLAN options, taken by `port add` of every kind:
 *   --vlan N           an access port of VLAN N (untagged frames, 1..4094)
 *   --trunk N,M-P,...  a trunk: 802.1Q-tagged frames of these VLANs
 * They are taken out of the argument list before the kind's own options
 * are read, and become the request's "vlan" / "trunk" fields; hugelinkd
 * checks them again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hlctl.h"
#include "../common/vlan_list.h"

static bool trunk_list(const char *s, uint64_t set[64])
{
	memset(set, 0, 64 * sizeof(uint64_t));
	do {
		unsigned lo, hi;
		if (!hl_tool_vlan_range(s, &lo, &hi, &s))
			return false;
		for (unsigned v = lo; v <= hi; v++)
			set[v / 64] |= 1ull << (v % 64);
	} while (*s == ',' && *++s != '\0');
	return *s == '\0';
}

int hlctl_vlan_args(int *argc, char **argv, struct hlctl_vlan *v, char *err, size_t errlen)
{
	int out = 0;

	memset(v, 0, sizeof(*v));
	for (int i = 0; i < *argc; i++) {
		bool vlan = strcmp(argv[i], "--vlan") == 0, trunk = strcmp(argv[i], "--trunk") == 0;
		if (!vlan && !trunk) {
			argv[out++] = argv[i];
			continue;
		}
		if (v->vlan != 0 || v->trunk) {
			snprintf(err, errlen, "port add: give one of --vlan or --trunk, once");
			return -1;
		}
		const char *a = i + 1 < *argc ? argv[++i] : "", *end;
		unsigned hi;
		if (vlan && (!hl_tool_vlan_range(a, &v->vlan, &hi, &end) || hi != v->vlan || *end != '\0')) {
			snprintf(err, errlen, "port add: --vlan takes one VLAN id in 1..4094, not '%s'", a);
			return -1;
		}
		if (trunk && !trunk_list(a, v->set)) {
			snprintf(err, errlen, "port add: --trunk takes VLAN ids 1..4094 as N,M or N-M, not '%s'", a);
			return -1;
		}
		v->trunk = trunk;
	}
	*argc = out;
	return 0;
}

void hlctl_vlan_json(struct hl_jw *w, const struct hlctl_vlan *v)
{
	if (v->vlan != 0)
		hl_jw_kv_u64(w, "vlan", v->vlan);
	if (!v->trunk)
		return;
	hl_jw_key(w, "trunk");
	hl_tool_vlan_list_json(w, v->set);
}
