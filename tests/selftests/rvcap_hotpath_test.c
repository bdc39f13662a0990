// SPDX-License-Identifier: GPL-2.0
/*
 * rvcap's requeue path and its benchmark modes:
 * - QBUF and DQBUF of a buffer that is already set up allocate nothing, in
 *   the ioctls or in the engine thread: every kernel allocation event of
 *   both tasks is counted with trace events (rvcap_trace.h), for MMAP,
 *   udmabuf and system dma-heap buffers;
 * - map_per_qbuf=1 maps each import at QBUF and unmaps it at DQBUF (and
 *   then the same tracing does see allocations: the counting works);
 * - full_sync=1 syncs whole buffers for the CPU instead of the frame;
 * - unpaced=1 fills buffers as they come instead of dropping frame periods;
 * - at the queue's limits, requeues allocate nothing either: 64 MMAP
 *   buffers (the maximum), a V4L2_MEMORY_FLAG_NON_COHERENT queue whose
 *   QBUFs carry both cache hints (the hint-skip counters show the hinted
 *   path ran), and three-plane YUV420M buffers of MMAP, system dma-heap
 *   and udmabuf memory on a multi-planar node. There the V4L2 core itself
 *   allocates: video_usercopy() copies each QBUF's and DQBUF's planes
 *   array through kvmalloc(). Those events are told apart by their stack
 *   trace, counted (one per ioctl) and allowed; any other is rvcap's.
 *   So are those of the dma-resv core under QBUF's publishing of a write
 *   fence in an import's reservation object, on a debug kernel only:
 *   with CONFIG_DEBUG_MUTEXES (lockdep's kernels; the test takes
 *   /proc/lockdep for it) every dma_resv_unlock() shrinks the fence list
 *   to catch missing reservations, so the next dma_resv_reserve_fences()
 *   allocates a new one; elsewhere it allocates nothing once the list has
 *   room (`make bench` counts allocations on the bench kernel).
 *
 * Frames are 320x240 YUYV in buffers of twice their size, so that frame
 * and buffer syncs differ and each exporter segment stays within what a
 * swiotlb=force boot can bounce (320x240 YUV420M planes are smaller).
 * Sets the device's debugfs knobs and puts them back to 0.
 * Expects rvcap loaded, with device rvcap.0 at $RVCAP_DEV. The multi-planar
 * node is $RVCAP_MPLANE_DEVICE, else the first /dev/videoN whose QUERYCAP
 * says driver "rvcap" with V4L2_CAP_VIDEO_CAPTURE_MPLANE; with none (rvcap
 * loaded without multiplanar=2) its tests are skipped. The guest plan runs
 *
 *   modprobe rvcap num_devices=2 multiplanar=1,2
 *   RVCAP_MPLANE_DEVICE=/dev/videoN ./rvcap_hotpath_test
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"
#include "rvcap_v4l2.h"
#include "rvcap_trace.h"

#define NBUFS 4
#define REQUEUES 200
/* rvcap's queue holds at most this many buffers. */
#define QUEUE_MAX 64
#define MPLANE V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE
#define NPLANES 3	/* YUV420M's */
#define PAGE 4096UL
#define HINTS (V4L2_BUF_FLAG_NO_CACHE_CLEAN | V4L2_BUF_FLAG_NO_CACHE_INVALIDATE)

/*
 * Starts counting the allocations of this task and of rvcap.@dev's engine
 * thread (rvcap_alloc_trace_start()); rvcap_alloc_trace_stop() ends it.
 */
static void trace_begin(struct __test_metadata *_metadata, int dev)
{
	char comm[16];
	pid_t pids[2];

	snprintf(comm, sizeof(comm), "rvcap%d-engine", dev);
	pids[0] = getpid();
	pids[1] = rvcap_find_task(comm);
	EXPECT_LT(0, pids[1]) TH_LOG("no %s thread while streaming", comm);
	EXPECT_EQ(0, rvcap_alloc_trace_start(pids, 2)) TH_LOG("cannot set up trace events");
}

FIXTURE(requeue) {
	int fd;
	struct v4l2_format fmt;
	size_t size;	/* of each buffer: two frames */
	struct rvcap_dmabuf bufs[NBUFS];
	uint8_t *mmap[NBUFS];
};

FIXTURE_VARIANT(requeue) {
	uint32_t memory;
	enum rvcap_exporter exporter;
};

FIXTURE_VARIANT_ADD(requeue, mmap) {
	.memory = V4L2_MEMORY_MMAP,
};

FIXTURE_VARIANT_ADD(requeue, udmabuf) {
	.memory = V4L2_MEMORY_DMABUF,
	.exporter = RVCAP_UDMABUF,
};

FIXTURE_VARIANT_ADD(requeue, system_heap) {
	.memory = V4L2_MEMORY_DMABUF,
	.exporter = RVCAP_DMA_HEAP,
};

FIXTURE_SETUP(requeue)
{
	struct v4l2_create_buffers create = {
		.count = NBUFS,
		.memory = variant->memory,
	};
	int i;

	rvcap_reset_knobs();
	ASSERT_EQ(0, rvcap_set_knob("unpaced", 1));
	/* Its counters and knobs are rvcap.0's (with two devices too). */
	ASSERT_EQ(0, rvcap_path_instance(rvcap_dev())) TH_LOG("%s is not rvcap.0", rvcap_dev());
	self->fd = open(rvcap_dev(), O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, rvcap_set_format(self->fd, V4L2_PIX_FMT_YUYV, 320, 240, &self->fmt));
	ASSERT_EQ(0, rvcap_set_pattern(self->fd, 2));
	self->size = 2 * ((self->fmt.fmt.pix.sizeimage + 4095) & ~4095UL);
	create.format = self->fmt;
	create.format.fmt.pix.sizeimage = self->size;
	ASSERT_EQ(0, xioctl(self->fd, VIDIOC_CREATE_BUFS, &create));
	ASSERT_EQ(NBUFS, (int)create.count);
	for (i = 0; i < NBUFS; i++) {
		if (variant->memory == V4L2_MEMORY_MMAP) {
			struct v4l2_buffer buf = {
				.index = i,
				.type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
				.memory = V4L2_MEMORY_MMAP,
			};

			ASSERT_EQ(0, xioctl(self->fd, VIDIOC_QUERYBUF, &buf));
			ASSERT_EQ(self->size, buf.length);
			self->mmap[i] = mmap(NULL, self->size, PROT_READ, MAP_SHARED,
					     self->fd, buf.m.offset);
			ASSERT_NE(MAP_FAILED, self->mmap[i]);
		} else {
			ASSERT_EQ(0, rvcap_export(variant->exporter, self->size, &self->bufs[i]));
		}
	}
}

FIXTURE_TEARDOWN(requeue)
{
	int i;

	for (i = 0; i < NBUFS; i++) {
		if (self->mmap[i] && self->mmap[i] != MAP_FAILED)
			munmap(self->mmap[i], self->size);
		if (variant->memory == V4L2_MEMORY_DMABUF)
			rvcap_unexport(&self->bufs[i]);
	}
	rvcap_restore_defaults(self->fd);
	close(self->fd);
	rvcap_reset_knobs();
}

/* Queues every buffer and starts streaming (reading the parameters). */
static void start(struct __test_metadata *_metadata, struct _test_data_requeue *self,
		  uint32_t memory)
{
	int i;

	for (i = 0; i < NBUFS; i++)
		ASSERT_EQ(0, rvcap_qbuf(self->fd, memory, i, self->bufs[i].fd));
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
}

/* @n times: a blocking DQBUF, every byte of the frame checked, QBUF again. */
static void requeue(struct __test_metadata *_metadata, struct _test_data_requeue *self,
		    uint32_t memory, int n)
{
	struct v4l2_buffer buf;
	const uint8_t *cpu;
	long bad;

	while (n--) {
		ASSERT_EQ(0, rvcap_dqbuf(self->fd, memory, &buf));
		ASSERT_LT(buf.index, (unsigned int)NBUFS);
		ASSERT_EQ(self->fmt.fmt.pix.sizeimage, buf.bytesused);
		cpu = memory == V4L2_MEMORY_MMAP ? self->mmap[buf.index] : self->bufs[buf.index].cpu;
		bad = rvcap_check_frame(cpu, buf.bytesused, buf.sequence);
		ASSERT_EQ(-1, bad) TH_LOG("sequence %u: byte %ld is wrong", buf.sequence, bad);
		ASSERT_EQ(0, rvcap_qbuf(self->fd, memory, buf.index, self->bufs[buf.index].fd));
	}
}

static int sort_trace(size_t bytes, long *core, long *inside, long *resv, long *other,
		      FILE *out, int max);

/*
 * Whether the kernel has CONFIG_DEBUG_MUTEXES, which makes the dma-resv
 * core allocate at each reservation (see the top): lockdep's kernels.
 */
static bool debug_mutexes(void)
{
	return access("/proc/lockdep", F_OK) == 0;
}

/*
 * Counts the allocations of this task and the engine during @n requeues;
 * @sorted: only rvcap's, told apart by their stack traces (all but the
 * dma-resv core's on a debug kernel).
 */
static long traced_requeues(struct __test_metadata *_metadata,
			    struct _test_data_requeue *self, uint32_t memory, int n, bool sorted)
{
	long total, core, inside, resv, other;

	EXPECT_EQ(0, rvcap_trace_mount());
	EXPECT_EQ(0, rvcap_trace_write("options/stacktrace", sorted ? "1" : "0"));
	trace_begin(_metadata, 0);
	requeue(_metadata, self, memory, n);
	total = rvcap_alloc_trace_stop();
	EXPECT_EQ(0, rvcap_trace_write("options/stacktrace", "0"));
	EXPECT_LE(0, total);
	if (!sorted)
		return total;
	EXPECT_EQ(0, sort_trace(0, &core, &inside, &resv, &other, stderr, 10));
	/* Nothing lost: each event is two entries, with its stack trace. */
	EXPECT_EQ(total, 2 * (core + inside + resv + other));
	if (resv)
		TH_LOG("%ld allocations by the dma-resv core's fence list in %d requeues%s",
		       resv, n, debug_mutexes() ? " (a debug kernel's)" : "");
	return other + inside + core + (debug_mutexes() ? 0 : resv);
}

TEST_F_TIMEOUT(requeue, qbuf_and_dqbuf_allocate_nothing, 120)
{
	long long maps;
	long allocs;

	start(_metadata, self, variant->memory);
	/* Warm-up: every buffer mapped for the device and faulted in. */
	requeue(_metadata, self, variant->memory, 2 * NBUFS);
	maps = rvcap_counter("map");
	allocs = traced_requeues(_metadata, self, variant->memory, REQUEUES, true);
	EXPECT_EQ(0, allocs) {
		TH_LOG("%ld allocations in %d requeues; the first:", allocs, REQUEUES);
		rvcap_alloc_trace_dump(stderr, 20);
	}
	EXPECT_EQ(0, rvcap_counter("map") - maps);
}

TEST_F_TIMEOUT(requeue, map_per_qbuf_maps_imports_at_every_qbuf, 120)
{
	long long maps, unmaps, to_cpu;
	long allocs;

	/*
	 * DQBUF's syncs are counted: with fences the engine makes them when a
	 * frame of an import ends (rvcap_fence_test), out of step with DQBUF.
	 */
	ASSERT_EQ(0, rvcap_set_knob("fences", 0));
	ASSERT_EQ(0, rvcap_set_knob("map_per_qbuf", 1));
	start(_metadata, self, variant->memory);
	requeue(_metadata, self, variant->memory, 2 * NBUFS);
	maps = rvcap_counter("map");
	unmaps = rvcap_counter("unmap");
	to_cpu = rvcap_counter("sync_for_cpu");
	allocs = traced_requeues(_metadata, self, variant->memory, REQUEUES, false);
	if (variant->memory == V4L2_MEMORY_MMAP) {
		/* Driver memory stays mapped whatever the policy. */
		EXPECT_EQ(0, rvcap_counter("map") - maps);
		EXPECT_EQ(0, allocs);
	} else {
		EXPECT_EQ(REQUEUES, rvcap_counter("map") - maps);
		EXPECT_EQ(REQUEUES, rvcap_counter("unmap") - unmaps);
		/* Mapping allocates (a scatter table, our handle): seen. */
		EXPECT_LT(0, allocs);
	}
	/* The syncs stay, whatever the exporter does at map and unmap. */
	EXPECT_EQ(REQUEUES, rvcap_counter("sync_for_cpu") - to_cpu);
}

TEST_F_TIMEOUT(requeue, full_sync_syncs_whole_buffers_for_the_cpu, 120)
{
	long long bytes;

	/* DQBUF's syncs, without fences (see map_per_qbuf_...). */
	ASSERT_EQ(0, rvcap_set_knob("fences", 0));
	start(_metadata, self, variant->memory);
	bytes = rvcap_counter("bytes_synced_for_cpu");
	requeue(_metadata, self, variant->memory, 20);
	EXPECT_EQ(20LL * self->fmt.fmt.pix.sizeimage,
		  rvcap_counter("bytes_synced_for_cpu") - bytes);

	ASSERT_EQ(0, rvcap_stream(self->fd, false));
	ASSERT_EQ(0, rvcap_set_knob("full_sync", 1));
	start(_metadata, self, variant->memory);
	bytes = rvcap_counter("bytes_synced_for_cpu");
	requeue(_metadata, self, variant->memory, 20);
	EXPECT_EQ(20LL * (long long)self->size, rvcap_counter("bytes_synced_for_cpu") - bytes);
}

/*
 * With nothing queued for a while, the paced engine drops frame periods;
 * the unpaced one waits, and numbers the next frame on.
 */
TEST(unpaced_engine_waits_for_buffers_instead_of_dropping)
{
	struct v4l2_buffer buf;
	struct v4l2_format fmt;
	long long drops;
	int fd, i, paced;

	for (paced = 0; paced <= 1; paced++) {
		rvcap_reset_knobs();
		ASSERT_EQ(0, rvcap_set_knob("unpaced", !paced));
		fd = open(rvcap_dev(), O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, fd);
		ASSERT_EQ(0, rvcap_set_format(fd, V4L2_PIX_FMT_YUYV, 320, 240, &fmt));
		ASSERT_EQ(2, rvcap_reqbufs(fd, V4L2_MEMORY_MMAP, 2));
		for (i = 0; i < 2; i++)
			ASSERT_EQ(0, rvcap_qbuf_mmap(fd, i));
		ASSERT_EQ(0, rvcap_stream(fd, true));
		for (i = 0; i < 2; i++) {
			ASSERT_EQ(0, rvcap_dqbuf(fd, V4L2_MEMORY_MMAP, &buf));
			ASSERT_EQ((uint32_t)i, buf.sequence);
		}
		drops = rvcap_counter("drops");
		usleep(500 * 1000);
		if (paced) {
			/* 30 frame periods passed with no buffer. */
			EXPECT_LT(0, rvcap_counter("drops") - drops);
		} else {
			EXPECT_EQ(0, rvcap_counter("drops") - drops);
			ASSERT_EQ(0, rvcap_qbuf_mmap(fd, 0));
			ASSERT_EQ(0, rvcap_dqbuf(fd, V4L2_MEMORY_MMAP, &buf));
			EXPECT_EQ(2U, buf.sequence);
		}
		rvcap_restore_defaults(fd);
		close(fd);
	}
	rvcap_reset_knobs();
}

/* ---- At the queue's limits: 64 buffers, cache hints */

FIXTURE(limits) {
	int fd;
	struct v4l2_format fmt;
	size_t size;	/* of each buffer: one frame, whole pages */
	uint8_t *mmap[QUEUE_MAX];
};

FIXTURE_VARIANT(limits) {
	unsigned int count;
	/*
	 * V4L2_MEMORY_FLAG_NON_COHERENT at CREATE_BUFS, and both cache hints
	 * at every QBUF: no sync for the device at QBUF, none for the CPU
	 * at DQBUF (so the frames are not read either).
	 */
	bool hinted;
};

FIXTURE_VARIANT_ADD(limits, mmap_64_buffers) {
	.count = QUEUE_MAX,
};

FIXTURE_VARIANT_ADD(limits, mmap_non_coherent_with_both_hints) {
	.count = NBUFS,
	.hinted = true,
};

FIXTURE_SETUP(limits)
{
	struct v4l2_create_buffers create = {
		.count = variant->count,
		.memory = V4L2_MEMORY_MMAP,
		.flags = variant->hinted ? V4L2_MEMORY_FLAG_NON_COHERENT : 0,
	};
	size_t length;
	unsigned int i;

	rvcap_reset_knobs();
	ASSERT_EQ(0, rvcap_set_knob("unpaced", 1));
	ASSERT_EQ(0, rvcap_path_instance(rvcap_dev())) TH_LOG("%s is not rvcap.0", rvcap_dev());
	self->fd = open(rvcap_dev(), O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, rvcap_set_format(self->fd, V4L2_PIX_FMT_YUYV, 320, 240, &self->fmt));
	ASSERT_EQ(0, rvcap_set_pattern(self->fd, 2));
	self->size = (self->fmt.fmt.pix.sizeimage + PAGE - 1) & ~(PAGE - 1);
	create.format = self->fmt;
	create.format.fmt.pix.sizeimage = self->size;
	ASSERT_EQ(0, xioctl(self->fd, VIDIOC_CREATE_BUFS, &create));
	ASSERT_EQ(0U, create.index);
	ASSERT_EQ(variant->count, create.count);
	EXPECT_EQ((uint32_t)QUEUE_MAX, create.max_num_buffers);
	ASSERT_EQ(create.flags & V4L2_MEMORY_FLAG_NON_COHERENT,
		  variant->hinted ? V4L2_MEMORY_FLAG_NON_COHERENT : 0U);
	for (i = 0; i < variant->count; i++) {
		self->mmap[i] = rvcap_mmap_buffer(self->fd, i, PROT_READ, &length);
		ASSERT_NE(MAP_FAILED, self->mmap[i]) TH_LOG("buffer %u", i);
		ASSERT_EQ(self->size, length);
	}
}

FIXTURE_TEARDOWN(limits)
{
	unsigned int i;

	for (i = 0; i < QUEUE_MAX; i++)
		if (self->mmap[i] && self->mmap[i] != MAP_FAILED)
			munmap(self->mmap[i], self->size);
	rvcap_restore_defaults(self->fd);
	close(self->fd);
	rvcap_reset_knobs();
}

static int qbuf_flags(int fd, uint32_t index, uint32_t flags)
{
	struct v4l2_buffer buf = {
		.index = index,
		.type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
		.memory = V4L2_MEMORY_MMAP,
		.flags = flags,
	};

	return xioctl(fd, VIDIOC_QBUF, &buf);
}

/*
 * @n times: a blocking DQBUF, every byte of the frame checked (unless the
 * queue was told the CPU does not read it), QBUF again with the hints.
 */
static void limits_requeue(struct __test_metadata *_metadata,
			   struct _test_data_limits *self,
			   const struct _fixture_variant_limits *variant, int n)
{
	uint32_t hints = variant->hinted ? HINTS : 0;
	struct v4l2_buffer buf;
	long bad;

	while (n--) {
		ASSERT_EQ(0, rvcap_dqbuf(self->fd, V4L2_MEMORY_MMAP, &buf));
		ASSERT_GT(variant->count, buf.index);
		ASSERT_EQ(self->fmt.fmt.pix.sizeimage, buf.bytesused);
		/* The hints stay with the buffer, and are reported back. */
		ASSERT_EQ(hints, buf.flags & HINTS);
		if (!variant->hinted) {
			bad = rvcap_check_frame(self->mmap[buf.index], buf.bytesused,
						buf.sequence);
			ASSERT_EQ(-1, bad) TH_LOG("sequence %u: byte %ld is wrong",
						  buf.sequence, bad);
		}
		ASSERT_EQ(0, qbuf_flags(self->fd, buf.index, hints));
	}
}

TEST_F_TIMEOUT(limits, qbuf_and_dqbuf_allocate_nothing, 120)
{
	long long maps, to_cpu, skips_dev, skips_cpu;
	uint32_t hints = variant->hinted ? HINTS : 0;
	unsigned int i;
	long allocs;

	/*
	 * DQBUF's syncs and skips are counted: with fences the engine makes
	 * a buffer's sync for the CPU when its frame ends, out of step with
	 * DQBUF (requeue.* checks the fenced requeue allocates nothing).
	 */
	ASSERT_EQ(0, rvcap_set_knob("fences", 0));
	for (i = 0; i < variant->count; i++)
		ASSERT_EQ(0, qbuf_flags(self->fd, i, hints));
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
	/* Warm-up: every buffer through the engine twice. */
	limits_requeue(_metadata, self, variant, 2 * variant->count);
	maps = rvcap_counter("map");
	to_cpu = rvcap_counter("sync_for_cpu");
	skips_dev = rvcap_counter("cache_hint_skips_for_device");
	skips_cpu = rvcap_counter("cache_hint_skips_for_cpu");
	ASSERT_LE(0, skips_dev) TH_LOG("no cache_hint_skips_for_device counter");
	ASSERT_LE(0, skips_cpu) TH_LOG("no cache_hint_skips_for_cpu counter");

	trace_begin(_metadata, 0);
	limits_requeue(_metadata, self, variant, REQUEUES);
	allocs = rvcap_alloc_trace_stop();
	EXPECT_LE(0, allocs);
	EXPECT_EQ(0, allocs) {
		TH_LOG("%ld allocations in %d requeues of %u buffers; the first:", allocs,
		       REQUEUES, variant->count);
		rvcap_alloc_trace_dump(stderr, 20);
	}
	EXPECT_EQ(0, rvcap_counter("map") - maps);
	if (variant->hinted) {
		/* Each QBUF skipped its sync for the device, each DQBUF its sync for the CPU. */
		EXPECT_EQ(REQUEUES, rvcap_counter("cache_hint_skips_for_device") - skips_dev);
		EXPECT_EQ(REQUEUES, rvcap_counter("cache_hint_skips_for_cpu") - skips_cpu);
		EXPECT_EQ(0, rvcap_counter("sync_for_cpu") - to_cpu);
	} else {
		EXPECT_EQ(0, rvcap_counter("cache_hint_skips_for_device") - skips_dev);
		EXPECT_EQ(0, rvcap_counter("cache_hint_skips_for_cpu") - skips_cpu);
		EXPECT_EQ(REQUEUES, rvcap_counter("sync_for_cpu") - to_cpu);
	}
}

/* ---- Multi-planar: YUV420M, three planes */

FIXTURE(mplane) {
	int fd;
	int dev;	/* rvcap.N */
	struct v4l2_format fmt;
	/* Per buffer and plane: the CPU's view and its size. */
	uint8_t *cpu[NBUFS][NPLANES];
	size_t size[NBUFS][NPLANES];
	struct rvcap_dmabuf bufs[NBUFS][NPLANES];
};

FIXTURE_VARIANT(mplane) {
	uint32_t memory;
	enum rvcap_exporter exporter;
};

FIXTURE_VARIANT_ADD(mplane, yuv420m_mmap) {
	.memory = V4L2_MEMORY_MMAP,
};

FIXTURE_VARIANT_ADD(mplane, yuv420m_system_heap) {
	.memory = V4L2_MEMORY_DMABUF,
	.exporter = RVCAP_DMA_HEAP,
};

FIXTURE_VARIANT_ADD(mplane, yuv420m_udmabuf) {
	.memory = V4L2_MEMORY_DMABUF,
	.exporter = RVCAP_UDMABUF,
};

FIXTURE_SETUP(mplane)
{
	struct v4l2_requestbuffers req = {
		.count = NBUFS,
		.type = MPLANE,
		.memory = variant->memory,
	};
	struct v4l2_capability cap = { 0 };
	struct v4l2_plane planes[NPLANES];
	char path[64];
	unsigned int i, p;
	int ret;

	self->fd = -1;
	self->dev = -1;
	for (i = 0; i < NBUFS; i++)
		for (p = 0; p < NPLANES; p++)
			rvcap_dmabuf_init(&self->bufs[i][p]);
	if (rvcap_mplane_node(path, sizeof(path)))
		SKIP(return, RVCAP_NO_MPLANE_NODE);
	self->dev = rvcap_path_instance(path);
	ASSERT_LE(0, self->dev) TH_LOG("%s is not an rvcap node", path);
	self->fd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("cannot open %s: %s", path, strerror(errno));
	ASSERT_EQ(0, xioctl(self->fd, VIDIOC_QUERYCAP, &cap));
	ASSERT_NE(0U, rvcap_device_caps(&cap) & V4L2_CAP_VIDEO_CAPTURE_MPLANE)
		TH_LOG("%s is not a multi-planar capture node", path);
	ASSERT_EQ(0, rvcap_set_knob_of(self->dev, "unpaced", 1));
	ASSERT_EQ(0, rvcap_set_pattern(self->fd, 2));
	self->fmt.type = MPLANE;
	self->fmt.fmt.pix_mp.pixelformat = V4L2_PIX_FMT_YUV420M;
	self->fmt.fmt.pix_mp.width = 320;
	self->fmt.fmt.pix_mp.height = 240;
	ASSERT_EQ(0, xioctl(self->fd, VIDIOC_S_FMT, &self->fmt));
	ASSERT_EQ(V4L2_PIX_FMT_YUV420M, self->fmt.fmt.pix_mp.pixelformat);
	ASSERT_EQ(NPLANES, self->fmt.fmt.pix_mp.num_planes);
	ASSERT_EQ(0, xioctl(self->fd, VIDIOC_REQBUFS, &req));
	ASSERT_EQ(NBUFS, (int)req.count);
	for (i = 0; i < NBUFS; i++) {
		if (variant->memory == V4L2_MEMORY_MMAP) {
			ret = rvcap_mmap_planes(self->fd, MPLANE, i, PROT_READ, planes, NPLANES,
						self->cpu[i]);
			for (p = 0; p < NPLANES; p++)
				self->size[i][p] = planes[p].length;
			ASSERT_EQ(NPLANES, ret) TH_LOG("buffer %u: %s", i, strerror(-ret));
		}
		for (p = 0; p < NPLANES; p++) {
			size_t size = self->fmt.fmt.pix_mp.plane_fmt[p].sizeimage;

			if (variant->memory == V4L2_MEMORY_MMAP) {
				ASSERT_LE(size, planes[p].length);
			} else {
				/* One dma-buf per plane, whole pages. */
				ASSERT_EQ(0, rvcap_export_plane(variant->exporter, size,
								&self->bufs[i][p],
								&self->cpu[i][p],
								&self->size[i][p]));
			}
		}
	}
}

FIXTURE_TEARDOWN(mplane)
{
	unsigned int i, p;

	if (self->fd >= 0) {
		rvcap_restore_defaults_type(self->fd, MPLANE);
		close(self->fd);
	}
	for (i = 0; i < NBUFS; i++)
		for (p = 0; p < NPLANES; p++)
			rvcap_release_plane(self->cpu[i][p], self->size[i][p], &self->bufs[i][p]);
	if (self->dev >= 0) {
		rvcap_set_knob_of(self->dev, "unpaced", 0);
		/* Off again if the test stopped early. */
		rvcap_trace_write("options/stacktrace", "0");
	}
}

static int mplane_qbuf(struct _test_data_mplane *self, uint32_t memory, uint32_t index)
{
	struct v4l2_plane planes[NPLANES];
	struct v4l2_buffer buf;
	unsigned int p;

	memset(planes, 0, sizeof(planes));
	for (p = 0; memory == V4L2_MEMORY_DMABUF && p < NPLANES; p++) {
		planes[p].m.fd = self->bufs[index][p].fd;
		planes[p].length = self->size[index][p];
	}
	return rvcap_planes_ioctl(self->fd, VIDIOC_QBUF, MPLANE, memory, index, planes, NPLANES,
				  &buf);
}

/* @n times: a blocking DQBUF, every byte of every plane checked, QBUF again. */
static void mplane_requeue(struct __test_metadata *_metadata,
			   struct _test_data_mplane *self, uint32_t memory, int n)
{
	struct v4l2_plane planes[NPLANES];
	struct v4l2_buffer buf;
	unsigned int p;
	size_t off, len;
	long bad;

	while (n--) {
		memset(planes, 0, sizeof(planes));
		ASSERT_EQ(0, rvcap_planes_ioctl(self->fd, VIDIOC_DQBUF, MPLANE, memory, 0, planes,
						NPLANES, &buf));
		ASSERT_GT((uint32_t)NBUFS, buf.index);
		ASSERT_EQ((uint32_t)NPLANES, buf.length);
		for (p = 0, off = 0; p < NPLANES; p++, off += len) {
			len = self->fmt.fmt.pix_mp.plane_fmt[p].sizeimage;
			ASSERT_EQ(len, planes[p].bytesused) TH_LOG("plane %u", p);
			bad = rvcap_check_plane(self->cpu[buf.index][p], len, off, buf.sequence);
			ASSERT_EQ(-1, bad) TH_LOG("sequence %u plane %u: byte %ld is wrong",
						  buf.sequence, p, bad);
		}
		ASSERT_EQ(0, mplane_qbuf(self, memory, buf.index));
	}
}

/*
 * The recorded allocation events, with their stack traces: *@core gets the
 * V4L2 core's copies of a planes array of @bytes (a kmalloc event whose
 * stack goes from __kvmalloc_node_noprof straight to video_usercopy, or
 * video_ioctl2 if inlined), *@inside those of the allocator's own work
 * under such a copy (kmemleak's object, KASAN's stack depot), *@resv every
 * event under dma_resv_reserve_fences() (see the top), *@other every
 * other event: one made for rvcap. The first @max of those are copied to
 * @out.
 */
static int sort_trace(size_t bytes, long *core, long *inside, long *resv, long *other,
		      FILE *out, int max)
{
	char line[1024], event[1024] = "";
	bool in_event = false, by_core = false, by_resv = false, prev_kvmalloc = false;
	FILE *f = fopen(RVCAP_TRACEFS "/trace", "r");

	*core = *inside = *resv = *other = 0;
	if (!f)
		return -errno;
	for (;;) {
		bool eof = !fgets(line, sizeof(line), f);
		bool stack = !eof && !strncmp(line, " => ", 4);

		if (!eof && (line[0] == '#' || strstr(line, "<stack trace>")))
			continue;
		if (stack) {
			char *name = line + 4;

			name[strcspn(name, "+\n ")] = '\0';
			if (prev_kvmalloc && (!strcmp(name, "video_usercopy") ||
					      !strcmp(name, "video_ioctl2")))
				by_core = true;
			if (!strcmp(name, "dma_resv_reserve_fences"))
				by_resv = true;
			prev_kvmalloc = !strcmp(name, "__kvmalloc_node_noprof");
			continue;
		}
		if (in_event) {
			const char *req = strstr(event, "bytes_req=");
			bool copy = strstr(event, " kmalloc: ") && req &&
				strtoul(req + 10, NULL, 10) == bytes;

			if (by_core && copy)
				(*core)++;
			else if (by_core)
				(*inside)++;
			else if (by_resv)
				(*resv)++;
			else if ((*other)++ < max)
				fputs(event, out);
		}
		if (eof)
			break;
		snprintf(event, sizeof(event), "%s", line);
		in_event = true;
		by_core = false;
		by_resv = false;
		prev_kvmalloc = false;
	}
	fclose(f);
	return 0;
}

TEST_F_TIMEOUT(mplane, qbuf_and_dqbuf_allocate_nothing_in_rvcap, 120)
{
	long total, core, inside, resv, other;
	int type = MPLANE;
	long long maps;
	unsigned int i;

	for (i = 0; i < NBUFS; i++)
		ASSERT_EQ(0, mplane_qbuf(self, variant->memory, i));
	ASSERT_EQ(0, xioctl(self->fd, VIDIOC_STREAMON, &type));
	/* Warm-up: every buffer's planes mapped for the device and faulted in. */
	mplane_requeue(_metadata, self, variant->memory, 2 * NBUFS);
	maps = rvcap_counter_of(self->dev, "map");

	/* With a stack trace for each event, to tell the core's from rvcap's. */
	ASSERT_EQ(0, rvcap_trace_write("options/stacktrace", "1"));
	trace_begin(_metadata, self->dev);
	mplane_requeue(_metadata, self, variant->memory, REQUEUES);
	total = rvcap_alloc_trace_stop();
	EXPECT_EQ(0, rvcap_trace_write("options/stacktrace", "0"));
	ASSERT_LE(0, total);

	ASSERT_EQ(0, sort_trace(NPLANES * sizeof(struct v4l2_plane), &core, &inside, &resv,
				&other, stderr, 10));
	/*
	 * Nothing was lost from the trace buffer: every event was sorted
	 * (each is two entries, the event and its stack trace).
	 */
	EXPECT_EQ(total, 2 * (core + inside + resv + other));
	TH_LOG("%ld planes array copies by the V4L2 core, %ld allocations under them, %ld by the dma-resv core, %ld other",
	       core, inside, resv, other);
	if (!debug_mutexes())
		EXPECT_EQ(0, resv);
	EXPECT_EQ(0, other) {
		TH_LOG("%ld allocations for rvcap in %d requeues (above); the trace:",
		       other, REQUEUES);
		rvcap_alloc_trace_dump(stderr, 60);
	}
	/* One planes array copy per QBUF and per DQBUF, no more. */
	EXPECT_EQ(2 * REQUEUES, core) TH_LOG("%ld copies of a planes array, %ld under them",
					     core, inside);
	EXPECT_EQ(0, rvcap_counter_of(self->dev, "map") - maps);
}

TEST_HARNESS_MAIN
