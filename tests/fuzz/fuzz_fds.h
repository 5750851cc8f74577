/* SPDX-License-Identifier: BSD-3-Clause */
/* What the fuzz harnesses that pass fds share: counting this process's open fds, to catch a leaked one. */
#ifndef HL_FUZZ_FDS_H
#define HL_FUZZ_FDS_H

#include <dirent.h>

static inline int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

#endif
