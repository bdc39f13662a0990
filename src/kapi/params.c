// SPDX-License-Identifier: GPL-2.0
/*
 * The module parameters (src/kapi/param.rs). In C: 6.12's Rust module!
 * macro cannot declare them.
 */

#include <linux/minmax.h>
#include <linux/moduleparam.h>

#include "rvcap_helpers.h"

#define RVCAP_MAX_DEVICES 8

static unsigned int num_devices = 1;
module_param(num_devices, uint, 0444);
MODULE_PARM_DESC(num_devices,
		 "number of capture devices to create, 1-8 (default 1)");

/* The parameter, clamped to what the driver makes. */
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

/* Device @index's entry, 0 (unset) past the array. */
unsigned int rvcap_param_multiplanar(unsigned int index)
{
	return index < RVCAP_MAX_DEVICES ? multiplanar[index] : 0;
}
