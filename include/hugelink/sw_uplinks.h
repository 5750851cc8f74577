/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The switch's port kinds that leave the host (src/switch/sw_port_vxlan.c,
 * sw_port_afxdp.c):
 * like those of sw_ports.h, a create call allocates the port and hands it
 * over, not yet in a switch (hl_switch_add_port), and the port's close
 * frees it. Everything here is for the control thread.
 */
#ifndef HUGELINK_SW_UPLINKS_H
#define HUGELINK_SW_UPLINKS_H

#include <hugelink/afxdp_port.h>
#include <hugelink/pool.h>
#include <hugelink/switch.h>
#include <hugelink/vxlan_port.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- VXLAN (sw_port_vxlan.c) ------------------------------------------------------ */

/*
 * A tunnel to one remote (vxlan_port.h). Frames with offload metadata are
 * segmented and their checksums completed by the switch before they are
 * encapsulated: the port takes nothing but plain frames within its MTU.
 */
int hl_sw_port_vxlan_create(const char *name, const struct hl_vxlan_params *prm, struct hl_sw_port **out);
/* The tunnel behind a switch port (NULL for other kinds). */
const struct hl_vxlan_port *hl_sw_port_vxlan(const struct hl_sw_port *p);

/* ---- AF_XDP (sw_port_afxdp.c) ------------------------------------------------------ */

/*
 * An interface's queues (afxdp_port.h), with their UMEM in a zone of pool
 * (the switch's). Frames with offload metadata are segmented and
 * completed by the switch first: the port takes plain frames within the
 * interface's MTU.
 */
int hl_sw_port_afxdp_create(struct hl_pool *pool, const struct hl_afxdp_params *prm, struct hl_sw_port **out);
/* The AF_XDP port behind a switch port (NULL for other kinds). */
const struct hl_afxdp_port *hl_sw_port_afxdp(const struct hl_sw_port *p);

#ifdef __cplusplus
}
#endif
#endif
