// SPDX-License-Identifier: GPL-2.0

/*
 * Without CONFIG_DEBUG_FS these are static inline stubs. Both kernels:
 * 7.3's kernel crate has a debugfs of its own, but without a file
 * operations owner (src/kapi/debugfs.rs).
 */

#include <linux/debugfs.h>

struct dentry *rvcap_debugfs_create_dir(const char *name, struct dentry *parent)
{
	return debugfs_create_dir(name, parent);
}

struct dentry *rvcap_debugfs_create_file(const char *name, umode_t mode,
					 struct dentry *parent, void *data,
					 const struct file_operations *fops)
{
	return debugfs_create_file(name, mode, parent, data, fops);
}

void rvcap_debugfs_remove(struct dentry *dentry)
{
	debugfs_remove(dentry);
}
