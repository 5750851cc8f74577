/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket's client side: connect, send one request line, read one
 * reply line, all within one overall deadline.
 *
 * The server may answer before it has read the whole request (a request too
 * large is refused as soon as the limit is passed), so a failed send is not
 * yet a failure: the reply that explains it may be waiting to be read.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <hugelink/common.h>
#include <hugelink/ctl.h>

static int ms_left(uint64_t deadline)
{
	uint64_t now = hl_now_ns();

	return now >= deadline ? 0 : (int)((deadline - now + 999999) / 1000000);
}

/* Wait for events on fd until deadline: 1 ready, 0 timed out, <0 error. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = events};

	for (;;) {
		int rc = poll(&pfd, 1, ms_left(deadline));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return hl_error(-errno, "control: poll: %s", strerror(errno));
		return rc;
	}
}

static int connect_to(const char *path, uint64_t deadline)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, err;

	if (strlen(path) == 0 || strlen(path) >= sizeof(sa.sun_path))
		return hl_error(-ENAMETOOLONG, "control socket path '%s' is empty or too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return hl_error(-errno, "socket: %s", strerror(errno));
	/* a full backlog gives EAGAIN on a non-blocking UNIX connect: retry until the deadline */
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = errno;
		if (err == EINTR)
			continue;
		if (err == EAGAIN && ms_left(deadline) > 0) {
			usleep(10000);
			continue;
		}
		close(fd);
		switch (err) {
		case ENOENT:
			return hl_error(-ENOENT, "cannot reach hugelinkd: %s does not exist (is the daemon running?)",
					path);
		case ECONNREFUSED:
			return hl_error(-ECONNREFUSED,
					"cannot reach hugelinkd: nobody listens on %s (stale socket; is the daemon running?)",
					path);
		case EAGAIN:
			return hl_error(-ETIMEDOUT, "cannot reach hugelinkd: %s is not accepting connections", path);
		default:
			return hl_error(-err, "cannot reach hugelinkd on %s: %s", path, strerror(err));
		}
	}
	return fd;
}

static int send_all(int fd, const char *req, size_t len, uint64_t deadline)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0) {
			off += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return hl_error(-errno, "control: send: %s", strerror(errno));
		int rc = wait_fd(fd, POLLOUT, deadline);
		if (rc <= 0)
			return rc == 0 ? -ETIMEDOUT : rc;
	}
	return 0;
}

int hl_ctl_request(const char *path, const char *json_req, int timeout_ms, char **reply_out)
{
	uint64_t deadline = hl_now_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000u;
	size_t len, cap = 4096, got = 0;
	char *req, *buf = NULL, *nl = NULL;
	int fd, rc, send_rc;

	*reply_out = NULL;
	if (path == NULL || json_req == NULL)
		return hl_error(-EINVAL, "control request needs a path and a request");
	len = strlen(json_req);
	req = malloc(len + 1);
	if (req == NULL)
		return hl_error(-ENOMEM, "out of memory");
	/* the line is the frame: newlines inside the request become spaces */
	for (size_t i = 0; i < len; i++)
		req[i] = json_req[i] == '\n' ? ' ' : json_req[i];
	req[len] = '\n';
	fd = connect_to(path, deadline);
	if (fd < 0) {
		free(req);
		return fd;
	}
	send_rc = send_all(fd, req, len + 1, deadline);
	free(req);
	if (send_rc == -ETIMEDOUT) {
		close(fd);
		return hl_error(-ETIMEDOUT, "hugelinkd on %s did not take the request within %d ms", path,
				timeout_ms);
	}
	/* even if sending failed (EPIPE), the server may have said why */
	for (;;) {
		if (got + 1 >= cap || buf == NULL) {
			if (buf != NULL)
				cap *= 2;
			char *b = realloc(buf, cap);
			if (b == NULL) {
				rc = hl_error(-ENOMEM, "out of memory");
				goto out;
			}
			buf = b;
		}
		ssize_t n = recv(fd, buf + got, cap - 1 - got, MSG_DONTWAIT);
		if (n > 0) {
			nl = memchr(buf + got, '\n', (size_t)n);
			got += (size_t)n;
			if (nl != NULL)
				break;
			if (got > HL_CTL_MAX_REPLY) {
				rc = hl_error(-EPROTO, "reply from %s is larger than %u bytes", path,
					      HL_CTL_MAX_REPLY);
				goto out;
			}
			continue;
		}
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			break;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			rc = hl_error(-errno, "reading reply from %s: %s", path, strerror(errno));
			goto out;
		}
		rc = wait_fd(fd, POLLIN, deadline);
		if (rc < 0) {
			rc = hl_error(rc, "waiting for reply from %s: %s", path, strerror(-rc));
			goto out;
		}
		if (rc == 0) {
			rc = hl_error(-ETIMEDOUT, "no reply from hugelinkd on %s within %d ms", path,
				      timeout_ms);
			goto out;
		}
	}
	if (nl == NULL) {
		if (send_rc < 0)
			rc = hl_error(send_rc, "sending to %s: %s", path, strerror(-send_rc));
		else
			rc = hl_error(-EPROTO, "hugelinkd on %s closed the connection without a complete reply",
				      path);
		goto out;
	}
	*nl = '\0';
	*reply_out = buf;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}
