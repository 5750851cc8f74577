/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hlbench shm: frames between two shm peers through the switch, one core
 * for the switch worker, the other for both peers.
 *
 * Everything is in this process: a pool, a bufpool and an hl_switch with
 * one worker pinned to the switch core, and two shm ports A and B. The
 * peers attach through the pool's record, as a separate process would
 * (their own mapping of the pool), and are driven by the main thread on
 * the traffic core. Peer A takes empty buffers from its fill ring, writes
 * only the Ethernet header (B's MAC from A's) and a sequence number, and
 * sends; peer B counts the frames addressed to it and releases them. B
 * announces its MAC at the start of every sample so the switch forwards
 * A's frames as known unicast instead of flooding them. A rate is the
 * median of one-second samples of what B received. The sizes take turns
 * (S seconds each, N rounds: --rounds, default 6), and each size after the
 * first gets "vs_first": the median over rounds of its rate against the
 * first size's in the same round, with its spread, which the host's slow
 * spells (they can halve everything for a minute) skew far less than two
 * separate runs. A fixed loop timed before each round (probe_ms) shows
 * which rounds were taken in such a spell.
 *
 * A frame larger than one buffer (a data room less its headroom: 1920
 * bytes with hugelinkd's 2048-byte rooms, the default) goes as a chain of
 * buffers, up to HL_SHM_FRAME_MAX bytes: the peers take chains
 * (HL_SHM_F_CHAIN), A writes the header in the first buffer of each and
 * sends the frame's buffers as one, B counts frames and gives every buffer
 * back. Each result says how many buffers a frame took ("segs"). --room
 * gives the benchmark's bufpool other rooms, so the same size can be
 * measured as one buffer and as a chain.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hugelink/ring.h>
#include <hugelink/shm_peer.h>
#include <hugelink/sw_ports.h>
#include <hugelink/switch.h>

#include "bench.h"

#define MAX_SAMPLES 120
#define MAX_SIZES 8
#define BURST 32
#define DEFAULT_ROOM 2048u
#define NBUFS 4096u
#define WARM_NS 300000000ull
#define FIRST_FRAME_NS 5000000000ull
/* the largest room a shm port takes (whole cache lines), less the headroom */
#define MAX_ROOM ((HL_BUF_HEADROOM + HL_SHM_LEN_MAX) / HL_CACHE_LINE * HL_CACHE_LINE)
#define MAX_FRAME HL_SHM_FRAME_MAX
#define ENTRIES 128 /* buffers a peer moves per call: a few chains, or a burst of single ones */

static const uint8_t MAC_A[6] = {0x02, 0, 0, 0, 0x5a, 0x01};
static const uint8_t MAC_B[6] = {0x02, 0, 0, 0, 0x5a, 0x02};

static volatile sig_atomic_t stop;
static bool vs_ring; /* --vs-ring: the reference relay in every round */

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

struct rig {
	char dir[64];
	struct hl_pool *pool;
	struct hl_bufpool *bp;
	struct hl_switch *sw;
	struct hl_sw_port *pa;
	struct hl_shm_peer *a, *b;
	uint64_t seq;
	uint64_t rx_other; /* frames B got that were not for it */
};

static void frame(const struct hl_shm_pkt *p, const uint8_t dst[6], const uint8_t src[6], uint64_t seq)
{
	uint8_t *d = p->data;
	memcpy(d, dst, 6);
	memcpy(d + 6, src, 6);
	d[12] = 0x88; /* IEEE local experimental ethertype */
	d[13] = 0xb5;
	memcpy(d + 14, &seq, 8);
}

/*
 * Hand buffers back on done. A full done ring means the switch is behind:
 * wait for it a little, then leave the rest with the peer (a few buffers
 * fewer in circulation) rather than hang on a switch that stopped.
 */
static void give_back(struct hl_shm_peer *pe, const struct hl_shm_pkt *pk, unsigned n)
{
	unsigned done = 0;
	for (unsigned tries = 0; done < n && tries < 100000; tries++) {
		unsigned m = hl_shm_release(pe, pk + done, n - done);
		if (m == 0)
			__builtin_ia32_pause();
		done += m;
	}
}

/* One frame from B to A, so the switch learns where B's MAC lives. */
static void announce_b(struct rig *g)
{
	struct hl_shm_pkt p;
	if (hl_shm_tx_alloc(g->b, &p, 1) != 1)
		return;
	frame(&p, MAC_A, MAC_B, 0);
	p.len = 60;
	if (hl_shm_tx_burst(g->b, &p, 1) != 1)
		give_back(g->b, &p, 1);
}

/* Drain one peer's rx ring by a few bursts; frames for `me` add to *mine. */
static void drain(struct hl_shm_peer *pe, const uint8_t me[6], uint64_t *mine, uint64_t *other)
{
	struct hl_shm_pkt pk[ENTRIES];
	for (unsigned k = 0; k < 4; k++) {
		unsigned n = hl_shm_rx_burst(pe, pk, ENTRIES), ok = 0, frames = 0;
		for (unsigned i = 0; i < n; i += pk[i].nsegs, frames++)
			ok += pk[i].len >= 6 && memcmp(pk[i].data, me, 6) == 0;
		give_back(pe, pk, n);
		*mine += ok;
		*other += frames - ok;
		if (n < BURST * 2)
			break;
	}
}

/* Run the peers for ns (or until B has a frame, with until_rx); B's and A's counts out. */
static void pump(struct rig *g, unsigned size, uint64_t ns, bool until_rx, uint64_t *rx_out, uint64_t *tx_out)
{
	uint64_t rx = 0, tx = 0, ignored = 0, t0 = hl_now_ns();
	unsigned iter = 0;

	uint32_t mtu = hl_shm_peer_mtu(g->a);
	unsigned nseg = (size + mtu - 1) / mtu;
	unsigned want = nseg == 1 ? BURST : (ENTRIES / nseg) * nseg;
	announce_b(g);
	while (!stop) {
		struct hl_shm_pkt pk[ENTRIES];
		unsigned k = hl_shm_tx_alloc(g->a, pk, want);
		if (hl_unlikely(nseg > 1)) {
			/* whole chains only; buffers short of one go back */
			unsigned whole = k / nseg * nseg;
			give_back(g->a, pk + whole, k - whole);
			for (unsigned i = 0; i < whole; i++) {
				unsigned j = i % nseg;
				if (j == 0)
					frame(&pk[i], MAC_B, MAC_A, g->seq + i / nseg);
				pk[i].len = j + 1 < nseg ? mtu : size - (nseg - 1) * mtu;
				pk[i].flags = j + 1 < nseg ? HL_SHM_PKT_MORE : 0;
			}
			k = whole;
		} else {
			for (unsigned i = 0; i < k; i++) {
				frame(&pk[i], MAC_B, MAC_A, g->seq + i);
				pk[i].len = size;
			}
		}
		if (k > 0) {
			unsigned sent = hl_shm_tx_burst(g->a, pk, k);
			give_back(g->a, pk + sent, k - sent);
			tx += sent / nseg;
			g->seq += sent / nseg;
		}
		drain(g->b, MAC_B, &rx, &g->rx_other);
		drain(g->a, MAC_A, &ignored, &ignored); /* B's announcements */
		if (until_rx && rx > 0)
			break;
		/* a clock read costs about as much as a burst: not every time */
		if (++iter % 16 == 0 && hl_now_ns() - t0 >= ns)
			break;
	}
	*rx_out = rx;
	*tx_out = tx;
}

static void rig_close(struct rig *g)
{
	/* peers first: a port is destroyed only once its peer is gone */
	hl_shm_detach(g->a);
	hl_shm_detach(g->b);
	if (g->sw != NULL)
		hl_switch_destroy(g->sw);
	if (g->bp != NULL && hl_bufpool_in_use(g->bp) != 0)
		fprintf(stderr, "hlbench shm: %u buffers still in use at the end\n", hl_bufpool_in_use(g->bp));
	if (g->bp != NULL)
		hl_bufpool_free(g->bp);
	if (g->pool != NULL)
		hl_pool_destroy(g->pool);
	if (g->dir[0] != '\0' && rmdir(g->dir) < 0)
		fprintf(stderr, "hlbench shm: could not remove %s: %s\n", g->dir, strerror(errno));
	memset(g, 0, sizeof(*g));
}

static int rig_open(struct rig *g, unsigned room, int sw_cpu)
{
	struct hl_sw_port *pa = NULL, *pb = NULL;
	struct hl_pool_info info;
	char name[32];

	snprintf(g->dir, sizeof(g->dir), "/tmp/hlbench-shm.XXXXXX");
	if (mkdtemp(g->dir) == NULL) {
		fprintf(stderr, "hlbench shm: mkdtemp: %s\n", strerror(errno));
		g->dir[0] = '\0';
		return -1;
	}
	snprintf(name, sizeof(name), "hlbshm-%d", (int)getpid());
	uint64_t stride = HL_ALIGN_UP((uint64_t)room, (uint64_t)HL_CACHE_LINE);
	struct hl_pool_params pp = {.name = name, .size = NBUFS * stride + (16ull << 20), .run_dir = g->dir};
	struct hl_switch_params sp = {.workers = 1, .first_cpu = sw_cpu};
	if (hl_pool_create(&pp, &g->pool) < 0 || hl_bufpool_create(g->pool, "sw", NBUFS, room, 256, &g->bp) < 0)
		goto fail;
	sp.bp = g->bp;
	if (hl_switch_create(&sp, &g->sw) < 0)
		goto fail;
	if (hl_sw_port_shm_create(g->pool, g->bp, "a", false, &pa) < 0)
		goto fail;
	if (hl_switch_add_port(g->sw, pa) < 0) {
		pa->ops->close(pa);
		goto fail;
	}
	if (hl_sw_port_shm_create(g->pool, g->bp, "b", false, &pb) < 0)
		goto fail;
	if (hl_switch_add_port(g->sw, pb) < 0) {
		pb->ops->close(pb);
		goto fail;
	}
	g->pa = pa;
	hl_pool_get_info(g->pool, &info);
	if (hl_shm_attach_features(info.record_path, "a", HL_SHM_F_CHAIN, &g->a) < 0 ||
	    hl_shm_attach_features(info.record_path, "b", HL_SHM_F_CHAIN, &g->b) < 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "hlbench shm: setting up the switch: %s\n", hl_last_error());
	rig_close(g);
	return -1;
}

/*
 * The same-run reference (--vs-ring): the work of a switch between two
 * peers with nothing of hugelink's in it. The traffic thread writes the
 * header of each of a burst of frames (64-byte rooms of a private array)
 * and puts their pointers on ring 1; a relay thread on the switch core
 * moves them to ring 2 after reading each one's destination MAC; the
 * traffic thread takes them off ring 2, checks the MAC and reuses them.
 * Two single-producer single-consumer hl_rings, two cores, one cache line
 * a frame: what the host gives two cores passing frames right now. A
 * size's "vs_ring" is its per-round rate over this one's.
 */
#define REF_FRAMES 4096u
#define REF_RING 1024u

struct ref {
	struct hl_ring *r1, *r2;
	uint8_t (*frames)[HL_CACHE_LINE];
	pthread_t relay;
	int cpu;
	int run;
	uint64_t seen; /* relay thread: frames it found addressed to B */
};

static void *ref_relay(void *arg)
{
	struct ref *f = arg;
	void *objs[BURST];
	bench_set_cpu(0, f->cpu);
	while (__atomic_load_n(&f->run, __ATOMIC_ACQUIRE)) {
		unsigned n = hl_ring_dequeue_burst(f->r1, objs, BURST), sent = 0, mine = 0;
		for (unsigned i = 0; i < n; i++)
			mine += memcmp(objs[i], MAC_B, 6) == 0;
		f->seen += mine; /* the switch's decision: read, and kept, so it is not optimised away */
		while (sent < n && __atomic_load_n(&f->run, __ATOMIC_RELAXED))
			sent += hl_ring_enqueue_burst(f->r2, objs + sent, n - sent);
		if (n == 0)
			hl_ring_pause();
	}
	return NULL;
}

static void ref_close(struct ref *f)
{
	if (__atomic_load_n(&f->run, __ATOMIC_RELAXED)) {
		__atomic_store_n(&f->run, 0, __ATOMIC_RELEASE);
		pthread_join(f->relay, NULL);
	}
	if (f->r1 != NULL)
		hl_ring_free(f->r1);
	if (f->r2 != NULL)
		hl_ring_free(f->r2);
	free(f->frames);
	memset(f, 0, sizeof(*f));
}

static int ref_open(struct ref *f, int sw_cpu)
{
	memset(f, 0, sizeof(*f));
	f->cpu = sw_cpu;
	f->frames = aligned_alloc(HL_CACHE_LINE, REF_FRAMES * HL_CACHE_LINE);
	if (f->frames == NULL ||
	    hl_ring_create("ref1", REF_RING, HL_RING_F_SP_ENQ | HL_RING_F_SC_DEQ, &f->r1) < 0 ||
	    hl_ring_create("ref2", REF_RING, HL_RING_F_SP_ENQ | HL_RING_F_SC_DEQ, &f->r2) < 0) {
		ref_close(f);
		return -1;
	}
	f->run = 1;
	if (pthread_create(&f->relay, NULL, ref_relay, f) != 0) {
		f->run = 0;
		ref_close(f);
		return -1;
	}
	return 0;
}

/* Frames through the relay for ns; B's rate in Mpps. Every frame is back in the free list at the end. */
static double ref_pump(struct ref *f, uint64_t ns, uint64_t *seq)
{
	static unsigned free_idx[REF_FRAMES];
	unsigned nfree = 0;
	for (unsigned i = 0; i < REF_FRAMES; i++)
		free_idx[nfree++] = i;
	uint64_t got = 0, t0 = hl_now_ns(), t1 = t0;
	unsigned iter = 0;
	void *objs[BURST];
	for (;;) {
		unsigned k = nfree < BURST ? nfree : BURST;
		for (unsigned i = 0; i < k; i++) {
			uint8_t *d = f->frames[free_idx[nfree - 1 - i]];
			memcpy(d, MAC_B, 6);
			memcpy(d + 6, MAC_A, 6);
			d[12] = 0x88;
			d[13] = 0xb5;
			memcpy(d + 14, seq, 8);
			++*seq;
			objs[i] = d;
		}
		nfree -= hl_ring_enqueue_burst(f->r1, objs, k);
		unsigned n = hl_ring_dequeue_burst(f->r2, objs, BURST);
		for (unsigned i = 0; i < n; i++) {
			const uint8_t *d = objs[i];
			got += memcmp(d, MAC_B, 6) == 0;
			free_idx[nfree++] = (unsigned)((size_t)(d - f->frames[0]) / HL_CACHE_LINE);
		}
		if (++iter % 16 == 0 && (t1 = hl_now_ns()) - t0 >= ns)
			break;
	}
	/* what is still in flight comes back before the next pump */
	for (unsigned spins = 0; nfree < REF_FRAMES && spins < 100000000u; spins++) {
		unsigned n = hl_ring_dequeue_burst(f->r2, objs, BURST);
		nfree += n;
		if (n == 0)
			hl_ring_pause();
	}
	return t1 > t0 ? (double)got / ((double)(t1 - t0) / 1e9) / 1e6 : 0;
}

struct result {
	double rx_s[MAX_SAMPLES], tx_s[MAX_SAMPLES]; /* one-second samples, all rounds */
	unsigned n;
	double round_mpps[MAX_SAMPLES]; /* each round's median */
	double probe_ms[MAX_SAMPLES];   /* the host-speed probe before each round */
	double ref_mpps[MAX_SAMPLES];   /* --vs-ring: the reference relay's rate in the same round */
	unsigned rounds;
	uint64_t pkts, loops; /* switch: frames from A and worker loops, for the burst size */
	bool unsupported;     /* larger than a buffer */
};

/* One round: `seconds` one-second samples of size-byte frames, after a warm-up, added to r. */
static void measure(struct rig *g, unsigned size, unsigned seconds, struct result *r)
{
	uint64_t rx, tx;
	unsigned first = r->n;
	double probe = bench_probe_ns() / 1e6;

	pump(g, size, WARM_NS, false, &rx, &tx);
	struct hl_sw_worker_info w0, w1;
	struct hl_sw_port_stats s0, s1;
	hl_switch_worker_info(g->sw, 0, &w0);
	hl_switch_port_stats(g->sw, g->pa, &s0);
	for (unsigned k = 0; k < seconds && !stop && r->n < MAX_SAMPLES; k++) {
		uint64_t t0 = hl_now_ns();
		pump(g, size, 1000000000ull, false, &rx, &tx);
		double dt = (double)(hl_now_ns() - t0) / 1e9;
		if (stop)
			break;
		r->rx_s[r->n] = (double)rx / dt / 1e6;
		r->tx_s[r->n] = (double)tx / dt / 1e6;
		r->n++;
	}
	if (r->n == first)
		return;
	hl_switch_worker_info(g->sw, 0, &w1);
	hl_switch_port_stats(g->sw, g->pa, &s1);
	r->pkts += s1.rx_packets - s0.rx_packets;
	r->loops += w1.loops - w0.loops;
	r->probe_ms[r->rounds] = probe;
	r->round_mpps[r->rounds++] = bench_median(r->rx_s + first, r->n - first);
}

/* The JSON line of size i; vs_first: the median of its per-round ratios to size 0. */
static void report(const struct result *res, const unsigned *sizes, unsigned i, unsigned seconds, int sw_cpu,
		   unsigned room, uint32_t mtu, uint64_t rx_other)
{
	const struct result *r = &res[i];
	double lo = r->rx_s[0], hi = r->rx_s[0], mpps = bench_median(r->rx_s, r->n);
	for (unsigned k = 1; k < r->n; k++) {
		lo = r->rx_s[k] < lo ? r->rx_s[k] : lo;
		hi = r->rx_s[k] > hi ? r->rx_s[k] : hi;
	}
	char vs[4000] = "";
	unsigned nr = r->rounds < res[0].rounds ? r->rounds : res[0].rounds;
	size_t at = 0;
	double q[MAX_SAMPLES];
	if (i > 0 && nr > 0 && !res[0].unsupported) {
		for (unsigned k = 0; k < nr; k++)
			q[k] = res[0].round_mpps[k] > 0 ? r->round_mpps[k] / res[0].round_mpps[k] : 0;
		at = bench_spread_json(vs, sizeof(vs), "vs_first", q, nr, "%.3f");
	}
	if (vs_ring) {
		for (unsigned k = 0; k < r->rounds; k++)
			q[k] = r->ref_mpps[k] > 0 ? r->round_mpps[k] / r->ref_mpps[k] : 0;
		at += bench_spread_json(vs + at, sizeof(vs) - at, "vs_ring", q, r->rounds, "%.3f");
		at += bench_spread_json(vs + at, sizeof(vs) - at, "ring_mpps", r->ref_mpps, r->rounds, "%.3f");
	}
	bench_spread_json(vs + at, sizeof(vs) - at, "probe_ms", r->probe_ms, r->rounds, "%.2f");
	printf("{\"bench\":\"shm\",\"size\":%u,\"mpps\":%.3f,\"gbps\":%.3f,\"tx_mpps\":%.3f,"
	       "\"min_mpps\":%.3f,\"max_mpps\":%.3f,\"samples\":%u,\"seconds\":%u,\"rounds\":%u,"
	       "\"switch_cpu\":%d,\"room\":%u,\"segs\":%u,\"sw_burst\":%.1f,\"rx_other\":%llu%s}\n",
	       sizes[i], mpps, mpps * sizes[i] * 8 / 1000, bench_median(r->tx_s, r->n), lo, hi, r->n, seconds,
	       r->rounds, sw_cpu, room, (sizes[i] + mtu - 1) / mtu, r->loops ? (double)r->pkts / (double)r->loops : 0.0,
	       (unsigned long long)rx_other, vs);
	fflush(stdout);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: hlbench shm --size B[,B...] [--seconds S] [--rounds N] [--cpu N] [--room B] [--vs-ring]\n"
		   "  frames peer A -> switch -> peer B over shm ports; the switch worker on CPU N\n"
		   "  (default 1), both peers on the other; --room: bytes per buffer (default %u,\n"
		   "  as hugelinkd; a frame larger than one buffer less its %u bytes of headroom\n"
		   "  goes as a chain of buffers, up to %u bytes);\n"
		   "  --rounds: the sizes take turns N times (default %d), S seconds each (default 2;\n"
		   "  S * N <= %d); --vs-ring: after each size in each round, the same frames through\n"
		   "  two plain rings and a relay thread on the switch core (vs_ring: our rate over it)\n",
		DEFAULT_ROOM, HL_BUF_HEADROOM, MAX_FRAME, BENCH_ROUNDS, MAX_SAMPLES);
}

int bench_shm(int argc, char **argv)
{
	static const struct option opts[] = {{"size", required_argument, 0, 's'},
					     {"seconds", required_argument, 0, 't'},
					     {"cpu", required_argument, 0, 'c'},
					     {"room", required_argument, 0, 'r'},
					     {"rounds", required_argument, 0, 'n'},
					     {"vs-ring", no_argument, 0, 'v'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	unsigned sizes[MAX_SIZES], nsizes = 0, seconds = 2, room = DEFAULT_ROOM, rounds = BENCH_ROUNDS;
	int sw_cpu = 1, o;

	while ((o = getopt_long(argc, argv, "s:t:c:r:n:vh", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			if (bench_sizes("shm", optarg, sizes, &nsizes, MAX_SIZES, 60, MAX_FRAME) < 0)
				return 2;
			break;
		case 't': seconds = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'c': sw_cpu = atoi(optarg); break;
		case 'r': room = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'n': rounds = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'v': vs_ring = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || nsizes == 0 || seconds == 0 || rounds == 0 || seconds * rounds > MAX_SAMPLES ||
	    sw_cpu < 0 || sw_cpu > 31 ||
	    room <= HL_BUF_HEADROOM + 60 || room > MAX_ROOM || room % HL_CACHE_LINE != 0) {
		if (room % HL_CACHE_LINE != 0 || room <= HL_BUF_HEADROOM + 60 || room > MAX_ROOM)
			fprintf(stderr, "hlbench shm: --room must be a multiple of %d in %u..%u\n", HL_CACHE_LINE,
				HL_BUF_HEADROOM + 64, MAX_ROOM);
		usage(stderr);
		return 2;
	}
	int gen_cpu = bench_other_cpu("shm", sw_cpu, "peers");
	if (gen_cpu < 0)
		return 1;
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	hl_log_set_level(HL_LOG_ERR);

	static struct rig g;
	if (rig_open(&g, room, sw_cpu) < 0)
		return 1;
	bench_set_cpu(0, gen_cpu);

	int rc = 0;
	bool first_failed = false;
	uint64_t rx, tx;
	pump(&g, 60, FIRST_FRAME_NS, true, &rx, &tx);
	if (rx == 0) {
		fprintf(stderr, "hlbench shm: no frame reached peer B in %llu s (%llu sent by A)\n",
			FIRST_FRAME_NS / 1000000000ull, (unsigned long long)tx);
		rc = 1;
		first_failed = true;
	}
	uint32_t mtu = hl_shm_peer_mtu(g.a);
	bool chains = hl_shm_peer_features(g.a) & hl_shm_peer_features(g.b) & HL_SHM_F_CHAIN;
	static struct result res[MAX_SIZES];
	for (unsigned i = 0; i < nsizes && !first_failed; i++) {
		if (sizes[i] <= mtu || (chains && (sizes[i] + mtu - 1) / mtu <= HL_SHM_SEGS_MAX))
			continue;
		/* no chains of that length: a larger frame has no way through a shm port */
		fprintf(stderr, "hlbench shm: %u-byte frames do not fit shm ports with %u-byte buffers%s\n", sizes[i],
			room, chains ? " (too many segments)" : " (the ports take no chains)");
		printf("{\"bench\":\"shm\",\"size\":%u,\"room\":%u,\"error\":\"frame does not fit (%u bytes a "
		       "buffer)\"}\n",
		       sizes[i], room, mtu);
		fflush(stdout);
		res[i].unsupported = true;
		rc = 1;
	}
	/* sizes take turns, round after round, so load that comes and goes hits them alike */
	g.rx_other = 0;
	static struct ref ref;
	if (vs_ring && !first_failed && ref_open(&ref, sw_cpu) < 0) {
		fprintf(stderr, "hlbench shm: --vs-ring: could not set the reference relay up\n");
		first_failed = true;
		rc = 1;
	}
	for (unsigned k = 0; k < rounds && !first_failed && !stop; k++)
		for (unsigned i = 0; i < nsizes && !stop; i++) {
			if (res[i].unsupported)
				continue;
			measure(&g, sizes[i], seconds, &res[i]);
			/* the reference right after each size, the switch worker idle meanwhile */
			if (vs_ring && res[i].rounds > 0 && !stop)
				res[i].ref_mpps[res[i].rounds - 1] = ref_pump(&ref, (uint64_t)seconds * 1000000000ull,
									       &g.seq);
		}
	ref_close(&ref);
	for (unsigned i = 0; i < nsizes && !first_failed && !stop; i++) {
		if (res[i].unsupported)
			continue;
		if (res[i].n == 0) {
			rc = 1;
			continue;
		}
		report(res, sizes, i, seconds, sw_cpu, room, mtu, g.rx_other);
		if (bench_median(res[i].rx_s, res[i].n) <= 0)
			rc = 1;
	}
	rig_close(&g);
	return stop ? 1 : rc;
}
