/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-user messages on a UNIX socket. The header and its fds arrive in one
 * recvmsg; the payload follows (it may arrive in pieces). The size field is
 * checked against HL_VU_MAX_PAYLOAD before anything is read into the buffer.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <hugelink/common.h>
#include <hugelink/vhost_sock.h>

/* A peer that sent a header owes its payload promptly; do not hang on it. */
#define PAYLOAD_TIMEOUT_MS 1000

static int read_full(int sock, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(sock, (uint8_t *)buf + got, len - got, MSG_DONTWAIT);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0)
			return hl_error(-ECONNRESET, "vhost-user: the peer hung up in the middle of a message");
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return hl_error(-errno, "vhost-user: recv: %s", strerror(errno));
		struct pollfd p = {.fd = sock, .events = POLLIN};
		int r = poll(&p, 1, PAYLOAD_TIMEOUT_MS);
		if (r == 0)
			return hl_error(-ETIMEDOUT, "vhost-user: payload did not follow its header");
		if (r < 0 && errno != EINTR)
			return hl_error(-errno, "vhost-user: poll: %s", strerror(errno));
	}
	return 0;
}

int hl_vu_recv(int sock, struct hl_vu_msg *m, int *fds, unsigned *nfds)
{
	union {
		char buf[CMSG_SPACE(HL_VU_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = &m->hdr, .iov_len = sizeof(m->hdr)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf)};
	ssize_t n;
	int rc = 0;

	*nfds = 0;
	do {
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	/* nothing there yet is not an error of anyone's: no message for it */
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -errno
							       : hl_error(-errno, "vhost-user: recvmsg: %s", strerror(errno));
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		int *in = (int *)CMSG_DATA(c);
		for (unsigned i = 0; i < k; i++) {
			if (*nfds < HL_VU_MAX_FDS)
				fds[(*nfds)++] = in[i];
			else
				close(in[i]);
		}
	}
	if (mh.msg_flags & MSG_CTRUNC)
		rc = hl_error(-EBADMSG, "vhost-user: too many fds with one message");
	else if ((size_t)n < sizeof(m->hdr))
		rc = read_full(sock, (uint8_t *)&m->hdr + n, sizeof(m->hdr) - (size_t)n);
	if (rc == 0 && m->hdr.size > HL_VU_MAX_PAYLOAD)
		rc = hl_error(-EBADMSG, "vhost-user: payload of %u bytes exceeds %d", m->hdr.size,
			      HL_VU_MAX_PAYLOAD);
	if (rc == 0 && m->hdr.size > 0)
		rc = read_full(sock, &m->payload, m->hdr.size);
	if (rc < 0) {
		for (unsigned i = 0; i < *nfds; i++)
			close(fds[i]);
		*nfds = 0;
		return rc;
	}
	return (int)(sizeof(m->hdr) + m->hdr.size);
}

int hl_vu_send(int sock, const struct hl_vu_msg *m, const int *fds, unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(HL_VU_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = (void *)m, .iov_len = sizeof(m->hdr) + m->hdr.size};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	if (nfds > HL_VU_MAX_FDS || m->hdr.size > HL_VU_MAX_PAYLOAD)
		return -EINVAL;
	if (nfds > 0) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	size_t sent = 0, len = iov.iov_len;
	while (sent < len) {
		ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		sent += (size_t)n;
		/* fds went with the first chunk; send the rest plain */
		iov.iov_base = (uint8_t *)m + sent;
		iov.iov_len = len - sent;
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
	}
	return 0;
}

static int fill_addr(struct sockaddr_un *a, const char *path)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a->sun_path))
		return hl_error(-ENAMETOOLONG, "vhost-user: socket path too long: %s", path);
	strcpy(a->sun_path, path);
	return 0;
}

int hl_vu_listen(const char *path)
{
	return hl_unix_listen(path, SOCK_STREAM, "vhost-user");
}

int hl_vu_connect(const char *path)
{
	struct sockaddr_un a;
	int rc = fill_addr(&a, path);

	if (rc < 0)
		return rc;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}
