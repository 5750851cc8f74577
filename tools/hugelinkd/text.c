/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Text that grows as it is written: the metrics page and the QEMU and
 * libvirt snippets are built with it. Out of memory on the way sets
 * failed and keeps what was written; the caller refuses the result.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hugelinkd.h"

void hld_text_free(struct hld_text *t)
{
	free(t->s);
	memset(t, 0, sizeof(*t));
}

void hld_printf(struct hld_text *t, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		size_t room = t->cap - t->len;
		int n = 0;
		if (t->s != NULL) {
			va_start(ap, fmt);
			n = vsnprintf(t->s + t->len, room, fmt, ap);
			va_end(ap);
			if (n < 0) {
				t->failed = true;
				return;
			}
			if ((size_t)n < room) {
				t->len += (size_t)n;
				return;
			}
		}
		size_t cap = t->cap ? t->cap * 2 : 16384;
		while (cap < t->len + (size_t)n + 1)
			cap *= 2;
		char *s = realloc(t->s, cap);
		if (s == NULL) {
			t->failed = true;
			return;
		}
		t->s = s;
		t->cap = cap;
	}
}

