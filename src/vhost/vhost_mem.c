/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guest memory as the front-end describes it: regions of (guest-physical
 * address, front-end virtual address, fd + offset). Each region is checked
 * against its fd before mapping: a region larger than the file behind it
 * would turn the switch's first access into SIGBUS. Then two O(1) tables are
 * built over all regions: GPA -> host address (descriptors) and front-end
 * VA -> host address (ring addresses in SET_VRING_ADDR).
 *
 * Where guest RAM is in hugepages, a third table maps it to host physical
 * addresses (the IOVA of a zero-copy buffer), read once from pagemap when
 * the region arrives, never per packet. Mappings
 * are counted (hl_vu_mapping) so zero-copy buffers keep them alive.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "vhost_mem_pvt.h"

#define MIN_ALIGN 4096ull

/*
 * Physical address of each page of a hugepage region, from pagemap (needs
 * CAP_SYS_ADMIN; without it the kernel reports 0 and the region simply has
 * no IOVA). Hugepages do not move, so this stays true while mapped.
 */
static void read_page_pa(struct hl_vu_region *r)
{
	unsigned n = (unsigned)(r->map_len / r->page_size);
	uint64_t *pa = calloc(n, sizeof(*pa));
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	bool ok = pa != NULL && fd >= 0;
	for (unsigned i = 0; ok && i < n; i++) {
		uint64_t va = (uintptr_t)r->map_base + (uint64_t)i * r->page_size, e;
		ok = pread(fd, &e, sizeof(e), (off_t)(va / 4096 * sizeof(e))) == (ssize_t)sizeof(e) &&
		     (e >> 63) && (e & ((1ull << 55) - 1)) != 0;
		if (ok)
			pa[i] = (e & ((1ull << 55) - 1)) * 4096;
	}
	if (fd >= 0)
		close(fd);
	if (!ok) {
		free(pa);
		pa = NULL;
	}
	r->page_pa = pa;
}

void hl_vu_mapping_get(struct hl_vu_mapping *m)
{
	__atomic_fetch_add(&m->refs, 1, __ATOMIC_RELAXED);
}

void hl_vu_mapping_put(struct hl_vu_mapping *m)
{
	if (m != NULL && __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		munmap(m->base, m->len);
		free(m);
	}
}

int hl_vu_region_map(struct hl_vu_region *r, const struct hl_vu_mem_region *m, int fd)
{
	struct stat st;
	struct statfs sf;
	uint64_t g = m->guest_phys_addr, n = m->memory_size, u = m->userspace_addr, o = m->mmap_offset;
	int rc;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	if (n == 0 || g + n < g || u + n < u || o + n < o) {
		rc = hl_error(-EINVAL, "vhost-user region: size 0 or gpa/uva/offset + size overflows");
		goto fail;
	}
	if ((g | n | u | o) & (MIN_ALIGN - 1)) {
		rc = hl_error(-EINVAL, "vhost-user region: gpa/size/uva/offset not 4 KiB aligned");
		goto fail;
	}
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = hl_error(-EINVAL, "vhost-user region: fd is not a regular file");
		goto fail;
	}
	if ((uint64_t)st.st_size < o + n) {
		rc = hl_error(-EINVAL, "vhost-user region: offset + size %llu beyond its file (%lld bytes)",
			      (unsigned long long)(o + n), (long long)st.st_size);
		goto fail;
	}
	uint64_t pg = MIN_ALIGN;
	if (fstatfs(fd, &sf) == 0 && sf.f_bsize > 0 && HL_IS_POW2((uint64_t)sf.f_bsize))
		pg = (uint64_t)sf.f_bsize; /* hugetlbfs maps in whole hugepages */
	uint64_t map_off = o & ~(pg - 1);
	uint64_t map_len = HL_ALIGN_UP(o + n - map_off, pg);
	bool huge = sf.f_type == HUGETLBFS_MAGIC && pg > MIN_ALIGN;
	/* hugepages: fault them in now, so pagemap can name each one below */
	void *base = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_SHARED | (huge ? MAP_POPULATE : 0), fd,
			  (off_t)map_off);
	if (base == MAP_FAILED) {
		rc = hl_error(-errno, "vhost-user region: mmap of %llu bytes failed",
			      (unsigned long long)map_len);
		goto fail;
	}
	r->gpa = g;
	r->size = n;
	r->uva = u;
	r->mmap_offset = o;
	r->map_base = base;
	r->map_len = map_len;
	r->hva = (uint8_t *)base + (o - map_off);
	r->fd = fd;
	r->page_size = pg;
	r->map = malloc(sizeof(*r->map));
	if (r->map == NULL) {
		munmap(base, map_len);
		rc = hl_error(-ENOMEM, "vhost-user region: out of memory");
		goto fail;
	}
	*r->map = (struct hl_vu_mapping){.refs = 1, .base = base, .len = map_len};
	if (huge)
		read_page_pa(r);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	return rc;
}

void hl_vu_region_unmap(struct hl_vu_region *r)
{
	hl_vu_mapping_put(r->map); /* unmapped now, or when the last zero-copy buffer goes */
	free(r->page_pa);
	if (r->fd >= 0)
		close(r->fd);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

/*
 * Host address -> physical for every region whose pages are known (the rest
 * translate to HL_BAD_ADDR). Keyed by our address rather than the GPA: a
 * walked descriptor is already a host address, so a zero-copy buffer gets
 * its IOVA in one more look-up.
 */
static void build_iova(struct hl_vhost_dev *d)
{
	unsigned n = 0;
	for (unsigned i = 0; i < d->nregions; i++)
		if (d->regions[i].page_pa != NULL)
			n += (unsigned)(d->regions[i].map_len / d->regions[i].page_size);
	struct hl_xrange *x = calloc(n ? n : 1, sizeof(*x));
	unsigned k = 0;
	for (unsigned i = 0; x != NULL && i < d->nregions; i++) {
		const struct hl_vu_region *r = &d->regions[i];
		if (r->page_pa == NULL)
			continue;
		/* the region starts (r->hva - map_base) bytes into its first page */
		uint64_t lead = (uint64_t)(r->hva - (uint8_t *)r->map_base);
		for (uint64_t p = 0; p * r->page_size < r->map_len; p++) {
			uint64_t lo = p * r->page_size, hi = lo + r->page_size;
			if (lo < lead)
				lo = lead;
			if (hi > lead + r->size)
				hi = lead + r->size;
			if (lo >= hi)
				continue;
			x[k++] = (struct hl_xrange){.src = (uintptr_t)r->map_base + lo, .len = hi - lo,
						    .dst = r->page_pa[p] + (lo - p * r->page_size)};
		}
	}
	if (x == NULL || hl_xlate_build(&d->hva2iova, x, k, hl_xlate_best_shift(x, k, 21)) < 0)
		hl_xlate_build(&d->hva2iova, NULL, 0, 12);
	free(x);
}

int hl_vu_mem_rebuild(struct hl_vhost_dev *d)
{
	struct hl_guest_region *g = calloc(d->nregions ? d->nregions : 1, sizeof(*g));
	struct hl_xrange *u = calloc(d->nregions ? d->nregions : 1, sizeof(*u));
	struct hl_xrange *h = calloc(d->nregions ? d->nregions : 1, sizeof(*h));
	char why[200];
	int rc = -ENOMEM;

	hl_guest_mem_free(&d->mem);
	hl_xlate_free(&d->uva2hva);
	hl_xlate_free(&d->hva2iova);
	hl_xlate_free(&d->hva2gpa);
	if (g == NULL || u == NULL || h == NULL)
		goto out;
	for (unsigned i = 0; i < d->nregions; i++) {
		const struct hl_vu_region *r = &d->regions[i];
		g[i] = (struct hl_guest_region){.gpa = r->gpa, .size = r->size, .hva = r->hva,
						.mmap_offset = r->mmap_offset};
		u[i] = (struct hl_xrange){.src = r->uva, .len = r->size, .dst = (uintptr_t)r->hva};
		h[i] = (struct hl_xrange){.src = (uintptr_t)r->hva, .len = r->size, .dst = r->gpa};
	}
	rc = hl_guest_mem_build(&d->mem, g, d->nregions);
	if (rc < 0) {
		snprintf(why, sizeof(why), "%s", hl_last_error());
		rc = hl_error(rc, "vhost-user memory: guest-physical ranges: %s", why);
		goto out;
	}
	rc = hl_xlate_build(&d->uva2hva, u, d->nregions, hl_xlate_best_shift(u, d->nregions, 21));
	if (rc < 0) {
		hl_guest_mem_free(&d->mem);
		snprintf(why, sizeof(why), "%s", hl_last_error());
		rc = hl_error(rc, "vhost-user memory: front-end address ranges: %s", why);
		goto out;
	}
	/* the dirty log is by guest-physical page, the data path writes through host addresses */
	rc = hl_xlate_build(&d->hva2gpa, h, d->nregions, hl_xlate_best_shift(h, d->nregions, 21));
	if (rc < 0) {
		hl_guest_mem_free(&d->mem);
		hl_xlate_free(&d->uva2hva);
		snprintf(why, sizeof(why), "%s", hl_last_error());
		rc = hl_error(rc, "vhost-user memory: host address ranges: %s", why);
		goto out;
	}
	build_iova(d);
out:
	free(g);
	free(u);
	free(h);
	return rc;
}

void hl_vu_mem_clear(struct hl_vhost_dev *d)
{
	for (unsigned i = 0; i < d->nregions; i++)
		hl_vu_region_unmap(&d->regions[i]);
	d->nregions = 0;
	hl_guest_mem_free(&d->mem);
	hl_xlate_free(&d->uva2hva);
	hl_xlate_free(&d->hva2iova);
	hl_xlate_free(&d->hva2gpa);
}
