// SPDX-License-Identifier: GPL-2.0
/*
 * VIDIOC_REMOVE_BUFS, the CREATE_BUFS maximum (max_num_buffers) and the
 * MMAP cache hints (V4L2_MEMORY_FLAG_NON_COHERENT, the QBUF flags
 * V4L2_BUF_FLAG_NO_CACHE_INVALIDATE and _CLEAN), as the V4L2 spec and
 * videobuf2 (Linux 6.12) define them.
 *
 * The expectations are videobuf2's, so the same program runs against the
 * kernel's reference driver: with
 *
 *   modprobe vivid n_devs=1 node_types=0x1 cache_hints=1
 *   RVCAP_BUFS_DEVICE=/dev/videoN ./rvcap_bufs_test
 *
 * every test passes on vivid's capture node (also with multiplanar=2, on
 * its multi-planar one, whose queue holds 32 buffers, not 64). The node's API is QUERYCAP's: on a node with
 * V4L2_CAP_VIDEO_CAPTURE_MPLANE (rvcap loaded with multiplanar=, vivid
 * with multiplanar=2) the buffers are of type _CAPTURE_MPLANE, with planes;
 * the format is YUYV (one plane) on either, and the byte-exact streaming
 * tests (and rvcap's counter tests) run on a multi-planar node in NV12M (2
 * planes) and YUV420M (3) too.
 * Without RVCAP_BUFS_DEVICE the
 * node is rvcap's first device (QUERYCAP driver "rvcap", card "rvcap
 * virtual capture 0"), or $RVCAP_DEV / /dev/video0 if no node says so.
 * On rvcap every streamed frame is also checked byte for byte against the
 * verification pattern, and the debugfs counters of the syncs the hints
 * skipped are checked (those of the device under test: rvcap.N for the
 * node named rvcap-N); on vivid (another pattern, no such counters) those
 * checks are skipped.
 */
#define _GNU_SOURCE
#include <limits.h>

#include "kselftest_harness.h"
#include "rvcap_v4l2.h"

/* The most buffers a queue holds (rvcap's and vivid's capture queue). */
#define MAX_NUM_BUFFERS 64U
#define WIDTH 320
#define HEIGHT 240
#define NBUFS 4
#define FRAMES 10
#define FRAME_MS 5000
#define HINTS (V4L2_BUF_FLAG_NO_CACHE_INVALIDATE | V4L2_BUF_FLAG_NO_CACHE_CLEAN)

/* Whether the node QUERYCAP describes is rvcap's device 0. */
static bool is_rvcap0(const struct v4l2_capability *cap, const void *unused)
{
	return !strcmp((const char *)cap->driver, "rvcap") &&
	       !strcmp((const char *)cap->card, "rvcap virtual capture 0");
}

/*
 * The node under test: $RVCAP_BUFS_DEVICE, else the first /dev/videoN that
 * is rvcap's device 0, else rvcap_dev().
 */
static const char *bufs_device(void)
{
	static char path[32];
	const char *env = getenv("RVCAP_BUFS_DEVICE");

	if (env && *env)
		return env;
	if (!rvcap_find_node_by_cap(is_rvcap0, NULL, path, sizeof(path)))
		return path;
	return rvcap_dev();
}

/*
 * The node's API, from QUERYCAP in the fixture set-up (each test runs in a
 * process of its own): the single-planar one (V4L2_BUF_TYPE_VIDEO_CAPTURE,
 * fmt.pix, buf.m.offset) or the multi-planar one (_CAPTURE_MPLANE,
 * fmt.pix_mp, buf.m.planes).
 */
static bool mplane;
static uint32_t capture = V4L2_BUF_TYPE_VIDEO_CAPTURE;
/*
 * The most buffers the node's queue holds (max_num_buffers): MAX_NUM_BUFFERS
 * on rvcap's queues and vivid's single-planar capture queue. vivid (Linux
 * 6.12, vivid_create_queue()) sets max_num_buffers only for
 * V4L2_BUF_TYPE_VIDEO_CAPTURE, so its multi-planar capture queue has
 * videobuf2's default, VB2_MAX_FRAME (32).
 */
static uint32_t max_bufs = MAX_NUM_BUFFERS;

static int reqbufs(int fd, uint32_t memory, uint32_t flags, uint32_t count,
		   struct v4l2_requestbuffers *req)
{
	memset(req, 0, sizeof(*req));
	req->count = count;
	req->type = capture;
	req->memory = memory;
	req->flags = flags;
	return xioctl(fd, VIDIOC_REQBUFS, req);
}

/* REQBUFS of @count buffers, without flags: how many it made, or -errno. */
static int reqbufs_n(int fd, uint32_t memory, uint32_t count)
{
	struct v4l2_requestbuffers req;
	int ret = reqbufs(fd, memory, 0, count, &req);

	return ret ? ret : (int)req.count;
}

static int stream_on(int fd, bool on)
{
	int type = capture;

	return xioctl(fd, on ? VIDIOC_STREAMON : VIDIOC_STREAMOFF, &type);
}

static uint32_t fmt_fourcc(const struct v4l2_format *fmt)
{
	return mplane ? fmt->fmt.pix_mp.pixelformat : fmt->fmt.pix.pixelformat;
}

/* The number of planes (buffers) of a frame of @fmt. */
static unsigned int fmt_planes(const struct v4l2_format *fmt)
{
	return mplane ? fmt->fmt.pix_mp.num_planes : 1;
}

/* The size of plane @p of a frame of @fmt. */
static uint32_t fmt_plane_size(const struct v4l2_format *fmt, unsigned int p)
{
	return mplane ? fmt->fmt.pix_mp.plane_fmt[p].sizeimage : fmt->fmt.pix.sizeimage;
}

/*
 * A v4l2_buffer of @memory for buffer @index; on a multi-planar node with
 * room for every plane in @planes.
 */
static void init_buf(struct v4l2_buffer *buf, struct v4l2_plane *planes, uint32_t memory,
		     uint32_t index)
{
	memset(buf, 0, sizeof(*buf));
	buf->index = index;
	buf->type = capture;
	buf->memory = memory;
	if (mplane) {
		memset(planes, 0, VIDEO_MAX_PLANES * sizeof(*planes));
		buf->m.planes = planes;
		buf->length = VIDEO_MAX_PLANES;
	}
}

/*
 * Buffer ioctl @req on *@buf, with planes of its own unless @planes is
 * given; without @planes, buf->m.planes is NULL after it (the number of
 * planes stays in buf->length on a multi-planar node).
 */
static int buf_ioctl(int fd, unsigned long req, struct v4l2_buffer *buf,
		     struct v4l2_plane *planes)
{
	struct v4l2_plane own[VIDEO_MAX_PLANES];
	int ret;

	if (mplane && !planes) {
		memcpy(own, buf->m.planes, sizeof(own));
		buf->m.planes = own;
	}
	ret = xioctl(fd, req, buf);
	if (mplane && !planes)
		buf->m.planes = NULL;
	return ret;
}

static int create_bufs(int fd, const struct v4l2_format *fmt, uint32_t memory,
		       uint32_t flags, uint32_t count, struct v4l2_create_buffers *c)
{
	memset(c, 0, sizeof(*c));
	c->count = count;
	c->memory = memory;
	c->flags = flags;
	c->format = *fmt;
	return xioctl(fd, VIDIOC_CREATE_BUFS, c);
}

static int remove_bufs_type(int fd, uint32_t type, uint32_t index, uint32_t count)
{
	struct v4l2_remove_buffers r = {
		.index = index,
		.count = count,
		.type = type,
	};

	return xioctl(fd, VIDIOC_REMOVE_BUFS, &r);
}

static int remove_bufs(int fd, uint32_t index, uint32_t count)
{
	return remove_bufs_type(fd, capture, index, count);
}

/*
 * QUERYBUF of buffer @index into *@buf; on a multi-planar node its planes
 * into @planes (VIDEO_MAX_PLANES of them), if not NULL.
 */
static int querybuf(int fd, uint32_t memory, uint32_t index, struct v4l2_buffer *buf,
		    struct v4l2_plane *planes)
{
	struct v4l2_plane own[VIDEO_MAX_PLANES];

	init_buf(buf, planes ? planes : own, memory, index);
	return buf_ioctl(fd, VIDIOC_QUERYBUF, buf, planes);
}

/* Whether buffer @index exists (QUERYBUF succeeds). */
static bool exists(int fd, uint32_t memory, uint32_t index)
{
	struct v4l2_buffer buf;

	return querybuf(fd, memory, index, &buf, NULL) == 0;
}

/* QBUF of MMAP buffer @index with @flags; the reply in *@buf. */
static int qbuf_flags(int fd, uint32_t index, uint32_t flags, struct v4l2_buffer *buf)
{
	struct v4l2_plane planes[VIDEO_MAX_PLANES];

	init_buf(buf, planes, V4L2_MEMORY_MMAP, index);
	buf->flags = flags;
	return buf_ioctl(fd, VIDIOC_QBUF, buf, NULL);
}

/* QBUF of MMAP buffer @index. */
static int qbuf(int fd, uint32_t index)
{
	struct v4l2_buffer buf;

	return qbuf_flags(fd, index, 0, &buf);
}

static int prepare_buf(int fd, uint32_t index)
{
	struct v4l2_plane planes[VIDEO_MAX_PLANES];
	struct v4l2_buffer buf;

	init_buf(&buf, planes, V4L2_MEMORY_MMAP, index);
	return xioctl(fd, VIDIOC_PREPARE_BUF, &buf);
}

FIXTURE(bufs) {
	int fd;
	bool rvcap;
	int instance;	/* N of rvcap.N, on rvcap */
	struct v4l2_format fmt;
	uint8_t *map[MAX_NUM_BUFFERS][VIDEO_MAX_PLANES];
	size_t len[MAX_NUM_BUFFERS][VIDEO_MAX_PLANES];
};

/*
 * Sets @fourcc at (about: vivid's webcam picks 320x180) 320x240 into
 * self->fmt, as G_FMT has it after.
 */
static void use_format(struct __test_metadata *_metadata, struct _test_data_bufs *self,
		       uint32_t fourcc)
{
	ASSERT_EQ(0, rvcap_fmt_ioctl(self->fd, VIDIOC_S_FMT, capture, fourcc, WIDTH, HEIGHT,
				     &self->fmt));
	ASSERT_EQ(0, xioctl(self->fd, VIDIOC_G_FMT, &self->fmt));
	ASSERT_EQ(fourcc, fmt_fourcc(&self->fmt));
	ASSERT_LE(1U, fmt_planes(&self->fmt));
	ASSERT_GE((unsigned int)VIDEO_MAX_PLANES, fmt_planes(&self->fmt));
}

FIXTURE_SETUP(bufs)
{
	const char *dev = bufs_device();
	struct v4l2_capability cap = { 0 };
	uint32_t caps;

	self->fd = open(dev, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", dev, strerror(errno));
	ASSERT_EQ(0, xioctl(self->fd, VIDIOC_QUERYCAP, &cap));
	caps = rvcap_device_caps(&cap);
	mplane = caps & V4L2_CAP_VIDEO_CAPTURE_MPLANE;
	capture = mplane ? V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE : V4L2_BUF_TYPE_VIDEO_CAPTURE;
	ASSERT_TRUE(mplane || (caps & V4L2_CAP_VIDEO_CAPTURE))
		TH_LOG("%s is no capture node (device_caps 0x%x)", dev, caps);
	self->rvcap = !strcmp((const char *)cap.driver, "rvcap");
	if (mplane && !strcmp((const char *)cap.driver, "vivid"))
		max_bufs = 32;
	TH_LOG("%s: driver %s, card %s, %s-planar", dev, cap.driver, cap.card,
	       mplane ? "multi" : "single");
	if (self->rvcap) {
		self->instance = rvcap_fd_instance(self->fd);
		ASSERT_LE(0, self->instance) TH_LOG("%s has no sysfs name rvcap-N", dev);
		rvcap_reset_knobs_of(self->instance);
	}
	/* A free queue: a test that failed before may have left buffers. */
	stream_on(self->fd, false);
	reqbufs_n(self->fd, V4L2_MEMORY_MMAP, 0);
	/* YUYV, one plane on either API. */
	use_format(_metadata, self, V4L2_PIX_FMT_YUYV);
	if (self->rvcap)
		ASSERT_EQ(0, rvcap_set_pattern(self->fd, 2));
}

FIXTURE_TEARDOWN(bufs)
{
	unsigned int i, p;

	for (i = 0; i < MAX_NUM_BUFFERS; i++)
		for (p = 0; p < VIDEO_MAX_PLANES; p++)
			if (self->map[i][p] && self->map[i][p] != MAP_FAILED)
				munmap(self->map[i][p], self->len[i][p]);
	if (self->rvcap) {
		rvcap_restore_defaults_type(self->fd, capture);
	} else {
		stream_on(self->fd, false);
		reqbufs_n(self->fd, V4L2_MEMORY_MMAP, 0);
	}
	close(self->fd);
}

/*
 * mmap() of every plane of MMAP buffer @index, read and write, into
 * self->map[@index].
 */
static void map_buffer(struct __test_metadata *_metadata, struct _test_data_bufs *self,
		       uint32_t index)
{
	struct v4l2_plane planes[VIDEO_MAX_PLANES];
	unsigned int p;
	int n;

	ASSERT_GT(MAX_NUM_BUFFERS, index);
	n = rvcap_mmap_planes(self->fd, capture, index, PROT_READ | PROT_WRITE, planes,
			      VIDEO_MAX_PLANES, self->map[index]);
	for (p = 0; p < VIDEO_MAX_PLANES; p++)
		self->len[index][p] = planes[p].length;
	ASSERT_LE(0, n) TH_LOG("QUERYBUF or mmap of buffer %u: %s", index, strerror(-n));
	ASSERT_EQ(fmt_planes(&self->fmt), (unsigned int)n) TH_LOG("buffer %u", index);
}

static void unmap_buffer(struct _test_data_bufs *self, uint32_t index)
{
	unsigned int p;

	for (p = 0; p < VIDEO_MAX_PLANES; p++) {
		if (self->map[index][p] && self->map[index][p] != MAP_FAILED)
			munmap(self->map[index][p], self->len[index][p]);
		self->map[index][p] = NULL;
	}
}

/*
 * Waits for and dequeues the next frame into *@buf; on rvcap, with @check,
 * checks every byte of every plane of it against the verification pattern
 * (over the planes laid end to end).
 */
static void dequeue(struct __test_metadata *_metadata, struct _test_data_bufs *self,
		    bool check, struct v4l2_buffer *buf)
{
	struct v4l2_plane planes[VIDEO_MAX_PLANES];
	unsigned int p, n = fmt_planes(&self->fmt);
	size_t off = 0;

	ASSERT_EQ(1, rvcap_wait_frame(self->fd, FRAME_MS)) TH_LOG("no frame within %d ms",
								 FRAME_MS);
	init_buf(buf, planes, V4L2_MEMORY_MMAP, 0);
	ASSERT_EQ(0, buf_ioctl(self->fd, VIDIOC_DQBUF, buf, planes));
	if (mplane)
		buf->m.planes = NULL;
	ASSERT_GT(MAX_NUM_BUFFERS, buf->index);
	EXPECT_EQ(0U, buf->flags & V4L2_BUF_FLAG_ERROR) TH_LOG("buffer %u", buf->index);
	if (!check || !self->rvcap)
		return;
	if (mplane)
		ASSERT_EQ(n, buf->length);
	for (p = 0; p < n; p++) {
		uint32_t used = mplane ? planes[p].bytesused : buf->bytesused;
		uint32_t size = fmt_plane_size(&self->fmt, p);
		const uint8_t *data = self->map[buf->index][p];
		long bad;

		ASSERT_NE(NULL, data) TH_LOG("buffer %u plane %u is not mapped", buf->index, p);
		EXPECT_EQ(size, used) TH_LOG("buffer %u plane %u", buf->index, p);
		if (mplane)
			EXPECT_EQ(0U, planes[p].data_offset);
		ASSERT_LE(size, self->len[buf->index][p]);
		bad = rvcap_check_plane(data, size, off, buf->sequence);
		ASSERT_EQ(-1, bad) {
			TH_LOG("sequence %u, buffer %u, plane %u: byte %ld is 0x%02x, want 0x%02x",
			       buf->sequence, buf->index, p, bad, data[bad],
			       rvcap_verification_byte(off + bad, buf->sequence));
		}
		off += size;
	}
}

/* ---- capabilities and the maximum */

TEST_F(bufs, reqbufs_and_create_bufs_report_the_capabilities)
{
	struct v4l2_requestbuffers req;
	struct v4l2_create_buffers c;

	/* videobuf2 sets SUPPORTS_MAX_NUM_BUFFERS only where max_num_buffers is. */
	ASSERT_EQ(0, reqbufs(self->fd, V4L2_MEMORY_MMAP, 0, 0, &req));
	EXPECT_NE(0U, req.capabilities & V4L2_BUF_CAP_SUPPORTS_REMOVE_BUFS);
	EXPECT_NE(0U, req.capabilities & V4L2_BUF_CAP_SUPPORTS_MMAP_CACHE_HINTS);
	EXPECT_NE(0U, req.capabilities & V4L2_BUF_CAP_SUPPORTS_MMAP);
	EXPECT_NE(0U, req.capabilities & V4L2_BUF_CAP_SUPPORTS_DMABUF);
	EXPECT_NE(0U, req.capabilities & V4L2_BUF_CAP_SUPPORTS_ORPHANED_BUFS);

	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 0, &c));
	EXPECT_NE(0U, c.capabilities & V4L2_BUF_CAP_SUPPORTS_REMOVE_BUFS);
	EXPECT_NE(0U, c.capabilities & V4L2_BUF_CAP_SUPPORTS_MAX_NUM_BUFFERS);
	EXPECT_NE(0U, c.capabilities & V4L2_BUF_CAP_SUPPORTS_MMAP_CACHE_HINTS);
	EXPECT_EQ(max_bufs, c.max_num_buffers);
	EXPECT_EQ(0U, c.count);
	EXPECT_EQ(0U, c.index);

	/* With buffers too, and for DMABUF. */
	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 2, &c));
	EXPECT_EQ(2U, c.count);
	EXPECT_NE(0U, c.capabilities & V4L2_BUF_CAP_SUPPORTS_MAX_NUM_BUFFERS);
	EXPECT_EQ(max_bufs, c.max_num_buffers);
	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_DMABUF, 0, 0, &c));
	EXPECT_NE(0U, c.capabilities & V4L2_BUF_CAP_SUPPORTS_REMOVE_BUFS);
	EXPECT_EQ(max_bufs, c.max_num_buffers);
	/* CREATE_BUFS(0) reports the number of buffers as index. */
	EXPECT_EQ(2U, c.index);
}

TEST_F(bufs, create_bufs_up_to_the_maximum_then_enobufs)
{
	struct v4l2_requestbuffers req;
	struct v4l2_create_buffers c;
	unsigned int total = 0;

	/* In steps of 10: each lands after the last. */
	while (total < max_bufs) {
		uint32_t n = max_bufs - total < 10 ? max_bufs - total : 10;

		ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, n, &c))
			TH_LOG("after %u buffers", total);
		ASSERT_EQ(n, c.count);
		ASSERT_EQ(total, c.index);
		total += n;
	}
	EXPECT_TRUE(exists(self->fd, V4L2_MEMORY_MMAP, max_bufs - 1));
	EXPECT_FALSE(exists(self->fd, V4L2_MEMORY_MMAP, max_bufs));
	EXPECT_EQ(-ENOBUFS, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 1, &c));
	/* One removed, one fits again, where it was. */
	ASSERT_EQ(0, remove_bufs(self->fd, 17, 1));
	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 5, &c));
	EXPECT_EQ(1U, c.count);
	EXPECT_EQ(17U, c.index);
	EXPECT_EQ(-ENOBUFS, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 1, &c));

	/* REQBUFS asks for more than the maximum: it gets the maximum. */
	ASSERT_EQ(0, reqbufs(self->fd, V4L2_MEMORY_MMAP, 0, 100, &req));
	EXPECT_EQ(max_bufs, req.count);
	EXPECT_EQ(-ENOBUFS, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 1, &c));
	/* And CREATE_BUFS from an empty queue too. */
	ASSERT_EQ(0, reqbufs(self->fd, V4L2_MEMORY_MMAP, 0, 0, &req));
	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 100, &c));
	EXPECT_EQ(max_bufs, c.count);
	EXPECT_EQ(0U, c.index);
}

/* ---- REMOVE_BUFS */

TEST_F(bufs, remove_bufs_of_nothing_is_a_no_op_but_the_type_is_checked)
{
	uint32_t other_type = V4L2_BUF_TYPE_VIDEO_OUTPUT;
	/* The capture type of the other API. */
	uint32_t other_planes = mplane ? V4L2_BUF_TYPE_VIDEO_CAPTURE :
				V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
	int i;

	/* No buffers yet. */
	EXPECT_EQ(0, remove_bufs(self->fd, 0, 0));
	EXPECT_EQ(-EINVAL, remove_bufs(self->fd, 0, 1));
	ASSERT_EQ(NBUFS, reqbufs_n(self->fd, V4L2_MEMORY_MMAP, NBUFS));
	/* Count 0: the index is ignored. */
	EXPECT_EQ(0, remove_bufs(self->fd, 0, 0));
	EXPECT_EQ(0, remove_bufs(self->fd, 1000, 0));
	EXPECT_EQ(0, remove_bufs(self->fd, UINT_MAX, 0));
	/* The type must be the queue's, whatever the count. */
	EXPECT_EQ(-EINVAL, remove_bufs_type(self->fd, other_type, 0, 0));
	EXPECT_EQ(-EINVAL, remove_bufs_type(self->fd, other_type, 0, 1));
	EXPECT_EQ(-EINVAL, remove_bufs_type(self->fd, other_planes, 0, 1));
	EXPECT_EQ(-EINVAL, remove_bufs_type(self->fd, 0, 0, 1));
	for (i = 0; i < NBUFS; i++)
		EXPECT_TRUE(exists(self->fd, V4L2_MEMORY_MMAP, i)) TH_LOG("buffer %d", i);
}

TEST_F(bufs, remove_bufs_frees_the_slots_and_refuses_ranges_with_missing_buffers)
{
	struct v4l2_buffer buf;
	int i;

	ASSERT_EQ(NBUFS, reqbufs_n(self->fd, V4L2_MEMORY_MMAP, NBUFS));
	/* Beyond the last buffer, or past the end of the index space. */
	EXPECT_EQ(-EINVAL, remove_bufs(self->fd, NBUFS, 1));
	EXPECT_EQ(-EINVAL, remove_bufs(self->fd, NBUFS - 1, 2));
	EXPECT_EQ(-EINVAL, remove_bufs(self->fd, 0, NBUFS + 1));
	EXPECT_EQ(-EINVAL, remove_bufs(self->fd, max_bufs - 1, 2));
	EXPECT_EQ(-EINVAL, remove_bufs(self->fd, max_bufs, 1));
	/* index + count overflows 32 bits. */
	EXPECT_EQ(-EINVAL, remove_bufs(self->fd, UINT_MAX, 2));
	EXPECT_EQ(-EINVAL, remove_bufs(self->fd, 2, UINT_MAX));
	EXPECT_EQ(-EINVAL, remove_bufs(self->fd, UINT_MAX - 1, 3));
	for (i = 0; i < NBUFS; i++)
		ASSERT_TRUE(exists(self->fd, V4L2_MEMORY_MMAP, i)) TH_LOG("buffer %d", i);

	/* Removing buffer 1 frees its slot. */
	ASSERT_EQ(0, remove_bufs(self->fd, 1, 1));
	EXPECT_EQ(-EINVAL, querybuf(self->fd, V4L2_MEMORY_MMAP, 1, &buf, NULL));
	EXPECT_EQ(-EINVAL, qbuf(self->fd, 1));
	EXPECT_EQ(-EINVAL, prepare_buf(self->fd, 1));
	/* Twice: it is gone. */
	EXPECT_EQ(-EINVAL, remove_bufs(self->fd, 1, 1));
	/* A range across the hole removes nothing. */
	EXPECT_EQ(-EINVAL, remove_bufs(self->fd, 0, 3));
	EXPECT_EQ(-EINVAL, remove_bufs(self->fd, 0, 2));
	EXPECT_EQ(-EINVAL, remove_bufs(self->fd, 1, 3));
	EXPECT_TRUE(exists(self->fd, V4L2_MEMORY_MMAP, 0));
	EXPECT_TRUE(exists(self->fd, V4L2_MEMORY_MMAP, 2));
	EXPECT_TRUE(exists(self->fd, V4L2_MEMORY_MMAP, 3));
	/* The others stay usable. */
	EXPECT_EQ(0, qbuf(self->fd, 0));
	/* A range of the remaining ones. */
	EXPECT_EQ(0, remove_bufs(self->fd, 2, 2));
	EXPECT_FALSE(exists(self->fd, V4L2_MEMORY_MMAP, 2));
	EXPECT_FALSE(exists(self->fd, V4L2_MEMORY_MMAP, 3));
	EXPECT_TRUE(exists(self->fd, V4L2_MEMORY_MMAP, 0));
}

TEST_F(bufs, remove_bufs_of_a_queued_buffer_is_ebusy_and_removes_nothing)
{
	struct v4l2_buffer buf;
	int i;

	ASSERT_EQ(NBUFS, reqbufs_n(self->fd, V4L2_MEMORY_MMAP, NBUFS));
	/* Queued without streaming. */
	ASSERT_EQ(0, qbuf(self->fd, 2));
	EXPECT_EQ(-EBUSY, remove_bufs(self->fd, 2, 1));
	EXPECT_EQ(-EBUSY, remove_bufs(self->fd, 0, NBUFS));
	EXPECT_EQ(-EBUSY, remove_bufs(self->fd, 1, 2));
	for (i = 0; i < NBUFS; i++)
		ASSERT_TRUE(exists(self->fd, V4L2_MEMORY_MMAP, i)) TH_LOG("buffer %d", i);
	ASSERT_EQ(0, querybuf(self->fd, V4L2_MEMORY_MMAP, 2, &buf, NULL));
	EXPECT_NE(0U, buf.flags & V4L2_BUF_FLAG_QUEUED);
	/* Around it, removal works. */
	EXPECT_EQ(0, remove_bufs(self->fd, 0, 2));
	EXPECT_EQ(0, remove_bufs(self->fd, 3, 1));
	EXPECT_TRUE(exists(self->fd, V4L2_MEMORY_MMAP, 2));
	EXPECT_EQ(-EBUSY, remove_bufs(self->fd, 2, 1));
}

/*
 * videobuf2 leaves a prepared buffer in its DEQUEUED state (PREPARE_BUF
 * only synced it for the device), so REMOVE_BUFS takes it like any other
 * dequeued buffer; the spec asks only that every buffer be DEQUEUED.
 */
TEST_F(bufs, remove_bufs_takes_a_prepared_buffer)
{
	struct v4l2_buffer buf;

	ASSERT_EQ(NBUFS, reqbufs_n(self->fd, V4L2_MEMORY_MMAP, NBUFS));
	ASSERT_EQ(0, prepare_buf(self->fd, 1));
	ASSERT_EQ(0, querybuf(self->fd, V4L2_MEMORY_MMAP, 1, &buf, NULL));
	EXPECT_NE(0U, buf.flags & V4L2_BUF_FLAG_PREPARED);
	EXPECT_EQ(0U, buf.flags & V4L2_BUF_FLAG_QUEUED);
	EXPECT_EQ(0, remove_bufs(self->fd, 0, 2));
	EXPECT_FALSE(exists(self->fd, V4L2_MEMORY_MMAP, 0));
	EXPECT_FALSE(exists(self->fd, V4L2_MEMORY_MMAP, 1));
	EXPECT_TRUE(exists(self->fd, V4L2_MEMORY_MMAP, 2));
}

TEST_F(bufs, create_bufs_fills_the_first_hole_that_fits)
{
	struct v4l2_create_buffers c;
	struct v4l2_buffer buf;
	int i;

	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 6, &c));
	ASSERT_EQ(6U, c.count);
	/* Holes: 1-2 and 4. */
	ASSERT_EQ(0, remove_bufs(self->fd, 1, 2));
	ASSERT_EQ(0, remove_bufs(self->fd, 4, 1));
	/* Three fit in no hole: after the last buffer. */
	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 3, &c));
	EXPECT_EQ(3U, c.count);
	EXPECT_EQ(6U, c.index);
	/* Two fit in 1-2. */
	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 2, &c));
	EXPECT_EQ(2U, c.count);
	EXPECT_EQ(1U, c.index);
	/* One fits in 4. */
	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 1, &c));
	EXPECT_EQ(1U, c.count);
	EXPECT_EQ(4U, c.index);
	for (i = 0; i < 9; i++) {
		struct v4l2_plane planes[VIDEO_MAX_PLANES];
		unsigned int p;

		ASSERT_EQ(0, querybuf(self->fd, V4L2_MEMORY_MMAP, i, &buf, planes))
			TH_LOG("buffer %d", i);
		EXPECT_EQ((uint32_t)i, buf.index);
		if (!mplane) {
			EXPECT_EQ(self->fmt.fmt.pix.sizeimage, buf.length);
			continue;
		}
		ASSERT_EQ(fmt_planes(&self->fmt), buf.length);
		for (p = 0; p < buf.length; p++)
			EXPECT_EQ(fmt_plane_size(&self->fmt, p), planes[p].length)
				TH_LOG("buffer %d plane %u", i, p);
	}
	EXPECT_FALSE(exists(self->fd, V4L2_MEMORY_MMAP, 9));

	/*
	 * A full queue with holes of two (10-11) and one (20): three buffers
	 * fit in no run of free slots, so CREATE_BUFS gives fewer, in the
	 * first hole.
	 */
	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0,
				 max_bufs - 9, &c));
	ASSERT_EQ(max_bufs - 9, c.count);
	ASSERT_EQ(0, remove_bufs(self->fd, 10, 2));
	ASSERT_EQ(0, remove_bufs(self->fd, 20, 1));
	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 3, &c));
	EXPECT_EQ(2U, c.count);
	EXPECT_EQ(10U, c.index);
	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 3, &c));
	EXPECT_EQ(1U, c.count);
	EXPECT_EQ(20U, c.index);
	EXPECT_EQ(-ENOBUFS, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 1, &c));
}

TEST_F(bufs, remove_bufs_while_streaming_and_the_stream_goes_on)
{
	struct v4l2_buffer buf;
	uint32_t gone;
	int i, frame;

	ASSERT_EQ(NBUFS, reqbufs_n(self->fd, V4L2_MEMORY_MMAP, NBUFS));
	for (i = 0; i < NBUFS; i++) {
		map_buffer(_metadata, self, i);
		ASSERT_EQ(0, qbuf(self->fd, i));
	}
	ASSERT_EQ(0, stream_on(self->fd, true));
	dequeue(_metadata, self, true, &buf);
	gone = buf.index;
	/* The others are queued (or done, not yet dequeued): busy. */
	EXPECT_EQ(-EBUSY, remove_bufs(self->fd, 0, NBUFS));
	EXPECT_EQ(-EBUSY, remove_bufs(self->fd, (gone + 1) % NBUFS, 1));
	unmap_buffer(self, gone);
	ASSERT_EQ(0, remove_bufs(self->fd, gone, 1));
	EXPECT_FALSE(exists(self->fd, V4L2_MEMORY_MMAP, gone));
	/* The three others keep the stream going. */
	for (frame = 0; frame < FRAMES; frame++) {
		dequeue(_metadata, self, true, &buf);
		ASSERT_NE(gone, buf.index) TH_LOG("frame %d in the removed buffer", frame);
		ASSERT_EQ(0, qbuf(self->fd, buf.index));
	}
	/* One more goes, and two carry on. */
	dequeue(_metadata, self, true, &buf);
	ASSERT_NE(gone, buf.index);
	unmap_buffer(self, buf.index);
	ASSERT_EQ(0, remove_bufs(self->fd, buf.index, 1));
	for (frame = 0; frame < FRAMES; frame++) {
		uint32_t index;

		dequeue(_metadata, self, true, &buf);
		index = buf.index;
		ASSERT_TRUE(exists(self->fd, V4L2_MEMORY_MMAP, index))
			TH_LOG("frame %d in removed buffer %u", frame, index);
		ASSERT_EQ(0, qbuf(self->fd, index));
	}
	ASSERT_EQ(0, stream_on(self->fd, false));
}

TEST_F(bufs, create_bufs_while_streaming_refills_a_removed_slot)
{
	struct v4l2_create_buffers c;
	struct v4l2_buffer buf;
	bool refill_used = false;
	uint32_t gone;
	int i, frame;

	ASSERT_EQ(NBUFS, reqbufs_n(self->fd, V4L2_MEMORY_MMAP, NBUFS));
	for (i = 0; i < NBUFS; i++) {
		map_buffer(_metadata, self, i);
		ASSERT_EQ(0, qbuf(self->fd, i));
	}
	ASSERT_EQ(0, stream_on(self->fd, true));
	dequeue(_metadata, self, true, &buf);
	gone = buf.index;
	unmap_buffer(self, gone);
	ASSERT_EQ(0, remove_bufs(self->fd, gone, 1));
	/* A new buffer lands in the hole and takes frames. */
	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 1, &c));
	ASSERT_EQ(1U, c.count);
	ASSERT_EQ(gone, c.index);
	map_buffer(_metadata, self, gone);
	ASSERT_EQ(0, qbuf(self->fd, gone));
	for (frame = 0; frame < 2 * FRAMES; frame++) {
		dequeue(_metadata, self, true, &buf);
		ASSERT_GT((uint32_t)NBUFS, buf.index);
		refill_used |= buf.index == gone;
		ASSERT_EQ(0, qbuf(self->fd, buf.index));
	}
	EXPECT_TRUE(refill_used);
	ASSERT_EQ(0, stream_on(self->fd, false));
}

TEST_F(bufs, removed_mmap_buffer_stays_mapped_until_munmap)
{
	struct v4l2_create_buffers c;
	struct v4l2_buffer buf;
	uint8_t *orphan;
	size_t i, len;

	ASSERT_EQ(3, reqbufs_n(self->fd, V4L2_MEMORY_MMAP, 3));
	/* YUYV: the buffer is its one plane. */
	ASSERT_EQ(1U, fmt_planes(&self->fmt));
	map_buffer(_metadata, self, 1);
	orphan = self->map[1][0];
	len = self->len[1][0];
	for (i = 0; i < len; i++)
		orphan[i] = (uint8_t)(i * 7 + 3);
	ASSERT_EQ(0, remove_bufs(self->fd, 1, 1));
	EXPECT_EQ(-EINVAL, querybuf(self->fd, V4L2_MEMORY_MMAP, 1, &buf, NULL));
	for (i = 0; i < len; i++)
		ASSERT_EQ((uint8_t)(i * 7 + 3), orphan[i]) TH_LOG("byte %zu", i);
	/* Still writable. */
	for (i = 0; i < len; i++)
		orphan[i] = (uint8_t)(i * 13 + 1);
	/* A new buffer in the slot is other memory. */
	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 1, &c));
	ASSERT_EQ(1U, c.index);
	self->map[1][0] = NULL;
	map_buffer(_metadata, self, 1);
	ASSERT_NE(orphan, self->map[1][0]);
	memset(self->map[1][0], 0xa5, self->len[1][0]);
	/* Everything else goes too; the orphan keeps its bytes. */
	ASSERT_EQ(0, reqbufs_n(self->fd, V4L2_MEMORY_MMAP, 0));
	for (i = 0; i < len; i++)
		ASSERT_EQ((uint8_t)(i * 13 + 1), orphan[i]) TH_LOG("byte %zu", i);
	EXPECT_EQ(0, munmap(orphan, len));
}

TEST_F(bufs, removing_every_buffer_resets_the_memory_type)
{
	struct v4l2_create_buffers c;
	struct v4l2_buffer buf;

	ASSERT_EQ(2, reqbufs_n(self->fd, V4L2_MEMORY_MMAP, 2));
	/* With buffers, the memory type is the queue's. */
	EXPECT_EQ(-EINVAL, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_DMABUF, 0, 1, &c));
	ASSERT_EQ(0, remove_bufs(self->fd, 0, 1));
	EXPECT_EQ(-EINVAL, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_DMABUF, 0, 1, &c));
	ASSERT_EQ(0, remove_bufs(self->fd, 1, 1));
	/* Empty: any memory type. */
	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_DMABUF, 0, 2, &c));
	EXPECT_EQ(2U, c.count);
	EXPECT_EQ(0U, c.index);
	ASSERT_EQ(0, querybuf(self->fd, V4L2_MEMORY_DMABUF, 0, &buf, NULL));
	EXPECT_EQ((uint32_t)V4L2_MEMORY_DMABUF, buf.memory);
	EXPECT_EQ(-EINVAL, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 1, &c));
	ASSERT_EQ(0, remove_bufs(self->fd, 0, 2));
	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 1, &c));
	EXPECT_EQ(0U, c.index);
	ASSERT_EQ(0, querybuf(self->fd, V4L2_MEMORY_MMAP, 0, &buf, NULL));
	EXPECT_EQ((uint32_t)V4L2_MEMORY_MMAP, buf.memory);
}

TEST_F(bufs, another_file_handle_cannot_remove_or_create)
{
	struct v4l2_create_buffers c;
	int other, i;

	other = open(bufs_device(), O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, other);
	ASSERT_EQ(NBUFS, reqbufs_n(self->fd, V4L2_MEMORY_MMAP, NBUFS));
	EXPECT_EQ(-EBUSY, remove_bufs(other, 0, 1));
	EXPECT_EQ(-EBUSY, remove_bufs(other, 0, NBUFS));
	EXPECT_EQ(-EBUSY, create_bufs(other, &self->fmt, V4L2_MEMORY_MMAP, 0, 1, &c));
	/* Count 0 does nothing, so it is no one's business. */
	EXPECT_EQ(0, remove_bufs(other, 0, 0));
	for (i = 0; i < NBUFS; i++)
		EXPECT_TRUE(exists(self->fd, V4L2_MEMORY_MMAP, i)) TH_LOG("buffer %d", i);
	/* The owner can. */
	EXPECT_EQ(0, remove_bufs(self->fd, 0, 1));
	/* Still the owner's with every buffer removed. */
	EXPECT_EQ(0, remove_bufs(self->fd, 1, NBUFS - 1));
	EXPECT_EQ(-EBUSY, create_bufs(other, &self->fmt, V4L2_MEMORY_MMAP, 0, 1, &c));
	close(other);
}

/* ---- cache hints */

TEST_F(bufs, non_coherent_flag_is_kept_for_mmap_and_dropped_for_dmabuf)
{
	struct v4l2_requestbuffers req;
	struct v4l2_create_buffers c;

	ASSERT_EQ(0, reqbufs(self->fd, V4L2_MEMORY_MMAP, V4L2_MEMORY_FLAG_NON_COHERENT, 2, &req));
	EXPECT_EQ(2U, req.count);
	EXPECT_EQ((uint32_t)V4L2_MEMORY_FLAG_NON_COHERENT, req.flags);
	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP,
				 V4L2_MEMORY_FLAG_NON_COHERENT, 1, &c));
	EXPECT_EQ((uint32_t)V4L2_MEMORY_FLAG_NON_COHERENT, c.flags);
	EXPECT_EQ(2U, c.index);
	/* Unknown flags are cleared, the known one kept. */
	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0xff, 0, &c));
	EXPECT_EQ((uint32_t)V4L2_MEMORY_FLAG_NON_COHERENT, c.flags);
	ASSERT_EQ(0, reqbufs(self->fd, V4L2_MEMORY_MMAP, 0, 0, &req));

	ASSERT_EQ(0, reqbufs(self->fd, V4L2_MEMORY_DMABUF, V4L2_MEMORY_FLAG_NON_COHERENT, 2,
			     &req));
	EXPECT_EQ(2U, req.count);
	EXPECT_EQ(0U, req.flags);
	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_DMABUF,
				 V4L2_MEMORY_FLAG_NON_COHERENT, 1, &c));
	EXPECT_EQ(0U, c.flags);
	EXPECT_EQ(1U, c.count);
	EXPECT_EQ(2U, c.index);
}

TEST_F(bufs, coherency_is_the_queues_create_bufs_must_match_reqbufs_may_change_it)
{
	struct v4l2_requestbuffers req;
	struct v4l2_create_buffers c;

	ASSERT_EQ(0, reqbufs(self->fd, V4L2_MEMORY_MMAP, V4L2_MEMORY_FLAG_NON_COHERENT, 2, &req));
	ASSERT_EQ((uint32_t)V4L2_MEMORY_FLAG_NON_COHERENT, req.flags);
	EXPECT_EQ(-EINVAL, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 1, &c));
	EXPECT_FALSE(exists(self->fd, V4L2_MEMORY_MMAP, 2));
	/* REQBUFS with the other coherency replaces the buffers. */
	map_buffer(_metadata, self, 0);
	ASSERT_EQ(0, reqbufs(self->fd, V4L2_MEMORY_MMAP, 0, 3, &req));
	EXPECT_EQ(3U, req.count);
	EXPECT_EQ(0U, req.flags);
	EXPECT_EQ(-EINVAL, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP,
				       V4L2_MEMORY_FLAG_NON_COHERENT, 1, &c));
	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 1, &c));
	EXPECT_EQ(3U, c.index);
	EXPECT_EQ(0U, c.flags);
	/* And back. */
	ASSERT_EQ(0, reqbufs(self->fd, V4L2_MEMORY_MMAP, V4L2_MEMORY_FLAG_NON_COHERENT, 2, &req));
	EXPECT_EQ((uint32_t)V4L2_MEMORY_FLAG_NON_COHERENT, req.flags);
	EXPECT_FALSE(exists(self->fd, V4L2_MEMORY_MMAP, 2));
	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP,
				 V4L2_MEMORY_FLAG_NON_COHERENT, 1, &c));
	EXPECT_EQ(2U, c.index);
	/* Empty again, CREATE_BUFS may choose. */
	ASSERT_EQ(0, remove_bufs(self->fd, 0, 3));
	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 1, &c));
	EXPECT_EQ(0U, c.flags);
}

/*
 * QBUF of buffers 0 and 1 with both hints: the replies, and QUERYBUF
 * after, have @want of them.
 */
static void qbuf_with_hints(struct __test_metadata *_metadata, struct _test_data_bufs *self,
			    uint32_t want)
{
	struct v4l2_buffer buf;
	int i;

	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, qbuf_flags(self->fd, i, HINTS, &buf));
		EXPECT_NE(0U, buf.flags & V4L2_BUF_FLAG_QUEUED);
		EXPECT_EQ(want, buf.flags & HINTS) TH_LOG("QBUF reply flags 0x%x", buf.flags);
		ASSERT_EQ(0, querybuf(self->fd, V4L2_MEMORY_MMAP, i, &buf, NULL));
		EXPECT_EQ(want, buf.flags & HINTS) TH_LOG("QUERYBUF flags 0x%x", buf.flags);
	}
}

TEST_F(bufs, qbuf_keeps_the_hint_flags_on_a_non_coherent_mmap_queue)
{
	struct v4l2_requestbuffers req;

	ASSERT_EQ(0, reqbufs(self->fd, V4L2_MEMORY_MMAP, V4L2_MEMORY_FLAG_NON_COHERENT, 2, &req));
	qbuf_with_hints(_metadata, self, HINTS);
}

/*
 * videobuf2 takes the hints on any MMAP queue of a driver that allows them
 * (vb2_queue_allows_cache_hints()), coherent or not: on coherent memory
 * they are simply no syncs to skip.
 */
TEST_F(bufs, qbuf_keeps_the_hint_flags_on_a_coherent_mmap_queue)
{
	struct v4l2_requestbuffers req;

	ASSERT_EQ(0, reqbufs(self->fd, V4L2_MEMORY_MMAP, 0, 2, &req));
	qbuf_with_hints(_metadata, self, HINTS);
}

TEST_F(bufs, qbuf_clears_the_hint_flags_on_a_dmabuf_queue)
{
	struct v4l2_plane planes[VIDEO_MAX_PLANES];
	struct rvcap_dmabuf dbuf;
	struct v4l2_requestbuffers req;
	struct v4l2_buffer buf;
	size_t size;

	/* YUYV: one plane, one dma-buf. */
	ASSERT_EQ(1U, fmt_planes(&self->fmt));
	size = (fmt_plane_size(&self->fmt, 0) + 4095) & ~(size_t)4095;
	ASSERT_EQ(0, rvcap_export(RVCAP_UDMABUF, size, &dbuf));
	ASSERT_EQ(0, reqbufs(self->fd, V4L2_MEMORY_DMABUF, V4L2_MEMORY_FLAG_NON_COHERENT, 1,
			     &req));
	init_buf(&buf, planes, V4L2_MEMORY_DMABUF, 0);
	buf.flags = HINTS;
	if (mplane) {
		buf.length = 1;
		planes[0].m.fd = dbuf.fd;
		planes[0].length = size;
	} else {
		buf.m.fd = dbuf.fd;
	}
	ASSERT_EQ(0, buf_ioctl(self->fd, VIDIOC_QBUF, &buf, planes));
	EXPECT_NE(0U, buf.flags & V4L2_BUF_FLAG_QUEUED);
	EXPECT_EQ(0U, buf.flags & HINTS) TH_LOG("QBUF reply flags 0x%x", buf.flags);
	ASSERT_EQ(0, querybuf(self->fd, V4L2_MEMORY_DMABUF, 0, &buf, NULL));
	EXPECT_EQ(0U, buf.flags & HINTS) TH_LOG("QUERYBUF flags 0x%x", buf.flags);
	ASSERT_EQ(0, reqbufs(self->fd, V4L2_MEMORY_DMABUF, 0, 0, &req));
	rvcap_unexport(&dbuf);
}

/*
 * Streams @frames frames through NBUFS MMAP buffers of coherency @flags,
 * every QBUF with @qflags; with @check (on rvcap) every byte is checked.
 * The QBUFs and DQBUFs done while streaming, before STREAMOFF, are added
 * to *@qbufs and *@dqbufs, and @before_off runs before STREAMOFF.
 */
static void stream(struct __test_metadata *_metadata, struct _test_data_bufs *self,
		   uint32_t flags, uint32_t qflags, bool check, int frames,
		   long long *qbufs, long long *dqbufs, void (*before_off)(void *), void *arg)
{
	struct v4l2_requestbuffers req;
	struct v4l2_buffer buf;
	int i, frame;

	ASSERT_EQ(0, reqbufs(self->fd, V4L2_MEMORY_MMAP, flags, NBUFS, &req));
	ASSERT_EQ((uint32_t)NBUFS, req.count);
	ASSERT_EQ(flags, req.flags);
	for (i = 0; i < NBUFS; i++) {
		map_buffer(_metadata, self, i);
		ASSERT_EQ(0, qbuf_flags(self->fd, i, qflags, &buf));
		(*qbufs)++;
	}
	ASSERT_EQ(0, stream_on(self->fd, true));
	for (frame = 0; frame < frames; frame++) {
		dequeue(_metadata, self, check, &buf);
		(*dqbufs)++;
		ASSERT_EQ(0, qbuf_flags(self->fd, buf.index, qflags, &buf));
		(*qbufs)++;
	}
	if (before_off)
		before_off(arg);
	ASSERT_EQ(0, stream_on(self->fd, false));
}

/*
 * The formats streams are checked in: YUYV (the fixture's, one plane on
 * either API), and on a multi-planar node also NV12M (2 planes) and
 * YUV420M (3 planes); format @f has f + 1 planes.
 */
static const uint32_t fourccs[] = {
	V4L2_PIX_FMT_YUYV, V4L2_PIX_FMT_NV12M, V4L2_PIX_FMT_YUV420M,
};

static unsigned int num_fourccs(void)
{
	return mplane ? ARRAY_SIZE(fourccs) : 1;
}

/* Frees the buffers of the stream() before and sets format @f for the next. */
static void next_format(struct __test_metadata *_metadata, struct _test_data_bufs *self,
			unsigned int f)
{
	unsigned int i;

	if (f) {
		for (i = 0; i < NBUFS; i++)
			unmap_buffer(self, i);
		ASSERT_EQ(0, reqbufs_n(self->fd, V4L2_MEMORY_MMAP, 0));
		use_format(_metadata, self, fourccs[f]);
		ASSERT_EQ(f + 1, fmt_planes(&self->fmt));
	}
	TH_LOG("%.4s, %u plane(s)", (const char *)&fourccs[f], fmt_planes(&self->fmt));
}

/*
 * stream() of FRAMES frames of coherency @flags, without hints, every byte
 * of every plane checked, in each format of fourccs[].
 */
static void byte_exact(struct __test_metadata *_metadata, struct _test_data_bufs *self,
		       uint32_t flags)
{
	unsigned int f;

	for (f = 0; f < num_fourccs(); f++) {
		long long q = 0, dq = 0;

		next_format(_metadata, self, f);
		stream(_metadata, self, flags, 0, true, FRAMES, &q, &dq, NULL, NULL);
		EXPECT_EQ(FRAMES, dq);
	}
}

TEST_F(bufs, frames_are_byte_exact_on_a_coherent_queue_without_hints)
{
	byte_exact(_metadata, self, 0);
}

TEST_F(bufs, frames_are_byte_exact_on_a_non_coherent_queue_without_hints)
{
	byte_exact(_metadata, self, V4L2_MEMORY_FLAG_NON_COHERENT);
}

TEST_F(bufs, frames_stream_with_both_hints_on_a_non_coherent_queue)
{
	long long q = 0, dq = 0;

	/* What the CPU sees is up to the caches: no byte check. */
	stream(_metadata, self, V4L2_MEMORY_FLAG_NON_COHERENT, HINTS, false, FRAMES, &q, &dq,
	       NULL, NULL);
	EXPECT_EQ(FRAMES, dq);
}

/* rvcap's debugfs counters of the syncs the hints skipped. */
struct skips {
	int instance;	/* of the device under test, rvcap.N */
	long long device;
	long long cpu;
};

static void read_skips(void *arg)
{
	struct skips *s = arg;

	s->device = rvcap_counter_of(s->instance, "cache_hint_skips_for_device");
	s->cpu = rvcap_counter_of(s->instance, "cache_hint_skips_for_cpu");
}

/*
 * rvcap only: with both hints on a non-coherent queue every QBUF skips
 * the sync for the device and every DQBUF the sync for the CPU, of each
 * plane; without hints nothing is skipped. Counted while streaming, before
 * STREAMOFF, in the counters of the device under test, in format @f.
 */
static void check_skips_in(struct __test_metadata *_metadata, struct _test_data_bufs *self,
			   uint32_t qflags, unsigned int f)
{
	struct skips before = { .instance = self->instance };
	struct skips after = { .instance = self->instance };
	long long q = 0, dq = 0, planes;

	next_format(_metadata, self, f);
	planes = fmt_planes(&self->fmt);
	read_skips(&before);
	ASSERT_LE(0, before.device) TH_LOG("no cache_hint_skips_for_device in rvcap's counters");
	ASSERT_LE(0, before.cpu) TH_LOG("no cache_hint_skips_for_cpu in rvcap's counters");
	stream(_metadata, self, V4L2_MEMORY_FLAG_NON_COHERENT, qflags, !qflags, FRAMES,
	       &q, &dq, read_skips, &after);
	if (!qflags) {
		EXPECT_EQ(before.device, after.device);
		EXPECT_EQ(before.cpu, after.cpu);
		return;
	}
	EXPECT_EQ(q * planes, after.device - before.device)
		TH_LOG("%lld QBUFs of %lld plane(s), rvcap.%d", q, planes, self->instance);
	EXPECT_EQ(dq * planes, after.cpu - before.cpu)
		TH_LOG("%lld DQBUFs of %lld plane(s), rvcap.%d", dq, planes, self->instance);
}

/* check_skips_in() each format of fourccs[]; rvcap only. */
static void check_skips(struct __test_metadata *_metadata, struct _test_data_bufs *self,
			uint32_t qflags)
{
	unsigned int f;

	if (!self->rvcap)
		SKIP(return, "rvcap's debugfs counters (the node is not rvcap's)");
	for (f = 0; f < num_fourccs(); f++)
		check_skips_in(_metadata, self, qflags, f);
}

TEST_F(bufs, rvcap_counts_a_skipped_sync_per_qbuf_and_dqbuf_with_both_hints)
{
	check_skips(_metadata, self, HINTS);
}

TEST_F(bufs, rvcap_skips_no_sync_without_hints)
{
	check_skips(_metadata, self, 0);
}

TEST_HARNESS_MAIN
