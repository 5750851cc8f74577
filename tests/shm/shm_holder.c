/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A peer in its own process for test_shm_liveness: attaches to a port
 * through the pool's record, takes N buffers from fill and keeps them (a
 * peer in the middle of building frames), says "held N" on stdout, then
 * beats and waits to be killed. usage: shm_holder RECORD PORT N
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <hugelink/shm_peer.h>

int main(int argc, char **argv)
{
	struct hl_shm_peer *pe;
	struct hl_shm_pkt pk[64];

	if (argc != 4)
		return 2;
	unsigned n = (unsigned)strtoul(argv[3], NULL, 0), held = 0;
	if (n > 64)
		return 2;
	hl_log_set_level(HL_LOG_ERR);
	if (hl_shm_attach(argv[1], argv[2], &pe) < 0) {
		fprintf(stderr, "shm_holder: attach: %s\n", hl_last_error());
		return 3;
	}
	/* the switch posts fill buffers as it polls the port: wait for them */
	for (int spin = 0; held < n && spin < 5000; spin++) {
		held += hl_shm_tx_alloc(pe, pk + held, n - held);
		if (held < n)
			usleep(1000);
	}
	printf("held %u\n", held);
	fflush(stdout);
	for (;;) {
		hl_shm_peer_beat(pe);
		usleep(100000);
	}
}
