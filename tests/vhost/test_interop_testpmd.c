/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hugelink against a real peer, DPDK 22.11's dpdk-testpmd:
 *   - testpmd's virtio-user front-end transmits into hugelink's back-end;
 *   - hugelink's back-end delivers into testpmd's virtio-user front-end;
 *     both on split rings and on packed ones (packed_vq=1);
 *   - hugelink's virtio-user front-end talks to testpmd's vhost back-end,
 *     which loops packets back.
 * Packets are checked (lengths, headers, payloads where we chose them) and
 * the two sides' counters must agree exactly.
 */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include <hugelink/virtio_user.h>
#include <hugelink/vhost_port.h>

#include "../../src/vhost/vhost_port_pvt.h"
#include "hl_test.h"
#include "testpmd_peer.h"

static struct hl_vhost_port port;
static struct hl_pool *pool;
static struct hl_bufpool *bp;
static volatile int stop_thread;
static volatile int mode; /* 0: receive from the guest side, 1: send to it */
static uint64_t rx_ok, rx_bad, tx_sent;
static uint64_t tx_goal;
static char backend_sock[256]; /* where setup() put our back-end */

static uint16_t csum16(const uint8_t *p, unsigned len)
{
	uint32_t s = 0;
	for (unsigned i = 0; i + 1 < len; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* What testpmd's txonly sends: Ethernet + IPv4 (valid header checksum) + UDP. */
static bool txonly_frame_ok(const struct hl_buf *b)
{
	const uint8_t *d = hl_buf_data(b);
	if (b->pkt_len != 64 || b->data_len != 64)
		return false;
	if (d[12] != 0x08 || d[13] != 0x00 || (d[14] >> 4) != 4)
		return false;
	return csum16(d + 14, (d[14] & 0xf) * 4u) == 0;
}

static void fill_frame(struct hl_buf *b, uint32_t seq)
{
	uint8_t *d = hl_buf_data(b);
	memset(d, 0xff, 6);                                        /* broadcast */
	memcpy(d + 6, "\x02\x00\x00\x00\x00\x01", 6);
	d[12] = 0x88, d[13] = 0xb5;                                /* local experimental */
	memcpy(d + 14, &seq, 4);
	for (unsigned i = 18; i < 64; i++)
		d[i] = (uint8_t)(i + seq);
	b->data_len = b->pkt_len = 64;
}

static void *backend_thread(void *arg)
{
	struct hl_buf *pkts[HL_VHOST_BURST];
	(void)arg;
	hl_buf_thread_attach();
	while (!stop_thread) {
		hl_vhost_port_poll_ctrl(&port, 0);
		if (mode == 0) {
			uint16_t n = hl_vhost_dequeue_burst(&port, 1, bp, pkts, HL_VHOST_BURST);
			for (uint16_t i = 0; i < n; i++)
				txonly_frame_ok(pkts[i]) ? rx_ok++ : rx_bad++;
			hl_buf_free_bulk(pkts, n);
		} else if (tx_sent < tx_goal && hl_vhost_port_queue_ready(&port, 0)) {
			unsigned n = tx_goal - tx_sent < HL_VHOST_BURST ? (unsigned)(tx_goal - tx_sent) : HL_VHOST_BURST;
			if (hl_buf_alloc_bulk(bp, pkts, n) == 0) {
				for (unsigned i = 0; i < n; i++)
					fill_frame(pkts[i], (uint32_t)(tx_sent + i));
				tx_sent += hl_vhost_enqueue_burst(&port, 0, pkts, (uint16_t)n, NULL);
				hl_buf_free_bulk(pkts, n);
			}
		}
	}
	hl_buf_thread_detach();
	return NULL;
}

static const char *sock_path(const char *n)
{
	static char p[256];
	snprintf(p, sizeof(p), "%s/%s", hl_test_tmpdir(), n);
	return p;
}

/*
 * Our back-end on socket `sock_name` of the test's directory, its thread in
 * mode m with nothing to send yet: 0, or the first error.
 */
static int setup(const char *sock_name, int m, pthread_t *th)
{
	const char *sock = sock_path(sock_name);
	snprintf(backend_sock, sizeof(backend_sock), "%s", sock);
	char name[32];
	snprintf(name, sizeof(name), "t-interop-%d", (int)getpid());
	struct hl_pool_params pp = {.name = name, .size = 64 << 20, .run_dir = hl_test_tmpdir(),
				    .page_size = 2 << 20};
	int rc = hl_pool_create(&pp, &pool);
	if (rc == 0)
		rc = hl_bufpool_create(pool, "io", 8192, 2048, 0, &bp);
	struct hl_vhost_port_params vp = {.path = sock};
	if (rc == 0)
		rc = hl_vhost_port_open(&port, &vp);
	stop_thread = 0;
	mode = m;
	rx_ok = rx_bad = tx_sent = tx_goal = 0;
	if (rc == 0 && pthread_create(th, NULL, backend_thread, NULL) != 0)
		rc = -EAGAIN;
	return rc;
}

static void teardown(pthread_t th)
{
	stop_thread = 1;
	pthread_join(th, NULL);
	hl_vhost_port_close(&port);
	CHECK_EQ(hl_bufpool_in_use(bp), 0);
	hl_bufpool_free(bp);
	hl_pool_destroy(pool);
}

/* testpmd's virtio_user device on our back-end's socket, on split or packed rings. */
static const char *virtio_user_vdev(bool packed)
{
	static char vdev[300];
	snprintf(vdev, sizeof(vdev), "net_virtio_user0,path=%s,queues=1%s", backend_sock,
		 packed ? ",packed_vq=1" : "");
	return vdev;
}

static void transmits_to_our_backend(bool packed)
{
	struct testpmd t;
	pthread_t th;

	HL_TEST_NEED(testpmd_available(), "dpdk-testpmd (Debian dpdk-dev)");
	REQUIRE_OK(setup(packed ? "g2h-packed.sock" : "g2h.sock", 0, &th));
	REQUIRE_OK(testpmd_start(&t, packed ? "g2hp" : "g2h", virtio_user_vdev(packed), "txonly", "--txpkts=64"));
	CHECK(testpmd_wait_log(&t, "Tx-pps", 20000));
	CHECK_EQ(port.vq[1].packed, packed); /* the layout testpmd asked for */
	sleep(2);
	CHECK_EQ(testpmd_stop(&t), 0);
	usleep(200000); /* our thread drains what was already on the ring */
	long long theirs = testpmd_total(&t, "TX-packets");
	printf("# testpmd sent %lld, hugelink received %llu good, %llu bad\n", theirs,
	       (unsigned long long)rx_ok, (unsigned long long)rx_bad);
	CHECK(theirs > 10000);
	CHECK_EQ(rx_bad, 0);
	/* testpmd stops its queues (GET_VRING_BASE) with up to one ring of packets
	 * still on them: those it counted as sent, we never got to dequeue */
	CHECK(rx_ok <= (uint64_t)theirs);
	CHECK((uint64_t)theirs - rx_ok <= 256);
	CHECK_EQ(port.vq[1].stats.drop_bad_chain, 0);
	teardown(th);
}

HL_TEST(testpmd_virtio_user_transmits_to_our_backend)
{
	transmits_to_our_backend(false);
}

HL_TEST(testpmd_virtio_user_transmits_to_our_backend_packed)
{
	transmits_to_our_backend(true);
}

static void delivers_to_testpmd(bool packed)
{
	struct testpmd t;
	pthread_t th;

	HL_TEST_NEED(testpmd_available(), "dpdk-testpmd (Debian dpdk-dev)");
	REQUIRE_OK(setup(packed ? "h2g-packed.sock" : "h2g.sock", 1, &th));
	REQUIRE_OK(testpmd_start(&t, packed ? "h2gp" : "h2g", virtio_user_vdev(packed), "rxonly", NULL));
	/* testpmd clears its counters when forwarding starts: send only after that */
	CHECK(testpmd_wait_log(&t, "Rx-pps", 20000));
	CHECK_EQ(port.vq[0].packed, packed);
	tx_goal = 200000;
	for (int i = 0; i < 300 && tx_sent < tx_goal; i++)
		usleep(20000);
	sleep(1);
	CHECK_EQ(testpmd_stop(&t), 0);
	long long theirs = testpmd_total(&t, "RX-packets");
	printf("# hugelink delivered %llu, testpmd received %lld\n", (unsigned long long)tx_sent, theirs);
	CHECK_EQ(tx_sent, tx_goal);
	CHECK_EQ((uint64_t)theirs, tx_sent);
	teardown(th);
}

HL_TEST(our_backend_delivers_to_testpmd_virtio_user)
{
	delivers_to_testpmd(false);
}

HL_TEST(our_backend_delivers_to_testpmd_virtio_user_packed)
{
	delivers_to_testpmd(true);
}

/* Our virtio-user front-end, on split or packed rings, through testpmd's vhost back-end and back. */
static void through_testpmd_vhost(bool packed)
{
	struct testpmd t;
	struct hl_vuser u;
	char vdev[300], name[32];
	struct hl_pool *fp;
	struct hl_bufpool *fb;

	HL_TEST_NEED(testpmd_available(), "dpdk-testpmd (Debian dpdk-dev)");
	const char *sock = sock_path(packed ? "fe-packed.sock" : "fe.sock");
	snprintf(vdev, sizeof(vdev), "net_vhost0,iface=%s,queues=1", sock);
	REQUIRE_OK(testpmd_start(&t, packed ? "fep" : "fe", vdev, "io", "--port-topology=loop"));
	snprintf(name, sizeof(name), "t-fe-%d", (int)getpid());
	struct hl_pool_params pp = {.name = name, .size = 64 << 20, .run_dir = hl_test_tmpdir(),
				    .page_size = 2 << 20};
	REQUIRE_OK(hl_pool_create(&pp, &fp));
	REQUIRE_OK(hl_bufpool_create(fp, "fe", 4096, 2048, 0, &fb));
	uint64_t features = HL_VIRTIO_BIT(HL_VIRTIO_F_VERSION_1) | HL_VIRTIO_BIT(HL_VIRTIO_NET_F_MRG_RXBUF) |
			    HL_VIRTIO_BIT(HL_VIRTIO_RING_F_EVENT_IDX) |
			    (packed ? HL_VIRTIO_BIT(HL_VIRTIO_F_RING_PACKED) : 0);
	struct hl_vuser_params up = {.path = sock, .pool = fp, .bp = fb, .timeout_ms = 20000, .features = features};
	int rc = hl_vuser_open(&u, &up);
	if (rc < 0) {
		testpmd_stop(&t);
		REQUIRE_OK(rc);
	}
	CHECK_EQ(u.packed, packed); /* testpmd's vhost back-end grants packed rings */
	CHECK(testpmd_wait_log(&t, "Rx-pps", 20000));
	unsigned sent = 0, got = 0, bad = 0, goal = 20000;
	struct hl_buf *b[32];
	uint64_t deadline = hl_now_ns() + 60ull * 1000000000ull, quiet_since = 0;
	while (got < goal && hl_now_ns() < deadline) {
		unsigned want = goal - sent < 8 ? goal - sent : 8;
		if (want && hl_buf_alloc_bulk(fb, b, want) == 0) {
			for (unsigned i = 0; i < want; i++)
				fill_frame(b[i], sent + i);
			uint16_t k = hl_vuser_tx_burst(&u, b, (uint16_t)want);
			hl_buf_free_bulk(b + k, want - k);
			sent += k;
		}
		uint16_t n = hl_vuser_rx_burst(&u, b, 32);
		for (uint16_t i = 0; i < n; i++) {
			uint32_t seq;
			const uint8_t *d = hl_buf_data(b[i]);
			memcpy(&seq, d + 14, 4);
			bool ok = b[i]->pkt_len == 64 && d[12] == 0x88 && d[13] == 0xb5;
			for (unsigned k = 18; ok && k < 64; k++)
				ok = d[k] == (uint8_t)(k + seq);
			bad += !ok;
			got++;
		}
		hl_buf_free_bulk(b, n);
		if (n == 0 && sent >= goal) {
			/* all sent: wait for stragglers, but not for drops */
			if (quiet_since == 0)
				quiet_since = hl_now_ns();
			else if (hl_now_ns() - quiet_since > 2000000000ull)
				break;
			usleep(50);
		} else if (n) {
			quiet_since = 0;
		}
	}
	hl_vuser_close(&u);
	CHECK_EQ(testpmd_stop(&t), 0);
	long long rx = testpmd_total(&t, "RX-packets"), tx = testpmd_total(&t, "TX-packets");
	printf("# hugelink sent %u, got back %u (%u corrupt); testpmd rx %lld tx %lld\n", sent, got, bad, rx, tx);
	CHECK_EQ(sent, goal);
	CHECK_EQ(bad, 0);
	CHECK_EQ(got, (unsigned)tx);
	CHECK_EQ(rx, (long long)sent);
	CHECK(got >= goal * 9 / 10); /* testpmd may drop when our receive ring is full */
	CHECK_EQ(hl_bufpool_in_use(fb), 0);
	hl_bufpool_free(fb);
	hl_pool_destroy(fp);
}

HL_TEST(our_virtio_user_through_testpmd_vhost)
{
	through_testpmd_vhost(false);
}

HL_TEST(our_virtio_user_on_packed_rings_through_testpmd_vhost)
{
	through_testpmd_vhost(true);
}
