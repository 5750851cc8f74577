/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A memif port's socket side: listen and accept one peer (server), or
 * connect (client, memif_client.c), feed the peer's messages and the fds
 * that come with them to the control engine, start the queues when the
 * handshake ends and stop them when the connection does.
 *
 * Invariants. One peer at a time: a second connection is told why and
 * closed. Everything here runs on the control thread and never blocks:
 * the sockets are non-blocking and a handshake that has not finished
 * within HL_MEMIF_HANDSHAKE_MS is dropped. Queues are stopped (running
 * cleared, busy waited out) before a region is unmapped or an eventfd
 * closed, so the data path never touches memory that is gone.
 */
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/fence_pvt.h"
#include "memif_pvt.h"

#define MSGS_PER_POLL 64

int hl_memif_port_open(struct hl_memif_port *p, const struct hl_memif_port_params *prm)
{
	unsigned queues = prm->queues ? prm->queues : 1;
	unsigned ring = prm->ring_size ? prm->ring_size : 1024;
	unsigned bsize = prm->buffer_size ? prm->buffer_size : 2048;
	hl__fence_init();
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
	if (prm->path == NULL || prm->path[0] != '/' || strlen(prm->path) >= sizeof(p->path))
		return hl_error(-EINVAL, "memif: the socket path must be absolute and under %zu bytes", sizeof(p->path));
	snprintf(p->path, sizeof(p->path), "%s", prm->path);
	p->ctl.client = p->client = prm->client;
	if (prm->client) {
		struct hl_pool_info in;
		if (prm->bp == NULL || hl_pool_get_info(hl_bufpool_pool(prm->bp), &in) < 0)
			return hl_error(-EINVAL, "memif %s: a client port needs the switch's bufpool", prm->path);
		/* descriptor offsets are 32 bits: the pool must fit one region */
		if (in.size > UINT32_MAX)
			return hl_error(-E2BIG, "memif %s: a pool of %llu MiB is over the 4 GiB a region can address",
					prm->path, (unsigned long long)(in.size >> 20));
		p->bp = prm->bp;
		struct hl_buf *b = hl_buf_alloc(prm->bp);
		if (b == NULL)
			return hl_error(-ENOBUFS, "memif %s: no buffer to measure the room of", prm->path);
		p->bp_room = hl_buf_tailroom(b);
		hl_buf_free(b);
		p->backoff_ms = HL_MEMIF_BACKOFF_MIN_MS;
		return 0;
	}
	int fd = hl_unix_listen(prm->path, SOCK_SEQPACKET | SOCK_NONBLOCK, "memif");
	if (fd < 0)
		return fd;
	p->listen_fd = fd;
	return 0;
}

bool hl_memif_port_up(const struct hl_memif_port *p)
{
	return __atomic_load_n(&p->nq, __ATOMIC_ACQUIRE) != 0;
}

void hl__memif_send(struct hl_memif_port *p, const struct hl_memif_msg *m, int fd)
{
	char ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = (void *)m, .iov_len = sizeof(*m)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (p->conn_fd < 0)
		return;
	if (fd >= 0) {
		memset(ctl, 0, sizeof(ctl));
		mh.msg_control = ctl;
		mh.msg_controllen = sizeof(ctl);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	/* a peer that does not read its socket loses its connection, not our thread */
	if (sendmsg(p->conn_fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)sizeof(*m))
		HL_LOG_WARN("memif %s: send message %u: %s", p->path, m->type, strerror(errno));
}

static void send_msg(struct hl_memif_port *p, const struct hl_memif_msg *m)
{
	hl__memif_send(p, m, -1);
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
		__atomic_store_n(&all[i]->running, 0, __ATOMIC_RELAXED);
	hl__fence_ctrl();
	for (unsigned i = 0; i < n; i++)
		while (__atomic_load_n(&all[i]->busy, __ATOMIC_ACQUIRE))
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

void hl__memif_hang_up(struct hl_memif_port *p, const char *why)
{
	if (p->conn_fd < 0)
		return;
	HL_LOG_INFO("memif %s: peer %s gone: %s", p->path, p->ctl.peer_name[0] ? p->ctl.peer_name : "-", why);
	if (why != p->ctl.reason)
		snprintf(p->ctl.reason, sizeof(p->ctl.reason), "%s", why);
	stop_queues(p);
	if (p->client) {
		hl_memif_client_release(p);
		p->retry_ns = hl_now_ns() + (uint64_t)p->backoff_ms * 1000000u;
	}
	close(p->conn_fd);
	p->conn_fd = -1;
	hl_memif_ctl_reset(&p->ctl);
}

static void hang_up(struct hl_memif_port *p, const char *why)
{
	hl__memif_hang_up(p, why);
}

static void start_queue(struct hl_memif_port *p, struct hl_memif_q *q, const struct hl_memif_ring_desc *rd,
			bool receive)
{
	q->ring = (struct hl_memif_ring *)(p->ctl.region[rd->region].va + rd->offset);
	q->size = (uint16_t)(1u << rd->log2_size);
	q->mask = (uint16_t)(q->size - 1);
	if (p->client) {
		/* the server zeroed every head and tail when it took CONNECT */
		q->pos = q->lim = 0;
	} else {
		/* tail is ours: wherever the peer left it, we start there, and never read it again */
		q->pos = __atomic_load_n(&q->ring->tail, __ATOMIC_RELAXED);
	}
	q->fd = rd->fd;
	q->fault = 0;
	if (p->client && receive)
		hl_memif_client_offer(p, q);
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

void hl__memif_start_queues(struct hl_memif_port *p, unsigned nq)
{
	for (unsigned i = 0; i < nq; i++) {
		/* a server receives on S2M and sends on M2S; a client the other way round */
		start_queue(p, &p->rx[i], p->client ? &p->ctl.m2s[i] : &p->ctl.s2m[i], true);
		start_queue(p, &p->tx[i], p->client ? &p->ctl.s2m[i] : &p->ctl.m2s[i], false);
	}
	__atomic_store_n(&p->nq, nq, __ATOMIC_RELEASE);
	HL_LOG_INFO("memif %s: %s (%s) connected: %u queue pairs, %u regions", p->path, p->ctl.peer_name,
		    p->ctl.peer_if_name, nq, p->ctl.nregions);
}

static void on_connect(struct hl_memif_port *p, struct hl_memif_msg *reply)
{
	if (hl_memif_ctl_connect(&p->ctl, reply) < 0) {
		send_msg(p, reply);
		hang_up(p, p->ctl.reason);
		return;
	}
	hl__memif_start_queues(p, hl_memif_ctl_queues(&p->ctl));
	send_msg(p, reply);
}

/* What the engine said to do with one message. false: the connection is gone. */
static bool act(struct hl_memif_port *p, enum hl_memif_action a, struct hl_memif_msg *reply, int reply_fd)
{
	switch (a) {
	case HL_MEMIF_A_NONE:
		return true;
	case HL_MEMIF_A_REPLY:
		hl__memif_send(p, reply, reply_fd);
		return true;
	case HL_MEMIF_A_CONNECT:
		on_connect(p, reply);
		return p->conn_fd >= 0;
	case HL_MEMIF_A_SETUP:
		if (hl__memif_client_layout(p) < 0) {
			hl_memif_ctl_disconnect_msg(reply, p->ctl.reason);
			send_msg(p, reply);
			hang_up(p, p->ctl.reason);
			return false;
		}
		hl_memif_ctl_client_init(&p->ctl, reply);
		send_msg(p, reply);
		return true;
	case HL_MEMIF_A_UP:
		p->backoff_ms = HL_MEMIF_BACKOFF_MIN_MS;
		hl__memif_start_queues(p, p->ctl.nq);
		return true;
	case HL_MEMIF_A_HANGUP:
	default:
		send_msg(p, reply);
		hang_up(p, p->ctl.reason);
		return false;
	}
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
		int reply_fd = -1;
		enum hl_memif_action a = p->client
			? hl_memif_ctl_client_handle(&p->ctl, buf, (size_t)n, fd, &reply, &reply_fd)
			: hl_memif_ctl_handle(&p->ctl, buf, (size_t)n, fd, &reply);
		if (!act(p, a, &reply, reply_fd))
			return;
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
	if (p->client)
		hl__memif_client_connect(p);
	else if (p->listen_fd >= 0)
		accept_peers(p);
	if (p->conn_fd < 0)
		return;
	take_messages(p);
	if (p->conn_fd < 0)
		return;
	if (__atomic_load_n(&p->ctl.region_fault, __ATOMIC_ACQUIRE)) {
		struct hl_memif_msg m;
		p->faults++;
		hl_memif_ctl_disconnect_msg(&m, "a region's file shrank under its mapping");
		send_msg(p, &m);
		hang_up(p, "a region's file shrank under its mapping");
		return;
	}
	if (p->ctl.state != HL_MEMIF_S_CONNECTED) {
		if (hl_now_ns() - p->conn_since_ns > (uint64_t)HL_MEMIF_HANDSHAKE_MS * 1000000u) {
			if (p->client && p->backoff_ms < HL_MEMIF_BACKOFF_MAX_MS)
				p->backoff_ms *= 2;
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
