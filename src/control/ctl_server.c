/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket's server side: one request, one reply, per connection.
 *
 * Clients are peers we do not trust to be quick or well-formed, and the
 * thread that serves them is the daemon's control thread, so nothing here
 * may block on a client: every socket is non-blocking, each client lives in
 * one of HL_CTL_MAX_CLIENTS slots with a deadline fixed at accept, and
 * partial reads and writes are resumed when epoll says the socket is ready.
 * A client that has not sent a whole request by its deadline gets a
 * "timeout" reply (best effort) and is closed; one that sends more than
 * HL_CTL_MAX_REQUEST bytes without a newline gets "request too large".
 * When every slot is taken a new client is told "server busy" at once
 * instead of waiting, so a burst of silent clients cannot hide the daemon
 * for more than one deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <hugelink/common.h>
#include <hugelink/ctl.h>

struct hl_ctl_conn {
	int fd;
	uint64_t deadline_ns;
	char *in; /* request bytes so far */
	size_t in_len, in_cap;
	char *out; /* reply, once the request is complete */
	size_t out_len, out_off;
};

#define LISTENER_TAG UINT64_MAX

static int fill_addr(struct sockaddr_un *sa, const char *path)
{
	size_t n = strlen(path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (n == 0 || n >= sizeof(sa->sun_path))
		return hl_error(-ENAMETOOLONG, "control socket path '%s' is empty or longer than %zu bytes",
				path, sizeof(sa->sun_path) - 1);
	memcpy(sa->sun_path, path, n + 1);
	return 0;
}

/* mkdir -p of the directory part of path. */
static int make_parents(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(dir, 0755) == 0) {
				/* 0755 whatever the umask: hlctl users must reach the socket */
				if (chmod(dir, 0755) < 0)
					return hl_error(-errno, "chmod %s: %s", dir, strerror(errno));
			} else if (errno != EEXIST) {
				return hl_error(-errno, "cannot create directory %s for the control socket: %s",
						dir, strerror(errno));
			}
			*p = c;
			if (c == '\0')
				break;
		}
	}
	struct stat st;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return hl_error(-ENOTDIR, "%s is not a directory", dir);
	return 0;
}

/* 0 if nothing (or a stale socket, now removed) is at path. */
static int clear_stale(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : hl_error(-errno, "cannot stat %s: %s", path, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return hl_error(-EEXIST, "%s exists and is not a socket; not replacing it", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return hl_error(-errno, "socket: %s", strerror(errno));
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	int err = rc < 0 ? errno : 0;
	close(fd);
	/* EAGAIN: the backlog is full, which means someone is listening */
	if (rc == 0 || err == EAGAIN)
		return hl_error(-EADDRINUSE, "a server is already answering on %s", path);
	if (err != ECONNREFUSED)
		return hl_error(-err, "cannot probe %s: %s", path, strerror(err));
	if (unlink(path) < 0 && errno != ENOENT)
		return hl_error(-errno, "cannot remove stale socket %s: %s", path, strerror(errno));
	HL_LOG_INFO("removed stale control socket %s", path);
	return 0;
}

int hl_ctl_server_open(struct hl_ctl_server *s, const char *path, hl_ctl_handler fn, void *opaque)
{
	struct sockaddr_un sa;
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = LISTENER_TAG};
	int rc;

	memset(s, 0, sizeof(*s));
	s->listen_fd = s->ep_fd = -1;
	if (path == NULL || fn == NULL)
		return hl_error(-EINVAL, "control server needs a path and a handler");
	if ((rc = fill_addr(&sa, path)) < 0)
		return rc;
	if ((rc = make_parents(path)) < 0)
		return rc;
	if ((rc = clear_stale(path, &sa)) < 0)
		return rc;
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0)
		return hl_error(-errno, "socket: %s", strerror(errno));
	if (bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = hl_error(errno == EADDRINUSE ? -EADDRINUSE : -errno, "cannot bind control socket %s: %s",
			      path, strerror(errno));
		goto fail;
	}
	snprintf(s->path, sizeof(s->path), "%s", path);
	/* whoever may use the socket controls the switch: owner and group only */
	if (chmod(path, 0660) < 0) {
		rc = hl_error(-errno, "chmod %s: %s", path, strerror(errno));
		goto fail;
	}
	if (listen(s->listen_fd, 64) < 0) {
		rc = hl_error(-errno, "listen on %s: %s", path, strerror(errno));
		goto fail;
	}
	s->ep_fd = epoll_create1(EPOLL_CLOEXEC);
	if (s->ep_fd < 0 || epoll_ctl(s->ep_fd, EPOLL_CTL_ADD, s->listen_fd, &ev) < 0) {
		rc = hl_error(-errno, "epoll for control socket: %s", strerror(errno));
		goto fail;
	}
	s->fn = fn;
	s->opaque = opaque;
	return 0;
fail:
	hl_ctl_server_close(s);
	return rc;
}

int hl_ctl_server_fd(const struct hl_ctl_server *s)
{
	return s->ep_fd;
}

unsigned hl_ctl_server_pending(const struct hl_ctl_server *s)
{
	unsigned n = 0;

	for (unsigned i = 0; i < HL_CTL_MAX_CLIENTS; i++)
		n += s->conns[i] != NULL;
	return n;
}

static void conn_drop(struct hl_ctl_server *s, unsigned slot)
{
	struct hl_ctl_conn *c = s->conns[slot];

	if (c == NULL)
		return;
	epoll_ctl(s->ep_fd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
	s->conns[slot] = NULL;
}

__attribute__((format(printf, 2, 3)))
static void error_reply(struct hl_jw *w, const char *fmt, ...)
{
	char msg[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	hl_jw_reset(w);
	hl_jw_obj_begin(w);
	hl_jw_kv_bool(w, "ok", false);
	hl_jw_kv_str(w, "error", msg);
	hl_jw_obj_end(w);
}

/* Write what the socket takes; 1 when the reply is all out, 0 if not yet, <0 on error. */
static int conn_flush(struct hl_ctl_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
		}
		c->out_off += (size_t)n;
	}
	return 1;
}

/* Queue the reply in w (plus "\n") and start sending it; drops the conn when done. */
static void conn_reply(struct hl_ctl_server *s, unsigned slot, struct hl_jw *w)
{
	struct hl_ctl_conn *c = s->conns[slot];
	const char *txt = hl_jw_cstr(w);
	static const char nomem[] = "{\"ok\":false,\"error\":\"out of memory\"}";
	size_t n;

	if (txt == NULL)
		txt = nomem;
	n = strlen(txt);
	c->out = malloc(n + 1);
	if (c->out == NULL) {
		conn_drop(s, slot);
		return;
	}
	memcpy(c->out, txt, n);
	c->out[n] = '\n';
	c->out_len = n + 1;
	c->out_off = 0;
	int rc = conn_flush(c);
	if (rc != 0) {
		conn_drop(s, slot);
		return;
	}
	struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = slot};
	if (epoll_ctl(s->ep_fd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		conn_drop(s, slot);
}

void hl_ctl_server_answer(struct hl_ctl_server *s, const char *text, size_t len, struct hl_jw *w)
{
	struct hl_json *req = NULL;

	if (hl_json_parse(text, len, &req) < 0) {
		s->bad_requests++;
		error_reply(w, "bad JSON: %s", hl_last_error());
	} else if (hl_json_type(req) != HL_JSON_OBJ) {
		s->bad_requests++;
		error_reply(w, "bad JSON: a request is an object");
	} else if (hl_json_str(hl_json_get(req, "cmd")) == NULL) {
		s->bad_requests++;
		error_reply(w, "bad JSON: missing or non-string \"cmd\"");
	} else {
		s->requests++;
		s->fn(s->opaque, req, w);
		if (hl_jw_error(w) < 0) {
			HL_LOG_WARN("control: handler for \"%s\" wrote no complete reply",
				    hl_json_str(hl_json_get(req, "cmd")));
			error_reply(w, "internal error: incomplete reply to \"%s\"",
				    hl_json_str(hl_json_get(req, "cmd")));
		}
	}
	hl_json_free(req);
	/* every reply is an object whose first member is "ok", written by hl_jw: its text says */
	static const char refusal[] = "{\"ok\":false";
	const char *txt = hl_jw_cstr(w);
	if (txt == NULL || strncmp(txt, refusal, sizeof(refusal) - 1) == 0)
		s->refused++;
}

static void serve(struct hl_ctl_server *s, unsigned slot, size_t req_len)
{
	struct hl_jw w;

	hl_jw_init(&w);
	hl_ctl_server_answer(s, s->conns[slot]->in, req_len, &w);
	conn_reply(s, slot, &w);
	hl_jw_free(&w);
}

/* Returns 1 if a request was answered. */
static int conn_read(struct hl_ctl_server *s, unsigned slot)
{
	struct hl_ctl_conn *c = s->conns[slot];

	for (;;) {
		if (c->in_len == c->in_cap) {
			/* one byte past the limit tells "too large" from "exactly the limit" */
			size_t cap = c->in_cap ? c->in_cap * 2 : 4096;
			if (cap > HL_CTL_MAX_REQUEST + 1)
				cap = HL_CTL_MAX_REQUEST + 1;
			char *b = realloc(c->in, cap);
			if (b == NULL) {
				conn_drop(s, slot);
				return 0;
			}
			c->in = b;
			c->in_cap = cap;
		}
		ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_drop(s, slot);
			return 0;
		}
		if (n == 0) {
			/* the client shut its side: what it sent is the request, if anything */
			if (c->in_len == 0) {
				conn_drop(s, slot);
				return 0;
			}
			serve(s, slot, c->in_len);
			return 1;
		}
		char *nl = memchr(c->in + c->in_len, '\n', (size_t)n);
		c->in_len += (size_t)n;
		if (nl != NULL) {
			serve(s, slot, (size_t)(nl - c->in));
			return 1;
		}
		if (c->in_len > HL_CTL_MAX_REQUEST) {
			struct hl_jw w;
			s->too_large++;
			s->refused++;
			hl_jw_init(&w);
			error_reply(&w, "request too large (limit %u bytes)", HL_CTL_MAX_REQUEST);
			conn_reply(s, slot, &w);
			hl_jw_free(&w);
			return 1;
		}
	}
}

static void refuse_busy(struct hl_ctl_server *s, int fd)
{
	static const char msg[] = "{\"ok\":false,\"error\":\"server busy\"}\n";

	s->busy++;
	s->refused++;
	if (send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		HL_LOG_DEBUG("control: busy reply not sent: %s", strerror(errno));
	close(fd);
}

static void accept_all(struct hl_ctl_server *s)
{
	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				HL_LOG_WARN("control: accept on %s: %s", s->path, strerror(errno));
			return;
		}
		unsigned slot;
		for (slot = 0; slot < HL_CTL_MAX_CLIENTS && s->conns[slot]; slot++)
			;
		if (slot == HL_CTL_MAX_CLIENTS) {
			refuse_busy(s, fd);
			continue;
		}
		struct hl_ctl_conn *c = calloc(1, sizeof(*c));
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = slot};
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->deadline_ns = hl_now_ns() + (uint64_t)HL_CTL_CLIENT_DEADLINE_MS * 1000000u;
		if (epoll_ctl(s->ep_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(c);
			continue;
		}
		s->conns[slot] = c;
	}
}

static void expire(struct hl_ctl_server *s, uint64_t now)
{
	for (unsigned i = 0; i < HL_CTL_MAX_CLIENTS; i++) {
		struct hl_ctl_conn *c = s->conns[i];
		if (c == NULL || now < c->deadline_ns)
			continue;
		s->timeouts++;
		if (c->out == NULL) {
			/* tell it why, if it is listening; then it is gone either way */
			static const char msg[] = "{\"ok\":false,\"error\":\"timeout\"}\n";
			if (send(c->fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				HL_LOG_DEBUG("control: timeout reply not sent: %s", strerror(errno));
		}
		conn_drop(s, i);
	}
}

int hl_ctl_server_poll(struct hl_ctl_server *s, int timeout_ms)
{
	struct epoll_event evs[HL_CTL_MAX_CLIENTS + 1];
	uint64_t now = hl_now_ns();
	int served = 0, n;

	if (s->ep_fd < 0)
		return hl_error(-EBADF, "control server is not open");
	/* wake up for the nearest client deadline at the latest */
	for (unsigned i = 0; i < HL_CTL_MAX_CLIENTS; i++) {
		if (s->conns[i] == NULL)
			continue;
		uint64_t left = s->conns[i]->deadline_ns > now ? s->conns[i]->deadline_ns - now : 0;
		int ms = (int)((left + 999999) / 1000000);
		if (timeout_ms < 0 || ms < timeout_ms)
			timeout_ms = ms;
	}
	n = epoll_wait(s->ep_fd, evs, (int)HL_ARRAY_SIZE(evs), timeout_ms);
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		return hl_error(-errno, "control: epoll_wait: %s", strerror(errno));
	}
	for (int i = 0; i < n; i++) {
		uint64_t tag = evs[i].data.u64;
		if (tag == LISTENER_TAG) {
			accept_all(s);
			continue;
		}
		if (tag >= HL_CTL_MAX_CLIENTS || s->conns[tag] == NULL)
			continue;
		struct hl_ctl_conn *c = s->conns[tag];
		if (c->out != NULL) {
			if (conn_flush(c) != 0)
				conn_drop(s, (unsigned)tag);
		} else {
			served += conn_read(s, (unsigned)tag);
		}
	}
	expire(s, hl_now_ns());
	return served;
}

void hl_ctl_server_close(struct hl_ctl_server *s)
{
	for (unsigned i = 0; i < HL_CTL_MAX_CLIENTS; i++)
		conn_drop(s, i);
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		if (s->path[0] != '\0' && unlink(s->path) < 0 && errno != ENOENT)
			HL_LOG_WARN("cannot remove control socket %s: %s", s->path, strerror(errno));
	}
	if (s->ep_fd >= 0)
		close(s->ep_fd);
	s->listen_fd = s->ep_fd = -1;
	s->path[0] = '\0';
}
