/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * `hugelinkd --metrics ADDR`: GET /metrics over HTTP/1.0 for Prometheus.
 *
 * A small responder of our own on a thread of its own, rather than a
 * library: one page, one connection at a time, no keep-alive, no request
 * body, nothing parsed but the request line, so what a hostile client can
 * reach is a few dozen lines. It listens only when asked, on loopback
 * unless given another address. A slow or silent client holds this thread
 * (2 s at most per connection), never the switch or its control socket.
 *
 * Threads: this thread never touches the switch. It asks the control
 * thread for a rendering (want, under lock) and waits for the generation
 * number to move; the control thread renders in hld_http_serve, from its
 * main loop, where ports are added and deleted, so a port cannot go away
 * under the rendering.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_request.h"
#include "hugelinkd.h"

#define IO_TIMEOUT_S 2
#define REQ_MAX 4096

static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

int hld_http_open(struct hld_http *h, const char *addr)
{
	char host[128] = "127.0.0.1", port[16];
	const char *colon = strrchr(addr, ':');

	memset(h, 0, sizeof(*h));
	h->listen_fd = h->stop_fd[0] = h->stop_fd[1] = -1;
	/* "PORT", "HOST:PORT" or "[V6]:PORT" */
	if (colon == NULL) {
		snprintf(port, sizeof(port), "%s", addr);
	} else {
		size_t hl = (size_t)(colon - addr);
		const char *hs = addr;
		if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']') {
			hs++;
			hl -= 2;
		}
		if (hl == 0 || hl >= sizeof(host) || strlen(colon + 1) >= sizeof(port))
			return hl_error(-EINVAL, "--metrics %s: HOST:PORT, [IPV6]:PORT or PORT", addr);
		memcpy(host, hs, hl);
		host[hl] = '\0';
		snprintf(port, sizeof(port), "%s", colon + 1);
	}
	char *end;
	long pn = strtol(port, &end, 10);
	if (port[0] == '\0' || *end != '\0' || pn < 1 || pn > 65535)
		return hl_error(-EINVAL, "--metrics %s: the port must be a number 1..65535", addr);

	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai = NULL;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0)
		return hl_error(-EINVAL, "--metrics %s: %s", addr, gai_strerror(rc));
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return hl_error(rc, "--metrics %s: %s", addr, strerror(-rc));
	}
	if (!is_loopback(ai->ai_addr))
		HL_LOG_WARN("hugelinkd: metrics served on %s, not a loopback address: whoever reaches it reads them",
			    addr);
	freeaddrinfo(ai);
	h->listen_fd = fd;
	bool v6 = strchr(host, ':') != NULL;
	snprintf(h->addr, sizeof(h->addr), "%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port);
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	return 0;
}

static bool send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static void reply(int fd, const char *status, const char *type, const char *body, size_t len, bool head)
{
	char hdr[256];
	int n = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
			 status, type, len);
	if (send_all(fd, hdr, (size_t)n) && !head)
		send_all(fd, body, len);
}

/* A fresh rendering from the control thread, copied out; NULL if it does not come in time. */
static char *render(struct hld_http *h, size_t *len)
{
	char *out = NULL;
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += IO_TIMEOUT_S;
	pthread_mutex_lock(&h->lock);
	uint64_t gen = h->gen;
	h->want = true;
	while (h->gen == gen && !h->stopping)
		if (pthread_cond_timedwait(&h->cond, &h->lock, &until) == ETIMEDOUT)
			break;
	if (h->gen != gen && !h->text.failed && (out = malloc(h->text.len + 1)) != NULL) {
		memcpy(out, h->text.s, h->text.len);
		*len = h->text.len;
	}
	pthread_mutex_unlock(&h->lock);
	return out;
}

static void serve_one(struct hld_http *h, int fd)
{
	struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
	char req[REQ_MAX + 1];
	size_t got = 0;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* the request line and headers, to the blank line (http_request.c) */
	bool head = false;
	int status = 0;
	while (status == 0) {
		ssize_t r = recv(fd, req + got, REQ_MAX - got, 0);
		if (r <= 0)
			return;
		got += (size_t)r;
		req[got] = '\0';
		status = hld_http_request(req, got, REQ_MAX, &head);
	}
	static const struct {
		int status;
		const char *line, *msg;
	} refusals[] = {
		{400, "400 Bad Request", "bad request\n"},
		{404, "404 Not Found", "hugelinkd: metrics are at /metrics\n"},
		{405, "405 Method Not Allowed", "GET /metrics\n"},
		{431, "431 Request Header Fields Too Large", "request too large\n"},
	};
	for (size_t i = 0; i < HL_ARRAY_SIZE(refusals); i++)
		if (refusals[i].status == status) {
			reply(fd, refusals[i].line, "text/plain", refusals[i].msg, strlen(refusals[i].msg), head);
			return;
		}
	size_t len = 0;
	char *body = render(h, &len);
	if (body == NULL) {
		static const char msg[] = "hugelinkd did not render its metrics in time\n";
		reply(fd, "503 Service Unavailable", "text/plain", msg, sizeof(msg) - 1, head);
		return;
	}
	reply(fd, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body, len, head);
	free(body);
	__atomic_fetch_add(&h->served, 1, __ATOMIC_RELAXED);
}

/*
 * Close after the client has read the reply: a request not read to its end
 * (refused early) would otherwise turn the close into a reset that can
 * discard the reply on its way. What is left is read and dropped, 64 KiB
 * and the I/O timeout at most.
 */
static void linger_close(int fd)
{
	char sink[4096];
	shutdown(fd, SHUT_WR);
	for (int i = 0; i < 16 && recv(fd, sink, sizeof(sink), 0) > 0; i++)
		;
	close(fd);
}

static void *http_thread(void *arg)
{
	struct hld_http *h = arg;
	for (;;) {
		struct pollfd pf[2] = {{.fd = h->listen_fd, .events = POLLIN}, {.fd = h->stop_fd[0], .events = POLLIN}};
		if (poll(pf, 2, -1) < 0 && errno != EINTR)
			break;
		if (pf[1].revents != 0)
			break;
		if (pf[0].revents & POLLIN) {
			int fd = accept4(h->listen_fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0) {
				serve_one(h, fd);
				linger_close(fd);
			}
		}
	}
	return NULL;
}

int hld_http_start(struct hld_http *h)
{
	if (h->listen_fd < 0)
		return 0;
	if (pipe2(h->stop_fd, O_CLOEXEC) < 0)
		return hl_error(-errno, "metrics: pipe: %s", strerror(errno));
	int rc = pthread_create(&h->thread, NULL, http_thread, h);
	if (rc != 0)
		return hl_error(-rc, "metrics: cannot start its thread: %s", strerror(rc));
	h->running = true;
	HL_LOG_INFO("hugelinkd: metrics on http://%s/metrics", h->addr);
	return 0;
}

void hld_http_serve(struct hld_http *h, struct daemon *d)
{
	if (!h->running || !__atomic_load_n(&h->want, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&h->lock);
	hld_metrics(d, &h->text);
	h->want = false;
	h->gen++;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

void hld_http_close(struct hld_http *h)
{
	if (h->running) {
		pthread_mutex_lock(&h->lock);
		h->stopping = true;
		pthread_cond_broadcast(&h->cond);
		pthread_mutex_unlock(&h->lock);
		char c = 0;
		if (write(h->stop_fd[1], &c, 1) != 1)
			HL_LOG_WARN("metrics: cannot stop the thread: %s", strerror(errno));
		pthread_join(h->thread, NULL);
		h->running = false;
	}
	for (int i = 0; i < 2; i++)
		if (h->stop_fd[i] >= 0)
			close(h->stop_fd[i]);
	if (h->listen_fd >= 0) {
		close(h->listen_fd);
		pthread_mutex_destroy(&h->lock);
		pthread_cond_destroy(&h->cond);
	}
	hld_text_free(&h->text);
	h->listen_fd = h->stop_fd[0] = h->stop_fd[1] = -1;
}
