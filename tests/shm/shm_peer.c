/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A peer in its own process for test_shm_port: attaches to a port through
 * the pool's record (never pagemap), sends N frames from fill buffers and
 * receives the N frames echoed back, checking each payload, and releases them.
 * usage: shm_peer RECORD PORT N; exit 0 on success.
 */
#include <stdio.h>
#include <stdlib.h>

#include <hugelink/shm_peer.h>

#include "hl_test.h"
#include "shm_util.h"

int main(int argc, char **argv)
{
	struct hl_shm_peer *pe;
	struct hl_shm_pkt pk[32];

	if (argc != 4)
		return 2;
	unsigned n = (unsigned)strtoul(argv[3], NULL, 0);
	if (hl_shm_attach(argv[1], argv[2], &pe) < 0) {
		fprintf(stderr, "shm_peer: attach: %s\n", hl_last_error());
		return 3;
	}
	if (hl_pagemap_reads() != 0)
		return 4;
	uint64_t deadline = hl_now_ns() + 10ull * 1000000000ull;
	unsigned sent = 0, got = 0;
	/* at most 48 frames in flight: the echo never finds our rx ring full */
	while ((sent < n || got < n) && hl_now_ns() < deadline) {
		unsigned want = n - sent < 32 ? n - sent : 32;
		if (sent - got + want > 48)
			want = 48 - (sent - got);
		unsigned k = hl_shm_tx_alloc(pe, pk, want);
		for (unsigned i = 0; i < k; i++) {
			pk[i].len = shm_frame_len(sent + i);
			shm_frame_fill(pk[i].data, pk[i].len, 1, 2, sent + i);
		}
		if (hl_shm_tx_burst(pe, pk, k) != k)
			return 5;
		sent += k;
		unsigned r = hl_shm_rx_burst(pe, pk, 32);
		for (unsigned i = 0; i < r; i++) {
			if (shm_frame_check(pk[i].data, pk[i].len) != (long)(got + i)) {
				fprintf(stderr, "shm_peer: frame %u is not what was sent\n", got + i);
				return 6;
			}
		}
		if (hl_shm_release(pe, pk, r) != r)
			return 7;
		got += r;
		if (k == 0 && r == 0)
			usleep(100);
	}
	struct hl_shm_peer_stats st;
	hl_shm_peer_stats(pe, &st);
	hl_shm_detach(pe);
	if (sent != n || got != n || st.bad_desc != 0 || st.ring_broken != 0) {
		fprintf(stderr, "shm_peer: sent %u got %u of %u, bad %llu\n", sent, got, n,
			(unsigned long long)st.bad_desc);
		return 8;
	}
	return 0;
}
