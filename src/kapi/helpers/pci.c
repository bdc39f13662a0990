// SPDX-License-Identifier: GPL-2.0

#include <linux/pci.h>

/* Stops @pdev's DMA: no more bus mastering. */
void rvcap_pci_clear_master(struct pci_dev *pdev)
{
	pci_clear_master(pdev);
}
