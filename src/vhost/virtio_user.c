/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio-user data path (see virtio_user.h). The back-end is a peer: the
 * lengths it reports on the used ring are checked against the buffers we
 * gave, and a completion that does not match one of ours is counted, not
 * followed.
 *
 * Either ring layout: the few calls below pick the split or the packed
 * driver once per call, so the burst functions do not care which one the
 * back-end granted.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <hugelink/virtio_user.h>

#define RXQ 0
#define TXQ 1

/* ---- one queue, either layout ---------------------------------------------------- */

static inline int q_add(struct hl_vuser *u, unsigned q, const struct hl_drv_buf *b, unsigned out, unsigned in,
			void *token)
{
	if (u->packed)
		return hl_vring_packed_driver_add(q == RXQ ? &u->prx : &u->ptx, b, out, in, token);
	return hl_vring_driver_add(q == RXQ ? &u->rx : &u->tx, b, out, in, token);
}

static inline void *q_get_used(struct hl_vuser *u, unsigned q, uint32_t *len)
{
	if (u->packed)
		return hl_vring_packed_driver_get_used(q == RXQ ? &u->prx : &u->ptx, len);
	return hl_vring_driver_get_used(q == RXQ ? &u->rx : &u->tx, len);
}

static inline void q_kick(struct hl_vuser *u, unsigned q)
{
	bool need = u->packed ? hl_vring_packed_driver_kick_needed(q == RXQ ? &u->prx : &u->ptx)
			      : hl_vring_driver_kick_needed(q == RXQ ? &u->rx : &u->tx);
	if (need) {
		eventfd_write(u->kick[q], 1);
		u->stats.kicks++;
	}
}

static inline unsigned q_free(const struct hl_vuser *u, unsigned q)
{
	if (u->packed)
		return (q == RXQ ? &u->prx : &u->ptx)->free_slots;
	return (q == RXQ ? &u->rx : &u->tx)->num_free;
}

/*
 * Lay a ring out in a zone of the pool and start it at the back-end. A
 * packed ring starts at slot 0 with its wrap counter 1, which is bit 15 of
 * the base (the vhost-user spec's packed layout); its driver and device
 * event words go where a split ring's avail and used rings would.
 */
static int ring_setup(struct hl_vuser *u, unsigned q, unsigned num, const char *prefix)
{
	uint64_t off, features = u->fe.features;
	snprintf(u->zone[q], sizeof(u->zone[q]), "%s-%s", prefix, q == RXQ ? "rxq" : "txq");
	uint64_t size = u->packed ? hl_vring_packed_size(num) : hl_vring_size(num);
	int rc = hl_pool_zone_reserve(u->pool, u->zone[q], size, 4096, HL_ZONE_F_CONTIG, &off);
	if (rc < 0)
		return rc;
	void *mem = hl_pool_off2va(u->pool, off);
	struct hl_vring_driver *d = q == RXQ ? &u->rx : &u->tx;
	struct hl_vring_packed_driver *pd = q == RXQ ? &u->prx : &u->ptx;
	rc = u->packed ? hl_vring_packed_driver_init(pd, mem, num, features) : hl_vring_driver_init(d, mem, num, features);
	if (rc < 0)
		return rc;
	/* we poll: no interrupts wanted */
	if (u->packed)
		hl_vring_packed_driver_set_interrupt(pd, false);
	else
		hl_vring_driver_set_interrupt(d, false);
	u->kick[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	u->call[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (u->kick[q] < 0 || u->call[q] < 0)
		return -errno;
	return 0;
}

static int ring_start(struct hl_vuser *u, unsigned q, unsigned num)
{
	struct hl_vring_driver *d = q == RXQ ? &u->rx : &u->tx;
	struct hl_vring_packed_driver *pd = q == RXQ ? &u->prx : &u->ptx;
	if (u->packed)
		return hl_vhost_frontend_start_queue(&u->fe, q, num, pd->desc, pd->driver_event, pd->device_event,
						     1u << 15, u->kick[q], u->call[q]);
	return hl_vhost_frontend_start_queue(&u->fe, q, num, d->desc, d->avail, d->used, 0, u->kick[q], u->call[q]);
}

/* Offer receive buffers until the ring is full or the pool runs dry. */
static void rx_refill(struct hl_vuser *u)
{
	while (q_free(u, RXQ) > 0) {
		struct hl_buf *b = hl_buf_alloc(u->bp);
		if (b == NULL)
			break;
		/* the header lands in the headroom, the frame at the data offset */
		struct hl_drv_buf db = {.addr = (uintptr_t)hl_buf_data(b) - u->hdr_len,
					.len = b->buf_len - b->data_off + u->hdr_len};
		if (q_add(u, RXQ, &db, 0, 1, b) < 0) {
			hl_buf_free(b);
			break;
		}
	}
	q_kick(u, RXQ);
}

int hl_vuser_open(struct hl_vuser *u, const struct hl_vuser_params *p)
{
	unsigned num = p->ring_size ? p->ring_size : 256;
	uint64_t want = p->features ? p->features
				    : HL_VIRTIO_BIT(HL_VIRTIO_F_VERSION_1) |
					      HL_VIRTIO_BIT(HL_VIRTIO_NET_F_MRG_RXBUF) |
					      HL_VIRTIO_BIT(HL_VIRTIO_RING_F_EVENT_IDX);
	int timeout = p->timeout_ms ? p->timeout_ms : 5000;
	int rc;

	memset(u, 0, sizeof(*u));
	u->kick[0] = u->kick[1] = u->call[0] = u->call[1] = -1;
	u->fe.sock = u->fe.listen_fd = -1;
	u->pool = p->pool;
	u->bp = p->bp;
	rc = p->server ? hl_vhost_frontend_accept(&u->fe, p->path, timeout)
		       : hl_vhost_frontend_connect(&u->fe, p->path, timeout);
	if (rc < 0)
		goto fail;
	if ((rc = hl_vhost_frontend_negotiate(&u->fe, want)) < 0)
		goto fail;
	u->packed = u->fe.features & HL_VIRTIO_BIT(HL_VIRTIO_F_RING_PACKED);
	u->mrg_rxbuf = u->fe.features & HL_VIRTIO_BIT(HL_VIRTIO_NET_F_MRG_RXBUF);
	u->hdr_len = (u->fe.features & HL_VIRTIO_BIT(HL_VIRTIO_F_VERSION_1)) || u->mrg_rxbuf ? 12 : 10;
	/* we are the driver: the device's HOST_* bits are what we may send, GUEST_* what we take */
	if (hl_ol_caps_guest_tx(u->fe.features, &u->ol_tx) < 0 || hl_ol_caps_guest_rx(u->fe.features, &u->ol_rx) < 0)
		HL_LOG_WARN("virtio-user %s: %s", p->path, hl_last_error());
	if ((rc = hl_vhost_frontend_set_mem(&u->fe, u->pool)) < 0)
		goto fail;
	const char *prefix = p->name ? p->name : "vu";
	if ((rc = ring_setup(u, RXQ, num, prefix)) < 0 || (rc = ring_setup(u, TXQ, num, prefix)) < 0)
		goto fail;
	rx_refill(u);
	for (unsigned q = 0; q < 2; q++)
		if ((rc = ring_start(u, q, num)) < 0)
			goto fail;
	return 0;
fail:
	hl_vuser_close(u);
	return rc;
}

unsigned hl_vuser_tx_reclaim(struct hl_vuser *u)
{
	unsigned n = 0;
	uint32_t len;
	struct hl_buf *b;

	while ((b = q_get_used(u, TXQ, &len)) != NULL) {
		hl_buf_free(b);
		n++;
	}
	return n;
}

uint16_t hl_vuser_tx_burst(struct hl_vuser *u, struct hl_buf **pkts, uint16_t n)
{
	struct hl_drv_buf db[HL_VHOST_MAX_SEGS_TX];
	uint16_t sent = 0;

	/* completions first: a chained packet needs several free descriptors */
	hl_vuser_tx_reclaim(u);
	for (; sent < n; sent++) {
		struct hl_buf *b = pkts[sent];
		unsigned nseg = 0;
		if (b->data_off < u->hdr_len || b->nb_segs > HL_VHOST_MAX_SEGS_TX)
			break;
		/* header in the headroom right before the frame: one descriptor */
		uint8_t *h = (uint8_t *)hl_buf_data(b) - u->hdr_len;
		memset(h, 0, u->hdr_len);
		if ((b->flags & HL_BUF_F_OFFLOAD) && hl_ol_to_vnet(b, u->ol_tx, (struct hl_virtio_net_hdr *)h) < 0)
			break; /* asks for what the back-end did not grant: the caller's to fix */
		db[nseg++] = (struct hl_drv_buf){.addr = (uintptr_t)h, .len = b->data_len + u->hdr_len};
		for (struct hl_buf *s = b->next; s != NULL; s = s->next)
			db[nseg++] = (struct hl_drv_buf){.addr = (uintptr_t)hl_buf_data(s), .len = s->data_len};
		if (q_add(u, TXQ, db, nseg, 0, b) < 0) {
			u->stats.tx_full++;
			break;
		}
		u->stats.tx_bytes += b->pkt_len;
	}
	u->stats.tx_packets += sent;
	if (sent)
		q_kick(u, TXQ);
	return sent;
}

uint16_t hl_vuser_rx_burst(struct hl_vuser *u, struct hl_buf **pkts, uint16_t n)
{
	uint16_t got = 0;
	uint32_t len;
	struct hl_buf *b;

	while (got < n && (b = q_get_used(u, RXQ, &len)) != NULL) {
		uint32_t room = b->buf_len - b->data_off + u->hdr_len;
		if (len < u->hdr_len || len > room) {
			u->stats.rx_bad++;
			hl_buf_free(b);
			continue;
		}
		struct hl_virtio_net_hdr_v1 hdr;
		memcpy(&hdr, (uint8_t *)hl_buf_data(b) - u->hdr_len, u->hdr_len);
		b->data_len = b->pkt_len = len - u->hdr_len;
		/* with MRG_RXBUF the rest of a large frame follows in num_buffers - 1 more buffers */
		unsigned more = u->mrg_rxbuf && hdr.num_buffers > 1 ? hdr.num_buffers - 1u : 0;
		bool bad = false;
		while (more--) {
			uint32_t l2;
			struct hl_buf *s = q_get_used(u, RXQ, &l2);
			if (s == NULL || l2 > s->buf_len - s->data_off + u->hdr_len) {
				if (s)
					hl_buf_free(s);
				bad = true;
				break;
			}
			/* continuation buffers carry no header: the data starts at the header's place */
			s->data_off = (uint16_t)(s->data_off - u->hdr_len);
			s->data_len = l2;
			hl_buf_chain(b, s);
		}
		if (bad || (u->ol_rx != 0 && hl_ol_from_vnet(b, &hdr.hdr,
							  u->ol_rx | HL_OL_CAP_TRUST_VALID, HL_OL_IP_MAX, &u->stats.ol) < 0)) {
			u->stats.rx_bad++;
			hl_buf_free(b);
			continue;
		}
		u->stats.rx_bytes += b->pkt_len;
		pkts[got++] = b;
	}
	u->stats.rx_packets += got;
	if (got)
		rx_refill(u);
	return got;
}

/* Every buffer still on a ring, by the token it went with. */
static void drain(void **tokens, unsigned n)
{
	for (unsigned i = 0; tokens != NULL && i < n; i++)
		if (tokens[i] != NULL) {
			hl_buf_free(tokens[i]);
			tokens[i] = NULL;
		}
}

void hl_vuser_close(struct hl_vuser *u)
{
	uint16_t base;
	if (u->fe.sock >= 0) {
		/* the back-end stops touching our rings before we take the buffers back */
		hl_vhost_frontend_stop_queue(&u->fe, RXQ, &base);
		hl_vhost_frontend_stop_queue(&u->fe, TXQ, &base);
	}
	hl_vuser_tx_reclaim(u);
	if (u->packed) {
		drain(u->prx.tokens, u->prx.num);
		drain(u->ptx.tokens, u->ptx.num);
		hl_vring_packed_driver_fini(&u->prx);
		hl_vring_packed_driver_fini(&u->ptx);
	} else {
		drain(u->rx.tokens, u->rx.num);
		drain(u->tx.tokens, u->tx.num);
		hl_vring_driver_fini(&u->rx);
		hl_vring_driver_fini(&u->tx);
	}
	hl_vhost_frontend_close(&u->fe);
	for (unsigned q = 0; q < 2; q++) {
		if (u->kick[q] >= 0)
			close(u->kick[q]);
		if (u->call[q] >= 0)
			close(u->call[q]);
		u->kick[q] = u->call[q] = -1;
		if (u->zone[q][0])
			hl_pool_zone_free(u->pool, u->zone[q]);
		u->zone[q][0] = '\0';
	}
}
