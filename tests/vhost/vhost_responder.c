/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A tiny host on a hugelink vhost-user port, for guest tests: it answers ARP
 * requests and ICMP echo requests for one IPv4 address, for a given time or
 * until SIGTERM, then prints its counters as one JSON line.
 *
 * usage: vhost_responder SOCKET IPV4 SECONDS [client]
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hugelink/vhost_port.h>
#include "../../src/vhost/vhost_port_pvt.h"

static const uint8_t our_mac[6] = {0x02, 0x68, 0x6c, 0x00, 0x00, 0x01};
static volatile sig_atomic_t stop;

static void on_signal(int s)
{
	(void)s;
	stop = 1;
}

struct counters {
	unsigned long long rx, tx, arp_replies, icmp_replies, ignored;
	unsigned long long packed_rx; /* frames taken from a packed ring (the guest negotiated packed=on) */
};

/* Turn a request into its reply in place; false if it is not for us. */
static bool answer(struct hl_buf *b, uint32_t ip, struct counters *c)
{
	uint8_t *d = hl_buf_data(b);
	uint32_t len = b->data_len; /* only the first segment is looked at */
	if (len < 14)
		return false;
	uint16_t type = (uint16_t)(d[12] << 8 | d[13]);
	if (type == 0x0806 && len >= 42) {
		uint8_t *a = d + 14;
		uint32_t tpa;
		memcpy(&tpa, a + 24, 4);
		if (a[6] != 0 || a[7] != 1 || tpa != ip)
			return false;
		memcpy(d, d + 6, 6);
		memcpy(d + 6, our_mac, 6);
		a[7] = 2;                 /* reply */
		memcpy(a + 18, a + 8, 10); /* target = requester (mac + ip) */
		memcpy(a + 8, our_mac, 6);
		memcpy(a + 14, &ip, 4);
		b->data_len = b->pkt_len = 42;
		c->arp_replies++;
		return true;
	}
	if (type == 0x0800 && len >= 34) {
		uint8_t *h = d + 14;
		unsigned ihl = (h[0] & 0xf) * 4u;
		uint32_t dst;
		memcpy(&dst, h + 16, 4);
		if ((h[0] >> 4) != 4 || ihl < 20 || h[9] != 1 || dst != ip || len < 14 + ihl + 8)
			return false;
		uint8_t *icmp = h + ihl;
		if (icmp[0] != 8)
			return false;
		uint8_t mac[6];
		memcpy(mac, d, 6);
		memcpy(d, d + 6, 6);
		memcpy(d + 6, mac, 6);
		memcpy(h + 16, h + 12, 4); /* swapping addresses keeps the IP checksum */
		memcpy(h + 12, &dst, 4);
		icmp[0] = 0;
		/* type 8 -> 0: the checksum grows by 0x0800 (one's complement) */
		uint32_t sum = (uint32_t)(icmp[2] << 8 | icmp[3]) + 0x0800;
		sum = (sum & 0xffff) + (sum >> 16);
		icmp[2] = (uint8_t)(sum >> 8);
		icmp[3] = (uint8_t)sum;
		c->icmp_replies++;
		return true;
	}
	return false;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: vhost_responder SOCKET IPV4 SECONDS [client]\n");
		return 2;
	}
	uint32_t ip;
	if (inet_pton(AF_INET, argv[2], &ip) != 1)
		return 2;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);

	char name[32], run[64];
	snprintf(name, sizeof(name), "resp-%d", (int)getpid());
	snprintf(run, sizeof(run), "/tmp/hl-responder-%d", (int)getpid());
	struct hl_pool *pool;
	struct hl_bufpool *bp;
	struct hl_pool_params pp = {.name = name, .size = 32 << 20, .run_dir = run};
	if (hl_pool_create(&pp, &pool) < 0 || hl_bufpool_create(pool, "r", 2048, 2048, 0, &bp) < 0) {
		fprintf(stderr, "responder: %s\n", hl_last_error());
		return 1;
	}
	struct hl_vhost_port port;
	struct hl_vhost_port_params vp = {.path = argv[1], .client = argc > 4 && !strcmp(argv[4], "client")};
	if (hl_vhost_port_open(&port, &vp) < 0) {
		fprintf(stderr, "responder: %s\n", hl_last_error());
		return 1;
	}
	struct counters c = {0};
	uint64_t end = hl_now_ns() + strtoull(argv[3], NULL, 0) * 1000000000ull;
	struct hl_buf *in[HL_VHOST_BURST], *out[HL_VHOST_BURST];
	while (!stop && hl_now_ns() < end) {
		hl_vhost_port_poll_ctrl(&port, 0);
		uint16_t n = hl_vhost_dequeue_burst(&port, 1, bp, in, HL_VHOST_BURST);
		uint16_t k = 0;
		for (uint16_t i = 0; i < n; i++) {
			if (answer(in[i], ip, &c))
				out[k++] = in[i];
			else {
				c.ignored++;
				hl_buf_free(in[i]);
			}
		}
		c.rx += n;
		if (port.vq[1].packed)
			c.packed_rx += n;
		if (k)
			c.tx += hl_vhost_enqueue_burst(&port, 0, out, k, NULL);
		hl_buf_free_bulk(out, k);
		if (n == 0)
			usleep(200); /* guests under TCG are slow; no need to spin */
	}
	hl_vhost_port_close(&port);
	unsigned in_use = hl_bufpool_in_use(bp);
	printf("{\"rx\":%llu,\"tx\":%llu,\"arp_replies\":%llu,\"icmp_replies\":%llu,\"ignored\":%llu,"
	       "\"packed_rx\":%llu,\"bad_chains\":%llu,\"in_use\":%u}\n",
	       c.rx, c.tx, c.arp_replies, c.icmp_replies, c.ignored, c.packed_rx,
	       (unsigned long long)(port.vq[0].stats.drop_bad_chain + port.vq[1].stats.drop_bad_chain), in_use);
	hl_bufpool_free(bp);
	hl_pool_destroy(pool);
	rmdir(run);
	return in_use == 0 ? 0 : 1;
}
