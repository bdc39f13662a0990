// SPDX-License-Identifier: GPL-2.0
/*
 * The uncached alias a non-coherent DMA master writes through
 * (src/dma_master/device_view.rs).
 */

#include <linux/mm.h>
#include <linux/vmalloc.h>

#include "rvcap_dma_master.h"

/*
 * A write-combining (uncached) mapping of @count pages, in order: what a
 * non-coherent DMA master writes through, so that its bytes reach memory
 * and not the CPU's caches. NULL on failure; undone with
 * rvcap_vunmap_uncached(). Made once per buffer mapping, not per frame:
 * vmap() allocates. For non-coherent devices only (arm64): x86's PAT
 * forbids mixing memory types on a page, and x86 devices are coherent.
 * In C: pgprot_writecombine() and PAGE_KERNEL are macros.
 */
void *rvcap_vmap_uncached(struct page **pages, unsigned int count)
{
	return vmap(pages, count, VM_MAP, pgprot_writecombine(PAGE_KERNEL));
}

/* Undoes rvcap_vmap_uncached(); beside it so that the pair reads as one. */
void rvcap_vunmap_uncached(void *alias)
{
	vunmap(alias);
}
