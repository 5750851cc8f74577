/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Port VLAN membership and the egress tag change (sw_vlan_pvt.h).
 *
 * Invariants: a port's membership is set before it joins a switch and
 * never changes inside one, so workers read it without synchronization.
 * Tags are pushed and popped by hl_ol_vlan_push/pop, which write a frame
 * only where it is the switch's alone: a flooded frame shared by several
 * output queues, or a guest's zero-copy buffer, gets a private head.
 */
#include <errno.h>
#include <string.h>

#include "sw_vlan_pvt.h"

int hl_sw_port_set_vlan(struct hl_sw_port *p, const struct hl_sw_vlan *v)
{
	if (p == NULL || v == NULL)
		return hl_error(-EINVAL, "VLAN: no port or no membership");
	switch (v->mode) {
	case HL_SW_VLAN_NONE:
		break;
	case HL_SW_VLAN_ACCESS:
		if (v->vid < 1 || v->vid > HL_SW_VLAN_ID_MAX)
			return hl_error(-EINVAL, "port %s: access VLAN %u not in 1..%u", p->name, v->vid,
					HL_SW_VLAN_ID_MAX);
		break;
	case HL_SW_VLAN_TRUNK: {
		/* VLAN 0 (priority tags) and 4095 are reserved: bits 0 and 4095 must be clear */
		uint64_t any = 0;
		for (unsigned i = 0; i < HL_ARRAY_SIZE(v->trunk); i++)
			any |= v->trunk[i];
		if ((v->trunk[0] & 1) || (v->trunk[63] >> 63))
			return hl_error(-EINVAL, "port %s: a trunk carries VLANs 1..%u only", p->name,
					HL_SW_VLAN_ID_MAX);
		if (any == 0)
			return hl_error(-EINVAL, "port %s: a trunk must carry at least one VLAN", p->name);
		break;
	}
	default:
		return hl_error(-EINVAL, "port %s: VLAN mode %u unknown", p->name, v->mode);
	}
	p->vlan = *v;
	return 0;
}

uint16_t sw_vlan_retag(const struct hl_sw_vlan *from, const struct hl_sw_vlan *to, struct hl_buf **pkts,
		       uint16_t n, struct hl_bufpool *bp, struct hl_sw_port_stats *st)
{
	const bool push = from->mode == HL_SW_VLAN_ACCESS && to->mode == HL_SW_VLAN_TRUNK;
	uint16_t kept = 0;

	if (!push && !(from->mode == HL_SW_VLAN_TRUNK && to->mode == HL_SW_VLAN_ACCESS))
		return n; /* untagged ports meet only each other: nothing to change */
	for (uint16_t k = 0; k < n; k++) {
		struct hl_buf *b;
		int rc = push ? hl_ol_vlan_push(pkts[k], from->vid, bp, &b) : hl_ol_vlan_pop(pkts[k], bp, &b);
		if (hl_unlikely(rc < 0)) {
			st->drops[rc == -ENOBUFS ? HL_SW_DROP_NO_BUF : HL_SW_DROP_BAD]++;
			hl_buf_free(pkts[k]);
			continue;
		}
		pkts[kept++] = b;
	}
	return kept;
}
