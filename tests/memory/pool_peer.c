/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A second process for test_pool: attaches through a record, reads a string
 * at an IOVA, checks it never read pagemap, writes a reply 4 KiB further on.
 * usage: pool_peer RECORD IOVA EXPECT REPLY; exit 0 on success.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hugelink/pool.h>

int main(int argc, char **argv)
{
	struct hl_pool *p;

	if (argc != 5)
		return 2;
	int rc = hl_pool_attach(argv[1], 0, &p);
	if (rc < 0) {
		fprintf(stderr, "peer: attach: %s\n", hl_last_error());
		return 3;
	}
	uint64_t iova = strtoull(argv[2], NULL, 0);
	char *va = hl_pool_iova2va(p, iova);
	if (va == NULL || hl_pool_va2iova(p, va) != iova)
		return 4;
	if (strcmp(va, argv[3]) != 0) {
		fprintf(stderr, "peer: read '%.40s', expected '%s'\n", va, argv[3]);
		return 5;
	}
	if (hl_pagemap_reads() != 0)
		return 6;
	strcpy(va + 4096, argv[4]);
	hl_pool_detach(p);
	return 0;
}
