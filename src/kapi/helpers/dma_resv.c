// SPDX-License-Identifier: GPL-2.0

#include <linux/dma-resv.h>

void rvcap_dma_resv_iter_begin(struct dma_resv_iter *cursor,
			       struct dma_resv *obj,
			       enum dma_resv_usage usage)
{
	dma_resv_iter_begin(cursor, obj, usage);
}
