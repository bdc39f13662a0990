// SPDX-License-Identifier: GPL-2.0

#include <linux/device.h>

const char *rvcap_dev_name(const struct device *dev)
{
	return dev_name(dev);
}

void *rvcap_dev_get_drvdata(const struct device *dev)
{
	return dev_get_drvdata(dev);
}

void rvcap_dev_set_drvdata(struct device *dev, void *data)
{
	dev_set_drvdata(dev, data);
}

bool rvcap_device_is_bound(struct device *dev)
{
	return device_is_bound(dev);
}
