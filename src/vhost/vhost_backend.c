/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Socket life of a vhost-user back-end (see vhost_backend.h). A peer that
 * misbehaves at the framing level is disconnected; everything it mapped or
 * passed is released by the device reset, and a client-mode back-end comes
 * back with exponential back-off (100 ms doubling to 2 s).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <hugelink/vhost_backend.h>
#include <hugelink/vhost_sock.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000

int hl_vhost_backend_open(struct hl_vhost_backend *be, const struct hl_vhost_backend_params *p)
{
	memset(be, 0, sizeof(*be));
	be->listen_fd = be->conn_fd = -1;
	if (p->path == NULL || strlen(p->path) >= sizeof(be->path))
		return hl_error(-EINVAL, "vhost-user: socket path missing or too long");
	snprintf(be->path, sizeof(be->path), "%s", p->path);
	be->client = p->client;
	be->backoff_ms = BACKOFF_MIN_MS;
	hl_vhost_dev_init(&be->dev, p->features, p->nqueues, p->ops, p->opaque);
	if (!be->client) {
		int fd = hl_vu_listen(be->path);
		if (fd < 0)
			return fd;
		be->listen_fd = fd;
	}
	return 0;
}

bool hl_vhost_backend_connected(const struct hl_vhost_backend *be)
{
	return be->conn_fd >= 0;
}

static void disconnect(struct hl_vhost_backend *be, const char *why)
{
	if (be->conn_fd < 0)
		return;
	HL_LOG_INFO("vhost-user %s: disconnected (%s)", be->path, why);
	close(be->conn_fd);
	be->conn_fd = -1;
	be->disconnects++;
	hl_vhost_dev_reset(&be->dev);
	be->retry_at_ns = hl_now_ns() + (uint64_t)be->backoff_ms * 1000000ull;
}

static void try_connect(struct hl_vhost_backend *be)
{
	if (hl_now_ns() < be->retry_at_ns)
		return;
	int fd = hl_vu_connect(be->path);
	if (fd < 0) {
		be->retry_at_ns = hl_now_ns() + (uint64_t)be->backoff_ms * 1000000ull;
		be->backoff_ms = be->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : be->backoff_ms * 2;
		return;
	}
	be->conn_fd = fd;
	be->connects++;
	be->backoff_ms = BACKOFF_MIN_MS;
	HL_LOG_INFO("vhost-user %s: connected", be->path);
}

static int handle_one(struct hl_vhost_backend *be)
{
	static __thread struct hl_vu_msg m, r;
	int fds[HL_VU_MAX_FDS];
	unsigned nfds = 0;

	int len = hl_vu_recv(be->conn_fd, &m, fds, &nfds);
	if (len <= 0) {
		disconnect(be, len == 0 ? "peer closed" : hl_last_error());
		return -1;
	}
	int rc = hl_vhost_dev_handle(&be->dev, &m, (size_t)len, fds, nfds, &r);
	if (rc < 0) {
		disconnect(be, hl_last_error());
		return -1;
	}
	if (rc > 0 && hl_vu_send(be->conn_fd, &r, NULL, 0) < 0) {
		disconnect(be, "reply failed");
		return -1;
	}
	return 1;
}

int hl_vhost_backend_poll(struct hl_vhost_backend *be, int timeout_ms)
{
	struct pollfd p = {.events = POLLIN};
	int handled = 0;

	if (be->conn_fd < 0 && be->client)
		try_connect(be);
	p.fd = be->conn_fd >= 0 ? be->conn_fd : be->listen_fd;
	if (p.fd < 0) {
		/* client waiting for its next attempt */
		if (timeout_ms > 0)
			usleep((useconds_t)(timeout_ms < 10 ? timeout_ms : 10) * 1000);
		return 0;
	}
	int r = poll(&p, 1, timeout_ms);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (r == 0)
		return 0;
	if (be->conn_fd < 0) {
		int fd = accept4(be->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		be->conn_fd = fd;
		be->connects++;
		HL_LOG_INFO("vhost-user %s: front-end connected", be->path);
		return 0;
	}
	/* drain what is already queued so a burst of setup messages is one call */
	do {
		if (handle_one(be) < 0)
			break;
		handled++;
		p.revents = 0;
	} while (poll(&p, 1, 0) == 1);
	return handled;
}

void hl_vhost_backend_close(struct hl_vhost_backend *be)
{
	disconnect(be, "closing");
	hl_vhost_dev_reset(&be->dev);
	hl_guest_mem_free(&be->dev.mem);
	hl_xlate_free(&be->dev.uva2hva);
	if (be->listen_fd >= 0) {
		close(be->listen_fd);
		unlink(be->path);
	}
	be->listen_fd = -1;
}
