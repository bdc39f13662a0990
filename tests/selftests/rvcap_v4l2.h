/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by rvcap's kselftests: ioctl wrappers returning -errno
 * (single- and multi-planar), the verification pattern, an MMAP stream
 * set-up, finding rvcap's nodes by QUERYCAP, the memory of multi-planar
 * buffers, debugfs counters and knobs per device, and dma-buf exporters.
 */
#ifndef RVCAP_V4L2_H
#define RVCAP_V4L2_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <drm/drm.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/udmabuf.h>
#include <linux/videodev2.h>

#define RVCAP_MAX_BUFS 32

/* The rvcap node: $RVCAP_DEV, or /dev/video0. */
static inline const char *rvcap_dev(void)
{
	const char *dev = getenv("RVCAP_DEV");

	return dev ? dev : "/dev/video0";
}

/* ioctl() that retries on EINTR and returns 0 or -errno. */
static inline int xioctl(int fd, unsigned long req, void *arg)
{
	int ret;

	do {
		ret = ioctl(fd, req, arg);
	} while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : 0;
}

/*
 * The verification pattern (src/pattern.rs): byte @i of the frame with
 * sequence number @seq is (i mod 251 + 17 * seq) mod 256.
 */
static inline uint8_t rvcap_verification_byte(size_t i, uint32_t seq)
{
	return (uint8_t)(i % 251 + 17u * seq);
}

/*
 * Checks plane bytes @p[0..len) as bytes @off.. of the frame with sequence
 * @seq (a multi-planar frame is its planes laid end to end: plane p starts
 * at the sum of the sizes of the planes before it); returns the offset in
 * @p of the first wrong one, or -1 if all are right.
 */
static inline long rvcap_check_plane(const uint8_t *p, size_t len, size_t off, uint32_t seq)
{
	uint8_t add = (uint8_t)(17u * seq);
	uint8_t m = (uint8_t)(off % 251);
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] != (uint8_t)(m + add))
			return (long)i;
		m = m == 250 ? 0 : m + 1;
	}
	return -1;
}

/*
 * Checks every byte of a frame; returns the offset of the first wrong one,
 * or -1 if all are right.
 */
static inline long rvcap_check_frame(const uint8_t *p, size_t len, uint32_t seq)
{
	return rvcap_check_plane(p, len, 0, seq);
}

/* Selects the test pattern (menu index: 2 is the verification pattern). */
static inline int rvcap_set_pattern(int fd, int index)
{
	struct v4l2_control ctrl = {
		.id = V4L2_CID_TEST_PATTERN,
		.value = index,
	};

	return xioctl(fd, VIDIOC_S_CTRL, &ctrl);
}

/*
 * Format ioctl @req (S_FMT, TRY_FMT, G_FMT) of buffer type @type (fmt.pix,
 * or fmt.pix_mp for the multi-planar type) with @fourcc at @width x
 * @height; the reply in *@fmt.
 */
static inline int rvcap_fmt_ioctl(int fd, unsigned long req, uint32_t type, uint32_t fourcc,
				  uint32_t width, uint32_t height, struct v4l2_format *fmt)
{
	memset(fmt, 0, sizeof(*fmt));
	fmt->type = type;
	if (type == V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE) {
		fmt->fmt.pix_mp.pixelformat = fourcc;
		fmt->fmt.pix_mp.width = width;
		fmt->fmt.pix_mp.height = height;
	} else {
		fmt->fmt.pix.pixelformat = fourcc;
		fmt->fmt.pix.width = width;
		fmt->fmt.pix.height = height;
	}
	return xioctl(fd, req, fmt);
}

static inline int rvcap_set_format(int fd, uint32_t fourcc, uint32_t width,
				   uint32_t height, struct v4l2_format *fmt)
{
	return rvcap_fmt_ioctl(fd, VIDIOC_S_FMT, V4L2_BUF_TYPE_VIDEO_CAPTURE, fourcc, width,
			       height, fmt);
}

/* REQBUFS of @count buffers of @type: how many it made, or -errno. */
static inline int rvcap_reqbufs_type(int fd, uint32_t type, uint32_t memory, uint32_t count)
{
	struct v4l2_requestbuffers req = {
		.count = count,
		.type = type,
		.memory = memory,
	};
	int ret = xioctl(fd, VIDIOC_REQBUFS, &req);

	return ret ? ret : (int)req.count;
}

static inline int rvcap_reqbufs(int fd, uint32_t memory, uint32_t count)
{
	return rvcap_reqbufs_type(fd, V4L2_BUF_TYPE_VIDEO_CAPTURE, memory, count);
}

/*
 * mmap() of MMAP buffer @index of @fd with @prot (MAP_SHARED); its length in
 * *@length. MAP_FAILED if QUERYBUF or mmap() fails.
 */
static inline void *rvcap_mmap_buffer(int fd, uint32_t index, int prot, size_t *length)
{
	struct v4l2_buffer buf = {
		.index = index,
		.type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
		.memory = V4L2_MEMORY_MMAP,
	};

	if (xioctl(fd, VIDIOC_QUERYBUF, &buf))
		return MAP_FAILED;
	*length = buf.length;
	return mmap(NULL, buf.length, prot, MAP_SHARED, fd, buf.m.offset);
}

static inline int rvcap_qbuf_mmap(int fd, uint32_t index)
{
	struct v4l2_buffer buf = {
		.index = index,
		.type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
		.memory = V4L2_MEMORY_MMAP,
	};

	return xioctl(fd, VIDIOC_QBUF, &buf);
}

/* STREAMON (@on) or STREAMOFF of buffer type @type. */
static inline int rvcap_stream_type(int fd, uint32_t type, bool on)
{
	int t = type;

	return xioctl(fd, on ? VIDIOC_STREAMON : VIDIOC_STREAMOFF, &t);
}

static inline int rvcap_stream(int fd, bool on)
{
	return rvcap_stream_type(fd, V4L2_BUF_TYPE_VIDEO_CAPTURE, on);
}

/*
 * Leaves the device as a test found it, through buffer type @type (the
 * node's capture type, single- or multi-planar): no buffers, the default
 * format (640x480 YUYV), pattern and frame interval (1/30 s).
 */
static inline void rvcap_restore_defaults_type(int fd, uint32_t type)
{
	struct v4l2_streamparm parm = { .type = type };
	struct v4l2_format fmt;

	rvcap_stream_type(fd, type, false);
	rvcap_reqbufs_type(fd, type, V4L2_MEMORY_MMAP, 0);
	rvcap_fmt_ioctl(fd, VIDIOC_S_FMT, type, V4L2_PIX_FMT_YUYV, 640, 480, &fmt);
	rvcap_set_pattern(fd, 0);
	parm.parm.capture.timeperframe.numerator = 1;
	parm.parm.capture.timeperframe.denominator = 30;
	xioctl(fd, VIDIOC_S_PARM, &parm);
}

/* rvcap_restore_defaults_type() of a single-planar node. */
static inline void rvcap_restore_defaults(int fd)
{
	rvcap_restore_defaults_type(fd, V4L2_BUF_TYPE_VIDEO_CAPTURE);
}

/* Waits up to @ms for a buffer to be done; 1 if one is, 0 on time-out. */
static inline int rvcap_wait_frame(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int ret = poll(&p, 1, ms);

	if (ret < 0)
		return -errno;
	return ret > 0 && (p.revents & POLLIN);
}

/* ---- Finding nodes, multi-planar buffers */

/* The capabilities of the node QUERYCAP describes (device_caps if given). */
static inline uint32_t rvcap_device_caps(const struct v4l2_capability *cap)
{
	return cap->capabilities & V4L2_CAP_DEVICE_CAPS ? cap->device_caps : cap->capabilities;
}

/*
 * The first /dev/videoN (N < 64) whose QUERYCAP reply @match accepts (given
 * @arg), into @path; 0 or -ENOENT.
 */
static inline int rvcap_find_node_by_cap(bool (*match)(const struct v4l2_capability *cap,
						       const void *arg),
					 const void *arg, char *path, size_t len)
{
	int i;

	for (i = 0; i < 64; i++) {
		struct v4l2_capability cap;
		int fd, ret;

		snprintf(path, len, "/dev/video%d", i);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		memset(&cap, 0, sizeof(cap));
		ret = xioctl(fd, VIDIOC_QUERYCAP, &cap);
		close(fd);
		if (!ret && match(&cap, arg))
			return 0;
	}
	return -ENOENT;
}

/* Whether @cap is an rvcap node, multi-planar if *(bool *)@mplane, else single. */
static inline bool rvcap_node_is(const struct v4l2_capability *cap, const void *mplane)
{
	uint32_t caps = rvcap_device_caps(cap);

	if (strcmp((const char *)cap->driver, "rvcap"))
		return false;
	return *(const bool *)mplane ? caps & V4L2_CAP_VIDEO_CAPTURE_MPLANE :
	       caps & V4L2_CAP_VIDEO_CAPTURE;
}

/*
 * The first /dev/videoN of rvcap that is multi-planar (@mplane) or
 * single-planar, by QUERYCAP, into @path; 0 or -ENOENT.
 */
static inline int rvcap_find_node(bool mplane, char *path, size_t len)
{
	return rvcap_find_node_by_cap(rvcap_node_is, &mplane, path, len);
}

/*
 * rvcap's multi-planar node: $RVCAP_MPLANE_DEVICE, else the first one
 * QUERYCAP finds (rvcap_find_node()); 0 or -ENOENT.
 */
static inline int rvcap_mplane_node(char *path, size_t len)
{
	const char *env = getenv("RVCAP_MPLANE_DEVICE");

	if (env && *env) {
		snprintf(path, len, "%s", env);
		return 0;
	}
	return rvcap_find_node(true, path, len);
}

#define RVCAP_NO_MPLANE_NODE \
	"no multi-planar rvcap node (load rvcap with multiplanar=2 for a device, or set RVCAP_MPLANE_DEVICE)"

/*
 * Buffer ioctl @req (QUERYBUF, QBUF, DQBUF, ...) of buffer @index of a
 * multi-planar queue of @type, with the planes array @planes of @nplanes
 * entries (buf->length), filled by the caller.
 */
static inline int rvcap_planes_ioctl(int fd, unsigned long req, uint32_t type,
				     uint32_t memory, uint32_t index,
				     struct v4l2_plane *planes, uint32_t nplanes,
				     struct v4l2_buffer *buf)
{
	memset(buf, 0, sizeof(*buf));
	buf->type = type;
	buf->memory = memory;
	buf->index = index;
	buf->length = nplanes;
	buf->m.planes = planes;
	return xioctl(fd, req, buf);
}

/*
 * QUERYBUF of MMAP buffer @index of a queue of @type and mmap() of each of
 * its planes with @prot (MAP_SHARED) into @cpu[p]. The planes as QUERYBUF
 * gave them go into @planes (room for @max; of a single-planar queue, one
 * with the buffer's length and offset), so their lengths are in
 * planes[p].length. Returns the number of planes, or -errno (the plane
 * that failed is MAP_FAILED, those before it stay mapped).
 */
static inline int rvcap_mmap_planes(int fd, uint32_t type, uint32_t index, int prot,
				    struct v4l2_plane *planes, unsigned int max,
				    uint8_t **cpu)
{
	bool mplane = type == V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
	struct v4l2_buffer buf;
	unsigned int p, n;
	int ret;

	memset(planes, 0, max * sizeof(*planes));
	if (mplane) {
		ret = rvcap_planes_ioctl(fd, VIDIOC_QUERYBUF, type, V4L2_MEMORY_MMAP, index,
					 planes, max, &buf);
	} else {
		memset(&buf, 0, sizeof(buf));
		buf.type = type;
		buf.memory = V4L2_MEMORY_MMAP;
		buf.index = index;
		ret = xioctl(fd, VIDIOC_QUERYBUF, &buf);
		planes[0].length = buf.length;
		planes[0].m.mem_offset = buf.m.offset;
	}
	if (ret)
		return ret;
	n = mplane ? buf.length : 1;
	if (n > max)
		return -E2BIG;
	for (p = 0; p < n; p++) {
		cpu[p] = mmap(NULL, planes[p].length, prot, MAP_SHARED, fd,
			      planes[p].m.mem_offset);
		if (cpu[p] == MAP_FAILED)
			return -errno;
	}
	return (int)n;
}

/* ---- debugfs */

/*
 * N of the rvcap device rvcap.N behind the V4L2 node @st describes, from the
 * node's sysfs name "rvcap-N" (/sys/class/video4linux/videoX/name, reached
 * through /sys/dev/char); -1 if the node is not rvcap's.
 */
static inline int rvcap_stat_instance(const struct stat *st)
{
	char sysfs[64], name[64];
	unsigned int n;
	FILE *f;

	if (!S_ISCHR(st->st_mode))
		return -1;
	snprintf(sysfs, sizeof(sysfs), "/sys/dev/char/%u:%u/name",
		 major(st->st_rdev), minor(st->st_rdev));
	f = fopen(sysfs, "r");
	if (!f)
		return -1;
	if (!fgets(name, sizeof(name), f))
		name[0] = '\0';
	fclose(f);
	return sscanf(name, "rvcap-%u", &n) == 1 ? (int)n : -1;
}

/* rvcap_stat_instance() of the open V4L2 node @fd. */
static inline int rvcap_fd_instance(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? -1 : rvcap_stat_instance(&st);
}

/* rvcap_stat_instance() of the V4L2 node at @path. */
static inline int rvcap_path_instance(const char *path)
{
	struct stat st;

	return stat(path, &st) ? -1 : rvcap_stat_instance(&st);
}

/*
 * Reads counter @name of device rvcap.@dev from debugfs; -1 if it cannot.
 * The file has one "name value" line per counter.
 */
static inline long long rvcap_counter_of(int dev, const char *name)
{
	char path[96], key[64];
	long long value;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/debug/rvcap/rvcap.%d/counters", dev);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fscanf(f, "%63s %lld", key, &value) == 2) {
		if (!strcmp(key, name)) {
			fclose(f);
			return value;
		}
	}
	fclose(f);
	return -1;
}

/* Counter @name of device rvcap.0. */
static inline long long rvcap_counter(const char *name)
{
	return rvcap_counter_of(0, name);
}

/*
 * Sets debugfs knob @name of device rvcap.@dev (error injection, benchmark
 * modes); 0 or -errno.
 */
static inline int rvcap_set_knob_of(int dev, const char *name, unsigned int value)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/debug/rvcap/rvcap.%d/%s", dev, name);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "%u\n", value);
	return fclose(f) ? -errno : 0;
}

/* Knob @name of device rvcap.0. */
static inline int rvcap_set_knob(const char *name, unsigned int value)
{
	return rvcap_set_knob_of(0, name, value);
}

/* Every knob of device rvcap.@dev back to its default: 0, fences 1. */
static inline void rvcap_reset_knobs_of(int dev)
{
	rvcap_set_knob_of(dev, "fences", 1);
	rvcap_set_knob_of(dev, "inject_error_every", 0);
	rvcap_set_knob_of(dev, "inject_drop_every", 0);
	rvcap_set_knob_of(dev, "inject_stall_ms", 0);
	rvcap_set_knob_of(dev, "inject_map_failures", 0);
	rvcap_set_knob_of(dev, "inject_import_skips_cpu_sync", 0);
	rvcap_set_knob_of(dev, "unpaced", 0);
	rvcap_set_knob_of(dev, "map_per_qbuf", 0);
	rvcap_set_knob_of(dev, "full_sync", 0);
	/* Only with the edu DMA master (rvcap_dma_master_test.c). */
	rvcap_set_knob_of(dev, "device_stamp", 0);
	rvcap_set_knob_of(dev, "inject_dma_after_unmap", 0);
}

static inline void rvcap_reset_knobs(void)
{
	rvcap_reset_knobs_of(0);
}

/* Counts lines of /sys/kernel/debug/rvcap/rvcap.0/buffers containing @s. */
static inline int rvcap_buffers_lines(const char *s)
{
	char line[256];
	int n = 0;
	FILE *f = fopen("/sys/kernel/debug/rvcap/rvcap.0/buffers", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, s))
			n++;
	fclose(f);
	return n;
}

/*
 * The name of the device rvcap.0 maps buffers for (rvcap.0 itself, or the
 * PCI DMA master behind an IOMMU), from debugfs; "rvcap.0" if unreadable.
 */
static inline const char *rvcap_dma_device(void)
{
	static char name[64];
	FILE *f = fopen("/sys/kernel/debug/rvcap/rvcap.0/dma_device", "r");

	if (!f || !fgets(name, sizeof(name), f))
		snprintf(name, sizeof(name), "rvcap.0");
	if (f)
		fclose(f);
	name[strcspn(name, "\n")] = '\0';
	return name;
}

/*
 * Whether rvcap.0's DMA master is coherent with the CPU's caches, from the
 * "coherent yes|no" line of debugfs' dma_device: 1, 0, or -1 if unreadable.
 */
static inline int rvcap_dma_coherent(void)
{
	char line[80];
	int coherent = -1;
	FILE *f = fopen("/sys/kernel/debug/rvcap/rvcap.0/dma_device", "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (!strcmp(line, "coherent yes\n"))
			coherent = 1;
		else if (!strcmp(line, "coherent no\n"))
			coherent = 0;
	}
	if (f)
		fclose(f);
	return coherent;
}

/* Whether rvcap.0's DMA master is behind an IOMMU (its addresses are IOVAs). */
static inline bool rvcap_dma_translated(void)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group",
		 rvcap_dma_device());
	return access(path, F_OK) == 0;
}

/*
 * From /sys/kernel/debug/dma_buf/bufinfo: how many dma-buf objects exist,
 * and (in @attached, if not NULL) how many attachments of device @dev.
 */
static inline int rvcap_bufinfo(const char *dev, int *attached)
{
	char line[256], want[80];
	int objects = -1, n;
	FILE *f = fopen("/sys/kernel/debug/dma_buf/bufinfo", "r");

	if (!f)
		return -1;
	snprintf(want, sizeof(want), "\t%s\n", dev);
	if (attached)
		*attached = 0;
	while (fgets(line, sizeof(line), f)) {
		if (attached && !strcmp(line, want))
			(*attached)++;
		if (sscanf(line, "Total %d objects", &n) == 1)
			objects = n;
	}
	fclose(f);
	return objects;
}

/* ---- the kernel log */

/* /dev/kmsg, positioned after what is already logged; -errno on failure. */
static inline int rvcap_kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	lseek(fd, 0, SEEK_END);
	return fd;
}

/* How many kernel log lines since rvcap_kmsg_open() contain @needle. */
static inline int rvcap_kmsg_count(int kmsg, const char *needle)
{
	char line[512];
	ssize_t n;
	int found = 0;

	while ((n = read(kmsg, line, sizeof(line) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
		if (n <= 0)
			continue;
		line[n] = 0;
		if (strstr(line, needle))
			found++;
	}
	return found;
}

/*
 * Adds to *@na and *@nb how many kernel log lines since the last read
 * contain @a and @b (one pass, so that neither search eats the other's).
 */
static inline void rvcap_kmsg_count2(int kmsg, const char *a, int *na,
				     const char *b, int *nb)
{
	char line[512];
	ssize_t n;

	while ((n = read(kmsg, line, sizeof(line) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
		if (n <= 0)
			continue;
		line[n] = 0;
		*na += !!strstr(line, a);
		*nb += !!strstr(line, b);
	}
}

/* ---- dma-buf exporters */

/*
 * When each exporter syncs for the CPU (Linux 6.12), which decides what an
 * importer's unmap and detach do to bytes the CPU wrote:
 * - the system and CMA dma-heaps unmap at once, with a sync for the CPU
 *   (dma_unmap_sgtable(.., 0)), and do nothing at detach;
 * - udmabuf (cache_sgt_mapping), vb2-dma-contig (vivid allocators=1) and
 *   DRM prime (vgem) keep the mapping until detach and never sync for the
 *   CPU (DMA_ATTR_SKIP_CPU_SYNC);
 * - vb2-vmalloc (vivid allocators=0, its default) keeps the mapping until
 *   detach and then unmaps it with a sync for the CPU.
 * In a swiotlb=force boot such a sync copies the bounce slot back over the
 * buffer, so a driver that unmaps or detaches a buffer the CPU owns without
 * handing the CPU's bytes to the device side first loses them.
 */
enum rvcap_exporter {
	RVCAP_UDMABUF,
	RVCAP_DMA_HEAP,
	RVCAP_CMA_HEAP,
	RVCAP_VIVID_VMALLOC,
	RVCAP_VIVID_CONTIG,
	RVCAP_VGEM,
};

/* A dma-buf and a CPU mapping of its memory. */
struct rvcap_dmabuf {
	int fd;		/* the dma-buf */
	/*
	 * What else this buffer keeps open, else -1: udmabuf's memfd, the
	 * vivid node that exported it (each buffer of a vivid pool has its
	 * own dup, so the queue goes with the last one) or the vgem card.
	 */
	int keep_fd;
	uint8_t *cpu;	/* the memory as userspace sees it */
	size_t size;
};

/* An empty rvcap_dmabuf, which rvcap_unexport() leaves alone. */
static inline void rvcap_dmabuf_init(struct rvcap_dmabuf *buf)
{
	*buf = (struct rvcap_dmabuf){ .fd = -1, .keep_fd = -1 };
}

/*
 * The /dev node of the video4linux device whose sysfs name is @name, into
 * @path; 0 or -ENOENT.
 */
static inline int rvcap_video_node(const char *name, char *path, size_t len)
{
	char sysfs[64], line[64];
	int i, found = -ENOENT;

	for (i = 0; i < 64 && found; i++) {
		FILE *f;

		snprintf(sysfs, sizeof(sysfs), "/sys/class/video4linux/video%d/name", i);
		f = fopen(sysfs, "r");
		if (!f)
			continue;
		if (fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = '\0';
			if (!strcmp(line, name)) {
				snprintf(path, len, "/dev/video%d", i);
				found = 0;
			}
		}
		fclose(f);
	}
	return found;
}

/*
 * The vivid instance whose memory allocator is @allocator (0: vmalloc,
 * 1: dma-contig), from vivid's module parameters n_devs and allocators;
 * -ENOENT if vivid is not loaded or has none.
 */
static inline int rvcap_vivid_instance(unsigned int allocator)
{
	char list[512];
	unsigned int n_devs = 0, i;
	char *p = list;
	FILE *f = fopen("/sys/module/vivid/parameters/n_devs", "r");

	if (!f)
		return -ENOENT;
	if (fscanf(f, "%u", &n_devs) != 1)
		n_devs = 0;
	fclose(f);
	f = fopen("/sys/module/vivid/parameters/allocators", "r");
	if (!f)
		return -ENOENT;
	if (!fgets(list, sizeof(list), f))
		list[0] = '\0';
	fclose(f);
	for (i = 0; i < n_devs && *p; i++) {
		char *end;
		unsigned long a = strtoul(p, &end, 0);

		if (end == p)
			break;
		if (a == allocator)
			return (int)i;
		p = *end == ',' ? end + 1 : end;
	}
	return -ENOENT;
}

/*
 * @n buffers of @size bytes from one queue of the vivid instance that uses
 * @allocator. vivid's default input is a webcam whose smallest frame is
 * 320x180, so the format is set to YUYV 320x240 (what it gives must fit in
 * @size) and the buffers are made with CREATE_BUFS at exactly @size bytes;
 * vivid never streams into them. Each is exported with EXPBUF (O_RDWR) and
 * mmapped through its dma-buf; each keeps a dup of the vivid fd.
 */
static inline int rvcap_export_vivid(unsigned int allocator, size_t size, unsigned int n,
				     struct rvcap_dmabuf *bufs)
{
	struct v4l2_create_buffers create = {
		.count = n,
		.memory = V4L2_MEMORY_MMAP,
	};
	struct v4l2_format fmt;
	char path[32], name[32];
	int inst = rvcap_vivid_instance(allocator);
	int vfd, ret = 0;
	unsigned int i;

	if (inst < 0)
		return inst;
	snprintf(name, sizeof(name), "vivid-%03d-vid-cap", inst);
	if (rvcap_video_node(name, path, sizeof(path)))
		return -ENOENT;
	vfd = open(path, O_RDWR | O_CLOEXEC);
	if (vfd < 0)
		return -errno;
	ret = rvcap_set_format(vfd, V4L2_PIX_FMT_YUYV, 320, 240, &fmt);
	if (!ret && fmt.fmt.pix.sizeimage > size)
		ret = -EINVAL;
	if (!ret) {
		create.format = fmt;
		create.format.fmt.pix.sizeimage = size;
		ret = xioctl(vfd, VIDIOC_CREATE_BUFS, &create);
	}
	if (!ret && create.count != n)
		ret = -ENOMEM;
	for (i = 0; !ret && i < n; i++) {
		struct v4l2_exportbuffer exp = {
			.type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
			.index = create.index + i,
			.flags = O_RDWR | O_CLOEXEC,
		};

		ret = xioctl(vfd, VIDIOC_EXPBUF, &exp);
		if (ret)
			break;
		bufs[i].fd = exp.fd;
		bufs[i].size = size;
		bufs[i].keep_fd = fcntl(vfd, F_DUPFD_CLOEXEC, 0);
		bufs[i].cpu = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, exp.fd, 0);
		if (bufs[i].keep_fd < 0 || bufs[i].cpu == MAP_FAILED)
			ret = -errno;
	}
	close(vfd);
	return ret;
}

/* The fd of the vgem DRM card (driver name "vgem"), or -ENOENT. */
static inline int rvcap_vgem_open(void)
{
	char path[32];
	int i;

	for (i = 0; i < 16; i++) {
		char name[16] = "";
		struct drm_version version = {
			.name_len = sizeof(name) - 1,
			.name = name,
		};
		int fd;

		snprintf(path, sizeof(path), "/dev/dri/card%d", i);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (!xioctl(fd, DRM_IOCTL_VERSION, &version) && !strcmp(name, "vgem"))
			return fd;
		close(fd);
	}
	return -ENOENT;
}

/*
 * A dumb buffer of @size bytes (a multiple of 4096) of vgem card @card
 * (GEM shmem), exported with PRIME (O_RDWR) and mmapped through its
 * dma-buf; it keeps a dup of the card's fd.
 */
static inline int rvcap_export_vgem(int card, size_t size, struct rvcap_dmabuf *buf)
{
	struct drm_mode_create_dumb dumb = {
		.width = 1024,
		.height = size / 4096,
		.bpp = 32,
	};
	struct drm_prime_handle prime = { .flags = DRM_CLOEXEC | DRM_RDWR };
	int ret;

	buf->size = size;
	buf->keep_fd = fcntl(card, F_DUPFD_CLOEXEC, 0);
	if (buf->keep_fd < 0)
		return -errno;
	ret = xioctl(card, DRM_IOCTL_MODE_CREATE_DUMB, &dumb);
	if (ret)
		return ret;
	if (dumb.size < size)
		return -EINVAL;
	prime.handle = dumb.handle;
	ret = xioctl(card, DRM_IOCTL_PRIME_HANDLE_TO_FD, &prime);
	if (ret)
		return ret;
	buf->fd = prime.fd;
	buf->cpu = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, buf->fd, 0);
	return buf->cpu == MAP_FAILED ? -errno : 0;
}

/*
 * Exports a dma-buf of @size bytes (a multiple of the page size) from
 * udmabuf (memfd pages), the system dma-heap, the CMA dma-heap (the
 * default CMA area, named "reserved"), vivid (a pool of one) or vgem.
 * Returns 0 or -errno (-ENOENT: no such vivid instance or vgem device);
 * rvcap_unexport() undoes it, also after a failure.
 */
static inline int rvcap_export(enum rvcap_exporter exp, size_t size,
			       struct rvcap_dmabuf *buf)
{
	rvcap_dmabuf_init(buf);
	buf->size = size;
	if (exp == RVCAP_VIVID_VMALLOC || exp == RVCAP_VIVID_CONTIG)
		return rvcap_export_vivid(exp == RVCAP_VIVID_CONTIG, size, 1, buf);
	if (exp == RVCAP_VGEM) {
		int card = rvcap_vgem_open(), ret;

		if (card < 0)
			return card;
		ret = rvcap_export_vgem(card, size, buf);
		close(card);
		return ret;
	}
	if (exp == RVCAP_UDMABUF) {
		struct udmabuf_create create = { 0 };
		int dev;

		buf->keep_fd = memfd_create("rvcap-test", MFD_ALLOW_SEALING | MFD_CLOEXEC);
		if (buf->keep_fd < 0 || ftruncate(buf->keep_fd, size) ||
		    fcntl(buf->keep_fd, F_ADD_SEALS, F_SEAL_SHRINK))
			return -errno;
		dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
		if (dev < 0)
			return -errno;
		create.memfd = buf->keep_fd;
		create.flags = UDMABUF_FLAGS_CLOEXEC;
		create.size = size;
		buf->fd = ioctl(dev, UDMABUF_CREATE, &create);
		close(dev);
		if (buf->fd < 0)
			return -errno;
		buf->cpu = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, buf->keep_fd, 0);
	} else {
		struct dma_heap_allocation_data alloc = {
			.len = size,
			.fd_flags = O_RDWR | O_CLOEXEC,
		};
		int heap = open(exp == RVCAP_CMA_HEAP ? "/dev/dma_heap/reserved" :
				"/dev/dma_heap/system", O_RDWR | O_CLOEXEC);

		if (heap < 0)
			return -errno;
		if (ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &alloc)) {
			close(heap);
			return -errno;
		}
		close(heap);
		buf->fd = alloc.fd;
		buf->cpu = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, buf->fd, 0);
	}
	return buf->cpu == MAP_FAILED ? -errno : 0;
}

static inline void rvcap_unexport(struct rvcap_dmabuf *buf)
{
	if (buf->cpu && buf->cpu != MAP_FAILED)
		munmap(buf->cpu, buf->size);
	if (buf->fd >= 0)
		close(buf->fd);
	if (buf->keep_fd >= 0)
		close(buf->keep_fd);
	rvcap_dmabuf_init(buf);
}

/*
 * The memory of one plane of a multi-planar DMABUF buffer: a dma-buf of
 * @len bytes rounded up to whole 4 KiB pages from exporter @exp, into @buf,
 * with its CPU view in *@cpu and its size in *@size (both set only if it
 * worked). 0 or -errno; rvcap_release_plane() undoes it, also after a
 * failure.
 */
static inline int rvcap_export_plane(enum rvcap_exporter exp, size_t len,
				     struct rvcap_dmabuf *buf, uint8_t **cpu, size_t *size)
{
	size_t pages = (len + 4095) & ~4095UL;
	int ret = rvcap_export(exp, pages, buf);

	if (!ret) {
		*size = pages;
		*cpu = buf->cpu;
	}
	return ret;
}

/*
 * Frees one plane of a multi-planar buffer: the dma-buf @buf of a DMABUF
 * plane (rvcap_export_plane()), or the mapping @cpu of @size bytes of an
 * MMAP plane (rvcap_mmap_planes(); @buf as rvcap_dmabuf_init() left it).
 * NULL and MAP_FAILED are no mapping.
 */
static inline void rvcap_release_plane(uint8_t *cpu, size_t size, struct rvcap_dmabuf *buf)
{
	if (cpu && cpu != MAP_FAILED && cpu != buf->cpu)
		munmap(cpu, size);
	rvcap_unexport(buf);
}

/*
 * @n dma-bufs of @size bytes from exporter @exp into @bufs: vivid's all
 * from one queue (one CREATE_BUFS), vgem's from one open of the card, the
 * others one by one. 0 or -errno;
 * rvcap_unexport() each buffer afterwards, also after a failure.
 */
static inline int rvcap_export_n(enum rvcap_exporter exp, size_t size, unsigned int n,
				 struct rvcap_dmabuf *bufs)
{
	unsigned int i;
	int ret = 0;

	for (i = 0; i < n; i++) {
		rvcap_dmabuf_init(&bufs[i]);
		bufs[i].size = size;
	}
	if (exp == RVCAP_VIVID_VMALLOC || exp == RVCAP_VIVID_CONTIG)
		return rvcap_export_vivid(exp == RVCAP_VIVID_CONTIG, size, n, bufs);
	if (exp == RVCAP_VGEM) {
		int card = rvcap_vgem_open();

		if (card < 0)
			return card;
		for (i = 0; !ret && i < n; i++)
			ret = rvcap_export_vgem(card, size, &bufs[i]);
		close(card);
		return ret;
	}
	for (i = 0; !ret && i < n; i++)
		ret = rvcap_export(exp, size, &bufs[i]);
	return ret;
}

/*
 * DMA_BUF_IOCTL_SYNC on @buf with @flags (DMA_BUF_SYNC_START or _END, and
 * _READ, _WRITE or _RW); 0 or -errno.
 */
static inline int rvcap_dmabuf_sync(const struct rvcap_dmabuf *buf, uint64_t flags)
{
	struct dma_buf_sync sync = { .flags = flags };

	return xioctl(buf->fd, DMA_BUF_IOCTL_SYNC, &sync);
}

static inline int rvcap_qbuf_dmabuf(int fd, uint32_t index, int dmabuf, uint32_t length)
{
	struct v4l2_buffer buf = {
		.index = index,
		.type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
		.memory = V4L2_MEMORY_DMABUF,
		.m.fd = dmabuf,
		.length = length,
	};

	return xioctl(fd, VIDIOC_QBUF, &buf);
}

/* Queues buffer @index of either memory type; @dmabuf is ignored for MMAP. */
static inline int rvcap_qbuf(int fd, uint32_t memory, uint32_t index, int dmabuf)
{
	if (memory == V4L2_MEMORY_MMAP)
		return rvcap_qbuf_mmap(fd, index);
	return rvcap_qbuf_dmabuf(fd, index, dmabuf, 0);
}

static inline int rvcap_dqbuf(int fd, uint32_t memory, struct v4l2_buffer *buf)
{
	memset(buf, 0, sizeof(*buf));
	buf->type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	buf->memory = memory;
	return xioctl(fd, VIDIOC_DQBUF, buf);
}

#endif /* RVCAP_V4L2_H */
