// SPDX-License-Identifier: GPL-2.0
/*
 * rvcap: C side of the module. Holds what Rust cannot say in 6.12: the
 * module parameters, and callable wrappers for static inline functions and
 * macros (declared in include/rvcap_helpers.h). Each wrapper only forwards.
 */

#include <linux/highmem.h>
#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/dma-direct.h>
#include <linux/dma-map-ops.h>
#include <linux/dynamic_debug.h>
#include <linux/iommu.h>
#include <linux/iommu-dma.h>
#include <linux/pci.h>
#include <linux/dma-buf.h>
#include <linux/dma-fence.h>
#include <linux/dma-resv.h>
#include <linux/dma-mapping.h>
#include <linux/gfp.h>
#include <linux/hrtimer.h>
#include <linux/io-64-nonatomic-lo-hi.h>
#include <linux/iosys-map.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/poll.h>
#include <linux/scatterlist.h>
#include <linux/seq_file.h>
#include <linux/sched.h>
#include <linux/sizes.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>
#include <media/v4l2-ctrls.h>
#include <media/v4l2-dev.h>

#include "../../include/rvcap_helpers.h"

#define RVCAP_MAX_DEVICES 8

static unsigned int num_devices = 1;
module_param(num_devices, uint, 0444);
MODULE_PARM_DESC(num_devices,
		 "number of capture devices to create, 1-8 (default 1)");

unsigned int rvcap_param_num_devices(void)
{
	return clamp(num_devices, 1U, RVCAP_MAX_DEVICES);
}

static bool contig;
module_param(contig, bool, 0444);
MODULE_PARM_DESC(contig,
		 "every buffer must be one contiguous DMA range, as for hardware without an IOMMU: other imports are refused with EINVAL, MMAP buffers are physically contiguous (default off)");

bool rvcap_param_contig(void)
{
	return contig;
}

static unsigned int multiplanar[RVCAP_MAX_DEVICES];
module_param_array(multiplanar, uint, NULL, 0444);
MODULE_PARM_DESC(multiplanar,
		 "per device, as vivid's: 1 single-planar (V4L2_CAP_VIDEO_CAPTURE), 2 multi-planar (V4L2_CAP_VIDEO_CAPTURE_MPLANE, with NV12M, NV16M and YUV420M); for example multiplanar=1,2 (default 1 for every device)");

unsigned int rvcap_param_multiplanar(unsigned int index)
{
	return index < RVCAP_MAX_DEVICES ? multiplanar[index] : 0;
}

int rvcap_dma_coerce_mask_and_coherent(struct device *dev, unsigned int bits)
{
	return dma_coerce_mask_and_coherent(dev, DMA_BIT_MASK(bits));
}

void rvcap_dma_set_max_seg_size(struct device *dev, unsigned int size)
{
	dma_set_max_seg_size(dev, size);
}

u64 rvcap_dma_get_mask(struct device *dev)
{
	return dma_get_mask(dev);
}

/*
 * Whether @dev's DMA is coherent with the CPU's caches: always on x86; on
 * arm64 only if firmware said so (dma-coherent), else every sync does
 * cache maintenance.
 */
bool rvcap_dev_is_dma_coherent(struct device *dev)
{
	return dev_is_dma_coherent(dev);
}

const char *rvcap_dev_name(const struct device *dev)
{
	return dev_name(dev);
}

void rvcap_dev_info(const struct device *dev, const char *msg)
{
	dev_info(dev, "%s\n", msg);
}

void rvcap_dev_warn(const struct device *dev, const char *msg)
{
	dev_warn(dev, "%s\n", msg);
}

/*
 * One dynamic-debug call site for all of rvcap's debug messages; they are
 * rate-limited per kind in Rust (src/kapi/log.rs). With @msg NULL, only
 * whether the site is enabled, so that a disabled site uses up no rate
 * limit; otherwise prints @msg if enabled. Returns whether it is enabled.
 */
bool rvcap_dev_dbg(const struct device *dev, const char *msg)
{
#if defined(CONFIG_DYNAMIC_DEBUG) || \
	(defined(CONFIG_DYNAMIC_DEBUG_CORE) && defined(DYNAMIC_DEBUG_MODULE))
	DEFINE_DYNAMIC_DEBUG_METADATA(descriptor, "%s\n");

	if (!DYNAMIC_DEBUG_BRANCH(descriptor))
		return false;
	if (msg)
		__dynamic_dev_dbg(&descriptor, dev, "%s\n", msg);
	return true;
#elif defined(DEBUG)
	if (msg)
		dev_dbg(dev, "%s\n", msg);
	return true;
#else
	return false;
#endif
}

void *rvcap_dev_get_drvdata(const struct device *dev)
{
	return dev_get_drvdata(dev);
}

void rvcap_dev_set_drvdata(struct device *dev, void *data)
{
	dev_set_drvdata(dev, data);
}

bool rvcap_device_is_bound(struct device *dev)
{
	return device_is_bound(dev);
}

/*
 * Whether the driver core counts @dev as bound or probing for its device
 * links: then a managed link a consumer's probe adds to it unbinds that
 * consumer before @dev unbinds. Not once it has begun unbinding.
 */
bool rvcap_device_links_bound(struct device *dev)
{
	enum dl_dev_state status = READ_ONCE(dev->links.status);

	return status == DL_DEV_PROBING || status == DL_DEV_DRIVER_BOUND;
}

int rvcap_video_register_device(struct video_device *vdev)
{
	return video_register_device(vdev, VFL_TYPE_VIDEO, -1);
}

void *rvcap_video_drvdata(struct file *file)
{
	return video_drvdata(file);
}

void rvcap_video_set_drvdata(struct video_device *vdev, void *data)
{
	video_set_drvdata(vdev, data);
}

int rvcap_ctrl_handler_init(struct v4l2_ctrl_handler *hdl, unsigned int nr)
{
	return v4l2_ctrl_handler_init(hdl, nr);
}

/*
 * debugfs (src/kapi/debugfs.rs). Wrapped because without CONFIG_DEBUG_FS
 * these are static inline stubs.
 */
struct dentry *rvcap_debugfs_create_dir(const char *name, struct dentry *parent)
{
	return debugfs_create_dir(name, parent);
}

struct dentry *rvcap_debugfs_create_file(const char *name, umode_t mode,
					 struct dentry *parent, void *data,
					 const struct file_operations *fops)
{
	return debugfs_create_file(name, mode, parent, data, fops);
}

void rvcap_debugfs_create_u32(const char *name, umode_t mode,
			      struct dentry *parent, u32 *value)
{
	debugfs_create_u32(name, mode, parent, value);
}

void rvcap_debugfs_create_bool(const char *name, umode_t mode,
			       struct dentry *parent, bool *value)
{
	debugfs_create_bool(name, mode, parent, value);
}

void rvcap_debugfs_remove(struct dentry *dentry)
{
	debugfs_remove(dentry);
}

/* The data a debugfs file was created with (for single_open()). */
void *rvcap_inode_private(const struct inode *inode)
{
	return inode->i_private;
}

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

void rvcap_vm_flags_set(struct vm_area_struct *vma, unsigned long flags)
{
	vm_flags_set(vma, flags);
}

unsigned long rvcap_vma_flags(const struct vm_area_struct *vma)
{
	return vma->vm_flags;
}

unsigned long rvcap_vma_pages(struct vm_area_struct *vma)
{
	return vma_pages(vma);
}

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

/*
 * The IOMMU page size of @dev's DMA translation (its domain's smallest
 * page), or 0 if its DMA is not translated by iommu-dma.
 */
size_t rvcap_dma_iommu_page(struct device *dev)
{
	struct iommu_domain *domain;

	if (!use_dma_iommu(dev))
		return 0;
	domain = iommu_get_domain_for_dev(dev);
	return domain && domain->pgsize_bitmap ?
		1UL << __ffs(domain->pgsize_bitmap) : 0;
}

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
 * How many of the @len bytes at DMA address @addr, which lie within one
 * mapped segment, one dma_sync_single_*() may cover. A sync translates only
 * its first address:
 * - dma-direct: the segment is contiguous in memory, all of it;
 * - iommu-dma (@iommu_page, from rvcap_dma_iommu_page(), not 0): for a
 *   device whose syncs act on memory (not coherent: the caches; untrusted:
 *   bounce buffers), the rest of @addr's IOMMU page, then whole pages while
 *   each translates to where the run of memory goes on; for any other
 *   device its syncs translate nothing (they reach only DMA-API debugging,
 *   which checks DMA address ranges), so all of it;
 * - other DMA ops (arm32's IOMMU glue walks the struct pages after the
 *   first one it translates): the rest of @addr's page.
 */
size_t rvcap_dma_sync_run(struct device *dev, size_t iommu_page,
			  dma_addr_t addr, size_t len)
{
	struct iommu_domain *domain;
	size_t run;
	phys_addr_t first;

	if (!iommu_page) {
		if (use_dma_iommu(dev) || get_dma_ops(dev))
			return min_t(size_t, len, PAGE_SIZE - offset_in_page(addr));
		return len;
	}
	if (dev_is_dma_coherent(dev) &&
	    !(dev_is_pci(dev) && to_pci_dev(dev)->untrusted))
		return len;
	run = min_t(size_t, len, iommu_page - (addr & (iommu_page - 1)));
	domain = iommu_get_domain_for_dev(dev);
	first = domain ? iommu_iova_to_phys(domain, addr) : 0;
	if (!first)
		return run;
	while (run < len &&
	       iommu_iova_to_phys(domain, addr + run) == first + run)
		run += min_t(size_t, len - run, iommu_page);
	return run;
}

/* The page of @addr, a linear-map address. */
struct page *rvcap_virt_to_page(const void *addr)
{
	return virt_to_page(addr);
}

/*
 * A write-combining (uncached) mapping of @count pages, in order: what a
 * non-coherent DMA master writes through, so that its bytes reach memory
 * and not the CPU's caches. NULL on failure; undone with
 * rvcap_vunmap_uncached(). Made once per buffer mapping, not per frame:
 * vmap() allocates. For non-coherent devices only (arm64): x86's PAT
 * forbids mixing memory types on a page, and x86 devices are coherent.
 */
void *rvcap_vmap_uncached(struct page **pages, unsigned int count)
{
	return vmap(pages, count, VM_MAP, pgprot_writecombine(PAGE_KERNEL));
}

void rvcap_vunmap_uncached(void *alias)
{
	vunmap(alias);
}

/* dma_map_single(); 0 or -ENOMEM (dma_mapping_error()). */
int rvcap_dma_map_single(struct device *dev, void *ptr, size_t size,
			 enum dma_data_direction dir, dma_addr_t *addr)
{
	*addr = dma_map_single(dev, ptr, size, dir);
	return dma_mapping_error(dev, *addr) ? -ENOMEM : 0;
}

void rvcap_dma_unmap_single(struct device *dev, dma_addr_t addr, size_t size,
			    enum dma_data_direction dir)
{
	dma_unmap_single(dev, addr, size, dir);
}

/*
 * Memory BAR @bar of @pdev mapped for MMIO (pci_iomap()), its length in
 * *@len; NULL if there is no such BAR or it is not memory (an I/O-port
 * BAR's cookie cannot be read with readq()).
 */
void __iomem *rvcap_pci_iomap(struct pci_dev *pdev, int bar, size_t *len)
{
	*len = 0;
	if (bar < 0 || bar >= PCI_STD_NUM_BARS ||
	    !(pci_resource_flags(pdev, bar) & IORESOURCE_MEM))
		return NULL;
	*len = pci_resource_len(pdev, bar);
	return pci_iomap(pdev, bar, 0);
}

/* Stops @pdev's DMA: no more bus mastering. */
void rvcap_pci_clear_master(struct pci_dev *pdev)
{
	pci_clear_master(pdev);
}

void rvcap_pci_iounmap(struct pci_dev *pdev, void __iomem *addr)
{
	pci_iounmap(pdev, addr);
}

/*
 * 64-bit MMIO: one access on 64-bit architectures, two 32-bit ones (low half
 * first) elsewhere (io-64-nonatomic-lo-hi.h).
 */
u64 rvcap_mmio_read64(const void __iomem *addr)
{
	return readq(addr);
}

void rvcap_mmio_write64(u64 value, void __iomem *addr)
{
	writeq(value, addr);
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

/* Orders the CPU's writes before what follows, as a device's completion does. */
void rvcap_wmb(void)
{
	/* The engine's uncached writes before the buffer is marked done. */
	wmb();
}

int rvcap_dma_map_sgtable(struct device *dev, struct sg_table *sgt,
			  enum dma_data_direction dir, unsigned long attrs)
{
	return dma_map_sgtable(dev, sgt, dir, attrs);
}

void rvcap_dma_unmap_sgtable(struct device *dev, struct sg_table *sgt,
			     enum dma_data_direction dir, unsigned long attrs)
{
	dma_unmap_sgtable(dev, sgt, dir, attrs);
}

/*
 * Whether syncs do anything for @dev: not for a coherent device that bounces
 * nothing (dma_skip_sync), unless DMA-API debugging wants to see them.
 */
bool rvcap_dma_dev_need_sync(struct device *dev)
{
	return dma_dev_need_sync(dev);
}

void rvcap_dma_sync_single_for_cpu(struct device *dev, dma_addr_t addr,
				   size_t size, enum dma_data_direction dir)
{
	dma_sync_single_for_cpu(dev, addr, size, dir);
}

void rvcap_dma_sync_single_for_device(struct device *dev, dma_addr_t addr,
				      size_t size, enum dma_data_direction dir)
{
	dma_sync_single_for_device(dev, addr, size, dir);
}

/*
 * Exports @priv as a dma-buf of @size bytes with @ops (src/kapi/dma_buf_export.rs):
 * DEFINE_DMA_BUF_EXPORT_INFO names the exporter and makes the dma-buf pin
 * this module. @flags: the file's O_ACCMODE bits.
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

/* A cached kernel mapping of @count pages, as dma-buf vmap() gives. */
void *rvcap_vmap(struct page **pages, unsigned int count)
{
	return vmap(pages, count, VM_MAP, PAGE_KERNEL);
}

void rvcap_vunmap(void *addr)
{
	vunmap(addr);
}

void rvcap_iosys_map_set_vaddr(struct iosys_map *map, void *vaddr)
{
	iosys_map_set_vaddr(map, vaddr);
}

void rvcap_flush_kernel_vmap_range(void *addr, int size)
{
	flush_kernel_vmap_range(addr, size);
}

void rvcap_invalidate_kernel_vmap_range(void *addr, int size)
{
	invalidate_kernel_vmap_range(addr, size);
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

void rvcap_dma_fence_get(struct dma_fence *fence)
{
	dma_fence_get(fence);
}

void rvcap_dma_fence_put(struct dma_fence *fence)
{
	dma_fence_put(fence);
}

bool rvcap_dma_fence_is_signaled(struct dma_fence *fence)
{
	return dma_fence_is_signaled(fence);
}

void rvcap_dma_fence_set_error(struct dma_fence *fence, int error)
{
	dma_fence_set_error(fence, error);
}

bool rvcap_dma_fence_begin_signalling(void)
{
	return dma_fence_begin_signalling();
}

void rvcap_dma_fence_end_signalling(bool cookie)
{
	dma_fence_end_signalling(cookie);
}

void rvcap_dma_fence_call_rcu(struct dma_fence *fence,
			      void (*func)(struct rcu_head *head))
{
	call_rcu(&fence->rcu, func);
}

struct dma_fence *rvcap_dma_fence_of_rcu(struct rcu_head *head)
{
	return container_of(head, struct dma_fence, rcu);
}

int rvcap_dma_resv_lock(struct dma_resv *obj)
{
	return dma_resv_lock(obj, NULL);
}

void rvcap_dma_resv_unlock(struct dma_resv *obj)
{
	dma_resv_unlock(obj);
}

void rvcap_dma_resv_iter_begin(struct dma_resv_iter *cursor,
			       struct dma_resv *obj,
			       enum dma_resv_usage usage)
{
	dma_resv_iter_begin(cursor, obj, usage);
}

long rvcap_dma_resv_wait(struct dma_resv *obj, bool write)
{
	return dma_resv_wait_timeout(obj, dma_resv_usage_rw(write), true,
				     MAX_SCHEDULE_TIMEOUT);
}

void rvcap_spin_lock_init(spinlock_t *lock)
{
	spin_lock_init(lock);
}

long rvcap_wait_event_interruptible_timeout(struct wait_queue_head *wq,
					    bool (*cond)(void *data),
					    void *data, long timeout)
{
	return wait_event_interruptible_timeout(*wq, cond(data), timeout);
}

void rvcap_init_waitqueue_head(struct wait_queue_head *wq)
{
	init_waitqueue_head(wq);
}

void rvcap_wake_up_interruptible(struct wait_queue_head *wq)
{
	wake_up_interruptible(wq);
}

void rvcap_wake_up_pollfree(struct wait_queue_head *wq)
{
	wake_up_pollfree(wq);
}

void rvcap_poll_wait(struct file *file, struct wait_queue_head *wq,
		     struct poll_table_struct *pt)
{
	poll_wait(file, wq, pt);
}

__poll_t rvcap_poll_requested_events(const struct poll_table_struct *pt)
{
	return poll_requested_events(pt);
}

struct task_struct *rvcap_kthread_run(int (*fn)(void *data), void *data,
				      unsigned int instance)
{
	return kthread_run(fn, data, "rvcap%u-engine", instance);
}

/*
 * A thread function that returned waits here for kthread_stop(), which
 * must find the thread alive (src/kapi/kthread.rs).
 */
void rvcap_kthread_wait_for_stop(void)
{
	for (;;) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (kthread_should_stop())
			break;
		schedule();
	}
	__set_current_state(TASK_RUNNING);
}

/*
 * Sleeps until CLOCK_MONOTONIC reaches @deadline_ns, or kthread_stop() wakes
 * the engine thread early.
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
