// SPDX-License-Identifier: GPL-2.0
/*
 * Pages for MMAP buffers (src/kapi/dma.rs). In C: the allocation flags and
 * the allocator's limits are macros.
 */

#include <linux/gfp.h>
#include <linux/mm.h>

#include "rvcap_helpers.h"

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
