/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the memif control engine, both roles. The input is
 * a sequence of messages, each a 1-byte length, a 1-byte fd choice (none,
 * an eventfd, or a memfd of up to 15 pages whose every 8-byte word starts
 * with the memif cookie, so rings in it can pass the cookie check) and the
 * bytes. A server engine takes them from HELLO on, mapping and checking
 * regions and rings on CONNECT; a client engine takes the same messages
 * from its HELLO wait on. Each starts over after a hang-up. At the end no
 * fd the harness made may stay open and no mapping may stay behind (the
 * open-fd count, and the leak sanitizer).
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <hugelink/memif_port.h>

#include "fuzz_fds.h"


static int make_fd(uint8_t how)
{
	if ((how & 3) == 1)
		return eventfd(0, EFD_CLOEXEC);
	if ((how & 3) != 2)
		return -1;
	size_t len = (size_t)((how >> 2) & 15) * 4096;
	int fd = memfd_create("fuzz-memif", MFD_CLOEXEC);
	if (fd < 0 || len == 0 || ftruncate(fd, (off_t)len) < 0)
		return fd;
	uint32_t *w = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (w != MAP_FAILED) {
		for (size_t i = 0; i < len / 4; i += 2)
			w[i] = HL_MEMIF_COOKIE;
		munmap(w, len);
	}
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct hl_memif_cfg cfg = {.id = 0, .queues = 2, .log2_ring = 10, .buffer_size = 2048,
						.name = "fuzz"};
	struct hl_memif_ctl srv, cli;
	struct hl_memif_msg reply;
	hl_log_set_level(HL_LOG_OFF); /* a refused peer logs; a fuzzer must not */
	int before = open_fds();

	hl_memif_ctl_init(&srv, &cfg);
	hl_memif_ctl_init(&cli, &cfg);
	cli.client = true;
	hl_memif_ctl_hello(&srv, &reply);
	cli.state = HL_MEMIF_S_WAIT_HELLO;
	size_t off = 0;
	while (off + 2 <= size) {
		size_t len = data[off];
		uint8_t how = data[off + 1];
		off += 2;
		if (len > size - off)
			len = size - off;
		const uint8_t *m = data + off;
		off += len;

		enum hl_memif_action a = hl_memif_ctl_handle(&srv, m, len, make_fd(how), &reply);
		assert(a != HL_MEMIF_A_SETUP && a != HL_MEMIF_A_UP);
		if (a == HL_MEMIF_A_CONNECT && hl_memif_ctl_connect(&srv, &reply) == 0)
			assert(srv.state == HL_MEMIF_S_CONNECTED && hl_memif_ctl_queues(&srv) > 0);
		if (a == HL_MEMIF_A_HANGUP || (a == HL_MEMIF_A_CONNECT && srv.state != HL_MEMIF_S_CONNECTED)) {
			assert(reply.type == HL_MEMIF_MSG_DISCONNECT);
			hl_memif_ctl_reset(&srv);
			hl_memif_ctl_hello(&srv, &reply);
		}

		int reply_fd = -1;
		a = hl_memif_ctl_client_handle(&cli, m, len, make_fd(how), &reply, &reply_fd);
		if (a == HL_MEMIF_A_SETUP) {
			/* no layout here: the engine then announces no regions and rings without fds */
			assert(cli.nq >= 1 && cli.nq <= cfg.queues && cli.log2_ring <= cfg.log2_ring);
			hl_memif_ctl_client_init(&cli, &reply);
			assert(reply.type == HL_MEMIF_MSG_INIT);
		} else if (a == HL_MEMIF_A_HANGUP) {
			hl_memif_ctl_reset(&cli);
			cli.state = HL_MEMIF_S_WAIT_HELLO;
		}
		assert(reply_fd == -1);
	}
	hl_memif_ctl_reset(&srv);
	hl_memif_ctl_reset(&cli);
	assert(open_fds() == before);
	return 0;
}
