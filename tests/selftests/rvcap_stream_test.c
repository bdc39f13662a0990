// SPDX-License-Identifier: GPL-2.0
/*
 * rvcap MMAP streaming: every byte of every captured frame equals the
 * verification pattern of its sequence number, frame metadata follows the
 * V4L2 spec, and the queue's ownership and errno rules hold from userspace.
 *
 * Run in a normal boot and a swiotlb=force boot: with every DMA mapping
 * bounced, a missing or misplaced cache sync in the driver shows up as stale
 * bytes here. Expects rvcap loaded; the node is $RVCAP_DEV or /dev/video0.
 */
#define _GNU_SOURCE
#include <time.h>

#include "kselftest_harness.h"
#include "rvcap_v4l2.h"

#define FRAMES 30
#define NBUFS 4

FIXTURE(stream) {
	int fd;
	struct v4l2_format fmt;
	void *map[NBUFS];
	size_t len[NBUFS];
	unsigned int count;
};

FIXTURE_VARIANT(stream) {
	uint32_t fourcc;
	uint32_t width;
	uint32_t height;
};

FIXTURE_VARIANT_ADD(stream, yuyv_640x480) {
	.fourcc = V4L2_PIX_FMT_YUYV, .width = 640, .height = 480,
};

FIXTURE_VARIANT_ADD(stream, nv12_320x240) {
	.fourcc = V4L2_PIX_FMT_NV12, .width = 320, .height = 240,
};

FIXTURE_VARIANT_ADD(stream, rgb24_176x144) {
	.fourcc = V4L2_PIX_FMT_RGB24, .width = 176, .height = 144,
};

FIXTURE_VARIANT_ADD(stream, grey_1920x1080) {
	.fourcc = V4L2_PIX_FMT_GREY, .width = 1920, .height = 1080,
};

FIXTURE_SETUP(stream)
{
	self->fd = open(rvcap_dev(), O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", rvcap_dev(), strerror(errno));
	ASSERT_EQ(0, rvcap_set_format(self->fd, variant->fourcc, variant->width,
				      variant->height, &self->fmt));
	ASSERT_EQ(variant->fourcc, self->fmt.fmt.pix.pixelformat);
	ASSERT_EQ(variant->width, self->fmt.fmt.pix.width);
	ASSERT_EQ(variant->height, self->fmt.fmt.pix.height);
	ASSERT_EQ(0, rvcap_set_pattern(self->fd, 2));
}

FIXTURE_TEARDOWN(stream)
{
	unsigned int i;

	rvcap_stream(self->fd, false);
	for (i = 0; i < self->count; i++)
		if (self->map[i] && self->map[i] != MAP_FAILED)
			munmap(self->map[i], self->len[i]);
	rvcap_restore_defaults(self->fd);
	close(self->fd);
}

/* REQBUFS, then QUERYBUF and mmap() each buffer. */
static void map_buffers(struct __test_metadata *_metadata,
			struct _test_data_stream *self)
{
	struct v4l2_buffer buf;
	unsigned int i;
	int n;

	n = rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, NBUFS);
	ASSERT_EQ(NBUFS, n);
	self->count = n;
	for (i = 0; i < self->count; i++) {
		memset(&buf, 0, sizeof(buf));
		buf.index = i;
		buf.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
		buf.memory = V4L2_MEMORY_MMAP;
		ASSERT_EQ(0, xioctl(self->fd, VIDIOC_QUERYBUF, &buf));
		ASSERT_EQ(self->fmt.fmt.pix.sizeimage, buf.length);
		self->len[i] = buf.length;
		self->map[i] = mmap(NULL, buf.length, PROT_READ, MAP_SHARED,
				    self->fd, buf.m.offset);
		ASSERT_NE(MAP_FAILED, self->map[i]);
	}
}

TEST_F(stream, every_byte_of_every_frame_matches_the_verification_pattern)
{
	uint64_t last_ts = 0;
	long last_seq = -1;
	struct v4l2_buffer buf;
	unsigned int i;
	int frame;

	map_buffers(_metadata, self);
	for (i = 0; i < self->count; i++)
		ASSERT_EQ(0, rvcap_qbuf_mmap(self->fd, i));
	ASSERT_EQ(0, rvcap_stream(self->fd, true));

	for (frame = 0; frame < FRAMES; frame++) {
		uint64_t ts;
		long bad;

		ASSERT_EQ(1, rvcap_wait_frame(self->fd, 5000)) TH_LOG("frame %d", frame);
		memset(&buf, 0, sizeof(buf));
		buf.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
		buf.memory = V4L2_MEMORY_MMAP;
		ASSERT_EQ(0, xioctl(self->fd, VIDIOC_DQBUF, &buf));
		ASSERT_LT(buf.index, self->count);
		EXPECT_EQ(self->fmt.fmt.pix.sizeimage, buf.bytesused);
		EXPECT_EQ((__u32)V4L2_FIELD_NONE, buf.field);
		EXPECT_EQ(0U, buf.flags & (V4L2_BUF_FLAG_ERROR | V4L2_BUF_FLAG_QUEUED |
					   V4L2_BUF_FLAG_DONE));
		EXPECT_EQ((__u32)V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC,
			  buf.flags & V4L2_BUF_FLAG_TIMESTAMP_MASK);
		EXPECT_GT((long)buf.sequence, last_seq);
		last_seq = buf.sequence;
		ts = buf.timestamp.tv_sec * 1000000000ull + buf.timestamp.tv_usec * 1000ull;
		EXPECT_GT(ts, last_ts);
		last_ts = ts;

		bad = rvcap_check_frame(self->map[buf.index], buf.bytesused, buf.sequence);
		ASSERT_EQ(-1, bad) {
			TH_LOG("frame %d (sequence %u, buffer %u): byte %ld is 0x%02x, want 0x%02x",
			       frame, buf.sequence, buf.index, bad,
			       ((uint8_t *)self->map[buf.index])[bad],
			       rvcap_verification_byte(bad, buf.sequence));
		}
		ASSERT_EQ(0, rvcap_qbuf_mmap(self->fd, buf.index));
	}
}

TEST_F(stream, streamoff_returns_every_buffer_to_the_application)
{
	struct v4l2_buffer buf;
	unsigned int i;

	map_buffers(_metadata, self);
	for (i = 0; i < self->count; i++)
		ASSERT_EQ(0, rvcap_qbuf_mmap(self->fd, i));
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
	ASSERT_EQ(1, rvcap_wait_frame(self->fd, 5000));
	ASSERT_EQ(0, rvcap_stream(self->fd, false));
	for (i = 0; i < self->count; i++) {
		memset(&buf, 0, sizeof(buf));
		buf.index = i;
		buf.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
		buf.memory = V4L2_MEMORY_MMAP;
		ASSERT_EQ(0, xioctl(self->fd, VIDIOC_QUERYBUF, &buf));
		EXPECT_EQ(0U, buf.flags & (V4L2_BUF_FLAG_QUEUED | V4L2_BUF_FLAG_DONE));
		EXPECT_NE(0U, buf.flags & V4L2_BUF_FLAG_MAPPED);
	}
	/* Not streaming: DQBUF fails with EINVAL, and STREAMOFF is idempotent. */
	buf.index = 0;
	EXPECT_EQ(-EINVAL, xioctl(self->fd, VIDIOC_DQBUF, &buf));
	EXPECT_EQ(0, rvcap_stream(self->fd, false));
	/* Every buffer can be queued again. */
	for (i = 0; i < self->count; i++)
		EXPECT_EQ(0, rvcap_qbuf_mmap(self->fd, i));
}

TEST_F(stream, another_file_handle_gets_ebusy_until_the_owner_closes)
{
	struct v4l2_format fmt;
	int other;

	other = open(rvcap_dev(), O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, other);
	ASSERT_EQ(2, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, 2));
	EXPECT_EQ(-EBUSY, rvcap_reqbufs(other, V4L2_MEMORY_MMAP, 2));
	EXPECT_EQ(-EBUSY, rvcap_reqbufs(other, V4L2_MEMORY_MMAP, 0));
	EXPECT_EQ(-EBUSY, rvcap_qbuf_mmap(other, 0));
	EXPECT_EQ(-EBUSY, rvcap_stream(other, true));
	/* The format cannot change under allocated buffers. */
	EXPECT_EQ(-EBUSY, rvcap_set_format(other, V4L2_PIX_FMT_GREY, 64, 64, &fmt));
	/* Once the owner lets go, the other handle may take the queue. */
	ASSERT_EQ(0, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, 0));
	EXPECT_EQ(2, rvcap_reqbufs(other, V4L2_MEMORY_MMAP, 2));
	close(other);
	/* Closing the owner released the queue. */
	EXPECT_EQ(2, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, 2));
}

TEST_F(stream, nonblocking_dqbuf_without_frames_is_eagain)
{
	struct v4l2_buffer buf = {
		.type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
		.memory = V4L2_MEMORY_MMAP,
	};
	int flags = fcntl(self->fd, F_GETFL);

	ASSERT_EQ(0, fcntl(self->fd, F_SETFL, flags | O_NONBLOCK));
	ASSERT_EQ(2, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, 2));
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
	/* Nothing queued, so nothing can complete. */
	EXPECT_EQ(-EAGAIN, xioctl(self->fd, VIDIOC_DQBUF, &buf));
}

TEST_F(stream, orphaned_mmap_buffer_outlives_reqbufs_zero)
{
	struct v4l2_requestbuffers req = {
		.type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
		.memory = V4L2_MEMORY_MMAP,
	};
	size_t i;

	ASSERT_EQ(0, xioctl(self->fd, VIDIOC_REQBUFS, &req));
	ASSERT_NE(0U, req.capabilities & V4L2_BUF_CAP_SUPPORTS_ORPHANED_BUFS);
	map_buffers(_metadata, self);
	ASSERT_EQ(0, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, 0));
	/*
	 * The mapping still reads what the buffer held: zeroes, as it was
	 * never filled. The memory goes when it is unmapped.
	 */
	for (i = 0; i < self->len[0]; i += 4096)
		ASSERT_EQ(0, ((uint8_t *)self->map[0])[i]);
}

TEST_F(stream, bad_buffer_requests_get_einval)
{
	struct v4l2_buffer buf = {
		.type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
		.memory = V4L2_MEMORY_MMAP,
	};

	EXPECT_EQ(-EINVAL, rvcap_reqbufs(self->fd, V4L2_MEMORY_USERPTR, 2));
	EXPECT_EQ(-EINVAL, rvcap_qbuf_mmap(self->fd, 0)) TH_LOG("no buffers yet");
	EXPECT_EQ(-EINVAL, rvcap_stream(self->fd, true)) TH_LOG("no buffers yet");
	ASSERT_EQ(2, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, 2));
	EXPECT_EQ(-EINVAL, rvcap_qbuf_mmap(self->fd, 2)) TH_LOG("index");
	buf.index = 0;
	buf.memory = V4L2_MEMORY_DMABUF;
	EXPECT_EQ(-EINVAL, xioctl(self->fd, VIDIOC_QBUF, &buf)) TH_LOG("memory");
	ASSERT_EQ(0, rvcap_qbuf_mmap(self->fd, 0));
	EXPECT_EQ(-EINVAL, rvcap_qbuf_mmap(self->fd, 0)) TH_LOG("double QBUF");
}

TEST_HARNESS_MAIN
