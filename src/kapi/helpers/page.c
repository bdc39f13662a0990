// SPDX-License-Identifier: GPL-2.0

#include <linux/gfp.h>
#include <linux/mm.h>

struct page *rvcap_nth_page(struct page *page, size_t n)
{
#ifdef nth_page
	return nth_page(page, n);
#else
	/* Since 6.18 the memmap of one allocation is contiguous. */
	return page + n;
#endif
}

void rvcap_free_page(struct page *page)
{
	__free_page(page);
}

/* The page of @addr, a linear-map address. */
struct page *rvcap_virt_to_page(const void *addr)
{
	return virt_to_page(addr);
}
