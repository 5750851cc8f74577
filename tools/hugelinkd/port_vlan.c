/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A port's VLAN membership in hugelinkd's JSON, for every port kind alike:
 * "vlan": N (an access port of VLAN N, 1..4094) or "trunk": [N, "P-Q", ...]
 * (the 802.1Q-tagged VLANs the port carries, tools/common/vlan_list.h),
 * neither (or "vlan": 0 and "trunk": []) for an untagged port. The same
 * fields come in a port-add request, a config file and the saved port list,
 * and go out in `port list`.
 */
#include <errno.h>
#include <string.h>

#include "hugelinkd.h"
#include "../common/vlan_list.h"

int hld_vlan_fields(const struct hl_json *spec, const char *name, struct hl_sw_vlan *v)
{
	const struct hl_json *jv = hl_json_get(spec, "vlan"), *jt = hl_json_get(spec, "trunk");
	uint64_t zero;
	/* "vlan": 0 and "trunk": [] are how `port list` shows an untagged port, so a listing reads back */
	bool access = jv != NULL && !hl_json_is_null(jv) && !(hl_json_u64(jv, &zero) && zero == 0);
	bool trunk = jt != NULL && !hl_json_is_null(jt) && !(hl_json_type(jt) == HL_JSON_ARR && hl_json_len(jt) == 0);

	memset(v, 0, sizeof(*v));
	if (access && trunk)
		return hl_error(-EINVAL, "port %s: an access port (\"vlan\") or a trunk (\"trunk\"), not both", name);
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
		v->mode = HL_SW_VLAN_TRUNK;
	}
	return 0;
}

void hld_vlan_json(struct hl_jw *w, const struct hl_sw_vlan *v, bool always)
{
	if (always || v->mode == HL_SW_VLAN_ACCESS)
		hl_jw_kv_u64(w, "vlan", v->mode == HL_SW_VLAN_ACCESS ? v->vid : 0);
	if (!always && v->mode != HL_SW_VLAN_TRUNK)
		return;
	static const uint64_t none[64];
	hl_jw_key(w, "trunk");
	hl_tool_vlan_list_json(w, v->mode == HL_SW_VLAN_TRUNK ? v->trunk : none);
}
