/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hlctl: hugelink's command line. It turns a command into one JSON request
 * to hugelinkd's control socket and the reply into text (or passes the reply
 * through verbatim with --json).
 *
 * The request names and fields built here are the contract with the daemon;
 * the exit status is the contract with scripts: 0 ok, 1 the daemon refused
 * (or replied nonsense), 2 bad usage, 3 the daemon cannot be reached.
 * `hlctl pool-info RECORD` needs no daemon: it reads a pool's record directly.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hugelink/common.h>
#include <hugelink/ctl.h>
#include <hugelink/json.h>
#include <hugelink/pool.h>
#include <hugelink/vhost_port.h>

#include "hlctl.h"

static const char usage_text[] =
	"usage: hlctl [--ctl SOCK] [--timeout MS] COMMAND\n"
	"  port add vhost NAME --server PATH | --client PATH [--zcopy auto|on|off] [--offload on|off]\n"
	"                 [--packed on|off]\n"
	"                 [--queues N]     (N queue pairs, 1..16: multiqueue)\n"
	"                 [--worker-map W0,W1,...|auto]   the worker that polls each queue pair\n"
	"  port add tap NAME [--ifname IF] [--offload on|off]\n"
	"  port add shm NAME [--isolated]\n"
	"  port add vxlan NAME --remote IP[,IP...] --vni N [--local IP] [--dstport P] [--mtu M]\n"
	"  port add afxdp NAME --ifname IF [--queues N] [--mode native|generic] [--zerocopy auto|on|off]\n"
	"  port add memif NAME --socket PATH [--role server|client] [--id N] [--secret S] [--rings N]\n"
	"                 [--ring-size N] [--buffer-size N]\n"
	"                 [--vlan N | --trunk N,M-P,... [--native-vlan N]]  on any port add: access port of\n"
	"                 VLAN N, or 802.1Q trunk (its untagged frames in the native VLAN)\n"
	"  port set NAME [--vlan N | --trunk N,M-P,... [--native-vlan N] | --untagged]\n"
	"                [--worker-map W0,W1,...|auto]  a running port's VLANs; (vhost) each queue pair's worker\n"
	"  port del NAME\n"
	"  port reset NAME                (shm: take every buffer back, fresh rings; the peer attaches again)\n"
	"  port list [--json]\n"
	"  stats [--json | --prometheus]   --prometheus: the text exposition format (0.0.4)\n"
	"  mac [--json]\n"
	"  top [--interval S] [--count N]\n"
	"  qemu-args NAME[=MAC]... [--mem MB]      QEMU options for one guest on these ports\n"
	"  libvirt-xml NAME[=MAC]... [--mem MB] [--vcpus N] [--json]   the same as libvirt domain XML\n"
	"  log-level [err|warn|info|debug] [--json]   show or set the daemon's log level\n"
	"  ping\n"
	"  wait-ready [--timeout S]       until the daemon serves requests (default 30 s)\n"
	"  raw JSON\n"
	"  pool-info RECORD [--json]     (reads a pool record; no daemon needed)\n"
	"The socket is --ctl, else $HUGELINK_CTL, else " HL_CTL_DEFAULT_PATH ".\n"
	"Exit status: 0 ok, 1 refused by the daemon, 2 usage, 3 daemon unreachable.\n";

__attribute__((format(printf, 1, 2)))
static int usage(const char *fmt, ...)
{
	if (fmt != NULL) {
		va_list ap;
		fputs("hlctl: ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	fputs(usage_text, stderr);
	return HLCTL_USAGE;
}

double hlctl_num(const struct hl_json *obj, const char *key)
{
	double d = 0;

	hl_json_num(hl_json_get(obj, key), &d);
	return d;
}

uint64_t hlctl_u64(const struct hl_json *obj, const char *key)
{
	const struct hl_json *v = hl_json_get(obj, key);
	uint64_t u = 0;
	double d;

	if (!hl_json_u64(v, &u) && hl_json_num(v, &d) && d > 0 && d < 1.8e19)
		u = (uint64_t)d;
	return u;
}

int hlctl_call(const struct hlctl *h, const char *req, char **raw, struct hl_json **reply)
{
	char *txt = NULL;
	struct hl_json *r = NULL;
	int rc;

	*raw = NULL;
	*reply = NULL;
	rc = hl_ctl_request(h->ctl_path, req, h->timeout_ms, &txt);
	if (rc < 0) {
		fprintf(stderr, "hlctl: %s\n", hl_last_error());
		return HLCTL_UNREACHABLE;
	}
	if (hl_json_parse(txt, strlen(txt), &r) < 0 || hl_json_type(r) != HL_JSON_OBJ ||
	    hl_json_bool(hl_json_get(r, "ok")) < 0) {
		fprintf(stderr, "hlctl: malformed reply from hugelinkd on %s: %s\n", h->ctl_path,
			r == NULL ? hl_last_error() : "not an object with a boolean \"ok\"");
		hl_json_free(r);
		*raw = txt; /* still worth showing with --json or raw */
		return HLCTL_FAILED;
	}
	*raw = txt;
	*reply = r;
	if (hl_json_bool(hl_json_get(r, "ok")) == 1)
		return HLCTL_OK;
	const char *err = hl_json_str(hl_json_get(r, "error"));
	fprintf(stderr, "hlctl: %s\n", err ? err : "request failed (no reason given)");
	return HLCTL_FAILED;
}

/* Send a finished request; print the reply raw (--json) or through show(). */
static int run(const struct hlctl *h, struct hl_jw *w, bool json, void (*show)(const struct hl_json *))
{
	char *raw;
	struct hl_json *reply;
	int rc;

	if (hl_jw_error(w) < 0) {
		fprintf(stderr, "hlctl: cannot build the request\n");
		hl_jw_free(w);
		return HLCTL_FAILED;
	}
	rc = hlctl_call(h, hl_jw_cstr(w), &raw, &reply);
	hl_jw_free(w);
	if (raw != NULL && json)
		printf("%s\n", raw);
	else if (rc == HLCTL_OK && show != NULL)
		show(reply);
	hl_json_free(reply);
	free(raw);
	return rc;
}

static void req_begin(struct hl_jw *w, const char *cmd)
{
	hl_jw_init(w);
	hl_jw_obj_begin(w);
	hl_jw_kv_str(w, "cmd", cmd);
}

/* "--json" as the only remaining argument, or nothing. */
static int json_flag(int argc, char **argv, const char *cmd, bool *json)
{
	*json = false;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			*json = true;
		else
			return usage("%s: unexpected argument '%s'", cmd, argv[i]);
	}
	return 0;
}

/*
 * --worker-map W0,W1,... (a worker index a queue pair, in pair order) or
 * auto, as the request's "worker_map"; the daemon checks the indexes
 * against its workers and the port's pairs. -1 if it is not of that form.
 */
static int worker_map_json(struct hl_jw *w, const char *arg)
{
	if (strcmp(arg, "auto") == 0) {
		hl_jw_kv_str(w, "worker_map", "auto");
		return 0;
	}
	unsigned long v[HL_VHOST_MAX_QUEUE_PAIRS];
	unsigned n = 0;
	for (const char *p = arg;; p++) {
		char *end;
		if (*p < '0' || *p > '9' || n == HL_VHOST_MAX_QUEUE_PAIRS)
			return -1;
		v[n++] = strtoul(p, &end, 10);
		if (v[n - 1] > 255 || (*end != ',' && *end != '\0'))
			return -1;
		if (*end == '\0')
			break;
		p = end;
	}
	hl_jw_key(w, "worker_map");
	hl_jw_arr_begin(w);
	for (unsigned k = 0; k < n; k++)
		hl_jw_u64(w, v[k]);
	hl_jw_arr_end(w);
	return 0;
}

static int port_add_uplink(const struct hlctl *h, const char *kind, const char *name, int argc, char **argv,
			   const struct hlctl_vlan *vl)
{
	struct hl_jw w;
	char err[256];

	req_begin(&w, "port-add");
	hl_jw_kv_str(&w, "kind", kind);
	hl_jw_kv_str(&w, "name", name);
	if (hlctl_uplink_args(kind, argc, argv, &w, err, sizeof(err)) < 0) {
		hl_jw_free(&w);
		return usage("%s", err);
	}
	hlctl_vlan_json(&w, vl);
	hl_jw_obj_end(&w);
	return run(h, &w, false, NULL);
}

/* Which of memif's numeric options o is (--id, --rings, --ring-size, --buffer-size), or -1. */
static int memif_number(const char *o)
{
	static const char *const opts[] = {"--id", "--rings", "--ring-size", "--buffer-size"};
	for (int k = 0; k < (int)HL_ARRAY_SIZE(opts); k++)
		if (strcmp(o, opts[k]) == 0)
			return k;
	return -1;
}

static int port_add(const struct hlctl *h, int argc, char **argv)
{
	const char *kind, *name, *path = NULL, *mode = NULL, *zcopy = NULL, *ifname = NULL, *offload = NULL;
	const char *packed = NULL, *worker_map = NULL;
	bool isolated = false;
	unsigned long long queues = 0;
	struct hl_jw w;
	static const char *const memif_key[] = {"id", "rings", "ring_size", "buffer_size"};
	const char *memif_val[4] = {NULL, NULL, NULL, NULL}, *secret = NULL;
	struct hlctl_vlan vl;
	char err[256];

	if (hlctl_vlan_args(&argc, argv, "port add", false, &vl, err, sizeof(err)) < 0)
		return usage("%s", err);
	if (argc < 2)
		return usage("port add: KIND and NAME are required");
	kind = argv[0];
	name = argv[1];
	if (hlctl_uplink_kind(kind) && name[0] != '\0' && name[0] != '-')
		return port_add_uplink(h, kind, name, argc - 2, argv + 2, &vl);
	if (strcmp(kind, "vhost") != 0 && strcmp(kind, "tap") != 0 && strcmp(kind, "shm") != 0 &&
	    strcmp(kind, "memif") != 0)
		return usage("port add: unknown port kind '%s' (vhost, tap, shm, memif, vxlan or afxdp)", kind);
	bool memif = strcmp(kind, "memif") == 0;
	if (name[0] == '\0' || name[0] == '-')
		return usage("port add %s: a port NAME is required", kind);
	for (int i = 2; i < argc; i++) {
		const char *o = argv[i];
		bool has_arg = i + 1 < argc;
		if (strcmp(kind, "vhost") == 0 && (strcmp(o, "--server") == 0 || strcmp(o, "--client") == 0)) {
			if (!has_arg)
				return usage("port add vhost: %s needs a PATH", o);
			if (mode != NULL)
				return usage("port add vhost: give one of --server or --client, once");
			mode = o + 2;
			path = argv[++i];
		} else if (strcmp(kind, "vhost") == 0 && strcmp(o, "--zcopy") == 0) {
			if (!has_arg)
				return usage("port add vhost: --zcopy needs auto, on or off");
			zcopy = argv[++i];
			if (strcmp(zcopy, "auto") != 0 && strcmp(zcopy, "on") != 0 && strcmp(zcopy, "off") != 0)
				return usage("port add vhost: --zcopy is auto, on or off, not '%s'", zcopy);
		} else if (strcmp(kind, "vhost") == 0 && strcmp(o, "--queues") == 0) {
			char *end;
			if (!has_arg || argv[i + 1][0] < '0' || argv[i + 1][0] > '9' ||
			    (queues = strtoull(argv[i + 1], &end, 10), *end != '\0') || queues < 1 || queues > 16)
				return usage("port add vhost: --queues needs a number of queue pairs, 1..16");
			i++;
		} else if (strcmp(kind, "vhost") == 0 && strcmp(o, "--worker-map") == 0) {
			if (!has_arg)
				return usage("port add vhost: --worker-map needs W0,W1,... or auto");
			worker_map = argv[++i];
		} else if (strcmp(kind, "shm") != 0 && strcmp(o, "--offload") == 0) {
			if (!has_arg || (strcmp(argv[i + 1], "on") != 0 && strcmp(argv[i + 1], "off") != 0))
				return usage("port add %s: --offload is on or off", kind);
			offload = argv[++i];
		} else if (strcmp(kind, "vhost") == 0 && strcmp(o, "--packed") == 0) {
			if (!has_arg || (strcmp(argv[i + 1], "on") != 0 && strcmp(argv[i + 1], "off") != 0))
				return usage("port add vhost: --packed is on or off");
			packed = argv[++i];
		} else if (strcmp(kind, "tap") == 0 && strcmp(o, "--ifname") == 0) {
			if (!has_arg)
				return usage("port add tap: --ifname needs an interface name");
			ifname = argv[++i];
		} else if (strcmp(kind, "shm") == 0 && strcmp(o, "--isolated") == 0) {
			isolated = true;
		} else if (memif && (strcmp(o, "--socket") == 0 || strcmp(o, "--role") == 0 ||
				     strcmp(o, "--secret") == 0)) {
			if (!has_arg)
				return usage("port add memif: %s needs a value", o);
			const char **dst = strcmp(o, "--socket") == 0 ? &path : strcmp(o, "--role") == 0 ? &mode : &secret;
			*dst = argv[++i];
		} else if (memif && memif_number(o) >= 0) {
			char *end;
			if (!has_arg || (strtoull(argv[i + 1], &end, 10), *end != '\0') || argv[i + 1][0] == '\0' ||
			    argv[i + 1][0] == '-')
				return usage("port add memif: %s needs a whole number", o);
			memif_val[memif_number(o)] = argv[++i];
		} else {
			return usage("port add %s: unexpected argument '%s'", kind, o);
		}
	}
	if (memif && path == NULL)
		return usage("port add memif: --socket PATH is required");
	if (strcmp(kind, "vhost") == 0 && mode == NULL)
		return usage("port add vhost: one of --server PATH or --client PATH is required");
	if (path != NULL && path[0] == '\0')
		return usage("port add vhost: the socket PATH is empty");

	req_begin(&w, "port-add");
	hl_jw_kv_str(&w, "kind", kind);
	hl_jw_kv_str(&w, "name", name);
	if (strcmp(kind, "vhost") == 0) {
		hl_jw_kv_str(&w, "path", path);
		hl_jw_kv_str(&w, "mode", mode);
		if (zcopy != NULL)
			hl_jw_kv_str(&w, "zcopy", zcopy);
		if (queues != 0)
			hl_jw_kv_u64(&w, "queues", queues);
		if (worker_map != NULL && worker_map_json(&w, worker_map) < 0) {
			hl_jw_free(&w);
			return usage("port add vhost: --worker-map takes worker indexes W0,W1,... (one a queue pair) or auto");
		}
	} else if (strcmp(kind, "tap") == 0) {
		if (ifname != NULL)
			hl_jw_kv_str(&w, "ifname", ifname);
	} else if (memif) {
		hl_jw_kv_str(&w, "socket", path);
		if (mode != NULL)
			hl_jw_kv_str(&w, "role", mode);
		if (secret != NULL)
			hl_jw_kv_str(&w, "secret", secret);
		for (unsigned k = 0; k < HL_ARRAY_SIZE(memif_key); k++)
			if (memif_val[k] != NULL)
				hl_jw_kv_u64(&w, memif_key[k], strtoull(memif_val[k], NULL, 10));
	} else {
		hl_jw_kv_bool(&w, "isolated", isolated);
	}
	if (offload != NULL)
		hl_jw_kv_str(&w, "offload", offload);
	if (packed != NULL)
		hl_jw_kv_str(&w, "packed", packed);
	hlctl_vlan_json(&w, &vl);
	hl_jw_obj_end(&w);
	return run(h, &w, false, NULL);
}

/*
 * port set NAME [--vlan N | --trunk LIST [--native-vlan N] | --untagged]
 * [--worker-map W0,W1,...|auto]: one port-set request with a field for
 * each option given; the daemon checks them before it changes anything.
 */
static int port_set(const struct hlctl *h, int argc, char **argv)
{
	struct hlctl_vlan vl;
	struct hl_jw w;
	char err[256];
	bool wm = false;

	if (hlctl_vlan_args(&argc, argv, "port set", true, &vl, err, sizeof(err)) < 0)
		return usage("%s", err);
	if (argc < 1 || argv[0][0] == '\0' || argv[0][0] == '-')
		return usage("port set: a port NAME is required");
	req_begin(&w, "port-set");
	hl_jw_kv_str(&w, "name", argv[0]);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--worker-map") == 0) {
			if (i + 1 >= argc || worker_map_json(&w, argv[++i]) < 0) {
				hl_jw_free(&w);
				return usage("port set: --worker-map takes worker indexes W0,W1,... (one a queue pair, "
					     "at most %d) or auto", HL_VHOST_MAX_QUEUE_PAIRS);
			}
			wm = true;
		} else {
			hl_jw_free(&w);
			return usage("port set: unexpected argument '%s'", argv[i]);
		}
	}
	bool vlan = vl.vlan != 0 || vl.trunk || vl.untagged;
	if (!vlan && !wm) {
		hl_jw_free(&w);
		return usage("port set: give --vlan N, --trunk N,M-P,..., --untagged or --worker-map W0,W1,...|auto");
	}
	if (vlan)
		hlctl_vlan_json(&w, &vl);
	hl_jw_obj_end(&w);
	return run(h, &w, false, NULL);
}

static int cmd_port(const struct hlctl *h, int argc, char **argv)
{
	struct hl_jw w;
	bool json;
	int rc;

	if (argc < 1)
		return usage("port: add, set, del, reset or list?");
	if (strcmp(argv[0], "add") == 0)
		return port_add(h, argc - 1, argv + 1);
	if (strcmp(argv[0], "set") == 0)
		return port_set(h, argc - 1, argv + 1);
	if (strcmp(argv[0], "del") == 0 || strcmp(argv[0], "reset") == 0) {
		bool del = argv[0][0] == 'd';
		if (argc != 2 || argv[1][0] == '\0')
			return usage("port %s: exactly one NAME is required", argv[0]);
		req_begin(&w, del ? "port-del" : "port-reset");
		hl_jw_kv_str(&w, "name", argv[1]);
		hl_jw_obj_end(&w);
		return run(h, &w, false, NULL);
	}
	if (strcmp(argv[0], "list") == 0) {
		if ((rc = json_flag(argc - 1, argv + 1, "port list", &json)) != 0)
			return rc;
		req_begin(&w, "port-list");
		hl_jw_obj_end(&w);
		return run(h, &w, json, hlctl_show_ports);
	}
	return usage("port: unknown subcommand '%s'", argv[0]);
}

static void show_ping(const struct hl_json *reply)
{
	const struct hl_json *v = hl_json_get(reply, "version");
	const char *s = hl_json_str(v);
	double d;
	char num[32] = "?";

	if (s == NULL && hl_json_num(v, &d))
		snprintf(num, sizeof(num), "%g", d);
	const char *pool = hl_json_str(hl_json_get(reply, "pool"));
	printf("hugelinkd %s is alive%s%s\n", s ? s : num, pool ? ", pool " : "", pool ? pool : "");
}

/*
 * Poll with ping until the daemon answers ok. Not there yet (no socket,
 * nobody listening) and "starting" both mean wait; any other refusal is
 * final. The exit status says which: 0 ready, 3 not ready by the deadline.
 */
static int wait_ready(const struct hlctl *h, int argc, char **argv)
{
	double limit = 30;

	for (int i = 0; i < argc; i++) {
		char *end;
		if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			limit = strtod(argv[++i], &end);
			if (*end || end == argv[i] || !(limit > 0 && limit <= 86400))
				return usage("wait-ready: --timeout is seconds, not '%s'", argv[i]);
		} else {
			return usage("wait-ready: unknown argument '%s'", argv[i]);
		}
	}
	uint64_t deadline = hl_now_ns() + (uint64_t)(limit * 1e9);
	const char *why = "no answer";
	hl_log_set_level(HL_LOG_ERR); /* a daemon not there yet is what we wait out; the end says why */
	char last[256] = "";
	for (;;) {
		char *txt = NULL;
		struct hl_json *r = NULL;
		uint64_t now = hl_now_ns();
		int left_ms = now >= deadline ? 1 : (int)((deadline - now) / 1000000) + 1;
		int rc = hl_ctl_request(h->ctl_path, "{\"cmd\":\"ping\"}", left_ms < h->timeout_ms ? left_ms : h->timeout_ms,
					&txt);
		if (rc == 0 && hl_json_parse(txt, strlen(txt), &r) == 0) {
			int ok = hl_json_bool(hl_json_get(r, "ok"));
			int starting = hl_json_bool(hl_json_get(r, "starting"));
			const char *err = hl_json_str(hl_json_get(r, "error"));
			if (ok == 1) {
				printf("hugelinkd on %s is ready\n", h->ctl_path);
				hl_json_free(r);
				free(txt);
				return HLCTL_OK;
			}
			if (starting != 1) {
				fprintf(stderr, "hlctl: wait-ready: %s\n", err ? err : "refused");
				hl_json_free(r);
				free(txt);
				return HLCTL_FAILED;
			}
			why = "still starting";
		} else {
			why = "unreachable";
			snprintf(last, sizeof(last), "%s", hl_last_error());
		}
		hl_json_free(r);
		free(txt);
		if (hl_now_ns() >= deadline)
			break;
		struct timespec ts = {0, 50 * 1000000};
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "hlctl: wait-ready: hugelinkd on %s not ready after %g s (%s%s%s)\n", h->ctl_path, limit,
		why, last[0] ? ": " : "", last[0] ? last : "");
	return HLCTL_UNREACHABLE;
}

static void show_qemu_args(const struct hl_json *reply)
{
	const char *a = hl_json_str(hl_json_get(reply, "args"));

	printf("%s\n", a ? a : "");
}

static void show_libvirt_xml(const struct hl_json *reply)
{
	const char *dom = hl_json_str(hl_json_get(reply, "domain"));
	const char *dev = hl_json_str(hl_json_get(reply, "devices"));

	printf("<!-- in <domain>, with <memory unit='MiB'>%" PRIu64 "</memory> and <vcpu>%" PRIu64 "</vcpu>: -->\n%s"
	       "<!-- in <devices>: -->\n%s",
	       hlctl_u64(reply, "memory_mib"), hlctl_u64(reply, "vcpus"), dom ? dom : "", dev ? dev : "");
}

/*
 * qemu-args / libvirt-xml NAME[=MAC]... [--mem MB] [--vcpus N] [--json]:
 * one guest on these ports. One NAME alone sends the short form
 * {"name":NAME}, which every daemon understands.
 */
static int guest_cmd(const struct hlctl *h, const char *cmd, int argc, char **argv)
{
	bool json = false, short_form = true;
	const char *mem = NULL, *vcpus = NULL;
	int names = 0;
	struct hl_jw w;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--json") == 0) {
			json = true;
		} else if ((strcmp(a, "--mem") == 0 || strcmp(a, "--vcpus") == 0) && i + 1 < argc) {
			char *end;
			unsigned long long v = strtoull(argv[i + 1], &end, 10);
			if (*end || end == argv[i + 1] || argv[i + 1][0] == '-' || v == 0)
				return usage("%s: %s takes a positive number, not '%s'", cmd, a, argv[i + 1]);
			*(a[2] == 'm' ? &mem : &vcpus) = argv[++i];
			short_form = false;
		} else if (a[0] == '-' || a[0] == '\0' || a[0] == '=') {
			return usage("%s: unexpected argument '%s'", cmd, a);
		} else {
			names++;
			short_form = short_form && strchr(a, '=') == NULL;
		}
	}
	if (names == 0)
		return usage("%s: at least one port NAME is required", cmd);
	req_begin(&w, cmd);
	if (short_form && names == 1) {
		for (int i = 0; i < argc; i++)
			if (argv[i][0] != '-')
				hl_jw_kv_str(&w, "name", argv[i]);
	} else {
		hl_jw_key(&w, "ports");
		hl_jw_arr_begin(&w);
		for (int i = 0; i < argc; i++) {
			if (argv[i][0] == '-') {
				i += strcmp(argv[i], "--json") != 0;
				continue;
			}
			char name[64];
			const char *eq = strchr(argv[i], '=');
			size_t len = eq ? (size_t)(eq - argv[i]) : strlen(argv[i]);
			if (len >= sizeof(name))
				len = sizeof(name) - 1;
			memcpy(name, argv[i], len);
			name[len] = '\0';
			hl_jw_obj_begin(&w);
			hl_jw_kv_str(&w, "name", name);
			if (eq != NULL)
				hl_jw_kv_str(&w, "mac", eq + 1);
			hl_jw_obj_end(&w);
		}
		hl_jw_arr_end(&w);
		if (mem != NULL)
			hl_jw_kv_u64(&w, "mem_mb", strtoull(mem, NULL, 10));
		if (vcpus != NULL)
			hl_jw_kv_u64(&w, "vcpus", strtoull(vcpus, NULL, 10));
	}
	hl_jw_obj_end(&w);
	return run(h, &w, json, strcmp(cmd, "qemu-args") == 0 ? show_qemu_args : show_libvirt_xml);
}

static void show_metrics(const struct hl_json *reply)
{
	const char *t = hl_json_str(hl_json_get(reply, "text"));
	fputs(t ? t : "", stdout);
}

static void show_log_level(const struct hl_json *reply)
{
	const char *l = hl_json_str(hl_json_get(reply, "level"));
	const char *t = hl_json_str(hl_json_get(reply, "target"));
	printf("%s (log to %s, %" PRIu64 " line(s) held back by the rate limit, %" PRIu64 " unsent)\n",
	       l ? l : "?", t ? t : "?", hlctl_u64(reply, "suppressed"), hlctl_u64(reply, "unsent"));
}

static int log_level(const struct hlctl *h, int argc, char **argv)
{
	const char *level = NULL;
	bool json = false;
	struct hl_jw w;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (level == NULL && hl_log_level_parse(argv[i]) > 0)
			level = argv[i];
		else
			return usage("log-level: a level is err, warn, info or debug, not '%s'", argv[i]);
	}
	req_begin(&w, "log-level");
	if (level != NULL)
		hl_jw_kv_str(&w, "level", level);
	hl_jw_obj_end(&w);
	return run(h, &w, json, show_log_level);
}

static int pool_info(int argc, char **argv)
{
	struct hl_pool *p;
	struct hl_pool_info in;
	bool json = false;

	if (argc < 1)
		return usage("pool-info: RECORD is required");
	if (argc > 1 && json_flag(argc - 1, argv + 1, "pool-info", &json) != 0)
		return HLCTL_USAGE;
	if (hl_pool_attach(argv[0], 0, &p) < 0) {
		fprintf(stderr, "hlctl: %s\n", hl_last_error());
		return HLCTL_FAILED;
	}
	hl_pool_get_info(p, &in);
	if (json) {
		struct hl_jw w;
		hl_jw_init(&w);
		hl_jw_obj_begin(&w);
		hl_jw_kv_str(&w, "name", in.name);
		hl_jw_kv_u64(&w, "size", in.size);
		hl_jw_kv_u64(&w, "page_size", in.page_size);
		hl_jw_kv_u64(&w, "pages", in.npages);
		hl_jw_kv_u64(&w, "segments", in.nsegs);
		hl_jw_kv_bool(&w, "hugepages", in.hugepages);
		hl_jw_kv_str(&w, "iova", in.phys_iova ? "pa" : "offset");
		hl_jw_kv_str(&w, "file", in.file_path);
		hl_jw_obj_end(&w);
		printf("%s\n", hl_jw_cstr(&w) ? hl_jw_cstr(&w) : "{}");
		hl_jw_free(&w);
	} else {
		printf("pool %s: %" PRIu64 " MiB, %" PRIu64 " KiB pages x %u in %u segments, %s, IOVA %s\n  file %s\n",
		       in.name, in.size >> 20, in.page_size >> 10, in.npages, in.nsegs,
		       in.hugepages ? "hugetlbfs" : "shared memory", in.phys_iova ? "= physical" : "= offset",
		       in.file_path);
	}
	hl_pool_detach(p);
	return HLCTL_OK;
}

static int cmd_top(const struct hlctl *h, int argc, char **argv)
{
	double interval = 1.0;
	unsigned long count = 0;

	for (int i = 0; i < argc; i++) {
		char *end;
		if (strcmp(argv[i], "--interval") == 0 && i + 1 < argc) {
			errno = 0;
			interval = strtod(argv[++i], &end);
			if (errno || *end || end == argv[i] || !(interval >= 0.05 && interval <= 3600))
				return usage("top: --interval is seconds between 0.05 and 3600, not '%s'", argv[i]);
		} else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
			errno = 0;
			count = strtoul(argv[++i], &end, 10);
			if (errno || *end || end == argv[i] || argv[i][0] == '-' || count == 0)
				return usage("top: --count is a positive number, not '%s'", argv[i]);
		} else {
			return usage("top: unexpected argument '%s'", argv[i]);
		}
	}
	return hlctl_top(h, interval, count);
}

int main(int argc, char **argv)
{
	struct hlctl h = {.ctl_path = NULL, .timeout_ms = 5000};
	struct hl_jw w;
	bool json;
	int i, rc;

	/* hl_error() would log every refusal too; hlctl prints its own message */
	if (getenv("HL_LOG") == NULL)
		hl_log_set_level(HL_LOG_ERR);
	h.ctl_path = getenv("HUGELINK_CTL");
	if (h.ctl_path == NULL || h.ctl_path[0] == '\0')
		h.ctl_path = HL_CTL_DEFAULT_PATH;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(usage_text, stdout);
			return HLCTL_OK;
		} else if (strcmp(argv[i], "--ctl") == 0 && i + 1 < argc && argv[i + 1][0] != '\0') {
			h.ctl_path = argv[++i];
		} else if (strncmp(argv[i], "--ctl=", 6) == 0 && argv[i][6] != '\0') {
			h.ctl_path = argv[i] + 6;
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			char *end;
			long t = strtol(argv[++i], &end, 10);
			if (*end || end == argv[i] || t <= 0 || t > 3600000)
				return usage("--timeout is milliseconds, not '%s'", argv[i]);
			h.timeout_ms = (int)t;
		} else {
			return usage("unknown option '%s'", argv[i]);
		}
	}
	if (i >= argc)
		return usage(NULL);
	const char *cmd = argv[i];
	int n = argc - i - 1;
	char **args = argv + i + 1;

	if (strcmp(cmd, "port") == 0)
		return cmd_port(&h, n, args);
	if (strcmp(cmd, "stats") == 0 && n == 1 && strcmp(args[0], "--prometheus") == 0) {
		req_begin(&w, "metrics");
		hl_jw_obj_end(&w);
		return run(&h, &w, false, show_metrics);
	}
	if (strcmp(cmd, "stats") == 0 || strcmp(cmd, "mac") == 0) {
		if ((rc = json_flag(n, args, cmd, &json)) != 0)
			return rc;
		req_begin(&w, cmd);
		hl_jw_obj_end(&w);
		return run(&h, &w, json, strcmp(cmd, "stats") == 0 ? hlctl_show_stats : hlctl_show_mac);
	}
	if (strcmp(cmd, "top") == 0)
		return cmd_top(&h, n, args);
	if (strcmp(cmd, "qemu-args") == 0 || strcmp(cmd, "libvirt-xml") == 0)
		return guest_cmd(&h, cmd, n, args);
	if (strcmp(cmd, "log-level") == 0)
		return log_level(&h, n, args);
	if (strcmp(cmd, "ping") == 0) {
		if (n != 0)
			return usage("ping takes no arguments");
		req_begin(&w, "ping");
		hl_jw_obj_end(&w);
		return run(&h, &w, false, show_ping);
	}
	if (strcmp(cmd, "wait-ready") == 0)
		return wait_ready(&h, n, args);
	if (strcmp(cmd, "raw") == 0) {
		char *raw;
		struct hl_json *reply;
		if (n != 1)
			return usage("raw: exactly one JSON argument is required");
		rc = hlctl_call(&h, args[0], &raw, &reply);
		if (raw != NULL)
			printf("%s\n", raw);
		hl_json_free(reply);
		free(raw);
		return rc;
	}
	if (strcmp(cmd, "pool-info") == 0)
		return pool_info(n, args);
	return usage("unknown command '%s'", cmd);
}
