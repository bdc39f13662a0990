/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C of rvcap's virtual DMA master, in src/dma_master/dma_master.c: what
 * the device reaches at a DMA address, the uncached alias it writes a
 * non-coherent device's memory through, the mapping of what it reads, and
 * the engine's sleep. Called from src/dma_master/ through the bindings
 * bindgen makes of include/rvcap_bindings.h, which includes this header.
 * General DMA-layer facts (a device's IOMMU page, how far one sync
 * reaches) are kapi's: rvcap_helpers.h.
 */
#ifndef RVCAP_DMA_MASTER_H
#define RVCAP_DMA_MASTER_H

#include <linux/dma-direction.h>
#include <linux/types.h>

struct device;
struct page;

/*
 * What the device reaches at a DMA address (iommu_page: see
 * rvcap_dma_iommu_page() in rvcap_helpers.h)
 */
void *rvcap_dma_addr_to_virt(struct device *dev, size_t iommu_page,
			     dma_addr_t addr, size_t *len);
bool rvcap_dma_iommu_strict(struct device *dev);

/* The uncached alias */
void *rvcap_vmap_uncached(struct page **pages, unsigned int count);
void rvcap_vunmap_uncached(void *alias);

/* Mapping what the device reads */
int rvcap_dma_map_single(struct device *dev, void *ptr, size_t size,
			 enum dma_data_direction dir, dma_addr_t *addr);
void rvcap_dma_unmap_single(struct device *dev, dma_addr_t addr, size_t size,
			    enum dma_data_direction dir);

/* The engine's sleep */
void rvcap_engine_sleep_until(u64 deadline_ns);

#endif /* RVCAP_DMA_MASTER_H */
