/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shm ports, peer side: what a process (or a guest program behind a BAR)
 * links to use a port of the switch's pool (API in shm_peer.h, format in
 * shm_abi.h).
 *
 * Invariants:
 *   - everything read from the pool is checked once at attach (pool header,
 *     zone table, control block, the bufpool's geometry against the mapped
 *     length) and copied into this struct; the data path reads only the
 *     private copies and the rings, and of the control block only
 *     kick_armed;
 *   - descriptors the switch writes are checked like the switch checks the
 *     peer's (offset exactly at a data start inside the bufpool, length in
 *     bounds) before the peer dereferences base + offset: a switch bug or a
 *     hostile co-peer scribbling on our rings cannot make us read or write
 *     outside the mapping;
 *   - frames from the switch are checked as the switch checks the peer's:
 *     a run of MORE slots within what was published, at most
 *     HL_SHM_SEGS_MAX, only with the features this peer accepted, OL on a
 *     first slot, an offload entry whose checksum field lies in the frame.
 *     A frame that breaks a rule is skipped whole (counted bad_desc), and
 *     its buffers handed back on done where they are buffers, so a frame
 *     this peer cannot take (one left from a peer before it with other
 *     features) costs no buffer;
 *   - the peer owns its indices of tx and done (producer) and rx and fill
 *     (consumer), kept in its private ring views;
 *   - ctrl->peer_pid is taken with a compare-and-swap, so two peers do not
 *     share a port, and before the rings are opened, so a reset by the
 *     switch (HL_SHM_PEER_RESETTING) is never half seen; a pid left by a
 *     dead peer is taken over only where the switch does not judge
 *     liveness (HL_SHM_F_BEAT): where it does, the attach waits for the
 *     switch to take the dead peer's buffers back first;
 *   - with HL_SHM_F_BEAT, every 8th burst call stores a new peer_beat (a
 *     line the switch reads rarely), and hl_shm_peer_beat() does at once.
 *   - the doorbell FIFO is opened read-write, so a write never meets "no
 *     reader" (no SIGPIPE while the switch is down) and never blocks; after
 *     publishing on tx or done the peer kicks only if the switch armed it
 *     (ordering at kick_armed in shm_abi.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hugelink/buf.h>
#include <hugelink/pool.h>
#include <hugelink/pool_meta.h>
#include <hugelink/shm_peer.h>

struct hl_shm_peer {
	struct hl_pool *pool; /* ours to detach, when we mapped it */
	uint8_t *base;
	size_t len;
	struct hl_shm_ctrl *ctrl;
	struct hl_shm_ring ring[HL_SHM_NRINGS];
	uint64_t first;    /* lowest valid offset: zone_off + headroom */
	uint64_t zone_off, zone_end;
	uint64_t page_mask;
	unsigned page_shift;
	struct hl_div32 by_stride;
	uint32_t stride, per_page, n, max_len;
	uint32_t pid;
	uint32_t feat; /* HL_SHM_F_* in effect: asked for and offered */
	uint32_t calls, beats; /* bursts so far; the last beat stored */
	int kick_fd; /* -1: no doorbell */
	struct hl_shm_peer_stats st;
};

/* Is d a packet of at least len_min bytes at a data start of the bufpool? */
static inline bool desc_ok(const struct hl_shm_peer *pe, uint64_t d, uint32_t len_min)
{
	uint64_t off = hl_shm_desc_off(d);
	uint32_t len = hl_shm_desc_len(d);

	if (hl_unlikely(off < pe->first || off >= pe->zone_end || len < len_min || len > pe->max_len))
		return false;
	uint64_t rel = off - pe->first;
	bool exact;
	uint32_t slot = hl_div32(pe->by_stride, (uint32_t)(rel & pe->page_mask), &exact);
	return exact && slot < pe->per_page && (rel >> pe->page_shift) * pe->per_page + slot < pe->n;
}

/* ---- attach ------------------------------------------------------------------- */

/* Find zone `name` in the zone table of the pool at base; copies the entry. */
static int find_zone(const uint8_t *base, size_t len, const char *name, uint64_t *off, uint64_t *zlen)
{
	const struct hl_pool_hdr *h = (const struct hl_pool_hdr *)base;

	if (len < sizeof(*h) || h->magic != HL_POOL_HDR_MAGIC || h->version != HL_POOL_HDR_VERSION)
		return hl_error(-EBADMSG, "shm attach: no hugelink pool header at the start of the memory");
	/* the record copy must describe a pool that fits the mapping; checked
	 * on a private copy, since other peers can write the shared one */
	uint64_t roff = h->record_off, rlen = h->record_len;
	if (rlen < sizeof(struct hl_meta_hdr) || rlen > (1u << 20) || roff % 8 != 0 || roff + rlen > len)
		return hl_error(-EBADMSG, "shm attach: the pool's record copy is out of bounds");
	void *rec = malloc(rlen);
	if (rec == NULL)
		return hl_error(-ENOMEM, "shm attach: out of memory");
	memcpy(rec, base + roff, rlen);
	struct hl_meta_view mv;
	int rc = hl_meta_parse(rec, rlen, &mv);
	uint64_t pool_size = rc == 0 ? mv.hdr->pool_size : 0;
	free(rec);
	if (rc < 0)
		return rc;
	if (pool_size > len)
		return hl_error(-EBADMSG, "shm attach: the pool (%llu bytes) is larger than the mapping (%zu)",
				(unsigned long long)pool_size, len);
	uint64_t zoff = h->zones_off, zmax = h->zones_max;
	if (zmax > HL_POOL_ZONES_MAX || zoff + zmax * sizeof(struct hl_pool_zone) > len)
		return hl_error(-EBADMSG, "shm attach: the pool's zone table is out of bounds");
	const struct hl_pool_zone *z = (const struct hl_pool_zone *)(base + zoff);

	for (int tries = 0; tries < 1000; tries++) {
		uint64_t s0 = __atomic_load_n(&h->zone_seq, __ATOMIC_ACQUIRE);
		struct hl_pool_zone e;
		bool found = false;
		if (s0 & 1) {
			usleep(100);
			continue;
		}
		for (uint64_t i = 0; i < zmax && !found; i++) {
			memcpy(&e, &z[i], sizeof(e));
			found = (e.state & HL_ZONE_USED) && strncmp(e.name, name, sizeof(e.name)) == 0;
		}
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&h->zone_seq, __ATOMIC_RELAXED) != s0)
			continue;
		if (!found)
			return hl_error(-ENOENT, "shm attach: no zone %s in the pool", name);
		if (e.len == 0 || e.off + e.len < e.off || e.off + e.len > len)
			return hl_error(-EBADMSG, "shm attach: zone %s is out of bounds", name);
		*off = e.off;
		*zlen = e.len;
		return 0;
	}
	return hl_error(-EAGAIN, "shm attach: the zone table stays busy");
}

/* Check the control block against the mapping and keep what the data path needs. */
static int check_ctrl(struct hl_shm_peer *pe, const char *zname, uint64_t zone_len)
{
	const struct hl_shm_ctrl *c = pe->ctrl;
	uint32_t rs = c->ring_size;

	if (__atomic_load_n(&c->magic, __ATOMIC_ACQUIRE) != HL_SHM_MAGIC)
		return hl_error(-EBADMSG, "shm attach: %s has no port control block", zname);
	if (c->version != HL_SHM_VERSION || c->ctrl_size != sizeof(*c))
		return hl_error(-EPROTONOSUPPORT,
				"shm attach: %s speaks shm format %u (a %u-byte control block), this peer %u "
				"(%zu bytes): run a switch and peers built from the same release",
				zname, c->version, c->ctrl_size, HL_SHM_VERSION, sizeof(*c));
	if (!HL_IS_POW2(rs) || rs < HL_SHM_RING_MIN || rs > HL_SHM_RING_MAX || c->zone_len != zone_len)
		return hl_error(-EBADMSG, "shm attach: %s: ring_size %u or zone_len bad", zname, rs);
	for (unsigned r = 0; r < HL_SHM_NRINGS; r++)
		if (c->ring_off[r] < sizeof(*c) || c->ring_off[r] % HL_SHM_CACHE_LINE != 0 ||
		    c->ring_off[r] > zone_len || zone_len - c->ring_off[r] < hl_shm_ring_memsize(rs))
			return hl_error(-EBADMSG, "shm attach: %s: ring %u out of the zone", zname, r);

	uint64_t ps = c->bp_page_size, zo = c->bp_zone_off, zl = c->bp_zone_len;
	uint32_t room = c->bp_room, stride = c->bp_stride, per = c->bp_per_page, n = c->bp_n;
	if (!HL_IS_POW2(ps) || ps < 4096 || ps > (1ull << 31) || c->headroom != HL_BUF_HEADROOM ||
	    room <= HL_BUF_HEADROOM || room - HL_BUF_HEADROOM > HL_SHM_LEN_MAX || stride < room || stride % HL_CACHE_LINE != 0 ||
	    stride > ps || per != ps / stride || n == 0)
		return hl_error(-EBADMSG, "shm attach: %s: bufpool geometry makes no sense", zname);
	if (zo + zl < zo || zo + zl > pe->len)
		return hl_error(-EBADMSG, "shm attach: %s: bufpool zone out of the mapping", zname);
	uint64_t last = zo + (uint64_t)((n - 1) / per) * ps + (uint64_t)((n - 1) % per) * stride;
	if (last + room > zo + zl || last < zo)
		return hl_error(-EBADMSG, "shm attach: %s: %u buffers do not fit the bufpool zone", zname, n);

	pe->zone_off = zo;
	pe->zone_end = zo + zl;
	pe->first = zo + HL_BUF_HEADROOM;
	pe->page_mask = ps - 1;
	pe->page_shift = (unsigned)__builtin_ctzll(ps);
	pe->stride = stride;
	pe->by_stride = hl_div32_init(stride);
	pe->per_page = per;
	pe->n = n;
	pe->max_len = room - HL_BUF_HEADROOM;
	return 0;
}

/* How long an attach waits for the switch to reset a port whose peer died. */
#define CLAIM_WAIT_NS (2ull * HL_SHM_BEAT_DEAD_MS * 1000000ull)

/* Take the port: our pid in, unless a live peer's is there; then what we accept. */
static int claim(struct hl_shm_peer *pe, const char *zname, uint32_t want)
{
	uint32_t me = (uint32_t)getpid(), cur = 0;
	uint32_t offered = __atomic_load_n(&pe->ctrl->features_offered, __ATOMIC_RELAXED);
	uint64_t t0 = hl_now_ns();

	while (!__atomic_compare_exchange_n(&pe->ctrl->peer_pid, &cur, me, 0, __ATOMIC_ACQ_REL,
					    __ATOMIC_ACQUIRE)) {
		bool resetting = cur == HL_SHM_PEER_RESETTING;
		bool dead = !resetting && kill((pid_t)cur, 0) < 0 && errno == ESRCH;
		if (cur == me || (dead && (!(offered & HL_SHM_F_BEAT) || (want & HL_SHM_ATTACH_TAKEOVER))))
			continue; /* our own stale claim, or a dead peer's taken over as it is */
		if ((resetting || dead) && hl_now_ns() - t0 < CLAIM_WAIT_NS) {
			usleep(10000); /* the switch is (about to be) taking the port back */
			cur = 0;
			continue;
		}
		if (resetting || dead)
			return hl_error(-EBUSY, "shm attach: %s: its last peer (pid %u) died and the switch has not "
						"taken the port back", zname, resetting ? 0 : cur);
		return hl_error(-EBUSY, "shm attach: %s is taken by pid %u", zname, cur);
	}
	pe->pid = me;
	/* beating is this library's, so every peer that links it accepts it */
	pe->feat = (want | HL_SHM_F_BEAT) & HL_SHM_F_ALL & offered;
	/* before peer_gen: a switch that sees the new peer sees what it takes */
	__atomic_store_n(&pe->ctrl->features, pe->feat, __ATOMIC_RELEASE);
	__atomic_store_n(&pe->ctrl->peer_beat, ++pe->beats, __ATOMIC_RELAXED);
	__atomic_fetch_add(&pe->ctrl->peer_gen, 1, __ATOMIC_RELEASE);
	return 0;
}

static void unclaim(struct hl_shm_peer *pe)
{
	uint32_t me = pe->pid;
	__atomic_compare_exchange_n(&pe->ctrl->peer_pid, &me, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

void hl_shm_peer_beat(struct hl_shm_peer *pe)
{
	if (pe->feat & HL_SHM_F_BEAT)
		__atomic_store_n(&pe->ctrl->peer_beat, ++pe->beats, __ATOMIC_RELAXED);
}

/* Once every 8 bursts: often enough for any peer that polls, rarely enough to cost nothing. */
static inline void beat(struct hl_shm_peer *pe)
{
	if (hl_unlikely((++pe->calls & 7) == 0))
		hl_shm_peer_beat(pe);
}

int hl_shm_attach_mem(void *base, size_t len, const char *port, struct hl_shm_peer **out)
{
	return hl_shm_attach_mem_features(base, len, port, 0, out);
}

int hl_shm_attach_mem_features(void *base, size_t len, const char *port, uint32_t features,
			       struct hl_shm_peer **out)
{
	char zname[HL_SHM_ZONE_NAME_LEN];
	uint64_t off = 0, zlen = 0;
	int rc;

	if (base == NULL || port == NULL || out == NULL)
		return hl_error(-EINVAL, "shm attach: base, port or out is NULL");
	if (port[0] == '\0' || strlen(port) + strlen(HL_SHM_ZONE_PREFIX) >= sizeof(zname))
		return hl_error(-EINVAL, "shm attach: bad port name");
	snprintf(zname, sizeof(zname), HL_SHM_ZONE_PREFIX "%s", port);
	rc = find_zone(base, len, zname, &off, &zlen);
	if (rc < 0)
		return rc;
	if (zlen < sizeof(struct hl_shm_ctrl) || off % HL_SHM_CACHE_LINE != 0)
		return hl_error(-EBADMSG, "shm attach: zone %s is too small or misaligned", zname);

	struct hl_shm_peer *pe = calloc(1, sizeof(*pe));
	if (pe == NULL)
		return hl_error(-ENOMEM, "shm attach: out of memory");
	pe->base = base;
	pe->len = len;
	pe->kick_fd = -1;
	pe->ctrl = (struct hl_shm_ctrl *)((uint8_t *)base + off);
	rc = check_ctrl(pe, zname, zlen);
	if (rc < 0)
		goto fail;
	/* the port first, then its rings: a reset the switch finished before our claim is behind us */
	rc = claim(pe, zname, features);
	if (rc < 0)
		goto fail;
	for (unsigned r = 0; r < HL_SHM_NRINGS; r++) {
		bool producer = r == HL_SHM_RING_TX || r == HL_SHM_RING_DONE;
		rc = hl_shm_ring_open(&pe->ring[r], (uint8_t *)pe->ctrl + pe->ctrl->ring_off[r],
				      pe->ctrl->ring_size, producer);
		if (rc < 0) {
			unclaim(pe);
			goto fail;
		}
	}
	*out = pe;
	return 0;
fail:
	free(pe);
	return rc;
}

int hl_shm_attach(const char *record, const char *port, struct hl_shm_peer **out)
{
	return hl_shm_attach_features(record, port, 0, out);
}

int hl_shm_attach_features(const char *record, const char *port, uint32_t features, struct hl_shm_peer **out)
{
	struct hl_pool *pool;
	struct hl_pool_info info;
	int rc;

	if (record == NULL || out == NULL)
		return hl_error(-EINVAL, "shm attach: record or out is NULL");
	rc = hl_pool_attach(record, 0, &pool);
	if (rc < 0)
		return rc;
	hl_pool_get_info(pool, &info);
	rc = hl_shm_attach_mem_features(info.va, info.size, port, features, out);
	if (rc < 0) {
		hl_pool_detach(pool);
		return rc;
	}
	(*out)->pool = pool;

	/* the doorbell sits next to the record; without it the switch polls */
	char path[512];
	struct stat st;
	const char *slash = strrchr(record, '/');
	int dir = slash != NULL ? (int)(slash - record) : 1;
	int w = snprintf(path, sizeof(path), "%.*s/%s.shm.%s.kick", dir, slash != NULL ? record : ".",
			 info.name, port);
	if (w > 0 && (size_t)w < sizeof(path)) {
		int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0 && fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode))
			(*out)->kick_fd = fd;
		else if (fd >= 0)
			close(fd);
	}
	return 0;
}

void hl_shm_detach(struct hl_shm_peer *pe)
{
	if (pe == NULL)
		return;
	/* features stay as they are: frames published with them are still to be taken */
	unclaim(pe);
	if (pe->kick_fd >= 0)
		close(pe->kick_fd);
	if (pe->pool != NULL)
		hl_pool_detach(pe->pool);
	free(pe);
}

/* ---- data path ------------------------------------------------------------------- */

/* want > 0: a producer that needs that much space (hl_shm_ring_space) */
static uint32_t avail(struct hl_shm_peer *pe, enum hl_shm_ring_id id, uint32_t want)
{
	struct hl_shm_ring *r = &pe->ring[id];
	uint64_t before = r->broken_events;
	uint32_t n = want > 0 ? hl_shm_ring_space(r, want) : hl_shm_ring_avail(r);
	if (hl_unlikely(r->broken_events != before))
		pe->st.ring_broken++;
	return n;
}

/* The slot's descriptor as an entry of one buffer, its fetch started. */
static inline void entry(struct hl_shm_peer *pe, struct hl_shm_pkt *pk, uint64_t d, bool for_read)
{
	pk->data = pe->base + hl_shm_desc_off(d);
	/* the caller reads a received frame, writes a fresh one: the line
	 * may sit in the switch's cache, so start fetching it now */
	if (for_read)
		__builtin_prefetch(pk->data, 0);
	else
		hl_prefetch_w(pk->data);
	pk->len = pk->pkt_len = hl_shm_desc_len(d);
	pk->flags = 0;
	pk->nsegs = 1;
	pk->desc = d & ~HL_SHM_DESC_FLAGS;
}

unsigned hl_shm_tx_alloc(struct hl_shm_peer *pe, struct hl_shm_pkt *pkts, unsigned n)
{
	struct hl_shm_ring *r = &pe->ring[HL_SHM_RING_FILL];
	uint32_t k = avail(pe, HL_SHM_RING_FILL, 0);
	unsigned m = 0;

	if (k > n)
		k = n;
	for (uint32_t i = 0; i < k; i++) {
		uint64_t d = hl_shm_ring_get(r, i);
		if (hl_unlikely((d & HL_SHM_DESC_FLAGS) || !desc_ok(pe, d, 0))) {
			pe->st.bad_desc++;
			continue;
		}
		entry(pe, &pkts[m++], d, false);
	}
	if (k > 0)
		hl_shm_ring_publish(r, k);
	pe->st.allocated += m;
	return m;
}

enum { RX_OK, RX_WAIT, RX_BAD, RX_UNTAKEN };

/*
 * Slots [i, i + *nsegs) of rx as one frame, its segments checked, into
 * pkts (room for `room` entries): RX_OK. RX_BAD for slots that make no
 * frame or name no buffer, RX_UNTAKEN for a frame of good buffers this
 * peer cannot take (a feature it did not accept, e.g. left from a peer
 * before it; an entry that points outside the frame), its entries in pkts
 * all the same: *nsegs is how many slots either takes. RX_WAIT: a frame
 * that does not fit pkts, left for the next call.
 */
static int rx_frame(struct hl_shm_peer *pe, const struct hl_shm_ring *r, uint32_t i, uint32_t k,
		    struct hl_shm_pkt *pkts, unsigned room, uint32_t *nsegs)
{
	uint32_t e = i, bytes = 0;
	uint64_t d = hl_shm_ring_get(r, i), first = d;
	int verdict = RX_OK;

	while ((d & HL_SHM_DESC_MORE) && e + 1 < k && e + 1 - i < HL_SHM_SEGS_MAX)
		d = hl_shm_ring_get(r, ++e);
	*nsegs = e - i + 1;
	if (d & HL_SHM_DESC_MORE)
		return RX_BAD; /* cut off by the published index, or too long */
	if (*nsegs > room)
		return RX_WAIT;
	if ((*nsegs > 1 && !(pe->feat & HL_SHM_F_CHAIN)) || ((first & HL_SHM_DESC_OL) && !(pe->feat & HL_SHM_F_OFFLOAD)))
		verdict = RX_UNTAKEN;
	for (uint32_t j = 0; j < *nsegs; j++) {
		d = hl_shm_ring_get(r, i + j);
		if (!desc_ok(pe, d, 1) || (j > 0 && (d & HL_SHM_DESC_OL)))
			return RX_BAD;
		entry(pe, &pkts[j], d, true);
		if (j + 1 < *nsegs)
			pkts[j].flags = HL_SHM_PKT_MORE;
		bytes += pkts[j].len;
	}
	if (bytes > HL_SHM_FRAME_MAX || verdict != RX_OK)
		return RX_UNTAKEN;
	pkts[0].nsegs = (uint16_t)*nsegs;
	pkts[0].pkt_len = bytes;
	if (first & HL_SHM_DESC_OL) {
		struct hl_shm_ol *ol = &pkts[0].ol;
		hl_shm_ring_get_ol(r, i, ol);
		/* where a receiver would write the checksum must be in the frame */
		if (ol->hdr_len > bytes || ((ol->flags & HL_SHM_OL_F_CSUM_PARTIAL) &&
					    (uint32_t)ol->csum_start + ol->csum_offset + 2u > bytes))
			return RX_UNTAKEN;
		pkts[0].flags |= HL_SHM_PKT_OL;
	}
	return RX_OK;
}

unsigned hl_shm_rx_burst(struct hl_shm_peer *pe, struct hl_shm_pkt *pkts, unsigned n)
{
	struct hl_shm_ring *r = &pe->ring[HL_SHM_RING_RX];
	uint32_t k = avail(pe, HL_SHM_RING_RX, 0), i = 0, lim = k < n ? k : n;
	unsigned m = 0, frames;

	beat(pe);
	/* plain frames as long as they last: a slot, an entry */
	for (; i < lim; i++) {
		uint64_t d = hl_shm_ring_get(r, i);
		if (hl_unlikely(d & HL_SHM_DESC_FLAGS))
			break;
		if (hl_likely(desc_ok(pe, d, 1)))
			entry(pe, &pkts[m++], d, true);
		else
			pe->st.bad_desc++;
	}
	frames = m;
	while (i < k && m < n) {
		uint64_t d = hl_shm_ring_get(r, i);
		if (!(d & HL_SHM_DESC_FLAGS)) {
			if (hl_likely(desc_ok(pe, d, 1))) {
				entry(pe, &pkts[m++], d, true);
				frames++;
			} else {
				pe->st.bad_desc++;
			}
			i++;
			continue;
		}
		uint32_t ns;
		int v = rx_frame(pe, r, i, k, pkts + m, n - m, &ns);
		if (v == RX_WAIT)
			break;
		if (v == RX_OK) {
			m += ns;
			frames++;
		} else {
			pe->st.bad_desc++;
			/* buffers are buffers: ours to give back, so none is lost with us */
			if (v == RX_UNTAKEN)
				hl_shm_release(pe, pkts + m, ns);
		}
		i += ns;
	}
	if (i > 0)
		hl_shm_ring_publish(r, i);
	pe->st.rx_packets += frames;
	return m;
}

/*
 * The frame at pkts[0..): its entries (MORE on all but the last), checked
 * against the rules and the features in effect; 0 when it breaks one or
 * ends without its last entry.
 */
static unsigned tx_frame_len(const struct hl_shm_peer *pe, const struct hl_shm_pkt *pkts, unsigned n)
{
	unsigned e = 0;
	uint32_t bytes = 0;

	while (e < n && (pkts[e].flags & HL_SHM_PKT_MORE))
		e++;
	if (e == n || e + 1 > HL_SHM_SEGS_MAX || (e > 0 && !(pe->feat & HL_SHM_F_CHAIN)) ||
	    ((pkts[0].flags & HL_SHM_PKT_OL) && !(pe->feat & HL_SHM_F_OFFLOAD)))
		return 0;
	for (unsigned j = 0; j <= e; j++) {
		if ((j > 0 && (pkts[j].flags & HL_SHM_PKT_OL)) ||
		    !desc_ok(pe, hl_shm_desc(hl_shm_desc_off(pkts[j].desc), pkts[j].len), 1))
			return 0;
		bytes += pkts[j].len;
	}
	return bytes <= HL_SHM_FRAME_MAX ? e + 1 : 0;
}

/* Publish i slots of a ring the peer produces, and ring the doorbell if the switch sleeps. */
static void publish_kick(struct hl_shm_peer *pe, struct hl_shm_ring *r, uint32_t i)
{
	hl_shm_ring_publish(r, i);
	hl_smp_mb();
	if (pe->kick_fd >= 0 && __atomic_load_n(&pe->ctrl->kick_armed, __ATOMIC_RELAXED)) {
		/* a full FIFO already holds a kick */
		if (write(pe->kick_fd, "k", 1) == 1)
			pe->st.kicks++;
	}
}

unsigned hl_shm_tx_burst(struct hl_shm_peer *pe, const struct hl_shm_pkt *pkts, unsigned n)
{
	struct hl_shm_ring *r = &pe->ring[HL_SHM_RING_TX];
	uint32_t k = avail(pe, HL_SHM_RING_TX, n), i = 0;
	unsigned frames;

	beat(pe);
	if (k > n)
		k = n;
	/* plain frames as long as they last */
	for (; i < k && !pkts[i].flags; i++) {
		uint64_t d = hl_shm_desc(hl_shm_desc_off(pkts[i].desc), pkts[i].len);
		if (hl_unlikely(!desc_ok(pe, d, 1))) {
			frames = i;
			goto out;
		}
		hl_shm_ring_put(r, i, d);
	}
	frames = i;
	while (i < k) {
		const struct hl_shm_pkt *pk = &pkts[i];
		unsigned ns;
		if (!pk->flags) {
			uint64_t d = hl_shm_desc(hl_shm_desc_off(pk->desc), pk->len);
			if (hl_unlikely(!desc_ok(pe, d, 1)))
				break;
			hl_shm_ring_put(r, i, d);
			ns = 1;
		} else {
			ns = tx_frame_len(pe, pk, n - i);
			if (ns == 0 || ns > k - i)
				break;
			if (pk->flags & HL_SHM_PKT_OL)
				hl_shm_ring_put_ol(r, i, &pk->ol);
			for (unsigned j = 0; j < ns; j++) {
				uint64_t d = hl_shm_desc(hl_shm_desc_off(pk[j].desc), pk[j].len);
				if (j + 1 < ns)
					d |= HL_SHM_DESC_MORE;
				if (j == 0 && (pk->flags & HL_SHM_PKT_OL))
					d |= HL_SHM_DESC_OL;
				hl_shm_ring_put(r, i + j, d);
			}
		}
		i += ns;
		frames++;
	}
out:
	if (i > 0)
		publish_kick(pe, r, i);
	pe->st.tx_packets += frames;
	return i;
}

unsigned hl_shm_release(struct hl_shm_peer *pe, const struct hl_shm_pkt *pkts, unsigned n)
{
	struct hl_shm_ring *r = &pe->ring[HL_SHM_RING_DONE];
	uint32_t k = avail(pe, HL_SHM_RING_DONE, n), i;

	if (k > n)
		k = n;
	for (i = 0; i < k; i++) {
		uint64_t d = pkts[i].desc & ~HL_SHM_DESC_FLAGS;
		if (hl_unlikely(!desc_ok(pe, d, 0)))
			break;
		hl_shm_ring_put(r, i, d);
	}
	if (i > 0)
		publish_kick(pe, r, i);
	pe->st.released += i;
	return i;
}

/* ---- introspection ------------------------------------------------------------------ */

void hl_shm_peer_stats(const struct hl_shm_peer *pe, struct hl_shm_peer_stats *st)
{
	*st = pe->st;
}

uint32_t hl_shm_peer_mtu(const struct hl_shm_peer *pe)
{
	return pe->max_len;
}

uint32_t hl_shm_peer_features(const struct hl_shm_peer *pe)
{
	return pe->feat;
}

struct hl_shm_ring *hl_shm_peer_ring(struct hl_shm_peer *pe, enum hl_shm_ring_id id)
{
	return (unsigned)id < HL_SHM_NRINGS ? &pe->ring[id] : NULL;
}

const struct hl_shm_ctrl *hl_shm_peer_ctrl(const struct hl_shm_peer *pe)
{
	return pe->ctrl;
}
