// SPDX-License-Identifier: GPL-2.0
/*
 * rvcap's multi-planar API (a device loaded with multiplanar=2, buffer type
 * V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE): the seven formats and their
 * per-plane bytesperline and sizeimage, streaming into MMAP buffers and
 * into per-plane dma-bufs of the system dma-heap and of udmabuf with every
 * byte of every plane checked against the verification pattern, one
 * dma-buf for two planes refused, the single-planar type, short planes
 * arrays and wrong CREATE_BUFS plane counts and sizes refused with EINVAL,
 * and REMOVE_BUFS and CREATE_BUFS of multi-plane buffers.
 *
 * The verification pattern is defined over the frame, the memory planes
 * laid end to end: byte j of plane p is frame byte (the sizes of the
 * planes before p) + j.
 *
 * The node is $RVCAP_MPLANE_DEVICE, else the first /dev/videoN whose
 * QUERYCAP says driver "rvcap" with V4L2_CAP_VIDEO_CAPTURE_MPLANE; with
 * none (rvcap loaded with single-planar devices only) every test that
 * needs one is skipped. The guest plan loads
 *
 *   modprobe rvcap num_devices=2 multiplanar=1,2
 *   RVCAP_MPLANE_DEVICE=/dev/videoN ./rvcap_mplane_test
 *
 * Frames are 320x240 for streaming, so that every plane stays within what
 * swiotlb can bounce (run it in a swiotlb=force boot too).
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"
#include "rvcap_v4l2.h"

#define MPLANE V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE
#define CAPTURE V4L2_BUF_TYPE_VIDEO_CAPTURE
#define WIDTH 320
#define HEIGHT 240
#define NBUFS 4
#define FRAMES 10
#define FRAME_MS 5000
#define NPLANES 3
#define PAGE 4096UL

static const uint32_t all_formats[] = {
	V4L2_PIX_FMT_YUYV, V4L2_PIX_FMT_NV12, V4L2_PIX_FMT_RGB24,
	V4L2_PIX_FMT_GREY, V4L2_PIX_FMT_NV12M, V4L2_PIX_FMT_NV16M,
	V4L2_PIX_FMT_YUV420M,
};

#define NFORMATS ARRAY_SIZE(all_formats)

/* What a format at @w x @h must be, plane by plane. */
struct layout {
	unsigned int num_planes;
	uint32_t bpl[NPLANES];
	uint32_t size[NPLANES];
};

static void expected_layout(uint32_t fourcc, uint32_t w, uint32_t h, struct layout *l)
{
	memset(l, 0, sizeof(*l));
	l->num_planes = 1;
	l->bpl[0] = w;
	l->size[0] = w * h;
	switch (fourcc) {
	case V4L2_PIX_FMT_YUYV:
		l->bpl[0] = 2 * w;
		l->size[0] = 2 * w * h;
		break;
	case V4L2_PIX_FMT_RGB24:
		l->bpl[0] = 3 * w;
		l->size[0] = 3 * w * h;
		break;
	case V4L2_PIX_FMT_NV12:
		l->size[0] = w * h + w * (h / 2);
		break;
	case V4L2_PIX_FMT_NV12M:
		l->num_planes = 2;
		l->bpl[1] = w;
		l->size[1] = w * (h / 2);
		break;
	case V4L2_PIX_FMT_NV16M:
		l->num_planes = 2;
		l->bpl[1] = w;
		l->size[1] = w * h;
		break;
	case V4L2_PIX_FMT_YUV420M:
		l->num_planes = 3;
		l->bpl[1] = w / 2;
		l->size[1] = (w / 2) * (h / 2);
		l->bpl[2] = w / 2;
		l->size[2] = (w / 2) * (h / 2);
		break;
	}
}

/* Where plane @p starts in the frame. */
static size_t plane_offset(const struct layout *l, unsigned int p)
{
	size_t off = 0;
	unsigned int i;

	for (i = 0; i < p; i++)
		off += l->size[i];
	return off;
}

/* Garbage no frame has: stale bytes fail the check at once. */
static void fill_garbage(uint8_t *p, size_t len)
{
	size_t j;

	for (j = 0; j < len; j++)
		p[j] = (uint8_t)(j * 13 + 0x5b);
}

static int set_interval(int fd, uint32_t type, uint32_t denominator)
{
	struct v4l2_streamparm parm = { .type = type };

	parm.parm.capture.timeperframe.numerator = 1;
	parm.parm.capture.timeperframe.denominator = denominator;
	return xioctl(fd, VIDIOC_S_PARM, &parm);
}

/* Opens the multi-planar node for the verification pattern at 60 fps. */
static int open_mplane(struct __test_metadata *_metadata, int *fd)
{
	struct v4l2_capability cap = { 0 };
	char path[64];

	if (rvcap_mplane_node(path, sizeof(path)))
		return -ENOENT;
	*fd = open(path, O_RDWR | O_CLOEXEC);
	if (*fd < 0) {
		TH_LOG("cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	if (xioctl(*fd, VIDIOC_QUERYCAP, &cap) ||
	    !(rvcap_device_caps(&cap) & V4L2_CAP_VIDEO_CAPTURE_MPLANE)) {
		TH_LOG("%s is not a multi-planar capture node", path);
		return -EINVAL;
	}
	if (rvcap_set_pattern(*fd, 2) || set_interval(*fd, MPLANE, 60))
		return -EIO;
	return 0;
}

/* ---- Format ioctls and refused arguments */

FIXTURE(mplane) {
	int fd;
};

FIXTURE_SETUP(mplane)
{
	int ret;

	self->fd = -1;
	ret = open_mplane(_metadata, &self->fd);
	if (ret == -ENOENT)
		SKIP(return, RVCAP_NO_MPLANE_NODE);
	ASSERT_EQ(0, ret);
}

FIXTURE_TEARDOWN(mplane)
{
	rvcap_restore_defaults_type(self->fd, MPLANE);
	close(self->fd);
}

TEST_F(mplane, enum_fmt_lists_the_seven_formats_only_for_the_mplane_type)
{
	struct v4l2_fmtdesc d;
	unsigned int i;

	for (i = 0; i < NFORMATS; i++) {
		memset(&d, 0, sizeof(d));
		d.type = MPLANE;
		d.index = i;
		ASSERT_EQ(0, xioctl(self->fd, VIDIOC_ENUM_FMT, &d));
		EXPECT_EQ(all_formats[i], d.pixelformat) TH_LOG("index %u", i);
		EXPECT_EQ(0U, d.flags);
	}
	memset(&d, 0, sizeof(d));
	d.type = MPLANE;
	d.index = NFORMATS;
	EXPECT_EQ(-EINVAL, xioctl(self->fd, VIDIOC_ENUM_FMT, &d));
	memset(&d, 0, sizeof(d));
	d.type = CAPTURE;
	EXPECT_EQ(-EINVAL, xioctl(self->fd, VIDIOC_ENUM_FMT, &d));
}

/* Checks a format reply against expected_layout(). */
static void check_format(struct __test_metadata *_metadata, const struct v4l2_format *f,
			 uint32_t fourcc, uint32_t w, uint32_t h, const char *what)
{
	const struct v4l2_pix_format_mplane *mp = &f->fmt.pix_mp;
	struct layout l;
	unsigned int p;

	expected_layout(fourcc, w, h, &l);
	ASSERT_EQ((uint32_t)MPLANE, f->type);
	EXPECT_EQ(fourcc, mp->pixelformat) TH_LOG("%s", what);
	EXPECT_EQ(w, mp->width) TH_LOG("%s", what);
	EXPECT_EQ(h, mp->height) TH_LOG("%s", what);
	EXPECT_EQ((uint32_t)V4L2_FIELD_NONE, mp->field) TH_LOG("%s", what);
	ASSERT_EQ(l.num_planes, mp->num_planes) TH_LOG("%s %.4s %ux%u", what,
						     (const char *)&fourcc, w, h);
	for (p = 0; p < NPLANES; p++) {
		EXPECT_EQ(l.bpl[p], mp->plane_fmt[p].bytesperline)
			TH_LOG("%s %.4s %ux%u plane %u", what, (const char *)&fourcc, w, h, p);
		EXPECT_EQ(l.size[p], mp->plane_fmt[p].sizeimage)
			TH_LOG("%s %.4s %ux%u plane %u", what, (const char *)&fourcc, w, h, p);
	}
}

TEST_F(mplane, try_s_g_fmt_give_per_plane_sizes_at_640x480_and_98x34)
{
	static const uint32_t sizes[][2] = { { 640, 480 }, { 98, 34 } };
	struct v4l2_format f;
	unsigned int i, s, p;

	for (s = 0; s < 2; s++) {
		uint32_t w = sizes[s][0], h = sizes[s][1];

		for (i = 0; i < NFORMATS; i++) {
			uint32_t fourcc = all_formats[i];

			/* Per-plane values asked for are the driver's to set. */
			memset(&f, 0, sizeof(f));
			f.type = MPLANE;
			f.fmt.pix_mp.pixelformat = fourcc;
			f.fmt.pix_mp.width = w;
			f.fmt.pix_mp.height = h;
			f.fmt.pix_mp.num_planes = 1;
			for (p = 0; p < VIDEO_MAX_PLANES; p++) {
				f.fmt.pix_mp.plane_fmt[p].bytesperline = 100000;
				f.fmt.pix_mp.plane_fmt[p].sizeimage = 7;
			}
			ASSERT_EQ(0, xioctl(self->fd, VIDIOC_TRY_FMT, &f));
			check_format(_metadata, &f, fourcc, w, h, "TRY_FMT");
			ASSERT_EQ(0, rvcap_fmt_ioctl(self->fd, VIDIOC_S_FMT, MPLANE, fourcc, w, h,
						     &f));
			check_format(_metadata, &f, fourcc, w, h, "S_FMT");
			memset(&f, 0, sizeof(f));
			f.type = MPLANE;
			ASSERT_EQ(0, xioctl(self->fd, VIDIOC_G_FMT, &f));
			check_format(_metadata, &f, fourcc, w, h, "G_FMT");
		}
	}
	/* TRY_FMT leaves the format alone. */
	ASSERT_EQ(0, rvcap_fmt_ioctl(self->fd, VIDIOC_TRY_FMT, MPLANE, V4L2_PIX_FMT_NV12M, 320, 240,
				     &f));
	memset(&f, 0, sizeof(f));
	f.type = MPLANE;
	ASSERT_EQ(0, xioctl(self->fd, VIDIOC_G_FMT, &f));
	check_format(_metadata, &f, V4L2_PIX_FMT_YUV420M, 98, 34, "G_FMT after TRY_FMT");
}

TEST_F(mplane, single_planar_type_format_ioctls_give_einval)
{
	struct v4l2_format f, g;
	unsigned long reqs[] = { VIDIOC_G_FMT, VIDIOC_S_FMT, VIDIOC_TRY_FMT };
	unsigned int i;

	ASSERT_EQ(0, rvcap_fmt_ioctl(self->fd, VIDIOC_S_FMT, MPLANE, V4L2_PIX_FMT_NV12M, 320, 240,
				     &g));
	for (i = 0; i < 3; i++) {
		memset(&f, 0, sizeof(f));
		f.type = CAPTURE;
		f.fmt.pix.pixelformat = V4L2_PIX_FMT_YUYV;
		f.fmt.pix.width = 640;
		f.fmt.pix.height = 480;
		EXPECT_EQ(-EINVAL, xioctl(self->fd, reqs[i], &f)) TH_LOG("ioctl %u", i);
	}
	memset(&f, 0, sizeof(f));
	f.type = MPLANE;
	ASSERT_EQ(0, xioctl(self->fd, VIDIOC_G_FMT, &f));
	check_format(_metadata, &f, V4L2_PIX_FMT_NV12M, 320, 240, "G_FMT after them");
}

TEST_F(mplane, single_planar_type_reqbufs_create_bufs_streamon_give_einval)
{
	struct v4l2_create_buffers c = { .count = 1, .memory = V4L2_MEMORY_MMAP };
	struct v4l2_plane planes[NPLANES] = { 0 };
	struct v4l2_buffer buf;

	EXPECT_EQ(-EINVAL, rvcap_reqbufs_type(self->fd, CAPTURE, V4L2_MEMORY_MMAP, 2));
	EXPECT_EQ(-EINVAL, rvcap_reqbufs_type(self->fd, CAPTURE, V4L2_MEMORY_DMABUF, 2));
	c.format.type = CAPTURE;
	c.format.fmt.pix.pixelformat = V4L2_PIX_FMT_YUYV;
	c.format.fmt.pix.width = 640;
	c.format.fmt.pix.height = 480;
	c.format.fmt.pix.sizeimage = 640 * 480 * 2;
	EXPECT_EQ(-EINVAL, xioctl(self->fd, VIDIOC_CREATE_BUFS, &c));
	/* Nothing was allocated. */
	EXPECT_EQ(-EINVAL, rvcap_planes_ioctl(self->fd, VIDIOC_QUERYBUF, MPLANE, V4L2_MEMORY_MMAP,
					      0, planes, NPLANES, &buf));
	ASSERT_EQ(2, rvcap_reqbufs_type(self->fd, MPLANE, V4L2_MEMORY_MMAP, 2));
	EXPECT_EQ(-EINVAL, rvcap_stream_type(self->fd, CAPTURE, true));
	EXPECT_EQ(-EINVAL, rvcap_stream_type(self->fd, CAPTURE, false));
}

/*
 * QUERYBUF, QBUF and DQBUF with the single-planar type, a planes array
 * shorter than YUV420M's three planes, or none: EINVAL, and the buffer
 * neither queued nor lost.
 */
TEST_F(mplane, wrong_type_and_short_planes_arrays_give_einval)
{
	struct v4l2_plane planes[NPLANES];
	struct layout l;
	struct v4l2_format f;
	struct v4l2_buffer buf;
	uint8_t *cpu[NPLANES];
	unsigned int i, p, n;
	uint32_t lens[] = { 0, 1, 2 };

	ASSERT_EQ(0, rvcap_fmt_ioctl(self->fd, VIDIOC_S_FMT, MPLANE, V4L2_PIX_FMT_YUV420M, WIDTH,
				     HEIGHT, &f));
	expected_layout(V4L2_PIX_FMT_YUV420M, WIDTH, HEIGHT, &l);
	ASSERT_EQ(1, rvcap_reqbufs_type(self->fd, MPLANE, V4L2_MEMORY_MMAP, 1));

	memset(planes, 0, sizeof(planes));
	EXPECT_EQ(-EINVAL, rvcap_planes_ioctl(self->fd, VIDIOC_QUERYBUF, CAPTURE, V4L2_MEMORY_MMAP,
					      0, planes, NPLANES, &buf));
	EXPECT_EQ(-EINVAL, rvcap_planes_ioctl(self->fd, VIDIOC_QBUF, CAPTURE, V4L2_MEMORY_MMAP, 0,
					      planes, NPLANES, &buf));
	for (i = 0; i < 3; i++) {
		n = lens[i];
		EXPECT_EQ(-EINVAL, rvcap_planes_ioctl(self->fd, VIDIOC_QUERYBUF, MPLANE,
						      V4L2_MEMORY_MMAP, 0, planes, n, &buf))
			TH_LOG("QUERYBUF with %u planes", n);
		EXPECT_EQ(-EINVAL, rvcap_planes_ioctl(self->fd, VIDIOC_QBUF, MPLANE,
						      V4L2_MEMORY_MMAP, 0, planes, n, &buf))
			TH_LOG("QBUF with %u planes", n);
	}
	/* Not queued by any of them. */
	ASSERT_EQ(0, rvcap_planes_ioctl(self->fd, VIDIOC_QUERYBUF, MPLANE, V4L2_MEMORY_MMAP, 0,
					planes, NPLANES, &buf));
	EXPECT_EQ(0U, buf.flags & (V4L2_BUF_FLAG_QUEUED | V4L2_BUF_FLAG_DONE));
	ASSERT_EQ(3U, buf.length);
	ASSERT_EQ(NPLANES, rvcap_mmap_planes(self->fd, MPLANE, 0, PROT_READ | PROT_WRITE, planes,
					     NPLANES, cpu));
	for (p = 0; p < NPLANES; p++) {
		EXPECT_EQ(l.size[p], planes[p].length);
		fill_garbage(cpu[p], l.size[p]);
	}

	ASSERT_EQ(0, rvcap_planes_ioctl(self->fd, VIDIOC_QBUF, MPLANE, V4L2_MEMORY_MMAP, 0, planes,
					NPLANES, &buf));
	ASSERT_EQ(0, rvcap_stream_type(self->fd, MPLANE, true));
	ASSERT_EQ(1, rvcap_wait_frame(self->fd, FRAME_MS));
	EXPECT_EQ(-EINVAL, rvcap_planes_ioctl(self->fd, VIDIOC_DQBUF, CAPTURE, V4L2_MEMORY_MMAP, 0,
					      planes, NPLANES, &buf));
	for (i = 0; i < 3; i++) {
		EXPECT_EQ(-EINVAL, rvcap_planes_ioctl(self->fd, VIDIOC_DQBUF, MPLANE,
						      V4L2_MEMORY_MMAP, 0, planes, lens[i], &buf))
			TH_LOG("DQBUF with %u planes", lens[i]);
	}
	/* The frame is still there for a right DQBUF. */
	ASSERT_EQ(0, rvcap_planes_ioctl(self->fd, VIDIOC_DQBUF, MPLANE, V4L2_MEMORY_MMAP, 0, planes,
					NPLANES, &buf));
	EXPECT_EQ(0U, buf.index);
	for (p = 0; p < NPLANES; p++) {
		long bad = rvcap_check_plane(cpu[p], l.size[p], plane_offset(&l, p), buf.sequence);

		EXPECT_EQ(l.size[p], planes[p].bytesused);
		EXPECT_EQ(-1, bad) TH_LOG("plane %u byte %ld", p, bad);
		munmap(cpu[p], l.size[p]);
	}
}

/*
 * One dma-buf as planes @a and @b of a @fourcc buffer (the same fd, or a
 * dup of it): EINVAL at QBUF, before and after a stream, the buffer not
 * queued; distinct dma-bufs then work, every byte right.
 */
static void same_dmabuf_twice(struct __test_metadata *_metadata, int fd, uint32_t fourcc,
			      unsigned int a, unsigned int b, bool dup_fd)
{
	struct rvcap_dmabuf bufs[NPLANES];
	struct v4l2_plane planes[NPLANES];
	struct v4l2_buffer buf;
	struct v4l2_format f;
	struct layout l;
	unsigned int p, round;
	int same;

	ASSERT_EQ(0, rvcap_fmt_ioctl(fd, VIDIOC_S_FMT, MPLANE, fourcc, WIDTH, HEIGHT, &f));
	expected_layout(fourcc, WIDTH, HEIGHT, &l);
	/* Each dma-buf large enough for any plane. */
	for (p = 0; p < l.num_planes; p++)
		ASSERT_EQ(0, rvcap_export(RVCAP_DMA_HEAP,
					  (l.size[0] + PAGE - 1) & ~(PAGE - 1), &bufs[p]));
	same = dup_fd ? dup(bufs[a].fd) : bufs[a].fd;
	ASSERT_LE(0, same);
	ASSERT_EQ(1, rvcap_reqbufs_type(fd, MPLANE, V4L2_MEMORY_DMABUF, 1));
	for (round = 0; round < 2; round++) {
		memset(planes, 0, sizeof(planes));
		for (p = 0; p < l.num_planes; p++)
			planes[p].m.fd = bufs[p].fd;
		planes[b].m.fd = same;
		EXPECT_EQ(-EINVAL, rvcap_planes_ioctl(fd, VIDIOC_QBUF, MPLANE, V4L2_MEMORY_DMABUF,
						      0, planes, l.num_planes, &buf))
			TH_LOG("%.4s planes %u and %u, round %u", (const char *)&fourcc, a, b,
			       round);
		ASSERT_EQ(0, rvcap_planes_ioctl(fd, VIDIOC_QUERYBUF, MPLANE, V4L2_MEMORY_DMABUF, 0,
						planes, NPLANES, &buf));
		EXPECT_EQ(0U, buf.flags & (V4L2_BUF_FLAG_QUEUED | V4L2_BUF_FLAG_DONE));

		for (p = 0; p < l.num_planes; p++) {
			fill_garbage(bufs[p].cpu, bufs[p].size);
			planes[p].m.fd = bufs[p].fd;
			planes[p].length = 0;
		}
		ASSERT_EQ(0, rvcap_planes_ioctl(fd, VIDIOC_QBUF, MPLANE, V4L2_MEMORY_DMABUF, 0,
						planes, l.num_planes, &buf));
		if (round == 0)
			ASSERT_EQ(0, rvcap_stream_type(fd, MPLANE, true));
		ASSERT_EQ(1, rvcap_wait_frame(fd, FRAME_MS));
		ASSERT_EQ(0, rvcap_planes_ioctl(fd, VIDIOC_DQBUF, MPLANE, V4L2_MEMORY_DMABUF, 0,
						planes, NPLANES, &buf));
		EXPECT_EQ(0U, buf.flags & V4L2_BUF_FLAG_ERROR);
		for (p = 0; p < l.num_planes; p++) {
			long bad = rvcap_check_plane(bufs[p].cpu, l.size[p], plane_offset(&l, p),
						     buf.sequence);

			EXPECT_EQ(bufs[p].fd, planes[p].m.fd);
			EXPECT_EQ(l.size[p], planes[p].bytesused);
			EXPECT_EQ(-1, bad) TH_LOG("round %u plane %u byte %ld", round, p, bad);
		}
	}
	ASSERT_EQ(0, rvcap_stream_type(fd, MPLANE, false));
	ASSERT_EQ(0, rvcap_reqbufs_type(fd, MPLANE, V4L2_MEMORY_DMABUF, 0));
	if (dup_fd)
		close(same);
	for (p = 0; p < l.num_planes; p++)
		rvcap_unexport(&bufs[p]);
}

TEST_F(mplane, one_dmabuf_for_nv12m_luma_and_chroma_gives_einval)
{
	same_dmabuf_twice(_metadata, self->fd, V4L2_PIX_FMT_NV12M, 0, 1, false);
}

TEST_F(mplane, one_dmabuf_dup_fd_for_nv16m_both_planes_gives_einval)
{
	same_dmabuf_twice(_metadata, self->fd, V4L2_PIX_FMT_NV16M, 0, 1, true);
}

TEST_F(mplane, one_dmabuf_for_yuv420m_planes_0_and_2_gives_einval)
{
	same_dmabuf_twice(_metadata, self->fd, V4L2_PIX_FMT_YUV420M, 0, 2, false);
}

TEST_F(mplane, one_dmabuf_for_yuv420m_planes_1_and_2_gives_einval)
{
	same_dmabuf_twice(_metadata, self->fd, V4L2_PIX_FMT_YUV420M, 1, 2, false);
}

static int create_bufs(int fd, const struct v4l2_format *f, uint32_t count,
		       struct v4l2_create_buffers *c)
{
	memset(c, 0, sizeof(*c));
	c->count = count;
	c->memory = V4L2_MEMORY_MMAP;
	c->format = *f;
	return xioctl(fd, VIDIOC_CREATE_BUFS, c);
}

/*
 * REMOVE_BUFS frees a three-plane MMAP buffer (QUERYBUF: EINVAL), and
 * CREATE_BUFS with the format refills the hole; the refilled buffer's
 * planes are mmapped at QUERYBUF's mem_offsets and stream right.
 */
TEST_F(mplane, remove_bufs_frees_a_yuv420m_buffer_and_create_bufs_refills_it)
{
	struct v4l2_remove_buffers r = { .index = 1, .count = 1, .type = MPLANE };
	struct v4l2_plane planes[NPLANES];
	struct v4l2_create_buffers c;
	struct v4l2_buffer buf;
	struct v4l2_format f;
	struct layout l;
	uint8_t *cpu[3][NPLANES];
	unsigned int i, p, frame;

	ASSERT_EQ(0, rvcap_fmt_ioctl(self->fd, VIDIOC_S_FMT, MPLANE, V4L2_PIX_FMT_YUV420M, WIDTH,
				     HEIGHT, &f));
	expected_layout(V4L2_PIX_FMT_YUV420M, WIDTH, HEIGHT, &l);
	ASSERT_EQ(0, create_bufs(self->fd, &f, 3, &c));
	ASSERT_EQ(0U, c.index);
	ASSERT_EQ(3U, c.count);
	EXPECT_NE(0U, c.capabilities & V4L2_BUF_CAP_SUPPORTS_REMOVE_BUFS);

	r.type = CAPTURE;
	EXPECT_EQ(-EINVAL, xioctl(self->fd, VIDIOC_REMOVE_BUFS, &r));
	r.type = MPLANE;
	ASSERT_EQ(0, rvcap_planes_ioctl(self->fd, VIDIOC_QUERYBUF, MPLANE, V4L2_MEMORY_MMAP, 1,
					planes, NPLANES, &buf));
	ASSERT_EQ(0, xioctl(self->fd, VIDIOC_REMOVE_BUFS, &r));
	EXPECT_EQ(-EINVAL, rvcap_planes_ioctl(self->fd, VIDIOC_QUERYBUF, MPLANE, V4L2_MEMORY_MMAP,
					      1, planes, NPLANES, &buf));
	EXPECT_EQ(0, rvcap_planes_ioctl(self->fd, VIDIOC_QUERYBUF, MPLANE, V4L2_MEMORY_MMAP, 0,
					planes, NPLANES, &buf));
	EXPECT_EQ(0, rvcap_planes_ioctl(self->fd, VIDIOC_QUERYBUF, MPLANE, V4L2_MEMORY_MMAP, 2,
					planes, NPLANES, &buf));

	ASSERT_EQ(0, create_bufs(self->fd, &f, 1, &c));
	EXPECT_EQ(1U, c.index);
	EXPECT_EQ(1U, c.count);

	for (i = 0; i < 3; i++) {
		ASSERT_EQ(3, rvcap_mmap_planes(self->fd, MPLANE, i, PROT_READ | PROT_WRITE, planes,
					       NPLANES, cpu[i])) TH_LOG("buffer %u", i);
		for (p = 0; p < NPLANES; p++) {
			EXPECT_EQ(l.size[p], planes[p].length);
			fill_garbage(cpu[i][p], l.size[p]);
		}
		ASSERT_EQ(0, rvcap_planes_ioctl(self->fd, VIDIOC_QBUF, MPLANE, V4L2_MEMORY_MMAP, i,
						planes, NPLANES, &buf));
	}
	ASSERT_EQ(0, rvcap_stream_type(self->fd, MPLANE, true));
	for (frame = 0; frame < 6; frame++) {
		ASSERT_EQ(1, rvcap_wait_frame(self->fd, FRAME_MS));
		ASSERT_EQ(0, rvcap_planes_ioctl(self->fd, VIDIOC_DQBUF, MPLANE, V4L2_MEMORY_MMAP, 0,
						planes, NPLANES, &buf));
		ASSERT_GT(3U, buf.index);
		for (p = 0; p < NPLANES; p++) {
			long bad = rvcap_check_plane(cpu[buf.index][p], l.size[p],
						     plane_offset(&l, p), buf.sequence);

			EXPECT_EQ(-1, bad) TH_LOG("buffer %u plane %u byte %ld", buf.index, p,
						  bad);
			fill_garbage(cpu[buf.index][p], l.size[p]);
		}
		ASSERT_EQ(0, rvcap_planes_ioctl(self->fd, VIDIOC_QBUF, MPLANE, V4L2_MEMORY_MMAP,
						buf.index, planes, NPLANES, &buf));
	}
	ASSERT_EQ(0, rvcap_stream_type(self->fd, MPLANE, false));
	for (i = 0; i < 3; i++)
		for (p = 0; p < NPLANES; p++)
			munmap(cpu[i][p], l.size[p]);
}

/*
 * CREATE_BUFS with a plane count other than the format's, or a plane
 * smaller than the format's: EINVAL, nothing allocated. A larger plane is
 * fine, and QUERYBUF reports its length.
 */
TEST_F(mplane, create_bufs_with_wrong_plane_count_or_small_plane_gives_einval)
{
	static const uint8_t counts[] = { 0, 1, 2, 4 };
	struct v4l2_plane planes[NPLANES];
	struct v4l2_create_buffers c;
	struct v4l2_buffer buf;
	struct v4l2_format f, g;
	unsigned int i, p;

	ASSERT_EQ(0, rvcap_fmt_ioctl(self->fd, VIDIOC_S_FMT, MPLANE, V4L2_PIX_FMT_YUV420M, WIDTH,
				     HEIGHT, &f));
	ASSERT_EQ(3, f.fmt.pix_mp.num_planes);
	for (i = 0; i < sizeof(counts); i++) {
		g = f;
		g.fmt.pix_mp.num_planes = counts[i];
		for (p = 3; p < counts[i]; p++)
			g.fmt.pix_mp.plane_fmt[p].sizeimage = f.fmt.pix_mp.plane_fmt[0].sizeimage;
		EXPECT_EQ(-EINVAL, create_bufs(self->fd, &g, 1, &c))
			TH_LOG("%u planes", counts[i]);
	}
	for (p = 0; p < NPLANES; p++) {
		g = f;
		g.fmt.pix_mp.plane_fmt[p].sizeimage--;
		EXPECT_EQ(-EINVAL, create_bufs(self->fd, &g, 1, &c)) TH_LOG("plane %u", p);
	}
	/* Nothing allocated by any of them. */
	EXPECT_EQ(-EINVAL, rvcap_planes_ioctl(self->fd, VIDIOC_QUERYBUF, MPLANE, V4L2_MEMORY_MMAP,
					      0, planes, NPLANES, &buf));

	/* NV12M: two planes; three or one are wrong. */
	ASSERT_EQ(0, rvcap_fmt_ioctl(self->fd, VIDIOC_S_FMT, MPLANE, V4L2_PIX_FMT_NV12M, WIDTH,
				     HEIGHT, &f));
	g = f;
	g.fmt.pix_mp.num_planes = 3;
	g.fmt.pix_mp.plane_fmt[2].sizeimage = f.fmt.pix_mp.plane_fmt[1].sizeimage;
	EXPECT_EQ(-EINVAL, create_bufs(self->fd, &g, 1, &c));
	g.fmt.pix_mp.num_planes = 1;
	EXPECT_EQ(-EINVAL, create_bufs(self->fd, &g, 1, &c));

	/* The format's sizes, and a larger second plane, work. */
	ASSERT_EQ(0, create_bufs(self->fd, &f, 1, &c));
	EXPECT_EQ(0U, c.index);
	g = f;
	g.fmt.pix_mp.plane_fmt[1].sizeimage += 2 * PAGE;
	ASSERT_EQ(0, create_bufs(self->fd, &g, 1, &c));
	EXPECT_EQ(1U, c.index);
	ASSERT_EQ(0, rvcap_planes_ioctl(self->fd, VIDIOC_QUERYBUF, MPLANE, V4L2_MEMORY_MMAP, 1,
					planes, NPLANES, &buf));
	EXPECT_EQ(2U, buf.length);
	EXPECT_EQ(f.fmt.pix_mp.plane_fmt[0].sizeimage, planes[0].length);
	EXPECT_EQ(g.fmt.pix_mp.plane_fmt[1].sizeimage, planes[1].length);
}

/* ---- The other way round: the multi-planar type on a single-planar node */

TEST(mplane_type_on_the_single_planar_node_gives_einval)
{
	struct v4l2_plane planes[NPLANES] = { 0 };
	struct v4l2_create_buffers c = { .count = 1, .memory = V4L2_MEMORY_MMAP };
	struct v4l2_fmtdesc d = { .type = MPLANE };
	struct v4l2_buffer buf;
	struct v4l2_format f;
	char path[32];
	int fd;

	if (rvcap_find_node(false, path, sizeof(path)))
		SKIP(return, "no single-planar rvcap node");
	fd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-EINVAL, xioctl(fd, VIDIOC_ENUM_FMT, &d));
	EXPECT_EQ(-EINVAL, rvcap_fmt_ioctl(fd, VIDIOC_G_FMT, MPLANE, 0, 0, 0, &f));
	EXPECT_EQ(-EINVAL, rvcap_fmt_ioctl(fd, VIDIOC_TRY_FMT, MPLANE, V4L2_PIX_FMT_NV12M, 320, 240,
					   &f));
	EXPECT_EQ(-EINVAL, rvcap_fmt_ioctl(fd, VIDIOC_S_FMT, MPLANE, V4L2_PIX_FMT_NV12M, 320, 240,
					   &f));
	EXPECT_EQ(-EINVAL, rvcap_reqbufs_type(fd, MPLANE, V4L2_MEMORY_MMAP, 1));
	c.format.type = MPLANE;
	c.format.fmt.pix_mp.pixelformat = V4L2_PIX_FMT_YUYV;
	c.format.fmt.pix_mp.width = 640;
	c.format.fmt.pix_mp.height = 480;
	c.format.fmt.pix_mp.num_planes = 1;
	c.format.fmt.pix_mp.plane_fmt[0].sizeimage = 640 * 480 * 2;
	EXPECT_EQ(-EINVAL, xioctl(fd, VIDIOC_CREATE_BUFS, &c));
	ASSERT_EQ(1, rvcap_reqbufs(fd, V4L2_MEMORY_MMAP, 1));
	EXPECT_EQ(-EINVAL, rvcap_planes_ioctl(fd, VIDIOC_QUERYBUF, MPLANE, V4L2_MEMORY_MMAP, 0,
					      planes, 1, &buf));
	EXPECT_EQ(-EINVAL, rvcap_planes_ioctl(fd, VIDIOC_QBUF, MPLANE, V4L2_MEMORY_MMAP, 0, planes,
					      1, &buf));
	EXPECT_EQ(-EINVAL, rvcap_planes_ioctl(fd, VIDIOC_DQBUF, MPLANE, V4L2_MEMORY_MMAP, 0, planes,
					      1, &buf));
	EXPECT_EQ(-EINVAL, rvcap_stream_type(fd, MPLANE, true));
	EXPECT_EQ(0, rvcap_reqbufs(fd, V4L2_MEMORY_MMAP, 0));
	close(fd);
}

/* ---- Streaming, every byte of every plane */

enum mem_kind { MEM_MMAP, MEM_SYSTEM_HEAP, MEM_UDMABUF };

FIXTURE(stream) {
	int fd;
	struct layout l;
	uint32_t memory;
	/* Per buffer and plane: the CPU's view and its size. */
	uint8_t *cpu[NBUFS][NPLANES];
	size_t size[NBUFS][NPLANES];
	struct rvcap_dmabuf bufs[NBUFS][NPLANES];
};

FIXTURE_VARIANT(stream) {
	uint32_t fourcc;
	enum mem_kind mem;
};

FIXTURE_VARIANT_ADD(stream, yuyv_mmap) {
	.fourcc = V4L2_PIX_FMT_YUYV, .mem = MEM_MMAP,
};

FIXTURE_VARIANT_ADD(stream, yuyv_system_heap) {
	.fourcc = V4L2_PIX_FMT_YUYV, .mem = MEM_SYSTEM_HEAP,
};

FIXTURE_VARIANT_ADD(stream, yuyv_udmabuf) {
	.fourcc = V4L2_PIX_FMT_YUYV, .mem = MEM_UDMABUF,
};

FIXTURE_VARIANT_ADD(stream, nv12_mmap) {
	.fourcc = V4L2_PIX_FMT_NV12, .mem = MEM_MMAP,
};

FIXTURE_VARIANT_ADD(stream, nv12_system_heap) {
	.fourcc = V4L2_PIX_FMT_NV12, .mem = MEM_SYSTEM_HEAP,
};

FIXTURE_VARIANT_ADD(stream, nv12_udmabuf) {
	.fourcc = V4L2_PIX_FMT_NV12, .mem = MEM_UDMABUF,
};

FIXTURE_VARIANT_ADD(stream, rgb24_mmap) {
	.fourcc = V4L2_PIX_FMT_RGB24, .mem = MEM_MMAP,
};

FIXTURE_VARIANT_ADD(stream, rgb24_system_heap) {
	.fourcc = V4L2_PIX_FMT_RGB24, .mem = MEM_SYSTEM_HEAP,
};

FIXTURE_VARIANT_ADD(stream, rgb24_udmabuf) {
	.fourcc = V4L2_PIX_FMT_RGB24, .mem = MEM_UDMABUF,
};

FIXTURE_VARIANT_ADD(stream, grey_mmap) {
	.fourcc = V4L2_PIX_FMT_GREY, .mem = MEM_MMAP,
};

FIXTURE_VARIANT_ADD(stream, grey_system_heap) {
	.fourcc = V4L2_PIX_FMT_GREY, .mem = MEM_SYSTEM_HEAP,
};

FIXTURE_VARIANT_ADD(stream, grey_udmabuf) {
	.fourcc = V4L2_PIX_FMT_GREY, .mem = MEM_UDMABUF,
};

FIXTURE_VARIANT_ADD(stream, nv12m_mmap) {
	.fourcc = V4L2_PIX_FMT_NV12M, .mem = MEM_MMAP,
};

FIXTURE_VARIANT_ADD(stream, nv12m_system_heap) {
	.fourcc = V4L2_PIX_FMT_NV12M, .mem = MEM_SYSTEM_HEAP,
};

FIXTURE_VARIANT_ADD(stream, nv12m_udmabuf) {
	.fourcc = V4L2_PIX_FMT_NV12M, .mem = MEM_UDMABUF,
};

FIXTURE_VARIANT_ADD(stream, nv16m_mmap) {
	.fourcc = V4L2_PIX_FMT_NV16M, .mem = MEM_MMAP,
};

FIXTURE_VARIANT_ADD(stream, nv16m_system_heap) {
	.fourcc = V4L2_PIX_FMT_NV16M, .mem = MEM_SYSTEM_HEAP,
};

FIXTURE_VARIANT_ADD(stream, nv16m_udmabuf) {
	.fourcc = V4L2_PIX_FMT_NV16M, .mem = MEM_UDMABUF,
};

FIXTURE_VARIANT_ADD(stream, yuv420m_mmap) {
	.fourcc = V4L2_PIX_FMT_YUV420M, .mem = MEM_MMAP,
};

FIXTURE_VARIANT_ADD(stream, yuv420m_system_heap) {
	.fourcc = V4L2_PIX_FMT_YUV420M, .mem = MEM_SYSTEM_HEAP,
};

FIXTURE_VARIANT_ADD(stream, yuv420m_udmabuf) {
	.fourcc = V4L2_PIX_FMT_YUV420M, .mem = MEM_UDMABUF,
};

FIXTURE_SETUP(stream)
{
	struct v4l2_plane planes[NPLANES];
	struct v4l2_format f;
	unsigned int i, p;
	int ret;

	self->fd = -1;
	for (i = 0; i < NBUFS; i++)
		for (p = 0; p < NPLANES; p++)
			rvcap_dmabuf_init(&self->bufs[i][p]);
	ret = open_mplane(_metadata, &self->fd);
	if (ret == -ENOENT)
		SKIP(return, RVCAP_NO_MPLANE_NODE);
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, rvcap_fmt_ioctl(self->fd, VIDIOC_S_FMT, MPLANE, variant->fourcc, WIDTH, HEIGHT,
				     &f));
	check_format(_metadata, &f, variant->fourcc, WIDTH, HEIGHT, "S_FMT");
	expected_layout(variant->fourcc, WIDTH, HEIGHT, &self->l);
	self->memory = variant->mem == MEM_MMAP ? V4L2_MEMORY_MMAP : V4L2_MEMORY_DMABUF;
	ASSERT_EQ(NBUFS, rvcap_reqbufs_type(self->fd, MPLANE, self->memory, NBUFS));
	for (i = 0; i < NBUFS; i++) {
		if (variant->mem != MEM_MMAP)
			break;
		ret = rvcap_mmap_planes(self->fd, MPLANE, i, PROT_READ | PROT_WRITE, planes,
					NPLANES, self->cpu[i]);
		for (p = 0; p < NPLANES; p++)
			self->size[i][p] = planes[p].length;
		ASSERT_EQ((int)self->l.num_planes, ret) TH_LOG("buffer %u: %s", i, strerror(-ret));
		for (p = 0; p < self->l.num_planes; p++)
			ASSERT_EQ(self->l.size[p], planes[p].length);
	}
	for (i = 0; i < NBUFS; i++) {
		if (variant->mem == MEM_MMAP)
			break;
		for (p = 0; p < self->l.num_planes; p++)
			ASSERT_EQ(0, rvcap_export_plane(variant->mem == MEM_UDMABUF ?
							RVCAP_UDMABUF : RVCAP_DMA_HEAP,
							self->l.size[p], &self->bufs[i][p],
							&self->cpu[i][p], &self->size[i][p]));
	}
}

FIXTURE_TEARDOWN(stream)
{
	unsigned int i, p;

	rvcap_restore_defaults_type(self->fd, MPLANE);
	close(self->fd);
	for (i = 0; i < NBUFS; i++)
		for (p = 0; p < NPLANES; p++)
			rvcap_release_plane(self->cpu[i][p], self->size[i][p], &self->bufs[i][p]);
}

/* Fills buffer @i with garbage and queues it. */
static void refill_and_queue(struct __test_metadata *_metadata,
			     struct _test_data_stream *self, unsigned int i)
{
	struct v4l2_plane planes[NPLANES];
	struct v4l2_buffer buf;
	unsigned int p;

	memset(planes, 0, sizeof(planes));
	for (p = 0; p < self->l.num_planes; p++) {
		fill_garbage(self->cpu[i][p], self->size[i][p]);
		if (self->memory == V4L2_MEMORY_DMABUF) {
			planes[p].m.fd = self->bufs[i][p].fd;
			planes[p].length = self->size[i][p];
		}
	}
	ASSERT_EQ(0, rvcap_planes_ioctl(self->fd, VIDIOC_QBUF, MPLANE, self->memory, i, planes,
					self->l.num_planes, &buf)) TH_LOG("buffer %u", i);
}

TEST_F(stream, every_byte_of_every_plane_is_the_verification_pattern)
{
	struct v4l2_plane planes[NPLANES];
	struct v4l2_buffer buf;
	unsigned int i, p, frame;
	uint32_t last_seq = 0;

	for (i = 0; i < NBUFS; i++)
		refill_and_queue(_metadata, self, i);
	ASSERT_EQ(0, rvcap_stream_type(self->fd, MPLANE, true));
	for (frame = 0; frame < FRAMES; frame++) {
		ASSERT_EQ(1, rvcap_wait_frame(self->fd, FRAME_MS)) TH_LOG("frame %u", frame);
		memset(planes, 0xee, sizeof(planes));
		ASSERT_EQ(0, rvcap_planes_ioctl(self->fd, VIDIOC_DQBUF, MPLANE, self->memory, 0,
						planes, NPLANES, &buf));
		ASSERT_GT((uint32_t)NBUFS, buf.index);
		EXPECT_EQ(0U, buf.flags & V4L2_BUF_FLAG_ERROR);
		EXPECT_EQ(self->memory, buf.memory);
		ASSERT_EQ(self->l.num_planes, buf.length);
		if (frame)
			EXPECT_LT(last_seq, buf.sequence);
		last_seq = buf.sequence;
		for (p = 0; p < self->l.num_planes; p++) {
			long bad;

			EXPECT_EQ(self->l.size[p], planes[p].bytesused)
				TH_LOG("plane %u", p);
			EXPECT_EQ(0U, planes[p].data_offset) TH_LOG("plane %u", p);
			EXPECT_EQ(self->size[buf.index][p], planes[p].length) TH_LOG("plane %u", p);
			if (self->memory == V4L2_MEMORY_DMABUF)
				EXPECT_EQ(self->bufs[buf.index][p].fd, planes[p].m.fd);
			bad = rvcap_check_plane(self->cpu[buf.index][p], self->l.size[p],
						plane_offset(&self->l, p), buf.sequence);
			ASSERT_EQ(-1, bad) {
				TH_LOG("sequence %u buffer %u plane %u: byte %ld is 0x%02x, want 0x%02x",
				       buf.sequence, buf.index, p, bad,
				       self->cpu[buf.index][p][bad],
				       rvcap_verification_byte(plane_offset(&self->l, p) + bad,
							       buf.sequence));
			}
		}
		refill_and_queue(_metadata, self, buf.index);
	}
	ASSERT_EQ(0, rvcap_stream_type(self->fd, MPLANE, false));
}

TEST_HARNESS_MAIN
