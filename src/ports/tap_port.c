/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TAP port: the host kernel's side of the switch, one frame per read or
 * write on /dev/net/tun.
 *
 * Receive reads each frame straight into the data room of a pool buffer,
 * with a per-port spill area behind it in the same readv: a frame that fits
 * costs no copy, a longer one is copied from the spill area into chained
 * buffers. The spill area is larger than any frame the kernel can send, so a
 * read never truncates, and a frame we cannot keep is still consumed (and
 * counted) rather than left for the next poll to trip over.
 *
 * With offloads a virtio-net header leads every frame both ways, in the
 * same readv and writev: on receive it lands in a local copy and is
 * checked against the frame once the frame is in our buffers; on transmit
 * it is built from the frame's metadata, which the switch made fit this
 * port (partial checksums and TCP segmentation the kernel finishes).
 *
 * Transmit gathers a buffer chain with writev. Buffer metadata is ours, but
 * a chain may have been filled from a peer's descriptors, so every segment
 * is checked to lie inside its buffer and the walk is bounded, which also
 * stops a chain that loops back on itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/if_tun.h>

#include <hugelink/tap_port.h>

#include "chain_iov_pvt.h"

#define HL_TAP_DEFAULT_NAME "hl%d"

/* Spill area: with at least one byte in front of it, more than any frame. */
#define HL_TAP_SPILL_LEN HL_TAP_MAX_FRAME

static int link_up(struct hl_tap_port *t)
{
	struct ifreq ifr;
	int s, rc = 0;

	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return hl_error(-errno, "tap %s: socket for ioctls: %s", t->ifname, strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, t->ifname, sizeof(ifr.ifr_name));
	if (ioctl(s, SIOCGIFINDEX, &ifr) < 0) {
		rc = hl_error(-errno, "tap %s: SIOCGIFINDEX: %s", t->ifname, strerror(errno));
		goto out;
	}
	t->ifindex = (unsigned)ifr.ifr_ifindex;
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
		rc = hl_error(-errno, "tap %s: SIOCGIFFLAGS: %s", t->ifname, strerror(errno));
		goto out;
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		rc = hl_error(-errno, "tap %s: bringing the link up: %s", t->ifname, strerror(errno));
out:
	close(s);
	return rc;
}

int hl_tap_port_open(struct hl_tap_port *t, const char *ifname)
{
	return hl_tap_port_open_flags(t, ifname, 0);
}

int hl_tap_port_open_flags(struct hl_tap_port *t, const char *ifname, unsigned flags)
{
	struct ifreq ifr;
	int rc;

	if (t == NULL)
		return hl_error(-EINVAL, "tap: port is NULL");
	memset(t, 0, sizeof(*t));
	t->fd = -1;
	if (ifname == NULL || ifname[0] == '\0')
		ifname = HL_TAP_DEFAULT_NAME;
	if (strnlen(ifname, IFNAMSIZ) >= IFNAMSIZ)
		return hl_error(-EINVAL, "tap: interface name longer than %d bytes", IFNAMSIZ - 1);

	t->rx_spill = malloc(HL_TAP_SPILL_LEN);
	if (t->rx_spill == NULL)
		return hl_error(-ENOMEM, "tap: no memory for the receive spill area");
	t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (t->fd < 0) {
		rc = hl_error(-errno, "tap: /dev/net/tun: %s", strerror(errno));
		goto fail;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | ((flags & HL_TAP_F_OFFLOAD) ? IFF_VNET_HDR : 0);
	memcpy(ifr.ifr_name, ifname, strlen(ifname));
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
		rc = hl_error(-errno, "tap %s: TUNSETIFF: %s", ifname, strerror(errno));
		goto fail;
	}
	if (flags & HL_TAP_F_OFFLOAD) {
		int sz = (int)sizeof(struct hl_virtio_net_hdr);
		unsigned ol = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
		if (ioctl(t->fd, TUNSETVNETHDRSZ, &sz) < 0 || ioctl(t->fd, TUNSETOFFLOAD, ol) < 0) {
			rc = hl_error(-EOPNOTSUPP, "tap %s: the kernel refuses offloads: %s", ifname, strerror(errno));
			goto fail;
		}
		t->flags = HL_TAP_F_OFFLOAD;
	}
	memcpy(t->ifname, ifr.ifr_name, sizeof(t->ifname));
	t->ifname[sizeof(t->ifname) - 1] = '\0';
	rc = link_up(t);
	if (rc < 0)
		goto fail;
	HL_LOG_INFO("tap %s: open, ifindex %u%s", t->ifname, t->ifindex,
		    t->flags & HL_TAP_F_OFFLOAD ? ", checksum and TSO offloads" : "");
	return 0;
fail:
	if (t->fd >= 0)
		close(t->fd);
	free(t->rx_spill);
	memset(t, 0, sizeof(*t));
	t->fd = -1;
	return rc;
}

void hl_tap_port_close(struct hl_tap_port *t)
{
	/* rx_spill marks an open port: a zeroed struct has fd 0, which is not ours */
	if (t == NULL || t->rx_spill == NULL)
		return;
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	free(t->rx_spill);
	t->rx_spill = NULL;
}

int hl_tap_port_fd(const struct hl_tap_port *t)
{
	return t != NULL && t->rx_spill != NULL ? t->fd : -1;
}

/*
 * Copy `len` bytes of the spill area into buffers chained to head. False
 * when bp runs out (or its buffers have no room); the caller frees head,
 * and with it whatever was chained so far.
 */
static bool rx_spill_chain(struct hl_buf *head, const uint8_t *src, uint32_t len,
			   struct hl_bufpool *bp)
{
	while (len > 0) {
		struct hl_buf *seg = hl_buf_alloc(bp);
		if (seg == NULL)
			return false;
		uint32_t k = hl_buf_tailroom(seg);
		if (k > len)
			k = len;
		if (k == 0) {
			hl_buf_free(seg);
			return false;
		}
		memcpy(hl_buf_data(seg), src, k);
		seg->data_len = k;
		if (hl_buf_chain(head, seg) < 0) {
			hl_buf_free(seg);
			return false;
		}
		src += k;
		len -= k;
	}
	return true;
}

uint16_t hl_tap_rx_burst(struct hl_tap_port *t, struct hl_bufpool *bp, struct hl_buf **pkts,
			 uint16_t n)
{
	uint16_t got = 0;

	if (hl_unlikely(t == NULL || t->rx_spill == NULL || t->fd < 0 || bp == NULL || pkts == NULL))
		return 0;
	bool vnet = t->flags & HL_TAP_F_OFFLOAD;
	/* at most n reads: a stream of frames we drop cannot keep us here */
	for (uint16_t reads = 0; reads < n; reads++) {
		struct hl_buf *b = hl_buf_alloc(bp);
		struct hl_virtio_net_hdr vh;
		struct iovec iov[3];
		unsigned niov = 0;
		uint32_t room = 0;

		if (vnet)
			iov[niov++] = (struct iovec){&vh, sizeof(vh)};
		if (b != NULL) {
			room = hl_buf_tailroom(b);
			iov[niov++] = (struct iovec){hl_buf_data(b), room};
		}
		iov[niov++] = (struct iovec){t->rx_spill, HL_TAP_SPILL_LEN};
		ssize_t r = readv(t->fd, iov, (int)niov);
		if (r < 0 && errno == EINTR) {
			hl_buf_free(b);
			continue;
		}
		if (r <= 0) {
			if (r < 0 && errno != EAGAIN)
				HL_LOG_DEBUG("tap %s: read: %s", t->ifname, strerror(errno));
			hl_buf_free(b);
			break;
		}
		uint64_t len = (uint64_t)r;
		if (vnet) {
			if (hl_unlikely(len < sizeof(vh))) {
				t->stats.rx_drop_runt++;
				hl_buf_free(b);
				continue;
			}
			len -= sizeof(vh);
		}
		if (hl_unlikely(len < HL_TAP_MIN_FRAME)) {
			t->stats.rx_drop_runt++;
			hl_buf_free(b);
			continue;
		}
		if (hl_unlikely(len > HL_TAP_MAX_FRAME)) {
			t->stats.rx_drop_too_big++;
			hl_buf_free(b);
			continue;
		}
		if (hl_unlikely(b == NULL)) {
			t->stats.rx_drop_nobuf++;
			continue;
		}
		uint32_t first = len < room ? (uint32_t)len : room;
		b->data_len = first;
		b->pkt_len = first;
		if (hl_unlikely(len > first) &&
		    !rx_spill_chain(b, t->rx_spill, (uint32_t)(len - first), bp)) {
			t->stats.rx_drop_nobuf++;
			hl_buf_free(b);
			continue;
		}
		if (vnet && hl_ol_from_vnet(b, &vh, HL_TAP_OL_CAPS | HL_OL_CAP_TRUST_VALID, HL_OL_IP_MAX,
					    &t->stats.ol) < 0) {
			t->stats.rx_drop_bad_offload++;
			hl_buf_free(b);
			continue;
		}
		t->stats.rx_packets++;
		t->stats.rx_bytes += len;
		pkts[got++] = b;
	}
	return got;
}

/* Gather a chain into iov; its length in bytes, or 0 if it is malformed. */
static uint32_t tx_gather(const struct hl_buf *b, struct iovec *iov, unsigned *niov)
{
	uint64_t total = hl__chain_iov(b, iov, HL_TAP_MAX_SEGS, niov);
	if (total < HL_TAP_MIN_FRAME || total > HL_TAP_MAX_FRAME)
		return 0;
	return (uint32_t)total;
}

uint16_t hl_tap_tx_burst(struct hl_tap_port *t, struct hl_buf **pkts, uint16_t n)
{
	struct iovec iov[1 + HL_TAP_MAX_SEGS];
	uint16_t sent = 0;

	if (hl_unlikely(t == NULL || t->rx_spill == NULL || t->fd < 0 || pkts == NULL))
		return 0;
	bool vnet = t->flags & HL_TAP_F_OFFLOAD;
	for (uint16_t k = 0; k < n; k++) {
		struct hl_virtio_net_hdr vh;
		unsigned niov = 0, skip = vnet ? 1 : 0;
		uint32_t len = pkts[k] != NULL ? tx_gather(pkts[k], iov + skip, &niov) : 0;
		if (hl_unlikely(len == 0)) {
			t->stats.tx_errors++;
			continue;
		}
		if (vnet) {
			/* the switch made the frame fit HL_TAP_OL_CAPS; anything else goes plain */
			if (hl_unlikely(hl_ol_to_vnet(pkts[k], HL_TAP_OL_CAPS, &vh) < 0))
				t->stats.tx_errors++;
			iov[0] = (struct iovec){&vh, sizeof(vh)};
			niov++;
		}
		ssize_t r;
		do
			r = writev(t->fd, iov, (int)niov);
		while (r < 0 && errno == EINTR);
		if (r > 0 && vnet)
			r -= (ssize_t)sizeof(vh);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break; /* the kernel's queue is full: the rest is the caller's to retry or drop */
		if (hl_unlikely(r != (ssize_t)len)) {
			if (r < 0)
				HL_LOG_DEBUG("tap %s: write: %s", t->ifname, strerror(errno));
			t->stats.tx_errors++;
			continue;
		}
		t->stats.tx_packets++;
		t->stats.tx_bytes += len;
		sent++;
	}
	return sent;
}
