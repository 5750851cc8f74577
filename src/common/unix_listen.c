/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Listening on a UNIX socket path that a killed process may have left
 * behind: a socket file nobody answers on is replaced, a live one or a file
 * that is not a socket is never touched. vhost-user and memif ports share it.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <hugelink/common.h>

int hl_unix_listen(const char *path, int type, const char *what)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	struct stat st;
	int rc;

	if (strlen(path) >= sizeof(a.sun_path))
		return hl_error(-ENAMETOOLONG, "%s: socket path too long: %s", what, path);
	strcpy(a.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return hl_error(-EEXIST, "%s: %s exists and is not a socket", what, path);
		int probe = socket(AF_UNIX, (type & ~SOCK_NONBLOCK) | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&a, sizeof(a)) == 0) {
			close(probe);
			return hl_error(-EADDRINUSE, "%s: %s is in use", what, path);
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
	}
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return hl_error(-errno, "%s: socket: %s", what, strerror(errno));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4) < 0) {
		rc = hl_error(-errno, "%s: cannot listen on %s: %s", what, path, strerror(errno));
		close(fd);
		return rc;
	}
	return fd;
}
