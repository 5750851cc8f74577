/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hltraffic: a traffic endpoint on a vhost-user socket, for the demo, the
 * switch tests and `hlbench switch`. It is a virtio-net device in user
 * space (virtio_user.h) that sends frames from its MAC to a peer's MAC and
 * counts, and checks, the frames it receives.
 *
 * Every frame carries a sequence number and a payload derived from it, so
 * the receiver can tell a good frame from a corrupted one without knowing
 * the sender's state: byte i of the payload is (seq + i) & 0xff.
 *
 * With --ping IP --ip IP it is a host instead: it resolves IP with ARP and
 * sends ICMP echo requests, counting the replies (to reach a TAP port's
 * kernel through the switch, or a guest).
 *
 * Output: one JSON line at the end (and one per second with --progress).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <hugelink/virtio_user.h>

#include "../common/frame.h"


static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}





/* ---- ping mode ------------------------------------------------------------ */

static uint16_t ip_csum(const uint8_t *p, unsigned len)
{
	uint32_t sum = 0;
	for (unsigned i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static struct hl_buf *arp_request(struct hl_bufpool *bp, const uint8_t me[6], uint32_t my_ip, uint32_t ip)
{
	struct hl_buf *b = hl_frame_buf(bp, NULL, me, 0x0806 /* ARP */, 60);
	if (b == NULL)
		return NULL;
	uint8_t *d = hl_buf_data(b);
	d[14] = 0, d[15] = 1, d[16] = 8, d[17] = 0;  /* Ethernet, IPv4 */
	d[18] = 6, d[19] = 4, d[20] = 0, d[21] = 1;  /* request */
	memcpy(d + 22, me, 6);
	memcpy(d + 28, &my_ip, 4);
	memcpy(d + 38, &ip, 4);
	return b;
}

static struct hl_buf *echo_request(struct hl_bufpool *bp, const uint8_t me[6], const uint8_t dst[6], uint32_t my_ip,
				   uint32_t ip, uint16_t seq)
{
	const unsigned len = 14 + 20 + 8 + 32;
	struct hl_buf *b = hl_frame_buf(bp, dst, me, 0x0800, len);
	if (b == NULL)
		return NULL;
	uint8_t *ip4 = (uint8_t *)hl_buf_data(b) + 14;
	ip4[0] = 0x45;
	ip4[2] = (20 + 8 + 32) >> 8, ip4[3] = (20 + 8 + 32) & 0xff;
	ip4[8] = 64, ip4[9] = 1; /* TTL, ICMP */
	memcpy(ip4 + 12, &my_ip, 4);
	memcpy(ip4 + 16, &ip, 4);
	uint16_t c = ip_csum(ip4, 20);
	ip4[10] = c >> 8, ip4[11] = c & 0xff;
	uint8_t *icmp = ip4 + 20;
	icmp[0] = 8;                          /* echo request */
	icmp[4] = 0x48, icmp[5] = 0x4c;       /* identifier "HL" */
	icmp[6] = seq >> 8, icmp[7] = seq & 0xff;
	for (unsigned i = 0; i < 32; i++)
		icmp[8 + i] = (uint8_t)(seq + i);
	c = ip_csum(icmp, 8 + 32);
	icmp[2] = c >> 8, icmp[3] = c & 0xff;
	return b;
}

/* Receive for up to ms; true when a frame matched (ARP reply from ip, or echo reply seq). */
static bool await(struct hl_vuser *u, const uint8_t me[6], uint32_t ip, int want_seq, uint8_t peer_mac[6], int ms)
{
	struct hl_buf *pkts[32];
	bool found = false;
	for (uint64_t t = hl_now_ns(); !found && hl_now_ns() - t < (uint64_t)ms * 1000000ull;) {
		uint16_t n = hl_vuser_rx_burst(u, pkts, 32);
		for (unsigned i = 0; i < n && !found; i++) {
			const uint8_t *d = hl_buf_data(pkts[i]);
			uint32_t len = pkts[i]->data_len;
			if (len < 42 || memcmp(d, me, 6) != 0)
				continue;
			if (want_seq < 0 && d[12] == 0x08 && d[13] == 0x06 && d[21] == 2 && memcmp(d + 28, &ip, 4) == 0) {
				memcpy(peer_mac, d + 22, 6);
				found = true;
			} else if (want_seq >= 0 && d[12] == 0x08 && d[13] == 0x00 && d[23] == 1 && len >= 14 + 20 + 8 &&
				   memcmp(d + 26, &ip, 4) == 0 && d[34] == 0 &&
				   (d[40] << 8 | d[41]) == want_seq) {
				found = true;
			}
		}
		hl_buf_free_bulk(pkts, n);
		hl_vuser_tx_reclaim(u);
		if (n == 0)
			usleep(1000);
	}
	return found;
}

static int ping(struct hl_vuser *u, struct hl_bufpool *bp, const uint8_t me[6], const char *my_ip_s,
		const char *ip_s, unsigned count)
{
	uint32_t my_ip, ip;
	uint8_t peer[6];
	unsigned replies = 0;
	bool resolved = false;
	if (inet_pton(AF_INET, my_ip_s, &my_ip) != 1 || inet_pton(AF_INET, ip_s, &ip) != 1) {
		fprintf(stderr, "hltraffic: --ping and --ip take IPv4 addresses\n");
		return 2;
	}
	for (int tries = 0; tries < 10 && !resolved && !stop; tries++) {
		struct hl_buf *b = arp_request(bp, me, my_ip, ip);
		if (b != NULL && hl_vuser_tx_burst(u, &b, 1) != 1)
			hl_buf_free(b);
		resolved = await(u, me, ip, -1, peer, 500);
	}
	for (unsigned s = 1; resolved && s <= count && !stop; s++) {
		struct hl_buf *b = echo_request(bp, me, peer, my_ip, ip, (uint16_t)s);
		if (b != NULL && hl_vuser_tx_burst(u, &b, 1) != 1)
			hl_buf_free(b);
		replies += await(u, me, ip, (int)s, peer, 1000);
	}
	printf("{\"ping\":\"%s\",\"arp\":%s,\"sent\":%u,\"replies\":%u}\n", ip_s, resolved ? "true" : "false",
	       resolved ? count : 0, replies);
	fflush(stdout);
	return resolved && replies == count ? 0 : 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: hltraffic --path SOCK --mac MAC [--peer MAC] [options]\n"
		   "       hltraffic --endpoint SOCK,MAC[,PEER] [--endpoint ...] [options]\n"
		   "       hltraffic --path SOCK --mac MAC --ip MYIP --ping IP [--count N]\n"
		   "options: [--size B] [--seconds S] [--rate PPS] [--server] [--no-check] [--progress]\n"
		   "         [--pool-mb N] [--run-dir DIR] [--packed]\n"
		   "--packed asks the back-end for packed virtqueues, and fails if it does not grant them.\n"
		   "An endpoint without a peer only receives. Several endpoints are driven by one\n"
		   "thread in turn, so a two-core machine keeps one core for the switch.\n");
}

#define MAX_EP 8

struct endpoint {
	const char *path;
	uint8_t me[6], peer[6];
	bool have_peer;
	struct hl_vuser u;
	bool open;
	struct hl_frame_counters c;
	uint64_t seq;
};

/* "SOCK,MAC[,PEER]" */
static int parse_endpoint(char *arg, struct endpoint *e)
{
	char *mac = strchr(arg, ',');
	if (mac == NULL)
		return -1;
	*mac++ = '\0';
	char *peer = strchr(mac, ',');
	if (peer != NULL)
		*peer++ = '\0';
	e->path = arg;
	if (hl_frame_parse_mac(mac, e->me) < 0)
		return -1;
	e->have_peer = peer != NULL;
	return peer != NULL ? hl_frame_parse_mac(peer, e->peer) : 0;
}

static void send_some(struct endpoint *e, struct hl_bufpool *bp, unsigned want, unsigned size)
{
	struct hl_buf *pkts[32];
	if (want == 0 || hl_buf_alloc_bulk(bp, pkts, want) < 0)
		return;
	for (unsigned i = 0; i < want; i++) {
		hl_frame_fill(hl_buf_data(pkts[i]), e->peer, e->me, e->seq + i, size);
		pkts[i]->data_len = pkts[i]->pkt_len = size;
	}
	uint16_t sent = hl_vuser_tx_burst(&e->u, pkts, (uint16_t)want);
	e->seq += sent;
	e->c.tx += sent;
	e->c.tx_bytes += (uint64_t)sent * size;
	if (sent < want)
		hl_buf_free_bulk(pkts + sent, want - sent);
}

static unsigned recv_some(struct endpoint *e, bool verify)
{
	struct hl_buf *pkts[32];
	uint16_t n = hl_vuser_rx_burst(&e->u, pkts, 32);
	for (unsigned i = 0; i < n; i++) {
		/* a frame spread over segments cannot be ours: we send single segments */
		if (pkts[i]->next != NULL) {
			e->c.rx++;
			e->c.rx_bad++;
			continue;
		}
		hl_frame_check(hl_buf_data(pkts[i]), pkts[i]->data_len, e->me, &e->c, verify);
	}
	hl_buf_free_bulk(pkts, n);
	return n;
}


int main(int argc, char **argv)
{
	static const struct option opts[] = {{"path", required_argument, 0, 'P'},
					     {"mac", required_argument, 0, 'm'},
					     {"peer", required_argument, 0, 'p'},
					     {"endpoint", required_argument, 0, 'e'},
					     {"size", required_argument, 0, 's'},
					     {"seconds", required_argument, 0, 't'},
					     {"rate", required_argument, 0, 'r'},
					     {"server", no_argument, 0, 'S'},
					     {"no-check", no_argument, 0, 'n'},
					     {"progress", no_argument, 0, 'g'},
					     {"pool-mb", required_argument, 0, 'M'},
					     {"run-dir", required_argument, 0, 'R'},
					     {"ip", required_argument, 0, 'i'},
					     {"ping", required_argument, 0, 'I'},
					     {"count", required_argument, 0, 'c'},
					     {"packed", no_argument, 0, 'k'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	static struct endpoint ep[MAX_EP];
	const char *run_dir = "/tmp", *my_ip = NULL, *ping_ip = NULL;
	unsigned count = 3, nep = 0, size = 64, pool_mb = 64;
	bool single = false, have_me = false, server = false, verify = true, progress = false, bad = false;
	bool packed = false;
	double seconds = 5, rate = 0;
	int o;

	while ((o = getopt_long(argc, argv, "P:m:p:e:s:t:r:SngM:R:i:I:c:kh", opts, NULL)) != -1) {
		switch (o) {
		case 'P': ep[0].path = optarg; single = true; break;
		case 'm': have_me = hl_frame_parse_mac(optarg, ep[0].me) == 0; bad |= !have_me; break;
		case 'p': ep[0].have_peer = hl_frame_parse_mac(optarg, ep[0].peer) == 0; bad |= !ep[0].have_peer; break;
		case 'e':
			if (nep == MAX_EP || parse_endpoint(optarg, &ep[nep++]) < 0)
				bad = true;
			break;
		case 's': size = (unsigned)strtoul(optarg, NULL, 0); break;
		case 't': seconds = strtod(optarg, NULL); break;
		case 'r': rate = strtod(optarg, NULL); break;
		case 'S': server = true; break;
		case 'n': verify = false; break;
		case 'g': progress = true; break;
		case 'M': pool_mb = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'R': run_dir = optarg; break;
		case 'i': my_ip = optarg; break;
		case 'I': ping_ip = optarg; break;
		case 'c': count = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'k': packed = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (single && nep > 0)
		bad = true; /* one form or the other */
	else if (single && have_me)
		nep = 1;
	if (bad || nep == 0 || size < HL_FRAME_MIN || size > 1518 || seconds <= 0 || (ping_ip && nep != 1)) {
		fprintf(stderr, "hltraffic: need --path and --mac, or --endpoint SOCK,MAC[,PEER]; --size %u..1518\n",
			HL_FRAME_MIN);
		usage(stderr);
		return 2;
	}
	hl_log_set_level(HL_LOG_WARN);
	char name[32];
	snprintf(name, sizeof(name), "hltraffic-%d", (int)getpid());
	struct hl_pool_params pp = {.name = name, .size = (uint64_t)pool_mb << 20, .run_dir = run_dir};
	struct hl_pool *pool;
	struct hl_bufpool *bp;
	int rc = 0;
	if (hl_pool_create(&pp, &pool) < 0 || hl_bufpool_create(pool, "t", 2048 + 1024 * nep, 2048, 0, &bp) < 0) {
		fprintf(stderr, "hltraffic: %s\n", hl_last_error());
		return 1;
	}
	for (unsigned k = 0; k < nep && rc == 0; k++) {
		char zone[16];
		snprintf(zone, sizeof(zone), "vu%u", k);
		uint64_t features = packed ? HL_VIRTIO_BIT(HL_VIRTIO_F_VERSION_1) | HL_VIRTIO_BIT(HL_VIRTIO_NET_F_MRG_RXBUF) |
						     HL_VIRTIO_BIT(HL_VIRTIO_RING_F_EVENT_IDX) |
						     HL_VIRTIO_BIT(HL_VIRTIO_F_RING_PACKED)
					   : 0;
		struct hl_vuser_params up = {.path = ep[k].path, .server = server, .timeout_ms = 10000, .pool = pool,
					     .bp = bp, .name = zone, .features = features};
		if (hl_vuser_open(&ep[k].u, &up) < 0) {
			fprintf(stderr, "hltraffic: %s: %s\n", ep[k].path, hl_last_error());
			rc = 1;
		} else {
			ep[k].open = true;
			if (packed && !ep[k].u.packed) {
				fprintf(stderr, "hltraffic: %s: the back-end did not grant packed virtqueues\n", ep[k].path);
				rc = 1;
			}
		}
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	if (rc == 0 && ping_ip != NULL) {
		rc = my_ip ? ping(&ep[0].u, bp, ep[0].me, my_ip, ping_ip, count) : 2;
	} else if (rc == 0) {
		uint64_t t0 = hl_now_ns(), end = t0 + (uint64_t)(seconds * 1e9), next_report = t0 + 1000000000ull;
		double ns_per_pkt = rate > 0 ? 1e9 / rate : 0;
		bool any_peer = false;
		for (unsigned k = 0; k < nep; k++)
			any_peer |= ep[k].have_peer;
		while (!stop) {
			uint64_t now = hl_now_ns();
			if (now >= end)
				break;
			unsigned moved = 0;
			for (unsigned k = 0; k < nep; k++) {
				struct endpoint *e = &ep[k];
				if (e->have_peer) {
					unsigned want = 32;
					if (ns_per_pkt > 0) {
						uint64_t due = (uint64_t)((double)(now - t0) / ns_per_pkt);
						want = due > e->c.tx ? (due - e->c.tx > 32 ? 32 : (unsigned)(due - e->c.tx)) : 0;
					}
					send_some(e, bp, want, size);
				}
				moved += recv_some(e, verify);
			}
			/* a receiver, or a paced sender, need not spin */
			if (moved == 0 && (!any_peer || ns_per_pkt > 0))
				usleep(20);
			if (progress && now >= next_report) {
				next_report += 1000000000ull;
				for (unsigned k = 0; k < nep; k++)
					hl_frame_report("progress", ep[k].path, &ep[k].c, (double)(now - t0) / 1e9);
			}
		}
		uint64_t t_stop = hl_now_ns();
		/* let the last frames in flight arrive */
		for (uint64_t t = hl_now_ns(); hl_now_ns() - t < 200000000ull;) {
			unsigned n = 0;
			for (unsigned k = 0; k < nep; k++) {
				n += recv_some(&ep[k], verify);
				hl_vuser_tx_reclaim(&ep[k].u);
			}
			if (n == 0)
				usleep(1000);
		}
		for (unsigned k = 0; k < nep; k++) {
			hl_frame_report("endpoint", ep[k].path, &ep[k].c, (double)(t_stop - t0) / 1e9);
			if (ep[k].c.rx_bad)
				rc = 1;
		}
	}
	for (unsigned k = 0; k < nep; k++)
		if (ep[k].open)
			hl_vuser_close(&ep[k].u);
	unsigned left = hl_bufpool_in_use(bp);
	hl_bufpool_free(bp);
	hl_pool_destroy(pool);
	if (left != 0) {
		fprintf(stderr, "hltraffic: %u buffers still in use at exit\n", left);
		return 1;
	}
	return rc;
}
