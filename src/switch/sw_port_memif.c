/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A memif port as a switch port: the peer's S2M rings are the switch's
 * receive side, its M2S rings the transmit side. Frames are copied both
 * ways (memif_port.h says why), so every switch buffer handed to tx is
 * done with when tx returns. With several queue pairs, rx polls them all
 * in turn; tx goes to M2S ring 0 (the switch takes a port's tx under one
 * lock, so a second ring would not add a second writer).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <hugelink/memif_port.h>
#include <hugelink/sw_ports.h>
#include <hugelink/switch.h>

struct sw_memif {
	struct hl_sw_port sw; /* first: the switch's view */
	struct hl_memif_port mp;
};

static struct sw_memif *of(struct hl_sw_port *p)
{
	return (struct sw_memif *)p;
}

static uint16_t mi_rx(struct hl_sw_port *p, struct hl_bufpool *bp, struct hl_buf **pkts, uint16_t n)
{
	return hl_memif_rx_burst(&of(p)->mp, bp, pkts, n);
}

static uint16_t mi_tx(struct hl_sw_port *p, struct hl_buf **pkts, uint16_t n, uint64_t *bytes)
{
	struct hl_memif_port *mp = &of(p)->mp;
	unsigned nq = __atomic_load_n(&mp->nq, __ATOMIC_ACQUIRE);
	uint16_t sent = 0;
	if (nq != 0) {
		struct hl_memif_q *q = &mp->tx[0];
		uint64_t before = q->stats.bytes;
		sent = hl_memif_tx_burst(mp, 0, pkts, n);
		*bytes += q->stats.bytes - before;
	}
	hl_buf_free_bulk(pkts, n);
	return sent;
}

static bool mi_arm(struct hl_sw_port *p)
{
	return hl_memif_port_arm(&of(p)->mp);
}

static void mi_disarm(struct hl_sw_port *p)
{
	hl_memif_port_disarm(&of(p)->mp);
}

static int mi_set_wakeup(struct hl_sw_port *p, int epfd, uint64_t data)
{
	return hl_memif_port_set_wakeup(&of(p)->mp, epfd, data);
}

static void mi_ctrl(struct hl_sw_port *p)
{
	hl_memif_port_poll_ctrl(&of(p)->mp);
}

static void mi_stats(const struct hl_sw_port *p, struct hl_sw_port_stats *st)
{
	const struct hl_memif_port *mp = &((const struct sw_memif *)p)->mp;
	for (unsigned i = 0; i < HL_MEMIF_MAX_QUEUES; i++) {
		const struct hl_memif_q_stats *rx = &mp->rx[i].stats, *tx = &mp->tx[i].stats;
		st->drops[HL_SW_DROP_NO_BUF] += __atomic_load_n(&rx->drop_no_buf, __ATOMIC_RELAXED);
		st->drops[HL_SW_DROP_BAD] += __atomic_load_n(&rx->drop_too_big, __ATOMIC_RELAXED) +
					     __atomic_load_n(&rx->bad_desc, __ATOMIC_RELAXED) +
					     __atomic_load_n(&rx->bad_ring, __ATOMIC_RELAXED);
		st->drops[HL_SW_DROP_TOO_BIG] += __atomic_load_n(&tx->drop_too_big, __ATOMIC_RELAXED);
		st->errors += __atomic_load_n(&tx->bad_desc, __ATOMIC_RELAXED) +
			      __atomic_load_n(&tx->bad_ring, __ATOMIC_RELAXED);
		st->copy_packets += __atomic_load_n(&rx->packets, __ATOMIC_RELAXED);
	}
	st->errors += __atomic_load_n(&mp->ctl.stats.bad_msgs, __ATOMIC_RELAXED);
}

static const char *mi_state(const struct hl_sw_port *p)
{
	const struct hl_memif_port *mp = &((const struct sw_memif *)p)->mp;
	if (hl_memif_port_up(mp))
		return "up";
	return mp->conn_fd >= 0 ? "negotiating" : "listening";
}

static void mi_close(struct hl_sw_port *p)
{
	hl_memif_port_close(&of(p)->mp);
	free(p);
}

static const struct hl_sw_port_ops memif_ops = {
	.kind = "memif",
	.rx = mi_rx,
	.tx = mi_tx,
	.arm = mi_arm,
	.disarm = mi_disarm,
	.set_wakeup = mi_set_wakeup,
	.ctrl = mi_ctrl,
	.stats = mi_stats,
	.state = mi_state,
	.close = mi_close,
	/* a peer that sleeps between frames still gets its M2S ring filled by other ports' traffic */
	.max_sleep_ms = 0,
};

int hl_sw_port_memif_create(const struct hl_sw_memif_params *prm, struct hl_sw_port **out)
{
	if (prm->name == NULL || prm->name[0] == '\0' || strlen(prm->name) >= HL_SW_NAME_LEN)
		return hl_error(-EINVAL, "port name must be 1..%d characters", HL_SW_NAME_LEN - 1);
	struct sw_memif *m;
	if (posix_memalign((void **)&m, HL_CACHE_LINE, sizeof(*m)) != 0)
		return hl_error(-ENOMEM, "port %s: out of memory", prm->name);
	memset(m, 0, sizeof(*m));
	m->sw.ops = &memif_ops;
	strcpy(m->sw.name, prm->name);
	struct hl_memif_port_params mp = {.path = prm->path, .id = prm->id, .secret = prm->secret,
					  .queues = prm->queues, .ring_size = prm->ring_size,
					  .buffer_size = prm->buffer_size, .name = prm->name};
	int rc = hl_memif_port_open(&m->mp, &mp);
	if (rc < 0) {
		free(m);
		return rc;
	}
	*out = &m->sw;
	return 0;
}

const struct hl_memif_port *hl_sw_port_memif(const struct hl_sw_port *p)
{
	return p->ops == &memif_ops ? &((const struct sw_memif *)p)->mp : NULL;
}
