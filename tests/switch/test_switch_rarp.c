/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A guest migrates between two vhost ports of one switch: once the
 * front-end on the new port sends SEND_RARP with the guest's MAC, the switch
 * sends a broadcast RARP from that port (the other port's endpoint receives
 * it, as any switch behind it would) and the MAC is on the new port at once,
 * counted as a move; a hostile SEND_RARP with a multicast MAC moves nothing.
 * A port whose guest migrates away (its queues stop while dirty logging is
 * on) forgets its MACs (frames for them are flooded, so they reach the
 * guest where it went on), and one learned again on another port soon
 * after counts as a move too. A guest that merely stops keeps its MACs.
 */
#include <pthread.h>
#include <sys/mman.h>
#include <string.h>
#include <unistd.h>

#include <hugelink/sw_ports.h>
#include <hugelink/switch.h>
#include <hugelink/vhost_sock.h>
#include <hugelink/virtio_user.h>

#include "frame.h"
#include "hl_test.h"
#include "../memory/pool_util.h"

static struct hl_switch *sw;
static int stop_ctrl, hold_ctrl, held; /* atomic */

/* The switch's control thread, as hugelinkd runs it; hold_ctrl parks it (held) so its counters can be read. */
static void *ctrl_thread(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop_ctrl, __ATOMIC_ACQUIRE)) {
		bool hold = __atomic_load_n(&hold_ctrl, __ATOMIC_ACQUIRE);
		__atomic_store_n(&held, hold, __ATOMIC_RELEASE);
		if (!hold)
			hl_switch_ctrl(sw);
		usleep(1000);
	}
	return NULL;
}

static void moves_now(struct hl_sw_mac_moves *mm)
{
	__atomic_store_n(&hold_ctrl, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&held, __ATOMIC_ACQUIRE))
		usleep(1000);
	hl_switch_mac_moves(sw, mm);
	__atomic_store_n(&hold_ctrl, 0, __ATOMIC_RELEASE);
	while (__atomic_load_n(&held, __ATOMIC_ACQUIRE))
		usleep(1000);
}

static const uint8_t MAC_G[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x11}; /* the migrating guest */

/* A frame from the guest on its old port, so the switch learns where it was. */
static struct hl_buf *hello(struct hl_bufpool *bp)
{
	return hl_frame_buf(bp, NULL, MAC_G, 0x0806, 60);
}

/* Frames u receives within ~2 s whose ethertype is `type`; the last one in *last (60 bytes). */
static unsigned receive(struct hl_vuser *u, uint16_t type, uint8_t *last)
{
	unsigned n = 0;
	for (int i = 0; i < 400; i++) {
		struct hl_buf *b[8];
		uint16_t got = hl_vuser_rx_burst(u, b, 8);
		for (uint16_t k = 0; k < got; k++) {
			const uint8_t *f = hl_buf_data(b[k]);
			if (b[k]->pkt_len >= 42 && (f[12] << 8 | f[13]) == type) {
				n++;
				memcpy(last, f, b[k]->pkt_len < 60 ? b[k]->pkt_len : 60);
			}
			hl_buf_free(b[k]);
		}
		if (n > 0 && got == 0)
			break;
		usleep(5000);
	}
	return n;
}

/* Dirty logging on, as a migration's source QEMU turns it on (log over all of the front-end's memory). */
static void start_logging(struct hl_vuser *u, const struct hl_pool *pool)
{
	struct hl_pool_info pi;
	REQUIRE_OK(hl_pool_get_info(pool, &pi));
	uint64_t size = (hl_vhost_log_bytes((uintptr_t)pi.va + pi.size) + 4095) & ~4095ull;
	int fd = memfd_create("rarp-log", MFD_CLOEXEC);
	REQUIRE(fd >= 0 && ftruncate(fd, (off_t)size) == 0); /* sparse */
	struct hl_vu_msg m = {.hdr = {.request = HL_VU_SET_LOG_BASE, .flags = HL_VU_VERSION, .size = 16}};
	m.payload.log = (struct hl_vu_log){.mmap_size = size, .mmap_offset = 0};
	REQUIRE_OK(hl_vu_send(u->fe.sock, &m, &fd, 1));
	close(fd);
	m = (struct hl_vu_msg){.hdr = {.request = HL_VU_SET_FEATURES, .flags = HL_VU_VERSION, .size = 8}};
	m.payload.u64 = u->fe.features | (1ull << HL_VU_F_LOG_ALL);
	REQUIRE_OK(hl_vu_send(u->fe.sock, &m, NULL, 0));
}

static void send_rarp(struct hl_vuser *u, const uint8_t mac[6])
{
	struct hl_vu_msg m = {.hdr = {.request = HL_VU_SEND_RARP, .flags = HL_VU_VERSION, .size = 8}};
	memcpy(m.payload.raw, mac, 6);
	REQUIRE_OK(hl_vu_send(u->fe.sock, &m, NULL, 0));
}

HL_TEST(send_rarp_moves_the_mac_and_floods_a_rarp)
{
	struct hl_pool *sp, *fp;
	struct hl_bufpool *sbp, *fbp;
	struct hl_sw_port *pa, *pb;
	struct hl_vuser ua, ub;
	char patha[256], pathb[256];
	pthread_t th;

	HL_TEST_NEED(free_hugepages_2m() >= 64, "64 free 2 MiB hugepages");
	REQUIRE_OK(pool_with_bufs(hl_test_tmpdir(), "rarp-sw", 32 << 20, 4096, &sp, &sbp));
	REQUIRE_OK(pool_with_bufs(hl_test_tmpdir(), "rarp-fe", 32 << 20, 4096, &fp, &fbp));
	struct hl_switch_params prm = {.bp = sbp, .first_cpu = -1, .idle_us = 1000};
	REQUIRE_OK(hl_switch_create(&prm, &sw));
	snprintf(patha, sizeof(patha), "%s/a.sock", hl_test_tmpdir());
	snprintf(pathb, sizeof(pathb), "%s/b.sock", hl_test_tmpdir());
	REQUIRE_OK(hl_sw_port_vhost_create(&(struct hl_sw_vhost_params){.name = "old", .path = patha}, &pa));
	REQUIRE_OK(hl_switch_add_port(sw, pa));
	REQUIRE_OK(hl_sw_port_vhost_create(&(struct hl_sw_vhost_params){.name = "new", .path = pathb}, &pb));
	REQUIRE_OK(hl_switch_add_port(sw, pb));
	REQUIRE(pthread_create(&th, NULL, ctrl_thread, NULL) == 0);
	REQUIRE_OK(hl_vuser_open(&ua, &(struct hl_vuser_params){.path = patha, .pool = fp, .bp = fbp, .name = "ua"}));
	REQUIRE_OK(hl_vuser_open(&ub, &(struct hl_vuser_params){.path = pathb, .pool = fp, .bp = fbp, .name = "ub"}));
	for (int i = 0; i < 400 && (strcmp(pa->ops->state(pa), "up") || strcmp(pb->ops->state(pb), "up")); i++)
		usleep(5000);
	REQUIRE(strcmp(pa->ops->state(pa), "up") == 0 && strcmp(pb->ops->state(pb), "up") == 0);

	/* the guest, on its old port, says hello: learned there */
	struct hl_buf *h = hello(fbp);
	REQUIRE(h != NULL);
	CHECK_EQ(hl_vuser_tx_burst(&ua, &h, 1), 1);
	uint8_t f[60];
	CHECK_EQ(receive(&ub, 0x0806, f), 1);
	CHECK_EQ(hl_mac_lookup(hl_switch_mac_table(sw), MAC_G, hl_fast_ns()), pa->id);

	/* migrated: the front-end of the new port says so */
	send_rarp(&ub, MAC_G);
	CHECK_EQ(receive(&ua, 0x8035, f), 1); /* flooded out of every other port */
	static const uint8_t want[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x11, 0x80, 0x35,
				       0, 1, 8, 0, 6, 4, 0, 3, 0x02, 0, 0, 0, 0, 0x11, 0, 0, 0, 0,
				       0x02, 0, 0, 0, 0, 0x11, 0, 0, 0, 0};
	CHECK_EQ(memcmp(f, want, sizeof(want)), 0);
	CHECK_EQ(hl_mac_lookup(hl_switch_mac_table(sw), MAC_G, hl_fast_ns()), pb->id);
	struct hl_sw_mac_moves ms;
	moves_now(&ms);
	CHECK_EQ(ms.moved, 1);
	CHECK_EQ(ms.last_port, pb->id);
	struct hl_sw_port_stats st;
	hl_switch_port_stats(sw, pb, &st);
	CHECK_EQ(st.rarps, 1);

	/* a multicast MAC in SEND_RARP: the frame goes out, nothing is learned from it */
	const uint8_t mc[6] = {0x01, 0, 0x5e, 0, 0, 1};
	send_rarp(&ub, mc);
	CHECK_EQ(receive(&ua, 0x8035, f), 1);
	CHECK_EQ(hl_mac_lookup(hl_switch_mac_table(sw), mc, hl_fast_ns()), -1);
	moves_now(&ms);
	CHECK_EQ(ms.moved, 1);

	/* back on the old port; then it migrates away: forgotten, and learned on the new one a move */
	h = hello(fbp);
	REQUIRE(h != NULL);
	CHECK_EQ(hl_vuser_tx_burst(&ua, &h, 1), 1);
	CHECK_EQ(receive(&ub, 0x0806, f), 1);
	CHECK_EQ(hl_mac_lookup(hl_switch_mac_table(sw), MAC_G, hl_fast_ns()), pa->id);
	start_logging(&ua, fp);
	hl_vuser_close(&ua); /* its queues stop with logging on: the end of a migration */
	for (int i = 0; i < 400 && hl_mac_lookup(hl_switch_mac_table(sw), MAC_G, hl_fast_ns()) >= 0; i++)
		usleep(5000);
	CHECK_EQ(hl_mac_lookup(hl_switch_mac_table(sw), MAC_G, hl_fast_ns()), -1);
	h = hello(fbp);
	REQUIRE(h != NULL);
	CHECK_EQ(hl_vuser_tx_burst(&ub, &h, 1), 1);
	struct hl_sw_mac_moves mm = {0};
	for (int i = 0; i < 400 && mm.moved < 3; i++) {
		usleep(5000);
		moves_now(&mm);
	}
	CHECK_EQ(mm.moved, 3); /* RARP, back to old, after old stopped */
	CHECK_EQ(mm.last_port, pb->id);
	CHECK_EQ(memcmp(mm.last_mac, MAC_G, 6), 0);
	CHECK_EQ(hl_mac_lookup(hl_switch_mac_table(sw), MAC_G, hl_fast_ns()), pb->id);

	hl_vuser_close(&ub);
	for (int i = 0; i < 400 && strcmp(pb->ops->state(pb), "up") == 0; i++)
		usleep(5000);
	usleep(50000); /* a few control polls */
	CHECK_EQ(hl_mac_lookup(hl_switch_mac_table(sw), MAC_G, hl_fast_ns()), pb->id); /* a plain stop forgets nothing */
	__atomic_store_n(&stop_ctrl, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	hl_switch_destroy(sw);
	pool_release(sp, sbp);
	pool_release(fp, fbp);
}
