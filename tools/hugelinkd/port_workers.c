/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A vhost port's worker map in hugelinkd's JSON: "worker_map": [W0, W1, ...]
 * names the worker that polls each queue pair's transmit queue, in pair
 * order (fewer entries than pairs: the rest keep theirs), and "auto" hands
 * the pairs back to the switch's own spread over the least loaded
 * workers. The field comes in a port-add or port-set request and in a
 * config file. Once a map is set, the port list keeps the whole of it (the
 * worker of every pair, as `stats` shows it), so a daemon restarted after
 * a crash puts each pair back where it was, whatever the other ports do.
 */
#include <errno.h>
#include <string.h>

#include "hugelinkd.h"

int hld_worker_map_field(const struct hl_json *spec, const struct port_conf *c, unsigned workers,
			 struct hld_worker_map *m)
{
	const struct hl_json *j = hl_json_get(spec, "worker_map");
	const char *s = hl_json_str(j);

	memset(m, 0, sizeof(*m));
	if (j == NULL || hl_json_is_null(j))
		return 0;
	if (strcmp(c->kind, "vhost") != 0)
		return hl_error(-EINVAL, "port %s: a %s port has no queue pairs to give to workers (\"worker_map\")",
				c->name, c->kind);
	m->set = true;
	if (s != NULL && strcmp(s, "auto") == 0) {
		m->automatic = true;
		return 0;
	}
	if (hl_json_type(j) != HL_JSON_ARR || hl_json_len(j) == 0)
		return hl_error(-EINVAL, "port %s: \"worker_map\" is \"auto\" or a list of worker indexes, one a queue pair",
				c->name);
	if (hl_json_len(j) > c->queues)
		return hl_error(-EINVAL, "port %s: \"worker_map\" has %zu entries for %u queue pair%s", c->name,
				hl_json_len(j), c->queues, c->queues == 1 ? "" : "s");
	for (size_t i = 0; i < hl_json_len(j); i++) {
		uint64_t w;
		if (!hl_json_u64(hl_json_at(j, i), &w))
			return hl_error(-EINVAL, "port %s: \"worker_map\" entry %zu is not a worker index", c->name, i);
		if (w >= workers)
			return hl_error(-EINVAL, "port %s: worker %llu for pair %zu: hugelinkd runs %u worker%s (0..%u)",
					c->name, (unsigned long long)w, i, workers, workers == 1 ? "" : "s", workers - 1);
		m->w[m->n++] = (unsigned)w;
	}
	return 0;
}

int hld_worker_map_apply(struct daemon *d, struct hl_sw_port *p, const struct hld_worker_map *m)
{
	struct port_conf *c = &d->conf[p->id];
	int rc = hl_switch_move_queues(d->sw, p, m->automatic ? NULL : m->w, m->automatic ? 0 : m->n);
	if (rc < 0)
		return rc;
	c->nmap = 0;
	if (m->automatic)
		return 0;
	for (unsigned k = 0; k < c->queues; k++)
		c->worker_map[k] = (uint8_t)hl_switch_queue_worker(p, k);
	c->nmap = c->queues;
	return 0;
}

void hld_worker_map_json(struct hl_jw *w, const struct port_conf *c, bool always)
{
	if (c->nmap == 0) {
		if (always)
			hl_jw_kv_str(w, "worker_map", "auto");
		return;
	}
	hl_jw_key(w, "worker_map");
	hl_jw_arr_begin(w);
	for (unsigned k = 0; k < c->nmap; k++)
		hl_jw_u64(w, c->worker_map[k]);
	hl_jw_arr_end(w);
}
