/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hugelinkd's pieces: the daemon state shared by its control commands
 * (ctl_cmds.c) and its port list on disk (port_config.c).
 */
#ifndef HUGELINKD_H
#define HUGELINKD_H

#include <stdbool.h>
#include <stdint.h>

#include <hugelink/json.h>
#include <hugelink/switch.h>

struct daemon {
	struct hl_switch *sw;
	struct hl_bufpool *bp;
	struct hl_pool *pool;
	const char *name;       /* the pool's, which tells daemons on one host apart */
	bool ready;             /* start-up done: requests before it are answered "starting" */
	const char *state_path; /* the port list, rewritten on every change; NULL: none */
	uint64_t started_ns;
	/* last restart after a crash: how long the switch was gone */
	uint64_t outage_ns;
	/* what each port was created with, to save and list it */
	struct port_conf {
		bool used;
		char name[HL_SW_NAME_LEN];
		char kind[8];
		char path[108];   /* vhost and memif socket */
		bool client;
		char zcopy[8];    /* "auto", "on", "off" */
		char offload[4];  /* vhost, tap: "on", "off" */
		char ifname[16];  /* tap */
		bool isolated;    /* shm */
		struct {          /* memif: path is its socket, client its role */
			uint32_t id;
			char secret[25];
			unsigned rings, ring_size, buffer_size;
		} memif;
	} conf[HL_SW_MAX_PORTS];
};

/* Control requests: one JSON object in, one out (see hlctl). */
void hld_handle(void *opaque, const struct hl_json *req, struct hl_jw *reply);

/* Create a port from a JSON description (a request or a config entry). */
int hld_port_add(struct daemon *d, const struct hl_json *spec);
int hld_port_del(struct daemon *d, const char *name);

/*
 * Load {"ports":[...]} from a file and add each port; 0 or -errno. With
 * restore (the saved list after a crash), ports that exist are skipped and
 * one that fails is logged without stopping the rest.
 */
int hld_config_load(struct daemon *d, const char *path, bool restore);
/* Write the current port list to d->state_path (tmp + rename). */
void hld_state_save(struct daemon *d);

#endif
