// SPDX-License-Identifier: GPL-2.0
/*
 * rvcap: C side of the module. Holds what Rust cannot say in 6.12:
 * the DMA_BUF symbol namespace import, and callable wrappers for static
 * inline functions and macros (declared in include/rvcap_helpers.h).
 */

#include <linux/device.h>
#include <linux/dma-mapping.h>
#include <linux/module.h>

#include "../include/rvcap_helpers.h"

/* dma_buf_* symbols are exported in the DMA_BUF namespace. */
MODULE_IMPORT_NS(DMA_BUF);

int rvcap_dma_coerce_mask_and_coherent(struct device *dev, unsigned int bits)
{
	return dma_coerce_mask_and_coherent(dev, DMA_BIT_MASK(bits));
}

u64 rvcap_dma_get_mask(struct device *dev)
{
	return dma_get_mask(dev);
}

const char *rvcap_dev_name(const struct device *dev)
{
	return dev_name(dev);
}
