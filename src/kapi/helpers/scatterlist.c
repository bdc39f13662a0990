// SPDX-License-Identifier: GPL-2.0

#include <linux/scatterlist.h>

dma_addr_t rvcap_sg_dma_address(struct scatterlist *sg)
{
	return sg_dma_address(sg);
}

unsigned int rvcap_sg_dma_len(struct scatterlist *sg)
{
	return sg_dma_len(sg);
}

/* An exported function in 6.12, an inline one since 6.13. */
struct scatterlist *rvcap_sg_next(struct scatterlist *sg)
{
	return sg_next(sg);
}
