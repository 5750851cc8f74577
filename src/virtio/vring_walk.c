/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The one out-of-line piece of the walkers' shared code (vring_walk_pvt.h):
 * a refusal, counted and logged only when debug logging is on, so that the
 * formatting costs nothing otherwise and a guest cannot flood the log.
 */
#include <stdio.h>

#include "vring_walk_pvt.h"

int hl__walk_refuse(const void *ring, uint64_t *counter, int err, uint16_t head, const char *why, uint64_t v1,
		    uint64_t v2)
{
	(*counter)++;
	if (hl_unlikely(hl_log_get_level() >= HL_LOG_DEBUG)) {
		char msg[160];
		snprintf(msg, sizeof(msg), why, (unsigned long long)v1, (unsigned long long)v2);
		HL_LOG_DEBUG("vring %p: chain at head %u refused: %s", ring, head, msg);
	}
	return err;
}

bool hl__walk_read_guest(const struct hl_guest_mem *mem, uint64_t gpa, void *buf, unsigned len)
{
	uint8_t *out = buf;
	for (unsigned done = 0; done < len;) {
		uint64_t c = 0;
		const volatile uint8_t *s = hl_gpa_to_hva(mem, gpa + done, len - done, &c);
		if (s == NULL || c == 0)
			return false;
		if (c > len - done)
			c = len - done;
		for (uint64_t k = 0; k < c; k++)
			out[done + k] = s[k];
		done += (unsigned)c;
	}
	return true;
}
