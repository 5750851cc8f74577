/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The switch's VLAN steps in the data path (sw_vlan.c has the rest): which
 * VLAN a frame belongs to as it comes in, whether it is tagged, and its tag
 * made to fit the port it leaves by. Not API.
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
 * Where a frame stands as the switch moves it: its VLAN (0..4094) and
 * whether it carries that VLAN's tag now (SW_VLAN_TAGGED), so that each
 * output port gets it as that port wants it.
 */
#define SW_VLAN_TAGGED 0x1000u
#define SW_VLAN_VID(t) ((uint16_t)((t) & 0xfffu))

/* Does a frame of VLAN vid leave a port with membership v tagged? */
static inline bool sw_vlan_tags(const struct hl_sw_vlan *v, uint16_t vid)
{
	return v->mode == HL_SW_VLAN_TRUNK && vid != v->native;
}

/*
 * Could a frame from a port with membership from need a tag change to
 * leave one with membership to? No for ports of one mode without native
 * VLANs: untagged to untagged, tagged to tagged.
 */
static inline bool sw_vlan_may_retag(const struct hl_sw_vlan *from, const struct hl_sw_vlan *to)
{
	return from->mode != to->mode || from->native != 0 || to->native != 0;
}

/*
 * What frame b (its head holds 14 bytes at least) is (SW_VLAN_VID and
 * SW_VLAN_TAGGED), having come in by a port with membership v: VLAN 0,
 * untagged, on an untagged port, whatever the frame; else a VLAN 1..4094,
 * or -1 with *why the drop reason. An untagged frame on a trunk belongs
 * to its native VLAN; one tagged with the native VLAN is taken too.
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
	if (!sw_vlan_tpid(type)) {
		if (hl_unlikely(v->native == 0)) {
			*why = HL_SW_DROP_VLAN_FILTERED;
			return -1;
		}
		return v->native;
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
	return (int)(vid | SW_VLAN_TAGGED);
}

/*
 * Frames pkts[0..n), where tags[k] says what pkts[k] is, leave by a port
 * with membership to: push the tag of their VLAN where it wants them
 * tagged and they are not, pop it where the other way round; tags[] then
 * says what they are. Frames that cannot be retagged (no buffer for a
 * copy) are freed and counted in st. Returns how many are left, in order,
 * at the front of pkts and tags.
 */
uint16_t sw_vlan_retag(const struct hl_sw_vlan *to, struct hl_buf **pkts, uint16_t *tags, uint16_t n,
		       struct hl_bufpool *bp, struct hl_sw_port_stats *st);

/*
 * The same frames, queued for a port whose membership changed since the
 * first of them was: those of VLANs it no longer carries are freed and
 * counted as no_port. Returns how many are left, as sw_vlan_retag.
 */
uint16_t sw_vlan_refilter(const struct hl_sw_vlan *to, struct hl_buf **pkts, uint16_t *tags, uint16_t n,
			  struct hl_sw_port_stats *st);

/* Check v, and make out what it is in a switch (a trunk's native VLAN among those it carries). */
int sw_vlan_check(const char *name, const struct hl_sw_vlan *v, struct hl_sw_vlan *out);

#endif
