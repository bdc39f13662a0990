// SPDX-License-Identifier: GPL-2.0
/*
 * rvcap load and unload: the module loads, registers the platform device it
 * does DMA for with a 64-bit mask, says so in one kernel log line, refuses a
 * second load, and unloads leaving nothing behind.
 *
 * The module is loaded from $RVCAP_KO, or /lib/modules/$(uname -r)/extra/.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "kselftest_harness.h"

#define PDEV_PATH "/sys/bus/platform/devices/rvcap.0"
#define MODULE_SYSFS "/sys/module/rvcap"
#define LOAD_LINE "rvcap rvcap.0: /dev/video0: virtual capture, DMA mask 0xffffffffffffffff"

static int load_module(const char *params)
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

static int unload_module(void)
{
	return syscall(SYS_delete_module, "rvcap", O_NONBLOCK) ? -errno : 0;
}

static bool path_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* Opens /dev/kmsg positioned after every record logged so far. */
static int kmsg_open_at_end(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/* Counts records since kmsg_open_at_end() that contain @needle. */
static int kmsg_count(int fd, const char *needle)
{
	char rec[2048];
	int count = 0;
	ssize_t n;

	while ((n = read(fd, rec, sizeof(rec) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
		if (n <= 0)
			continue; /* EPIPE: records overwritten; carry on. */
		rec[n] = '\0';
		if (strstr(rec, needle))
			count++;
	}
	return count;
}

FIXTURE(module) {
	int kmsg;
};

FIXTURE_SETUP(module)
{
	if (path_exists(MODULE_SYSFS))
		ASSERT_EQ(0, unload_module());
	ASSERT_FALSE(path_exists(MODULE_SYSFS));
	self->kmsg = kmsg_open_at_end();
	ASSERT_LE(0, self->kmsg);
}

FIXTURE_TEARDOWN(module)
{
	if (path_exists(MODULE_SYSFS))
		unload_module();
	close(self->kmsg);
}

TEST_F(module, load_registers_dma_device_and_logs_once)
{
	char state[32] = "";
	FILE *f;

	ASSERT_EQ(0, load_module(""));
	f = fopen(MODULE_SYSFS "/initstate", "r");
	ASSERT_NE(NULL, f);
	ASSERT_EQ(1, fscanf(f, "%31s", state));
	fclose(f);
	EXPECT_STREQ("live", state);
	EXPECT_TRUE(path_exists(PDEV_PATH));
	EXPECT_EQ(1, kmsg_count(self->kmsg, LOAD_LINE));
}

TEST_F(module, unload_leaves_nothing_behind)
{
	ASSERT_EQ(0, load_module(""));
	ASSERT_EQ(0, unload_module());
	EXPECT_FALSE(path_exists(MODULE_SYSFS));
	EXPECT_FALSE(path_exists(PDEV_PATH));
}

TEST_F(module, second_load_is_refused_with_eexist)
{
	ASSERT_EQ(0, load_module(""));
	EXPECT_EQ(-EEXIST, load_module(""));
	EXPECT_TRUE(path_exists(PDEV_PATH));
}

TEST_F(module, repeated_load_unload_cycles)
{
	const int cycles = 25;
	int i;

	for (i = 0; i < cycles; i++) {
		ASSERT_EQ(0, load_module("")) TH_LOG("load %d", i);
		ASSERT_TRUE(path_exists(PDEV_PATH));
		ASSERT_EQ(0, unload_module()) TH_LOG("unload %d", i);
		ASSERT_FALSE(path_exists(PDEV_PATH));
	}
	EXPECT_EQ(cycles, kmsg_count(self->kmsg, LOAD_LINE));
}

TEST_HARNESS_MAIN
