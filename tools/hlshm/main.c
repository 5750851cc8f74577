/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hlshm: a peer on a shared-pool ("shm") port of hugelinkd. It runs as a
 * host process (mapping the pool through its record) or, built static, in
 * a QEMU guest that sees the pool as an ivshmem-plain BAR: there it finds
 * the device (PCI 1af4:1110), maps BAR 2 and reads the record copy in the
 * pool's first page, with no help from the host.
 *
 *   hlshm (--record FILE | --pci [BDF]) --port NAME --mac MAC [--peer MAC]
 *         [--size B] [--tso] [--plain] [--seconds S] [--echo] [--no-check] [--progress]
 *
 * With --peer it sends test frames (tools/common/frame.h) to that MAC; it
 * always counts and checks the frames addressed to it; with --echo it sends
 * every frame for it back to its source, in the same buffers (no copy).
 * Prints one JSON line at the end.
 *
 * It takes chains and offload metadata from the switch (HL_SHM_F_CHAIN,
 * HL_SHM_F_OFFLOAD) unless --plain, and checks every frame whatever shape it
 * comes in: a chain is checked across its buffers, a TCP frame by its
 * checksums (but a partial one) and its payload's place in the stream. A
 * frame larger than one buffer is sent as a chain; --tso sends TCP frames
 * (up to 65549 bytes) with a partial checksum and, when they are larger
 * than a 1448-byte segment, a request to cut them (TSO) in their offload
 * entry, which the switch checks and passes on or carries out.
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
#define BURST 32      /* frames sent per loop */
#define ENTRIES 256   /* buffers per burst: frames of up to HL_SHM_SEGS_MAX of them */
#define TSO_MSS 1448u

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

/* What this peer sends and how it checks. */
struct cfg {
	uint8_t me[6], peer[6];
	unsigned size;
	bool tso, verify;
};

/* One frame of c->size bytes in the n buffers at pk (MORE on all but the last). */
static void build_frame(const struct cfg *c, struct hl_shm_pkt *pk, unsigned n, uint64_t seq, uint32_t *stream)
{
	uint32_t room = pk[0].len, at = 0, payload = c->size - HL_FRAME_TCP_HDRS;
	for (unsigned i = 0; i < n; i++) {
		uint32_t k = c->size - at < room ? c->size - at : room;
		uint8_t *d = pk[i].data;
		if (c->tso) {
			uint32_t h = i == 0 ? HL_FRAME_TCP_HDRS : 0;
			if (i == 0)
				hl_frame_tcp_header(d, c->peer, c->me, *stream, payload);
			hl_frame_tcp_payload(d + h, *stream + at + h - HL_FRAME_TCP_HDRS, k - h);
		} else if (i == 0) {
			hl_frame_fill(d, c->peer, c->me, seq, k);
		} else {
			hl_frame_fill_part(d, seq, at, k);
		}
		pk[i].len = k;
		pk[i].flags = i + 1 < n ? HL_SHM_PKT_MORE : 0;
		at += k;
	}
	if (c->tso) {
		pk[0].flags |= HL_SHM_PKT_OL;
		pk[0].ol = (struct hl_shm_ol){.csum_start = 34, .csum_offset = 16, .hdr_len = HL_FRAME_TCP_HDRS,
					      .l3_len = 20, .l2_len = 14, .l4_len = 20,
					      .flags = HL_SHM_OL_F_CSUM_PARTIAL};
		if (payload > TSO_MSS) {
			pk[0].ol.gso_size = TSO_MSS;
			pk[0].ol.gso_type = HL_SHM_OL_GSO_TCPV4;
		}
		*stream += payload;
	}
}

/* Check and count the frame whose first buffer is pk; true if it was for us. */
static bool check_frame(const struct cfg *c, const struct hl_shm_pkt *pk, struct hl_frame_counters *cnt)
{
	static uint8_t flat[HL_SHM_FRAME_MAX];
	const uint8_t *d = pk[0].data;
	uint32_t len = pk[0].len;
	uint64_t before = cnt->rx;

	if (pk[0].nsegs > 1) {
		/* a chain is checked as the frame it is */
		len = 0;
		for (unsigned j = 0; j < pk[0].nsegs; j++) {
			memcpy(flat + len, pk[j].data, pk[j].len);
			len += pk[j].len;
		}
		d = flat;
	}
	bool ol = pk[0].flags & HL_SHM_PKT_OL;
	if (len >= 14 && d[12] == 0x08 && d[13] == 0x00)
		hl_frame_tcp_check(d, len, ol && (pk[0].ol.flags & HL_SHM_OL_F_CSUM_PARTIAL), c->me, cnt, c->verify);
	else
		hl_frame_check(d, len, c->me, cnt, c->verify);
	cnt->rx_offload += ol && cnt->rx > before;
	return cnt->rx > before;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"record", required_argument, 0, 'r'},
					     {"pci", optional_argument, 0, 'P'},
					     {"port", required_argument, 0, 'p'},
					     {"mac", required_argument, 0, 'm'},
					     {"peer", required_argument, 0, 'e'},
					     {"size", required_argument, 0, 's'},
					     {"tso", no_argument, 0, 'T'},
					     {"plain", no_argument, 0, 'L'},
					     {"seconds", required_argument, 0, 't'},
					     {"echo", no_argument, 0, 'E'},
					     {"no-check", no_argument, 0, 'n'},
					     {"progress", no_argument, 0, 'g'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	const char *record = NULL, *port = NULL, *bdf = NULL;
	bool pci = false, echo = false, have_me = false, have_peer = false, progress = false, plain = false;
	struct cfg cf = {.size = 64, .verify = true};
	double seconds = 5;
	int o;

	while ((o = getopt_long(argc, argv, "r:P::p:m:e:s:TLt:Engh", opts, NULL)) != -1) {
		switch (o) {
		case 'r': record = optarg; break;
		case 'P': pci = true; bdf = optarg; break;
		case 'p': port = optarg; break;
		case 'm': have_me = hl_frame_parse_mac(optarg, cf.me) == 0; break;
		case 'e': have_peer = hl_frame_parse_mac(optarg, cf.peer) == 0; break;
		case 's': cf.size = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'T': cf.tso = true; break;
		case 'L': plain = true; break;
		case 't': seconds = strtod(optarg, NULL); break;
		case 'E': echo = true; break;
		case 'n': cf.verify = false; break;
		case 'g': progress = true; break;
		case 'h':
			printf("usage: hlshm (--record FILE | --pci[=BDF]) --port NAME --mac MAC [--peer MAC] [--size B]\n"
			       "             [--tso] [--plain] [--seconds S] [--echo] [--no-check] [--progress]\n");
			return 0;
		default: return 2;
		}
	}
	unsigned min = cf.tso ? HL_FRAME_TCP_HDRS : HL_FRAME_MIN, max = cf.tso ? 65535 + 14 : HL_SHM_FRAME_MAX;
	if ((record == NULL) == !pci || port == NULL || !have_me || cf.size < min || cf.size > max || seconds <= 0) {
		fprintf(stderr, "hlshm: need --record or --pci, --port and --mac; --size %u..%u%s\n", min, max,
			cf.tso ? " with --tso" : "");
		return 2;
	}
	hl_log_set_level(HL_LOG_WARN);
	struct hl_shm_peer *sp;
	uint32_t want = plain ? 0 : HL_SHM_F_ALL;
	int rc;
	if (pci) {
		size_t len = 0;
		void *bar = map_bar(bdf, &len);
		if (bar == NULL)
			return 1;
		rc = hl_shm_attach_mem_features(bar, len, port, want, &sp);
	} else {
		rc = hl_shm_attach_features(record, port, want, &sp);
	}
	if (rc < 0) {
		fprintf(stderr, "hlshm: port %s: %s\n", port, hl_last_error());
		return 1;
	}
	uint32_t mtu = hl_shm_peer_mtu(sp), feat = hl_shm_peer_features(sp);
	unsigned nseg = (cf.size + mtu - 1) / mtu;
	if (have_peer && ((nseg > 1 && !(feat & HL_SHM_F_CHAIN)) || (cf.tso && !(feat & HL_SHM_F_OFFLOAD)))) {
		fprintf(stderr, "hlshm: port %s: %u-byte frames%s need %s, which the port does not have (%s)\n", port,
			cf.size, cf.tso ? " with TSO" : "", cf.tso ? "offloads and chains" : "chains",
			plain ? "--plain" : "the switch does not offer them");
		hl_shm_detach(sp);
		return 2;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	struct hl_frame_counters c = {0};
	static struct hl_shm_pkt pk[ENTRIES], back[ENTRIES], keep[ENTRIES];
	uint64_t seq = 0, t0 = hl_now_ns(), end = t0 + (uint64_t)(seconds * 1e9), next = t0 + 1000000000ull;
	uint32_t stream = 0;
	unsigned per_loop = (ENTRIES / nseg < BURST ? ENTRIES / nseg : BURST) * nseg;
	for (uint64_t now = t0; !stop && now < end; now = hl_now_ns()) {
		unsigned moved = 0;
		if (progress && now >= next) {
			next += 1000000000ull;
			hl_frame_report("progress", port, &c, (double)(now - t0) / 1e9);
		}
		if (have_peer) {
			unsigned n = hl_shm_tx_alloc(sp, pk, per_loop), whole = n / nseg * nseg;
			/* a frame's worth or nothing: the rest goes back for the next loop */
			if (whole < n)
				hl_shm_release(sp, pk + whole, n - whole);
			for (unsigned f = 0; f < whole; f += nseg)
				build_frame(&cf, pk + f, nseg, seq + f / nseg, &stream);
			unsigned sent = hl_shm_tx_burst(sp, pk, whole);
			if (sent < whole)
				hl_shm_release(sp, pk + sent, whole - sent);
			seq += sent / nseg;
			c.tx += sent / nseg;
			c.tx_bytes += (uint64_t)(sent / nseg) * cf.size;
			moved += n;
		}
		unsigned n = hl_shm_rx_burst(sp, pk, ENTRIES), nb = 0, nk = 0;
		for (unsigned i = 0; i < n; i += pk[i].nsegs) {
			unsigned ns = pk[i].nsegs;
			if (echo && check_frame(&cf, pk + i, &c)) {
				/* back to where it came from, in the same buffers */
				uint8_t *d = pk[i].data, tmp[6];
				memcpy(tmp, d, 6);
				memcpy(d, d + 6, 6);
				memcpy(d + 6, tmp, 6);
				memcpy(back + nb, pk + i, ns * sizeof(pk[0]));
				nb += ns;
			} else {
				if (!echo)
					check_frame(&cf, pk + i, &c);
				memcpy(keep + nk, pk + i, ns * sizeof(pk[0]));
				nk += ns;
			}
		}
		unsigned sent = hl_shm_tx_burst(sp, back, nb);
		for (unsigned i = 0; i < sent; i += back[i].nsegs)
			c.tx++;
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
