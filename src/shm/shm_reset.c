/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shm ports, switch side: taking a port back from its peer without
 * removing it, when the peer died or left (its buffers would otherwise stay
 * with it until the port is deleted) or when an operator asks (a ring the
 * peer broke). The liveness rules and the reset's steps are part of the
 * format (shm_abi.h, "Liveness").
 *
 * Invariants:
 *   - both functions run on the control thread; hl_shm_port_reset only
 *     while no burst runs on the port (the switch takes the port out of
 *     its workers' reach around it), so the rings and the owner table have
 *     one writer throughout;
 *   - a reset holds peer_pid at HL_SHM_PEER_RESETTING from before it takes
 *     the first buffer back until the rings are laid out again, so an
 *     attaching peer either finished its claim before (and is evicted like
 *     the dead one) or starts after, on fresh rings; never in between;
 *   - only buffers the private owner table gives this port change hands,
 *     so nothing a peer wrote in the pool makes a reset free another
 *     port's buffer or one the switch holds.
 */
#include <errno.h>

#include "shm_port_pvt.h"

bool hl_shm_port_peer_gone(struct hl_shm_port *p, uint64_t now_ns)
{
	struct hl_shm_ctrl *ctl = p->ctrl;
	uint32_t pid = __atomic_load_n(&ctl->peer_pid, __ATOMIC_ACQUIRE);
	uint32_t gen = __atomic_load_n(&ctl->peer_gen, __ATOMIC_ACQUIRE);

	if (pid == HL_SHM_PEER_RESETTING)
		return false;
	if (pid == 0)
		return gen != p->gen_at_reset; /* a peer came and went */
	uint32_t beat = __atomic_load_n(&ctl->peer_beat, __ATOMIC_RELAXED);
	if (p->beat_ns == 0 || beat != p->beat_seen || pid != p->pid_seen || gen != p->gen_seen) {
		p->beat_seen = beat;
		p->pid_seen = pid;
		p->gen_seen = gen;
		p->beat_ns = now_ns;
		return false;
	}
	/* a peer that did not take the feature is never judged by a beat it does not make */
	return (hl_shm_features(p) & HL_SHM_F_BEAT) && now_ns - p->beat_ns >= HL_SHM_BEAT_DEAD_MS * 1000000ull;
}

int hl_shm_port_reset(struct hl_shm_port *p, const char *why)
{
	struct hl_shm_ctrl *ctl = p->ctrl;
	uint32_t cur = __atomic_load_n(&ctl->peer_pid, __ATOMIC_ACQUIRE);

	while (!__atomic_compare_exchange_n(&ctl->peer_pid, &cur, HL_SHM_PEER_RESETTING, 0, __ATOMIC_ACQ_REL,
					    __ATOMIC_ACQUIRE))
		if (cur == HL_SHM_PEER_RESETTING)
			return hl_error(-EBUSY, "shm port %s: a reset is under way", p->name);
	pthread_mutex_lock(&hl_shm_lock);
	unsigned taken = hl_shm_take_back(p);
	pthread_mutex_unlock(&hl_shm_lock);
	for (unsigned r = 0; r < HL_SHM_NRINGS; r++) {
		hl_shm_ring_format((uint8_t *)ctl + ctl->ring_off[r], ctl->ring_size, 0);
		__atomic_store_n(&ctl->intent[r].state, HL_SHM_INTENT_IDLE, __ATOMIC_RELAXED);
	}
	int rc = hl_shm_port_open_rings(p); /* fresh rings cannot fail to open: checked anyway */
	__atomic_store_n(&p->st.c.resets, p->st.c.resets + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&p->st.c.reclaimed, p->st.c.reclaimed + taken, __ATOMIC_RELAXED);
	hl_shm_mirror_counters(p);
	p->gen_at_reset = __atomic_load_n(&ctl->peer_gen, __ATOMIC_ACQUIRE);
	p->beat_ns = 0;
	__atomic_store_n(&ctl->switch_gen, ctl->switch_gen + 1, __ATOMIC_RELEASE);
	__atomic_store_n(&ctl->peer_pid, 0, __ATOMIC_RELEASE);
	HL_LOG_INFO("shm port %s: reset (%s): %u buffers taken back from %s peer (pid %u), rings laid out afresh",
		    p->name, why, taken, cur != 0 ? "its" : "a departed", cur);
	return rc < 0 ? hl_error(rc, "shm port %s: reset: %s", p->name, hl_last_error()) : 0;
}
