// SPDX-License-Identifier: GPL-2.0
/*
 * The C of rvcap's virtual DMA master (src/dma_master/), declared in
 * include/rvcap_dma_master.h: what it reaches at a DMA address and whether
 * an unmapped address faults at once (memory.rs, device_view.rs), the
 * uncached alias it writes a non-coherent device's memory through
 * (device_view.rs), the mapping of what it reads (to_device.rs), and the
 * engine's sleep (sleep.rs). In C: the answers come from dma-direct,
 * iommu-dma and IOMMU internals (use_dma_iommu(), dma_to_phys(), the
 * domain) that have no Rust binding, and the rest are macros and static
 * inlines.
 */

#include <linux/dma-direct.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/highmem.h>
#include <linux/hrtimer.h>
#include <linux/iommu.h>
#include <linux/iommu-dma.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/vmalloc.h>

#include "rvcap_dma_master.h"

/* What the device reaches at a DMA address */

/*
 * The kernel virtual address of the bytes the device sees at @addr, as many
 * of the *@len as are contiguous there (*@len is cut to that), or NULL if
 * the CPU cannot reach them that way: a device fault. @iommu_page is
 * rvcap_dma_iommu_page(@dev), which callers look up once per mapping.
 * - dma-direct (no IOMMU, no DMA ops): phys_to_virt(dma_to_phys()); with
 *   swiotlb=force the bounce buffer, not the pages the CPU reads, which is
 *   what makes a missing sync visible.
 * - iommu-dma: what the IOMMU translates @addr to, one IOMMU page at a
 *   time (an IOVA range is contiguous only within a page); no translation
 *   is a fault, as for the device.
 * Only memory in the kernel's linear map qualifies (not highmem, not a
 * carveout without a mapping).
 */
void *rvcap_dma_addr_to_virt(struct device *dev, size_t iommu_page,
			     dma_addr_t addr, size_t *len)
{
	phys_addr_t phys;
	void *start, *last;

	if (!*len)
		return NULL;
	if (iommu_page) {
		phys = iommu_iova_to_phys(iommu_get_domain_for_dev(dev), addr);
		if (!phys)
			return NULL;
		*len = min_t(size_t, *len, iommu_page - (addr & (iommu_page - 1)));
	} else {
		/* Translated in a way this helper does not know: unreachable. */
		if (use_dma_iommu(dev) || get_dma_ops(dev))
			return NULL;
		phys = dma_to_phys(dev, addr);
	}
	if (!pfn_valid(PHYS_PFN(phys)) || !pfn_valid(PHYS_PFN(phys + *len - 1)))
		return NULL;
	start = phys_to_virt(phys);
	last = phys_to_virt(phys + *len - 1);
	if (!virt_addr_valid(start) || !virt_addr_valid(last) ||
	    PageHighMem(pfn_to_page(PHYS_PFN(phys))) ||
	    PageHighMem(pfn_to_page(PHYS_PFN(phys + *len - 1))))
		return NULL;
	return start;
}

/*
 * Whether @dev's DMA goes through an IOMMU domain that invalidates at unmap
 * (strict), so that a device access after unmap faults at once; a lazy
 * (flush-queue) domain may still translate it for a while.
 */
bool rvcap_dma_iommu_strict(struct device *dev)
{
	struct iommu_domain *domain;

	if (!use_dma_iommu(dev))
		return false;
	domain = iommu_get_domain_for_dev(dev);
	return domain && domain->type == IOMMU_DOMAIN_DMA;
}

/* The uncached alias (device_view.rs) */

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

/* Mapping what the device reads (to_device.rs) */

/*
 * dma_map_single(); 0 or -ENOMEM. In C: the mapping and its check,
 * dma_mapping_error(), are static inlines, and a failed address is only
 * meaningful to the latter.
 */
int rvcap_dma_map_single(struct device *dev, void *ptr, size_t size,
			 enum dma_data_direction dir, dma_addr_t *addr)
{
	*addr = dma_map_single(dev, ptr, size, dir);
	return dma_mapping_error(dev, *addr) ? -ENOMEM : 0;
}

/* Undoes rvcap_dma_map_single(). */
void rvcap_dma_unmap_single(struct device *dev, dma_addr_t addr, size_t size,
			    enum dma_data_direction dir)
{
	dma_unmap_single(dev, addr, size, dir);
}

/* The engine's sleep (sleep.rs) */

/*
 * Sleeps until CLOCK_MONOTONIC reaches @deadline_ns, or kthread_stop() wakes
 * the engine thread early. In C: as rvcap_kthread_wait_for_stop()
 * (src/kapi/tasks.c), the task state and its ordering against the
 * stop flag are macros; the sleep takes an hrtimer's ktime_t.
 */
void rvcap_engine_sleep_until(u64 deadline_ns)
{
	ktime_t deadline = ns_to_ktime(deadline_ns);

	set_current_state(TASK_INTERRUPTIBLE);
	if (!kthread_should_stop())
		schedule_hrtimeout_range(&deadline, 50 * NSEC_PER_USEC,
					 HRTIMER_MODE_ABS);
	__set_current_state(TASK_RUNNING);
}
