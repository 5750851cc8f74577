/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Zero-copy dequeue against hugelink's own front-end over a real socket:
 * pinned buffers point into the front-end's memory, descriptors come back
 * only when the last reference goes (in any order), the bounds keep the
 * guest's ring moving, the switch's view of a packet cannot be changed by
 * the guest after the kick, and stopping, resetting or losing the queue
 * with buffers pinned leaks nothing and completes nothing twice. The
 * calibration finds a known crossover in a cost model, says whether it
 * measured, agrees with its own medians on the real dequeue, and AUTO's
 * threshold splits copy from zero-copy.
 */
#include <errno.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <unistd.h>

#include <hugelink/virtio_user.h>
#include <hugelink/vhost_port.h>
#include <hugelink/vhost_sock.h>

#include "../../src/vhost/vhost_port_pvt.h"
#include "hl_test.h"
#include "../memory/pool_util.h"
#include "../../src/vhost/vhost_zcopy_calib_pvt.h"

#define RING 256

static struct hl_vhost_port port;
static struct hl_pool *sw_pool, *fe_pool;
static struct hl_bufpool *sw_bp, *fe_bp;
static volatile int stop_ctrl;
static pthread_t ctrl_th;

static void *ctrl_thread(void *arg)
{
	(void)arg;
	while (!stop_ctrl)
		hl_vhost_port_poll_ctrl(&port, 5);
	return NULL;
}

static int make_pool(const char *tag, struct hl_pool **p, struct hl_bufpool **bp, unsigned nbufs)
{
	return pool_with_bufs(hl_test_tmpdir(), tag, 64 << 20, nbufs, p, bp);
}

/* Frame of len bytes: dst MAC 02:..:dst, then bytes derived from seq. */
static struct hl_buf *frame(uint8_t dst, uint32_t seq, uint32_t len)
{
	struct hl_buf *b = hl_buf_alloc(fe_bp);
	if (b == NULL)
		return NULL;
	uint8_t *d = hl_buf_data(b);
	for (uint32_t i = 0; i < len; i++)
		d[i] = (uint8_t)(i * 13 + seq);
	memcpy(d, (uint8_t[6]){2, 0, 0, 0, 0, dst}, 6);
	memcpy(d + 14, &seq, 4);
	b->data_len = b->pkt_len = len;
	return b;
}

/* A frame of len bytes, as a chain of front-end buffers when it does not fit one. */
static struct hl_buf *frame_chain(uint8_t dst, uint32_t seq, uint32_t len)
{
	enum { PIECE = 1900 };
	if (len <= PIECE)
		return frame(dst, seq, len);
	struct hl_buf *head = NULL;
	for (uint32_t at = 0; at < len; at += PIECE) {
		uint32_t k = len - at < PIECE ? len - at : PIECE;
		struct hl_buf *s = hl_buf_alloc(fe_bp);
		if (s == NULL) {
			if (head != NULL)
				hl_buf_free(head);
			return NULL;
		}
		memset(hl_buf_data(s), (uint8_t)(seq + at), k);
		s->data_len = s->pkt_len = k;
		if (head == NULL)
			head = s;
		else
			hl_buf_chain(head, s);
	}
	memcpy(hl_buf_data(head), (uint8_t[6]){2, 0, 0, 0, 0, dst}, 6);
	return head;
}

static bool frame_ok(const struct hl_buf *b, uint8_t dst, uint32_t len, uint32_t *seq)
{
	uint8_t flat[2048];
	uint32_t at = 0;
	if (b->pkt_len != len || len > sizeof(flat))
		return false;
	for (const struct hl_buf *s = b; s; s = s->next) {
		if (at + s->data_len > len)
			return false;
		memcpy(flat + at, hl_buf_data(s), s->data_len);
		at += s->data_len;
	}
	memcpy(seq, flat + 14, 4);
	if (at != len || flat[5] != dst)
		return false;
	for (uint32_t i = 18; i < len; i++)
		if (flat[i] != (uint8_t)(i * 13 + *seq))
			return false;
	return true;
}

/* The switch's pool and the front-end's, made once for all the tests. */
static void setup(void)
{
	HL_TEST_NEED(access("/dev/hugepages", F_OK) == 0, "hugetlbfs at /dev/hugepages");
	if (sw_pool == NULL) {
		REQUIRE_OK(make_pool("sw", &sw_pool, &sw_bp, 8192));
		REQUIRE_OK(make_pool("fe", &fe_pool, &fe_bp, 4096));
	}
}

/*
 * The pools (setup(), once), a port zero-copying as asked, its control
 * thread, and the front-end connected with its transmit queue running: 0,
 * or what failed.
 */
static int open_pair(struct hl_vuser *u, enum hl_vhost_zc_mode mode, uint32_t min_len, uint32_t max_pinned,
		     uint64_t max_pin_ns)
{
	char path[256];
	int rc;
	setup();
	if (sw_pool == NULL || fe_pool == NULL)
		return -ENOENT; /* setup() said what is missing */
	snprintf(path, sizeof(path), "%s/zc.sock", hl_test_tmpdir());
	struct hl_vhost_port_params pp = {.path = path, .zc_mode = mode, .zc_min_len = min_len,
					  .zc_max_pinned = max_pinned, .zc_max_pin_ns = max_pin_ns};
	if ((rc = hl_vhost_port_open(&port, &pp)) < 0)
		return rc;
	stop_ctrl = 0;
	if (pthread_create(&ctrl_th, NULL, ctrl_thread, NULL) != 0)
		return -EAGAIN;
	struct hl_vuser_params up = {.path = path, .pool = fe_pool, .bp = fe_bp, .ring_size = RING};
	if ((rc = hl_vuser_open(u, &up)) < 0)
		return rc;
	for (int i = 0; i < 200 && !hl_vhost_port_queue_ready(&port, 1); i++)
		usleep(10000);
	return hl_vhost_port_queue_ready(&port, 1) ? 0 : -ETIMEDOUT;
}

static void close_pair(struct hl_vuser *u)
{
	hl_vuser_close(u);
	for (int i = 0; i < 200 && hl_vhost_port_queue_ready(&port, 1); i++)
		usleep(5000);
	stop_ctrl = 1;
	pthread_join(ctrl_th, NULL);
	hl_vhost_port_close(&port);
}

/* The pair closed, and every buffer back in the switch's bufpool and the front-end's. */
static void close_pair_all_back(struct hl_vuser *u)
{
	close_pair(u);
	CHECK_EQ(hl_bufpool_in_use(sw_bp), 0);
	CHECK_EQ(hl_bufpool_in_use(fe_bp), 0);
}

/* Let the back-end drain completions (it does so at each dequeue), then count what the front-end got back. */
static unsigned settle(struct hl_vuser *u)
{
	struct hl_buf *none[1];
	unsigned back = 0;
	for (int i = 0; i < 20; i++) {
		CHECK_EQ(hl_vhost_dequeue_burst(&port, 1, sw_bp, none, 1), 0);
		back += hl_vuser_tx_reclaim(u);
		usleep(1000);
	}
	return back;
}

/* Let the back-end return what it still holds, then close the pair with every buffer back. */
static void settle_and_close(struct hl_vuser *u)
{
	settle(u);
	close_pair_all_back(u);
}

/* Send `count` frames, dequeue them all (keeping them) into out[]. */
static unsigned send_and_take(struct hl_vuser *u, unsigned count, uint32_t len, struct hl_buf **out, unsigned max)
{
	unsigned sent = 0, got = 0;
	for (int spin = 0; got < count && got < max && spin < 100000; spin++) {
		if (sent < count) {
			struct hl_buf *b = frame_chain(0x22, sent, len);
			if (b != NULL && hl_vuser_tx_burst(u, &b, 1) == 1)
				sent++;
			else
				hl_buf_free(b);
		}
		got += hl_vhost_dequeue_burst(&port, 1, sw_bp, out + got,
					      (uint16_t)(max - got < HL_VHOST_BURST ? max - got : HL_VHOST_BURST));
		if (sent == count && got < count)
			usleep(10);
	}
	return got;
}

HL_TEST(pinned_until_freed_then_returned_in_avail_order)
{
	struct hl_vuser u;
	struct hl_buf *p[64];
	REQUIRE_OK(open_pair(&u, HL_VHOST_ZC_ON, 0, 0, 0));
	unsigned got = send_and_take(&u, 40, 1500, p, 64);
	REQUIRE(got == 40);
	unsigned ok = 0, ext = 0;
	for (unsigned i = 0; i < got; i++) {
		uint32_t seq;
		ok += frame_ok(p[i], 0x22, 1500, &seq) && seq == i;
		/* head in switch memory with the first 64 bytes, the rest left in guest memory */
		ext += p[i]->data_len == HL_VHOST_ZC_COPY && !(p[i]->flags & HL_BUF_F_EXTERNAL) && p[i]->next &&
		       (p[i]->next->flags & HL_BUF_F_EXTERNAL);
	}
	CHECK_EQ(ok, 40);
	CHECK_EQ(ext, 40);
	CHECK_EQ(port.vq[1].stats.zcopy, 40);
	CHECK_EQ(port.vq[1].stats.zc_pinned, 40);
	CHECK_EQ(settle(&u), 0); /* nothing returned while pinned */

	/*
	 * Free odd ones, then even ones backwards: the used ring takes them in
	 * the order they were taken, each once all before it are back (so that
	 * the used index always counts the avail entries done with)
	 */
	for (unsigned i = 1; i < got; i += 2)
		hl_buf_free(p[i]);
	CHECK_EQ(settle(&u), 0); /* all behind the first, still pinned */
	CHECK_EQ(port.vq[1].stats.zc_pinned, 40);
	for (int i = (int)got - 2; i >= 2; i -= 2)
		hl_buf_free(p[i]);
	CHECK_EQ(settle(&u), 0);
	hl_buf_free(p[0]);
	CHECK_EQ(settle(&u), 40);
	CHECK_EQ(port.vq[1].stats.zc_pinned, 0);
	CHECK_EQ(u.stats.rx_bad, 0);

	/* the ring keeps working: a second round */
	got = send_and_take(&u, 300, 1000, p, 64);
	CHECK_EQ(got, 64);
	hl_buf_free_bulk(p, got);
	close_pair(&u);
	CHECK_EQ(port.vq[1].stats.zc_reclaimed, 0);
	CHECK_EQ(hl_bufpool_in_use(sw_bp), 0);
	CHECK_EQ(hl_bufpool_in_use(fe_bp), 0);
}

HL_TEST(bounds_keep_the_guest_ring_moving)
{
	struct hl_vuser u;
	struct hl_buf *held[8], *p[32];
	REQUIRE_OK(open_pair(&u, HL_VHOST_ZC_ON, 0, 8, 2000000));
	REQUIRE(send_and_take(&u, 8, 1500, held, 8) == 8);
	CHECK_EQ(port.vq[1].stats.zc_pinned, 8);
	/*
	 * A consumer that never frees: everything after the bound is copied,
	 * and waits behind the pins on the used ring until they are older than
	 * the age bound and hold half the ring: then they go back to the guest
	 * as they are, and the copies behind them with them.
	 */
	unsigned total = 0;
	for (int round = 0; round < 40; round++) {
		unsigned got = send_and_take(&u, 32, 1500, p, 32);
		total += got;
		hl_buf_free_bulk(p, got);
		hl_vuser_tx_reclaim(&u);
	}
	CHECK_EQ(total, 40 * 32); /* more than the ring holds: it never stalled */
	CHECK(port.vq[1].stats.zc_fallback >= RING / 2);
	CHECK_EQ(port.vq[1].stats.zc_reclaimed, 8); /* given back while we hold them */
	settle(&u); /* pins made since then, freed by the loop, go back */
	CHECK_EQ(port.vq[1].stats.zc_pinned, 0);

	/* the age bound: free the pins, pin one, let it age past 2 ms, then more are copied */
	hl_buf_free_bulk(held, 8);
	settle(&u);
	REQUIRE(send_and_take(&u, 1, 1500, held, 1) == 1);
	usleep(5000);
	uint64_t fb = port.vq[1].stats.zc_fallback;
	unsigned got = send_and_take(&u, 16, 1500, p, 16);
	CHECK_EQ(got, 16);
	CHECK_EQ(port.vq[1].stats.zc_fallback - fb, 16);
	hl_buf_free_bulk(p, got);
	hl_buf_free(held[0]);
	settle(&u);
	got = send_and_take(&u, 4, 1500, p, 4);
	CHECK_EQ(port.vq[1].stats.zc_pinned, 4); /* young again: pinning resumed */
	hl_buf_free_bulk(p, got);
	settle_and_close(&u);
}

HL_TEST(auto_copies_small_packets)
{
	struct hl_vuser u;
	REQUIRE_OK(open_pair(&u, HL_VHOST_ZC_AUTO, 512, 0, 0));
	struct hl_buf *p[32];
	unsigned got = send_and_take(&u, 16, 256, p, 32);
	CHECK_EQ(got, 16);
	CHECK_EQ(port.vq[1].stats.zcopy, 0);
	CHECK_EQ(port.vq[1].stats.copied, 16);
	hl_buf_free_bulk(p, got);
	got = send_and_take(&u, 16, 512, p, 32);
	CHECK_EQ(got, 16);
	CHECK_EQ(port.vq[1].stats.zcopy, 16);
	hl_buf_free_bulk(p, got);
	settle_and_close(&u);
}

/*
 * A cost model with a known crossover, sampled the way the calibration
 * samples a queue: copy costs copy_base + copy_per * size ns a packet,
 * zero-copy zc_base + zc_per * size; `spike` multiplies one round's copy
 * samples (noise the medians must ignore); `fail_at` makes that call fail.
 */
struct cost_model {
	double copy_base, copy_per, zc_base, zc_per;
	int spike_call, fail_at;
	unsigned calls, zc_calls[HL_VHOST_ZC_CAL_NSIZES], copy_calls[HL_VHOST_ZC_CAL_NSIZES];
};

static double model_sample(void *ctx, bool zc, uint32_t size)
{
	struct cost_model *m = ctx;
	int call = (int)m->calls++;
	for (unsigned i = 0; i < HL_VHOST_ZC_CAL_NSIZES; i++)
		if (hl_zc_cal_sizes[i] == size)
			(zc ? m->zc_calls : m->copy_calls)[i]++;
	if (call == m->fail_at)
		return -1;
	double ns = zc ? m->zc_base + m->zc_per * size : m->copy_base + m->copy_per * size;
	/* a slow spell over one whole round: every sample from spike_call on, one round long */
	if (m->spike_call >= 0 && call >= m->spike_call && call < m->spike_call + 2 * HL_VHOST_ZC_CAL_NSIZES)
		ns *= zc ? 1.0 : 0.2;
	return ns;
}

static struct hl_vhost_zc_calib run_model(struct cost_model *m)
{
	struct hl_vhost_zc_calib out;
	memset(&out, 0xa5, sizeof(out));
	struct hl_zc_calib_ops ops = {.sample = model_sample, .ctx = m};
	hl_zc_calib_run(&ops, &out);
	return out;
}

/* Crossover of the model: copy_base + copy_per * s == zc_base + zc_per * s. */
static double crossover(const struct cost_model *m)
{
	return (m->zc_base - m->copy_base) / (m->copy_per - m->zc_per);
}

HL_TEST(calibration_finds_a_known_crossover)
{
	/* zero-copy: a fixed cost of 47 ns, 0.01 ns a byte; copy: 20 ns and 0.04 ns a byte: equal at 900 B */
	struct cost_model m = {20, 0.04, 47, 0.01, -1, -1, 0, {0}, {0}};
	struct hl_vhost_zc_calib c = run_model(&m);
	CHECK(c.measured);
	CHECK_EQ(crossover(&m), 900);
	/* within one rounding step (64 B) of where the costs cross, not at a size merely measured */
	CHECK(c.min_len >= 900 - 64 && c.min_len <= 900 + 64);
	CHECK_EQ(c.min_len % 64, 0);
	/* every size sampled in both modes, the same number of times: a warm-up and the rounds */
	CHECK_EQ(m.calls, 2u * HL_VHOST_ZC_CAL_NSIZES * (HL_ZC_CAL_ROUNDS + 1));
	for (unsigned i = 0; i < HL_VHOST_ZC_CAL_NSIZES; i++) {
		CHECK_EQ(m.zc_calls[i], HL_ZC_CAL_ROUNDS + 1);
		CHECK_EQ(m.copy_calls[i], HL_ZC_CAL_ROUNDS + 1);
		CHECK_EQ(c.size[i], hl_zc_cal_sizes[i]);
		double want = (m.zc_base + m.zc_per * c.size[i]) / (m.copy_base + m.copy_per * c.size[i]);
		CHECK(c.ratio[i] > want - 1e-9 && c.ratio[i] < want + 1e-9);
		CHECK(c.copy_ns[i] == m.copy_base + m.copy_per * c.size[i]);
	}

	/* the same machine twice as fast: the same crossover */
	struct cost_model fast = {10, 0.02, 23.5, 0.005, -1, -1, 0, {0}, {0}};
	CHECK_EQ(run_model(&fast).min_len, c.min_len);

	/* a crossover elsewhere moves the threshold with it */
	struct cost_model late = {20, 0.02, 80, 0.005, -1, -1, 0, {0}, {0}}; /* 4000 B */
	struct hl_vhost_zc_calib l = run_model(&late);
	CHECK(l.measured);
	CHECK(l.min_len > 4000 - 64 * 4 && l.min_len <= 4096);
}

HL_TEST(calibration_ignores_one_slow_round)
{
	/* copy looks 5 times cheaper for one round (a spell that slowed zero-copy alone) */
	struct cost_model m = {20, 0.04, 47, 0.01, 2 * HL_VHOST_ZC_CAL_NSIZES * 4, -1, 0, {0}, {0}};
	struct cost_model calm = {20, 0.04, 47, 0.01, -1, -1, 0, {0}, {0}};
	struct hl_vhost_zc_calib c = run_model(&m);
	CHECK(c.measured);
	CHECK_EQ(c.min_len, run_model(&calm).min_len);
}

HL_TEST(calibration_never_and_always)
{
	/* zero-copy slower at every size: never */
	struct cost_model slow = {20, 0.01, 40, 0.02, -1, -1, 0, {0}, {0}};
	struct hl_vhost_zc_calib c = run_model(&slow);
	CHECK(c.measured);
	CHECK_EQ(c.min_len, HL_VHOST_ZC_NEVER);
	/* faster at every size: from the smallest size measured */
	struct cost_model fast = {20, 0.04, 10, 0.01, -1, -1, 0, {0}, {0}};
	c = run_model(&fast);
	CHECK(c.measured);
	CHECK_EQ(c.min_len, HL_ZC_CAL_MIN);

	/* a lone win below a loss is noise: the threshold comes after the last loss */
	const uint32_t *s = hl_zc_cal_sizes;
	double r[HL_VHOST_ZC_CAL_NSIZES] = {1.3, 0.9, 1.2, 1.1, 0.8, 0.8, 0.7, 0.6, 0.5, 0.5, 0.4, 0.4};
	uint32_t t = hl_zc_calib_pick(s, r, HL_VHOST_ZC_CAL_NSIZES);
	CHECK(t > s[3] && t <= s[4]);
	/* interpolated: 1.1 at 512 and 0.8 at 768 cross at 597, rounded up to 640 */
	CHECK_EQ(t, 640);
	/* a loss at the largest size: never, whatever came before */
	r[HL_VHOST_ZC_CAL_NSIZES - 1] = 1.01;
	CHECK_EQ(hl_zc_calib_pick(s, r, HL_VHOST_ZC_CAL_NSIZES), HL_VHOST_ZC_NEVER);
	/* a tie counts as no slower */
	double tie[HL_VHOST_ZC_CAL_NSIZES] = {1.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0};
	CHECK_EQ(hl_zc_calib_pick(s, tie, HL_VHOST_ZC_CAL_NSIZES), s[1]);
}

HL_TEST(calibration_with_a_failed_sample_is_not_measured)
{
	/* the last sample of all, and one in the warm-up round */
	int at[] = {2 * HL_VHOST_ZC_CAL_NSIZES * (HL_ZC_CAL_ROUNDS + 1) - 1, 4};
	for (unsigned k = 0; k < 2; k++) {
		struct cost_model m = {20, 0.04, 47, 0.01, -1, at[k], 0, {0}, {0}};
		struct hl_vhost_zc_calib c = run_model(&m);
		CHECK(!c.measured);
		CHECK_EQ(c.min_len, HL_VHOST_ZC_DEFAULT_MIN_LEN);
		CHECK_EQ(m.calls, (unsigned)at[k] + 1 + (at[k] % 2 == 0)); /* it stops at the failed pair */
	}
}

/*
 * The start-up calibration on the real dequeue path: what it picks depends
 * on the machine, but it must say it measured, become the default, agree
 * with the medians it reports (zero-copy no slower from the threshold up,
 * slower just below it), and leave no buffer behind.
 */
HL_TEST(calibration_measures_the_real_dequeue)
{
	struct hl_vhost_zc_calib c;
	setup();
	uint32_t thr = hl_vhost_zc_calibrate(sw_bp, &c);
	REQUIRE(c.measured);
	CHECK_EQ(thr, c.min_len);
	CHECK_EQ(hl_vhost_zc_min_len_default(), thr);
	CHECK_EQ(hl_bufpool_in_use(sw_bp), 0);
	CHECK_EQ(hl_zc_calib_pick(c.size, c.ratio, HL_VHOST_ZC_CAL_NSIZES), thr);
	unsigned above_slower = 0, below_faster = 0, timed = 0;
	int last_below = -1;
	for (unsigned i = 0; i < HL_VHOST_ZC_CAL_NSIZES; i++) {
		timed += c.copy_ns[i] > 0 && c.zc_ns[i] > 0 && c.ratio[i] > 0;
		if (c.size[i] >= thr)
			above_slower += c.ratio[i] > 1.0;
		else
			last_below = (int)i;
	}
	if (last_below >= 0)
		below_faster = c.ratio[last_below] <= 1.0;
	CHECK_EQ(timed, HL_VHOST_ZC_CAL_NSIZES);
	CHECK_EQ(above_slower, 0);
	CHECK_EQ(below_faster, 0);
	CHECK(c.ms > 0);
}

/* AUTO's default, as a calibration sets it, splits copy from zero-copy exactly at the threshold. */
HL_TEST(auto_splits_at_the_calibrated_threshold)
{
	struct hl_vuser u;
	struct hl_buf *p[16];
	setup();
	struct cost_model m = {20, 0.04, 47, 0.01, -1, -1, 0, {0}, {0}};
	struct hl_vhost_zc_calib c = run_model(&m);
	REQUIRE(c.measured);
	hl_vhost_zc_set_min_len_default(c.min_len);
	uint32_t thr = c.min_len;

	/* a port that gives no threshold takes the calibrated one */
	REQUIRE_OK(open_pair(&u, HL_VHOST_ZC_AUTO, 0, 0, 0));
	CHECK_EQ(port.vq[1].zc_min_len, thr);
	/* below it copied, from it up left in guest memory (sizes above 1900 B as descriptor chains) */
	const uint32_t sizes[] = {64, thr - 1, thr, thr + 1000};
	for (unsigned i = 0; i < 4; i++) {
		bool zc = sizes[i] >= thr;
		uint64_t copied = port.vq[1].stats.copied, zcopy = port.vq[1].stats.zcopy;
		unsigned got = send_and_take(&u, 8, sizes[i], p, 8);
		CHECK_EQ(got, 8);
		unsigned len_ok = 0, ext = 0;
		for (unsigned k = 0; k < got; k++) {
			len_ok += p[k]->pkt_len == sizes[i];
			ext += p[k]->next != NULL && (p[k]->next->flags & HL_BUF_F_EXTERNAL);
		}
		CHECK_EQ(len_ok, got);
		CHECK_EQ(ext, zc ? got : 0);
		CHECK_EQ(port.vq[1].stats.zcopy - zcopy, zc ? got : 0);
		CHECK_EQ(port.vq[1].stats.copied - copied, zc ? 0 : got);
		hl_buf_free_bulk(p, got);
		settle(&u);
	}
	CHECK_EQ(port.vq[1].stats.zc_fallback, 0);
	CHECK_EQ(port.vq[1].stats.zc_pinned, 0);
	close_pair_all_back(&u);
}

/* When it cannot measure (too few buffers, none at all), it says so and AUTO starts at 512 B. */
HL_TEST(calibration_falls_back_to_512)
{
	struct hl_pool *tp;
	struct hl_bufpool *tbp;
	struct hl_vhost_zc_calib c;
	setup();
	REQUIRE_OK(make_pool("tiny", &tp, &tbp, 16)); /* fewer than a burst */
	hl_vhost_zc_set_min_len_default(960);
	CHECK_EQ(hl_vhost_zc_calibrate(tbp, &c), 512);
	CHECK(!c.measured);
	CHECK_EQ(c.min_len, 512);
	CHECK_EQ(hl_vhost_zc_min_len_default(), 512);
	CHECK_EQ(hl_bufpool_in_use(tbp), 0);
	hl_vhost_zc_set_min_len_default(960);
	CHECK_EQ(hl_vhost_zc_calibrate(NULL, &c), 512);
	CHECK(!c.measured);
	CHECK_EQ(hl_vhost_zc_min_len_default(), 512);
	CHECK_EQ(hl_vhost_zc_calibrate(NULL, NULL), 512);
	hl_bufpool_free(tbp);
	hl_pool_destroy(tp);
}

HL_TEST(guest_rewriting_after_the_kick_cannot_redirect)
{
	struct hl_vuser u;
	struct hl_buf *p[4];
	REQUIRE_OK(open_pair(&u, HL_VHOST_ZC_ON, 0, 0, 0));
	struct hl_buf *b = frame(0x22, 7, 1500);
	REQUIRE(b != NULL);
	uint8_t *guest = hl_buf_data(b); /* the front-end's own buffer: guest memory */
	REQUIRE(hl_vuser_tx_burst(&u, &b, 1) == 1);
	unsigned got = 0;
	for (int i = 0; i < 1000 && got == 0; i++)
		got = hl_vhost_dequeue_burst(&port, 1, sw_bp, p, 1);
	REQUIRE(got == 1);
	/* the guest changes the destination MAC and payload after the switch took the packet */
	guest[5] = 0x33;
	guest[1000] ^= 0xff;
	const uint8_t *eth = hl_buf_data(p[0]);
	CHECK_EQ(eth[5], 0x22); /* what a forwarding decision reads: unchanged */
	CHECK(p[0]->next != NULL && ((uint8_t *)hl_buf_data(p[0]->next))[1000 - HL_VHOST_ZC_COPY] == (guest[1000]));
	hl_buf_free(p[0]);
	settle_and_close(&u);
}

HL_TEST(iova_is_the_physical_address_of_guest_memory)
{
	struct hl_vuser u;
	struct hl_buf *p[1];
	struct hl_pool_info fi;
	setup();
	hl_pool_get_info(fe_pool, &fi);
	HL_TEST_NEED(fi.hugepages && fi.phys_iova, "front-end pool on hugepages with physical addresses (root)");
	REQUIRE_OK(open_pair(&u, HL_VHOST_ZC_ON, 0, 0, 0));
	struct hl_buf *b = frame(0x22, 1, 1500);
	REQUIRE(b != NULL);
	/* where the rest of the frame lies, as the front-end's own pool sees it */
	uint64_t want = hl_buf_data_iova(b) + HL_VHOST_ZC_COPY;
	REQUIRE(hl_vuser_tx_burst(&u, &b, 1) == 1);
	unsigned got = 0;
	for (int i = 0; i < 1000 && got == 0; i++)
		got = hl_vhost_dequeue_burst(&port, 1, sw_bp, p, 1);
	REQUIRE(got == 1 && p[0]->next != NULL);
	CHECK(want != HL_BAD_ADDR);
	CHECK_EQ(p[0]->next->buf_iova, want);
	hl_buf_free(p[0]);
	settle_and_close(&u);
}

/* Stop the queue with buffers pinned: by disconnecting, and by GET_VRING_BASE/reset through a reconnect. */
HL_TEST(queue_lost_with_buffers_pinned)
{
	struct hl_vuser u;
	struct hl_buf *held[16];
	REQUIRE_OK(open_pair(&u, HL_VHOST_ZC_ON, 0, 0, 0));
	REQUIRE(send_and_take(&u, 16, 1500, held, 16) == 16);
	CHECK_EQ(port.vq[1].stats.zc_pinned, 16);
	/* the front-end stops the queue (GET_VRING_BASE) and goes away while we hold its buffers */
	hl_vuser_close(&u);
	for (int i = 0; i < 200 && hl_vhost_port_queue_ready(&port, 1); i++)
		usleep(5000);
	CHECK(!hl_vhost_port_queue_ready(&port, 1));
	CHECK_EQ(port.vq[1].stats.zc_reclaimed, 16); /* returned on the ring before the base was read */
	CHECK_EQ(hl_bufpool_in_use(fe_bp), 0);       /* so the front-end got every buffer back */
	/* guest memory is still mapped for the buffers we hold: reading them is safe */
	unsigned readable = 0;
	for (unsigned i = 0; i < 16; i++) {
		uint32_t seq;
		readable += held[i]->pkt_len == 1500 && frame_ok(held[i], 0x22, 1500, &seq);
	}
	CHECK_EQ(readable, 16); /* the front-end has not reused them here; they are only read */
	CHECK_EQ(hl_vhost_zc_orphaned(), 1); /* the old queue's context waits for them */

	/* a new front-end connects to the same port; the old buffers are freed meanwhile */
	struct hl_vuser_params up = {.path = port.be.path, .pool = fe_pool, .bp = fe_bp, .ring_size = RING};
	REQUIRE_OK(hl_vuser_open(&u, &up));
	for (int i = 0; i < 200 && !hl_vhost_port_queue_ready(&port, 1); i++)
		usleep(10000);
	REQUIRE(hl_vhost_port_queue_ready(&port, 1));
	hl_buf_free_bulk(held, 16); /* late frees complete into the old context, not the new ring */
	for (int i = 0; i < 200 && hl_vhost_zc_orphaned() > 0; i++)
		usleep(5000);
	CHECK_EQ(hl_vhost_zc_orphaned(), 0); /* and the control thread let it go, guest memory with it */
	struct hl_buf *p[32];
	unsigned got = send_and_take(&u, 32, 1500, p, 32);
	CHECK_EQ(got, 32);
	hl_buf_free_bulk(p, got);
	CHECK_EQ(settle(&u), 32); /* exactly the new ones: nothing twice */
	CHECK_EQ(port.vq[1].stats.zc_reclaimed, 16);
	close_pair_all_back(&u);
}

/* A message the front-end would not send by itself, straight onto its socket. */
static void raw_msg(struct hl_vuser *u, uint32_t req, uint64_t u64, int fd)
{
	struct hl_vu_msg m = {.hdr = {.request = req, .flags = HL_VU_VERSION, .size = req == HL_VU_RESET_OWNER ? 0 : 8}};
	m.payload.u64 = u64;
	REQUIRE_OK(hl_vu_send(u->fe.sock, &m, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0));
}

/*
 * The queue is stopped under pinned buffers without going away: a new call
 * fd (SET_VRING_CALL on a running queue), a new memory table, RESET_OWNER.
 * Each time every pinned descriptor is back on the used ring before the
 * queue restarts (or the device resets), later frees complete nothing twice.
 */
HL_TEST(queue_restarted_with_buffers_pinned)
{
	struct hl_vuser u;
	struct hl_buf *held[8], *p[32];
	REQUIRE_OK(open_pair(&u, HL_VHOST_ZC_ON, 0, 0, 0));

	/* 1: SET_VRING_CALL for the transmit queue, with a fresh eventfd */
	REQUIRE(send_and_take(&u, 8, 1500, held, 8) == 8);
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	REQUIRE(efd >= 0);
	raw_msg(&u, HL_VU_SET_VRING_CALL, 1, efd);
	close(efd);
	for (int i = 0; i < 200 && port.vq[1].stats.zc_reclaimed < 8; i++)
		usleep(5000);
	CHECK_EQ(port.vq[1].stats.zc_reclaimed, 8);
	CHECK_EQ(settle(&u), 8); /* the front-end has them back at once */
	hl_buf_free_bulk(held, 8);
	CHECK_EQ(settle(&u), 0); /* and not a second time */
	unsigned got = send_and_take(&u, 32, 1500, p, 32);
	CHECK_EQ(got, 32); /* the restarted queue pins again */
	CHECK_EQ(port.vq[1].stats.zc_pinned, 32);
	hl_buf_free_bulk(p, got);
	CHECK_EQ(settle(&u), 32);

	/* 2: the same memory table again (the back-end remaps it) */
	REQUIRE(send_and_take(&u, 8, 1500, held, 8) == 8);
	REQUIRE_OK(hl_vhost_frontend_set_mem(&u.fe, fe_pool));
	for (int i = 0; i < 200 && port.vq[1].stats.zc_reclaimed < 16; i++)
		usleep(5000);
	CHECK_EQ(port.vq[1].stats.zc_reclaimed, 16);
	unsigned readable = 0;
	for (unsigned i = 0; i < 8; i++) {
		uint32_t seq;
		readable += frame_ok(held[i], 0x22, 1500, &seq);
	}
	CHECK_EQ(readable, 8); /* the old mapping lives while our buffers point into it */
	hl_buf_free_bulk(held, 8);
	CHECK_EQ(settle(&u), 8);
	got = send_and_take(&u, 16, 1500, p, 16);
	CHECK_EQ(got, 16);
	hl_buf_free_bulk(p, got);
	CHECK_EQ(settle(&u), 16);

	/* 3: RESET_OWNER: the device resets; pinned descriptors still come back first */
	REQUIRE(send_and_take(&u, 8, 1500, held, 8) == 8);
	raw_msg(&u, HL_VU_RESET_OWNER, 0, -1);
	/* the stop gives our holders a moment to free before it returns the rest itself */
	for (int i = 0; i < 200 && port.vq[1].stats.zc_reclaimed < 24; i++)
		usleep(5000);
	CHECK(!hl_vhost_port_queue_ready(&port, 1));
	CHECK_EQ(port.vq[1].stats.zc_reclaimed, 24);
	CHECK_EQ(hl_vuser_tx_reclaim(&u), 8);
	hl_buf_free_bulk(held, 8);
	close_pair_all_back(&u);
}

/* last: nothing of either pool may be left */
/*
 * The bytes of the log that stand for guest memory, gathered (out != NULL)
 * or cleared: this front-end's guest-physical addresses are its virtual
 * ones, so the log is huge and sparse, and only these bytes are touched.
 */
static size_t log_of_regions(const struct hl_vhost_dev *d, uint8_t *log, uint8_t *out)
{
	size_t n = 0;
	for (unsigned i = 0; i < d->nregions; i++) {
		uint64_t from = d->regions[i].gpa >> 15, to = (d->regions[i].gpa + d->regions[i].size + 32767) >> 15;
		if (out != NULL)
			memcpy(out + n, log + from, to - from);
		else
			memset(log + from, 0, to - from);
		n += to - from;
	}
	return n;
}

/*
 * Dirty logging on as a migrating QEMU turns it on: SET_LOG_BASE (a memfd
 * over all guest memory, mapped here too), LOG_ALL, and queue q's used ring
 * logged (its guest-physical address in *used_gpa); the log in *logp.
 */
static void start_log(struct hl_vuser *u, unsigned q, uint8_t **logp, uint64_t *log_size, uint64_t *used_gpa)
{
	const struct hl_vhost_dev *d = &port.be.dev;
	uint64_t end = 0;
	for (unsigned i = 0; i < d->nregions; i++)
		if (d->regions[i].gpa + d->regions[i].size > end)
			end = d->regions[i].gpa + d->regions[i].size;
	*log_size = (hl_vhost_log_bytes(end) + 4095) & ~4095ull;
	int lfd = memfd_create("zc-log", MFD_CLOEXEC);
	REQUIRE(lfd >= 0 && ftruncate(lfd, (off_t)*log_size) == 0);
	*logp = mmap(NULL, *log_size, PROT_READ | PROT_WRITE, MAP_SHARED, lfd, 0);
	REQUIRE(*logp != MAP_FAILED);
	struct hl_vu_msg m = {.hdr = {.request = HL_VU_SET_LOG_BASE, .flags = HL_VU_VERSION, .size = 16}};
	m.payload.log = (struct hl_vu_log){.mmap_size = *log_size, .mmap_offset = 0};
	REQUIRE_OK(hl_vu_send(u->fe.sock, &m, &lfd, 1));
	close(lfd);
	raw_msg(u, HL_VU_SET_FEATURES, d->features | (1ull << HL_VU_F_LOG_ALL), -1);
	*used_gpa = hl_xlate(&d->hva2gpa, (uintptr_t)d->vq[q].used);
	REQUIRE(*used_gpa != HL_BAD_ADDR);
	m = (struct hl_vu_msg){.hdr = {.request = HL_VU_SET_VRING_ADDR, .flags = HL_VU_VERSION,
				       .size = sizeof(struct hl_vu_vring_addr)}};
	m.payload.addr = d->vq[q].addr;
	m.payload.addr.flags = HL_VU_VRING_F_LOG;
	m.payload.addr.log_guest_addr = *used_gpa;
	REQUIRE_OK(hl_vu_send(u->fe.sock, &m, NULL, 0));
	for (int i = 0; i < 200 && !__atomic_load_n(&port.vq[q].log_used, __ATOMIC_ACQUIRE); i++)
		usleep(5000);
	REQUIRE(port.vq[q].log_used);
}

/*
 * Host -> guest with dirty logging on: exactly the pages the enqueue wrote
 * are logged, the receive buffer's (virtio-net header included) and the
 * used ring's (the element, the index), no other page of guest memory.
 */
HL_TEST(enqueue_logs_the_pages_it_writes)
{
	struct hl_vuser u;
	REQUIRE_OK(open_pair(&u, HL_VHOST_ZC_OFF, 0, 0, 0));
	for (int i = 0; i < 200 && !hl_vhost_port_queue_ready(&port, 0); i++)
		usleep(10000);
	REQUIRE(hl_vhost_port_queue_ready(&port, 0));
	struct hl_vhost_dev *d = &port.be.dev;
	uint64_t log_size, used_gpa;
	uint8_t *log = NULL;
	start_log(&u, 0, &log, &log_size, &used_gpa);
	REQUIRE(log != NULL && log != MAP_FAILED);
	unsigned checked = 0, wrong = 0, set = 0;
	for (uint32_t seq = 0; seq < 40; seq++) {
		log_of_regions(d, log, NULL);
		struct hl_buf *b = frame(0x22, seq, 60 + seq * 97 % 1400);
		REQUIRE(b != NULL);
		CHECK_EQ(hl_vhost_enqueue_burst(&port, 0, &b, 1, NULL), 1);
		hl_buf_free(b);
		/* where the frame went: the chain on the used ring, as the guest sees it */
		const struct hl_vring_used *used = u.rx.used;
		uint16_t slot = (uint16_t)(__atomic_load_n(&used->idx, __ATOMIC_ACQUIRE) - 1) & (RING - 1);
		const struct hl_vring_used_elem *e = &used->ring[slot];
		uint64_t buf = u.rx.desc[e->id].addr;
		uint64_t want[4] = {buf >> 12, (buf + e->len - 1) >> 12, (used_gpa + 2) >> 12,
				    (used_gpa + 4 + 8ull * slot) >> 12};
		for (unsigned i = 0; i < d->nregions; i++) {
			const struct hl_vu_region *r = &d->regions[i];
			for (uint64_t pg = r->gpa >> 12; pg < (r->gpa + r->size) >> 12; pg++) {
				bool in = (pg >= want[0] && pg <= want[1]) || pg == want[2] || pg == want[3];
				bool got = log[pg / 8] & (1u << (pg % 8));
				wrong += in != got;
				set += got;
				checked++;
			}
		}
		struct hl_buf *rx[4];
		uint16_t n = 0;
		for (int i = 0; i < 100 && n == 0; i++)
			n = hl_vuser_rx_burst(&u, rx, 4);
		CHECK_EQ(n, 1);
		hl_buf_free_bulk(rx, n);
	}
	CHECK(checked > 0 && set >= 40 * 2);
	CHECK_EQ(wrong, 0);
	CHECK_EQ(port.vq[0].stats.log_dropped, 0);
	munmap(log, log_size);
	close_pair_all_back(&u);
}

/*
 * A migration while the switch holds zero-copy buffers: with dirty logging
 * on (SET_LOG_BASE, LOG_ALL, the used ring's log flag, as QEMU sends them),
 * completions log the used ring; the stop that ends the migration returns
 * the pinned chains, logged too; and the buffers freed after it (late
 * completions into the orphaned context) change neither guest memory nor
 * the log.
 */
HL_TEST(migration_with_buffers_pinned)
{
	struct hl_vuser u;
	struct hl_buf *held[16];
	REQUIRE_OK(open_pair(&u, HL_VHOST_ZC_ON, 0, 0, 0));
	struct hl_vhost_dev *d = &port.be.dev;
	uint64_t log_size, used_gpa;
	uint8_t *log = NULL;
	start_log(&u, 1, &log, &log_size, &used_gpa);
	REQUIRE(log != NULL && log != MAP_FAILED);
	CHECK(hl_vhost_port_queue_ready(&port, 1)); /* logging on did not stop the queue */
	uint64_t page = used_gpa >> 12;

	REQUIRE(send_and_take(&u, 16, 1500, held, 16) == 16);
	CHECK_EQ(port.vq[1].stats.zc_pinned, 16);
	CHECK_EQ(port.vq[1].stats.zc_reclaimed, 0);
	/* half come back while the queue runs: their completions are logged */
	log_of_regions(d, log, NULL);
	hl_buf_free_bulk(held, 8);
	CHECK_EQ(settle(&u), 8);
	CHECK(log[page / 8] & (1u << (page % 8)));
	CHECK_EQ(port.vq[1].stats.log_dropped, 0);

	/* the source stops the queue at the end (as GET_VRING_BASE does): the rest return, logged */
	log_of_regions(d, log, NULL);
	raw_msg(&u, HL_VU_SET_VRING_ENABLE, 1, -1); /* index 1, num 0: disable */
	/* the stop waits a little for the buffers, then gives the chains back */
	for (int i = 0; i < 200 && port.vq[1].stats.zc_reclaimed < 8; i++)
		usleep(5000);
	CHECK(!hl_vhost_port_queue_ready(&port, 1));
	CHECK_EQ(port.vq[1].stats.zc_reclaimed, 8);
	CHECK(log[page / 8] & (1u << (page % 8)));
	CHECK_EQ(hl_vuser_tx_reclaim(&u), 8);
	CHECK_EQ(hl_vhost_zc_orphaned(), 1);

	/* the late frees: not a byte of guest memory or of the log changes */
	size_t used_len = hl_vring_used_bytes(RING), log_len = log_of_regions(d, log, NULL);
	uint8_t used_then[8 * RING + 8], *log_then = calloc(1, log_len), *log_now = calloc(1, log_len);
	REQUIRE(log_then != NULL && log_now != NULL && used_len <= sizeof(used_then));
	/* the bits the stop set, again, so that a late write would show */
	hl_vhost_log_write(&(struct hl_vhost_log){.bits = log, .size = log_size}, used_gpa, used_len, &(uint64_t){0});
	log_of_regions(d, log, log_then);
	memcpy(used_then, u.tx.used, used_len);
	hl_buf_free_bulk(held + 8, 8);
	for (int i = 0; i < 200 && hl_vhost_zc_orphaned() > 0; i++)
		usleep(5000);
	CHECK_EQ(hl_vhost_zc_orphaned(), 0);
	log_of_regions(d, log, log_now);
	CHECK_EQ(memcmp(log_then, log_now, log_len), 0);
	CHECK_EQ(memcmp(used_then, u.tx.used, used_len), 0);
	CHECK_EQ(hl_vuser_tx_reclaim(&u), 0); /* nothing twice */
	free(log_then);
	free(log_now);
	munmap(log, log_size);
	close_pair_all_back(&u);
}

HL_TEST(pools_released)
{
	REQUIRE(sw_pool != NULL);
	CHECK_EQ(hl_bufpool_in_use(sw_bp), 0);
	CHECK_EQ(hl_bufpool_in_use(fe_bp), 0);
	hl_bufpool_free(sw_bp);
	hl_bufpool_free(fe_bp);
	hl_pool_destroy(sw_pool);
	hl_pool_destroy(fe_pool);
	sw_pool = fe_pool = NULL;
}
