/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hlbench dirtylog: what dirty logging (a live migration running) costs the
 * back-end's receive path, the one that writes guest memory.
 *
 * One process: hugelink's virtio-user front-end and a vhost port on one
 * socket, the port enqueuing bursts of 32 frames into the front-end's
 * receive ring, timed around the enqueue alone. Logging is turned off and
 * on (as a migrating front-end does: SET_LOG_BASE, LOG_ALL, the used ring's
 * log flag) in turns of --bursts bursts, which of the two goes first
 * rotating each round, so load that comes and goes on a shared machine hits
 * both alike. Printed: the ns a packet with and without (medians over the
 * rounds) and their ratio round by round (median, min, max): the same-run
 * cost. The front-end's ring is in a pool on hugepages, as a guest's RAM
 * would be.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <hugelink/vhost_port.h>
#include <hugelink/virtio_user.h>

#include "bench.h"

#define MAX_ROUNDS 100

static struct hl_vhost_port *port;
static int stop_ctrl; /* atomic */

/* The port's control thread while the front-end sets it up. */
static void *ctrl_thread(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop_ctrl, __ATOMIC_ACQUIRE))
		hl_vhost_port_poll_ctrl(port, 5);
	return NULL;
}

/* ns a packet the enqueue took over `bursts` bursts of the frames in tx. */
static double measure(struct hl_vuser *u, struct hl_buf **tx, unsigned bursts)
{
	uint64_t ns = 0, pkts = 0;
	for (unsigned k = 0; k < bursts; k++) {
		struct hl_buf *rx[HL_VHOST_BURST];
		uint16_t n = hl_vuser_rx_burst(u, rx, HL_VHOST_BURST);
		hl_buf_free_bulk(rx, n);
		uint64_t t0 = hl_fast_ns();
		uint16_t got = hl_vhost_enqueue_burst(port, 0, tx, HL_VHOST_BURST, NULL);
		ns += hl_fast_ns() - t0;
		pkts += got;
	}
	return pkts ? (double)ns / (double)pkts : 0;
}

int bench_dirtylog(int argc, char **argv)
{
	static const struct option opts[] = {{"size", required_argument, 0, 's'},
					     {"rounds", required_argument, 0, 'r'},
					     {"bursts", required_argument, 0, 'b'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	unsigned size = 1518, rounds = 20, bursts = 20000;
	int o;
	while ((o = getopt_long(argc, argv, "s:r:b:h", opts, NULL)) != -1) {
		switch (o) {
		case 's': size = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'r': rounds = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'b': bursts = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'h':
			printf("usage: hlbench dirtylog [--size B] [--rounds N] [--bursts K]\n");
			return 0;
		default: return 2;
		}
	}
	if (size < 60 || size > 2000 || rounds < 1 || rounds > MAX_ROUNDS || bursts < 1) {
		fprintf(stderr, "hlbench dirtylog: --size 60..2000, --rounds 1..%d, --bursts >= 1\n", MAX_ROUNDS);
		return 2;
	}
	char dir[] = "/tmp/hlbench-dirtylog.XXXXXX", sock[300], name[40];
	if (mkdtemp(dir) == NULL)
		return 1;
	hl_log_set_level(HL_LOG_WARN);
	hl_fast_clock_init();
	snprintf(sock, sizeof(sock), "%s/dl.sock", dir);
	snprintf(name, sizeof(name), "hlbench-dl-%d", (int)getpid());
	struct hl_pool_params pp = {.name = name, .size = 64 << 20, .run_dir = dir};
	struct hl_pool *pool;
	struct hl_bufpool *bp;
	struct hl_vuser u;
	pthread_t th;
	int rc = 1;
	if (hl_pool_create(&pp, &pool) < 0 || hl_bufpool_create(pool, "b", 4096, 2048, 0, &bp) < 0) {
		fprintf(stderr, "hlbench dirtylog: pool: %s\n", hl_last_error());
		rmdir(dir);
		return 1;
	}
	hl_buf_thread_attach();
	struct hl_vhost_port_params vp = {.path = sock};
	if (hl_vhost_port_create(&vp, &port) < 0)
		goto out_pool;
	if (pthread_create(&th, NULL, ctrl_thread, NULL) != 0)
		goto out_port;
	struct hl_vuser_params up = {.path = sock, .pool = pool, .bp = bp, .ring_size = 256};
	int urc = hl_vuser_open(&u, &up);
	for (int i = 0; urc == 0 && i < 500 && !hl_vhost_port_queue_ready(port, 0); i++)
		usleep(10000);
	/* from here this thread is the port's only control thread: it turns logging on and off itself */
	__atomic_store_n(&stop_ctrl, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	if (urc < 0) {
		fprintf(stderr, "hlbench dirtylog: front-end: %s\n", hl_last_error());
		goto out_port;
	}
	if (!hl_vhost_port_queue_ready(port, 0)) {
		fprintf(stderr, "hlbench dirtylog: the receive queue did not start\n");
		goto out_user;
	}
	struct hl_buf *tx[HL_VHOST_BURST];
	if (hl_buf_alloc_bulk(bp, tx, HL_VHOST_BURST) < 0)
		goto out_user;
	for (unsigned k = 0; k < HL_VHOST_BURST; k++) {
		uint8_t *d = hl_buf_data(tx[k]);
		memset(d, 0, size);
		d[12] = 0x08;
		d[14] = 0x45;
		tx[k]->data_len = tx[k]->pkt_len = size;
	}
	double c[2][MAX_ROUNDS], ratio[MAX_ROUNDS];
	measure(&u, tx, bursts / 4 + 1); /* warm-up */
	for (unsigned r = 0; r < rounds; r++) {
		for (unsigned j = 0; j < 2; j++) {
			unsigned on = (j + r) % 2;
			int lrc = on ? bench_log_start(port) : hl_vhost_port_log_stop(port);
			if (lrc < 0) {
				fprintf(stderr, "hlbench dirtylog: logging %s: %s\n", on ? "on" : "off", hl_last_error());
				goto out_bufs;
			}
			c[on][r] = measure(&u, tx, bursts);
		}
		ratio[r] = c[0][r] > 0 ? c[1][r] / c[0][r] : 0;
	}
	struct hl_vhost_vq_stats qs;
	hl_vhost_port_queue_stats(port, 0, &qs, NULL);
	printf("{\"bench\":\"dirtylog\",\"dir\":\"h2g\",\"size\":%u,\"ns_pkt\":%.1f,\"ns_pkt_logged\":%.1f,"
	       "\"log_cost\":%.3f,\"log_cost_min\":%.3f,\"log_cost_max\":%.3f,\"rounds\":%u,\"bursts\":%u,"
	       "\"log_words\":%llu,\"log_dropped\":%llu}\n",
	       size, bench_median(c[0], rounds), bench_median(c[1], rounds), bench_median(ratio, rounds),
	       bench_min(ratio, rounds), bench_max(ratio, rounds), rounds, bursts,
	       (unsigned long long)qs.log_words, (unsigned long long)qs.log_dropped);
	rc = qs.log_words > 0 && qs.log_dropped == 0 ? 0 : 1;
out_bufs:
	hl_buf_free_bulk(tx, HL_VHOST_BURST);
out_user:
	/* the front-end's close waits for the back-end's answers: a control thread again */
	__atomic_store_n(&stop_ctrl, 0, __ATOMIC_RELEASE);
	if (pthread_create(&th, NULL, ctrl_thread, NULL) == 0) {
		hl_vuser_close(&u);
		__atomic_store_n(&stop_ctrl, 1, __ATOMIC_RELEASE);
		pthread_join(th, NULL);
	}
out_port:
	hl_vhost_port_destroy(port);
out_pool:
	hl_buf_thread_detach();
	hl_bufpool_free(bp);
	hl_pool_destroy(pool);
	rmdir(dir);
	return rc;
}
