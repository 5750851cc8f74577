/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shm ports, switch side, after the switch died: a process that took the
 * pool over as its owner resolves every port's intents (shm_abi.h), loads
 * its private owner table from the pool's, adopts the bufpool and
 * re-attaches every port, while the peers stay mapped.
 *
 * Invariants:
 *   - nothing read from the pool is believed unchecked: the owner table's
 *     header against the pool, each owner word in range, each control block
 *     against its zone, each intent against its ring, each slot as a
 *     descriptor. What makes no sense is counted (bad_entries) and taken as
 *     the switch's, so it is freed: a damaged port loses its own buffers,
 *     never another port's.
 *   - this is the one time the pool's owner table is believed; from here on
 *     the private copy is the truth.
 *   - adoption keeps exactly the PEER-owned buffers in use with their peers;
 *     every other buffer (FREE, or SWITCH: the dead switch's in-flight
 *     packets) is free again, so none ends both free and a peer's.
 *   - the context is published, and its ports found, only once adoption
 *     has succeeded.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shm_port_pvt.h"

struct recover {
	struct shm_ctx *c;
	struct hl_shm_recover_report *rep;
};

/* Resolve one ring's intent against the published index (see shm_abi.h). */
static void resolve_intent(struct recover *rv, struct hl_shm_port *p, enum hl_shm_ring_id id)
{
	struct shm_ctx *c = rv->c;
	struct hl_shm_intent *in = &p->ctrl->intent[id];
	struct hl_shm_ring_hdr *h = (struct hl_shm_ring_hdr *)((uint8_t *)p->ctrl + p->ctrl->ring_off[id]);
	uint32_t size = p->ctrl->ring_size, mask = size - 1;
	bool producer = id == HL_SHM_RING_RX || id == HL_SHM_RING_FILL;

	if (__atomic_load_n(&in->state, __ATOMIC_ACQUIRE) != HL_SHM_INTENT_ACTIVE)
		goto done;
	uint32_t start = in->start, count = in->count;
	if (count > size) {
		rv->rep->bad_entries++;
		goto done;
	}
	uint32_t *idxp = producer ? &h->prod : &h->cons;
	bool published = __atomic_load_n(idxp, __ATOMIC_ACQUIRE) == start + count;

	if (producer && published)
		rv->rep->intents_committed++;
	else if (producer)
		rv->rep->intents_undone++;
	else if (!published)
		rv->rep->intents_forward++;
	for (uint32_t i = 0; i < count && !(published && !producer); i++) {
		uint32_t idx;
		if (hl_shm_desc_index(c, h->slots[(start + i) & mask], 0, &idx) != HL_SHM_DESC_OK) {
			rv->rep->bad_entries++;
			continue;
		}
		uint32_t v = hl_shm_owner_get(c, idx);
		if (producer && published) {
			/* the peer may hold it: make the table say so */
			if (!(v & HL_SHM_OWNER_PEER_BIT))
				hl_shm_owner_set(c, idx, p->tag);
			else if (v != p->tag)
				rv->rep->bad_entries++;
		} else if (v == p->tag) {
			/* never handed over (producer), or handed over (consumer) */
			hl_shm_owner_set(c, idx, HL_SHM_OWNER_SWITCH);
		}
	}
	if (producer && !published)
		__atomic_store_n(idxp, start, __ATOMIC_RELEASE);
	else if (!producer && !published)
		__atomic_store_n(idxp, start + count, __ATOMIC_RELEASE);
done:
	__atomic_store_n(&in->state, HL_SHM_INTENT_IDLE, __ATOMIC_RELEASE);
}

/* Re-attach port zone `zname` as port id; NULL (counted) if it makes no sense. */
static struct hl_shm_port *recover_port(struct recover *rv, uint32_t id, const char *zname)
{
	struct shm_ctx *c = rv->c;
	uint64_t off, len;

	if (hl_pool_zone_lookup(c->pool, zname, &off, &len) < 0 ||
	    strncmp(zname, HL_SHM_ZONE_PREFIX, strlen(HL_SHM_ZONE_PREFIX)) != 0 ||
	    len < sizeof(struct hl_shm_ctrl)) {
		HL_LOG_WARN("shm recover: port %u's zone %s is missing or too small", id, zname);
		return NULL;
	}
	struct hl_shm_ctrl *ctl = hl_pool_off2va(c->pool, off);
	uint32_t rs = ctl->ring_size;
	if (ctl->magic == HL_SHM_MAGIC && (ctl->version != HL_SHM_VERSION || ctl->ctrl_size != sizeof(*ctl))) {
		HL_LOG_WARN("shm recover: %s is shm format %u (%u-byte control block); this switch speaks %u: "
			    "the port is dropped and its peer must attach again",
			    zname, ctl->version, ctl->ctrl_size, HL_SHM_VERSION);
		return NULL;
	}
	if (ctl->magic != HL_SHM_MAGIC || ctl->port_id != id ||
	    !HL_IS_POW2(rs) || rs < HL_SHM_RING_MIN || rs > HL_SHM_RING_MAX ||
	    ctl->zone_len != len || len < sizeof(*ctl) + HL_SHM_NRINGS * hl_shm_ring_bytes(rs)) {
		HL_LOG_WARN("shm recover: control block of %s is damaged", zname);
		return NULL;
	}
	for (unsigned r = 0; r < HL_SHM_NRINGS; r++)
		if (ctl->ring_off[r] != sizeof(*ctl) + r * hl_shm_ring_bytes(rs)) {
			HL_LOG_WARN("shm recover: ring %u of %s is misplaced", r, zname);
			return NULL;
		}
	struct hl_shm_port *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->kick_fd = -1;
	p->ctx = c;
	p->ctrl = ctl;
	p->id = id;
	p->tag = HL_SHM_OWNER_PEER(id);
	p->fill_target = rs / 2;
	/* what this switch offers, whatever the block says now */
	p->offered = HL_SHM_F_ALL;
	__atomic_store_n(&ctl->features_offered, p->offered, __ATOMIC_RELAXED);
	snprintf(p->zone, sizeof(p->zone), "%s", zname);
	snprintf(p->name, sizeof(p->name), "%s", zname + strlen(HL_SHM_ZONE_PREFIX));
	for (unsigned r = 0; r < HL_SHM_NRINGS; r++)
		resolve_intent(rv, p, (enum hl_shm_ring_id)r);
	if (hl_shm_port_open_rings(p) < 0) {
		/* indices a peer made inconsistent: the ring stays broken until reset */
		for (unsigned r = 0; r < HL_SHM_NRINGS; r++) {
			struct hl_shm_ring *ring = &p->ring[r];
			if (ring->hdr == NULL) {
				ring->hdr = (struct hl_shm_ring_hdr *)((uint8_t *)ctl + ctl->ring_off[r]);
				ring->slots = ring->hdr->slots;
				ring->ol = hl_shm_ring_ol(ring->hdr, rs);
				ring->size = rs;
				ring->mask = rs - 1;
				ring->producer = r == HL_SHM_RING_RX || r == HL_SHM_RING_FILL;
				ring->broken = true;
				ring->broken_events = 1;
				p->st.c.ring_broken++;
			}
		}
	}
	return p;
}

static bool keep_peer_owned(unsigned index, void *opaque)
{
	const struct shm_ctx *c = opaque;
	return (hl_shm_owner_get(c, index) & HL_SHM_OWNER_PEER_BIT) != 0;
}

int hl_shm_recover(struct hl_pool *pool, unsigned cache_size, struct hl_bufpool **bp_out,
		   struct hl_shm_recover_report *rep)
{
	struct hl_shm_recover_report local;
	struct hl_pool_info info;
	struct recover rv;
	struct shm_ctx *c = NULL;
	struct hl_bufpool *bp = NULL;
	uint64_t off, len, bp_off, bp_len;
	char bp_name[HL_BUF_NAME_LEN], bp_zone[HL_ZONE_NAME_LEN];
	int rc;

	if (pool == NULL || bp_out == NULL)
		return hl_error(-EINVAL, "shm recover: pool or bp_out is NULL");
	if (rep == NULL)
		rep = &local;
	memset(rep, 0, sizeof(*rep));
	hl_pool_get_info(pool, &info);
	if (!info.owner)
		return hl_error(-EPERM, "shm recover: attach the pool as its owner first");
	pthread_mutex_lock(&hl_shm_lock);
	if (hl_shm_ctx_find(pool) != NULL) {
		rc = hl_error(-EBUSY, "shm recover: this process already serves the pool's shm ports");
		goto out;
	}
	rc = hl_pool_zone_lookup(pool, HL_SHM_OWNER_ZONE, &off, &len);
	if (rc < 0) {
		rc = hl_error(rc, "shm recover: no owner table in the pool");
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		rc = hl_error(-ENOMEM, "shm recover: out of memory");
		goto out;
	}
	c->pool = pool;
	c->base = hl_pool_off2va(pool, 0);
	c->oh = hl_pool_off2va(pool, off);
	const struct hl_shm_owner_hdr *oh = c->oh;
	memcpy(bp_name, oh->bp_name, sizeof(bp_name));
	bp_name[sizeof(bp_name) - 1] = '\0';
	snprintf(bp_zone, sizeof(bp_zone), "b:%s", bp_name);
	if (oh->magic != HL_SHM_OWNER_MAGIC || oh->version != HL_SHM_OWNER_VERSION ||
	    oh->hdr_size != sizeof(struct hl_shm_owner_hdr) || oh->words_off != HL_SHM_OWNER_WORDS_OFF || oh->bp_n == 0 ||
	    len < HL_SHM_OWNER_WORDS_OFF + (uint64_t)oh->bp_n * sizeof(uint32_t) ||
	    oh->bp_room <= HL_BUF_HEADROOM || oh->bp_room > info.page_size ||
	    hl_pool_zone_lookup(pool, bp_zone, &bp_off, &bp_len) < 0) {
		rc = hl_error(-EBADMSG, "shm recover: the owner table's header is damaged");
		goto out;
	}
	/* the bufpool's geometry, as hl_bufpool_create lays it out; adopt re-checks it */
	c->g.zone_off = bp_off;
	c->g.zone_len = bp_len;
	c->g.page_size = info.page_size;
	c->g.n = oh->bp_n;
	c->g.data_room = oh->bp_room;
	c->g.stride = HL_ALIGN_UP(oh->bp_room, (uint32_t)HL_CACHE_LINE);
	c->g.per_page = (uint32_t)(info.page_size / c->g.stride);
	if ((rc = hl_shm_ctx_geom(c)) < 0)
		goto out;
	c->words = (uint32_t *)((uint8_t *)c->oh + HL_SHM_OWNER_WORDS_OFF);
	c->own = malloc((size_t)c->g.n * sizeof(uint32_t));
	if (c->own == NULL) {
		rc = hl_error(-ENOMEM, "shm recover: out of memory");
		goto out;
	}
	/* the one time the pool's owner table is believed, and then only in range */
	for (uint32_t i = 0; i < c->g.n; i++) {
		uint32_t v = __atomic_load_n(&c->words[i], __ATOMIC_RELAXED);
		bool ok = v == HL_SHM_OWNER_FREE || v == HL_SHM_OWNER_SWITCH ||
			  ((v & HL_SHM_OWNER_PEER_BIT) && (v & ~HL_SHM_OWNER_PEER_BIT) < HL_SHM_MAX_PORTS &&
			   oh->ports[v & ~HL_SHM_OWNER_PEER_BIT][0] != '\0');
		if (!ok) {
			rep->bad_entries++;
			v = HL_SHM_OWNER_SWITCH;
		}
		c->own[i] = v;
	}
	rv.c = c;
	rv.rep = rep;
	for (uint32_t id = 0; id < HL_SHM_MAX_PORTS; id++) {
		char zname[HL_ZONE_NAME_LEN];
		memcpy(zname, oh->ports[id], sizeof(zname));
		zname[sizeof(zname) - 1] = '\0';
		if (zname[0] == '\0')
			continue;
		struct hl_shm_port *p = recover_port(&rv, id, zname);
		if (p == NULL) {
			/* its buffers come back; its name and zone go (a port whose
			 * removal the crash interrupted ends up here too) */
			rep->bad_entries++;
			memset(c->oh->ports[id], 0, sizeof(c->oh->ports[id]));
			if (strncmp(zname, HL_SHM_ZONE_PREFIX, strlen(HL_SHM_ZONE_PREFIX)) == 0)
				hl_pool_zone_free(pool, zname);
			for (uint32_t i = 0; i < c->g.n; i++)
				if (c->own[i] == HL_SHM_OWNER_PEER(id))
					c->own[i] = HL_SHM_OWNER_SWITCH;
			continue;
		}
		c->ports[id] = p;
		c->nports++;
		rep->ports++;
		hl_shm_kick_open(p);
	}
	rc = hl_bufpool_adopt(pool, bp_name, c->g.n, c->g.data_room, cache_size, keep_peer_owned, c, &bp);
	if (rc < 0)
		goto out;
	/* adopt checked the zone against n and data_room, so the geometry is c->g */
	c->bp = bp;
	c->bufs = hl_bufpool_buf_at(bp, 0);
	for (uint32_t i = 0; i < c->g.n; i++) {
		uint32_t v = c->own[i];
		if (v & HL_SHM_OWNER_PEER_BIT) {
			rep->kept++;
		} else {
			rep->reclaimed += v == HL_SHM_OWNER_SWITCH;
			v = HL_SHM_OWNER_FREE;
		}
		hl_shm_owner_set(c, i, v);
	}
	for (uint32_t id = 0; id < HL_SHM_MAX_PORTS; id++) {
		struct hl_shm_port *p = c->ports[id];
		if (p == NULL)
			continue;
		__atomic_store_n(&p->ctrl->switch_gen, p->ctrl->switch_gen + 1, __ATOMIC_RELEASE);
		hl_shm_mirror_counters(p);
		/* a port no peer is attached to holds only what nobody will take: reset it once */
		uint32_t gen = __atomic_load_n(&p->ctrl->peer_gen, __ATOMIC_ACQUIRE);
		p->gen_at_reset = __atomic_load_n(&p->ctrl->peer_pid, __ATOMIC_ACQUIRE) == 0 ? gen - 1 : gen;
	}
	hl_shm_ctx_link(c);
	pthread_mutex_unlock(&hl_shm_lock);
	HL_LOG_INFO("shm recover: %u ports, %u buffers kept with peers, %u reclaimed; intents: "
		    "%u committed, %u undone, %u rolled forward; %u bad entries",
		    rep->ports, rep->kept, rep->reclaimed, rep->intents_committed, rep->intents_undone,
		    rep->intents_forward, rep->bad_entries);
	for (uint32_t id = 0; id < HL_SHM_MAX_PORTS; id++)
		if (c->ports[id] != NULL)
			hl_shm_port_refill(c->ports[id]);
	*bp_out = bp;
	return 0;
out:
	if (c != NULL) {
		for (uint32_t id = 0; id < HL_SHM_MAX_PORTS; id++) {
			if (c->ports[id] != NULL && c->ports[id]->kick_fd >= 0)
				close(c->ports[id]->kick_fd);
			free(c->ports[id]);
		}
		free(c->own);
		free(c);
	}
	pthread_mutex_unlock(&hl_shm_lock);
	return rc;
}

