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
 *
 * Stopping is safe at every instruction: TERM, INT, HUP and QUIT are
 * blocked before anything else happens, in this thread and so in every
 * thread it starts, and are taken (sigtimedwait) only at points where the
 * daemon knows what it has built and can take it down again. A stop during
 * start-up therefore leaves nothing behind, and one during shutdown is
 * simply part of it. What SIGKILL leaves is either taken over by the next
 * start in the same run directory, removed by `--clean`, or adopted from
 * another run directory by `--takeover`.
 *
 * Ready means able to serve: the "ready" line, the detaching parent's exit
 * and the pid file all come after the pool, the switch and the saved ports
 * are in place. Requests that arrive before then are answered "starting"
 * (hlctl wait-ready polls for the end of that).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef HL_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include <hugelink/ctl.h>
#include <hugelink/pool.h>
#include <hugelink/shm_port.h>
#include <hugelink/vhost_port.h>

#include "hugelinkd.h"

#define DEFAULT_CTL "/run/hugelink/hugelinkd.sock"

/*
 * Tell systemd (a Type=notify unit: $NOTIFY_SOCKET) what the daemon is
 * doing; nothing without libsystemd or outside such a unit.
 */
static void notify(const char *state)
{
#ifdef HL_HAVE_SYSTEMD
	if (sd_notify(0, state) < 0)
		HL_LOG_WARN("hugelinkd: cannot tell systemd \"%s\"", state);
#else
	(void)state;
#endif
}

/* The signals that stop the daemon; blocked everywhere, taken by stop_signal(). */
static sigset_t stop_set;

static void block_stop_signals(void)
{
	sigemptyset(&stop_set);
	sigaddset(&stop_set, SIGTERM);
	sigaddset(&stop_set, SIGINT);
	sigaddset(&stop_set, SIGHUP);
	sigaddset(&stop_set, SIGQUIT);
	sigprocmask(SIG_BLOCK, &stop_set, NULL);
}

/*
 * Blocked from .preinit_array, before any constructor (and main) runs: what
 * is left of the window is the dynamic loader's, before this program has
 * made anything, where the default action (dying) strands nothing.
 */
static void block_early(int argc, char **argv, char **envp)
{
	(void)argc;
	(void)argv;
	(void)envp;
	block_stop_signals();
}
__attribute__((section(".preinit_array"), used)) static void (*const preinit_block)(int, char **, char **) =
	block_early;

/* A pending stop signal (taken), or 0. */
static int stop_signal(void)
{
	struct timespec zero = {0, 0};
	int sig = sigtimedwait(&stop_set, NULL, &zero);
	return sig > 0 ? sig : 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hugelinkd [--ctl SOCK] [--pool-mb N] [--hugepage-dir DIR] [--workers N] [--foreground]\n"
		"                 [--config FILE] [--run-dir DIR] [--name POOL] [--buffers N] [--aging S]\n"
		"                 [--cpu N] [--log stderr|syslog|FILE] [--log-rate N/S] [--pidfile FILE] [--idle-us N]\n"
		"                 [--metrics [HOST:]PORT] [--takeover] [--verbose]\n"
		"       hugelinkd --clean [--name POOL] [--ctl SOCK] [--run-dir DIR] [--hugepage-dir DIR]\n"
		"  --ctl SOCK       control socket (default " DEFAULT_CTL ")\n"
		"  --pool-mb N      packet memory (default 256)\n"
		"  --name POOL      the pool's name, which names its files (default hugelink)\n"
		"  --workers N      forwarding threads (default 1)\n"
		"  --foreground     stay attached (default: detach once ready)\n"
		"  --config FILE    ports to create at start: {\"ports\":[{\"kind\":\"vhost\",...}]}\n"
		"                   (default: " HL_DEFAULT_CONFIG " when it exists)\n"
		"  --run-dir DIR    pool record, port list, heartbeat (default: the control socket's dir)\n"
		"  --cpu N          pin worker i to CPU N+i\n"
		"  --log WHERE      stderr, syslog (/dev/log: the journal), syslog:SOCKET, or a file to append to\n"
		"                   (--log-file FILE too); default: stderr in the foreground, syslog detached\n"
		"  --log-rate N/S   at most N lines per S seconds from one place in the code, the rest counted\n"
		"                   (\"last message repeated N times\"); default 10/10, 0 for no limit\n"
		"  --metrics ADDR   serve Prometheus metrics on http://ADDR/metrics; ADDR is PORT (on 127.0.0.1),\n"
		"                   HOST:PORT or [IPV6]:PORT; nothing listens without it\n"
		"  --pidfile FILE   written once ready, removed at exit\n"
		"  --idle-us N      a worker that moved nothing for N us sleeps until a kick (default 50)\n"
		"  --takeover       adopt the pool a dead hugelinkd of this name left, from any run directory\n"
		"                   (the same run directory adopts it without being asked)\n"
		"  --clean          remove what a dead hugelinkd of this name left (pool files on\n"
		"                   hugetlbfs and in /dev/shm, its record, socket, port list, heartbeat);\n"
		"                   refused while it lives\n"
		"TERM, INT, HUP and QUIT stop it cleanly at any moment; exit 0.\n");
}

/* "N/S": N lines per S seconds from one call site; "0": no limit. */
static bool parse_log_rate(const char *s)
{
	char *end;
	unsigned long n = strtoul(s, &end, 10);
	if (end == s || s[0] == '-')
		return false;
	if (*end == '\0' && n == 0) {
		hl_log_set_rate_limit(0, 0);
		return true;
	}
	if (*end != '/' || n == 0 || n > 1000000)
		return false;
	double secs = strtod(end + 1, &end);
	if (*end != '\0' || !(secs >= 0.01 && secs <= 86400))
		return false;
	hl_log_set_rate_limit((unsigned)n, (unsigned)(secs * 1000));
	return true;
}

/* stderr and syslog are streams we hand lines to; anything else names a file */
static bool log_is_stream(const char *target)
{
	return strcmp(target, "stderr") == 0 || strcmp(target, "syslog") == 0 || strncmp(target, "syslog:", 7) == 0;
}

/* The crash restarts the heartbeat file counts ("restarts N"); 0 if it says nothing. */
static uint64_t beat_restarts(const char *beat)
{
	unsigned long long n = 0;
	FILE *f = fopen(beat, "r");
	if (f != NULL) {
		if (fscanf(f, "restarts %llu", &n) != 1)
			n = 0;
		fclose(f);
	}
	return n;
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

/*
 * Detach like a classic daemon, but return in the parent only once the
 * child is ready. The parent keeps the stop signals blocked too and hands
 * them on, so stopping it before the child is ready stops both cleanly; it
 * then exits with the child's status.
 */
static int detach(int *ready_fd)
{
	int p[2];
	if (pipe(p) < 0)
		return hl_error(-errno, "hugelinkd: pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		return hl_error(-errno, "hugelinkd: fork: %s", strerror(errno));
	if (pid > 0) {
		char c = 1;
		ssize_t n;
		close(p[1]);
		for (;;) {
			struct pollfd pf = {.fd = p[0], .events = POLLIN};
			int r = poll(&pf, 1, 100);
			int sig = stop_signal();
			if (sig != 0)
				kill(pid, sig);
			if (r > 0) {
				n = read(p[0], &c, 1);
				if (n >= 0 || errno != EINTR)
					break;
			}
		}
		if (n == 1 && c == 0)
			_exit(0);
		int st = 0;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 1);
	}
	close(p[0]);
	setsid();
	*ready_fd = p[1];
	return 0;
}

/*
 * shm ports found in a taken-over pool that no saved port list named (a
 * --takeover from another run directory): their peers still map the pool
 * and hold its buffers, so they are served again under the same names.
 */
static void adopt_unclaimed(struct daemon *d)
{
	char names[HL_SHM_MAX_PORTS][HL_ZONE_NAME_LEN];
	unsigned n = hl_shm_port_unclaimed(d->pool, names, HL_SHM_MAX_PORTS);

	for (unsigned i = 0; i < n; i++) {
		char spec[160];
		struct hl_json *j = NULL;
		snprintf(spec, sizeof(spec), "{\"kind\":\"shm\",\"name\":\"%s\"}", names[i]);
		if (hl_json_parse(spec, strlen(spec), &j) < 0 || hld_port_add(d, j) < 0)
			HL_LOG_WARN("hugelinkd: shm port %s found in the pool: %s", names[i], hl_last_error());
		else
			HL_LOG_INFO("hugelinkd: shm port %s found in the pool, served again", names[i]);
		hl_json_free(j);
	}
}

/* A pid file appears whole (tmp + rename): a reader never sees it half-written. */
static bool write_pidfile(const char *path)
{
	char tmp[600];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (f == NULL || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0 || rename(tmp, path) < 0) {
		HL_LOG_WARN("hugelinkd: cannot write pid file %s: %s", path, strerror(errno));
		unlink(tmp);
		return false;
	}
	return true;
}

/*
 * hugelinkd --clean: what a dead daemon of this pool name left. The pool
 * library refuses while any of the pool's files has a live owner; the
 * control socket is probed too, so a live daemon whose pool is elsewhere
 * is not robbed of its socket.
 */
static int clean(const char *name, const char *mem_dir, const char *run_dir, const char *ctl,
		 const char *state, const char *beat)
{
	char *reply = NULL;
	int level = hl_log_get_level();
	hl_log_set_level(HL_LOG_ERR); /* nobody answering is the expected case */
	int alive = hl_ctl_request(ctl, "{\"cmd\":\"ping\"}", 1000, &reply) == 0;
	hl_log_set_level(level);
	if (alive) {
		free(reply);
		fprintf(stderr, "hugelinkd: --clean: a live hugelinkd answers on %s; stop it first\n", ctl);
		return 1;
	}
	int n = hl_pool_clean_name(name, mem_dir, run_dir);
	if (n < 0) {
		fprintf(stderr, "hugelinkd: --clean: %s\n", hl_last_error());
		return 1;
	}
	const char *extra[] = {state, beat, ctl};
	for (unsigned i = 0; i < HL_ARRAY_SIZE(extra); i++)
		if (unlink(extra[i]) == 0)
			n++;
	printf("hugelinkd: --clean: pool %s: %s\n", name, n > 0 ? "removed what a dead hugelinkd left" :
								   "nothing to clean");
	if (n > 0)
		printf("hugelinkd: --clean: %d file(s) removed\n", n);
	return 0;
}

/*
 * Between the steps of start-up: answer waiting control requests
 * ("starting") and see whether we were told to stop.
 */
static bool startup_stop(struct hl_ctl_server *srv)
{
	if (srv != NULL && srv->listen_fd >= 0)
		hl_ctl_server_poll(srv, 0);
	return stop_signal() != 0;
}

int main(int argc, char **argv)
{
	/* again, for a build whose loader ran no preinit array: from here on a stop
	 * is taken where we can clean up */
	block_stop_signals();
	signal(SIGPIPE, SIG_IGN);

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
					     {"log-file", required_argument, 0, 'l'},
					     {"log-rate", required_argument, 0, 'R'},
					     {"metrics", required_argument, 0, 'M'},
					     {"pidfile", required_argument, 0, 'P'},
					     {"idle-us", required_argument, 0, 'I'},
					     {"takeover", no_argument, 0, 'T'},
					     {"clean", no_argument, 0, 'X'},
					     {"verbose", no_argument, 0, 'v'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	struct hl_pool_params pp = {.name = "hugelink", .size = 256ull << 20};
	const char *ctl = DEFAULT_CTL, *config = NULL, *logfile = NULL, *pidfile = NULL, *metrics = NULL;
	char run_dir[256] = "", record[512], state[512], beat[512];
	unsigned workers = 1, nbufs = 16384;
	uint64_t aging_s = 300;
	unsigned idle_us = 0;
	int cpu = -1, o;
	bool fg = false, takeover = false, do_clean = false;

	while ((o = getopt_long(argc, argv, "c:m:H:w:fC:r:n:b:a:p:l:R:M:P:I:TXvh", opts, NULL)) != -1) {
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
		case 'R':
			if (!parse_log_rate(optarg)) {
				fprintf(stderr, "hugelinkd: --log-rate is LINES/SECONDS (e.g. 10/10) or 0, not '%s'\n", optarg);
				return 2;
			}
			break;
		case 'P': pidfile = optarg; break;
		case 'M': metrics = optarg; break;
		case 'I': idle_us = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'T': takeover = true; break;
		case 'X': do_clean = true; break;
		case 'v': hl_log_set_level(HL_LOG_DEBUG); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || workers == 0 || workers > HL_SW_MAX_WORKERS || aging_s == 0 || pp.size == 0 ||
	    (do_clean && takeover)) {
		usage(stderr);
		return 2;
	}
	hl_log_set_ident(pp.name);
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
	snprintf(record, sizeof(record), "%s/%s.meta", run_dir, pp.name);
	snprintf(state, sizeof(state), "%s/hugelinkd.ports", run_dir);
	snprintf(beat, sizeof(beat), "%s/hugelinkd.heartbeat", run_dir);
	if (do_clean)
		return clean(pp.name, pp.hugepage_dir, run_dir, ctl, state, beat);
	mkdir(run_dir, 0755);
	pp.run_dir = run_dir;

	int ready_fd = -1;
	if (!fg && detach(&ready_fd) < 0) {
		fprintf(stderr, "hugelinkd: cannot detach: %s\n", strerror(errno));
		return 1;
	}
	/* a detached daemon's lines go to syslog (the journal), never nowhere */
	if (logfile == NULL)
		logfile = fg ? "stderr" : "syslog";
	bool log_to_file = !log_is_stream(logfile);
	if (log_to_file) {
		/* what is printed rather than logged (the ready line, start-up errors) goes there too */
		int fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
	}
	if (hl_log_open(logfile) < 0)
		fprintf(stderr, "hugelinkd[%s]: %s\n", pp.name, hl_last_error());

	struct daemon d = {.state_path = state, .started_ns = hl_now_ns(), .name = pp.name};
	struct hl_ctl_server srv = {.listen_fd = -1, .ep_fd = -1};
	d.ctl = &srv;
	struct hld_http http = HLD_HTTP_INIT;
	bool stopped = false, wrote_pid = false;
	int rc = 0;
	if (startup_stop(NULL))
		goto out;
	/* the control socket first: a second daemon must not touch the first one's pool */
	if ((rc = hl_ctl_server_open(&srv, ctl, hld_handle, &d)) < 0) {
		fprintf(stderr, "hugelinkd[%s]: %s\n", pp.name, hl_last_error());
		goto out;
	}
	if (startup_stop(&srv))
		goto out;
	if (metrics != NULL && (rc = hld_http_open(&http, metrics)) < 0) {
		fprintf(stderr, "hugelinkd[%s]: %s\n", pp.name, hl_last_error());
		goto out;
	}
	/*
	 * A pool left by a killed daemon is taken over, not replaced: QEMU
	 * guests and processes on shm ports still map it, and their buffers
	 * and rings are in it. From another run directory only when asked:
	 * its record there is the only trace of whose pool it is.
	 */
	if (takeover && access(record, F_OK) != 0) {
		rc = hl_pool_recover_record(pp.name, pp.hugepage_dir, record);
		if (rc == 0)
			HL_LOG_INFO("hugelinkd: --takeover: adopting the pool a dead hugelinkd left (record now %s)",
				    record);
		else if (rc != -ENOENT)
			HL_LOG_WARN("hugelinkd: --takeover: %s", hl_last_error());
		rc = 0;
	}
	if (access(record, F_OK) == 0)
		take_over(&d, record, nbufs);
	if (startup_stop(&srv))
		goto out;
	if (d.pool == NULL && ((rc = hl_pool_create(&pp, &d.pool)) < 0 ||
			       (rc = hl_bufpool_create(d.pool, "switch", nbufs, 2048, 256, &d.bp)) < 0)) {
		fprintf(stderr, "hugelinkd[%s]: %s\n", pp.name, hl_last_error());
		if (rc == -EEXIST && strstr(hl_last_error(), "dead owner") != NULL)
			fprintf(stderr,
				"hugelinkd[%s]: a hugelinkd that died left pool %s (its run directory is not %s):\n"
				"  hugelinkd --clean --name %s      removes it\n"
				"  hugelinkd --takeover --name %s   adopts it, with the guests and peers on it\n",
				pp.name, pp.name, run_dir, pp.name, pp.name);
		goto out;
	}
	if (startup_stop(&srv))
		goto out;
	/* where zero-copy starts to pay on this machine (zcopy auto) */
	hl_vhost_zc_calibrate(d.bp, &d.zc_calib);
	struct hl_switch_params sp = {
		.bp = d.bp, .workers = workers, .aging_ns = aging_s * 1000000000ull, .first_cpu = cpu,
		.idle_us = idle_us};
	if ((rc = hl_switch_create(&sp, &d.sw)) < 0) {
		fprintf(stderr, "hugelinkd[%s]: %s\n", pp.name, hl_last_error());
		goto out;
	}
	if (startup_stop(&srv))
		goto out;
	/* the operator's ports, where an installed hugelinkd looks without being told */
	if (config == NULL && access(HL_DEFAULT_CONFIG, F_OK) == 0)
		config = HL_DEFAULT_CONFIG;
	if (config != NULL && (rc = hld_config_load(&d, config, false)) < 0) {
		fprintf(stderr, "hugelinkd[%s]: %s\n", pp.name, hl_last_error());
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
		d.restarts = beat_restarts(beat) + 1;
		if (hld_config_load(&d, state, true) < 0)
			HL_LOG_WARN("hugelinkd: restoring ports: %s", hl_last_error());
		HL_LOG_INFO("hugelinkd: restarted after %.3f s away", (double)d.outage_ns / 1e9);
	}
	adopt_unclaimed(&d);
	if (startup_stop(&srv))
		goto out;
	hld_state_save(&d);
	int bfd = open(beat, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (bfd >= 0) {
		dprintf(bfd, "restarts %" PRIu64 "\n", d.restarts);
		close(bfd);
	}
	if (pidfile != NULL)
		wrote_pid = write_pidfile(pidfile);
	if (startup_stop(&srv))
		goto out;

	d.ready = true;
	if ((rc = hld_http_start(&http)) < 0) {
		fprintf(stderr, "hugelinkd[%s]: %s\n", pp.name, hl_last_error());
		goto out;
	}
	struct hl_pool_info in;
	hl_pool_get_info(d.pool, &in);
	printf("hugelinkd: ready: control %s, pool %s (%" PRIu64 " MiB, %s), %u worker(s)\n", ctl, in.record_path,
	       in.size >> 20, in.hugepages ? "hugepages" : "shared memory", workers);
	fflush(stdout);
	char status[600];
	snprintf(status, sizeof(status), "READY=1\nMAINPID=%d\nSTATUS=serving on %s, pool %s, %u worker(s)",
		 (int)getpid(), ctl, pp.name, workers);
	notify(status);
	if (!log_to_file && strcmp(logfile, "stderr") != 0)
		HL_LOG_INFO("hugelinkd: ready: control %s, pool %s (%" PRIu64 " MiB, %s), %u worker(s)", ctl,
			    in.record_path, in.size >> 20, in.hugepages ? "hugepages" : "shared memory", workers);
	if (ready_fd >= 0) {
		char c = 0;
		if (write(ready_fd, &c, 1) != 1)
			HL_LOG_WARN("hugelinkd: cannot tell the parent we are ready");
		close(ready_fd);
		ready_fd = -1;
		/*
		 * Let go of the terminal; a file keeps what it was given, and an
		 * explicit --log stderr keeps stderr (under a service manager it
		 * is the journal's stream).
		 */
		if (!log_to_file) {
			int nul = open("/dev/null", O_RDWR);
			if (nul >= 0) {
				dup2(nul, 0);
				dup2(nul, 1);
				if (strcmp(logfile, "stderr") != 0)
					dup2(nul, 2);
				close(nul);
			}
		}
	}

	uint64_t last_beat = 0;
	while (!stopped) {
		hl_ctl_server_poll(&srv, 5);
		hl_switch_ctrl(d.sw);
		hld_http_serve(&http, &d);
		uint64_t now = hl_now_ns();
		if (now - last_beat >= 1000000000ull) {
			last_beat = now;
			utimensat(AT_FDCWD, beat, NULL, 0);
			hl_log_flush();
		}
		stopped = stop_signal() != 0;
	}
	HL_LOG_INFO("hugelinkd: stopping");
	notify("STOPPING=1");
	hl_log_flush();
out:
	/*
	 * Everything start-up built, in reverse. Every step copes with its
	 * part never having been made; the stop signals stay blocked, so a
	 * second one does not cut this short.
	 */
	d.ready = false;
	hld_http_close(&http);
	hl_ctl_server_close(&srv);
	hl_switch_destroy(d.sw);
	if (d.pool != NULL) {
		/* the port list and heartbeat are ours only once we own the pool */
		unlink(state);
		unlink(beat);
	}
	hl_bufpool_free(d.bp);
	hl_pool_destroy(d.pool);
	if (wrote_pid)
		unlink(pidfile);
	if (ready_fd >= 0)
		close(ready_fd); /* the parent sees EOF and exits with our status */
	return rc < 0 ? 1 : 0;
}
