/* SPDX-License-Identifier: BSD-3-Clause */
/* What the vhost engine tests share: counting our open fds (none may leak), and memfds to hand over. */
#ifndef HL_TEST_FD_UTIL_H
#define HL_TEST_FD_UTIL_H

#include <dirent.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

static inline int open_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	int n = 0;
	while (dir && readdir(dir))
		n++;
	if (dir)
		closedir(dir);
	return n;
}

/* A memfd of size bytes, or -1. */
static inline int memfd_of(uint64_t size)
{
	int fd = memfd_create("hl-test", MFD_CLOEXEC);
	if (fd >= 0 && ftruncate(fd, (off_t)size) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

#endif
