/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A memif server port's socket side: listen, accept one peer, feed its
 * messages (and the fds that come with them) to the control engine,
 * start the queues on CONNECT and stop them when the connection ends.
 *
 * Invariants. One peer at a time: a second connection is told why and
 * closed. Everything here runs on the control thread and never blocks:
 * the sockets are non-blocking and a handshake that has not finished
 * within HL_MEMIF_HANDSHAKE_MS is dropped. Queues are stopped (running
 * cleared, busy waited out) before a region is unmapped or an eventfd
 * closed, so the data path never touches memory that is gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <hugelink/memif_port.h>

#define MSGS_PER_POLL 64

int hl_memif_port_open(struct hl_memif_port *p, const struct hl_memif_port_params *prm)
{
	unsigned queues = prm->queues ? prm->queues : 1;
	unsigned ring = prm->ring_size ? prm->ring_size : 1024;
	unsigned bsize = prm->buffer_size ? prm->buffer_size : 2048;
	memset(p, 0, sizeof(*p));
	p->listen_fd = p->conn_fd = p->wake_epfd = -1;
	if (queues > HL_MEMIF_MAX_QUEUES)
		return hl_error(-EINVAL, "memif: %u queue pairs (at most %d)", queues, HL_MEMIF_MAX_QUEUES);
	if (!HL_IS_POW2(ring) || ring < 2 || ring > (1u << HL_MEMIF_MAX_LOG2_RING))
		return hl_error(-EINVAL, "memif: ring size %u is not a power of two in 2..%u", ring,
				1u << HL_MEMIF_MAX_LOG2_RING);
	if (bsize < 128 || bsize > 65536)
		return hl_error(-EINVAL, "memif: buffer size %u (128..65536)", bsize);
	if (prm->secret != NULL && strlen(prm->secret) > HL_MEMIF_SECRET_SZ)
		return hl_error(-EINVAL, "memif: the secret is longer than %d bytes", HL_MEMIF_SECRET_SZ);
	struct hl_memif_cfg cfg = {.id = prm->id, .queues = (uint16_t)queues, .buffer_size = bsize};
	cfg.log2_ring = (uint8_t)__builtin_ctz(ring);
	snprintf(cfg.secret, sizeof(cfg.secret), "%s", prm->secret ? prm->secret : "");
	snprintf(cfg.name, sizeof(cfg.name), "%s", prm->name ? prm->name : "hugelink");
	hl_memif_ctl_init(&p->ctl, &cfg);
	for (unsigned i = 0; i < HL_MEMIF_MAX_QUEUES; i++)
		p->rx[i].fd = p->tx[i].fd = -1;
	if (prm->path == NULL || prm->path[0] != '/')
		return hl_error(-EINVAL, "memif: the socket path must be absolute");
	int fd = hl_unix_listen(prm->path, SOCK_SEQPACKET | SOCK_NONBLOCK, "memif");
	if (fd < 0)
		return fd;
	snprintf(p->path, sizeof(p->path), "%s", prm->path);
	p->listen_fd = fd;
	return 0;
}

bool hl_memif_port_up(const struct hl_memif_port *p)
{
	return __atomic_load_n(&p->nq, __ATOMIC_ACQUIRE) != 0;
}

static void send_msg(struct hl_memif_port *p, const struct hl_memif_msg *m)
{
	if (p->conn_fd < 0)
		return;
	/* a peer that does not read its socket loses its connection, not our thread */
	if (send(p->conn_fd, m, sizeof(*m), MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)sizeof(*m))
		HL_LOG_WARN("memif %s: send message %u: %s", p->path, m->type, strerror(errno));
}

static void stop_queues(struct hl_memif_port *p)
{
	struct hl_memif_q *all[2 * HL_MEMIF_MAX_QUEUES];
	unsigned n = 0;
	for (unsigned i = 0; i < HL_MEMIF_MAX_QUEUES; i++) {
		all[n++] = &p->rx[i];
		all[n++] = &p->tx[i];
	}
	for (unsigned i = 0; i < n; i++)
		__atomic_store_n(&all[i]->running, 0, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < n; i++)
		while (__atomic_load_n(&all[i]->busy, __ATOMIC_SEQ_CST))
			sched_yield();
	__atomic_store_n(&p->nq, 0, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < HL_MEMIF_MAX_QUEUES; i++) {
		if (p->wake_epfd >= 0 && p->rx[i].fd >= 0)
			epoll_ctl(p->wake_epfd, EPOLL_CTL_DEL, p->rx[i].fd, NULL);
		p->rx[i].ring = p->tx[i].ring = NULL;
		p->rx[i].fd = p->tx[i].fd = -1;
		p->rx[i].fault = p->tx[i].fault = 0;
	}
}

/* End the connection: queues stopped first, then memory and fds go. */
static void hang_up(struct hl_memif_port *p, const char *why)
{
	if (p->conn_fd < 0)
		return;
	HL_LOG_INFO("memif %s: peer %s gone: %s", p->path, p->ctl.peer_name[0] ? p->ctl.peer_name : "-", why);
	if (why != p->ctl.reason)
		snprintf(p->ctl.reason, sizeof(p->ctl.reason), "%s", why);
	stop_queues(p);
	close(p->conn_fd);
	p->conn_fd = -1;
	hl_memif_ctl_reset(&p->ctl);
}

static void start_queue(struct hl_memif_port *p, struct hl_memif_q *q, const struct hl_memif_ring_desc *rd,
			bool receive)
{
	q->ring = (struct hl_memif_ring *)(p->ctl.region[rd->region].va + rd->offset);
	q->size = (uint16_t)(1u << rd->log2_size);
	q->mask = (uint16_t)(q->size - 1);
	/* tail is ours: wherever the peer left it, we start there, and never read it again */
	q->pos = __atomic_load_n(&q->ring->tail, __ATOMIC_RELAXED);
	q->fd = rd->fd;
	q->fault = 0;
	if (receive) {
		/* polling until the worker arms the port */
		__atomic_store_n(&q->ring->flags, HL_MEMIF_RING_F_MASK_INT, __ATOMIC_RELAXED);
		if (p->wake_epfd >= 0) {
			struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = p->wake_data};
			if (epoll_ctl(p->wake_epfd, EPOLL_CTL_ADD, q->fd, &ev) < 0)
				HL_LOG_WARN("memif %s: watch S2M eventfd: %s", p->path, strerror(errno));
		}
	}
	__atomic_store_n(&q->running, 1, __ATOMIC_RELEASE);
}

static void on_connect(struct hl_memif_port *p, struct hl_memif_msg *reply)
{
	if (hl_memif_ctl_connect(&p->ctl, reply) < 0) {
		send_msg(p, reply);
		hang_up(p, p->ctl.reason);
		return;
	}
	unsigned nq = hl_memif_ctl_queues(&p->ctl);
	for (unsigned i = 0; i < nq; i++) {
		start_queue(p, &p->rx[i], &p->ctl.s2m[i], true);
		start_queue(p, &p->tx[i], &p->ctl.m2s[i], false);
	}
	__atomic_store_n(&p->nq, nq, __ATOMIC_RELEASE);
	send_msg(p, reply);
	HL_LOG_INFO("memif %s: %s (%s) connected: %u queue pairs, %u regions", p->path, p->ctl.peer_name,
		    p->ctl.peer_if_name, nq, p->ctl.nregions);
}

/* A message and at most one fd; *fd -1 if none. 0 on EOF, -EAGAIN when nothing waits. */
static ssize_t recv_msg(int sock, void *buf, size_t len, int *fd, bool *extra_fds)
{
	char ctl[CMSG_SPACE(sizeof(int) * 4)];
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)};
	*fd = -1;
	*extra_fds = false;
	ssize_t n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int f;
			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*fd < 0) {
				*fd = f;
			} else {
				close(f);
				*extra_fds = true;
			}
		}
	}
	if (mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC))
		*extra_fds = true;
	return n;
}

static void take_messages(struct hl_memif_port *p)
{
	for (unsigned i = 0; i < MSGS_PER_POLL && p->conn_fd >= 0; i++) {
		uint8_t buf[HL_MEMIF_MSG_SIZE * 2];
		struct hl_memif_msg reply;
		int fd;
		bool extra;
		ssize_t n = recv_msg(p->conn_fd, buf, sizeof(buf), &fd, &extra);
		if (n == -EAGAIN || n == -EWOULDBLOCK)
			return;
		if (n <= 0) {
			hang_up(p, n == 0 ? "peer closed the socket" : "socket error");
			return;
		}
		if (extra) {
			/* more than one fd, or a message longer than the buffer: refused whole */
			if (fd >= 0)
				close(fd);
			fd = -1;
			n = (ssize_t)sizeof(buf) + 1;
		}
		switch (hl_memif_ctl_handle(&p->ctl, buf, (size_t)n, fd, &reply)) {
		case HL_MEMIF_A_NONE:
			break;
		case HL_MEMIF_A_REPLY:
			send_msg(p, &reply);
			break;
		case HL_MEMIF_A_CONNECT:
			on_connect(p, &reply);
			break;
		case HL_MEMIF_A_HANGUP:
			send_msg(p, &reply);
			hang_up(p, p->ctl.reason);
			return;
		}
	}
}

static void accept_peers(struct hl_memif_port *p)
{
	for (;;) {
		int fd = accept4(p->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (p->conn_fd >= 0) {
			struct hl_memif_msg m;
			hl_memif_ctl_disconnect_msg(&m, "interface already connected");
			(void)send(fd, &m, sizeof(m), MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			p->rejected++;
			continue;
		}
		struct hl_memif_msg hello;
		p->conn_fd = fd;
		p->conn_since_ns = hl_now_ns();
		p->ctl.peer_name[0] = p->ctl.peer_if_name[0] = '\0';
		hl_memif_ctl_hello(&p->ctl, &hello);
		send_msg(p, &hello);
	}
}

void hl_memif_port_poll_ctrl(struct hl_memif_port *p)
{
	if (p->listen_fd < 0)
		return;
	accept_peers(p);
	if (p->conn_fd < 0)
		return;
	take_messages(p);
	if (p->conn_fd < 0)
		return;
	if (p->ctl.state != HL_MEMIF_S_CONNECTED) {
		if (hl_now_ns() - p->conn_since_ns > (uint64_t)HL_MEMIF_HANDSHAKE_MS * 1000000u) {
			struct hl_memif_msg m;
			p->ctl.stats.bad_msgs++;
			hl_memif_ctl_disconnect_msg(&m, "handshake timed out");
			send_msg(p, &m);
			hang_up(p, "handshake timed out");
		}
		return;
	}
	for (unsigned i = 0; i < p->nq; i++) {
		if (__atomic_load_n(&p->rx[i].fault, __ATOMIC_ACQUIRE) ||
		    __atomic_load_n(&p->tx[i].fault, __ATOMIC_ACQUIRE)) {
			struct hl_memif_msg m;
			p->faults++;
			hl_memif_ctl_disconnect_msg(&m, "broken ring: head or descriptor out of bounds");
			send_msg(p, &m);
			hang_up(p, "broken ring: head or descriptor out of bounds");
			return;
		}
	}
}

int hl_memif_port_set_wakeup(struct hl_memif_port *p, int epfd, uint64_t data)
{
	if (p->wake_epfd >= 0)
		return hl_error(-EBUSY, "memif %s: wake-up already set", p->path);
	p->wake_epfd = epfd;
	p->wake_data = data;
	for (unsigned i = 0; i < p->nq; i++) {
		struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = data};
		if (p->rx[i].fd >= 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, p->rx[i].fd, &ev) < 0)
			return hl_error(-errno, "memif %s: watch S2M eventfd: %s", p->path, strerror(errno));
	}
	return 0;
}

void hl_memif_port_close(struct hl_memif_port *p)
{
	hang_up(p, "port closed");
	if (p->listen_fd >= 0) {
		close(p->listen_fd);
		unlink(p->path);
	}
	p->listen_fd = -1;
}
