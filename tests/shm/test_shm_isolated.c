/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Isolated shm ports: a port in a pool of its own, whose peer maps nothing
 * of the switch's pool. Frames cross an hl_switch between an isolated and
 * a shared port both ways with one copy each at the boundary, payloads and
 * counts exact; the isolated peer's mapping is its small pool alone and
 * descriptors naming the switch's buffers are refused; deleting the port
 * removes its pool's files; a switch killed under traffic is replaced
 * by one that takes both pools over, after which the peers carry on; and
 * 64 KiB chains with offload metadata cross the boundary both ways, copied
 * once, their metadata along.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hugelink/shm_abi.h>
#include <hugelink/shm_peer.h>
#include <hugelink/shm_port.h>
#include <hugelink/sw_ports.h>
#include <hugelink/switch.h>

#include "hl_test.h"
#include "tcp_frame.h"
#include "shm_test_pvt.h"
#include "../memory/pool_util.h"
#include "shm_env.h"

#define NBUF 4096u     /* the switch's bufpool: its rooms run past the isolated pool's size */
#define ISO_NBUF 2048u /* what an isolated port's bufpool holds */
#define SW_RING 256u   /* what hl_sw_port_shm_create asks for */
#define FILL (SW_RING / 2)
#define INFLIGHT 48u

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* ---- frames one way between two peers ------------------------------------------------ */

struct flow {
	struct hl_shm_peer *from, *to;
	uint8_t src, dst;
	unsigned sent, got, bad;
	long last; /* seq of the last frame received; they must only go up */
	struct hl_shm_pkt hold[32]; /* received, not yet handed back */
	unsigned nhold;
};

static unsigned flow_send(struct flow *f, unsigned want)
{
	struct hl_shm_pkt pk[32];
	if (want > 32)
		want = 32;
	unsigned k = hl_shm_tx_alloc(f->from, pk, want);
	for (unsigned i = 0; i < k; i++) {
		pk[i].len = shm_frame_len(f->sent + i);
		shm_frame_fill(pk[i].data, pk[i].len, f->src, f->dst, f->sent + i);
	}
	unsigned s = hl_shm_tx_burst(f->from, pk, k);
	if (s < k)
		hl_shm_release(f->from, pk + s, k - s);
	f->sent += s;
	return s;
}

/*
 * Receive and check, then hand the buffers back. While the switch is down
 * its done ring fills up: what does not fit is kept and handed back later.
 */
static unsigned flow_recv(struct flow *f)
{
	if (f->nhold > 0) {
		unsigned m = hl_shm_release(f->to, f->hold, f->nhold);
		memmove(f->hold, f->hold + m, (f->nhold - m) * sizeof(f->hold[0]));
		f->nhold -= m;
		if (f->nhold > 0)
			return 0;
	}
	struct hl_shm_pkt pk[32];
	unsigned r = hl_shm_rx_burst(f->to, pk, 32);
	for (unsigned i = 0; i < r; i++) {
		long seq = shm_frame_check(pk[i].data, pk[i].len);
		if (seq <= f->last)
			f->bad++;
		else
			f->last = seq;
	}
	unsigned rel = hl_shm_release(f->to, pk, r);
	memcpy(f->hold, pk + rel, (r - rel) * sizeof(pk[0]));
	f->nhold = r - rel;
	f->got += r;
	return r;
}

/*
 * Run flows until each has sent `target` frames in all and received its
 * last one, at most INFLIGHT frames of a flow under way (plus `lost`, those
 * known gone), so no rx ring overflows. False on timeout.
 */
static bool flows_run(struct flow *fl, unsigned nf, unsigned target, unsigned lost, uint64_t timeout_ns)
{
	uint64_t deadline = hl_now_ns() + timeout_ns;
	for (;;) {
		bool done = true;
		unsigned moved = 0;
		for (unsigned i = 0; i < nf; i++) {
			struct flow *f = &fl[i];
			unsigned under_way = f->sent - f->got;
			if (f->sent < target && under_way < INFLIGHT + lost) {
				unsigned want = target - f->sent;
				if (want > INFLIGHT + lost - under_way)
					want = INFLIGHT + lost - under_way;
				moved += flow_send(f, want);
			}
			moved += flow_recv(f);
			done = done && f->sent == target && f->last == (long)target - 1 && f->nhold == 0;
		}
		if (done)
			return true;
		if (hl_now_ns() > deadline)
			return false;
		if (moved == 0)
			usleep(50);
	}
}

/* Wait until the switch has taken back what the peers released: each port's peer holds just its fill ring. */
static bool settle(struct hl_shm_port **ports, unsigned n)
{
	for (int t = 0; t < 3000; t++) {
		bool ok = true;
		for (unsigned i = 0; i < n; i++)
			ok = ok && hl_shm_port_peer_held(ports[i]) == FILL;
		if (ok)
			return true;
		usleep(1000);
	}
	return false;
}

/* ---- (1) both ways through a switch ---------------------------------------------------- */

/* The switch's pool and a switch with a shared port "sh" and an isolated one "iso", not yet added. */
static int open_pair(struct env *e, struct hl_switch **sw, struct hl_sw_port **sh, struct hl_sw_port **iso)
{
	int rc = env_open(e, "iso", NBUF);
	if (rc < 0)
		return rc;
	struct hl_switch_params prm = {.bp = e->bp, .first_cpu = -1, .idle_us = 1000000};
	if ((rc = hl_switch_create(&prm, sw)) < 0)
		return rc;
	if ((rc = hl_sw_port_shm_create(e->pool, e->bp, "sh", false, sh)) < 0)
		return rc;
	return hl_sw_port_shm_create(e->pool, e->bp, "iso", true, iso);
}

/*
 * Both peers gone, then the switch, which closes both ports: the isolated
 * one's pool goes with it, record and file; then every buffer of the
 * switch's own pool is back.
 */
static void close_pair(struct env *e, struct hl_switch *sw, struct hl_sw_port *iso, struct hl_shm_peer *psh,
		       struct hl_shm_peer *piso)
{
	struct hl_pool_info ii;
	hl_shm_detach(psh);
	hl_shm_detach(piso);
	CHECK_EQ(hl_sw_port_shm_pool_info(iso, &ii), 0);
	hl_switch_destroy(sw);
	CHECK(!exists(ii.record_path));
	CHECK(!exists(ii.file_path));
	env_close(e);
}

HL_TEST(isolated_and_shared_ports_exchange_frames)
{
	struct env e;
	struct hl_switch *sw;
	struct hl_sw_port *sh, *iso;
	struct hl_shm_peer *psh, *piso;
	const unsigned n = 1000;

	HL_TEST_NEED(free_hugepages_2m() >= 16, "16 free 2 MiB hugepages");
	REQUIRE_OK(open_pair(&e, &sw, &sh, &iso));
	CHECK(!hl_sw_port_shm_isolated(sh));
	CHECK(hl_sw_port_shm_isolated(iso));
	CHECK(strcmp(hl_sw_port_shm_record(sh), e.info.record_path) == 0);
	char want[512];
	snprintf(want, sizeof(want), "%s/%s.iso.meta", hl_test_tmpdir(), e.info.name);
	CHECK(strcmp(hl_sw_port_shm_record(iso), want) == 0);
	CHECK(strcmp(iso->ops->kind, "shm") == 0);
	CHECK(strcmp(iso->ops->state(iso), "isolated, no peer") == 0);
	REQUIRE_OK(hl_switch_add_port(sw, sh));
	REQUIRE_OK(hl_switch_add_port(sw, iso));
	REQUIRE_OK(hl_shm_attach(hl_sw_port_shm_record(sh), "sh", &psh));
	REQUIRE_OK(hl_shm_attach(hl_sw_port_shm_record(iso), "iso", &piso));
	CHECK(strcmp(iso->ops->state(iso), "isolated, peer attached") == 0);
	CHECK(strcmp(sh->ops->state(sh), "shared, peer attached") == 0);
	/* the isolated port is not in the switch's pool */
	struct hl_shm_port *found;
	CHECK_EQ(hl_shm_port_find(e.pool, "iso", &found), -ENOENT);
	struct hl_shm_port *ps = hl_sw_port_shm(sh), *pi = hl_sw_port_shm(iso);
	REQUIRE(ps != NULL && pi != NULL);
	struct hl_bufpool *ibp = hl_shm_port_bufpool(pi);
	CHECK(ibp != e.bp);
	CHECK(hl_bufpool_pool(ibp) != e.pool);

	struct flow fl[2] = {
		{.from = piso, .to = psh, .src = 0xa, .dst = 0xb, .last = -1},
		{.from = psh, .to = piso, .src = 0xb, .dst = 0xa, .last = -1},
	};
	CHECK(flows_run(fl, 2, n, 0, 20ull * 1000000000ull));
	for (unsigned i = 0; i < 2; i++) {
		CHECK_EQ(fl[i].sent, n);
		CHECK_EQ(fl[i].got, n);
		CHECK_EQ(fl[i].bad, 0);
	}
	CHECK(settle((struct hl_shm_port *[]){ps, pi}, 2));

	struct hl_sw_port_stats si, ss;
	hl_switch_port_stats(sw, iso, &si);
	hl_switch_port_stats(sw, sh, &ss);
	CHECK_EQ(si.rx_packets, n);
	CHECK_EQ(si.tx_packets, n);
	CHECK_EQ(ss.rx_packets, n);
	CHECK_EQ(ss.tx_packets, n);
	/* one copy per packet at the boundary, each way; none on the shared side */
	CHECK_EQ(si.copy_packets, 2 * n);
	CHECK_EQ(si.zcopy_packets, 0);
	CHECK_EQ(ss.copy_packets, 0);
	CHECK_EQ(ss.zcopy_packets, n);
	for (unsigned d = 0; d < HL_SW_DROP_MAX; d++) {
		CHECK_EQ(si.drops[d], 0);
		CHECK_EQ(ss.drops[d], 0);
	}
	CHECK_EQ(si.errors + ss.errors, 0);
	struct hl_shm_port_stats pst;
	hl_shm_port_stats(pi, &pst);
	CHECK_EQ(pst.c.tx_packets, n);
	CHECK_EQ(pst.c.rx_packets, n);
	CHECK_EQ(pst.c.returned, n);
	CHECK_EQ(pst.copied, n);
	/* exact books on both sides: all in use is in the two fill rings */
	CHECK_EQ(hl_bufpool_in_use(e.bp), FILL);
	CHECK_EQ(hl_bufpool_in_use(ibp), FILL);
	struct hl_bufpool_stats ist;
	hl_bufpool_stats(ibp, &ist);
	CHECK_EQ(ist.n, ISO_NBUF);
	CHECK_EQ(ist.double_free, 0);
	unsigned f = 0, q = 0;
	REQUIRE_OK(hl_shm_owner_census(hl_bufpool_pool(ibp), &f, &q));
	CHECK_EQ(q, FILL);
	CHECK_EQ(f + q, ISO_NBUF);

	close_pair(&e, sw, iso, psh, piso);
}

/* ---- chains and offload metadata across the boundary ----------------------------------- */

/*
 * Receive on `to` until a whole frame is there (entries in pk); its
 * entries, 0 on timeout.
 */
static unsigned recv_frame(struct hl_shm_peer *to, struct hl_shm_pkt *pk, unsigned max)
{
	for (int i = 0; i < 20000; i++) {
		unsigned m = hl_shm_rx_burst(to, pk, max);
		if (m > 0)
			return m;
		usleep(100);
	}
	return 0;
}

HL_TEST(chains_and_offload_metadata_cross_the_boundary)
{
	struct env e;
	struct hl_switch *sw;
	struct hl_sw_port *sh, *iso;
	struct hl_shm_peer *psh, *piso;
	static struct hl_shm_pkt pk[128];
	static uint8_t f[HDRS + 64000], got[HDRS + 64000];
	const struct hl_shm_ol tso = {.csum_start = 34, .csum_offset = 16, .gso_size = 1448, .hdr_len = HDRS,
				      .flags = HL_SHM_OL_F_CSUM_PARTIAL, .gso_type = HL_SHM_OL_GSO_TCPV4};
	const unsigned rounds = 4;

	HL_TEST_NEED(free_hugepages_2m() >= 16, "16 free 2 MiB hugepages");
	REQUIRE_OK(open_pair(&e, &sw, &sh, &iso));
	REQUIRE_OK(hl_switch_add_port(sw, sh));
	REQUIRE_OK(hl_switch_add_port(sw, iso));
	REQUIRE_OK(hl_shm_attach_features(hl_sw_port_shm_record(sh), "sh", HL_SHM_F_ALL, &psh));
	REQUIRE_OK(hl_shm_attach_features(hl_sw_port_shm_record(iso), "iso", HL_SHM_F_ALL, &piso));
	uint32_t caps, max_frame;
	iso->ops->offloads(iso, &caps, &max_frame);
	CHECK_EQ(caps, HL_OL_CAP_CSUM | HL_OL_CAP_TSO4 | HL_OL_CAP_TSO6 | HL_OL_CAP_ECN);
	CHECK_EQ(max_frame, HL_OL_FRAME_MAX);
	frame_bytes(f, 64000, 7);

	unsigned ok = 0;
	for (unsigned r = 0; r < rounds; r++) {
		struct hl_shm_peer *from = r % 2 ? psh : piso, *to = r % 2 ? piso : psh;
		unsigned n = shm_chain_fill(from, pk, f, sizeof(f), &tso);
		REQUIRE(n > 1);
		REQUIRE(hl_shm_tx_burst(from, pk, n) == n);
		unsigned m = recv_frame(to, pk, 128);
		REQUIRE(m > 0);
		uint32_t len = shm_chain_flatten(pk, got);
		ok += m == pk[0].nsegs && len == sizeof(f) && pk[0].pkt_len == len && memcmp(got, f, len) == 0 &&
		      (pk[0].flags & HL_SHM_PKT_OL) && pk[0].ol.gso_type == HL_SHM_OL_GSO_TCPV4 &&
		      pk[0].ol.gso_size == 1448 && pk[0].ol.csum_start == 34 && pk[0].ol.hdr_len == HDRS;
		for (unsigned done = 0, t = 0; done < m && t < 10000; t++) {
			done += hl_shm_release(to, pk + done, m - done);
			if (done < m)
				usleep(100);
		}
	}
	CHECK_EQ(ok, rounds);
	struct hl_shm_port *ps = hl_sw_port_shm(sh), *pi = hl_sw_port_shm(iso);
	CHECK(settle((struct hl_shm_port *[]){ps, pi}, 2));
	struct hl_sw_port_stats si, ss;
	hl_switch_port_stats(sw, iso, &si);
	hl_switch_port_stats(sw, sh, &ss);
	/* one copy per frame at the boundary each way, the metadata checked once, where it came in */
	CHECK_EQ(si.copy_packets, rounds);
	CHECK_EQ(si.ol.accepted + ss.ol.accepted, rounds);
	CHECK_EQ(si.ol.gso_frames + ss.ol.gso_frames, 0);
	CHECK_EQ(ss.zcopy_packets, rounds / 2); /* the copies the isolated side made go on as they are */
	for (unsigned d = 0; d < HL_SW_DROP_MAX; d++)
		CHECK_EQ(si.drops[d] + ss.drops[d], 0);
	CHECK_EQ(hl_bufpool_in_use(e.bp), FILL);
	CHECK_EQ(hl_bufpool_in_use(hl_shm_port_bufpool(pi)), FILL);
	close_pair(&e, sw, iso, psh, piso);
}

/* ---- (2) the isolated peer reaches nothing of the switch's ------------------------------ */

HL_TEST(isolated_peer_maps_only_its_partition)
{
	struct env e;
	struct hl_sw_port *sh, *iso;
	struct hl_shm_peer *psh, *piso;

	REQUIRE_ENV(&e, "iso", NBUF, 16);
	REQUIRE_OK(hl_sw_port_shm_create(e.pool, e.bp, "sh", false, &sh));
	CHECK_EQ(hl_sw_port_shm_create(e.pool, e.bp, "sh", true, &iso), -EEXIST);
	REQUIRE_OK(hl_sw_port_shm_create(e.pool, e.bp, "iso", true, &iso));

	/* a different, small file */
	struct hl_pool_info ii;
	struct stat sti, stm;
	REQUIRE_OK(hl_sw_port_shm_pool_info(iso, &ii));
	CHECK(strcmp(ii.file_path, e.info.file_path) != 0);
	CHECK(strcmp(ii.record_path, e.info.record_path) != 0);
	REQUIRE(stat(ii.file_path, &sti) == 0 && stat(e.info.file_path, &stm) == 0);
	CHECK(sti.st_ino != stm.st_ino);
	CHECK_EQ((uint64_t)sti.st_size, ii.size);
	CHECK(ii.size <= 16 * SHM_MB);
	CHECK(ii.size < e.info.size);
	CHECK_EQ(ii.hugepages, e.info.hugepages);
	/* what the record gives a peer is that pool and nothing more */
	struct hl_pool *seen;
	REQUIRE_OK(hl_pool_attach(hl_sw_port_shm_record(iso), 0, &seen));
	struct hl_pool_info si;
	hl_pool_get_info(seen, &si);
	CHECK_EQ(si.size, ii.size);
	CHECK(strcmp(si.file_path, ii.file_path) == 0);
	CHECK(!si.owner);
	hl_pool_detach(seen);

	REQUIRE_OK(hl_shm_attach(e.info.record_path, "sh", &psh));
	REQUIRE_OK(hl_shm_attach(hl_sw_port_shm_record(iso), "iso", &piso));
	const struct hl_shm_ctrl *ic = hl_shm_peer_ctrl(piso);
	CHECK_EQ(ic->bp_n, ISO_NBUF);
	CHECK(ic->bp_zone_off + ic->bp_zone_len <= ii.size);
	/* the peer's view lies outside the switch's pool */
	CHECK_EQ(hl_pool_va2off(e.pool, ic), HL_BAD_ADDR);
	struct hl_bufpool_geom mg;
	hl_bufpool_geom(e.bp, &mg);
	struct hl_buf *last = hl_bufpool_buf_at(e.bp, NBUF - 1);
	REQUIRE(last != NULL);
	/* many of the switch's buffers lie beyond the isolated pool's end */
	CHECK(last->pool_off >= ii.size);

	/* the isolated peer names the switch's buffers (beyond its own pool's
	 * end, so they cannot be taken for its own): all refused, counted */
	struct hl_shm_pkt spk[4], ipk[4];
	REQUIRE(hl_shm_tx_alloc(psh, spk, 4) == 4);
	REQUIRE(hl_shm_tx_alloc(piso, ipk, 2) == 2);
	unsigned main_in_use = hl_bufpool_in_use(e.bp);
	uint64_t d[6];
	unsigned nd = 0;
	for (unsigned i = NBUF; i-- > 0 && nd < 4;) {
		uint64_t off = hl_bufpool_buf_at(e.bp, i)->pool_off + HL_BUF_HEADROOM;
		if (off >= ii.size)
			d[nd++] = hl_shm_desc(off, 64);
	}
	d[nd++] = hl_shm_desc(mg.zone_off + mg.zone_len - mg.stride + HL_BUF_HEADROOM, 64);
	d[nd++] = hl_shm_desc(hl_shm_desc_off(ipk[0].desc), (uint32_t)shm_frame_len(3)); /* its own: fine */
	REQUIRE(nd == HL_ARRAY_SIZE(d));
	const unsigned refused = HL_ARRAY_SIZE(d) - 1;
	shm_frame_fill(ipk[0].data, shm_frame_len(3), 0xa, 0xb, 3);
	memset(spk[0].data, 0x5a, 64);
	raw_push(piso, HL_SHM_RING_TX, d, HL_ARRAY_SIZE(d));
	struct hl_buf *bufs[32];
	unsigned got = iso->ops->rx(iso, e.bp, bufs, 32);
	REQUIRE(got == 1);
	/* it arrived as a copy in the switch's bufpool */
	CHECK(bufs[0]->pool == e.bp);
	CHECK_EQ(shm_frame_check(hl_buf_data(bufs[0]), bufs[0]->data_len), 3);
	CHECK(hl_buf_data(bufs[0]) != ipk[0].data);
	struct hl_shm_port_stats pst;
	hl_shm_port_stats(hl_sw_port_shm(iso), &pst);
	CHECK_EQ(pst.c.bad_offset, refused);
	CHECK_EQ(pst.c.tx_packets, 1);
	CHECK_EQ(hl_shm_peer_ctrl(piso)->counters.bad_offset, refused);
	struct hl_sw_port_stats ss;
	iso->ops->stats(iso, &ss);
	CHECK_EQ(ss.drops[HL_SW_DROP_BAD], refused);
	CHECK_EQ(ss.copy_packets, 1);
	/* done: handing back the switch's buffers is refused too */
	raw_push(piso, HL_SHM_RING_DONE, d, refused);
	CHECK_EQ(iso->ops->rx(iso, e.bp, bufs + 1, 31), 0);
	hl_shm_port_stats(hl_sw_port_shm(iso), &pst);
	CHECK_EQ(pst.c.bad_offset, 2 * refused);
	CHECK_EQ(pst.c.returned, 0);
	/* nothing of the switch's moved: the shared peer still holds its four, untouched */
	CHECK_EQ(hl_bufpool_in_use(e.bp), main_in_use + 1);
	CHECK_EQ(hl_shm_port_peer_held(hl_sw_port_shm(sh)), FILL);
	CHECK_EQ(((uint8_t *)spk[0].data)[63], 0x5a);

	/* outbound: the switch's buffer is copied into the peer's partition */
	uint64_t txb = 0;
	uint32_t txlen = bufs[0]->pkt_len;
	CHECK_EQ(iso->ops->tx(iso, bufs, 1, &txb), 1);
	CHECK_EQ(txb, txlen);
	/* the port took the switch's buffer over and, having copied it, freed it */
	CHECK_EQ(hl_bufpool_in_use(e.bp), main_in_use);
	struct hl_shm_pkt back;
	CHECK_EQ(hl_shm_rx_burst(piso, &back, 1), 1);
	CHECK_EQ(shm_frame_check(back.data, back.len), 3);
	CHECK_EQ(hl_shm_release(piso, &back, 1), 1);
	iso->ops->stats(iso, &ss);
	CHECK_EQ(ss.copy_packets, 2);
	CHECK_EQ(ss.zcopy_packets, 0);

	/* the switch's bufpool exhausted: inbound packets are dropped, counted,
	 * and their isolated buffers not kept */
	unsigned nfree = NBUF - hl_bufpool_in_use(e.bp);
	struct hl_buf **all = calloc(nfree, sizeof(*all));
	REQUIRE(all != NULL);
	REQUIRE_OK(hl_buf_alloc_bulk(e.bp, all, nfree));
	REQUIRE(hl_shm_tx_alloc(piso, ipk, 2) == 2);
	for (unsigned i = 0; i < 2; i++) {
		ipk[i].len = shm_frame_len(i);
		shm_frame_fill(ipk[i].data, ipk[i].len, 0xa, 0xb, i);
	}
	CHECK_EQ(hl_shm_tx_burst(piso, ipk, 2), 2);
	CHECK_EQ(iso->ops->rx(iso, e.bp, bufs, 32), 0);
	hl_buf_free_bulk(all, nfree);
	free(all);
	iso->ops->stats(iso, &ss);
	CHECK_EQ(ss.drops[HL_SW_DROP_NO_BUF], 2);
	CHECK_EQ(ss.copy_packets, 2);
	struct hl_shm_port *pi = hl_sw_port_shm(iso);
	CHECK_EQ(hl_bufpool_in_use(hl_shm_port_bufpool(pi)), hl_shm_port_peer_held(pi));
	CHECK_EQ(hl_bufpool_in_use(e.bp), main_in_use);

	CHECK_EQ(hl_shm_release(psh, spk, 4), 4);
	hl_shm_detach(psh);
	hl_shm_detach(piso);
	iso->ops->close(iso);
	CHECK(!exists(ii.record_path));
	CHECK(!exists(ii.file_path));
	sh->ops->close(sh);
	env_close(&e);
}

/* ---- (3) deleting the port removes its pool ---------------------------------------------- */

HL_TEST(deleting_an_isolated_port_removes_its_pool)
{
	struct env e;
	struct hl_switch *sw;
	struct hl_sw_port *iso;
	struct hl_shm_peer *pe;
	struct hl_shm_pkt pk[8];

	REQUIRE_ENV(&e, "iso", NBUF, 16);
	struct hl_switch_params prm = {.bp = e.bp, .first_cpu = -1, .idle_us = 1000};
	REQUIRE_OK(hl_switch_create(&prm, &sw));
	/* names become file names: none that climbs out of the run dir */
	struct hl_sw_port *bad;
	CHECK_EQ(hl_sw_port_shm_create(e.pool, e.bp, "../x", true, &bad), -EINVAL);
	CHECK_EQ(hl_sw_port_shm_create(e.pool, e.bp, ".x", true, &bad), -EINVAL);
	/* a name too long for "<pool>.<port>" still gets a pool of its own */
	const char *lname = "isolated-port-with-long-nm";
	REQUIRE_OK(hl_sw_port_shm_create(e.pool, e.bp, lname, true, &iso));
	struct hl_pool_info ii;
	REQUIRE_OK(hl_sw_port_shm_pool_info(iso, &ii));
	CHECK(strlen(ii.name) < HL_META_NAME_LEN);
	CHECK(strncmp(ii.name, e.info.name, 4) == 0);
	REQUIRE_OK(hl_switch_add_port(sw, iso));
	char kick[512];
	snprintf(kick, sizeof(kick), "%s/%s.shm.%s.kick", hl_test_tmpdir(), ii.name, lname);
	CHECK(exists(kick));
	/* a peer holding buffers when the port goes */
	REQUIRE_OK(hl_shm_attach(ii.record_path, lname, &pe));
	CHECK(hl_shm_tx_alloc(pe, pk, 8) == 8);
	REQUIRE_OK(hl_switch_del_port(sw, lname));
	CHECK(!exists(ii.record_path));
	CHECK(!exists(ii.file_path));
	CHECK(!exists(kick));
	/* its mapping stays valid (unlinked, not unmapped) until it detaches */
	memset(pk[0].data, 1, 64);
	hl_shm_detach(pe);

	/* the name can be used again, afresh */
	REQUIRE_OK(hl_sw_port_shm_create(e.pool, e.bp, lname, true, &iso));
	REQUIRE_OK(hl_switch_add_port(sw, iso));
	REQUIRE_OK(hl_sw_port_shm_pool_info(iso, &ii));
	CHECK(exists(ii.record_path));
	REQUIRE_OK(hl_switch_del_port(sw, lname));
	CHECK(!exists(ii.record_path));
	CHECK(!exists(ii.file_path));

	/* a stale record a dead switch left, damaged: replaced, not trusted */
	char stale[512];
	snprintf(stale, sizeof(stale), "%s/%s.bad.meta", hl_test_tmpdir(), e.info.name);
	FILE *fp = fopen(stale, "w");
	REQUIRE(fp != NULL);
	fputs("not a record", fp);
	fclose(fp);
	REQUIRE_OK(hl_sw_port_shm_create(e.pool, e.bp, "bad", true, &iso));
	REQUIRE_OK(hl_sw_port_shm_pool_info(iso, &ii));
	CHECK(strcmp(ii.record_path, stale) == 0);
	iso->ops->close(iso);
	CHECK(!exists(stale));
	CHECK(!exists(ii.file_path));
	hl_switch_destroy(sw);
	env_close(&e);
}

/* ---- (4) the switch killed under traffic ----------------------------------------------------- */

static enum hl_shm_ring_id g_ring;
static enum hl_shm_step g_step;
static unsigned g_nth; /* die at the nth time the switch reaches g_step on g_ring; 0: never */

static void die_at(enum hl_shm_ring_id ring, enum hl_shm_step step)
{
	if (ring == g_ring && step == g_step && --g_nth == 0)
		kill(getpid(), SIGKILL);
}

/*
 * The switch with a shared and an isolated port, in a child; never returns.
 * With nth, it kills itself in the middle of a burst (on whichever port
 * gets there), leaving both pools as a crash at that instruction would.
 */
static void child_switch(const char *name, int ready, enum hl_shm_ring_id ring, enum hl_shm_step step,
			 unsigned nth)
{
	struct hl_pool *pool;
	struct hl_bufpool *bp;
	struct hl_switch *sw;
	struct hl_sw_port *sh, *iso;

	struct hl_pool_params prm = {.name = name, .size = 16 * SHM_MB, .run_dir = hl_test_tmpdir(),
				     .page_size = 2 * SHM_MB};
	if (hl_pool_create(&prm, &pool) < 0 || hl_bufpool_create(pool, "swbp", NBUF, SHM_ROOM, 0, &bp) < 0)
		_exit(10);
	struct hl_switch_params sp = {.bp = bp, .first_cpu = -1, .idle_us = 2000};
	if (hl_switch_create(&sp, &sw) < 0)
		_exit(11);
	if (hl_sw_port_shm_create(pool, bp, "sh", false, &sh) < 0 || hl_switch_add_port(sw, sh) < 0 ||
	    hl_sw_port_shm_create(pool, bp, "iso", true, &iso) < 0 || hl_switch_add_port(sw, iso) < 0)
		_exit(12);
	g_ring = ring;
	g_step = step;
	g_nth = nth;
	if (nth != 0)
		hl_shm_test_hook = die_at;
	char c = 0;
	if (write(ready, &c, 1) != 1)
		_exit(13);
	for (;;)
		pause();
}

/*
 * Traffic both ways; the switch dies (killed from here after n1 frames,
 * or by itself at a step of a burst); a new one takes both pools over;
 * the peers, never re-attached, carry on: every frame sent after the
 * recovery arrives, none twice or out of order, and no buffer leaks.
 */
static void crash_run(enum hl_shm_ring_id ring, enum hl_shm_step step, unsigned nth)
{
	char name[32], record[512], iso_record[512];
	static unsigned seq;
	int pfd[2];
	struct hl_shm_peer *psh, *piso;

	HL_TEST_NEED(free_hugepages_2m() >= 16, "16 free 2 MiB hugepages");
	snprintf(name, sizeof(name), "t-isocrash%u-%d", seq++, (int)getpid());
	snprintf(record, sizeof(record), "%s/%s.meta", hl_test_tmpdir(), name);
	snprintf(iso_record, sizeof(iso_record), "%s/%s.iso.meta", hl_test_tmpdir(), name);
	REQUIRE(pipe(pfd) == 0);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		child_switch(name, pfd[1], ring, step, nth);
	}
	close(pfd[1]);
	char c = 1;
	bool up = read(pfd[0], &c, 1) == 1 && c == 0;
	close(pfd[0]);
	if (!up) {
		int st;
		waitpid(pid, &st, 0);
		hl_pool_clean(iso_record);
		hl_pool_clean(record);
		REQUIRE(up);
	}
	REQUIRE_OK(hl_shm_attach(record, "sh", &psh));
	REQUIRE_OK(hl_shm_attach(iso_record, "iso", &piso));
	const uint32_t gen0 = hl_shm_peer_ctrl(piso)->switch_gen;

	struct flow fl[2] = {
		{.from = piso, .to = psh, .src = 0xa, .dst = 0xb, .last = -1},
		{.from = psh, .to = piso, .src = 0xb, .dst = 0xa, .last = -1},
	};
	const unsigned n1 = 400, burst = 16, n2 = 400;
	int st = 0;
	if (nth == 0) {
		CHECK(flows_run(fl, 2, n1, 0, 20ull * 1000000000ull));
		/* a burst each way still under way when the switch dies */
		for (unsigned i = 0; i < 2; i++)
			CHECK_EQ(flow_send(&fl[i], burst), burst);
		kill(pid, SIGKILL);
		CHECK_EQ(waitpid(pid, &st, 0), pid);
	} else {
		/* until the switch kills itself; frames it held may be lost, so
		 * keep a little more under way than that */
		bool dead = false;
		uint64_t deadline = hl_now_ns() + 20ull * 1000000000ull;
		while (!dead && hl_now_ns() < deadline) {
			flows_run(fl, 2, fl[0].sent + 8, 2 * HL_SW_BURST, 2000000ull);
			dead = waitpid(pid, &st, WNOHANG) == pid;
		}
		if (!dead) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
		}
		CHECK(dead);
	}
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	CHECK(exists(iso_record));
	const unsigned sent_before[2] = {fl[0].sent, fl[1].sent};

	/* a new switch takes both pools over */
	struct hl_pool *pool;
	struct hl_bufpool *bp;
	struct hl_switch *sw;
	struct hl_sw_port *sh, *iso;
	struct hl_shm_recover_report rep;
	REQUIRE_OK(hl_pool_attach(record, HL_POOL_F_OWNER, &pool));
	REQUIRE_OK(hl_shm_recover(pool, 0, &bp, &rep));
	CHECK_EQ(rep.ports, 1);
	CHECK_EQ(rep.bad_entries, 0);
	struct hl_switch_params sp = {.bp = bp, .first_cpu = -1, .idle_us = 2000};
	REQUIRE_OK(hl_switch_create(&sp, &sw));
	REQUIRE_OK(hl_sw_port_shm_create(pool, bp, "sh", false, &sh));
	REQUIRE_OK(hl_sw_port_shm_create(pool, bp, "iso", true, &iso));
	CHECK(strcmp(hl_sw_port_shm_record(iso), iso_record) == 0);
	REQUIRE_OK(hl_switch_add_port(sw, sh));
	REQUIRE_OK(hl_switch_add_port(sw, iso));
	/* the peer never re-attached: it sees the same port, one generation on */
	CHECK_EQ(hl_shm_peer_ctrl(piso)->switch_gen, gen0 + 1);
	CHECK(strcmp(iso->ops->state(iso), "isolated, peer attached") == 0);

	/* and carries on: every frame sent from now on arrives, in order */
	unsigned target = (fl[0].sent > fl[1].sent ? fl[0].sent : fl[1].sent) + n2;
	CHECK(flows_run(fl, 2, target, 2 * HL_SW_BURST, 20ull * 1000000000ull));
	for (unsigned i = 0; i < 2; i++) {
		CHECK_EQ(fl[i].bad, 0);
		CHECK_EQ(fl[i].last, (long)target - 1);
		/* lost: only what the dead switch had in hand */
		unsigned lost = fl[i].sent - fl[i].got;
		CHECK(lost <= 2 * HL_SW_BURST);
		printf("# flow %u: %u sent before the crash, %u lost\n", i, sent_before[i], lost);
	}
	struct hl_shm_port *ps = hl_sw_port_shm(sh), *pi = hl_sw_port_shm(iso);
	CHECK(settle((struct hl_shm_port *[]){ps, pi}, 2));
	/* nothing leaked on either side */
	struct hl_bufpool *ibp = hl_shm_port_bufpool(pi);
	CHECK_EQ(hl_bufpool_in_use(bp), FILL);
	CHECK_EQ(hl_bufpool_in_use(ibp), FILL);
	unsigned f = 0, q = 0;
	REQUIRE_OK(hl_shm_owner_census(hl_bufpool_pool(ibp), &f, &q));
	CHECK_EQ(q, FILL);
	CHECK_EQ(f + q, ISO_NBUF);
	REQUIRE_OK(hl_shm_owner_census(pool, &f, &q));
	CHECK_EQ(q, FILL);
	struct hl_sw_port_stats si;
	hl_switch_port_stats(sw, iso, &si);
	CHECK_EQ(si.drops[HL_SW_DROP_BAD], 0);
	CHECK_EQ(si.errors, 0);

	hl_shm_detach(psh);
	hl_shm_detach(piso);
	struct hl_pool_info ii;
	REQUIRE_OK(hl_sw_port_shm_pool_info(iso, &ii));
	hl_switch_destroy(sw);
	CHECK(!exists(iso_record));
	CHECK(!exists(ii.file_path));
	pool_release(pool, bp);
}

HL_TEST(isolated_port_survives_a_switch_killed_under_traffic)
{
	crash_run(HL_SHM_RING_TX, HL_SHM_STEP_OWNERS, 0);
}

/* The switch dies half-way through a burst, in each ring direction. */
HL_TEST(isolated_port_survives_a_crash_mid_burst)
{
	static const struct {
		enum hl_shm_ring_id ring;
		enum hl_shm_step step;
	} at[] = {
		{HL_SHM_RING_TX, HL_SHM_STEP_OWNERS},
		{HL_SHM_RING_RX, HL_SHM_STEP_OWNERS},
		{HL_SHM_RING_RX, HL_SHM_STEP_INDEX},
		{HL_SHM_RING_FILL, HL_SHM_STEP_INTENT},
		{HL_SHM_RING_DONE, HL_SHM_STEP_OWNERS},
	};
	for (unsigned i = 0; i < HL_ARRAY_SIZE(at) && !hl_test_failed(); i++)
		crash_run(at[i].ring, at[i].step, 7 + 5 * i);
}
