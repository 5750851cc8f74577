/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hlbench vhost: one direction of a vhost-user link, one core per side.
 *
 * The front-end is DPDK's net_virtio_user in dpdk-testpmd (txonly for g2h,
 * rxonly for h2g), so neither side of a comparison is hugelink's alone. The
 * back-end is hugelink's port, driven by this process on one core, or with
 * --vs-dpdk also DPDK's net_vhost in a second testpmd, measured in the same
 * run. Rates are medians of per-second samples after a warm-up second: for
 * g2h what the back-end dequeued, for h2g what the front-end received.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hugelink/vhost_port.h>

#include "bench.h"

#define MAX_SAMPLES 120

struct peer {
	pid_t pid;
	char log[256];
};

static int peer_start(struct peer *p, const char *dir, const char *tag, int main_lcore, const char *vdev,
		      const char *fwd, unsigned size)
{
	char cmd[1024];
	snprintf(p->log, sizeof(p->log), "%s/%s.log", dir, tag);
	snprintf(cmd, sizeof(cmd),
		 "exec dpdk-testpmd -l 0,1 --main-lcore %d --no-pci --no-huge -m 512 --file-prefix hlb-%s-%d "
		 "--vdev '%s' -- --nb-cores=1 --forward-mode=%s --txpkts=%u --stats-period 1 "
		 "--no-lsc-interrupt --total-num-mbufs=8192 > '%s' 2>&1",
		 main_lcore, tag, (int)getpid(), vdev, fwd, size, p->log);
	p->pid = fork();
	if (p->pid < 0)
		return -errno;
	if (p->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return 0;
}

static void peer_stop(struct peer *p)
{
	if (p->pid <= 0)
		return;
	kill(p->pid, SIGINT);
	for (int i = 0; i < 200; i++) {
		if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
			p->pid = 0;
			return;
		}
		usleep(50000);
	}
	kill(p->pid, SIGKILL);
	waitpid(p->pid, NULL, 0);
	p->pid = 0;
}

/* Per-second "Rx-pps:" (or Tx-pps) samples from a testpmd log, skipping the first `skip`. */
static unsigned peer_samples(const struct peer *p, const char *key, unsigned skip, double *out)
{
	FILE *f = fopen(p->log, "r");
	char line[512];
	unsigned n = 0, seen = 0;
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) && n < MAX_SAMPLES) {
		char *k = strstr(line, key);
		if (k == NULL)
			continue;
		double v = strtod(k + strlen(key), NULL);
		if (seen++ >= skip && v > 0)
			out[n++] = v;
	}
	fclose(f);
	return n;
}

static bool wait_log(const struct peer *p, const char *text, int ms)
{
	char line[512];
	for (int t = 0; t < ms; t += 50) {
		FILE *f = fopen(p->log, "r");
		bool found = false;
		while (f && !found && fgets(line, sizeof(line), f))
			found = strstr(line, text) != NULL;
		if (f)
			fclose(f);
		if (found)
			return true;
		usleep(50000);
	}
	return false;
}

static void pin(int cpu)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	pthread_setaffinity_np(pthread_self(), sizeof(s), &s);
}

/* Our back-end on core 0 for `seconds`; returns the median rate (pps). */
static double run_hugelink(const char *dir, bool g2h, unsigned size, unsigned seconds, double *peer_pps)
{
	char sock[300], vdev[400], name[32];
	struct hl_pool *pool;
	struct hl_bufpool *bp;
	struct hl_vhost_port port;
	struct peer fe = {0};
	double samples[MAX_SAMPLES];
	unsigned ns = 0;

	snprintf(sock, sizeof(sock), "%s/hl.sock", dir);
	snprintf(name, sizeof(name), "hlbench-v-%d", (int)getpid());
	struct hl_pool_params pp = {.name = name, .size = 128 << 20, .run_dir = dir};
	if (hl_pool_create(&pp, &pool) < 0 || hl_bufpool_create(pool, "b", 16384, 2048, 256, &bp) < 0)
		return -1;
	struct hl_vhost_port_params vp = {.path = sock};
	if (hl_vhost_port_open(&port, &vp) < 0)
		return -1;
	snprintf(vdev, sizeof(vdev), "net_virtio_user0,path=%s,queues=1", sock);
	peer_start(&fe, dir, g2h ? "fe-tx" : "fe-rx", 0, vdev, g2h ? "txonly" : "rxonly", size);
	pin(0);
	hl_buf_thread_attach();

	/* a template frame for h2g, like testpmd's txonly: Ethernet + IPv4 + UDP */
	struct hl_buf *pkts[HL_VHOST_BURST];
	uint64_t count = 0, last = 0, t_last = hl_now_ns(), t_end = 0, t_ready = 0;
	bool ready = false;
	for (;;) {
		hl_vhost_port_poll_ctrl(&port, 0);
		if (!ready && hl_vhost_port_queue_ready(&port, 0) && hl_vhost_port_queue_ready(&port, 1) &&
		    wait_log(&fe, "pps", 1)) {
			ready = true;
			t_ready = t_last = hl_now_ns();
			t_end = t_last + (uint64_t)(seconds + 1) * 1000000000ull;
			count = last = 0;
		}
		if (!ready) {
			usleep(1000);
			if (t_end == 0 && hl_now_ns() - t_last > 30000000000ull)
				break;
			continue;
		}
		for (int i = 0; i < 64; i++) {
			if (g2h) {
				uint16_t n = hl_vhost_dequeue_burst(&port, 1, bp, pkts, HL_VHOST_BURST);
				hl_buf_free_bulk(pkts, n);
				count += n;
			} else if (hl_buf_alloc_bulk(bp, pkts, HL_VHOST_BURST) == 0) {
				for (unsigned k = 0; k < HL_VHOST_BURST; k++) {
					uint8_t *d = hl_buf_data(pkts[k]);
					memset(d, 0, 42);
					d[12] = 0x08;
					d[14] = 0x45;
					pkts[k]->data_len = pkts[k]->pkt_len = size;
				}
				count += hl_vhost_enqueue_burst(&port, 0, pkts, HL_VHOST_BURST);
				hl_buf_free_bulk(pkts, HL_VHOST_BURST);
			}
		}
		uint64_t now = hl_now_ns();
		if (now - t_last >= 1000000000ull) {
			double pps = (double)(count - last) * 1e9 / (double)(now - t_last);
			/* the first second after the link came up is warm-up */
			if (t_last >= t_ready + 900000000ull && ns < MAX_SAMPLES)
				samples[ns++] = pps;
			last = count;
			t_last = now;
			if (now >= t_end)
				break;
		}
	}
	peer_stop(&fe);
	double ps[MAX_SAMPLES];
	unsigned np = peer_samples(&fe, g2h ? "Tx-pps:" : "Rx-pps:", 2, ps);
	*peer_pps = np ? bench_median(ps, np) : 0;
	hl_buf_thread_detach();
	hl_vhost_port_close(&port);
	hl_bufpool_free(bp);
	hl_pool_destroy(pool);
	return ns ? bench_median(samples, ns) : 0;
}

/* DPDK's net_vhost back-end (forwarding on core 0) against the same front-end (core 1). */
static double run_dpdk(const char *dir, bool g2h, unsigned size, unsigned seconds)
{
	char sock[300], vdev[400];
	struct peer be = {0}, fe = {0};
	double s[MAX_SAMPLES];

	snprintf(sock, sizeof(sock), "%s/dpdk.sock", dir);
	snprintf(vdev, sizeof(vdev), "net_vhost0,iface=%s,queues=1", sock);
	peer_start(&be, dir, g2h ? "be-rx" : "be-tx", 1, vdev, g2h ? "rxonly" : "txonly", size);
	for (int i = 0; i < 200 && access(sock, F_OK) != 0; i++)
		usleep(50000);
	snprintf(vdev, sizeof(vdev), "net_virtio_user0,path=%s,queues=1", sock);
	peer_start(&fe, dir, g2h ? "fe-tx2" : "fe-rx2", 0, vdev, g2h ? "txonly" : "rxonly", size);
	wait_log(g2h ? &be : &fe, "pps", 30000);
	sleep(seconds + 2);
	peer_stop(&fe);
	peer_stop(&be);
	unsigned n = peer_samples(g2h ? &be : &fe, "Rx-pps:", 2, s);
	return n ? bench_median(s, n) : 0;
}

int bench_vhost(int argc, char **argv)
{
	static const struct option opts[] = {{"dir", required_argument, 0, 'd'},
					     {"size", required_argument, 0, 's'},
					     {"seconds", required_argument, 0, 't'},
					     {"mode", required_argument, 0, 'm'},
					     {"vs-dpdk", no_argument, 0, 'v'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	const char *dirs = "g2h", *mode = "copy";
	unsigned size = 64, seconds = 5;
	bool vs = false;
	int o;

	while ((o = getopt_long(argc, argv, "d:s:t:m:vh", opts, NULL)) != -1) {
		switch (o) {
		case 'd': dirs = optarg; break;
		case 's': size = (unsigned)strtoul(optarg, NULL, 0); break;
		case 't': seconds = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'm': mode = optarg; break;
		case 'v': vs = true; break;
		case 'h':
			printf("usage: hlbench vhost --dir g2h|h2g --size B [--seconds S] [--mode copy] [--vs-dpdk]\n");
			return 0;
		default: return 2;
		}
	}
	bool g2h = strcmp(dirs, "h2g") != 0;
	if (strcmp(mode, "copy") != 0) {
		fprintf(stderr, "hlbench vhost: mode '%s' is not available (copy only)\n", mode);
		return 2;
	}
	if (size < 60 || size > 1518) {
		fprintf(stderr, "hlbench vhost: --size must be 60..1518 (testpmd txpkts)\n");
		return 2;
	}
	if (access("/usr/bin/dpdk-testpmd", X_OK) != 0) {
		fprintf(stderr, "hlbench vhost: needs dpdk-testpmd (Debian dpdk-dev) as the front-end\n");
		return 1;
	}
	char dir[] = "/tmp/hlbench-vhost.XXXXXX";
	if (mkdtemp(dir) == NULL)
		return 1;
	hl_log_set_level(HL_LOG_WARN);
	double fe_pps = 0;
	double ours = run_hugelink(dir, g2h, size, seconds, &fe_pps) / 1e6;
	double dpdk = vs ? run_dpdk(dir, g2h, size, seconds) / 1e6 : 0;
	char ratio[64] = "";
	if (vs && dpdk > 0)
		snprintf(ratio, sizeof(ratio), ",\"ratio\":%.3f", ours / dpdk);
	printf("{\"bench\":\"vhost\",\"backend\":\"hugelink\",\"frontend\":\"dpdk\",\"dir\":\"%s\",\"size\":%u,"
	       "\"mode\":\"%s\",\"mpps\":%.3f,\"gbps\":%.3f,\"seconds\":%u%s}\n",
	       g2h ? "g2h" : "h2g", size, mode, ours, ours * size * 8 / 1000, seconds, ratio);
	if (vs)
		printf("{\"bench\":\"vhost\",\"backend\":\"dpdk\",\"frontend\":\"dpdk\",\"dir\":\"%s\",\"size\":%u,"
		       "\"mode\":\"copy\",\"mpps\":%.3f,\"gbps\":%.3f,\"seconds\":%u}\n",
		       g2h ? "g2h" : "h2g", size, dpdk, dpdk * size * 8 / 1000, seconds);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "hlbench: could not remove %s\n", dir);
	return ours > 0 ? 0 : 1;
}
