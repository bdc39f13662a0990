// SPDX-License-Identifier: GPL-2.0
/*
 * A device's DMA limits, and scatter tables that keep to them
 * (src/kapi/dma.rs, src/rvcap_main.rs). In C: the limits are static
 * inlines and macros, and the table is built on dma-direct's addresses.
 */

#include <linux/dma-direct.h>
#include <linux/dma-mapping.h>
#include <linux/scatterlist.h>
#include <linux/sizes.h>

#include "rvcap_helpers.h"

/* The DMA mask of @bits bits (DMA_BIT_MASK() is a macro). */
int rvcap_dma_coerce_mask_and_coherent(struct device *dev, unsigned int bits)
{
	return dma_coerce_mask_and_coherent(dev, DMA_BIT_MASK(bits));
}

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
