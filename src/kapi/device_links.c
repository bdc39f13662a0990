// SPDX-License-Identifier: GPL-2.0
/*
 * The driver core's view of a device's binding, for device links
 * (src/kapi/device.rs).
 */

#include <linux/device.h>

#include "rvcap_helpers.h"

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
