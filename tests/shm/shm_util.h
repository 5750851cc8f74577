/* SPDX-License-Identifier: BSD-3-Clause */
/* Helpers shared by the shm port tests: pools, frames with checkable payloads, frames as peer chains. */
#ifndef HL_TEST_SHM_UTIL_H
#define HL_TEST_SHM_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <hugelink/buf.h>
#include <hugelink/pool.h>
#include <hugelink/shm_peer.h>

#define SHM_MB (1ull << 20)
#define SHM_ROOM 2176u /* 2048 bytes of packet after the headroom */
#define SHM_ETHERTYPE 0x88b5

static inline int shm_pool_create(const char *tag, uint64_t size, struct hl_pool **p)
{
	static unsigned seq;
	char name[32];
	snprintf(name, sizeof(name), "t-%s%u-%d", tag, seq++, (int)getpid());
	struct hl_pool_params prm = {.name = name, .size = size, .run_dir = hl_test_tmpdir(),
				     .page_size = 2 * SHM_MB};
	return hl_pool_create(&prm, p);
}

/* Length of frame `seq` of a run: 60..1514 bytes, varying. */
static inline uint32_t shm_frame_len(uint32_t seq)
{
	return 60 + (seq * 97) % 1455;
}

/* A frame from MAC ..:src to MAC ..:dst carrying seq, with a payload derived from it. */
static inline void shm_frame_fill(uint8_t *f, uint32_t len, uint8_t src, uint8_t dst, uint32_t seq)
{
	const uint8_t d[6] = {0x02, 0, 0, 0, 0, dst}, s[6] = {0x02, 0, 0, 0, 0, src};
	memcpy(f, d, 6);
	memcpy(f + 6, s, 6);
	f[12] = SHM_ETHERTYPE >> 8;
	f[13] = SHM_ETHERTYPE & 0xff;
	memcpy(f + 14, &seq, 4);
	for (uint32_t i = 18; i < len; i++)
		f[i] = (uint8_t)(seq * 7 + i);
}

/* The seq of a well-formed frame of this length, or -1. */
static inline long shm_frame_check(const uint8_t *f, uint32_t len)
{
	uint32_t seq;
	if (len < 18 || f[12] != (SHM_ETHERTYPE >> 8) || f[13] != (SHM_ETHERTYPE & 0xff))
		return -1;
	memcpy(&seq, f + 14, 4);
	if (len != shm_frame_len(seq))
		return -1;
	for (uint32_t i = 18; i < len; i++)
		if (f[i] != (uint8_t)(seq * 7 + i))
			return -1;
	return (long)seq;
}

/*
 * len bytes of f in fill buffers of pe, a chain when they need more than
 * one, ol (unless NULL) on the first entry: the entries in pk, how many
 * (0, nothing held, when fill ran short).
 */
static inline unsigned shm_chain_fill(struct hl_shm_peer *pe, struct hl_shm_pkt *pk, const uint8_t *f, uint32_t len,
				      const struct hl_shm_ol *ol)
{
	uint32_t room = hl_shm_peer_mtu(pe), n = (len + room - 1) / room;
	unsigned got = hl_shm_tx_alloc(pe, pk, n);
	if (got != n) {
		hl_shm_release(pe, pk, got);
		return 0;
	}
	for (uint32_t i = 0, at = 0; i < n; i++) {
		uint32_t k = len - at < room ? len - at : room;
		memcpy(pk[i].data, f + at, k);
		pk[i].len = k;
		pk[i].flags = i + 1 < n ? HL_SHM_PKT_MORE : 0;
		at += k;
	}
	if (ol != NULL) {
		pk[0].flags |= HL_SHM_PKT_OL;
		pk[0].ol = *ol;
	}
	return n;
}

/* The bytes of the received frame whose first entry is pk, into dst: its length. */
static inline uint32_t shm_chain_flatten(const struct hl_shm_pkt *pk, uint8_t *dst)
{
	uint32_t len = 0;
	for (unsigned j = 0; j < pk[0].nsegs; j++) {
		memcpy(dst + len, pk[j].data, pk[j].len);
		len += pk[j].len;
	}
	return len;
}

#endif
