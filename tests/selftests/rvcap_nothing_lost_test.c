// SPDX-License-Identifier: GPL-2.0
/*
 * Nothing lost after DQBUF: once DQBUF hands a buffer to userspace, nothing
 * rvcap does later (STREAMOFF, REQBUFS(0), close, a slot queued with another
 * dma-buf, a dma-buf moving to another slot) may change what userspace wrote
 * into it. The CPU writes through the exporter's own mmap, without
 * DMA_BUF_IOCTL_SYNC, as rvcap's README says it may.
 *
 * The system and CMA dma-heaps unmap with a sync for the CPU: in a
 * swiotlb=force boot that copies the bounce slot (the device's last frame)
 * back over the buffer unless the driver hands the CPU's bytes over first.
 * udmabuf (no CPU sync at unmap) runs the same tests as a control. MMAP
 * buffers still mmapped when REQBUFS(0) frees them must keep their bytes
 * too. Also here: a refused QBUF changes nothing, and with contig=1 a format
 * too large for a contiguous buffer gets ENOMEM, not a kernel warning.
 *
 * Expects rvcap loaded (contig=0); frames are 320x240 YUYV (150 KiB), which
 * swiotlb can bounce.
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"
#include "rvcap_v4l2.h"

#define WIDTH 320
#define HEIGHT 240
#define NBUFS 2
#define USER_BYTE 0xc3
#define OTHER_USER_BYTE 0x3c

FIXTURE(lost) {
	int fd;
	struct v4l2_format fmt;
	struct rvcap_dmabuf bufs[NBUFS + 1];
	size_t size;
};

FIXTURE_VARIANT(lost) {
	enum rvcap_exporter exporter;
};

FIXTURE_VARIANT_ADD(lost, system_heap) {
	.exporter = RVCAP_DMA_HEAP,
};

FIXTURE_VARIANT_ADD(lost, cma_heap) {
	.exporter = RVCAP_CMA_HEAP,
};

FIXTURE_VARIANT_ADD(lost, udmabuf) {
	.exporter = RVCAP_UDMABUF,
};

FIXTURE_SETUP(lost)
{
	int i;

	/*
	 * Also here, not only in the teardown: at -O2 the harness may skip
	 * the teardown after a failed ASSERT (its setjmp clobbers), and a
	 * stalled engine left behind would fail every later test.
	 */
	rvcap_reset_knobs();
	self->fd = open(rvcap_dev(), O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, rvcap_set_format(self->fd, V4L2_PIX_FMT_YUYV, WIDTH, HEIGHT, &self->fmt));
	ASSERT_EQ(0, rvcap_set_pattern(self->fd, 2));
	self->size = (self->fmt.fmt.pix.sizeimage + 4095) & ~4095UL;
	for (i = 0; i <= NBUFS; i++)
		ASSERT_EQ(0, rvcap_export(variant->exporter, self->size, &self->bufs[i]));
}

FIXTURE_TEARDOWN(lost)
{
	int i;

	rvcap_reset_knobs();
	if (self->fd >= 0) {
		rvcap_restore_defaults(self->fd);
		close(self->fd);
	}
	for (i = 0; i <= NBUFS; i++)
		rvcap_unexport(&self->bufs[i]);
}

/*
 * REQBUFS(DMABUF, NBUFS), buffer i queued with dma-buf i, streaming; then
 * the first frame dequeued (a frame the device wrote: the bounce slot now
 * holds it) and overwritten by userspace with USER_BYTE. Returns the
 * dma-buf it was.
 */
static struct rvcap_dmabuf *dequeue_and_overwrite(struct __test_metadata *_metadata,
						   struct _test_data_lost *self,
						   struct v4l2_buffer *buf)
{
	int i;

	ASSERT_EQ(NBUFS, rvcap_reqbufs(self->fd, V4L2_MEMORY_DMABUF, NBUFS));
	for (i = 0; i < NBUFS; i++)
		ASSERT_EQ(0, rvcap_qbuf_dmabuf(self->fd, i, self->bufs[i].fd, 0));
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
	ASSERT_EQ(1, rvcap_wait_frame(self->fd, 5000));
	ASSERT_EQ(0, rvcap_dqbuf(self->fd, V4L2_MEMORY_DMABUF, buf));
	ASSERT_EQ(self->bufs[buf->index].fd, buf->m.fd);
	ASSERT_EQ(-1, rvcap_check_frame(self->bufs[buf->index].cpu, buf->bytesused,
					buf->sequence));
	memset(self->bufs[buf->index].cpu, USER_BYTE, self->size);
	return &self->bufs[buf->index];
}

/* Offset of the first byte of @p (@len bytes) that is not @byte, or -1. */
static long first_changed(const uint8_t *p, size_t len, uint8_t byte)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != byte)
			return (long)i;
	return -1;
}

#define EXPECT_USER_BYTES(buf, byte, size) do {					\
	long bad = first_changed((buf)->cpu, (size), (byte));			\
	EXPECT_EQ(-1, bad) {							\
		TH_LOG("byte %ld of what userspace wrote is now 0x%02x, not 0x%02x", \
		       bad, (buf)->cpu[bad], (byte));				\
	}									\
} while (0)

TEST_F(lost, user_bytes_survive_streamoff)
{
	long long before = rvcap_counter("sync_before_unmap");
	struct rvcap_dmabuf *mine;
	struct v4l2_buffer buf;

	mine = dequeue_and_overwrite(_metadata, self, &buf);
	ASSERT_EQ(0, rvcap_stream(self->fd, false));
	EXPECT_USER_BYTES(mine, USER_BYTE, self->size);
	/* The dequeued buffer, not the queued one, was handed over first. */
	EXPECT_EQ(before + 1, rvcap_counter("sync_before_unmap"));
}

TEST_F(lost, user_bytes_survive_streamoff_and_reqbufs_zero)
{
	struct rvcap_dmabuf *mine;
	struct v4l2_buffer buf;
	int attached = -1;

	mine = dequeue_and_overwrite(_metadata, self, &buf);
	ASSERT_EQ(0, rvcap_stream(self->fd, false));
	ASSERT_EQ(0, rvcap_reqbufs(self->fd, V4L2_MEMORY_DMABUF, 0));
	EXPECT_USER_BYTES(mine, USER_BYTE, self->size);
	rvcap_bufinfo(rvcap_dma_device(), &attached);
	EXPECT_EQ(0, attached);
}

TEST_F(lost, user_bytes_survive_close_while_streaming)
{
	struct rvcap_dmabuf *mine;
	struct v4l2_buffer buf;

	mine = dequeue_and_overwrite(_metadata, self, &buf);
	ASSERT_EQ(0, close(self->fd));
	self->fd = -1;
	EXPECT_USER_BYTES(mine, USER_BYTE, self->size);
}

TEST_F(lost, user_bytes_survive_the_slot_taking_another_dmabuf)
{
	struct rvcap_dmabuf *mine;
	struct v4l2_buffer buf;

	mine = dequeue_and_overwrite(_metadata, self, &buf);
	ASSERT_EQ(0, rvcap_qbuf_dmabuf(self->fd, buf.index, self->bufs[NBUFS].fd, 0));
	EXPECT_USER_BYTES(mine, USER_BYTE, self->size);
}

/*
 * Both buffers dequeued and written by userspace; then dma-buf A (slot a)
 * is queued in slot b, whose own dma-buf B is released. Neither may change:
 * A moves without being unmapped (the engine is stalled, so it cannot fill
 * A before the check), B is unmapped as a CPU-owned buffer.
 */
TEST_F(lost, user_bytes_survive_the_dmabuf_moving_to_another_slot)
{
	struct rvcap_dmabuf *a, *b;
	struct v4l2_buffer buf, other;
	long long maps;

	a = dequeue_and_overwrite(_metadata, self, &buf);
	ASSERT_EQ(1, rvcap_wait_frame(self->fd, 5000));
	ASSERT_EQ(0, rvcap_dqbuf(self->fd, V4L2_MEMORY_DMABUF, &other));
	b = &self->bufs[other.index];
	memset(b->cpu, OTHER_USER_BYTE, self->size);
	ASSERT_EQ(0, rvcap_set_knob("inject_stall_ms", 10000));
	/* Let the engine start the stall of its next frame period. */
	usleep(300 * 1000);
	maps = rvcap_counter("map");
	EXPECT_EQ(0, rvcap_qbuf_dmabuf(self->fd, other.index, a->fd, 0));
	EXPECT_USER_BYTES(a, USER_BYTE, self->size);
	EXPECT_USER_BYTES(b, OTHER_USER_BYTE, self->size);
	rvcap_set_knob("inject_stall_ms", 0);
	EXPECT_EQ(maps, rvcap_counter("map")) TH_LOG("the moving dma-buf was mapped again");
	EXPECT_EQ(1, rvcap_buffers_lines(" dequeued cpu    no       no "));
}

/* MMAP buffers: one still mmapped outlives REQBUFS(0) with its bytes. */
TEST_F(lost, user_bytes_in_an_orphaned_mmap_buffer_survive_reqbufs_zero)
{
	struct v4l2_buffer buf = {
		.type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
		.memory = V4L2_MEMORY_MMAP,
	};
	uint8_t *map;
	long bad;
	int i;

	ASSERT_EQ(NBUFS, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, NBUFS));
	ASSERT_EQ(0, xioctl(self->fd, VIDIOC_QUERYBUF, &buf));
	map = mmap(NULL, buf.length, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd,
		   buf.m.offset);
	ASSERT_NE(MAP_FAILED, map);
	for (i = 0; i < NBUFS; i++)
		ASSERT_EQ(0, rvcap_qbuf_mmap(self->fd, i));
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
	do {
		ASSERT_EQ(1, rvcap_wait_frame(self->fd, 5000));
		ASSERT_EQ(0, rvcap_dqbuf(self->fd, V4L2_MEMORY_MMAP, &buf));
	} while (buf.index != 0 && rvcap_qbuf_mmap(self->fd, buf.index) == 0);
	ASSERT_EQ(0U, buf.index);
	ASSERT_EQ(-1, rvcap_check_frame(map, buf.bytesused, buf.sequence));
	memset(map, USER_BYTE, buf.length);
	ASSERT_EQ(0, rvcap_stream(self->fd, false));
	ASSERT_EQ(0, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, 0));
	bad = first_changed(map, buf.length, USER_BYTE);
	EXPECT_EQ(-1, bad) TH_LOG("byte %ld is 0x%02x", bad, map[bad]);
	munmap(map, buf.length);
}

/*
 * A refused QBUF changes nothing: dma-buf A, held by CPU-owned slot a, is
 * refused for slot b (too large a length, or too small for the format) and
 * slot a still has it attached and mapped.
 */
TEST_F(lost, refused_qbuf_leaves_the_holding_slot_as_it_was)
{
	struct rvcap_dmabuf *a;
	struct v4l2_buffer buf, other;
	long long unmaps, detaches;

	a = dequeue_and_overwrite(_metadata, self, &buf);
	ASSERT_EQ(1, rvcap_wait_frame(self->fd, 5000));
	ASSERT_EQ(0, rvcap_dqbuf(self->fd, V4L2_MEMORY_DMABUF, &other));
	unmaps = rvcap_counter("unmap");
	detaches = rvcap_counter("detach");
	EXPECT_EQ(-EINVAL, rvcap_qbuf_dmabuf(self->fd, other.index, a->fd, self->size + 4096));
	EXPECT_EQ(-EINVAL, rvcap_qbuf_dmabuf(self->fd, other.index, a->fd, 4096));
	EXPECT_EQ(unmaps, rvcap_counter("unmap"));
	EXPECT_EQ(detaches, rvcap_counter("detach"));
	EXPECT_EQ(2, rvcap_buffers_lines(" dequeued cpu    yes      yes "));
	EXPECT_USER_BYTES(a, USER_BYTE, self->size);
	/* And the stream goes on. */
	ASSERT_EQ(0, rvcap_qbuf_dmabuf(self->fd, buf.index, a->fd, 0));
	ASSERT_EQ(1, rvcap_wait_frame(self->fd, 5000));
}

TEST_HARNESS_MAIN
