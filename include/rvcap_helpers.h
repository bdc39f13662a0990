/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rvcap's C functions, called from Rust through the bindings bindgen makes
 * of include/rvcap_bindings.h, which includes this header. Two kinds:
 * - forwarders, in src/kapi/helpers/ (one file per C subsystem, built as
 *   one object by helpers.c): callable functions for static inline
 *   functions and macros, each only calling one with the same arguments
 *   or reading a field (rvcap_inode_private, rvcap_vma_flags);
 *   rvcap_nth_page also falls back to pointer arithmetic where the kernel
 *   has no nth_page();
 * - C with logic of its own, in src/kapi/<what it does>.c: the module
 *   parameters (6.12's Rust module! macro cannot declare them), and what
 *   needs macros, static inlines or internals beyond a plain call.
 * The C of rvcap's virtual DMA master (src/dma_master/) is declared in
 * rvcap_dma_master.h.
 */
#ifndef RVCAP_HELPERS_H
#define RVCAP_HELPERS_H

#include <linux/dma-direction.h>
#include <linux/fs.h>
#include <linux/types.h>
#include <linux/wait.h>

struct completion;
struct dentry;
struct dma_buf;
struct dma_buf_ops;
struct dma_fence;
struct dma_resv;
struct dma_resv_iter;
enum dma_resv_usage;
struct iosys_map;
struct device;
struct file;
struct inode;
struct page;
struct pci_dev;
struct poll_table_struct;
struct scatterlist;
struct sg_table;
struct task_struct;
struct v4l2_ctrl_handler;
struct video_device;
struct vm_area_struct;
struct wait_queue_head;

/* Forwarders: src/kapi/helpers/ */

/* barrier.c */
void rvcap_wmb(void);

/* completion.c */
void rvcap_init_completion(struct completion *x);

/* debugfs.c */
struct dentry *rvcap_debugfs_create_dir(const char *name,
					struct dentry *parent);
struct dentry *rvcap_debugfs_create_file(const char *name, umode_t mode,
					 struct dentry *parent, void *data,
					 const struct file_operations *fops);
void rvcap_debugfs_remove(struct dentry *dentry);

/* device.c */
const char *rvcap_dev_name(const struct device *dev);
void *rvcap_dev_get_drvdata(const struct device *dev);
void rvcap_dev_set_drvdata(struct device *dev, void *data);
bool rvcap_device_is_bound(struct device *dev);

/* dma.c (direction: as the caller maps) */
void rvcap_dma_set_max_seg_size(struct device *dev, unsigned int size);
u64 rvcap_dma_get_mask(struct device *dev);
bool rvcap_dev_is_dma_coherent(struct device *dev);
int rvcap_dma_map_sgtable(struct device *dev, struct sg_table *sgt,
			  enum dma_data_direction dir, unsigned long attrs);
void rvcap_dma_unmap_sgtable(struct device *dev, struct sg_table *sgt,
			     enum dma_data_direction dir, unsigned long attrs);
bool rvcap_dma_dev_need_sync(struct device *dev);
void rvcap_dma_sync_single_for_cpu(struct device *dev, dma_addr_t addr,
				   size_t size, enum dma_data_direction dir);
void rvcap_dma_sync_single_for_device(struct device *dev, dma_addr_t addr,
				      size_t size, enum dma_data_direction dir);

/* dma_buf.c */
void rvcap_get_dma_buf(struct dma_buf *dmabuf);

/* dma_fence.c */
void rvcap_dma_fence_get(struct dma_fence *fence);
void rvcap_dma_fence_put(struct dma_fence *fence);
bool rvcap_dma_fence_is_signaled(struct dma_fence *fence);
void rvcap_dma_fence_set_error(struct dma_fence *fence, int error);
bool rvcap_dma_fence_begin_signalling(void);
void rvcap_dma_fence_end_signalling(bool cookie);

/* dma_resv.c */
void rvcap_dma_resv_iter_begin(struct dma_resv_iter *cursor,
			       struct dma_resv *obj,
			       enum dma_resv_usage usage);

/* fs.c */
void *rvcap_inode_private(const struct inode *inode);

/* io.c */
u64 rvcap_mmio_read64(const void __iomem *addr);
void rvcap_mmio_write64(u64 value, void __iomem *addr);

/* iosys_map.c */
void rvcap_iosys_map_set_vaddr(struct iosys_map *map, void *vaddr);

/* mm.c */
void rvcap_vm_flags_set(struct vm_area_struct *vma, unsigned long flags);
unsigned long rvcap_vma_flags(const struct vm_area_struct *vma);
unsigned long rvcap_vma_pages(struct vm_area_struct *vma);

/* page.c */
struct page *rvcap_nth_page(struct page *page, size_t n);
void rvcap_free_page(struct page *page);
struct page *rvcap_virt_to_page(const void *addr);

/* pci.c */
void rvcap_pci_clear_master(struct pci_dev *pdev);

/* poll.c */
void rvcap_poll_wait(struct file *file, struct wait_queue_head *wq,
		     struct poll_table_struct *pt);
__poll_t rvcap_poll_requested_events(const struct poll_table_struct *pt);

/* rcu.c */
void rvcap_rcu_read_lock(void);
void rvcap_rcu_read_unlock(void);

/* scatterlist.c */
dma_addr_t rvcap_sg_dma_address(struct scatterlist *sg);
unsigned int rvcap_sg_dma_len(struct scatterlist *sg);
struct scatterlist *rvcap_sg_next(struct scatterlist *sg);

/* spinlock.c */
void rvcap_spin_lock_init(spinlock_t *lock);

/* time.c */
void rvcap_fsleep(unsigned long usecs);

/* v4l2.c */
void *rvcap_video_drvdata(struct file *file);
void rvcap_video_set_drvdata(struct video_device *vdev, void *data);
int rvcap_ctrl_handler_init(struct v4l2_ctrl_handler *hdl, unsigned int nr);

/* vmalloc.c */
void rvcap_flush_kernel_vmap_range(void *addr, int size);
void rvcap_invalidate_kernel_vmap_range(void *addr, int size);

/* wait.c */
void rvcap_init_waitqueue_head(struct wait_queue_head *wq);
void rvcap_wake_up_interruptible(struct wait_queue_head *wq);
void rvcap_wake_up_pollfree(struct wait_queue_head *wq);

/* C with logic: src/kapi/ */

/* params.c: the module parameters (param.rs) */
unsigned int rvcap_param_num_devices(void);
bool rvcap_param_contig(void);
unsigned int rvcap_param_multiplanar(unsigned int index);

/* dev_print.c: dev_* messages (log.rs) */
void rvcap_dev_info(const struct device *dev, const char *msg);
void rvcap_dev_warn(const struct device *dev, const char *msg);
bool rvcap_dev_dbg(const struct device *dev, const char *msg);

/*
 * driver_core.c: a device and its driver (driver.rs, devres.rs, pci.rs,
 * video.rs)
 */
int rvcap_dma_coerce_mask_and_coherent(struct device *dev, unsigned int bits);
bool rvcap_device_links_bound(struct device *dev);
int rvcap_devm_add_action(struct device *dev, void (*action)(void *),
			  void *data);
int rvcap_devm_remove_action_nowarn(struct device *dev,
				    void (*action)(void *), void *data);
bool rvcap_pci_bar_is_mem(struct pci_dev *pdev, unsigned int bar);
void __iomem *rvcap_pci_iomap_region(struct pci_dev *pdev, int bar,
				     const char *name, size_t *len);
void rvcap_pci_iounmap_region(struct pci_dev *pdev, int bar,
			      void __iomem *addr);
int rvcap_video_register_device(struct video_device *vdev);

/* dma_layer.c: MMAP pages, DMA limits, translation and syncs (dma.rs) */
struct page *rvcap_alloc_zeroed_page(void);
size_t rvcap_max_contiguous_bytes(void);
struct page *rvcap_alloc_pages_exact(size_t size);
size_t rvcap_dma_max_segment(struct device *dev);
int rvcap_sg_table_for_device(struct sg_table *sgt, struct page **pages,
			      unsigned int n, size_t size, struct device *dev);
size_t rvcap_dma_iommu_page(struct device *dev);
size_t rvcap_dma_sync_run(struct device *dev, size_t iommu_page,
			  dma_addr_t addr, size_t len);

/* dma_buf_exporter.c: exporting, and the export's vmap (dma_buf_export.rs) */
struct dma_buf *rvcap_dma_buf_export(const struct dma_buf_ops *ops,
				     size_t size, int flags, void *priv);
void *rvcap_vmap(struct page **pages, unsigned int count);
void rvcap_vunmap(void *addr);

/* fences.c: freeing fences, reservation objects (dma_fence.rs) */
void rvcap_dma_fence_call_rcu(struct dma_fence *fence,
			      void (*func)(struct rcu_head *head));
struct dma_fence *rvcap_dma_fence_of_rcu(struct rcu_head *head);
int rvcap_dma_resv_lock(struct dma_resv *obj);
void rvcap_dma_resv_unlock(struct dma_resv *obj);
long rvcap_dma_resv_wait(struct dma_resv *obj, bool write);

/* tasks.c: the engine's thread (kthread.rs; its sleep: rvcap_dma_master.h) */
struct task_struct *rvcap_kthread_run(int (*fn)(void *data), void *data,
				      unsigned int instance);
void rvcap_kthread_wait_for_stop(void);

#endif /* RVCAP_HELPERS_H */
