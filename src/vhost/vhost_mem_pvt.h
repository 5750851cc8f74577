/* SPDX-License-Identifier: BSD-3-Clause */
/* Mapping the front-end's memory regions; internal to src/vhost. */
#ifndef HL_VHOST_MEM_PVT_H
#define HL_VHOST_MEM_PVT_H

#include <hugelink/vhost_dev.h>

/* Validate a region against its fd, then map it. Takes ownership of fd. */
int hl_vu_region_map(struct hl_vu_region *r, const struct hl_vu_mem_region *m, int fd);
void hl_vu_region_unmap(struct hl_vu_region *r);
/* Rebuild the GPA and UVA tables from d->regions; on error both are empty. */
int hl_vu_mem_rebuild(struct hl_vhost_dev *d);
void hl_vu_mem_clear(struct hl_vhost_dev *d);

/* References on a region's mapping (any thread); the last put unmaps it. */
void hl_vu_mapping_get(struct hl_vu_mapping *m);
void hl_vu_mapping_put(struct hl_vu_mapping *m);

#endif
