/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for guest offloads: the input becomes a virtio-net
 * header, the offloads negotiated, and a frame split into a private head
 * and guest memory (an exact heap block, so ASan sees any read past it).
 * Whatever hl_ol_from_vnet() accepts must then go through hl_ol_prepare()
 * for any port: segments it makes must carry valid IPv4 header and TCP
 * checksums, guest memory must be left as it was, and every buffer must
 * come back to the bufpool. On the way, as the switch does between an
 * access port and a trunk, an 802.1Q tag may be pushed (and popped again):
 * the metadata must still describe the frame, and the segments still sum.
 *
 * Input: the header (10 bytes), the port's offloads (1), its MTU (2, big
 * endian), the egress port's offloads (low 4 bits; 0x10: push a tag, 0x20:
 * and pop it, 0x40: with the frame shared) and largest frame (2), how many
 * bytes of the frame are in the private head (1), then the frame. The seeds
 * (seeds/fuzz_offload) are TCP over IPv4 and IPv6 to be segmented and to
 * have their checksum completed, each accepted by the checks.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hugelink/buf.h>
#include <hugelink/offload.h>

#include "net_bytes.h"

#define MAX_OUT 160

static void ext_free(void *va, void *opaque)
{
	(void)va;
	(void)opaque;
}

/* A segment made here: its checksums verify. */
static void check_segment(const struct hl_buf *seg, unsigned ipver)
{
	static uint8_t d[HL_OL_FRAME_MAX];
	uint32_t n = 0, l2 = seg->ol.l2_len, l3 = seg->ol.l3_len, l4off = l2 + l3;
	uint8_t ph[40];
	uint16_t s;

	for (const struct hl_buf *b = seg; b != NULL; b = b->next) {
		assert(!(b->flags & HL_BUF_F_EXTERNAL));
		assert(n + b->data_len <= sizeof(d));
		memcpy(d + n, hl_buf_data(b), b->data_len);
		n += b->data_len;
	}
	assert(n == seg->pkt_len && n >= seg->ol.hdr_len);
	if (ipver == 4) {
		assert(ref_sum(d + l2, l3, 0) == 0xffff);
		memcpy(ph, d + l2 + 12, 8);
		ph[8] = 0;
		ph[9] = 6;
		ph[10] = (uint8_t)((n - l4off) >> 8);
		ph[11] = (uint8_t)(n - l4off);
		s = ref_sum(ph, 12, 0);
	} else {
		memcpy(ph, d + l2 + 8, 32);
		memset(ph + 32, 0, 8);
		ph[34] = (uint8_t)((n - l4off) >> 8);
		ph[35] = (uint8_t)(n - l4off);
		ph[39] = 6;
		s = ref_sum(ph, 40, 0);
	}
	assert(ref_sum(d + l4off, n - l4off, s) == 0xffff);
}

static struct hl_pool *pool;
static struct hl_bufpool *bp;
static char dir[] = "/tmp/hlfuzz-ol.XXXXXX";

/* The pool's files go with the run (a crash leaves them, with the reproducer). */
static void cleanup(void)
{
	hl_bufpool_free(bp);
	hl_pool_destroy(pool);
	rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hl_virtio_net_hdr h;
	struct hl_ol_stats st;
	struct hl_buf *out[MAX_OUT];

	if (pool == NULL) {
		char name[32];
		hl_log_set_level(HL_LOG_OFF);
		if (mkdtemp(dir) == NULL)
			abort();
		snprintf(name, sizeof(name), "fz-ol-%d", (int)getpid());
		struct hl_pool_params prm = {.name = name, .size = 16u << 20, .run_dir = dir,
					     .flags = HL_POOL_F_NO_HUGE};
		if (hl_pool_create(&prm, &pool) < 0 ||
		    hl_bufpool_create(pool, "fz", 2048, 2048, 0, &bp) < 0)
			abort();
		atexit(cleanup);
	}
	/* header (10), caps (1), mtu (2), egress caps (1), max_frame (2), head length (1), frame */
	if (size < 17 || size - 17 > HL_OL_FRAME_MAX)
		return 0;
	memcpy(&h, data, sizeof(h));
	uint32_t caps = data[10] & 0x1f, mtu = (uint32_t)data[11] << 8 | data[12];
	uint32_t ecaps = data[13] & 0xf, max_frame = (uint32_t)data[14] << 8 | data[15];
	uint32_t len = (uint32_t)(size - 17), head = data[16] < len ? data[16] : len;
	const uint8_t *frame = data + 17;
	uint8_t *guest = NULL;

	struct hl_buf *p = hl_buf_alloc(bp);
	assert(p != NULL);
	memcpy(hl_buf_data(p), frame, head);
	p->data_len = p->pkt_len = head;
	if (len > head) {
		struct hl_buf *g = hl_buf_alloc(bp);
		assert(g != NULL);
		guest = malloc(len - head);
		memcpy(guest, frame + head, len - head);
		if (hl_buf_attach_extbuf(g, guest, 0, len - head, ext_free, NULL) < 0 ||
		    hl_buf_chain(p, g) < 0)
			abort();
	}
	memset(&st, 0, sizeof(st));
	int rc = hl_ol_from_vnet(p, &h, caps, mtu, &st);
	assert(rc <= 0);
	if (rc == 0 && (p->flags & HL_BUF_F_OFFLOAD)) {
		/* accepted: within the frame, whatever the guest said */
		assert(p->ol.hdr_len <= p->pkt_len);
		assert(!(p->ol.flags & HL_OL_F_CSUM_PARTIAL) ||
		       (uint32_t)p->ol.csum_start + p->ol.csum_offset + 2 <= p->pkt_len);
		uint8_t gso = p->ol.gso_type;
		if (data[13] & 0x10) {
			struct hl_buf *t;
			if (data[13] & 0x40)
				hl_buf_ref(p); /* flooded: a private head, p unchanged */
			int vr = hl_ol_vlan_push(p, (uint16_t)(data[16] | 1), bp, &t);
			if (vr == 0 && (data[13] & 0x20)) {
				struct hl_buf *u;
				if (hl_ol_vlan_pop(t, bp, &u) == 0)
					t = u;
			}
			if (data[13] & 0x40)
				hl_buf_free(p);
			if (vr < 0) {
				hl_buf_free(p);
				goto done;
			}
			p = t;
			assert(p->ol.hdr_len <= p->pkt_len);
			assert(!(p->ol.flags & HL_OL_F_CSUM_PARTIAL) ||
			       (uint32_t)p->ol.csum_start + p->ol.csum_offset + 2 <= p->pkt_len);
		}
		int n = hl_ol_prepare(p, ecaps, max_frame, bp, out, MAX_OUT, &st);
		if (n < 0) {
			hl_buf_free(p);
		} else {
			for (int i = 0; i < n && gso != HL_OL_GSO_NONE && out[0] != p; i++)
				check_segment(out[i], gso == HL_OL_GSO_TCPV4 ? 4 : 6);
			hl_buf_free_bulk(out, (unsigned)n);
		}
	} else {
		hl_buf_free(p);
	}
done:
	if (guest != NULL) {
		assert(memcmp(guest, frame + head, len - head) == 0);
		free(guest);
	}
	assert(hl_bufpool_in_use(bp) == 0);
	return 0;
}
