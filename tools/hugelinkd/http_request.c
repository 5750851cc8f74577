/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The one part of an HTTP request the metrics responder reads: the request
 * line. Whatever a client sends comes here (a fuzz harness sends the
 * rest); nothing past the request line is looked at, and a head longer
 * than the responder's buffer is refused whole.
 */
#include <string.h>

#include "http_request.h"

int hld_http_request(const char *req, size_t len, size_t max, bool *head)
{
	*head = false;
	/* a NUL in the request ends what is read of it: no header can end there */
	if (strstr(req, "\r\n\r\n") == NULL && strstr(req, "\n\n") == NULL)
		return len >= max ? 431 : 0;
	/* METHOD SP PATH SP HTTP/1.x, on the first line alone, single spaces */
	char line[300];
	size_t n = strcspn(req, "\r\n");
	if (n >= sizeof(line))
		return 400;
	memcpy(line, req, n);
	line[n] = '\0';
	char *path = strchr(line, ' ');
	char *version = path ? strchr(path + 1, ' ') : NULL;
	if (version == NULL || strchr(version + 1, ' ') != NULL)
		return 400;
	*path++ = '\0';
	*version++ = '\0';
	const char *method = line;
	size_t ml = strspn(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
	if (ml == 0 || ml > 7 || method[ml] != '\0' || path[0] == '\0' || strlen(version) != 8 ||
	    strncmp(version, "HTTP/1.", 7) != 0)
		return 400;
	*head = strcmp(method, "HEAD") == 0;
	if (!*head && strcmp(method, "GET") != 0)
		return 405;
	char *q = strchr(path, '?');
	if (q != NULL)
		*q = '\0';
	return strcmp(path, "/metrics") == 0 ? 200 : 404;
}
