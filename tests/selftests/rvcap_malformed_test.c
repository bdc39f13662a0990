// SPDX-License-Identifier: GPL-2.0
/*
 * rvcap against malformed ioctls: a table of requests, each with one bad
 * field (type, memory, index, count, size, flags, reserved fields, plane
 * pointers, mmap offsets), and the errno the V4L2 spec names for it. After
 * every case the device must still stream. Expects rvcap loaded.
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"
#include "rvcap_v4l2.h"

#define CAPTURE V4L2_BUF_TYPE_VIDEO_CAPTURE

/* What a case needs set up first. */
enum setup { NONE, MMAP_BUFS, MMAP_QUEUED, MMAP_STREAMING, DMABUF_BUFS };

FIXTURE(malformed) {
	int fd;
};

FIXTURE_VARIANT(malformed) {
	enum setup setup;
	int (*run)(int fd);
	int want;	/* 0 or -errno */
};

static int reqbufs_raw(int fd, uint32_t type, uint32_t memory, uint32_t count)
{
	struct v4l2_requestbuffers r = { .count = count, .type = type, .memory = memory };

	return xioctl(fd, VIDIOC_REQBUFS, &r);
}

static int buf_ioctl(int fd, unsigned long req, uint32_t type, uint32_t memory,
		     uint32_t index, uint32_t flags)
{
	struct v4l2_buffer b = {
		.index = index, .type = type, .memory = memory, .flags = flags,
	};

	return xioctl(fd, req, &b);
}

static int create_raw(int fd, uint32_t type, uint32_t memory, uint32_t count, uint32_t size)
{
	struct v4l2_create_buffers c = { .count = count, .memory = memory };

	c.format.type = CAPTURE;
	xioctl(fd, VIDIOC_G_FMT, &c.format);
	c.format.type = type;
	c.format.fmt.pix.sizeimage = size;
	return xioctl(fd, VIDIOC_CREATE_BUFS, &c);
}

static int stream_type(int fd, unsigned long req, int type)
{
	return xioctl(fd, req, &type);
}

/*
 * The cases: case_<name>() makes one malformed request; the variant <name>
 * says what to set up first and which errno it must get.
 */

static int case_reqbufs_type_output(int fd)
{
	return reqbufs_raw(fd, V4L2_BUF_TYPE_VIDEO_OUTPUT, V4L2_MEMORY_MMAP, 2);
}

FIXTURE_VARIANT_ADD(malformed, reqbufs_type_output) {
	.setup = NONE, .run = case_reqbufs_type_output, .want = -EINVAL,
};

static int case_reqbufs_type_zero(int fd)
{
	return reqbufs_raw(fd, 0, V4L2_MEMORY_MMAP, 2);
}

FIXTURE_VARIANT_ADD(malformed, reqbufs_type_zero) {
	.setup = NONE, .run = case_reqbufs_type_zero, .want = -EINVAL,
};

static int case_reqbufs_type_mplane(int fd)
{
	return reqbufs_raw(fd, V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE, V4L2_MEMORY_MMAP, 2);
}

FIXTURE_VARIANT_ADD(malformed, reqbufs_type_mplane) {
	.setup = NONE, .run = case_reqbufs_type_mplane, .want = -EINVAL,
};

static int case_reqbufs_memory_zero(int fd)
{
	return reqbufs_raw(fd, CAPTURE, 0, 2);
}

FIXTURE_VARIANT_ADD(malformed, reqbufs_memory_zero) {
	.setup = NONE, .run = case_reqbufs_memory_zero, .want = -EINVAL,
};

static int case_reqbufs_memory_userptr(int fd)
{
	return reqbufs_raw(fd, CAPTURE, V4L2_MEMORY_USERPTR, 2);
}

FIXTURE_VARIANT_ADD(malformed, reqbufs_memory_userptr) {
	.setup = NONE, .run = case_reqbufs_memory_userptr, .want = -EINVAL,
};

static int case_reqbufs_memory_overlay(int fd)
{
	return reqbufs_raw(fd, CAPTURE, V4L2_MEMORY_OVERLAY, 2);
}

FIXTURE_VARIANT_ADD(malformed, reqbufs_memory_overlay) {
	.setup = NONE, .run = case_reqbufs_memory_overlay, .want = -EINVAL,
};

static int case_reqbufs_memory_unknown(int fd)
{
	return reqbufs_raw(fd, CAPTURE, 99, 2);
}

FIXTURE_VARIANT_ADD(malformed, reqbufs_memory_unknown) {
	.setup = NONE, .run = case_reqbufs_memory_unknown, .want = -EINVAL,
};

static int case_reqbufs_huge_count_is_clamped(int fd)
{
	struct v4l2_requestbuffers r = { .count = ~0U, .type = CAPTURE, .memory = V4L2_MEMORY_DMABUF };
	int ret = xioctl(fd, VIDIOC_REQBUFS, &r);

	/* rvcap's maximum, as vivid's: 64 buffers. */
	return ret ? ret : r.count == 64 ? 0 : -ERANGE;
}

FIXTURE_VARIANT_ADD(malformed, reqbufs_huge_count_is_clamped) {
	.setup = NONE, .run = case_reqbufs_huge_count_is_clamped, .want = 0,
};

static int case_reqbufs_reserved_fields_are_ignored(int fd)
{
	struct v4l2_requestbuffers r = { .count = 2, .type = CAPTURE, .memory = V4L2_MEMORY_MMAP };
	int ret;

	memset(r.reserved, 0xff, sizeof(r.reserved));
	ret = xioctl(fd, VIDIOC_REQBUFS, &r);
	return ret ? ret : r.reserved[0] == 0 ? 0 : -ERANGE;
}

FIXTURE_VARIANT_ADD(malformed, reqbufs_reserved_fields_are_ignored) {
	.setup = NONE, .run = case_reqbufs_reserved_fields_are_ignored, .want = 0,
};

static int case_reqbufs_zero_while_streaming(int fd)
{
	return reqbufs_raw(fd, CAPTURE, V4L2_MEMORY_MMAP, 0);
}

FIXTURE_VARIANT_ADD(malformed, reqbufs_zero_while_streaming) {
	.setup = MMAP_STREAMING, .run = case_reqbufs_zero_while_streaming, .want = -EBUSY,
};

static int case_create_bufs_sizeimage_zero(int fd)
{
	return create_raw(fd, CAPTURE, V4L2_MEMORY_MMAP, 1, 0);
}

FIXTURE_VARIANT_ADD(malformed, create_bufs_sizeimage_zero) {
	.setup = NONE, .run = case_create_bufs_sizeimage_zero, .want = -EINVAL,
};

static int case_create_bufs_sizeimage_too_small(int fd)
{
	return create_raw(fd, CAPTURE, V4L2_MEMORY_MMAP, 1, 100);
}

FIXTURE_VARIANT_ADD(malformed, create_bufs_sizeimage_too_small) {
	.setup = NONE, .run = case_create_bufs_sizeimage_too_small, .want = -EINVAL,
};

static int case_create_bufs_sizeimage_huge(int fd)
{
	return create_raw(fd, CAPTURE, V4L2_MEMORY_MMAP, 1, ~0U);
}

FIXTURE_VARIANT_ADD(malformed, create_bufs_sizeimage_huge) {
	.setup = NONE, .run = case_create_bufs_sizeimage_huge, .want = -EINVAL,
};

static int case_create_bufs_type_output(int fd)
{
	return create_raw(fd, V4L2_BUF_TYPE_VIDEO_OUTPUT, V4L2_MEMORY_MMAP, 1, 1 << 20);
}

FIXTURE_VARIANT_ADD(malformed, create_bufs_type_output) {
	.setup = NONE, .run = case_create_bufs_type_output, .want = -EINVAL,
};

static int case_create_bufs_memory_userptr(int fd)
{
	return create_raw(fd, CAPTURE, V4L2_MEMORY_USERPTR, 1, 1 << 20);
}

FIXTURE_VARIANT_ADD(malformed, create_bufs_memory_userptr) {
	.setup = NONE, .run = case_create_bufs_memory_userptr, .want = -EINVAL,
};

static int case_create_bufs_other_memory_than_the_queue(int fd)
{
	return create_raw(fd, CAPTURE, V4L2_MEMORY_DMABUF, 1, 1 << 20);
}

FIXTURE_VARIANT_ADD(malformed, create_bufs_other_memory_than_the_queue) {
	.setup = MMAP_BUFS, .run = case_create_bufs_other_memory_than_the_queue, .want = -EINVAL,
};

static int case_querybuf_index_past_the_end(int fd)
{
	return buf_ioctl(fd, VIDIOC_QUERYBUF, CAPTURE, V4L2_MEMORY_MMAP, 2, 0);
}

FIXTURE_VARIANT_ADD(malformed, querybuf_index_past_the_end) {
	.setup = MMAP_BUFS, .run = case_querybuf_index_past_the_end, .want = -EINVAL,
};

static int case_querybuf_index_huge(int fd)
{
	return buf_ioctl(fd, VIDIOC_QUERYBUF, CAPTURE, V4L2_MEMORY_MMAP, ~0U, 0);
}

FIXTURE_VARIANT_ADD(malformed, querybuf_index_huge) {
	.setup = MMAP_BUFS, .run = case_querybuf_index_huge, .want = -EINVAL,
};

static int case_querybuf_without_buffers(int fd)
{
	return buf_ioctl(fd, VIDIOC_QUERYBUF, CAPTURE, V4L2_MEMORY_MMAP, 0, 0);
}

FIXTURE_VARIANT_ADD(malformed, querybuf_without_buffers) {
	.setup = NONE, .run = case_querybuf_without_buffers, .want = -EINVAL,
};

static int case_qbuf_type_output(int fd)
{
	return buf_ioctl(fd, VIDIOC_QBUF, V4L2_BUF_TYPE_VIDEO_OUTPUT, V4L2_MEMORY_MMAP, 0, 0);
}

FIXTURE_VARIANT_ADD(malformed, qbuf_type_output) {
	.setup = MMAP_BUFS, .run = case_qbuf_type_output, .want = -EINVAL,
};

static int case_qbuf_mplane_without_planes(int fd)
{
	return buf_ioctl(fd, VIDIOC_QBUF, V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE, V4L2_MEMORY_MMAP, 0, 0);
}

FIXTURE_VARIANT_ADD(malformed, qbuf_mplane_without_planes) {
	.setup = MMAP_BUFS, .run = case_qbuf_mplane_without_planes, .want = -EINVAL,
};

static int case_qbuf_index_past_the_end(int fd)
{
	return buf_ioctl(fd, VIDIOC_QBUF, CAPTURE, V4L2_MEMORY_MMAP, 2, 0);
}

FIXTURE_VARIANT_ADD(malformed, qbuf_index_past_the_end) {
	.setup = MMAP_BUFS, .run = case_qbuf_index_past_the_end, .want = -EINVAL,
};

static int case_qbuf_memory_mismatch(int fd)
{
	return buf_ioctl(fd, VIDIOC_QBUF, CAPTURE, V4L2_MEMORY_DMABUF, 0, 0);
}

FIXTURE_VARIANT_ADD(malformed, qbuf_memory_mismatch) {
	.setup = MMAP_BUFS, .run = case_qbuf_memory_mismatch, .want = -EINVAL,
};

static int case_qbuf_memory_unknown(int fd)
{
	return buf_ioctl(fd, VIDIOC_QBUF, CAPTURE, 77, 0, 0);
}

FIXTURE_VARIANT_ADD(malformed, qbuf_memory_unknown) {
	.setup = MMAP_BUFS, .run = case_qbuf_memory_unknown, .want = -EINVAL,
};

static int case_qbuf_request_fd_without_request_support(int fd)
{
	return buf_ioctl(fd, VIDIOC_QBUF, CAPTURE, V4L2_MEMORY_MMAP, 0, V4L2_BUF_FLAG_REQUEST_FD);
}

FIXTURE_VARIANT_ADD(malformed, qbuf_request_fd_without_request_support) {
	.setup = MMAP_BUFS, .run = case_qbuf_request_fd_without_request_support, .want = -EBADR,
};

static int case_qbuf_twice(int fd)
{
	return buf_ioctl(fd, VIDIOC_QBUF, CAPTURE, V4L2_MEMORY_MMAP, 0, 0);
}

FIXTURE_VARIANT_ADD(malformed, qbuf_twice) {
	.setup = MMAP_QUEUED, .run = case_qbuf_twice, .want = -EINVAL,
};

static int case_prepare_buf_of_a_queued_buffer(int fd)
{
	return buf_ioctl(fd, VIDIOC_PREPARE_BUF, CAPTURE, V4L2_MEMORY_MMAP, 0, 0);
}

FIXTURE_VARIANT_ADD(malformed, prepare_buf_of_a_queued_buffer) {
	.setup = MMAP_QUEUED, .run = case_prepare_buf_of_a_queued_buffer, .want = -EINVAL,
};

static int case_qbuf_dmabuf_fd_out_of_range(int fd)
{
	struct v4l2_buffer b = { .type = CAPTURE, .memory = V4L2_MEMORY_DMABUF, .m.fd = 1000000 };

	return xioctl(fd, VIDIOC_QBUF, &b);
}

FIXTURE_VARIANT_ADD(malformed, qbuf_dmabuf_fd_out_of_range) {
	.setup = DMABUF_BUFS, .run = case_qbuf_dmabuf_fd_out_of_range, .want = -EINVAL,
};

static int case_qbuf_dmabuf_fd_of_the_video_node(int fd)
{
	struct v4l2_buffer b = { .type = CAPTURE, .memory = V4L2_MEMORY_DMABUF, .m.fd = fd };

	return xioctl(fd, VIDIOC_QBUF, &b);
}

FIXTURE_VARIANT_ADD(malformed, qbuf_dmabuf_fd_of_the_video_node) {
	.setup = DMABUF_BUFS, .run = case_qbuf_dmabuf_fd_of_the_video_node, .want = -EINVAL,
};

static int case_dqbuf_type_mismatch(int fd)
{
	return buf_ioctl(fd, VIDIOC_DQBUF, V4L2_BUF_TYPE_VIDEO_OUTPUT, V4L2_MEMORY_MMAP, 0, 0);
}

FIXTURE_VARIANT_ADD(malformed, dqbuf_type_mismatch) {
	.setup = MMAP_STREAMING, .run = case_dqbuf_type_mismatch, .want = -EINVAL,
};

static int case_dqbuf_memory_mismatch(int fd)
{
	return buf_ioctl(fd, VIDIOC_DQBUF, CAPTURE, V4L2_MEMORY_DMABUF, 0, 0);
}

FIXTURE_VARIANT_ADD(malformed, dqbuf_memory_mismatch) {
	.setup = MMAP_STREAMING, .run = case_dqbuf_memory_mismatch, .want = -EINVAL,
};

static int case_dqbuf_not_streaming(int fd)
{
	return buf_ioctl(fd, VIDIOC_DQBUF, CAPTURE, V4L2_MEMORY_MMAP, 0, 0);
}

FIXTURE_VARIANT_ADD(malformed, dqbuf_not_streaming) {
	.setup = MMAP_QUEUED, .run = case_dqbuf_not_streaming, .want = -EINVAL,
};

static int case_streamon_type_output(int fd)
{
	return stream_type(fd, VIDIOC_STREAMON, V4L2_BUF_TYPE_VIDEO_OUTPUT);
}

FIXTURE_VARIANT_ADD(malformed, streamon_type_output) {
	.setup = MMAP_QUEUED, .run = case_streamon_type_output, .want = -EINVAL,
};

static int case_streamon_type_zero(int fd)
{
	return stream_type(fd, VIDIOC_STREAMON, 0);
}

FIXTURE_VARIANT_ADD(malformed, streamon_type_zero) {
	.setup = MMAP_QUEUED, .run = case_streamon_type_zero, .want = -EINVAL,
};

static int case_streamon_without_buffers(int fd)
{
	return stream_type(fd, VIDIOC_STREAMON, CAPTURE);
}

FIXTURE_VARIANT_ADD(malformed, streamon_without_buffers) {
	.setup = NONE, .run = case_streamon_without_buffers, .want = -EINVAL,
};

static int case_streamoff_type_unknown(int fd)
{
	return stream_type(fd, VIDIOC_STREAMOFF, 99);
}

FIXTURE_VARIANT_ADD(malformed, streamoff_type_unknown) {
	.setup = MMAP_STREAMING, .run = case_streamoff_type_unknown, .want = -EINVAL,
};

static int case_s_fmt_type_output(int fd)
{
	struct v4l2_format f = { .type = V4L2_BUF_TYPE_VIDEO_OUTPUT };

	return xioctl(fd, VIDIOC_S_FMT, &f);
}

FIXTURE_VARIANT_ADD(malformed, s_fmt_type_output) {
	.setup = NONE, .run = case_s_fmt_type_output, .want = -EINVAL,
};

static int case_s_fmt_while_buffers_exist(int fd)
{
	struct v4l2_format f;

	return rvcap_set_format(fd, V4L2_PIX_FMT_GREY, 32, 32, &f);
}

FIXTURE_VARIANT_ADD(malformed, s_fmt_while_buffers_exist) {
	.setup = MMAP_BUFS, .run = case_s_fmt_while_buffers_exist, .want = -EBUSY,
};

static int case_s_fmt_huge_size_is_clamped(int fd)
{
	struct v4l2_format f;
	int ret = rvcap_set_format(fd, V4L2_PIX_FMT_YUYV, ~0U, ~0U, &f);

	return ret ? ret : f.fmt.pix.width == 1920 && f.fmt.pix.height == 1080 ? 0 : -ERANGE;
}

FIXTURE_VARIANT_ADD(malformed, s_fmt_huge_size_is_clamped) {
	.setup = NONE, .run = case_s_fmt_huge_size_is_clamped, .want = 0,
};

static int case_s_fmt_unknown_fourcc_gets_the_default(int fd)
{
	struct v4l2_format f;
	int ret = rvcap_set_format(fd, v4l2_fourcc('B', 'A', 'D', '!'), 64, 64, &f);

	return ret ? ret : f.fmt.pix.pixelformat == V4L2_PIX_FMT_YUYV ? 0 : -ERANGE;
}

FIXTURE_VARIANT_ADD(malformed, s_fmt_unknown_fourcc_gets_the_default) {
	.setup = NONE, .run = case_s_fmt_unknown_fourcc_gets_the_default, .want = 0,
};

static int case_enum_fmt_index_past_the_end(int fd)
{
	struct v4l2_fmtdesc d = { .index = 4, .type = CAPTURE };

	return xioctl(fd, VIDIOC_ENUM_FMT, &d);
}

FIXTURE_VARIANT_ADD(malformed, enum_fmt_index_past_the_end) {
	.setup = NONE, .run = case_enum_fmt_index_past_the_end, .want = -EINVAL,
};

static int case_enum_framesizes_unknown_fourcc(int fd)
{
	struct v4l2_frmsizeenum e = { .pixel_format = v4l2_fourcc('B', 'A', 'D', '!') };

	return xioctl(fd, VIDIOC_ENUM_FRAMESIZES, &e);
}

FIXTURE_VARIANT_ADD(malformed, enum_framesizes_unknown_fourcc) {
	.setup = NONE, .run = case_enum_framesizes_unknown_fourcc, .want = -EINVAL,
};

static int case_enum_framesizes_index_one(int fd)
{
	struct v4l2_frmsizeenum e = { .index = 1, .pixel_format = V4L2_PIX_FMT_YUYV };

	return xioctl(fd, VIDIOC_ENUM_FRAMESIZES, &e);
}

FIXTURE_VARIANT_ADD(malformed, enum_framesizes_index_one) {
	.setup = NONE, .run = case_enum_framesizes_index_one, .want = -EINVAL,
};

static int case_enum_frameintervals_odd_width(int fd)
{
	struct v4l2_frmivalenum e = { .pixel_format = V4L2_PIX_FMT_YUYV, .width = 641, .height = 480 };

	return xioctl(fd, VIDIOC_ENUM_FRAMEINTERVALS, &e);
}

FIXTURE_VARIANT_ADD(malformed, enum_frameintervals_odd_width) {
	.setup = NONE, .run = case_enum_frameintervals_odd_width, .want = -EINVAL,
};

static int case_enum_frameintervals_index_past_the_end(int fd)
{
	struct v4l2_frmivalenum e = { .index = 4, .pixel_format = V4L2_PIX_FMT_YUYV, .width = 640, .height = 480 };

	return xioctl(fd, VIDIOC_ENUM_FRAMEINTERVALS, &e);
}

FIXTURE_VARIANT_ADD(malformed, enum_frameintervals_index_past_the_end) {
	.setup = NONE, .run = case_enum_frameintervals_index_past_the_end, .want = -EINVAL,
};

static int case_s_parm_zero_interval_gets_the_default(int fd)
{
	struct v4l2_streamparm p = { .type = CAPTURE };
	int ret = xioctl(fd, VIDIOC_S_PARM, &p);

	return ret ? ret : p.parm.capture.timeperframe.denominator == 30 ? 0 : -ERANGE;
}

FIXTURE_VARIANT_ADD(malformed, s_parm_zero_interval_gets_the_default) {
	.setup = NONE, .run = case_s_parm_zero_interval_gets_the_default, .want = 0,
};

static int case_s_input_one(int fd)
{
	int i = 1;

	return xioctl(fd, VIDIOC_S_INPUT, &i);
}

FIXTURE_VARIANT_ADD(malformed, s_input_one) {
	.setup = NONE, .run = case_s_input_one, .want = -EINVAL,
};

static int case_enum_input_one(int fd)
{
	struct v4l2_input in = { .index = 1 };

	return xioctl(fd, VIDIOC_ENUMINPUT, &in);
}

FIXTURE_VARIANT_ADD(malformed, enum_input_one) {
	.setup = NONE, .run = case_enum_input_one, .want = -EINVAL,
};

static int case_s_ctrl_test_pattern_out_of_range(int fd)
{
	return rvcap_set_pattern(fd, 3);
}

FIXTURE_VARIANT_ADD(malformed, s_ctrl_test_pattern_out_of_range) {
	.setup = NONE, .run = case_s_ctrl_test_pattern_out_of_range, .want = -ERANGE,
};

static int case_mmap_offset_of_no_buffer(int fd)
{
	void *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 7 * 4096);

	return p == MAP_FAILED ? -errno : (munmap(p, 4096), 0);
}

FIXTURE_VARIANT_ADD(malformed, mmap_offset_of_no_buffer) {
	.setup = MMAP_BUFS, .run = case_mmap_offset_of_no_buffer, .want = -EINVAL,
};

static int case_mmap_private(int fd)
{
	void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);

	return p == MAP_FAILED ? -errno : (munmap(p, 4096), 0);
}

FIXTURE_VARIANT_ADD(malformed, mmap_private) {
	.setup = MMAP_BUFS, .run = case_mmap_private, .want = -EINVAL,
};

static int case_mmap_larger_than_the_buffer(int fd)
{
	void *p = mmap(NULL, 64 << 20, PROT_READ, MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? -errno : (munmap(p, 64 << 20), 0);
}

FIXTURE_VARIANT_ADD(malformed, mmap_larger_than_the_buffer) {
	.setup = MMAP_BUFS, .run = case_mmap_larger_than_the_buffer, .want = -EINVAL,
};


FIXTURE_SETUP(malformed)
{
	self->fd = open(rvcap_dev(), O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(malformed)
{
	rvcap_stream(self->fd, false);
	rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, 0);
	close(self->fd);
}

static void set_up(struct __test_metadata *_metadata, int fd, enum setup setup)
{
	struct v4l2_format fmt;
	int i;

	ASSERT_EQ(0, rvcap_set_format(fd, V4L2_PIX_FMT_YUYV, 64, 64, &fmt));
	if (setup == NONE)
		return;
	if (setup == DMABUF_BUFS) {
		ASSERT_EQ(2, rvcap_reqbufs(fd, V4L2_MEMORY_DMABUF, 2));
		return;
	}
	ASSERT_EQ(2, rvcap_reqbufs(fd, V4L2_MEMORY_MMAP, 2));
	if (setup == MMAP_BUFS)
		return;
	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, rvcap_qbuf_mmap(fd, i));
	if (setup == MMAP_STREAMING)
		ASSERT_EQ(0, rvcap_stream(fd, true));
}

TEST_F(malformed, gets_the_spec_errno_and_streaming_goes_on)
{
	int got;

	set_up(_metadata, self->fd, variant->setup);
	got = variant->run(self->fd);
	EXPECT_EQ(variant->want, got) {
		TH_LOG("got %s, want %s", strerror(-got), strerror(-variant->want));
	}
	/* Back to a clean queue, and prove it still streams. */
	rvcap_stream(self->fd, false);
	ASSERT_EQ(0, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, 0));
	ASSERT_EQ(1, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, 1));
	ASSERT_EQ(0, rvcap_qbuf_mmap(self->fd, 0));
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
	ASSERT_EQ(1, rvcap_wait_frame(self->fd, 5000));
}

TEST_HARNESS_MAIN
