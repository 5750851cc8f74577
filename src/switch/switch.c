/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The switch: port table, workers, forwarding and idle back-off. The
 * threading rules are in include/hugelink/switch.h; in short, the control
 * thread publishes and unpublishes port pointers and waits for workers to
 * pass a quiescent point (`seen` catching up with `gen`, or asleep) before
 * a removed port is closed. A port's VLAN membership goes the same way: a
 * new copy is published, and the old one freed after a quiescent point.
 * Within a burst a worker reads the ingress port's membership once, and an
 * output port's once when it first queues a frame for it and once as it
 * sends: where the two differ (it changed meanwhile) the queued frames are
 * checked again against the one it sends by. Moving a receive queue to
 * another worker uses the same wait: its old worker's bit goes first, and
 * the new one's is set only once every worker is past the old state, so
 * one queue is never polled by two threads.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <hugelink/switch.h>

#include "../common/clock_pvt.h"
#include "sw_vlan_pvt.h"

const char *const hl_sw_drop_names[HL_SW_DROP_MAX] = {
	[HL_SW_DROP_TX_FULL] = "tx_full", [HL_SW_DROP_NO_BUF] = "no_buf", [HL_SW_DROP_BAD] = "bad",
	[HL_SW_DROP_TOO_BIG] = "too_big", [HL_SW_DROP_NO_PORT] = "no_port",
	[HL_SW_DROP_VLAN_TAGGED] = "vlan_tagged", [HL_SW_DROP_VLAN_FILTERED] = "vlan_filtered",
	[HL_SW_DROP_VLAN_BAD] = "vlan_bad",
};

#define WAKE_DATA 0xffffffffull   /* epoll data of a worker's own eventfd */
#define SLEEP_MS 100              /* bound on one sleep, so nothing waits on a lost wake-up */
#define REWAKE_NS 1000000ull      /* after an empty wake-up, poll this long before sleeping again */

struct worker {
	struct hl_switch *sw;
	unsigned id;
	pthread_t th;
	int epfd;
	int wake_fd;
	int started;
	uint64_t seen;      /* last generation this worker finished an iteration in */
	int sleeping;
	int stop;
	struct hl_sw_worker_info info;
	struct hl_sw_port_stats st[HL_SW_MAX_PORTS]; /* `ol` holds what this worker did at egress */
	/* the burst received last and the one before it */
	struct hl_buf *in[2][HL_SW_BURST];
	/* per burst: packets bound for each port, what each is (sw_vlan_ingress), by which membership they went */
	struct hl_buf *out[HL_SW_MAX_PORTS][HL_SW_BURST];
	uint16_t otag[HL_SW_MAX_PORTS][HL_SW_BURST];
	const struct hl_sw_vlan *ovlan[HL_SW_MAX_PORTS];
	uint16_t nout[HL_SW_MAX_PORTS];
} hl_cache_aligned;

struct hl_switch {
	struct hl_bufpool *bp;
	struct hl_mac_table *mac;
	uint64_t aging_ns;
	uint64_t idle_ns;
	unsigned nworkers;
	int first_cpu;
	uint64_t gen;
	unsigned nslots; /* high-water mark of used slots */
	struct hl_sw_port *ports[HL_SW_MAX_PORTS];
	struct hl_sw_port_stats base[HL_SW_MAX_PORTS]; /* counters at add time */
	unsigned nassigned[HL_SW_MAX_WORKERS];
	uint64_t last_age_ns;
	/* control thread only: MAC moves (see log_moves, forget_stopped) */
	uint64_t moves_logged;        /* the table's moves the log has told of */
	uint64_t moves_relearned;     /* MACs forgotten with a stopped port and learned on another */
	struct hl_sw_mac_moves last;  /* the latest move of either kind */
	struct forgotten {
		uint8_t mac[6];
		uint16_t from;
		uint16_t vlan;
		uint64_t at_ns;
	} forgotten[HL_SW_FORGOTTEN];
	unsigned nforgotten;
	struct worker *w;
};

static inline struct hl_sw_port *port_get(struct hl_switch *sw, unsigned i)
{
	return __atomic_load_n(&sw->ports[i], __ATOMIC_ACQUIRE);
}

/* The membership a worker goes by; valid until its next quiescent point. */
static inline const struct hl_sw_vlan *port_vlan(const struct hl_sw_port *p)
{
	return __atomic_load_n(&p->vlan_live, __ATOMIC_ACQUIRE);
}

static inline void tx_lock(struct hl_switch *sw, struct hl_sw_port *p)
{
	if (sw->nworkers == 1)
		return;
	while (__atomic_exchange_n(&p->tx_lock, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&p->tx_lock, __ATOMIC_RELAXED))
			__builtin_ia32_pause();
}

static inline void tx_unlock(struct hl_switch *sw, struct hl_sw_port *p)
{
	if (sw->nworkers > 1)
		__atomic_store_n(&p->tx_lock, 0, __ATOMIC_RELEASE);
}

static inline bool is_multicast(const uint8_t *mac)
{
	return mac[0] & 1;
}

/*
 * The 6 bytes of a MAC address as a number (never UINT64_MAX), the value a
 * 6-byte copy into a zeroed u64 gives, built in registers: that copy
 * compiles to two stores and an 8-byte load of the same stack slot, which
 * cannot be forwarded and stalled every frame (two keys a frame, half the
 * forwarding loop's time at 64 B).
 */
static inline uint64_t mac_key(const uint8_t *mac)
{
	uint32_t lo;
	uint16_t hi;
	memcpy(&lo, mac, 4);
	memcpy(&hi, mac + 4, 2);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (uint64_t)lo | (uint64_t)hi << 32;
#else
	return (uint64_t)lo << 32 | (uint64_t)hi << 16;
#endif
}

/*
 * Queue pkt, which is `tag`, for port o, found to carry its VLAN by
 * membership v; `o` has room: a burst brings at most HL_SW_BURST packets.
 */
static inline void put_out(struct worker *w, unsigned o, struct hl_buf *b, uint16_t tag, const struct hl_sw_vlan *v)
{
	uint16_t k = w->nout[o]++;
	if (k == 0)
		w->ovlan[o] = v;
	w->otag[o][k] = tag;
	w->out[o][k] = b;
}

/* To every port of b's VLAN but the ingress one. */
static void flood(struct worker *w, struct hl_buf *b, unsigned in, uint16_t tag)
{
	struct hl_switch *sw = w->sw;
	bool first = true;
	for (unsigned j = 0; j < sw->nslots; j++) {
		struct hl_sw_port *p = port_get(sw, j);
		if (j == in || p == NULL)
			continue;
		const struct hl_sw_vlan *v = port_vlan(p);
		if (!hl_sw_vlan_carries(v, SW_VLAN_VID(tag)))
			continue;
		if (!first)
			hl_buf_ref(b);
		first = false;
		put_out(w, j, b, tag, v);
	}
	if (first) {
		w->st[in].drops[HL_SW_DROP_NO_PORT]++;
		hl_buf_free(b);
	}
}

/*
 * Send c frames, some with offload metadata, to a port that may not take
 * them as they are: each such frame becomes what hl_ol_prepare makes of it
 * for this port (itself, a completed copy, or its segments), sent in
 * bursts. Frames that cannot be made to fit are dropped by reason.
 * Returns how many frames went and, in *given, how many the port was
 * offered: their difference is the port's shortfall.
 */
static uint16_t tx_offload(struct worker *w, struct hl_sw_port *op, struct hl_buf **pkts, const uint16_t *tags,
			   uint16_t c, struct hl_sw_port_stats *ost, unsigned *given)
{
	uint32_t caps = 0, max_frame = 1514;
	struct hl_buf *batch[HL_SW_BURST], *segs[HL_OL_SEGS_MAX];
	unsigned nb = 0, sent = 0;

	if (op->ops->offloads != NULL)
		op->ops->offloads(op, &caps, &max_frame);
	/*
	 * A tagged frame carries a tag beyond what an Ethernet MTU counts
	 * (802.1Q: 1518 bytes for 1500). Only a limit of that kind (1514 or
	 * less) grows: a larger one is the port's buffers', with no room to spare.
	 */
	uint32_t tagged_max = max_frame <= 1514 ? max_frame + 4 : max_frame;
	*given = 0;
	for (uint16_t k = 0; k < c; k++) {
		uint32_t mf = tags[k] & SW_VLAN_TAGGED ? tagged_max : max_frame;
		int n = hl_ol_prepare(pkts[k], caps, mf, w->sw->bp, segs, HL_OL_SEGS_MAX, &ost->ol);
		if (hl_unlikely(n < 0)) {
			ost->drops[n == -ENOBUFS ? HL_SW_DROP_NO_BUF : n == -EMSGSIZE ? HL_SW_DROP_TOO_BIG
										    : HL_SW_DROP_BAD]++;
			hl_buf_free(pkts[k]);
			continue;
		}
		for (int i = 0; i < n; i++) {
			batch[nb++] = segs[i];
			if (nb == HL_SW_BURST) {
				sent += op->ops->tx(op, batch, (uint16_t)nb, &ost->tx_bytes);
				*given += nb;
				nb = 0;
			}
		}
	}
	if (nb > 0) {
		sent += op->ops->tx(op, batch, (uint16_t)nb, &ost->tx_bytes);
		*given += nb;
	}
	return (uint16_t)(sent > UINT16_MAX ? UINT16_MAX : sent);
}

static inline bool any_offload(struct hl_buf *const *pkts, uint16_t c)
{
	uint16_t f = 0;
	for (uint16_t k = 0; k < c; k++)
		f |= pkts[k]->flags;
	return f & HL_BUF_F_OFFLOAD;
}

/* One burst received from port `in`: classify, learn, then one transmit call per output port. */
static void forward_burst(struct worker *w, struct hl_sw_port *in, struct hl_buf **pkts, uint16_t n, uint64_t now)
{
	struct hl_switch *sw = w->sw;

	struct hl_sw_port_stats *ist = &w->st[in->id];
	const struct hl_sw_vlan *iv = port_vlan(in);
	/*
	 * A burst is mostly one flow: the MAC table is asked again only when a
	 * packet's source or destination differs from the one before. A learn
	 * may change any answer, so it forgets the remembered destination.
	 */
	uint64_t last_src = UINT64_MAX, last_dst = UINT64_MAX; /* VLAN << 48 | MAC */
	int last_o = -1;
	ist->rx_packets += n;
	for (unsigned k = 0; k < n; k++) {
		struct hl_buf *b = pkts[k];
		if (k + 1 < n)
			__builtin_prefetch(hl_buf_data(pkts[k + 1]));
		ist->rx_bytes += b->pkt_len;
		if (hl_unlikely(b->data_len < 14)) {
			ist->drops[HL_SW_DROP_BAD]++;
			hl_buf_free(b);
			continue;
		}
		const uint8_t *eth = hl_buf_data(b);
		enum hl_sw_drop why;
		int tag = sw_vlan_ingress(iv, b, &why);
		if (hl_unlikely(tag < 0)) {
			ist->drops[why]++;
			hl_buf_free(b);
			continue;
		}
		uint16_t vid = SW_VLAN_VID(tag);
		uint64_t vkey = (uint64_t)vid << 48;
		uint64_t dst = mac_key(eth) | vkey, src = mac_key(eth + 6) | vkey;
		b->port = in->id;
		if (src != last_src) {
			if (!is_multicast(eth + 6))
				hl_mac_learn_vlan(sw->mac, vid, eth + 6, in->id, now);
			last_src = src;
			last_dst = UINT64_MAX;
		}
		if (is_multicast(eth)) {
			flood(w, b, in->id, (uint16_t)tag);
			continue;
		}
		int o = last_o;
		if (dst != last_dst) {
			o = last_o = hl_mac_lookup_vlan(sw->mac, vid, eth, now);
			last_dst = dst;
		}
		struct hl_sw_port *to = o < 0 || (unsigned)o >= sw->nslots ? NULL : port_get(sw, (unsigned)o);
		const struct hl_sw_vlan *tv = to != NULL ? port_vlan(to) : NULL;
		/* a port is learned only in VLANs it carries, and one that left a VLAN may still be learned there */
		if (tv == NULL || !hl_sw_vlan_carries(tv, vid)) {
			flood(w, b, in->id, (uint16_t)tag);
		} else if ((unsigned)o == in->id) {
			/* the destination is behind the port it came from */
			ist->drops[HL_SW_DROP_NO_PORT]++;
			hl_buf_free(b);
		} else {
			put_out(w, (unsigned)o, b, (uint16_t)tag, tv);
		}
	}

	for (unsigned j = 0; j < sw->nslots; j++) {
		uint16_t c = w->nout[j];
		if (c == 0)
			continue;
		w->nout[j] = 0;
		struct hl_sw_port *op = port_get(sw, j);
		struct hl_sw_port_stats *ost = &w->st[j];
		unsigned sent = 0, given = c;
		const struct hl_sw_vlan *ov = op != NULL ? port_vlan(op) : NULL;
		/* its membership changed since the first of these frames was queued: they go by the one in force */
		if (hl_unlikely(ov != NULL && ov != w->ovlan[j]))
			given = c = sw_vlan_refilter(ov, w->out[j], w->otag[j], c, ost);
		/* a frame that came in untagged and leaves by a trunk gets its tag, and the other way round */
		if (hl_unlikely(ov != NULL && sw_vlan_may_retag(iv, ov)))
			given = c = sw_vlan_retag(ov, w->out[j], w->otag[j], c, sw->bp, ost);
		if (hl_likely(op != NULL)) {
			/* the port takes over all c references, sent or not */
			tx_lock(sw, op);
			if (hl_likely(!any_offload(w->out[j], c)))
				sent = op->ops->tx(op, w->out[j], c, &ost->tx_bytes);
			else
				sent = tx_offload(w, op, w->out[j], w->otag[j], c, ost, &given);
			tx_unlock(sw, op);
		} else {
			hl_buf_free_bulk(w->out[j], c);
		}
		ost->tx_packets += sent;
		ost->drops[HL_SW_DROP_TX_FULL] += given - sent;
	}
}

/* The queues of p that w polls: the control thread moves them (hl_switch_move_queues). */
static inline uint32_t rxq_mask(const struct worker *w, const struct hl_sw_port *p)
{
	return __atomic_load_n(&p->rxq_mask[w->id], __ATOMIC_RELAXED);
}

/* Does worker w poll (some of) p's receive side? */
static inline bool polls(const struct worker *w, const struct hl_sw_port *p)
{
	return p->nrxq > 1 ? rxq_mask(w, p) != 0 : __atomic_load_n(&p->worker, __ATOMIC_RELAXED) == w->id;
}

/* Before sleeping: ask p (the queues of it that w polls) to wake w; false if packets wait. */
static bool arm_port(const struct worker *w, struct hl_sw_port *p)
{
	if (p->nrxq <= 1)
		return p->ops->arm == NULL || p->ops->arm(p);
	for (uint32_t m = rxq_mask(w, p); m != 0; m &= m - 1)
		if (p->ops->arm_queue != NULL && !p->ops->arm_queue(p, (unsigned)__builtin_ctz(m)))
			return false;
	return true;
}

static void disarm_port(const struct worker *w, struct hl_sw_port *p)
{
	if (p->nrxq <= 1) {
		if (p->ops->disarm != NULL)
			p->ops->disarm(p);
		return;
	}
	for (uint32_t m = rxq_mask(w, p); m != 0; m &= m - 1)
		if (p->ops->disarm_queue != NULL)
			p->ops->disarm_queue(p, (unsigned)__builtin_ctz(m));
}

/* Arm every port this worker polls and sleep until a kick, a wake-up or the bound. */
static void idle_sleep(struct worker *w)
{
	struct hl_switch *sw = w->sw;
	struct epoll_event ev[16];
	bool ok = true;
	int timeout = SLEEP_MS;

	for (unsigned i = 0; i < sw->nslots && ok; i++) {
		struct hl_sw_port *p = port_get(sw, i);
		if (p == NULL || !polls(w, p))
			continue;
		if (p->ops->max_sleep_ms != 0 && (int)p->ops->max_sleep_ms < timeout)
			timeout = (int)p->ops->max_sleep_ms;
		ok = arm_port(w, p);
	}
	if (ok) {
		/* from here until `sleeping` drops, this worker touches no port */
		__atomic_store_n(&w->sleeping, 1, __ATOMIC_SEQ_CST);
		int n = epoll_wait(w->epfd, ev, 16, timeout);
		__atomic_store_n(&w->sleeping, 0, __ATOMIC_SEQ_CST);
		for (int i = 0; i < n; i++) {
			uint64_t v;
			if (ev[i].data.u64 == WAKE_DATA && read(w->wake_fd, &v, sizeof(v)) < 0)
				continue;
		}
		w->info.sleeps++;
	}
	for (unsigned i = 0; i < sw->nslots; i++) {
		struct hl_sw_port *p = port_get(sw, i);
		if (p != NULL && polls(w, p))
			disarm_port(w, p);
	}
}

/*
 * What one loop has received and not yet forwarded: a burst from a port
 * whose frames are still on their way (rx_in_flight) is forwarded after
 * the next poll, which gives their first lines, the ones forwarding reads,
 * time to arrive.
 */
struct rx_loop {
	struct hl_sw_port *held;
	uint16_t nheld;
	unsigned cur;
};

/* p just gave n frames into w->in[l->cur]: forward what was held, then these (or hold them). */
static inline void took(struct worker *w, struct rx_loop *l, struct hl_sw_port *p, uint16_t n, uint64_t t0)
{
	if (l->nheld > 0) {
		forward_burst(w, l->held, w->in[l->cur ^ 1], l->nheld, t0);
		l->nheld = 0;
	}
	if (n == 0)
		return;
	if (p->ops->rx_in_flight) {
		l->held = p;
		l->nheld = n;
		l->cur ^= 1;
	} else {
		forward_burst(w, p, w->in[l->cur], n, t0);
	}
}

/* Poll the receive queues of p that w owns and that run now; how many packets came. */
static inline unsigned poll_queues(struct worker *w, struct rx_loop *l, struct hl_sw_port *p, uint64_t t0)
{
	uint32_t m = rxq_mask(w, p);
	unsigned moved = 0;
	if (m == 0)
		return 0;
	for (m &= p->ops->rxq_ready(p); m != 0; m &= m - 1) {
		uint16_t n = p->ops->rx_queue(p, (unsigned)__builtin_ctz(m), w->sw->bp, w->in[l->cur], HL_SW_BURST);
		took(w, l, p, n, t0);
		moved += n;
	}
	return moved;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct hl_switch *sw = w->sw;

	if (sw->first_cpu >= 0) {
		cpu_set_t s;
		CPU_ZERO(&s);
		CPU_SET((unsigned)sw->first_cpu + w->id, &s);
		pthread_setaffinity_np(pthread_self(), sizeof(s), &s);
	}
	hl_buf_thread_attach();
	/* one clock read per loop: it stamps the next loop's bursts too */
	uint64_t start = hl__fast_ns(), last_busy = start, t0 = start;
	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		uint64_t gen = __atomic_load_n(&sw->gen, __ATOMIC_SEQ_CST);
		unsigned moved = 0;
		/* port pointers stay valid until `seen` is stored below */
		struct rx_loop l = {.held = NULL, .nheld = 0, .cur = 0};
		for (unsigned i = 0; i < sw->nslots; i++) {
			struct hl_sw_port *p = port_get(sw, i);
			if (p == NULL)
				continue;
			if (p->nrxq > 1) {
				moved += poll_queues(w, &l, p, t0);
				continue;
			}
			if (__atomic_load_n(&p->worker, __ATOMIC_RELAXED) != w->id)
				continue;
			uint16_t n = p->ops->rx(p, sw->bp, w->in[l.cur], HL_SW_BURST);
			took(w, &l, p, n, t0);
			moved += n;
		}
		if (l.nheld > 0)
			forward_burst(w, l.held, w->in[l.cur ^ 1], l.nheld, t0);
		__atomic_store_n(&w->seen, gen, __ATOMIC_RELEASE);
		uint64_t t1 = hl__fast_ns();
		w->info.loops++;
		w->info.total_ns = t1 - start;
		if (moved) {
			w->info.busy_ns += t1 - t0;
			last_busy = t1;
		} else if (t1 - last_busy > sw->idle_ns) {
			idle_sleep(w);
			t1 = hl__fast_ns();
			/* a timeout with nothing to do: sleep again soon, not after a full idle period */
			last_busy = t1 - sw->idle_ns + (sw->idle_ns < REWAKE_NS ? sw->idle_ns : REWAKE_NS);
		}
		t0 = t1;
	}
	__atomic_store_n(&w->sleeping, 1, __ATOMIC_SEQ_CST);
	hl_buf_thread_detach();
	return NULL;
}

static void wake(struct worker *w)
{
	uint64_t one = 1;
	if (write(w->wake_fd, &one, sizeof(one)) < 0)
		HL_LOG_DEBUG("switch: wake worker %u: %s", w->id, strerror(errno));
}

int hl_switch_create(const struct hl_switch_params *prm, struct hl_switch **out)
{
	if (prm->bp == NULL)
		return hl_error(-EINVAL, "switch: no buffer pool");
	unsigned nw = prm->workers ? prm->workers : 1;
	if (nw > HL_SW_MAX_WORKERS)
		return hl_error(-EINVAL, "switch: %u workers (at most %u)", nw, HL_SW_MAX_WORKERS);
	hl_fast_clock_init();
	struct hl_switch *sw = calloc(1, sizeof(*sw));
	if (sw == NULL)
		return hl_error(-ENOMEM, "switch: out of memory");
	sw->bp = prm->bp;
	sw->nworkers = nw;
	sw->aging_ns = prm->aging_ns ? prm->aging_ns : 300ull * 1000000000ull;
	sw->last.last_port = -1;
	sw->idle_ns = (prm->idle_us ? prm->idle_us : HL_SW_IDLE_US) * 1000ull;
	sw->first_cpu = prm->first_cpu;
	int rc = hl_mac_table_create(prm->mac_entries ? prm->mac_entries : 4096, sw->aging_ns, &sw->mac);
	if (rc < 0) {
		free(sw);
		return rc;
	}
	if (posix_memalign((void **)&sw->w, HL_CACHE_LINE, nw * sizeof(*sw->w)) != 0) {
		hl_mac_table_destroy(sw->mac);
		free(sw);
		return hl_error(-ENOMEM, "switch: out of memory");
	}
	memset(sw->w, 0, nw * sizeof(*sw->w));
	for (unsigned i = 0; i < nw; i++) {
		struct worker *w = &sw->w[i];
		w->sw = sw;
		w->id = i;
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = WAKE_DATA};
		if (w->epfd < 0 || w->wake_fd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wake_fd, &ev) < 0) {
			rc = hl_error(-errno, "switch: worker %u: %s", i, strerror(errno));
			goto fail;
		}
	}
	for (unsigned i = 0; i < nw; i++) {
		if ((rc = -pthread_create(&sw->w[i].th, NULL, worker_main, &sw->w[i])) < 0) {
			hl_error(rc, "switch: cannot start worker %u", i);
			goto fail;
		}
		sw->w[i].started = 1;
	}
	*out = sw;
	HL_LOG_INFO("switch: %u worker(s), MAC aging %llu s", nw, (unsigned long long)(sw->aging_ns / 1000000000ull));
	return 0;
fail:
	hl_switch_destroy(sw);
	return rc;
}

/* Every worker is past a point where it could hold a pointer published before gen. */
static void wait_quiescent(struct hl_switch *sw)
{
	uint64_t gen = __atomic_add_fetch(&sw->gen, 1, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < sw->nworkers; i++) {
		struct worker *w = &sw->w[i];
		if (!w->started)
			continue;
		while (__atomic_load_n(&w->seen, __ATOMIC_ACQUIRE) < gen &&
		       !__atomic_load_n(&w->sleeping, __ATOMIC_SEQ_CST))
			sched_yield();
	}
}

void hl_switch_destroy(struct hl_switch *sw)
{
	if (sw == NULL)
		return;
	for (unsigned i = 0; i < sw->nworkers; i++) {
		struct worker *w = &sw->w[i];
		__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
		if (w->started) {
			wake(w);
			pthread_join(w->th, NULL);
		}
	}
	for (unsigned i = 0; i < sw->nslots; i++) {
		struct hl_sw_port *p = sw->ports[i];
		if (p != NULL) {
			sw->ports[i] = NULL;
			free((void *)p->vlan_live);
			p->vlan_live = NULL;
			p->ops->close(p);
		}
	}
	for (unsigned i = 0; i < sw->nworkers; i++) {
		if (sw->w[i].epfd > 0)
			close(sw->w[i].epfd);
		if (sw->w[i].wake_fd > 0)
			close(sw->w[i].wake_fd);
	}
	hl_mac_table_destroy(sw->mac);
	free(sw->w);
	free(sw);
}

static void sum_stats(struct hl_switch *sw, unsigned slot, struct hl_sw_port_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (unsigned i = 0; i < sw->nworkers; i++) {
		const struct hl_sw_port_stats *s = &sw->w[i].st[slot];
		st->rx_packets += __atomic_load_n(&s->rx_packets, __ATOMIC_RELAXED);
		st->rx_bytes += __atomic_load_n(&s->rx_bytes, __ATOMIC_RELAXED);
		st->tx_packets += __atomic_load_n(&s->tx_packets, __ATOMIC_RELAXED);
		st->tx_bytes += __atomic_load_n(&s->tx_bytes, __ATOMIC_RELAXED);
		for (unsigned d = 0; d < HL_SW_DROP_MAX; d++)
			st->drops[d] += __atomic_load_n(&s->drops[d], __ATOMIC_RELAXED);
		hl_ol_stats_add(&st->ol, &s->ol);
	}
}

struct hl_sw_port *hl_switch_find_port(struct hl_switch *sw, const char *name)
{
	for (unsigned i = 0; i < sw->nslots; i++)
		if (sw->ports[i] != NULL && strcmp(sw->ports[i]->name, name) == 0)
			return sw->ports[i];
	return NULL;
}

struct hl_sw_port *hl_switch_port_at(struct hl_switch *sw, unsigned i)
{
	return i < sw->nslots ? sw->ports[i] : NULL;
}

#define NO_WORKER 0xffffu /* p->worker while a single-queue port moves: nobody polls it */

/* Receive queues the switch tells apart: rx alone counts as one. */
static inline unsigned nqueues(const struct hl_sw_port *p)
{
	return p->nrxq > 1 ? p->nrxq : 1;
}

/* The worker that polls receive queue q of p (control thread). */
static unsigned queue_owner(const struct hl_sw_port *p, unsigned q)
{
	if (p->nrxq > 1)
		for (unsigned w = 0; w < HL_SW_MAX_WORKERS; w++)
			if (p->rxq_mask[w] & (1u << q))
				return w;
	return p->worker;
}

/*
 * Deal n queues to the least loaded workers, one at a time (round-robin
 * when they are even), counting each into load as it goes.
 */
static void spread(const struct hl_switch *sw, unsigned n, unsigned *load, unsigned *owner)
{
	for (unsigned q = 0; q < n; q++) {
		unsigned w = 0;
		for (unsigned i = 1; i < sw->nworkers; i++)
			if (load[i] < load[w])
				w = i;
		owner[q] = w;
		load[w]++;
	}
}

/* Have queue q's kicks wake worker w (again: the registration moves there). */
static int set_wake(struct hl_switch *sw, struct hl_sw_port *p, unsigned q, unsigned w)
{
	if (p->nrxq > 1)
		return p->ops->set_queue_wakeup == NULL ? 0 : p->ops->set_queue_wakeup(p, q, sw->w[w].epfd, p->id);
	return p->ops->set_wakeup == NULL ? 0 : p->ops->set_wakeup(p, sw->w[w].epfd, p->id);
}

/*
 * Give p's receive side to workers, one queue at a time to the least
 * loaded, and have each queue's kicks wake its own worker. Nothing is
 * counted unless all of it went.
 */
static int assign(struct hl_switch *sw, struct hl_sw_port *p)
{
	unsigned n = nqueues(p), owner[HL_SW_MAX_RXQ], load[HL_SW_MAX_WORKERS];
	memcpy(load, sw->nassigned, sizeof(load));
	spread(sw, n, load, owner);
	for (unsigned q = 0; q < n; q++) {
		int rc = set_wake(sw, p, q, owner[q]);
		if (rc < 0)
			return rc;
	}
	memset(p->rxq_mask, 0, sizeof(p->rxq_mask));
	if (p->nrxq > 1)
		for (unsigned q = 0; q < n; q++)
			p->rxq_mask[owner[q]] |= 1u << q;
	memcpy(sw->nassigned, load, sizeof(load));
	p->worker = (uint16_t)owner[0];
	return 0;
}

static void unassign(struct hl_switch *sw, const struct hl_sw_port *p)
{
	for (unsigned q = 0; q < nqueues(p); q++)
		sw->nassigned[queue_owner(p, q)]--;
}

unsigned hl_switch_queue_worker(const struct hl_sw_port *p, unsigned q)
{
	return q < nqueues(p) ? queue_owner(p, q) : p->worker;
}

/*
 * A queue changes worker in three steps. The new worker's epoll gets its
 * kicks first (a failure there moves nothing). Then the old worker's bit
 * goes and every worker passes a quiescent point: the old one has finished
 * any poll of the queue, or sleeps and reads its bits afresh when it
 * wakes. Only then does the new worker's bit appear, so no two threads
 * ever touch the queue. Between the two, the control thread disarms the
 * queue: the old worker may have asked for kicks before it slept, and the
 * new one, polling, would never take that back.
 */
int hl_switch_move_queues(struct hl_switch *sw, struct hl_sw_port *p, const unsigned *to, unsigned n)
{
	if (p == NULL || p->id >= sw->nslots || sw->ports[p->id] != p)
		return hl_error(-ENOENT, "switch: no such port");
	unsigned nq = nqueues(p), from[HL_SW_MAX_RXQ], want[HL_SW_MAX_RXQ];
	if (n > nq)
		return hl_error(-EINVAL, "port %s: %u workers given for its %u receive queue%s", p->name, n, nq,
				nq == 1 ? "" : "s");
	for (unsigned q = 0; q < nq; q++)
		from[q] = want[q] = queue_owner(p, q);
	if (to == NULL) {
		/* where the port would go if it were added now, beside the others */
		unsigned load[HL_SW_MAX_WORKERS];
		memcpy(load, sw->nassigned, sizeof(load));
		for (unsigned q = 0; q < nq; q++)
			load[from[q]]--;
		spread(sw, nq, load, want);
	}
	for (unsigned q = 0; to != NULL && q < n; q++) {
		if (to[q] >= sw->nworkers)
			return hl_error(-EINVAL, "port %s: worker %u for queue %u: the switch has %u worker%s (0..%u)",
					p->name, to[q], q, sw->nworkers, sw->nworkers == 1 ? "" : "s", sw->nworkers - 1);
		want[q] = to[q];
	}
	uint32_t moving = 0;
	for (unsigned q = 0; q < nq; q++) {
		if (want[q] == from[q])
			continue;
		int rc = set_wake(sw, p, q, want[q]);
		if (rc < 0) {
			for (uint32_t m = moving; m != 0; m &= m - 1)
				set_wake(sw, p, (unsigned)__builtin_ctz(m), from[__builtin_ctz(m)]);
			return rc;
		}
		moving |= 1u << q;
	}
	if (moving == 0)
		return 0;
	if (p->nrxq > 1)
		for (uint32_t m = moving; m != 0; m &= m - 1) {
			unsigned q = (unsigned)__builtin_ctz(m);
			__atomic_store_n(&p->rxq_mask[from[q]], p->rxq_mask[from[q]] & ~(1u << q), __ATOMIC_SEQ_CST);
		}
	else
		__atomic_store_n(&p->worker, NO_WORKER, __ATOMIC_SEQ_CST);
	wait_quiescent(sw);
	for (uint32_t m = moving; m != 0; m &= m - 1) {
		unsigned q = (unsigned)__builtin_ctz(m);
		if (p->nrxq > 1 && p->ops->disarm_queue != NULL)
			p->ops->disarm_queue(p, q);
		else if (p->nrxq <= 1 && p->ops->disarm != NULL)
			p->ops->disarm(p);
		if (p->nrxq > 1)
			__atomic_store_n(&p->rxq_mask[want[q]], p->rxq_mask[want[q]] | 1u << q, __ATOMIC_RELEASE);
		sw->nassigned[from[q]]--;
		sw->nassigned[want[q]]++;
		HL_LOG_INFO("switch: port %s: receive queue %u moved from worker %u to worker %u", p->name, q, from[q],
			    want[q]);
	}
	__atomic_store_n(&p->worker, (uint16_t)want[0], __ATOMIC_RELEASE);
	for (unsigned w = 0; w < sw->nworkers; w++)
		for (uint32_t m = moving; m != 0; m &= m - 1)
			if (want[__builtin_ctz(m)] == w) {
				wake(&sw->w[w]);
				break;
			}
	return 0;
}

/* Wake every worker that polls p, so it sees the port (again). */
static void wake_port(struct hl_switch *sw, const struct hl_sw_port *p)
{
	for (unsigned w = 0; w < sw->nworkers; w++)
		if (polls(&sw->w[w], p))
			wake(&sw->w[w]);
}

/* An immutable copy of membership v for the workers (checked again: a kind may have set it by hand). */
static int vlan_copy(const struct hl_sw_port *p, const struct hl_sw_vlan *v, struct hl_sw_vlan **out)
{
	struct hl_sw_vlan m;
	int rc = sw_vlan_check(p->name, v, &m);
	if (rc < 0)
		return rc;
	if ((*out = malloc(sizeof(**out))) == NULL)
		return hl_error(-ENOMEM, "port %s: out of memory", p->name);
	**out = m;
	return 0;
}

int hl_switch_add_port(struct hl_switch *sw, struct hl_sw_port *p)
{
	struct hl_sw_vlan *live;
	if (hl_switch_find_port(sw, p->name) != NULL)
		return hl_error(-EEXIST, "port %s exists", p->name);
	unsigned slot = 0;
	while (slot < HL_SW_MAX_PORTS && sw->ports[slot] != NULL)
		slot++;
	if (slot == HL_SW_MAX_PORTS)
		return hl_error(-ENOSPC, "switch: all %u ports in use", HL_SW_MAX_PORTS);
	if (p->nrxq > 1 && (p->nrxq > HL_SW_MAX_RXQ || p->ops->rx_queue == NULL || p->ops->rxq_ready == NULL))
		return hl_error(-EINVAL, "port %s: %u receive queues (at most %d, each with rx_queue)", p->name, p->nrxq,
				HL_SW_MAX_RXQ);
	int rc = vlan_copy(p, &p->vlan, &live);
	if (rc < 0)
		return rc;
	p->id = (uint16_t)slot;
	p->tx_lock = 0;
	if ((rc = assign(sw, p)) < 0) {
		free(live);
		return rc;
	}
	p->vlan = *live;
	p->vlan_live = live;
	/* a slot's counters keep counting across ports; a new port starts from here */
	sum_stats(sw, slot, &sw->base[slot]);
	if (slot >= sw->nslots)
		__atomic_store_n(&sw->nslots, slot + 1, __ATOMIC_RELEASE);
	__atomic_store_n(&sw->ports[slot], p, __ATOMIC_RELEASE);
	wake_port(sw, p);
	HL_LOG_INFO("switch: port %s (%s) added as %u, worker %u%s", p->name, p->ops->kind, slot, p->worker,
		    p->nrxq > 1 ? " (queue 0; its other queues round-robin)" : "");
	return 0;
}

int hl_switch_del_port(struct hl_switch *sw, const char *name)
{
	struct hl_sw_port *p = hl_switch_find_port(sw, name);
	if (p == NULL)
		return hl_error(-ENOENT, "no port %s", name);
	__atomic_store_n(&sw->ports[p->id], NULL, __ATOMIC_SEQ_CST);
	wait_quiescent(sw);
	hl_mac_flush_port(sw->mac, p->id);
	unassign(sw, p);
	HL_LOG_INFO("switch: port %s removed", p->name);
	free((void *)p->vlan_live);
	p->vlan_live = NULL;
	p->ops->close(p);
	return 0;
}

/* Membership v in words, for the log. */
static void vlan_say(const struct hl_sw_vlan *v, char *s, size_t len)
{
	unsigned n = 0;
	for (unsigned i = 0; i < HL_ARRAY_SIZE(v->trunk); i++)
		n += (unsigned)__builtin_popcountll(v->trunk[i]);
	if (v->mode == HL_SW_VLAN_ACCESS)
		snprintf(s, len, "access port of VLAN %u", v->vid);
	else if (v->mode == HL_SW_VLAN_TRUNK && v->native != 0)
		snprintf(s, len, "trunk of %u VLAN%s, native VLAN %u", n, n == 1 ? "" : "s", v->native);
	else if (v->mode == HL_SW_VLAN_TRUNK)
		snprintf(s, len, "trunk of %u VLAN%s", n, n == 1 ? "" : "s");
	else
		snprintf(s, len, "untagged");
}

int hl_switch_set_port_vlan(struct hl_switch *sw, const char *name, const struct hl_sw_vlan *v)
{
	struct hl_sw_port *p = hl_switch_find_port(sw, name);
	struct hl_sw_vlan *live;
	if (p == NULL)
		return hl_error(-ENOENT, "no port %s", name);
	int rc = vlan_copy(p, v, &live);
	if (rc < 0)
		return rc;
	const struct hl_sw_vlan *old = p->vlan_live;
	__atomic_store_n(&p->vlan_live, live, __ATOMIC_SEQ_CST);
	/* from here on no worker learns the port in a VLAN it left, so what it learned there can go */
	wait_quiescent(sw);
	uint64_t keep[64];
	for (unsigned i = 0; i < HL_ARRAY_SIZE(keep); i++)
		keep[i] = live->mode == HL_SW_VLAN_TRUNK ? live->trunk[i] : 0;
	if (live->mode == HL_SW_VLAN_ACCESS)
		keep[live->vid / 64] |= 1ull << (live->vid % 64);
	else if (live->mode == HL_SW_VLAN_NONE)
		keep[0] = 1;
	unsigned gone = hl_mac_flush_port_vlans(sw->mac, p->id, keep);
	char was[64], now[64];
	vlan_say(old, was, sizeof(was));
	vlan_say(live, now, sizeof(now));
	HL_LOG_INFO("switch: port %s: %s, was %s (%u MAC%s of VLANs it left forgotten)", p->name, now, was, gone,
		    gone == 1 ? "" : "s");
	free((void *)old);
	p->vlan = *live;
	return 0;
}

/* The port out of the workers' reach for its reset, then back; frames for it meanwhile find no port. */
static int port_reset(struct hl_switch *sw, struct hl_sw_port *p, const char *why)
{
	if (p->ops->reset == NULL)
		return hl_error(-EOPNOTSUPP, "port %s: a %s port cannot be reset", p->name, p->ops->kind);
	__atomic_store_n(&sw->ports[p->id], NULL, __ATOMIC_SEQ_CST);
	wait_quiescent(sw);
	int rc = p->ops->reset(p, why);
	__atomic_store_n(&sw->ports[p->id], p, __ATOMIC_RELEASE);
	wake_port(sw, p);
	return rc;
}

int hl_switch_reset_port(struct hl_switch *sw, const char *name, const char *why)
{
	struct hl_sw_port *p = hl_switch_find_port(sw, name);
	if (p == NULL)
		return hl_error(-ENOENT, "no port %s", name);
	return port_reset(sw, p, why);
}

/*
 * A guest that moved (a migration, a failover) shows as its MAC learned on
 * another port. The workers only count; the control thread says so, once
 * per poll with the latest move, so a flapping MAC cannot flood the log.
 */
static void log_moves(struct hl_switch *sw)
{
	struct hl_mac_stats st;
	hl_mac_table_stats(sw->mac, &st);
	if (st.moved == sw->moves_logged || st.last_move_port < 0)
		return;
	memcpy(sw->last.last_mac, st.last_move_mac, 6);
	sw->last.last_port = st.last_move_port;
	const uint8_t *m = st.last_move_mac;
	struct hl_sw_port *p = st.last_move_port < HL_SW_MAX_PORTS ? sw->ports[st.last_move_port] : NULL;
	HL_LOG_INFO("switch: MAC %02x:%02x:%02x:%02x:%02x:%02x moved to port %s (%llu move%s since the last report, %llu in all)",
		    m[0], m[1], m[2], m[3], m[4], m[5], p ? p->name : "?",
		    (unsigned long long)(st.moved - sw->moves_logged), st.moved - sw->moves_logged == 1 ? "" : "s",
		    (unsigned long long)st.moved);
	sw->moves_logged = st.moved;
}

/*
 * A port whose guest migrated away (its queues stopped while a migration
 * logged them) forgets its MACs: frames for them are flooded until they are
 * learned again, so they reach the guest where it goes on before it has
 * announced itself. A guest that merely stops keeps its entries.
 */
static void forget_stopped(struct hl_switch *sw, struct hl_sw_port *p, uint64_t now)
{
	static struct hl_mac_entry e[4096]; /* control thread only */
	if (p->ops->migrated_away != NULL && p->ops->migrated_away(p)) {
		/* remembered a while, so that where they turn up again counts as a move */
		unsigned k = hl_mac_dump(sw->mac, now, e, 4096);
		for (unsigned i = 0; i < k; i++) {
			if (e[i].port != p->id)
				continue;
			struct forgotten *f = &sw->forgotten[sw->nforgotten++ % HL_SW_FORGOTTEN];
			memcpy(f->mac, e[i].mac, 6);
			f->from = p->id;
			f->vlan = e[i].vlan;
			f->at_ns = now;
		}
		unsigned n = hl_mac_flush_port(sw->mac, p->id);
		if (n > 0)
			HL_LOG_INFO("switch: port %s: its guest migrated away, %u MAC%s forgotten", p->name, n,
				    n == 1 ? "" : "s");
	}
}

/* MACs forgotten with a stopped port that are now learned on another: moves too. */
static void relearned(struct hl_switch *sw, uint64_t now)
{
	unsigned n = sw->nforgotten < HL_SW_FORGOTTEN ? sw->nforgotten : HL_SW_FORGOTTEN;
	for (unsigned i = 0; i < n; i++) {
		struct forgotten *f = &sw->forgotten[i];
		if (f->at_ns == 0)
			continue;
		int at = hl_mac_lookup_vlan(sw->mac, f->vlan, f->mac, now);
		if (at < 0 || at == f->from) {
			if (now - f->at_ns > HL_SW_FORGOTTEN_NS)
				f->at_ns = 0;
			continue;
		}
		const uint8_t *m = f->mac;
		struct hl_sw_port *from = sw->ports[f->from], *to = sw->ports[at];
		sw->moves_relearned++;
		memcpy(sw->last.last_mac, m, 6);
		sw->last.last_port = at;
		HL_LOG_INFO("switch: MAC %02x:%02x:%02x:%02x:%02x:%02x moved from port %s to port %s (migrated)",
			    m[0], m[1], m[2], m[3], m[4], m[5], from ? from->name : "?", to ? to->name : "?");
		f->at_ns = 0;
	}
}

void hl_switch_mac_moves(const struct hl_switch *sw, struct hl_sw_mac_moves *m)
{
	struct hl_mac_stats st;
	hl_mac_table_stats(sw->mac, &st);
	*m = sw->last;
	m->moved = st.moved + sw->moves_relearned;
}

void hl_switch_ctrl(struct hl_switch *sw)
{
	uint64_t now = hl__fast_ns();
	for (unsigned i = 0; i < sw->nslots; i++) {
		struct hl_sw_port *p = sw->ports[i];
		if (p != NULL && p->ops->ctrl != NULL)
			p->ops->ctrl(p);
		if (p != NULL && p->ops->needs_reset != NULL && p->ops->needs_reset(p) &&
		    port_reset(sw, p, "its peer is gone") < 0)
			HL_LOG_WARN("switch: %s", hl_last_error());
		if (p != NULL)
			forget_stopped(sw, p, now);
	}
	log_moves(sw);
	relearned(sw, now);
	if (now - sw->last_age_ns >= 1000000000ull) {
		sw->last_age_ns = now;
		hl_mac_age(sw->mac, now);
	}
}

void hl_switch_port_stats(struct hl_switch *sw, const struct hl_sw_port *p, struct hl_sw_port_stats *st)
{
	struct hl_sw_port_stats cur, own = {0};
	sum_stats(sw, p->id, &cur);
	const struct hl_sw_port_stats *b = &sw->base[p->id];
	st->rx_packets = cur.rx_packets - b->rx_packets;
	st->rx_bytes = cur.rx_bytes - b->rx_bytes;
	st->tx_packets = cur.tx_packets - b->tx_packets;
	st->tx_bytes = cur.tx_bytes - b->tx_bytes;
	for (unsigned d = 0; d < HL_SW_DROP_MAX; d++)
		st->drops[d] = cur.drops[d] - b->drops[d];
	if (p->ops->stats != NULL)
		p->ops->stats(p, &own);
	for (unsigned d = 0; d < HL_SW_DROP_MAX; d++)
		st->drops[d] += own.drops[d];
	/* a packet too big for the output port is also a transmit shortfall: count it once */
	uint64_t tb = own.drops[HL_SW_DROP_TOO_BIG];
	st->drops[HL_SW_DROP_TX_FULL] -= tb < st->drops[HL_SW_DROP_TX_FULL] ? tb : st->drops[HL_SW_DROP_TX_FULL];
	st->zcopy_packets = own.zcopy_packets;
	st->copy_packets = own.copy_packets;
	st->errors = own.errors;
	st->dirty_log_words = own.dirty_log_words;
	st->dirty_log_dropped = own.dirty_log_dropped;
	st->rarps = own.rarps;
	/* egress since the port was added, plus what the port counted itself */
	st->ol = cur.ol;
	hl_ol_stats_sub(&st->ol, &b->ol);
	hl_ol_stats_add(&st->ol, &own.ol);
}

unsigned hl_switch_workers(const struct hl_switch *sw)
{
	return sw->nworkers;
}

void hl_switch_worker_info(const struct hl_switch *sw, unsigned w, struct hl_sw_worker_info *wi)
{
	const struct worker *k = &sw->w[w];
	wi->sleeping = __atomic_load_n(&k->sleeping, __ATOMIC_RELAXED);
	wi->sleeps = __atomic_load_n(&k->info.sleeps, __ATOMIC_RELAXED);
	wi->busy_ns = __atomic_load_n(&k->info.busy_ns, __ATOMIC_RELAXED);
	wi->total_ns = __atomic_load_n(&k->info.total_ns, __ATOMIC_RELAXED);
	wi->loops = __atomic_load_n(&k->info.loops, __ATOMIC_RELAXED);
}

struct hl_mac_table *hl_switch_mac_table(struct hl_switch *sw)
{
	return sw->mac;
}

uint64_t hl_switch_aging_ns(const struct hl_switch *sw)
{
	return sw->aging_ns;
}
