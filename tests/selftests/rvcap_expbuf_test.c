// SPDX-License-Identifier: GPL-2.0
/*
 * rvcap as a dma-buf exporter: VIDIOC_EXPBUF of its MMAP buffers, as the
 * V4L2 spec (vidioc-expbuf.rst) and videobuf2 (vb2_core_expbuf, Linux
 * 6.12) define it: the flags it takes and the arguments it refuses, a new
 * dma-buf for every call, the exported memory being the plane's (mmap of
 * the dma-buf and DMA_BUF_IOCTL_SYNC), libcamera's allocation flow
 * (export every plane of MMAP buffers, REQBUFS(0), import the exports
 * back as DMABUF buffers), exports outliving REQBUFS(0) and the close of
 * the V4L2 fd, the exports of one node imported into another, an
 * importer's frames surviving its unmap, and the exporter's frames reaching
 * an importer that has the buffer mapped, and an importer that never syncs
 * for the CPU (rvcap with inject_import_skips_cpu_sync, as videobuf2's
 * importers) whose frames reach a CPU bracketing its reads with
 * DMA_BUF_IOCTL_SYNC on the export, a bracket on one export covering the
 * importers of another export of the same plane, and (with three nodes)
 * one importer's frames not undone by another importer's older view.
 *
 * The node is $RVCAP_EXPBUF_DEVICE, else the first /dev/videoN whose
 * QUERYCAP says driver "rvcap" (for the NV12M and YUV420M variants, the
 * first such multi-planar node if there is one), else $RVCAP_DEV or
 * /dev/video0. A multi-planar node (only V4L2_CAP_VIDEO_CAPTURE_MPLANE) is
 * tested with the multi-planar API, as YUYV (one plane), NV12M and
 * YUV420M; a single-planar one as YUYV, the NV12M and YUV420M variants
 * skipped. So with rvcap loaded as num_devices=4 multiplanar=1,1,2,2 every
 * test runs: YUYV on rvcap-0 and rvcap-1, the others on rvcap-2 and
 * rvcap-3. The
 * second node of the cross-device tests is $RVCAP_EXPBUF_DEVICE_B, else
 * the next node of the same driver and buffer type; with none they skip.
 *
 * The expectations are videobuf2's, so the same program runs against the
 * kernel's reference driver:
 *
 *   modprobe vivid n_devs=2 node_types=0x1,0x1 [multiplanar=2,2]
 *   RVCAP_EXPBUF_DEVICE=/dev/videoN ./rvcap_expbuf_test
 *
 * Every test whose name does not say "verification" checks what vivid
 * does too (exported and V4L2 mappings compared with each other, frames
 * written over garbage); the "verification" tests check every byte of
 * every frame against rvcap's verification pattern (V4L2_CID_TEST_PATTERN
 * 2: byte i of the frame with sequence s is (i % 251 + 17 * s) % 256, the
 * planes laid end to end) and skip on any other driver.
 */
#define _GNU_SOURCE
#include <sys/stat.h>

#include "kselftest_harness.h"
#include "rvcap_v4l2.h"

#define CAPTURE V4L2_BUF_TYPE_VIDEO_CAPTURE
#define MPLANE V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE
#define WIDTH 320
#define HEIGHT 240
#define NBUFS 4
#define MAXBUFS 8
#define NPLANES 3
#define FRAMES 8
/* rvcap's knob: its imports are never synced for the CPU. */
#define SKIP_SYNC_KNOB "inject_import_skips_cpu_sync"
#define FRAME_MS 5000

#define NOT_RVCAP "the verification pattern is rvcap's (this node's driver is not rvcap)"

/* A node's buffer type from QUERYCAP: MPLANE if it has only that. */
static uint32_t node_type(const struct v4l2_capability *cap)
{
	uint32_t caps = cap->capabilities & V4L2_CAP_DEVICE_CAPS ?
			cap->device_caps : cap->capabilities;

	if (!(caps & V4L2_CAP_VIDEO_CAPTURE) && (caps & V4L2_CAP_VIDEO_CAPTURE_MPLANE))
		return MPLANE;
	return CAPTURE;
}

/* QUERYCAP of node @path; 0 or -errno. */
static int query_node(const char *path, struct v4l2_capability *cap, dev_t *rdev)
{
	struct stat st;
	int fd, ret;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(cap, 0, sizeof(*cap));
	ret = xioctl(fd, VIDIOC_QUERYCAP, cap);
	if (!ret && rdev)
		ret = fstat(fd, &st) ? -errno : 0;
	if (!ret && rdev)
		*rdev = st.st_rdev;
	close(fd);
	return ret;
}

/*
 * The node under test: $RVCAP_EXPBUF_DEVICE; else rvcap's first node, or
 * for a multi-planar format (@multi) rvcap's first multi-planar node if it
 * has one; else rvcap_dev().
 */
static const char *expbuf_device(bool multi)
{
	static char path[32];
	const char *env = getenv("RVCAP_EXPBUF_DEVICE");
	struct v4l2_capability cap;
	int i, first = -1;

	if (env && *env)
		return env;
	for (i = 0; i < 64; i++) {
		snprintf(path, sizeof(path), "/dev/video%d", i);
		if (query_node(path, &cap, NULL) || strcmp((const char *)cap.driver, "rvcap"))
			continue;
		if (first < 0)
			first = i;
		if (!multi || node_type(&cap) == MPLANE)
			return path;
	}
	if (first < 0)
		return rvcap_dev();
	snprintf(path, sizeof(path), "/dev/video%d", first);
	return path;
}

/*
 * The node the cross-device tests import into: $RVCAP_EXPBUF_DEVICE_B, else
 * the first node other than @a (by device number) of driver @driver and
 * buffer type @type; NULL if none.
 */
static const char *second_device(const char *a, const char *driver, uint32_t type)
{
	static char path[32];
	const char *env = getenv("RVCAP_EXPBUF_DEVICE_B");
	struct v4l2_capability cap;
	dev_t rdev_a, rdev;
	int i;

	if (env && *env)
		return env;
	if (query_node(a, &cap, &rdev_a))
		return NULL;
	for (i = 0; i < 64; i++) {
		snprintf(path, sizeof(path), "/dev/video%d", i);
		if (query_node(path, &cap, &rdev) || rdev == rdev_a)
			continue;
		if (!strcmp((const char *)cap.driver, driver) && node_type(&cap) == type)
			return path;
	}
	return NULL;
}

/* One node, its format and its buffers: V4L2 mmaps and exports. */
struct node {
	int fd;
	bool rvcap;
	uint32_t type;
	struct v4l2_format fmt;
	unsigned int nplanes;
	uint32_t size[NPLANES];		/* each plane's sizeimage */
	unsigned int nbufs;
	uint8_t *vmap[MAXBUFS][NPLANES];	/* V4L2 mmap of each plane */
	size_t len[MAXBUFS][NPLANES];		/* each plane's length */
	int exp[MAXBUFS][NPLANES];		/* its export, or -1 */
	uint8_t *emap[MAXBUFS][NPLANES];	/* mmap of the export */
	uint32_t mem_flags;	/* REQBUFS(MMAP) flags: V4L2_MEMORY_FLAG_* */
	uint32_t qbuf_flags;	/* MMAP QBUF flags: the cache hints */
};

static void node_init(struct node *n)
{
	unsigned int i, p;

	memset(n, 0, sizeof(*n));
	n->fd = -1;
	for (i = 0; i < MAXBUFS; i++)
		for (p = 0; p < NPLANES; p++)
			n->exp[i][p] = -1;
}

static int reqbufs(struct node *n, uint32_t memory, uint32_t count, uint32_t *caps)
{
	struct v4l2_requestbuffers req = {
		.count = count,
		.type = n->type,
		.memory = memory,
		.flags = memory == V4L2_MEMORY_MMAP ? n->mem_flags : 0,
	};
	int ret = xioctl(n->fd, VIDIOC_REQBUFS, &req);

	if (caps)
		*caps = req.capabilities;
	return ret ? ret : (int)req.count;
}

static int stream(struct node *n, bool on)
{
	int type = n->type;

	return xioctl(n->fd, on ? VIDIOC_STREAMON : VIDIOC_STREAMOFF, &type);
}

static int expbuf(struct node *n, uint32_t type, uint32_t index, uint32_t plane,
		  uint32_t flags, int *fd)
{
	struct v4l2_exportbuffer e = {
		.type = type,
		.index = index,
		.plane = plane,
		.flags = flags,
	};
	int ret = xioctl(n->fd, VIDIOC_EXPBUF, &e);

	if (!ret)
		*fd = e.fd;
	return ret;
}

/*
 * QUERYBUF, QBUF or DQBUF (@req) of buffer @index; @fds (DMABUF QBUF) the
 * dma-buf of each plane. Planes go in @planes (NPLANES entries).
 */
static int buf_ioctl(struct node *n, unsigned long req, uint32_t memory, uint32_t index,
		     const int *fds, struct v4l2_buffer *buf, struct v4l2_plane *planes)
{
	unsigned int p;

	memset(buf, 0, sizeof(*buf));
	memset(planes, 0, NPLANES * sizeof(*planes));
	buf->type = n->type;
	buf->memory = memory;
	buf->index = index;
	if (req == VIDIOC_QBUF && memory == V4L2_MEMORY_MMAP)
		buf->flags = n->qbuf_flags;
	if (n->type == MPLANE) {
		buf->m.planes = planes;
		buf->length = NPLANES;
		if (req == VIDIOC_QBUF)
			buf->length = n->nplanes;
		for (p = 0; fds && p < n->nplanes; p++)
			planes[p].m.fd = fds[p];
	} else if (fds) {
		buf->m.fd = fds[0];
	}
	return xioctl(n->fd, req, buf);
}

/* The bytes used of plane @p of a dequeued buffer. */
static uint32_t bytesused(const struct node *n, const struct v4l2_buffer *buf, unsigned int p)
{
	return n->type == MPLANE ? buf->m.planes[p].bytesused : buf->bytesused;
}

/* Restores what the tests found: stopped, no buffers, the defaults. */
static void node_restore(struct node *n)
{
	struct v4l2_streamparm parm = { .type = n->type };
	struct v4l2_format f = { .type = n->type };

	stream(n, false);
	reqbufs(n, V4L2_MEMORY_MMAP, 0, NULL);
	if (!n->rvcap)
		return;
	if (n->type == MPLANE) {
		f.fmt.pix_mp.pixelformat = V4L2_PIX_FMT_YUYV;
		f.fmt.pix_mp.width = 640;
		f.fmt.pix_mp.height = 480;
	} else {
		f.fmt.pix.pixelformat = V4L2_PIX_FMT_YUYV;
		f.fmt.pix.width = 640;
		f.fmt.pix.height = 480;
	}
	xioctl(n->fd, VIDIOC_S_FMT, &f);
	rvcap_set_pattern(n->fd, 0);
	parm.parm.capture.timeperframe.numerator = 1;
	parm.parm.capture.timeperframe.denominator = 30;
	xioctl(n->fd, VIDIOC_S_PARM, &parm);
}

static void node_unmap(struct node *n)
{
	unsigned int i, p;

	for (i = 0; i < MAXBUFS; i++) {
		for (p = 0; p < NPLANES; p++) {
			if (n->vmap[i][p] && n->vmap[i][p] != MAP_FAILED)
				munmap(n->vmap[i][p], n->len[i][p]);
			n->vmap[i][p] = NULL;
		}
	}
}

static void node_close_exports(struct node *n)
{
	unsigned int i, p;

	for (i = 0; i < MAXBUFS; i++) {
		for (p = 0; p < NPLANES; p++) {
			if (n->emap[i][p] && n->emap[i][p] != MAP_FAILED)
				munmap(n->emap[i][p], n->len[i][p]);
			n->emap[i][p] = NULL;
			if (n->exp[i][p] >= 0)
				close(n->exp[i][p]);
			n->exp[i][p] = -1;
		}
	}
}

/* Unmaps and closes everything, restoring the node (reopened if closed). */
static void node_release(struct node *n, const char *path)
{
	node_unmap(n);
	node_close_exports(n);
	if (n->fd < 0 && path)
		n->fd = open(path, O_RDWR | O_CLOEXEC);
	if (n->fd >= 0) {
		node_restore(n);
		close(n->fd);
	}
	n->fd = -1;
}

/*
 * Opens @path, stopped and without buffers, at @fourcc 320x240 (or what
 * the driver makes of it), on rvcap with the verification pattern at
 * 60 fps. Returns 0, -errno, or -ENOTSUP if the format has more planes
 * than a single-planar node can have.
 */
static int node_open(struct __test_metadata *_metadata, struct node *n, const char *path,
		     uint32_t fourcc, bool multi)
{
	struct v4l2_capability cap;
	struct v4l2_streamparm parm;
	unsigned int p;
	int ret;

	n->fd = open(path, O_RDWR | O_CLOEXEC);
	if (n->fd < 0) {
		TH_LOG("open %s: %s", path, strerror(errno));
		return -errno;
	}
	memset(&cap, 0, sizeof(cap));
	ret = xioctl(n->fd, VIDIOC_QUERYCAP, &cap);
	if (ret)
		return ret;
	n->rvcap = !strcmp((const char *)cap.driver, "rvcap");
	n->type = node_type(&cap);
	TH_LOG("%s: driver %s, card %s, %s", path, cap.driver, cap.card,
	       n->type == MPLANE ? "multi-planar" : "single-planar");
	if (multi && n->type != MPLANE)
		return -ENOTSUP;
	if (n->rvcap)
		rvcap_reset_knobs();
	/* A free queue: a test that failed before may have left buffers. */
	stream(n, false);
	reqbufs(n, V4L2_MEMORY_MMAP, 0, NULL);
	memset(&n->fmt, 0, sizeof(n->fmt));
	n->fmt.type = n->type;
	if (n->type == MPLANE) {
		n->fmt.fmt.pix_mp.pixelformat = fourcc;
		n->fmt.fmt.pix_mp.width = WIDTH;
		n->fmt.fmt.pix_mp.height = HEIGHT;
	} else {
		n->fmt.fmt.pix.pixelformat = fourcc;
		n->fmt.fmt.pix.width = WIDTH;
		n->fmt.fmt.pix.height = HEIGHT;
	}
	ret = xioctl(n->fd, VIDIOC_S_FMT, &n->fmt);
	if (!ret)
		ret = xioctl(n->fd, VIDIOC_G_FMT, &n->fmt);
	if (ret)
		return ret;
	if (n->type == MPLANE) {
		if (n->fmt.fmt.pix_mp.pixelformat != fourcc ||
		    n->fmt.fmt.pix_mp.num_planes < 1 || n->fmt.fmt.pix_mp.num_planes > NPLANES)
			return -EINVAL;
		n->nplanes = n->fmt.fmt.pix_mp.num_planes;
		for (p = 0; p < n->nplanes; p++)
			n->size[p] = n->fmt.fmt.pix_mp.plane_fmt[p].sizeimage;
	} else {
		if (n->fmt.fmt.pix.pixelformat != fourcc)
			return -EINVAL;
		n->nplanes = 1;
		n->size[0] = n->fmt.fmt.pix.sizeimage;
	}
	if (!n->rvcap)
		return 0;
	memset(&parm, 0, sizeof(parm));
	parm.type = n->type;
	parm.parm.capture.timeperframe.numerator = 1;
	parm.parm.capture.timeperframe.denominator = 60;
	ret = rvcap_set_pattern(n->fd, 2);
	return ret ? ret : xioctl(n->fd, VIDIOC_S_PARM, &parm);
}

/* REQBUFS(MMAP, NBUFS) and the V4L2 mmap of every plane. */
static void alloc_mmap(struct __test_metadata *_metadata, struct node *n)
{
	struct v4l2_plane planes[NPLANES];
	struct v4l2_buffer buf;
	unsigned int i, p;
	int ret;

	ret = reqbufs(n, V4L2_MEMORY_MMAP, NBUFS, NULL);
	ASSERT_LE(NBUFS, ret) TH_LOG("REQBUFS(MMAP, %d): %s", NBUFS, strerror(-ret));
	ASSERT_GE(MAXBUFS, ret);
	n->nbufs = ret;
	for (i = 0; i < n->nbufs; i++) {
		ASSERT_EQ(0, buf_ioctl(n, VIDIOC_QUERYBUF, V4L2_MEMORY_MMAP, i, NULL, &buf,
				       planes));
		for (p = 0; p < n->nplanes; p++) {
			uint32_t len = n->type == MPLANE ? planes[p].length : buf.length;
			off_t off = n->type == MPLANE ? planes[p].m.mem_offset : buf.m.offset;

			ASSERT_LE(n->size[p], len) TH_LOG("buffer %u plane %u", i, p);
			n->len[i][p] = len;
			n->vmap[i][p] = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
					     n->fd, off);
			ASSERT_NE(MAP_FAILED, n->vmap[i][p]) {
				TH_LOG("mmap of buffer %u plane %u: %s", i, p, strerror(errno));
			}
		}
	}
}

/*
 * EXPBUF of every plane of every buffer with @flags, each export mapped
 * with @prot into n->emap.
 */
static void export_all(struct __test_metadata *_metadata, struct node *n, uint32_t flags,
		       int prot)
{
	unsigned int i, p;
	int ret;

	for (i = 0; i < n->nbufs; i++) {
		for (p = 0; p < n->nplanes; p++) {
			ret = expbuf(n, n->type, i, p, flags, &n->exp[i][p]);
			ASSERT_EQ(0, ret) {
				TH_LOG("EXPBUF of buffer %u plane %u: %s", i, p, strerror(-ret));
			}
			n->emap[i][p] = mmap(NULL, n->len[i][p], prot, MAP_SHARED,
					     n->exp[i][p], 0);
			ASSERT_NE(MAP_FAILED, n->emap[i][p]) {
				TH_LOG("mmap of the export of buffer %u plane %u: %s", i, p,
				       strerror(errno));
			}
		}
	}
}

/* Garbage no frame has: stale bytes fail the checks. */
static void fill_garbage(uint8_t *b, size_t len)
{
	size_t j;

	for (j = 0; j < len; j++)
		b[j] = (uint8_t)(j * 13 + 0x5b);
}

/* Whether @len bytes are still what fill_garbage() wrote. */
static bool is_garbage(const uint8_t *b, size_t len)
{
	size_t j;

	for (j = 0; j < len; j++)
		if (b[j] != (uint8_t)(j * 13 + 0x5b))
			return false;
	return true;
}

/*
 * Checks plane @p (@len bytes at @b) of the frame with sequence @seq
 * against the verification pattern: it is frame bytes (the sizes of the
 * planes before @p)...; the offset of the first wrong byte, or -1.
 */
static long check_plane(const struct node *n, unsigned int p, const uint8_t *b, size_t len,
			uint32_t seq)
{
	uint8_t add = (uint8_t)(17u * seq);
	size_t off = 0, j;
	unsigned int m, q;

	for (q = 0; q < p; q++)
		off += n->size[q];
	m = off % 251;
	for (j = 0; j < len; j++) {
		if (b[j] != (uint8_t)(m + add))
			return (long)j;
		m = m == 250 ? 0 : m + 1;
	}
	return -1;
}

/* What byte @j of plane @p of the verification frame @seq must be. */
static uint8_t want_byte(const struct node *n, unsigned int p, size_t j, uint32_t seq)
{
	size_t off = j;
	unsigned int q;

	for (q = 0; q < p; q++)
		off += n->size[q];
	return rvcap_verification_byte(off, seq);
}

#define ASSERT_PLANE_IS_FRAME(n, p, b, len, seq, what) do {			\
	long __bad = check_plane(n, p, b, len, seq);				\
	ASSERT_EQ(-1, __bad) {							\
		TH_LOG("%s, plane %u, sequence %u: byte %ld is 0x%02x, want 0x%02x", \
		       what, p, seq, __bad, (b)[__bad < 0 ? 0 : __bad],		\
		       want_byte(n, p, __bad, seq));				\
	}									\
} while (0)

/* Waits for and dequeues the next buffer of @memory into @buf. */
static void dequeue(struct __test_metadata *_metadata, struct node *n, uint32_t memory,
		    struct v4l2_buffer *buf, struct v4l2_plane *planes)
{
	unsigned int p;

	ASSERT_EQ(1, rvcap_wait_frame(n->fd, FRAME_MS)) TH_LOG("no frame within %d ms",
							      FRAME_MS);
	ASSERT_EQ(0, buf_ioctl(n, VIDIOC_DQBUF, memory, 0, NULL, buf, planes));
	ASSERT_GT(n->nbufs, buf->index);
	EXPECT_EQ(0U, buf->flags & V4L2_BUF_FLAG_ERROR) TH_LOG("buffer %u", buf->index);
	for (p = 0; p < n->nplanes; p++) {
		ASSERT_GE(n->len[buf->index][p], bytesused(n, buf, p));
		if (n->rvcap)
			EXPECT_EQ(n->size[p], bytesused(n, buf, p)) TH_LOG("plane %u", p);
	}
}

/* ---- Fixture: the node, at the variant's format */

FIXTURE(expbuf) {
	const char *path;
	struct node a;
	struct node b;
	const char *path_b;
};

FIXTURE_VARIANT(expbuf) {
	uint32_t fourcc;
	bool multi;	/* needs the multi-planar API */
};

FIXTURE_VARIANT_ADD(expbuf, yuyv) {
	.fourcc = V4L2_PIX_FMT_YUYV,
};

FIXTURE_VARIANT_ADD(expbuf, nv12m) {
	.fourcc = V4L2_PIX_FMT_NV12M,
	.multi = true,
};

FIXTURE_VARIANT_ADD(expbuf, yuv420m) {
	.fourcc = V4L2_PIX_FMT_YUV420M,
	.multi = true,
};

FIXTURE_SETUP(expbuf)
{
	int ret;

	node_init(&self->a);
	node_init(&self->b);
	self->path = expbuf_device(variant->multi);
	ret = node_open(_metadata, &self->a, self->path, variant->fourcc, variant->multi);
	if (ret == -ENOTSUP)
		SKIP(return, "a multi-planar format: the node is single-planar");
	ASSERT_EQ(0, ret) TH_LOG("setting up %s: %s", self->path, strerror(-ret));
}

FIXTURE_TEARDOWN(expbuf)
{
	if (self->path_b && rvcap_path_instance(self->path_b) >= 0)
		rvcap_set_knob_of(rvcap_path_instance(self->path_b), SKIP_SYNC_KNOB, 0);
	node_release(&self->b, self->path_b);
	node_release(&self->a, self->path);
}

/* ---- EXPBUF's arguments */

TEST_F(expbuf, expbuf_gives_a_new_dma_buf_for_every_plane_and_every_call)
{
	struct node *n = &self->a;
	struct stat st1, st2;
	unsigned int i, p;
	int fd2;

	alloc_mmap(_metadata, n);
	export_all(_metadata, n, O_RDWR | O_CLOEXEC, PROT_READ);
	for (i = 0; i < n->nbufs; i++) {
		for (p = 0; p < n->nplanes; p++) {
			off_t size = lseek(n->exp[i][p], 0, SEEK_END);

			/* A dma-buf covers the plane (its size is page-aligned). */
			EXPECT_LE((off_t)n->len[i][p], size) TH_LOG("buffer %u plane %u", i, p);
			ASSERT_EQ(0, expbuf(n, n->type, i, p, O_RDWR | O_CLOEXEC, &fd2));
			EXPECT_NE(n->exp[i][p], fd2);
			ASSERT_EQ(0, fstat(n->exp[i][p], &st1));
			ASSERT_EQ(0, fstat(fd2, &st2));
			/* Each dma-buf has its own inode: a new one, not a dup. */
			EXPECT_NE(st1.st_ino, st2.st_ino) TH_LOG("buffer %u plane %u", i, p);
			/* Every export is another dma-buf: all inodes differ. */
			if (p > 0) {
				ASSERT_EQ(0, fstat(n->exp[i][p - 1], &st2));
				EXPECT_NE(st1.st_ino, st2.st_ino);
			}
			if (i > 0) {
				ASSERT_EQ(0, fstat(n->exp[i - 1][p], &st2));
				EXPECT_NE(st1.st_ino, st2.st_ino);
			}
			close(fd2);
		}
	}
}

TEST_F(expbuf, export_and_v4l2_mmap_are_the_same_memory)
{
	struct node *n = &self->a;
	unsigned int i, p;
	int fd2;

	alloc_mmap(_metadata, n);
	export_all(_metadata, n, O_RDWR | O_CLOEXEC, PROT_READ | PROT_WRITE);
	for (i = 0; i < n->nbufs; i++) {
		for (p = 0; p < n->nplanes; p++) {
			size_t len = n->len[i][p];
			uint8_t *m2;

			/* Written through the V4L2 mmap, read through both exports. */
			fill_garbage(n->vmap[i][p], len);
			n->vmap[i][p][0] = (uint8_t)i;
			n->vmap[i][p][len - 1] = (uint8_t)p;
			EXPECT_EQ(0, memcmp(n->vmap[i][p], n->emap[i][p], len))
				TH_LOG("buffer %u plane %u", i, p);
			ASSERT_EQ(0, expbuf(n, n->type, i, p, O_RDONLY, &fd2));
			m2 = mmap(NULL, len, PROT_READ, MAP_SHARED, fd2, 0);
			ASSERT_NE(MAP_FAILED, m2);
			EXPECT_EQ(0, memcmp(n->vmap[i][p], m2, len))
				TH_LOG("buffer %u plane %u, second export", i, p);
			/* And written through the export, read through V4L2's. */
			memset(n->emap[i][p], 0xa5 ^ (i << 2) ^ p, len);
			EXPECT_EQ(0, memcmp(n->vmap[i][p], n->emap[i][p], len));
			EXPECT_EQ(0, memcmp(m2, n->emap[i][p], len));
			munmap(m2, len);
			close(fd2);
		}
	}
}

TEST_F(expbuf, expbuf_honours_the_access_mode_and_cloexec)
{
	struct node *n = &self->a;
	static const int modes[] = { O_RDONLY, O_WRONLY, O_RDWR };
	unsigned int m;
	void *map;
	int fd;

	alloc_mmap(_metadata, n);
	for (m = 0; m < ARRAY_SIZE(modes); m++) {
		ASSERT_EQ(0, expbuf(n, n->type, 0, 0, modes[m], &fd)) TH_LOG("mode %d", modes[m]);
		EXPECT_EQ(modes[m], fcntl(fd, F_GETFL) & O_ACCMODE);
		EXPECT_EQ(0, fcntl(fd, F_GETFD) & FD_CLOEXEC);
		if (modes[m] == O_RDONLY) {
			/* A read-only dma-buf: no writable shared mapping. */
			map = mmap(NULL, n->len[0][0], PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			EXPECT_EQ(MAP_FAILED, map);
			EXPECT_EQ(EACCES, errno);
			if (map != MAP_FAILED)
				munmap(map, n->len[0][0]);
		}
		close(fd);
		ASSERT_EQ(0, expbuf(n, n->type, 0, 0, modes[m] | O_CLOEXEC, &fd));
		EXPECT_EQ(modes[m], fcntl(fd, F_GETFL) & O_ACCMODE);
		EXPECT_EQ(FD_CLOEXEC, fcntl(fd, F_GETFD) & FD_CLOEXEC);
		close(fd);
	}
}

TEST_F(expbuf, expbuf_refuses_flags_other_than_the_access_mode_and_cloexec)
{
	static const uint32_t bad[] = {
		O_NONBLOCK, O_APPEND, O_CREAT, O_TRUNC, O_EXCL, O_SYNC, O_DIRECT,
		O_NOCTTY, O_RDWR | O_CLOEXEC | O_NONBLOCK, 0x80000000u,
	};
	struct node *n = &self->a;
	unsigned int i;
	int fd = -1;

	alloc_mmap(_metadata, n);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		EXPECT_EQ(-EINVAL, expbuf(n, n->type, 0, 0, bad[i], &fd))
			TH_LOG("flags 0x%x", bad[i]);
	}
	ASSERT_EQ(-1, fd);
}

TEST_F(expbuf, expbuf_refuses_an_index_plane_or_type_out_of_range)
{
	static const uint32_t types[] = {
		V4L2_BUF_TYPE_VIDEO_CAPTURE, V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE,
		V4L2_BUF_TYPE_VIDEO_OUTPUT, V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE,
		V4L2_BUF_TYPE_VBI_CAPTURE, 0, 0x7fffffff,
	};
	struct node *n = &self->a;
	unsigned int t;
	int fd = -1;

	alloc_mmap(_metadata, n);
	EXPECT_EQ(-EINVAL, expbuf(n, n->type, n->nbufs, 0, O_RDWR, &fd));
	EXPECT_EQ(-EINVAL, expbuf(n, n->type, MAXBUFS * 1000, 0, O_RDWR, &fd));
	EXPECT_EQ(-EINVAL, expbuf(n, n->type, 0xffffffffu, 0, O_RDWR, &fd));
	EXPECT_EQ(-EINVAL, expbuf(n, n->type, 0, n->nplanes, O_RDWR, &fd));
	EXPECT_EQ(-EINVAL, expbuf(n, n->type, n->nbufs - 1, n->nplanes, O_RDWR, &fd));
	EXPECT_EQ(-EINVAL, expbuf(n, n->type, 0, VIDEO_MAX_PLANES, O_RDWR, &fd));
	EXPECT_EQ(-EINVAL, expbuf(n, n->type, 0, 0xffffffffu, O_RDWR, &fd));
	for (t = 0; t < ARRAY_SIZE(types); t++) {
		if (types[t] == n->type)
			continue;
		EXPECT_EQ(-EINVAL, expbuf(n, types[t], 0, 0, O_RDWR, &fd))
			TH_LOG("type %u", types[t]);
	}
	ASSERT_EQ(-1, fd);
	/* The queue is unharmed: the last plane of the last buffer exports. */
	ASSERT_EQ(0, expbuf(n, n->type, n->nbufs - 1, n->nplanes - 1, O_RDWR, &fd));
	close(fd);
}

TEST_F(expbuf, expbuf_refuses_an_empty_queue_and_a_dmabuf_queue)
{
	struct node *n = &self->a;
	int fd = -1, ret;

	EXPECT_EQ(-EINVAL, expbuf(n, n->type, 0, 0, O_RDWR, &fd));
	ret = reqbufs(n, V4L2_MEMORY_DMABUF, NBUFS, NULL);
	ASSERT_LE(1, ret) TH_LOG("REQBUFS(DMABUF): %s", strerror(-ret));
	EXPECT_EQ(-EINVAL, expbuf(n, n->type, 0, 0, O_RDWR, &fd));
	EXPECT_EQ(-EINVAL, expbuf(n, n->type, 0, 0, O_RDWR | O_CLOEXEC, &fd));
	ASSERT_EQ(0, reqbufs(n, V4L2_MEMORY_DMABUF, 0, NULL));
	EXPECT_EQ(-EINVAL, expbuf(n, n->type, 0, 0, O_RDWR, &fd));
	ASSERT_EQ(-1, fd);
}

/* ---- Exported memory while streaming */

/*
 * @n's MMAP buffers, holding garbage, exported (O_RDWR, mapped PROT_READ),
 * all queued, and streaming.
 */
static void export_and_stream(struct __test_metadata *_metadata, struct node *n)
{
	struct v4l2_plane planes[NPLANES];
	struct v4l2_buffer buf;
	unsigned int i, p;

	alloc_mmap(_metadata, n);
	export_all(_metadata, n, O_RDWR | O_CLOEXEC, PROT_READ);
	for (i = 0; i < n->nbufs; i++) {
		for (p = 0; p < n->nplanes; p++)
			fill_garbage(n->vmap[i][p], n->len[i][p]);
		ASSERT_EQ(0, buf_ioctl(n, VIDIOC_QBUF, V4L2_MEMORY_MMAP, i, NULL, &buf, planes));
	}
	ASSERT_EQ(0, stream(n, true));
}

/*
 * Streams FRAMES frames into MMAP buffers whose planes are all exported and
 * mapped; after each DQBUF, every plane read through the export (between
 * DMA_BUF_IOCTL_SYNC START and END if @sync) must be what the V4L2 mmap
 * shows and, with @verify, the verification frame.
 */
static void stream_exported(struct __test_metadata *_metadata, struct node *n, bool sync,
			    bool verify)
{
	static const uint64_t dirs[] = { DMA_BUF_SYNC_READ, DMA_BUF_SYNC_RW };
	struct v4l2_plane planes[NPLANES];
	struct v4l2_buffer buf;
	unsigned int f, i, p;

	export_and_stream(_metadata, n);
	for (f = 0; f < FRAMES; f++) {
		dequeue(_metadata, n, V4L2_MEMORY_MMAP, &buf, planes);
		i = buf.index;
		for (p = 0; p < n->nplanes; p++) {
			uint32_t used = bytesused(n, &buf, p);
			struct dma_buf_sync s;

			if (sync) {
				s.flags = DMA_BUF_SYNC_START | dirs[f % 2];
				ASSERT_EQ(0, xioctl(n->exp[i][p], DMA_BUF_IOCTL_SYNC, &s));
			}
			EXPECT_FALSE(used >= 64 && is_garbage(n->emap[i][p], 64))
				TH_LOG("buffer %u plane %u: nothing written", i, p);
			EXPECT_EQ(0, memcmp(n->vmap[i][p], n->emap[i][p], used))
				TH_LOG("buffer %u plane %u, sequence %u", i, p, buf.sequence);
			if (verify) {
				ASSERT_PLANE_IS_FRAME(n, p, n->emap[i][p], used, buf.sequence,
						      "export");
				ASSERT_PLANE_IS_FRAME(n, p, n->vmap[i][p], used, buf.sequence,
						      "V4L2 mmap");
			}
			if (sync) {
				s.flags = DMA_BUF_SYNC_END | dirs[f % 2];
				ASSERT_EQ(0, xioctl(n->exp[i][p], DMA_BUF_IOCTL_SYNC, &s));
			}
		}
		ASSERT_EQ(0, buf_ioctl(n, VIDIOC_QBUF, V4L2_MEMORY_MMAP, i, NULL, &buf, planes));
	}
	ASSERT_EQ(0, stream(n, false));
}

TEST_F(expbuf, export_mmap_shows_the_frames_of_the_v4l2_mmap)
{
	stream_exported(_metadata, &self->a, false, false);
}

TEST_F(expbuf, export_mmap_shows_the_verification_frames)
{
	if (!self->a.rvcap)
		SKIP(return, NOT_RVCAP);
	stream_exported(_metadata, &self->a, false, true);
}

TEST_F(expbuf, dma_buf_sync_brackets_reads_of_the_frames)
{
	struct dma_buf_sync s = { .flags = DMA_BUF_SYNC_VALID_FLAGS_MASK + 1 };

	stream_exported(_metadata, &self->a, true, false);
	/* The dma-buf core's own check of the flags. */
	EXPECT_EQ(-EINVAL, xioctl(self->a.exp[0][0], DMA_BUF_IOCTL_SYNC, &s));
}

TEST_F(expbuf, dma_buf_sync_reads_give_the_verification_frames)
{
	if (!self->a.rvcap)
		SKIP(return, NOT_RVCAP);
	stream_exported(_metadata, &self->a, true, true);
}

/* ---- libcamera's allocation flow */

/*
 * As libcamera's V4L2VideoDevice allocates: REQBUFS(MMAP), EXPBUF of every
 * plane of every buffer, REQBUFS(0) (the exports stay: orphaned buffers),
 * then REQBUFS(DMABUF) and the exports queued back, plane by plane, and
 * FRAMES frames captured into them: each written over the garbage put there
 * before, and with @verify, every byte the verification frame's.
 */
static void libcamera_flow(struct __test_metadata *_metadata, struct node *n, bool verify)
{
	struct v4l2_plane planes[NPLANES];
	struct v4l2_buffer buf;
	unsigned int f, i, p;
	uint32_t caps = 0;
	int ret;

	ASSERT_EQ(0, reqbufs(n, V4L2_MEMORY_MMAP, 0, &caps));
	EXPECT_NE(0U, caps & V4L2_BUF_CAP_SUPPORTS_ORPHANED_BUFS);
	EXPECT_NE(0U, caps & V4L2_BUF_CAP_SUPPORTS_DMABUF);
	alloc_mmap(_metadata, n);
	export_all(_metadata, n, O_RDWR | O_CLOEXEC, PROT_READ | PROT_WRITE);
	node_unmap(n);
	ASSERT_EQ(0, reqbufs(n, V4L2_MEMORY_MMAP, 0, NULL));
	for (i = 0; i < n->nbufs; i++)
		for (p = 0; p < n->nplanes; p++)
			fill_garbage(n->emap[i][p], n->len[i][p]);
	ret = reqbufs(n, V4L2_MEMORY_DMABUF, n->nbufs, NULL);
	ASSERT_EQ((int)n->nbufs, ret) TH_LOG("REQBUFS(DMABUF): %s", strerror(-ret));
	for (i = 0; i < n->nbufs; i++) {
		ret = buf_ioctl(n, VIDIOC_QBUF, V4L2_MEMORY_DMABUF, i, n->exp[i], &buf, planes);
		ASSERT_EQ(0, ret) TH_LOG("QBUF of export %u: %s", i, strerror(-ret));
	}
	ASSERT_EQ(0, stream(n, true));
	for (f = 0; f < FRAMES; f++) {
		dequeue(_metadata, n, V4L2_MEMORY_DMABUF, &buf, planes);
		i = buf.index;
		for (p = 0; p < n->nplanes; p++) {
			uint32_t used = bytesused(n, &buf, p);

			EXPECT_EQ(n->exp[i][p], n->type == MPLANE ? planes[p].m.fd : buf.m.fd);
			EXPECT_FALSE(used >= 64 && is_garbage(n->emap[i][p], 64))
				TH_LOG("buffer %u plane %u: nothing written", i, p);
			if (verify)
				ASSERT_PLANE_IS_FRAME(n, p, n->emap[i][p], used, buf.sequence,
						      "export");
			fill_garbage(n->emap[i][p], n->len[i][p]);
		}
		ret = buf_ioctl(n, VIDIOC_QBUF, V4L2_MEMORY_DMABUF, i, n->exp[i], &buf, planes);
		ASSERT_EQ(0, ret) TH_LOG("QBUF of export %u: %s", i, strerror(-ret));
	}
	ASSERT_EQ(0, stream(n, false));
	ASSERT_EQ(0, reqbufs(n, V4L2_MEMORY_DMABUF, 0, NULL));
}

TEST_F(expbuf, libcamera_flow_exports_outlive_reqbufs_0_and_capture_as_dmabuf)
{
	libcamera_flow(_metadata, &self->a, false);
}

TEST_F(expbuf, libcamera_flow_captures_verification_frames_into_the_exports)
{
	if (!self->a.rvcap)
		SKIP(return, NOT_RVCAP);
	libcamera_flow(_metadata, &self->a, true);
}

/* ---- Exports outliving the queue and the V4L2 fd */

/*
 * Streams FRAMES frames with every plane exported and mapped, keeps the
 * last frame's buffer, stops, and then through REQBUFS(0), the close of
 * the V4L2 fd and new mappings of the exports, checks that the exports
 * still hold that frame (what the V4L2 mmap showed, and with @verify the
 * verification frame); closing the exports then frees every dma-buf
 * (the count of /sys/kernel/debug/dma_buf/bufinfo, where readable).
 */
static void exports_outlive(struct __test_metadata *_metadata, struct node *n, bool verify)
{
	struct v4l2_plane planes[NPLANES];
	uint8_t *snap[NPLANES] = { NULL };
	struct v4l2_buffer buf;
	unsigned int f, i = 0, p, round;
	int before = rvcap_bufinfo("", NULL), after;
	uint32_t seq = 0;

	export_and_stream(_metadata, n);
	for (f = 0; f < FRAMES; f++) {
		dequeue(_metadata, n, V4L2_MEMORY_MMAP, &buf, planes);
		if (f == FRAMES - 1)
			break;
		ASSERT_EQ(0, buf_ioctl(n, VIDIOC_QBUF, V4L2_MEMORY_MMAP, buf.index, NULL, &buf,
				       planes));
	}
	i = buf.index;
	seq = buf.sequence;
	ASSERT_EQ(0, stream(n, false));
	for (p = 0; p < n->nplanes; p++) {
		snap[p] = malloc(n->len[i][p]);
		ASSERT_NE(NULL, snap[p]);
		memcpy(snap[p], n->vmap[i][p], n->len[i][p]);
		EXPECT_FALSE(is_garbage(snap[p], 64)) TH_LOG("plane %u: nothing written", p);
		if (verify)
			ASSERT_PLANE_IS_FRAME(n, p, snap[p], n->size[p], seq, "V4L2 mmap");
	}
	node_unmap(n);
	/* Round 0 after REQBUFS(0), round 1 after the close of the V4L2 fd. */
	for (round = 0; round < 2; round++) {
		if (round == 0) {
			ASSERT_EQ(0, reqbufs(n, V4L2_MEMORY_MMAP, 0, NULL));
		} else {
			close(n->fd);
			n->fd = -1;
		}
		for (p = 0; p < n->nplanes; p++) {
			struct dma_buf_sync s = { .flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ };
			uint8_t *m2;

			EXPECT_EQ(0, memcmp(snap[p], n->emap[i][p], n->len[i][p]))
				TH_LOG("round %u, plane %u: the old mapping", round, p);
			ASSERT_EQ(0, xioctl(n->exp[i][p], DMA_BUF_IOCTL_SYNC, &s));
			m2 = mmap(NULL, n->len[i][p], PROT_READ, MAP_SHARED, n->exp[i][p], 0);
			ASSERT_NE(MAP_FAILED, m2) TH_LOG("round %u: %s", round, strerror(errno));
			EXPECT_EQ(0, memcmp(snap[p], m2, n->len[i][p]))
				TH_LOG("round %u, plane %u: a new mapping", round, p);
			if (verify)
				ASSERT_PLANE_IS_FRAME(n, p, m2, n->size[p], seq, "export");
			munmap(m2, n->len[i][p]);
			s.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ;
			ASSERT_EQ(0, xioctl(n->exp[i][p], DMA_BUF_IOCTL_SYNC, &s));
		}
	}
	for (p = 0; p < n->nplanes; p++)
		free(snap[p]);
	node_close_exports(n);
	after = rvcap_bufinfo("", NULL);
	if (before >= 0)
		EXPECT_EQ(before, after) TH_LOG("dma-bufs before the exports and after");
}

TEST_F(expbuf, exports_keep_the_last_frame_after_reqbufs_0_and_close)
{
	exports_outlive(_metadata, &self->a, false);
}

TEST_F(expbuf, exports_keep_the_last_verification_frame_after_reqbufs_0_and_close)
{
	if (!self->a.rvcap)
		SKIP(return, NOT_RVCAP);
	exports_outlive(_metadata, &self->a, true);
}

/* ---- Another node capturing into the exports */

/*
 * Node B (opened at A's format) imports every plane of every one of A's
 * MMAP buffers, exported (O_RDWR, mapped PROT_READ), and queues them
 * (QBUF maps them for B's device; B not streaming), A's buffers holding
 * garbage.
 */
static void b_queues_a_exports(struct __test_metadata *_metadata,
			       struct _test_data_expbuf *self,
			       const struct _fixture_variant_expbuf *variant)
{
	struct node *a = &self->a, *b = &self->b;
	struct v4l2_plane planes[NPLANES];
	struct v4l2_buffer buf;
	unsigned int i, p;
	int ret;

	ASSERT_EQ(0, node_open(_metadata, b, self->path_b, variant->fourcc, variant->multi));
	ASSERT_EQ(a->type, b->type);
	ASSERT_EQ(a->nplanes, b->nplanes);
	alloc_mmap(_metadata, a);
	for (p = 0; p < a->nplanes; p++)
		ASSERT_LE(b->size[p], a->len[0][p]) TH_LOG("plane %u", p);
	export_all(_metadata, a, O_RDWR | O_CLOEXEC, PROT_READ);
	ret = reqbufs(b, V4L2_MEMORY_DMABUF, a->nbufs, NULL);
	ASSERT_EQ((int)a->nbufs, ret) TH_LOG("REQBUFS(DMABUF) on B: %s", strerror(-ret));
	b->nbufs = a->nbufs;
	for (i = 0; i < a->nbufs; i++) {
		for (p = 0; p < a->nplanes; p++) {
			fill_garbage(a->vmap[i][p], a->len[i][p]);
			b->len[i][p] = a->len[i][p];
		}
		ret = buf_ioctl(b, VIDIOC_QBUF, V4L2_MEMORY_DMABUF, i, a->exp[i], &buf, planes);
		ASSERT_EQ(0, ret) TH_LOG("QBUF on B of A's export %u: %s", i, strerror(-ret));
	}
}

/*
 * Node B (the fixture's second node, at A's format) captures FRAMES frames
 * into DMABUF buffers that are node A's exports; each frame must be seen
 * through A's V4L2 mmap and through the export's mmap, written over the
 * garbage put there before and, with @verify, every byte B's verification
 * frame.
 */
static void cross_device(struct __test_metadata *_metadata, struct _test_data_expbuf *self,
			 const struct _fixture_variant_expbuf *variant, bool verify)
{
	struct node *a = &self->a, *b = &self->b;
	struct v4l2_plane planes[NPLANES];
	struct v4l2_buffer buf;
	unsigned int f, i, p;
	int ret;

	b_queues_a_exports(_metadata, self, variant);
	ASSERT_EQ(0, stream(b, true));
	for (f = 0; f < FRAMES; f++) {
		dequeue(_metadata, b, V4L2_MEMORY_DMABUF, &buf, planes);
		i = buf.index;
		for (p = 0; p < a->nplanes; p++) {
			uint32_t used = bytesused(b, &buf, p);

			EXPECT_FALSE(used >= 64 && is_garbage(a->vmap[i][p], 64))
				TH_LOG("buffer %u plane %u: nothing written", i, p);
			EXPECT_EQ(0, memcmp(a->vmap[i][p], a->emap[i][p], used))
				TH_LOG("buffer %u plane %u, sequence %u", i, p, buf.sequence);
			if (verify) {
				ASSERT_PLANE_IS_FRAME(b, p, a->vmap[i][p], used, buf.sequence,
						      "A's V4L2 mmap");
				ASSERT_PLANE_IS_FRAME(b, p, a->emap[i][p], used, buf.sequence,
						      "A's export");
			}
			fill_garbage(a->vmap[i][p], a->len[i][p]);
		}
		ret = buf_ioctl(b, VIDIOC_QBUF, V4L2_MEMORY_DMABUF, i, a->exp[i], &buf, planes);
		ASSERT_EQ(0, ret) TH_LOG("QBUF on B of A's export %u: %s", i, strerror(-ret));
	}
	ASSERT_EQ(0, stream(b, false));
	ASSERT_EQ(0, reqbufs(b, V4L2_MEMORY_DMABUF, 0, NULL));
}

#define NO_SECOND_NODE "no second capture node of this driver and buffer type (rvcap num_devices=2, vivid n_devs=2, or RVCAP_EXPBUF_DEVICE_B)"

static const char *find_b(struct _test_data_expbuf *self)
{
	struct v4l2_capability cap;

	if (query_node(self->path, &cap, NULL))
		return NULL;
	return second_device(self->path, (const char *)cap.driver, self->a.type);
}

/*
 * Finds node B for a cross-device test; why the test must skip instead: no
 * node B, or a "verification" test (@verify) on a driver other than rvcap.
 */
static const char *need_b(struct _test_data_expbuf *self, bool verify)
{
	self->path_b = find_b(self);
	if (!self->path_b)
		return NO_SECOND_NODE;
	if (verify && !self->a.rvcap)
		return NOT_RVCAP;
	return NULL;
}

/* A cross-device test: B's set-up and the check of every byte (@verify). */
typedef void (*cross_test)(struct __test_metadata *_metadata, struct _test_data_expbuf *self,
			   const struct _fixture_variant_expbuf *variant, bool verify);

/* Runs @test with node B, @verify passed on; skips as need_b() says. */
static void with_b(struct __test_metadata *_metadata, struct _test_data_expbuf *self,
		   const struct _fixture_variant_expbuf *variant, bool verify, cross_test test)
{
	const char *why = need_b(self, verify);

	if (why)
		SKIP(return, "%s", why);
	test(_metadata, self, variant, verify);
}

TEST_F(expbuf, exports_of_one_node_capture_the_frames_of_another)
{
	with_b(_metadata, self, variant, false, cross_device);
}

TEST_F(expbuf, exports_of_one_node_capture_the_verification_frames_of_another)
{
	with_b(_metadata, self, variant, true, cross_device);
}

/* DMA_BUF_IOCTL_SYNC with @flags on @fd; 0 or -errno. */
static int dma_buf_sync(int fd, uint64_t flags)
{
	struct dma_buf_sync s = { .flags = flags };

	return xioctl(fd, DMA_BUF_IOCTL_SYNC, &s);
}

/*
 * Node B captures into A's exports (DMABUF), every buffer's last frame
 * dequeued and not queued again, then stops and frees its buffers
 * (REQBUFS(0): unmapped and detached) before anyone reads: each of A's
 * exports, read through its mmap between DMA_BUF_IOCTL_SYNC START and END,
 * must hold B's last frame in it (what A's V4L2 mmap showed at B's DQBUF
 * and, with @verify, every byte B's verification frame). An importer's
 * device writes must reach the pages when it unmaps. With rvcap as B this
 * holds even without the exporter's sync at unmap (B syncs its mapping for
 * the CPU itself at DQBUF and STREAMOFF, before it unmaps): it checks the
 * whole path end to end, and that the unmap's copy-back brings no stale
 * bytes; an importer that leaves the copy-back to the unmap (videobuf2's)
 * is what that sync is for.
 */
static void importer_unmaps_first(struct __test_metadata *_metadata,
				  struct _test_data_expbuf *self,
				  const struct _fixture_variant_expbuf *variant, bool verify)
{
	struct node *a = &self->a, *b = &self->b;
	struct v4l2_plane planes[NPLANES];
	uint8_t *seen[MAXBUFS][NPLANES] = { { NULL } };
	uint32_t seq[MAXBUFS], used[MAXBUFS][NPLANES];
	struct v4l2_buffer buf;
	unsigned int f, i, p, total;
	int ret;

	b_queues_a_exports(_metadata, self, variant);
	for (i = 0; i < a->nbufs; i++)
		seq[i] = UINT32_MAX;
	ASSERT_EQ(0, stream(b, true));
	/* Every buffer dequeued at the end: the last a->nbufs not requeued. */
	total = FRAMES + a->nbufs;
	for (f = 0; f < total; f++) {
		dequeue(_metadata, b, V4L2_MEMORY_DMABUF, &buf, planes);
		i = buf.index;
		seq[i] = buf.sequence;
		for (p = 0; p < a->nplanes; p++) {
			used[i][p] = bytesused(b, &buf, p);
			free(seen[i][p]);
			seen[i][p] = malloc(used[i][p] ? used[i][p] : 1);
			ASSERT_NE(NULL, seen[i][p]);
			memcpy(seen[i][p], a->vmap[i][p], used[i][p]);
		}
		if (f + a->nbufs < total) {
			ret = buf_ioctl(b, VIDIOC_QBUF, V4L2_MEMORY_DMABUF, i, a->exp[i], &buf,
					planes);
			ASSERT_EQ(0, ret) TH_LOG("QBUF on B of A's export %u: %s", i,
						 strerror(-ret));
		}
	}
	ASSERT_EQ(0, stream(b, false));
	ASSERT_EQ(0, reqbufs(b, V4L2_MEMORY_DMABUF, 0, NULL));
	for (i = 0; i < a->nbufs; i++) {
		ASSERT_NE(UINT32_MAX, seq[i]) TH_LOG("buffer %u never dequeued", i);
		for (p = 0; p < a->nplanes; p++) {
			uint32_t n = used[i][p];

			ASSERT_EQ(0, dma_buf_sync(a->exp[i][p], DMA_BUF_SYNC_START |
						  DMA_BUF_SYNC_READ));
			EXPECT_FALSE(n >= 64 && is_garbage(a->emap[i][p], 64))
				TH_LOG("buffer %u plane %u: B's frame lost", i, p);
			EXPECT_EQ(0, memcmp(seen[i][p], a->emap[i][p], n))
				TH_LOG("buffer %u plane %u, sequence %u", i, p, seq[i]);
			if (verify)
				ASSERT_PLANE_IS_FRAME(b, p, a->emap[i][p], n, seq[i],
						      "A's export after B unmapped");
			ASSERT_EQ(0, dma_buf_sync(a->exp[i][p], DMA_BUF_SYNC_END |
						  DMA_BUF_SYNC_READ));
		}
	}
	for (i = 0; i < MAXBUFS; i++)
		for (p = 0; p < NPLANES; p++)
			free(seen[i][p]);
}

TEST_F(expbuf, an_importers_frames_survive_its_unmap)
{
	with_b(_metadata, self, variant, false, importer_unmaps_first);
}

TEST_F(expbuf, an_importers_verification_frames_survive_its_unmap)
{
	with_b(_metadata, self, variant, true, importer_unmaps_first);
}

/*
 * Node B imports every one of A's exports and maps it (QBUF, never
 * streaming), over garbage; then A captures into its MMAP buffers. After
 * each of A's DQBUFs, the export read through its mmap between
 * DMA_BUF_IOCTL_SYNC START|READ and END must be A's new frame (what A's
 * V4L2 mmap showed at DQBUF and, with @verify, every byte A's
 * verification frame), not B's older view of the buffer.
 */
static void exporter_frame_beats_importer_view(struct __test_metadata *_metadata,
					       struct _test_data_expbuf *self,
					       const struct _fixture_variant_expbuf *variant,
					       bool verify)
{
	struct node *a = &self->a, *b = &self->b;
	struct v4l2_plane planes[NPLANES];
	struct v4l2_buffer buf;
	unsigned int f, i, p;
	uint8_t *seen;

	b_queues_a_exports(_metadata, self, variant);
	for (i = 0; i < a->nbufs; i++)
		ASSERT_EQ(0, buf_ioctl(a, VIDIOC_QBUF, V4L2_MEMORY_MMAP, i, NULL, &buf, planes));
	ASSERT_EQ(0, stream(a, true));
	for (f = 0; f < FRAMES; f++) {
		dequeue(_metadata, a, V4L2_MEMORY_MMAP, &buf, planes);
		i = buf.index;
		for (p = 0; p < a->nplanes; p++) {
			uint32_t n = bytesused(a, &buf, p);

			seen = malloc(n ? n : 1);
			ASSERT_NE(NULL, seen);
			memcpy(seen, a->vmap[i][p], n);
			ASSERT_EQ(0, dma_buf_sync(a->exp[i][p], DMA_BUF_SYNC_START |
						  DMA_BUF_SYNC_READ));
			EXPECT_FALSE(n >= 64 && is_garbage(a->emap[i][p], 64))
				TH_LOG("buffer %u plane %u: B's old view came back", i, p);
			EXPECT_EQ(0, memcmp(seen, a->emap[i][p], n))
				TH_LOG("buffer %u plane %u, sequence %u", i, p, buf.sequence);
			free(seen);
			if (verify)
				ASSERT_PLANE_IS_FRAME(a, p, a->emap[i][p], n, buf.sequence,
						      "A's export");
			ASSERT_EQ(0, dma_buf_sync(a->exp[i][p], DMA_BUF_SYNC_END |
						  DMA_BUF_SYNC_READ));
		}
		ASSERT_EQ(0, buf_ioctl(a, VIDIOC_QBUF, V4L2_MEMORY_MMAP, i, NULL, &buf, planes));
	}
	ASSERT_EQ(0, stream(a, false));
	ASSERT_EQ(0, reqbufs(b, V4L2_MEMORY_DMABUF, 0, NULL));
}

TEST_F(expbuf, the_exporters_frames_reach_a_mapped_importer)
{
	with_b(_metadata, self, variant, false, exporter_frame_beats_importer_view);
}

TEST_F(expbuf, the_exporters_verification_frames_reach_a_mapped_importer)
{
	with_b(_metadata, self, variant, true, exporter_frame_beats_importer_view);
}

/*
 * The cache hints on a non-coherent MMAP queue (V4L2_MEMORY_FLAG_NON_COHERENT;
 * every QBUF with V4L2_BUF_FLAG_NO_CACHE_CLEAN and NO_CACHE_INVALIDATE)
 * promise that the CPU will not read the frame, another device will; for
 * an exported plane that is its importers, so DQBUF still syncs it for the
 * CPU and hands the frame to them: with node B mapping A's exports, the
 * exporter's frames must still reach B's view (the test above, hinted),
 * the QBUF hint taken (a skipped sync for the device counted), the DQBUF
 * one not. Under swiotlb=force the pages would otherwise never hold the
 * frame.
 */
TEST_F(expbuf, a_dqbuf_hint_does_not_keep_the_frame_from_the_importers)
{
	const char *why = need_b(self, true);
	long long for_device, for_cpu;
	int dev;

	if (why)
		SKIP(return, "%s", why);
	dev = rvcap_path_instance(self->path);
	ASSERT_LE(0, dev);
	self->a.mem_flags = V4L2_MEMORY_FLAG_NON_COHERENT;
	self->a.qbuf_flags = V4L2_BUF_FLAG_NO_CACHE_CLEAN | V4L2_BUF_FLAG_NO_CACHE_INVALIDATE;
	for_device = rvcap_counter_of(dev, "cache_hint_skips_for_device");
	for_cpu = rvcap_counter_of(dev, "cache_hint_skips_for_cpu");
	ASSERT_LE(0, for_device);
	ASSERT_LE(0, for_cpu);
	exporter_frame_beats_importer_view(_metadata, self, variant, true);
	EXPECT_LT(for_device, rvcap_counter_of(dev, "cache_hint_skips_for_device"))
		TH_LOG("the QBUF hint was not taken: not a non-coherent queue?");
	EXPECT_EQ(for_cpu, rvcap_counter_of(dev, "cache_hint_skips_for_cpu"))
		TH_LOG("a DQBUF of an exported plane skipped its sync for the CPU");
}

/* Whether this boot bounces every DMA mapping (swiotlb=force). */
static bool swiotlb_forced(void)
{
	char line[1024] = "";
	FILE *f = fopen("/proc/cmdline", "r");

	if (!f)
		return false;
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	return strstr(line, "swiotlb=") && strstr(line, "force");
}


/*
 * An importer that never syncs for the CPU, as videobuf2's importers
 * never do (node B with inject_import_skips_cpu_sync stands in), captures
 * into A's exports and keeps them mapped (streaming). After each of B's
 * DQBUFs, a CPU that brackets its reads of the export with
 * DMA_BUF_IOCTL_SYNC START|READ and END must see B's frame, every byte:
 * where B's device sees a copy of the buffer (swiotlb's bounce slots) only
 * A's begin_cpu_access, syncing B's table for the CPU, brings the frame to
 * the pages. B's sync_for_cpu counter proves that B did not sync. In a
 * swiotlb=force boot every frame must still be missing from the pages
 * before the bracket: there the test passes through begin_cpu_access alone
 * (with a no-op begin_cpu_access it fails).
 */
static void unsyncing_importer(struct __test_metadata *_metadata,
			       struct _test_data_expbuf *self,
			       const struct _fixture_variant_expbuf *variant)
{
	struct node *a = &self->a, *b = &self->b;
	struct v4l2_plane planes[NPLANES];
	long long b_syncs, a_begins;
	unsigned int f, i, p, stale = 0, checked = 0;
	int dev_a, dev_b, ret;
	struct v4l2_buffer buf;

	dev_a = rvcap_path_instance(self->path);
	dev_b = rvcap_path_instance(self->path_b);
	ASSERT_LE(0, dev_a);
	ASSERT_LE(0, dev_b);
	b_queues_a_exports(_metadata, self, variant);
	ASSERT_EQ(0, rvcap_set_knob_of(dev_b, SKIP_SYNC_KNOB, 1));
	b_syncs = rvcap_counter_of(dev_b, "sync_for_cpu");
	a_begins = rvcap_counter_of(dev_a, "export_begin_cpu_access");
	ASSERT_LE(0, b_syncs);
	ASSERT_LE(0, a_begins);
	ASSERT_EQ(0, stream(b, true));
	for (f = 0; f < FRAMES; f++) {
		dequeue(_metadata, b, V4L2_MEMORY_DMABUF, &buf, planes);
		i = buf.index;
		for (p = 0; p < a->nplanes; p++) {
			uint32_t n = bytesused(b, &buf, p);

			if (check_plane(b, p, a->emap[i][p], n, buf.sequence) != -1)
				stale++;
			checked++;
			ASSERT_EQ(0, dma_buf_sync(a->exp[i][p], DMA_BUF_SYNC_START |
						  DMA_BUF_SYNC_READ));
			ASSERT_PLANE_IS_FRAME(b, p, a->emap[i][p], n, buf.sequence,
					      "A's export read between DMA_BUF_IOCTL_SYNC");
			ASSERT_EQ(0, dma_buf_sync(a->exp[i][p], DMA_BUF_SYNC_END |
						  DMA_BUF_SYNC_READ));
		}
		ret = buf_ioctl(b, VIDIOC_QBUF, V4L2_MEMORY_DMABUF, i, a->exp[i], &buf, planes);
		ASSERT_EQ(0, ret) TH_LOG("QBUF on B of A's export %u: %s", i, strerror(-ret));
	}
	EXPECT_EQ(b_syncs, rvcap_counter_of(dev_b, "sync_for_cpu"))
		TH_LOG("B synced for the CPU: the knob did not hold");
	EXPECT_LE(a_begins + checked, rvcap_counter_of(dev_a, "export_begin_cpu_access"));
	TH_LOG("%u of %u planes were not in the pages before the bracket", stale, checked);
	if (swiotlb_forced())
		EXPECT_EQ(checked, stale)
			TH_LOG("swiotlb=force: the frame reached the pages before begin_cpu_access");
	ASSERT_EQ(0, stream(b, false));
	ASSERT_EQ(0, reqbufs(b, V4L2_MEMORY_DMABUF, 0, NULL));
	ASSERT_EQ(0, rvcap_set_knob_of(dev_b, SKIP_SYNC_KNOB, 0));
}

TEST_F(expbuf, an_unsyncing_importers_frames_reach_a_cpu_that_brackets)
{
	const char *why = need_b(self, true);

	if (why)
		SKIP(return, "%s", why);
	unsyncing_importer(_metadata, self, variant);
}

/*
 * Two exports X and Y of every plane (two EXPBUFs: two dma-bufs over the
 * same pages); node B imports every Y and keeps it mapped (QBUF, never
 * streaming), over garbage. The CPU writes a pattern through X's mmap
 * between DMA_BUF_IOCTL_SYNC START|WRITE and END|WRITE on X, then reads
 * through Y's mmap between START|READ and END|READ on Y: it must read the
 * pattern. A bracket concerns every importer of the pages, whichever
 * dma-buf it came through: otherwise X's END hands the pattern to no one
 * (X has no importer) and Y's START copies B's older view (the garbage,
 * in a bounce buffer under swiotlb) back over it.
 */
static void bracket_covers_every_export(struct __test_metadata *_metadata,
					struct _test_data_expbuf *self,
					const struct _fixture_variant_expbuf *variant)
{
	struct node *a = &self->a, *b = &self->b;
	int y[MAXBUFS][NPLANES];
	uint8_t *ymap[MAXBUFS][NPLANES] = { { NULL } };
	struct v4l2_plane planes[NPLANES];
	struct v4l2_buffer buf;
	unsigned int i, p;
	size_t j;
	int ret;

	memset(y, -1, sizeof(y));
	ASSERT_EQ(0, node_open(_metadata, b, self->path_b, variant->fourcc, variant->multi));
	ASSERT_EQ(a->nplanes, b->nplanes);
	alloc_mmap(_metadata, a);
	export_all(_metadata, a, O_RDWR | O_CLOEXEC, PROT_READ | PROT_WRITE);
	for (i = 0; i < a->nbufs; i++) {
		for (p = 0; p < a->nplanes; p++) {
			ASSERT_EQ(0, expbuf(a, a->type, i, p, O_RDWR | O_CLOEXEC, &y[i][p]));
			ymap[i][p] = mmap(NULL, a->len[i][p], PROT_READ, MAP_SHARED, y[i][p], 0);
			ASSERT_NE(MAP_FAILED, ymap[i][p]);
			fill_garbage(a->vmap[i][p], a->len[i][p]);
		}
	}
	ret = reqbufs(b, V4L2_MEMORY_DMABUF, a->nbufs, NULL);
	ASSERT_EQ((int)a->nbufs, ret) TH_LOG("REQBUFS(DMABUF) on B: %s", strerror(-ret));
	b->nbufs = a->nbufs;
	for (i = 0; i < a->nbufs; i++) {
		for (p = 0; p < a->nplanes; p++)
			b->len[i][p] = a->len[i][p];
		ret = buf_ioctl(b, VIDIOC_QBUF, V4L2_MEMORY_DMABUF, i, y[i], &buf, planes);
		ASSERT_EQ(0, ret) TH_LOG("QBUF on B of export Y %u: %s", i, strerror(-ret));
	}
	for (i = 0; i < a->nbufs; i++) {
		for (p = 0; p < a->nplanes; p++) {
			size_t len = a->len[i][p];

			ASSERT_EQ(0, dma_buf_sync(a->exp[i][p], DMA_BUF_SYNC_START |
						  DMA_BUF_SYNC_WRITE));
			for (j = 0; j < len; j++)
				a->emap[i][p][j] = (uint8_t)(j * 7 + i * 13 + p * 5 + 1);
			ASSERT_EQ(0, dma_buf_sync(a->exp[i][p], DMA_BUF_SYNC_END |
						  DMA_BUF_SYNC_WRITE));
			ASSERT_EQ(0, dma_buf_sync(y[i][p], DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ));
			for (j = 0; j < len; j++)
				if (ymap[i][p][j] != (uint8_t)(j * 7 + i * 13 + p * 5 + 1))
					break;
			EXPECT_EQ(len, j) TH_LOG("buffer %u plane %u: byte %zu of %zu lost", i, p,
						 j, len);
			ASSERT_EQ(0, dma_buf_sync(y[i][p], DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ));
		}
	}
	ASSERT_EQ(0, reqbufs(b, V4L2_MEMORY_DMABUF, 0, NULL));
	for (i = 0; i < a->nbufs; i++) {
		for (p = 0; p < a->nplanes; p++) {
			munmap(ymap[i][p], a->len[i][p]);
			close(y[i][p]);
		}
	}
}

TEST_F(expbuf, a_bracket_on_one_export_covers_the_importers_of_another)
{
	const char *why = need_b(self, false);

	if (why)
		SKIP(return, "%s", why);
	bracket_covers_every_export(_metadata, self, variant);
}

/* ---- Three nodes: one exports, two import the same dma-bufs */

/*
 * A third rvcap node other than @a and @b, of any buffer type:
 * $RVCAP_EXPBUF_DEVICE_C, else the first by device number; NULL if none.
 */
static const char *third_device(const char *a, const char *b)
{
	static char path[32];
	const char *env = getenv("RVCAP_EXPBUF_DEVICE_C");
	struct v4l2_capability cap;
	dev_t rdev_a, rdev_b, rdev;
	int i;

	if (env && *env)
		return env;
	if (query_node(a, &cap, &rdev_a) || query_node(b, &cap, &rdev_b))
		return NULL;
	for (i = 0; i < 64; i++) {
		snprintf(path, sizeof(path), "/dev/video%d", i);
		if (query_node(path, &cap, &rdev) || rdev == rdev_a || rdev == rdev_b)
			continue;
		if (!strcmp((const char *)cap.driver, "rvcap"))
			return path;
	}
	return NULL;
}

FIXTURE(expbuf3) {
	struct node a, b, c;
	const char *path_a, *path_b, *path_c;
};

FIXTURE_SETUP(expbuf3)
{
	int ret;

	node_init(&self->a);
	node_init(&self->b);
	node_init(&self->c);
	self->path_a = expbuf_device(false);
	ret = node_open(_metadata, &self->a, self->path_a, V4L2_PIX_FMT_YUYV, false);
	ASSERT_EQ(0, ret) TH_LOG("setting up %s: %s", self->path_a, strerror(-ret));
	if (!self->a.rvcap)
		SKIP(return, NOT_RVCAP);
	self->path_b = second_device(self->path_a, "rvcap", self->a.type);
	self->path_c = self->path_b ? third_device(self->path_a, self->path_b) : NULL;
	if (!self->path_c)
		SKIP(return, "three rvcap nodes are needed (num_devices=3 or more)");
	ASSERT_EQ(0, node_open(_metadata, &self->b, self->path_b, V4L2_PIX_FMT_YUYV, false));
	ASSERT_EQ(0, node_open(_metadata, &self->c, self->path_c, V4L2_PIX_FMT_YUYV, false));
}

FIXTURE_TEARDOWN(expbuf3)
{
	if (self->path_b && rvcap_path_instance(self->path_b) >= 0)
		rvcap_set_knob_of(rvcap_path_instance(self->path_b), SKIP_SYNC_KNOB, 0);
	node_release(&self->c, self->path_c);
	node_release(&self->b, self->path_b);
	node_release(&self->a, self->path_a);
}

/*
 * A's buffers, holding garbage, exported (O_RDWR, mapped PROT_READ); B
 * queues every export first (so its tables come first in each export),
 * then C (QBUF maps them for each device; neither streaming).
 */
static void bc_queue_a_exports(struct __test_metadata *_metadata, struct _test_data_expbuf3 *self)
{
	struct node *a = &self->a, *b = &self->b, *c = &self->c;
	struct v4l2_plane planes[NPLANES];
	struct v4l2_buffer buf;
	unsigned int i;
	int ret;

	alloc_mmap(_metadata, a);
	export_all(_metadata, a, O_RDWR | O_CLOEXEC, PROT_READ);
	for (i = 0; i < a->nbufs; i++) {
		fill_garbage(a->vmap[i][0], a->len[i][0]);
		b->len[i][0] = a->len[i][0];
		c->len[i][0] = a->len[i][0];
	}
	ASSERT_EQ((int)a->nbufs, reqbufs(b, V4L2_MEMORY_DMABUF, a->nbufs, NULL));
	ASSERT_EQ((int)a->nbufs, reqbufs(c, V4L2_MEMORY_DMABUF, a->nbufs, NULL));
	b->nbufs = a->nbufs;
	c->nbufs = a->nbufs;
	for (i = 0; i < a->nbufs; i++) {
		ret = buf_ioctl(b, VIDIOC_QBUF, V4L2_MEMORY_DMABUF, i, a->exp[i], &buf, planes);
		ASSERT_EQ(0, ret) TH_LOG("QBUF on B of A's export %u: %s", i, strerror(-ret));
	}
	for (i = 0; i < a->nbufs; i++) {
		ret = buf_ioctl(c, VIDIOC_QBUF, V4L2_MEMORY_DMABUF, i, a->exp[i], &buf, planes);
		ASSERT_EQ(0, ret) TH_LOG("QBUF on C of A's export %u: %s", i, strerror(-ret));
	}
}

/*
 * A exports its buffers; B imports them (first, so its table is the
 * export's first) and captures into them; C imports them too and keeps
 * them mapped (QBUF, never streaming), its view of them the garbage they
 * held. After each of B's DQBUFs (rvcap as an importer syncs its own table
 * for the CPU), the export read between DMA_BUF_IOCTL_SYNC START|READ and
 * END must be B's frame, every byte: what B's device wrote must reach C's
 * view too, or the START, which copies every importer's view back, would
 * end with C's older one over the frame (under swiotlb).
 */
TEST_F(expbuf3, one_importers_frames_are_not_undone_by_another_importers_view)
{
	struct node *a = &self->a, *b = &self->b, *c = &self->c;
	struct v4l2_plane planes[NPLANES];
	struct v4l2_buffer buf;
	unsigned int f, i;
	int ret;

	bc_queue_a_exports(_metadata, self);
	ASSERT_EQ(0, stream(b, true));
	for (f = 0; f < FRAMES; f++) {
		uint32_t n;

		dequeue(_metadata, b, V4L2_MEMORY_DMABUF, &buf, planes);
		i = buf.index;
		n = bytesused(b, &buf, 0);
		ASSERT_EQ(0, dma_buf_sync(a->exp[i][0], DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ));
		ASSERT_PLANE_IS_FRAME(b, 0, a->emap[i][0], n, buf.sequence,
				      "A's export, B's frame, C mapping it too");
		ASSERT_EQ(0, dma_buf_sync(a->exp[i][0], DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ));
		ret = buf_ioctl(b, VIDIOC_QBUF, V4L2_MEMORY_DMABUF, i, a->exp[i], &buf, planes);
		ASSERT_EQ(0, ret) TH_LOG("QBUF on B of A's export %u: %s", i, strerror(-ret));
	}
	ASSERT_EQ(0, stream(b, false));
	ASSERT_EQ(0, reqbufs(b, V4L2_MEMORY_DMABUF, 0, NULL));
	ASSERT_EQ(0, reqbufs(c, V4L2_MEMORY_DMABUF, 0, NULL));
}

/*
 * B never syncs for the CPU (inject_import_skips_cpu_sync, as videobuf2's
 * importers) and captures into A's exports; C imports them too and keeps
 * them mapped, then frees its buffers (REQBUFS(0): its unmap copies its
 * view, the older bytes, back) after B's DQBUF and before the CPU reads.
 * The export read between DMA_BUF_IOCTL_SYNC START|READ and END must be
 * B's frame: an unmap, whose device may have written nothing, must not
 * hand its bytes to the other views and so undo the frame that only B's
 * view holds (under swiotlb).
 */
TEST_F(expbuf3, another_importers_unmap_does_not_undo_an_unsyncing_importers_frame)
{
	struct node *a = &self->a, *b = &self->b, *c = &self->c;
	struct v4l2_plane planes[NPLANES];
	struct v4l2_buffer buf;
	long long b_syncs;
	int dev_b;
	uint32_t n;

	dev_b = rvcap_path_instance(self->path_b);
	ASSERT_LE(0, dev_b);
	bc_queue_a_exports(_metadata, self);
	ASSERT_EQ(0, rvcap_set_knob_of(dev_b, SKIP_SYNC_KNOB, 1));
	b_syncs = rvcap_counter_of(dev_b, "sync_for_cpu");
	ASSERT_LE(0, b_syncs);
	ASSERT_EQ(0, stream(b, true));
	dequeue(_metadata, b, V4L2_MEMORY_DMABUF, &buf, planes);
	n = bytesused(b, &buf, 0);
	EXPECT_EQ(b_syncs, rvcap_counter_of(dev_b, "sync_for_cpu"))
		TH_LOG("B synced for the CPU: the knob did not hold");
	if (swiotlb_forced())
		EXPECT_NE(-1, check_plane(b, 0, a->emap[buf.index][0], n, buf.sequence))
			TH_LOG("swiotlb=force: B's frame reached the pages without a sync");
	ASSERT_EQ(0, reqbufs(c, V4L2_MEMORY_DMABUF, 0, NULL));
	ASSERT_EQ(0, dma_buf_sync(a->exp[buf.index][0], DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ));
	ASSERT_PLANE_IS_FRAME(b, 0, a->emap[buf.index][0], n, buf.sequence,
			      "A's export, B's frame, after C unmapped");
	ASSERT_EQ(0, dma_buf_sync(a->exp[buf.index][0], DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ));
	ASSERT_EQ(0, stream(b, false));
	ASSERT_EQ(0, reqbufs(b, V4L2_MEMORY_DMABUF, 0, NULL));
	ASSERT_EQ(0, rvcap_set_knob_of(dev_b, SKIP_SYNC_KNOB, 0));
}

TEST_HARNESS_MAIN
