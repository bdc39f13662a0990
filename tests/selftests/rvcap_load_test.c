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
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <linux/videodev2.h>

#include "kselftest_harness.h"
#include "rvcap_module.h"
#include "rvcap_v4l2.h"

#define PDEV_PATH "/sys/bus/platform/devices/rvcap.0"
/*
 * The load line names the DMA master, its mask and whether it is coherent:
 * the platform device itself (64 bits), or QEMU's edu PCI device behind an
 * IOMMU (28 bits).
 */
#define LOAD_LINE "rvcap rvcap.0: /dev/video0: virtual capture, DMA by "
#define DIRECT_MASK "DMA mask 0xffffffffffffffff"
#define EDU_MASK "DMA mask 0xfffffff"

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
	if (rvcap_path_exists(RVCAP_MODULE_SYSFS))
		ASSERT_EQ(0, rvcap_unload_module_settled());
	ASSERT_FALSE(rvcap_path_exists(RVCAP_MODULE_SYSFS));
	self->kmsg = kmsg_open_at_end();
	ASSERT_LE(0, self->kmsg);
}

FIXTURE_TEARDOWN(module)
{
	if (rvcap_path_exists(RVCAP_MODULE_SYSFS))
		rvcap_unload_module_settled();
	close(self->kmsg);
}

TEST_F(module, load_registers_dma_device_and_logs_once)
{
	char state[32] = "", line[256];
	FILE *f;

	ASSERT_EQ(0, rvcap_load_module(""));
	f = fopen(RVCAP_MODULE_SYSFS "/initstate", "r");
	ASSERT_NE(NULL, f);
	ASSERT_EQ(1, fscanf(f, "%31s", state));
	fclose(f);
	EXPECT_STREQ("live", state);
	EXPECT_TRUE(rvcap_path_exists(PDEV_PATH));
	snprintf(line, sizeof(line), LOAD_LINE "%s, %s, %s", rvcap_dma_device(),
		 rvcap_dma_translated() ? EDU_MASK : DIRECT_MASK,
		 rvcap_dma_coherent() == 1 ? "coherent" : "not coherent");
	EXPECT_EQ(1, kmsg_count(self->kmsg, line)) TH_LOG("no line \"%s\"", line);
}

TEST_F(module, unload_leaves_nothing_behind)
{
	ASSERT_EQ(0, rvcap_load_module(""));
	ASSERT_EQ(0, rvcap_unload_module_settled());
	EXPECT_FALSE(rvcap_path_exists(RVCAP_MODULE_SYSFS));
	EXPECT_FALSE(rvcap_path_exists(PDEV_PATH));
}

TEST_F(module, second_load_is_refused_with_eexist)
{
	ASSERT_EQ(0, rvcap_load_module(""));
	EXPECT_EQ(-EEXIST, rvcap_load_module(""));
	EXPECT_TRUE(rvcap_path_exists(PDEV_PATH));
}

/*
 * 0.25 s a cycle in the plain boots; 1.6 s in the IOMMU boot, where the edu
 * PCI device binds and unbinds each time: past the harness's default 30 s.
 */
TEST_F_TIMEOUT(module, repeated_load_unload_cycles, 120)
{
	const int cycles = 25;
	int i;

	for (i = 0; i < cycles; i++) {
		ASSERT_EQ(0, rvcap_load_module("")) TH_LOG("load %d", i);
		ASSERT_TRUE(rvcap_path_exists(PDEV_PATH));
		ASSERT_EQ(0, rvcap_unload_module_settled()) TH_LOG("unload %d", i);
		ASSERT_FALSE(rvcap_path_exists(PDEV_PATH));
	}
	EXPECT_EQ(cycles, kmsg_count(self->kmsg, LOAD_LINE));
}

/* The module's reference count (/sys/module/rvcap/refcnt), -1 if unread. */
static int module_refcnt(void)
{
	FILE *f = fopen(RVCAP_MODULE_SYSFS "/refcnt", "r");
	int n = -1;

	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n;
}

/*
 * An open debugfs file holds the module too (its file operations' owner):
 * otherwise rmmod would succeed and the file's close would call through the
 * unloaded module's operations. Both kinds: a read-only file and a knob.
 * The count is checked first, so that a missing owner fails there and not
 * by an rmmod whose close would crash the guest. (In the test below, which
 * loads the module anyway: a load costs seconds in some boots.)
 */
static void assert_debugfs_files_hold_module(struct __test_metadata *_metadata)
{
	static const char *const files[] = {
		"/sys/kernel/debug/rvcap/rvcap.0/counters",
		"/sys/kernel/debug/rvcap/rvcap.0/fences",
	};
	char text[64];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(files); i++) {
		int before = module_refcnt(), fd;

		ASSERT_LE(0, before);
		fd = open(files[i], O_RDONLY | O_CLOEXEC);
		ASSERT_LE(0, fd) TH_LOG("%s: %s", files[i], strerror(errno));
		ASSERT_EQ(before + 1, module_refcnt())
			TH_LOG("%s open: the module is not held", files[i]);
		EXPECT_EQ(-EWOULDBLOCK, rvcap_unload_module()) TH_LOG("%s", files[i]);
		EXPECT_LT(0, read(fd, text, sizeof(text))) TH_LOG("%s", files[i]);
		close(fd);
		EXPECT_EQ(before, module_refcnt()) TH_LOG("%s closed", files[i]);
	}
}

TEST_F(module, rmmod_is_refused_while_a_handle_or_debugfs_file_is_open_or_streaming)
{
	struct v4l2_requestbuffers req = {
		.count = 2, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_MMAP,
	};
	int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	struct v4l2_buffer buf = {
		.type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_MMAP,
	};
	int fd;

	ASSERT_EQ(0, rvcap_load_module(""));
	assert_debugfs_files_hold_module(_metadata);
	fd = open("/dev/video0", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-EWOULDBLOCK, rvcap_unload_module());
	ASSERT_EQ(0, ioctl(fd, VIDIOC_REQBUFS, &req));
	ASSERT_EQ(0, ioctl(fd, VIDIOC_QBUF, &buf));
	ASSERT_EQ(0, ioctl(fd, VIDIOC_STREAMON, &type));
	EXPECT_EQ(-EWOULDBLOCK, rvcap_unload_module());
	EXPECT_TRUE(rvcap_path_exists(RVCAP_MODULE_SYSFS));
	/* Closing the streaming handle releases everything; then it may go. */
	close(fd);
	EXPECT_EQ(0, rvcap_unload_module_settled());
}

/* The video node of instance @n: the one whose sysfs name is rvcap-@n. */
static int open_instance(int n)
{
	char path[64], name[32], want[32];
	int i;

	snprintf(want, sizeof(want), "rvcap-%d\n", n);
	for (i = 0; i < 64; i++) {
		FILE *f;

		snprintf(path, sizeof(path), "/sys/class/video4linux/video%d/name", i);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(name, sizeof(name), f) && !strcmp(name, want)) {
			fclose(f);
			snprintf(path, sizeof(path), "/dev/video%d", i);
			return open(path, O_RDWR | O_CLOEXEC);
		}
		fclose(f);
	}
	return -ENOENT;
}

TEST_F(module, num_devices_creates_that_many_capture_devices)
{
	struct v4l2_capability cap;
	char bus[32], card[32];
	int n, fd;

	ASSERT_EQ(0, rvcap_load_module("num_devices=2"));
	EXPECT_TRUE(rvcap_path_exists("/sys/bus/platform/devices/rvcap.1"));
	EXPECT_FALSE(rvcap_path_exists("/sys/bus/platform/devices/rvcap.2"));
	for (n = 0; n < 2; n++) {
		fd = open_instance(n);
		ASSERT_LE(0, fd) TH_LOG("no video node named rvcap-%d", n);
		memset(&cap, 0, sizeof(cap));
		ASSERT_EQ(0, ioctl(fd, VIDIOC_QUERYCAP, &cap));
		close(fd);
		snprintf(bus, sizeof(bus), "platform:rvcap-%d", n);
		snprintf(card, sizeof(card), "rvcap virtual capture %d", n);
		EXPECT_STREQ("rvcap", (char *)cap.driver);
		EXPECT_STREQ(bus, (char *)cap.bus_info);
		EXPECT_STREQ(card, (char *)cap.card);
		/* The V4L2 core adds EXT_PIX_FORMAT to every video node. */
		EXPECT_EQ((__u32)(V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING |
				  V4L2_CAP_EXT_PIX_FORMAT), cap.device_caps);
	}
	EXPECT_EQ(0, rvcap_unload_module_settled());
}

TEST_HARNESS_MAIN
