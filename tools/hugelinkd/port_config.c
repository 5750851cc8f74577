/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hugelinkd's port list on disk. A config file (--config) and the state
 * file share one format, {"ports":[{"kind":..,"name":..,...}]}, each entry
 * what `hlctl port add` would send. The state file is rewritten (tmp +
 * rename) whenever a port is added, changed or removed, and removed on a clean exit,
 * so a daemon that finds one was killed, and re-creates its ports from it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hugelinkd.h"

int hld_config_load(struct daemon *d, const char *path, bool restore)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return hl_error(-errno, "config %s: %s", path, strerror(errno));
	static char text[HL_JSON_MAX_INPUT];
	ssize_t n = read(fd, text, sizeof(text));
	close(fd);
	if (n < 0)
		return hl_error(-errno, "config %s: %s", path, strerror(errno));
	if ((size_t)n == sizeof(text))
		return hl_error(-EFBIG, "config %s: larger than %zu bytes", path, sizeof(text) - 1);
	struct hl_json *doc;
	if (hl_json_parse(text, (size_t)n, &doc) < 0)
		return hl_error(-EINVAL, "config %s: %s", path, hl_last_error());
	const struct hl_json *ports = hl_json_get(doc, "ports");
	int rc = 0;
	if (hl_json_type(ports) != HL_JSON_ARR) {
		rc = hl_error(-EINVAL, "config %s: no \"ports\" array", path);
	} else {
		for (size_t i = 0; i < hl_json_len(ports) && rc == 0; i++) {
			const struct hl_json *spec = hl_json_at(ports, i);
			const char *name = hl_json_str(hl_json_get(spec, "name"));
			/* restoring after a crash: ports the config file made already are there */
			if (restore && name != NULL && hl_switch_find_port(d->sw, name) != NULL)
				continue;
			if (hld_port_add(d, spec) < 0) {
				rc = hl_error(-EINVAL, "%s: port %zu: %s", path, i, hl_last_error());
				/* one port that cannot come back must not keep the others away */
				if (restore) {
					HL_LOG_WARN("hugelinkd: %s", hl_last_error());
					rc = 0;
				}
			}
		}
	}
	hl_json_free(doc);
	return rc;
}

void hld_state_save(struct daemon *d)
{
	if (d->state_path == NULL)
		return;
	struct hl_jw w;
	hl_jw_init(&w);
	hl_jw_obj_begin(&w);
	hl_jw_key(&w, "ports");
	hl_jw_arr_begin(&w);
	for (unsigned i = 0; i < HL_SW_MAX_PORTS; i++) {
		const struct port_conf *c = &d->conf[i];
		if (!c->used)
			continue;
		hl_jw_obj_begin(&w);
		hl_jw_kv_str(&w, "kind", c->kind);
		hl_jw_kv_str(&w, "name", c->name);
		if (strcmp(c->kind, "vhost") == 0) {
			hl_jw_kv_str(&w, "path", c->path);
			hl_jw_kv_str(&w, "mode", c->client ? "client" : "server");
			hl_jw_kv_str(&w, "zcopy", c->zcopy);
			hl_jw_kv_str(&w, "offload", c->offload);
			hl_jw_kv_str(&w, "packed", c->packed);
			hl_jw_kv_u64(&w, "queues", c->queues);
			hld_worker_map_json(&w, c, false);
		} else if (strcmp(c->kind, "tap") == 0) {
			if (c->ifname[0] != '\0')
				hl_jw_kv_str(&w, "ifname", c->ifname);
			hl_jw_kv_str(&w, "offload", c->offload);
		} else if (strcmp(c->kind, "shm") == 0) {
			hl_jw_kv_bool(&w, "isolated", c->isolated);
		} else if (strcmp(c->kind, "memif") == 0) {
			hl_jw_kv_str(&w, "socket", c->path);
			hl_jw_kv_str(&w, "role", c->client ? "client" : "server");
			hl_jw_kv_u64(&w, "id", c->memif.id);
			if (c->memif.secret[0] != '\0')
				hl_jw_kv_str(&w, "secret", c->memif.secret);
			hl_jw_kv_u64(&w, "rings", c->memif.rings);
			hl_jw_kv_u64(&w, "ring_size", c->memif.ring_size);
			hl_jw_kv_u64(&w, "buffer_size", c->memif.buffer_size);
		} else {
			hld_uplink_json(c, &w);
		}
		hld_vlan_json(&w, &c->vlan, false);
		hl_jw_obj_end(&w);
	}
	hl_jw_arr_end(&w);
	hl_jw_obj_end(&w);
	char tmp[512];
	snprintf(tmp, sizeof(tmp), "%s.tmp", d->state_path);
	FILE *f = hl_jw_error(&w) == 0 ? fopen(tmp, "we") : NULL;
	bool ok = f != NULL && fprintf(f, "%s\n", hl_jw_cstr(&w)) >= 0;
	if (f != NULL)
		ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, d->state_path) < 0)
		HL_LOG_ERR("cannot save the port list to %s: %s", d->state_path, strerror(errno));
	hl_jw_free(&w);
}
