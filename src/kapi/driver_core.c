// SPDX-License-Identifier: GPL-2.0
/*
 * A device's life with its driver: the DMA mask probe sets
 * (src/kapi/driver.rs), the driver core's view of its binding for device
 * links (src/kapi/driver.rs), device-managed actions its owner may remove
 * (src/kapi/devres.rs, for 6.12), whether a PCI BAR is memory
 * (src/kapi/pci.rs), a PCI memory BAR's reservation and mapping
 * (src/kapi/pci/io.rs, for 6.12) and video node registration
 * (src/kapi/video.rs).
 */

#include <linux/device.h>
#include <linux/dma-mapping.h>
#include <linux/ioport.h>
#include <linux/pci.h>
#include <media/v4l2-dev.h>

#include "rvcap_helpers.h"

/* The DMA mask of @bits bits (DMA_BIT_MASK() is a macro). */
int rvcap_dma_coerce_mask_and_coherent(struct device *dev, unsigned int bits)
{
	return dma_coerce_mask_and_coherent(dev, DMA_BIT_MASK(bits));
}

/*
 * Whether the driver core counts @dev as bound or probing for its device
 * links: then a managed link a consumer's probe adds to it unbinds that
 * consumer before @dev unbinds. Not once it has begun unbinding. In C:
 * links.status is read with READ_ONCE() and its states are the driver
 * core's enum.
 */
bool rvcap_device_links_bound(struct device *dev)
{
	enum dl_dev_state status = READ_ONCE(dev->links.status);

	return status == DL_DEV_PROBING || status == DL_DEV_DRIVER_BOUND;
}

/*
 * A device-managed action, as devm_add_action() adds, that its owner may
 * also remove itself (src/kapi/devres.rs on 6.12; 7.3's kernel crate has
 * its own). Removing it fails quietly (-ENOENT) once the driver core has
 * taken it off the device to run it (devres_release_all() at unbind),
 * where 6.12's devm_remove_action() would WARN: 7.x has
 * devm_remove_action_nowarn() for this. In C: devres_alloc() is a macro,
 * and a devres node's release and match functions are C callbacks.
 */
struct rvcap_devres_action {
	void (*action)(void *data);
	void *data;
};

static void rvcap_devres_action_release(struct device *dev, void *res)
{
	struct rvcap_devres_action *devres = res;

	devres->action(devres->data);
}

static int rvcap_devres_action_match(struct device *dev, void *res,
				     void *match_data)
{
	struct rvcap_devres_action *devres = res, *match = match_data;

	return devres->action == match->action && devres->data == match->data;
}

/* Runs @action(@data) when @dev unbinds, unless removed before. */
int rvcap_devm_add_action(struct device *dev, void (*action)(void *),
			  void *data)
{
	struct rvcap_devres_action *devres;

	devres = devres_alloc(rvcap_devres_action_release, sizeof(*devres),
			      GFP_KERNEL);
	if (!devres)
		return -ENOMEM;
	devres->action = action;
	devres->data = data;
	devres_add(dev, devres);
	return 0;
}

/*
 * Removes the action rvcap_devm_add_action() added for @action(@data)
 * without running it: 0, or -ENOENT if it runs (or ran) instead.
 */
int rvcap_devm_remove_action_nowarn(struct device *dev,
				    void (*action)(void *), void *data)
{
	struct rvcap_devres_action match = { .action = action, .data = data };

	return devres_destroy(dev, rvcap_devres_action_release,
			      rvcap_devres_action_match, &match);
}

/*
 * Whether @bar is a standard BAR of @pdev that exists and is memory: what
 * 64-bit MMIO accessors (readq) can reach. The kernel crate's
 * pci::Device::iomap_region (7.3) maps an I/O-port BAR too, whose cookie
 * readq() cannot be given. In C: the BAR's flags and length are macros
 * over struct pci_dev.
 */
bool rvcap_pci_bar_is_mem(struct pci_dev *pdev, unsigned int bar)
{
	return bar < PCI_STD_NUM_BARS &&
	       (pci_resource_flags(pdev, bar) & IORESOURCE_MEM) &&
	       pci_resource_len(pdev, bar);
}

/*
 * Memory BAR @bar of @pdev reserved for @name and mapped for MMIO, its
 * length in *@len, until rvcap_pci_iounmap_region(); for 6.12's Bar (7.3's
 * is the kernel crate's). An error pointer (never NULL) if there is no
 * such BAR or it is not memory (rvcap_pci_bar_is_mem()): -ENODEV; if
 * another owner has reserved it: -EBUSY (logged, as pci_request_region()
 * does); if it cannot be mapped: -ENOMEM. The reservation is
 * pci_request_region()'s for a memory BAR, made directly: on 6.12, after
 * pcim_enable_device() (rvcap's probe), pci_request_region() is a
 * deprecated "hybrid" that also makes it device-managed;
 * request_mem_region() is released exactly when the Rust Bar says. (7.3's
 * pci_request_region() is managed no more, which is what lets its kernel
 * crate's Bar release it in its drop.) In C: request_mem_region() is a
 * macro.
 */
void __iomem *rvcap_pci_iomap_region(struct pci_dev *pdev, int bar,
				     const char *name, size_t *len)
{
	void __iomem *addr;

	*len = 0;
	if (bar < 0 || !rvcap_pci_bar_is_mem(pdev, bar))
		return IOMEM_ERR_PTR(-ENODEV);
	if (!request_mem_region(pci_resource_start(pdev, bar),
				pci_resource_len(pdev, bar), name)) {
		pci_warn(pdev, "BAR %d: can't reserve %pR\n", bar,
			 &pdev->resource[bar]);
		return IOMEM_ERR_PTR(-EBUSY);
	}
	addr = pci_iomap(pdev, bar, 0);
	if (!addr) {
		release_mem_region(pci_resource_start(pdev, bar),
				   pci_resource_len(pdev, bar));
		return IOMEM_ERR_PTR(-ENOMEM);
	}
	*len = pci_resource_len(pdev, bar);
	return addr;
}

/*
 * Undoes rvcap_pci_iomap_region(): unmaps @addr, then releases the BAR's
 * reservation. In C: as above.
 */
void rvcap_pci_iounmap_region(struct pci_dev *pdev, int bar,
			      void __iomem *addr)
{
	pci_iounmap(pdev, addr);
	release_mem_region(pci_resource_start(pdev, bar),
			   pci_resource_len(pdev, bar));
}

/*
 * Registers @vdev as a video capture node with the first free number. In
 * C: video_register_device() is a static inline.
 */
int rvcap_video_register_device(struct video_device *vdev)
{
	return video_register_device(vdev, VFL_TYPE_VIDEO, -1);
}
