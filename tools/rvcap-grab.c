// SPDX-License-Identifier: GPL-2.0
/*
 * rvcap-grab: capture a few frames from a V4L2 device into MMAP buffers or
 * into dma-bufs from the system dma-heap, and write the last frame to a
 * file. Used by `make run` in the test VM.
 *
 * usage: rvcap-grab [-d dev] [-m mmap|heap] [-f fourcc] [-s WxH] [-p pattern]
 *                   [-n frames] -o file
 */
#define _GNU_SOURCE
#include <getopt.h>

#include "../tests/selftests/rvcap_v4l2.h"

#define NBUFS 4

static void die(const char *what, int err)
{
	fprintf(stderr, "rvcap-grab: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

int main(int argc, char **argv)
{
	const char *dev = "/dev/video0", *memory = "mmap", *out = NULL;
	char fourcc[5] = "RGB3";
	unsigned int width = 640, height = 480, frames = 10, pattern = 0, i;
	struct rvcap_dmabuf heap[NBUFS];
	uint8_t *cpu[NBUFS];
	struct v4l2_format fmt;
	struct v4l2_buffer buf;
	uint32_t mem;
	int fd, ret, opt;
	FILE *f;

	while ((opt = getopt(argc, argv, "d:m:f:s:p:n:o:")) != -1) {
		switch (opt) {
		case 'd':
			dev = optarg;
			break;
		case 'm':
			memory = optarg;
			break;
		case 'f':
			snprintf(fourcc, sizeof(fourcc), "%s", optarg);
			break;
		case 's':
			if (sscanf(optarg, "%ux%u", &width, &height) != 2)
				die("-s takes WIDTHxHEIGHT", EINVAL);
			break;
		case 'p':
			pattern = atoi(optarg);
			break;
		case 'n':
			frames = atoi(optarg);
			break;
		case 'o':
			out = optarg;
			break;
		default:
			fprintf(stderr, "usage: see the header of rvcap-grab.c\n");
			return 2;
		}
	}
	if (!out || frames == 0)
		die("need -o FILE and at least one frame", EINVAL);
	mem = strcmp(memory, "heap") ? V4L2_MEMORY_MMAP : V4L2_MEMORY_DMABUF;

	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die(dev, errno);
	ret = rvcap_set_format(fd, v4l2_fourcc(fourcc[0], fourcc[1], fourcc[2], fourcc[3]),
			       width, height, &fmt);
	if (ret)
		die("S_FMT", ret);
	ret = rvcap_set_pattern(fd, pattern);
	if (ret)
		die("test pattern", ret);
	ret = rvcap_reqbufs(fd, mem, NBUFS);
	if (ret != NBUFS)
		die("REQBUFS", ret < 0 ? ret : ENOMEM);
	for (i = 0; i < NBUFS; i++) {
		if (mem == V4L2_MEMORY_DMABUF) {
			size_t size = (fmt.fmt.pix.sizeimage + 4095) & ~4095UL;

			ret = rvcap_export(RVCAP_DMA_HEAP, size, &heap[i]);
			if (ret)
				die("dma-heap allocation", ret);
			cpu[i] = heap[i].cpu;
			ret = rvcap_qbuf_dmabuf(fd, i, heap[i].fd, 0);
		} else {
			memset(&buf, 0, sizeof(buf));
			buf.index = i;
			buf.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
			buf.memory = V4L2_MEMORY_MMAP;
			ret = xioctl(fd, VIDIOC_QUERYBUF, &buf);
			if (ret)
				die("QUERYBUF", ret);
			cpu[i] = mmap(NULL, buf.length, PROT_READ, MAP_SHARED, fd, buf.m.offset);
			if (cpu[i] == MAP_FAILED)
				die("mmap", errno);
			ret = rvcap_qbuf_mmap(fd, i);
		}
		if (ret)
			die("QBUF", ret);
	}
	ret = rvcap_stream(fd, true);
	if (ret)
		die("STREAMON", ret);
	for (i = 0; i < frames; i++) {
		if (rvcap_wait_frame(fd, 5000) != 1)
			die("waiting for a frame", ETIMEDOUT);
		ret = rvcap_dqbuf(fd, mem, &buf);
		if (ret)
			die("DQBUF", ret);
		if (i + 1 == frames)
			break;
		ret = rvcap_qbuf(fd, mem, buf.index, buf.m.fd);
		if (ret)
			die("QBUF", ret);
	}
	/* The last frame, as the CPU sees it: no DMA_BUF_IOCTL_SYNC needed. */
	f = fopen(out, "w");
	if (!f || fwrite(cpu[buf.index], 1, buf.bytesused, f) != buf.bytesused || fclose(f))
		die(out, errno);
	printf("%s: %s %ux%u %s, %u frames, last sequence %u, %u bytes\n", dev, memory,
	       fmt.fmt.pix.width, fmt.fmt.pix.height, fourcc, frames, buf.sequence,
	       buf.bytesused);
	rvcap_stream(fd, false);
	rvcap_reqbufs(fd, mem, 0);
	close(fd);
	if (mem == V4L2_MEMORY_DMABUF)
		for (i = 0; i < NBUFS; i++)
			rvcap_unexport(&heap[i]);
	return 0;
}
