/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Creating, attaching, and tearing down pools (see pool.h for the model).
 *
 * Invariants:
 *   - the owner holds LOCK_EX on the pool file for its lifetime, so a live
 *     owner is told apart from a crashed one without pid files;
 *   - the record on disk and the copy in the pool's first page are the same
 *     bytes; attach checks this so a record never describes a pool it did
 *     not come from;
 *   - a failed create or attach leaves nothing mapped and (for create)
 *     nothing on disk.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "../common/bounded_str.h"
#include "hugepage_sys.h"
#include "pool_internal.h"

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif
#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif

#define FALLBACK_SHIFT 21 /* translation granule of a shared-memory pool */
#define RECORD_MAX (64u << 20)

static int mkdir_p(const char *dir)
{
	char tmp[256];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, dir, n + 1);
	for (char *c = tmp + 1; *c; c++) {
		if (*c != '/')
			continue;
		*c = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		*c = '/';
	}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

void hl_pool_file_name(char *buf, size_t n, const char *pool, unsigned idx)
{
	if (idx == 0)
		snprintf(buf, n, "%s.pool", pool);
	else
		snprintf(buf, n, "%s.%u.pool", pool, idx);
}

uint64_t hl_pool_layout(uint64_t pool_size, size_t record_len, uint32_t *record_off,
			uint32_t *zones_off)
{
	uint64_t r = HL_ALIGN_UP((uint64_t)sizeof(struct hl_pool_hdr), 64);
	uint64_t z = HL_ALIGN_UP(r + record_len, 64);
	uint64_t end = z + (uint64_t)HL_POOL_ZONES_MAX * sizeof(struct hl_pool_zone);
	uint64_t data = HL_ALIGN_UP(end, 64 * 1024);

	if (z > UINT32_MAX || data >= pool_size)
		return 0;
	*record_off = (uint32_t)r;
	*zones_off = (uint32_t)z;
	return data;
}

/* ---- translation tables ---------------------------------------------------- */

static int build_tables(struct hl_pool *p)
{
	const struct hl_meta_hdr *h = p->meta.hdr;
	struct hl_xrange *fw = calloc(h->nsegs, sizeof(*fw));
	struct hl_xrange *bw = calloc(h->nsegs, sizeof(*bw));
	int rc = -ENOMEM;

	p->segs = calloc(h->nsegs, sizeof(*p->segs));
	if (fw == NULL || bw == NULL || p->segs == NULL)
		goto out;
	for (uint32_t i = 0; i < h->nsegs; i++) {
		const struct hl_meta_seg *s = &p->meta.segs[i];
		fw[i] = (struct hl_xrange){.src = s->pool_off, .len = s->len, .dst = s->iova};
		bw[i] = (struct hl_xrange){.src = s->iova, .len = s->len, .dst = s->pool_off};
		p->segs[i] = (struct hl_pool_seg){s->pool_off, s->len, s->iova, s->phys};
	}
	p->nsegs = h->nsegs;
	rc = hl_xlate_build(&p->v.off2iova, fw, h->nsegs, h->page_shift);
	if (rc == 0)
		rc = hl_xlate_build(&p->v.iova2off, bw, h->nsegs, h->page_shift);
out:
	free(fw);
	free(bw);
	return rc;
}

static void pool_free(struct hl_pool *p)
{
	if (p == NULL)
		return;
	if (p->v.base != NULL)
		munmap(p->v.base, p->v.size);
	if (p->fd >= 0)
		close(p->fd);
	hl_xlate_free(&p->v.off2iova);
	hl_xlate_free(&p->v.iova2off);
	free(p->segs);
	free(p->record);
	free(p);
}

static struct hl_pool *pool_alloc(void)
{
	struct hl_pool *p = calloc(1, sizeof(*p));
	if (p != NULL)
		p->fd = -1;
	return p;
}

/* ---- create ---------------------------------------------------------------- */

struct backing {
	char dir[HL_META_PATH_LEN];
	uint64_t page_size;
	bool huge;
};

/* Pick hugetlbfs (and its page size) or explain in `why` why not. */
static bool pick_hugepages(const struct hl_pool_params *prm, struct backing *b, char *why, size_t wn)
{
	static const uint64_t sizes[] = {1ull << 30, 2ull << 20};

	if (prm->flags & HL_POOL_F_NO_HUGE) {
		snprintf(why, wn, "hugepages not requested");
		return false;
	}
	if (prm->hugepage_dir != NULL) {
		int64_t ps = hl_hugetlbfs_page_size(prm->hugepage_dir);
		if (ps < 0) {
			snprintf(why, wn, "%s is not a hugetlbfs mount", prm->hugepage_dir);
			return false;
		}
		if (strlen(prm->hugepage_dir) >= sizeof(b->dir)) {
			snprintf(why, wn, "hugepage dir path too long");
			return false;
		}
		strcpy(b->dir, prm->hugepage_dir);
		b->page_size = (uint64_t)ps;
		int64_t fr = hl_hugepages_free(b->page_size);
		uint64_t need = HL_ALIGN_UP(prm->size, b->page_size) / b->page_size;
		if (fr < (int64_t)need) {
			snprintf(why, wn, "%" PRIu64 " free %" PRIu64 " KiB hugepages, %" PRIu64 " needed",
				 fr < 0 ? 0 : (uint64_t)fr, b->page_size >> 10, need);
			return false;
		}
		b->huge = true;
		return true;
	}
	snprintf(why, wn, "no hugetlbfs mount found");
	for (unsigned i = 0; i < HL_ARRAY_SIZE(sizes); i++) {
		uint64_t ps = sizes[i];
		if (prm->page_size != 0 && prm->page_size != ps)
			continue;
		if (hl_hugetlbfs_find(ps, b->dir, sizeof(b->dir)) < 0)
			continue;
		int64_t fr = hl_hugepages_free(ps);
		uint64_t need = HL_ALIGN_UP(prm->size, ps) / ps;
		if (fr < (int64_t)need) {
			snprintf(why, wn, "%" PRIu64 " free %" PRIu64 " KiB hugepages, %" PRIu64 " needed",
				 fr < 0 ? 0 : (uint64_t)fr, ps >> 10, need);
			continue;
		}
		b->page_size = ps;
		b->huge = true;
		return true;
	}
	return false;
}

/* Open the pool file exclusively, replacing a dead owner's file if asked. */
static int open_new_file(const char *path, unsigned flags)
{
	for (int tries = 0; tries < 2; tries++) {
		int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0) {
			if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
				int e = -errno;
				close(fd);
				unlink(path);
				return e;
			}
			return fd;
		}
		if (errno != EEXIST)
			return hl_error(-errno, "pool: cannot create %s: %s", path, strerror(errno));
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		bool alive = flock(fd, LOCK_EX | LOCK_NB) < 0;
		close(fd);
		if (alive)
			return hl_error(-EEXIST, "pool: %s is in use by a running owner", path);
		if (!(flags & HL_POOL_F_REPLACE) && hl_pool_file_published(path))
			return hl_error(-EEXIST, "pool: %s left by a dead owner; clean it or take it over",
					path);
		HL_LOG_INFO("pool: removing stale %s%s", path,
			    flags & HL_POOL_F_REPLACE ? "" : " (its owner died while creating it)");
		unlink(path);
	}
	return -EEXIST;
}

static int map_new(struct hl_pool *p, const struct backing *b, uint64_t size, unsigned flags)
{
	char fname[HL_META_FILE_LEN];
	int fd;

	hl_pool_file_name(fname, sizeof(fname), p->name, 0);
	if ((size_t)snprintf(p->file_path, sizeof(p->file_path), "%s/%s", b->dir, fname) >=
	    sizeof(p->file_path))
		return hl_error(-ENAMETOOLONG, "pool: file path too long");
	fd = open_new_file(p->file_path, flags);
	if (fd < 0)
		return fd;
	if (ftruncate(fd, (off_t)size) < 0) {
		int e = -errno;
		close(fd);
		unlink(p->file_path);
		return e;
	}
	void *va = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (va == MAP_FAILED) {
		int e = -errno;
		close(fd);
		unlink(p->file_path);
		return e;
	}
	p->fd = fd;
	p->v.base = va;
	p->v.size = size;
	p->page_size = b->page_size;
	p->hugepages = b->huge;
	return 0;
}

/* Read every page's physical address and group contiguous runs into segments. */
static int find_segments(struct hl_pool *p, struct hl_meta_seg **out, uint32_t *nout)
{
	uint64_t npages = p->v.size / p->page_size;
	struct hl_meta_seg *s = calloc(npages ? npages : 1, sizeof(*s));
	uint32_t n = 0;
	int fd = -1;

	if (s == NULL)
		return -ENOMEM;
	p->phys_iova = false;
	if (p->hugepages) {
		fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		p->phys_iova = fd >= 0;
		if (fd < 0)
			snprintf(p->fallback_reason, sizeof(p->fallback_reason),
				 "cannot open pagemap (%s): IOVA = pool offset", strerror(errno));
	}
	for (uint64_t i = 0; p->phys_iova && i < npages; i++) {
		int64_t pa = hl_pagemap_phys(fd, p->v.base + i * p->page_size);
		if (pa <= 0) {
			p->phys_iova = false;
			snprintf(p->fallback_reason, sizeof(p->fallback_reason),
				 "physical addresses unreadable (need CAP_SYS_ADMIN): IOVA = pool offset");
			break;
		}
		uint64_t off = i * p->page_size;
		if (n > 0 && s[n - 1].phys + s[n - 1].len == (uint64_t)pa) {
			s[n - 1].len += p->page_size;
			continue;
		}
		s[n++] = (struct hl_meta_seg){.file = 0, .file_off = off, .len = p->page_size,
					      .phys = (uint64_t)pa, .iova = (uint64_t)pa, .pool_off = off};
	}
	if (fd >= 0)
		close(fd);
	if (!p->phys_iova) {
		n = 1;
		s[0] = (struct hl_meta_seg){.file = 0, .file_off = 0, .len = p->v.size, .phys = 0,
					    .iova = 0, .pool_off = 0};
	}
	*out = s;
	*nout = n;
	return 0;
}

/*
 * Temporary records of writers that died between creating and renaming
 * them ("PATH.tmp.PID", PID gone): nothing else would ever remove them.
 */
static void remove_dead_tmp(const char *path)
{
	char dir[300];
	const char *slash = strrchr(path, '/');
	size_t dlen = slash == NULL ? 1 : (size_t)(slash - path);
	const char *base = slash == NULL ? path : slash + 1;
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (dlen == 0 || dlen >= sizeof(dir))
		return;
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)dlen, path);
	DIR *d = opendir(dir);
	if (d == NULL)
		return;
	size_t blen = strlen(base);
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		const char *n = e->d_name;
		if (strncmp(n, base, blen) != 0 || strncmp(n + blen, ".tmp.", 5) != 0)
			continue;
		char *end;
		long pid = strtol(n + blen + 5, &end, 10);
		if (*end != '\0' || pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		if (unlinkat(dirfd(d), n, 0) == 0)
			HL_LOG_INFO("pool: removed %s/%s, left by a writer that died (pid %ld)", dir, n, pid);
	}
	closedir(d);
}

int hl_pool_write_record(const char *path, const void *rec, size_t len)
{
	char tmp[300];
	int fd, rc = 0;

	remove_dead_tmp(path);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return hl_error(-errno, "pool: cannot write record %s: %s", tmp, strerror(errno));
	if (write(fd, rec, len) != (ssize_t)len || fsync(fd) < 0)
		rc = hl_error(-EIO, "pool: short write of record %s", tmp);
	close(fd);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = hl_error(-errno, "pool: cannot rename record to %s: %s", path, strerror(errno));
	if (rc < 0)
		unlink(tmp);
	return rc;
}

/* Build the record, the in-pool header and its copy of the record. */
static int publish(struct hl_pool *p, const struct backing *b, struct hl_meta_seg *segs, uint32_t nsegs)
{
	size_t len = hl_meta_size(1, nsegs);
	uint32_t record_off, zones_off;
	uint64_t data = hl_pool_layout(p->v.size, len, &record_off, &zones_off);
	int rc;

	if (data == 0)
		return hl_error(-EINVAL, "pool: %" PRIu64 " bytes is too small for its own header",
				p->v.size);
	p->record = aligned_alloc(8, HL_ALIGN_UP(len, 8));
	if (p->record == NULL)
		return -ENOMEM;
	memset(p->record, 0, len);
	p->record_len = len;

	struct hl_meta_hdr *h = p->record;
	struct hl_meta_file *f = (void *)(h + 1);
	h->magic = HL_META_MAGIC;
	h->version = HL_META_VERSION;
	h->hdr_size = sizeof(*h);
	h->total_size = (uint32_t)len;
	h->page_shift = p->hugepages ? (uint32_t)__builtin_ctzll(p->page_size) : FALLBACK_SHIFT;
	h->flags = (p->hugepages ? HL_META_F_HUGETLBFS : 0) | (p->phys_iova ? HL_META_F_PHYS_IOVA : 0);
	h->nfiles = 1;
	h->nsegs = nsegs;
	h->pool_size = p->v.size;
	h->data_offset = data;
	h->create_ns = hl_now_ns();
	snprintf(h->name, sizeof(h->name), "%s", p->name);
	snprintf(h->dir, sizeof(h->dir), "%s", b->dir);
	hl_pool_file_name(f->name, sizeof(f->name), p->name, 0);
	f->size = p->v.size;
	memcpy(f + 1, segs, (size_t)nsegs * sizeof(*segs));
	hl_meta_seal(p->record, len);

	rc = hl_meta_parse(p->record, len, &p->meta);
	if (rc < 0)
		return rc; /* our own writer disagrees with our parser: a bug, say so */

	/*
	 * The record file first, the header's magic last: a pool file whose
	 * header is complete always has its record on disk somewhere, so a
	 * pool file with no magic is one whose owner died while creating it,
	 * which nobody can have mapped (see open_new_file).
	 */
	rc = hl_pool_write_record(p->record_path, p->record, len);
	if (rc < 0)
		return rc;
	struct hl_pool_hdr *ph = hl_pool_hdr(p);
	memset(ph, 0, data);
	memcpy(p->v.base + record_off, p->record, len);
	ph->hdr_size = sizeof(*ph);
	ph->version = HL_POOL_HDR_VERSION;
	ph->record_off = record_off;
	ph->record_len = (uint32_t)len;
	ph->zones_off = zones_off;
	ph->zones_max = HL_POOL_ZONES_MAX;
	ph->data_offset = data;
	ph->create_ns = h->create_ns;
	/* magic last: a reader that sees it sees a complete header */
	__atomic_store_n(&ph->magic, HL_POOL_HDR_MAGIC, __ATOMIC_RELEASE);

	return build_tables(p);
}

int hl_pool_create(const struct hl_pool_params *prm, struct hl_pool **out)
{
	struct backing b = {0};
	struct hl_meta_seg *segs = NULL;
	uint32_t nsegs = 0;
	char why[160] = "";
	struct hl_pool *p;
	int rc;

	*out = NULL;
	if (prm == NULL || prm->name == NULL || !hl_pool_name_ok(prm->name))
		return hl_error(-EINVAL, "pool: name must match [A-Za-z0-9_.-]{1,31}");
	if (prm->size == 0 || prm->size > (1ull << 46))
		return hl_error(-EINVAL, "pool: size %" PRIu64 " out of range", prm->size);
	const char *run_dir = prm->run_dir ? prm->run_dir : HL_POOL_DEFAULT_RUN_DIR;
	rc = mkdir_p(run_dir);
	if (rc < 0)
		return hl_error(rc, "pool: cannot create run dir %s", run_dir);

	p = pool_alloc();
	if (p == NULL)
		return -ENOMEM;
	p->owner = true;
	snprintf(p->name, sizeof(p->name), "%s", prm->name);
	if ((size_t)snprintf(p->record_path, sizeof(p->record_path), "%s/%s.meta", run_dir, prm->name) >=
	    sizeof(p->record_path)) {
		rc = hl_error(-ENAMETOOLONG, "pool: run dir path too long");
		goto fail;
	}
	if (access(p->record_path, F_OK) == 0) {
		if (!(prm->flags & HL_POOL_F_REPLACE)) {
			rc = hl_error(-EEXIST, "pool: record %s exists (clean it or replace it)",
				      p->record_path);
			goto fail;
		}
		rc = hl_pool_clean(p->record_path);
		if (rc < 0 && rc != -ENOENT)
			goto fail;
	}

	bool huge = pick_hugepages(prm, &b, why, sizeof(why));
	if (huge) {
		uint64_t size = HL_ALIGN_UP(prm->size, b.page_size);
		rc = map_new(p, &b, size, prm->flags);
		if (rc < 0) {
			snprintf(why, sizeof(why), "mapping %" PRIu64 " MiB of hugepages failed: %s",
				 size >> 20, strerror(-rc));
			if (rc == -EEXIST)
				goto fail;
			huge = false;
		}
	}
	if (!huge) {
		const char *shm = prm->shm_dir ? prm->shm_dir : HL_POOL_DEFAULT_SHM_DIR;
		snprintf(p->fallback_reason, sizeof(p->fallback_reason),
			 "shared-memory fallback (%s): IOVA = pool offset", why);
		HL_LOG_WARN("pool %s: %s", p->name, p->fallback_reason);
		if (strlen(shm) >= sizeof(b.dir)) {
			rc = hl_error(-ENAMETOOLONG, "pool: shm dir path too long");
			goto fail;
		}
		strcpy(b.dir, shm);
		b.page_size = 1ull << FALLBACK_SHIFT;
		b.huge = false;
		rc = map_new(p, &b, HL_ALIGN_UP(prm->size, b.page_size), prm->flags);
		if (rc < 0) {
			rc = hl_error(rc, "pool: shared-memory fallback failed too: %s", strerror(-rc));
			goto fail;
		}
	}
	rc = find_segments(p, &segs, &nsegs);
	if (rc < 0)
		goto fail_unlink;
	if (p->hugepages && !p->phys_iova)
		HL_LOG_WARN("pool %s: %s", p->name, p->fallback_reason);
	rc = publish(p, &b, segs, nsegs);
	if (rc < 0)
		goto fail_unlink;
	free(segs);
	HL_LOG_INFO("pool %s: %" PRIu64 " MiB of %" PRIu64 " KiB pages in %u segment(s), %s, IOVA %s",
		    p->name, p->v.size >> 20, p->page_size >> 10, nsegs,
		    p->hugepages ? "hugetlbfs" : "shared memory", p->phys_iova ? "= physical" : "= offset");
	*out = p;
	return 0;

fail_unlink:
	unlink(p->file_path);
	unlink(p->record_path);
fail:
	free(segs);
	pool_free(p);
	return rc;
}

/* ---- attach ---------------------------------------------------------------- */

static int read_record(const char *path, void **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	void *b;

	if (fd < 0)
		return hl_error(-errno, "pool: cannot open record %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > RECORD_MAX) {
		close(fd);
		return hl_error(-EBADMSG, "pool: record %s is not a regular file of sane size", path);
	}
	b = aligned_alloc(8, HL_ALIGN_UP((size_t)st.st_size, 8));
	if (b == NULL) {
		close(fd);
		return -ENOMEM;
	}
	ssize_t n = read(fd, b, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		free(b);
		return hl_error(-EIO, "pool: short read of record %s", path);
	}
	*buf = b;
	*len = (size_t)n;
	return 0;
}

/* The record's directory must be a hugetlbfs (or, for fallback pools, tmpfs) mount. */
int hl_pool_check_dir(const struct hl_meta_hdr *h)
{
	struct statfs st;

	if (statfs(h->dir, &st) < 0)
		return hl_error(-errno, "pool record: dir %s: %s", h->dir, strerror(errno));
	if (h->flags & HL_META_F_HUGETLBFS) {
		if ((uint32_t)st.f_type != (uint32_t)HUGETLBFS_MAGIC)
			return hl_error(-EPERM, "pool record: dir %s is not hugetlbfs", h->dir);
		if ((uint64_t)st.f_bsize != 1ull << h->page_shift)
			return hl_error(-EINVAL, "pool record: page_shift %u but %s has %ld-byte pages",
					h->page_shift, h->dir, (long)st.f_bsize);
	} else if ((uint32_t)st.f_type != (uint32_t)TMPFS_MAGIC) {
		return hl_error(-EPERM, "pool record: dir %s is not tmpfs", h->dir);
	}
	return 0;
}

int hl_pool_check_file_names(const struct hl_meta_view *m)
{
	char want[HL_META_FILE_LEN];

	for (uint32_t i = 0; i < m->hdr->nfiles; i++) {
		hl_pool_file_name(want, sizeof(want), m->hdr->name, i);
		if (strcmp(want, m->files[i].name) != 0)
			return hl_error(-EPERM, "pool record: files[%u].name '%s' is not this pool's ('%s')",
					i, m->files[i].name, want);
	}
	return 0;
}

/* Reserve an aligned stretch of address space, then place each run of segments in it. */
static int map_segments(struct hl_pool *p, int *fds)
{
	const struct hl_meta_hdr *h = p->meta.hdr;
	uint64_t ps = 1ull << h->page_shift;
	uint64_t size = h->pool_size;
	uint8_t *raw = mmap(NULL, size + ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (raw == MAP_FAILED)
		return -errno;
	uint8_t *base = (uint8_t *)HL_ALIGN_UP((uintptr_t)raw, ps);
	if (base > raw)
		munmap(raw, (size_t)(base - raw));
	if (raw + size + ps > base + size)
		munmap(base + size, (size_t)(raw + size + ps - (base + size)));

	for (uint32_t i = 0; i < h->nsegs;) {
		const struct hl_meta_seg *s = &p->meta.segs[i];
		uint64_t len = s->len;
		uint32_t j = i + 1;
		/* coalesce neighbours that continue in the same file */
		while (j < h->nsegs && p->meta.segs[j].file == s->file &&
		       p->meta.segs[j].pool_off == s->pool_off + len &&
		       p->meta.segs[j].file_off == s->file_off + len)
			len += p->meta.segs[j++].len;
		void *va = mmap(base + s->pool_off, len, PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_FIXED | MAP_POPULATE, fds[s->file], (off_t)s->file_off);
		if (va == MAP_FAILED) {
			int e = -errno;
			munmap(base, size);
			return hl_error(e, "pool: mapping segs[%u] failed: %s", i, strerror(-e));
		}
		i = j;
	}
	p->v.base = base;
	p->v.size = size;
	return 0;
}

/* The pool's own header must carry this very record. */
static int check_pool_header(const struct hl_pool *p)
{
	const struct hl_pool_hdr *ph = hl_pool_hdr(p);
	const struct hl_meta_hdr *h = p->meta.hdr;

	if (ph->magic != HL_POOL_HDR_MAGIC || ph->hdr_size != sizeof(*ph))
		return hl_error(-ESTALE, "pool: no pool header in %s", h->name);
	if (ph->record_len != p->record_len || ph->data_offset != h->data_offset ||
	    (uint64_t)ph->record_off + ph->record_len > h->data_offset ||
	    memcmp(p->v.base + ph->record_off, p->record, p->record_len) != 0)
		return hl_error(-ESTALE, "pool: record does not match the pool it names (%s)", h->name);
	if ((uint64_t)ph->zones_off + (uint64_t)ph->zones_max * sizeof(struct hl_pool_zone) >
	    h->data_offset)
		return hl_error(-ESTALE, "pool: zone table of %s out of bounds", h->name);
	return 0;
}

int hl_pool_attach(const char *record_path, unsigned flags, struct hl_pool **out)
{
	struct hl_pool *p;
	int fds[HL_META_MAX_FILES];
	int dirfd = -1, rc;
	uint32_t nopen = 0;

	*out = NULL;
	p = pool_alloc();
	if (p == NULL)
		return -ENOMEM;
	snprintf(p->record_path, sizeof(p->record_path), "%s", record_path);
	rc = read_record(record_path, &p->record, &p->record_len);
	if (rc < 0)
		goto out;
	rc = hl_meta_parse(p->record, p->record_len, &p->meta);
	if (rc < 0)
		goto out;
	const struct hl_meta_hdr *h = p->meta.hdr;
	rc = hl_pool_check_file_names(&p->meta);
	if (rc < 0)
		goto out;
	rc = hl_pool_check_dir(h);
	if (rc < 0)
		goto out;
	dirfd = open(h->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		rc = hl_error(-errno, "pool record: cannot open dir %s", h->dir);
		goto out;
	}
	for (; nopen < h->nfiles; nopen++) {
		struct stat st;
		int fd = openat(dirfd, p->meta.files[nopen].name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0) {
			rc = hl_error(-errno, "pool: cannot open %s/%s: %s", h->dir,
				      p->meta.files[nopen].name, strerror(errno));
			goto out;
		}
		fds[nopen] = fd;
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
		    (uint64_t)st.st_size < p->meta.files[nopen].size) {
			nopen++;
			rc = hl_error(-EINVAL, "pool record: files[%u].size larger than the file",
				      nopen - 1);
			goto out;
		}
	}
	if ((flags & HL_POOL_F_OWNER) && flock(fds[0], LOCK_EX | LOCK_NB) < 0) {
		rc = hl_error(-EBUSY, "pool: %s still has a live owner", h->name);
		goto out;
	}
	rc = map_segments(p, fds);
	if (rc < 0)
		goto out;
	rc = check_pool_header(p);
	if (rc == 0)
		rc = build_tables(p);
	if (rc < 0)
		goto out;

	p->owner = flags & HL_POOL_F_OWNER;
	p->hugepages = h->flags & HL_META_F_HUGETLBFS;
	p->phys_iova = h->flags & HL_META_F_PHYS_IOVA;
	p->page_size = 1ull << h->page_shift;
	snprintf(p->name, sizeof(p->name), "%s", h->name);
	snprintf(p->file_path, sizeof(p->file_path), "%s/%s", h->dir, p->meta.files[0].name);
	if (!p->hugepages)
		snprintf(p->fallback_reason, sizeof(p->fallback_reason),
			 "shared-memory pool: IOVA = pool offset");
	else if (!p->phys_iova)
		snprintf(p->fallback_reason, sizeof(p->fallback_reason),
			 "hugepage pool without physical addresses: IOVA = pool offset");
	p->fd = fds[0];
	for (uint32_t i = 1; i < nopen; i++)
		close(fds[i]);
	nopen = 0;
	*out = p;
	p = NULL;
out:
	for (uint32_t i = 0; i < nopen; i++)
		close(fds[i]);
	if (dirfd >= 0)
		close(dirfd);
	pool_free(p);
	return rc;
}

/* ---- teardown -------------------------------------------------------------- */

void hl_pool_detach(struct hl_pool *p)
{
	pool_free(p);
}

void hl_pool_unlink_files(const struct hl_meta_view *m)
{
	char path[512];

	for (uint32_t i = 0; i < m->hdr->nfiles; i++) {
		snprintf(path, sizeof(path), "%s/%s", m->hdr->dir, m->files[i].name);
		unlink(path);
	}
}

int hl_pool_destroy(struct hl_pool *p)
{
	if (p == NULL)
		return 0;
	if (!p->owner) {
		pool_free(p);
		return hl_error(-EPERM, "pool: only the owner destroys a pool");
	}
	hl_pool_unlink_files(&p->meta);
	unlink(p->record_path);
	pool_free(p);
	return 0;
}

int hl_pool_clean(const char *record_path)
{
	struct hl_meta_view m;
	void *rec = NULL;
	size_t len;
	char path[512];
	int rc, fd;

	if (access(record_path, F_OK) < 0)
		return -ENOENT;
	rc = read_record(record_path, &rec, &len);
	if (rc < 0)
		return rc;
	rc = hl_meta_parse(rec, len, &m);
	if (rc == 0)
		rc = hl_pool_check_file_names(&m);
	if (rc == 0)
		rc = hl_pool_check_dir(m.hdr);
	if (rc < 0) {
		free(rec);
		return rc; /* never unlink what an invalid record names */
	}
	snprintf(path, sizeof(path), "%s/%s", m.hdr->dir, m.files[0].name);
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			close(fd);
			rc = hl_error(-EBUSY, "pool: %s has a live owner", m.hdr->name);
			free(rec);
			return rc;
		}
		close(fd);
	}
	hl_pool_unlink_files(&m);
	unlink(record_path);
	free(rec);
	return 0;
}

/* ---- queries --------------------------------------------------------------- */

int hl_pool_get_info(const struct hl_pool *p, struct hl_pool_info *i)
{
	memset(i, 0, sizeof(*i));
	snprintf(i->name, sizeof(i->name), "%s", p->name);
	snprintf(i->record_path, sizeof(i->record_path), "%s", p->record_path);
	snprintf(i->file_path, sizeof(i->file_path), "%s", p->file_path);
	snprintf(i->fallback_reason, sizeof(i->fallback_reason), "%s", p->fallback_reason);
	i->va = p->v.base;
	i->size = p->v.size;
	i->page_size = p->page_size;
	i->data_offset = p->meta.hdr->data_offset;
	i->npages = (unsigned)(p->v.size / p->page_size);
	i->nsegs = p->nsegs;
	i->hugepages = p->hugepages;
	i->phys_iova = p->phys_iova;
	i->owner = p->owner;
	return 0;
}

const struct hl_pool_seg *hl_pool_segments(const struct hl_pool *p, unsigned *n)
{
	*n = p->nsegs;
	return p->segs;
}

int hl_pool_fd(const struct hl_pool *p)
{
	return p->fd;
}

const struct hl_meta_view *hl_pool_meta(const struct hl_pool *p)
{
	return &p->meta;
}
