// SPDX-License-Identifier: GPL-2.0

#include <linux/io.h>
#include <linux/io-64-nonatomic-lo-hi.h>

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
