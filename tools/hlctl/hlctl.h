/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hlctl's pieces shared between the command parser (main.c) and the code
 * that turns replies into tables (show.c).
 */
#ifndef HLCTL_H
#define HLCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hugelink/json.h>

/* exit statuses: the contract with scripts */
enum {
	HLCTL_OK = 0,
	HLCTL_FAILED = 1,   /* the daemon said ok:false, or replied nonsense */
	HLCTL_USAGE = 2,
	HLCTL_UNREACHABLE = 3,
};

struct hlctl {
	const char *ctl_path;
	int timeout_ms;
};

/*
 * Send req, wait for the reply. Returns an exit status; on HLCTL_OK *raw is
 * the reply text and *reply its parse (caller frees both). On ok:false the
 * reply is returned too (status HLCTL_FAILED) so --json can still print it;
 * the error has been printed to stderr. A reply that is not JSON comes back
 * in *raw alone (HLCTL_FAILED).
 */
int hlctl_call(const struct hlctl *h, const char *req, char **raw, struct hl_json **reply);

/* Plain-text views of replies. */
void hlctl_show_ports(const struct hl_json *reply);
void hlctl_show_stats(const struct hl_json *reply);
void hlctl_show_mac(const struct hl_json *reply);
/* `hlctl top`: interval in seconds, count 0 = until interrupted. */
int hlctl_top(const struct hlctl *h, double interval, unsigned long count);

/*
 * Ports that leave the host (uplink_args.c): whether kind is one, and its
 * options as fields of the port-add request being written into w; -1 with
 * a usage message in err.
 */
bool hlctl_uplink_kind(const char *kind);
int hlctl_uplink_args(const char *kind, int argc, char **argv, struct hl_jw *w, char *err, size_t errlen);

/*
 * --vlan N, --trunk N,M-P,... and --native-vlan N of any `port add` and of
 * `port set`, which also takes --untagged (untagged_ok) (vlan_args.c):
 * taken out of argv (*argc shrinks), checked for form; -1 with a usage
 * message, which opens with cmd, in err. hlctl_vlan_json() writes them as
 * the request's "vlan" / "trunk" / "native_vlan".
 */
struct hlctl_vlan {
	unsigned vlan;    /* 0: none */
	bool trunk;
	bool untagged;    /* --untagged: "vlan": 0 */
	unsigned native;  /* trunk: 0 or its native VLAN */
	uint64_t set[64]; /* trunk: bit v for VLAN v */
};
int hlctl_vlan_args(int *argc, char **argv, const char *cmd, bool untagged_ok, struct hlctl_vlan *v, char *err,
		    size_t errlen);
void hlctl_vlan_json(struct hl_jw *w, const struct hlctl_vlan *v);

/* numeric member or 0 */
double hlctl_num(const struct hl_json *obj, const char *key);
uint64_t hlctl_u64(const struct hl_json *obj, const char *key);

#endif
