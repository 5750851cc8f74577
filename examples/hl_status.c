/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A program of one's own against the installed libhugelink (pkg-config
 * hugelink): ask a running hugelinkd for its stats over the control
 * socket and print one line per port.
 *
 *   cc hl_status.c $(pkg-config --cflags --libs hugelink) -o hl_status
 *   ./hl_status [SOCK]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hugelink/common.h>
#include <hugelink/ctl.h>
#include <hugelink/json.h>

int main(int argc, char **argv)
{
	const char *sock = argc > 1 ? argv[1] : HL_CTL_DEFAULT_PATH;
	char *reply = NULL;
	struct hl_json *j = NULL;

	if (hl_ctl_request(sock, "{\"cmd\":\"stats\"}", 5000, &reply) < 0 ||
	    hl_json_parse(reply, strlen(reply), &j) < 0 || hl_json_bool(hl_json_get(j, "ok")) != 1) {
		fprintf(stderr, "hl_status: %s\n", reply ? reply : hl_last_error());
		free(reply);
		hl_json_free(j);
		return 1;
	}
	const struct hl_json *ports = hl_json_get(j, "ports");
	printf("pool %s: %zu port(s)\n", hl_json_str(hl_json_get(j, "pool")), hl_json_len(ports));
	for (size_t i = 0; i < hl_json_len(ports); i++) {
		const struct hl_json *p = hl_json_at(ports, i);
		uint64_t rx = 0, tx = 0;
		hl_json_u64(hl_json_get(p, "rx_packets"), &rx);
		hl_json_u64(hl_json_get(p, "tx_packets"), &tx);
		printf("  %-12s %-6s %-12s rx %" PRIu64 " tx %" PRIu64 "\n", hl_json_str(hl_json_get(p, "name")),
		       hl_json_str(hl_json_get(p, "kind")), hl_json_str(hl_json_get(p, "state")), rx, tx);
	}
	hl_json_free(j);
	free(reply);
	return 0;
}
