/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * VXLAN port: encapsulation and decapsulation between the switch's frames
 * and the kernel's IPv4 stack (include/hugelink/vxlan_port.h).
 *
 * Receive keeps a burst of empty buffers between polls. Each recvmmsg slot
 * reads a datagram into two pieces: the 8-byte VXLAN header into a slot of
 * the port's own, the inner frame straight into a buffer's data room, so a
 * good frame is never copied again; a bad one leaves its buffer in place
 * for the next datagram. A slot without a buffer (the bufpool ran dry)
 * reads into a scratch area and is counted, so the socket is still drained.
 *
 * Transmit writes, per frame and remote, a 36-byte copy of that remote's
 * outer headers made at open with five fields patched, followed by the frame's segments
 * (chain_iov_pvt.h checks their bounds), all in one sendmmsg for the burst.
 *
 * With several remotes, receive learns which remote an inner source MAC is
 * behind in a direct-mapped table of 64-bit slots (MAC, remote, seconds
 * stamp), each written whole by the receive thread and read whole by the
 * transmit thread, so a torn entry cannot exist; the control thread clears
 * aged slots with a compare-and-swap, which loses to a fresh learn. A
 * collision only evicts, and an evicted or aged MAC is flooded to every
 * remote until it speaks.
 *
 * The index of who owns what: rx_buf[0..rx_have) are this port's (empty,
 * refcnt 1); a buffer handed to the caller is the caller's. Counters are
 * written by the direction's thread only and read with relaxed loads.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <linux/sock_diag.h>

#include <hugelink/offload.h>
#include <hugelink/vxlan_port.h>

#include "chain_iov_pvt.h"

#define VXLAN_HDR_LEN 8u
#define VXLAN_FLAG_I 0x08u       /* first byte: the VNI is valid */
#define VXLAN_MTU_MAX 1500u      /* inner frames stay within one switch buffer */
#define SRC_PORT_MIN 49152u
#define SOCK_BUF_BYTES (4 << 20) /* absorbs a few bursts while the worker is elsewhere */
#define SCRATCH_LEN 65536u       /* larger than any UDP datagram */

static const char *const drop_names[HL_VXLAN_DROP_MAX] = {
	[HL_VXLAN_RX_TRUNCATED] = "truncated",         [HL_VXLAN_RX_BAD_FLAGS] = "bad_flags",
	[HL_VXLAN_RX_WRONG_VNI] = "wrong_vni",         [HL_VXLAN_RX_UNKNOWN_REMOTE] = "unknown_remote",
	[HL_VXLAN_RX_INNER_RUNT] = "inner_runt",       [HL_VXLAN_RX_INNER_TOO_BIG] = "inner_too_big",
	[HL_VXLAN_RX_NO_BUF] = "no_buf",               [HL_VXLAN_TX_TOO_BIG] = "tx_too_big",
	[HL_VXLAN_TX_ERRORS] = "tx_errors",
};

struct hl_vxlan_port {
	int rx_fd, tx_fd;
	struct hl_vxlan_params prm;
	uint32_t max_frame;           /* mtu + Ethernet header (+ a VLAN tag when tagged) */
	unsigned nremote;
	struct sockaddr_in remote_sa[HL_VXLAN_MAX_REMOTES]; /* where raw datagrams go */
	/* per remote: IPv4 + UDP + VXLAN, fields to patch left 0 */
	uint8_t outer[HL_VXLAN_MAX_REMOTES][HL_VXLAN_OUTER_LEN];
	/* several remotes: MAC (48 bits) | remote + 1 (8) | stamp, seconds mod 256 (8); 0 empty */
	uint64_t learn[HL_VXLAN_LEARN_SLOTS];
	uint16_t ip_id;
	struct hl_vxlan_stats st;

	/* receive */
	struct hl_bufpool *bp;
	unsigned rx_have;
	struct hl_buf *rx_buf[HL_VXLAN_BURST];
	struct mmsghdr rx_msg[HL_VXLAN_BURST];
	struct iovec rx_iov[HL_VXLAN_BURST][2];
	struct sockaddr_in rx_from[HL_VXLAN_BURST];
	uint8_t rx_hdr[HL_VXLAN_BURST][VXLAN_HDR_LEN];
	uint8_t *scratch;

	/* transmit */
	struct mmsghdr tx_msg[HL_VXLAN_BURST];
	struct iovec tx_iov[HL_VXLAN_BURST][1 + HL_VXLAN_MAX_SEGS];
	uint8_t tx_hdr[HL_VXLAN_BURST][HL_VXLAN_OUTER_LEN];
	uint32_t tx_len[HL_VXLAN_BURST];
	int16_t tx_frame[HL_VXLAN_BURST]; /* which frame of the burst a datagram carries */
};

const char *hl_vxlan_drop_name(enum hl_vxlan_drop d)
{
	return (unsigned)d < HL_VXLAN_DROP_MAX ? drop_names[d] : "?";
}

static inline void count(uint64_t *c, uint64_t v)
{
	__atomic_store_n(c, *c + v, __ATOMIC_RELAXED);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* The outer headers every datagram of this port to remote r shares. */
static void build_outer(struct hl_vxlan_port *vx, unsigned r)
{
	uint8_t *ip = vx->outer[r], *udp = ip + 20, *vxh = udp + 8;
	memset(ip, 0, HL_VXLAN_OUTER_LEN);
	ip[0] = 0x45; /* IPv4, 20-byte header */
	ip[8] = 64;   /* TTL */
	ip[9] = IPPROTO_UDP;
	memcpy(ip + 12, &vx->prm.local, 4); /* 0: the kernel fills in the route's source */
	memcpy(ip + 16, &vx->prm.remote[r], 4);
	put16(udp + 2, vx->prm.dstport);
	vxh[0] = VXLAN_FLAG_I;
	vxh[4] = (uint8_t)(vx->prm.vni >> 16);
	vxh[5] = (uint8_t)(vx->prm.vni >> 8);
	vxh[6] = (uint8_t)vx->prm.vni;
}

/* Beyond net.core.[rw]mem_max where we may (CAP_NET_ADMIN): a worker that is late must not cost datagrams. */
static void set_buf(int fd, int force_opt, int opt, const char *what)
{
	int v = SOCK_BUF_BYTES;
	if (setsockopt(fd, SOL_SOCKET, force_opt, &v, sizeof(v)) < 0 &&
	    setsockopt(fd, SOL_SOCKET, opt, &v, sizeof(v)) < 0)
		HL_LOG_DEBUG("vxlan: %s buffer: %s", what, strerror(errno));
}

static int open_sockets(struct hl_vxlan_port *vx)
{
	char la[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &vx->prm.local, la, sizeof(la));
	vx->rx_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (vx->rx_fd < 0)
		return hl_error(-errno, "vxlan: UDP socket: %s", strerror(errno));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(vx->prm.dstport)};
	sa.sin_addr.s_addr = vx->prm.local;
	if (bind(vx->rx_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return hl_error(-errno, "vxlan: UDP %s:%u is taken (%s): another VXLAN port or a kernel vxlan device "
				"in this network namespace uses it",
				la, vx->prm.dstport, strerror(errno));
	set_buf(vx->rx_fd, SO_RCVBUFFORCE, SO_RCVBUF, "receive");
	/* IPPROTO_RAW: we write the IP header; the kernel routes and sends it */
	vx->tx_fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW);
	if (vx->tx_fd < 0)
		return hl_error(-errno, "vxlan: raw IPv4 socket for transmit: %s%s", strerror(errno),
				errno == EPERM ? " (needs CAP_NET_RAW)" : "");
	set_buf(vx->tx_fd, SO_SNDBUFFORCE, SO_SNDBUF, "send");
	return 0;
}

int hl_vxlan_port_open(const struct hl_vxlan_params *prm, struct hl_vxlan_port **out)
{
	if (prm == NULL || out == NULL)
		return hl_error(-EINVAL, "vxlan: no parameters");
	unsigned nr = prm->nremote ? prm->nremote : 1;
	if (nr > HL_VXLAN_MAX_REMOTES)
		return hl_error(-EINVAL, "vxlan: %u remotes (at most %u)", nr, HL_VXLAN_MAX_REMOTES);
	for (unsigned r = 0; r < nr; r++) {
		uint32_t a = prm->remote[r];
		if (a == 0 || a == INADDR_BROADCAST || (ntohl(a) >> 28) == 14)
			return hl_error(-EINVAL, "vxlan: a remote must be a unicast IPv4 address");
		for (unsigned k = 0; k < r; k++)
			if (prm->remote[k] == a)
				return hl_error(-EINVAL, "vxlan: a remote is given twice");
	}
	if (prm->vni > 0xffffffu)
		return hl_error(-EINVAL, "vxlan: VNI %u is beyond 24 bits", prm->vni);
	if (prm->mtu != 0 && (prm->mtu < HL_VXLAN_MTU_MIN || prm->mtu > VXLAN_MTU_MAX))
		return hl_error(-EINVAL, "vxlan: MTU %u is outside %u..%u", prm->mtu, HL_VXLAN_MTU_MIN, VXLAN_MTU_MAX);
	struct hl_vxlan_port *vx = calloc(1, sizeof(*vx));
	if (vx == NULL)
		return hl_error(-ENOMEM, "vxlan: out of memory");
	vx->rx_fd = vx->tx_fd = -1;
	vx->prm = *prm;
	if (vx->prm.dstport == 0)
		vx->prm.dstport = HL_VXLAN_PORT_DEFAULT;
	if (vx->prm.mtu == 0)
		vx->prm.mtu = HL_VXLAN_MTU_DEFAULT;
	vx->max_frame = vx->prm.mtu + 14u;
	vx->prm.nremote = vx->nremote = nr;
	for (unsigned r = 0; r < nr; r++) {
		vx->remote_sa[r] = (struct sockaddr_in){.sin_family = AF_INET};
		vx->remote_sa[r].sin_addr.s_addr = prm->remote[r];
	}
	vx->scratch = malloc(SCRATCH_LEN);
	int rc = vx->scratch == NULL ? hl_error(-ENOMEM, "vxlan: out of memory") : open_sockets(vx);
	if (rc < 0) {
		hl_vxlan_port_close(vx);
		return rc;
	}
	for (unsigned r = 0; r < nr; r++)
		build_outer(vx, r);
	char ra[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &prm->remote[0], ra, sizeof(ra));
	HL_LOG_INFO("vxlan: VNI %u to %s:%u%s, inner MTU %u", vx->prm.vni, ra, vx->prm.dstport,
		    nr > 1 ? " and more remotes (flood and learn)" : "", vx->prm.mtu);
	*out = vx;
	return 0;
}

void hl_vxlan_port_close(struct hl_vxlan_port *vx)
{
	if (vx == NULL)
		return;
	if (vx->rx_fd >= 0)
		close(vx->rx_fd);
	if (vx->tx_fd >= 0)
		close(vx->tx_fd);
	hl_buf_free_bulk(vx->rx_buf, vx->rx_have);
	free(vx->scratch);
	free(vx);
}

int hl_vxlan_port_fd(const struct hl_vxlan_port *vx)
{
	return vx->rx_fd;
}

void hl_vxlan_port_params(const struct hl_vxlan_port *vx, struct hl_vxlan_params *prm)
{
	*prm = vx->prm;
}

void hl_vxlan_port_stats(const struct hl_vxlan_port *vx, struct hl_vxlan_stats *st)
{
	st->rx_packets = __atomic_load_n(&vx->st.rx_packets, __ATOMIC_RELAXED);
	st->rx_bytes = __atomic_load_n(&vx->st.rx_bytes, __ATOMIC_RELAXED);
	st->tx_packets = __atomic_load_n(&vx->st.tx_packets, __ATOMIC_RELAXED);
	st->tx_bytes = __atomic_load_n(&vx->st.tx_bytes, __ATOMIC_RELAXED);
	st->tx_datagrams = __atomic_load_n(&vx->st.tx_datagrams, __ATOMIC_RELAXED);
	for (unsigned d = 0; d < HL_VXLAN_DROP_MAX; d++)
		st->drops[d] = __atomic_load_n(&vx->st.drops[d], __ATOMIC_RELAXED);
	uint32_t mi[SK_MEMINFO_VARS] = {0};
	socklen_t len = sizeof(mi);
	st->socket_drops = getsockopt(vx->rx_fd, SOL_SOCKET, SO_MEMINFO, mi, &len) == 0 ? mi[SK_MEMINFO_DROPS] : 0;
}

/* ---- receive ------------------------------------------------------------------ */

/* Top up the held buffers to want; as many as the bufpool gives. */
static void rx_refill(struct hl_vxlan_port *vx, unsigned want)
{
	while (vx->rx_have < want) {
		unsigned k = want - vx->rx_have;
		if (hl_buf_alloc_bulk(vx->bp, vx->rx_buf + vx->rx_have, k) == 0) {
			vx->rx_have += k;
			return;
		}
		struct hl_buf *b = hl_buf_alloc(vx->bp);
		if (b == NULL)
			return;
		vx->rx_buf[vx->rx_have++] = b;
	}
}

/* Which remote sent datagram i, or -1. */
static inline int rx_remote(const struct hl_vxlan_port *vx, unsigned i)
{
	if (vx->rx_from[i].sin_family != AF_INET)
		return -1;
	for (unsigned r = 0; r < vx->nremote; r++)
		if (vx->rx_from[i].sin_addr.s_addr == vx->prm.remote[r])
			return (int)r;
	return -1;
}

/* Why datagram i cannot be handed over, or HL_VXLAN_DROP_MAX when it can. */
static enum hl_vxlan_drop rx_verdict(const struct hl_vxlan_port *vx, unsigned i, uint32_t len, int flags,
				     const uint8_t *frame)
{
	const uint8_t *h = vx->rx_hdr[i];
	if (rx_remote(vx, i) < 0)
		return HL_VXLAN_RX_UNKNOWN_REMOTE;
	if (len < VXLAN_HDR_LEN)
		return HL_VXLAN_RX_TRUNCATED;
	/* RFC 7348: the I flag must be set; the reserved bits are ignored on receipt */
	if (!(h[0] & VXLAN_FLAG_I))
		return HL_VXLAN_RX_BAD_FLAGS;
	if (((uint32_t)h[4] << 16 | (uint32_t)h[5] << 8 | h[6]) != vx->prm.vni)
		return HL_VXLAN_RX_WRONG_VNI;
	uint32_t inner = len - VXLAN_HDR_LEN;
	if (inner < 14)
		return HL_VXLAN_RX_INNER_RUNT;
	/* a VLAN tag is not part of the MTU */
	uint32_t max = vx->max_frame + (frame[12] == 0x81 && frame[13] == 0x00 ? 4u : 0u);
	if ((flags & MSG_TRUNC) || inner > max)
		return HL_VXLAN_RX_INNER_TOO_BIG;
	return HL_VXLAN_DROP_MAX;
}

static inline uint64_t mac48(const uint8_t *m)
{
	return (uint64_t)m[0] << 40 | (uint64_t)m[1] << 32 | (uint64_t)m[2] << 24 | (uint64_t)m[3] << 16 |
	       (uint64_t)m[4] << 8 | m[5];
}

static inline unsigned learn_slot(uint64_t mac)
{
	return (unsigned)((mac * 0x9e3779b97f4a7c15ull) >> 54) & (HL_VXLAN_LEARN_SLOTS - 1);
}

/*
 * The learning table's clock: seconds mod 4096. Entries older than
 * HL_VXLAN_LEARN_AGE_S are cleared by hl_vxlan_port_age() long before the
 * clock wraps, so an old stamp is never mistaken for a fresh one.
 */
#define STAMP_MASK 0xfffu
static inline unsigned stamp_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (unsigned)ts.tv_sec & STAMP_MASK;
}

/* A slot: MAC (48 bits) | remote + 1 (4) | stamp (12); 0 is empty. */
static inline uint64_t entry(uint64_t mac, unsigned r, unsigned now)
{
	return mac << 16 | (uint64_t)(r + 1) << 12 | now;
}

static inline bool fresh(uint64_t e, unsigned now)
{
	return ((now - (unsigned)e) & STAMP_MASK) <= HL_VXLAN_LEARN_AGE_S;
}

static void learn(struct hl_vxlan_port *vx, const uint8_t *src, unsigned r, unsigned now)
{
	if (src[0] & 1)
		return;
	uint64_t mac = mac48(src), e = entry(mac, r, now);
	uint64_t *slot = &vx->learn[learn_slot(mac)];
	if (__atomic_load_n(slot, __ATOMIC_RELAXED) != e)
		__atomic_store_n(slot, e, __ATOMIC_RELAXED);
}

/* The remote dst was learned behind and is fresh, or -1: flood. */
static int learned(const struct hl_vxlan_port *vx, const uint8_t *dst, unsigned now)
{
	if (dst[0] & 1)
		return -1;
	uint64_t mac = mac48(dst), e = __atomic_load_n(&vx->learn[learn_slot(mac)], __ATOMIC_RELAXED);
	unsigned r = (unsigned)(e >> 12) & 0xfu;
	if ((e >> 16) != mac || r == 0 || r > vx->nremote || !fresh(e, now))
		return -1;
	return (int)r - 1;
}

void hl_vxlan_port_age(struct hl_vxlan_port *vx)
{
	if (vx->nremote < 2)
		return;
	unsigned now = stamp_now();
	for (unsigned i = 0; i < HL_VXLAN_LEARN_SLOTS; i++) {
		uint64_t e = __atomic_load_n(&vx->learn[i], __ATOMIC_RELAXED);
		/* only if receive has not written it meanwhile */
		if (e != 0 && !fresh(e, now))
			__atomic_compare_exchange_n(&vx->learn[i], &e, 0, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	}
}

uint16_t hl_vxlan_rx_burst(struct hl_vxlan_port *vx, struct hl_bufpool *bp, struct hl_buf **pkts, uint16_t n)
{
	if (hl_unlikely(vx == NULL || bp == NULL || pkts == NULL || n == 0))
		return 0;
	if (n > HL_VXLAN_BURST)
		n = HL_VXLAN_BURST;
	if (hl_unlikely(vx->bp != bp)) {
		hl_buf_free_bulk(vx->rx_buf, vx->rx_have);
		vx->rx_have = 0;
		vx->bp = bp;
	}
	rx_refill(vx, n);
	for (unsigned i = 0; i < n; i++) {
		struct msghdr *m = &vx->rx_msg[i].msg_hdr;
		vx->rx_iov[i][0] = (struct iovec){vx->rx_hdr[i], VXLAN_HDR_LEN};
		if (i < vx->rx_have)
			vx->rx_iov[i][1] = (struct iovec){hl_buf_data(vx->rx_buf[i]), hl_buf_tailroom(vx->rx_buf[i])};
		else
			vx->rx_iov[i][1] = (struct iovec){vx->scratch, SCRATCH_LEN};
		*m = (struct msghdr){.msg_name = &vx->rx_from[i], .msg_namelen = sizeof(vx->rx_from[i]),
				     .msg_iov = vx->rx_iov[i], .msg_iovlen = 2};
	}
	int r;
	do
		r = recvmmsg(vx->rx_fd, vx->rx_msg, n, MSG_DONTWAIT, NULL);
	while (r < 0 && errno == EINTR);
	if (r <= 0) {
		if (r < 0 && errno != EAGAIN)
			HL_LOG_DEBUG("vxlan: recvmmsg: %s", strerror(errno));
		return 0;
	}
	/* good frames leave the held set; the rest of it closes up behind them */
	uint16_t got = 0;
	unsigned keep = 0, have = vx->rx_have, now = vx->nremote > 1 ? stamp_now() : 0;
	uint64_t bytes = 0;
	for (unsigned i = 0; i < (unsigned)r; i++) {
		uint32_t len = vx->rx_msg[i].msg_len;
		if (i >= have) {
			count(&vx->st.drops[HL_VXLAN_RX_NO_BUF], 1);
			continue;
		}
		struct hl_buf *b = vx->rx_buf[i];
		enum hl_vxlan_drop why = rx_verdict(vx, i, len, vx->rx_msg[i].msg_hdr.msg_flags, hl_buf_data(b));
		if (hl_unlikely(why != HL_VXLAN_DROP_MAX)) {
			count(&vx->st.drops[why], 1);
			vx->rx_buf[keep++] = b;
			continue;
		}
		b->data_len = b->pkt_len = len - VXLAN_HDR_LEN;
		bytes += b->data_len;
		pkts[got++] = b;
		if (vx->nremote > 1)
			learn(vx, (const uint8_t *)hl_buf_data(b) + 6, (unsigned)rx_remote(vx, i), now);
	}
	for (unsigned i = (unsigned)r; i < have; i++)
		vx->rx_buf[keep++] = vx->rx_buf[i];
	vx->rx_have = keep;
	count(&vx->st.rx_packets, got);
	count(&vx->st.rx_bytes, bytes);
	return got;
}

/* ---- transmit ----------------------------------------------------------------- */

uint16_t hl_vxlan_flow_port(const struct hl_buf *pkt)
{
	uint8_t key[12 + 32 + 1 + 4];
	unsigned k = 0, len = pkt->data_len;
	const uint8_t *d = hl_buf_data(pkt);

	if (len >= 12) {
		memcpy(key, d, 12);
		k = 12;
	}
	if (len >= 14 + 20 && d[12] == 0x08 && d[13] == 0x00) {
		const uint8_t *ip = d + 14;
		unsigned ihl = (ip[0] & 0xfu) * 4u;
		memcpy(key + k, ip + 12, 8);
		key[k + 8] = ip[9];
		k += 9;
		/* ports only in a first or only fragment, so all of a datagram's fragments go one way */
		bool frag = (((unsigned)ip[6] << 8 | ip[7]) & 0x3fffu) != 0;
		if ((ip[9] == IPPROTO_TCP || ip[9] == IPPROTO_UDP) && !frag && ihl >= 20 && len >= 14 + ihl + 4) {
			memcpy(key + k, ip + ihl, 4);
			k += 4;
		}
	} else if (len >= 14 + 40 && d[12] == 0x86 && d[13] == 0xdd) {
		const uint8_t *ip = d + 14;
		memcpy(key + k, ip + 8, 32);
		key[k + 32] = ip[6];
		k += 33;
		if ((ip[6] == IPPROTO_TCP || ip[6] == IPPROTO_UDP) && len >= 14 + 40 + 4) {
			memcpy(key + k, ip + 40, 4);
			k += 4;
		}
	}
	uint32_t h = hl_crc32c(0, key, k);
	h ^= h >> 16;
	return (uint16_t)(SRC_PORT_MIN + (h & 0x3fffu));
}

/* The frame's segments into iov; its length, or 0 when the chain is malformed or too long. */
static uint32_t tx_gather(const struct hl_buf *b, struct iovec *iov, unsigned *niov)
{
	uint64_t total = hl__chain_iov(b, iov, HL_VXLAN_MAX_SEGS, niov);
	return total > UINT32_MAX ? 0 : (uint32_t)total;
}

/* Remote r's outer headers with this frame's lengths, IP id and checksum, and source port. */
static void tx_outer(struct hl_vxlan_port *vx, unsigned r, uint8_t *h, uint32_t len, uint16_t sport)
{
	memcpy(h, vx->outer[r], HL_VXLAN_OUTER_LEN);
	put16(h + 2, (uint16_t)(HL_VXLAN_OUTER_LEN + len));
	put16(h + 4, vx->ip_id++);
	uint16_t sum = (uint16_t)~hl_csum_add(0, h, 20); /* byte-order independent: stored as it is */
	memcpy(h + 10, &sum, 2);
	put16(h + 20, sport);
	put16(h + 24, (uint16_t)(8 + VXLAN_HDR_LEN + len));
}

struct tx_tally {
	unsigned frames;
	uint64_t bytes, datagrams, errors;
};

/*
 * Send datagrams [0, m) in as few sendmmsg calls as the kernel allows (it
 * stops at one it refuses and reports it on the next call). A frame counts
 * as sent when its last datagram went. false: the socket's queue is full,
 * the rest is the caller's shortfall.
 */
static bool tx_flush(struct hl_vxlan_port *vx, unsigned m, struct tx_tally *t)
{
	unsigned done = 0;
	while (done < m) {
		int r = sendmmsg(vx->tx_fd, vx->tx_msg + done, m - done, MSG_DONTWAIT);
		if (r > 0) {
			for (unsigned i = done; i < done + (unsigned)r; i++) {
				t->datagrams++;
				if (vx->tx_frame[i] >= 0) {
					t->frames++;
					t->bytes += vx->tx_len[i];
				}
			}
			done += (unsigned)r;
		} else if (errno == EAGAIN || errno == ENOBUFS) {
			return false;
		} else if (errno != EINTR) {
			HL_LOG_DEBUG("vxlan: sendmmsg: %s", strerror(errno));
			t->errors++;
			done++;
		}
	}
	return true;
}

uint16_t hl_vxlan_tx_burst(struct hl_vxlan_port *vx, struct hl_buf **pkts, uint16_t n, uint64_t *bytes)
{
	if (hl_unlikely(vx == NULL || pkts == NULL))
		return 0;
	struct tx_tally t = {0};
	uint64_t too_big = 0;
	unsigned m = 0, now = vx->nremote > 1 ? stamp_now() : 0;
	bool full = false;
	for (uint16_t k = 0; k < n && !full; k++) {
		struct iovec fiov[HL_VXLAN_MAX_SEGS];
		unsigned niov = 0;
		uint32_t len = pkts[k] != NULL ? tx_gather(pkts[k], fiov, &niov) : 0;
		if (hl_unlikely(len < 14 || pkts[k]->data_len < 14)) {
			t.errors++;
			continue;
		}
		const uint8_t *eth = hl_buf_data(pkts[k]);
		uint32_t max = vx->max_frame + (eth[12] == 0x81 && eth[13] == 0x00 ? 4u : 0u);
		if (hl_unlikely(len > max)) {
			too_big++;
			continue;
		}
		/* one remote, the one the destination was learned behind, or all of them */
		int l = vx->nremote > 1 ? learned(vx, eth, now) : 0;
		unsigned r0 = l >= 0 ? (unsigned)l : 0, nr = l >= 0 ? 1 : vx->nremote;
		if (m + nr > HL_VXLAN_BURST) {
			full = !tx_flush(vx, m, &t);
			m = 0;
			if (full)
				break;
		}
		uint16_t sport = hl_vxlan_flow_port(pkts[k]);
		for (unsigned i = 0; i < nr; i++, m++) {
			unsigned r = r0 + i;
			tx_outer(vx, r, vx->tx_hdr[m], len, sport);
			vx->tx_iov[m][0] = (struct iovec){vx->tx_hdr[m], HL_VXLAN_OUTER_LEN};
			memcpy(vx->tx_iov[m] + 1, fiov, niov * sizeof(fiov[0]));
			vx->tx_msg[m].msg_hdr = (struct msghdr){.msg_name = &vx->remote_sa[r],
								.msg_namelen = sizeof(vx->remote_sa[r]),
								.msg_iov = vx->tx_iov[m],
								.msg_iovlen = 1 + niov};
			vx->tx_len[m] = len;
			vx->tx_frame[m] = i + 1 == nr ? (int16_t)k : -1;
		}
	}
	if (!full && m > 0)
		tx_flush(vx, m, &t);
	count(&vx->st.drops[HL_VXLAN_TX_TOO_BIG], too_big);
	count(&vx->st.drops[HL_VXLAN_TX_ERRORS], t.errors);
	count(&vx->st.tx_packets, t.frames);
	count(&vx->st.tx_bytes, t.bytes);
	count(&vx->st.tx_datagrams, t.datagrams);
	*bytes += t.bytes;
	return (uint16_t)t.frames;
}
