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
 * them, or none inside, fails the boot.
 *
 * The last tests remove edu (sysfs "remove", as a hot-unplug does) with a
 * file open, idle or streaming: the capture device that maps for edu is
 * unbound first, every later request gets ENODEV, nothing stays attached
 * to or mapped for edu, its debugfs directory goes, and so does the
 * reservation of its register BAR for rvcap-edu. Each then rescans
 * the PCI bus, so that edu comes back, rvcap binds it and the capture
 * device comes back on it, and checks that it captures again: the suites
 * after this one need it. Expects rvcap loaded.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
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

/*
 * The PCI address of QEMU's edu device (1234:11e8), from sysfs, into @addr
 * (@len bytes); whether there is one.
 */
static bool edu_address(char *addr, size_t len)
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
		if (found && strlen(d->d_name) < len)
			memcpy(addr, d->d_name, strlen(d->d_name) + 1);
	}
	closedir(dir);
	return found;
}

/* Whether QEMU's edu device is present. */
static bool edu_present(void)
{
	char addr[64];

	return edu_address(addr, sizeof(addr));
}

/*
 * Whether /proc/iomem lists a region reserved for rvcap's edu driver
 * ("rvcap-edu"): edu's register BAR, reserved while rvcap has it bound.
 */
static bool edu_bar_reserved(void)
{
	char line[256];
	bool found = false;
	FILE *f = fopen("/proc/iomem", "r");

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, " : rvcap-edu\n") != NULL;
	if (f)
		fclose(f);
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
	EXPECT_EQ(edu, edu_bar_reserved()) TH_LOG("edu's BAR reserved for rvcap-edu (/proc/iomem)");
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
	size_t len;
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
			self->cpu[i] = rvcap_mmap_buffer(self->fd, i, PROT_READ | PROT_WRITE,
							 &len);
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
 * Behind the IOMMU a buffer's IOVAs form few DMA segments (iommu-dma merges
 * a table's pages as far as the device's segment limit allows, and rvcap
 * sets none), and for a coherent, trusted device like edu behind VT-d a
 * sync translates nothing, so the QBUF sync takes one dma_sync_single_*()
 * call per segment, not one per 4 KiB IOMMU page (a 320x240 buffer: 1 to
 * 3, not 38). The bound allows a 64 KiB segment limit.
 */
TEST_F(stamp, a_qbuf_sync_behind_the_iommu_is_one_call_per_segment)
{
	long long before = rvcap_counter("sync_calls"), calls;

	ASSERT_LE(0, before);
	ASSERT_EQ(0, requeue(self, variant->memory, 0));
	calls = rvcap_counter("sync_calls") - before;
	EXPECT_LE(1, calls);
	EXPECT_GE((long long)(self->size / 65536 + 1), calls) {
		TH_LOG("%lld sync calls for one QBUF of a %zu-byte buffer", calls, self->size);
	}
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


/* ---- edu goes away, and comes back */

#define DEBUGFS_DIR "/sys/kernel/debug/rvcap/rvcap.0"
#define DMA_DEVICE DEBUGFS_DIR "/dma_device"
/* How long rvcap may take to bind edu and its capture device again. */
#define COMEBACK_MS 10000

/* Writes "1" to the sysfs file @path; 0 or -errno. */
static int sysfs_write_1(const char *path)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, "1", 1) != 1)
		ret = -errno;
	close(fd);
	return ret;
}

/* Removes PCI device @addr as a hot-unplug would; 0 or -errno. */
static int pci_remove(const char *addr)
{
	char path[300];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/remove", addr);
	return sysfs_write_1(path);
}

/* Whether a video node named @name is registered. */
static bool node_named(const char *name)
{
	char path[300], text[64];
	struct dirent *d;
	bool found = false;
	DIR *dir = opendir("/sys/class/video4linux");
	FILE *f;

	while (dir && !found && (d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/class/video4linux/%s/name", d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(text, sizeof(text), f)) {
			text[strcspn(text, "\n")] = '\0';
			found = !strcmp(text, name);
		}
		fclose(f);
	}
	if (dir)
		closedir(dir);
	return found;
}

/*
 * Rescans the PCI bus so that a removed edu comes back, and waits until
 * rvcap's capture device maps for it again. 0, or -errno.
 */
static int edu_comes_back(void)
{
	char addr[64];
	int waited;

	if (sysfs_write_1("/sys/bus/pci/rescan"))
		return -errno;
	for (waited = 0; waited < COMEBACK_MS; waited += 100) {
		if (edu_address(addr, sizeof(addr)) && access(DMA_DEVICE, F_OK) == 0 &&
		    !strcmp(rvcap_dma_device(), addr) && access(rvcap_dev(), F_OK) == 0)
			return 0;
		usleep(100 * 1000);
	}
	return -ETIMEDOUT;
}

/* Captures @frames byte-exact verification frames into MMAP buffers. */
static void capture_works(struct __test_metadata *_metadata, int frames)
{
	struct v4l2_format fmt;
	struct v4l2_buffer buf;
	uint8_t *cpu[NBUFS];
	size_t len[NBUFS];
	int fd, i;

	fd = open(rvcap_dev(), O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, rvcap_set_format(fd, V4L2_PIX_FMT_YUYV, WIDTH, HEIGHT, &fmt));
	ASSERT_EQ(0, rvcap_set_pattern(fd, 2));
	ASSERT_EQ(NBUFS, rvcap_reqbufs(fd, V4L2_MEMORY_MMAP, NBUFS));
	for (i = 0; i < NBUFS; i++) {
		cpu[i] = rvcap_mmap_buffer(fd, i, PROT_READ, &len[i]);
		ASSERT_NE(MAP_FAILED, cpu[i]);
		ASSERT_EQ(0, rvcap_qbuf_mmap(fd, i));
	}
	ASSERT_EQ(0, rvcap_stream(fd, true));
	for (i = 0; i < frames; i++) {
		ASSERT_EQ(0, rvcap_dqbuf(fd, V4L2_MEMORY_MMAP, &buf));
		ASSERT_EQ(0U, buf.flags & V4L2_BUF_FLAG_ERROR);
		EXPECT_EQ(-1, rvcap_check_frame(cpu[buf.index], buf.bytesused, buf.sequence));
		ASSERT_EQ(0, rvcap_qbuf_mmap(fd, buf.index));
	}
	for (i = 0; i < NBUFS; i++)
		munmap(cpu[i], len[i]);
	rvcap_restore_defaults(fd);
	close(fd);
}

/*
 * What a file of a capture device that went away gets: ENODEV from every
 * ioctl, EPOLLERR | EPOLLHUP from poll, ENODEV from mmap.
 */
static void file_is_disconnected(struct __test_metadata *_metadata, int fd, uint32_t memory)
{
	struct v4l2_requestbuffers req = {
		.count = 2,
		.type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
		.memory = memory,
	};
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct v4l2_capability cap;
	struct v4l2_buffer buf;
	struct v4l2_format fmt = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE };

	EXPECT_EQ(-ENODEV, xioctl(fd, VIDIOC_QUERYCAP, &cap));
	EXPECT_EQ(-ENODEV, xioctl(fd, VIDIOC_G_FMT, &fmt));
	EXPECT_EQ(-ENODEV, xioctl(fd, VIDIOC_REQBUFS, &req));
	EXPECT_EQ(-ENODEV, rvcap_dqbuf(fd, memory, &buf));
	EXPECT_EQ(-ENODEV, rvcap_qbuf(fd, memory, 0, -1));
	EXPECT_EQ(-ENODEV, rvcap_stream(fd, true));
	EXPECT_EQ(-ENODEV, rvcap_stream(fd, false));
	EXPECT_EQ(1, poll(&p, 1, 0));
	EXPECT_EQ(POLLERR | POLLHUP, p.revents & (POLLERR | POLLHUP));
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0));
	EXPECT_EQ(ENODEV, errno);
}

/*
 * What the rest of the system sees once edu (@addr) is gone: the capture
 * device is unbound, its node and debugfs directory are gone (so no
 * dma_device names the removed device), no dma-buf is attached to edu any
 * more, and no "rvcap-edu" line is left in /proc/iomem. (That last one
 * cannot tell a leaked reservation: removing the PCI device releases its
 * BARs' resources with everything under them. tests/plans/check.sh checks
 * the release where it can: after rvcap's unload, edu still present.)
 */
static void capture_device_is_gone(struct __test_metadata *_metadata, const char *addr)
{
	int attached = -1;

	EXPECT_FALSE(edu_present());
	EXPECT_NE(0, access("/sys/bus/platform/devices/rvcap.0/driver", F_OK))
		TH_LOG("rvcap.0 is still bound");
	EXPECT_FALSE(node_named("rvcap-0"));
	EXPECT_NE(0, access(DEBUGFS_DIR, F_OK));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_LE(0, rvcap_bufinfo(addr, &attached));
	EXPECT_EQ(0, attached) TH_LOG("dma-bufs still attached to the removed %s", addr);
	EXPECT_FALSE(edu_bar_reserved()) TH_LOG("rvcap-edu still reserves a BAR (/proc/iomem)");
}

FIXTURE(removal) {
	char edu[64];
	int fd;
	bool removed;
};

FIXTURE_SETUP(removal)
{
	self->fd = -1;
	if (!edu_address(self->edu, sizeof(self->edu)))
		SKIP(return, "no edu device: nothing to remove");
	ASSERT_STREQ(self->edu, rvcap_dma_device());
	self->fd = open(rvcap_dev(), O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(removal)
{
	if (self->fd >= 0)
		close(self->fd);
	/* Whatever failed, later tests need edu and the capture device. */
	if (self->removed && !edu_present())
		edu_comes_back();
}

/*
 * Idle, a file open: the capture device goes with edu, the file gets
 * ENODEV, close works; after a rescan the device is back on edu.
 */
TEST_F_TIMEOUT(removal, edu_removed_while_idle, 120)
{
	ASSERT_EQ(0, pci_remove(self->edu));
	self->removed = true;
	capture_device_is_gone(_metadata, self->edu);
	file_is_disconnected(_metadata, self->fd, V4L2_MEMORY_MMAP);
	EXPECT_EQ(0, close(self->fd));
	self->fd = -1;
	/* Closing the last file brings nothing back. */
	EXPECT_NE(0, access(DMA_DEVICE, F_OK));
	EXPECT_FALSE(node_named("rvcap-0"));

	ASSERT_EQ(0, edu_comes_back()) TH_LOG("rvcap did not come back on edu after a rescan");
	EXPECT_STREQ(self->edu, rvcap_dma_device());
	EXPECT_TRUE(edu_bar_reserved()) TH_LOG("the new edu's BAR is not reserved for rvcap-edu");
	EXPECT_EQ(1, rvcap_dma_coherent());
	capture_works(_metadata, FRAMES);
}

/* A thread that requeues buffers while the main one removes edu. */
struct requeuer {
	int fd;
	uint32_t memory;
	int *dmabufs;
	/* Which buffer the main thread keeps; the thread never queues it. */
	uint32_t kept;
	int frames;
	/* The errno of the first call that failed, -1 if none did. */
	int err;
};

static void *requeue_until_error(void *arg)
{
	struct requeuer *r = arg;
	struct v4l2_buffer buf;
	int ret;

	for (;;) {
		ret = rvcap_dqbuf(r->fd, r->memory, &buf);
		if (ret)
			break;
		__atomic_add_fetch(&r->frames, 1, __ATOMIC_RELAXED);
		if (buf.index == r->kept)
			continue;
		ret = rvcap_qbuf(r->fd, r->memory, buf.index,
				 r->memory == V4L2_MEMORY_DMABUF ? r->dmabufs[buf.index] : -1);
		if (ret)
			break;
	}
	r->err = -ret;
	return NULL;
}

FIXTURE(streaming_removal) {
	char edu[64];
	int fd;
	bool removed;
	struct v4l2_format fmt;
	struct rvcap_dmabuf bufs[NBUFS];
	int dmabufs[NBUFS];
	uint8_t *cpu[NBUFS];
	size_t len[NBUFS];
};

FIXTURE_VARIANT(streaming_removal) {
	uint32_t memory;
};

FIXTURE_VARIANT_ADD(streaming_removal, mmap) {
	.memory = V4L2_MEMORY_MMAP,
};

FIXTURE_VARIANT_ADD(streaming_removal, system_heap) {
	.memory = V4L2_MEMORY_DMABUF,
};

FIXTURE_SETUP(streaming_removal)
{
	size_t size;
	int i;

	self->fd = -1;
	for (i = 0; i < NBUFS; i++) {
		self->bufs[i] = (struct rvcap_dmabuf){ .fd = -1, .keep_fd = -1 };
		self->dmabufs[i] = -1;
	}
	if (!edu_address(self->edu, sizeof(self->edu)))
		SKIP(return, "no edu device: nothing to remove");
	ASSERT_STREQ(self->edu, rvcap_dma_device());
	self->fd = open(rvcap_dev(), O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, rvcap_set_format(self->fd, V4L2_PIX_FMT_YUYV, WIDTH, HEIGHT, &self->fmt));
	ASSERT_EQ(0, rvcap_set_pattern(self->fd, 2));
	size = (self->fmt.fmt.pix.sizeimage + 4095) & ~4095UL;
	ASSERT_EQ(NBUFS, rvcap_reqbufs(self->fd, variant->memory, NBUFS));
	for (i = 0; i < NBUFS; i++) {
		if (variant->memory == V4L2_MEMORY_MMAP) {
			self->cpu[i] = rvcap_mmap_buffer(self->fd, i, PROT_READ | PROT_WRITE,
							 &self->len[i]);
			ASSERT_NE(MAP_FAILED, self->cpu[i]);
		} else {
			ASSERT_EQ(0, rvcap_export(RVCAP_DMA_HEAP, size, &self->bufs[i]));
			self->cpu[i] = self->bufs[i].cpu;
			self->dmabufs[i] = self->bufs[i].fd;
		}
	}
}

FIXTURE_TEARDOWN(streaming_removal)
{
	int i;

	/* Still on if the test failed before edu went. */
	rvcap_set_knob("device_stamp", 0);
	for (i = 0; i < NBUFS; i++) {
		if (variant->memory == V4L2_MEMORY_MMAP && self->cpu[i] && self->cpu[i] != MAP_FAILED)
			munmap(self->cpu[i], self->len[i]);
		rvcap_unexport(&self->bufs[i]);
	}
	if (self->fd >= 0)
		close(self->fd);
	if (self->removed && !edu_present())
		edu_comes_back();
}

/*
 * Streaming, with edu's DMA engine stamping every frame through the IOMMU
 * and a thread requeueing: removing edu stops the stream before it
 * returns. The thread's blocked or next DQBUF or QBUF fails with ENODEV,
 * every later request does too, nothing stays attached to edu, and the
 * buffer the application owned keeps its bytes (MMAP pages stay mapped in
 * userspace; an import's memory is the exporter's). Then close, rescan,
 * and the device captures on edu again.
 */
TEST_F_TIMEOUT(streaming_removal, edu_removed_while_streaming, 120)
{
	struct requeuer r = {
		.fd = self->fd,
		.memory = variant->memory,
		.dmabufs = self->dmabufs,
		.err = -1,
	};
	size_t size = self->fmt.fmt.pix.sizeimage;
	struct v4l2_buffer buf;
	pthread_t thread;
	long stamps;
	int i;

	ASSERT_EQ(0, rvcap_set_knob("device_stamp", 1));
	for (i = 0; i < NBUFS; i++)
		ASSERT_EQ(0, rvcap_qbuf(self->fd, variant->memory, i, self->dmabufs[i]));
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
	/* The application keeps the first buffer done, and writes it. */
	ASSERT_EQ(0, rvcap_dqbuf(self->fd, variant->memory, &buf));
	ASSERT_EQ(0U, buf.flags & V4L2_BUF_FLAG_ERROR);
	ASSERT_EQ(-1, rvcap_check_frame(self->cpu[buf.index], buf.bytesused, buf.sequence));
	memset(self->cpu[buf.index], OWNED, size);
	r.kept = buf.index;
	ASSERT_EQ(0, pthread_create(&thread, NULL, requeue_until_error, &r));
	/* A few frames into the thread's stream, stamped by edu. */
	for (i = 0; i < 50 && __atomic_load_n(&r.frames, __ATOMIC_RELAXED) < 2; i++)
		usleep(100 * 1000);
	stamps = rvcap_counter("device_stamps");
	EXPECT_LE(2, __atomic_load_n(&r.frames, __ATOMIC_RELAXED));
	EXPECT_LE(2, stamps);

	ASSERT_EQ(0, pci_remove(self->edu));
	self->removed = true;
	ASSERT_EQ(0, pthread_join(thread, NULL));
	EXPECT_EQ(ENODEV, r.err) TH_LOG("the requeueing thread's last call");
	capture_device_is_gone(_metadata, self->edu);
	file_is_disconnected(_metadata, self->fd, variant->memory);
	for (i = 0; i < (int)size; i++)
		ASSERT_EQ(OWNED, self->cpu[r.kept][i]) TH_LOG("byte %d of the owned buffer", i);
	EXPECT_EQ(0, close(self->fd));
	self->fd = -1;
	EXPECT_NE(0, access(DMA_DEVICE, F_OK));
	/* The MMAP pages still mapped are the application's to read and write. */
	memset(self->cpu[r.kept], GARBAGE, size);
	/*
	 * Until they are unmapped they keep the file open, and with it the old
	 * node's number: the device would come back as another /dev/video.
	 */
	for (i = 0; variant->memory == V4L2_MEMORY_MMAP && i < NBUFS; i++) {
		EXPECT_EQ(0, munmap(self->cpu[i], self->len[i]));
		self->cpu[i] = NULL;
	}

	ASSERT_EQ(0, edu_comes_back()) TH_LOG("rvcap did not come back on edu after a rescan");
	EXPECT_STREQ(self->edu, rvcap_dma_device());
	EXPECT_TRUE(edu_bar_reserved()) TH_LOG("the new edu's BAR is not reserved for rvcap-edu");
	capture_works(_metadata, FRAMES);
}

TEST_HARNESS_MAIN
