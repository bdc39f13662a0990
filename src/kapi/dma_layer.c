// SPDX-License-Identifier: GPL-2.0
/*
 * The DMA layer under src/kapi/dma.rs: pages for MMAP buffers, a device's
 * DMA limits and scatter tables that keep to them, and how the DMA layer
 * translates and syncs a device's addresses. In C: the allocation flags,
 * the limits and the allocator's bounds are macros and static inlines,
 * tables are built on dma-direct's addresses, and the translation comes
 * from dma-direct, iommu-dma and IOMMU internals (use_dma_iommu(), the
 * domain) that have no Rust binding.
 */

#include <linux/dma-direct.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/gfp.h>
#include <linux/iommu.h>
#include <linux/iommu-dma.h>
#include <linux/mm.h>
#include <linux/pci.h>
#include <linux/scatterlist.h>
#include <linux/sizes.h>

#include "rvcap_helpers.h"

/* Pages for MMAP buffers */

/*
 * MMAP buffer pages are allocated on userspace's behalf and may outlive the
 * queue in its mappings: charged to the caller's memory cgroup.
 */
struct page *rvcap_alloc_zeroed_page(void)
{
	return alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
}

/* The largest physically contiguous buffer the page allocator can give. */
size_t rvcap_max_contiguous_bytes(void)
{
	return PAGE_SIZE << MAX_PAGE_ORDER;
}

/*
 * @size bytes of physically contiguous, zeroed memory as order-0 pages (each
 * freed on its own by rvcap_free_page()); the first page, or NULL. Sizes
 * beyond rvcap_max_contiguous_bytes() get NULL here: alloc_pages_exact()
 * would WARN. Userspace asks for the size, so a failure stays quiet too.
 */
struct page *rvcap_alloc_pages_exact(size_t size)
{
	void *addr;

	if (size > rvcap_max_contiguous_bytes())
		return NULL;
	addr = alloc_pages_exact(size, GFP_KERNEL_ACCOUNT | __GFP_ZERO |
				 __GFP_NOWARN);
	return addr ? virt_to_page(addr) : NULL;
}

/* DMA limits */

/*
 * Largest scatterlist segment for driver-allocated buffers: what one DMA
 * mapping may span (swiotlb bounces at most 256 KiB at once), at most 128 KiB.
 */
size_t rvcap_dma_max_segment(struct device *dev)
{
	return rounddown(min_t(size_t, dma_max_mapping_size(dev), SZ_128K),
			 PAGE_SIZE);
}

/*
 * A scatter table over @n pages (@size bytes from the first) for an
 * importer's @dev, within the device's own limits: no segment longer than
 * rvcap_dma_max_segment() or dma_get_max_seg_size() (rounded down to whole
 * pages), and none crossing dma_get_seg_boundary(), checked on the DMA
 * addresses dma-direct gives the pages (iommu-dma and swiotlb keep to the
 * boundary themselves when they place a segment). Two passes: count the
 * segments, then fill the table. -EINVAL for a device whose limits a page
 * cannot meet.
 */
int rvcap_sg_table_for_device(struct sg_table *sgt, struct page **pages,
			      unsigned int n, size_t size, struct device *dev)
{
	size_t max_seg = rounddown(min_t(size_t, rvcap_dma_max_segment(dev),
					 dma_get_max_seg_size(dev)), PAGE_SIZE);
	unsigned long mask = dma_get_seg_boundary(dev);
	unsigned int i, nents = 0, pass;
	int ret;

	if (max_seg < PAGE_SIZE || mask < PAGE_SIZE - 1 || !n || !size)
		return -EINVAL;
	for (pass = 0; pass < 2; pass++) {
		struct scatterlist *sg = NULL;
		size_t left = size, seg_len = 0;
		dma_addr_t seg_start = 0;

		nents = 0;
		for (i = 0; i < n && left; i++) {
			size_t len = min_t(size_t, left, PAGE_SIZE);
			dma_addr_t addr = phys_to_dma(dev, page_to_phys(pages[i]));

			if (seg_len &&
			    page_to_pfn(pages[i]) == page_to_pfn(pages[i - 1]) + 1 &&
			    seg_len + len <= max_seg &&
			    !((seg_start ^ (addr + len - 1)) & ~(dma_addr_t)mask)) {
				seg_len += len;
				if (sg)
					sg->length += len;
			} else {
				nents++;
				seg_start = addr;
				seg_len = len;
				if (pass) {
					sg = sg ? sg_next(sg) : sgt->sgl;
					sg_set_page(sg, pages[i], len, 0);
				}
			}
			left -= len;
		}
		if (!pass) {
			ret = sg_alloc_table(sgt, nents, GFP_KERNEL);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* Translation and syncs */

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
