/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hlctl's options for ports that leave the host, turned into the fields of
 * a port-add request:
 *   port add vxlan NAME --remote IP[,IP...] --vni N [--local IP] [--dstport P] [--mtu M]
 *   port add afxdp NAME --ifname IF [--queues N] [--mode native|generic] [--zerocopy auto|on|off]
 * Values are checked for form here, and again, for meaning, by hugelinkd.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hlctl.h"

bool hlctl_uplink_kind(const char *kind)
{
	return strcmp(kind, "vxlan") == 0 || strcmp(kind, "afxdp") == 0;
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
		const char *kind, *opt, *key;
		unsigned long lo, hi; /* hi 0: a string */
		bool needed;
	} opts[] = {
		{"vxlan", "--remote", "remote", 0, 0, true},	  {"vxlan", "--local", "local", 0, 0, false},
		{"vxlan", "--vni", "vni", 0, 0xffffff, true},	  {"vxlan", "--dstport", "dstport", 1, 65535, false},
		{"vxlan", "--mtu", "mtu", 68, 1500, false},	  {"afxdp", "--ifname", "ifname", 0, 0, true},
		{"afxdp", "--queues", "queues", 1, 16, false},	  {"afxdp", "--mode", "mode", 0, 0, false},
		{"afxdp", "--zerocopy", "zerocopy", 0, 0, false},
	};
	enum { NOPTS = sizeof(opts) / sizeof(opts[0]) };
	bool given[NOPTS] = {false};
	for (int i = 0; i < argc; i++) {
		size_t k = 0;
		while (k < NOPTS && (strcmp(opts[k].kind, kind) != 0 || strcmp(argv[i], opts[k].opt) != 0))
			k++;
		if (k == NOPTS) {
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
		given[k] = true;
	}
	for (size_t k = 0; k < NOPTS; k++) {
		if (strcmp(opts[k].kind, kind) == 0 && opts[k].needed && !given[k]) {
			snprintf(err, errlen, "port add %s: %s is required", kind, opts[k].opt);
			return -1;
		}
	}
	return 0;
}
