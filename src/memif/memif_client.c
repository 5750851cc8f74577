/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A memif port's client role, control side: connecting to the server with
 * back-off, and laying out what the client owns once HELLO says how much
 * the server takes: a memfd with the rings (region 0), the switch's pool
 * as region 1 and an eventfd per ring. M2S buffers are offered only once
 * CONNECTED came (hl_memif_client_offer): a server resets every head and
 * tail to 0 when it takes CONNECT, so anything offered before is lost.
 *
 * Invariants. A failed attempt, a refused handshake and a lost connection
 * all wait backoff_ms before the next try, doubling up to
 * HL_MEMIF_BACKOFF_MAX_MS; a connection that reaches CONNECTED resets it.
 * Everything made here is recorded in the control engine (regions, ring
 * fds) or in the queues (held buffers) before anything can fail, so
 * hl__memif_hang_up undoes a half-made layout as well as a whole one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "memif_pvt.h"

#define POOL_REGION 1

void hl__memif_client_connect(struct hl_memif_port *p)
{
	if (p->conn_fd >= 0 || hl_now_ns() < p->retry_ns)
		return;
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", p->path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
		p->conn_fd = fd;
		p->conn_since_ns = hl_now_ns();
		p->ctl.peer_name[0] = p->ctl.peer_if_name[0] = '\0';
		p->ctl.state = HL_MEMIF_S_WAIT_HELLO;
		return;
	}
	if (fd >= 0)
		close(fd);
	p->connect_fails++;
	p->retry_ns = hl_now_ns() + (uint64_t)p->backoff_ms * 1000000u;
	if (p->backoff_ms < HL_MEMIF_BACKOFF_MAX_MS)
		p->backoff_ms *= 2;
}

static int layout_fail(struct hl_memif_port *p, int err, const char *what)
{
	snprintf(p->ctl.reason, sizeof(p->ctl.reason), "client set-up: %s: %s", what, strerror(-err));
	return hl_error(err, "memif %s: %s", p->path, p->ctl.reason);
}

int hl__memif_client_layout(struct hl_memif_port *p)
{
	struct hl_memif_ctl *c = &p->ctl;
	unsigned nq = c->nq, size = 1u << c->log2_ring;
	size_t ring_bytes = HL_MEMIF_RING_BYTES(c->log2_ring);
	uint64_t len = HL_ALIGN_UP((uint64_t)ring_bytes * 2 * nq, 4096u);
	struct hl_pool_info in;

	if (hl_pool_get_info(hl_bufpool_pool(p->bp), &in) < 0)
		return layout_fail(p, -EINVAL, "pool");
	int mfd = memfd_create("hugelink-memif", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0)
		return layout_fail(p, -errno, "memfd_create");
	c->region[0].fd = mfd;
	c->region[0].size = len;
	c->nregions = 1;
	/* sealed, so the server cannot shrink the rings under us */
	if (ftruncate(mfd, (off_t)len) < 0 || fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		return layout_fail(p, -errno, "size and seal the rings' memfd");
	void *va = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (va == MAP_FAILED)
		return layout_fail(p, -errno, "mmap");
	c->region[0].va = va;
	/* the pool as it is: the server maps the same file, buffers are named by pool offset */
	int pfd = dup(hl_pool_fd(hl_bufpool_pool(p->bp)));
	if (pfd < 0)
		return layout_fail(p, -errno, "dup the pool fd");
	c->region[POOL_REGION] = (struct hl_memif_region){.fd = pfd, .size = in.size, .va = in.va, .borrowed = true};
	c->nregions = 2;

	for (unsigned k = 0; k < 2 * nq; k++) {
		bool s2m = k < nq;
		unsigned i = s2m ? k : k - nq;
		struct hl_memif_ring_desc *rd = s2m ? &c->s2m[i] : &c->m2s[i];
		struct hl_memif_q *q = s2m ? &p->tx[i] : &p->rx[i];
		int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (efd < 0)
			return layout_fail(p, -errno, "eventfd");
		*rd = (struct hl_memif_ring_desc){.present = true, .region = 0, .offset = (uint32_t)(k * ring_bytes),
						  .log2_size = c->log2_ring, .fd = efd};
		struct hl_memif_ring *ring = (struct hl_memif_ring *)((uint8_t *)va + rd->offset);
		ring->cookie = HL_MEMIF_COOKIE;
		/* a ring's receiver writes its flags: we poll M2S until a worker arms the port */
		ring->flags = s2m ? 0 : HL_MEMIF_RING_F_MASK_INT;
		ring->head = ring->tail = 0;
		q->held = calloc(size, sizeof(*q->held));
		if (q->held == NULL)
			return layout_fail(p, -ENOMEM, "slot table");
		q->size = (uint16_t)size;
		q->mask = (uint16_t)(size - 1);
	}
	return 0;
}

void hl_memif_client_release(struct hl_memif_port *p)
{
	for (unsigned i = 0; i < HL_MEMIF_MAX_QUEUES; i++) {
		struct hl_memif_q *qs[2] = {&p->rx[i], &p->tx[i]};
		for (unsigned k = 0; k < 2; k++) {
			struct hl_memif_q *q = qs[k];
			if (q->held == NULL)
				continue;
			for (unsigned s = 0; s < q->size; s++)
				if (q->held[s] != NULL)
					hl_buf_free(q->held[s]);
			free(q->held);
			q->held = NULL;
		}
	}
}
