// SPDX-License-Identifier: GPL-2.0
/*
 * rvcap: C side of the module. Holds what Rust cannot say in 6.12:
 * the DMA_BUF symbol namespace import, the module parameters, and callable
 * wrappers for static inline functions and macros (declared in
 * include/rvcap_helpers.h). Each wrapper only forwards.
 */

#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/dma-direct.h>
#include <linux/dma-mapping.h>
#include <linux/gfp.h>
#include <linux/hrtimer.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/poll.h>
#include <linux/scatterlist.h>
#include <linux/seq_file.h>
#include <linux/sched.h>
#include <linux/sizes.h>
#include <linux/wait.h>
#include <media/v4l2-ctrls.h>
#include <media/v4l2-dev.h>

#include "../include/rvcap_helpers.h"

/* dma_buf_* symbols are exported in the DMA_BUF namespace. */
MODULE_IMPORT_NS(DMA_BUF);

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

/*
 * Benchmark and comparison modes (see README "Benchmarks"). Writable at run
 * time; each capture reads them at STREAMON, so a stream keeps one policy.
 */
static bool unpaced;
module_param(unpaced, bool, 0644);
MODULE_PARM_DESC(unpaced,
		 "fill each buffer as soon as it is queued instead of once per frame interval, for measuring the queue (read at STREAMON; default off)");

static bool map_per_qbuf;
module_param(map_per_qbuf, bool, 0644);
MODULE_PARM_DESC(map_per_qbuf,
		 "map imported dma-bufs at every QBUF and unmap them at DQBUF, as videobuf2 did before Linux 5.1, for comparison (read at STREAMON; default off: map once)");

static bool full_sync;
module_param(full_sync, bool, 0644);
MODULE_PARM_DESC(full_sync,
		 "DQBUF syncs the whole buffer for the CPU instead of the bytes the frame occupies, for comparison (read at STREAMON; default off)");

bool rvcap_param_unpaced(void)
{
	return READ_ONCE(unpaced);
}

bool rvcap_param_map_per_qbuf(void)
{
	return READ_ONCE(map_per_qbuf);
}

bool rvcap_param_full_sync(void)
{
	return READ_ONCE(full_sync);
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

void rvcap_dev_dbg_ratelimited(const struct device *dev, const char *msg)
{
	dev_dbg_ratelimited(dev, "%s\n", msg);
}

void rvcap_dev_warn_ratelimited(const struct device *dev, const char *msg)
{
	dev_warn_ratelimited(dev, "%s\n", msg);
}

void *rvcap_platform_get_drvdata(struct platform_device *pdev)
{
	return platform_get_drvdata(pdev);
}

void rvcap_platform_set_drvdata(struct platform_device *pdev, void *data)
{
	platform_set_drvdata(pdev, data);
}

bool rvcap_device_is_bound(struct device *dev)
{
	return device_is_bound(dev);
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
 * debugfs: /sys/kernel/debug/rvcap/<device>/{counters,buffers}. The show
 * functions are Rust (src/debugfs.rs); debugfs_remove() waits for readers,
 * so the data outlives every read.
 */
DEFINE_SHOW_ATTRIBUTE(rvcap_debugfs_counters);
DEFINE_SHOW_ATTRIBUTE(rvcap_debugfs_buffers);

static struct dentry *rvcap_debugfs_root;

void rvcap_debugfs_init(void)
{
	rvcap_debugfs_root = debugfs_create_dir("rvcap", NULL);
}

void rvcap_debugfs_exit(void)
{
	debugfs_remove(rvcap_debugfs_root);
}

struct dentry *rvcap_debugfs_add(const char *name, void *data,
				 struct rvcap_inject *inject)
{
	struct dentry *dir = debugfs_create_dir(name, rvcap_debugfs_root);

	debugfs_create_file("counters", 0444, dir, data,
			    &rvcap_debugfs_counters_fops);
	debugfs_create_file("buffers", 0444, dir, data,
			    &rvcap_debugfs_buffers_fops);
	debugfs_create_u32("inject_error_every", 0600, dir, &inject->error_every);
	debugfs_create_u32("inject_drop_every", 0600, dir, &inject->drop_every);
	debugfs_create_u32("inject_stall_ms", 0600, dir, &inject->stall_ms);
	debugfs_create_u32("inject_map_failures", 0600, dir,
			   &inject->map_failures);
	return dir;
}

void rvcap_debugfs_remove(struct dentry *dir)
{
	debugfs_remove(dir);
}

struct page *rvcap_alloc_zeroed_page(void)
{
	return alloc_page(GFP_KERNEL | __GFP_ZERO);
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
	addr = alloc_pages_exact(size, GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN);
	return addr ? virt_to_page(addr) : NULL;
}

struct page *rvcap_nth_page(struct page *page, unsigned long n)
{
	return nth_page(page, n);
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

/*
 * The kernel virtual address of what the device sees at @addr: with
 * swiotlb=force that is the bounce buffer, not the pages the CPU reads, which
 * is what makes a missing sync visible. Only valid for dma-direct devices,
 * which rvcap's platform device is.
 */
void *rvcap_dma_addr_to_virt(struct device *dev, dma_addr_t addr)
{
	return phys_to_virt(dma_to_phys(dev, addr));
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

void rvcap_dma_sync_sgtable_for_device(struct device *dev,
				       struct sg_table *sgt,
				       enum dma_data_direction dir)
{
	dma_sync_sgtable_for_device(dev, sgt, dir);
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
				   size_t size)
{
	dma_sync_single_for_cpu(dev, addr, size, DMA_FROM_DEVICE);
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

void rvcap_init_waitqueue_head(struct wait_queue_head *wq)
{
	init_waitqueue_head(wq);
}

void rvcap_wake_up_interruptible(struct wait_queue_head *wq)
{
	wake_up_interruptible(wq);
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

void rvcap_kick_init(struct rvcap_kick *kick)
{
	init_waitqueue_head(&kick->wq);
	atomic_set(&kick->pending, 0);
}

/* A buffer was queued: wake the unpaced engine if it waits for one. */
void rvcap_kick(struct rvcap_kick *kick)
{
	atomic_set(&kick->pending, 1);
	if (wq_has_sleeper(&kick->wq))
		wake_up(&kick->wq);
}

/*
 * The unpaced engine waits for rvcap_kick() (or kthread_stop()); a kick
 * that came before the wait ends it at once.
 */
void rvcap_kick_wait(struct rvcap_kick *kick)
{
	wait_event_interruptible(kick->wq, atomic_xchg(&kick->pending, 0) ||
				 kthread_should_stop());
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
