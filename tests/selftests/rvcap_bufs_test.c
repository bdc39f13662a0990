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
 * every test passes on vivid's capture node. Without RVCAP_BUFS_DEVICE the
 * node is rvcap's first device (QUERYCAP driver "rvcap", card "rvcap
 * virtual capture 0"), or $RVCAP_DEV / /dev/video0 if no node says so.
 * On rvcap every streamed frame is also checked byte for byte against the
 * verification pattern, and the debugfs counters of the syncs the hints
 * skipped are checked; on vivid (another pattern, no such counters) those
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
#define CAPTURE V4L2_BUF_TYPE_VIDEO_CAPTURE

/* Whether the node QUERYCAP describes is rvcap's device 0. */
static bool is_rvcap0(const struct v4l2_capability *cap)
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
	int i;

	if (env && *env)
		return env;
	for (i = 0; i < 64; i++) {
		struct v4l2_capability cap;
		int fd, ret;

		snprintf(path, sizeof(path), "/dev/video%d", i);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		memset(&cap, 0, sizeof(cap));
		ret = xioctl(fd, VIDIOC_QUERYCAP, &cap);
		close(fd);
		if (!ret && is_rvcap0(&cap))
			return path;
	}
	return rvcap_dev();
}

static int reqbufs(int fd, uint32_t memory, uint32_t flags, uint32_t count,
		   struct v4l2_requestbuffers *req)
{
	memset(req, 0, sizeof(*req));
	req->count = count;
	req->type = CAPTURE;
	req->memory = memory;
	req->flags = flags;
	return xioctl(fd, VIDIOC_REQBUFS, req);
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
	return remove_bufs_type(fd, CAPTURE, index, count);
}

static int querybuf(int fd, uint32_t memory, uint32_t index, struct v4l2_buffer *buf)
{
	memset(buf, 0, sizeof(*buf));
	buf->index = index;
	buf->type = CAPTURE;
	buf->memory = memory;
	return xioctl(fd, VIDIOC_QUERYBUF, buf);
}

/* Whether buffer @index exists (QUERYBUF succeeds). */
static bool exists(int fd, uint32_t memory, uint32_t index)
{
	struct v4l2_buffer buf;

	return querybuf(fd, memory, index, &buf) == 0;
}

/* QBUF of MMAP buffer @index with @flags; the reply in *@buf. */
static int qbuf_flags(int fd, uint32_t index, uint32_t flags, struct v4l2_buffer *buf)
{
	memset(buf, 0, sizeof(*buf));
	buf->index = index;
	buf->type = CAPTURE;
	buf->memory = V4L2_MEMORY_MMAP;
	buf->flags = flags;
	return xioctl(fd, VIDIOC_QBUF, buf);
}

static int prepare_buf(int fd, uint32_t index)
{
	struct v4l2_buffer buf = {
		.index = index,
		.type = CAPTURE,
		.memory = V4L2_MEMORY_MMAP,
	};

	return xioctl(fd, VIDIOC_PREPARE_BUF, &buf);
}

FIXTURE(bufs) {
	int fd;
	bool rvcap;
	struct v4l2_format fmt;
	uint8_t *map[MAX_NUM_BUFFERS];
	size_t len[MAX_NUM_BUFFERS];
};

FIXTURE_SETUP(bufs)
{
	const char *dev = bufs_device();
	struct v4l2_capability cap = { 0 };

	self->fd = open(dev, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", dev, strerror(errno));
	ASSERT_EQ(0, xioctl(self->fd, VIDIOC_QUERYCAP, &cap));
	self->rvcap = !strcmp((const char *)cap.driver, "rvcap");
	TH_LOG("%s: driver %s, card %s", dev, cap.driver, cap.card);
	if (self->rvcap)
		rvcap_reset_knobs();
	/* A free queue: a test that failed before may have left buffers. */
	rvcap_stream(self->fd, false);
	rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, 0);
	/* YUYV at (about: vivid's webcam picks 320x180) 320x240. */
	ASSERT_EQ(0, rvcap_set_format(self->fd, V4L2_PIX_FMT_YUYV, WIDTH, HEIGHT, &self->fmt));
	ASSERT_EQ(0, xioctl(self->fd, VIDIOC_G_FMT, &self->fmt));
	if (self->rvcap)
		ASSERT_EQ(0, rvcap_set_pattern(self->fd, 2));
}

FIXTURE_TEARDOWN(bufs)
{
	unsigned int i;

	for (i = 0; i < MAX_NUM_BUFFERS; i++)
		if (self->map[i] && self->map[i] != MAP_FAILED)
			munmap(self->map[i], self->len[i]);
	if (self->rvcap) {
		rvcap_restore_defaults(self->fd);
	} else {
		rvcap_stream(self->fd, false);
		rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, 0);
	}
	close(self->fd);
}

/* mmap() of MMAP buffer @index, read and write, into self->map[@index]. */
static void map_buffer(struct __test_metadata *_metadata, struct _test_data_bufs *self,
		       uint32_t index)
{
	ASSERT_GT(MAX_NUM_BUFFERS, index);
	self->map[index] = rvcap_mmap_buffer(self->fd, index, PROT_READ | PROT_WRITE,
					     &self->len[index]);
	ASSERT_NE(MAP_FAILED, self->map[index]) TH_LOG("mmap of buffer %u", index);
}

static void unmap_buffer(struct _test_data_bufs *self, uint32_t index)
{
	munmap(self->map[index], self->len[index]);
	self->map[index] = NULL;
}

/*
 * Waits for and dequeues the next frame into *@buf; on rvcap, with @check,
 * checks every byte of it against the verification pattern.
 */
static void dequeue(struct __test_metadata *_metadata, struct _test_data_bufs *self,
		    bool check, struct v4l2_buffer *buf)
{
	long bad;

	ASSERT_EQ(1, rvcap_wait_frame(self->fd, FRAME_MS)) TH_LOG("no frame within %d ms",
								 FRAME_MS);
	ASSERT_EQ(0, rvcap_dqbuf(self->fd, V4L2_MEMORY_MMAP, buf));
	ASSERT_GT(MAX_NUM_BUFFERS, buf->index);
	EXPECT_EQ(0U, buf->flags & V4L2_BUF_FLAG_ERROR) TH_LOG("buffer %u", buf->index);
	if (!check || !self->rvcap)
		return;
	ASSERT_NE(NULL, self->map[buf->index]) TH_LOG("buffer %u is not mapped", buf->index);
	EXPECT_EQ(self->fmt.fmt.pix.sizeimage, buf->bytesused);
	bad = rvcap_check_frame(self->map[buf->index], buf->bytesused, buf->sequence);
	ASSERT_EQ(-1, bad) {
		TH_LOG("sequence %u, buffer %u: byte %ld is 0x%02x, want 0x%02x",
		       buf->sequence, buf->index, bad, self->map[buf->index][bad],
		       rvcap_verification_byte(bad, buf->sequence));
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
	EXPECT_EQ(MAX_NUM_BUFFERS, c.max_num_buffers);
	EXPECT_EQ(0U, c.count);
	EXPECT_EQ(0U, c.index);

	/* With buffers too, and for DMABUF. */
	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 2, &c));
	EXPECT_EQ(2U, c.count);
	EXPECT_NE(0U, c.capabilities & V4L2_BUF_CAP_SUPPORTS_MAX_NUM_BUFFERS);
	EXPECT_EQ(MAX_NUM_BUFFERS, c.max_num_buffers);
	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_DMABUF, 0, 0, &c));
	EXPECT_NE(0U, c.capabilities & V4L2_BUF_CAP_SUPPORTS_REMOVE_BUFS);
	EXPECT_EQ(MAX_NUM_BUFFERS, c.max_num_buffers);
	/* CREATE_BUFS(0) reports the number of buffers as index. */
	EXPECT_EQ(2U, c.index);
}

TEST_F(bufs, create_bufs_up_to_the_maximum_then_enobufs)
{
	struct v4l2_requestbuffers req;
	struct v4l2_create_buffers c;
	unsigned int total = 0;

	/* In steps of 10: each lands after the last. */
	while (total < MAX_NUM_BUFFERS) {
		uint32_t n = MAX_NUM_BUFFERS - total < 10 ? MAX_NUM_BUFFERS - total : 10;

		ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, n, &c))
			TH_LOG("after %u buffers", total);
		ASSERT_EQ(n, c.count);
		ASSERT_EQ(total, c.index);
		total += n;
	}
	EXPECT_TRUE(exists(self->fd, V4L2_MEMORY_MMAP, MAX_NUM_BUFFERS - 1));
	EXPECT_FALSE(exists(self->fd, V4L2_MEMORY_MMAP, MAX_NUM_BUFFERS));
	EXPECT_EQ(-ENOBUFS, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 1, &c));
	/* One removed, one fits again, where it was. */
	ASSERT_EQ(0, remove_bufs(self->fd, 17, 1));
	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 5, &c));
	EXPECT_EQ(1U, c.count);
	EXPECT_EQ(17U, c.index);
	EXPECT_EQ(-ENOBUFS, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 1, &c));

	/* REQBUFS asks for more than the maximum: it gets the maximum. */
	ASSERT_EQ(0, reqbufs(self->fd, V4L2_MEMORY_MMAP, 0, 100, &req));
	EXPECT_EQ(MAX_NUM_BUFFERS, req.count);
	EXPECT_EQ(-ENOBUFS, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 1, &c));
	/* And CREATE_BUFS from an empty queue too. */
	ASSERT_EQ(0, reqbufs(self->fd, V4L2_MEMORY_MMAP, 0, 0, &req));
	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 100, &c));
	EXPECT_EQ(MAX_NUM_BUFFERS, c.count);
	EXPECT_EQ(0U, c.index);
}

/* ---- REMOVE_BUFS */

TEST_F(bufs, remove_bufs_of_nothing_is_a_no_op_but_the_type_is_checked)
{
	uint32_t other_type = V4L2_BUF_TYPE_VIDEO_OUTPUT;
	int i;

	/* No buffers yet. */
	EXPECT_EQ(0, remove_bufs(self->fd, 0, 0));
	EXPECT_EQ(-EINVAL, remove_bufs(self->fd, 0, 1));
	ASSERT_EQ(NBUFS, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, NBUFS));
	/* Count 0: the index is ignored. */
	EXPECT_EQ(0, remove_bufs(self->fd, 0, 0));
	EXPECT_EQ(0, remove_bufs(self->fd, 1000, 0));
	EXPECT_EQ(0, remove_bufs(self->fd, UINT_MAX, 0));
	/* The type must be the queue's, whatever the count. */
	EXPECT_EQ(-EINVAL, remove_bufs_type(self->fd, other_type, 0, 0));
	EXPECT_EQ(-EINVAL, remove_bufs_type(self->fd, other_type, 0, 1));
	EXPECT_EQ(-EINVAL, remove_bufs_type(self->fd, V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE, 0, 1));
	EXPECT_EQ(-EINVAL, remove_bufs_type(self->fd, 0, 0, 1));
	for (i = 0; i < NBUFS; i++)
		EXPECT_TRUE(exists(self->fd, V4L2_MEMORY_MMAP, i)) TH_LOG("buffer %d", i);
}

TEST_F(bufs, remove_bufs_frees_the_slots_and_refuses_ranges_with_missing_buffers)
{
	struct v4l2_buffer buf;
	int i;

	ASSERT_EQ(NBUFS, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, NBUFS));
	/* Beyond the last buffer, or past the end of the index space. */
	EXPECT_EQ(-EINVAL, remove_bufs(self->fd, NBUFS, 1));
	EXPECT_EQ(-EINVAL, remove_bufs(self->fd, NBUFS - 1, 2));
	EXPECT_EQ(-EINVAL, remove_bufs(self->fd, 0, NBUFS + 1));
	EXPECT_EQ(-EINVAL, remove_bufs(self->fd, MAX_NUM_BUFFERS - 1, 2));
	EXPECT_EQ(-EINVAL, remove_bufs(self->fd, MAX_NUM_BUFFERS, 1));
	/* index + count overflows 32 bits. */
	EXPECT_EQ(-EINVAL, remove_bufs(self->fd, UINT_MAX, 2));
	EXPECT_EQ(-EINVAL, remove_bufs(self->fd, 2, UINT_MAX));
	EXPECT_EQ(-EINVAL, remove_bufs(self->fd, UINT_MAX - 1, 3));
	for (i = 0; i < NBUFS; i++)
		ASSERT_TRUE(exists(self->fd, V4L2_MEMORY_MMAP, i)) TH_LOG("buffer %d", i);

	/* Removing buffer 1 frees its slot. */
	ASSERT_EQ(0, remove_bufs(self->fd, 1, 1));
	EXPECT_EQ(-EINVAL, querybuf(self->fd, V4L2_MEMORY_MMAP, 1, &buf));
	EXPECT_EQ(-EINVAL, rvcap_qbuf_mmap(self->fd, 1));
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
	EXPECT_EQ(0, rvcap_qbuf_mmap(self->fd, 0));
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

	ASSERT_EQ(NBUFS, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, NBUFS));
	/* Queued without streaming. */
	ASSERT_EQ(0, rvcap_qbuf_mmap(self->fd, 2));
	EXPECT_EQ(-EBUSY, remove_bufs(self->fd, 2, 1));
	EXPECT_EQ(-EBUSY, remove_bufs(self->fd, 0, NBUFS));
	EXPECT_EQ(-EBUSY, remove_bufs(self->fd, 1, 2));
	for (i = 0; i < NBUFS; i++)
		ASSERT_TRUE(exists(self->fd, V4L2_MEMORY_MMAP, i)) TH_LOG("buffer %d", i);
	ASSERT_EQ(0, querybuf(self->fd, V4L2_MEMORY_MMAP, 2, &buf));
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

	ASSERT_EQ(NBUFS, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, NBUFS));
	ASSERT_EQ(0, prepare_buf(self->fd, 1));
	ASSERT_EQ(0, querybuf(self->fd, V4L2_MEMORY_MMAP, 1, &buf));
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
		ASSERT_EQ(0, querybuf(self->fd, V4L2_MEMORY_MMAP, i, &buf)) TH_LOG("buffer %d", i);
		EXPECT_EQ((uint32_t)i, buf.index);
		EXPECT_EQ(self->fmt.fmt.pix.sizeimage, buf.length);
	}
	EXPECT_FALSE(exists(self->fd, V4L2_MEMORY_MMAP, 9));

	/*
	 * A full queue with holes of two (10-11) and one (20): three buffers
	 * fit in no run of free slots, so CREATE_BUFS gives fewer, in the
	 * first hole.
	 */
	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0,
				 MAX_NUM_BUFFERS - 9, &c));
	ASSERT_EQ(MAX_NUM_BUFFERS - 9, c.count);
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

	ASSERT_EQ(NBUFS, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, NBUFS));
	for (i = 0; i < NBUFS; i++) {
		map_buffer(_metadata, self, i);
		ASSERT_EQ(0, rvcap_qbuf_mmap(self->fd, i));
	}
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
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
		ASSERT_EQ(0, rvcap_qbuf_mmap(self->fd, buf.index));
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
		ASSERT_EQ(0, rvcap_qbuf_mmap(self->fd, index));
	}
	ASSERT_EQ(0, rvcap_stream(self->fd, false));
}

TEST_F(bufs, create_bufs_while_streaming_refills_a_removed_slot)
{
	struct v4l2_create_buffers c;
	struct v4l2_buffer buf;
	bool refill_used = false;
	uint32_t gone;
	int i, frame;

	ASSERT_EQ(NBUFS, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, NBUFS));
	for (i = 0; i < NBUFS; i++) {
		map_buffer(_metadata, self, i);
		ASSERT_EQ(0, rvcap_qbuf_mmap(self->fd, i));
	}
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
	dequeue(_metadata, self, true, &buf);
	gone = buf.index;
	unmap_buffer(self, gone);
	ASSERT_EQ(0, remove_bufs(self->fd, gone, 1));
	/* A new buffer lands in the hole and takes frames. */
	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 1, &c));
	ASSERT_EQ(1U, c.count);
	ASSERT_EQ(gone, c.index);
	map_buffer(_metadata, self, gone);
	ASSERT_EQ(0, rvcap_qbuf_mmap(self->fd, gone));
	for (frame = 0; frame < 2 * FRAMES; frame++) {
		dequeue(_metadata, self, true, &buf);
		ASSERT_GT((uint32_t)NBUFS, buf.index);
		refill_used |= buf.index == gone;
		ASSERT_EQ(0, rvcap_qbuf_mmap(self->fd, buf.index));
	}
	EXPECT_TRUE(refill_used);
	ASSERT_EQ(0, rvcap_stream(self->fd, false));
}

TEST_F(bufs, removed_mmap_buffer_stays_mapped_until_munmap)
{
	struct v4l2_create_buffers c;
	struct v4l2_buffer buf;
	uint8_t *orphan;
	size_t i, len;

	ASSERT_EQ(3, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, 3));
	map_buffer(_metadata, self, 1);
	orphan = self->map[1];
	len = self->len[1];
	for (i = 0; i < len; i++)
		orphan[i] = (uint8_t)(i * 7 + 3);
	ASSERT_EQ(0, remove_bufs(self->fd, 1, 1));
	EXPECT_EQ(-EINVAL, querybuf(self->fd, V4L2_MEMORY_MMAP, 1, &buf));
	for (i = 0; i < len; i++)
		ASSERT_EQ((uint8_t)(i * 7 + 3), orphan[i]) TH_LOG("byte %zu", i);
	/* Still writable. */
	for (i = 0; i < len; i++)
		orphan[i] = (uint8_t)(i * 13 + 1);
	/* A new buffer in the slot is other memory. */
	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 1, &c));
	ASSERT_EQ(1U, c.index);
	self->map[1] = NULL;
	map_buffer(_metadata, self, 1);
	ASSERT_NE(orphan, self->map[1]);
	memset(self->map[1], 0xa5, self->len[1]);
	/* Everything else goes too; the orphan keeps its bytes. */
	ASSERT_EQ(0, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, 0));
	for (i = 0; i < len; i++)
		ASSERT_EQ((uint8_t)(i * 13 + 1), orphan[i]) TH_LOG("byte %zu", i);
	EXPECT_EQ(0, munmap(orphan, len));
}

TEST_F(bufs, removing_every_buffer_resets_the_memory_type)
{
	struct v4l2_create_buffers c;
	struct v4l2_buffer buf;

	ASSERT_EQ(2, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, 2));
	/* With buffers, the memory type is the queue's. */
	EXPECT_EQ(-EINVAL, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_DMABUF, 0, 1, &c));
	ASSERT_EQ(0, remove_bufs(self->fd, 0, 1));
	EXPECT_EQ(-EINVAL, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_DMABUF, 0, 1, &c));
	ASSERT_EQ(0, remove_bufs(self->fd, 1, 1));
	/* Empty: any memory type. */
	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_DMABUF, 0, 2, &c));
	EXPECT_EQ(2U, c.count);
	EXPECT_EQ(0U, c.index);
	ASSERT_EQ(0, querybuf(self->fd, V4L2_MEMORY_DMABUF, 0, &buf));
	EXPECT_EQ((uint32_t)V4L2_MEMORY_DMABUF, buf.memory);
	EXPECT_EQ(-EINVAL, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 1, &c));
	ASSERT_EQ(0, remove_bufs(self->fd, 0, 2));
	ASSERT_EQ(0, create_bufs(self->fd, &self->fmt, V4L2_MEMORY_MMAP, 0, 1, &c));
	EXPECT_EQ(0U, c.index);
	ASSERT_EQ(0, querybuf(self->fd, V4L2_MEMORY_MMAP, 0, &buf));
	EXPECT_EQ((uint32_t)V4L2_MEMORY_MMAP, buf.memory);
}

TEST_F(bufs, another_file_handle_cannot_remove_or_create)
{
	struct v4l2_create_buffers c;
	int other, i;

	other = open(bufs_device(), O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, other);
	ASSERT_EQ(NBUFS, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, NBUFS));
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
		ASSERT_EQ(0, querybuf(self->fd, V4L2_MEMORY_MMAP, i, &buf));
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
	struct rvcap_dmabuf dbuf;
	struct v4l2_requestbuffers req;
	struct v4l2_buffer buf = {
		.index = 0,
		.type = CAPTURE,
		.memory = V4L2_MEMORY_DMABUF,
		.flags = HINTS,
	};
	size_t size = (self->fmt.fmt.pix.sizeimage + 4095) & ~(size_t)4095;

	ASSERT_EQ(0, rvcap_export(RVCAP_UDMABUF, size, &dbuf));
	ASSERT_EQ(0, reqbufs(self->fd, V4L2_MEMORY_DMABUF, V4L2_MEMORY_FLAG_NON_COHERENT, 1,
			     &req));
	buf.m.fd = dbuf.fd;
	ASSERT_EQ(0, xioctl(self->fd, VIDIOC_QBUF, &buf));
	EXPECT_NE(0U, buf.flags & V4L2_BUF_FLAG_QUEUED);
	EXPECT_EQ(0U, buf.flags & HINTS) TH_LOG("QBUF reply flags 0x%x", buf.flags);
	ASSERT_EQ(0, querybuf(self->fd, V4L2_MEMORY_DMABUF, 0, &buf));
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
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
	for (frame = 0; frame < frames; frame++) {
		dequeue(_metadata, self, check, &buf);
		(*dqbufs)++;
		ASSERT_EQ(0, qbuf_flags(self->fd, buf.index, qflags, &buf));
		(*qbufs)++;
	}
	if (before_off)
		before_off(arg);
	ASSERT_EQ(0, rvcap_stream(self->fd, false));
}

TEST_F(bufs, frames_are_byte_exact_on_a_coherent_queue_without_hints)
{
	long long q = 0, dq = 0;

	stream(_metadata, self, 0, 0, true, FRAMES, &q, &dq, NULL, NULL);
	EXPECT_EQ(FRAMES, dq);
}

TEST_F(bufs, frames_are_byte_exact_on_a_non_coherent_queue_without_hints)
{
	long long q = 0, dq = 0;

	stream(_metadata, self, V4L2_MEMORY_FLAG_NON_COHERENT, 0, true, FRAMES, &q, &dq,
	       NULL, NULL);
	EXPECT_EQ(FRAMES, dq);
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
	long long device;
	long long cpu;
};

static void read_skips(void *arg)
{
	struct skips *s = arg;

	s->device = rvcap_counter("cache_hint_skips_for_device");
	s->cpu = rvcap_counter("cache_hint_skips_for_cpu");
}

/*
 * rvcap only: with both hints on a non-coherent queue every QBUF skips
 * the sync for the device and every DQBUF the sync for the CPU; without
 * hints nothing is skipped. Counted while streaming, before STREAMOFF.
 */
static void check_skips(struct __test_metadata *_metadata, struct _test_data_bufs *self,
			uint32_t qflags)
{
	struct skips before, after;
	long long q = 0, dq = 0;

	if (!self->rvcap)
		SKIP(return, "rvcap's debugfs counters (the node is not rvcap's)");
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
	EXPECT_EQ(q, after.device - before.device) TH_LOG("%lld QBUFs", q);
	EXPECT_EQ(dq, after.cpu - before.cpu) TH_LOG("%lld DQBUFs", dq);
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
