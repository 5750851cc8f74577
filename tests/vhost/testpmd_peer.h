/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DPDK's dpdk-testpmd as a real vhost-user peer in tests: start it with a
 * vdev and a forwarding mode, read its log, stop it, and read its counters.
 */
#ifndef HL_TEST_TESTPMD_PEER_H
#define HL_TEST_TESTPMD_PEER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct testpmd {
	pid_t pid;
	char log[256];
};

/* True if dpdk-testpmd is installed. */
bool testpmd_available(void);

/*
 * Start testpmd with `vdev` (e.g. "net_vhost0,iface=/x.sock,queues=1") and
 * `fwd` (rxonly, txonly, io, ...); `extra` is appended to the application
 * arguments (may be NULL). Returns 0 or -errno.
 */
int testpmd_start(struct testpmd *t, const char *tag, const char *vdev, const char *fwd,
		  const char *extra);

/* Wait up to timeout_ms for `text` to appear in the log. */
bool testpmd_wait_log(const struct testpmd *t, const char *text, int timeout_ms);

/* SIGINT, wait for it to print its totals and exit (SIGKILL after 15 s). */
int testpmd_stop(struct testpmd *t);

/* After stop: the accumulated RX/TX packet totals it printed (-1 if absent). */
long long testpmd_total(const struct testpmd *t, const char *which /* "RX-packets" or "TX-packets" */);

#endif
