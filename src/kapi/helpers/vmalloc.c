// SPDX-License-Identifier: GPL-2.0

#include <linux/highmem.h>
#include <linux/vmalloc.h>

void rvcap_flush_kernel_vmap_range(void *addr, int size)
{
	flush_kernel_vmap_range(addr, size);
}

void rvcap_invalidate_kernel_vmap_range(void *addr, int size)
{
	invalidate_kernel_vmap_range(addr, size);
}
