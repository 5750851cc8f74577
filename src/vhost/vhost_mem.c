/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guest memory as the front-end describes it: regions of (guest-physical
 * address, front-end virtual address, fd + offset). Each region is checked
 * against its fd before mapping: a region larger than the file behind it
 * would turn the switch's first access into SIGBUS. Then two O(1) tables are
 * built over all regions: GPA -> host address (descriptors) and front-end
 * VA -> host address (ring addresses in SET_VRING_ADDR).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "vhost_mem.h"

#define MIN_ALIGN 4096ull

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
	void *base = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)map_off);
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
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	return rc;
}

void hl_vu_region_unmap(struct hl_vu_region *r)
{
	if (r->map_base != NULL)
		munmap(r->map_base, r->map_len);
	if (r->fd >= 0)
		close(r->fd);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

int hl_vu_mem_rebuild(struct hl_vhost_dev *d)
{
	struct hl_guest_region *g = calloc(d->nregions ? d->nregions : 1, sizeof(*g));
	struct hl_xrange *u = calloc(d->nregions ? d->nregions : 1, sizeof(*u));
	char why[200];
	int rc = -ENOMEM;

	hl_guest_mem_free(&d->mem);
	hl_xlate_free(&d->uva2hva);
	if (g == NULL || u == NULL)
		goto out;
	for (unsigned i = 0; i < d->nregions; i++) {
		const struct hl_vu_region *r = &d->regions[i];
		g[i] = (struct hl_guest_region){.gpa = r->gpa, .size = r->size, .hva = r->hva,
						.mmap_offset = r->mmap_offset};
		u[i] = (struct hl_xrange){.src = r->uva, .len = r->size, .dst = (uintptr_t)r->hva};
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
	}
out:
	free(g);
	free(u);
	return rc;
}

void hl_vu_mem_clear(struct hl_vhost_dev *d)
{
	for (unsigned i = 0; i < d->nregions; i++)
		hl_vu_region_unmap(&d->regions[i]);
	d->nregions = 0;
	hl_guest_mem_free(&d->mem);
	hl_xlate_free(&d->uva2hva);
}
