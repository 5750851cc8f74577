/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hlctl's options for ports that leave the host, turned into the fields of
 * a port-add request:
 *   port add vxlan NAME --remote IP --vni N [--local IP] [--dstport P] [--mtu M]
 * Values are checked for form here, and again, for meaning, by hugelinkd.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hlctl.h"

bool hlctl_uplink_kind(const char *kind)
{
	return strcmp(kind, "vxlan") == 0;
}

/* A decimal number within [lo, hi]. */
static bool parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;
	if (s[0] < '0' || s[0] > '9')
		return false;
	unsigned long v = strtoul(s, &end, 10);
	if (*end != '\0' || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

int hlctl_uplink_args(const char *kind, int argc, char **argv, struct hl_jw *w, char *err, size_t errlen)
{
	static const struct {
		const char *opt, *key;
		unsigned long lo, hi; /* hi 0: an address, sent as a string */
	} opts[] = {
		{"--remote", "remote", 0, 0},  {"--local", "local", 0, 0},	  {"--vni", "vni", 0, 0xffffff},
		{"--dstport", "dstport", 1, 65535}, {"--mtu", "mtu", 68, 1500},
	};
	bool have_remote = false, have_vni = false;
	for (int i = 0; i < argc; i++) {
		size_t k = 0;
		while (k < sizeof(opts) / sizeof(opts[0]) && strcmp(argv[i], opts[k].opt) != 0)
			k++;
		if (k == sizeof(opts) / sizeof(opts[0])) {
			snprintf(err, errlen, "port add %s: unexpected argument '%s'", kind, argv[i]);
			return -1;
		}
		if (i + 1 >= argc) {
			snprintf(err, errlen, "port add %s: %s needs a value", kind, opts[k].opt);
			return -1;
		}
		const char *v = argv[++i];
		unsigned long n;
		if (opts[k].hi == 0) {
			hl_jw_kv_str(w, opts[k].key, v);
		} else if (parse_uint(v, opts[k].lo, opts[k].hi, &n)) {
			hl_jw_kv_u64(w, opts[k].key, n);
		} else {
			snprintf(err, errlen, "port add %s: %s takes a number in %lu..%lu, not '%s'", kind, opts[k].opt,
				 opts[k].lo, opts[k].hi, v);
			return -1;
		}
		have_remote |= strcmp(opts[k].key, "remote") == 0;
		have_vni |= strcmp(opts[k].key, "vni") == 0;
	}
	if (!have_remote || !have_vni) {
		snprintf(err, errlen, "port add %s: --remote IP and --vni N are required", kind);
		return -1;
	}
	return 0;
}
