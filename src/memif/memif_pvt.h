/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the memif port's socket side (memif_port.c) and its client role
 * (memif_client.c) share. Control thread only.
 */
#ifndef HUGELINK_MEMIF_PVT_H
#define HUGELINK_MEMIF_PVT_H

#include <hugelink/memif_port.h>

/* Send one message, with fd (-1: none); a peer that does not read loses the message, not our thread. */
void hl__memif_send(struct hl_memif_port *p, const struct hl_memif_msg *m, int fd);
/* End the connection: queues stopped, buffers given back, memory and fds gone. */
void hl__memif_hang_up(struct hl_memif_port *p, const char *why);
/* Start every queue pair the handshake set up. */
void hl__memif_start_queues(struct hl_memif_port *p, unsigned nq);

/* Client role: connect when the back-off allows (memif_client.c). */
void hl__memif_client_connect(struct hl_memif_port *p);
/* Client role, on HL_MEMIF_A_SETUP: the rings' memfd, the pool as region 1, eventfds, M2S buffers. 0 or -errno. */
int hl__memif_client_layout(struct hl_memif_port *p);

/*
 * The SIGBUS guard (memif_guard.c): a peer can shrink the file behind a
 * region we mapped, and the next access to the lost pages raises SIGBUS.
 * Inside a guarded range the handler puts anonymous zero pages in the
 * region's place (the access then completes, reading zeros), sets *fault,
 * and the control thread ends the connection; a SIGBUS anywhere else is
 * handled as before. add returns a slot (or -ENOSPC); del before munmap.
 */
int hl__memif_guard_add(void *va, uint64_t len, int *fault);
void hl__memif_guard_del(int slot);

#endif
