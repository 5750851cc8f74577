/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Choosing the AUTO threshold: the frame size from which zero-copy dequeue
 * is no slower than copying, on this machine.
 *
 * The engine only times and decides. What a sample is (a loopback queue
 * dequeued in one mode, see vhost_calib_loop.c, or a test's cost model) is
 * the caller's, behind hl_zc_calib_ops, so nothing here depends on the
 * dequeue it tunes. For each size a round samples copy and zero-copy back
 * to back, in alternating order, and the size's verdict is the median over
 * rounds of their ratio: load that comes and goes on a shared machine moves
 * both sides of a ratio alike. A sample that fails makes the whole run
 * "not measured": a threshold from a partial run would be a guess presented
 * as a measurement.
 *
 * The default it sets is one word, written by the control thread and read
 * by port setup on any thread.
 */
#include <stdlib.h>

#include "vhost_zcopy_calib_pvt.h"

const uint32_t hl_zc_cal_sizes[HL_VHOST_ZC_CAL_NSIZES] = {128, 256, 384, 512, 768, 1024, 1536, 2048, 3072,
							   4096, 8192, 16384};

static uint32_t default_min_len = HL_VHOST_ZC_DEFAULT_MIN_LEN;

uint32_t hl_vhost_zc_min_len_default(void)
{
	return __atomic_load_n(&default_min_len, __ATOMIC_RELAXED);
}

void hl_vhost_zc_set_min_len_default(uint32_t len)
{
	__atomic_store_n(&default_min_len, len, __ATOMIC_RELAXED);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * The smallest size from which zero-copy is no slower at every size
 * measured (a lone win below a loss is noise), placed between the last loss
 * and the first win where the ratio crosses 1, rounded up to 64 bytes and
 * never above that first win.
 */
uint32_t hl_zc_calib_pick(const uint32_t *sizes, const double *ratio, unsigned n)
{
	unsigned first = n;
	while (first > 0 && ratio[first - 1] <= 1.0)
		first--;
	if (first == n)
		return HL_VHOST_ZC_NEVER;
	if (first == 0)
		return HL_ZC_CAL_MIN;
	double lo = sizes[first - 1], hi = sizes[first];
	double x = lo + (hi - lo) * (ratio[first - 1] - 1.0) / (ratio[first - 1] - ratio[first]);
	uint32_t r = ((uint32_t)x + 63) / 64 * 64;
	return r > sizes[first] ? sizes[first] : r;
}

void hl_zc_calib_run(const struct hl_zc_calib_ops *ops, struct hl_vhost_zc_calib *out)
{
	enum { N = HL_VHOST_ZC_CAL_NSIZES, R = HL_ZC_CAL_ROUNDS };
	double r[N][R], tc[N][R], tz[N][R];

	out->measured = false;
	out->min_len = HL_VHOST_ZC_DEFAULT_MIN_LEN;
	for (unsigned i = 0; i < N; i++)
		out->size[i] = hl_zc_cal_sizes[i];
	/* round -1 warms caches, the buffer cache and the branch predictors, and is not kept */
	for (int round = -1; round < R; round++) {
		for (unsigned i = 0; i < N; i++) {
			bool zc_first = (round + i) & 1;
			double a = ops->sample(ops->ctx, zc_first, hl_zc_cal_sizes[i]);
			double b = ops->sample(ops->ctx, !zc_first, hl_zc_cal_sizes[i]);
			if (!(a > 0) || !(b > 0))
				return;
			if (round < 0)
				continue;
			tz[i][round] = zc_first ? a : b;
			tc[i][round] = zc_first ? b : a;
			r[i][round] = tz[i][round] / tc[i][round];
		}
	}
	for (unsigned i = 0; i < N; i++) {
		out->ratio[i] = median(r[i], R);
		out->copy_ns[i] = median(tc[i], R);
		out->zc_ns[i] = median(tz[i], R);
	}
	out->min_len = hl_zc_calib_pick(hl_zc_cal_sizes, out->ratio, N);
	out->measured = true;
}
