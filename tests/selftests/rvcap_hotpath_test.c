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
 * - unpaced=1 fills buffers as they come instead of dropping frame periods.
 *
 * Frames are 320x240 YUYV in buffers of twice their size, so that frame
 * and buffer syncs differ and each exporter segment stays within what a
 * swiotlb=force boot can bounce.
 * Sets the device's debugfs knobs and puts them back to 0.
 * Expects rvcap loaded, with device rvcap.0 at $RVCAP_DEV.
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"
#include "rvcap_v4l2.h"
#include "rvcap_trace.h"

#define NBUFS 4
#define REQUEUES 200

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

/* Counts the allocations of this task and the engine during @n requeues. */
static long traced_requeues(struct __test_metadata *_metadata,
			    struct _test_data_requeue *self, uint32_t memory, int n)
{
	pid_t pids[2] = { getpid(), rvcap_find_task("rvcap0-engine") };
	long allocs;

	EXPECT_LT(0, pids[1]) TH_LOG("no rvcap0-engine thread while streaming");
	EXPECT_EQ(0, rvcap_alloc_trace_start(pids, 2)) TH_LOG("cannot set up trace events");
	requeue(_metadata, self, memory, n);
	allocs = rvcap_alloc_trace_stop();
	EXPECT_LE(0, allocs);
	return allocs;
}

TEST_F_TIMEOUT(requeue, qbuf_and_dqbuf_allocate_nothing, 120)
{
	long long maps;
	long allocs;

	start(_metadata, self, variant->memory);
	/* Warm-up: every buffer mapped for the device and faulted in. */
	requeue(_metadata, self, variant->memory, 2 * NBUFS);
	maps = rvcap_counter("map");
	allocs = traced_requeues(_metadata, self, variant->memory, REQUEUES);
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

	ASSERT_EQ(0, rvcap_set_knob("map_per_qbuf", 1));
	start(_metadata, self, variant->memory);
	requeue(_metadata, self, variant->memory, 2 * NBUFS);
	maps = rvcap_counter("map");
	unmaps = rvcap_counter("unmap");
	to_cpu = rvcap_counter("sync_for_cpu");
	allocs = traced_requeues(_metadata, self, variant->memory, REQUEUES);
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

TEST_HARNESS_MAIN
