/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hlshm: a peer on a shared-pool ("shm") port of hugelinkd. It runs as a
 * host process (mapping the pool through its record) or, built static, in
 * a QEMU guest that sees the pool as an ivshmem-plain BAR: there it finds
 * the device (PCI 1af4:1110), maps BAR 2 and reads the record copy in the
 * pool's first page, with no help from the host.
 *
 *   hlshm (--record FILE | --pci [BDF]) --port NAME --mac MAC [--peer MAC]
 *         [--size B] [--seconds S] [--echo] [--no-check] [--progress]
 *
 * With --peer it sends test frames (tools/common/frame.h) to that MAC; it
 * always counts and checks the frames addressed to it; with --echo it sends
 * every frame for it back to its source, in the same buffer (no copy).
 * Prints one JSON line at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hugelink/shm_peer.h>

#include "../common/frame.h"

#define PCI_DEVICES "/sys/bus/pci/devices"
#define BURST 32

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static unsigned read_hex(const char *dev, const char *attr)
{
	char path[512], buf[32] = "";
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/%s", dev, attr);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	return (unsigned)strtoul(buf, NULL, 16);
}

/* Map BAR 2 of the ivshmem device `bdf` (or the first one found). */
static void *map_bar(const char *bdf, size_t *len)
{
	char dev[256] = "", path[600];
	if (bdf != NULL && bdf[0] != '\0') {
		snprintf(dev, sizeof(dev), "%s", bdf);
	} else {
		DIR *d = opendir(PCI_DEVICES);
		struct dirent *e;
		while (d != NULL && (e = readdir(d)) != NULL)
			if (e->d_name[0] != '.' && read_hex(e->d_name, "vendor") == 0x1af4 &&
			    read_hex(e->d_name, "device") == 0x1110) {
				snprintf(dev, sizeof(dev), "%s", e->d_name);
				break;
			}
		if (d != NULL)
			closedir(d);
	}
	if (dev[0] == '\0') {
		fprintf(stderr, "hlshm: no ivshmem device (PCI 1af4:1110)\n");
		return NULL;
	}
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/enable", dev);
	int fd = open(path, O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "1", 1) != 1)
			fprintf(stderr, "hlshm: could not enable %s\n", dev);
		close(fd);
	}
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/resource2", dev);
	struct stat st;
	fd = open(path, O_RDWR);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "hlshm: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		fprintf(stderr, "hlshm: mmap %s: %s\n", path, strerror(errno));
		return NULL;
	}
	*len = (size_t)st.st_size;
	return p;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"record", required_argument, 0, 'r'},
					     {"pci", optional_argument, 0, 'P'},
					     {"port", required_argument, 0, 'p'},
					     {"mac", required_argument, 0, 'm'},
					     {"peer", required_argument, 0, 'e'},
					     {"size", required_argument, 0, 's'},
					     {"seconds", required_argument, 0, 't'},
					     {"echo", no_argument, 0, 'E'},
					     {"no-check", no_argument, 0, 'n'},
					     {"progress", no_argument, 0, 'g'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	const char *record = NULL, *port = NULL, *bdf = NULL;
	bool pci = false, echo = false, verify = true, have_me = false, have_peer = false, progress = false;
	uint8_t me[6], peer_mac[6];
	unsigned size = 64;
	double seconds = 5;
	int o;

	while ((o = getopt_long(argc, argv, "r:P::p:m:e:s:t:Engh", opts, NULL)) != -1) {
		switch (o) {
		case 'r': record = optarg; break;
		case 'P': pci = true; bdf = optarg; break;
		case 'p': port = optarg; break;
		case 'm': have_me = hl_frame_parse_mac(optarg, me) == 0; break;
		case 'e': have_peer = hl_frame_parse_mac(optarg, peer_mac) == 0; break;
		case 's': size = (unsigned)strtoul(optarg, NULL, 0); break;
		case 't': seconds = strtod(optarg, NULL); break;
		case 'E': echo = true; break;
		case 'n': verify = false; break;
		case 'g': progress = true; break;
		case 'h':
			printf("usage: hlshm (--record FILE | --pci[=BDF]) --port NAME --mac MAC [--peer MAC] [--size B]\n"
			       "             [--seconds S] [--echo] [--no-check] [--progress]\n");
			return 0;
		default: return 2;
		}
	}
	if ((record == NULL) == !pci || port == NULL || !have_me || size < HL_FRAME_MIN || size > 1518 ||
	    seconds <= 0) {
		fprintf(stderr, "hlshm: need --record or --pci, --port and --mac; --size %u..1518\n", HL_FRAME_MIN);
		return 2;
	}
	hl_log_set_level(HL_LOG_WARN);
	struct hl_shm_peer *sp;
	int rc;
	if (pci) {
		size_t len = 0;
		void *bar = map_bar(bdf, &len);
		if (bar == NULL)
			return 1;
		rc = hl_shm_attach_mem(bar, len, port, &sp);
	} else {
		rc = hl_shm_attach(record, port, &sp);
	}
	if (rc < 0) {
		fprintf(stderr, "hlshm: port %s: %s\n", port, hl_last_error());
		return 1;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	struct hl_frame_counters c = {0};
	struct hl_shm_pkt pk[BURST], back[BURST], keep[BURST];
	uint64_t seq = 0, t0 = hl_now_ns(), end = t0 + (uint64_t)(seconds * 1e9), next = t0 + 1000000000ull;
	for (uint64_t now = t0; !stop && now < end; now = hl_now_ns()) {
		unsigned moved = 0;
		if (progress && now >= next) {
			next += 1000000000ull;
			hl_frame_report("progress", port, &c, (double)(now - t0) / 1e9);
		}
		if (have_peer) {
			unsigned n = hl_shm_tx_alloc(sp, pk, BURST);
			for (unsigned i = 0; i < n; i++) {
				hl_frame_fill(pk[i].data, peer_mac, me, seq + i, size);
				pk[i].len = size;
			}
			unsigned sent = hl_shm_tx_burst(sp, pk, n);
			if (sent < n)
				hl_shm_release(sp, pk + sent, n - sent);
			seq += sent;
			c.tx += sent;
			c.tx_bytes += (uint64_t)sent * size;
			moved += n;
		}
		unsigned n = hl_shm_rx_burst(sp, pk, BURST), nb = 0, nk = 0;
		for (unsigned i = 0; i < n; i++) {
			uint64_t before = c.rx;
			hl_frame_check(pk[i].data, pk[i].len, me, &c, verify);
			if (echo && c.rx > before) {
				/* back to where it came from, in the same buffer */
				uint8_t *d = pk[i].data, tmp[6];
				memcpy(tmp, d, 6);
				memcpy(d, d + 6, 6);
				memcpy(d + 6, tmp, 6);
				back[nb++] = pk[i];
			} else {
				keep[nk++] = pk[i];
			}
		}
		unsigned sent = hl_shm_tx_burst(sp, back, nb);
		c.tx += sent;
		for (unsigned i = sent; i < nb; i++)
			keep[nk++] = back[i];
		/* a buffer is the switch's again only once handed back: retry briefly if done is full */
		for (unsigned done = 0, tries = 0; done < nk && tries < 1000; tries++) {
			done += hl_shm_release(sp, keep + done, nk - done);
			if (done < nk)
				usleep(100);
		}
		moved += n;
		if (moved == 0)
			usleep(20);
	}
	double secs = (double)(hl_now_ns() - t0) / 1e9;
	hl_frame_report("shm-peer", port, &c, secs);
	hl_shm_detach(sp);
	return c.rx_bad ? 1 : 0;
}
