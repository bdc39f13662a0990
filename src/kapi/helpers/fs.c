// SPDX-License-Identifier: GPL-2.0

#include <linux/fs.h>

/*
 * The data a debugfs file was created with (for single_open(), in rvcap's
 * debugfs): a field read, so that the bindings need no struct inode.
 */
void *rvcap_inode_private(const struct inode *inode)
{
	return inode->i_private;
}
