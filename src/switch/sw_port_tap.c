/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A TAP device as a switch port, so the host kernel (and whatever routes
 * through it) is one more station on the switch. Each frame is one read()
 * or write(): the kernel copies, so this port is for reach, not speed; with
 * offloads (the default) a frame is up to 64 KiB of TCP, which keeps the
 * per-frame cost off the byte rate.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <hugelink/sw_ports.h>
#include <hugelink/switch.h>
#include <hugelink/tap_port.h>

struct sw_tap {
	struct hl_sw_port sw; /* first: the switch's view */
	struct hl_tap_port tap;
};

static struct sw_tap *of(struct hl_sw_port *p)
{
	return (struct sw_tap *)p;
}

static uint16_t tap_rx(struct hl_sw_port *p, struct hl_bufpool *bp, struct hl_buf **pkts, uint16_t n)
{
	return hl_tap_rx_burst(&of(p)->tap, bp, pkts, n);
}

/* The kernel copied what it took: the switch's buffers are done with. */
static uint16_t tap_tx(struct hl_sw_port *p, struct hl_buf **pkts, uint16_t n, uint64_t *bytes)
{
	struct hl_tap_port *t = &of(p)->tap;
	uint64_t before = t->stats.tx_bytes;
	uint16_t sent = hl_tap_tx_burst(t, pkts, n);
	*bytes += t->stats.tx_bytes - before;
	hl_buf_free_bulk(pkts, n);
	return sent;
}

/* Level-triggered: a frame waiting in the kernel wakes the worker at once. */
static int tap_set_wakeup(struct hl_sw_port *p, int epfd, uint64_t data)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = data};
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, hl_tap_port_fd(&of(p)->tap), &ev) < 0)
		return hl_error(-errno, "port %s: watch tap fd: %s", p->name, strerror(errno));
	return 0;
}

static void tap_stats(const struct hl_sw_port *p, struct hl_sw_port_stats *st)
{
	const struct hl_tap_stats *t = &((const struct sw_tap *)p)->tap.stats;
	st->drops[HL_SW_DROP_NO_BUF] = __atomic_load_n(&t->rx_drop_nobuf, __ATOMIC_RELAXED);
	st->drops[HL_SW_DROP_BAD] = __atomic_load_n(&t->rx_drop_too_big, __ATOMIC_RELAXED) +
				    __atomic_load_n(&t->rx_drop_runt, __ATOMIC_RELAXED);
	st->drops[HL_SW_DROP_BAD] += __atomic_load_n(&t->rx_drop_bad_offload, __ATOMIC_RELAXED);
	st->errors = __atomic_load_n(&t->tx_errors, __ATOMIC_RELAXED);
	st->copy_packets = __atomic_load_n(&t->rx_packets, __ATOMIC_RELAXED);
	hl_ol_stats_add(&st->ol, &t->ol);
}

static void tap_offloads(const struct hl_sw_port *p, uint32_t *caps, uint32_t *max_frame)
{
	const struct hl_tap_port *t = &((const struct sw_tap *)p)->tap;
	*caps = (t->flags & HL_TAP_F_OFFLOAD) ? HL_TAP_OL_CAPS : 0;
	*max_frame = HL_TAP_MAX_FRAME;
}

static const char *tap_state(const struct hl_sw_port *p)
{
	(void)p;
	return "up";
}

static void tap_close(struct hl_sw_port *p)
{
	hl_tap_port_close(&of(p)->tap);
	free(p);
}

static const struct hl_sw_port_ops tap_ops = {
	.kind = "tap",
	.rx = tap_rx,
	.tx = tap_tx,
	.set_wakeup = tap_set_wakeup,
	.stats = tap_stats,
	.state = tap_state,
	.close = tap_close,
	.offloads = tap_offloads,
};

int hl_sw_port_tap_create(const char *name, const char *ifname, bool offload, struct hl_sw_port **out)
{
	if (name == NULL || name[0] == '\0' || strlen(name) >= HL_SW_NAME_LEN)
		return hl_error(-EINVAL, "port name must be 1..%d characters", HL_SW_NAME_LEN - 1);
	struct sw_tap *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return hl_error(-ENOMEM, "port %s: out of memory", name);
	t->sw.ops = &tap_ops;
	strcpy(t->sw.name, name);
	int rc = hl_tap_port_open_flags(&t->tap, ifname, offload ? HL_TAP_F_OFFLOAD : 0);
	if (rc < 0) {
		free(t);
		return rc;
	}
	*out = &t->sw;
	return 0;
}

const char *hl_sw_port_tap_ifname(const struct hl_sw_port *p)
{
	return p->ops == &tap_ops ? ((const struct sw_tap *)p)->tap.ifname : NULL;
}
