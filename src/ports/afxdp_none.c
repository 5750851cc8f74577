/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The AF_XDP port where hugelink was built without libxdp and libbpf
 * (meson found neither): every entry point says so, so a port that cannot
 * exist is refused with the reason instead of failing to link.
 */
#include <errno.h>
#include <string.h>

#include <hugelink/afxdp_port.h>

int hl_afxdp_port_open(struct hl_pool *pool, const struct hl_afxdp_params *prm, struct hl_afxdp_port **out)
{
	(void)pool, (void)prm, (void)out;
	return hl_error(-ENOTSUP, "afxdp: hugelink was built without libxdp and libbpf (install libxdp-dev, "
				  "libbpf-dev and rebuild)");
}

void hl_afxdp_port_close(struct hl_afxdp_port *x)
{
	(void)x;
}

uint16_t hl_afxdp_rx_burst(struct hl_afxdp_port *x, struct hl_bufpool *bp, struct hl_buf **pkts, uint16_t n)
{
	(void)x, (void)bp, (void)pkts, (void)n;
	return 0;
}

uint16_t hl_afxdp_tx_burst(struct hl_afxdp_port *x, struct hl_buf **pkts, uint16_t n, uint64_t *bytes)
{
	(void)x, (void)pkts, (void)n, (void)bytes;
	return 0;
}

bool hl_afxdp_rx_pending(const struct hl_afxdp_port *x)
{
	(void)x;
	return false;
}

unsigned hl_afxdp_port_fds(const struct hl_afxdp_port *x, int *fds, unsigned max)
{
	(void)x, (void)fds, (void)max;
	return 0;
}

uint32_t hl_afxdp_max_frame(const struct hl_afxdp_port *x)
{
	(void)x;
	return 0;
}

void hl_afxdp_port_params(const struct hl_afxdp_port *x, struct hl_afxdp_params *prm)
{
	(void)x;
	memset(prm, 0, sizeof(*prm));
}

void hl_afxdp_port_stats(const struct hl_afxdp_port *x, struct hl_afxdp_stats *st)
{
	(void)x;
	memset(st, 0, sizeof(*st));
}
