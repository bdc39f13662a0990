// SPDX-License-Identifier: GPL-2.0
/*
 * A seeded ioctl fuzzer for rvcap: threads issue random sequences of
 * open/close, S_FMT, REQBUFS/CREATE_BUFS (MMAP, DMABUF, invalid memory),
 * QUERYBUF, PREPARE_BUF, QBUF (valid and invalid indices and fds: udmabuf,
 * dma-heap, memfd, -1, the video node), DQBUF, STREAMON/OFF, mmap/munmap,
 * poll, S_PARM, controls and the error injection knobs, over two shared file
 * handles. Every call must succeed or fail with an errno the V4L2 spec
 * allows; afterwards every attach, map and dma-buf reference must be
 * released. The kernel log (KASAN, lockdep, DMA-API debug) and kmemleak are
 * checked by the plan around it.
 *
 * RVCAP_FUZZ_OPS: operations per thread (default 10000); RVCAP_FUZZ_SEED:
 * the seed (default: from the clock; printed); RVCAP_FUZZ_THREADS: threads
 * (default 2; with 1 a seed reproduces the exact sequence).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <time.h>

#include "kselftest_harness.h"
#include "rvcap_v4l2.h"

#define HANDLES 2
#define POOL 6
#define MAX_THREADS 8

struct fuzz {
	pthread_mutex_t lock;		/* guards fds[] across reopen */
	int fds[HANDLES];
	struct rvcap_dmabuf pool[POOL];	/* valid dma-bufs of two sizes */
	int bad_fds[3];			/* memfd, /dev/null, -1 */
	long ops;
	uint64_t seed;
};

struct worker {
	struct fuzz *fz;
	uint64_t rng;
	uint64_t sink;		/* bytes read from mappings, so the reads happen */
	long done;
	long unexpected;
	char last_bad[160];
};

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static uint32_t below(struct worker *w, uint32_t n)
{
	return (uint32_t)(next_rand(&w->rng) % n);
}

static int pick_fd(struct worker *w)
{
	struct fuzz *fz = w->fz;
	int fd;

	pthread_mutex_lock(&fz->lock);
	fd = fz->fds[below(w, HANDLES)];
	pthread_mutex_unlock(&fz->lock);
	return fd;
}

/* An fd for QBUF: mostly valid dma-bufs, sometimes not a dma-buf at all. */
static int pick_dmabuf(struct worker *w, int video)
{
	switch (below(w, 10)) {
	case 0:
		return w->fz->bad_fds[below(w, 3)];
	case 1:
		return video;
	default:
		return w->fz->pool[below(w, POOL)].fd;
	}
}

static uint32_t pick_memory(struct worker *w)
{
	static const uint32_t memories[] = {
		V4L2_MEMORY_MMAP, V4L2_MEMORY_MMAP, V4L2_MEMORY_DMABUF, V4L2_MEMORY_DMABUF,
		V4L2_MEMORY_USERPTR, 0, 42,
	};

	return memories[below(w, ARRAY_SIZE(memories))];
}

/* Errnos a V4L2 driver may return to a confused or concurrent caller. */
static bool allowed(int ret)
{
	switch (-ret) {
	case 0: case EINVAL: case EBUSY: case EAGAIN: case ENOMEM: case EBADR:
	case ENOBUFS: case ERANGE: case EINTR: case EBADF: case ENOTTY:
		return true;
	default:
		return false;
	}
}

static int one_op(struct worker *w, const char **name)
{
	struct fuzz *fz = w->fz;
	int fd = pick_fd(w), ret = 0;
	struct v4l2_buffer b = {
		.type = below(w, 20) ? V4L2_BUF_TYPE_VIDEO_CAPTURE : below(w, 12),
		.index = below(w, 20) ? below(w, 6) : below(w, 64),
		.memory = pick_memory(w),
	};

	switch (below(w, 16)) {
	case 0: {
		static const uint32_t fourccs[] = {
			V4L2_PIX_FMT_YUYV, V4L2_PIX_FMT_NV12, V4L2_PIX_FMT_RGB24,
			V4L2_PIX_FMT_GREY, v4l2_fourcc('J', 'U', 'N', 'K'),
		};
		struct v4l2_format f;

		*name = "S_FMT";
		ret = rvcap_set_format(fd, fourccs[below(w, ARRAY_SIZE(fourccs))],
				       below(w, 400), below(w, 300), &f);
		break;
	}
	case 1:
		*name = "REQBUFS";
		ret = rvcap_reqbufs(fd, pick_memory(w), below(w, 7));
		ret = ret > 0 ? 0 : ret;
		break;
	case 2: {
		struct v4l2_create_buffers c = { .count = below(w, 4), .memory = pick_memory(w) };

		*name = "CREATE_BUFS";
		c.format.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
		xioctl(fd, VIDIOC_G_FMT, &c.format);
		if (!below(w, 4))
			c.format.fmt.pix.sizeimage = below(w, 3) ? below(w, 1 << 20) : ~0U;
		ret = xioctl(fd, VIDIOC_CREATE_BUFS, &c);
		break;
	}
	case 3:
		*name = "QUERYBUF";
		ret = xioctl(fd, VIDIOC_QUERYBUF, &b);
		break;
	case 4: case 5: case 6:
		*name = "QBUF";
		b.m.fd = pick_dmabuf(w, fd);
		b.length = below(w, 8) ? 0 : below(w, 1 << 20);
		ret = xioctl(fd, VIDIOC_QBUF, &b);
		break;
	case 7:
		*name = "PREPARE_BUF";
		b.m.fd = pick_dmabuf(w, fd);
		ret = xioctl(fd, VIDIOC_PREPARE_BUF, &b);
		break;
	case 8: case 9:
		*name = "DQBUF";
		rvcap_wait_frame(fd, below(w, 3) * 10);
		ret = xioctl(fd, VIDIOC_DQBUF, &b);
		break;
	case 10:
		*name = "STREAMON/OFF";
		ret = rvcap_stream(fd, below(w, 2));
		break;
	case 11: {
		struct v4l2_buffer q = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
					 .memory = V4L2_MEMORY_MMAP, .index = below(w, 6) };
		uint8_t *p;

		*name = "mmap";
		if (xioctl(fd, VIDIOC_QUERYBUF, &q))
			q.m.offset = below(w, 64) * 4096;
		p = mmap(NULL, q.length ? q.length : 4096, PROT_READ, MAP_SHARED, fd, q.m.offset);
		if (p != MAP_FAILED) {
			w->sink += p[0];
			munmap(p, q.length ? q.length : 4096);
		} else {
			ret = -errno;
		}
		break;
	}
	case 12: {
		struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLPRI };

		*name = "poll";
		ret = poll(&pfd, 1, below(w, 5)) < 0 ? -errno : 0;
		break;
	}
	case 13: {
		struct v4l2_streamparm p = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE };

		*name = "S_PARM";
		p.parm.capture.timeperframe.numerator = below(w, 3);
		p.parm.capture.timeperframe.denominator = below(w, 100);
		ret = xioctl(fd, VIDIOC_S_PARM, &p);
		break;
	}
	case 14:
		*name = "S_CTRL";
		ret = rvcap_set_pattern(fd, below(w, 4));
		break;
	default: {
		int h = below(w, HANDLES), old, fresh;

		*name = "reopen";
		fresh = open(rvcap_dev(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (fresh < 0)
			return -errno;
		pthread_mutex_lock(&fz->lock);
		old = fz->fds[h];
		fz->fds[h] = fresh;
		pthread_mutex_unlock(&fz->lock);
		/* Another thread may still use @old: that is the point. */
		close(old);
		break;
	}
	}
	return ret;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	const char *name = "?";
	int ret;

	for (w->done = 0; w->done < w->fz->ops; w->done++) {
		ret = one_op(w, &name);
		if (!allowed(ret)) {
			w->unexpected++;
			snprintf(w->last_bad, sizeof(w->last_bad), "op %ld %s: %d (%s)",
				 w->done, name, ret, strerror(-ret));
		}
	}
	return NULL;
}

static long env_long(const char *name, long fallback)
{
	const char *v = getenv(name);

	return v ? strtol(v, NULL, 0) : fallback;
}

FIXTURE(fuzz) {
};

FIXTURE_SETUP(fuzz)
{
}

FIXTURE_TEARDOWN(fuzz)
{
}

/* Up to an hour: `make stress` runs 300,000 operations under KASAN. */
TEST_F_TIMEOUT(fuzz, random_ioctl_sequences_get_allowed_errnos_and_leave_nothing_behind, 3600)
{
	struct worker w[MAX_THREADS];
	pthread_t t[MAX_THREADS];
	struct fuzz fz = { .lock = PTHREAD_MUTEX_INITIALIZER };
	int threads = env_long("RVCAP_FUZZ_THREADS", 2);
	long unexpected = 0;
	int i, attached = -1;

	fz.ops = env_long("RVCAP_FUZZ_OPS", 10000);
	fz.seed = env_long("RVCAP_FUZZ_SEED", (long)time(NULL));
	ASSERT_LT(0, threads);
	ASSERT_GE(MAX_THREADS, threads);
	TH_LOG("seed %llu, %d threads x %ld operations (RVCAP_FUZZ_SEED reproduces)",
	       (unsigned long long)fz.seed, threads, fz.ops);
	for (i = 0; i < HANDLES; i++) {
		fz.fds[i] = open(rvcap_dev(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
		ASSERT_LE(0, fz.fds[i]);
	}
	for (i = 0; i < POOL; i++)
		ASSERT_EQ(0, rvcap_export(i % 2 ? RVCAP_UDMABUF : RVCAP_DMA_HEAP,
					  i < 3 ? 64 * 1024 : 640 * 1024, &fz.pool[i]));
	fz.bad_fds[0] = memfd_create("not-a-dmabuf", MFD_CLOEXEC);
	fz.bad_fds[1] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fz.bad_fds[2] = -1;

	for (i = 0; i < threads; i++) {
		w[i] = (struct worker){ .fz = &fz, .rng = fz.seed * 0x9e3779b97f4a7c15ULL + i + 1 };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, work, &w[i]));
	}
	for (i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		unexpected += w[i].unexpected;
		if (w[i].unexpected)
			TH_LOG("thread %d: %ld unexpected, last: %s", i, w[i].unexpected, w[i].last_bad);
	}
	EXPECT_EQ(0, unexpected);

	for (i = 0; i < HANDLES; i++)
		close(fz.fds[i]);
	TH_LOG("%ld operations done", threads * fz.ops);
	/* Every handle closed: rvcap holds nothing. */
	EXPECT_EQ(rvcap_counter("attach"), rvcap_counter("detach"));
	EXPECT_EQ(rvcap_counter("map"), rvcap_counter("unmap"));
	EXPECT_EQ(rvcap_counter("dmabuf_get"), rvcap_counter("dmabuf_put"));
	rvcap_bufinfo(rvcap_dma_device(), &attached);
	EXPECT_EQ(0, attached);
	for (i = 0; i < POOL; i++)
		rvcap_unexport(&fz.pool[i]);
	close(fz.bad_fds[0]);
	close(fz.bad_fds[1]);
	/* And the device is still fine. */
	{
		int fd = open(rvcap_dev(), O_RDWR | O_CLOEXEC);
		struct v4l2_format f;

		ASSERT_LE(0, fd);
		ASSERT_EQ(0, rvcap_set_format(fd, V4L2_PIX_FMT_YUYV, 64, 64, &f));
		ASSERT_EQ(0, rvcap_set_pattern(fd, 0));
		ASSERT_EQ(1, rvcap_reqbufs(fd, V4L2_MEMORY_MMAP, 1));
		ASSERT_EQ(0, rvcap_qbuf_mmap(fd, 0));
		ASSERT_EQ(0, rvcap_stream(fd, true));
		EXPECT_EQ(1, rvcap_wait_frame(fd, 5000));
		rvcap_set_format(fd, V4L2_PIX_FMT_YUYV, 640, 480, &f);
		close(fd);
	}
}

TEST_HARNESS_MAIN
