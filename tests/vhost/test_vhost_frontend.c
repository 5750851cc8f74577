/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hugelink's front-end against hugelink's back-end over a real socket: the
 * pool crosses as the guest memory, rings handed over by address land where
 * the back-end can read them, and GET_VRING_BASE stops a queue.
 */
#include <errno.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <hugelink/pool.h>
#include <hugelink/vhost_backend.h>
#include <hugelink/vhost_frontend.h>

#include "hl_test.h"

static struct hl_vhost_backend be;
static volatile int stop_backend;
static unsigned qstarts;

static void on_start(struct hl_vhost_dev *d, unsigned q)
{
	(void)d;
	(void)q;
	__atomic_fetch_add(&qstarts, 1, __ATOMIC_RELAXED);
}

static uint16_t on_stop(struct hl_vhost_dev *d, unsigned q)
{
	return (uint16_t)(d->vq[q].base + 3);
}

static const struct hl_vhost_ops ops = {.queue_start = on_start, .queue_stop = on_stop};

static void *backend_thread(void *arg)
{
	(void)arg;
	while (!stop_backend)
		hl_vhost_backend_poll(&be, 20);
	return NULL;
}

HL_TEST(frontend_sets_up_our_backend)
{
	char path[256], name[32];
	struct hl_pool *pool;
	struct hl_vhost_frontend fe;
	pthread_t th;

	snprintf(path, sizeof(path), "%s/fe.sock", hl_test_tmpdir());
	snprintf(name, sizeof(name), "t-fe-%d", (int)getpid());
	struct hl_vhost_backend_params bp = {.path = path, .features = 1ull << 32, .nqueues = 2, .ops = &ops};
	REQUIRE_OK(hl_vhost_backend_open(&be, &bp));
	REQUIRE(pthread_create(&th, NULL, backend_thread, NULL) == 0);

	struct hl_pool_params pp = {.name = name, .size = 8 << 20, .run_dir = hl_test_tmpdir(),
				    .flags = HL_POOL_F_NO_HUGE};
	REQUIRE_OK(hl_pool_create(&pp, &pool));
	REQUIRE_OK(hl_vhost_frontend_connect(&fe, path, 2000));
	REQUIRE_OK(hl_vhost_frontend_negotiate(&fe, (1ull << 32) | (1ull << 5)));
	CHECK_EQ(fe.features, (1ull << 32) | (1ull << HL_VU_F_PROTOCOL_FEATURES)); /* bit 5 not offered */
	CHECK(fe.protocol & (1ull << HL_VU_PROTOCOL_F_REPLY_ACK));
	CHECK_EQ(fe.backend_queues, 1); /* queue pairs: our 2 queues make one */
	REQUIRE_OK(hl_vhost_frontend_set_mem(&fe, pool));

	uint64_t off;
	REQUIRE_OK(hl_pool_zone_reserve(pool, "vq0", 64 << 10, 4096, 0, &off));
	uint8_t *ring = hl_pool_off2va(pool, off);
	int kick = eventfd(0, EFD_CLOEXEC), call = eventfd(0, EFD_CLOEXEC);
	strcpy((char *)ring, "descriptors live here");
	REQUIRE_OK(hl_vhost_frontend_start_queue(&fe, 0, 256, ring, ring + 4096, ring + 8192, 11, kick, call));
	/* every request was acked, so the back-end has applied them all */
	CHECK_EQ(__atomic_load_n(&qstarts, __ATOMIC_RELAXED), 1);
	CHECK(be.dev.vq[0].started);
	CHECK(be.dev.vq[0].desc != NULL && be.dev.vq[0].desc != ring); /* its own mapping ... */
	CHECK(strcmp(be.dev.vq[0].desc, "descriptors live here") == 0); /* ... of our memory */
	uint16_t base;
	REQUIRE_OK(hl_vhost_frontend_stop_queue(&fe, 0, &base));
	CHECK_EQ(base, 14);
	/* a queue the back-end does not have is refused, visibly */
	CHECK_EQ(hl_vhost_frontend_start_queue(&fe, 5, 256, ring, ring + 4096, ring + 8192, 0, -1, -1), -EIO);

	hl_vhost_frontend_close(&fe);
	close(kick);
	close(call);
	stop_backend = 1;
	pthread_join(th, NULL);
	hl_vhost_backend_close(&be);
	REQUIRE_OK(hl_pool_destroy(pool));
}
