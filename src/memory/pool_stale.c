/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What an owner that died leaves behind, and the two ways out of it:
 * remove it (hl_pool_clean_name) or adopt it from wherever the caller runs
 * (hl_pool_recover_record).
 *
 * A pool's files are found by name: "<name>.pool" (and "<name>.<x>.pool",
 * the pools of its isolated ports) on a hugetlbfs mount or in the
 * shared-memory directory. Liveness is the owner's flock on each file, the
 * only test that cannot be fooled by a stale pid: a file whose lock we can
 * take has no owner. Nothing here touches a file that has one.
 *
 * The pool file itself is input from a previous process (which may have
 * died half-way through writing it), so the record copy in its first page
 * is validated like any record before it is written out again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hugelink/pool_meta.h>

#include "../common/bounded_str.h"

#include "pool_internal.h"

#define MAX_DIRS 16
#define RECORD_COPY_MAX (16u << 20)

struct dirs {
	unsigned n;
	char d[MAX_DIRS][HL_META_PATH_LEN];
};

static void dirs_add(struct dirs *ds, const char *dir)
{
	if (ds->n == MAX_DIRS || strlen(dir) >= HL_META_PATH_LEN)
		return;
	for (unsigned i = 0; i < ds->n; i++)
		if (strcmp(ds->d[i], dir) == 0)
			return;
	strcpy(ds->d[ds->n++], dir);
}

/* `dir` alone, or every hugetlbfs mount and the shared-memory directory. */
static void candidate_dirs(const char *dir, struct dirs *ds)
{
	ds->n = 0;
	if (dir != NULL) {
		dirs_add(ds, dir);
		return;
	}
	FILE *f = setmntent("/proc/mounts", "r");
	if (f != NULL) {
		struct mntent *m;
		while ((m = getmntent(f)) != NULL)
			if (strcmp(m->mnt_type, "hugetlbfs") == 0)
				dirs_add(ds, m->mnt_dir);
		endmntent(f);
	}
	dirs_add(ds, HL_POOL_DEFAULT_SHM_DIR);
}

/* 1: nobody holds the file's lock; 0: an owner does; -errno: cannot tell. */
static int file_unowned(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	int free_ = flock(fd, LOCK_EX | LOCK_NB) == 0;
	close(fd);
	return free_;
}

bool hl_pool_file_published(const char *path)
{
	struct hl_pool_hdr h;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return false;
	ssize_t n = pread(fd, &h, sizeof(h), 0);
	close(fd);
	return n == (ssize_t)sizeof(h) && h.magic == HL_POOL_HDR_MAGIC;
}

/* "<name>.pool" or "<name>.<anything>.pool", with suffix ".pool" or ".meta". */
static bool name_matches(const char *file, const char *name, const char *suffix)
{
	size_t nl = strlen(name), fl = strlen(file), sl = strlen(suffix);

	if (fl < nl + sl || strncmp(file, name, nl) != 0 || strcmp(file + fl - sl, suffix) != 0)
		return false;
	return fl == nl + sl || (file[nl] == '.' && fl > nl + 1 + sl);
}

/*
 * Call fn(path) for each file of pool `name` with this suffix in dir. Sums
 * what fn returns; a negative return stops the walk and is returned.
 */
static int each_file(const char *dir, const char *name, const char *suffix, int (*fn)(const char *path))
{
	DIR *dh = opendir(dir);
	struct dirent *e;
	char path[512];
	int sum = 0;

	if (dh == NULL)
		return 0;
	while ((e = readdir(dh)) != NULL) {
		if (!name_matches(e->d_name, name, suffix))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		int rc = fn(path);
		if (rc < 0) {
			sum = rc;
			break;
		}
		sum += rc;
	}
	closedir(dh);
	return sum;
}

static int refuse_owned(const char *path)
{
	if (file_unowned(path) == 0)
		return hl_error(-EBUSY, "pool: %s has a live owner; stop it first", path);
	return 0;
}

static int remove_unowned(const char *path)
{
	if (file_unowned(path) != 1 || unlink(path) < 0)
		return 0;
	HL_LOG_INFO("pool: removed %s", path);
	return 1;
}

/*
 * A record goes with the files it names when they have no owner
 * (hl_pool_clean); a record that does not parse names nothing, so it goes
 * alone.
 */
static int remove_record(const char *path)
{
	int rc = hl_pool_clean(path);
	if (rc == -EBUSY || (rc < 0 && unlink(path) < 0))
		return 0;
	HL_LOG_INFO("pool: removed %s", path);
	return 1;
}

int hl_pool_clean_name(const char *name, const char *mem_dir, const char *run_dir)
{
	struct dirs ds;
	int total = 0;

	if (name == NULL || !hl_pool_name_ok(name))
		return hl_error(-EINVAL, "pool: name must match [A-Za-z0-9_.-]{1,31}");
	candidate_dirs(mem_dir, &ds);
	/* all the checks before any removal: a live owner anywhere leaves everything as it is */
	for (unsigned i = 0; i < ds.n; i++) {
		int rc = each_file(ds.d[i], name, ".pool", refuse_owned);
		if (rc < 0)
			return rc;
	}
	for (unsigned i = 0; i < ds.n; i++)
		total += each_file(ds.d[i], name, ".pool", remove_unowned);
	if (run_dir != NULL)
		total += each_file(run_dir, name, ".meta", remove_record);
	return total;
}

/* Find <name>.pool in the candidate dirs: 0 and its path, or -ENOENT. */
static int find_pool_file(const char *name, const char *mem_dir, char *path, size_t n)
{
	struct dirs ds;
	char fname[HL_META_FILE_LEN];

	hl_pool_file_name(fname, sizeof(fname), name, 0);
	candidate_dirs(mem_dir, &ds);
	for (unsigned i = 0; i < ds.n; i++) {
		struct stat st;
		snprintf(path, n, "%s/%s", ds.d[i], fname);
		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
			return 0;
	}
	return hl_error(-ENOENT, "pool %s: no file %s on any hugetlbfs mount or in %s", name, fname,
			HL_POOL_DEFAULT_SHM_DIR);
}

int hl_pool_recover_record(const char *name, const char *mem_dir, const char *record_path)
{
	char path[512];
	struct hl_pool_hdr h;
	struct hl_meta_view m;
	struct stat st;
	void *rec = NULL;
	int rc, fd;

	if (name == NULL || !hl_pool_name_ok(name))
		return hl_error(-EINVAL, "pool: name must match [A-Za-z0-9_.-]{1,31}");
	if ((rc = find_pool_file(name, mem_dir, path, sizeof(path))) < 0)
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return hl_error(-errno, "pool %s: cannot open %s: %s", name, path, strerror(errno));
	if (file_unowned(path) != 1) {
		close(fd);
		return hl_error(-EBUSY, "pool %s: %s has a live owner", name, path);
	}
	if (fstat(fd, &st) < 0 || pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    h.magic != HL_POOL_HDR_MAGIC || h.hdr_size != sizeof(h) || h.record_len == 0 ||
	    h.record_len > RECORD_COPY_MAX || (uint64_t)h.record_off + h.record_len > (uint64_t)st.st_size) {
		close(fd);
		return hl_error(-EBADMSG, "pool %s: %s holds no complete pool header", name, path);
	}
	rec = aligned_alloc(8, HL_ALIGN_UP((size_t)h.record_len, 8));
	if (rec == NULL) {
		close(fd);
		return -ENOMEM;
	}
	ssize_t got = pread(fd, rec, h.record_len, h.record_off);
	close(fd);
	if (got != (ssize_t)h.record_len) {
		free(rec);
		return hl_error(-EIO, "pool %s: short read of the record in %s", name, path);
	}
	rc = hl_meta_parse(rec, h.record_len, &m);
	if (rc == 0 && strcmp(m.hdr->name, name) != 0)
		rc = hl_error(-EPERM, "pool %s: the record in %s names pool '%s'", name, path, m.hdr->name);
	if (rc == 0 && m.hdr->create_ns != h.create_ns)
		rc = hl_error(-EBADMSG, "pool %s: header and record in %s disagree", name, path);
	if (rc == 0)
		rc = hl_pool_check_file_names(&m);
	if (rc == 0)
		rc = hl_pool_check_dir(m.hdr);
	if (rc == 0) {
		/* the record must describe the very file it was found in */
		char want[512];
		struct stat ws;
		snprintf(want, sizeof(want), "%s/%s", m.hdr->dir, m.files[0].name);
		if (stat(want, &ws) < 0 || ws.st_ino != st.st_ino || ws.st_dev != st.st_dev)
			rc = hl_error(-EPERM, "pool %s: the record in %s names another file (%s)", name, path,
				      want);
	}
	if (rc == 0)
		rc = hl_pool_write_record(record_path, rec, h.record_len);
	free(rec);
	return rc;
}
