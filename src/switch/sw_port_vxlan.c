/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A VXLAN tunnel as a switch port: stations behind the remote tunnel end
 * are learned on this port like any other. The kernel copies every
 * datagram both ways, so the switch's buffers are done with once tx
 * returns; the frames the switch hands it are plain and within the
 * tunnel's MTU (ops->offloads asks for that).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include <hugelink/sw_uplinks.h>

struct sw_vxlan {
	struct hl_sw_port sw; /* first: the switch's view */
	struct hl_vxlan_port *vx;
	time_t aged; /* last second the learning table was aged */
};

static struct sw_vxlan *of(struct hl_sw_port *p)
{
	return (struct sw_vxlan *)p;
}

static uint16_t vxlan_rx(struct hl_sw_port *p, struct hl_bufpool *bp, struct hl_buf **pkts, uint16_t n)
{
	return hl_vxlan_rx_burst(of(p)->vx, bp, pkts, n);
}

static uint16_t vxlan_tx(struct hl_sw_port *p, struct hl_buf **pkts, uint16_t n, uint64_t *bytes)
{
	uint16_t sent = hl_vxlan_tx_burst(of(p)->vx, pkts, n, bytes);
	hl_buf_free_bulk(pkts, n);
	return sent;
}

/* Level-triggered: a datagram waiting in the socket wakes the worker at once. */
static int vxlan_set_wakeup(struct hl_sw_port *p, int epfd, uint64_t data)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = data};
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, hl_vxlan_port_fd(of(p)->vx), &ev) < 0)
		return hl_error(-errno, "port %s: watch vxlan socket: %s", p->name, strerror(errno));
	return 0;
}

/* The control thread's round, every few ms: the tunnel's own MAC table is aged once a second. */
static void vxlan_ctrl(struct hl_sw_port *p)
{
	time_t now = time(NULL);
	if (now != of(p)->aged) {
		of(p)->aged = now;
		hl_vxlan_port_age(of(p)->vx);
	}
}

static void vxlan_stats(const struct hl_sw_port *p, struct hl_sw_port_stats *st)
{
	struct hl_vxlan_stats v;
	hl_vxlan_port_stats(((const struct sw_vxlan *)p)->vx, &v);
	for (unsigned d = HL_VXLAN_RX_TRUNCATED; d <= HL_VXLAN_RX_INNER_TOO_BIG; d++)
		st->drops[HL_SW_DROP_BAD] += v.drops[d];
	st->drops[HL_SW_DROP_NO_BUF] = v.drops[HL_VXLAN_RX_NO_BUF];
	st->drops[HL_SW_DROP_TOO_BIG] = v.drops[HL_VXLAN_TX_TOO_BIG];
	st->errors = v.drops[HL_VXLAN_TX_ERRORS];
	st->copy_packets = v.rx_packets + v.tx_packets;
}

static void vxlan_offloads(const struct hl_sw_port *p, uint32_t *caps, uint32_t *max_frame)
{
	struct hl_vxlan_params prm;
	hl_vxlan_port_params(((const struct sw_vxlan *)p)->vx, &prm);
	*caps = 0;
	*max_frame = prm.mtu + 14u;
}

static const char *vxlan_state(const struct hl_sw_port *p)
{
	(void)p;
	return "up";
}

static void vxlan_close(struct hl_sw_port *p)
{
	hl_vxlan_port_close(of(p)->vx);
	free(p);
}

static const struct hl_sw_port_ops vxlan_ops = {
	.kind = "vxlan",
	.rx = vxlan_rx,
	.tx = vxlan_tx,
	.set_wakeup = vxlan_set_wakeup,
	.ctrl = vxlan_ctrl,
	.stats = vxlan_stats,
	.state = vxlan_state,
	.close = vxlan_close,
	.offloads = vxlan_offloads,
};

int hl_sw_port_vxlan_create(const char *name, const struct hl_vxlan_params *prm, struct hl_sw_port **out)
{
	if (name == NULL || name[0] == '\0' || strlen(name) >= HL_SW_NAME_LEN)
		return hl_error(-EINVAL, "port name must be 1..%d characters", HL_SW_NAME_LEN - 1);
	struct sw_vxlan *v = calloc(1, sizeof(*v));
	if (v == NULL)
		return hl_error(-ENOMEM, "port %s: out of memory", name);
	v->sw.ops = &vxlan_ops;
	strcpy(v->sw.name, name);
	int rc = hl_vxlan_port_open(prm, &v->vx);
	if (rc < 0) {
		free(v);
		return rc;
	}
	*out = &v->sw;
	return 0;
}

const struct hl_vxlan_port *hl_sw_port_vxlan(const struct hl_sw_port *p)
{
	return p != NULL && p->ops == &vxlan_ops ? ((const struct sw_vxlan *)p)->vx : NULL;
}
