/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hlctl's VLAN options, taken by `port add` of every kind and `port set`:
 *   --vlan N           an access port of VLAN N (untagged frames, 1..4094)
 *   --trunk N,M-P,...  a trunk: 802.1Q-tagged frames of these VLANs
 *   --native-vlan N    with --trunk: its untagged frames are VLAN N's
 *   --untagged         `port set` only: neither (VLAN 0)
 * They are taken out of the argument list before the kind's own options
 * are read, and become the request's "vlan" / "trunk" / "native_vlan"
 * fields; hugelinkd checks them again.
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

/* One VLAN id, all of a. */
static bool one_vlan(const char *a, unsigned *vid)
{
	const char *end;
	unsigned hi;
	return hl_tool_vlan_range(a, vid, &hi, &end) && hi == *vid && *end == '\0';
}

int hlctl_vlan_args(int *argc, char **argv, const char *cmd, bool untagged_ok, struct hlctl_vlan *v, char *err,
		    size_t errlen)
{
	int out = 0;

	memset(v, 0, sizeof(*v));
	for (int i = 0; i < *argc; i++) {
		bool vlan = strcmp(argv[i], "--vlan") == 0, trunk = strcmp(argv[i], "--trunk") == 0;
		bool native = strcmp(argv[i], "--native-vlan") == 0;
		bool untagged = untagged_ok && strcmp(argv[i], "--untagged") == 0;
		if (!vlan && !trunk && !native && !untagged) {
			argv[out++] = argv[i];
			continue;
		}
		if (native) {
			const char *a = i + 1 < *argc ? argv[++i] : "";
			if (v->native != 0 || !one_vlan(a, &v->native)) {
				snprintf(err, errlen, "%s: --native-vlan takes one VLAN id in 1..4094, once, not '%s'", cmd, a);
				return -1;
			}
			continue;
		}
		if (v->vlan != 0 || v->trunk || v->untagged) {
			snprintf(err, errlen, "%s: give one of --vlan, --trunk%s, once", cmd, untagged_ok ? " or --untagged" : "");
			return -1;
		}
		if (untagged) {
			v->untagged = true;
			continue;
		}
		const char *a = i + 1 < *argc ? argv[++i] : "";
		if (vlan && !one_vlan(a, &v->vlan)) {
			snprintf(err, errlen, "%s: --vlan takes one VLAN id in 1..4094, not '%s'", cmd, a);
			return -1;
		}
		if (trunk && !trunk_list(a, v->set)) {
			snprintf(err, errlen, "%s: --trunk takes VLAN ids 1..4094 as N,M or N-M, not '%s'", cmd, a);
			return -1;
		}
		v->trunk = trunk;
	}
	if (v->native != 0 && !v->trunk) {
		snprintf(err, errlen, "%s: --native-vlan goes with --trunk", cmd);
		return -1;
	}
	*argc = out;
	return 0;
}

void hlctl_vlan_json(struct hl_jw *w, const struct hlctl_vlan *v)
{
	if (v->vlan != 0 || v->untagged)
		hl_jw_kv_u64(w, "vlan", v->vlan); /* "vlan": 0 is untagged */
	if (!v->trunk)
		return;
	hl_jw_key(w, "trunk");
	hl_tool_vlan_list_json(w, v->set);
	if (v->native != 0)
		hl_jw_kv_u64(w, "native_vlan", v->native);
}
