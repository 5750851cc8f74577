/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A port's VLAN membership in hugelinkd's JSON, for every port kind alike:
 * "vlan": N (an access port of VLAN N, 1..4094) or "trunk": [N, "P-Q", ...]
 * (the 802.1Q-tagged VLANs the port carries, tools/common/vlan_list.h) with
 * an optional "native_vlan": N (its untagged frames' VLAN), neither (or
 * "vlan": 0, "trunk": [] and "native_vlan": 0) for an untagged port. The
 * same fields come in a port-add request, a port-set request, a config file
 * and the saved port list, and go out in `port list`.
 */
#include <errno.h>
#include <string.h>

#include "hugelinkd.h"
#include "../common/vlan_list.h"

/* Is field j there with something other than what `port list` shows for "none" (0, [] or null)? */
static bool vlan_set(const struct hl_json *j)
{
	uint64_t zero;
	return j != NULL && !hl_json_is_null(j) && !(hl_json_u64(j, &zero) && zero == 0) &&
	       !(hl_json_type(j) == HL_JSON_ARR && hl_json_len(j) == 0);
}

int hld_vlan_fields(const struct hl_json *spec, const char *name, struct hl_sw_vlan *v)
{
	const struct hl_json *jv = hl_json_get(spec, "vlan"), *jt = hl_json_get(spec, "trunk");
	const struct hl_json *jn = hl_json_get(spec, "native_vlan");
	/* "vlan": 0 and "trunk": [] are how `port list` shows an untagged port, so a listing reads back */
	bool access = vlan_set(jv), trunk = vlan_set(jt), native = vlan_set(jn);

	memset(v, 0, sizeof(*v));
	if (access && trunk)
		return hl_error(-EINVAL, "port %s: an access port (\"vlan\") or a trunk (\"trunk\"), not both", name);
	if (native && !trunk)
		return hl_error(-EINVAL, "port %s: \"native_vlan\" is a trunk's: give \"trunk\" too", name);
	unsigned lo, hi;
	if (access) {
		if (hl_json_str(jv) != NULL || !hl_tool_vlan_item(jv, &lo, &hi))
			return hl_error(-EINVAL, "port %s: \"vlan\" takes a VLAN id in 1..%u", name, HL_SW_VLAN_ID_MAX);
		v->vid = (uint16_t)lo;
		v->mode = HL_SW_VLAN_ACCESS;
	} else if (trunk) {
		if (hl_json_type(jt) != HL_JSON_ARR)
			return hl_error(-EINVAL, "port %s: \"trunk\" must be a list of VLAN ids", name);
		for (size_t i = 0; i < hl_json_len(jt); i++) {
			if (!hl_tool_vlan_item(hl_json_at(jt, i), &lo, &hi))
				return hl_error(-EINVAL, "port %s: \"trunk\" takes VLAN ids 1..%u, or \"N-M\" runs of them",
						name, HL_SW_VLAN_ID_MAX);
			for (unsigned id = lo; id <= hi; id++)
				v->trunk[id / 64] |= 1ull << (id % 64);
		}
		if (native && (hl_json_str(jn) != NULL || !hl_tool_vlan_item(jn, &lo, &hi)))
			return hl_error(-EINVAL, "port %s: \"native_vlan\" takes a VLAN id in 1..%u", name,
					HL_SW_VLAN_ID_MAX);
		v->native = native ? (uint16_t)lo : 0;
		v->mode = HL_SW_VLAN_TRUNK;
	}
	return 0;
}

void hld_vlan_json(struct hl_jw *w, const struct hl_sw_vlan *v, bool always)
{
	bool trunk = v->mode == HL_SW_VLAN_TRUNK;
	if (always || v->mode == HL_SW_VLAN_ACCESS)
		hl_jw_kv_u64(w, "vlan", v->mode == HL_SW_VLAN_ACCESS ? v->vid : 0);
	if (always || (trunk && v->native != 0))
		hl_jw_kv_u64(w, "native_vlan", trunk ? v->native : 0);
	if (!always && !trunk)
		return;
	static const uint64_t none[64];
	hl_jw_key(w, "trunk");
	hl_tool_vlan_list_json(w, trunk ? v->trunk : none);
}

int hld_port_set_vlan(struct daemon *d, const struct hl_json *spec, const char *name)
{
	struct hl_sw_port *p = hl_switch_find_port(d->sw, name);
	struct hl_sw_vlan v;
	if (p == NULL)
		return hl_error(-ENOENT, "no port %s", name);
	/* nothing given is a mistake, not a way to say "untagged" ("vlan": 0 is) */
	if (hl_json_get(spec, "vlan") == NULL && hl_json_get(spec, "trunk") == NULL)
		return hl_error(-EINVAL, "port %s: give \"vlan\" (an access port; 0: untagged) or \"trunk\"", name);
	int rc = hld_vlan_fields(spec, name, &v);
	if (rc < 0 || (rc = hl_switch_set_port_vlan(d->sw, name, &v)) < 0)
		return rc;
	d->conf[p->id].vlan = p->vlan;
	return 0;
}
