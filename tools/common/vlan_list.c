/* SPDX-License-Identifier: BSD-3-Clause */
/* A trunk's VLAN list to and from JSON (vlan_list.h has the form). */
#include <stdio.h>
#include <stdlib.h>

#include "vlan_list.h"

static bool vid_at(const char **s, unsigned *v)
{
	char *end;
	if (**s < '0' || **s > '9')
		return false;
	unsigned long n = strtoul(*s, &end, 10);
	if (n < 1 || n > 4094)
		return false;
	*v = (unsigned)n;
	*s = end;
	return true;
}

bool hl_tool_vlan_range(const char *s, unsigned *lo, unsigned *hi, const char **end)
{
	if (!vid_at(&s, lo))
		return false;
	*hi = *lo;
	if (*s == '-' && (s++, !vid_at(&s, hi) || *hi < *lo))
		return false;
	*end = s;
	return true;
}

bool hl_tool_vlan_item(const struct hl_json *item, unsigned *lo, unsigned *hi)
{
	uint64_t v;
	const char *s = hl_json_str(item), *end;
	if (s != NULL)
		return hl_tool_vlan_range(s, lo, hi, &end) && *end == '\0';
	if (!hl_json_u64(item, &v) || v < 1 || v > 4094)
		return false;
	*lo = *hi = (unsigned)v;
	return true;
}

static bool has(const uint64_t set[64], unsigned v)
{
	return v <= 4094 && (set[v / 64] >> (v % 64) & 1);
}

void hl_tool_vlan_list_json(struct hl_jw *w, const uint64_t set[64])
{
	hl_jw_arr_begin(w);
	for (unsigned v = 1; v <= 4094; v++) {
		if (!has(set, v))
			continue;
		unsigned hi = v;
		while (has(set, hi + 1))
			hi++;
		if (hi - v >= 2) {
			char r[12];
			snprintf(r, sizeof(r), "%u-%u", v, hi);
			hl_jw_str(w, r);
			v = hi;
		} else {
			hl_jw_u64(w, v);
		}
	}
	hl_jw_arr_end(w);
}
