/* SPDX-License-Identifier: BSD-3-Clause */
/* The switch-side set-up the shm port tests share: a pool and its bufpool. */
#ifndef HL_TEST_SHM_ENV_H
#define HL_TEST_SHM_ENV_H

#include <hugelink/shm_ring.h>

#include "hl_test.h"
#include "shm_util.h"

struct env {
	struct hl_pool *pool;
	struct hl_bufpool *bp;
	struct hl_pool_info info;
};

/* A 16 MiB pool "<tag>-<pid>" with a bufpool "<tag>bp" of nbuf buffers. */
static inline int env_open(struct env *e, const char *tag, unsigned nbuf)
{
	char bp[16];
	int rc = shm_pool_create(tag, 16 * SHM_MB, &e->pool);
	if (rc < 0)
		return rc;
	hl_pool_get_info(e->pool, &e->info);
	snprintf(bp, sizeof(bp), "%sbp", tag);
	rc = hl_bufpool_create(e->pool, bp, nbuf, SHM_ROOM, 0, &e->bp);
	if (rc < 0)
		hl_pool_destroy(e->pool);
	return rc;
}

/*
 * A test's first step: the free hugepages it needs (missing ones fail it
 * loudly, nothing skips), then env_open(); returns from the test if either
 * fails.
 */
#define REQUIRE_ENV(e, tag, nbuf, pages)                                                 \
	do {                                                                             \
		HL_TEST_NEED(free_hugepages_2m() >= (pages), #pages " free 2 MiB hugepages"); \
		REQUIRE_OK(env_open(e, tag, nbuf));                                      \
	} while (0)

/* Every buffer back, none freed twice, the pool gone. */
static inline void env_close(struct env *e)
{
	struct hl_bufpool_stats st;
	hl_bufpool_stats(e->bp, &st);
	CHECK_EQ(st.in_use, 0);
	CHECK_EQ(st.double_free, 0);
	hl_bufpool_free(e->bp);
	CHECK_EQ(hl_pool_destroy(e->pool), 0);
}

/* Publish raw descriptors on one of a peer's rings, as a hostile peer would. */
static inline void raw_push(struct hl_shm_peer *pe, enum hl_shm_ring_id id, const uint64_t *d, unsigned n)
{
	struct hl_shm_ring *r = hl_shm_peer_ring(pe, id);
	for (unsigned i = 0; i < n; i++)
		hl_shm_ring_put(r, i, d[i]);
	hl_shm_ring_publish(r, n);
}

#endif
