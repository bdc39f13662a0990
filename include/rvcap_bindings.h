/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C API rvcap uses beyond what 6.12's `kernel` crate wraps. bindgen reads
 * this header at build time (see Kbuild) with the kernel's own flags; the
 * output, src/bindings_generated.rs, is not committed.
 */
#include <linux/device.h>
#include <linux/dma-mapping.h>
#include <linux/platform_device.h>

#include "rvcap_helpers.h"
