// SPDX-License-Identifier: GPL-2.0

#include <asm/barrier.h>

void rvcap_wmb(void)
{
	/* What it orders is the caller's to say (see its Rust call site). */
	wmb();
}
