/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Zones: named carve-outs of a pool (rings, buffer arrays), recorded in the
 * pool itself so peers and a restarted owner find them by name.
 *
 * Only the owner edits the table, bracketing each edit with zone_seq (odd
 * while editing) so a reader in another process retries instead of reading a
 * half-written entry. Entries are validated on every read: the table sits in
 * memory that peers map, so it is not trusted to be in range.
 */
#include <errno.h>
#include <string.h>

#include "../common/bounded_str.h"
#include "pool_internal.h"

static struct hl_pool_zone *zones(const struct hl_pool *p)
{
	return (struct hl_pool_zone *)(p->v.base + hl_pool_hdr(p)->zones_off);
}

static bool zone_sane(const struct hl_pool *p, const struct hl_pool_zone *z)
{
	uint64_t data = p->meta.hdr->data_offset;
	return z->off >= data && z->len > 0 && z->off + z->len >= z->off && z->off + z->len <= p->v.size;
}

static const struct hl_pool_seg *seg_of(const struct hl_pool *p, uint64_t off)
{
	for (unsigned i = 0; i < p->nsegs; i++)
		if (off >= p->segs[i].pool_off && off - p->segs[i].pool_off < p->segs[i].len)
			return &p->segs[i];
	return NULL;
}

/* First offset >= at, aligned, where [off, off+len) meets no used zone. */
static uint64_t first_fit(const struct hl_pool *p, uint64_t at, uint64_t len, uint64_t align,
			  unsigned flags)
{
	const struct hl_pool_zone *z = zones(p);
	unsigned max = hl_pool_hdr(p)->zones_max;

	for (;;) {
		uint64_t off = HL_ALIGN_UP(at, align);
		bool moved = false;

		if (off < at || off + len < off || off + len > p->v.size)
			return HL_BAD_ADDR;
		if (flags & HL_ZONE_F_CONTIG) {
			const struct hl_pool_seg *s = seg_of(p, off);
			if (s == NULL)
				return HL_BAD_ADDR;
			if (off + len > s->pool_off + s->len) {
				at = s->pool_off + s->len;
				continue;
			}
		}
		for (unsigned i = 0; i < max; i++) {
			if (!(z[i].state & HL_ZONE_USED) || !zone_sane(p, &z[i]))
				continue;
			if (off < z[i].off + z[i].len && z[i].off < off + len) {
				at = z[i].off + z[i].len;
				moved = true;
				break;
			}
		}
		if (!moved)
			return off;
	}
}

static int find(const struct hl_pool *p, const char *name)
{
	const struct hl_pool_zone *z = zones(p);
	unsigned max = hl_pool_hdr(p)->zones_max;

	for (unsigned i = 0; i < max; i++)
		if ((z[i].state & HL_ZONE_USED) && strncmp(z[i].name, name, sizeof(z[i].name)) == 0)
			return (int)i;
	return -1;
}

static void edit_begin(struct hl_pool *p)
{
	__atomic_fetch_add(&hl_pool_hdr(p)->zone_seq, 1, __ATOMIC_ACQ_REL);
}

static void edit_end(struct hl_pool *p)
{
	__atomic_fetch_add(&hl_pool_hdr(p)->zone_seq, 1, __ATOMIC_RELEASE);
}

int hl_pool_zone_reserve(struct hl_pool *p, const char *name, uint64_t len, uint64_t align,
			 unsigned flags, uint64_t *off)
{
	struct hl_pool_zone *z = zones(p);
	unsigned max = hl_pool_hdr(p)->zones_max;
	int slot = -1;

	if (!p->owner)
		return hl_error(-EPERM, "zone: only the pool owner reserves zones");
	if (name == NULL || strlen(name) == 0 || strlen(name) >= HL_ZONE_NAME_LEN)
		return hl_error(-EINVAL, "zone: name must be 1..%d characters", HL_ZONE_NAME_LEN - 1);
	if (len == 0 || !HL_IS_POW2(align))
		return hl_error(-EINVAL, "zone %s: zero length or alignment not a power of two", name);
	if (find(p, name) >= 0)
		return hl_error(-EEXIST, "zone %s exists", name);
	for (unsigned i = 0; i < max && slot < 0; i++)
		if (!(z[i].state & HL_ZONE_USED))
			slot = (int)i;
	if (slot < 0)
		return hl_error(-ENOSPC, "zone %s: zone table full", name);
	uint64_t at = first_fit(p, p->meta.hdr->data_offset, len, align, flags);
	if (at == HL_BAD_ADDR)
		return hl_error(-ENOMEM, "zone %s: no room for %llu bytes", name, (unsigned long long)len);

	edit_begin(p);
	memset(&z[slot], 0, sizeof(z[slot]));
	strncpy(z[slot].name, name, sizeof(z[slot].name) - 1);
	z[slot].off = at;
	z[slot].len = len;
	z[slot].flags = flags;
	z[slot].state = HL_ZONE_USED;
	edit_end(p);
	*off = at;
	return 0;
}

int hl_pool_zone_free(struct hl_pool *p, const char *name)
{
	if (!p->owner)
		return hl_error(-EPERM, "zone: only the pool owner frees zones");
	int i = find(p, name);
	if (i < 0)
		return -ENOENT;
	edit_begin(p);
	memset(&zones(p)[i], 0, sizeof(struct hl_pool_zone));
	edit_end(p);
	return 0;
}

int hl_pool_zone_lookup(const struct hl_pool *p, const char *name, uint64_t *off, uint64_t *len)
{
	const struct hl_pool_hdr *h = hl_pool_hdr(p);

	for (int tries = 0; tries < 1000; tries++) {
		uint64_t s0 = __atomic_load_n(&h->zone_seq, __ATOMIC_ACQUIRE);
		if (s0 & 1)
			continue;
		int i = find(p, name);
		struct hl_pool_zone z;
		if (i >= 0)
			memcpy(&z, &zones(p)[i], sizeof(z));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&h->zone_seq, __ATOMIC_RELAXED) != s0)
			continue;
		if (i < 0)
			return -ENOENT;
		if (!zone_sane(p, &z))
			return hl_error(-EBADMSG, "zone %s: entry out of the pool's bounds", name);
		*off = z.off;
		*len = z.len;
		return 0;
	}
	return hl_error(-EAGAIN, "zone table busy");
}
