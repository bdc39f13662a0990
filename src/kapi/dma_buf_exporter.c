// SPDX-License-Identifier: GPL-2.0
/*
 * The exporter's C (src/kapi/dma_buf_export.rs): exporting MMAP memory as
 * a dma-buf, and the kernel mapping its vmap() gives.
 */

#include <linux/dma-buf.h>
#include <linux/vmalloc.h>

#include "rvcap_helpers.h"

/*
 * Exports @priv as a dma-buf of @size bytes with @ops. @flags: the file's
 * O_ACCMODE bits. In C: DEFINE_DMA_BUF_EXPORT_INFO, a macro, names the
 * exporter and makes the dma-buf pin this module.
 */
struct dma_buf *rvcap_dma_buf_export(const struct dma_buf_ops *ops,
				     size_t size, int flags, void *priv)
{
	DEFINE_DMA_BUF_EXPORT_INFO(exp_info);

	exp_info.ops = ops;
	exp_info.size = size;
	exp_info.flags = flags;
	exp_info.priv = priv;
	return dma_buf_export(&exp_info);
}

/*
 * A cached kernel mapping of @count pages, as dma-buf vmap() gives. In C:
 * PAGE_KERNEL is a macro.
 */
void *rvcap_vmap(struct page **pages, unsigned int count)
{
	return vmap(pages, count, VM_MAP, PAGE_KERNEL);
}

/* Undoes rvcap_vmap(). */
void rvcap_vunmap(void *addr)
{
	vunmap(addr);
}
