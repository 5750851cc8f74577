/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What both memif data paths (memif_ring.c as a server, memif_ring_client.c
 * as a client) do the same way: marking a ring broken, publishing an index
 * and signalling a peer that asked for it, and taking the receive queues
 * in turn.
 */
#ifndef HUGELINK_MEMIF_RING_PVT_H
#define HUGELINK_MEMIF_RING_PVT_H

#include <unistd.h>

#include <hugelink/memif_port.h>

#include "../common/fence_pvt.h"

/* Data-path entry and exit of a ring (memif_port.h: running/busy; fence_pvt.h). */
static inline bool hl_memif_q_enter(struct hl_memif_q *q)
{
	return hl__dp_enter(&q->running, &q->busy);
}

static inline void hl_memif_q_leave(struct hl_memif_q *q)
{
	hl__dp_leave(&q->busy);
}

/* The ring is broken: the data path leaves it alone, the control thread ends the connection. */
static inline void hl__memif_fault(struct hl_memif_q *q, uint64_t *counter)
{
	(*counter)++;
	__atomic_store_n(&q->fault, 1, __ATOMIC_RELEASE);
}

/*
 * Publish our index (a server's tail, a client's head) as pos, then signal
 * the ring's eventfd if its receiver left the ring unmasked: a peer that
 * polls costs no syscall.
 */
static inline void hl__memif_publish(struct hl_memif_q *q, uint16_t *index, uint16_t pos)
{
	q->pos = pos;
	__atomic_store_n(index, pos, __ATOMIC_RELEASE);
	/* the receiver writes flags before it reads our index: one of us sees the other */
	hl_smp_mb();
	if (!(__atomic_load_n(&q->ring->flags, __ATOMIC_RELAXED) & HL_MEMIF_RING_F_MASK_INT)) {
		uint64_t one = 1;
		if (write(q->fd, &one, sizeof(one)) == (ssize_t)sizeof(one))
			q->stats.kicks++;
	}
}

typedef uint16_t (*hl__memif_rx_fn)(struct hl_memif_port *p, struct hl_memif_q *q, struct hl_bufpool *bp,
				    struct hl_buf **pkts, uint16_t n);

/* Up to n frames from every receive queue; queues take turns to go first, so none starves the others. */
static inline uint16_t hl__memif_rx_all(struct hl_memif_port *p, struct hl_bufpool *bp, struct hl_buf **pkts,
					uint16_t n, hl__memif_rx_fn rx)
{
	unsigned nq = __atomic_load_n(&p->nq, __ATOMIC_ACQUIRE);
	uint16_t got = 0;
	if (nq == 0)
		return 0;
	unsigned first = p->rx_next++ % nq;
	for (unsigned i = 0; i < nq && got < n; i++)
		got = (uint16_t)(got + rx(p, &p->rx[(first + i) % nq], bp, pkts + got, (uint16_t)(n - got)));
	return got;
}

#endif
