/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The back-end's socket life: server and client mode, fds across the
 * socket, disconnects that reset the device, reconnects with back-off, and
 * peers that break framing.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <hugelink/vhost_backend.h>
#include <hugelink/vhost_sock.h>

#include "hl_test.h"

static const char *sock_path(const char *name)
{
	static char p[256];
	snprintf(p, sizeof(p), "%s/%s", hl_test_tmpdir(), name);
	return p;
}

static int ask(int c, struct hl_vhost_backend *be, uint32_t req, struct hl_vu_msg *r)
{
	struct hl_vu_msg m = {.hdr = {.request = req, .flags = HL_VU_VERSION, .size = 0}};
	int fds[HL_VU_MAX_FDS];
	unsigned nfds;
	if (hl_vu_send(c, &m, NULL, 0) < 0)
		return -1;
	if (hl_vhost_backend_poll(be, 1000) != 1)
		return -2;
	return hl_vu_recv(c, r, fds, &nfds);
}

HL_TEST(server_mode_round_trip_and_reset_on_disconnect)
{
	struct hl_vhost_backend be;
	struct hl_vhost_backend_params p = {.path = sock_path("srv.sock"), .features = 1ull << 32,
					    .nqueues = 2};
	struct hl_vu_msg r;

	REQUIRE_OK(hl_vhost_backend_open(&be, &p));
	for (int round = 0; round < 2; round++) {
		int c = hl_vu_connect(p.path);
		REQUIRE(c >= 0);
		CHECK_EQ(hl_vhost_backend_poll(&be, 1000), 0); /* accept */
		CHECK(hl_vhost_backend_connected(&be));
		CHECK_EQ(ask(c, &be, HL_VU_GET_FEATURES, &r), 20);
		CHECK(r.payload.u64 & (1ull << 32));
		/* a memory table with its fd crosses the socket */
		int mfd = memfd_create("g", MFD_CLOEXEC);
		REQUIRE(ftruncate(mfd, 1 << 20) == 0);
		struct hl_vu_msg m = {.hdr = {.request = HL_VU_SET_MEM_TABLE, .flags = HL_VU_VERSION,
					      .size = 8 + 32}};
		m.payload.mem.nregions = 1;
		m.payload.mem.regions[0] = (struct hl_vu_mem_region){0, 1 << 20, 0x10000000, 0};
		REQUIRE_OK(hl_vu_send(c, &m, &mfd, 1));
		close(mfd);
		CHECK_EQ(hl_vhost_backend_poll(&be, 1000), 1);
		CHECK_EQ(be.dev.nregions, 1);
		close(c);
		hl_vhost_backend_poll(&be, 1000);
		CHECK(!hl_vhost_backend_connected(&be));
		CHECK_EQ(be.dev.nregions, 0); /* reset on disconnect */
	}
	CHECK_EQ(be.connects, 2);
	CHECK_EQ(be.disconnects, 2);
	hl_vhost_backend_close(&be);
	CHECK(access(p.path, F_OK) != 0);
}

HL_TEST(broken_peers_are_disconnected)
{
	struct hl_vhost_backend be;
	struct hl_vhost_backend_params p = {.path = sock_path("bad.sock"), .nqueues = 1};

	REQUIRE_OK(hl_vhost_backend_open(&be, &p));
	/* a payload size beyond the limit */
	int c = hl_vu_connect(p.path);
	hl_vhost_backend_poll(&be, 1000);
	struct hl_vu_hdr h = {.request = HL_VU_SET_FEATURES, .flags = HL_VU_VERSION, .size = 1 << 20};
	REQUIRE(write(c, &h, sizeof(h)) == sizeof(h));
	hl_vhost_backend_poll(&be, 1000);
	CHECK(!hl_vhost_backend_connected(&be));
	CHECK_STR_HAS(hl_last_error(), "exceeds");
	close(c);
	/* a header whose payload never comes: no hang, a disconnect */
	c = hl_vu_connect(p.path);
	hl_vhost_backend_poll(&be, 1000);
	h.size = 8;
	REQUIRE(write(c, &h, sizeof(h)) == sizeof(h));
	uint64_t t0 = hl_now_ns();
	hl_vhost_backend_poll(&be, 1000);
	CHECK(!hl_vhost_backend_connected(&be));
	CHECK(hl_now_ns() - t0 < 5000000000ull);
	close(c);
	/* a wrong version */
	c = hl_vu_connect(p.path);
	hl_vhost_backend_poll(&be, 1000);
	h = (struct hl_vu_hdr){.request = HL_VU_GET_FEATURES, .flags = 3, .size = 0};
	REQUIRE(write(c, &h, sizeof(h)) == sizeof(h));
	hl_vhost_backend_poll(&be, 1000);
	CHECK(!hl_vhost_backend_connected(&be));
	close(c);
	CHECK_EQ(be.disconnects, 3);
	hl_vhost_backend_close(&be);
}

HL_TEST(client_mode_reconnects)
{
	struct hl_vhost_backend be;
	struct hl_vhost_backend_params p = {.path = sock_path("cli.sock"), .client = true,
					    .nqueues = 1};
	struct hl_vu_msg r;

	REQUIRE_OK(hl_vhost_backend_open(&be, &p));
	hl_vhost_backend_poll(&be, 10);
	CHECK(!hl_vhost_backend_connected(&be)); /* nobody listens yet */
	int l = hl_vu_listen(p.path);
	REQUIRE(l >= 0);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 400 && !hl_vhost_backend_connected(&be); i++)
			hl_vhost_backend_poll(&be, 10);
		REQUIRE(hl_vhost_backend_connected(&be));
		int c = accept(l, NULL, NULL);
		REQUIRE(c >= 0);
		CHECK_EQ(ask(c, &be, HL_VU_GET_QUEUE_NUM, &r), 20);
		CHECK_EQ(r.payload.u64, 1);
		close(c); /* the front-end goes away ... */
		hl_vhost_backend_poll(&be, 1000);
		CHECK(!hl_vhost_backend_connected(&be)); /* ... and the back-end comes back */
	}
	CHECK_EQ(be.connects, 2);
	close(l);
	hl_vhost_backend_close(&be);
	unlink(p.path);
}

HL_TEST(listen_refuses_what_is_not_a_stale_socket)
{
	const char *f = sock_path("plain-file");
	int fd = open(f, O_CREAT | O_WRONLY, 0600);
	close(fd);
	CHECK_EQ(hl_vu_listen(f), -EEXIST);
	CHECK(access(f, F_OK) == 0);
	int l = hl_vu_listen(sock_path("live.sock"));
	REQUIRE(l >= 0);
	CHECK_EQ(hl_vu_listen(sock_path("live.sock")), -EADDRINUSE);
	close(l);
	/* now stale: replaced */
	l = hl_vu_listen(sock_path("live.sock"));
	CHECK(l >= 0);
	close(l);
}
