/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the vhost-user protocol engine: the input is a
 * sequence of messages, each preceded by a 2-byte length and a byte saying
 * how many fds (small memfds of an input-chosen size) come with it. One
 * device lives through the whole sequence, then is reset: no crash, no
 * leak (fds and mappings are checked by the leak sanitizer and by the
 * assertion on the open-fd count).
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <hugelink/vhost_dev.h>

#include "fuzz_fds.h"


static uint16_t stop_cb(struct hl_vhost_dev *d, unsigned q)
{
	return d->vq[q].base;
}

static const struct hl_vhost_ops ops = {.queue_stop = stop_cb};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct hl_vhost_dev dev;
	static struct hl_vu_msg m, r;
	int baseline = open_fds();

	hl_log_set_level(HL_LOG_OFF);
	/* VERSION_1 and RING_PACKED: both ring layouts' addresses and bases are reachable */
	hl_vhost_dev_init(&dev, 1ull << 32 | 1ull << 34, 2, &ops, NULL);
	while (size >= 3) {
		size_t len = (size_t)data[0] | (size_t)data[1] << 8;
		unsigned nfds = data[2] % 4;
		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		if (len > sizeof(m))
			len = sizeof(m);
		memset(&m, 0, sizeof(m));
		memcpy(&m, data, len);
		data += len;
		size -= len;
		int fds[HL_VU_MAX_FDS];
		for (unsigned i = 0; i < nfds; i++) {
			fds[i] = memfd_create("fz", MFD_CLOEXEC);
			if (fds[i] >= 0 && ftruncate(fds[i], (off_t)(4096u << i)) < 0) {
				close(fds[i]);
				fds[i] = -1;
			}
		}
		int rc = hl_vhost_dev_handle(&dev, &m, len, fds, nfds, &r);
		if (rc < 0)
			break; /* the connection would be dropped */
	}
	hl_vhost_dev_reset(&dev);
	hl_guest_mem_free(&dev.mem);
	hl_xlate_free(&dev.uva2hva);
	assert(open_fds() == baseline);
	return 0;
}
