/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A trunk's VLAN list in hugelink's JSON (hlctl's requests, hugelinkd's
 * saved port list and listing): an array whose items are VLAN ids or, for
 * a run of three or more, "N-M" strings, so a trunk of every VLAN is one
 * short item and the port list stays within the control socket's and the
 * state file's 64 KiB.
 */
#ifndef HL_TOOLS_VLAN_LIST_H
#define HL_TOOLS_VLAN_LIST_H

#include <stdbool.h>
#include <stdint.h>

#include <hugelink/json.h>

/* One item ("12", "100-110", or a number): its first and last VLAN id, each 1..4094. */
bool hl_tool_vlan_item(const struct hl_json *item, unsigned *lo, unsigned *hi);
/* "N" or "N-M" at the start of s, 1..4094 and lo <= hi; *end past it. */
bool hl_tool_vlan_range(const char *s, unsigned *lo, unsigned *hi, const char **end);
/* Write set (bit v of word v / 64 for VLAN v) as such an array. */
void hl_tool_vlan_list_json(struct hl_jw *w, const uint64_t set[64]);

#endif
