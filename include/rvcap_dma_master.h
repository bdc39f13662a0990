/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C of rvcap's virtual DMA master, in the .c files of src/dma_master/:
 * how the DMA layer translates the device's addresses, the uncached alias
 * it writes a non-coherent device's memory through, the mapping of what it
 * reads, and the engine's sleep. Called from src/dma_master/ through the bindings
 * bindgen makes of include/rvcap_bindings.h, which includes this header.
 */
#ifndef RVCAP_DMA_MASTER_H
#define RVCAP_DMA_MASTER_H

#include <linux/dma-direction.h>
#include <linux/types.h>

struct device;
struct page;

/* dma_view.c: how the DMA layer translates a device's addresses */
size_t rvcap_dma_iommu_page(struct device *dev);
void *rvcap_dma_addr_to_virt(struct device *dev, size_t iommu_page,
			     dma_addr_t addr, size_t *len);
size_t rvcap_dma_sync_run(struct device *dev, size_t iommu_page,
			  dma_addr_t addr, size_t len);
bool rvcap_dma_iommu_strict(struct device *dev);

/* uncached_alias.c */
void *rvcap_vmap_uncached(struct page **pages, unsigned int count);
void rvcap_vunmap_uncached(void *alias);

/* dma_map.c */
int rvcap_dma_map_single(struct device *dev, void *ptr, size_t size,
			 enum dma_data_direction dir, dma_addr_t *addr);

/* engine_sleep.c */
void rvcap_engine_sleep_until(u64 deadline_ns);

#endif /* RVCAP_DMA_MASTER_H */
