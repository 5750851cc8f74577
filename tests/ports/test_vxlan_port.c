/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * VXLAN port over loopback: what goes on the wire (the VXLAN header with
 * its I flag and VNI, the frame behind it unchanged, the UDP source port
 * from the inner flow), two ports exchanging bursts, hostile datagrams
 * (truncated, no I flag, wrong VNI, runt and oversized inner frames, an
 * unknown source) counted by reason with no frame handed over, frames the
 * port cannot send counted, a datagram that arrives with no buffer free
 * consumed and counted, flood and learn over two remotes (broadcast and
 * unknown destinations to both, a MAC learned behind one to that one
 * only), and parameters refused. Every case ends with all
 * buffers back in the bufpool.
 *
 * Needs root (a raw IPv4 socket sends). Addresses are 127.0.0.1-3, the UDP
 * port is picked from the pid so two runs do not meet.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <hugelink/buf.h>
#include <hugelink/vxlan_port.h>

#include "hl_test.h"

#define MB (1ull << 20)
#define WAIT_MS 2000
#define VNI 0x123456u

static uint16_t test_port(void)
{
	return (uint16_t)(20000 + getpid() % 20000);
}

static uint32_t lo(unsigned last)
{
	return htonl(0x7f000000u | last);
}

struct env {
	struct hl_pool *pool;
	struct hl_bufpool *bp;
};

static int env_init(struct env *e, unsigned nbufs)
{
	static unsigned seq;
	char name[32];
	snprintf(name, sizeof(name), "t-vx%u-%d", seq++, (int)getpid());
	struct hl_pool_params prm = {.name = name, .size = 8 * MB, .run_dir = hl_test_tmpdir(),
				     .flags = HL_POOL_F_NO_HUGE};
	int rc = hl_pool_create(&prm, &e->pool);
	if (rc < 0)
		return rc;
	rc = hl_bufpool_create(e->pool, "vx", nbufs, 2048, 0, &e->bp);
	if (rc < 0)
		hl_pool_destroy(e->pool);
	return rc;
}

static void env_free(struct env *e)
{
	CHECK_EQ(hl_bufpool_in_use(e->bp), 0);
	hl_bufpool_free(e->bp);
	CHECK_EQ(hl_pool_destroy(e->pool), 0);
}

static int open_port(uint32_t local, uint32_t remote, struct hl_vxlan_port **vx)
{
	struct hl_vxlan_params prm = {.remote = {remote}, .local = local, .vni = VNI, .dstport = test_port()};
	return hl_vxlan_port_open(&prm, vx);
}

/* A plain UDP socket on addr:port, standing in for a remote tunnel end. */
static int udp_sock(uint32_t addr, uint16_t port)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = addr};
	if (s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(s);
		return -1;
	}
	return s;
}

/* A bufpool, a port from 127.0.0.1 to 127.0.0.2 and a UDP socket as that remote. */
static int env_with_peer(struct env *e, struct hl_vxlan_port **vx, int *peer)
{
	int rc = env_init(e, 256);
	if (rc < 0)
		return rc;
	*peer = udp_sock(lo(2), test_port());
	if (*peer < 0)
		return hl_error(-errno, "UDP socket on 127.0.0.2: %s", strerror(errno));
	return open_port(lo(1), lo(2), vx);
}

static bool readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, WAIT_MS) == 1;
}

/* An IPv4/TCP frame of len bytes from sport, payload from seed. */
static struct hl_buf *tcp_frame(struct hl_bufpool *bp, unsigned len, uint16_t sport, uint8_t seed)
{
	struct hl_buf *b = hl_buf_alloc(bp);
	if (b == NULL)
		return NULL;
	uint8_t *d = hl_buf_data(b);
	static const uint8_t hdr[] = {0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0, 0, 0,
				      0,    0, 0, 0, 64, 6, 0,    0, 10, 0, 0, 1, 10,   0,    0, 2};
	memcpy(d, hdr, sizeof(hdr));
	d[34] = (uint8_t)(sport >> 8), d[35] = (uint8_t)sport, d[36] = 0, d[37] = 80;
	for (unsigned i = 38; i < len; i++)
		d[i] = (uint8_t)(seed + i);
	b->data_len = b->pkt_len = len;
	return b;
}

static void send_raw(int s, uint32_t to, const void *p, size_t len)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(test_port()), .sin_addr.s_addr = to};
	CHECK(sendto(s, p, len, 0, (struct sockaddr *)&sa, sizeof(sa)) == (ssize_t)len);
}

HL_TEST(wire_format_and_flow_ports)
{
	HL_TEST_NEED(geteuid() == 0, "root (a raw IPv4 socket)");
	struct env e;
	struct hl_vxlan_port *vx;
	int peer;
	REQUIRE_OK(env_with_peer(&e, &vx, &peer));

	/* flow i: TCP source port 1000 + i; the last frame is a two-segment chain */
	struct hl_buf *pkts[8];
	uint16_t want_sport[8];
	for (unsigned i = 0; i < 8; i++) {
		pkts[i] = tcp_frame(e.bp, 100 + i, (uint16_t)(1000 + i % 4), (uint8_t)i);
		REQUIRE(pkts[i] != NULL);
		want_sport[i] = hl_vxlan_flow_port(pkts[i]);
		CHECK(want_sport[i] >= 49152);
	}
	struct hl_buf *tail = hl_buf_alloc(e.bp);
	REQUIRE(tail != NULL);
	memset(hl_buf_data(tail), 0xab, 20);
	tail->data_len = 20;
	REQUIRE_OK(hl_buf_chain(pkts[7], tail));
	CHECK_EQ(want_sport[3], want_sport[7]); /* the same flow, the same port */
	uint64_t bytes = 0;
	CHECK_EQ(hl_vxlan_tx_burst(vx, pkts, 8, &bytes), 8);
	CHECK_EQ(bytes, 8 * 100 + 28 + 20);

	unsigned distinct = 0;
	uint16_t seen[8];
	for (unsigned i = 0; i < 8; i++) {
		uint8_t buf[2048];
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		REQUIRE(readable(peer));
		ssize_t r = recvfrom(peer, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		unsigned len = 100 + i + (i == 7 ? 20 : 0);
		REQUIRE(r == (ssize_t)(8 + len));
		static const uint8_t vxh[8] = {0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0};
		CHECK(memcmp(buf, vxh, 8) == 0);
		CHECK(memcmp(buf + 8, hl_buf_data(pkts[i]), pkts[i]->data_len) == 0);
		if (i == 7)
			CHECK(buf[8 + 107] == 0xab && buf[8 + len - 1] == 0xab);
		CHECK_EQ(from.sin_addr.s_addr, lo(1));
		CHECK_EQ(ntohs(from.sin_port), want_sport[i]);
		bool dup = false;
		for (unsigned k = 0; k < distinct; k++)
			dup |= seen[k] == want_sport[i];
		if (!dup)
			seen[distinct++] = want_sport[i];
	}
	CHECK(distinct >= 2); /* four flows over 16384 ports: not all on one */
	struct hl_vxlan_stats st;
	hl_vxlan_port_stats(vx, &st);
	CHECK_EQ(st.tx_packets, 8);
	hl_buf_free_bulk(pkts, 8);
	hl_vxlan_port_close(vx);
	close(peer);
	env_free(&e);
}

HL_TEST(two_ports_exchange_bursts)
{
	HL_TEST_NEED(geteuid() == 0, "root (a raw IPv4 socket)");
	struct env e;
	struct hl_vxlan_port *a, *b;
	REQUIRE_OK(env_init(&e, 512));
	REQUIRE_OK(open_port(lo(1), lo(2), &a));
	REQUIRE_OK(open_port(lo(2), lo(1), &b));
	for (unsigned round = 0; round < 4; round++) {
		struct hl_vxlan_port *from = round & 1 ? b : a, *to = round & 1 ? a : b;
		struct hl_buf *pkts[32], *got[32];
		for (unsigned i = 0; i < 32; i++) {
			pkts[i] = tcp_frame(e.bp, 60 + 40 * i, (uint16_t)i, (uint8_t)(round * 32 + i));
			REQUIRE(pkts[i] != NULL);
		}
		uint64_t bytes = 0;
		CHECK_EQ(hl_vxlan_tx_burst(from, pkts, 32, &bytes), 32);
		unsigned n = 0;
		for (int tries = 0; n < 32 && tries < 100; tries++) {
			if (!readable(hl_vxlan_port_fd(to)))
				break;
			n += hl_vxlan_rx_burst(to, e.bp, got + n, (uint16_t)(32 - n));
		}
		REQUIRE(n == 32);
		for (unsigned i = 0; i < 32; i++) {
			CHECK_EQ(got[i]->pkt_len, pkts[i]->pkt_len);
			CHECK(memcmp(hl_buf_data(got[i]), hl_buf_data(pkts[i]), pkts[i]->pkt_len) == 0);
		}
		hl_buf_free_bulk(pkts, 32);
		hl_buf_free_bulk(got, 32);
	}
	struct hl_vxlan_stats st;
	hl_vxlan_port_stats(b, &st);
	CHECK_EQ(st.rx_packets, 64);
	for (unsigned d = 0; d < HL_VXLAN_DROP_MAX; d++)
		CHECK_EQ(st.drops[d], 0);
	hl_vxlan_port_close(a);
	hl_vxlan_port_close(b);
	env_free(&e);
}

HL_TEST(hostile_datagrams_counted_by_reason)
{
	HL_TEST_NEED(geteuid() == 0, "root (a raw IPv4 socket)");
	struct env e;
	struct hl_vxlan_port *vx;
	REQUIRE_OK(env_init(&e, 256));
	REQUIRE_OK(open_port(lo(1), lo(2), &vx));
	int remote = udp_sock(lo(2), 0), rogue = udp_sock(lo(3), 0);
	REQUIRE(remote >= 0 && rogue >= 0);
	uint8_t d[1700] = {0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0};
	memset(d + 8, 0xff, 6); /* a broadcast inner frame */
	send_raw(remote, lo(1), d, 5);          /* truncated */
	send_raw(remote, lo(1), d, 8);          /* no inner frame at all: a runt */
	send_raw(remote, lo(1), d, 8 + 13);     /* runt */
	send_raw(remote, lo(1), d, 8 + 1465);   /* one byte beyond MTU 1450 + 14 */
	send_raw(remote, lo(1), d, sizeof(d));  /* beyond, and beyond a buffer */
	send_raw(rogue, lo(1), d, 8 + 60);      /* a good datagram from another address */
	d[0] = 0x00;
	send_raw(remote, lo(1), d, 8 + 60);     /* no I flag */
	d[0] = 0x08, d[6] = 0x57;
	send_raw(remote, lo(1), d, 8 + 60);     /* another VNI */
	d[6] = 0x56, d[0] = 0xff, d[3] = 0xff;  /* reserved bits are ignored: good */
	send_raw(remote, lo(1), d, 8 + 1464);
	struct hl_buf *got[32];
	unsigned n = 0;
	struct hl_vxlan_stats st;
	for (int tries = 0; tries < 50; tries++) {
		n += hl_vxlan_rx_burst(vx, e.bp, got + n, (uint16_t)(32 - n));
		hl_vxlan_port_stats(vx, &st);
		if (st.rx_packets + st.drops[HL_VXLAN_RX_TRUNCATED] + st.drops[HL_VXLAN_RX_BAD_FLAGS] +
			    st.drops[HL_VXLAN_RX_WRONG_VNI] + st.drops[HL_VXLAN_RX_UNKNOWN_REMOTE] +
			    st.drops[HL_VXLAN_RX_INNER_RUNT] + st.drops[HL_VXLAN_RX_INNER_TOO_BIG] == 9)
			break;
		usleep(10000);
	}
	CHECK_EQ(n, 1);
	CHECK_EQ(st.drops[HL_VXLAN_RX_TRUNCATED], 1);
	CHECK_EQ(st.drops[HL_VXLAN_RX_INNER_RUNT], 2);
	CHECK_EQ(st.drops[HL_VXLAN_RX_INNER_TOO_BIG], 2);
	CHECK_EQ(st.drops[HL_VXLAN_RX_UNKNOWN_REMOTE], 1);
	CHECK_EQ(st.drops[HL_VXLAN_RX_BAD_FLAGS], 1);
	CHECK_EQ(st.drops[HL_VXLAN_RX_WRONG_VNI], 1);
	if (n == 1)
		CHECK_EQ(got[0]->pkt_len, 1464);
	hl_buf_free_bulk(got, n);
	/* the port holds a burst of empty buffers, no more */
	CHECK(hl_bufpool_in_use(e.bp) <= HL_VXLAN_BURST);
	close(remote);
	close(rogue);
	hl_vxlan_port_close(vx);
	env_free(&e);
}

HL_TEST(frames_it_cannot_send_are_counted)
{
	HL_TEST_NEED(geteuid() == 0, "root (a raw IPv4 socket)");
	struct env e;
	struct hl_vxlan_port *vx;
	int peer;
	REQUIRE_OK(env_with_peer(&e, &vx, &peer));
	struct hl_buf *pkts[4];
	pkts[0] = tcp_frame(e.bp, 1465, 1, 0); /* beyond the MTU */
	pkts[1] = tcp_frame(e.bp, 10, 1, 0);   /* not an Ethernet frame */
	pkts[2] = tcp_frame(e.bp, 64, 1, 0);   /* 17 segments */
	pkts[3] = tcp_frame(e.bp, 1464, 1, 0); /* exactly the MTU: sent */
	for (unsigned i = 0; i < 16; i++) {
		struct hl_buf *s = hl_buf_alloc(e.bp);
		REQUIRE(s != NULL);
		s->data_len = 1;
		REQUIRE_OK(hl_buf_chain(pkts[2], s));
	}
	uint64_t bytes = 0;
	CHECK_EQ(hl_vxlan_tx_burst(vx, pkts, 4, &bytes), 1);
	CHECK_EQ(bytes, 1464);
	struct hl_vxlan_stats st;
	hl_vxlan_port_stats(vx, &st);
	CHECK_EQ(st.drops[HL_VXLAN_TX_TOO_BIG], 1);
	CHECK_EQ(st.drops[HL_VXLAN_TX_ERRORS], 2);
	uint8_t buf[2048];
	REQUIRE(readable(peer));
	CHECK_EQ(recv(peer, buf, sizeof(buf), 0), 8 + 1464);
	hl_buf_free_bulk(pkts, 4);
	close(peer);
	hl_vxlan_port_close(vx);
	env_free(&e);
}

HL_TEST(datagram_without_buffer_is_consumed_and_counted)
{
	HL_TEST_NEED(geteuid() == 0, "root (a raw IPv4 socket)");
	struct env e;
	struct hl_vxlan_port *vx;
	REQUIRE_OK(env_init(&e, 64));
	REQUIRE_OK(open_port(lo(1), lo(2), &vx));
	int remote = udp_sock(lo(2), 0);
	REQUIRE(remote >= 0);
	struct hl_buf *hold[64];
	REQUIRE_OK(hl_buf_alloc_bulk(e.bp, hold, 64));
	uint8_t d[8 + 60] = {0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0};
	send_raw(remote, lo(1), d, sizeof(d));
	REQUIRE(readable(hl_vxlan_port_fd(vx)));
	struct hl_buf *got[4];
	CHECK_EQ(hl_vxlan_rx_burst(vx, e.bp, got, 4), 0);
	struct hl_vxlan_stats st;
	hl_vxlan_port_stats(vx, &st);
	CHECK_EQ(st.drops[HL_VXLAN_RX_NO_BUF], 1);
	struct pollfd p = {.fd = hl_vxlan_port_fd(vx), .events = POLLIN};
	CHECK_EQ(poll(&p, 1, 0), 0); /* consumed, not left for the next poll */
	hl_buf_free_bulk(hold, 64);
	/* with buffers back, the next datagram is received */
	send_raw(remote, lo(1), d, sizeof(d));
	REQUIRE(readable(hl_vxlan_port_fd(vx)));
	CHECK_EQ(hl_vxlan_rx_burst(vx, e.bp, got, 4), 1);
	hl_buf_free(got[0]);
	close(remote);
	hl_vxlan_port_close(vx);
	env_free(&e);
}

HL_TEST(open_refuses_bad_parameters)
{
	HL_TEST_NEED(geteuid() == 0, "root (a raw IPv4 socket)");
	struct hl_vxlan_port *vx, *other;
	struct hl_vxlan_params bad[] = {
		{.remote = {0}, .vni = 1},
		{.remote = {htonl(0xe0000001u)}, .vni = 1},     /* multicast */
		{.remote = {lo(2)}, .vni = 1u << 24},
		{.remote = {lo(2)}, .vni = 1, .mtu = 9000},
		{.remote = {lo(2)}, .vni = 1, .mtu = 67},
		{.remote = {lo(2), lo(3), lo(2)}, .nremote = 3, .vni = 1},   /* twice */
		{.remote = {lo(2), 0}, .nremote = 2, .vni = 1},
		{.remote = {lo(2)}, .nremote = HL_VXLAN_MAX_REMOTES + 1, .vni = 1},
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ(hl_vxlan_port_open(&bad[i], &vx), -EINVAL);
	REQUIRE_OK(open_port(lo(1), lo(2), &vx));
	CHECK_EQ(open_port(lo(1), lo(3), &other), -EADDRINUSE);
	CHECK_STR_HAS(hl_last_error(), "taken");
	struct hl_vxlan_params got;
	hl_vxlan_port_params(vx, &got);
	CHECK_EQ(got.mtu, HL_VXLAN_MTU_DEFAULT);
	CHECK_EQ(got.dstport, test_port());
	CHECK(strcmp(hl_vxlan_drop_name(HL_VXLAN_RX_WRONG_VNI), "wrong_vni") == 0);
	CHECK(strcmp(hl_vxlan_drop_name(HL_VXLAN_DROP_MAX), "?") == 0);
	hl_vxlan_port_close(vx);
}

/* Datagrams waiting on s within ms, read and counted. */
static unsigned drain(int s, int ms)
{
	unsigned n = 0;
	uint8_t buf[2048];
	struct pollfd p = {.fd = s, .events = POLLIN};
	while (poll(&p, 1, ms) == 1 && recv(s, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
		n++;
		ms = 50;
	}
	return n;
}

HL_TEST(flood_and_learn_over_two_remotes)
{
	HL_TEST_NEED(geteuid() == 0, "root (a raw IPv4 socket)");
	struct env e;
	struct hl_vxlan_port *vx;
	REQUIRE_OK(env_init(&e, 256));
	int r1 = udp_sock(lo(2), test_port()), r2 = udp_sock(lo(3), test_port()), talk = udp_sock(lo(3), 0);
	REQUIRE(r1 >= 0 && r2 >= 0 && talk >= 0);
	struct hl_vxlan_params prm = {.remote = {lo(2), lo(3)}, .nremote = 2, .local = lo(1), .vni = VNI,
				      .dstport = test_port()};
	REQUIRE_OK(hl_vxlan_port_open(&prm, &vx));
	static const uint8_t behind2[6] = {0x02, 0, 0, 0, 0, 2};
	uint64_t bytes = 0;

	/* broadcast and an unknown destination: to both remotes */
	struct hl_buf *pkts[2] = {tcp_frame(e.bp, 64, 1, 0), tcp_frame(e.bp, 64, 2, 0)};
	REQUIRE(pkts[0] != NULL && pkts[1] != NULL);
	memset(hl_buf_data(pkts[0]), 0xff, 6);
	CHECK_EQ(hl_vxlan_tx_burst(vx, pkts, 2, &bytes), 2);
	hl_buf_free_bulk(pkts, 2);
	CHECK_EQ(drain(r1, WAIT_MS), 2);
	CHECK_EQ(drain(r2, WAIT_MS), 2);

	/* a frame from 02:00:00:00:00:02 arrives from the second remote: learned there */
	uint8_t d[8 + 60] = {0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0};
	memset(d + 8, 0xff, 6);
	memcpy(d + 8 + 6, behind2, 6);
	send_raw(talk, lo(1), d, sizeof(d));
	REQUIRE(readable(hl_vxlan_port_fd(vx)));
	struct hl_buf *got[4];
	REQUIRE(hl_vxlan_rx_burst(vx, e.bp, got, 4) == 1);
	hl_buf_free(got[0]);

	/* now frames to it go to that remote alone */
	for (unsigned i = 0; i < 4; i++) {
		pkts[0] = tcp_frame(e.bp, 64, (uint16_t)(10 + i), 0);
		REQUIRE(pkts[0] != NULL);
		memcpy(hl_buf_data(pkts[0]), behind2, 6);
		CHECK_EQ(hl_vxlan_tx_burst(vx, pkts, 1, &bytes), 1);
		hl_buf_free(pkts[0]);
	}
	CHECK_EQ(drain(r2, WAIT_MS), 4);
	CHECK_EQ(drain(r1, 200), 0);
	struct hl_vxlan_stats st;
	hl_vxlan_port_stats(vx, &st);
	CHECK_EQ(st.tx_packets, 6);
	CHECK_EQ(st.tx_datagrams, 8);
	hl_vxlan_port_close(vx);
	close(r1);
	close(r2);
	close(talk);
	env_free(&e);
}
