/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Adding up offload counters: a port's are written by the threads that run
 * its directions (and the switch's workers at egress), each its own copy,
 * and summed only when read, with relaxed loads of another thread's words.
 */
#include <hugelink/offload.h>

void hl_ol_stats_add(struct hl_ol_stats *dst, const struct hl_ol_stats *src)
{
	dst->accepted += __atomic_load_n(&src->accepted, __ATOMIC_RELAXED);
	dst->gso_frames += __atomic_load_n(&src->gso_frames, __ATOMIC_RELAXED);
	dst->gso_segments += __atomic_load_n(&src->gso_segments, __ATOMIC_RELAXED);
	dst->csum_done += __atomic_load_n(&src->csum_done, __ATOMIC_RELAXED);
	dst->csum_copied += __atomic_load_n(&src->csum_copied, __ATOMIC_RELAXED);
	dst->hdr_len_fixed += __atomic_load_n(&src->hdr_len_fixed, __ATOMIC_RELAXED);
	dst->flags_ignored += __atomic_load_n(&src->flags_ignored, __ATOMIC_RELAXED);
	for (unsigned r = 0; r < HL_OL_R_MAX; r++)
		dst->refused[r] += __atomic_load_n(&src->refused[r], __ATOMIC_RELAXED);
}

void hl_ol_stats_sub(struct hl_ol_stats *dst, const struct hl_ol_stats *base)
{
	dst->accepted -= base->accepted;
	dst->gso_frames -= base->gso_frames;
	dst->gso_segments -= base->gso_segments;
	dst->csum_done -= base->csum_done;
	dst->csum_copied -= base->csum_copied;
	dst->hdr_len_fixed -= base->hdr_len_fixed;
	dst->flags_ignored -= base->flags_ignored;
	for (unsigned r = 0; r < HL_OL_R_MAX; r++)
		dst->refused[r] -= base->refused[r];
}
