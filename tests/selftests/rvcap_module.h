/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Loading and unloading rvcap from a kselftest: finit_module() of
 * $RVCAP_KO, or /lib/modules/$(uname -r)/extra/rvcap.ko.
 */
#ifndef RVCAP_MODULE_H
#define RVCAP_MODULE_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#define RVCAP_MODULE_SYSFS "/sys/module/rvcap"

/* Loads rvcap with @params; 0 or -errno. */
static inline int rvcap_load_module(const char *params)
{
	char path[PATH_MAX];
	const char *env = getenv("RVCAP_KO");
	struct utsname u;
	int fd, ret;

	if (env) {
		snprintf(path, sizeof(path), "%s", env);
	} else {
		uname(&u);
		snprintf(path, sizeof(path), "/lib/modules/%s/extra/rvcap.ko", u.release);
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, params, 0) ? -errno : 0;
	close(fd);
	return ret;
}

static inline int rvcap_unload_module(void)
{
	return syscall(SYS_delete_module, "rvcap", O_NONBLOCK) ? -errno : 0;
}

/*
 * rvcap_unload_module(), retried for up to 5 s while the module is busy:
 * after the last file handle closes, each fence rvcap published still
 * holds the module until an RCU grace period after it was released.
 */
static inline int rvcap_unload_module_settled(void)
{
	int ret, i;

	for (i = 0; i < 50; i++) {
		ret = rvcap_unload_module();
		if (ret != -EWOULDBLOCK)
			break;
		usleep(100 * 1000);
	}
	return ret;
}

static inline bool rvcap_path_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

#endif /* RVCAP_MODULE_H */
