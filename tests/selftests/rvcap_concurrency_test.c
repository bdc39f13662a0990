// SPDX-License-Identifier: GPL-2.0
/*
 * rvcap under concurrency and injected faults: STREAMOFF and signals end a
 * blocked DQBUF, several threads share one queue, closing a streaming handle
 * or the exporter's fds releases what it should, and the engine's injected
 * error frames, drops, stalls and mapping failures behave as the V4L2 spec
 * says and leave nothing behind. Uses the debugfs knobs and counters of
 * rvcap.0; expects rvcap loaded.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "kselftest_harness.h"
#include "rvcap_v4l2.h"

#define NBUFS 4

FIXTURE(conc) {
	int fd;
	struct v4l2_format fmt;
	uint8_t *map[NBUFS];
	size_t len;
};

FIXTURE_SETUP(conc)
{
	struct v4l2_streamparm parm = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE };

	rvcap_reset_knobs();
	self->fd = open(rvcap_dev(), O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, rvcap_set_format(self->fd, V4L2_PIX_FMT_YUYV, 160, 120, &self->fmt));
	ASSERT_EQ(0, rvcap_set_pattern(self->fd, 2));
	parm.parm.capture.timeperframe.numerator = 1;
	parm.parm.capture.timeperframe.denominator = 60;
	ASSERT_EQ(0, xioctl(self->fd, VIDIOC_S_PARM, &parm));
	self->len = self->fmt.fmt.pix.sizeimage;
}

FIXTURE_TEARDOWN(conc)
{
	int i;

	rvcap_reset_knobs();
	rvcap_stream(self->fd, false);
	for (i = 0; i < NBUFS; i++)
		if (self->map[i])
			munmap(self->map[i], self->len);
	rvcap_restore_defaults(self->fd);
	close(self->fd);
}

/* REQBUFS(MMAP, NBUFS), mmap each buffer, optionally queue them all. */
static void mmap_buffers(struct __test_metadata *_metadata, struct _test_data_conc *self,
			 bool queue)
{
	struct v4l2_buffer buf;
	int i;

	ASSERT_EQ(NBUFS, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, NBUFS));
	for (i = 0; i < NBUFS; i++) {
		memset(&buf, 0, sizeof(buf));
		buf.index = i;
		buf.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
		buf.memory = V4L2_MEMORY_MMAP;
		ASSERT_EQ(0, xioctl(self->fd, VIDIOC_QUERYBUF, &buf));
		self->map[i] = mmap(NULL, self->len, PROT_READ, MAP_SHARED, self->fd, buf.m.offset);
		ASSERT_NE(MAP_FAILED, self->map[i]);
		if (queue)
			ASSERT_EQ(0, rvcap_qbuf_mmap(self->fd, i));
	}
}

struct dqbuf_call {
	int fd;
	int ret;
};

/* A plain DQBUF, not retried on EINTR (unlike xioctl). */
static void *blocking_dqbuf(void *arg)
{
	struct dqbuf_call *call = arg;
	struct v4l2_buffer buf = {
		.type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_MMAP,
	};

	call->ret = ioctl(call->fd, VIDIOC_DQBUF, &buf) ? -errno : 0;
	return NULL;
}

/* Joins @t, giving up (and failing the test) after @seconds. */
static int join_within(pthread_t t, int seconds)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += seconds;
	return pthread_timedjoin_np(t, NULL, &deadline);
}

TEST_F(conc, streamoff_wakes_a_blocked_dqbuf)
{
	struct dqbuf_call call = { .fd = self->fd, .ret = 1 };
	pthread_t t;

	mmap_buffers(_metadata, self, false);
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
	ASSERT_EQ(0, pthread_create(&t, NULL, blocking_dqbuf, &call));
	usleep(300000);
	/* Nothing is queued, so the DQBUF is still waiting. */
	ASSERT_EQ(EBUSY, pthread_tryjoin_np(t, NULL));
	ASSERT_EQ(0, rvcap_stream(self->fd, false));
	ASSERT_EQ(0, join_within(t, 10)) TH_LOG("STREAMOFF did not wake the DQBUF");
	EXPECT_EQ(-EINVAL, call.ret);
}

static void on_signal(int sig)
{
	(void)sig;
}

TEST_F(conc, a_signal_interrupts_a_blocked_dqbuf)
{
	struct dqbuf_call call = { .fd = self->fd, .ret = 1 };
	struct sigaction sa = { .sa_handler = on_signal };	/* no SA_RESTART */
	pthread_t t;

	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	mmap_buffers(_metadata, self, false);
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
	ASSERT_EQ(0, pthread_create(&t, NULL, blocking_dqbuf, &call));
	usleep(300000);
	ASSERT_EQ(0, pthread_kill(t, SIGUSR1));
	ASSERT_EQ(0, join_within(t, 10)) TH_LOG("the signal did not end the DQBUF");
	EXPECT_EQ(-EINTR, call.ret);
	/* The queue is unharmed: frames still come. */
	ASSERT_EQ(0, rvcap_qbuf_mmap(self->fd, 0));
	EXPECT_EQ(1, rvcap_wait_frame(self->fd, 5000));
}

struct worker {
	struct _test_data_conc *self;
	int *dequeued;		/* shared count */
	unsigned char *seen;	/* sequence numbers seen */
	int bad;		/* frames with wrong bytes or errors */
	int unexpected;		/* unexpected errno */
};

#define SHARED_FRAMES 120

static void *dq_q_loop(void *arg)
{
	struct worker *w = arg;
	struct v4l2_buffer buf;
	int ret;

	while (__atomic_load_n(w->dequeued, __ATOMIC_SEQ_CST) < SHARED_FRAMES) {
		ret = rvcap_dqbuf(w->self->fd, V4L2_MEMORY_MMAP, &buf);
		if (ret == -EINVAL)	/* STREAMOFF: done */
			break;
		if (ret) {
			w->unexpected++;
			break;
		}
		if (buf.sequence < 4 * SHARED_FRAMES)
			__atomic_add_fetch(&w->seen[buf.sequence], 1, __ATOMIC_SEQ_CST);
		if ((buf.flags & V4L2_BUF_FLAG_ERROR) ||
		    rvcap_check_frame(w->self->map[buf.index], buf.bytesused, buf.sequence) != -1)
			w->bad++;
		__atomic_add_fetch(w->dequeued, 1, __ATOMIC_SEQ_CST);
		ret = rvcap_qbuf_mmap(w->self->fd, buf.index);
		if (ret) {
			w->unexpected++;
			break;
		}
	}
	return NULL;
}

TEST_F(conc, qbuf_and_dqbuf_from_four_threads_on_one_handle)
{
	unsigned char seen[4 * SHARED_FRAMES] = { 0 };
	struct worker w[4];
	pthread_t t[4];
	int dequeued = 0, i;

	mmap_buffers(_metadata, self, true);
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
	for (i = 0; i < 4; i++) {
		w[i] = (struct worker){ .self = self, .dequeued = &dequeued, .seen = seen };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, dq_q_loop, &w[i]));
	}
	while (__atomic_load_n(&dequeued, __ATOMIC_SEQ_CST) < SHARED_FRAMES)
		usleep(50000);
	/* Wake whoever still waits. */
	ASSERT_EQ(0, rvcap_stream(self->fd, false));
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(0, join_within(t[i], 10));
		EXPECT_EQ(0, w[i].bad);
		EXPECT_EQ(0, w[i].unexpected);
	}
	/* No frame was handed out twice. */
	for (i = 0; i < 4 * SHARED_FRAMES && seen[i] <= 1; i++)
		;
	EXPECT_EQ(4 * SHARED_FRAMES, i) TH_LOG("sequence %d was dequeued more than once", i);
}

TEST_F(conc, close_while_streaming_releases_everything)
{
	struct rvcap_dmabuf bufs[NBUFS];
	int fd2, i, attached = -1;

	for (i = 0; i < NBUFS; i++)
		ASSERT_EQ(0, rvcap_export(RVCAP_DMA_HEAP, (self->len + 4095) & ~4095UL, &bufs[i]));
	fd2 = open(rvcap_dev(), O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(NBUFS, rvcap_reqbufs(fd2, V4L2_MEMORY_DMABUF, NBUFS));
	for (i = 0; i < NBUFS; i++)
		ASSERT_EQ(0, rvcap_qbuf_dmabuf(fd2, i, bufs[i].fd, 0));
	ASSERT_EQ(0, rvcap_stream(fd2, true));
	ASSERT_EQ(1, rvcap_wait_frame(fd2, 5000));
	close(fd2);
	EXPECT_EQ(rvcap_counter("attach"), rvcap_counter("detach"));
	EXPECT_EQ(rvcap_counter("map"), rvcap_counter("unmap"));
	EXPECT_EQ(rvcap_counter("dmabuf_get"), rvcap_counter("dmabuf_put"));
	rvcap_bufinfo(rvcap_dma_device(), &attached);
	EXPECT_EQ(0, attached);
	for (i = 0; i < NBUFS; i++)
		rvcap_unexport(&bufs[i]);
}

TEST_F(conc, exporter_fds_closed_while_queued_stay_alive_until_released)
{
	struct rvcap_dmabuf bufs[NBUFS];
	struct v4l2_buffer buf;
	int before = rvcap_bufinfo(rvcap_dma_device(), NULL);
	int i;

	ASSERT_EQ(NBUFS, rvcap_reqbufs(self->fd, V4L2_MEMORY_DMABUF, NBUFS));
	for (i = 0; i < NBUFS; i++) {
		ASSERT_EQ(0, rvcap_export(RVCAP_DMA_HEAP, (self->len + 4095) & ~4095UL, &bufs[i]));
		ASSERT_EQ(0, rvcap_qbuf_dmabuf(self->fd, i, bufs[i].fd, 0));
		/* Userspace lets go of everything: only rvcap holds the dma-buf. */
		rvcap_unexport(&bufs[i]);
	}
	EXPECT_EQ(before + NBUFS, rvcap_bufinfo(rvcap_dma_device(), NULL));
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
	for (i = 0; i < NBUFS; i++) {
		ASSERT_EQ(1, rvcap_wait_frame(self->fd, 5000));
		ASSERT_EQ(0, rvcap_dqbuf(self->fd, V4L2_MEMORY_DMABUF, &buf));
		EXPECT_EQ(self->len, buf.bytesused);
	}
	ASSERT_EQ(0, rvcap_stream(self->fd, false));
	ASSERT_EQ(0, rvcap_reqbufs(self->fd, V4L2_MEMORY_DMABUF, 0));
	/* Released: the exporter freed them. */
	EXPECT_EQ(before, rvcap_bufinfo(rvcap_dma_device(), NULL));
}

/* Streams @frames frames and collects their flags, sequences and sizes. */
static void collect(struct __test_metadata *_metadata, struct _test_data_conc *self,
		    int frames, struct v4l2_buffer *out)
{
	int i;

	mmap_buffers(_metadata, self, true);
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
	for (i = 0; i < frames; i++) {
		ASSERT_EQ(1, rvcap_wait_frame(self->fd, 5000));
		ASSERT_EQ(0, rvcap_dqbuf(self->fd, V4L2_MEMORY_MMAP, &out[i]));
		/* Whatever was written is the frame's own bytes. */
		ASSERT_EQ(-1, rvcap_check_frame(self->map[out[i].index], out[i].bytesused,
						out[i].sequence));
		ASSERT_EQ(0, rvcap_qbuf_mmap(self->fd, out[i].index));
	}
	ASSERT_EQ(0, rvcap_stream(self->fd, false));
}

TEST_F(conc, injected_error_frames_are_flagged_and_counted)
{
	long long errors = rvcap_counter("errors");
	struct v4l2_buffer bufs[12];
	int i, flagged = 0;

	ASSERT_EQ(0, rvcap_set_knob("inject_error_every", 3));
	collect(_metadata, self, 12, bufs);
	for (i = 0; i < 12; i++) {
		bool error = bufs[i].flags & V4L2_BUF_FLAG_ERROR;

		/* Frame periods count from 1: sequence s is period s + 1. */
		EXPECT_EQ((bufs[i].sequence + 1) % 3 == 0, error) TH_LOG("sequence %u", bufs[i].sequence);
		EXPECT_EQ(error ? self->len / 2 : self->len, bufs[i].bytesused);
		flagged += error;
	}
	EXPECT_LE(3, flagged);
	EXPECT_EQ(flagged, rvcap_counter("errors") - errors);
}

TEST_F(conc, injected_drops_leave_sequence_gaps)
{
	long long drops = rvcap_counter("drops");
	struct v4l2_buffer bufs[10];
	int i;

	ASSERT_EQ(0, rvcap_set_knob("inject_drop_every", 2));
	collect(_metadata, self, 10, bufs);
	for (i = 0; i < 10; i++) {
		EXPECT_EQ(0U, bufs[i].sequence % 2) TH_LOG("frame %d: sequence %u", i, bufs[i].sequence);
		if (i)
			EXPECT_EQ(bufs[i - 1].sequence + 2, bufs[i].sequence);
	}
	/* At least the 9 dropped periods between the 10 delivered frames. */
	EXPECT_LE(9, rvcap_counter("drops") - drops);
}

TEST_F(conc, a_stalled_engine_still_stops)
{
	struct v4l2_buffer buf;
	int flags = fcntl(self->fd, F_GETFL);

	ASSERT_EQ(0, rvcap_set_knob("inject_stall_ms", 3000));
	mmap_buffers(_metadata, self, true);
	ASSERT_EQ(0, fcntl(self->fd, F_SETFL, flags | O_NONBLOCK));
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
	usleep(300000);
	EXPECT_EQ(-EAGAIN, rvcap_dqbuf(self->fd, V4L2_MEMORY_MMAP, &buf));
	/* STREAMOFF wakes the stalled engine and waits for it. */
	EXPECT_EQ(0, rvcap_stream(self->fd, false));
	ASSERT_EQ(0, rvcap_set_knob("inject_stall_ms", 0));
	ASSERT_EQ(0, fcntl(self->fd, F_SETFL, flags));
	for (int i = 0; i < NBUFS; i++)
		ASSERT_EQ(0, rvcap_qbuf_mmap(self->fd, i));
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
	EXPECT_EQ(1, rvcap_wait_frame(self->fd, 5000));
}

TEST_F(conc, injected_mapping_failures_leave_nothing_behind)
{
	struct rvcap_dmabuf buf;
	struct v4l2_buffer out;

	/* MMAP: the allocation of the first buffer fails. */
	ASSERT_EQ(0, rvcap_set_knob("inject_map_failures", 1));
	EXPECT_EQ(-ENOMEM, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, NBUFS));
	EXPECT_EQ(rvcap_counter("map"), rvcap_counter("unmap"));
	/* DMABUF: the exporter "refuses" the first map; a refused QBUF keeps nothing. */
	ASSERT_EQ(0, rvcap_export(RVCAP_DMA_HEAP, (self->len + 4095) & ~4095UL, &buf));
	ASSERT_EQ(1, rvcap_reqbufs(self->fd, V4L2_MEMORY_DMABUF, 1));
	ASSERT_EQ(0, rvcap_set_knob("inject_map_failures", 1));
	EXPECT_EQ(-ENOMEM, rvcap_qbuf_dmabuf(self->fd, 0, buf.fd, 0));
	EXPECT_EQ(rvcap_counter("map"), rvcap_counter("unmap"));
	EXPECT_EQ(1, rvcap_buffers_lines(" dequeued cpu    no       no "));
	EXPECT_EQ(rvcap_counter("attach"), rvcap_counter("detach"));
	/* The retry maps and streams. */
	ASSERT_EQ(0, rvcap_qbuf_dmabuf(self->fd, 0, buf.fd, 0));
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
	ASSERT_EQ(1, rvcap_wait_frame(self->fd, 5000));
	ASSERT_EQ(0, rvcap_dqbuf(self->fd, V4L2_MEMORY_DMABUF, &out));
	EXPECT_EQ(-1, rvcap_check_frame(buf.cpu, out.bytesused, out.sequence));
	ASSERT_EQ(0, rvcap_stream(self->fd, false));
	ASSERT_EQ(0, rvcap_reqbufs(self->fd, V4L2_MEMORY_DMABUF, 0));
	EXPECT_EQ(rvcap_counter("attach"), rvcap_counter("detach"));
	EXPECT_EQ(rvcap_counter("dmabuf_get"), rvcap_counter("dmabuf_put"));
	rvcap_unexport(&buf);
}

TEST_HARNESS_MAIN
