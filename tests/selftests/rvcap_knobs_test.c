// SPDX-License-Identifier: GPL-2.0
/*
 * rvcap's knobs and log:
 * - the module parameters are only num_devices, contig and multiplanar, all
 *   read-only:
 *   what changes the data path at run time is a debugfs file of the device
 *   (unpaced, map_per_qbuf, full_sync, inject_*), as vivid keeps its
 *   parameters read-only;
 * - debug messages are rate-limited per kind: a flood of refused QBUFs
 *   shows ten of them and does not hide a refused QUERYBUF; the next QBUF
 *   message after the window says how many were held back.
 *
 * Expects rvcap loaded, with device rvcap.0 at $RVCAP_DEV.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include "kselftest_harness.h"
#include "rvcap_v4l2.h"

#define PARAMS "/sys/module/rvcap/parameters"
#define DEVDIR "/sys/kernel/debug/rvcap/rvcap.0/"
#define DYNDBG "/sys/kernel/debug/dynamic_debug/control"

/* The rate limit's window and burst (src/kapi/ratelimit.rs). */
#define WINDOW_US 5100000
#define BURST 10

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fputs(text, f);
	return fclose(f) ? -errno : 0;
}

static int read_char(const char *path)
{
	FILE *f = fopen(path, "r");
	int c;

	if (!f)
		return -errno;
	c = fgetc(f);
	fclose(f);
	return c;
}

TEST(module_parameters_are_num_devices_contig_and_multiplanar_read_only)
{
	static const char * const expected[] = { "contig", "multiplanar", "num_devices" };
	char path[512];
	struct dirent *e;
	struct stat st;
	int found = 0;
	DIR *d;

	d = opendir(PARAMS);
	ASSERT_NE(NULL, d);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		EXPECT_TRUE(!strcmp(e->d_name, expected[0]) ||
			    !strcmp(e->d_name, expected[1]) ||
			    !strcmp(e->d_name, expected[2]))
			TH_LOG("unexpected module parameter %s", e->d_name);
		snprintf(path, sizeof(path), PARAMS "/%s", e->d_name);
		ASSERT_EQ(0, stat(path, &st));
		EXPECT_EQ(0444, (int)(st.st_mode & 0777)) TH_LOG("%s", e->d_name);
		found++;
	}
	closedir(d);
	EXPECT_EQ(3, found);
}

TEST(data_path_knobs_are_debugfs_files_of_the_device)
{
	static const char * const knobs[] = { "unpaced", "map_per_qbuf", "full_sync" };
	char path[512];
	struct stat st;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(knobs); i++) {
		snprintf(path, sizeof(path), DEVDIR "%s", knobs[i]);
		ASSERT_EQ(0, stat(path, &st)) TH_LOG("no %s", path);
		EXPECT_EQ(0600, (int)(st.st_mode & 0777)) TH_LOG("%s", knobs[i]);
		EXPECT_EQ('N', read_char(path)) TH_LOG("%s is not off", knobs[i]);
		ASSERT_EQ(0, write_text(path, "1"));
		EXPECT_EQ('Y', read_char(path)) TH_LOG("%s", knobs[i]);
		ASSERT_EQ(0, write_text(path, "0"));
		EXPECT_EQ('N', read_char(path)) TH_LOG("%s", knobs[i]);
	}
}

/* A QBUF (or QUERYBUF) of index 99, past the end: EINVAL and a debug line. */
static int bad_ioctl(int fd, unsigned long req)
{
	struct v4l2_buffer b = {
		.index = 99,
		.type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
		.memory = V4L2_MEMORY_MMAP,
	};

	return xioctl(fd, req, &b);
}

TEST(debug_messages_are_rate_limited_per_kind)
{
	int fd, kmsg, i, qbuf, querybuf;
	char suppressed[64];

	fd = open(rvcap_dev(), O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(2, rvcap_reqbufs(fd, V4L2_MEMORY_MMAP, 2));
	ASSERT_EQ(0, write_text(DYNDBG, "module rvcap +p"));
	/* A window of its own, whatever earlier tests logged. */
	usleep(WINDOW_US);
	kmsg = rvcap_kmsg_open();
	ASSERT_LE(0, kmsg);
	for (i = 0; i < 4 * BURST; i++)
		EXPECT_EQ(-EINVAL, bad_ioctl(fd, VIDIOC_QBUF));
	for (i = 0; i < 3; i++)
		EXPECT_EQ(-EINVAL, bad_ioctl(fd, VIDIOC_QUERYBUF));
	qbuf = querybuf = 0;
	rvcap_kmsg_count2(kmsg, "rvcap.0: QBUF: ", &qbuf, "rvcap.0: QUERYBUF: ", &querybuf);
	EXPECT_EQ(BURST, qbuf);
	EXPECT_EQ(3, querybuf);

	/* The next window: the first QBUF message counts the ones held back. */
	usleep(WINDOW_US);
	EXPECT_EQ(-EINVAL, bad_ioctl(fd, VIDIOC_QBUF));
	snprintf(suppressed, sizeof(suppressed), "(%d like it suppressed)", 3 * BURST);
	qbuf = querybuf = 0;
	rvcap_kmsg_count2(kmsg, "rvcap.0: QBUF: ", &qbuf, suppressed, &querybuf);
	EXPECT_EQ(1, qbuf);
	EXPECT_EQ(1, querybuf);

	close(kmsg);
	write_text(DYNDBG, "module rvcap -p");
	rvcap_reqbufs(fd, V4L2_MEMORY_MMAP, 0);
	close(fd);
}

TEST_HARNESS_MAIN
