/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * An AF_XDP port as a switch port: the stations behind a network
 * interface are learned on it. Frames are copied into UMEM frames on the
 * way out, so the switch's buffers are done with once tx returns; the
 * frames the switch hands it are plain and within the interface's MTU
 * (ops->offloads asks for that). A sleeping worker waits on the sockets.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <hugelink/sw_uplinks.h>

struct sw_afxdp {
	struct hl_sw_port sw; /* first: the switch's view */
	struct hl_afxdp_port *x;
};

static struct sw_afxdp *of(struct hl_sw_port *p)
{
	return (struct sw_afxdp *)p;
}

static const struct hl_afxdp_port *cof(const struct hl_sw_port *p)
{
	return ((const struct sw_afxdp *)p)->x;
}

static uint16_t afxdp_rx(struct hl_sw_port *p, struct hl_bufpool *bp, struct hl_buf **pkts, uint16_t n)
{
	return hl_afxdp_rx_burst(of(p)->x, bp, pkts, n);
}

static uint16_t afxdp_tx(struct hl_sw_port *p, struct hl_buf **pkts, uint16_t n, uint64_t *bytes)
{
	uint16_t sent = hl_afxdp_tx_burst(of(p)->x, pkts, n, bytes);
	hl_buf_free_bulk(pkts, n);
	return sent;
}

/* A socket is readable while its receive ring holds frames: level-triggered, like a TAP's fd. */
static int afxdp_set_wakeup(struct hl_sw_port *p, int epfd, uint64_t data)
{
	int fds[HL_AFXDP_MAX_QUEUES];
	unsigned n = hl_afxdp_port_fds(of(p)->x, fds, HL_AFXDP_MAX_QUEUES);
	for (unsigned i = 0; i < n; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = data};
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fds[i], &ev) < 0)
			return hl_error(-errno, "port %s: watch XSK socket: %s", p->name, strerror(errno));
	}
	return 0;
}

static bool afxdp_arm(struct hl_sw_port *p)
{
	return !hl_afxdp_rx_pending(of(p)->x);
}

static void afxdp_stats(const struct hl_sw_port *p, struct hl_sw_port_stats *st)
{
	struct hl_afxdp_stats a;
	hl_afxdp_port_stats(cof(p), &a);
	st->drops[HL_SW_DROP_NO_BUF] = a.rx_no_buf;
	st->drops[HL_SW_DROP_BAD] = a.rx_bad_desc;
	st->drops[HL_SW_DROP_TOO_BIG] = a.tx_too_big;
	st->errors = a.tx_errors;
	st->copy_packets = a.rx_packets + a.tx_packets;
}

static void afxdp_offloads(const struct hl_sw_port *p, uint32_t *caps, uint32_t *max_frame)
{
	*caps = 0;
	*max_frame = hl_afxdp_max_frame(cof(p));
}

static const char *afxdp_state(const struct hl_sw_port *p)
{
	(void)p;
	return "up";
}

static void afxdp_close(struct hl_sw_port *p)
{
	hl_afxdp_port_close(of(p)->x);
	free(p);
}

static const struct hl_sw_port_ops afxdp_ops = {
	.kind = "afxdp",
	.rx = afxdp_rx,
	.tx = afxdp_tx,
	.arm = afxdp_arm,
	.set_wakeup = afxdp_set_wakeup,
	.stats = afxdp_stats,
	.state = afxdp_state,
	.close = afxdp_close,
	.offloads = afxdp_offloads,
};

int hl_sw_port_afxdp_create(struct hl_pool *pool, const struct hl_afxdp_params *prm, struct hl_sw_port **out)
{
	if (prm == NULL || prm->name == NULL || prm->name[0] == '\0' || strlen(prm->name) >= HL_SW_NAME_LEN)
		return hl_error(-EINVAL, "port name must be 1..%d characters", HL_SW_NAME_LEN - 1);
	struct sw_afxdp *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return hl_error(-ENOMEM, "port %s: out of memory", prm->name);
	a->sw.ops = &afxdp_ops;
	strcpy(a->sw.name, prm->name);
	int rc = hl_afxdp_port_open(pool, prm, &a->x);
	if (rc < 0) {
		free(a);
		return rc;
	}
	*out = &a->sw;
	return 0;
}

const struct hl_afxdp_port *hl_sw_port_afxdp(const struct hl_sw_port *p)
{
	return p != NULL && p->ops == &afxdp_ops ? cof(p) : NULL;
}
