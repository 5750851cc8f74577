/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hugelinkd: the switch daemon. It owns the pool, runs the switch's
 * workers, and answers control requests (hlctl) on a UNIX socket.
 *
 * Files it keeps in its run directory: the pool's record, the port list
 * (hugelinkd.ports, see port_config.c) and a heartbeat whose time says when
 * the daemon was last alive. A clean exit (SIGTERM/SIGINT) closes every
 * port and removes all of them. After SIGKILL they stay, and the next
 * hugelinkd takes the pool over and re-creates the ports from the list;
 * guests whose QEMU reconnects (reconnect=1) come back by themselves, and
 * shm peers, which never lost their mapping, simply resume.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hugelink/ctl.h>
#include <hugelink/pool.h>
#include <hugelink/shm_port.h>
#include <hugelink/vhost_port.h>

#include "hugelinkd.h"

#define DEFAULT_CTL "/run/hugelink/hugelinkd.sock"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hugelinkd [--ctl SOCK] [--pool-mb N] [--hugepage-dir DIR] [--workers N] [--foreground]\n"
		"                 [--config FILE] [--run-dir DIR] [--name POOL] [--buffers N] [--aging S]\n"
		"                 [--cpu N] [--log FILE] [--verbose]\n"
		"  --ctl SOCK       control socket (default " DEFAULT_CTL ")\n"
		"  --pool-mb N      packet memory (default 256)\n"
		"  --workers N      forwarding threads (default 1)\n"
		"  --foreground     stay attached (default: detach once ready)\n"
		"  --config FILE    ports to create at start: {\"ports\":[{\"kind\":\"vhost\",...}]}\n"
		"  --run-dir DIR    pool record, port list, heartbeat (default: the control socket's dir)\n"
		"  --cpu N          pin worker i to CPU N+i\n");
}

static uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Take over the pool of a daemon that died: shm ports' half-done bursts are
 * resolved and the bufpool rebuilt with what peers hold left with them
 * (hl_shm_recover); without shm ports every buffer is free again. If the
 * pool cannot be taken over, it is removed and the caller starts afresh.
 */
static void take_over(struct daemon *d, const char *record, unsigned nbufs)
{
	struct hl_shm_recover_report rep = {0};
	int rc = hl_pool_attach(record, HL_POOL_F_OWNER, &d->pool);
	if (rc == 0) {
		rc = hl_shm_recover(d->pool, 256, &d->bp, &rep);
		if (rc == -ENOENT)
			rc = hl_bufpool_adopt(d->pool, "switch", nbufs, 2048, 256, NULL, NULL, &d->bp);
		if (rc == 0) {
			HL_LOG_INFO("hugelinkd: took over pool %s: %u shm ports, %u buffers left with peers, "
				    "%u reclaimed, %u bursts redone, %u undone, %u completed",
				    record, rep.ports, rep.kept, rep.reclaimed, rep.intents_committed,
				    rep.intents_undone, rep.intents_forward);
			return;
		}
		HL_LOG_WARN("hugelinkd: cannot take over pool %s (%s): starting afresh", record, hl_last_error());
		hl_pool_detach(d->pool);
		d->pool = NULL;
	}
	if (hl_pool_clean(record) < 0)
		HL_LOG_WARN("hugelinkd: old pool: %s", hl_last_error());
}

/* Detach like a classic daemon, but return in the parent only once the child is ready. */
static int detach(int *ready_fd)
{
	int p[2];
	if (pipe(p) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		char c = 1;
		close(p[1]);
		ssize_t n = read(p[0], &c, 1);
		_exit(n == 1 && c == 0 ? 0 : 1);
	}
	close(p[0]);
	setsid();
	*ready_fd = p[1];
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"ctl", required_argument, 0, 'c'},
					     {"pool-mb", required_argument, 0, 'm'},
					     {"hugepage-dir", required_argument, 0, 'H'},
					     {"workers", required_argument, 0, 'w'},
					     {"foreground", no_argument, 0, 'f'},
					     {"config", required_argument, 0, 'C'},
					     {"run-dir", required_argument, 0, 'r'},
					     {"name", required_argument, 0, 'n'},
					     {"buffers", required_argument, 0, 'b'},
					     {"aging", required_argument, 0, 'a'},
					     {"cpu", required_argument, 0, 'p'},
					     {"log", required_argument, 0, 'l'},
					     {"verbose", no_argument, 0, 'v'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	struct hl_pool_params pp = {.name = "hugelink", .size = 256ull << 20};
	const char *ctl = DEFAULT_CTL, *config = NULL, *logfile = NULL;
	char run_dir[256] = "", record[512], state[512], beat[512];
	unsigned workers = 1, nbufs = 16384;
	uint64_t aging_s = 300;
	int cpu = -1, o;
	bool fg = false;

	while ((o = getopt_long(argc, argv, "c:m:H:w:fC:r:n:b:a:p:l:vh", opts, NULL)) != -1) {
		switch (o) {
		case 'c': ctl = optarg; break;
		case 'm': pp.size = strtoull(optarg, NULL, 0) << 20; break;
		case 'H': pp.hugepage_dir = optarg; break;
		case 'w': workers = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'f': fg = true; break;
		case 'C': config = optarg; break;
		case 'r': snprintf(run_dir, sizeof(run_dir), "%s", optarg); break;
		case 'n': pp.name = optarg; break;
		case 'b': nbufs = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'a': aging_s = strtoull(optarg, NULL, 0); break;
		case 'p': cpu = atoi(optarg); break;
		case 'l': logfile = optarg; break;
		case 'v': hl_log_set_level(HL_LOG_DEBUG); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || workers == 0 || workers > HL_SW_MAX_WORKERS || aging_s == 0 || pp.size == 0) {
		usage(stderr);
		return 2;
	}
	if (run_dir[0] == '\0') {
		snprintf(run_dir, sizeof(run_dir), "%s", ctl);
		char *slash = strrchr(run_dir, '/');
		if (slash == NULL)
			snprintf(run_dir, sizeof(run_dir), ".");
		else if (slash == run_dir)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
	mkdir(run_dir, 0755);
	pp.run_dir = run_dir;
	snprintf(record, sizeof(record), "%s/%s.meta", run_dir, pp.name);
	snprintf(state, sizeof(state), "%s/hugelinkd.ports", run_dir);
	snprintf(beat, sizeof(beat), "%s/hugelinkd.heartbeat", run_dir);

	int ready_fd = -1;
	if (!fg && detach(&ready_fd) < 0) {
		fprintf(stderr, "hugelinkd: cannot detach: %s\n", strerror(errno));
		return 1;
	}
	if (logfile != NULL) {
		int fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
	}

	struct daemon d = {.state_path = state, .started_ns = hl_now_ns()};
	struct hl_ctl_server srv;
	int rc;
	/* the control socket first: a second daemon must not touch the first one's pool */
	if ((rc = hl_ctl_server_open(&srv, ctl, hld_handle, &d)) < 0) {
		fprintf(stderr, "hugelinkd: %s\n", hl_last_error());
		return 1;
	}
	/*
	 * A pool left by a killed daemon is taken over, not replaced: QEMU
	 * guests and processes on shm ports still map it, and their buffers
	 * and rings are in it.
	 */
	if (access(record, F_OK) == 0)
		take_over(&d, record, nbufs);
	if (d.pool == NULL && ((rc = hl_pool_create(&pp, &d.pool)) < 0 ||
			       (rc = hl_bufpool_create(d.pool, "switch", nbufs, 2048, 256, &d.bp)) < 0)) {
		fprintf(stderr, "hugelinkd: %s\n", hl_last_error());
		hl_ctl_server_close(&srv);
		if (d.pool)
			hl_pool_destroy(d.pool);
		return 1;
	}
	/* where zero-copy starts to pay on this machine (zcopy auto) */
	hl_vhost_zc_calibrate(d.bp);
	struct hl_switch_params sp = {
		.bp = d.bp, .workers = workers, .aging_ns = aging_s * 1000000000ull, .first_cpu = cpu};
	if ((rc = hl_switch_create(&sp, &d.sw)) < 0) {
		fprintf(stderr, "hugelinkd: %s\n", hl_last_error());
		goto out;
	}
	if (config != NULL && (rc = hld_config_load(&d, config, false)) < 0) {
		fprintf(stderr, "hugelinkd: %s\n", hl_last_error());
		goto out;
	}
	struct stat st;
	if (stat(state, &st) == 0) {
		/* the previous daemon did not exit cleanly: bring its ports back */
		struct stat hb;
		if (stat(beat, &hb) == 0) {
			uint64_t last = (uint64_t)hb.st_mtim.tv_sec * 1000000000ull + (uint64_t)hb.st_mtim.tv_nsec;
			uint64_t now = wall_ns();
			d.outage_ns = now > last ? now - last : 0;
		}
		if (hld_config_load(&d, state, true) < 0)
			HL_LOG_WARN("hugelinkd: restoring ports: %s", hl_last_error());
		HL_LOG_INFO("hugelinkd: restarted after %.3f s away", (double)d.outage_ns / 1e9);
	}
	hld_state_save(&d);
	int bfd = open(beat, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (bfd >= 0)
		close(bfd);

	struct hl_pool_info in;
	hl_pool_get_info(d.pool, &in);
	printf("hugelinkd: ready: control %s, pool %s (%" PRIu64 " MiB, %s), %u worker(s)\n", ctl, in.record_path,
	       in.size >> 20, in.hugepages ? "hugepages" : "shared memory", workers);
	fflush(stdout);
	if (ready_fd >= 0) {
		char c = 0;
		if (write(ready_fd, &c, 1) != 1)
			HL_LOG_WARN("hugelinkd: cannot tell the parent we are ready");
		close(ready_fd);
		ready_fd = -1;
		if (logfile == NULL) {
			int nul = open("/dev/null", O_RDWR);
			if (nul >= 0) {
				dup2(nul, 0);
				dup2(nul, 1);
				dup2(nul, 2);
				close(nul);
			}
		}
	}

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	uint64_t last_beat = 0;
	while (!stop) {
		hl_ctl_server_poll(&srv, 5);
		hl_switch_ctrl(d.sw);
		uint64_t now = hl_now_ns();
		if (now - last_beat >= 1000000000ull) {
			last_beat = now;
			utimensat(AT_FDCWD, beat, NULL, 0);
		}
	}
	HL_LOG_INFO("hugelinkd: stopping");
	rc = 0;
out:
	hl_ctl_server_close(&srv);
	hl_switch_destroy(d.sw);
	unlink(state);
	unlink(beat);
	hl_bufpool_free(d.bp);
	hl_pool_destroy(d.pool);
	if (ready_fd >= 0)
		close(ready_fd); /* the parent sees EOF: start-up failed */
	return rc < 0 ? 1 : 0;
}
