// SPDX-License-Identifier: GPL-2.0
/*
 * A device's life with its driver: the DMA mask probe sets
 * (src/kapi/driver.rs), the driver core's view of its binding for device
 * links (src/kapi/driver.rs), a PCI memory BAR's mapping (src/kapi/pci.rs)
 * and video node registration (src/kapi/video.rs).
 */

#include <linux/device.h>
#include <linux/dma-mapping.h>
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
 * Memory BAR @bar of @pdev mapped for MMIO (pci_iomap()), its length in
 * *@len; NULL if there is no such BAR or it is not memory (an I/O-port
 * BAR's cookie cannot be read with readq()). In C: the BAR's flags and
 * length are macros over struct pci_dev.
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

/*
 * Registers @vdev as a video capture node with the first free number. In
 * C: video_register_device() is a static inline.
 */
int rvcap_video_register_device(struct video_device *vdev)
{
	return video_register_device(vdev, VFL_TYPE_VIDEO, -1);
}
