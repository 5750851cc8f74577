/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The memif control engine: one message and its fd in, the message to
 * answer (or a hang-up) out, for either role. No socket here, so a test or
 * a fuzzer drives it directly. As a client the engine sends INIT, each
 * region, each ring and CONNECT one per ACK, from what the port laid out
 * in c->region, c->s2m and c->m2s.
 *
 * Invariants. Every message is exactly HL_MEMIF_MSG_SIZE bytes and comes
 * in the order of memif_abi.h; anything else (a wrong size, a message out
 * of order, a field outside what HELLO offered, a missing or extra fd) is
 * counted in bad_msgs and ends the connection with a DISCONNECT naming the
 * reason. Every fd the peer sends is the engine's from then on: kept in a
 * region or ring slot, or closed at once; hl_memif_ctl_reset closes them
 * all. Nothing a peer sends is trusted until hl_memif_ctl_connect has
 * checked it against the real size of the file behind it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memif_pvt.h"

void hl_memif_ctl_init(struct hl_memif_ctl *c, const struct hl_memif_cfg *cfg)
{
	memset(c, 0, sizeof(*c));
	c->cfg = *cfg;
	for (unsigned i = 0; i < HL_MEMIF_MAX_REGIONS; i++)
		c->region[i].fd = c->region[i].guard = -1;
	for (unsigned i = 0; i < HL_MEMIF_MAX_QUEUES; i++)
		c->s2m[i].fd = c->m2s[i].fd = -1;
}

void hl_memif_ctl_reset(struct hl_memif_ctl *c)
{
	for (unsigned i = 0; i < HL_MEMIF_MAX_REGIONS; i++) {
		struct hl_memif_region *r = &c->region[i];
		if (r->guard >= 0)
			hl__memif_guard_del(r->guard);
		r->guard = -1;
		if (r->va != NULL && !r->borrowed)
			munmap(r->va, r->size);
		r->borrowed = false;
		if (r->fd >= 0)
			close(r->fd);
		r->fd = -1;
		r->va = NULL;
		r->size = 0;
	}
	for (unsigned i = 0; i < HL_MEMIF_MAX_QUEUES; i++) {
		struct hl_memif_ring_desc *rd[2] = {&c->s2m[i], &c->m2s[i]};
		for (unsigned k = 0; k < 2; k++) {
			if (rd[k]->fd >= 0)
				close(rd[k]->fd);
			memset(rd[k], 0, sizeof(*rd[k]));
			rd[k]->fd = -1;
		}
	}
	if (c->state != HL_MEMIF_S_IDLE)
		c->stats.disconnects++;
	c->nregions = 0;
	c->step = 0;
	__atomic_store_n(&c->region_fault, 0, __ATOMIC_RELAXED);
	c->state = HL_MEMIF_S_IDLE;
}

void hl_memif_ctl_disconnect_msg(struct hl_memif_msg *m, const char *reason)
{
	memset(m, 0, sizeof(*m));
	m->type = HL_MEMIF_MSG_DISCONNECT;
	snprintf((char *)m->disconnect.string, sizeof(m->disconnect.string), "%s", reason);
}

void hl_memif_ctl_hello(struct hl_memif_ctl *c, struct hl_memif_msg *reply)
{
	memset(reply, 0, sizeof(*reply));
	reply->type = HL_MEMIF_MSG_HELLO;
	memcpy(reply->hello.name, c->cfg.name, sizeof(reply->hello.name));
	reply->hello.min_version = HL_MEMIF_VERSION;
	reply->hello.max_version = HL_MEMIF_VERSION;
	reply->hello.max_region = HL_MEMIF_MAX_REGIONS - 1;
	reply->hello.max_s2m_ring = (uint16_t)(c->cfg.queues - 1);
	reply->hello.max_m2s_ring = (uint16_t)(c->cfg.queues - 1);
	reply->hello.max_log2_ring_size = c->cfg.log2_ring;
	c->state = HL_MEMIF_S_HELLO;
}

/* Refuse: count it, keep the reason, answer DISCONNECT. */
static enum hl_memif_action refuse(struct hl_memif_ctl *c, int fd, struct hl_memif_msg *reply, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static enum hl_memif_action refuse(struct hl_memif_ctl *c, int fd, struct hl_memif_msg *reply, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
	if (fd >= 0)
		close(fd);
	c->stats.bad_msgs++;
	HL_LOG_WARN("memif: peer refused: %s", c->reason);
	hl_memif_ctl_disconnect_msg(reply, c->reason);
	return HL_MEMIF_A_HANGUP;
}

static void ack(struct hl_memif_msg *reply)
{
	memset(reply, 0, sizeof(*reply));
	reply->type = HL_MEMIF_MSG_ACK;
}

/* A peer's fixed-size name field, as a C string. */
static void take_name(char *dst, const uint8_t *src)
{
	memcpy(dst, src, HL_MEMIF_NAME_SZ);
	dst[HL_MEMIF_NAME_SZ] = '\0';
	for (char *s = dst; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			*s = '?';
}

static enum hl_memif_action on_init(struct hl_memif_ctl *c, const struct hl_memif_init *in, int fd,
				    struct hl_memif_msg *reply)
{
	if (fd >= 0)
		return refuse(c, fd, reply, "INIT carries no fd");
	if (in->version != HL_MEMIF_VERSION)
		return refuse(c, -1, reply, "version %u.%u: only 2.0", in->version >> 8, in->version & 0xff);
	if (in->id != c->cfg.id)
		return refuse(c, -1, reply, "ID %u not found (this port is %u)", in->id, c->cfg.id);
	if (in->mode != HL_MEMIF_MODE_ETHERNET)
		return refuse(c, -1, reply, "mode %u: only ethernet", in->mode);
	if (c->cfg.secret[0] != '\0' &&
	    strncmp(c->cfg.secret, (const char *)in->secret, HL_MEMIF_SECRET_SZ) != 0)
		return refuse(c, -1, reply, "incorrect secret");
	take_name(c->peer_name, in->name);
	c->peer_version = in->version;
	c->state = HL_MEMIF_S_INIT;
	ack(reply);
	return HL_MEMIF_A_REPLY;
}

static enum hl_memif_action on_add_region(struct hl_memif_ctl *c, const struct hl_memif_add_region *ar, int fd,
					  struct hl_memif_msg *reply)
{
	if (fd < 0)
		return refuse(c, -1, reply, "ADD_REGION %u without its fd", ar->index);
	/* regions come in order: the index is how many came before */
	if (ar->index != c->nregions || ar->index >= HL_MEMIF_MAX_REGIONS)
		return refuse(c, fd, reply, "region index %u (expected %u, at most %u)", ar->index, c->nregions,
			      HL_MEMIF_MAX_REGIONS - 1);
	if (ar->size == 0 || ar->size > ((uint64_t)1 << 40))
		return refuse(c, fd, reply, "region %u size %llu", ar->index, (unsigned long long)ar->size);
	c->region[ar->index].fd = fd;
	c->region[ar->index].size = ar->size;
	c->nregions++;
	ack(reply);
	return HL_MEMIF_A_REPLY;
}

static enum hl_memif_action on_add_ring(struct hl_memif_ctl *c, const struct hl_memif_add_ring *ar, int fd,
					struct hl_memif_msg *reply)
{
	bool s2m = ar->flags & HL_MEMIF_ADD_RING_F_S2M;
	if (fd < 0)
		return refuse(c, -1, reply, "ADD_RING %u without its eventfd", ar->index);
	if (ar->flags & ~HL_MEMIF_ADD_RING_F_S2M)
		return refuse(c, fd, reply, "ADD_RING flags 0x%x", ar->flags);
	if (ar->index >= c->cfg.queues)
		return refuse(c, fd, reply, "ring index %u (HELLO offered %u)", ar->index, c->cfg.queues);
	struct hl_memif_ring_desc *rd = s2m ? &c->s2m[ar->index] : &c->m2s[ar->index];
	if (rd->present)
		return refuse(c, fd, reply, "%s ring %u added twice", s2m ? "S2M" : "M2S", ar->index);
	if (ar->region >= c->nregions)
		return refuse(c, fd, reply, "ring %u in region %u of %u", ar->index, ar->region, c->nregions);
	if (ar->log2_ring_size == 0 || ar->log2_ring_size > c->cfg.log2_ring)
		return refuse(c, fd, reply, "ring %u log2 size %u (at most %u)", ar->index, ar->log2_ring_size,
			      c->cfg.log2_ring);
	if (ar->private_hdr_size != 0)
		return refuse(c, fd, reply, "ring %u private header of %u bytes", ar->index, ar->private_hdr_size);
	/* whether it fits in its region is known only once the region is measured, at connect */
	rd->present = true;
	rd->region = ar->region;
	rd->offset = ar->offset;
	rd->log2_size = ar->log2_ring_size;
	rd->fd = fd;
	ack(reply);
	return HL_MEMIF_A_REPLY;
}

/* DISCONNECT from the peer: keep its reason (printable only) and hang up, not counted as bad. */
static enum hl_memif_action peer_left(struct hl_memif_ctl *c, const struct hl_memif_msg *m, int fd,
				      struct hl_memif_msg *reply)
{
	char why[HL_MEMIF_DISC_SZ + 1];
	memcpy(why, m->disconnect.string, HL_MEMIF_DISC_SZ);
	why[HL_MEMIF_DISC_SZ] = '\0';
	for (char *s = why; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			*s = '?';
	snprintf(c->reason, sizeof(c->reason), "peer: %.80s", why);
	if (fd >= 0)
		close(fd);
	hl_memif_ctl_disconnect_msg(reply, "bye");
	return HL_MEMIF_A_HANGUP;
}

enum hl_memif_action hl_memif_ctl_handle(struct hl_memif_ctl *c, const void *msg, size_t len, int fd,
					 struct hl_memif_msg *reply)
{
	struct hl_memif_msg m;
	c->stats.msgs++;
	if (len != sizeof(m))
		return refuse(c, fd, reply, "message of %zu bytes (memif messages are %d)", len, HL_MEMIF_MSG_SIZE);
	memcpy(&m, msg, sizeof(m));
	if (m.type == HL_MEMIF_MSG_DISCONNECT)
		return peer_left(c, &m, fd, reply);
	switch (c->state) {
	case HL_MEMIF_S_HELLO:
		if (m.type != HL_MEMIF_MSG_INIT)
			return refuse(c, fd, reply, "message type %u before INIT", m.type);
		return on_init(c, &m.init, fd, reply);
	case HL_MEMIF_S_INIT:
		if (m.type == HL_MEMIF_MSG_ADD_REGION)
			return on_add_region(c, &m.add_region, fd, reply);
		if (m.type == HL_MEMIF_MSG_ADD_RING)
			return on_add_ring(c, &m.add_ring, fd, reply);
		if (m.type == HL_MEMIF_MSG_CONNECT) {
			if (fd >= 0)
				return refuse(c, fd, reply, "CONNECT carries no fd");
			take_name(c->peer_if_name, m.connect.if_name);
			return HL_MEMIF_A_CONNECT;
		}
		if (m.type == HL_MEMIF_MSG_ACK && fd < 0)
			return HL_MEMIF_A_NONE;
		return refuse(c, fd, reply, "message type %u during set-up", m.type);
	case HL_MEMIF_S_CONNECTED:
		if (m.type == HL_MEMIF_MSG_ACK && fd < 0)
			return HL_MEMIF_A_NONE;
		return refuse(c, fd, reply, "message type %u on a connected interface", m.type);
	case HL_MEMIF_S_IDLE:
	default:
		return refuse(c, fd, reply, "message type %u with no handshake under way", m.type);
	}
}

unsigned hl_memif_ctl_queues(const struct hl_memif_ctl *c)
{
	unsigned n = 0;
	while (n < HL_MEMIF_MAX_QUEUES && c->s2m[n].present && c->m2s[n].present)
		n++;
	return n;
}

static int connect_fail(struct hl_memif_ctl *c, struct hl_memif_msg *reply, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int connect_fail(struct hl_memif_ctl *c, struct hl_memif_msg *reply, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
	c->stats.bad_msgs++;
	hl_memif_ctl_disconnect_msg(reply, c->reason);
	return hl_error(err, "memif: %s", c->reason);
}

/* A ring must lie whole in its region and carry the cookie. */
static int check_ring(struct hl_memif_ctl *c, const struct hl_memif_ring_desc *rd, const char *dir, unsigned i,
		      struct hl_memif_msg *reply)
{
	const struct hl_memif_region *r = &c->region[rd->region];
	uint64_t need = (uint64_t)rd->offset + HL_MEMIF_RING_BYTES(rd->log2_size);
	if (need > r->size)
		return connect_fail(c, reply, -EINVAL, "%s ring %u ends at %llu, past region %u (%llu bytes)", dir, i,
				    (unsigned long long)need, rd->region, (unsigned long long)r->size);
	if (rd->offset % 8 != 0)
		return connect_fail(c, reply, -EINVAL, "%s ring %u at unaligned offset %u", dir, i, rd->offset);
	const struct hl_memif_ring *ring = (const struct hl_memif_ring *)(r->va + rd->offset);
	if (__atomic_load_n(&ring->cookie, __ATOMIC_RELAXED) != HL_MEMIF_COOKIE)
		return connect_fail(c, reply, -EINVAL, "%s ring %u has no memif cookie", dir, i);
	return 0;
}

int hl_memif_ctl_connect(struct hl_memif_ctl *c, struct hl_memif_msg *reply)
{
	unsigned nq = hl_memif_ctl_queues(c);
	if (nq == 0)
		return connect_fail(c, reply, -EINVAL, "CONNECT without an S2M and an M2S ring 0");
	for (unsigned i = nq; i < HL_MEMIF_MAX_QUEUES; i++)
		if (c->s2m[i].present || c->m2s[i].present)
			return connect_fail(c, reply, -EINVAL, "ring %u has no partner in the other direction", i);
	for (unsigned i = 0; i < c->nregions; i++) {
		struct hl_memif_region *r = &c->region[i];
		struct stat st;
		/* a file shorter than the region would fault (SIGBUS) on the first touch past its end */
		if (fstat(r->fd, &st) < 0)
			return connect_fail(c, reply, -errno, "region %u: fstat: %s", i, strerror(errno));
		if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < r->size)
			return connect_fail(c, reply, -EINVAL, "region %u: its fd holds %lld bytes, %llu announced", i,
					    (long long)st.st_size, (unsigned long long)r->size);

		void *va = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
		if (va == MAP_FAILED)
			return connect_fail(c, reply, -errno, "region %u: mmap %llu bytes: %s", i,
					    (unsigned long long)r->size, strerror(errno));
		r->va = va;
		/* the peer can still shrink the file (hugetlbfs files and most memfds take no seals) */
		r->guard = hl__memif_guard_add(va, r->size, &c->region_fault);
		if (r->guard < 0)
			return connect_fail(c, reply, -ENOSPC, "region %u: no guard slot left", i);
	}
	for (unsigned i = 0; i < nq; i++) {
		int rc = check_ring(c, &c->s2m[i], "S2M", i, reply);
		if (rc == 0)
			rc = check_ring(c, &c->m2s[i], "M2S", i, reply);
		if (rc < 0)
			return rc;
	}
	memset(reply, 0, sizeof(*reply));
	reply->type = HL_MEMIF_MSG_CONNECTED;
	memcpy(reply->connect.if_name, c->cfg.name, sizeof(reply->connect.if_name));
	c->state = HL_MEMIF_S_CONNECTED;
	c->stats.connects++;
	return 0;
}

/* ---- client role ---------------------------------------------------------------- */

void hl_memif_ctl_client_init(struct hl_memif_ctl *c, struct hl_memif_msg *reply)
{
	memset(reply, 0, sizeof(*reply));
	reply->type = HL_MEMIF_MSG_INIT;
	reply->init.version = HL_MEMIF_VERSION;
	reply->init.id = c->cfg.id;
	reply->init.mode = HL_MEMIF_MODE_ETHERNET;
	memcpy(reply->init.secret, c->cfg.secret, HL_MEMIF_SECRET_SZ);
	memcpy(reply->init.name, c->cfg.name, sizeof(reply->init.name));
	c->state = HL_MEMIF_S_SETUP;
	c->step = 0;
}

/* What follows INIT, one per ACK: regions, S2M rings, M2S rings, CONNECT. */
static void client_next(struct hl_memif_ctl *c, struct hl_memif_msg *reply, int *reply_fd)
{
	unsigned k = c->step++;
	memset(reply, 0, sizeof(*reply));
	*reply_fd = -1;
	if (k < c->nregions) {
		reply->type = HL_MEMIF_MSG_ADD_REGION;
		reply->add_region.index = (uint16_t)k;
		reply->add_region.size = c->region[k].size;
		*reply_fd = c->region[k].fd;
		return;
	}
	k -= c->nregions;
	if (k < 2u * c->nq) {
		bool s2m = k < c->nq;
		unsigned i = s2m ? k : k - c->nq;
		const struct hl_memif_ring_desc *rd = s2m ? &c->s2m[i] : &c->m2s[i];
		reply->type = HL_MEMIF_MSG_ADD_RING;
		reply->add_ring.flags = s2m ? HL_MEMIF_ADD_RING_F_S2M : 0;
		reply->add_ring.index = (uint16_t)i;
		reply->add_ring.region = rd->region;
		reply->add_ring.offset = rd->offset;
		reply->add_ring.log2_ring_size = rd->log2_size;
		*reply_fd = rd->fd;
		return;
	}
	reply->type = HL_MEMIF_MSG_CONNECT;
	memcpy(reply->connect.if_name, c->cfg.name, sizeof(reply->connect.if_name));
}

enum hl_memif_action hl_memif_ctl_client_handle(struct hl_memif_ctl *c, const void *msg, size_t len, int fd,
						struct hl_memif_msg *reply, int *reply_fd)
{
	struct hl_memif_msg m;
	*reply_fd = -1;
	c->stats.msgs++;
	if (len != sizeof(m))
		return refuse(c, fd, reply, "message of %zu bytes (memif messages are %d)", len, HL_MEMIF_MSG_SIZE);
	if (fd >= 0)
		return refuse(c, fd, reply, "a server sends no fds (message type %u came with one)",
			      ((const struct hl_memif_msg *)msg)->type);
	memcpy(&m, msg, sizeof(m));
	if (m.type == HL_MEMIF_MSG_DISCONNECT)
		return peer_left(c, &m, -1, reply);
	switch (c->state) {
	case HL_MEMIF_S_WAIT_HELLO: {
		const struct hl_memif_hello *h = &m.hello;
		if (m.type != HL_MEMIF_MSG_HELLO)
			return refuse(c, -1, reply, "message type %u before HELLO", m.type);
		if (h->min_version > HL_MEMIF_VERSION || h->max_version < HL_MEMIF_VERSION)
			return refuse(c, -1, reply, "server speaks versions %u.%u..%u.%u, not 2.0", h->min_version >> 8,
				      h->min_version & 0xff, h->max_version >> 8, h->max_version & 0xff);
		if (h->max_region < 1)
			return refuse(c, -1, reply, "server takes %u regions; a client needs 2", h->max_region + 1u);
		unsigned nq = c->cfg.queues;
		if (h->max_s2m_ring + 1u < nq)
			nq = h->max_s2m_ring + 1u;
		if (h->max_m2s_ring + 1u < nq)
			nq = h->max_m2s_ring + 1u;
		c->nq = (uint16_t)nq;
		c->log2_ring = h->max_log2_ring_size < c->cfg.log2_ring ? h->max_log2_ring_size : c->cfg.log2_ring;
		if (c->log2_ring == 0)
			return refuse(c, -1, reply, "server takes rings of %u slots", 1u << c->log2_ring);
		take_name(c->peer_name, h->name);
		c->peer_version = HL_MEMIF_VERSION;
		return HL_MEMIF_A_SETUP;
	}
	case HL_MEMIF_S_SETUP:
		if (m.type == HL_MEMIF_MSG_CONNECTED && c->step == c->nregions + 2u * c->nq + 1u) {
			take_name(c->peer_if_name, m.connect.if_name);
			c->state = HL_MEMIF_S_CONNECTED;
			c->stats.connects++;
			return HL_MEMIF_A_UP;
		}
		if (m.type != HL_MEMIF_MSG_ACK || c->step > c->nregions + 2u * c->nq)
			return refuse(c, -1, reply, "message type %u during set-up (step %u)", m.type, c->step);
		client_next(c, reply, reply_fd);
		return HL_MEMIF_A_REPLY;
	case HL_MEMIF_S_CONNECTED:
		if (m.type == HL_MEMIF_MSG_ACK)
			return HL_MEMIF_A_NONE;
		return refuse(c, -1, reply, "message type %u on a connected interface", m.type);
	default:
		return refuse(c, -1, reply, "message type %u with no handshake under way", m.type);
	}
}
