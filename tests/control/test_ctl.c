/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket: a server polled by a thread of this test answers
 * requests through a test handler that records what it was sent. Covered:
 * the request/reply round trip, the server's own error replies (bad JSON,
 * no "cmd", request too large, a handler that writes no reply), clients that
 * send nothing or trickle (the server keeps serving others and drops the
 * silent one at its deadline), more clients than slots, the path rules
 * (live server refused, stale socket replaced, non-socket kept, parents
 * created, file removed at close), the client's errors when no daemon is
 * there, and the real hlctl binary: the requests it sends and its exit
 * statuses 0/1/2/3.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hugelink/common.h>
#include <hugelink/ctl.h>
#include <hugelink/json.h>

#include "hl_test.h"

#ifndef HLCTL_PATH
#error "meson passes the path of the hlctl binary"
#endif

extern char **environ;

struct srv {
	struct hl_ctl_server s;
	pthread_t thread;
	atomic_bool stop;
	pthread_mutex_t lock;
	char last[4096];   /* the last request the handler saw, rewritten compactly */
	unsigned handled;
	uint64_t stats_calls;
};

static void handler(void *opaque, const struct hl_json *req, struct hl_jw *r)
{
	struct srv *t = opaque;
	const char *cmd = hl_json_str(hl_json_get(req, "cmd"));
	struct hl_jw w;

	hl_jw_init(&w);
	hl_jw_value(&w, req);
	pthread_mutex_lock(&t->lock);
	snprintf(t->last, sizeof(t->last), "%s", hl_jw_cstr(&w) ? hl_jw_cstr(&w) : "?");
	t->handled++;
	pthread_mutex_unlock(&t->lock);
	hl_jw_free(&w);

	if (strcmp(cmd, "noreply") == 0) {
		hl_jw_obj_begin(r); /* and never finished */
		return;
	}
	hl_jw_obj_begin(r);
	if (strcmp(cmd, "fail") == 0) {
		hl_jw_kv_bool(r, "ok", false);
		hl_jw_kv_str(r, "error", "nope");
	} else if (strcmp(cmd, "echo") == 0) {
		hl_jw_kv_bool(r, "ok", true);
		hl_jw_key(r, "req");
		hl_jw_value(r, req);
	} else if (strcmp(cmd, "ping") == 0) {
		hl_jw_kv_bool(r, "ok", true);
		hl_jw_kv_str(r, "version", "9.8.7");
	} else if (strcmp(cmd, "port-list") == 0) {
		hl_jw_kv_bool(r, "ok", true);
		hl_jw_key(r, "ports");
		hl_jw_arr_begin(r);
		hl_jw_obj_begin(r);
		hl_jw_kv_str(r, "name", "vm-one");
		hl_jw_kv_str(r, "kind", "vhost");
		hl_jw_kv_str(r, "state", "up");
		hl_jw_kv_str(r, "path", "/tmp/vm1.sock");
		hl_jw_kv_str(r, "mode", "server");
		hl_jw_obj_end(r);
		hl_jw_obj_begin(r);
		hl_jw_kv_str(r, "name", "s");
		hl_jw_kv_str(r, "kind", "shm");
		hl_jw_kv_str(r, "state", "waiting");
		hl_jw_kv_bool(r, "shared", false);
		hl_jw_obj_end(r);
		hl_jw_arr_end(r);
	} else if (strcmp(cmd, "stats") == 0) {
		/* counters grow by a fixed amount per call, so top has rates to show */
		uint64_t n = ++t->stats_calls;
		hl_jw_kv_bool(r, "ok", true);
		hl_jw_kv_dbl(r, "uptime_s", 10.5);
		hl_jw_key(r, "workers");
		hl_jw_arr_begin(r);
		hl_jw_obj_begin(r);
		hl_jw_kv_u64(r, "id", 0);
		hl_jw_kv_str(r, "state", "polling");
		hl_jw_kv_u64(r, "sleeps", 4);
		hl_jw_kv_dbl(r, "busy_pct", 12.5);
		hl_jw_obj_end(r);
		hl_jw_arr_end(r);
		hl_jw_key(r, "ports");
		hl_jw_arr_begin(r);
		hl_jw_obj_begin(r);
		hl_jw_kv_str(r, "name", "vm-one");
		hl_jw_kv_str(r, "kind", "vhost");
		hl_jw_kv_u64(r, "rx_packets", 1000 * n);
		hl_jw_kv_u64(r, "rx_bytes", 1500000 * n);
		hl_jw_kv_u64(r, "tx_packets", 10 * n);
		hl_jw_kv_u64(r, "tx_bytes", 640 * n);
		hl_jw_key(r, "drops");
		hl_jw_obj_begin(r);
		hl_jw_kv_u64(r, "ring_full", 3 * n);
		hl_jw_kv_u64(r, "no_buffer", 0);
		hl_jw_obj_end(r);
		hl_jw_kv_u64(r, "zcopy_packets", 900 * n);
		hl_jw_kv_u64(r, "copy_packets", 100 * n);
		hl_jw_kv_u64(r, "errors", 0);
		hl_jw_obj_end(r);
		hl_jw_arr_end(r);
	} else {
		hl_jw_kv_bool(r, "ok", true);
	}
	hl_jw_obj_end(r);
}

static void *serve_loop(void *arg)
{
	struct srv *t = arg;

	while (!atomic_load(&t->stop))
		hl_ctl_server_poll(&t->s, 20);
	return NULL;
}

static int srv_start(struct srv *t, const char *path)
{
	int rc;

	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	rc = hl_ctl_server_open(&t->s, path, handler, t);
	if (rc < 0)
		return rc;
	if (pthread_create(&t->thread, NULL, serve_loop, t) != 0) {
		hl_ctl_server_close(&t->s);
		return -EAGAIN;
	}
	return 0;
}

static void srv_stop(struct srv *t)
{
	atomic_store(&t->stop, true);
	pthread_join(t->thread, NULL);
	hl_ctl_server_close(&t->s);
	pthread_mutex_destroy(&t->lock);
}

static void path_of(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", hl_test_tmpdir(), name);
}

/* Send req, parse the reply; NULL (and a test failure) if anything goes wrong. */
static struct hl_json *ask(const char *path, const char *req)
{
	char *txt;
	struct hl_json *v;

	if (hl_ctl_request(path, req, 3000, &txt) < 0) {
		hl_test_fail(__FILE__, __LINE__, "request %.60s failed: %s", req, hl_last_error());
		return NULL;
	}
	if (hl_json_parse(txt, strlen(txt), &v) < 0)
		hl_test_fail(__FILE__, __LINE__, "reply '%.200s' is not JSON", txt);
	free(txt);
	return v;
}

static const char *reply_error(const struct hl_json *r)
{
	const char *e = hl_json_str(hl_json_get(r, "error"));
	return hl_json_bool(hl_json_get(r, "ok")) == 0 && e ? e : "(no error)";
}

static int raw_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read until EOF (or timeout_ms), NUL-terminated; returns bytes read. */
static size_t read_all(int fd, char *buf, size_t n, int timeout_ms)
{
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	size_t got = 0;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (got + 1 < n) {
		ssize_t r = recv(fd, buf + got, n - 1 - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	buf[got] = '\0';
	return got;
}

HL_TEST(ctl_request_reply)
{
	char path[256];
	struct srv t;
	struct hl_json *r;

	path_of(path, sizeof(path), "rr.sock");
	REQUIRE_OK(srv_start(&t, path));
	r = ask(path, "{\"cmd\":\"echo\",\"x\":[1,\"two\"],\n\"y\":{\"z\":true}}");
	CHECK(hl_json_bool(hl_json_get(r, "ok")) == 1);
	CHECK(strcmp(hl_json_str(hl_json_at(hl_json_get(hl_json_get(r, "req"), "x"), 1)), "two") == 0);
	CHECK(hl_json_bool(hl_json_get(hl_json_get(hl_json_get(r, "req"), "y"), "z")) == 1);
	hl_json_free(r);
	r = ask(path, "{\"cmd\":\"fail\"}");
	CHECK(strcmp(reply_error(r), "nope") == 0);
	hl_json_free(r);
	/* a handler that leaves its reply unfinished: the server answers for it */
	r = ask(path, "{\"cmd\":\"noreply\"}");
	CHECK_STR_HAS(reply_error(r), "internal error");
	hl_json_free(r);
	/* a client that shuts its side without a newline is still answered */
	int fd = raw_connect(path);
	char buf[512];
	REQUIRE(fd >= 0);
	CHECK(write(fd, "{\"cmd\":\"ping\"}", 14) == 14);
	shutdown(fd, SHUT_WR);
	read_all(fd, buf, sizeof(buf), 2000);
	close(fd);
	CHECK(strcmp(buf, "{\"ok\":true,\"version\":\"9.8.7\"}\n") == 0);
	CHECK_EQ(t.s.requests, 4);
	srv_stop(&t);
}

HL_TEST(ctl_bad_requests)
{
	static const struct {
		const char *req, *why;
	} bad[] = {
		{"{nope", "bad JSON: "},
		{"{\"cmd\":\"echo\",\"cmd\":\"x\"}", "duplicate key"},
		{"{\"x\":1}", "bad JSON: missing or non-string \"cmd\""},
		{"{\"cmd\":5}", "bad JSON: missing or non-string \"cmd\""},
		{"[\"cmd\"]", "bad JSON: a request is an object"},
		{"   ", "bad JSON: truncated"},
	};
	char path[256];
	struct srv t;

	path_of(path, sizeof(path), "bad.sock");
	REQUIRE_OK(srv_start(&t, path));
	for (size_t i = 0; i < HL_ARRAY_SIZE(bad); i++) {
		struct hl_json *r = ask(path, bad[i].req);
		CHECK_STR_HAS(reply_error(r), bad[i].why);
		hl_json_free(r);
	}
	CHECK_EQ(t.handled, 0);
	CHECK_EQ(t.s.bad_requests, HL_ARRAY_SIZE(bad));

	/* one byte over the limit, no newline in sight */
	size_t n = HL_CTL_MAX_REQUEST + 100;
	char *big = malloc(n + 1);
	REQUIRE(big != NULL);
	memcpy(big, "{\"cmd\":\"echo\",\"pad\":\"", 21);
	memset(big + 21, 'a', n - 23);
	memcpy(big + n - 2, "\"}", 3);
	struct hl_json *r = ask(path, big);
	CHECK_STR_HAS(reply_error(r), "request too large");
	hl_json_free(r);
	CHECK_EQ(t.s.too_large, 1);
	/* and just under the limit (the JSON limit is the same) is fine */
	n = HL_CTL_MAX_REQUEST - 1;
	memcpy(big, "{\"cmd\":\"ping\",\"pad\":\"", 21);
	memset(big + 21, 'a', n - 23);
	memcpy(big + n - 2, "\"}", 3);
	r = ask(path, big);
	CHECK(hl_json_bool(hl_json_get(r, "ok")) == 1);
	CHECK_STR_HAS(t.last, "{\"cmd\":\"ping\",\"pad\":\"aaaa");
	CHECK_EQ(strlen(t.last), sizeof(t.last) - 1); /* recorded, truncated */
	hl_json_free(r);
	free(big);
	srv_stop(&t);
}

HL_TEST(ctl_silent_client)
{
	char path[256], buf[256];
	struct srv t;
	int silent, slow;

	path_of(path, sizeof(path), "silent.sock");
	REQUIRE_OK(srv_start(&t, path));
	silent = raw_connect(path);
	REQUIRE(silent >= 0);
	/* a trickling client and a normal one are served meanwhile */
	slow = raw_connect(path);
	REQUIRE(slow >= 0);
	CHECK(write(slow, "{\"cmd\":", 7) == 7);
	uint64_t t0 = hl_now_ns();
	struct hl_json *r = ask(path, "{\"cmd\":\"ping\"}");
	CHECK(hl_json_bool(hl_json_get(r, "ok")) == 1);
	hl_json_free(r);
	CHECK(hl_now_ns() - t0 < 500000000ull);
	usleep(100000);
	CHECK(write(slow, "\"ping\"}\n", 8) == 8);
	read_all(slow, buf, sizeof(buf), 2000);
	CHECK_STR_HAS(buf, "\"ok\":true");
	close(slow);
	/* the silent one is told "timeout" at its deadline and closed */
	read_all(silent, buf, sizeof(buf), 3000);
	uint64_t waited = hl_now_ns() - t0;
	CHECK(strcmp(buf, "{\"ok\":false,\"error\":\"timeout\"}\n") == 0);
	CHECK(waited > 800000000ull && waited < 2500000000ull);
	close(silent);
	CHECK_EQ(t.s.timeouts, 1);
	srv_stop(&t);
}

/* hl_ctl_server_poll itself returns within its timeout while a client is silent. */
HL_TEST(ctl_poll_never_blocks)
{
	char path[256];
	struct hl_ctl_server s;
	int silent;

	path_of(path, sizeof(path), "poll.sock");
	REQUIRE_OK(hl_ctl_server_open(&s, path, handler, NULL));
	CHECK(hl_ctl_server_fd(&s) >= 0);
	silent = raw_connect(path);
	REQUIRE(silent >= 0);
	CHECK(write(silent, "{\"cm", 4) == 4);
	for (int i = 0; i < 3; i++) {
		uint64_t t0 = hl_now_ns();
		CHECK_EQ(hl_ctl_server_poll(&s, 50), 0);
		CHECK(hl_now_ns() - t0 < 300000000ull);
	}
	CHECK_EQ(hl_ctl_server_pending(&s), 1);
	/* a negative timeout still wakes up for the client's deadline */
	uint64_t t0 = hl_now_ns();
	while (hl_ctl_server_pending(&s) > 0 && hl_now_ns() - t0 < 3000000000ull)
		hl_ctl_server_poll(&s, -1);
	CHECK_EQ(hl_ctl_server_pending(&s), 0);
	CHECK_EQ(s.timeouts, 1);
	close(silent);
	hl_ctl_server_close(&s);
}

HL_TEST(ctl_busy)
{
	char path[256], buf[256];
	struct srv t;
	int fds[HL_CTL_MAX_CLIENTS + 1];

	path_of(path, sizeof(path), "busy.sock");
	REQUIRE_OK(srv_start(&t, path));
	for (int i = 0; i < HL_CTL_MAX_CLIENTS; i++) {
		fds[i] = raw_connect(path);
		REQUIRE(fds[i] >= 0);
	}
	/* let the server take all of them into slots */
	for (int i = 0; i < 100 && hl_ctl_server_pending(&t.s) < HL_CTL_MAX_CLIENTS; i++)
		usleep(10000);
	fds[HL_CTL_MAX_CLIENTS] = raw_connect(path);
	REQUIRE(fds[HL_CTL_MAX_CLIENTS] >= 0);
	uint64_t t0 = hl_now_ns();
	read_all(fds[HL_CTL_MAX_CLIENTS], buf, sizeof(buf), 3000);
	CHECK(strcmp(buf, "{\"ok\":false,\"error\":\"server busy\"}\n") == 0);
	CHECK(hl_now_ns() - t0 < 500000000ull);
	for (int i = 0; i <= HL_CTL_MAX_CLIENTS; i++)
		close(fds[i]);
	CHECK_EQ(t.s.busy, 1);
	srv_stop(&t);
}

HL_TEST(ctl_path_rules)
{
	char path[320], dir[256], file[256];
	struct srv t;
	struct hl_ctl_server s2;
	struct stat st;
	char *reply;

	/* missing parents are created 0755 */
	snprintf(dir, sizeof(dir), "%s/run/a/b", hl_test_tmpdir());
	snprintf(path, sizeof(path), "%s/ctl.sock", dir);
	REQUIRE_OK(srv_start(&t, path));
	REQUIRE(stat(dir, &st) == 0);
	CHECK(S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0755);
	REQUIRE(stat(path, &st) == 0);
	CHECK(S_ISSOCK(st.st_mode));

	/* a second server on a live path is refused, and the first carries on */
	CHECK_EQ(hl_ctl_server_open(&s2, path, handler, NULL), -EADDRINUSE);
	CHECK_STR_HAS(hl_last_error(), "already answering");
	struct hl_json *r = ask(path, "{\"cmd\":\"ping\"}");
	CHECK(hl_json_bool(hl_json_get(r, "ok")) == 1);
	hl_json_free(r);

	/* close removes the file; the client then says there is no daemon */
	srv_stop(&t);
	CHECK(stat(path, &st) < 0 && errno == ENOENT);
	CHECK_EQ(hl_ctl_request(path, "{\"cmd\":\"ping\"}", 1000, &reply), -ENOENT);
	CHECK(reply == NULL);
	CHECK_STR_HAS(hl_last_error(), path);

	/* a stale socket (its server died without cleaning up) */
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	REQUIRE(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	close(fd);
	CHECK_EQ(hl_ctl_request(path, "{\"cmd\":\"ping\"}", 1000, &reply), -ECONNREFUSED);
	CHECK_STR_HAS(hl_last_error(), "nobody listens");
	REQUIRE_OK(srv_start(&t, path));
	r = ask(path, "{\"cmd\":\"ping\"}");
	CHECK(hl_json_bool(hl_json_get(r, "ok")) == 1);
	hl_json_free(r);
	srv_stop(&t);

	/* something that is not a socket is left alone */
	snprintf(file, sizeof(file), "%s/not-a-socket", hl_test_tmpdir());
	FILE *f = fopen(file, "w");
	REQUIRE(f != NULL);
	fputs("keep me\n", f);
	fclose(f);
	CHECK_EQ(hl_ctl_server_open(&s2, file, handler, NULL), -EEXIST);
	CHECK(stat(file, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 8);

	/* a path too long for sockaddr_un */
	char longp[200];
	memset(longp, 'x', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	CHECK_EQ(hl_ctl_server_open(&s2, longp, handler, NULL), -ENAMETOOLONG);
	CHECK_EQ(hl_ctl_request(longp, "{}", 100, &reply), -ENAMETOOLONG);
}

/* ---- the hlctl binary ---- */

struct run {
	int status; /* exit status, or -1 */
	char out[8192], err[2048];
};

static void slurp(const char *file, char *buf, size_t n)
{
	FILE *f = fopen(file, "r");
	size_t got = f ? fread(buf, 1, n - 1, f) : 0;

	buf[got] = '\0';
	if (f)
		fclose(f);
}

/* Run hlctl with args (NULL-terminated); ctl_env sets $HUGELINK_CTL if not NULL. */
static void hlctl(struct run *res, const char *ctl_env, const char *const *args)
{
	char outf[256], errf[256], envv[300];
	const char *argv[24];
	char *envp[64];
	size_t na = 0, ne = 0;
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st;

	snprintf(outf, sizeof(outf), "%s/hlctl.out", hl_test_tmpdir());
	snprintf(errf, sizeof(errf), "%s/hlctl.err", hl_test_tmpdir());
	argv[na++] = HLCTL_PATH;
	for (size_t i = 0; args[i] != NULL && na + 1 < HL_ARRAY_SIZE(argv); i++)
		argv[na++] = args[i];
	argv[na] = NULL;
	for (char **e = environ; *e && ne + 2 < HL_ARRAY_SIZE(envp); e++)
		if (strncmp(*e, "HUGELINK_CTL=", 13) != 0)
			envp[ne++] = *e;
	if (ctl_env != NULL) {
		snprintf(envv, sizeof(envv), "HUGELINK_CTL=%s", ctl_env);
		envp[ne++] = envv;
	}
	envp[ne] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, outf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addopen(&fa, 2, errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	res->status = -1;
	if (posix_spawn(&pid, HLCTL_PATH, &fa, NULL, (char *const *)argv, envp) == 0 &&
	    waitpid(pid, &st, 0) == pid && WIFEXITED(st))
		res->status = WEXITSTATUS(st);
	posix_spawn_file_actions_destroy(&fa);
	slurp(outf, res->out, sizeof(res->out));
	slurp(errf, res->err, sizeof(res->err));
}

static bool last_was(struct srv *t, const char *want)
{
	bool same;

	pthread_mutex_lock(&t->lock);
	same = strcmp(t->last, want) == 0;
	if (!same)
		fprintf(stderr, "# request was %s\n# expected    %s\n", t->last, want);
	pthread_mutex_unlock(&t->lock);
	return same;
}

static unsigned count_of(const char *s, const char *sub)
{
	unsigned n = 0;

	for (const char *p = strstr(s, sub); p; p = strstr(p + 1, sub))
		n++;
	return n;
}

HL_TEST(hlctl_requests_and_exit_codes)
{
	char path[256];
	struct srv t;
	struct run *r = malloc(sizeof(*r));

	HL_TEST_NEED(access(HLCTL_PATH, X_OK) == 0, "the hlctl binary (" HLCTL_PATH ")");
	REQUIRE(r != NULL);
	path_of(path, sizeof(path), "hlctl.sock");
	REQUIRE_OK(srv_start(&t, path));

	hlctl(r, NULL, (const char *[]){"--ctl", path, "port", "add", "vhost", "a", "--server", "/x/y",
					"--zcopy", "on", NULL});
	CHECK_EQ(r->status, 0);
	CHECK(last_was(&t, "{\"cmd\":\"port-add\",\"kind\":\"vhost\",\"name\":\"a\",\"path\":\"/x/y\","
			   "\"mode\":\"server\",\"zcopy\":\"on\"}"));
	hlctl(r, NULL, (const char *[]){"--ctl", path, "port", "add", "vhost", "b", "--client", "/c.sock", NULL});
	CHECK_EQ(r->status, 0);
	CHECK(last_was(&t, "{\"cmd\":\"port-add\",\"kind\":\"vhost\",\"name\":\"b\",\"path\":\"/c.sock\","
			   "\"mode\":\"client\"}"));
	hlctl(r, NULL, (const char *[]){"--ctl", path, "port", "add", "tap", "t0", "--ifname", "hl0", NULL});
	CHECK_EQ(r->status, 0);
	CHECK(last_was(&t, "{\"cmd\":\"port-add\",\"kind\":\"tap\",\"name\":\"t0\",\"ifname\":\"hl0\"}"));
	hlctl(r, NULL, (const char *[]){"--ctl", path, "port", "add", "shm", "s1", "--isolated", NULL});
	CHECK_EQ(r->status, 0);
	CHECK(last_was(&t, "{\"cmd\":\"port-add\",\"kind\":\"shm\",\"name\":\"s1\",\"isolated\":true}"));
	hlctl(r, NULL, (const char *[]){"--ctl", path, "port", "del", "s1", NULL});
	CHECK_EQ(r->status, 0);
	CHECK(last_was(&t, "{\"cmd\":\"port-del\",\"name\":\"s1\"}"));
	hlctl(r, NULL, (const char *[]){"--ctl", path, "qemu-args", "a", NULL});
	CHECK_EQ(r->status, 0);
	CHECK(last_was(&t, "{\"cmd\":\"qemu-args\",\"name\":\"a\"}"));

	/* $HUGELINK_CTL when there is no --ctl */
	hlctl(r, path, (const char *[]){"ping", NULL});
	CHECK_EQ(r->status, 0);
	CHECK_STR_HAS(r->out, "hugelinkd 9.8.7 is alive");

	/* ok:false -> 1 and the daemon's reason */
	hlctl(r, NULL, (const char *[]){"--ctl", path, "raw", "{\"cmd\":\"fail\"}", NULL});
	CHECK_EQ(r->status, 1);
	CHECK(strcmp(r->err, "hlctl: nope\n") == 0);
	CHECK(strcmp(r->out, "{\"ok\":false,\"error\":\"nope\"}\n") == 0);
	hlctl(r, NULL, (const char *[]){"--ctl", path, "raw", "{\"x\":1}", NULL});
	CHECK_EQ(r->status, 1);
	CHECK_STR_HAS(r->err, "missing or non-string");

	/* usage errors -> 2, and nothing is sent */
	unsigned before = t.handled;
	const char *const *usage_cases[] = {
		(const char *[]){"port", "add", "vhost", "a", NULL},
		(const char *[]){"port", "add", "vhost", "a", "--server", "/x", "--client", "/y", NULL},
		(const char *[]){"port", "add", "vhost", "a", "--server", "/x", "--zcopy", "maybe", NULL},
		(const char *[]){"port", "add", "tap", "t", "--isolated", NULL},
		(const char *[]){"port", "add", "nic", "n", NULL},
		(const char *[]){"port", "del", NULL},
		(const char *[]){"top", "--interval", "0", NULL},
		(const char *[]){"frobnicate", NULL},
		(const char *[]){NULL},
	};
	for (size_t i = 0; i < HL_ARRAY_SIZE(usage_cases); i++) {
		const char *args[16] = {"--ctl", path};
		size_t n = 2;
		for (size_t k = 0; usage_cases[i][k] && n < 15; k++)
			args[n++] = usage_cases[i][k];
		args[n] = NULL;
		hlctl(r, NULL, args);
		if (r->status != 2)
			hl_test_fail(__FILE__, __LINE__, "usage case %zu exited %d", i, r->status);
		CHECK_STR_HAS(r->err, "usage: hlctl");
	}
	CHECK_EQ(t.handled, before);

	/* tables */
	hlctl(r, NULL, (const char *[]){"--ctl", path, "port", "list", NULL});
	CHECK_EQ(r->status, 0);
	CHECK_STR_HAS(r->out, "NAME    KIND   STATE    DETAILS\n");
	CHECK_STR_HAS(r->out, "vm-one  vhost  up       mode=server path=/tmp/vm1.sock\n");
	CHECK_STR_HAS(r->out, "s       shm    waiting  isolated\n");
	hlctl(r, NULL, (const char *[]){"--ctl", path, "port", "list", "--json", NULL});
	CHECK_EQ(r->status, 0);
	CHECK(strncmp(r->out, "{\"ok\":true,\"ports\":[{\"name\":\"vm-one\"", 35) == 0);
	hlctl(r, NULL, (const char *[]){"--ctl", path, "stats", NULL});
	CHECK_EQ(r->status, 0);
	CHECK_STR_HAS(r->out, "RX_PKTS");
	CHECK_STR_HAS(r->out, "vm-one");
	CHECK_STR_HAS(r->out, "90.0%");
	CHECK_STR_HAS(r->out, "drops vm-one: ring_full=");
	CHECK_STR_HAS(r->out, "workers: #0 polling busy 12.5% sleeps 4");
	hlctl(r, NULL, (const char *[]){"--ctl", path, "top", "--interval", "0.1", "--count", "2", NULL});
	CHECK_EQ(r->status, 0);
	CHECK_EQ(count_of(r->out, "RX_PPS"), 2);
	CHECK(strstr(r->out, "\033[") == NULL); /* not a tty: plain blocks */
	/* 1000 packets per stats call over ~0.1 s: thousands of pps, 90% zero-copy */
	CHECK_STR_HAS(r->out, "vm-one  vhost  ");
	CHECK_STR_HAS(r->out, "  90.0%");
	CHECK_STR_HAS(r->out, "SW_SEGS/S");
	CHECK(count_of(r->out, "\nvm-one") == 2);

	/* nobody there -> 3, naming the socket */
	char gone[300];
	snprintf(gone, sizeof(gone), "%s/nope/none.sock", hl_test_tmpdir());
	hlctl(r, NULL, (const char *[]){"--ctl", gone, "ping", NULL});
	CHECK_EQ(r->status, 3);
	CHECK_STR_HAS(r->err, gone);
	CHECK_STR_HAS(r->err, "does not exist");
	srv_stop(&t);
	hlctl(r, NULL, (const char *[]){"--ctl", path, "stats", "--json", NULL});
	CHECK_EQ(r->status, 3);
	CHECK_STR_HAS(r->err, path);
	free(r);
}
