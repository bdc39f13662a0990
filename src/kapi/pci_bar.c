// SPDX-License-Identifier: GPL-2.0
/* PCI memory BARs (src/kapi/pci.rs). */

#include <linux/pci.h>

#include "rvcap_helpers.h"

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
