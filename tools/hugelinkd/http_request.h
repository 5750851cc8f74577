/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The metrics responder's reading of a request (http_request.c), apart
 * from the daemon so that a fuzz harness can drive it alone.
 */
#ifndef HLD_HTTP_REQUEST_H
#define HLD_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

/*
 * A request's head as read so far (NUL-terminated, len bytes, at most max):
 * 0 while it is not complete, else the status to answer with: 200 for GET
 * or HEAD of /metrics, 400, 404, 405, or 431 when max bytes hold no end of
 * the head. *head: a HEAD request.
 */
int hld_http_request(const char *req, size_t len, size_t max, bool *head);
#endif
