/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Port VLAN membership and the egress tag change (sw_vlan_pvt.h).
 *
 * Invariants: what the workers read of a port's membership is an immutable
 * copy (hl_sw_port.vlan_live) that the switch replaces whole, never writes;
 * so a worker sees one membership or the next, and never half of either.
 * Each frame's VLAN and whether it is tagged are decided once, at ingress,
 * and travel beside it, so a frame flooded to several ports is made to fit
 * each from that record, not from bytes read again. Tags are pushed and
 * popped by hl_ol_vlan_push/pop, which write a frame only where it is the
 * switch's alone: a flooded frame shared by several output queues, or a
 * guest's zero-copy buffer, gets a private head.
 */
#include <errno.h>
#include <string.h>

#include "sw_vlan_pvt.h"

int sw_vlan_check(const char *name, const struct hl_sw_vlan *v, struct hl_sw_vlan *out)
{
	if (v == NULL)
		return hl_error(-EINVAL, "VLAN: port %s: no membership", name);
	if (v->native != 0 && v->mode != HL_SW_VLAN_TRUNK)
		return hl_error(-EINVAL, "port %s: a native VLAN is a trunk's (untagged frames on it)", name);
	switch (v->mode) {
	case HL_SW_VLAN_NONE:
		break;
	case HL_SW_VLAN_ACCESS:
		if (v->vid < 1 || v->vid > HL_SW_VLAN_ID_MAX)
			return hl_error(-EINVAL, "port %s: access VLAN %u not in 1..%u", name, v->vid, HL_SW_VLAN_ID_MAX);
		break;
	case HL_SW_VLAN_TRUNK: {
		if (v->native > HL_SW_VLAN_ID_MAX)
			return hl_error(-EINVAL, "port %s: native VLAN %u not in 1..%u", name, v->native,
					HL_SW_VLAN_ID_MAX);
		/* VLAN 0 (priority tags) and 4095 are reserved: bits 0 and 4095 must be clear */
		uint64_t any = 0;
		for (unsigned i = 0; i < HL_ARRAY_SIZE(v->trunk); i++)
			any |= v->trunk[i];
		if ((v->trunk[0] & 1) || (v->trunk[63] >> 63))
			return hl_error(-EINVAL, "port %s: a trunk carries VLANs 1..%u only", name, HL_SW_VLAN_ID_MAX);
		if (any == 0 && v->native == 0)
			return hl_error(-EINVAL, "port %s: a trunk must carry at least one VLAN", name);
		break;
	}
	default:
		return hl_error(-EINVAL, "port %s: VLAN mode %u unknown", name, v->mode);
	}
	*out = *v;
	if (v->mode == HL_SW_VLAN_TRUNK && v->native != 0)
		out->trunk[v->native / 64] |= 1ull << (v->native % 64);
	return 0;
}

int hl_sw_port_set_vlan(struct hl_sw_port *p, const struct hl_sw_vlan *v)
{
	if (p == NULL)
		return hl_error(-EINVAL, "VLAN: no port");
	struct hl_sw_vlan m;
	int rc = sw_vlan_check(p->name, v, &m);
	if (rc == 0)
		p->vlan = m;
	return rc;
}

uint16_t sw_vlan_retag(const struct hl_sw_vlan *to, struct hl_buf **pkts, uint16_t *tags, uint16_t n,
		       struct hl_bufpool *bp, struct hl_sw_port_stats *st)
{
	uint16_t kept = 0;

	for (uint16_t k = 0; k < n; k++) {
		uint16_t vid = SW_VLAN_VID(tags[k]);
		bool want = sw_vlan_tags(to, vid), has = tags[k] & SW_VLAN_TAGGED;
		struct hl_buf *b = pkts[k];
		if (want != has) {
			int rc = want ? hl_ol_vlan_push(pkts[k], vid, bp, &b) : hl_ol_vlan_pop(pkts[k], bp, &b);
			if (hl_unlikely(rc < 0)) {
				st->drops[rc == -ENOBUFS ? HL_SW_DROP_NO_BUF : HL_SW_DROP_BAD]++;
				hl_buf_free(pkts[k]);
				continue;
			}
		}
		tags[kept] = (uint16_t)(vid | (want ? SW_VLAN_TAGGED : 0));
		pkts[kept++] = b;
	}
	return kept;
}

uint16_t sw_vlan_refilter(const struct hl_sw_vlan *to, struct hl_buf **pkts, uint16_t *tags, uint16_t n,
			  struct hl_sw_port_stats *st)
{
	uint16_t kept = 0;

	for (uint16_t k = 0; k < n; k++) {
		if (hl_unlikely(!hl_sw_vlan_carries(to, SW_VLAN_VID(tags[k])))) {
			st->drops[HL_SW_DROP_NO_PORT]++;
			hl_buf_free(pkts[k]);
			continue;
		}
		tags[kept] = tags[k];
		pkts[kept++] = pkts[k];
	}
	return kept;
}
