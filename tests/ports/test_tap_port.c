/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TAP port against the real host kernel: the interface comes and goes with
 * the port; the kernel answers an ARP request and a ping sent from the port
 * (the ping gathered from a two-segment chain, the reply read into chained
 * small buffers too); malformed frames to send are counted and skipped; a
 * frame that arrives while the bufpool is empty is consumed and counted.
 * Every case ends with all buffers back in the bufpool.
 *
 * Needs root (CAP_NET_ADMIN) and /dev/net/tun. Each run uses its own /30 in
 * 10.201.0.0/16, picked from the pid. The kernel also sends frames of its own
 * on a fresh link (IPv6 router and neighbour solicitations, MLD reports):
 * the waits below take the frame they expect and drop the rest.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <hugelink/buf.h>
#include <hugelink/tap_port.h>

#include "hl_test.h"
#include "net_bytes.h"

#define MB (1ull << 20)
#define WAIT_MS 2000

static const uint8_t our_mac[6] = {0x02, 0x68, 0x6c, 0x00, 0x00, 0x01};

/* Has the machine what the TAP cases need? */
static bool tap_ok(void)
{
	return geteuid() == 0 && access("/dev/net/tun", R_OK | W_OK) == 0;
}

#define NEED_TAP() HL_TEST_NEED(tap_ok(), "root and /dev/net/tun (TAP devices)")

struct env {
	struct hl_pool *pool;
	struct hl_bufpool *bp;
	struct hl_tap_port tap;
	uint32_t kern_ip, our_ip; /* host order */
	uint8_t kern_mac[6];
};

static int env_pool(struct env *e, unsigned data_room)
{
	static unsigned seq;
	char name[32];
	int rc;

	snprintf(name, sizeof(name), "t-tap%u-%d", seq++, (int)getpid());
	struct hl_pool_params prm = {.name = name, .size = 8 * MB, .run_dir = hl_test_tmpdir(),
				     .flags = HL_POOL_F_NO_HUGE};
	rc = hl_pool_create(&prm, &e->pool);
	if (rc < 0)
		return rc;
	rc = hl_bufpool_create(e->pool, "tap", 256, data_room, 0, &e->bp);
	if (rc < 0) {
		hl_pool_destroy(e->pool);
		e->pool = NULL;
	}
	return rc;
}

static void env_free(struct env *e)
{
	hl_tap_port_close(&e->tap);
	if (e->bp != NULL) {
		CHECK_EQ(hl_bufpool_in_use(e->bp), 0);
		hl_bufpool_free(e->bp);
	}
	if (e->pool != NULL)
		CHECK_EQ(hl_pool_destroy(e->pool), 0);
}

static int set_in_addr(int s, const char *ifname, unsigned long req, uint32_t addr)
{
	struct ifreq ifr;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(addr)};

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	memcpy(&ifr.ifr_addr, &sin, sizeof(sin));
	return ioctl(s, req, &ifr) < 0 ? -errno : 0;
}

/* Open the port, give the kernel side an address in a /30 of its own, learn its MAC. */
static int env_open(struct env *e, unsigned data_room)
{
	int rc = env_pool(e, data_room);
	if (rc < 0)
		return rc;
	rc = hl_tap_port_open(&e->tap, "hlt%d");
	if (rc < 0)
		return rc;
	unsigned pid = (unsigned)getpid();
	uint32_t net = 10u << 24 | 201u << 16 | ((pid >> 6) & 0xff) << 8 | (pid & 0x3f) << 2;
	e->kern_ip = net + 1;
	e->our_ip = net + 2;

	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	rc = set_in_addr(s, e->tap.ifname, SIOCSIFADDR, e->kern_ip);
	if (rc == 0)
		rc = set_in_addr(s, e->tap.ifname, SIOCSIFNETMASK, 0xfffffffcu);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", e->tap.ifname);
	if (rc == 0 && ioctl(s, SIOCGIFHWADDR, &ifr) < 0)
		rc = -errno;
	memcpy(e->kern_mac, ifr.ifr_hwaddr.sa_data, 6);
	close(s);
	return rc;
}

/* env_open, or fail the test loudly (with the reason) and leave nothing behind. */
static bool env_ready(struct env *e, unsigned data_room)
{
	int rc = env_open(e, data_room);
	if (rc < 0) {
		hl_test_fail(__FILE__, __LINE__, "setting up the tap: %s (%s)", hl_test_strerror(rc), hl_last_error());
		env_free(e);
		return false;
	}
	return true;
}

/* ---- frames ---------------------------------------------------------------- */

/* The inverted RFC 1071 sum, as an IPv4 or ICMP header carries it. */
static uint16_t csum(const void *p, size_t len)
{
	return (uint16_t)~ref_sum(p, len, 0);
}

/* An ARP packet (42 bytes) from us. */
static size_t build_arp(uint8_t *f, uint16_t op, const uint8_t *dst_mac, const uint8_t *tha,
			uint32_t sip, uint32_t tip)
{
	memcpy(f, dst_mac, 6);
	memcpy(f + 6, our_mac, 6);
	put16(f + 12, 0x0806);
	put16(f + 14, 1);      /* Ethernet */
	put16(f + 16, 0x0800); /* IPv4 */
	f[18] = 6;
	f[19] = 4;
	put16(f + 20, op);
	memcpy(f + 22, our_mac, 6);
	put32(f + 28, sip);
	memcpy(f + 32, tha, 6);
	put32(f + 38, tip);
	return 42;
}

/* Ethernet + IPv4 + ICMP echo headers (42 bytes) for `plen` bytes of payload. */
static size_t build_echo_hdr(uint8_t *f, const struct env *e, uint16_t id, uint16_t seq,
			     const uint8_t *payload, uint16_t plen)
{
	uint8_t *ip = f + 14, *icmp = ip + 20;

	memcpy(f, e->kern_mac, 6);
	memcpy(f + 6, our_mac, 6);
	put16(f + 12, 0x0800);
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + 8 + plen));
	put16(ip + 4, seq);
	put16(ip + 6, 0x4000); /* DF */
	ip[8] = 64;
	ip[9] = 1; /* ICMP */
	put32(ip + 12, e->our_ip);
	put32(ip + 16, e->kern_ip);
	put16(ip + 10, csum(ip, 20));

	/* the ICMP checksum covers the payload, which travels in its own segment */
	uint8_t *tmp = malloc(8u + plen);
	tmp[0] = 8;
	tmp[1] = 0;
	put16(tmp + 2, 0);
	put16(tmp + 4, id);
	put16(tmp + 6, seq);
	memcpy(tmp + 8, payload, plen);
	put16(tmp + 2, csum(tmp, 8u + plen));
	memcpy(icmp, tmp, 8);
	free(tmp);
	return 42;
}

static struct hl_buf *frame_buf(struct hl_bufpool *bp, const uint8_t *f, size_t len)
{
	struct hl_buf *b = hl_buf_alloc(bp);
	if (b == NULL || hl_buf_tailroom(b) < len) {
		hl_buf_free(b);
		return NULL;
	}
	memcpy(hl_buf_data(b), f, len);
	b->data_len = b->pkt_len = (uint32_t)len;
	return b;
}

/* Gather a received chain into flat memory; its length (capped at cap). */
static size_t flatten(const struct hl_buf *b, uint8_t *out, size_t cap)
{
	size_t n = 0;
	for (; b != NULL; b = b->next) {
		size_t k = b->data_len;
		if (n + k > cap)
			k = cap - n;
		memcpy(out + n, hl_buf_data(b), k);
		n += k;
	}
	return n;
}

typedef bool (*frame_match)(struct env *e, const uint8_t *f, size_t len, const void *arg);

/*
 * Receive until `match` accepts a frame or WAIT_MS pass. The kernel's own
 * ARP requests for us are answered on the way; everything else is dropped.
 * The matched frame is copied to out (its length returned, 0 on timeout);
 * *segs gets its segment count.
 */
static size_t wait_frame(struct env *e, frame_match match, const void *arg, uint8_t *out,
			 size_t cap, unsigned *segs)
{
	uint64_t deadline = hl_now_ns() + WAIT_MS * 1000000ull;
	size_t got = 0;
	uint8_t *f = malloc(HL_TAP_MAX_FRAME);

	while (got == 0) {
		uint64_t now = hl_now_ns();
		if (now >= deadline)
			break;
		struct pollfd pfd = {.fd = hl_tap_port_fd(&e->tap), .events = POLLIN};
		if (poll(&pfd, 1, (int)((deadline - now) / 1000000 + 1)) <= 0)
			continue;
		struct hl_buf *pkts[16];
		uint16_t n = hl_tap_rx_burst(&e->tap, e->bp, pkts, 16);
		for (uint16_t k = 0; k < n; k++) {
			size_t len = flatten(pkts[k], f, HL_TAP_MAX_FRAME);
			CHECK_EQ(len, pkts[k]->pkt_len);
			if (got == 0 && match(e, f, len, arg)) {
				got = len < cap ? len : cap;
				memcpy(out, f, got);
				if (segs)
					*segs = pkts[k]->nb_segs;
			} else if (len >= 42 && get16(f + 12) == 0x0806 && get16(f + 20) == 1 &&
				   get32(f + 38) == e->our_ip) {
				uint8_t r[64];
				size_t rl = build_arp(r, 2, f + 6, f + 22, e->our_ip, get32(f + 28));
				struct hl_buf *b = frame_buf(e->bp, r, rl);
				if (b != NULL) {
					CHECK_EQ(hl_tap_tx_burst(&e->tap, &b, 1), 1);
					hl_buf_free(b);
				}
			}
		}
		hl_buf_free_bulk(pkts, n);
	}
	free(f);
	return got;
}

static bool is_arp_reply(struct env *e, const uint8_t *f, size_t len, const void *arg)
{
	(void)arg;
	return len >= 42 && get16(f + 12) == 0x0806 && get16(f + 20) == 2 &&
	       get32(f + 28) == e->kern_ip && get32(f + 38) == e->our_ip;
}

struct echo_id {
	uint16_t id, seq;
};

static bool is_echo_reply(struct env *e, const uint8_t *f, size_t len, const void *arg)
{
	const struct echo_id *q = arg;
	const uint8_t *ip = f + 14;
	return len >= 42 && get16(f + 12) == 0x0800 && (ip[0] >> 4) == 4 && ip[9] == 1 &&
	       get32(ip + 12) == e->kern_ip && get32(ip + 16) == e->our_ip &&
	       len >= 14u + (ip[0] & 15u) * 4 + 8 && ip[(ip[0] & 15) * 4] == 0 &&
	       get16(ip + (ip[0] & 15) * 4 + 4) == q->id && get16(ip + (ip[0] & 15) * 4 + 6) == q->seq;
}

/* ARP for the kernel's address; true when its reply came back through the port. */
static bool arp_kernel(struct env *e)
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t zero[6] = {0};
	uint8_t f[64], r[128];

	size_t len = build_arp(f, 1, bcast, zero, e->our_ip, e->kern_ip);
	struct hl_buf *b = frame_buf(e->bp, f, len);
	if (b == NULL)
		return false;
	uint16_t sent = hl_tap_tx_burst(&e->tap, &b, 1);
	hl_buf_free(b);
	if (sent != 1)
		return false;
	size_t rl = wait_frame(e, is_arp_reply, NULL, r, sizeof(r), NULL);
	if (rl == 0)
		return false;
	/* the reply is from the interface's own MAC, to ours */
	CHECK_EQ(memcmp(r, our_mac, 6), 0);
	CHECK_EQ(memcmp(r + 22, e->kern_mac, 6), 0);
	CHECK_EQ(memcmp(r + 32, our_mac, 6), 0);
	return true;
}

/*
 * Ping the kernel with plen bytes of payload, sent as a chain: the headers in
 * one segment, the payload in as many as its buffers need. Check the reply's
 * checksums and payload. Returns the reply's segment count, 0 if none came.
 */
static unsigned ping_kernel(struct env *e, uint16_t seq, uint16_t plen)
{
	uint8_t *payload = malloc(plen), *r = malloc(HL_TAP_MAX_FRAME);
	uint8_t hdr[64];
	struct echo_id q = {.id = (uint16_t)getpid(), .seq = seq};
	unsigned segs = 0, want_segs = 1;

	for (unsigned i = 0; i < plen; i++)
		payload[i] = (uint8_t)(i * 7 + seq);
	size_t hl = build_echo_hdr(hdr, e, q.id, seq, payload, plen);
	struct hl_buf *h = frame_buf(e->bp, hdr, hl);
	if (h == NULL) {
		hl_test_fail(__FILE__, __LINE__, "no buffer for the echo request");
		goto out;
	}
	for (uint16_t off = 0; off < plen;) {
		struct hl_buf *p = hl_buf_alloc(e->bp);
		if (p == NULL) {
			hl_test_fail(__FILE__, __LINE__, "no buffers for the echo payload");
			hl_buf_free(h);
			goto out;
		}
		uint32_t k = hl_buf_tailroom(p);
		if (k > (uint32_t)(plen - off))
			k = (uint32_t)(plen - off);
		memcpy(hl_buf_data(p), payload + off, k);
		p->data_len = k;
		CHECK_EQ(hl_buf_chain(h, p), 0);
		off = (uint16_t)(off + k);
		want_segs++;
	}
	CHECK_EQ(h->nb_segs, want_segs);
	CHECK_EQ(h->pkt_len, 42u + plen);
	uint16_t sent = hl_tap_tx_burst(&e->tap, &h, 1);
	hl_buf_free(h);
	CHECK_EQ(sent, 1);

	size_t rl = wait_frame(e, is_echo_reply, &q, r, HL_TAP_MAX_FRAME, &segs);
	if (rl == 0)
		goto out;
	const uint8_t *ip = r + 14;
	size_t ihl = (ip[0] & 15u) * 4;
	CHECK_EQ(csum(ip, ihl), 0);
	CHECK_EQ(get16(ip + 2), ihl + 8 + plen);
	CHECK(rl >= 14 + ihl + 8 + plen);
	if (rl >= 14 + ihl + 8 + plen) {
		CHECK_EQ(csum(ip + ihl, 8u + plen), 0);
		CHECK_EQ(memcmp(ip + ihl + 8, payload, plen), 0);
	}
	CHECK_EQ(memcmp(r, our_mac, 6), 0);
out:
	free(payload);
	free(r);
	return segs;
}

/* ---- cases ----------------------------------------------------------------- */

static bool if_is_up(const char *name)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool up = false;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0)
		up = ifr.ifr_flags & IFF_UP;
	if (s >= 0)
		close(s);
	return up;
}

HL_TEST(open_close_leaves_no_interface)
{
	struct hl_tap_port t;
	char name[HL_TAP_IFNAMSIZ];

	NEED_TAP();
	/* the kernel picks the name */
	REQUIRE_OK(hl_tap_port_open(&t, NULL));
	CHECK(strncmp(t.ifname, "hl", 2) == 0);
	CHECK(t.fd >= 0);
	CHECK_EQ(hl_tap_port_fd(&t), t.fd);
	CHECK(fcntl(t.fd, F_GETFL) & O_NONBLOCK);
	CHECK(fcntl(t.fd, F_GETFD) & FD_CLOEXEC);
	CHECK_EQ(if_nametoindex(t.ifname), t.ifindex);
	CHECK(t.ifindex != 0);
	CHECK(if_is_up(t.ifname));
	snprintf(name, sizeof(name), "%s", t.ifname);
	hl_tap_port_close(&t);
	CHECK_EQ(if_nametoindex(name), 0);
	CHECK_EQ(hl_tap_port_fd(&t), -1);
	hl_tap_port_close(&t); /* twice is harmless */

	/* a fixed name, kept as given */
	snprintf(name, sizeof(name), "hltap%u", (unsigned)getpid() % 100000);
	REQUIRE_OK(hl_tap_port_open(&t, name));
	CHECK(strcmp(t.ifname, name) == 0);
	CHECK(if_nametoindex(name) != 0);
	hl_tap_port_close(&t);
	CHECK_EQ(if_nametoindex(name), 0);

	/* many in a row leave nothing either */
	for (unsigned i = 0; i < 8; i++) {
		REQUIRE_OK(hl_tap_port_open(&t, ""));
		snprintf(name, sizeof(name), "%s", t.ifname);
		hl_tap_port_close(&t);
		CHECK_EQ(if_nametoindex(name), 0);
	}
}

HL_TEST(open_refuses_bad_input)
{
	struct hl_tap_port t, z;

	NEED_TAP();
	CHECK_EQ(hl_tap_port_open(NULL, NULL), -EINVAL);
	CHECK_EQ(hl_tap_port_open(&t, "a-name-much-too-long-for-linux"), -EINVAL);
	CHECK_STR_HAS(hl_last_error(), "name");
	CHECK_EQ(t.fd, -1);
	CHECK_EQ(hl_tap_port_fd(&t), -1);
	CHECK(hl_tap_port_open(&t, "bad name") < 0); /* the kernel refuses spaces */
	CHECK_EQ(t.fd, -1);
	/* "lo" exists and is no TAP */
	CHECK(hl_tap_port_open(&t, "lo") < 0);
	CHECK_EQ(t.fd, -1);
	CHECK(if_nametoindex("lo") != 0);
	hl_tap_port_close(&t);
	/* a zeroed, never opened port: close must not close fd 0 */
	memset(&z, 0, sizeof(z));
	hl_tap_port_close(&z);
	CHECK(fcntl(0, F_GETFD) >= 0 || errno != EBADF);
	/* the data path on a closed port does nothing */
	struct hl_buf *pkts[1] = {NULL};
	CHECK_EQ(hl_tap_rx_burst(&t, NULL, pkts, 1), 0);
	CHECK_EQ(hl_tap_tx_burst(&t, pkts, 1), 0);
	CHECK_EQ(hl_tap_rx_burst(NULL, NULL, pkts, 1), 0);
	CHECK_EQ(hl_tap_tx_burst(NULL, pkts, 1), 0);
}

HL_TEST(kernel_answers_arp_and_ping)
{
	struct env e = {0};

	NEED_TAP();
	if (!env_ready(&e, 2048))
		return;
	CHECK(arp_kernel(&e));
	CHECK_EQ(ping_kernel(&e, 1, 56), 1);    /* fits one buffer */
	CHECK_EQ(ping_kernel(&e, 2, 1400), 1);  /* still one */
	CHECK(e.tap.stats.rx_packets >= 3);
	CHECK(e.tap.stats.tx_packets >= 3);
	CHECK(e.tap.stats.rx_bytes >= 42 + 2 * 42 + 56 + 1400);
	CHECK_EQ(e.tap.stats.tx_errors, 0);
	CHECK_EQ(e.tap.stats.rx_drop_nobuf, 0);
	env_free(&e);
}

HL_TEST(long_frames_chain_over_small_buffers)
{
	struct env e = {0};

	NEED_TAP();
	/* 256-byte rooms: 128 bytes of tailroom each */
	if (!env_ready(&e, 256))
		return;
	CHECK(arp_kernel(&e));
	/* 42 + 100 bytes: two segments; 42 + 1400: twelve */
	CHECK_EQ(ping_kernel(&e, 3, 100), 2);
	CHECK_EQ(ping_kernel(&e, 4, 1400), (42 + 1400 + 127) / 128);
	CHECK_EQ(e.tap.stats.rx_drop_nobuf, 0);
	env_free(&e);
}

HL_TEST(bad_frames_to_send_are_counted)
{
	struct env e = {0};
	uint8_t f[64];

	NEED_TAP();
	if (!env_ready(&e, 2048))
		return;
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t zero[6] = {0};
	size_t len = build_arp(f, 1, bcast, zero, e.our_ip, e.kern_ip);

	struct hl_buf *pkts[6];
	pkts[0] = frame_buf(e.bp, f, len);
	pkts[1] = NULL;                     /* no buffer at all */
	pkts[2] = frame_buf(e.bp, f, 10);   /* shorter than an Ethernet header */
	pkts[3] = frame_buf(e.bp, f, len);
	pkts[3]->data_len = pkts[3]->buf_len; /* runs past the end of its buffer */
	pkts[4] = frame_buf(e.bp, f, len);
	/* a chain that loops back on itself */
	pkts[5] = frame_buf(e.bp, f, len);
	pkts[5]->next = pkts[5];
	REQUIRE(pkts[0] && pkts[2] && pkts[4] && pkts[5]);
	CHECK_EQ(hl_tap_tx_burst(&e.tap, pkts, 6), 2);
	CHECK_EQ(e.tap.stats.tx_errors, 4);
	CHECK_EQ(e.tap.stats.tx_packets, 2);
	CHECK_EQ(e.tap.stats.tx_bytes, 2 * len);
	pkts[5]->next = NULL;
	pkts[3]->data_len = (uint32_t)len;
	hl_buf_free_bulk(pkts, 6);
	/* both good requests are answered */
	uint8_t r[128];
	CHECK(wait_frame(&e, is_arp_reply, NULL, r, sizeof(r), NULL) > 0);
	env_free(&e);
}

HL_TEST(frame_without_buffer_is_consumed_and_counted)
{
	struct env e = {0};

	NEED_TAP();
	if (!env_ready(&e, 2048))
		return;
	CHECK(arp_kernel(&e));

	/* an echo request, then every buffer taken: the reply has nowhere to go */
	static struct hl_buf *all[256];
	uint8_t hdr[128], payload[32] = {1, 2, 3};
	size_t hl = build_echo_hdr(hdr, &e, 77, 9, payload, sizeof(payload));
	memcpy(hdr + hl, payload, sizeof(payload));
	struct hl_buf *req = frame_buf(e.bp, hdr, hl + sizeof(payload));
	REQUIRE(req != NULL);
	unsigned n = 0;
	while (n < HL_ARRAY_SIZE(all) && (all[n] = hl_buf_alloc(e.bp)) != NULL)
		n++;
	CHECK_EQ(hl_bufpool_in_use(e.bp), 256);
	CHECK_EQ(hl_tap_tx_burst(&e.tap, &req, 1), 1);

	/* drain whatever arrives for a while: all of it is dropped for lack of buffers */
	struct hl_buf *pkts[8];
	uint64_t deadline = hl_now_ns() + 500 * 1000000ull;
	unsigned got = 0;
	while (hl_now_ns() < deadline) {
		struct pollfd pfd = {.fd = hl_tap_port_fd(&e.tap), .events = POLLIN};
		if (poll(&pfd, 1, 100) > 0)
			got += hl_tap_rx_burst(&e.tap, e.bp, pkts, 8);
	}
	CHECK_EQ(got, 0);
	CHECK(e.tap.stats.rx_drop_nobuf >= 1);
	hl_buf_free(req);
	hl_buf_free_bulk(all, n);

	/* buffers back: the port works again */
	CHECK_EQ(ping_kernel(&e, 10, 64), 1);
	env_free(&e);
}
