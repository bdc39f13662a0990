// SPDX-License-Identifier: GPL-2.0
/*
 * rvcap's DMA master as a device of its own. With QEMU's edu PCI device
 * bound (the IOMMU boot), buffers are mapped for edu and its DMA engine
 * writes the first bytes of every frame through the IOMMU (the debugfs knob
 * device_stamp); with inject_dma_after_unmap it writes into a buffer just
 * after STREAMOFF unmapped it, which the IOMMU must refuse and report.
 * Without edu (the other boots) neither knob exists, which is checked too.
 *
 * The fault test brackets the fault it provokes with the lines the
 * kernel-log judge (scripts/check-kernel-log.py) expects; a fault outside
 * them, or none inside, fails the boot. Expects rvcap loaded.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <sys/utsname.h>
#include "kselftest_harness.h"
#include "rvcap_v4l2.h"

#define NBUFS 3
#define WIDTH 320
#define HEIGHT 240
#define FRAMES 6
#define GARBAGE 0x5a
/* What the fault test writes into the buffer the device must not touch. */
#define OWNED 0xc3
/* Bytes edu writes after the unmap (the driver's choice, at most 64). */
#define STALE_BYTES 64

/* Whether QEMU's edu device (PCI 1234:11e8) is present, from sysfs. */
static bool edu_present(void)
{
	char path[300], id[16];
	struct dirent *d;
	bool found = false;
	DIR *dir = opendir("/sys/bus/pci/devices");
	FILE *f;

	if (!dir)
		return false;
	while (!found && (d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor", d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		found = fgets(id, sizeof(id), f) && !strncmp(id, "0x1234", 6);
		fclose(f);
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device", d->d_name);
		f = found ? fopen(path, "r") : NULL;
		found = f && fgets(id, sizeof(id), f) && !strncmp(id, "0x11e8", 6);
		if (f)
			fclose(f);
	}
	closedir(dir);
	return found;
}

static bool knob_exists(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/kernel/debug/rvcap/rvcap.0/%s", name);
	return access(path, F_OK) == 0;
}

/* Reads debugfs knob @name of rvcap.0; -1 if it cannot. */
static long knob_value(const char *name)
{
	char path[128], text[32];
	FILE *f;
	long v = -1;

	snprintf(path, sizeof(path), "/sys/kernel/debug/rvcap/rvcap.0/%s", name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fgets(text, sizeof(text), f))
		v = text[0] == 'Y' ? 1 : text[0] == 'N' ? 0 : strtol(text, NULL, 0);
	fclose(f);
	return v;
}

/* Writes @msg to the kernel log, where the kernel-log judge reads it. */
static int kmsg_write(const char *msg)
{
	int fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, msg, strlen(msg));
	close(fd);
	return n == (ssize_t)strlen(msg) ? 0 : -EIO;
}

/*
 * dma_device says whether the DMA master is coherent: on x86 every device
 * is; on arm64 rvcap's platform device has no firmware node saying
 * dma-coherent, so it is not, and its syncs do cache maintenance.
 */
TEST(dma_device_says_whether_the_dma_master_is_coherent)
{
	struct utsname u;
	int coherent = rvcap_dma_coherent(), want = coherent;

	ASSERT_EQ(0, uname(&u));
	ASSERT_LE(0, coherent) TH_LOG("no \"coherent yes|no\" line in dma_device");
	if (!strcmp(u.machine, "x86_64"))
		want = 1;
	else if (!strcmp(u.machine, "aarch64") && !strcmp(rvcap_dma_device(), "rvcap.0"))
		want = 0;
	EXPECT_EQ(want, coherent);
}

TEST(the_dma_master_knobs_exist_exactly_with_the_edu_device)
{
	bool edu = edu_present();

	ASSERT_LE(0, rvcap_counter("frames")) TH_LOG("rvcap.0's debugfs is missing");
	EXPECT_EQ(edu, knob_exists("device_stamp"));
	EXPECT_EQ(edu, knob_exists("inject_dma_after_unmap"));
	EXPECT_EQ(edu, rvcap_counter("edu_transfers") >= 0);
	/* The frame counter of the stamps is there either way. */
	EXPECT_LE(0, rvcap_counter("device_stamps"));
}

FIXTURE(stamp) {
	int fd;
	struct v4l2_format fmt;
	struct rvcap_dmabuf bufs[NBUFS];
	uint8_t *cpu[NBUFS];
	size_t size;
};

FIXTURE_VARIANT(stamp) {
	uint32_t memory;
	enum rvcap_exporter exporter;
};

FIXTURE_VARIANT_ADD(stamp, mmap) {
	.memory = V4L2_MEMORY_MMAP,
};

FIXTURE_VARIANT_ADD(stamp, udmabuf) {
	.memory = V4L2_MEMORY_DMABUF,
	.exporter = RVCAP_UDMABUF,
};

FIXTURE_VARIANT_ADD(stamp, system_heap) {
	.memory = V4L2_MEMORY_DMABUF,
	.exporter = RVCAP_DMA_HEAP,
};

FIXTURE_SETUP(stamp)
{
	struct v4l2_buffer buf;
	int i;

	for (i = 0; i < NBUFS; i++)
		self->bufs[i] = (struct rvcap_dmabuf){ .fd = -1, .keep_fd = -1 };
	self->fd = open(rvcap_dev(), O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
	if (!edu_present())
		SKIP(return, "no edu device: rvcap's DMA master is the platform device");
	ASSERT_EQ(0, rvcap_set_format(self->fd, V4L2_PIX_FMT_YUYV, WIDTH, HEIGHT, &self->fmt));
	ASSERT_EQ(0, rvcap_set_pattern(self->fd, 2));
	self->size = (self->fmt.fmt.pix.sizeimage + 4095) & ~4095UL;
	ASSERT_EQ(NBUFS, rvcap_reqbufs(self->fd, variant->memory, NBUFS));
	for (i = 0; i < NBUFS; i++) {
		if (variant->memory == V4L2_MEMORY_MMAP) {
			memset(&buf, 0, sizeof(buf));
			buf.index = i;
			buf.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
			buf.memory = V4L2_MEMORY_MMAP;
			ASSERT_EQ(0, xioctl(self->fd, VIDIOC_QUERYBUF, &buf));
			self->cpu[i] = mmap(NULL, buf.length, PROT_READ | PROT_WRITE, MAP_SHARED,
					    self->fd, buf.m.offset);
			ASSERT_NE(MAP_FAILED, self->cpu[i]);
		} else {
			ASSERT_EQ(0, rvcap_export(variant->exporter, self->size, &self->bufs[i]));
			self->cpu[i] = self->bufs[i].cpu;
		}
	}
}

FIXTURE_TEARDOWN(stamp)
{
	int i;

	rvcap_set_knob("device_stamp", 0);
	rvcap_set_knob("inject_dma_after_unmap", 0);
	for (i = 0; i < NBUFS; i++) {
		if (variant->memory == V4L2_MEMORY_MMAP && self->cpu[i] && self->cpu[i] != MAP_FAILED)
			munmap(self->cpu[i], self->fmt.fmt.pix.sizeimage);
		rvcap_unexport(&self->bufs[i]);
	}
	rvcap_restore_defaults(self->fd);
	close(self->fd);
}

/* Fills buffer @i with garbage (the device must overwrite every byte), queues it. */
static int requeue(struct _test_data_stamp *self, uint32_t memory, int i)
{
	memset(self->cpu[i], GARBAGE, self->fmt.fmt.pix.sizeimage);
	return rvcap_qbuf(self->fd, memory, i, memory == V4L2_MEMORY_DMABUF ? self->bufs[i].fd : -1);
}

/*
 * Every byte of every frame is right, the first ones written by edu's DMA
 * engine: the engine leaves them to it, the buffers start as garbage, and
 * the counters say edu wrote each frame's first bytes (after loading its
 * own buffer once for the stream). No DMA_BUF_IOCTL_SYNC.
 */
TEST_F_TIMEOUT(stamp, the_dma_engine_writes_the_first_bytes_of_every_frame, 60)
{
	long long frames = rvcap_counter("frames"), stamps = rvcap_counter("device_stamps");
	long long transfers = rvcap_counter("edu_transfers");
	struct v4l2_buffer buf;
	long bad;
	int i;

	ASSERT_LE(0, transfers);
	ASSERT_EQ(0, rvcap_set_knob("device_stamp", 1));
	for (i = 0; i < NBUFS; i++)
		ASSERT_EQ(0, requeue(self, variant->memory, i));
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
	for (i = 0; i < FRAMES; i++) {
		ASSERT_EQ(0, rvcap_dqbuf(self->fd, variant->memory, &buf));
		ASSERT_EQ(0U, buf.flags & V4L2_BUF_FLAG_ERROR);
		ASSERT_EQ(self->fmt.fmt.pix.sizeimage, buf.bytesused);
		bad = rvcap_check_frame(self->cpu[buf.index], buf.bytesused, buf.sequence);
		EXPECT_EQ(-1, bad) TH_LOG("frame %u: byte %ld is %#x, not %#x", buf.sequence,
					  bad, self->cpu[buf.index][bad < 0 ? 0 : bad],
					  rvcap_verification_byte(bad < 0 ? 0 : bad, buf.sequence));
		ASSERT_EQ(0, requeue(self, variant->memory, buf.index));
	}
	ASSERT_EQ(0, rvcap_stream(self->fd, false));
	frames = rvcap_counter("frames") - frames;
	stamps = rvcap_counter("device_stamps") - stamps;
	EXPECT_LE(FRAMES, frames);
	EXPECT_EQ(frames, stamps) TH_LOG("frames whose first bytes edu did not write");
	/* One transfer per frame, and one that loaded edu's buffer. */
	EXPECT_EQ(stamps + 1, rvcap_counter("edu_transfers") - transfers);
}

/*
 * A device that writes to a buffer's old DMA address after the driver freed
 * it: behind an IOMMU in strict mode the translation is gone at once, so
 * the IOMMU refuses the write and reports it, and memory the application
 * owns keeps its bytes. The driver injects the write just after buffer 0's
 * unmap and detach: at close while streaming (imports: REQBUFS(0) after
 * STREAMOFF would find nothing mapped, and udmabuf's mapping, which the
 * dma-buf core caches, only goes at detach), at REQBUFS(0) for MMAP
 * buffers (unmapped from userspace first, or they stay mapped).
 */
TEST_F_TIMEOUT(stamp, a_device_write_after_unmap_faults_in_the_iommu, 60)
{
	struct v4l2_buffer buf;
	int kmsg, faults = 0, injected = 0, waited, i;

	if (!rvcap_dma_translated())
		SKIP(return, "edu is not behind an IOMMU");
	kmsg = rvcap_kmsg_open();
	ASSERT_LE(0, kmsg);
	for (i = 0; i < NBUFS; i++)
		ASSERT_EQ(0, requeue(self, variant->memory, i));
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
	ASSERT_EQ(0, rvcap_dqbuf(self->fd, variant->memory, &buf));
	/* The driver aims at buffer 0, the first one done, which we now own. */
	ASSERT_EQ(0U, buf.index);
	memset(self->cpu[0], OWNED, self->fmt.fmt.pix.sizeimage);
	ASSERT_EQ(0, kmsg_write("rvcap-test: expecting an IOMMU fault: edu writes after unmap\n"));
	ASSERT_EQ(0, rvcap_set_knob("inject_dma_after_unmap", 1));
	if (variant->memory == V4L2_MEMORY_MMAP) {
		ASSERT_EQ(0, rvcap_stream(self->fd, false));
		for (i = 0; i < NBUFS; i++) {
			munmap(self->cpu[i], self->fmt.fmt.pix.sizeimage);
			self->cpu[i] = NULL;
		}
		ASSERT_EQ(0, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, 0));
	} else {
		close(self->fd);
		self->fd = open(rvcap_dev(), O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, self->fd);
	}
	/* The IOMMU's fault interrupt reports it soon after the transfer. */
	for (waited = 0; waited < 5000 && !faults; waited += 100) {
		usleep(100 * 1000);
		rvcap_kmsg_count2(kmsg, "inject_dma_after_unmap: ", &injected,
				  "DMAR: [DMA Write", &faults);
	}
	kmsg_write("rvcap-test: end of expected IOMMU fault\n");
	close(kmsg);
	EXPECT_EQ(1, injected) TH_LOG("rvcap did not log the injected write");
	EXPECT_LE(1, faults) TH_LOG("no IOMMU fault reported for a write after unmap");
	EXPECT_EQ(0, knob_value("inject_dma_after_unmap")) TH_LOG("the injection was not used up");
	/* MMAP memory is gone; an import's pages are the application's. */
	for (i = 0; variant->memory == V4L2_MEMORY_DMABUF && i < STALE_BYTES; i++)
		ASSERT_EQ(OWNED, self->cpu[0][i]) TH_LOG("byte %d changed after the unmap", i);
}

TEST_HARNESS_MAIN
