// SPDX-License-Identifier: GPL-2.0
/* Mapping a CPU buffer for a device to read (src/dma_master/to_device.rs). */

#include <linux/dma-mapping.h>

#include "rvcap_dma_master.h"

/*
 * dma_map_single(); 0 or -ENOMEM. In C: the mapping and its check,
 * dma_mapping_error(), are static inlines, and a failed address is only
 * meaningful to the latter.
 */
int rvcap_dma_map_single(struct device *dev, void *ptr, size_t size,
			 enum dma_data_direction dir, dma_addr_t *addr)
{
	*addr = dma_map_single(dev, ptr, size, dir);
	return dma_mapping_error(dev, *addr) ? -ENOMEM : 0;
}
