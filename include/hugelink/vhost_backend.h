/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A vhost-user back-end endpoint: one socket (server: we listen and the
 * front-end connects; client: we connect, and reconnect with back-off when
 * the front-end goes away) feeding one protocol engine (vhost_dev.h).
 *
 * Control path only: hl_vhost_backend_poll() runs in the control thread.
 * A disconnect resets the device (queues stopped through ops->queue_stop,
 * memory unmapped, fds closed) so a reconnecting front-end starts clean.
 */
#ifndef HUGELINK_VHOST_BACKEND_H
#define HUGELINK_VHOST_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include <hugelink/vhost_dev.h>

#ifdef __cplusplus
extern "C" {
#endif

struct hl_vhost_backend_params {
	const char *path;   /* UNIX socket */
	bool client;        /* connect instead of listen */
	uint64_t features;  /* virtio features offered */
	unsigned nqueues;
	const struct hl_vhost_ops *ops;
	void *opaque;
};

struct hl_vhost_backend {
	struct hl_vhost_dev dev;
	char path[108];
	bool client;
	int listen_fd;
	int conn_fd;
	uint64_t retry_at_ns;  /* client: next connect attempt */
	unsigned backoff_ms;
	uint64_t connects;
	uint64_t disconnects;
};

/* Listen on (or connect to) the vhost-user socket. 0 or a negative errno. */
int hl_vhost_backend_open(struct hl_vhost_backend *be, const struct hl_vhost_backend_params *p);

/*
 * Wait up to timeout_ms for the socket, then accept/connect and handle every
 * message already waiting. Returns the number of messages handled (0 on a
 * quiet timeout) or a negative errno for a failure of our own.
 */
int hl_vhost_backend_poll(struct hl_vhost_backend *be, int timeout_ms);

/* Whether a front-end is connected now. */
bool hl_vhost_backend_connected(const struct hl_vhost_backend *be);

/* Drop the connection, reset the device, close the socket (server: unlink it). */
void hl_vhost_backend_close(struct hl_vhost_backend *be);

#ifdef __cplusplus
}
#endif
#endif
