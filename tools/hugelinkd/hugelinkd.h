/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hugelinkd's pieces: the daemon state shared by its control commands
 * (ctl_cmds.c) and its port list on disk (port_config.c).
 */
#ifndef HUGELINKD_H
#define HUGELINKD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hugelink/ctl.h>
#include <hugelink/json.h>
#include <hugelink/switch.h>
#include <hugelink/vhost_port.h>

#include "port_uplink.h"

struct daemon {
	struct hl_switch *sw;
	struct hl_bufpool *bp;
	struct hl_pool *pool;
	const char *name;       /* the pool's, which tells daemons on one host apart */
	bool ready;             /* start-up done: requests before it are answered "starting" */
	const char *state_path; /* the port list, rewritten on every change; NULL: none */
	uint64_t started_ns;
	const struct hl_ctl_server *ctl; /* its counters, for stats; NULL: none */
	struct hl_vhost_zc_calib zc_calib; /* what the start-up calibration found (zcopy auto) */
	/* last restart after a crash: how long the switch was gone */
	uint64_t outage_ns;
	/* starts that took over from a dead daemon since the last clean stop (kept in the heartbeat file) */
	uint64_t restarts;
	/* what each port was created with, to save and list it */
	struct port_conf {
		bool used;
		char name[HL_SW_NAME_LEN];
		char kind[8];
		char path[108];   /* vhost and memif socket */
		bool client;
		char zcopy[8];    /* "auto", "on", "off" */
		char offload[4];  /* vhost, tap: "on", "off" */
		char packed[4];   /* vhost: "on" (packed rings offered), "off" */
		unsigned queues;  /* vhost: queue pairs offered */
		unsigned nmap;    /* vhost: 0, the switch's spread, or queues: worker_map holds every pair's worker */
		uint8_t worker_map[HL_VHOST_MAX_QUEUE_PAIRS];
		char ifname[16];  /* tap */
		bool isolated;    /* shm */
		struct uplink_conf up; /* vxlan, afxdp */
		struct hl_sw_vlan vlan; /* any kind: untagged, access or trunk */
		struct {          /* memif: path is its socket, client its role */
			uint32_t id;
			char secret[25];
			unsigned rings, ring_size, buffer_size;
		} memif;
	} conf[HL_SW_MAX_PORTS];
};

/* Control requests: one JSON object in, one out (see hlctl). */
void hld_handle(void *opaque, const struct hl_json *req, struct hl_jw *reply);
/* Replies: {"ok":false,"error":...} whole, or {"ok":true and the caller's fields. */
void hld_fail(struct hl_jw *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hld_ok_begin(struct hl_jw *r);
/* What a guest needs for its ports (guest_args.c): QEMU options, libvirt domain XML. */
void hld_cmd_qemu_args(struct daemon *d, const struct hl_json *req, struct hl_jw *r);
void hld_cmd_libvirt_xml(struct daemon *d, const struct hl_json *req, struct hl_jw *r);

/* Create a port from a JSON description (a request or a config entry). */
int hld_port_add(struct daemon *d, const struct hl_json *spec);
int hld_port_del(struct daemon *d, const char *name);

/* A port's "vlan" / "trunk" / "native_vlan" fields (port_vlan.c): read them from spec (0 or -EINVAL) ... */
int hld_vlan_fields(const struct hl_json *spec, const char *name, struct hl_sw_vlan *v);
/* ... and write them: always (a listing: "vlan" 0, "native_vlan" 0 and "trunk" [] for none) or only those set. */
void hld_vlan_json(struct hl_jw *w, const struct hl_sw_vlan *v, bool always);
/* Change a running port's membership to the one spec's fields give (port-set): 0, -ENOENT or -EINVAL. */
int hld_port_set_vlan(struct daemon *d, const struct hl_json *spec, const char *name);

/*
 * A vhost port's "worker_map" (port_workers.c): read it from spec, checked
 * against c (its kind, its queue pairs) and the workers there are (0 or
 * -EINVAL; m->set false when absent), move the pairs to it (and keep it in
 * the port's conf), write it (always: "auto" for none).
 */
struct hld_worker_map {
	bool set;
	bool automatic; /* "auto" */
	unsigned n;
	unsigned w[HL_VHOST_MAX_QUEUE_PAIRS];
};
int hld_worker_map_field(const struct hl_json *spec, const struct port_conf *c, unsigned workers,
			 struct hld_worker_map *m);
int hld_worker_map_apply(struct daemon *d, struct hl_sw_port *p, const struct hld_worker_map *m);
void hld_worker_map_json(struct hl_jw *w, const struct port_conf *c, bool always);

/*
 * Load {"ports":[...]} from a file and add each port; 0 or -errno. With
 * restore (the saved list after a crash), ports that exist are skipped and
 * one that fails is logged without stopping the rest.
 */
int hld_config_load(struct daemon *d, const char *path, bool restore);
/* Write the current port list to d->state_path (tmp + rename). */
void hld_state_save(struct daemon *d);

/* Text that grows as it is written (text.c); failed: out of memory on the way. */
struct hld_text {
	char *s;
	size_t len, cap;
	bool failed;
};
void hld_text_free(struct hld_text *t);
void hld_printf(struct hld_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The metrics in the Prometheus text format 0.0.4, replacing t's text. Control thread. */
void hld_metrics(struct daemon *d, struct hld_text *t);

/* --metrics ADDR: the HTTP responder's thread and its hand-over with the control thread (metrics_http.c). */
struct hld_http {
	int listen_fd;
	int stop_fd[2];
	char addr[160];
	pthread_t thread;
	bool running;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool want;           /* the responder waits for a rendering */
	bool stopping;
	uint64_t gen;        /* renderings made */
	struct hld_text text;
	uint64_t served;
};
#define HLD_HTTP_INIT {.listen_fd = -1, .stop_fd = {-1, -1}}
/* Bind and listen ("PORT" is on 127.0.0.1); nothing is served before hld_http_start. */
int hld_http_open(struct hld_http *h, const char *addr);
int hld_http_start(struct hld_http *h);
/* From the control thread's loop: render if the responder waits for it. */
void hld_http_serve(struct hld_http *h, struct daemon *d);
void hld_http_close(struct hld_http *h);

#endif
