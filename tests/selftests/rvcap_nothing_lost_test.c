// SPDX-License-Identifier: GPL-2.0
/*
 * Nothing lost: once a buffer is the application's (after DQBUF, and after
 * STREAMOFF for every buffer, the ones the device held too), nothing rvcap
 * does later (STREAMOFF, REQBUFS(0), close, a slot queued with another
 * dma-buf, a dma-buf moving to another slot, map_per_qbuf's unmap at
 * DQBUF) may change what the application wrote into it. Every byte of every
 * buffer the application wrote is checked; a failure says how many of its
 * 64-byte lines changed.
 *
 * Exporters differ in when they sync for the CPU (rvcap_v4l2.h): the system
 * and CMA dma-heaps at unmap; vivid's vb2-vmalloc (allocators=0) at
 * detach; udmabuf, vivid's vb2-dma-contig (allocators=1) and vgem never.
 * In a swiotlb=force boot such a sync copies the bounce slot back over the
 * buffer unless the driver handed the CPU's bytes over first; in a coherent
 * boot nothing can show. Each exporter runs every test twice: the client
 * writes and reads through the exporter's mmap without DMA_BUF_IOCTL_SYNC,
 * as rvcap's README says it may, and (the _synced variants) bracketing
 * every access with DMA_BUF_IOCTL_SYNC, which must give the same bytes.
 *
 * MMAP buffers still mmapped when REQBUFS(0) frees them must keep their
 * bytes too. Also here: a refused QBUF changes nothing.
 *
 * Expects rvcap loaded (contig=0) as /dev/video0 ($RVCAP_DEV); loads vivid
 * (two instances, allocators 0 and 1) if it is not loaded, and unloads it
 * at the end. Frames are 320x240 YUYV (150 KiB), which swiotlb can bounce.
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"
#include "rvcap_v4l2.h"

#define WIDTH 320
#define HEIGHT 240
#define NBUFS 2
#define LINE 64
#define USER_BYTE 0xc3
#define OTHER_USER_BYTE 0x3c
#define LATE_BYTE 0x5a
#define HELD_BYTE 0xa5

/*
 * vivid, if this program loads it: instance 0 with vb2-vmalloc, instance 1
 * with vb2-dma-contig, video capture nodes only. Loaded once, in the
 * harness's process (each test runs in a child of it, which _exit()s), and
 * unloaded when that process exits, so that later suites find vivid as
 * they would have without this one.
 */
static pid_t vivid_loaded_by;

static void __attribute__((constructor)) load_vivid(void)
{
	if (!access("/sys/module/vivid", F_OK))
		return;
	if (system("modprobe vivid n_devs=2 node_types=0x1,0x1 allocators=0,1 >/dev/null 2>&1")) {
		fprintf(stderr, "# modprobe vivid failed: the vivid variants will be skipped\n");
		return;
	}
	vivid_loaded_by = getpid();
}

static void __attribute__((destructor)) unload_vivid(void)
{
	int i;

	if (vivid_loaded_by != getpid())
		return;
	/* A file a test child had open may still be on its way out. */
	for (i = 0; i < 20; i++) {
		if (!system("rmmod vivid >/dev/null 2>&1"))
			return;
		usleep(100 * 1000);
	}
	fprintf(stderr, "# rmmod vivid failed: vivid stays loaded\n");
}

FIXTURE(lost) {
	int fd;
	struct v4l2_format fmt;
	struct rvcap_dmabuf bufs[NBUFS + 1];
	size_t size;
	/* The DMA_BUF_SYNC_* direction of reads and of writes; 0: no syncs. */
	uint64_t rd, wr;
};

FIXTURE_VARIANT(lost) {
	enum rvcap_exporter exporter;
	uint64_t rd, wr;
};

#define SYNCED .rd = DMA_BUF_SYNC_READ, .wr = DMA_BUF_SYNC_WRITE

FIXTURE_VARIANT_ADD(lost, system_heap) {
	.exporter = RVCAP_DMA_HEAP,
};

FIXTURE_VARIANT_ADD(lost, system_heap_synced) {
	.exporter = RVCAP_DMA_HEAP,
	SYNCED,
};

FIXTURE_VARIANT_ADD(lost, cma_heap) {
	.exporter = RVCAP_CMA_HEAP,
};

FIXTURE_VARIANT_ADD(lost, cma_heap_synced) {
	.exporter = RVCAP_CMA_HEAP,
	SYNCED,
};

FIXTURE_VARIANT_ADD(lost, udmabuf) {
	.exporter = RVCAP_UDMABUF,
};

/*
 * udmabuf's begin_cpu_access maps the buffer for its own misc device once,
 * in the direction of the first call, and syncs that mapping in the
 * direction of every later one: DMA-API debugging warns at a READ after a
 * WRITE. So this client says RW each time (the mapping is bidirectional).
 */
FIXTURE_VARIANT_ADD(lost, udmabuf_synced) {
	.exporter = RVCAP_UDMABUF,
	.rd = DMA_BUF_SYNC_RW,
	.wr = DMA_BUF_SYNC_RW,
};

FIXTURE_VARIANT_ADD(lost, vivid_vmalloc) {
	.exporter = RVCAP_VIVID_VMALLOC,
};

FIXTURE_VARIANT_ADD(lost, vivid_vmalloc_synced) {
	.exporter = RVCAP_VIVID_VMALLOC,
	SYNCED,
};

FIXTURE_VARIANT_ADD(lost, vivid_contig) {
	.exporter = RVCAP_VIVID_CONTIG,
};

FIXTURE_VARIANT_ADD(lost, vivid_contig_synced) {
	.exporter = RVCAP_VIVID_CONTIG,
	SYNCED,
};

FIXTURE_VARIANT_ADD(lost, vgem) {
	.exporter = RVCAP_VGEM,
};

FIXTURE_VARIANT_ADD(lost, vgem_synced) {
	.exporter = RVCAP_VGEM,
	SYNCED,
};

FIXTURE_SETUP(lost)
{
	struct v4l2_streamparm parm = {
		.type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
		.parm.capture.timeperframe = { .numerator = 1, .denominator = 60 },
	};
	int i, ret;

	for (i = 0; i <= NBUFS; i++)
		rvcap_dmabuf_init(&self->bufs[i]);
	self->rd = variant->rd;
	self->wr = variant->wr;
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
	/* 1/60 s: every test waits for a first frame (the teardown restores 1/30). */
	ASSERT_EQ(0, xioctl(self->fd, VIDIOC_S_PARM, &parm));
	self->size = (self->fmt.fmt.pix.sizeimage + 4095) & ~4095UL;
	ret = rvcap_export_n(variant->exporter, self->size, NBUFS + 1, self->bufs);
	if (ret == -ENOENT && (variant->exporter == RVCAP_VIVID_VMALLOC ||
			       variant->exporter == RVCAP_VIVID_CONTIG))
		SKIP(return, "no vivid instance with allocators=%d",
		     variant->exporter == RVCAP_VIVID_CONTIG);
	if (ret == -ENOENT && variant->exporter == RVCAP_VGEM)
		SKIP(return, "no vgem device (CONFIG_DRM_VGEM)");
	ASSERT_EQ(0, ret);
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

/* DMA_BUF_IOCTL_SYNC, if the variant's client brackets its CPU accesses. */
static void cpu_sync(struct __test_metadata *_metadata, struct rvcap_dmabuf *buf,
		     uint64_t how, uint64_t rw)
{
	if (rw)
		ASSERT_EQ(0, rvcap_dmabuf_sync(buf, how | rw));
}

/* The application fills all of @buf with @byte. */
static void fill(struct __test_metadata *_metadata, struct _test_data_lost *self,
		 struct rvcap_dmabuf *buf, uint8_t byte)
{
	cpu_sync(_metadata, buf, DMA_BUF_SYNC_START, self->wr);
	memset(buf->cpu, byte, self->size);
	cpu_sync(_metadata, buf, DMA_BUF_SYNC_END, self->wr);
}

/*
 * How many 64-byte lines of @buf hold a byte other than @byte (read as the
 * variant's client reads); the offset of the first such byte in *@first
 * (-1 if none) and its value in *@was.
 */
static size_t lines_lost(struct __test_metadata *_metadata, struct _test_data_lost *self,
			 struct rvcap_dmabuf *buf, uint8_t byte, long *first, uint8_t *was)
{
	size_t lost = 0, i, j;

	*first = -1;
	*was = byte;
	cpu_sync(_metadata, buf, DMA_BUF_SYNC_START, self->rd);
	for (i = 0; i < self->size; i += LINE) {
		for (j = i; j < i + LINE && j < self->size; j++) {
			if (buf->cpu[j] != byte) {
				if (*first < 0) {
					*first = (long)j;
					*was = buf->cpu[j];
				}
				lost++;
				break;
			}
		}
	}
	cpu_sync(_metadata, buf, DMA_BUF_SYNC_END, self->rd);
	return lost;
}

/* Every byte of @buf is still @byte, what the application wrote last. */
#define EXPECT_KEPT(buf, byte, what) do {					\
	long first;								\
	uint8_t was;								\
	size_t lost = lines_lost(_metadata, self, (buf), (byte), &first, &was);	\
	EXPECT_EQ((size_t)0, lost) {						\
		TH_LOG("%s: %zu of %zu lines lost (byte %ld is 0x%02x, not 0x%02x)", \
		       (what), lost, self->size / LINE, first, was, (byte));	\
	}									\
} while (0)

/*
 * REQBUFS(DMABUF, NBUFS), buffer i queued with dma-buf i, streaming; then
 * the first frame dequeued (a frame the device wrote: the bounce slot now
 * holds it) and every byte of it checked, read as the variant's client
 * reads. Returns the dma-buf it was.
 */
static struct rvcap_dmabuf *stream_and_dequeue(struct __test_metadata *_metadata,
					       struct _test_data_lost *self,
					       struct v4l2_buffer *buf)
{
	struct rvcap_dmabuf *mine;
	long bad;
	int i;

	ASSERT_EQ(NBUFS, rvcap_reqbufs(self->fd, V4L2_MEMORY_DMABUF, NBUFS));
	for (i = 0; i < NBUFS; i++)
		ASSERT_EQ(0, rvcap_qbuf_dmabuf(self->fd, i, self->bufs[i].fd, 0));
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
	ASSERT_EQ(1, rvcap_wait_frame(self->fd, 5000));
	ASSERT_EQ(0, rvcap_dqbuf(self->fd, V4L2_MEMORY_DMABUF, buf));
	mine = &self->bufs[buf->index];
	ASSERT_EQ(mine->fd, buf->m.fd);
	cpu_sync(_metadata, mine, DMA_BUF_SYNC_START, self->rd);
	bad = rvcap_check_frame(mine->cpu, buf->bytesused, buf->sequence);
	cpu_sync(_metadata, mine, DMA_BUF_SYNC_END, self->rd);
	ASSERT_EQ(-1, bad) TH_LOG("byte %ld of frame %u is wrong", bad, buf->sequence);
	return mine;
}

/* stream_and_dequeue(), then the application overwrites it with USER_BYTE. */
static struct rvcap_dmabuf *dequeue_and_overwrite(struct __test_metadata *_metadata,
						   struct _test_data_lost *self,
						   struct v4l2_buffer *buf)
{
	struct rvcap_dmabuf *mine = stream_and_dequeue(_metadata, self, buf);

	fill(_metadata, self, mine, USER_BYTE);
	return mine;
}

/*
 * dequeue_and_overwrite(), then STREAMOFF: now the application owns both
 * buffers, the one it dequeued and the one the device held (queued, never
 * dequeued), and writes both again: LATE_BYTE and HELD_BYTE.
 */
static void write_both_after_streamoff(struct __test_metadata *_metadata,
				       struct _test_data_lost *self, struct v4l2_buffer *buf,
				       struct rvcap_dmabuf **mine, struct rvcap_dmabuf **held)
{
	*mine = dequeue_and_overwrite(_metadata, self, buf);
	*held = &self->bufs[buf->index == 0 ? 1 : 0];
	ASSERT_EQ(0, rvcap_stream(self->fd, false));
	fill(_metadata, self, *mine, LATE_BYTE);
	fill(_metadata, self, *held, HELD_BYTE);
}

TEST_F(lost, user_bytes_survive_streamoff)
{
	long long before = rvcap_counter("sync_before_unmap"), after;
	struct rvcap_dmabuf *mine;
	struct v4l2_buffer buf;

	mine = dequeue_and_overwrite(_metadata, self, &buf);
	ASSERT_EQ(0, rvcap_stream(self->fd, false));
	EXPECT_KEPT(mine, USER_BYTE, "the dequeued buffer");
	/*
	 * Both were handed over before their unmap: the dequeued buffer, and
	 * the one the device held, once a sync for the CPU brought it back.
	 */
	after = rvcap_counter("sync_before_unmap");
	EXPECT_EQ(before + NBUFS, after);
}

TEST_F(lost, user_bytes_survive_streamoff_and_reqbufs_zero)
{
	struct rvcap_dmabuf *mine;
	struct v4l2_buffer buf;
	int attached = -1;

	mine = dequeue_and_overwrite(_metadata, self, &buf);
	ASSERT_EQ(0, rvcap_stream(self->fd, false));
	ASSERT_EQ(0, rvcap_reqbufs(self->fd, V4L2_MEMORY_DMABUF, 0));
	EXPECT_KEPT(mine, USER_BYTE, "the dequeued buffer");
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
	EXPECT_KEPT(mine, USER_BYTE, "the dequeued buffer");
}

TEST_F(lost, user_bytes_survive_the_slot_taking_another_dmabuf)
{
	struct rvcap_dmabuf *mine;
	struct v4l2_buffer buf;

	mine = dequeue_and_overwrite(_metadata, self, &buf);
	ASSERT_EQ(0, rvcap_qbuf_dmabuf(self->fd, buf.index, self->bufs[NBUFS].fd, 0));
	EXPECT_KEPT(mine, USER_BYTE, "the dma-buf the slot let go");
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

	/*
	 * What the move itself does is looked at while the device holds the
	 * buffer: without rvcap's write fence, which a synced read would wait
	 * for (until the frame is there: rvcap_fence_test).
	 */
	ASSERT_EQ(0, rvcap_set_knob("fences", 0));
	a = dequeue_and_overwrite(_metadata, self, &buf);
	ASSERT_EQ(1, rvcap_wait_frame(self->fd, 5000));
	ASSERT_EQ(0, rvcap_dqbuf(self->fd, V4L2_MEMORY_DMABUF, &other));
	b = &self->bufs[other.index];
	fill(_metadata, self, b, OTHER_USER_BYTE);
	ASSERT_EQ(0, rvcap_set_knob("inject_stall_ms", 10000));
	/* Let the engine start the stall of its next frame period. */
	usleep(300 * 1000);
	maps = rvcap_counter("map");
	EXPECT_EQ(0, rvcap_qbuf_dmabuf(self->fd, other.index, a->fd, 0));
	EXPECT_KEPT(a, USER_BYTE, "the dma-buf that moved");
	EXPECT_KEPT(b, OTHER_USER_BYTE, "the slot's own dma-buf, let go");
	rvcap_set_knob("inject_stall_ms", 0);
	EXPECT_EQ(maps, rvcap_counter("map")) TH_LOG("the moving dma-buf was mapped again");
	EXPECT_EQ(1, rvcap_buffers_lines(" dequeued cpu    no       no "));
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
	EXPECT_KEPT(a, USER_BYTE, "the dma-buf refused elsewhere");
	/* And the stream goes on. */
	ASSERT_EQ(0, rvcap_qbuf_dmabuf(self->fd, buf.index, a->fd, 0));
	ASSERT_EQ(1, rvcap_wait_frame(self->fd, 5000));
}

/*
 * After STREAMOFF the application writes both buffers (the one it had
 * dequeued and the one the device held); then REQBUFS(0) releases them.
 * An exporter that unmaps at detach with a sync for the CPU (vb2-vmalloc)
 * copies back whatever the device side last had, unless rvcap hands the
 * CPU's bytes over again before the detach.
 */
TEST_F(lost, writes_after_streamoff_survive_reqbufs_zero)
{
	struct rvcap_dmabuf *mine, *held;
	struct v4l2_buffer buf;
	int attached = -1;

	write_both_after_streamoff(_metadata, self, &buf, &mine, &held);
	ASSERT_EQ(0, rvcap_reqbufs(self->fd, V4L2_MEMORY_DMABUF, 0));
	EXPECT_KEPT(mine, LATE_BYTE, "the dequeued buffer");
	EXPECT_KEPT(held, HELD_BYTE, "the buffer the device held at STREAMOFF");
	rvcap_bufinfo(rvcap_dma_device(), &attached);
	EXPECT_EQ(0, attached);
}

TEST_F(lost, writes_after_streamoff_survive_close)
{
	struct rvcap_dmabuf *mine, *held;
	struct v4l2_buffer buf;

	write_both_after_streamoff(_metadata, self, &buf, &mine, &held);
	ASSERT_EQ(0, close(self->fd));
	self->fd = -1;
	EXPECT_KEPT(mine, LATE_BYTE, "the dequeued buffer");
	EXPECT_KEPT(held, HELD_BYTE, "the buffer the device held at STREAMOFF");
}

/*
 * After STREAMOFF and the writes, the dequeued buffer's slot is queued
 * with the spare dma-buf: rvcap lets go of the slot's own. Then
 * REQBUFS(0) lets go of the other.
 */
TEST_F(lost, writes_after_streamoff_survive_the_slot_taking_another_dmabuf)
{
	struct rvcap_dmabuf *mine, *held;
	struct v4l2_buffer buf;

	write_both_after_streamoff(_metadata, self, &buf, &mine, &held);
	ASSERT_EQ(0, rvcap_qbuf_dmabuf(self->fd, buf.index, self->bufs[NBUFS].fd, 0));
	EXPECT_KEPT(mine, LATE_BYTE, "the dma-buf the slot let go");
	EXPECT_KEPT(held, HELD_BYTE, "the buffer the device held at STREAMOFF");
	ASSERT_EQ(0, rvcap_reqbufs(self->fd, V4L2_MEMORY_DMABUF, 0));
	EXPECT_KEPT(mine, LATE_BYTE, "the dma-buf the slot let go, after REQBUFS(0)");
	EXPECT_KEPT(held, HELD_BYTE, "the buffer the device held at STREAMOFF, after REQBUFS(0)");
}

/*
 * After STREAMOFF and the writes, the dequeued dma-buf is queued in the
 * other slot, whose own dma-buf (the one the device held) rvcap lets go.
 * The moved one is the device's again once queued: it is checked right
 * after the QBUF only (nothing streams), not after REQBUFS(0).
 */
TEST_F(lost, writes_after_streamoff_survive_the_dmabuf_moving_to_another_slot)
{
	struct rvcap_dmabuf *mine, *held;
	struct v4l2_buffer buf;

	write_both_after_streamoff(_metadata, self, &buf, &mine, &held);
	ASSERT_EQ(0, rvcap_qbuf_dmabuf(self->fd, buf.index == 0 ? 1 : 0, mine->fd, 0));
	EXPECT_KEPT(mine, LATE_BYTE, "the dma-buf that moved");
	EXPECT_KEPT(held, HELD_BYTE, "the slot's own dma-buf (the device held it at STREAMOFF), let go");
	ASSERT_EQ(0, rvcap_reqbufs(self->fd, V4L2_MEMORY_DMABUF, 0));
	EXPECT_KEPT(held, HELD_BYTE, "the dma-buf let go, after REQBUFS(0)");
}

/*
 * map_per_qbuf: rvcap unmaps each import at DQBUF (the exporter may keep
 * its mapping until the detach); the application writes the dequeued
 * buffer, then closes rvcap while streaming.
 */
TEST_F(lost, map_per_qbuf_user_bytes_survive_close)
{
	struct rvcap_dmabuf *mine;
	struct v4l2_buffer buf;

	ASSERT_EQ(0, rvcap_set_knob("map_per_qbuf", 1));
	mine = dequeue_and_overwrite(_metadata, self, &buf);
	ASSERT_EQ(0, close(self->fd));
	self->fd = -1;
	EXPECT_KEPT(mine, USER_BYTE, "the dequeued buffer");
}

TEST_F(lost, map_per_qbuf_writes_after_streamoff_survive_reqbufs_zero)
{
	struct rvcap_dmabuf *mine, *held;
	struct v4l2_buffer buf;

	ASSERT_EQ(0, rvcap_set_knob("map_per_qbuf", 1));
	write_both_after_streamoff(_metadata, self, &buf, &mine, &held);
	ASSERT_EQ(0, rvcap_reqbufs(self->fd, V4L2_MEMORY_DMABUF, 0));
	EXPECT_KEPT(mine, LATE_BYTE, "the dequeued buffer");
	EXPECT_KEPT(held, HELD_BYTE, "the buffer the device held at STREAMOFF");
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

/* MMAP buffers: one still mmapped outlives REQBUFS(0) with its bytes. */
FIXTURE(mmap_buffer) {
	int fd;
	struct v4l2_format fmt;
};

FIXTURE_SETUP(mmap_buffer)
{
	rvcap_reset_knobs();
	self->fd = open(rvcap_dev(), O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, rvcap_set_format(self->fd, V4L2_PIX_FMT_YUYV, WIDTH, HEIGHT, &self->fmt));
	ASSERT_EQ(0, rvcap_set_pattern(self->fd, 2));
}

FIXTURE_TEARDOWN(mmap_buffer)
{
	if (self->fd >= 0) {
		rvcap_restore_defaults(self->fd);
		close(self->fd);
	}
}

TEST_F(mmap_buffer, user_bytes_in_an_orphaned_mmap_buffer_survive_reqbufs_zero)
{
	struct v4l2_buffer buf = {
		.type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
		.memory = V4L2_MEMORY_MMAP,
	};
	uint8_t *map;
	size_t len;
	long bad;
	int i;

	ASSERT_EQ(NBUFS, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, NBUFS));
	map = rvcap_mmap_buffer(self->fd, 0, PROT_READ | PROT_WRITE, &len);
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
	memset(map, USER_BYTE, len);
	ASSERT_EQ(0, rvcap_stream(self->fd, false));
	ASSERT_EQ(0, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, 0));
	bad = first_changed(map, len, USER_BYTE);
	EXPECT_EQ(-1, bad) TH_LOG("byte %ld is 0x%02x", bad, map[bad]);
	munmap(map, len);
}

TEST_HARNESS_MAIN
