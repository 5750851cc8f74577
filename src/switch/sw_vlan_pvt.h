/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The switch's VLAN steps in the data path (sw_vlan.c has the rest): which
 * VLAN a frame belongs to as it comes in, and its tag made to fit the port
 * it leaves by. Not API.
 *
 * A frame is read here once, field by field into locals: its bytes may be
 * guest or peer memory that changes meanwhile, and nothing read is trusted
 * beyond the decision it makes.
 */
#ifndef HL_SW_VLAN_PVT_H
#define HL_SW_VLAN_PVT_H

#include <hugelink/switch.h>

#define SW_ETH_P_8021Q 0x8100u
#define SW_ETH_P_8021AD 0x88a8u
#define SW_ETH_P_QINQ_OLD 0x9100u /* the pre-802.1ad double-tag TPID some switches still send */

static inline bool sw_vlan_tpid(uint16_t type)
{
	return type == SW_ETH_P_8021Q || type == SW_ETH_P_8021AD || type == SW_ETH_P_QINQ_OLD;
}

/*
 * The VLAN frame b (its head holds 14 bytes at least) belongs to, having
 * come in by a port with membership v: 0 on an untagged port, whatever the
 * frame; else 1..4094, or -1 with *why the drop reason.
 */
static inline int sw_vlan_ingress(const struct hl_sw_vlan *v, const struct hl_buf *b, enum hl_sw_drop *why)
{
	if (hl_likely(v->mode == HL_SW_VLAN_NONE))
		return 0;
	const uint8_t *e = hl_buf_data(b);
	uint16_t type = (uint16_t)(e[12] << 8 | e[13]);
	if (v->mode == HL_SW_VLAN_ACCESS) {
		if (hl_unlikely(sw_vlan_tpid(type))) {
			*why = HL_SW_DROP_VLAN_TAGGED;
			return -1;
		}
		return v->vid;
	}
	if (hl_unlikely(!sw_vlan_tpid(type))) {
		*why = HL_SW_DROP_VLAN_FILTERED;
		return -1;
	}
	/* one 802.1Q tag, a VLAN id that names a VLAN, and the whole tag plus an EtherType there */
	if (hl_unlikely(type != SW_ETH_P_8021Q || b->data_len < 18)) {
		*why = HL_SW_DROP_VLAN_BAD;
		return -1;
	}
	uint16_t vid = (uint16_t)((e[14] << 8 | e[15]) & 0xfff);
	uint16_t inner = (uint16_t)(e[16] << 8 | e[17]);
	if (hl_unlikely(vid == 0 || vid == 0xfff || sw_vlan_tpid(inner))) {
		*why = HL_SW_DROP_VLAN_BAD;
		return -1;
	}
	if (hl_unlikely(!hl_sw_vlan_carries(v, vid))) {
		*why = HL_SW_DROP_VLAN_FILTERED;
		return -1;
	}
	return vid;
}

/*
 * Frames pkts[0..n) came in by a port with membership from and leave by
 * one with membership to, of another mode (an access port and a trunk of a
 * VLAN both carry): push the access VLAN's tag, or pop the trunk's. Frames
 * that cannot be retagged (no buffer for a copy) are freed and counted in
 * st. Returns how many are left, in order, at the front of pkts.
 */
uint16_t sw_vlan_retag(const struct hl_sw_vlan *from, const struct hl_sw_vlan *to, struct hl_buf **pkts,
		       uint16_t n, struct hl_bufpool *bp, struct hl_sw_port_stats *st);

#endif
