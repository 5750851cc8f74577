/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the switch's read of shm slots (shm_abi.h,
 * format 2): the input is what a hostile peer writes on its tx and done
 * rings, descriptors with MORE and OL set as it likes, offload entries of
 * its own, and the bytes of its buffers. The switch takes the bursts
 * (hl_shm_port_rx_burst); every frame it accepts must be a sane chain of
 * buffers it did not already hold, within the frame limits, its offload
 * metadata inside the frame; each goes back to the peer (tx_burst, chains
 * unlinked) and is checked there too. At the end of each input the peer
 * hands back whatever the owner table says it holds, and the bufpool's
 * buffers in use must be exactly the fill rings' again: none lost, none
 * used twice.
 *
 * Input: a flags byte (bit 0: the port whose peer took no features), the
 * length of the bytes every buffer of the peer starts with (2, big endian)
 * and those bytes, then slots of 4 bytes each: which buffer (below 240:
 * one the peer holds; 240 another port's, 241 the switch's, 242 one byte
 * past a buffer, 243 the pool's first byte, above: an offset made of the
 * length), the length (2), and flags (bit 0 MORE, bit 1 OL and its 16-byte
 * offload entry next, bit 2: on done instead of tx). The seeds
 * (seeds/fuzz_shm_slots) are a TCP frame in a chain of three with a TSO
 * entry, plain frames, and a chain published with MORE on its last slot.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hugelink/buf.h>
#include <hugelink/offload.h>
#include <hugelink/shm_peer.h>
#include <hugelink/shm_port.h>

#define NBUF 1024u
#define ROOM 2048u
#define RING 256u
#define HELD_MAX 2048u

static struct hl_pool *pool;
static struct hl_bufpool *bp;
static struct hl_shm_port *port[3];
static struct hl_shm_peer *peer[3];
static struct hl_buf *sw_own;
static uint64_t foreign;
static uint32_t *owner_words;
static struct hl_bufpool_geom geo;
static char dir[] = "/tmp/hlfuzz-shm.XXXXXX";

static void cleanup(void)
{
	for (int i = 0; i < 3; i++) {
		hl_shm_detach(peer[i]);
		hl_shm_port_destroy(port[i]);
	}
	hl_buf_free(sw_own);
	hl_bufpool_free(bp);
	hl_pool_destroy(pool);
	rmdir(dir);
}

static void setup(void)
{
	static const char *const names[3] = {"f", "n", "o"};
	struct hl_pool_info info;
	char name[32];
	uint64_t off, len;

	hl_log_set_level(HL_LOG_OFF);
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(name, sizeof(name), "fz-shm-%d", (int)getpid());
	struct hl_pool_params prm = {.name = name, .size = 16u << 20, .run_dir = dir, .flags = HL_POOL_F_NO_HUGE};
	if (hl_pool_create(&prm, &pool) < 0 || hl_bufpool_create(pool, "fz", NBUF, ROOM, 0, &bp) < 0)
		abort();
	hl_pool_get_info(pool, &info);
	for (int i = 0; i < 3; i++)
		if (hl_shm_port_create(pool, bp, names[i], RING, &port[i]) < 0 ||
		    hl_shm_attach_mem_features(info.va, info.size, names[i], i == 0 ? HL_SHM_F_ALL : 0, &peer[i]) < 0)
			abort();
	struct hl_shm_pkt pk;
	if (hl_shm_tx_alloc(peer[2], &pk, 1) != 1 || (sw_own = hl_buf_alloc(bp)) == NULL)
		abort();
	foreign = pk.desc;
	if (hl_pool_zone_lookup(pool, HL_SHM_OWNER_ZONE, &off, &len) < 0)
		abort();
	owner_words = (uint32_t *)((uint8_t *)hl_pool_off2va(pool, off) + HL_SHM_OWNER_WORDS_OFF);
	hl_bufpool_geom(bp, &geo);
	atexit(cleanup);
}

static uint64_t data_start(unsigned i)
{
	return geo.zone_off + (uint64_t)(i / geo.per_page) * geo.page_size + (uint64_t)(i % geo.per_page) * geo.stride +
	       HL_BUF_HEADROOM;
}

/* A frame the switch accepted: a chain of its own buffers, none it holds already, within the limits. */
static void check_frame(const struct hl_buf *b, bool *mine)
{
	uint32_t bytes = 0, segs = 0;
	for (const struct hl_buf *s = b; s != NULL; s = s->next) {
		unsigned idx = hl_buf_index(s);
		assert(idx < NBUF && !mine[idx]);
		mine[idx] = true;
		assert(hl_buf_refcnt(s) == 1 && s->data_off == HL_BUF_HEADROOM);
		assert(s->data_len >= 1 && s->data_len <= ROOM - HL_BUF_HEADROOM);
		bytes += s->data_len;
		segs++;
	}
	assert(bytes == b->pkt_len && segs == b->nb_segs && segs <= HL_SHM_SEGS_MAX && bytes <= HL_SHM_FRAME_MAX);
	if (b->flags & HL_BUF_F_OFFLOAD) {
		assert(b->ol.hdr_len <= b->pkt_len);
		assert(!(b->ol.flags & HL_OL_F_CSUM_PARTIAL) ||
		       (uint32_t)b->ol.csum_start + b->ol.csum_offset + 2 <= b->pkt_len);
	}
}

/* Every buffer the owner table gives the peer of port i, handed back on done. */
static void give_all_back(unsigned i)
{
	struct hl_shm_pkt pk[64];
	unsigned n = 0;

	/* what the peer did not take from fill yet is its own too: take it first */
	while (hl_shm_tx_alloc(peer[i], pk, 64) > 0)
		;
	for (unsigned b = 0; b <= NBUF; b++) {
		if (b < NBUF && __atomic_load_n(&owner_words[b], __ATOMIC_RELAXED) == HL_SHM_OWNER_PEER(hl_shm_port_id(port[i])) &&
		    !(i == 2 && data_start(b) == hl_shm_desc_off(foreign)))
			pk[n++].desc = hl_shm_desc(data_start(b), 0);
		if (n == 64 || (b == NBUF && n > 0)) {
			unsigned done = 0;
			for (int t = 0; t < 8 && done < n; t++) {
				done += hl_shm_release(peer[i], pk + done, n - done);
				hl_shm_port_reclaim(port[i]);
			}
			assert(done == n);
			n = 0;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct hl_shm_pkt held[HELD_MAX], pk[RING];
	static bool mine[NBUF];
	struct hl_buf *bufs[32];
	unsigned nheld = 0;

	if (pool == NULL)
		setup();
	if (size < 3)
		return 0;
	unsigned which = data[0] & 1;
	struct hl_shm_peer *pe = peer[which];
	struct hl_shm_port *p = port[which];
	uint32_t clen = (uint32_t)data[1] << 8 | data[2];
	if (clen > size - 3 || clen > ROOM - HL_BUF_HEADROOM)
		return 0;
	const uint8_t *content = data + 3, *rec = content + clen, *end = data + size;

	/* the peer's buffers: all of fill, each starting with the content */
	for (unsigned k; nheld < HELD_MAX && (k = hl_shm_tx_alloc(pe, held + nheld, 64)) > 0; nheld += k)
		for (unsigned i = 0; i < k; i++)
			memcpy(held[nheld + i].data, content, clen);

	struct hl_shm_ring *tx = hl_shm_peer_ring(pe, HL_SHM_RING_TX), *done = hl_shm_peer_ring(pe, HL_SHM_RING_DONE);
	uint32_t ntx = 0, ndone = 0, tx_room = hl_shm_ring_avail(tx), done_room = hl_shm_ring_avail(done);
	while (end - rec >= 4) {
		unsigned sel = rec[0], fl = rec[3];
		uint32_t len = (uint32_t)rec[1] << 8 | rec[2];
		rec += 4;
		uint64_t off;
		if (sel < 240)
			off = nheld > 0 ? hl_shm_desc_off(held[sel % nheld].desc) : 0;
		else if (sel == 240)
			off = hl_shm_desc_off(foreign);
		else if (sel == 241)
			off = sw_own->pool_off + HL_BUF_HEADROOM;
		else if (sel == 242)
			off = nheld > 0 ? hl_shm_desc_off(held[0].desc) + 1 : 1;
		else if (sel == 243)
			off = 0;
		else
			off = (uint64_t)len * 4099u * sel % (16u << 20);
		uint64_t d = hl_shm_desc(off, len) | (fl & 1 ? HL_SHM_DESC_MORE : 0) | (fl & 2 ? HL_SHM_DESC_OL : 0);
		bool on_done = fl & 4;
		if (on_done && ndone < done_room) {
			hl_shm_ring_put(done, ndone++, d);
		} else if (!on_done && ntx < tx_room) {
			if ((fl & 2) && end - rec >= (long)sizeof(struct hl_shm_ol)) {
				struct hl_shm_ol ol;
				memcpy(&ol, rec, sizeof(ol));
				hl_shm_ring_put_ol(tx, ntx, &ol);
				rec += sizeof(ol);
			}
			hl_shm_ring_put(tx, ntx++, d);
		}
	}
	hl_shm_ring_publish(tx, ntx);
	hl_shm_ring_publish(done, ndone);

	/* the switch takes it all, burst by burst; each frame goes back to the peer */
	for (int round = 0; round < 2 * (int)(RING / 32) + 2; round++) {
		unsigned k = hl_shm_port_rx_burst(p, bufs, 32);
		for (unsigned i = 0; i < k; i++)
			check_frame(bufs[i], mine);
		for (unsigned i = 0; i < k; i++)
			for (const struct hl_buf *s = bufs[i]; s != NULL; s = s->next)
				mine[hl_buf_index(s)] = false;
		unsigned sent = hl_shm_port_tx_burst(p, bufs, k);
		hl_buf_free_bulk(bufs + sent, k - sent);
		unsigned m = hl_shm_rx_burst(pe, pk, RING);
		for (unsigned i = 0; i < m; i += pk[i].nsegs) {
			assert(pk[i].nsegs >= 1 && i + pk[i].nsegs <= m);
			uint32_t bytes = 0;
			for (unsigned j = 0; j < pk[i].nsegs; j++) {
				assert(j + 1 < pk[i].nsegs ? (pk[i + j].flags & HL_SHM_PKT_MORE) : !(pk[i + j].flags & HL_SHM_PKT_MORE));
				bytes += pk[i + j].len;
			}
			assert(bytes == pk[i].pkt_len);
		}
		if (k == 0 && m == 0 && hl_shm_ring_avail(tx) == 0)
			break;
	}
	struct hl_shm_peer_stats ps;
	hl_shm_peer_stats(pe, &ps);
	assert(ps.bad_desc == 0 && ps.ring_broken == 0);

	/* the books: the peer gives back all it holds; then only the fill rings hold buffers */
	for (unsigned i = 0; i < 3; i++)
		give_all_back(i);
	unsigned f = 0, q = 0;
	assert(hl_shm_owner_census(pool, &f, &q) == 0);
	assert(q == hl_shm_port_peer_held(port[0]) + hl_shm_port_peer_held(port[1]) + hl_shm_port_peer_held(port[2]));
	/* the foreign buffer and the switch's own: one each */
	assert(hl_bufpool_in_use(bp) == q + 1);
	for (unsigned i = 0; i < 3; i++)
		hl_shm_port_refill(port[i]);
	return 0;
}
