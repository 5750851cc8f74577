/* SPDX-License-Identifier: BSD-3-Clause */
/* Checks on fixed-size strings that came from another trust domain. */
#ifndef HL_BOUNDED_STR_H
#define HL_BOUNDED_STR_H

#include <stdbool.h>
#include <string.h>

/* True if s has a NUL within its n bytes. */
static inline bool hl_str_bounded(const char *s, size_t n)
{
	return memchr(s, '\0', n) != NULL;
}

/* Pool and port names: [A-Za-z0-9_.-]{1,31}, not starting with '.'. */
static inline bool hl_pool_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 31 || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

#endif
