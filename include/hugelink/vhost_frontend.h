/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vhost-user front-end's control side, as DPDK's virtio-user does it: a
 * process that owns its memory (a pool), connects to a back-end's socket,
 * negotiates, shares its pool as the guest memory (guest-physical address =
 * this process's virtual address), and hands over rings it laid out itself.
 * The rings are driven with the driver side of vring (vring_driver.h).
 */
#ifndef HUGELINK_VHOST_FRONTEND_H
#define HUGELINK_VHOST_FRONTEND_H

#include <stdbool.h>
#include <stdint.h>

#include <hugelink/pool.h>
#include <hugelink/vhost_user_proto.h>

#ifdef __cplusplus
extern "C" {
#endif

struct hl_vhost_frontend {
	int sock;
	int listen_fd;           /* server mode: where the back-end connects */
	uint64_t features;       /* negotiated virtio features */
	uint64_t protocol;       /* negotiated protocol features */
	uint32_t backend_queues; /* GET_QUEUE_NUM (queue pairs), when MQ was offered */
};

/* Connect to a back-end listening on `path`, retrying for up to timeout_ms. */
int hl_vhost_frontend_connect(struct hl_vhost_frontend *fe, const char *path, int timeout_ms);

/* Listen on `path` and wait up to timeout_ms for a back-end to connect. */
int hl_vhost_frontend_accept(struct hl_vhost_frontend *fe, const char *path, int timeout_ms);

/* GET/SET_FEATURES (want & offered), SET_OWNER, protocol features. */
int hl_vhost_frontend_negotiate(struct hl_vhost_frontend *fe, uint64_t want);

/* Share the whole pool as guest memory: one region, GPA = our VA. */
int hl_vhost_frontend_set_mem(struct hl_vhost_frontend *fe, struct hl_pool *pool);

/* Hand a queue's rings (our VAs) to the back-end and start it. */
int hl_vhost_frontend_start_queue(struct hl_vhost_frontend *fe, unsigned q, unsigned num,
				  const void *desc, const void *avail, const void *used,
				  uint16_t base, int kick_fd, int call_fd);

/*
 * SET_VRING_ENABLE: a started queue on or off, as a guest that changes its
 * number of queue pairs does; -EOPNOTSUPP without PROTOCOL_FEATURES.
 */
int hl_vhost_frontend_enable_queue(struct hl_vhost_frontend *fe, unsigned q, bool on);

/* GET_VRING_BASE: stop a queue; *base gets where the back-end stopped. */
int hl_vhost_frontend_stop_queue(struct hl_vhost_frontend *fe, unsigned q, uint16_t *base);

/* Disconnect and unmap; the queues' memory is the caller's. */
void hl_vhost_frontend_close(struct hl_vhost_frontend *fe);

#ifdef __cplusplus
}
#endif
#endif
