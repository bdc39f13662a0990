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
 * With -M BYTES it instead times memset() of BYTES, the bandwidth limit
 * for filling a frame of that size.
 *
 * usage: rvcap-bench -d DEV -m mmap|udmabuf|heap [-W width] [-H height]
 *                    [-B buffer bytes] [-b buffers] [-n frames] [-t seconds]
 *                    [-a requeues] [-T thread] [-c counters] [-I ms] [-R]
 *                    [-h none|noncoherent|hints] [-l label]
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
#define MAX_COUNTERS 32
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
	unsigned int width = 640, height = 480, nbufs = 4, frames = 300;
	unsigned int alloc_requeues = 100, i, done;
	double seconds = 5;
	size_t bufsize = 0, memset_bytes = 0;
	bool paced = false, release = false;
	unsigned int min_interval_ms = 0;
	struct counters c0, c1;
	struct stream s = { .fd = -1 };
	struct v4l2_streamparm parm = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE };
	struct v4l2_format fmt;
	uint64_t *dq, *q, *pair, start, elapsed, cpu0, cpu1, th0 = 0, th1 = 0;
	clockid_t thread_clock = 0;
	pid_t thread_pid = -1;
	long allocs = -1;
	int opt, ret;

	while ((opt = getopt(argc, argv, "d:m:W:H:B:b:n:t:a:T:c:I:Rh:l:M:")) != -1) {
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

	printf("rvcap-bench: label=%s kind=stream memory=%s width=%u height=%u frame_bytes=%u buffer_bytes=%zu buffers=%u hints=%s interval=%u/%u frames=%u seconds=%.3f fps=%.1f pair_ns_mean=%llu pair_ns_median=%llu dqbuf_ns_median=%llu qbuf_ns_median=%llu cpu_ns_per_frame=%llu process_cpu_ns_per_frame=%llu thread_cpu_ns_per_frame=%llu allocs=%ld alloc_requeues=%u",
	       label, memory, width, height, fmt.fmt.pix.sizeimage, bufsize, s.nbufs, hints,
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
	rvcap_reqbufs(s.fd, s.memory, 0);
	for (i = 0; i < s.nbufs && s.memory == V4L2_MEMORY_DMABUF; i++)
		rvcap_unexport(&s.bufs[i]);
	close(s.fd);
	free(dq);
	free(q);
	free(pair);
	return 0;
}
