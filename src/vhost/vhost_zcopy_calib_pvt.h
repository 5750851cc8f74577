/* SPDX-License-Identifier: BSD-3-Clause */
/* Choosing the AUTO threshold from timed samples; internal to src/vhost. */
#ifndef HL_VHOST_ZCOPY_CALIB_PVT_H
#define HL_VHOST_ZCOPY_CALIB_PVT_H

#include <stdbool.h>
#include <stdint.h>

#include <hugelink/vhost_port.h>

#define HL_ZC_CAL_ROUNDS 9 /* rounds kept, after one that warms up */
#define HL_ZC_CAL_MIN 128u /* lowest threshold picked */

/*
 * What the calibration times, handed to it by whoever owns the queue being
 * measured: the engine knows frame sizes and modes, nothing of rings,
 * devices or the dequeue.
 */
struct hl_zc_calib_ops {
	/* ns a packet for a sample of frames of size bytes, zero-copy (zc) or copied; <= 0: not timed */
	double (*sample)(void *ctx, bool zc, uint32_t size);
	void *ctx;
};

/* The sizes timed, ascending: HL_VHOST_ZC_CAL_NSIZES of them. */
extern const uint32_t hl_zc_cal_sizes[HL_VHOST_ZC_CAL_NSIZES];

/*
 * Time every size in both modes, HL_ZC_CAL_ROUNDS rounds (and a warm-up),
 * and pick the threshold from the medians. out->measured is false, and
 * out->min_len HL_VHOST_ZC_DEFAULT_MIN_LEN, when any sample failed.
 */
void hl_zc_calib_run(const struct hl_zc_calib_ops *ops, struct hl_vhost_zc_calib *out);
/* The threshold for the ratios zero-copy/copy of n ascending sizes. */
uint32_t hl_zc_calib_pick(const uint32_t *sizes, const double *ratio, unsigned n);
/* What hl_vhost_zc_min_len_default() returns from now on. */
void hl_vhost_zc_set_min_len_default(uint32_t len);

#endif
