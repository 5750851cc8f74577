/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Moving vhost-user messages over a UNIX stream socket, fds as SCM_RIGHTS.
 * Control path only. A receive never returns more fds than the caller has
 * room for: extra or truncated fds are closed and the message is refused.
 */
#ifndef HUGELINK_VHOST_SOCK_H
#define HUGELINK_VHOST_SOCK_H

#include <hugelink/vhost_user_proto.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Receive one message: returns its length (header included), 0 when the
 * peer closed, or a negative errno (the connection is then unusable).
 * *nfds receives the number of fds now owned by the caller.
 */
int hl_vu_recv(int sock, struct hl_vu_msg *m, int *fds, unsigned *nfds);

/* Send one message of hdr.size payload bytes with `nfds` fds. 0 or -errno. */
int hl_vu_send(int sock, const struct hl_vu_msg *m, const int *fds, unsigned nfds);

/* Listen on `path` (a stale socket file is replaced). Returns the fd or -errno. */
int hl_vu_listen(const char *path);

/* Connect to `path`. Returns the fd or -errno. */
int hl_vu_connect(const char *path);

#ifdef __cplusplus
}
#endif
#endif
