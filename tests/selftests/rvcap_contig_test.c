// SPDX-License-Identifier: GPL-2.0
/*
 * rvcap's contiguous-DMA mode (contig=1), for capture hardware without an
 * IOMMU: every buffer must be one contiguous DMA range. Imports that are not
 * get EINVAL and a kernel log line saying why; MMAP buffers are allocated
 * contiguous and stream. Loads and unloads the module itself.
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"
#include "rvcap_module.h"
#include "rvcap_v4l2.h"

FIXTURE(contig) {
	int fd;
	struct v4l2_format fmt;
};

FIXTURE_SETUP(contig)
{
	if (rvcap_path_exists(RVCAP_MODULE_SYSFS))
		ASSERT_EQ(0, rvcap_unload_module_settled());
	ASSERT_EQ(0, rvcap_load_module("contig=1"));
	self->fd = open(rvcap_dev(), O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, rvcap_set_pattern(self->fd, 2));
}

FIXTURE_TEARDOWN(contig)
{
	close(self->fd);
	rvcap_unload_module_settled();
}

/* Streams @frames frames and checks every byte of each. */
static void stream_checked(struct __test_metadata *_metadata, int fd, uint32_t memory,
			   uint8_t *const *cpu, int frames)
{
	struct v4l2_buffer buf;
	int i;

	ASSERT_EQ(0, rvcap_stream(fd, true));
	for (i = 0; i < frames; i++) {
		ASSERT_EQ(1, rvcap_wait_frame(fd, 5000));
		ASSERT_EQ(0, rvcap_dqbuf(fd, memory, &buf));
		ASSERT_EQ(-1, rvcap_check_frame(cpu[buf.index], buf.bytesused, buf.sequence));
		ASSERT_EQ(0, memory == V4L2_MEMORY_MMAP ?
			     rvcap_qbuf_mmap(fd, buf.index) :
			     rvcap_qbuf_dmabuf(fd, buf.index, buf.m.fd, 0));
	}
	ASSERT_EQ(0, rvcap_stream(fd, false));
}

TEST_F(contig, single_page_import_is_accepted)
{
	struct rvcap_dmabuf page;

	ASSERT_EQ(0, rvcap_set_format(self->fd, V4L2_PIX_FMT_GREY, 64, 64, &self->fmt));
	ASSERT_EQ(4096U, self->fmt.fmt.pix.sizeimage);
	ASSERT_EQ(0, rvcap_export(RVCAP_UDMABUF, 4096, &page));
	ASSERT_EQ(1, rvcap_reqbufs(self->fd, V4L2_MEMORY_DMABUF, 1));
	ASSERT_EQ(0, rvcap_qbuf_dmabuf(self->fd, 0, page.fd, 0));
	stream_checked(_metadata, self->fd, V4L2_MEMORY_DMABUF, &page.cpu, 5);
	rvcap_reqbufs(self->fd, V4L2_MEMORY_DMABUF, 0);
	rvcap_unexport(&page);
}

/* A udmabuf of memfd pages @first, then @second. */
static int two_page_udmabuf(int memfd, int first, int second)
{
	struct {
		struct udmabuf_create_list head;
		struct udmabuf_create_item items[2];
	} list = {
		.head = { .flags = UDMABUF_FLAGS_CLOEXEC, .count = 2 },
		.items = {
			{ .memfd = memfd, .offset = first * 4096, .size = 4096 },
			{ .memfd = memfd, .offset = second * 4096, .size = 4096 },
		},
	};
	int dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	int fd;

	if (dev < 0)
		return -errno;
	fd = ioctl(dev, UDMABUF_CREATE_LIST, &list);
	close(dev);
	return fd < 0 ? -errno : fd;
}

/* Whether the kernel bounces every DMA mapping (swiotlb=...force). */
static bool swiotlb_forced(void)
{
	char cmdline[1024] = "";
	FILE *f = fopen("/proc/cmdline", "r");

	if (f) {
		if (!fgets(cmdline, sizeof(cmdline), f))
			cmdline[0] = '\0';
		fclose(f);
	}
	return strstr(cmdline, "swiotlb=") && strstr(cmdline, "force");
}

TEST_F(contig, scattered_import_is_refused_unless_an_iommu_makes_it_one_range)
{
	int memfd, forward, reverse, a, b, kmsg;

	if (swiotlb_forced())
		SKIP(return, "swiotlb bounces put every segment into adjacent slots: any import is one DMA range");

	/*
	 * Pages 0 and 1 of a memfd, in both orders: they cannot both be one
	 * ascending range, so at least one of the two dma-bufs is scattered.
	 */
	ASSERT_EQ(0, rvcap_set_format(self->fd, V4L2_PIX_FMT_GREY, 64, 64, &self->fmt));
	memfd = memfd_create("rvcap-contig", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	ASSERT_LE(0, memfd);
	ASSERT_EQ(0, ftruncate(memfd, 2 * 4096));
	ASSERT_EQ(0, fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK));
	forward = two_page_udmabuf(memfd, 0, 1);
	reverse = two_page_udmabuf(memfd, 1, 0);
	ASSERT_LE(0, forward);
	ASSERT_LE(0, reverse);

	kmsg = rvcap_kmsg_open();
	ASSERT_LE(0, kmsg);
	ASSERT_EQ(2, rvcap_reqbufs(self->fd, V4L2_MEMORY_DMABUF, 2));
	a = rvcap_qbuf_dmabuf(self->fd, 0, forward, 0);
	b = rvcap_qbuf_dmabuf(self->fd, 1, reverse, 0);
	if (rvcap_dma_translated()) {
		/* Behind an IOMMU both are one IOVA range: contig is met. */
		EXPECT_EQ(0, a) TH_LOG("forward, behind an IOMMU: %d", a);
		EXPECT_EQ(0, b) TH_LOG("reverse, behind an IOMMU: %d", b);
		EXPECT_EQ(0, rvcap_kmsg_count(kmsg, "DMA addresses are not one contiguous range"));
	} else {
		EXPECT_TRUE(a == 0 || a == -EINVAL) TH_LOG("forward: %d", a);
		EXPECT_TRUE(b == 0 || b == -EINVAL) TH_LOG("reverse: %d", b);
		EXPECT_TRUE(a == -EINVAL || b == -EINVAL);
		EXPECT_LE(1, rvcap_kmsg_count(kmsg, "DMA addresses are not one contiguous range"))
			TH_LOG("no kernel log line saying why");
	}
	/* A refused import leaves nothing behind. */
	rvcap_reqbufs(self->fd, V4L2_MEMORY_DMABUF, 0);
	EXPECT_EQ(rvcap_counter("map"), rvcap_counter("unmap"));
	EXPECT_EQ(rvcap_counter("attach"), rvcap_counter("detach"));
	EXPECT_EQ(rvcap_counter("dmabuf_get"), rvcap_counter("dmabuf_put"));
	close(kmsg);
	close(forward);
	close(reverse);
	close(memfd);
}

TEST_F(contig, mmap_buffers_are_contiguous_and_stream)
{
	struct v4l2_buffer buf;
	uint8_t *cpu[2];
	int i;

	/* Four pages per buffer: small enough for swiotlb to bounce at once. */
	ASSERT_EQ(0, rvcap_set_format(self->fd, V4L2_PIX_FMT_GREY, 128, 128, &self->fmt));
	ASSERT_EQ(2, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, 2));
	for (i = 0; i < 2; i++) {
		memset(&buf, 0, sizeof(buf));
		buf.index = i;
		buf.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
		buf.memory = V4L2_MEMORY_MMAP;
		ASSERT_EQ(0, xioctl(self->fd, VIDIOC_QUERYBUF, &buf));
		cpu[i] = mmap(NULL, buf.length, PROT_READ, MAP_SHARED, self->fd, buf.m.offset);
		ASSERT_NE(MAP_FAILED, cpu[i]);
		ASSERT_EQ(0, rvcap_qbuf_mmap(self->fd, i));
	}
	stream_checked(_metadata, self->fd, V4L2_MEMORY_MMAP, cpu, 5);
	for (i = 0; i < 2; i++)
		munmap(cpu[i], self->fmt.fmt.pix.sizeimage);
	rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, 0);
}

/*
 * A format whose buffers are larger than the page allocator's largest
 * contiguous block (RGB24 1920x1080 is 6.2 MB): REQBUFS and CREATE_BUFS get
 * ENOMEM and a log line, not a kernel warning (the boot's log scan fails
 * on one), and a smaller format still works.
 */
TEST_F(contig, mmap_buffers_too_large_to_be_contiguous_get_enomem)
{
	struct v4l2_create_buffers create = {
		.count = 1,
		.memory = V4L2_MEMORY_MMAP,
	};
	int kmsg = rvcap_kmsg_open();

	ASSERT_LE(0, kmsg);
	ASSERT_EQ(0, rvcap_set_format(self->fd, V4L2_PIX_FMT_RGB24, 1920, 1080, &self->fmt));
	EXPECT_EQ(-ENOMEM, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, 2));
	create.format = self->fmt;
	EXPECT_EQ(-ENOMEM, xioctl(self->fd, VIDIOC_CREATE_BUFS, &create));
	EXPECT_LE(1, rvcap_kmsg_count(kmsg, "contig=1 allocates them physically contiguous"))
		TH_LOG("no kernel log line saying why");
	close(kmsg);
	ASSERT_EQ(0, rvcap_set_format(self->fd, V4L2_PIX_FMT_GREY, 128, 128, &self->fmt));
	EXPECT_EQ(2, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, 2));
	rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, 0);
}

TEST_HARNESS_MAIN
