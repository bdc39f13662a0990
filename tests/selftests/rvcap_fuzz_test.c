// SPDX-License-Identifier: GPL-2.0
/*
 * A seeded ioctl fuzzer for rvcap: threads issue random sequences of
 * open/close, S_FMT, REQBUFS/CREATE_BUFS (MMAP, DMABUF, invalid memory),
 * QUERYBUF, PREPARE_BUF, QBUF (valid and invalid indices and fds: udmabuf,
 * dma-heap, memfd, -1, the video node), DQBUF, STREAMON/OFF, mmap/munmap,
 * poll, S_PARM, controls and the error injection knobs, over two shared file
 * handles; and implicit fences: EXPBUF of MMAP buffers, sw_sync fences
 * imported into the pool's dma-bufs and the exports
 * (DMA_BUF_IOCTL_IMPORT_SYNC_FILE, read or write), the timeline advanced,
 * sync_files exported (DMA_BUF_IOCTL_EXPORT_SYNC_FILE) and polled. Every
 * call must succeed or fail with an errno the V4L2 spec (or dma-buf's
 * uAPI) allows; afterwards every attach, map and dma-buf reference must be
 * released, and, once the timeline has signalled every foreign fence,
 * every sync_file exported on the way and every dma-buf's write and read
 * fences must have signalled: no fence rvcap published is left pending
 * after STREAMOFF or close. The kernel log (KASAN, lockdep, DMA-API debug)
 * and kmemleak are checked by the plan around it.
 *
 * RVCAP_FUZZ_OPS: operations per thread (default 10000); RVCAP_FUZZ_SEED:
 * the seed (default: from the clock; printed); RVCAP_FUZZ_THREADS: threads
 * (default 2; with 1 a seed reproduces the exact sequence).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <time.h>
#include <linux/sync_file.h>

#include "kselftest_harness.h"
#include "rvcap_v4l2.h"
#include "rvcap_sw_sync.h"

#define HANDLES 2
#define POOL 6
#define MAX_THREADS 8
/* rvcap exports (EXPBUF) and exported sync_files the fuzzer keeps. */
#define EXPORTS 8
#define SYNCS 64


struct fuzz {
	pthread_mutex_t lock;		/* guards fds[] across reopen, and the fence state */
	int fds[HANDLES];
	struct rvcap_dmabuf pool[POOL];	/* valid dma-bufs of two sizes */
	int bad_fds[3];			/* memfd, /dev/null, -1 */
	long ops;
	uint64_t seed;
	int exports[EXPORTS];		/* EXPBUFs of rvcap's MMAP buffers, or -1 */
	int syncs[SYNCS];		/* exported sync_files, or -1 */
	unsigned int next_sync;
	int timeline;			/* sw_sync, or -1 if there is none */
	uint32_t timeline_at;		/* what it has signalled up to */
	uint32_t timeline_max;		/* the highest fence value made */
	long fence_ops[4];		/* EXPBUF, imports, INCs, sync_file exports that worked */
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

/*
 * A dma-buf for a fence operation, under fz->lock: mostly the pool's or an
 * export, sometimes not a dma-buf at all.
 */
static int pick_fence_target(struct worker *w)
{
	struct fuzz *fz = w->fz;
	int fd;

	switch (below(w, 8)) {
	case 0:
		return fz->bad_fds[below(w, 3)];
	case 1: case 2: case 3:
		fd = fz->exports[below(w, EXPORTS)];
		if (fd >= 0)
			return fd;
		/* fall through */
	default:
		return fz->pool[below(w, POOL)].fd;
	}
}

/* Flags for IMPORT/EXPORT_SYNC_FILE: read, write, both, rarely none. */
static uint32_t pick_sync_flags(struct worker *w)
{
	static const uint32_t flags[] = {
		DMA_BUF_SYNC_READ, DMA_BUF_SYNC_READ, DMA_BUF_SYNC_WRITE, DMA_BUF_SYNC_WRITE,
		DMA_BUF_SYNC_RW, 0,
	};

	return flags[below(w, ARRAY_SIZE(flags))];
}

/*
 * One fence operation (@op 0..3): EXPBUF of a random MMAP buffer, kept
 * (replacing and closing an older export); a sw_sync fence a little ahead
 * of the timeline imported into a dma-buf; the timeline advanced; a
 * sync_file exported from a dma-buf, polled and kept. Under fz->lock, so
 * that no fd is closed under another thread's use of it.
 */
static int fence_op(struct worker *w, int fd, unsigned int op, const char **name)
{
	struct fuzz *fz = w->fz;
	int ret = 0;

	pthread_mutex_lock(&fz->lock);
	switch (op) {
	case 0: {
		struct v4l2_exportbuffer e = {
			.type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
			.index = below(w, 6),
			.flags = O_RDWR | O_CLOEXEC,
		};
		unsigned int slot = below(w, EXPORTS);

		*name = "EXPBUF";
		ret = xioctl(fd, VIDIOC_EXPBUF, &e);
		if (!ret) {
			if (fz->exports[slot] >= 0)
				close(fz->exports[slot]);
			fz->exports[slot] = e.fd;
			fz->fence_ops[0]++;
		}
		break;
	}
	case 1: {
		struct sw_sync_create_fence_data data = {
			.value = fz->timeline_at + 1 + below(w, 3),
		};
		struct dma_buf_import_sync_file imp = { .flags = pick_sync_flags(w) };

		*name = "IMPORT_SYNC_FILE";
		if (fz->timeline < 0)
			break;
		snprintf(data.name, sizeof(data.name), "fuzz-%u", data.value);
		ret = xioctl(fz->timeline, SW_SYNC_IOC_CREATE_FENCE, &data);
		if (ret) {
			*name = "SW_SYNC_IOC_CREATE_FENCE";
			break;
		}
		if (data.value > fz->timeline_max)
			fz->timeline_max = data.value;
		imp.fd = data.fence;
		ret = xioctl(pick_fence_target(w), DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &imp);
		close(data.fence);
		fz->fence_ops[1] += !ret;
		break;
	}
	case 2: {
		__u32 inc = 1 + below(w, 2);

		*name = "SW_SYNC_IOC_INC";
		if (fz->timeline < 0)
			break;
		ret = xioctl(fz->timeline, SW_SYNC_IOC_INC, &inc);
		if (!ret) {
			fz->timeline_at += inc;
			fz->fence_ops[2]++;
		}
		break;
	}
	default: {
		struct dma_buf_export_sync_file exp = { .flags = pick_sync_flags(w), .fd = -1 };
		unsigned int slot = fz->next_sync++ % SYNCS;

		*name = "EXPORT_SYNC_FILE";
		ret = xioctl(pick_fence_target(w), DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &exp);
		if (ret)
			break;
		{
			struct pollfd pfd = { .fd = exp.fd, .events = POLLIN };

			if (poll(&pfd, 1, below(w, 3)) < 0)
				ret = -errno;
		}
		if (fz->syncs[slot] >= 0)
			close(fz->syncs[slot]);
		fz->syncs[slot] = exp.fd;
		fz->fence_ops[3]++;
		break;
	}
	}
	pthread_mutex_unlock(&fz->lock);
	return ret;
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

	switch (below(w, 20)) {
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
		/*
		 * Another thread's reopen closed @fd and the number went to a
		 * sync_file (no mmap: ENODEV): as EBADF, not rvcap's answer.
		 */
		if (ret == -ENODEV && rvcap_fd_instance(fd) < 0)
			ret = -EBADF;
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
	case 16: case 17: case 18: case 19:
		ret = fence_op(w, fd, below(w, 4), name);
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

/*
 * Whether sync_file @fd has signalled within @ms; its status in *@status
 * (1, or the error) if it has.
 */
static bool sync_file_signalled(int fd, int ms, int *status)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct sync_file_info info;

	if (poll(&pfd, 1, ms) != 1)
		return false;
	memset(&info, 0, sizeof(info));
	if (xioctl(fd, SYNC_IOC_FILE_INFO, &info))
		return false;
	*status = info.status;
	return info.status != 0;
}

/*
 * Every fence left in dma-buf @fd (read and write usage: EXPORT_SYNC_FILE
 * with DMA_BUF_SYNC_WRITE) signals within @ms.
 */
static bool dmabuf_idle(int fd, int ms)
{
	struct dma_buf_export_sync_file exp = { .flags = DMA_BUF_SYNC_WRITE, .fd = -1 };
	int status;
	bool idle;

	if (xioctl(fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &exp))
		return false;
	idle = sync_file_signalled(exp.fd, ms, &status);
	close(exp.fd);
	return idle;
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
	long long published, signalled, signalled_error;
	long unexpected = 0;
	int i, attached = -1, pending = 0, status, errors = 0;

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
	for (i = 0; i < EXPORTS; i++)
		fz.exports[i] = -1;
	for (i = 0; i < SYNCS; i++)
		fz.syncs[i] = -1;
	published = rvcap_counter("fences_published");
	signalled = rvcap_counter("fences_signalled");
	signalled_error = rvcap_counter("fences_signalled_error");
	fz.timeline = open(SW_SYNC_PATH, O_RDWR | O_CLOEXEC);
	if (fz.timeline < 0)
		TH_LOG("no sw_sync (CONFIG_SW_SYNC, debugfs): no foreign fences imported");

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

	/* The foreign fences all signalled: then nothing may be pending. */
	TH_LOG("fence operations: %ld EXPBUF, %ld imports, %ld timeline steps, %ld sync_file exports",
	       fz.fence_ops[0], fz.fence_ops[1], fz.fence_ops[2], fz.fence_ops[3]);
	EXPECT_LT(0, fz.fence_ops[3]);
	if (fz.timeline >= 0) {
		__u32 inc = fz.timeline_max > fz.timeline_at ? fz.timeline_max - fz.timeline_at : 0;

		EXPECT_LT(0, fz.fence_ops[1]);
		ASSERT_EQ(0, xioctl(fz.timeline, SW_SYNC_IOC_INC, &inc));
	}
	for (i = 0; i < SYNCS; i++) {
		if (fz.syncs[i] < 0)
			continue;
		if (!sync_file_signalled(fz.syncs[i], 5000, &status))
			pending++;
		else if (status < 0)
			errors++;
		close(fz.syncs[i]);
	}
	EXPECT_EQ(0, pending) TH_LOG("exported sync_files still pending after close");
	TH_LOG("kept sync_files: %d signalled with an error", errors);
	for (i = 0; i < POOL; i++)
		EXPECT_TRUE(dmabuf_idle(fz.pool[i].fd, 5000)) TH_LOG("pool dma-buf %d busy", i);
	for (i = 0; i < EXPORTS; i++) {
		if (fz.exports[i] < 0)
			continue;
		EXPECT_TRUE(dmabuf_idle(fz.exports[i], 5000)) TH_LOG("export %d busy", i);
		close(fz.exports[i]);
	}
	if (fz.timeline >= 0)
		close(fz.timeline);
	/* rvcap published fences, and signalled each one. */
	TH_LOG("fences_published %lld, fences_signalled %lld, fences_signalled_error %lld",
	       rvcap_counter("fences_published") - published,
	       rvcap_counter("fences_signalled") - signalled,
	       rvcap_counter("fences_signalled_error") - signalled_error);
	EXPECT_LT(published, rvcap_counter("fences_published"));
	EXPECT_EQ(rvcap_counter("fences_published") - published,
		  rvcap_counter("fences_signalled") - signalled);
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
