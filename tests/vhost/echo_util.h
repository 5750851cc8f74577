/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The switch side of the vhost port tests' echo threads: one thread both
 * serves the port's control socket and takes the guest's frames from its
 * TX queue (1), so the front-end's set-up and its traffic can interleave.
 */
#ifndef HL_TEST_ECHO_UTIL_H
#define HL_TEST_ECHO_UTIL_H

#include <stdint.h>
#include <unistd.h>

#include <hugelink/vhost_port.h>

/* Control messages served, then a burst of the guest's frames into pkts; a short nap when none came. */
static inline uint16_t echo_take(struct hl_vhost_port *port, struct hl_bufpool *bp, struct hl_buf **pkts)
{
	hl_vhost_port_poll_ctrl(port, 0);
	uint16_t n = hl_vhost_dequeue_burst(port, 1, bp, pkts, HL_VHOST_BURST);
	if (n == 0)
		usleep(100);
	return n;
}

/*
 * An echo test's end, once its thread is gone: the port closed, the
 * buffers still in use in both pools counted (0: every one came back),
 * then the pools freed.
 */
static inline uint64_t echo_close(struct hl_vhost_port *port, struct hl_bufpool *fe_bp, struct hl_pool *fe_pool,
				  struct hl_bufpool *sw_bp, struct hl_pool *sw_pool)
{
	uint64_t left = hl_bufpool_in_use(fe_bp) + hl_bufpool_in_use(sw_bp);
	hl_vhost_port_close(port);
	hl_bufpool_free(fe_bp);
	hl_bufpool_free(sw_bp);
	hl_pool_destroy(fe_pool);
	hl_pool_destroy(sw_pool);
	return left;
}

#endif
