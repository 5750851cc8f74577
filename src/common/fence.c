/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The asymmetric fence (fence_pvt.h): membarrier registration, once, when
 * the first port that uses the handshake is opened, and the control
 * thread's side. HL_FENCE=full in the environment keeps full fences on
 * both sides (for comparison, or a kernel whose membarrier misbehaves).
 */
#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fence_pvt.h"

bool hl__membarrier;

static int membarrier(int cmd)
{
	return (int)syscall(__NR_membarrier, cmd, 0, 0);
}

static void fence_init(void)
{
	const char *e = getenv("HL_FENCE");
	if (e != NULL && strcmp(e, "full") == 0)
		return;
	int have = membarrier(MEMBARRIER_CMD_QUERY);
	if (have < 0 || !(have & MEMBARRIER_CMD_PRIVATE_EXPEDITED))
		return;
	/* only once registered: from then on every control-side fence is a membarrier */
	if (membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0)
		__atomic_store_n(&hl__membarrier, true, __ATOMIC_SEQ_CST);
}

void hl__fence_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, fence_init);
}

void hl__fence_ctrl(void)
{
	hl_smp_mb();
	if (!__atomic_load_n(&hl__membarrier, __ATOMIC_ACQUIRE))
		return;
	if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0)
		return;
	/*
	 * A child forked after registration has a fresh mm: register it and
	 * retry. The global command needs no registration and orders every
	 * thread too, only slower; one of them must succeed, or data-path
	 * threads that skipped their fence would race the caller.
	 */
	int err = errno;
	if (membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0 &&
	    membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0)
		return;
	if (membarrier(MEMBARRIER_CMD_GLOBAL) == 0)
		return;
	HL_LOG_ERR("membarrier failed (%s): the data path's handshake is unordered", strerror(err));
	abort();
}
