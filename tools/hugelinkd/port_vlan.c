/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A port's VLAN membership in hugelinkd's JSON, for every port kind alike:
 * "vlan": N (an access port of VLAN N, 1..4094) or "trunk": [N, M, ...]
 * (802.1Q-tagged VLANs the port carries), neither (or "vlan": 0, "trunk":
 * []) for an untagged port. The
 * same fields come in a port-add request, a config file and the saved port
 * list, and go out in `port list`.
 */
#include <errno.h>
#include <string.h>

#include "hugelinkd.h"

static int vid_of(const struct hl_json *j, const char *name, const char *key, uint16_t *vid)
{
	uint64_t v;
	if (!hl_json_u64(j, &v) || v < 1 || v > HL_SW_VLAN_ID_MAX)
		return hl_error(-EINVAL, "port %s: \"%s\" takes VLAN ids 1..%u", name, key, HL_SW_VLAN_ID_MAX);
	*vid = (uint16_t)v;
	return 0;
}

int hld_vlan_fields(const struct hl_json *spec, const char *name, struct hl_sw_vlan *v)
{
	const struct hl_json *jv = hl_json_get(spec, "vlan"), *jt = hl_json_get(spec, "trunk");
	uint64_t zero;
	/* "vlan": 0 and "trunk": [] are what `port list` shows for an untagged port: so they mean */
	bool access = jv != NULL && !hl_json_is_null(jv) && !(hl_json_u64(jv, &zero) && zero == 0);
	bool trunk = jt != NULL && !hl_json_is_null(jt) && !(hl_json_type(jt) == HL_JSON_ARR && hl_json_len(jt) == 0);
	int rc;

	memset(v, 0, sizeof(*v));
	if (access && trunk)
		return hl_error(-EINVAL, "port %s: an access port (\"vlan\") or a trunk (\"trunk\"), not both", name);
	if (access) {
		if ((rc = vid_of(jv, name, "vlan", &v->vid)) < 0)
			return rc;
		v->mode = HL_SW_VLAN_ACCESS;
	} else if (trunk) {
		if (hl_json_type(jt) != HL_JSON_ARR)
			return hl_error(-EINVAL, "port %s: \"trunk\" must be a list of VLAN ids", name);
		for (size_t i = 0; i < hl_json_len(jt); i++) {
			uint16_t vid = 0;
			if ((rc = vid_of(hl_json_at(jt, i), name, "trunk", &vid)) < 0)
				return rc;
			v->trunk[vid / 64] |= 1ull << (vid % 64);
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
	hl_jw_key(w, "trunk");
	hl_jw_arr_begin(w);
	for (unsigned vid = 1; v->mode == HL_SW_VLAN_TRUNK && vid <= HL_SW_VLAN_ID_MAX; vid++)
		if (hl_sw_vlan_carries(v, (uint16_t)vid))
			hl_jw_u64(w, vid);
	hl_jw_arr_end(w);
}
