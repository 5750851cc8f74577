/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shm ports, switch side, the control path: one context per pool with its
 * owner table, creating, finding, claiming and removing ports, the doorbell
 * FIFO, and the counters and census tools read. The control thread's work;
 * the data path is shm_port.c.
 *
 * Invariants:
 *   - a port's zone is laid out whole and its rings opened before magic is
 *     stored (release), and magic before the port's name goes into the
 *     owner table, so neither a peer nor a recovering switch meets a named
 *     zone that is half made. Removal goes the other way: magic cleared,
 *     the peer's buffers taken back, zone freed, name cleared.
 *   - the first port of a pool makes its owner table and context, the last
 *     one removed frees them; all ports of a pool serve one bufpool.
 *   - contexts and their port tables change only under hl_shm_lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm_port_pvt.h"

#define DEFAULT_RING 256

pthread_mutex_t hl_shm_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shm_ctx *g_ctxs;

/* ---- doorbell ------------------------------------------------------------------------ */

/* "<dir of the record>/<pool>.shm.<port>.kick"; false if it does not fit. */
static bool kick_path_of(struct hl_pool *pool, const char *port, char *buf, size_t n)
{
	struct hl_pool_info info;
	if (hl_pool_get_info(pool, &info) < 0)
		return false;
	const char *slash = strrchr(info.record_path, '/');
	int dir = slash != NULL ? (int)(slash - info.record_path) : 1;
	const char *base = slash != NULL ? info.record_path : ".";
	int w = snprintf(buf, n, "%.*s/%s.shm.%s.kick", dir, base, info.name, port);
	return w > 0 && (size_t)w < n;
}

/* Holds the FIFO's read side, so a peer's write never finds it without a reader. */
void hl_shm_kick_open(struct hl_shm_port *p)
{
	struct stat st;

	p->kick_fd = -1;
	if (!kick_path_of(p->ctx->pool, p->name, p->kick_path, sizeof(p->kick_path))) {
		p->kick_path[0] = '\0';
		return;
	}
	if (mkfifo(p->kick_path, 0600) < 0 && errno != EEXIST) {
		HL_LOG_WARN("shm port %s: no doorbell (%s: %s); polling only", p->name, p->kick_path,
			    strerror(errno));
		p->kick_path[0] = '\0';
		return;
	}
	/* O_RDWR: never blocks, and the FIFO always has a reader */
	int fd = open(p->kick_path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		HL_LOG_WARN("shm port %s: %s is not a usable FIFO; polling only", p->name, p->kick_path);
		if (fd >= 0)
			close(fd);
		p->kick_path[0] = '\0';
		return;
	}
	p->kick_fd = fd;
}

static void kick_close(struct hl_shm_port *p)
{
	if (p->kick_fd >= 0)
		close(p->kick_fd);
	if (p->kick_path[0] != '\0')
		unlink(p->kick_path);
	p->kick_fd = -1;
}

int hl_shm_port_kick_fd(const struct hl_shm_port *p)
{
	return p->kick_fd;
}

/* ---- contexts (one per pool) ------------------------------------------------------ */

static unsigned log2u(uint64_t v)
{
	return (unsigned)__builtin_ctzll(v);
}

struct shm_ctx *hl_shm_ctx_find(struct hl_pool *pool)
{
	for (struct shm_ctx *c = g_ctxs; c != NULL; c = c->next)
		if (c->pool == pool)
			return c;
	return NULL;
}

void hl_shm_ctx_link(struct shm_ctx *c)
{
	c->next = g_ctxs;
	g_ctxs = c;
}

static void ctx_unlink(struct shm_ctx *c)
{
	for (struct shm_ctx **pp = &g_ctxs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
}

int hl_shm_ctx_geom(struct shm_ctx *c)
{
	if (!HL_IS_POW2(c->g.page_size) || c->g.page_size > (1ull << 31) || c->g.stride == 0 ||
	    c->g.per_page == 0)
		return hl_error(-EINVAL, "shm: bufpool geometry makes no sense");
	if (c->g.data_room - HL_BUF_HEADROOM > HL_SHM_LEN_MAX)
		return hl_error(-EINVAL, "shm: buffers of %u bytes do not fit a descriptor's 16-bit length",
				c->g.data_room);
	c->page_shift = log2u(c->g.page_size);
	c->by_stride = hl_div32_init(c->g.stride);
	c->max_len = c->g.data_room - HL_BUF_HEADROOM;
	uint64_t most = (uint64_t)HL_SHM_SEGS_MAX * c->max_len;
	c->max_frame = most < HL_SHM_FRAME_MAX ? (uint32_t)most : HL_SHM_FRAME_MAX;
	return 0;
}

/* Caller holds hl_shm_lock. A fresh owner table for bp in pool. */
static int ctx_create(struct hl_pool *pool, struct hl_bufpool *bp, struct shm_ctx **out)
{
	struct shm_ctx *c = calloc(1, sizeof(*c));
	uint64_t off, len;
	int rc;

	if (c == NULL)
		return hl_error(-ENOMEM, "shm: out of memory");
	c->pool = pool;
	c->bp = bp;
	c->bufs = hl_bufpool_buf_at(bp, 0);
	c->base = hl_pool_off2va(pool, 0);
	hl_bufpool_geom(bp, &c->g);
	rc = hl_shm_ctx_geom(c);
	if (rc < 0)
		goto fail;
	c->own = calloc(c->g.n, sizeof(uint32_t));
	if (c->own == NULL) {
		rc = hl_error(-ENOMEM, "shm: out of memory");
		goto fail;
	}
	len = HL_SHM_OWNER_WORDS_OFF + (uint64_t)c->g.n * sizeof(uint32_t);
	rc = hl_pool_zone_reserve(pool, HL_SHM_OWNER_ZONE, len, HL_SHM_CACHE_LINE, 0, &off);
	if (rc < 0)
		goto fail;
	c->oh = hl_pool_off2va(pool, off);
	memset(c->oh, 0, len);
	c->words = (uint32_t *)((uint8_t *)c->oh + HL_SHM_OWNER_WORDS_OFF);
	c->oh->version = HL_SHM_OWNER_VERSION;
	c->oh->hdr_size = sizeof(struct hl_shm_owner_hdr);
	snprintf(c->oh->bp_name, sizeof(c->oh->bp_name), "%s", hl_bufpool_name(bp));
	c->oh->bp_n = c->g.n;
	c->oh->bp_room = c->g.data_room;
	c->oh->words_off = HL_SHM_OWNER_WORDS_OFF;
	__atomic_store_n(&c->oh->magic, HL_SHM_OWNER_MAGIC, __ATOMIC_RELEASE);
	hl_shm_ctx_link(c);
	*out = c;
	return 0;
fail:
	free(c->own);
	free(c);
	return rc;
}

static void ctx_free(struct shm_ctx *c)
{
	ctx_unlink(c);
	hl_pool_zone_free(c->pool, HL_SHM_OWNER_ZONE);
	free(c->own);
	free(c);
}

/* ---- ports: create, find, destroy ------------------------------------------------- */

int hl_shm_port_open_rings(struct hl_shm_port *p)
{
	uint8_t *zone = (uint8_t *)p->ctrl;
	for (unsigned r = 0; r < HL_SHM_NRINGS; r++) {
		bool producer = r == HL_SHM_RING_RX || r == HL_SHM_RING_FILL;
		int rc = hl_shm_ring_open(&p->ring[r], zone + p->ctrl->ring_off[r], p->ctrl->ring_size,
					  producer);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int hl_shm_port_create(struct hl_pool *pool, struct hl_bufpool *bp, const char *name,
		       unsigned ring_size, struct hl_shm_port **out)
{
	struct hl_shm_port *p = NULL;
	struct shm_ctx *c;
	uint64_t off, len;
	int rc;

	if (pool == NULL || bp == NULL || out == NULL)
		return hl_error(-EINVAL, "shm port: pool, bufpool or out is NULL");
	if (hl_bufpool_pool(bp) != pool)
		return hl_error(-EINVAL, "shm port: the bufpool is not in this pool");
	if (name == NULL || name[0] == '\0' || strlen(name) + strlen(HL_SHM_ZONE_PREFIX) >= HL_ZONE_NAME_LEN)
		return hl_error(-EINVAL, "shm port: name must be 1..%zu characters",
				HL_ZONE_NAME_LEN - 1 - strlen(HL_SHM_ZONE_PREFIX));
	if (ring_size == 0)
		ring_size = DEFAULT_RING;
	if (!HL_IS_POW2(ring_size) || ring_size < HL_SHM_RING_MIN || ring_size > HL_SHM_RING_MAX)
		return hl_error(-EINVAL, "shm port %s: ring_size %u must be a power of two in %u..%u",
				name, ring_size, HL_SHM_RING_MIN, HL_SHM_RING_MAX);

	pthread_mutex_lock(&hl_shm_lock);
	c = hl_shm_ctx_find(pool);
	if (c != NULL && c->bp != bp) {
		rc = hl_error(-EBUSY, "shm port %s: the pool's shm ports serve bufpool %s", name,
			      hl_bufpool_name(c->bp));
		goto out;
	}
	if (c == NULL && (rc = ctx_create(pool, bp, &c)) < 0)
		goto out;
	unsigned id = 0;
	while (id < HL_SHM_MAX_PORTS && c->ports[id] != NULL)
		id++;
	if (id == HL_SHM_MAX_PORTS) {
		rc = hl_error(-ENOSPC, "shm port %s: all %u shm ports in use", name, HL_SHM_MAX_PORTS);
		goto out_ctx;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		rc = hl_error(-ENOMEM, "shm port %s: out of memory", name);
		goto out_ctx;
	}
	p->kick_fd = -1;
	p->ctx = c;
	p->id = id;
	p->tag = HL_SHM_OWNER_PEER(id);
	p->fill_target = ring_size / 2;
	p->offered = HL_SHM_F_ALL;
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->zone, sizeof(p->zone), HL_SHM_ZONE_PREFIX "%s", name);

	len = sizeof(struct hl_shm_ctrl) + HL_SHM_NRINGS * hl_shm_ring_bytes(ring_size);
	rc = hl_pool_zone_reserve(pool, p->zone, len, HL_SHM_CACHE_LINE, 0, &off);
	if (rc < 0)
		goto out_ctx;
	struct hl_shm_ctrl *ctl = hl_pool_off2va(pool, off);
	memset(ctl, 0, len);
	ctl->version = HL_SHM_VERSION;
	ctl->ctrl_size = sizeof(*ctl);
	ctl->ring_size = ring_size;
	ctl->port_id = id;
	ctl->zone_len = len;
	for (unsigned r = 0; r < HL_SHM_NRINGS; r++) {
		ctl->ring_off[r] = sizeof(*ctl) + r * hl_shm_ring_bytes(ring_size);
		hl_shm_ring_format((uint8_t *)ctl + ctl->ring_off[r], ring_size, 0);
	}
	ctl->bp_zone_off = c->g.zone_off;
	ctl->bp_zone_len = c->g.zone_len;
	ctl->bp_page_size = c->g.page_size;
	ctl->bp_n = c->g.n;
	ctl->bp_room = c->g.data_room;
	ctl->bp_stride = c->g.stride;
	ctl->bp_per_page = c->g.per_page;
	ctl->headroom = HL_BUF_HEADROOM;
	ctl->features_offered = p->offered;
	p->ctrl = ctl;
	rc = hl_shm_port_open_rings(p);
	if (rc < 0) {
		hl_pool_zone_free(pool, p->zone);
		goto out_ctx;
	}
	__atomic_store_n(&ctl->magic, HL_SHM_MAGIC, __ATOMIC_RELEASE);
	snprintf(c->oh->ports[id], sizeof(c->oh->ports[id]), "%s", p->zone);
	p->claimed = true;
	c->ports[id] = p;
	c->nports++;
	hl_shm_kick_open(p);
	pthread_mutex_unlock(&hl_shm_lock);
	hl_shm_port_refill(p);
	hl_shm_mirror_counters(p);
	HL_LOG_INFO("shm port %s: id %u, rings of %u, zone %s at 0x%llx", name, id, ring_size,
		    p->zone, (unsigned long long)off);
	*out = p;
	return 0;
out_ctx:
	free(p);
	if (c->nports == 0)
		ctx_free(c);
out:
	pthread_mutex_unlock(&hl_shm_lock);
	return rc;
}

/* The port of that name in pool's context, or NULL. Caller holds hl_shm_lock. */
static struct hl_shm_port *port_named(struct hl_pool *pool, const char *name)
{
	struct shm_ctx *c = hl_shm_ctx_find(pool);
	for (unsigned i = 0; c != NULL && i < HL_SHM_MAX_PORTS; i++)
		if (c->ports[i] != NULL && strcmp(c->ports[i]->name, name) == 0)
			return c->ports[i];
	return NULL;
}

int hl_shm_port_find(struct hl_pool *pool, const char *name, struct hl_shm_port **out)
{
	pthread_mutex_lock(&hl_shm_lock);
	struct hl_shm_port *p = port_named(pool, name);
	pthread_mutex_unlock(&hl_shm_lock);
	if (p == NULL)
		return -ENOENT;
	*out = p;
	return 0;
}

int hl_shm_port_claim(struct hl_pool *pool, const char *name, struct hl_shm_port **out)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&hl_shm_lock);
	struct hl_shm_port *p = port_named(pool, name);
	if (p != NULL && p->claimed) {
		rc = hl_error(-EBUSY, "shm port %s is already served", name);
	} else if (p != NULL) {
		p->claimed = true;
		*out = p;
		rc = 0;
	}
	pthread_mutex_unlock(&hl_shm_lock);
	return rc;
}

unsigned hl_shm_port_unclaimed(struct hl_pool *pool, char (*names)[HL_ZONE_NAME_LEN], unsigned max)
{
	unsigned n = 0;

	pthread_mutex_lock(&hl_shm_lock);
	struct shm_ctx *c = hl_shm_ctx_find(pool);
	for (unsigned i = 0; c != NULL && i < HL_SHM_MAX_PORTS && n < max; i++)
		if (c->ports[i] != NULL && !c->ports[i]->claimed)
			snprintf(names[n++], HL_ZONE_NAME_LEN, "%s", c->ports[i]->name);
	pthread_mutex_unlock(&hl_shm_lock);
	return n;
}

unsigned hl_shm_take_back(struct hl_shm_port *p)
{
	struct shm_ctx *c = p->ctx;
	unsigned taken = 0;
	for (uint32_t i = 0; i < c->g.n; i++) {
		if (hl_shm_owner_get(c, i) != p->tag)
			continue;
		hl_shm_owner_set(c, i, HL_SHM_OWNER_FREE);
		struct hl_buf *b = hl_bufpool_buf_at(c->bp, i);
		if (hl_buf_refcnt(b) != 0)
			hl_buf_free(b);
		taken++;
	}
	return taken;
}

void hl_shm_port_destroy(struct hl_shm_port *p)
{
	if (p == NULL)
		return;
	struct shm_ctx *c = p->ctx;
	unsigned taken = 0;

	pthread_mutex_lock(&hl_shm_lock);
	/* a peer still looking sees the port go before its buffers do */
	__atomic_store_n(&p->ctrl->magic, 0, __ATOMIC_RELEASE);
	taken = hl_shm_take_back(p);
	/* zone before name: a crash in between leaves a name without a zone,
	 * which recovery drops; the other order would leak the zone */
	hl_pool_zone_free(c->pool, p->zone);
	memset(c->oh->ports[p->id], 0, sizeof(c->oh->ports[p->id]));
	c->ports[p->id] = NULL;
	if (--c->nports == 0)
		ctx_free(c);
	pthread_mutex_unlock(&hl_shm_lock);
	kick_close(p);
	HL_LOG_INFO("shm port %s: removed, %u buffers taken back from its peer", p->name, taken);
	free(p);
}

/* ---- introspection ------------------------------------------------------------------ */

void hl_shm_port_stats(const struct hl_shm_port *p, struct hl_shm_port_stats *st)
{
	const uint64_t *src = (const uint64_t *)&p->st;
	uint64_t *dst = (uint64_t *)st;
	for (size_t i = 0; i < sizeof(*st) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

void hl_shm_port_ol_stats(const struct hl_shm_port *p, struct hl_ol_stats *ol)
{
	hl_ol_stats_add(ol, &p->ol);
}

uint32_t hl_shm_port_features(const struct hl_shm_port *p)
{
	return hl_shm_features(p);
}

uint32_t hl_shm_port_max_frame(const struct hl_shm_port *p)
{
	return hl_shm_features(p) & HL_SHM_F_CHAIN ? p->ctx->max_frame : p->ctx->max_len;
}

bool hl_shm_port_peer_attached(const struct hl_shm_port *p, uint32_t *pid)
{
	uint32_t v = __atomic_load_n(&p->ctrl->peer_pid, __ATOMIC_ACQUIRE);
	if (pid != NULL)
		*pid = v;
	if (v == 0)
		return false;
	/* a peer that died attached leaves its pid behind */
	return kill((pid_t)v, 0) == 0 || errno == EPERM;
}

const char *hl_shm_port_name(const struct hl_shm_port *p)
{
	return p->name;
}

struct hl_bufpool *hl_shm_port_bufpool(const struct hl_shm_port *p)
{
	return p->ctx->bp;
}

uint32_t hl_shm_port_id(const struct hl_shm_port *p)
{
	return p->id;
}

unsigned hl_shm_port_peer_held(const struct hl_shm_port *p)
{
	unsigned n = 0;
	for (uint32_t i = 0; i < p->ctx->g.n; i++)
		n += hl_shm_owner_get(p->ctx, i) == p->tag;
	return n;
}

int hl_shm_owner_census(struct hl_pool *pool, unsigned *free_or_switch, unsigned *peer)
{
	int rc = -ENOENT;
	pthread_mutex_lock(&hl_shm_lock);
	struct shm_ctx *c = hl_shm_ctx_find(pool);
	if (c != NULL) {
		unsigned f = 0, q = 0;
		for (uint32_t i = 0; i < c->g.n; i++) {
			uint32_t v = hl_shm_owner_get(c, i);
			if (v & HL_SHM_OWNER_PEER_BIT)
				q++;
			else
				f++;
			/* the pool's copy must say the same */
			if (__atomic_load_n(&c->words[i], __ATOMIC_RELAXED) != v)
				rc = -EBADMSG;
		}
		*free_or_switch = f;
		*peer = q;
		if (rc != -EBADMSG)
			rc = 0;
	}
	pthread_mutex_unlock(&hl_shm_lock);
	return rc;
}

