/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * AF_XDP port (include/hugelink/afxdp_port.h): XSK sockets, their UMEM in
 * a pool zone, and the XDP program that feeds them.
 *
 * Each queue's 2048 UMEM frames are split for good: the first half belongs
 * to receive and circulates between the fill ring and the receive ring (a
 * frame read out is put straight back on the fill ring), the second half
 * to transmit, between the port's free stack, the transmit ring and the
 * completion ring. So the receive and transmit sides share no frame and no
 * index, each ring is at least as large as the frames that can be in it
 * (a reserve never fails for lack of room), and the per-frame state says
 * who holds a frame:
 *   FREE  on the free stack (transmit frames only), the port's;
 *   KERN  given to the kernel (fill or receive ring; transmit or completion ring);
 *   HELD  being read out in this burst, or on the refill stash (receive
 *         frames only) until the fill ring has room.
 * An address the kernel hands back for a frame that is not KERN is a bad
 * descriptor: counted, and the frame is not touched again.
 *
 * Who writes what: the kernel writes the receive and completion rings and
 * the frames in them; we write the fill and transmit rings, and the
 * transmit frames before we submit them.
 */
#include <errno.h>
#include <dirent.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <xdp/xsk.h>

#include <hugelink/afxdp_port.h>

#include "chain_iov_pvt.h"

#define RX_FRAMES (HL_AFXDP_FRAMES / 2)
#define TX_FRAMES (HL_AFXDP_FRAMES - RX_FRAMES)
#define UMEM_LEN ((uint64_t)HL_AFXDP_FRAMES * HL_AFXDP_FRAME_SIZE)
#define BURST 32u

/*
 * The kernel publishes how far it has read the fill ring lazily, so frames
 * it already received into can still look as if they sat in the fill
 * ring: it is twice the receive frames, and what does not fit yet waits
 * on the refill stash for the next burst.
 */
#define FILL_SIZE (2 * HL_AFXDP_RING_SIZE)
#define BUSY_TRIES 20 /* a queue's previous socket is released by the kernel shortly after its close */

_Static_assert(RX_FRAMES <= HL_AFXDP_RING_SIZE && TX_FRAMES <= HL_AFXDP_RING_SIZE,
	       "a ring holds every frame that can be in it");

enum { F_FREE, F_KERN, F_HELD };

struct queue {
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fill, tx;
	struct xsk_ring_cons comp, rx;
	uint8_t *area;      /* this queue's UMEM */
	int fd;
	uint32_t tx_free[TX_FRAMES]; /* frame indices */
	unsigned ntx_free;
	uint32_t refill[RX_FRAMES];  /* receive frames read out, not yet back on the fill ring */
	unsigned nrefill;
	uint32_t tx_inflight;
	uint8_t state[HL_AFXDP_FRAMES];
};

struct hl_afxdp_port {
	char name[32], ifname[HL_AFXDP_IFNAMSIZ];
	struct hl_afxdp_params prm;
	struct hl_pool *pool;
	char zone[HL_ZONE_NAME_LEN];
	bool zone_ours;
	unsigned ifindex, nq, rx_next;
	uint32_t max_frame;
	int prog_fd, map_fd, link_fd;
	bool zerocopy;
	struct hl_afxdp_stats st;
	struct queue q[];
};

static inline void add(uint64_t *c, uint64_t v)
{
	__atomic_store_n(c, *c + v, __ATOMIC_RELAXED);
}

static inline void set_state(struct queue *q, uint32_t f, uint8_t s)
{
	__atomic_store_n(&q->state[f], s, __ATOMIC_RELAXED);
}

/* ---- the XDP program -------------------------------------------------------- */

/*
 * return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS): a queue's
 * frames to its socket, everything else (no socket on that queue) to the
 * kernel's stack as if nothing were attached.
 */
static int load_prog(struct hl_afxdp_port *x)
{
	x->map_fd = bpf_map_create(BPF_MAP_TYPE_XSKMAP, "hl_xsks", 4, 4, HL_AFXDP_MAX_QUEUES, NULL);
	if (x->map_fd < 0)
		return hl_error(-errno, "afxdp %s: XSKMAP: %s%s", x->ifname, strerror(errno),
				errno == EPERM ? " (needs root: CAP_BPF)" : "");
	struct bpf_insn insns[] = {
		{.code = BPF_LDX | BPF_MEM | BPF_W, .dst_reg = BPF_REG_2, .src_reg = BPF_REG_1,
		 .off = offsetof(struct xdp_md, rx_queue_index)},
		{.code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = BPF_REG_1, .src_reg = BPF_PSEUDO_MAP_FD, .imm = x->map_fd},
		{0},
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_3, .imm = XDP_PASS},
		{.code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_redirect_map},
		{.code = BPF_JMP | BPF_EXIT},
	};
	static char vlog[4096];
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .log_buf = vlog, .log_size = sizeof(vlog), .log_level = 1);
	x->prog_fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "hl_xsk", "BSD", insns, sizeof(insns) / sizeof(insns[0]), &opts);
	if (x->prog_fd < 0)
		return hl_error(-errno, "afxdp %s: the kernel refuses the XDP program: %s%s %s", x->ifname,
				strerror(errno), errno == EPERM ? " (needs root: CAP_BPF)" : "", vlog);
	LIBBPF_OPTS(bpf_link_create_opts, lopts,
		    .flags = x->prm.mode == HL_AFXDP_MODE_NATIVE ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE);
	x->link_fd = bpf_link_create(x->prog_fd, (int)x->ifindex, BPF_XDP, &lopts);
	if (x->link_fd < 0) {
		int e = errno;
		return hl_error(e == EBUSY || e == EEXIST ? -EBUSY : e == EOPNOTSUPP || e == EINVAL ? -EOPNOTSUPP : -e,
				"afxdp %s: attaching the XDP program (%s mode): %s%s", x->ifname,
				x->prm.mode == HL_AFXDP_MODE_NATIVE ? "native" : "generic", strerror(e),
				e == EBUSY || e == EEXIST ? ": another XDP program is on the interface"
				: e == EOPNOTSUPP || e == EINVAL ? ": the driver has no native XDP; try --mode generic"
								  : "");
	}
	return 0;
}

/* ---- sockets ------------------------------------------------------------------ */

static int open_queue(struct hl_afxdp_port *x, unsigned qi, bool zc)
{
	struct queue *q = &x->q[qi];
	struct xsk_umem_config ucfg = {.fill_size = FILL_SIZE, .comp_size = HL_AFXDP_RING_SIZE,
				       .frame_size = HL_AFXDP_FRAME_SIZE, .frame_headroom = 0, .flags = 0};
	int rc = xsk_umem__create(&q->umem, q->area, UMEM_LEN, &q->fill, &q->comp, &ucfg);
	if (rc < 0)
		return hl_error(rc, "afxdp %s: UMEM for queue %u: %s%s", x->ifname, qi, strerror(-rc),
				rc == -EPERM ? " (needs root: CAP_NET_RAW, CAP_IPC_LOCK)" : "");
	struct xsk_socket_config scfg = {
		.rx_size = HL_AFXDP_RING_SIZE, .tx_size = HL_AFXDP_RING_SIZE,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.xdp_flags = x->prm.mode == HL_AFXDP_MODE_NATIVE ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE,
		.bind_flags = (uint16_t)(XDP_USE_NEED_WAKEUP | (zc ? XDP_ZEROCOPY : XDP_COPY))};
	for (int tries = 0; (rc = xsk_socket__create(&q->xsk, x->ifname, qi, q->umem, &q->rx, &q->tx, &scfg)) == -EBUSY &&
			    tries < BUSY_TRIES;
	     tries++)
		usleep(50000);
	if (rc < 0) {
		q->xsk = NULL;
		return hl_error(rc, "afxdp %s: XSK socket on queue %u (%s): %s%s", x->ifname, qi,
				zc ? "zero-copy" : "copy mode", strerror(-rc),
				rc == -EOPNOTSUPP && zc ? ": the driver has no AF_XDP zero-copy; use --zerocopy off or auto"
				: rc == -EPERM	   ? " (needs root: CAP_NET_RAW)"
				: rc == -EBUSY	   ? ": another AF_XDP socket holds the queue"
						   : "");
	}
	q->fd = xsk_socket__fd(q->xsk);
	int key = (int)qi;
	if (bpf_map_update_elem(x->map_fd, &key, &q->fd, 0) < 0)
		return hl_error(-errno, "afxdp %s: socket of queue %u into the XSKMAP: %s", x->ifname, qi,
				strerror(errno));
	/* every receive frame to the kernel at once; transmit frames on the stack */
	uint32_t idx;
	if (xsk_ring_prod__reserve(&q->fill, RX_FRAMES, &idx) != RX_FRAMES)
		return hl_error(-EIO, "afxdp %s: fill ring of queue %u is smaller than promised", x->ifname, qi);
	for (uint32_t f = 0; f < RX_FRAMES; f++) {
		*xsk_ring_prod__fill_addr(&q->fill, idx + f) = (uint64_t)f * HL_AFXDP_FRAME_SIZE;
		q->state[f] = F_KERN;
	}
	xsk_ring_prod__submit(&q->fill, RX_FRAMES);
	for (uint32_t f = 0; f < TX_FRAMES; f++) {
		q->tx_free[f] = RX_FRAMES + f;
		q->state[RX_FRAMES + f] = F_FREE;
	}
	q->ntx_free = TX_FRAMES;
	return 0;
}

static void close_queue(struct queue *q)
{
	if (q->xsk != NULL)
		xsk_socket__delete(q->xsk);
	if (q->umem != NULL)
		xsk_umem__delete(q->umem);
	q->xsk = NULL;
	q->umem = NULL;
}

/* What /sys says of the interface: its receive queues. */
static unsigned rx_queues(const char *ifname)
{
	char path[96];
	snprintf(path, sizeof(path), "/sys/class/net/%s/queues", ifname);
	DIR *d = opendir(path);
	unsigned n = 0;
	if (d == NULL)
		return 0;
	for (struct dirent *e; (e = readdir(d)) != NULL;)
		n += strncmp(e->d_name, "rx-", 3) == 0;
	closedir(d);
	return n;
}

static int if_mtu(const char *ifname, unsigned *mtu)
{
	struct ifreq ifr = {0};
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	int rc = ioctl(s, SIOCGIFMTU, &ifr) < 0 ? -errno : 0;
	close(s);
	*mtu = (unsigned)ifr.ifr_mtu;
	return rc;
}

/* Names of the zones of open ports in this process, so two live ports never share one. */
static char live_zones[64][HL_ZONE_NAME_LEN];

static bool zone_live(const char *z)
{
	for (unsigned i = 0; i < 64; i++)
		if (strcmp(live_zones[i], z) == 0)
			return true;
	return false;
}

static void zone_mark(const char *z, bool live)
{
	for (unsigned i = 0; i < 64; i++) {
		if (live ? live_zones[i][0] == '\0' : strcmp(live_zones[i], z) == 0) {
			snprintf(live_zones[i], sizeof(live_zones[i]), "%s", live ? z : "");
			return;
		}
	}
}

static int zone_for(struct hl_afxdp_port *x, uint64_t len)
{
	struct hl_pool_info in;
	uint64_t off, have;
	int rc = hl_pool_get_info(x->pool, &in);
	if (rc < 0)
		return rc;
	snprintf(x->zone, sizeof(x->zone), "x:%08x:%.20s", hl_crc32c(0, x->name, strlen(x->name)), x->name);
	if (zone_live(x->zone))
		return hl_error(-EEXIST, "afxdp %s: a port named %s is open", x->ifname, x->name);
	bool found = hl_pool_zone_lookup(x->pool, x->zone, &off, &have) == 0;
	if (found && have >= len) {
		/* a process killed with the port open left it; the kernel let go of it with the sockets */
		HL_LOG_INFO("afxdp %s: UMEM zone %s taken over from a previous run", x->ifname, x->zone);
	} else {
		if (found)
			hl_pool_zone_free(x->pool, x->zone);
		/* frames are 2048-aligned in a 4 KiB-aligned area: none crosses a page, whatever the pool's pages */
		rc = hl_pool_zone_reserve(x->pool, x->zone, len, 4096, 0, &off);
		if (rc < 0)
			return hl_error(rc, "afxdp %s: no room in pool %s for %llu MiB of UMEM: %s", x->ifname, in.name,
					(unsigned long long)(len >> 20), strerror(-rc));
	}
	x->zone_ours = true;
	zone_mark(x->zone, true);
	uint8_t *base = hl_pool_off2va(x->pool, off);
	for (unsigned i = 0; i < x->nq; i++)
		x->q[i].area = base + i * UMEM_LEN;
	return 0;
}

static int open_all(struct hl_afxdp_port *x)
{
	unsigned have = rx_queues(x->ifname), mtu = 0;
	if (have == 0)
		have = 1;
	if (x->nq > have)
		return hl_error(-EINVAL, "afxdp %s: %u queues asked, the interface has %u", x->ifname, x->nq, have);
	int rc = if_mtu(x->ifname, &mtu);
	if (rc < 0)
		return hl_error(rc, "afxdp %s: MTU: %s", x->ifname, strerror(-rc));
	x->max_frame = mtu + 14u < HL_AFXDP_FRAME_SIZE ? mtu + 14u : HL_AFXDP_FRAME_SIZE;
	if ((rc = zone_for(x, (uint64_t)x->nq * UMEM_LEN)) < 0)
		return rc;
	if ((rc = load_prog(x)) < 0)
		return rc;
	bool zc = x->prm.zerocopy != HL_AFXDP_ZC_OFF;
	for (unsigned i = 0; i < x->nq; i++) {
		rc = open_queue(x, i, zc);
		if (rc == -EOPNOTSUPP && zc && x->prm.zerocopy == HL_AFXDP_ZC_AUTO && i == 0) {
			HL_LOG_INFO("afxdp %s: no zero-copy in this driver, copy mode", x->ifname);
			close_queue(&x->q[0]);
			zc = false;
			rc = open_queue(x, i, zc);
		}
		if (rc < 0)
			return rc;
	}
	x->zerocopy = zc;
	return 0;
}

int hl_afxdp_port_open(struct hl_pool *pool, const struct hl_afxdp_params *prm, struct hl_afxdp_port **out)
{
	if (pool == NULL || prm == NULL || prm->ifname == NULL || prm->name == NULL || prm->name[0] == '\0' ||
	    strlen(prm->name) >= 32)
		return hl_error(-EINVAL, "afxdp: a pool, a port name and an interface are needed");
	if (strlen(prm->ifname) >= HL_AFXDP_IFNAMSIZ || prm->ifname[0] == '\0')
		return hl_error(-EINVAL, "afxdp: interface name \"%s\" is not 1..%d characters", prm->ifname,
				HL_AFXDP_IFNAMSIZ - 1);
	unsigned nq = prm->queues ? prm->queues : 1;
	if (nq > HL_AFXDP_MAX_QUEUES)
		return hl_error(-EINVAL, "afxdp %s: %u queues (at most %u)", prm->ifname, nq, HL_AFXDP_MAX_QUEUES);
	unsigned ifindex = if_nametoindex(prm->ifname);
	if (ifindex == 0)
		return hl_error(-ENODEV, "afxdp: no interface %s in this network namespace", prm->ifname);
	struct hl_afxdp_port *x = calloc(1, sizeof(*x) + nq * sizeof(struct queue));
	if (x == NULL)
		return hl_error(-ENOMEM, "afxdp %s: out of memory", prm->ifname);
	snprintf(x->name, sizeof(x->name), "%s", prm->name);
	snprintf(x->ifname, sizeof(x->ifname), "%s", prm->ifname);
	x->prm = *prm;
	x->prm.name = x->name;
	x->prm.ifname = x->ifname;
	x->prm.queues = nq;
	x->pool = pool;
	x->nq = nq;
	x->ifindex = ifindex;
	x->prog_fd = x->map_fd = x->link_fd = -1;
	int rc = open_all(x);
	if (rc < 0) {
		hl_afxdp_port_close(x);
		return rc;
	}
	HL_LOG_INFO("afxdp %s: %u queue(s), %s XDP, %s, %u UMEM frames in pool zone %s", x->ifname, nq,
		    prm->mode == HL_AFXDP_MODE_NATIVE ? "native" : "generic", x->zerocopy ? "zero-copy" : "copy mode",
		    nq * HL_AFXDP_FRAMES, x->zone);
	*out = x;
	return 0;
}

void hl_afxdp_port_close(struct hl_afxdp_port *x)
{
	if (x == NULL)
		return;
	/*
	 * The program first, so no frame is redirected to a socket being
	 * closed; then the sockets out of the map, whose references would
	 * otherwise keep them (and the queue) until the map is freed later.
	 */
	if (x->link_fd >= 0)
		close(x->link_fd);
	for (unsigned i = 0; i < x->nq; i++) {
		int key = (int)i;
		if (x->map_fd >= 0 && x->q[i].xsk != NULL)
			bpf_map_delete_elem(x->map_fd, &key);
		close_queue(&x->q[i]);
	}
	if (x->prog_fd >= 0)
		close(x->prog_fd);
	if (x->map_fd >= 0)
		close(x->map_fd);
	if (x->zone_ours) {
		zone_mark(x->zone, false);
		hl_pool_zone_free(x->pool, x->zone);
	}
	free(x);
}

/* ---- receive ------------------------------------------------------------------ */

static inline void kick_rx(struct hl_afxdp_port *x, struct queue *q)
{
	if (xsk_ring_prod__needs_wakeup(&q->fill)) {
		add(&x->st.kicks, 1);
		recvfrom(q->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
	}
}

static void kick_tx(struct hl_afxdp_port *x, struct queue *q)
{
	if (!xsk_ring_prod__needs_wakeup(&q->tx))
		return;
	add(&x->st.kicks, 1);
	if (sendto(q->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 && errno != EAGAIN && errno != EBUSY &&
	    errno != ENOBUFS && errno != EINTR) {
		add(&x->st.tx_errors, 1);
		HL_LOG_DEBUG("afxdp %s: transmit kick: %s", x->ifname, strerror(errno));
	}
}

/* Frame f of q handed back by the kernel at addr: its data, or NULL for a bad descriptor. */
static inline uint8_t *rx_frame(struct hl_afxdp_port *x, struct queue *q, uint64_t addr, uint32_t len, uint32_t *f)
{
	uint64_t base = addr & ~(uint64_t)(HL_AFXDP_FRAME_SIZE - 1);
	*f = (uint32_t)(base / HL_AFXDP_FRAME_SIZE);
	if (hl_unlikely(base >= (uint64_t)RX_FRAMES * HL_AFXDP_FRAME_SIZE ||
			(addr - base) + len > HL_AFXDP_FRAME_SIZE || q->state[*f] != F_KERN)) {
		add(&x->st.rx_bad_desc, 1);
		return NULL;
	}
	set_state(q, *f, F_HELD);
	return q->area + addr;
}

/* Frames read out go back on the fill ring, those that do not fit yet on the stash first. */
static void refill(struct queue *q, const uint32_t *back, unsigned nback)
{
	uint32_t fidx;
	if (nback > 0)
		memcpy(q->refill + q->nrefill, back, nback * sizeof(*back));
	q->nrefill += nback;
	unsigned k = xsk_prod_nb_free(&q->fill, q->nrefill);
	if (k > q->nrefill)
		k = q->nrefill;
	if (k == 0 || xsk_ring_prod__reserve(&q->fill, k, &fidx) != k)
		return;
	for (uint32_t i = 0; i < k; i++) {
		uint32_t f = q->refill[q->nrefill - k + i];
		*xsk_ring_prod__fill_addr(&q->fill, fidx + i) = (uint64_t)f * HL_AFXDP_FRAME_SIZE;
		set_state(q, f, F_KERN);
	}
	xsk_ring_prod__submit(&q->fill, k);
	q->nrefill -= k;
}

static uint16_t rx_queue(struct hl_afxdp_port *x, struct queue *q, struct hl_bufpool *bp, struct hl_buf **pkts,
			 uint16_t n)
{
	uint32_t idx, back[BURST], nback = 0;
	uint16_t got = 0;
	uint64_t bytes = 0, nobuf = 0;
	unsigned k = xsk_ring_cons__peek(&q->rx, n, &idx);
	if (k == 0) {
		if (q->nrefill > 0)
			refill(q, NULL, 0);
		kick_rx(x, q);
		return 0;
	}
	struct hl_buf *bufs[BURST];
	unsigned nb = hl_buf_alloc_bulk(bp, bufs, k) == 0 ? k : 0;
	for (unsigned i = 0; i < k; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&q->rx, idx + i);
		uint32_t f, len = d->len;
		const uint8_t *src = rx_frame(x, q, d->addr, len, &f);
		if (src == NULL)
			continue;
		back[nback++] = f;
		struct hl_buf *b = i < nb ? bufs[i] : (nb == 0 ? hl_buf_alloc(bp) : NULL);
		if (hl_unlikely(b == NULL)) {
			nobuf++;
			continue;
		}
		if (hl_unlikely(len > hl_buf_tailroom(b) || len < 14)) {
			add(&x->st.rx_bad_desc, 1);
			if (i >= nb)
				hl_buf_free(b);
			continue;
		}
		memcpy(hl_buf_data(b), src, len);
		b->data_len = b->pkt_len = len;
		bytes += len;
		pkts[got++] = b;
		if (i < nb)
			bufs[i] = NULL;
	}
	if (nb > 0)
		hl_buf_free_bulk(bufs, nb);
	xsk_ring_cons__release(&q->rx, k);
	refill(q, back, nback);
	kick_rx(x, q);
	add(&x->st.rx_no_buf, nobuf);
	add(&x->st.rx_packets, got);
	add(&x->st.rx_bytes, bytes);
	return got;
}

uint16_t hl_afxdp_rx_burst(struct hl_afxdp_port *x, struct hl_bufpool *bp, struct hl_buf **pkts, uint16_t n)
{
	if (hl_unlikely(x == NULL || bp == NULL || pkts == NULL))
		return 0;
	if (n > BURST)
		n = BURST;
	/* a transmit ring the kernel left with frames in it (copy mode sends per kick) */
	struct queue *q0 = &x->q[0];
	if (__atomic_load_n(q0->tx.consumer, __ATOMIC_ACQUIRE) != __atomic_load_n(q0->tx.producer, __ATOMIC_RELAXED))
		kick_tx(x, q0);
	uint16_t got = 0;
	for (unsigned i = 0; i < x->nq && got < n; i++) {
		struct queue *q = &x->q[(x->rx_next + i) % x->nq];
		got = (uint16_t)(got + rx_queue(x, q, bp, pkts + got, (uint16_t)(n - got)));
	}
	x->rx_next = (x->rx_next + 1) % x->nq;
	return got;
}

bool hl_afxdp_rx_pending(const struct hl_afxdp_port *x)
{
	for (unsigned i = 0; i < x->nq; i++) {
		const struct xsk_ring_cons *r = &x->q[i].rx;
		if (__atomic_load_n(r->producer, __ATOMIC_ACQUIRE) != *r->consumer)
			return true;
	}
	return false;
}

/* ---- transmit ----------------------------------------------------------------- */

/* Completed frames back on the free stack. */
static void reclaim(struct hl_afxdp_port *x, struct queue *q)
{
	uint32_t idx;
	unsigned k = xsk_ring_cons__peek(&q->comp, TX_FRAMES, &idx);
	for (unsigned i = 0; i < k; i++) {
		uint64_t addr = *xsk_ring_cons__comp_addr(&q->comp, idx + i);
		uint32_t f = (uint32_t)(addr / HL_AFXDP_FRAME_SIZE);
		if (hl_unlikely(f < RX_FRAMES || f >= HL_AFXDP_FRAMES || q->state[f] != F_KERN)) {
			add(&x->st.rx_bad_desc, 1);
			continue;
		}
		set_state(q, f, F_FREE);
		q->tx_free[q->ntx_free++] = f;
		__atomic_store_n(&q->tx_inflight, q->tx_inflight - 1, __ATOMIC_RELAXED);
	}
	if (k > 0)
		xsk_ring_cons__release(&q->comp, k);
}

uint16_t hl_afxdp_tx_burst(struct hl_afxdp_port *x, struct hl_buf **pkts, uint16_t n, uint64_t *bytes)
{
	if (hl_unlikely(x == NULL || pkts == NULL))
		return 0;
	struct queue *q = &x->q[0];
	uint64_t sent_bytes = 0, too_big = 0, errors = 0;
	unsigned sent = 0;
	reclaim(x, q);
	while (n > 0 && q->ntx_free > 0) {
		unsigned take = n < BURST ? n : BURST, m = 0;
		if (take > q->ntx_free)
			take = q->ntx_free;
		uint32_t idx;
		/* as many slots as free frames: the ring is as large as all of them */
		if (xsk_ring_prod__reserve(&q->tx, take, &idx) != take)
			break;
		for (unsigned k = 0; k < take; k++) {
			struct iovec iov[HL_AFXDP_FRAME_SIZE / 64];
			unsigned niov = 0;
			uint64_t len = pkts[k] != NULL ? hl__chain_iov(pkts[k], iov, HL_AFXDP_FRAME_SIZE / 64, &niov)
						       : UINT64_MAX;
			if (hl_unlikely(len < 14 || len == UINT64_MAX)) {
				errors++;
				continue;
			}
			if (hl_unlikely(len > x->max_frame)) {
				too_big++;
				continue;
			}
			uint32_t f = q->tx_free[--q->ntx_free];
			uint8_t *dst = q->area + (uint64_t)f * HL_AFXDP_FRAME_SIZE;
			for (unsigned s = 0; s < niov; s++) {
				memcpy(dst, iov[s].iov_base, iov[s].iov_len);
				dst += iov[s].iov_len;
			}
			struct xdp_desc *d = xsk_ring_prod__tx_desc(&q->tx, idx + m++);
			d->addr = (uint64_t)f * HL_AFXDP_FRAME_SIZE;
			d->len = (uint32_t)len;
			d->options = 0;
			set_state(q, f, F_KERN);
			sent_bytes += len;
		}
		/* slots reserved for frames that were skipped are given back (libxdp has no producer cancel;
		 * reserved, unsubmitted slots are only in our cached index) */
		if (m < take)
			q->tx.cached_prod -= take - m;
		if (m > 0)
			xsk_ring_prod__submit(&q->tx, m);
		__atomic_store_n(&q->tx_inflight, q->tx_inflight + m, __ATOMIC_RELAXED);
		sent += m;
		pkts += take;
		n = (uint16_t)(n - take);
	}
	if (sent > 0) {
		kick_tx(x, q);
		reclaim(x, q); /* in copy mode the kick sent them: their frames are free again */
	}
	if (n > 0 && q->ntx_free == 0)
		add(&x->st.tx_no_frame, n);
	add(&x->st.tx_too_big, too_big);
	add(&x->st.tx_errors, errors);
	add(&x->st.tx_packets, sent);
	add(&x->st.tx_bytes, sent_bytes);
	*bytes += sent_bytes;
	return (uint16_t)sent;
}

/* ---- the control thread's view -------------------------------------------------- */

unsigned hl_afxdp_port_fds(const struct hl_afxdp_port *x, int *fds, unsigned max)
{
	unsigned k = 0;
	for (unsigned i = 0; i < x->nq && k < max; i++)
		fds[k++] = x->q[i].fd;
	return k;
}

uint32_t hl_afxdp_max_frame(const struct hl_afxdp_port *x)
{
	return x->max_frame;
}

void hl_afxdp_port_params(const struct hl_afxdp_port *x, struct hl_afxdp_params *prm)
{
	*prm = x->prm;
}

void hl_afxdp_port_stats(const struct hl_afxdp_port *x, struct hl_afxdp_stats *st)
{
	memset(st, 0, sizeof(*st));
#define LOAD(f) st->f = __atomic_load_n(&x->st.f, __ATOMIC_RELAXED)
	LOAD(rx_packets), LOAD(rx_bytes), LOAD(tx_packets), LOAD(tx_bytes), LOAD(rx_no_buf), LOAD(rx_bad_desc);
	LOAD(tx_too_big), LOAD(tx_no_frame), LOAD(tx_errors), LOAD(kicks);
#undef LOAD
	/* where every frame is, from the per-frame states: exact while the port is idle */
	for (unsigned i = 0; i < x->nq; i++) {
		struct xdp_statistics ks;
		socklen_t len = sizeof(ks);
		if (getsockopt(x->q[i].fd, SOL_XDP, XDP_STATISTICS, &ks, &len) == 0) {
			st->kern_rx_dropped += ks.rx_dropped;
			st->kern_rx_ring_full += ks.rx_ring_full;
			st->kern_fill_empty += ks.rx_fill_ring_empty_descs;
			st->kern_invalid_descs += ks.rx_invalid_descs + ks.tx_invalid_descs;
		}
		for (unsigned f = 0; f < HL_AFXDP_FRAMES; f++) {
			uint8_t s = __atomic_load_n(&x->q[i].state[f], __ATOMIC_RELAXED);
			st->frames++;
			st->frames_free += s == F_FREE;
			st->frames_fill += (s == F_KERN || s == F_HELD) && f < RX_FRAMES; /* HELD: the stash */
			st->frames_tx += s == F_KERN && f >= RX_FRAMES;
		}
	}
	st->zerocopy = x->zerocopy;
}
