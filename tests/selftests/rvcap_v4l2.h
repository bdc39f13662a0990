/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by rvcap's kselftests: ioctl wrappers returning -errno,
 * the verification pattern, and an MMAP stream set-up.
 */
#ifndef RVCAP_V4L2_H
#define RVCAP_V4L2_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/videodev2.h>

#define RVCAP_MAX_BUFS 32

/* The rvcap node: $RVCAP_DEV, or /dev/video0. */
static inline const char *rvcap_dev(void)
{
	const char *dev = getenv("RVCAP_DEV");

	return dev ? dev : "/dev/video0";
}

/* ioctl() that retries on EINTR and returns 0 or -errno. */
static inline int xioctl(int fd, unsigned long req, void *arg)
{
	int ret;

	do {
		ret = ioctl(fd, req, arg);
	} while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : 0;
}

/*
 * The verification pattern (src/pattern.rs): byte @i of the frame with
 * sequence number @seq is (i mod 251 + 17 * seq) mod 256.
 */
static inline uint8_t rvcap_verification_byte(size_t i, uint32_t seq)
{
	return (uint8_t)(i % 251 + 17u * seq);
}

/*
 * Checks every byte of a frame; returns the offset of the first wrong one,
 * or -1 if all are right.
 */
static inline long rvcap_check_frame(const uint8_t *p, size_t len, uint32_t seq)
{
	uint8_t add = (uint8_t)(17u * seq);
	uint8_t m = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] != (uint8_t)(m + add))
			return (long)i;
		m = m == 250 ? 0 : m + 1;
	}
	return -1;
}

/* Selects the test pattern (menu index: 2 is the verification pattern). */
static inline int rvcap_set_pattern(int fd, int index)
{
	struct v4l2_control ctrl = {
		.id = V4L2_CID_TEST_PATTERN,
		.value = index,
	};

	return xioctl(fd, VIDIOC_S_CTRL, &ctrl);
}

static inline int rvcap_set_format(int fd, uint32_t fourcc, uint32_t width,
				   uint32_t height, struct v4l2_format *fmt)
{
	memset(fmt, 0, sizeof(*fmt));
	fmt->type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	fmt->fmt.pix.pixelformat = fourcc;
	fmt->fmt.pix.width = width;
	fmt->fmt.pix.height = height;
	return xioctl(fd, VIDIOC_S_FMT, fmt);
}

static inline int rvcap_reqbufs(int fd, uint32_t memory, uint32_t count)
{
	struct v4l2_requestbuffers req = {
		.count = count,
		.type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
		.memory = memory,
	};
	int ret = xioctl(fd, VIDIOC_REQBUFS, &req);

	return ret ? ret : (int)req.count;
}

static inline int rvcap_qbuf_mmap(int fd, uint32_t index)
{
	struct v4l2_buffer buf = {
		.index = index,
		.type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
		.memory = V4L2_MEMORY_MMAP,
	};

	return xioctl(fd, VIDIOC_QBUF, &buf);
}

static inline int rvcap_stream(int fd, bool on)
{
	int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;

	return xioctl(fd, on ? VIDIOC_STREAMON : VIDIOC_STREAMOFF, &type);
}

/* Waits up to @ms for a buffer to be done; 1 if one is, 0 on time-out. */
static inline int rvcap_wait_frame(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int ret = poll(&p, 1, ms);

	if (ret < 0)
		return -errno;
	return ret > 0 && (p.revents & POLLIN);
}

#endif /* RVCAP_V4L2_H */
