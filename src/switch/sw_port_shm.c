/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A shm port as a switch port: the peer's tx ring is the switch's receive
 * side, its rx ring the switch's transmit side (shm_port.h).
 *
 * Shared ports live in the switch's pool and move packets as descriptors
 * into the switch's own bufpool, so the port must serve the bufpool the
 * switch receives into; their peer maps the whole pool.
 *
 * Isolated ports live in a pool of their own, "<pool>.<port>" next to the
 * switch's (same run dir, same kind of memory, a few MiB): its own bufpool,
 * owner table and rings, and nothing else. Their peer maps only that pool,
 * so no other port's buffer is within its reach. Every packet crosses the
 * boundary with exactly one copy: on receive into a fresh buffer of the
 * switch's bufpool (the isolated one goes straight back), on transmit into
 * an isolated buffer that then goes to the peer as is (hl_shm_port_tx_burst
 * copies whatever is not its own bufpool's). The switch never holds an
 * isolated buffer beyond one call, so closing the port leaves none behind.
 * Such a pool outlives a killed switch like the main one does: the next
 * switch finds its record, takes it over as owner (hl_shm_recover) and
 * claims the port, and an attached peer resumes without re-attaching. A
 * deleted or cleanly closed port removes its pool's files.
 *
 * Frames may be chains and carry offload metadata where the peer accepted
 * those features (shm_abi.h): the port tells the switch so (offloads), and
 * an isolated port carries both across its boundary, the copy a chain of
 * the switch's buffers with the frame's checked metadata along.
 *
 * A sleeping worker is woken by the port's doorbell FIFO, which peers
 * attached through the record kick while the port is armed; other peers
 * (a guest on the BAR) are noticed within the port's 1 ms sleep bound.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <hugelink/offload.h>
#include <hugelink/shm_abi.h>
#include <hugelink/shm_port.h>
#include <hugelink/sw_ports.h>
#include <hugelink/switch.h>

#define ISO_BUFS 2048u   /* buffers in an isolated port's bufpool */
#define ISO_PAGE (2ull << 20)
#define ISO_BP_NAME "iso"
#define ISO_BURST 64u

struct sw_shm {
	struct hl_sw_port sw; /* first: the switch's view */
	struct hl_shm_port *port;
	struct hl_pool *pool;      /* where the port lives: the switch's, or its own */
	bool isolated;
	struct hl_bufpool *ibp;    /* isolated: the port's own bufpool (in pool) */
	uint64_t rx_copied;        /* isolated: packets copied into the switch's bufpool */
	uint64_t rx_no_buf;        /* isolated: received packets dropped for want of a switch buffer */
	char record[256];          /* the record its peer attaches through */
};

static struct sw_shm *of(struct hl_sw_port *p)
{
	return (struct sw_shm *)p;
}

static const struct sw_shm *cof(const struct hl_sw_port *p)
{
	return (const struct sw_shm *)p;
}

static uint16_t shm_rx(struct hl_sw_port *p, struct hl_bufpool *bp, struct hl_buf **pkts, uint16_t n)
{
	struct hl_shm_port *sp = of(p)->port;
	/* buffers are the port's bufpool's by construction; a switch on
	 * another bufpool would get buffers it did not allocate */
	if (hl_unlikely(bp != hl_shm_port_bufpool(sp)))
		return 0;
	return (uint16_t)hl_shm_port_rx_burst(sp, pkts, n);
}

static inline void cnt_add(uint64_t *c, uint64_t v)
{
	if (v != 0)
		__atomic_fetch_add(c, v, __ATOMIC_RELAXED);
}

/*
 * The boundary, inbound: packets arrive in the port's own buffers, which
 * must never reach another port (their peer could rewrite them while they
 * are out), so each is copied into a buffer of the switch's bufpool and
 * the isolated one returned to its pool at once.
 */
static uint16_t shm_rx_isolated(struct hl_sw_port *p, struct hl_bufpool *bp, struct hl_buf **pkts, uint16_t n)
{
	struct sw_shm *s = of(p);
	struct hl_buf *in[ISO_BURST];
	unsigned k, have, out = 0, nobuf = 0;

	if (n > ISO_BURST)
		n = ISO_BURST;
	k = hl_shm_port_rx_burst(s->port, in, n);
	if (k == 0)
		return 0;
	have = k;
	if (hl_buf_alloc_bulk(bp, pkts, k) < 0) {
		for (have = 0; have < k; have++)
			if ((pkts[have] = hl_buf_alloc(bp)) == NULL)
				break;
	}
	for (unsigned i = 0; i < k; i++) {
		const struct hl_buf *b = in[i];
		if (out >= have) {
			nobuf++;
			continue;
		}
		struct hl_buf *c = pkts[out];
		if (hl_unlikely(b->next != NULL || b->data_len > hl_buf_tailroom(c))) {
			/* a chain from a peer that takes them: copied as one, in the switch's buffers */
			struct hl_buf *cc = hl_ol_copy(b, bp);
			if (cc == NULL) {
				nobuf++;
				continue;
			}
			hl_buf_free(c);
			pkts[out++] = cc;
			continue;
		}
		memcpy(hl_buf_data(c), hl_buf_data(b), b->data_len);
		c->data_len = c->pkt_len = b->data_len;
		/* what rx_burst checked of the frame holds of the copy too */
		if (hl_unlikely(b->flags & HL_BUF_F_OFFLOAD)) {
			c->flags |= HL_BUF_F_OFFLOAD;
			c->ol = b->ol;
		}
		out++;
	}
	/* fresh buffers a dropped packet did not need */
	for (unsigned i = out; i < have; i++)
		hl_buf_free(pkts[i]);
	hl_buf_free_bulk(in, k);
	cnt_add(&s->rx_copied, out);
	cnt_add(&s->rx_no_buf, nobuf);
	return (uint16_t)out;
}

static uint16_t shm_tx(struct hl_sw_port *p, struct hl_buf **pkts, uint16_t n, uint64_t *bytes)
{
	/* isolated: nothing the switch holds is of the port's bufpool, so
	 * every packet is copied into one that is (counted as copied) */
	uint64_t total = 0;
	for (uint16_t i = 0; i < n; i++)
		total += pkts[i]->pkt_len;
	/* what went is the peer's and may be back in the pool already: only
	 * the rest, still ours, may be read */
	uint16_t sent = (uint16_t)hl_shm_port_tx_burst(of(p)->port, pkts, n);
	for (uint16_t i = sent; i < n; i++)
		total -= pkts[i]->pkt_len;
	*bytes += total;
	hl_buf_free_bulk(pkts + sent, n - sent);
	return sent;
}

static bool shm_arm(struct hl_sw_port *p)
{
	return hl_shm_port_arm(of(p)->port);
}

static void shm_disarm(struct hl_sw_port *p)
{
	hl_shm_port_disarm(of(p)->port);
}

static int shm_set_wakeup(struct hl_sw_port *p, int epfd, uint64_t data)
{
	int fd = hl_shm_port_kick_fd(of(p)->port);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = data};
	if (fd < 0)
		return 0; /* polling only */
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return hl_error(-errno, "port %s: watch doorbell: %s", p->name, strerror(errno));
	return 0;
}

static void shm_stats(const struct hl_sw_port *p, struct hl_sw_port_stats *st)
{
	const struct sw_shm *s = cof(p);
	struct hl_shm_port_stats ps;
	hl_shm_port_stats(s->port, &ps);
	uint64_t rx_cp = __atomic_load_n(&s->rx_copied, __ATOMIC_RELAXED);
	uint64_t rx_nb = __atomic_load_n(&s->rx_no_buf, __ATOMIC_RELAXED);
	st->drops[HL_SW_DROP_BAD] = ps.c.bad_offset + ps.c.bad_len + ps.c.not_owned + ps.c.bad_chain + ps.c.bad_ol;
	st->drops[HL_SW_DROP_NO_BUF] = ps.no_buf + rx_nb;
	/* a frame needing an offload the peer stopped taking could not go there, like one too big */
	st->drops[HL_SW_DROP_TOO_BIG] = ps.too_big + ps.ol_unfit;
	st->zcopy_packets = ps.zcopy;
	st->copy_packets = ps.copied + rx_cp;
	st->errors = ps.c.ring_broken;
	hl_shm_port_ol_stats(s->port, &st->ol);
}

/*
 * What the peer takes as it is: offload metadata where it accepted it (TCP
 * segmentation only with chains, which a 64 KiB frame needs), frames up to
 * a chain's largest where it accepted chains, else one buffer's room.
 */
static void shm_offloads(const struct hl_sw_port *p, uint32_t *caps, uint32_t *max_frame)
{
	const struct hl_shm_port *sp = cof(p)->port;
	uint32_t f = hl_shm_port_features(sp);

	*caps = 0;
	if (f & HL_SHM_F_OFFLOAD)
		*caps = HL_OL_CAP_CSUM |
			(f & HL_SHM_F_CHAIN ? HL_OL_CAP_TSO4 | HL_OL_CAP_TSO6 | HL_OL_CAP_ECN : 0);
	*max_frame = hl_shm_port_max_frame(sp);
}

static const char *shm_state(const struct hl_sw_port *p)
{
	const struct sw_shm *s = cof(p);
	bool peer = hl_shm_port_peer_attached(s->port, NULL);
	if (s->isolated)
		return peer ? "isolated, peer attached" : "isolated, no peer";
	return peer ? "shared, peer attached" : "shared, no peer";
}

/* A peer that died or left leaves its buffers behind: the switch takes them back (shm_abi.h, liveness). */
static bool shm_needs_reset(struct hl_sw_port *p)
{
	return hl_shm_port_peer_gone(of(p)->port, hl_now_ns());
}

static int shm_reset(struct hl_sw_port *p, const char *why)
{
	return hl_shm_port_reset(of(p)->port, why);
}

/* The port, then (isolated) its bufpool and pool, whose files go with it. */
static void iso_teardown(struct sw_shm *s)
{
	if (s->port != NULL)
		hl_shm_port_destroy(s->port);
	s->port = NULL;
	if (s->ibp != NULL)
		hl_bufpool_free(s->ibp);
	s->ibp = NULL;
	if (s->pool != NULL && hl_pool_destroy(s->pool) < 0)
		HL_LOG_WARN("port %s: removing its pool: %s", s->sw.name, hl_last_error());
	s->pool = NULL;
}

static void shm_close(struct hl_sw_port *p)
{
	struct sw_shm *s = of(p);
	if (s->isolated)
		iso_teardown(s);
	else
		hl_shm_port_destroy(s->port);
	free(p);
}

/*
 * What both shm port kinds share: all but how they receive. A guest on the
 * BAR has no doorbell, so a worker with one armed looks at its ring every
 * millisecond.
 */
#define SHM_OPS_COMMON                                                                             \
	.kind = "shm", .tx = shm_tx, .arm = shm_arm, .disarm = shm_disarm, .set_wakeup = shm_set_wakeup, \
	.stats = shm_stats, .state = shm_state, .close = shm_close, .offloads = shm_offloads,            \
	.needs_reset = shm_needs_reset, .reset = shm_reset, .max_sleep_ms = 1

static const struct hl_sw_port_ops shm_ops = {
	SHM_OPS_COMMON,
	.rx = shm_rx,
	/* the peer's frames, their headers prefetched by hl_shm_port_rx_burst */
	.rx_in_flight = true,
};

/* The same port kind, but receiving across the boundary (a copy: nothing in flight). */
static const struct hl_sw_port_ops shm_iso_ops = {
	SHM_OPS_COMMON,
	.rx = shm_rx_isolated,
};

static bool is_shm(const struct hl_sw_port *p)
{
	return p != NULL && (p->ops == &shm_ops || p->ops == &shm_iso_ops);
}

/* ---- isolated ports: their own pool ---------------------------------------------- */

/* Copy the directory part of path into buf ("." without one); false if it does not fit. */
static bool dir_of(const char *path, char *buf, size_t n)
{
	const char *slash = strrchr(path, '/');
	int w = slash == NULL ? snprintf(buf, n, ".")
			      : snprintf(buf, n, "%.*s", slash == path ? 1 : (int)(slash - path), path);
	return w > 0 && (size_t)w < n;
}

/*
 * "<pool>.<port>", or when that exceeds a pool name, the pool's name cut
 * short and a hash of the port's name: the same every time, so a restarted
 * switch finds the pool again.
 */
static int iso_pool_name(const char *main, const char *port, char *buf, size_t n)
{
	/* the name becomes file names: nothing that could climb out of a directory */
	for (const char *c = port; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		      *c == '-' || *c == '_' || *c == '.'))
			return hl_error(-EINVAL, "port %s: an isolated port's name takes letters, digits, '-', '_' and '.'",
					port);
	if (port[0] == '.')
		return hl_error(-EINVAL, "port %s: an isolated port's name may not start with '.'", port);
	char tmp[2 * HL_META_NAME_LEN + 2];
	snprintf(tmp, sizeof(tmp), "%s.%s", main, port);
	if (strlen(tmp) < HL_META_NAME_LEN && strlen(tmp) < n) {
		snprintf(buf, n, "%s", tmp);
		return 0;
	}
	if (n < HL_META_NAME_LEN)
		return hl_error(-ENAMETOOLONG, "port %s: no room for its pool's name", port);
	uint32_t h = hl_crc32c(0, port, strlen(port));
	snprintf(buf, n, "%.*s.%08x", HL_META_NAME_LEN - 10, main, h);
	return 0;
}

/* Bytes for a header page, the bufpool's pages and one page for rings and the owner table. */
static uint64_t iso_pool_size(uint32_t room)
{
	uint32_t stride = HL_ALIGN_UP(room, (uint32_t)HL_CACHE_LINE);
	uint64_t per_page = ISO_PAGE / stride;
	uint64_t pages = (ISO_BUFS + per_page - 1) / per_page;
	return (pages + 2) * ISO_PAGE;
}

/*
 * Take over the pool a killed switch left: resolve its port's half-done
 * bursts, adopt its bufpool with what the peer holds left with it, and
 * serve the port. Ports that should not be there (a peer can write the
 * pool's owner table) are removed.
 */
static int iso_take_over(struct sw_shm *s, const char *record)
{
	struct hl_shm_recover_report rep;
	int rc = hl_pool_attach(record, HL_POOL_F_OWNER, &s->pool);
	if (rc < 0)
		return rc;
	rc = hl_shm_recover(s->pool, 0, &s->ibp, &rep);
	if (rc < 0)
		return rc;
	uint64_t off, len;
	if (hl_pool_zone_lookup(s->pool, HL_SHM_OWNER_ZONE, &off, &len) == 0 &&
	    len >= sizeof(struct hl_shm_owner_hdr)) {
		const struct hl_shm_owner_hdr *oh = hl_pool_off2va(s->pool, off);
		for (unsigned id = 0; id < HL_SHM_MAX_PORTS; id++) {
			char zname[HL_ZONE_NAME_LEN];
			struct hl_shm_port *other;
			memcpy(zname, oh->ports[id], sizeof(zname));
			zname[sizeof(zname) - 1] = '\0';
			size_t pl = strlen(HL_SHM_ZONE_PREFIX);
			if (strncmp(zname, HL_SHM_ZONE_PREFIX, pl) != 0 || strcmp(zname + pl, s->sw.name) == 0)
				continue;
			if (hl_shm_port_claim(s->pool, zname + pl, &other) == 0) {
				HL_LOG_WARN("port %s: its pool held a port %s; removed", s->sw.name, zname + pl);
				hl_shm_port_destroy(other);
			}
		}
	}
	rc = hl_shm_port_claim(s->pool, s->sw.name, &s->port);
	if (rc == -ENOENT) /* the switch died creating it */
		rc = hl_shm_port_create(s->pool, s->ibp, s->sw.name, 0, &s->port);
	if (rc < 0)
		return rc;
	HL_LOG_INFO("port %s: took over its pool %s: %u buffers left with the peer, %u reclaimed", s->sw.name,
		    record, rep.kept, rep.reclaimed);
	return 0;
}

static int iso_create(struct sw_shm *s, struct hl_pool *main_pool, struct hl_bufpool *bp)
{
	struct hl_pool_info mi;
	struct hl_bufpool_geom g;
	char name[HL_META_NAME_LEN], run_dir[256], mem_dir[256], record[512];
	int rc;

	hl_pool_get_info(main_pool, &mi);
	hl_bufpool_geom(bp, &g);
	if ((rc = iso_pool_name(mi.name, s->sw.name, name, sizeof(name))) < 0)
		return rc;
	if (!dir_of(mi.record_path, run_dir, sizeof(run_dir)) || !dir_of(mi.file_path, mem_dir, sizeof(mem_dir)))
		return hl_error(-ENAMETOOLONG, "port %s: its pool's paths are too long", s->sw.name);
	snprintf(record, sizeof(record), "%s/%s.meta", run_dir, name);

	if (access(record, F_OK) == 0) {
		rc = iso_take_over(s, record);
		if (rc == 0)
			return 0;
		if (rc == -EBUSY && s->pool == NULL)
			return hl_error(-EBUSY, "port %s: its pool %s is in use by a live switch", s->sw.name,
					record);
		HL_LOG_WARN("port %s: cannot take over %s (%s): starting afresh", s->sw.name, record,
			    hl_last_error());
		iso_teardown(s);
		rc = hl_pool_clean(record);
		if (rc == -EBUSY)
			return rc;
		/* a record that does not parse names nothing we may remove; it
		 * only stands in the way (a stale file of ours is replaced below) */
		if (rc < 0 && rc != -ENOENT && unlink(record) < 0 && errno != ENOENT)
			return hl_error(-errno, "port %s: cannot remove %s: %s", s->sw.name, record,
					strerror(errno));
	}

	/* the switch's kind of memory, in 2 MiB pages (a 1 GiB page would be mostly waste) */
	struct hl_pool_params prm = {.name = name, .size = iso_pool_size(g.data_room), .run_dir = run_dir,
				     .page_size = ISO_PAGE, .flags = HL_POOL_F_REPLACE};
	if (!mi.hugepages) {
		prm.flags |= HL_POOL_F_NO_HUGE;
		prm.shm_dir = mem_dir;
	} else if (mi.page_size == ISO_PAGE) {
		prm.hugepage_dir = mem_dir;
	}
	if ((rc = hl_pool_create(&prm, &s->pool)) < 0 ||
	    (rc = hl_bufpool_create(s->pool, ISO_BP_NAME, ISO_BUFS, g.data_room, 0, &s->ibp)) < 0 ||
	    (rc = hl_shm_port_create(s->pool, s->ibp, s->sw.name, 0, &s->port)) < 0) {
		iso_teardown(s);
		return rc;
	}
	return 0;
}

static void set_record(struct sw_shm *s)
{
	struct hl_pool_info in;
	hl_pool_get_info(s->pool, &in);
	snprintf(s->record, sizeof(s->record), "%s", in.record_path);
}

int hl_sw_port_shm_create(struct hl_pool *pool, struct hl_bufpool *bp, const char *name,
			  bool isolated, struct hl_sw_port **out)
{
	if (name == NULL || name[0] == '\0' || strlen(name) >= HL_SW_NAME_LEN)
		return hl_error(-EINVAL, "port name must be 1..%d characters", HL_SW_NAME_LEN - 1);
	if (pool == NULL || bp == NULL || out == NULL)
		return hl_error(-EINVAL, "port %s: pool, bufpool or out is NULL", name);
	struct sw_shm *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return hl_error(-ENOMEM, "port %s: out of memory", name);
	s->sw.ops = isolated ? &shm_iso_ops : &shm_ops;
	s->isolated = isolated;
	strcpy(s->sw.name, name);
	int rc;
	if (isolated) {
		struct hl_shm_port *clash;
		/* one name, one port: not also a shared one in the switch's pool */
		if (hl_shm_port_find(pool, name, &clash) == 0)
			rc = hl_error(-EEXIST, "port %s: a shared shm port of that name exists", name);
		else
			rc = iso_create(s, pool, bp);
		if (rc < 0) {
			free(s);
			return rc;
		}
		set_record(s);
		*out = &s->sw;
		return 0;
	}
	s->pool = pool;
	/* a port recovered from a crashed switch is taken over as it is */
	rc = hl_shm_port_find(pool, name, &s->port);
	if (rc == 0 && hl_shm_port_bufpool(s->port) != bp)
		rc = hl_error(-EBUSY, "port %s: recovered with another bufpool", name);
	else if (rc == 0)
		rc = hl_shm_port_claim(pool, name, &s->port);
	else
		rc = hl_shm_port_create(pool, bp, name, 0, &s->port);
	if (rc < 0) {
		free(s);
		return rc;
	}
	set_record(s);
	*out = &s->sw;
	return 0;
}

struct hl_shm_port *hl_sw_port_shm(const struct hl_sw_port *p)
{
	return is_shm(p) ? cof(p)->port : NULL;
}

bool hl_sw_port_shm_isolated(const struct hl_sw_port *p)
{
	return is_shm(p) && cof(p)->isolated;
}

int hl_sw_port_shm_pool_info(const struct hl_sw_port *p, struct hl_pool_info *info)
{
	if (!is_shm(p))
		return hl_error(-EINVAL, "port %s is not a shm port", p != NULL ? p->name : "(null)");
	return hl_pool_get_info(cof(p)->pool, info);
}

const char *hl_sw_port_shm_record(const struct hl_sw_port *p)
{
	return is_shm(p) ? cof(p)->record : NULL;
}
