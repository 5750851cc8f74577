/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket between hugelinkd and hlctl.
 *
 * Protocol: one request and one reply per connection over a UNIX stream
 * socket. The client writes one JSON object and "\n"; the server answers with
 * one JSON object and "\n", then closes. A request is {"cmd":"<name>", ...};
 * a reply is {"ok":true, ...} or {"ok":false,"error":"<reason>"}.
 *
 * The server never blocks on a client: sockets are non-blocking, each client
 * has HL_CTL_CLIENT_DEADLINE_MS from accept to have sent its request and
 * read its reply, and a request longer than HL_CTL_MAX_REQUEST is refused.
 * Everything runs in the thread that calls hl_ctl_server_poll(), handlers
 * included, so a handler may touch the daemon's state without locks if that
 * thread owns it.
 */
#ifndef HUGELINK_CTL_H
#define HUGELINK_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

#include <hugelink/json.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HL_CTL_DEFAULT_PATH       "/run/hugelink/hugelinkd.sock"
#define HL_CTL_MAX_REQUEST        (64u * 1024)
#define HL_CTL_MAX_REPLY          (16u * 1024 * 1024)
#define HL_CTL_CLIENT_DEADLINE_MS 1000
#define HL_CTL_MAX_CLIENTS        16

/*
 * Called once per well-formed request (a JSON object whose "cmd" is a
 * string). It writes the whole reply object into `reply`, starting with
 * hl_jw_obj_begin(); if it leaves the writer unfinished or in error the
 * client gets {"ok":false,"error":"internal error ..."} instead.
 */
typedef void (*hl_ctl_handler)(void *opaque, const struct hl_json *req, struct hl_jw *reply);

struct hl_ctl_conn; /* one accepted client, internal */

struct hl_ctl_server {
	int listen_fd;
	int ep_fd; /* epoll over the listening socket and every client */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	hl_ctl_handler fn;
	void *opaque;
	struct hl_ctl_conn *conns[HL_CTL_MAX_CLIENTS];
	/* counters, for the daemon's stats */
	uint64_t requests;     /* handed to the handler */
	uint64_t bad_requests; /* bad JSON, no "cmd" */
	uint64_t too_large;
	uint64_t timeouts;     /* clients dropped at their deadline */
	uint64_t busy;         /* refused: HL_CTL_MAX_CLIENTS already open */
	uint64_t refused;      /* every request answered {"ok":false}: the above, and the handler's refusals */
};

/*
 * Listen on `path` (mode 0660), creating missing parent directories (0755).
 * -EADDRINUSE if a server answers there; a socket file nobody listens on is
 * stale and replaced; -EEXIST if path is something other than a socket;
 * -ENAMETOOLONG if it does not fit a sockaddr_un.
 */
int hl_ctl_server_open(struct hl_ctl_server *s, const char *path, hl_ctl_handler fn, void *opaque);

/*
 * A descriptor that polls readable when hl_ctl_server_poll() has work to do
 * (a new client, or data from one). A daemon with its own poll loop adds it
 * and calls hl_ctl_server_poll(s, 0) when it fires, and also at least every
 * 100 ms or so while clients are pending (hl_ctl_server_pending()), so that
 * silent clients meet their deadline.
 */
int hl_ctl_server_fd(const struct hl_ctl_server *s);

/* Clients accepted and not yet finished. */
unsigned hl_ctl_server_pending(const struct hl_ctl_server *s);

/*
 * Accept and serve what is ready, waiting at most timeout_ms (0: do not wait,
 * negative: wait until something happens, bounded by the nearest client
 * deadline). Returns the number of requests answered, or a negative errno
 * on a failure of the server itself.
 */
int hl_ctl_server_poll(struct hl_ctl_server *s, int timeout_ms);

/*
 * What the server does with one request's bytes (text[0, len), without the
 * newline): parse, check it is an object with a string "cmd", hand it to
 * the handler, count it; the reply is left in w (hl_jw_init'ed by the
 * caller). No socket is involved, so a test or fuzzer can drive the whole
 * request path with a server that was never opened: only fn and opaque
 * need setting.
 */
void hl_ctl_server_answer(struct hl_ctl_server *s, const char *text, size_t len, struct hl_jw *w);

/*
 * Drop every client, stop listening and remove the socket file. Safe to call
 * again, and after a failed hl_ctl_server_open() (which leaves s closed).
 */
void hl_ctl_server_close(struct hl_ctl_server *s);

/*
 * Client: send one request (a JSON text; embedded newlines are sent as
 * spaces, which JSON treats alike) and wait up to timeout_ms for the reply.
 * On success *reply_out is the reply without its trailing newline, malloc'd,
 * NUL-terminated. -ENOENT when the socket does not exist, -ECONNREFUSED when
 * nobody listens on it, -ETIMEDOUT, -EPROTO for a reply cut short or too
 * large; hl_last_error() says which, naming the path.
 */
int hl_ctl_request(const char *path, const char *json_req, int timeout_ms, char **reply_out);

#ifdef __cplusplus
}
#endif
#endif
