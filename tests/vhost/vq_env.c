/* SPDX-License-Identifier: BSD-3-Clause */
/* The guest side of the vhost ring tests (vq_env.h): set-up, frames both ways, take-down. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../memory/pool_util.h"
#include "fd_util.h"
#include "hl_test.h"
#include "vq_env.h"

struct hl_vhost_port port;
struct hl_pool *pool;
struct hl_bufpool *bp;
uint8_t *g;
int memfd = -1, callfd[2] = {-1, -1};
unsigned ring_num;
bool packed;
struct hl_vring_driver srx, stx;
struct hl_vring_packed_driver prx, ptx;
enum hl_vhost_zc_mode env_zc;

int msg(uint32_t req, const void *payload, uint32_t size, int *fds, unsigned nfds, struct hl_vu_msg *r)
{
	struct hl_vu_msg m, rr;
	memset(&m, 0, sizeof(m));
	m.hdr = (struct hl_vu_hdr){.request = req, .flags = HL_VU_VERSION, .size = size};
	if (size)
		memcpy(m.payload.raw, payload, size);
	return hl_vhost_dev_handle(&port.be.dev, &m, sizeof(m.hdr) + size, fds, nfds, r ? r : &rr);
}

int msg_u64(uint32_t req, uint64_t v) { return msg(req, &v, 8, NULL, 0, NULL); }

int msg_state(uint32_t req, uint32_t idx, uint32_t num, struct hl_vu_msg *r)
{
	struct hl_vu_vring_state s = {idx, num};
	return msg(req, &s, sizeof(s), NULL, 0, r);
}

int set_addr(unsigned q, uint64_t ring_off)
{
	uintptr_t b = (uintptr_t)(g + ring_off);
	struct hl_vu_vring_addr a = {.index = q, .desc_user_addr = b, .log_guest_addr = gpa(ring_off)};
	a.avail_user_addr = b + (packed ? hl_vring_packed_driver_event_offset(ring_num) : hl_vring_avail_offset(ring_num));
	a.used_user_addr = b + (packed ? hl_vring_packed_device_event_offset(ring_num) : hl_vring_used_offset(ring_num));
	return msg(HL_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, NULL);
}

int start_queue(unsigned q, uint32_t base)
{
	int rc;
	if ((rc = msg_state(HL_VU_SET_VRING_NUM, q, ring_num, NULL)) < 0 ||
	    (rc = msg_state(HL_VU_SET_VRING_BASE, q, base, NULL)) < 0 || (rc = set_addr(q, q ? TXRING : RXRING)) < 0)
		return rc;
	uint64_t idx = q;
	int fd = dup(callfd[q]);
	if ((rc = msg(HL_VU_SET_VRING_CALL, &idx, 8, &fd, 1, NULL)) < 0)
		return rc;
	return msg_u64(HL_VU_SET_VRING_KICK, q | HL_VU_VRING_NOFD);
}

/* Both drivers of the guest, on the rings in guest memory; transmit's indirect tables when negotiated. */
static int drivers_init(unsigned num, uint64_t features)
{
	bool ind = features & F(HL_VIRTIO_RING_F_INDIRECT_DESC);
	if (packed) {
		if (hl_vring_packed_driver_init(&prx, g + RXRING, num, features) < 0 ||
		    hl_vring_packed_driver_init(&ptx, g + TXRING, num, features) < 0)
			return -EINVAL;
		return ind ? hl_vring_packed_driver_set_indirect(&ptx, g + TXIND, gpa(TXIND), IND_MAX) : 0;
	}
	if (hl_vring_driver_init(&srx, g + RXRING, num, features) < 0 ||
	    hl_vring_driver_init(&stx, g + TXRING, num, features) < 0)
		return -EINVAL;
	return ind ? hl_vring_driver_set_indirect(&stx, g + TXIND, gpa(TXIND), IND_MAX) : 0;
}

int open_env(unsigned num, uint64_t features)
{
	char path[256];
	int rc;

	ring_num = num;
	packed = features & F(HL_VIRTIO_F_RING_PACKED);
	if ((rc = pool_with_bufs(hl_test_tmpdir(), "vq", 32 << 20, 4096, &pool, &bp)) < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/vq.sock", hl_test_tmpdir());
	struct hl_vhost_port_params pp = {.path = path, .zc_mode = env_zc};
	if ((rc = hl_vhost_port_open(&port, &pp)) < 0)
		return rc;
	memfd = memfd_of(MEM);
	g = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (memfd < 0 || g == MAP_FAILED)
		return -ENOMEM;
	callfd[0] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	callfd[1] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if ((rc = msg(HL_VU_SET_OWNER, NULL, 0, NULL, 0, NULL)) < 0 || (rc = msg_u64(HL_VU_SET_FEATURES, features)) < 0)
		return rc;
	struct hl_vu_mem_table t;
	memset(&t, 0, sizeof(t));
	t.nregions = 1;
	t.regions[0] = (struct hl_vu_mem_region){gpa(0), MEM, (uintptr_t)g, 0};
	int fd = dup(memfd);
	if ((rc = msg(HL_VU_SET_MEM_TABLE, &t, 8 + sizeof(t.regions[0]), &fd, 1, NULL)) < 0)
		return rc;
	if ((rc = drivers_init(num, features)) < 0)
		return rc;
	uint32_t base = packed ? 0x8000 : 0; /* packed: position 0, wrap counter 1 */
	if ((rc = start_queue(0, base)) < 0 || (rc = start_queue(1, base)) < 0)
		return rc;
	return hl_vhost_port_queue_ready(&port, 0) && hl_vhost_port_queue_ready(&port, 1) ? 0 : -ENODEV;
}

void close_env(void)
{
	hl_vhost_port_close(&port);
	CHECK_EQ(hl_bufpool_in_use(bp), 0);
	hl_vring_driver_fini(&srx);
	hl_vring_driver_fini(&stx);
	hl_vring_packed_driver_fini(&prx);
	hl_vring_packed_driver_fini(&ptx);
	hl_bufpool_free(bp);
	hl_pool_destroy(pool);
	munmap(g, MEM);
	close(memfd);
	close(callfd[0]);
	close(callfd[1]);
	memset(&srx, 0, sizeof(srx));
	memset(&stx, 0, sizeof(stx));
	memset(&prx, 0, sizeof(prx));
	memset(&ptx, 0, sizeof(ptx));
}

void make_frame(uint8_t *f, uint32_t seq, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		f[i] = (uint8_t)(seq * 7 + i);
	memcpy(f, &seq, sizeof(seq));
}

bool frame_is(const uint8_t *f, uint32_t seq, uint32_t len)
{
	uint8_t want[2048];
	make_frame(want, seq, len);
	return memcmp(f, want, len) == 0;
}

bool buf_is_frame(const struct hl_buf *b, uint32_t seq)
{
	uint8_t f[2048];
	uint32_t at = 0;
	for (const struct hl_buf *x = b; x != NULL && at + x->data_len <= sizeof(f); x = x->next) {
		memcpy(f + at, hl_buf_data(x), x->data_len);
		at += x->data_len;
	}
	return at == b->pkt_len && at == frame_len(seq) && frame_is(f, seq, at);
}

int drv_add(bool txq, const struct hl_drv_buf *b, unsigned nr_out, unsigned nr_in, void *tok)
{
	if (packed)
		return hl_vring_packed_driver_add(txq ? &ptx : &prx, b, nr_out, nr_in, tok);
	return hl_vring_driver_add(txq ? &stx : &srx, b, nr_out, nr_in, tok);
}

void *drv_used(bool txq, uint32_t *len)
{
	if (packed)
		return hl_vring_packed_driver_get_used(txq ? &ptx : &prx, len);
	return hl_vring_driver_get_used(txq ? &stx : &srx, len);
}

unsigned guest_send(uint32_t seq, unsigned count, enum tx_layout layout, unsigned bad_at)
{
	unsigned k;
	for (k = 0; k < count && k < NBUF; k++) {
		uint64_t off = TXBUF + (uint64_t)((seq + k) % NBUF) * 2048;
		uint32_t len = frame_len(seq + k);
		memset(g + off, 0, HDR);
		make_frame(g + off + HDR, seq + k, len);
		struct hl_drv_buf b[2] = {{gpa(off), HDR + len}, {0, 0}};
		bool two = layout == TX_TWO || (layout == TX_TWO_EVERY_THIRD && (seq + k) % 3 == 1);
		if (two) {
			b[0].len = HDR;
			b[1] = (struct hl_drv_buf){gpa(off + HDR), len};
		}
		if (k == bad_at)
			b[0].addr = gpa(MEM) + 0x1000;
		if (drv_add(true, b, two ? 2 : 1, 0, (void *)(uintptr_t)(seq + k + 1)) < 0)
			break;
	}
	return k;
}

unsigned switch_take(uint32_t *seq, unsigned *got, uint32_t skip_seq)
{
	struct hl_buf *pkts[HL_VHOST_BURST];
	unsigned bad = 0;
	uint16_t n;
	while ((n = hl_vhost_dequeue_burst(&port, 1, bp, pkts, HL_VHOST_BURST)) > 0) {
		for (uint16_t i = 0; i < n; i++) {
			if (*seq == skip_seq)
				(*seq)++;
			bad += !buf_is_frame(pkts[i], *seq);
			(*seq)++;
		}
		*got += n;
		hl_buf_free_bulk(pkts, n);
	}
	return bad;
}

uint16_t enqueue_one(uint32_t seq, uint32_t len)
{
	struct hl_buf *pk = hl_buf_alloc(bp);
	if (pk == NULL)
		return 0;
	make_frame(hl_buf_data(pk), seq, len);
	pk->data_len = pk->pkt_len = len;
	uint16_t n = hl_vhost_enqueue_burst(&port, 0, &pk, 1, NULL);
	hl_buf_free(pk);
	return n;
}

uint16_t enqueue_frames(uint32_t seq, unsigned m)
{
	struct hl_buf *pkts[8];
	unsigned i;
	for (i = 0; i < m && i < 8; i++) {
		pkts[i] = hl_buf_alloc(bp);
		CHECK(pkts[i] != NULL);
		if (pkts[i] == NULL)
			break;
		uint32_t len = frame_len(seq + i);
		make_frame(hl_buf_data(pkts[i]), seq + i, len);
		pkts[i]->data_len = pkts[i]->pkt_len = len;
	}
	uint16_t s = i < m ? 0 : hl_vhost_enqueue_burst(&port, 0, pkts, (uint16_t)m, NULL);
	hl_buf_free_bulk(pkts, i);
	return s;
}

void guest_post_rx(unsigned *posted, unsigned delivered)
{
	while (*posted - delivered < ring_num && *posted - delivered < NBUF) {
		struct hl_drv_buf b = {gpa(RXBUF + (uint64_t)(*posted % NBUF) * 512), 512};
		if (drv_add(false, &b, 0, 1, (void *)(uintptr_t)(*posted % NBUF + 1)) < 0)
			break;
		(*posted)++;
	}
}

unsigned guest_take_rx(uint32_t *rseq, unsigned *delivered)
{
	unsigned bad = 0;
	uint32_t len;
	void *tok;
	while ((tok = drv_used(false, &len)) != NULL) {
		unsigned id = (unsigned)(uintptr_t)tok - 1;
		const uint8_t *b0 = g + RXBUF + (uint64_t)id * 512;
		struct hl_virtio_net_hdr_v1 h;
		memcpy(&h, b0, sizeof(h));
		uint8_t f[2048];
		uint32_t at = len - HDR;
		memcpy(f, b0 + HDR, at);
		(*delivered)++;
		for (unsigned nb = 1; nb < h.num_buffers; nb++) {
			tok = drv_used(false, &len);
			if (tok == NULL || at + len > sizeof(f))
				break;
			id = (unsigned)(uintptr_t)tok - 1;
			memcpy(f + at, g + RXBUF + (uint64_t)id * 512, len);
			at += len;
			(*delivered)++;
		}
		if (h.hdr.flags != 0 || at != frame_len(*rseq) || !frame_is(f, *rseq, at) ||
		    h.num_buffers != (HDR + at + 511) / 512)
			bad++;
		(*rseq)++;
	}
	return bad;
}
