/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The queue the zero-copy calibration times: a transmit virtqueue in our
 * own memory, driven by the in-tree driver the way a front-end drives a
 * real one, and dequeued by the real hl_vhost_dequeue_burst() in copy or
 * zero-copy mode. It sits above the dequeue and hands the calibration
 * engine (vhost_zcopy_calib.c) one sample function; the engine never sees
 * the queue.
 *
 * A sample posts CAL_BURSTS bursts of frames (each in its own 2 KB buffer
 * behind the virtio-net header, larger ones as chains of 2 KB pieces, only
 * the first bytes freshly written, as a sender fills in headers), the
 * consumer frees each burst at once, and the driver takes back what came
 * back on the used ring; completions of pinned chains are part of the cost.
 * Everything (ring, "guest" memory, device, context) belongs to the one
 * thread that runs the samples; nothing is shared with a live port.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hugelink/vhost_port.h>
#include <hugelink/vring_driver.h>

#include "vhost_port_pvt.h"

#include "vhost_zcopy_calib_pvt.h"
#include "vhost_zcopy_pvt.h"

#define CAL_RING 1024         /* room for two bursts of the longest chains */
#define CAL_PIECE 2048        /* a front-end buffer's data room */
#define CAL_STRIDE 2304       /* ... with headroom, where the header goes */
#define CAL_BUFS 1024         /* front-end buffers cycled through */
#define CAL_BURSTS 4
#define CAL_GPA 0x40000000ull /* where the loop's "guest memory" starts */
#define CAL_HDR 12            /* the largest virtio-net header */

struct calib_loop {
	struct hl_bufpool *bp;
	struct hl_vhost_dev dev;     /* guest memory and its IOVAs only */
	struct hl_vhost_port *port;  /* only vq[1] is set: what the dequeue reads */
	struct hl_vhost_zc *zc;
	struct hl_vring_driver drv;
	uint8_t *mem;                /* the ring, then the frame buffers */
	size_t mem_len, buf_off;
	unsigned next_buf;
	struct hl_vhost_zc_calib *out;
};

/* Post `count` frames of `size` bytes. */
static int loop_post(struct calib_loop *c, uint32_t size, unsigned count)
{
	static const uint8_t hdr[64] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00, 0x45};
	unsigned nseg = (size + CAL_PIECE - 1) / CAL_PIECE;
	struct hl_drv_buf bufs[HL_VHOST_ZC_NEVER / CAL_PIECE + 1];
	if (nseg > sizeof(bufs) / sizeof(bufs[0]))
		return -1;
	for (unsigned k = 0; k < count; k++) {
		for (unsigned i = 0; i < nseg; i++) {
			uint8_t *va = c->mem + c->buf_off + (size_t)(c->next_buf++ % CAL_BUFS) * CAL_STRIDE;
			uint32_t piece = i + 1 < nseg ? CAL_PIECE : size - CAL_PIECE * (nseg - 1);
			if (i == 0) {
				memset(va, 0, CAL_HDR);
				memcpy(va + CAL_HDR, hdr, sizeof(hdr));
				piece += CAL_HDR;
			}
			bufs[i] = (struct hl_drv_buf){.addr = CAL_GPA + (uint64_t)(va - c->mem), .len = piece};
		}
		if (hl_vring_driver_add(&c->drv, bufs, nseg, 0, (void *)(uintptr_t)(k + 1)) < 0)
			return -1;
	}
	return 0;
}

/* hl_zc_calib_ops.sample: ns a packet, or -1 (no buffers, or the ring misbehaved). */
static double loop_sample(void *ctx, bool zc, uint32_t size)
{
	struct calib_loop *c = ctx;
	struct hl_vhost_vq *vq = &c->port->vq[1];
	struct hl_buf *pkts[HL_VHOST_BURST];
	uint32_t len;
	unsigned back = 0;
	vq->zc = zc ? c->zc : NULL;
	uint64_t t0 = hl_now_ns();
	for (unsigned b = 0; b < CAL_BURSTS; b++) {
		if (loop_post(c, size, HL_VHOST_BURST) < 0)
			goto fail;
		uint16_t got = hl_vhost_dequeue_burst(c->port, 1, c->bp, pkts, HL_VHOST_BURST);
		hl_buf_free_bulk(pkts, got);
		if (got != HL_VHOST_BURST)
			goto fail;
		while (hl_vring_driver_get_used(&c->drv, &len) != NULL)
			back++;
	}
	if (zc) {
		/* every buffer is back: one drain completes them all, and the queue leaves zero-copy clean */
		hl_vhost_zc_drain(vq);
		hl_vring_flush_used(&vq->vr);
		while (hl_vring_driver_get_used(&c->drv, &len) != NULL)
			back++;
	}
	uint64_t t = hl_now_ns() - t0;
	vq->zc = NULL;
	if (back != CAL_BURSTS * HL_VHOST_BURST || c->zc->pinned != 0)
		return -1;
	return (double)t / (CAL_BURSTS * HL_VHOST_BURST);
fail:
	vq->zc = NULL;
	return -1;
}

static void *loop_thread(void *arg)
{
	struct calib_loop *c = arg;
	/* like a data-path thread: buffers come from a per-thread cache */
	if (hl_buf_thread_attach() < 0)
		return NULL;
	struct hl_zc_calib_ops ops = {.sample = loop_sample, .ctx = c};
	hl_zc_calib_run(&ops, c->out);
	hl_buf_thread_detach();
	return NULL;
}

/* The device memory, ring and queue the samples run on; 0 or -1. */
static int loop_setup(struct calib_loop *c)
{
	size_t ring = (hl_vring_size(CAL_RING) + 4095) & ~(size_t)4095;
	c->buf_off = ring;
	c->mem_len = ring + (size_t)CAL_BUFS * CAL_STRIDE;
	c->mem_len = (c->mem_len + 4095) & ~(size_t)4095;
	c->mem = aligned_alloc(4096, c->mem_len);
	c->port = calloc(1, sizeof(*c->port));
	if (c->mem == NULL || c->port == NULL)
		return -1;
	memset(c->mem, 0, c->mem_len);
	struct hl_vhost_vq *vq = &c->port->vq[1];
	struct hl_guest_region gr = {.gpa = CAL_GPA, .size = c->mem_len, .hva = c->mem};
	/* an IOVA for every guest byte, as guest memory on hugepages has */
	struct hl_xrange xr = {.src = (uintptr_t)c->mem, .len = c->mem_len, .dst = 1ull << 40};
	if (hl_guest_mem_build(&c->dev.mem, &gr, 1) < 0 || hl_xlate_build(&c->dev.hva2iova, &xr, 1, 12) < 0)
		return -1;
	uint64_t features = HL_VIRTIO_BIT(HL_VIRTIO_F_VERSION_1);
	if (hl_vring_driver_init(&c->drv, c->mem, CAL_RING, features) < 0 ||
	    hl_vring_init(&vq->vr, CAL_RING, c->drv.desc, c->drv.avail, c->drv.used, features) < 0)
		return -1;
	hl_vring_set_notify(&vq->vr, false);
	vq->mem = &c->dev.mem;
	vq->call_fd = -1;
	vq->hdr_len = CAL_HDR;
	vq->zc_min_len = 0;
	vq->zc_max_pinned = CAL_RING / 2;
	vq->zc_max_pin_ns = 1000000000ull; /* a slow moment must not make a sample copy */
	vq->running = 1;
	c->zc = hl_vhost_zc_create(&c->dev, CAL_RING);
	return c->zc != NULL ? 0 : -1;
}

static void loop_teardown(struct calib_loop *c)
{
	if (c->port != NULL) {
		struct hl_vhost_vq *vq = &c->port->vq[1];
		if (c->zc != NULL) {
			vq->zc = c->zc;
			hl_vhost_zc_stop(vq); /* drops the context: nothing is pinned any more */
		}
		hl_vring_driver_fini(&c->drv);
	}
	hl_xlate_free(&c->dev.hva2iova);
	hl_guest_mem_free(&c->dev.mem);
	free(c->port);
	free(c->mem);
}

uint32_t hl_vhost_zc_calibrate(struct hl_bufpool *bp, struct hl_vhost_zc_calib *out)
{
	struct hl_vhost_zc_calib mine;
	struct calib_loop *c = calloc(1, sizeof(*c));
	pthread_t th;
	uint64_t t0 = hl_now_ns();

	if (out == NULL)
		out = &mine;
	memset(out, 0, sizeof(*out));
	out->min_len = HL_VHOST_ZC_DEFAULT_MIN_LEN;
	hl_fast_clock_init();
	if (c != NULL) {
		c->bp = bp;
		c->out = out;
	}
	if (c != NULL && bp != NULL && loop_setup(c) == 0 && pthread_create(&th, NULL, loop_thread, c) == 0)
		pthread_join(th, NULL);
	out->ms = (double)(hl_now_ns() - t0) / 1e6;
	if (out->measured) {
		char line[HL_VHOST_ZC_CAL_NSIZES * 16] = "";
		size_t at = 0;
		for (unsigned i = 0; i < HL_VHOST_ZC_CAL_NSIZES && at < sizeof(line); i++)
			at += (size_t)snprintf(line + at, sizeof(line) - at, " %u:%.2f", out->size[i], out->ratio[i]);
		HL_LOG_INFO("vhost zero-copy: AUTO from %u B (zero-copy/copy time by size:%s; %u B: copy %.0f ns, "
			    "zero-copy %.0f ns a packet; measured in %.1f ms)",
			    out->min_len, line, out->size[0], out->copy_ns[0], out->zc_ns[0], out->ms);
	} else {
		out->min_len = HL_VHOST_ZC_DEFAULT_MIN_LEN;
		HL_LOG_WARN("vhost zero-copy: could not measure copy against zero-copy; AUTO from %u B (not measured)",
			    out->min_len);
	}
	if (c != NULL)
		loop_teardown(c);
	free(c);
	hl_vhost_zc_set_min_len_default(out->min_len);
	return out->min_len;
}
