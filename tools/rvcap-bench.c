// SPDX-License-Identifier: GPL-2.0
/*
 * rvcap-bench: measures the requeue path of a V4L2 capture device (rvcap or
 * vivid) in the test VM, for `make bench`. Streams YUYV frames into MMAP
 * buffers or imported dma-bufs (udmabuf, system dma-heap) and prints one
 * line "rvcap-bench: key=value ..." with:
 *   pair_ns_*     time of one DQBUF + QBUF of a ready buffer (poll() first,
 *                 so waiting for the frame is not counted)
 *   fps           frames delivered per second of the timed loop
 *   cpu_ns        CPU time per frame of this process and of the driver's
 *                 frame thread (-T), together and apart
 *   allocs        kernel allocation events of both tasks over -a further
 *                 requeues (trace events, rvcap_trace.h)
 *   c_*           per-frame deltas of rvcap's debugfs counters (-c)
 *   hints         the MMAP cache-hint mode (-h): "none" (coherent buffers,
 *                 synced at QBUF and DQBUF), "noncoherent" (buffers asked
 *                 for with V4L2_MEMORY_FLAG_NON_COHERENT, no hints) or
 *                 "hints" (those, and every QBUF with
 *                 V4L2_BUF_FLAG_NO_CACHE_CLEAN | V4L2_BUF_FLAG_NO_CACHE_INVALIDATE);
 *                 the driver must keep NON_COHERENT in its CREATE_BUFS
 *                 reply, or rvcap-bench fails rather than mislabel the row
 * With -R (rvcap, with -c) a second line "kind=release" times STREAMOFF
 * with every buffer queued and with every buffer dequeued, and the
 * REQBUFS(0) after the latter (median of RELEASE_ROUNDS each): rvcap syncs
 * each import the application owns for the device before its unmap, and at
 * REQBUFS(0) maps each again to do so before its detach (nothing lost
 * after DQBUF), next to the maps and bytes those hand-overs took.
 * With -E IMPORTER (MMAP) every buffer is exported (VIDIOC_EXPBUF) and the
 * capture node IMPORTER imports the exports: REQBUFS(DMABUF) and one QBUF
 * of each, never streaming, so that each export has one importer whose
 * table stays mapped (rvcap maps an import at its first QBUF; with -i, its
 * debugfs counters must show one map per export, or rvcap-bench fails
 * rather than mislabel the row). The stream line then says exports=N.
 * With -S as well it streams nothing and instead times DMA_BUF_IOCTL_SYNC
 * START|READ and END|READ on the export of buffer 0 (-n brackets, at most
 * -t seconds): one line "kind=sync" with the medians and, with -c, the
 * exporter's counters per bracket.
 * With -M BYTES it instead times memset() of BYTES, the bandwidth limit
 * for filling a frame of that size.
 *
 * usage: rvcap-bench -d DEV -m mmap|udmabuf|heap [-W width] [-H height]
 *                    [-B buffer bytes] [-b buffers] [-n frames] [-t seconds]
 *                    [-a requeues] [-T thread] [-c counters] [-I ms] [-R]
 *                    [-h none|noncoherent|hints] [-E importer [-i counters] [-S]]
 *                    [-l label]
 *        rvcap-bench -M BYTES [-n times] [-l label]
 *   -I  set the shortest frame interval the device enumerates that is at
 *       least this many milliseconds (0: its fastest; vivid paces itself)
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <pthread.h>
#include <time.h>

#include "../tests/selftests/rvcap_v4l2.h"
#include "../tests/selftests/rvcap_trace.h"

#define MAX_FRAMES 100000
#define MAX_COUNTERS 64
#define RELEASE_ROUNDS 5

static void die(const char *what, int err)
{
	fprintf(stderr, "rvcap-bench: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static uint64_t clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Median of @n values (sorts them). */
static uint64_t median(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return n ? v[n / 2] : 0;
}

static uint64_t mean(const uint64_t *v, size_t n)
{
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < n; i++)
		sum += v[i];
	return n ? sum / n : 0;
}

/* ---- debugfs counters ("name value" lines) */

struct counters {
	int n;
	char name[MAX_COUNTERS][32];
	long long value[MAX_COUNTERS];
};

/* Value of counter @name in @c, or -1. */
static long long counter(const struct counters *c, const char *name)
{
	int i;

	for (i = 0; i < c->n; i++)
		if (!strcmp(c->name[i], name))
			return c->value[i];
	return -1;
}

static void read_counters(const char *path, struct counters *c)
{
	FILE *f = fopen(path, "r");

	c->n = 0;
	if (!f)
		die(path, errno);
	while (c->n < MAX_COUNTERS &&
	       fscanf(f, "%31s %lld", c->name[c->n], &c->value[c->n]) == 2)
		c->n++;
	fclose(f);
}

/* ---- memset mode */

static void bench_memset(size_t bytes, unsigned int times, const char *label)
{
	uint64_t *t = calloc(times, sizeof(*t));
	uint8_t *p = aligned_alloc(4096, (bytes + 4095) & ~4095UL);
	uint64_t start, total;
	unsigned int i;

	if (!t || !p)
		die("memory", ENOMEM);
	memset(p, 0, bytes); /* fault the pages in first */
	start = now_ns();
	for (i = 0; i < times; i++) {
		uint64_t t0 = now_ns();

		memset(p, (int)i, bytes);
		/* The stores must happen: the compiler may not drop them. */
		__asm__ volatile("" : : "r"(p) : "memory");
		t[i] = now_ns() - t0;
	}
	total = now_ns() - start;
	printf("rvcap-bench: label=%s kind=memset bytes=%zu times=%u memset_ns_mean=%llu memset_ns_median=%llu mb_per_s=%.1f\n",
	       label, bytes, times, (unsigned long long)mean(t, times),
	       (unsigned long long)median(t, times),
	       (double)bytes * times / (total / 1e9) / 1e6);
	free(t);
	free(p);
}

/* ---- streaming */

struct stream {
	int fd;
	uint32_t memory;
	uint32_t qbuf_flags; /* cache hints of every QBUF (MMAP) */
	unsigned int nbufs;
	struct rvcap_dmabuf bufs[RVCAP_MAX_BUFS];
	/* -E: the importing node, and each buffer's export (else -1) */
	int importer;
	int exports[RVCAP_MAX_BUFS];
};

static int qbuf(struct stream *s, uint32_t index)
{
	struct v4l2_buffer buf = {
		.index = index,
		.type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
		.memory = V4L2_MEMORY_MMAP,
		.flags = s->qbuf_flags,
	};
	int ret;

	if (s->memory != V4L2_MEMORY_MMAP || !s->qbuf_flags)
		return rvcap_qbuf(s->fd, s->memory, index, s->bufs[index].fd);
	ret = xioctl(s->fd, VIDIOC_QBUF, &buf);
	/* The reply clears the hints a queue does not take. */
	if (!ret && (buf.flags & s->qbuf_flags) != s->qbuf_flags)
		die("the QBUF reply drops the cache hints", EINVAL);
	return ret;
}

/* Waits for a done buffer, then times its DQBUF and QBUF. */
static void requeue(struct stream *s, uint64_t *dq_ns, uint64_t *q_ns)
{
	struct v4l2_buffer buf;
	uint64_t t0, t1, t2;
	int ret;

	ret = rvcap_wait_frame(s->fd, 10000);
	if (ret <= 0)
		die("waiting for a frame", ret ? ret : ETIMEDOUT);
	t0 = now_ns();
	ret = rvcap_dqbuf(s->fd, s->memory, &buf);
	t1 = now_ns();
	if (ret)
		die("VIDIOC_DQBUF", ret);
	ret = qbuf(s, buf.index);
	t2 = now_ns();
	if (ret)
		die("VIDIOC_QBUF", ret);
	if (dq_ns) {
		*dq_ns = t1 - t0;
		*q_ns = t2 - t1;
	}
}

/* Queues every buffer and starts streaming. */
static void start_stream(struct stream *s)
{
	unsigned int i;
	int ret;

	for (i = 0; i < s->nbufs; i++) {
		ret = qbuf(s, i);
		if (ret)
			die("VIDIOC_QBUF", ret);
	}
	ret = rvcap_stream(s->fd, true);
	if (ret)
		die("VIDIOC_STREAMON", ret);
}

/* Times STREAMOFF. */
static uint64_t timed_streamoff(struct stream *s)
{
	uint64_t t0 = now_ns();
	int ret = rvcap_stream(s->fd, false);

	if (ret)
		die("VIDIOC_STREAMOFF", ret);
	return now_ns() - t0;
}

/*
 * STREAMOFF with every buffer queued (the device's), then with every buffer
 * dequeued (the application's), then REQBUFS(0), RELEASE_ROUNDS times each;
 * prints the medians, the bytes rvcap synced before unmapping per
 * STREAMOFF and the maps and bytes of the hand-overs per REQBUFS(0).
 */
static void bench_release(struct stream *s, const char *counters_path, const char *label)
{
	uint64_t queued[RELEASE_ROUNDS], dequeued[RELEASE_ROUNDS], freed[RELEASE_ROUNDS];
	long long streamoff_bytes = 0, release_bytes = 0, release_maps = 0;
	struct counters c0, c1, c2;
	struct v4l2_buffer buf;
	unsigned int round, i;
	int ret;

	timed_streamoff(s);
	for (round = 0; round < RELEASE_ROUNDS; round++) {
		start_stream(s);
		queued[round] = timed_streamoff(s);
		start_stream(s);
		for (i = 0; i < s->nbufs; i++) {
			ret = rvcap_wait_frame(s->fd, 10000);
			if (ret <= 0)
				die("waiting for a frame", ret ? ret : ETIMEDOUT);
			ret = rvcap_dqbuf(s->fd, s->memory, &buf);
			if (ret)
				die("VIDIOC_DQBUF", ret);
		}
		read_counters(counters_path, &c0);
		dequeued[round] = timed_streamoff(s);
		read_counters(counters_path, &c1);
		freed[round] = now_ns();
		ret = rvcap_reqbufs(s->fd, s->memory, 0);
		freed[round] = now_ns() - freed[round];
		if (ret)
			die("VIDIOC_REQBUFS(0)", ret);
		read_counters(counters_path, &c2);
		streamoff_bytes += counter(&c1, "bytes_synced_before_unmap") -
				   counter(&c0, "bytes_synced_before_unmap");
		release_bytes += counter(&c2, "bytes_synced_before_unmap") -
				 counter(&c1, "bytes_synced_before_unmap");
		release_maps += counter(&c2, "map") - counter(&c1, "map");
		if (rvcap_reqbufs(s->fd, s->memory, s->nbufs) != (int)s->nbufs)
			die("VIDIOC_REQBUFS", EINVAL);
	}
	printf("rvcap-bench: label=%s kind=release buffers=%u streamoff_queued_ns_median=%llu streamoff_dequeued_ns_median=%llu bytes_synced_before_unmap=%lld reqbufs0_ns_median=%llu reqbufs0_maps=%lld reqbufs0_bytes_synced_before_unmap=%lld\n",
	       label, s->nbufs, (unsigned long long)median(queued, RELEASE_ROUNDS),
	       (unsigned long long)median(dequeued, RELEASE_ROUNDS),
	       streamoff_bytes / RELEASE_ROUNDS,
	       (unsigned long long)median(freed, RELEASE_ROUNDS),
	       release_maps / RELEASE_ROUNDS, release_bytes / RELEASE_ROUNDS);
}

/*
 * Exports every buffer of @s (VIDIOC_EXPBUF, O_RDWR) and has the capture
 * node @path import them: YUYV at @fmt's size, REQBUFS(DMABUF) and one
 * QBUF of each export, never streaming, so that each export has one
 * importer whose table stays mapped while @s streams. With
 * @importer_counters (rvcap as the importer), its map counter must have
 * gone up by one per export.
 */
static void import_exports(struct stream *s, const char *path, const struct v4l2_format *fmt,
			   const char *importer_counters)
{
	struct counters c0, c1;
	struct v4l2_format ifmt;
	unsigned int i;
	int ret;

	s->importer = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (s->importer < 0)
		die(path, errno);
	ret = rvcap_set_format(s->importer, V4L2_PIX_FMT_YUYV, fmt->fmt.pix.width,
			       fmt->fmt.pix.height, &ifmt);
	if (ret)
		die("VIDIOC_S_FMT on the importer", ret);
	if (ifmt.fmt.pix.width != fmt->fmt.pix.width ||
	    ifmt.fmt.pix.height != fmt->fmt.pix.height ||
	    ifmt.fmt.pix.sizeimage > fmt->fmt.pix.sizeimage)
		die("the importer's frame does not fit the exports", EINVAL);
	ret = rvcap_reqbufs(s->importer, V4L2_MEMORY_DMABUF, s->nbufs);
	if (ret < (int)s->nbufs)
		die("VIDIOC_REQBUFS(DMABUF) on the importer", ret < 0 ? ret : ENOMEM);
	if (importer_counters)
		read_counters(importer_counters, &c0);
	for (i = 0; i < s->nbufs; i++) {
		struct v4l2_exportbuffer exp = {
			.type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
			.index = i,
			.flags = O_RDWR | O_CLOEXEC,
		};

		ret = xioctl(s->fd, VIDIOC_EXPBUF, &exp);
		if (ret)
			die("VIDIOC_EXPBUF", ret);
		s->exports[i] = exp.fd;
		ret = rvcap_qbuf(s->importer, V4L2_MEMORY_DMABUF, i, exp.fd);
		if (ret)
			die("VIDIOC_QBUF of an export on the importer", ret);
	}
	if (importer_counters) {
		read_counters(importer_counters, &c1);
		if (counter(&c1, "map") - counter(&c0, "map") != (long long)s->nbufs)
			die("the importer did not map every export at its QBUF", EINVAL);
	}
}

/* Undoes import_exports(): the importer's buffers, then the exports. */
static void release_exports(struct stream *s)
{
	unsigned int i;

	if (s->importer < 0)
		return;
	rvcap_reqbufs(s->importer, V4L2_MEMORY_DMABUF, 0);
	close(s->importer);
	s->importer = -1;
	for (i = 0; i < s->nbufs; i++) {
		if (s->exports[i] >= 0)
			close(s->exports[i]);
		s->exports[i] = -1;
	}
}

/* DMA_BUF_IOCTL_SYNC with @flags on @fd, or rvcap-bench fails. */
static void dma_buf_sync(int fd, uint64_t flags)
{
	struct dma_buf_sync sync = { .flags = flags };
	int ret = xioctl(fd, DMA_BUF_IOCTL_SYNC, &sync);

	if (ret)
		die("DMA_BUF_IOCTL_SYNC", ret);
}

/*
 * Times up to @brackets DMA_BUF_IOCTL_SYNC START|READ + END|READ brackets
 * on the export of buffer 0 (at most @seconds, after a few untimed ones);
 * prints the medians and, with @counters_path, the exporter's counters per
 * bracket.
 */
static void bench_sync(struct stream *s, unsigned int brackets, double seconds,
		       const char *counters_path, const char *label)
{
	uint64_t *start_ns = calloc(brackets, sizeof(*start_ns));
	uint64_t *end_ns = calloc(brackets, sizeof(*end_ns));
	uint64_t *both = calloc(brackets, sizeof(*both));
	int fd = s->exports[0];
	off_t size = lseek(fd, 0, SEEK_END);
	struct counters c0, c1;
	uint64_t begin, t0, t1, t2;
	unsigned int i, done;

	if (!start_ns || !end_ns || !both)
		die("memory", ENOMEM);
	if (size < 0)
		die("the export's size", errno);
	for (i = 0; i < 3; i++) {
		dma_buf_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
		dma_buf_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
	}
	if (counters_path)
		read_counters(counters_path, &c0);
	begin = now_ns();
	for (done = 0; done < brackets;) {
		t0 = now_ns();
		dma_buf_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
		t1 = now_ns();
		dma_buf_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
		t2 = now_ns();
		start_ns[done] = t1 - t0;
		end_ns[done] = t2 - t1;
		both[done] = t2 - t0;
		done++;
		if (t2 - begin > (uint64_t)(seconds * 1e9))
			break;
	}
	if (counters_path)
		read_counters(counters_path, &c1);
	printf("rvcap-bench: label=%s kind=sync export_bytes=%lld brackets=%u sync_ns_mean=%llu sync_ns_median=%llu start_ns_median=%llu end_ns_median=%llu",
	       label, (long long)size, done, (unsigned long long)mean(both, done),
	       (unsigned long long)median(both, done), (unsigned long long)median(start_ns, done),
	       (unsigned long long)median(end_ns, done));
	if (counters_path) {
		for (i = 0; i < (unsigned int)c1.n; i++)
			printf(" c_%s=%.1f", c1.name[i],
			       (double)(c1.value[i] - c0.value[i]) / done);
	}
	printf("\n");
	free(start_ns);
	free(end_ns);
	free(both);
}

/*
 * Sets the shortest frame interval the device lists for the format that is
 * at least @min_ms milliseconds.
 */
static void set_interval(int fd, const struct v4l2_format *fmt, unsigned int min_ms)
{
	struct v4l2_frmivalenum e = {
		.pixel_format = fmt->fmt.pix.pixelformat,
		.width = fmt->fmt.pix.width,
		.height = fmt->fmt.pix.height,
	};
	struct v4l2_streamparm parm = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE };
	struct v4l2_fract best = { 0, 0 };

	for (e.index = 0; !xioctl(fd, VIDIOC_ENUM_FRAMEINTERVALS, &e); e.index++) {
		if (e.type != V4L2_FRMIVAL_TYPE_DISCRETE)
			die("only discrete frame intervals are handled", EINVAL);
		if ((uint64_t)e.discrete.numerator * 1000 <
		    (uint64_t)min_ms * e.discrete.denominator)
			continue;
		if (!best.denominator ||
		    (uint64_t)e.discrete.numerator * best.denominator <
		    (uint64_t)best.numerator * e.discrete.denominator)
			best = e.discrete;
	}
	if (!best.denominator)
		die("VIDIOC_ENUM_FRAMEINTERVALS lists none that long", EINVAL);
	parm.parm.capture.timeperframe = best;
	if (xioctl(fd, VIDIOC_S_PARM, &parm))
		die("VIDIOC_S_PARM", errno);
}

int main(int argc, char **argv)
{
	const char *dev = NULL, *memory = "mmap", *label = "-", *thread = NULL;
	const char *counters_path = NULL, *hints = "none";
	const char *importer_path = NULL, *importer_counters = NULL;
	unsigned int width = 640, height = 480, nbufs = 4, frames = 300;
	unsigned int alloc_requeues = 100, i, done;
	double seconds = 5;
	size_t bufsize = 0, memset_bytes = 0;
	bool paced = false, release = false, sync_only = false;
	unsigned int min_interval_ms = 0;
	struct counters c0, c1;
	struct stream s = { .fd = -1, .importer = -1 };
	struct v4l2_streamparm parm = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE };
	struct v4l2_format fmt;
	uint64_t *dq, *q, *pair, start, elapsed, cpu0, cpu1, th0 = 0, th1 = 0;
	clockid_t thread_clock = 0;
	pid_t thread_pid = -1;
	long allocs = -1;
	int opt, ret;

	while ((opt = getopt(argc, argv, "d:m:W:H:B:b:n:t:a:T:c:I:Rh:E:i:Sl:M:")) != -1) {
		switch (opt) {
		case 'd':
			dev = optarg;
			break;
		case 'm':
			memory = optarg;
			break;
		case 'W':
			width = strtoul(optarg, NULL, 0);
			break;
		case 'H':
			height = strtoul(optarg, NULL, 0);
			break;
		case 'B':
			bufsize = strtoull(optarg, NULL, 0);
			break;
		case 'b':
			nbufs = strtoul(optarg, NULL, 0);
			break;
		case 'n':
			frames = strtoul(optarg, NULL, 0);
			break;
		case 't':
			seconds = strtod(optarg, NULL);
			break;
		case 'a':
			alloc_requeues = strtoul(optarg, NULL, 0);
			break;
		case 'T':
			thread = optarg;
			break;
		case 'c':
			counters_path = optarg;
			break;
		case 'I':
			paced = true;
			min_interval_ms = atoi(optarg);
			break;
		case 'R':
			release = true;
			break;
		case 'h':
			hints = optarg;
			break;
		case 'E':
			importer_path = optarg;
			break;
		case 'i':
			importer_counters = optarg;
			break;
		case 'S':
			sync_only = true;
			break;
		case 'l':
			label = optarg;
			break;
		case 'M':
			memset_bytes = strtoull(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr, "usage: see the comment at the top of rvcap-bench.c\n");
			return 2;
		}
	}
	if (!frames || frames > MAX_FRAMES || !nbufs || nbufs > RVCAP_MAX_BUFS)
		die("-n or -b out of range", EINVAL);
	if (memset_bytes) {
		bench_memset(memset_bytes, frames, label);
		return 0;
	}
	if (!dev)
		die("-d is needed", EINVAL);
	if (!strcmp(memory, "mmap"))
		s.memory = V4L2_MEMORY_MMAP;
	else if (!strcmp(memory, "udmabuf") || !strcmp(memory, "heap"))
		s.memory = V4L2_MEMORY_DMABUF;
	else
		die("-m must be mmap, udmabuf or heap", EINVAL);
	if (strcmp(hints, "none") && strcmp(hints, "noncoherent") && strcmp(hints, "hints"))
		die("-h must be none, noncoherent or hints", EINVAL);
	if (strcmp(hints, "none") && s.memory != V4L2_MEMORY_MMAP)
		die("-h noncoherent and -h hints are for -m mmap", EINVAL);
	if (importer_path && (s.memory != V4L2_MEMORY_MMAP || release))
		die("-E is for -m mmap, without -R", EINVAL);
	if ((sync_only || importer_counters) && !importer_path)
		die("-S and -i need -E", EINVAL);
	for (i = 0; i < RVCAP_MAX_BUFS; i++)
		s.exports[i] = -1;
	if (!strcmp(hints, "hints"))
		s.qbuf_flags = V4L2_BUF_FLAG_NO_CACHE_CLEAN | V4L2_BUF_FLAG_NO_CACHE_INVALIDATE;

	s.fd = open(dev, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (s.fd < 0)
		die(dev, errno);
	ret = rvcap_set_format(s.fd, V4L2_PIX_FMT_YUYV, width, height, &fmt);
	if (ret)
		die("VIDIOC_S_FMT", ret);
	if (fmt.fmt.pix.width != width || fmt.fmt.pix.height != height)
		die("the device does not do this frame size", EINVAL);
	if (paced)
		set_interval(s.fd, &fmt, min_interval_ms);
	if (xioctl(s.fd, VIDIOC_G_PARM, &parm))
		die("VIDIOC_G_PARM", errno);
	if (!bufsize)
		bufsize = (fmt.fmt.pix.sizeimage + 4095) & ~4095UL;

	/* Buffers: MMAP ones of bufsize bytes, or dma-bufs of that size. */
	{
		uint32_t create_flags = strcmp(hints, "none") ? V4L2_MEMORY_FLAG_NON_COHERENT : 0;
		struct v4l2_create_buffers create = {
			.count = nbufs,
			.memory = s.memory,
			.format = fmt,
			.flags = create_flags,
		};

		create.format.fmt.pix.sizeimage = bufsize;
		ret = xioctl(s.fd, VIDIOC_CREATE_BUFS, &create);
		if (ret)
			die("VIDIOC_CREATE_BUFS", ret);
		if (create.count != nbufs)
			die("fewer buffers than asked", ENOMEM);
		/* A coherent queue would make this row a mislabelled synced one. */
		if ((create.flags ^ create_flags) & V4L2_MEMORY_FLAG_NON_COHERENT)
			die("the CREATE_BUFS reply does not keep V4L2_MEMORY_FLAG_NON_COHERENT as asked",
			    EINVAL);
		if (s.qbuf_flags &&
		    !(create.capabilities & V4L2_BUF_CAP_SUPPORTS_MMAP_CACHE_HINTS))
			die("no V4L2_BUF_CAP_SUPPORTS_MMAP_CACHE_HINTS in the CREATE_BUFS reply",
			    EINVAL);
		s.nbufs = nbufs;
	}
	for (i = 0; i < s.nbufs && s.memory == V4L2_MEMORY_DMABUF; i++) {
		ret = rvcap_export(strcmp(memory, "heap") ? RVCAP_UDMABUF : RVCAP_DMA_HEAP,
				   bufsize, &s.bufs[i]);
		if (ret)
			die("exporting a dma-buf", ret);
	}
	if (importer_path)
		import_exports(&s, importer_path, &fmt, importer_counters);
	if (sync_only) {
		bench_sync(&s, frames, seconds, counters_path, label);
		release_exports(&s);
		rvcap_reqbufs(s.fd, s.memory, 0);
		close(s.fd);
		return 0;
	}
	start_stream(&s);
	if (thread) {
		thread_pid = rvcap_find_task(thread);
		if (thread_pid < 0)
			die(thread, ESRCH);
		ret = clock_getcpuclockid(thread_pid, &thread_clock);
		if (ret)
			die("clock_getcpuclockid", ret);
	}

	/* Warm-up: every buffer through once (mapped, faulted in). */
	for (i = 0; i < 2 * s.nbufs; i++)
		requeue(&s, NULL, NULL);

	dq = calloc(frames, sizeof(*dq));
	q = calloc(frames, sizeof(*q));
	pair = calloc(frames, sizeof(*pair));
	if (!dq || !q || !pair)
		die("memory", ENOMEM);
	if (counters_path)
		read_counters(counters_path, &c0);
	cpu0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	if (thread)
		th0 = clock_ns(thread_clock);
	start = now_ns();
	for (done = 0; done < frames; done++) {
		requeue(&s, &dq[done], &q[done]);
		pair[done] = dq[done] + q[done];
		if (now_ns() - start > (uint64_t)(seconds * 1e9)) {
			done++;
			break;
		}
	}
	elapsed = now_ns() - start;
	cpu1 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	if (thread)
		th1 = clock_ns(thread_clock);
	if (counters_path)
		read_counters(counters_path, &c1);

	/* Allocations over further requeues, outside the timed loop. */
	if (alloc_requeues) {
		pid_t pids[2] = { getpid(), thread_pid };

		ret = rvcap_alloc_trace_start(pids, thread ? 2 : 1);
		if (ret)
			die("setting up allocation tracing", ret);
		for (i = 0; i < alloc_requeues; i++)
			requeue(&s, NULL, NULL);
		allocs = rvcap_alloc_trace_stop();
		if (allocs < 0)
			die("reading the trace buffer", (int)allocs);
	}

	printf("rvcap-bench: label=%s kind=stream memory=%s width=%u height=%u frame_bytes=%u buffer_bytes=%zu buffers=%u exports=%u hints=%s interval=%u/%u frames=%u seconds=%.3f fps=%.1f pair_ns_mean=%llu pair_ns_median=%llu dqbuf_ns_median=%llu qbuf_ns_median=%llu cpu_ns_per_frame=%llu process_cpu_ns_per_frame=%llu thread_cpu_ns_per_frame=%llu allocs=%ld alloc_requeues=%u",
	       label, memory, width, height, fmt.fmt.pix.sizeimage, bufsize, s.nbufs,
	       importer_path ? s.nbufs : 0, hints,
	       parm.parm.capture.timeperframe.numerator,
	       parm.parm.capture.timeperframe.denominator, done, elapsed / 1e9,
	       done / (elapsed / 1e9), (unsigned long long)mean(pair, done),
	       (unsigned long long)median(pair, done), (unsigned long long)median(dq, done),
	       (unsigned long long)median(q, done),
	       (unsigned long long)((cpu1 - cpu0 + th1 - th0) / done),
	       (unsigned long long)((cpu1 - cpu0) / done),
	       (unsigned long long)((th1 - th0) / done), allocs, alloc_requeues);
	if (counters_path) {
		for (i = 0; i < (unsigned int)c1.n; i++)
			printf(" c_%s=%.1f", c1.name[i],
			       (double)(c1.value[i] - c0.value[i]) / done);
	}
	printf("\n");
	if (allocs > 0) {
		fprintf(stderr, "rvcap-bench: %s: %ld allocations; the first:\n", label, allocs);
		rvcap_alloc_trace_dump(stderr, 10);
	}

	if (release) {
		if (!counters_path)
			die("-R needs -c", EINVAL);
		bench_release(&s, counters_path, label);
	}
	rvcap_stream(s.fd, false);
	release_exports(&s);
	rvcap_reqbufs(s.fd, s.memory, 0);
	for (i = 0; i < s.nbufs && s.memory == V4L2_MEMORY_DMABUF; i++)
		rvcap_unexport(&s.bufs[i]);
	close(s.fd);
	free(dq);
	free(q);
	free(pair);
	return 0;
}
