// SPDX-License-Identifier: GPL-2.0
/*
 * rvcap's implicit fences (issue 26), as userspace sees them through the
 * dma-buf uAPI (Linux 6.0 and later): poll() on a dma-buf fd,
 * DMA_BUF_IOCTL_EXPORT_SYNC_FILE and DMA_BUF_IOCTL_IMPORT_SYNC_FILE, and
 * software fences from sw_sync (CONFIG_SW_SYNC, debugfs sync/sw_sync).
 *
 * - While streaming, a buffer the device will write carries an unsignalled
 *   rvcap write fence in its dma-buf's reservation: the dma-buf polls
 *   not-ready and the sync_file EXPORT_SYNC_FILE gives is pending, until
 *   the frame is written; then both signal (status 1) and DQBUF returns the
 *   buffer, every byte the verification frame.
 * - A fence another party imported (read or write) before QBUF keeps the
 *   engine off that buffer: the other buffers stream on, the fenced one is
 *   neither written nor returned; once the fence signals its frame lands.
 * - STREAMOFF and close with a foreign fence that never signals return at
 *   once, rvcap's write fence then signalled with -ECANCELED, the foreign
 *   fence untouched.
 * - With the debugfs knob "fences" off, none of this: buffers poll ready
 *   and foreign fences hold nothing off.
 * - A dma-buf exported (VIDIOC_EXPBUF) of an MMAP buffer while it is queued
 *   carries the write fence of that queueing too.
 * - When the fence of an exported buffer signals, the frame is in every
 *   importer's view as well: another rvcap node that imported the export
 *   and keeps it mapped must not bring its older view back when a CPU
 *   brackets its reads with DMA_BUF_IOCTL_SYNC before the exporter's DQBUF
 *   (under swiotlb=force, its bounce slot).
 *
 * Variants: buffers imported from the system dma-heap and from udmabuf
 * (single-planar node, YUYV), and rvcap's own MMAP buffers exported with
 * VIDIOC_EXPBUF on the single-planar node (YUYV) and on the multi-planar
 * node (NV12M, two planes; the foreign fence goes into the last plane's
 * export). The node is the first rvcap node of its kind by QUERYCAP
 * ($RVCAP_DEV, $RVCAP_MPLANE_DEVICE to choose), with its debugfs directory
 * found from its sysfs name. The export tests (fixture fence_exports) run
 * on both kinds, YUYV and NV12M, the importer being the next rvcap node of
 * the same kind (rvcap-1 and rvcap-3 with num_devices=4
 * multiplanar=1,1,2,2). Expects rvcap loaded.
 */
#define _GNU_SOURCE
#include <time.h>
#include <linux/sync_file.h>

#include "kselftest_harness.h"
#include "rvcap_v4l2.h"
#include "rvcap_sw_sync.h"

#define CAPTURE V4L2_BUF_TYPE_VIDEO_CAPTURE
#define MPLANE V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE
#define WIDTH 320
#define HEIGHT 240
#define NBUFS 4
#define NPLANES 2
#define FRAME_MS 5000
/* DQBUFs of the other buffers while a fenced one is held off. */
#define HELD_FRAMES 8
#define KNOB "fences"

#define NO_SW_SYNC "no sw_sync (CONFIG_SW_SYNC and debugfs: " SW_SYNC_PATH ")"

enum source {
	SYSTEM_HEAP,
	UDMABUF,
	EXPBUF,
};

FIXTURE(fence) {
	char path[32];
	int fd;
	int dev;		/* N of rvcap.N, for debugfs */
	uint32_t type;
	uint32_t memory;
	unsigned int nplanes;
	uint32_t size[NPLANES];		/* each plane's sizeimage */
	/* Each plane's dma-buf (imported, or rvcap's export) and its mapping. */
	int dmabuf[NBUFS][NPLANES];
	uint8_t *cpu[NBUFS][NPLANES];
	size_t len[NBUFS][NPLANES];
	struct rvcap_dmabuf imported[NBUFS][NPLANES];
	/*
	 * Whether CPU accesses go between DMA_BUF_IOCTL_SYNC START and END:
	 * not for udmabuf, whose begin_cpu_access syncs a mapping of its own
	 * misc device for the CPU (Linux 6.12), which under swiotlb=force
	 * copies that mapping's bounce slot, older bytes, over the pages and
	 * so over the frame rvcap's device wrote (rvcap syncs its own mapping
	 * at DQBUF; rvcap_dmabuf_test reads udmabuf frames the same way).
	 */
	bool bracket;
	int timeline;		/* sw_sync timeline, or -1 */
	uint32_t timeline_value;	/* the last value a fence was made for */
};

FIXTURE_VARIANT(fence) {
	enum source source;
	uint32_t fourcc;
	bool mplane;
};

FIXTURE_VARIANT_ADD(fence, system_heap) {
	.source = SYSTEM_HEAP,
	.fourcc = V4L2_PIX_FMT_YUYV,
};

FIXTURE_VARIANT_ADD(fence, udmabuf) {
	.source = UDMABUF,
	.fourcc = V4L2_PIX_FMT_YUYV,
};

FIXTURE_VARIANT_ADD(fence, expbuf) {
	.source = EXPBUF,
	.fourcc = V4L2_PIX_FMT_YUYV,
};

FIXTURE_VARIANT_ADD(fence, expbuf_nv12m) {
	.source = EXPBUF,
	.fourcc = V4L2_PIX_FMT_NV12M,
	.mplane = true,
};

/* ---- sync_files and sw_sync */

/* The status of sync_file @fd into *@status (0 pending, 1, or -error). */
static int sync_file_status(int fd, int *status)
{
	struct sync_file_info info;
	int ret;

	memset(&info, 0, sizeof(info));
	ret = xioctl(fd, SYNC_IOC_FILE_INFO, &info);
	if (!ret)
		*status = info.status;
	return ret;
}

/* EXPORT_SYNC_FILE of dma-buf @dmabuf with @flags: the sync_file, or -errno. */
static int export_sync_file(int dmabuf, uint32_t flags)
{
	struct dma_buf_export_sync_file e = { .flags = flags, .fd = -1 };
	int ret = xioctl(dmabuf, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &e);

	return ret ? ret : e.fd;
}

/* IMPORT_SYNC_FILE of sync_file @sync into dma-buf @dmabuf; 0 or -errno. */
static int import_sync_file(int dmabuf, int sync, uint32_t flags)
{
	struct dma_buf_import_sync_file i = { .flags = flags, .fd = sync };

	return xioctl(dmabuf, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &i);
}

/* Whether @fd polls readable within @ms: 1, 0, or -errno. */
static int poll_in(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int ret = poll(&p, 1, ms);

	if (ret < 0)
		return -errno;
	return ret > 0 && (p.revents & POLLIN);
}

/* A sw_sync fence on the fixture's timeline, signalled by the next INC. */
static int foreign_fence(struct _test_data_fence *self)
{
	struct sw_sync_create_fence_data data = { .value = self->timeline_value + 1 };
	int ret;

	snprintf(data.name, sizeof(data.name), "rvcap-test-%u", data.value);
	ret = xioctl(self->timeline, SW_SYNC_IOC_CREATE_FENCE, &data);
	if (ret)
		return ret;
	self->timeline_value++;
	return data.fence;
}

/* Signals the foreign fences made so far. */
static int signal_foreign(struct _test_data_fence *self)
{
	__u32 inc = 1;

	return xioctl(self->timeline, SW_SYNC_IOC_INC, &inc);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- The node and its buffers */

static int stream(struct _test_data_fence *self, bool on)
{
	return rvcap_stream_type(self->fd, self->type, on);
}

/*
 * QBUF, DQBUF or QUERYBUF (@req) of buffer @index, with the planes' dma-bufs
 * for a DMABUF QBUF; planes in @planes.
 */
static int buf_ioctl(struct _test_data_fence *self, unsigned long req, uint32_t index,
		     struct v4l2_buffer *buf, struct v4l2_plane *planes)
{
	unsigned int p;

	memset(buf, 0, sizeof(*buf));
	memset(planes, 0, NPLANES * sizeof(*planes));
	buf->type = self->type;
	buf->memory = self->memory;
	buf->index = index;
	if (self->type == MPLANE) {
		buf->m.planes = planes;
		buf->length = req == VIDIOC_QBUF ? self->nplanes : NPLANES;
		if (req == VIDIOC_QBUF && self->memory == V4L2_MEMORY_DMABUF)
			for (p = 0; p < self->nplanes; p++)
				planes[p].m.fd = self->dmabuf[index][p];
	} else if (req == VIDIOC_QBUF && self->memory == V4L2_MEMORY_DMABUF) {
		buf->m.fd = self->dmabuf[index][0];
	}
	return xioctl(self->fd, req, buf);
}

static int qbuf(struct _test_data_fence *self, uint32_t index)
{
	struct v4l2_plane planes[NPLANES];
	struct v4l2_buffer buf;

	return buf_ioctl(self, VIDIOC_QBUF, index, &buf, planes);
}

/* QUERYBUF's flags of buffer @index. */
static uint32_t buf_flags(struct _test_data_fence *self, uint32_t index)
{
	struct v4l2_plane planes[NPLANES];
	struct v4l2_buffer buf;

	if (buf_ioctl(self, VIDIOC_QUERYBUF, index, &buf, planes))
		return 0;
	return buf.flags;
}

/* Waits for and dequeues the next buffer: its index and sequence. */
static void dequeue(struct __test_metadata *_metadata, struct _test_data_fence *self,
		    uint32_t *index, uint32_t *sequence)
{
	struct v4l2_plane planes[NPLANES];
	struct v4l2_buffer buf;

	ASSERT_EQ(1, rvcap_wait_frame(self->fd, FRAME_MS))
		TH_LOG("no frame within %d ms", FRAME_MS);
	ASSERT_EQ(0, buf_ioctl(self, VIDIOC_DQBUF, 0, &buf, planes));
	ASSERT_GT((uint32_t)NBUFS, buf.index);
	EXPECT_EQ(0U, buf.flags & V4L2_BUF_FLAG_ERROR) TH_LOG("buffer %u", buf.index);
	*index = buf.index;
	*sequence = buf.sequence;
}

/* Garbage no frame has, so that a frame written over it shows. */
static uint8_t garbage_byte(size_t j)
{
	return (uint8_t)(j * 13 + 0x5b);
}

/*
 * Fills every plane of buffer @i with garbage through the exporter's CPU
 * mapping, between DMA_BUF_IOCTL_SYNC START and END (self->bracket; the
 * buffer is the CPU's: not queued).
 */
static void fill_garbage(struct __test_metadata *_metadata, struct _test_data_fence *self,
			 unsigned int i)
{
	struct dma_buf_sync s;
	unsigned int p;
	size_t j;

	for (p = 0; p < self->nplanes; p++) {
		s.flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW;
		if (self->bracket)
			ASSERT_EQ(0, xioctl(self->dmabuf[i][p], DMA_BUF_IOCTL_SYNC, &s));
		for (j = 0; j < self->len[i][p]; j++)
			self->cpu[i][p][j] = garbage_byte(j);
		s.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW;
		if (self->bracket)
			ASSERT_EQ(0, xioctl(self->dmabuf[i][p], DMA_BUF_IOCTL_SYNC, &s));
	}
}

/*
 * The first byte of plane @p of buffer @i (its first @len bytes) that is
 * not the garbage, or -1. Read without DMA_BUF_IOCTL_SYNC: while rvcap's
 * write fence is pending a START would wait for it (dma-buf core), which is
 * the point of the fence; what the CPU wrote stays in its view unless a
 * device write reached it.
 */
static long first_non_garbage(const uint8_t *b, size_t len)
{
	size_t j;

	for (j = 0; j < len; j++)
		if (b[j] != garbage_byte(j))
			return (long)j;
	return -1;
}

/*
 * Every plane of buffer @i, read through the exporter's CPU mapping between
 * DMA_BUF_IOCTL_SYNC START and END (self->bracket), is the verification
 * frame @seq (the planes laid end to end).
 */
static void assert_frame(struct __test_metadata *_metadata, struct _test_data_fence *self,
			 unsigned int i, uint32_t seq, const char *what)
{
	struct dma_buf_sync s;
	size_t off = 0;
	unsigned int p;
	long bad;

	for (p = 0; p < self->nplanes; p++) {
		s.flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW;
		if (self->bracket)
			ASSERT_EQ(0, xioctl(self->dmabuf[i][p], DMA_BUF_IOCTL_SYNC, &s));
		bad = rvcap_check_plane(self->cpu[i][p], self->size[p], off, seq);
		s.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW;
		if (self->bracket)
			ASSERT_EQ(0, xioctl(self->dmabuf[i][p], DMA_BUF_IOCTL_SYNC, &s));
		ASSERT_EQ(-1, bad) {
			TH_LOG("%s: buffer %u plane %u, sequence %u: byte %ld is 0x%02x, want 0x%02x",
			       what, i, p, seq, bad, self->cpu[i][p][bad],
			       rvcap_verification_byte(off + bad, seq));
		}
		off += self->size[p];
	}
}

/*
 * Opens the node (if closed) and sets it up: @fourcc at 320x240, the
 * verification pattern, 60 fps, NBUFS buffers of the fixture's memory;
 * MMAP buffers exported (each plane, O_RDWR) and mapped through the
 * exports. With @fill, every buffer is filled with garbage (not where a
 * foreign fence is pending: DMA_BUF_IOCTL_SYNC would wait for it).
 */
static void node_setup(struct __test_metadata *_metadata, struct _test_data_fence *self,
		       uint32_t fourcc, bool fill)
{
	struct v4l2_streamparm parm = { .type = self->type };
	struct v4l2_format fmt;
	unsigned int i, p;
	int ret;

	if (self->fd < 0)
		self->fd = open(self->path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", self->path, strerror(errno));
	ASSERT_EQ(0, rvcap_fmt_ioctl(self->fd, VIDIOC_S_FMT, self->type, fourcc, WIDTH, HEIGHT,
				     &fmt));
	if (self->type == MPLANE) {
		ASSERT_EQ(fourcc, fmt.fmt.pix_mp.pixelformat);
		ASSERT_GE(NPLANES, fmt.fmt.pix_mp.num_planes);
		self->nplanes = fmt.fmt.pix_mp.num_planes;
		for (p = 0; p < self->nplanes; p++)
			self->size[p] = fmt.fmt.pix_mp.plane_fmt[p].sizeimage;
	} else {
		ASSERT_EQ(fourcc, fmt.fmt.pix.pixelformat);
		self->nplanes = 1;
		self->size[0] = fmt.fmt.pix.sizeimage;
	}
	ASSERT_EQ(0, rvcap_set_pattern(self->fd, 2));
	parm.parm.capture.timeperframe.numerator = 1;
	parm.parm.capture.timeperframe.denominator = 60;
	ASSERT_EQ(0, xioctl(self->fd, VIDIOC_S_PARM, &parm));
	ret = rvcap_reqbufs_type(self->fd, self->type, self->memory, NBUFS);
	ASSERT_EQ(NBUFS, ret) TH_LOG("REQBUFS: %s", strerror(-ret));
	for (i = 0; i < NBUFS; i++) {
		for (p = 0; p < self->nplanes && self->memory == V4L2_MEMORY_MMAP; p++) {
			struct v4l2_exportbuffer e = {
				.type = self->type,
				.index = i,
				.plane = p,
				.flags = O_RDWR | O_CLOEXEC,
			};
			struct v4l2_plane planes[NPLANES];
			struct v4l2_buffer buf;

			ASSERT_EQ(0, buf_ioctl(self, VIDIOC_QUERYBUF, i, &buf, planes));
			self->len[i][p] = self->type == MPLANE ? planes[p].length : buf.length;
			ret = xioctl(self->fd, VIDIOC_EXPBUF, &e);
			ASSERT_EQ(0, ret) TH_LOG("EXPBUF %u/%u: %s", i, p, strerror(-ret));
			self->dmabuf[i][p] = e.fd;
			self->cpu[i][p] = mmap(NULL, self->len[i][p], PROT_READ | PROT_WRITE,
					       MAP_SHARED, e.fd, 0);
			ASSERT_NE(MAP_FAILED, self->cpu[i][p]);
		}
		if (fill)
			fill_garbage(_metadata, self, i);
	}
}

/* Closes MMAP exports and their mappings (the imported dma-bufs stay). */
static void close_exports(struct _test_data_fence *self)
{
	unsigned int i, p;

	if (self->memory != V4L2_MEMORY_MMAP)
		return;
	for (i = 0; i < NBUFS; i++) {
		for (p = 0; p < NPLANES; p++) {
			if (self->cpu[i][p] && self->cpu[i][p] != MAP_FAILED)
				munmap(self->cpu[i][p], self->len[i][p]);
			if (self->dmabuf[i][p] >= 0)
				close(self->dmabuf[i][p]);
			self->cpu[i][p] = NULL;
			self->dmabuf[i][p] = -1;
		}
	}
}

/* Nothing open, mapped or imported yet. */
static void node_init(struct _test_data_fence *self)
{
	unsigned int i, p;

	self->fd = -1;
	self->dev = -1;
	self->timeline = -1;
	memset(self->dmabuf, -1, sizeof(self->dmabuf));
	for (i = 0; i < NBUFS; i++)
		for (p = 0; p < NPLANES; p++)
			rvcap_dmabuf_init(&self->imported[i][p]);
}

/*
 * Opens self->path, checks that it is rvcap's, finds its debugfs directory
 * and leaves it stopped, without buffers, its knobs the defaults.
 */
static void node_open(struct __test_metadata *_metadata, struct _test_data_fence *self)
{
	struct v4l2_capability cap;

	self->fd = open(self->path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", self->path, strerror(errno));
	memset(&cap, 0, sizeof(cap));
	ASSERT_EQ(0, xioctl(self->fd, VIDIOC_QUERYCAP, &cap));
	ASSERT_STREQ("rvcap", (const char *)cap.driver);
	self->dev = rvcap_fd_instance(self->fd);
	ASSERT_LE(0, self->dev);
	rvcap_reset_knobs_of(self->dev);
	/* On by default; a test that failed may have left it off. */
	rvcap_set_knob_of(self->dev, KNOB, 1);
	rvcap_stream_type(self->fd, self->type, false);
	rvcap_reqbufs_type(self->fd, self->type, V4L2_MEMORY_MMAP, 0);
}

/* Restores and closes the node, its exports, imports and timeline. */
static void node_release(struct _test_data_fence *self)
{
	unsigned int i, p;

	if (self->fd >= 0) {
		rvcap_restore_defaults_type(self->fd, self->type);
		close(self->fd);
		self->fd = -1;
	}
	if (self->dev >= 0)
		rvcap_set_knob_of(self->dev, KNOB, 1);
	/* Signals what is left of the foreign fences (with -ENOENT). */
	if (self->timeline >= 0)
		close(self->timeline);
	self->timeline = -1;
	close_exports(self);
	for (i = 0; i < NBUFS; i++)
		for (p = 0; p < NPLANES; p++)
			rvcap_unexport(&self->imported[i][p]);
}

FIXTURE_SETUP(fence)
{
	unsigned int i;
	int ret;

	node_init(self);
	if (variant->mplane) {
		if (rvcap_mplane_node(self->path, sizeof(self->path)))
			SKIP(return, RVCAP_NO_MPLANE_NODE);
	} else if (getenv("RVCAP_DEV") || rvcap_find_node(false, self->path, sizeof(self->path))) {
		snprintf(self->path, sizeof(self->path), "%s", rvcap_dev());
	}
	self->type = variant->mplane ? MPLANE : CAPTURE;
	self->memory = variant->source == EXPBUF ? V4L2_MEMORY_MMAP : V4L2_MEMORY_DMABUF;
	self->bracket = variant->source != UDMABUF;
	node_open(_metadata, self);
	self->timeline = open(SW_SYNC_PATH, O_RDWR | O_CLOEXEC);
	if (variant->source != EXPBUF) {
		struct v4l2_format fmt;

		ASSERT_EQ(0, rvcap_fmt_ioctl(self->fd, VIDIOC_S_FMT, self->type, variant->fourcc,
					     WIDTH, HEIGHT, &fmt));
		for (i = 0; i < NBUFS; i++) {
			size_t size = (fmt.fmt.pix.sizeimage + 4095) & ~4095UL;

			ret = rvcap_export(variant->source == UDMABUF ? RVCAP_UDMABUF :
					   RVCAP_DMA_HEAP, size, &self->imported[i][0]);
			if (ret == -ENOENT && variant->source == UDMABUF)
				SKIP(return, "no /dev/udmabuf (CONFIG_UDMABUF)");
			ASSERT_EQ(0, ret) TH_LOG("exporting buffer %u: %s", i, strerror(-ret));
			self->dmabuf[i][0] = self->imported[i][0].fd;
			self->cpu[i][0] = self->imported[i][0].cpu;
			self->len[i][0] = size;
		}
	}
	node_setup(_metadata, self, variant->fourcc, true);
}

FIXTURE_TEARDOWN(fence)
{
	node_release(self);
}

/* ---- The tests */

/*
 * The write fence of a buffer queued while streaming, behind the others
 * (so its frame is several frame periods away): every plane's dma-buf
 * polls not-ready and its EXPORT_SYNC_FILE (READ: the write fences) is
 * pending; then both signal, status 1, and DQBUF returns the buffer with
 * every byte the verification frame. If the frame was written before the
 * check (QUERYBUF says done: the guest was descheduled for a few periods),
 * or while it ran (a plane polled busy, then its sync_file was already
 * signalled: the engine signals the fence as the frame lands, a moment
 * before the buffer is marked done), the round proves nothing and is tried
 * again, up to three times. A plane that polls ready at once has no write
 * fence: that fails.
 */
TEST_F(fence, a_queued_buffers_dma_buf_is_busy_until_its_frame_is_written)
{
	const uint32_t last = NBUFS - 1;
	int sync[NPLANES], status;
	uint32_t index, seq;
	unsigned int i, p, round;
	bool seen_pending = false;
	long long published;

	published = rvcap_counter_of(self->dev, "fences_published");
	for (round = 0; round < 3 && !seen_pending; round++) {
		bool pending = true, raced = false, done;
		int ready[NPLANES];

		for (i = 0; i < last; i++)
			ASSERT_EQ(0, qbuf(self, i));
		ASSERT_EQ(0, stream(self, true));
		ASSERT_EQ(0, qbuf(self, last));
		for (p = 0; p < self->nplanes; p++) {
			ready[p] = poll_in(self->dmabuf[last][p], 0);
			sync[p] = export_sync_file(self->dmabuf[last][p], DMA_BUF_SYNC_READ);
			ASSERT_LE(0, sync[p]) TH_LOG("EXPORT_SYNC_FILE: %s", strerror(-sync[p]));
			ASSERT_EQ(0, sync_file_status(sync[p], &status));
			pending = pending && ready[p] == 0 && status == 0;
			raced = raced || (ready[p] == 0 && status == 1);
			TH_LOG("round %u, plane %u: dma-buf %s, sync_file status %d", round, p,
			       ready[p] ? "ready" : "busy", status);
		}
		done = buf_flags(self, last) & V4L2_BUF_FLAG_DONE;
		if (!pending && !done && !raced) {
			for (p = 0; p < self->nplanes; p++)
				close(sync[p]);
			ASSERT_TRUE(pending) {
				TH_LOG("buffer %u is queued, its frame not written, yet its dma-buf polls ready or its write fences are signalled: no rvcap write fence",
				       last);
			}
		}
		seen_pending = pending;
		if (!pending)
			TH_LOG("round %u: the frame was written before the check; again", round);
		/* Then the frame: the fences signal, the buffer comes back. */
		for (p = 0; p < self->nplanes; p++) {
			EXPECT_EQ(1, poll_in(sync[p], FRAME_MS)) TH_LOG("plane %u", p);
			ASSERT_EQ(0, sync_file_status(sync[p], &status));
			EXPECT_EQ(1, status) TH_LOG("plane %u: the write fence's status", p);
			EXPECT_EQ(1, poll_in(self->dmabuf[last][p], FRAME_MS)) TH_LOG("plane %u", p);
			close(sync[p]);
		}
		do {
			dequeue(_metadata, self, &index, &seq);
		} while (index != last);
		assert_frame(_metadata, self, last, seq, "the buffer whose fence signalled");
		ASSERT_EQ(0, stream(self, false));
		for (i = 0; i < NBUFS; i++)
			fill_garbage(_metadata, self, i);
	}
	ASSERT_TRUE(seen_pending) TH_LOG("no round checked before the frame was written");
	EXPECT_LT(published, rvcap_counter_of(self->dev, "fences_published"));
}

/*
 * A foreign fence (sw_sync, never signalled until the test says)
 * imported into the last plane of buffer 0 with @flags before its QBUF,
 * while streaming with the others queued. The others stream on
 * (HELD_FRAMES DQBUFs and requeues), buffer 0 is never returned, stays
 * queued, and every byte is still the garbage the CPU wrote; with a read
 * fence (which polls and exports do not see) its dma-bufs also show
 * rvcap's pending write fence. After the foreign fence signals, buffer 0's
 * frame lands and DQBUF returns it byte-exact; fences_waited grew.
 */
static void foreign_fence_holds_off(struct __test_metadata *_metadata,
				    struct _test_data_fence *self, uint32_t flags)
{
	const unsigned int last = self->nplanes - 1;
	long long waited, wait_ns;
	uint32_t index, seq;
	unsigned int f, i, p;
	int foreign, status, ret;
	long bad;

	if (self->timeline < 0)
		SKIP(return, NO_SW_SYNC);
	foreign = foreign_fence(self);
	ASSERT_LE(0, foreign) TH_LOG("SW_SYNC_IOC_CREATE_FENCE: %s", strerror(-foreign));
	ret = import_sync_file(self->dmabuf[0][last], foreign, flags);
	ASSERT_EQ(0, ret) TH_LOG("IMPORT_SYNC_FILE: %s", strerror(-ret));
	waited = rvcap_counter_of(self->dev, "fences_waited");
	wait_ns = rvcap_counter_of(self->dev, "fence_wait_ns_total");
	for (i = 1; i < NBUFS; i++)
		ASSERT_EQ(0, qbuf(self, i));
	ASSERT_EQ(0, stream(self, true));
	ASSERT_EQ(0, qbuf(self, 0));
	for (f = 0; f < HELD_FRAMES; f++) {
		dequeue(_metadata, self, &index, &seq);
		ASSERT_NE(0U, index) {
			TH_LOG("buffer 0 came back (sequence %u) while the foreign fence is unsignalled",
			       seq);
		}
		ASSERT_EQ(0, qbuf(self, index));
	}
	ASSERT_EQ(0, sync_file_status(foreign, &status));
	ASSERT_EQ(0, status) TH_LOG("the foreign fence signalled by itself");
	EXPECT_EQ((uint32_t)V4L2_BUF_FLAG_QUEUED,
		  buf_flags(self, 0) & (V4L2_BUF_FLAG_QUEUED | V4L2_BUF_FLAG_DONE));
	for (p = 0; p < self->nplanes; p++) {
		bad = first_non_garbage(self->cpu[0][p], self->len[0][p]);
		EXPECT_EQ(-1, bad) {
			TH_LOG("plane %u: byte %ld was written while the foreign fence is unsignalled",
			       p, bad);
		}
		if (!(flags & DMA_BUF_SYNC_WRITE))
			EXPECT_EQ(0, poll_in(self->dmabuf[0][p], 0))
				TH_LOG("plane %u: no pending write fence on a held-off buffer", p);
	}
	ASSERT_EQ(0, signal_foreign(self));
	for (f = 0; f < NBUFS + 2; f++) {
		dequeue(_metadata, self, &index, &seq);
		if (index == 0)
			break;
		ASSERT_EQ(0, qbuf(self, index));
	}
	ASSERT_EQ(0U, index) TH_LOG("buffer 0 not back %u frames after the fence signalled", f);
	assert_frame(_metadata, self, 0, seq, "the buffer that waited for a foreign fence");
	EXPECT_LT(waited, rvcap_counter_of(self->dev, "fences_waited"));
	EXPECT_LT(wait_ns, rvcap_counter_of(self->dev, "fence_wait_ns_total"));
	TH_LOG("fences_waited %lld, fence_wait_ns_total %lld, fence_wait_ns_max %lld",
	       rvcap_counter_of(self->dev, "fences_waited"),
	       rvcap_counter_of(self->dev, "fence_wait_ns_total"),
	       rvcap_counter_of(self->dev, "fence_wait_ns_max"));
	ASSERT_EQ(0, stream(self, false));
	close(foreign);
}

TEST_F(fence, an_imported_read_fence_keeps_the_engine_off_the_buffer_until_signalled)
{
	foreign_fence_holds_off(_metadata, self, DMA_BUF_SYNC_READ);
}

TEST_F(fence, an_imported_write_fence_keeps_the_engine_off_the_buffer_until_signalled)
{
	foreign_fence_holds_off(_metadata, self, DMA_BUF_SYNC_WRITE);
}

/*
 * Buffer 0 held off by a foreign read fence that never signals, the others
 * streaming; rvcap's write fence exported (a sync_file per plane) while it
 * is queued. Then @close_node closes the video fd, else STREAMOFF: it
 * returns within 2 s, the write fences end with -ECANCELED,
 * fences_signalled_error grew, the foreign fence is still unsignalled, and
 * the device streams again (the other buffers; after close, the node
 * reopened with new buffers).
 */
static void taken_back_while_held(struct __test_metadata *_metadata,
				  struct _test_data_fence *self,
				  const struct _fixture_variant_fence *variant, bool close_node)
{
	const unsigned int last = self->nplanes - 1;
	int foreign, sync[NPLANES], status, ret;
	long long errors;
	uint32_t index, seq;
	unsigned int f, i, p;
	double t0, took;

	if (self->timeline < 0)
		SKIP(return, NO_SW_SYNC);
	foreign = foreign_fence(self);
	ASSERT_LE(0, foreign) TH_LOG("SW_SYNC_IOC_CREATE_FENCE: %s", strerror(-foreign));
	ret = import_sync_file(self->dmabuf[0][last], foreign, DMA_BUF_SYNC_READ);
	ASSERT_EQ(0, ret) TH_LOG("IMPORT_SYNC_FILE: %s", strerror(-ret));
	for (i = 1; i < NBUFS; i++)
		ASSERT_EQ(0, qbuf(self, i));
	ASSERT_EQ(0, stream(self, true));
	ASSERT_EQ(0, qbuf(self, 0));
	for (p = 0; p < self->nplanes; p++) {
		sync[p] = export_sync_file(self->dmabuf[0][p], DMA_BUF_SYNC_READ);
		ASSERT_LE(0, sync[p]) TH_LOG("EXPORT_SYNC_FILE: %s", strerror(-sync[p]));
	}
	/* The engine is at work, and buffer 0 waits. */
	for (f = 0; f < 2; f++) {
		dequeue(_metadata, self, &index, &seq);
		ASSERT_NE(0U, index);
		ASSERT_EQ(0, qbuf(self, index));
	}
	for (p = 0; p < self->nplanes; p++) {
		ASSERT_EQ(0, sync_file_status(sync[p], &status));
		EXPECT_EQ(0, status) TH_LOG("plane %u: rvcap's write fence is not pending", p);
	}
	errors = rvcap_counter_of(self->dev, "fences_signalled_error");
	t0 = now_s();
	if (close_node) {
		ASSERT_EQ(0, close(self->fd));
		self->fd = -1;
	} else {
		ASSERT_EQ(0, stream(self, false));
	}
	took = now_s() - t0;
	EXPECT_GT(2.0, took) TH_LOG("%s took %.3f s", close_node ? "close" : "STREAMOFF", took);
	TH_LOG("%s took %.3f s", close_node ? "close" : "STREAMOFF", took);
	for (p = 0; p < self->nplanes; p++) {
		EXPECT_EQ(1, poll_in(sync[p], 1000)) TH_LOG("plane %u: fence still pending", p);
		ASSERT_EQ(0, sync_file_status(sync[p], &status));
		EXPECT_EQ(-ECANCELED, status) TH_LOG("plane %u: status %d", p, status);
		close(sync[p]);
	}
	EXPECT_LT(errors, rvcap_counter_of(self->dev, "fences_signalled_error"));
	ASSERT_EQ(0, sync_file_status(foreign, &status));
	EXPECT_EQ(0, status) TH_LOG("rvcap signalled the foreign fence");
	if (close_node) {
		close_exports(self);
		node_setup(_metadata, self, variant->fourcc, false);
	}
	/* Streams again, without buffer 0 (its foreign fence stays). */
	for (i = 1; i < NBUFS; i++)
		ASSERT_EQ(0, qbuf(self, i));
	ASSERT_EQ(0, stream(self, true));
	for (f = 0; f < 3; f++) {
		dequeue(_metadata, self, &index, &seq);
		assert_frame(_metadata, self, index, seq, "after the restart");
		ASSERT_EQ(0, qbuf(self, index));
	}
	ASSERT_EQ(0, stream(self, false));
	ASSERT_EQ(0, sync_file_status(foreign, &status));
	EXPECT_EQ(0, status) TH_LOG("the foreign fence signalled after the restart");
	close(foreign);
}

TEST_F(fence, streamoff_with_a_never_signalled_foreign_fence_is_prompt_and_cancels_rvcaps)
{
	taken_back_while_held(_metadata, self, variant, false);
}

TEST_F(fence, close_with_a_never_signalled_foreign_fence_is_prompt_and_cancels_rvcaps)
{
	taken_back_while_held(_metadata, self, variant, true);
}

/*
 * With the knob "fences" off (read at STREAMON): a buffer queued while
 * streaming polls ready at once and exports a signalled sync_file, no
 * fence is published, and a foreign read fence that never signals holds
 * nothing off: its buffer comes back, byte-exact. The knob goes back on.
 */
TEST_F(fence, with_the_knob_off_buffers_poll_ready_and_foreign_fences_hold_nothing_off)
{
	const unsigned int last = self->nplanes - 1;
	int foreign, sync, status, ret;
	long long published;
	uint32_t index, seq;
	unsigned int f, i, p;

	if (self->timeline < 0)
		SKIP(return, NO_SW_SYNC);
	ret = rvcap_set_knob_of(self->dev, KNOB, 0);
	ASSERT_EQ(0, ret) TH_LOG("debugfs knob %s: %s", KNOB, strerror(-ret));
	foreign = foreign_fence(self);
	ASSERT_LE(0, foreign);
	ASSERT_EQ(0, import_sync_file(self->dmabuf[0][last], foreign, DMA_BUF_SYNC_READ));
	published = rvcap_counter_of(self->dev, "fences_published");
	ASSERT_LE(0, published);
	for (i = 1; i < NBUFS; i++)
		ASSERT_EQ(0, qbuf(self, i));
	ASSERT_EQ(0, stream(self, true));
	ASSERT_EQ(0, qbuf(self, 0));
	for (p = 0; p < self->nplanes; p++) {
		EXPECT_EQ(1, poll_in(self->dmabuf[0][p], 0)) TH_LOG("plane %u polls busy", p);
		sync = export_sync_file(self->dmabuf[0][p], DMA_BUF_SYNC_READ);
		ASSERT_LE(0, sync);
		ASSERT_EQ(0, sync_file_status(sync, &status));
		EXPECT_EQ(1, status) TH_LOG("plane %u: a pending write fence", p);
		close(sync);
	}
	for (f = 0; f < NBUFS + 2; f++) {
		dequeue(_metadata, self, &index, &seq);
		if (index == 0)
			break;
		ASSERT_EQ(0, qbuf(self, index));
	}
	ASSERT_EQ(0U, index) TH_LOG("buffer 0 not back in %u frames: held off", f);
	ASSERT_EQ(0, sync_file_status(foreign, &status));
	EXPECT_EQ(0, status) TH_LOG("the foreign fence signalled: the test proves nothing");
	/* DMA_BUF_IOCTL_SYNC's START would wait for it. */
	ASSERT_EQ(0, signal_foreign(self));
	assert_frame(_metadata, self, 0, seq, "fences off, with a foreign fence");
	EXPECT_EQ(published, rvcap_counter_of(self->dev, "fences_published"));
	ASSERT_EQ(0, stream(self, false));
	ASSERT_EQ(0, rvcap_set_knob_of(self->dev, KNOB, 1));
	close(foreign);
}

/* ---- Exports of rvcap's MMAP buffers, and a second node importing them */

#define NO_SECOND_NODE \
	"no second rvcap node of this buffer type (load rvcap with num_devices=4 multiplanar=1,1,2,2)"

/*
 * Node A with MMAP buffers, every plane exported and mapped through its
 * export (the fence fixture's EXPBUF set-up), and node B: another rvcap
 * node of A's buffer type that may import A's exports.
 */
FIXTURE(fence_exports) {
	struct _test_data_fence a;
	struct _test_data_fence b;
};

FIXTURE_VARIANT(fence_exports) {
	uint32_t fourcc;
	bool mplane;
};

FIXTURE_VARIANT_ADD(fence_exports, yuyv) {
	.fourcc = V4L2_PIX_FMT_YUYV,
};

FIXTURE_VARIANT_ADD(fence_exports, nv12m) {
	.fourcc = V4L2_PIX_FMT_NV12M,
	.mplane = true,
};

/*
 * The first rvcap node (by /dev/videoN) of the buffer type @mplane says
 * whose device is not rvcap.@not_dev, into @path; 0 or -ENOENT.
 */
static int other_node(int not_dev, bool mplane, char *path, size_t len)
{
	struct v4l2_capability cap;
	int i, fd, ret, dev;

	for (i = 0; i < 64; i++) {
		snprintf(path, len, "/dev/video%d", i);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		memset(&cap, 0, sizeof(cap));
		ret = xioctl(fd, VIDIOC_QUERYCAP, &cap);
		dev = rvcap_fd_instance(fd);
		close(fd);
		if (!ret && dev >= 0 && dev != not_dev && rvcap_node_is(&cap, &mplane))
			return 0;
	}
	path[0] = '\0';
	return -ENOENT;
}

FIXTURE_SETUP(fence_exports)
{
	struct _test_data_fence *a = &self->a, *b = &self->b;

	node_init(a);
	node_init(b);
	b->path[0] = '\0';
	if (variant->mplane) {
		if (rvcap_mplane_node(a->path, sizeof(a->path)))
			SKIP(return, RVCAP_NO_MPLANE_NODE);
	} else if (getenv("RVCAP_DEV") || rvcap_find_node(false, a->path, sizeof(a->path))) {
		snprintf(a->path, sizeof(a->path), "%s", rvcap_dev());
	}
	a->type = variant->mplane ? MPLANE : CAPTURE;
	a->memory = V4L2_MEMORY_MMAP;
	a->bracket = true;
	node_open(_metadata, a);
	node_setup(_metadata, a, variant->fourcc, true);
	other_node(a->dev, variant->mplane, b->path, sizeof(b->path));
	b->type = a->type;
	b->memory = V4L2_MEMORY_DMABUF;
	b->bracket = true;
}

FIXTURE_TEARDOWN(fence_exports)
{
	/* B first: its buffers are A's exports. */
	node_release(&self->b);
	node_release(&self->a);
}

/*
 * Node B imports every plane of A's buffers (A's exports, not closed with
 * B: b->memory is DMABUF) as DMABUF buffers and captures one frame into
 * each, colour bars (not the verification pattern, so that none can pass
 * for A's frame); then keeps them all dequeued while it streams on. So B
 * keeps its mapping of every export (rvcap maps an import once, at its
 * first QBUF, until REQBUFS(0)), and under swiotlb=force each mapping's
 * bounce slot holds B's old frame.
 */
static void b_captures_into_a_exports_and_keeps_them(struct __test_metadata *_metadata,
						      struct _test_data_fence_exports *self,
						      const struct _fixture_variant_fence_exports *variant)
{
	struct _test_data_fence *a = &self->a, *b = &self->b;
	uint32_t index, seq;
	unsigned int i, p, got = 0;

	memcpy(b->dmabuf, a->dmabuf, sizeof(b->dmabuf));
	memcpy(b->cpu, a->cpu, sizeof(b->cpu));
	memcpy(b->len, a->len, sizeof(b->len));
	node_open(_metadata, b);
	node_setup(_metadata, b, variant->fourcc, false);
	ASSERT_EQ(a->nplanes, b->nplanes);
	for (p = 0; p < a->nplanes; p++)
		ASSERT_EQ(a->size[p], b->size[p]) TH_LOG("plane %u", p);
	ASSERT_EQ(0, rvcap_set_pattern(b->fd, 0));
	for (i = 0; i < NBUFS; i++)
		ASSERT_EQ(0, qbuf(b, i)) TH_LOG("QBUF on B of A's export %u", i);
	ASSERT_EQ(0, stream(b, true));
	for (i = 0; i < NBUFS; i++) {
		dequeue(_metadata, b, &index, &seq);
		got |= 1u << index;
	}
	ASSERT_EQ((1u << NBUFS) - 1, got);
}

/*
 * B holds a mapping of each of A's exports, its view of them B's old frame
 * (b_captures_into_a_exports_and_keeps_them()). Then A captures into each
 * of its buffers in turn, one queued at a time. As soon as the buffer's
 * export polls ready (rvcap's write fence signalled) and before A's DQBUF,
 * the export read between DMA_BUF_IOCTL_SYNC START|READ and END must be
 * A's frame, every byte: the START syncs every importer's view for the
 * CPU, B's too, so rvcap must put the frame into B's view before the fence
 * signals, or (under swiotlb=force) B's old frame is copied back over it.
 * A's sequence is known at DQBUF: the bytes read are kept and checked
 * against the verification frame then.
 */
TEST_F(fence_exports,
	an_exported_buffers_frame_reaches_its_importers_views_before_the_fence_signals)
{
	struct _test_data_fence *a = &self->a, *b = &self->b;
	struct dma_buf_sync s;
	uint8_t *seen[NPLANES] = { NULL };
	uint32_t index, seq;
	unsigned int i, p;
	size_t off;
	long bad;

	if (!b->path[0])
		SKIP(return, NO_SECOND_NODE);
	b_captures_into_a_exports_and_keeps_them(_metadata, self, variant);
	for (p = 0; p < a->nplanes; p++) {
		seen[p] = malloc(a->size[p]);
		ASSERT_NE(NULL, seen[p]);
	}
	for (i = 0; i < NBUFS; i++) {
		ASSERT_EQ(0, qbuf(a, i));
		if (i == 0)
			ASSERT_EQ(0, stream(a, true));
		for (p = 0; p < a->nplanes; p++) {
			ASSERT_EQ(1, poll_in(a->dmabuf[i][p], FRAME_MS)) {
				TH_LOG("buffer %u plane %u: the export not ready within %d ms", i,
				       p, FRAME_MS);
			}
			s.flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ;
			ASSERT_EQ(0, xioctl(a->dmabuf[i][p], DMA_BUF_IOCTL_SYNC, &s));
			memcpy(seen[p], a->cpu[i][p], a->size[p]);
			s.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ;
			ASSERT_EQ(0, xioctl(a->dmabuf[i][p], DMA_BUF_IOCTL_SYNC, &s));
		}
		dequeue(_metadata, a, &index, &seq);
		ASSERT_EQ(i, index);
		for (off = 0, p = 0; p < a->nplanes; off += a->size[p], p++) {
			bad = rvcap_check_plane(seen[p], a->size[p], off, seq);
			ASSERT_EQ(-1, bad) {
				TH_LOG("buffer %u plane %u, read when its fence signalled, sequence %u: byte %ld is 0x%02x, want 0x%02x",
				       i, p, seq, bad, seen[p][bad],
				       rvcap_verification_byte(off + bad, seq));
			}
		}
	}
	ASSERT_EQ(0, stream(a, false));
	ASSERT_EQ(0, stream(b, false));
	ASSERT_EQ(0, rvcap_reqbufs_type(b->fd, b->type, V4L2_MEMORY_DMABUF, 0));
	for (p = 0; p < a->nplanes; p++)
		free(seen[p]);
}

/*
 * EXPBUF of every plane of A's buffer @index (O_RDWR): the new dma-bufs
 * into @fd, mapped into @map (each plane's length).
 */
static void export_again(struct __test_metadata *_metadata, struct _test_data_fence *a,
			 uint32_t index, int *fd, uint8_t **map)
{
	unsigned int p;
	int ret;

	for (p = 0; p < a->nplanes; p++) {
		struct v4l2_exportbuffer e = {
			.type = a->type,
			.index = index,
			.plane = p,
			.flags = O_RDWR | O_CLOEXEC,
		};

		ret = xioctl(a->fd, VIDIOC_EXPBUF, &e);
		ASSERT_EQ(0, ret) TH_LOG("EXPBUF %u/%u: %s", index, p, strerror(-ret));
		fd[p] = e.fd;
		map[p] = mmap(NULL, a->len[index][p], PROT_READ, MAP_SHARED, e.fd, 0);
		ASSERT_NE(MAP_FAILED, map[p]);
	}
}

/*
 * A buffer queued while streaming, behind the others at 15 frames a second
 * (its frame some 200 ms away), exported only now: every plane's new
 * dma-buf must carry rvcap's write fence of that queueing, polling
 * not-ready with its EXPORT_SYNC_FILE (READ: the write fences) pending,
 * until the frame is written; then both signal, status 1, and DQBUF
 * returns the buffer, the new export's every byte the verification frame.
 * A round whose frame came before the check (QUERYBUF says done: the
 * guest was descheduled) proves nothing and is tried again, up to three
 * times.
 */
TEST_F(fence_exports, a_buffer_exported_while_queued_carries_the_write_fence)
{
	struct _test_data_fence *a = &self->a;
	struct v4l2_streamparm parm = { .type = a->type };
	const uint32_t last = NBUFS - 1;
	bool seen_pending = false;
	unsigned int i, p, round;
	uint32_t index, seq;

	parm.parm.capture.timeperframe.numerator = 1;
	parm.parm.capture.timeperframe.denominator = 15;
	ASSERT_EQ(0, xioctl(a->fd, VIDIOC_S_PARM, &parm));
	ASSERT_EQ(15U, parm.parm.capture.timeperframe.denominator);
	for (round = 0; round < 3 && !seen_pending; round++) {
		int fd[NPLANES], sync[NPLANES], ready[NPLANES], status[NPLANES];
		uint8_t *map[NPLANES];
		struct dma_buf_sync s;
		bool pending = true;
		size_t off;
		long bad;

		for (i = 0; i < last; i++)
			ASSERT_EQ(0, qbuf(a, i));
		ASSERT_EQ(0, stream(a, true));
		ASSERT_EQ(0, qbuf(a, last));
		export_again(_metadata, a, last, fd, map);
		for (p = 0; p < a->nplanes; p++) {
			ready[p] = poll_in(fd[p], 0);
			sync[p] = export_sync_file(fd[p], DMA_BUF_SYNC_READ);
			ASSERT_LE(0, sync[p]) TH_LOG("EXPORT_SYNC_FILE: %s", strerror(-sync[p]));
			ASSERT_EQ(0, sync_file_status(sync[p], &status[p]));
			pending = pending && ready[p] == 0 && status[p] == 0;
			TH_LOG("round %u, plane %u: the new export %s, its sync_file status %d",
			       round, p, ready[p] ? "ready" : "busy", status[p]);
		}
		/*
		 * A fence signals just before its buffer is done: a moment for
		 * QUERYBUF to tell a frame that came early from no fence.
		 */
		if (!pending) {
			usleep(20000);
			ASSERT_NE(0U, buf_flags(a, last) & V4L2_BUF_FLAG_DONE) {
				TH_LOG("buffer %u is queued, its frame not written, yet the dma-buf exported of it now polls ready or its write fences are signalled: no rvcap write fence",
				       last);
			}
			TH_LOG("round %u: the frame was written before the check; again", round);
		}
		seen_pending = pending;
		/* Then the frame: the fences signal, the buffer comes back. */
		for (p = 0; p < a->nplanes; p++) {
			EXPECT_EQ(1, poll_in(sync[p], FRAME_MS)) TH_LOG("plane %u", p);
			ASSERT_EQ(0, sync_file_status(sync[p], &status[p]));
			EXPECT_EQ(1, status[p]) TH_LOG("plane %u: the write fence's status", p);
			EXPECT_EQ(1, poll_in(fd[p], FRAME_MS)) TH_LOG("plane %u", p);
			close(sync[p]);
		}
		do {
			dequeue(_metadata, a, &index, &seq);
		} while (index != last);
		for (off = 0, p = 0; p < a->nplanes; off += a->size[p], p++) {
			s.flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ;
			ASSERT_EQ(0, xioctl(fd[p], DMA_BUF_IOCTL_SYNC, &s));
			bad = rvcap_check_plane(map[p], a->size[p], off, seq);
			s.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ;
			ASSERT_EQ(0, xioctl(fd[p], DMA_BUF_IOCTL_SYNC, &s));
			ASSERT_EQ(-1, bad) {
				TH_LOG("the new export of buffer %u plane %u, sequence %u: byte %ld is 0x%02x, want 0x%02x",
				       last, p, seq, bad, map[p][bad],
				       rvcap_verification_byte(off + bad, seq));
			}
			munmap(map[p], a->len[last][p]);
			close(fd[p]);
		}
		ASSERT_EQ(0, stream(a, false));
	}
	ASSERT_TRUE(seen_pending) TH_LOG("no round checked before the frame was written");
}

TEST_HARNESS_MAIN
