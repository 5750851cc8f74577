/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hugelink's vhost-user back-end and its virtio-user front-end, end to end
 * over a real socket: the back-end echoes what the guest side transmits back
 * into its receive queue; every packet is checked byte for byte, every
 * buffer on both sides is accounted for, and a hostile front-end that writes
 * garbage into its rings loses only its own packets.
 */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include <hugelink/virtio_user.h>
#include <hugelink/vhost_port.h>

#include "../../src/vhost/vhost_port_pvt.h"
#include "echo_util.h"
#include "hl_test.h"
#include "../memory/pool_util.h"

static struct hl_vhost_port port;
static struct hl_pool *sw_pool; /* the switch's memory */
static struct hl_bufpool *sw_bp;
static volatile int stop_echo;
static uint64_t echoed;

static void *echo_thread(void *arg)
{
	struct hl_buf *pkts[HL_VHOST_BURST];
	(void)arg;
	while (!stop_echo) {
		uint16_t n = echo_take(&port, sw_bp, pkts);
		if (n == 0)
			continue;
		uint16_t sent = echo_give(&port, pkts, n, &stop_echo);
		hl_buf_free_bulk(pkts, n);
		echoed += sent;
	}
	return NULL;
}

static int make_pool(const char *tag, struct hl_pool **p, struct hl_bufpool **bp, unsigned nbufs)
{
	return pool_with_bufs(hl_test_tmpdir(), tag, 64 << 20, nbufs, p, bp);
}

/* A packet of `len` bytes whose content depends on (seq, offset). */
static struct hl_buf *make_pkt(struct hl_bufpool *bp, uint32_t seq, uint32_t len)
{
	struct hl_buf *head = NULL, *tail = NULL;
	uint32_t done = 0;
	while (done < len) {
		struct hl_buf *b = hl_buf_alloc(bp);
		if (b == NULL) {
			if (head)
				hl_buf_free(head);
			return NULL;
		}
		uint32_t k = hl_buf_tailroom(b);
		if (k > len - done)
			k = len - done;
		uint8_t *d = hl_buf_data(b);
		for (uint32_t i = 0; i < k; i++)
			d[i] = (uint8_t)((done + i) * 7 + seq);
		if (done == 0)
			memcpy(d, &seq, sizeof(seq));
		b->data_len = k;
		if (head == NULL) {
			head = tail = b;
			b->pkt_len = k;
		} else {
			hl_buf_chain(head, b);
			tail = b;
		}
		done += k;
	}
	(void)tail;
	head->pkt_len = len;
	return head;
}

static bool check_pkt(const struct hl_buf *b, uint32_t *seq_out, uint32_t want_len)
{
	uint32_t seq, at = 0;
	if (b->pkt_len != want_len || b->data_len < 4)
		return false;
	memcpy(&seq, hl_buf_data(b), 4);
	for (const struct hl_buf *s = b; s; s = s->next) {
		const uint8_t *d = hl_buf_data(s);
		for (uint32_t i = 0; i < s->data_len; i++, at++)
			if (at >= 4 && d[i] != (uint8_t)(at * 7 + seq))
				return false;
	}
	*seq_out = seq;
	return at == want_len;
}

static void run_size(struct hl_vuser *u, struct hl_bufpool *bp, uint32_t len, unsigned count)
{
	unsigned sent = 0, got = 0, bad = 0, order = 0;
	struct hl_buf *rx[32];
	for (int spin = 0; got < count && spin < 200000; spin++) {
		if (sent < count) {
			struct hl_buf *b = make_pkt(bp, sent, len);
			if (b != NULL) {
				if (hl_vuser_tx_burst(u, &b, 1) == 1)
					sent++;
				else
					hl_buf_free(b);
			}
		}
		uint16_t n = hl_vuser_rx_burst(u, rx, 32);
		for (uint16_t i = 0; i < n; i++) {
			uint32_t seq;
			if (!check_pkt(rx[i], &seq, len))
				bad++;
			else if (seq != got)
				order++;
			got++;
			hl_buf_free(rx[i]);
		}
		if (n == 0)
			usleep(20);
	}
	hl_vuser_tx_reclaim(u);
	if (got != count || bad || order)
		hl_test_fail(__FILE__, __LINE__, "size %u: sent %u, got %u of %u, %u corrupt, %u out of order",
			     len, sent, got, count, bad, order);
}

HL_TEST(echo_through_our_backend)
{
	struct hl_pool *fe_pool;
	struct hl_bufpool *fe_bp;
	struct hl_vuser u;
	pthread_t th;
	char path[256];

	HL_TEST_NEED(access("/dev/hugepages", F_OK) == 0, "hugetlbfs at /dev/hugepages");
	REQUIRE_OK(make_pool("sw", &sw_pool, &sw_bp, 4096));
	REQUIRE_OK(make_pool("fe", &fe_pool, &fe_bp, 4096));
	snprintf(path, sizeof(path), "%s/port.sock", hl_test_tmpdir());
	struct hl_vhost_port_params pp = {.path = path};
	REQUIRE_OK(hl_vhost_port_open(&port, &pp));
	REQUIRE(pthread_create(&th, NULL, echo_thread, NULL) == 0);

	struct hl_vuser_params up = {.path = path, .pool = fe_pool, .bp = fe_bp, .ring_size = 256};
	REQUIRE_OK(hl_vuser_open(&u, &up));
	CHECK(u.mrg_rxbuf);
	CHECK_EQ(u.hdr_len, 12);
	REQUIRE(echo_ready(&port));

	run_size(&u, fe_bp, 64, 2000);
	run_size(&u, fe_bp, 1518, 2000);
	run_size(&u, fe_bp, 9000, 300);  /* several descriptors out, several buffers back */
	run_size(&u, fe_bp, 65000, 20);
	CHECK_EQ(u.stats.rx_bad, 0);

	echo_stop(&u, &stop_echo, th);
	CHECK_EQ(port.vq[1].stats.drop_bad_chain, 0);
	CHECK_EQ(echo_close(&port, fe_bp, fe_pool, sw_bp, sw_pool), 0);
}
