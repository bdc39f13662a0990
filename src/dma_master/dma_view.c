// SPDX-License-Identifier: GPL-2.0
/*
 * How the DMA layer translates a device's addresses: what rvcap's virtual
 * DMA master reaches at a DMA address, and how far one sync reaches
 * (src/dma_master/memory.rs, device_view.rs). In C: the answers come from dma-direct, iommu-dma and
 * IOMMU internals (use_dma_iommu(), dma_to_phys(), the domain) that have
 * no Rust binding and are static inlines or macros.
 */

#include <linux/dma-direct.h>
#include <linux/dma-map-ops.h>
#include <linux/highmem.h>
#include <linux/iommu.h>
#include <linux/iommu-dma.h>
#include <linux/mm.h>
#include <linux/pci.h>

#include "rvcap_dma_master.h"

/*
 * The IOMMU page size of @dev's DMA translation (its domain's smallest
 * page), or 0 if its DMA is not translated by iommu-dma.
 */
size_t rvcap_dma_iommu_page(struct device *dev)
{
	struct iommu_domain *domain;

	if (!use_dma_iommu(dev))
		return 0;
	domain = iommu_get_domain_for_dev(dev);
	return domain && domain->pgsize_bitmap ?
		1UL << __ffs(domain->pgsize_bitmap) : 0;
}

/*
 * The kernel virtual address of the bytes the device sees at @addr, as many
 * of the *@len as are contiguous there (*@len is cut to that), or NULL if
 * the CPU cannot reach them that way: a device fault. @iommu_page is
 * rvcap_dma_iommu_page(@dev), which callers look up once per mapping.
 * - dma-direct (no IOMMU, no DMA ops): phys_to_virt(dma_to_phys()); with
 *   swiotlb=force the bounce buffer, not the pages the CPU reads, which is
 *   what makes a missing sync visible.
 * - iommu-dma: what the IOMMU translates @addr to, one IOMMU page at a
 *   time (an IOVA range is contiguous only within a page); no translation
 *   is a fault, as for the device.
 * Only memory in the kernel's linear map qualifies (not highmem, not a
 * carveout without a mapping).
 */
void *rvcap_dma_addr_to_virt(struct device *dev, size_t iommu_page,
			     dma_addr_t addr, size_t *len)
{
	phys_addr_t phys;
	void *start, *last;

	if (!*len)
		return NULL;
	if (iommu_page) {
		phys = iommu_iova_to_phys(iommu_get_domain_for_dev(dev), addr);
		if (!phys)
			return NULL;
		*len = min_t(size_t, *len, iommu_page - (addr & (iommu_page - 1)));
	} else {
		/* Translated in a way this helper does not know: unreachable. */
		if (use_dma_iommu(dev) || get_dma_ops(dev))
			return NULL;
		phys = dma_to_phys(dev, addr);
	}
	if (!pfn_valid(PHYS_PFN(phys)) || !pfn_valid(PHYS_PFN(phys + *len - 1)))
		return NULL;
	start = phys_to_virt(phys);
	last = phys_to_virt(phys + *len - 1);
	if (!virt_addr_valid(start) || !virt_addr_valid(last) ||
	    PageHighMem(pfn_to_page(PHYS_PFN(phys))) ||
	    PageHighMem(pfn_to_page(PHYS_PFN(phys + *len - 1))))
		return NULL;
	return start;
}

/*
 * How many of the @len bytes at DMA address @addr, which lie within one
 * mapped segment, one dma_sync_single_*() may cover. A sync translates only
 * its first address:
 * - dma-direct: the segment is contiguous in memory, all of it;
 * - iommu-dma (@iommu_page, from rvcap_dma_iommu_page(), not 0): for a
 *   device whose syncs act on memory (not coherent: the caches; untrusted:
 *   bounce buffers), the rest of @addr's IOMMU page, then whole pages while
 *   each translates to where the run of memory goes on; for any other
 *   device its syncs translate nothing (they reach only DMA-API debugging,
 *   which checks DMA address ranges), so all of it;
 * - other DMA ops (arm32's IOMMU glue walks the struct pages after the
 *   first one it translates): the rest of @addr's page.
 */
size_t rvcap_dma_sync_run(struct device *dev, size_t iommu_page,
			  dma_addr_t addr, size_t len)
{
	struct iommu_domain *domain;
	size_t run;
	phys_addr_t first;

	if (!iommu_page) {
		if (use_dma_iommu(dev) || get_dma_ops(dev))
			return min_t(size_t, len, PAGE_SIZE - offset_in_page(addr));
		return len;
	}
	if (dev_is_dma_coherent(dev) &&
	    !(dev_is_pci(dev) && to_pci_dev(dev)->untrusted))
		return len;
	run = min_t(size_t, len, iommu_page - (addr & (iommu_page - 1)));
	domain = iommu_get_domain_for_dev(dev);
	first = domain ? iommu_iova_to_phys(domain, addr) : 0;
	if (!first)
		return run;
	while (run < len &&
	       iommu_iova_to_phys(domain, addr + run) == first + run)
		run += min_t(size_t, len - run, iommu_page);
	return run;
}

/*
 * Whether @dev's DMA goes through an IOMMU domain that invalidates at unmap
 * (strict), so that a device access after unmap faults at once; a lazy
 * (flush-queue) domain may still translate it for a while.
 */
bool rvcap_dma_iommu_strict(struct device *dev)
{
	struct iommu_domain *domain;

	if (!use_dma_iommu(dev))
		return false;
	domain = iommu_get_domain_for_dev(dev);
	return domain && domain->type == IOMMU_DOMAIN_DMA;
}
