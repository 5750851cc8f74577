/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for what the metrics responder reads of an HTTP
 * request (tools/hugelinkd/http_request.c), fed as the responder feeds it:
 * a buffer of at most 4 KiB, NUL-terminated, grown a piece at a time.
 * Properties, each an assertion:
 *  - any bytes get 0 (not complete yet) or one of the statuses it answers
 *    with, and a full buffer is never left waiting;
 *  - once a verdict is given it is the same for the whole input given at
 *    once (reading in pieces changes nothing);
 *  - 200 only for a GET or HEAD of /metrics.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "http_request.h"

#define MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[MAX + 1];
	size_t len = size < MAX ? size : MAX;
	bool head = false, head_once = false;
	int status = 0;

	/* in pieces of the sizes the first byte says, as recv might hand them over */
	size_t step = size ? (size_t)(data[0] % 64) + 1 : 1;
	for (size_t got = 0; status == 0 && got < len;) {
		size_t n = got + step <= len ? step : len - got;
		memcpy(buf + got, data + got, n);
		got += n;
		buf[got] = '\0';
		status = hld_http_request(buf, got, MAX, &head);
		assert(status == 0 || status == 200 || status == 400 || status == 404 || status == 405 ||
		       status == 431);
		assert(got < MAX || status != 0);
	}
	if (status == 0)
		return 0;
	memcpy(buf, data, len);
	buf[len] = '\0';
	/* the whole input: a verdict was reached on a prefix, so the whole has one too */
	int once = hld_http_request(buf, len, MAX, &head_once);
	assert(once == status && head_once == head);
	if (status == 200) {
		assert(strncmp(buf, head ? "HEAD /metrics" : "GET /metrics", head ? 13 : 12) == 0);
		assert(buf[head ? 13 : 12] == ' ' || buf[head ? 13 : 12] == '?');
	}
	return 0;
}
