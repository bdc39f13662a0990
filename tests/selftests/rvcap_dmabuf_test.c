// SPDX-License-Identifier: GPL-2.0
/*
 * rvcap DMA-BUF import, with udmabuf (memfd pages) and the system dma-heap
 * as exporters: frames reach the CPU intact without DMA_BUF_IOCTL_SYNC, each
 * buffer is attached and mapped once however often it is requeued,
 * STREAMOFF unmaps everything, REQBUFS(0) and close release everything, an
 * fd swap on a slot releases the old dma-buf, and bad input gets the errno
 * the V4L2 spec names without breaking the stream.
 *
 * Run in a normal and a swiotlb=force boot. Frames are 320x240 YUYV
 * (150 KiB), so each exporter segment stays within what swiotlb can bounce.
 * Reads rvcap's debugfs counters (device rvcap.0). Expects rvcap loaded.
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"
#include "rvcap_v4l2.h"

#define NBUFS 4
#define WIDTH 320
#define HEIGHT 240

FIXTURE(dmabuf) {
	int fd;
	struct v4l2_format fmt;
	struct rvcap_dmabuf bufs[NBUFS + 1];
	size_t size;
	int objects_before;
};

FIXTURE_VARIANT(dmabuf) {
	enum rvcap_exporter exporter;
};

FIXTURE_VARIANT_ADD(dmabuf, udmabuf) {
	.exporter = RVCAP_UDMABUF,
};

FIXTURE_VARIANT_ADD(dmabuf, system_heap) {
	.exporter = RVCAP_DMA_HEAP,
};

FIXTURE_SETUP(dmabuf)
{
	struct v4l2_streamparm parm = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE };
	int i;

	self->objects_before = rvcap_bufinfo(rvcap_dma_device(), NULL);
	ASSERT_LE(0, self->objects_before) TH_LOG("no dma_buf/bufinfo in debugfs");
	self->fd = open(rvcap_dev(), O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, rvcap_set_format(self->fd, V4L2_PIX_FMT_YUYV, WIDTH, HEIGHT, &self->fmt));
	ASSERT_EQ(0, rvcap_set_pattern(self->fd, 2));
	/* The fastest interval: the requeue tests want many frames. */
	parm.parm.capture.timeperframe.numerator = 1;
	parm.parm.capture.timeperframe.denominator = 60;
	ASSERT_EQ(0, xioctl(self->fd, VIDIOC_S_PARM, &parm));
	self->size = (self->fmt.fmt.pix.sizeimage + 4095) & ~4095UL;
	for (i = 0; i <= NBUFS; i++)
		ASSERT_EQ(0, rvcap_export(variant->exporter, self->size, &self->bufs[i]));
}

FIXTURE_TEARDOWN(dmabuf)
{
	int i;

	rvcap_restore_defaults(self->fd);
	rvcap_set_knob("fences", 1);
	close(self->fd);
	for (i = 0; i <= NBUFS; i++)
		rvcap_unexport(&self->bufs[i]);
}

/* REQBUFS(DMABUF), then QBUF buffer i with dma-buf i. */
static void queue_all(struct __test_metadata *_metadata, struct _test_data_dmabuf *self)
{
	int i;

	ASSERT_EQ(NBUFS, rvcap_reqbufs(self->fd, V4L2_MEMORY_DMABUF, NBUFS));
	for (i = 0; i < NBUFS; i++)
		ASSERT_EQ(0, rvcap_qbuf_dmabuf(self->fd, i, self->bufs[i].fd, 0));
}

/* Dequeues a frame and checks every byte of it in @cpu's view. */
static void dequeue_checked(struct __test_metadata *_metadata,
			    struct _test_data_dmabuf *self, struct v4l2_buffer *buf)
{
	long bad;
	int i;

	ASSERT_EQ(1, rvcap_wait_frame(self->fd, 5000));
	ASSERT_EQ(0, rvcap_dqbuf(self->fd, V4L2_MEMORY_DMABUF, buf));
	ASSERT_EQ(self->fmt.fmt.pix.sizeimage, buf->bytesused);
	ASSERT_EQ(0U, buf->flags & V4L2_BUF_FLAG_ERROR);
	for (i = 0; i <= NBUFS; i++)
		if (self->bufs[i].fd == buf->m.fd)
			break;
	ASSERT_LE(i, NBUFS) TH_LOG("DQBUF returned fd %d, not one of ours", buf->m.fd);
	bad = rvcap_check_frame(self->bufs[i].cpu, buf->bytesused, buf->sequence);
	ASSERT_EQ(-1, bad) {
		TH_LOG("sequence %u, buffer %u: byte %ld is 0x%02x, want 0x%02x",
		       buf->sequence, buf->index, bad, self->bufs[i].cpu[bad],
		       rvcap_verification_byte(bad, buf->sequence));
	}
}

TEST_F(dmabuf, frames_reach_the_cpu_without_userspace_sync)
{
	struct v4l2_buffer buf;
	int frame;

	queue_all(_metadata, self);
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
	for (frame = 0; frame < 30; frame++) {
		dequeue_checked(_metadata, self, &buf);
		ASSERT_EQ(0, rvcap_qbuf_dmabuf(self->fd, buf.index, buf.m.fd, 0));
	}
}

/* 1000 frames at 60 per second, and more under KASAN. */
TEST_F_TIMEOUT(dmabuf, each_buffer_is_mapped_once_over_a_thousand_requeues, 300)
{
	long long attach = rvcap_counter("attach"), map = rvcap_counter("map");
	long long to_dev = rvcap_counter("sync_for_device");
	long long to_cpu = rvcap_counter("sync_for_cpu");
	long long bytes = rvcap_counter("bytes_synced_for_cpu");
	struct v4l2_buffer buf;
	int frame;

	ASSERT_LE(0, attach);
	/*
	 * DQBUF's syncs are counted: with fences the engine makes them when a
	 * frame ends, out of step with DQBUF (rvcap_fence_test checks those).
	 */
	ASSERT_EQ(0, rvcap_set_knob("fences", 0));
	queue_all(_metadata, self);
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
	for (frame = 0; frame < 1000; frame++) {
		dequeue_checked(_metadata, self, &buf);
		ASSERT_EQ(0, rvcap_qbuf_dmabuf(self->fd, buf.index, buf.m.fd, 0));
	}
	EXPECT_EQ(NBUFS, rvcap_counter("attach") - attach);
	EXPECT_EQ(NBUFS, rvcap_counter("map") - map);
	EXPECT_EQ(NBUFS + 1000, rvcap_counter("sync_for_device") - to_dev);
	EXPECT_EQ(1000, rvcap_counter("sync_for_cpu") - to_cpu);
	/* For the CPU: exactly the bytes of each frame. */
	EXPECT_EQ(1000LL * self->fmt.fmt.pix.sizeimage,
		  rvcap_counter("bytes_synced_for_cpu") - bytes);
}

TEST_F(dmabuf, streamoff_unmaps_everything_and_keeps_attachments)
{
	long long map, unmap, attach;
	struct v4l2_buffer buf;
	int i;

	queue_all(_metadata, self);
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
	dequeue_checked(_metadata, self, &buf);
	ASSERT_EQ(4, rvcap_buffers_lines(" dmabuf "));
	EXPECT_EQ(NBUFS, rvcap_buffers_lines(" yes      yes "));
	attach = rvcap_counter("attach");
	map = rvcap_counter("map");
	ASSERT_EQ(0, rvcap_stream(self->fd, false));
	unmap = rvcap_counter("unmap");
	EXPECT_EQ(map, unmap) TH_LOG("mappings left after STREAMOFF");
	EXPECT_EQ(NBUFS, rvcap_buffers_lines(" cpu    yes      no "));
	/* QBUF of the same fds only maps again. */
	for (i = 0; i < NBUFS; i++)
		ASSERT_EQ(0, rvcap_qbuf_dmabuf(self->fd, i, self->bufs[i].fd, 0));
	EXPECT_EQ(attach, rvcap_counter("attach"));
	EXPECT_EQ(map + NBUFS, rvcap_counter("map"));
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
	dequeue_checked(_metadata, self, &buf);
}

TEST_F(dmabuf, streamon_streamoff_cycles_with_qbuf_and_no_dqbuf)
{
	struct v4l2_buffer buf;
	int cycle, i;

	queue_all(_metadata, self);
	for (cycle = 0; cycle < 10; cycle++) {
		ASSERT_EQ(0, rvcap_stream(self->fd, true));
		if (cycle % 2)
			ASSERT_EQ(1, rvcap_wait_frame(self->fd, 5000));
		ASSERT_EQ(0, rvcap_stream(self->fd, false));
		EXPECT_EQ(rvcap_counter("map"), rvcap_counter("unmap"));
		for (i = 0; i < NBUFS; i++)
			ASSERT_EQ(0, rvcap_qbuf_dmabuf(self->fd, i, self->bufs[i].fd, 0))
				TH_LOG("cycle %d buffer %d", cycle, i);
	}
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
	dequeue_checked(_metadata, self, &buf);
}

TEST_F(dmabuf, fd_swap_on_a_slot_releases_the_old_dmabuf)
{
	long long attach, detach, put;
	struct v4l2_buffer buf;

	ASSERT_EQ(1, rvcap_reqbufs(self->fd, V4L2_MEMORY_DMABUF, 1));
	ASSERT_EQ(0, rvcap_qbuf_dmabuf(self->fd, 0, self->bufs[0].fd, 0));
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
	dequeue_checked(_metadata, self, &buf);
	EXPECT_EQ(self->bufs[0].fd, buf.m.fd);
	attach = rvcap_counter("attach");
	detach = rvcap_counter("detach");
	put = rvcap_counter("dmabuf_put");
	ASSERT_EQ(0, rvcap_qbuf_dmabuf(self->fd, 0, self->bufs[NBUFS].fd, 0));
	EXPECT_EQ(attach + 1, rvcap_counter("attach"));
	EXPECT_EQ(detach + 1, rvcap_counter("detach"));
	EXPECT_EQ(put + 1, rvcap_counter("dmabuf_put"));
	dequeue_checked(_metadata, self, &buf);
	EXPECT_EQ(self->bufs[NBUFS].fd, buf.m.fd);
}

/* After @release, rvcap holds nothing of any dma-buf. */
static void check_released(struct __test_metadata *_metadata,
			   struct _test_data_dmabuf *self, bool close_owner)
{
	struct v4l2_buffer buf;
	int attached, i;

	queue_all(_metadata, self);
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
	dequeue_checked(_metadata, self, &buf);
	ASSERT_LE(0, rvcap_bufinfo(rvcap_dma_device(), &attached));
	EXPECT_EQ(NBUFS, attached);
	if (close_owner) {
		close(self->fd);
		self->fd = open(rvcap_dev(), O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, self->fd);
	} else {
		EXPECT_EQ(-EBUSY, rvcap_reqbufs(self->fd, V4L2_MEMORY_DMABUF, 0));
		ASSERT_EQ(0, rvcap_stream(self->fd, false));
		ASSERT_EQ(0, rvcap_reqbufs(self->fd, V4L2_MEMORY_DMABUF, 0));
	}
	EXPECT_EQ(rvcap_counter("attach"), rvcap_counter("detach"));
	EXPECT_EQ(rvcap_counter("map"), rvcap_counter("unmap"));
	EXPECT_EQ(rvcap_counter("dmabuf_get"), rvcap_counter("dmabuf_put"));
	EXPECT_EQ(0, rvcap_buffers_lines(" dmabuf "));
	rvcap_bufinfo(rvcap_dma_device(), &attached);
	EXPECT_EQ(0, attached) TH_LOG("%s still attached in dma_buf/bufinfo", rvcap_dma_device());
	/* Once userspace closes its fds, the exporter frees the memory. */
	for (i = 0; i <= NBUFS; i++)
		rvcap_unexport(&self->bufs[i]);
	EXPECT_EQ(self->objects_before, rvcap_bufinfo(rvcap_dma_device(), NULL));
}

TEST_F(dmabuf, reqbufs_zero_releases_everything)
{
	check_released(_metadata, self, false);
}

TEST_F(dmabuf, close_of_the_owner_releases_everything)
{
	check_released(_metadata, self, true);
}

TEST_F(dmabuf, bad_input_gets_the_spec_errno_and_streaming_goes_on)
{
	struct rvcap_dmabuf small;
	struct v4l2_buffer buf;
	int memfd, i;

	ASSERT_EQ(NBUFS, rvcap_reqbufs(self->fd, V4L2_MEMORY_DMABUF, NBUFS));
	EXPECT_EQ(-EINVAL, rvcap_qbuf_dmabuf(self->fd, 0, -1, 0)) TH_LOG("fd -1");
	memfd = memfd_create("not-a-dmabuf", MFD_CLOEXEC);
	ASSERT_LE(0, memfd);
	EXPECT_EQ(-EINVAL, rvcap_qbuf_dmabuf(self->fd, 0, memfd, 0)) TH_LOG("memfd");
	close(memfd);
	ASSERT_EQ(0, rvcap_export(variant->exporter, 4096, &small));
	EXPECT_EQ(-EINVAL, rvcap_qbuf_dmabuf(self->fd, 0, small.fd, 0)) TH_LOG("too small");
	rvcap_unexport(&small);
	EXPECT_EQ(-EINVAL, rvcap_qbuf_dmabuf(self->fd, 0, self->bufs[0].fd, self->size + 4096))
		TH_LOG("length beyond the dma-buf");
	EXPECT_EQ(-EINVAL, rvcap_qbuf_dmabuf(self->fd, NBUFS, self->bufs[0].fd, 0)) TH_LOG("index");
	ASSERT_EQ(0, rvcap_qbuf_dmabuf(self->fd, 0, self->bufs[0].fd, 0));
	EXPECT_EQ(-EINVAL, rvcap_qbuf_dmabuf(self->fd, 0, self->bufs[0].fd, 0)) TH_LOG("double");
	EXPECT_EQ(-EINVAL, rvcap_qbuf_mmap(self->fd, 1)) TH_LOG("wrong memory");
	/* Nothing was kept from the refused requests. */
	EXPECT_EQ(rvcap_counter("dmabuf_get") - 1, rvcap_counter("dmabuf_put"));
	for (i = 1; i < NBUFS; i++)
		ASSERT_EQ(0, rvcap_qbuf_dmabuf(self->fd, i, self->bufs[i].fd, 0));
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
	for (i = 0; i < 8; i++) {
		dequeue_checked(_metadata, self, &buf);
		ASSERT_EQ(0, rvcap_qbuf_dmabuf(self->fd, buf.index, buf.m.fd, 0));
	}
}

TEST_HARNESS_MAIN
