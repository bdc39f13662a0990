// SPDX-License-Identifier: GPL-2.0

#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>

void rvcap_dma_set_max_seg_size(struct device *dev, unsigned int size)
{
	dma_set_max_seg_size(dev, size);
}

u64 rvcap_dma_get_mask(struct device *dev)
{
	return dma_get_mask(dev);
}

/*
 * Whether @dev's DMA is coherent with the CPU's caches: always on x86; on
 * arm64 only if firmware said so (dma-coherent), else every sync does
 * cache maintenance.
 */
bool rvcap_dev_is_dma_coherent(struct device *dev)
{
	return dev_is_dma_coherent(dev);
}

int rvcap_dma_map_sgtable(struct device *dev, struct sg_table *sgt,
			  enum dma_data_direction dir, unsigned long attrs)
{
	return dma_map_sgtable(dev, sgt, dir, attrs);
}

void rvcap_dma_unmap_sgtable(struct device *dev, struct sg_table *sgt,
			     enum dma_data_direction dir, unsigned long attrs)
{
	dma_unmap_sgtable(dev, sgt, dir, attrs);
}

/*
 * Whether syncs do anything for @dev: not for a coherent device that bounces
 * nothing (dma_skip_sync), unless DMA-API debugging wants to see them.
 */
bool rvcap_dma_dev_need_sync(struct device *dev)
{
	return dma_dev_need_sync(dev);
}

void rvcap_dma_sync_single_for_cpu(struct device *dev, dma_addr_t addr,
				   size_t size, enum dma_data_direction dir)
{
	dma_sync_single_for_cpu(dev, addr, size, dir);
}

void rvcap_dma_sync_single_for_device(struct device *dev, dma_addr_t addr,
				      size_t size, enum dma_data_direction dir)
{
	dma_sync_single_for_device(dev, addr, size, dir);
}
