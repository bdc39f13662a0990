// SPDX-License-Identifier: GPL-2.0
/*
 * dev_* messages (src/kapi/log.rs). In C: they are macros that take a
 * format, which these fix to "%s\n" for a message Rust formatted; and
 * dev_dbg's dynamic-debug call site must be a static in C.
 */

#include <linux/device.h>
#include <linux/dynamic_debug.h>

#include "rvcap_helpers.h"

void rvcap_dev_info(const struct device *dev, const char *msg)
{
	dev_info(dev, "%s\n", msg);
}

void rvcap_dev_warn(const struct device *dev, const char *msg)
{
	dev_warn(dev, "%s\n", msg);
}

/*
 * One dynamic-debug call site for all of rvcap's debug messages; they are
 * rate-limited per kind in Rust (src/kapi/log.rs). With @msg NULL, only
 * whether the site is enabled, so that a disabled site uses up no rate
 * limit; otherwise prints @msg if enabled. Returns whether it is enabled.
 */
bool rvcap_dev_dbg(const struct device *dev, const char *msg)
{
#if defined(CONFIG_DYNAMIC_DEBUG) || \
	(defined(CONFIG_DYNAMIC_DEBUG_CORE) && defined(DYNAMIC_DEBUG_MODULE))
	DEFINE_DYNAMIC_DEBUG_METADATA(descriptor, "%s\n");

	if (!DYNAMIC_DEBUG_BRANCH(descriptor))
		return false;
	if (msg)
		__dynamic_dev_dbg(&descriptor, dev, "%s\n", msg);
	return true;
#elif defined(DEBUG)
	if (msg)
		dev_dbg(dev, "%s\n", msg);
	return true;
#else
	return false;
#endif
}
