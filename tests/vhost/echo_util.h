/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The switch side of the vhost port tests' echo threads: one thread both
 * serves the port's control socket and takes the guest's frames from its
 * TX queue (1), so the front-end's set-up and its traffic can interleave,
 * and gives them back into its RX queue (0). Around it: the wait for the
 * front-end's queues, and the end of a test (front-end, thread, port, pools).
 */
#ifndef HL_TEST_ECHO_UTIL_H
#define HL_TEST_ECHO_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include <hugelink/vhost_port.h>
#include <hugelink/virtio_user.h>

#include "../../src/vhost/vhost_port_pvt.h" /* hl_vhost_port_close */

/* Control messages served, then a burst of the guest's frames into pkts; a short nap when none came. */
static inline uint16_t echo_take(struct hl_vhost_port *port, struct hl_bufpool *bp, struct hl_buf **pkts)
{
	hl_vhost_port_poll_ctrl(port, 0);
	uint16_t n = hl_vhost_dequeue_burst(port, 1, bp, pkts, HL_VHOST_BURST);
	if (n == 0)
		usleep(100);
	return n;
}

/* Back into the guest's receive queue (0), n frames: how many went, tries bounded (and over when *stop). */
static inline uint16_t echo_give(struct hl_vhost_port *port, struct hl_buf **pkts, uint16_t n, volatile int *stop)
{
	uint16_t sent = 0;
	for (int tries = 0; sent < n && tries < 10000 && !*stop; tries++)
		sent += hl_vhost_enqueue_burst(port, 0, pkts + sent, (uint16_t)(n - sent), NULL);
	return sent;
}

/* The front-end's set-up, done by the echo thread: both queues running within a second? */
static inline bool echo_ready(struct hl_vhost_port *port)
{
	for (int i = 0; i < 100 && !(hl_vhost_port_queue_ready(port, 0) && hl_vhost_port_queue_ready(port, 1)); i++)
		usleep(10000);
	return hl_vhost_port_queue_ready(port, 0) && hl_vhost_port_queue_ready(port, 1);
}

/* The front-end gone first (it may still wait on the thread's replies), then the echo thread. */
static inline void echo_stop(struct hl_vuser *u, volatile int *stop, pthread_t th)
{
	hl_vuser_close(u);
	*stop = 1;
	pthread_join(th, NULL);
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
