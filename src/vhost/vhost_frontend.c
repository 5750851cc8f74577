/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Front-end control messages (see vhost_frontend.h). Replies from the
 * back-end are checked like any peer input: the request they answer, the
 * REPLY flag, and the size.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <hugelink/vhost_frontend.h>
#include <hugelink/vhost_sock.h>

#define REPLY_TIMEOUT_MS 5000

static int request(struct hl_vhost_frontend *fe, uint32_t req, const void *payload, uint32_t size,
		   const int *fds, unsigned nfds, struct hl_vu_msg *reply)
{
	struct hl_vu_msg m;
	bool ack = reply == NULL && (fe->protocol & (1ull << HL_VU_PROTOCOL_F_REPLY_ACK));
	int rfds[HL_VU_MAX_FDS];
	unsigned rn = 0;
	struct hl_vu_msg local;

	memset(&m.hdr, 0, sizeof(m.hdr));
	m.hdr = (struct hl_vu_hdr){.request = req, .flags = HL_VU_VERSION | (ack ? HL_VU_FLAG_NEED_REPLY : 0),
				   .size = size};
	if (size)
		memcpy(m.payload.raw, payload, size);
	int rc = hl_vu_send(fe->sock, &m, fds, nfds);
	if (rc < 0)
		return hl_error(rc, "vhost-user front-end: sending %s failed", hl_vu_request_name(req));
	if (reply == NULL && !ack)
		return 0;
	if (reply == NULL)
		reply = &local;
	struct pollfd p = {.fd = fe->sock, .events = POLLIN};
	if (poll(&p, 1, REPLY_TIMEOUT_MS) != 1)
		return hl_error(-ETIMEDOUT, "vhost-user front-end: no reply to %s", hl_vu_request_name(req));
	rc = hl_vu_recv(fe->sock, reply, rfds, &rn);
	for (unsigned i = 0; i < rn; i++)
		close(rfds[i]);
	if (rc <= 0)
		return hl_error(rc < 0 ? rc : -ECONNRESET, "vhost-user front-end: back-end hung up on %s",
				hl_vu_request_name(req));
	if (reply->hdr.request != req || !(reply->hdr.flags & HL_VU_FLAG_REPLY))
		return hl_error(-EPROTO, "vhost-user front-end: reply to %s is for request %u",
				hl_vu_request_name(req), reply->hdr.request);
	if (ack) {
		if (reply->hdr.size != 8)
			return hl_error(-EPROTO, "vhost-user front-end: ack of %u bytes", reply->hdr.size);
		if (reply->payload.u64 != 0)
			return hl_error(-EIO, "vhost-user front-end: back-end refused %s", hl_vu_request_name(req));
	}
	return 0;
}

static int get_u64(struct hl_vhost_frontend *fe, uint32_t req, uint64_t *v)
{
	struct hl_vu_msg r;
	int rc = request(fe, req, NULL, 0, NULL, 0, &r);
	if (rc < 0)
		return rc;
	if (r.hdr.size != 8)
		return hl_error(-EPROTO, "vhost-user front-end: %s reply of %u bytes", hl_vu_request_name(req),
				r.hdr.size);
	*v = r.payload.u64;
	return 0;
}

static int set_u64(struct hl_vhost_frontend *fe, uint32_t req, uint64_t v, const int *fds, unsigned nfds)
{
	return request(fe, req, &v, 8, fds, nfds, NULL);
}

static int set_state(struct hl_vhost_frontend *fe, uint32_t req, unsigned q, uint32_t num)
{
	struct hl_vu_vring_state s = {.index = q, .num = num};
	return request(fe, req, &s, sizeof(s), NULL, 0, NULL);
}

/* SET_VRING_CALL/KICK with an fd, or with the no-fd flag when fd < 0 (polling). */
static int set_vring_fd(struct hl_vhost_frontend *fe, uint32_t req, unsigned q, int fd)
{
	if (fd >= 0)
		return set_u64(fe, req, q, &fd, 1);
	return set_u64(fe, req, q | HL_VU_VRING_NOFD, NULL, 0);
}

int hl_vhost_frontend_connect(struct hl_vhost_frontend *fe, const char *path, int timeout_ms)
{
	memset(fe, 0, sizeof(*fe));
	fe->listen_fd = -1;
	uint64_t until = hl_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		int fd = hl_vu_connect(path);
		if (fd >= 0) {
			fe->sock = fd;
			return 0;
		}
		if (hl_now_ns() >= until)
			return hl_error(fd, "vhost-user front-end: cannot connect to %s", path);
		usleep(20000);
	}
}

int hl_vhost_frontend_accept(struct hl_vhost_frontend *fe, const char *path, int timeout_ms)
{
	memset(fe, 0, sizeof(*fe));
	fe->sock = -1;
	fe->listen_fd = hl_vu_listen(path);
	if (fe->listen_fd < 0)
		return fe->listen_fd;
	struct pollfd p = {.fd = fe->listen_fd, .events = POLLIN};
	if (poll(&p, 1, timeout_ms) != 1)
		return hl_error(-ETIMEDOUT, "vhost-user front-end: no back-end connected to %s", path);
	fe->sock = accept4(fe->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	return fe->sock < 0 ? -errno : 0;
}

int hl_vhost_frontend_negotiate(struct hl_vhost_frontend *fe, uint64_t want)
{
	uint64_t offered, pf;
	int rc;

	if ((rc = get_u64(fe, HL_VU_GET_FEATURES, &offered)) < 0)
		return rc;
	fe->features = (want | (1ull << HL_VU_F_PROTOCOL_FEATURES)) & offered;
	if ((rc = request(fe, HL_VU_SET_OWNER, NULL, 0, NULL, 0, NULL)) < 0)
		return rc;
	if ((rc = set_u64(fe, HL_VU_SET_FEATURES, fe->features, NULL, 0)) < 0)
		return rc;
	if (fe->features & (1ull << HL_VU_F_PROTOCOL_FEATURES)) {
		if ((rc = get_u64(fe, HL_VU_GET_PROTOCOL_FEATURES, &pf)) < 0)
			return rc;
		uint64_t mine = (1ull << HL_VU_PROTOCOL_F_MQ) | (1ull << HL_VU_PROTOCOL_F_REPLY_ACK);
		uint64_t p = pf & mine;
		if ((rc = set_u64(fe, HL_VU_SET_PROTOCOL_FEATURES, p, NULL, 0)) < 0)
			return rc;
		fe->protocol = p; /* acks start after the back-end has REPLY_ACK */
		uint64_t nq = 1;
		if ((p & (1ull << HL_VU_PROTOCOL_F_MQ)) && (rc = get_u64(fe, HL_VU_GET_QUEUE_NUM, &nq)) < 0)
			return rc;
		fe->backend_queues = (uint32_t)nq;
	}
	return 0;
}

int hl_vhost_frontend_set_mem(struct hl_vhost_frontend *fe, struct hl_pool *pool)
{
	struct hl_pool_info in;
	struct hl_vu_mem_table t;
	int fd = hl_pool_fd(pool);

	hl_pool_get_info(pool, &in);
	memset(&t, 0, sizeof(t));
	t.nregions = 1;
	t.regions[0] = (struct hl_vu_mem_region){.guest_phys_addr = (uintptr_t)in.va,
						 .memory_size = in.size,
						 .userspace_addr = (uintptr_t)in.va,
						 .mmap_offset = 0};
	return request(fe, HL_VU_SET_MEM_TABLE, &t, 8 + sizeof(t.regions[0]), &fd, 1, NULL);
}

int hl_vhost_frontend_start_queue(struct hl_vhost_frontend *fe, unsigned q, unsigned num,
				  const void *desc, const void *avail, const void *used,
				  uint16_t base, int kick_fd, int call_fd)
{
	struct hl_vu_vring_addr a = {.index = q, .desc_user_addr = (uintptr_t)desc,
				     .used_user_addr = (uintptr_t)used, .avail_user_addr = (uintptr_t)avail};
	int rc;

	if ((rc = set_state(fe, HL_VU_SET_VRING_NUM, q, num)) < 0 ||
	    (rc = set_state(fe, HL_VU_SET_VRING_BASE, q, base)) < 0 ||
	    (rc = request(fe, HL_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, NULL)) < 0)
		return rc;
	if ((rc = set_vring_fd(fe, HL_VU_SET_VRING_CALL, q, call_fd)) < 0 ||
	    (rc = set_vring_fd(fe, HL_VU_SET_VRING_KICK, q, kick_fd)) < 0)
		return rc;
	if (fe->features & (1ull << HL_VU_F_PROTOCOL_FEATURES))
		rc = set_state(fe, HL_VU_SET_VRING_ENABLE, q, 1);
	return rc;
}

int hl_vhost_frontend_enable_queue(struct hl_vhost_frontend *fe, unsigned q, bool on)
{
	if (!(fe->features & (1ull << HL_VU_F_PROTOCOL_FEATURES)))
		return hl_error(-EOPNOTSUPP, "vhost-user front-end: queues are enabled one by one only with PROTOCOL_FEATURES");
	return set_state(fe, HL_VU_SET_VRING_ENABLE, q, on ? 1 : 0);
}

int hl_vhost_frontend_stop_queue(struct hl_vhost_frontend *fe, unsigned q, uint16_t *base)
{
	struct hl_vu_vring_state s = {.index = q};
	struct hl_vu_msg r;
	int rc = request(fe, HL_VU_GET_VRING_BASE, &s, sizeof(s), NULL, 0, &r);
	if (rc < 0)
		return rc;
	if (r.hdr.size != sizeof(s) || r.payload.state.index != q || r.payload.state.num > 0xffff)
		return hl_error(-EPROTO, "vhost-user front-end: bad GET_VRING_BASE reply");
	*base = (uint16_t)r.payload.state.num;
	return 0;
}

void hl_vhost_frontend_close(struct hl_vhost_frontend *fe)
{
	if (fe->sock >= 0)
		close(fe->sock);
	if (fe->listen_fd >= 0)
		close(fe->listen_fd);
	fe->sock = fe->listen_fd = -1;
}
