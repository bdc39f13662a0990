// SPDX-License-Identifier: GPL-2.0
/*
 * Orphaned MMAP buffers: REQBUFS(0) while userspace still has buffers
 * mmapped leaves them readable and writable until munmap (V4L2's orphaned
 * buffers), but the device never touches them again, so they hold no DMA
 * mapping: no swiotlb slots, no IOVAs, no uncached alias. Otherwise a loop
 * of REQBUFS, mmap, REQBUFS(0) would exhaust the swiotlb pool (256 MiB in
 * make check's bounced boots) or a narrow DMA master's IOVA space, for
 * every device on the system.
 *
 * Expects rvcap loaded.
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"
#include "rvcap_v4l2.h"

#define WIDTH 640
#define HEIGHT 480
#define USER_BYTE 0x5a

/* Live DMA mappings of rvcap.0: made less undone. */
static long long live_mappings(void)
{
	return rvcap_counter("map") - rvcap_counter("unmap");
}

/*
 * REQBUFS(MMAP, @count) on @fd and mmap() of every buffer into @maps;
 * returns how many buffers there are, or -1.
 */
static int alloc_and_mmap(int fd, int count, uint8_t **maps, size_t *len)
{
	int n = rvcap_reqbufs(fd, V4L2_MEMORY_MMAP, count);
	int i;

	for (i = 0; i < n; i++) {
		maps[i] = rvcap_mmap_buffer(fd, i, PROT_READ | PROT_WRITE, len);
		if (maps[i] == MAP_FAILED)
			return -1;
	}
	return n;
}

FIXTURE(orphan) {
	int fd;
	struct v4l2_format fmt;
};

FIXTURE_SETUP(orphan)
{
	rvcap_reset_knobs();
	self->fd = open(rvcap_dev(), O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, rvcap_set_format(self->fd, V4L2_PIX_FMT_YUYV, WIDTH, HEIGHT, &self->fmt));
}

FIXTURE_TEARDOWN(orphan)
{
	rvcap_restore_defaults(self->fd);
	close(self->fd);
}

TEST_F(orphan, reqbufs_zero_drops_the_dma_mappings_of_mmapped_buffers)
{
	uint8_t *maps[4];
	size_t len = 0, i;
	long long before = live_mappings();
	int n, b;

	n = alloc_and_mmap(self->fd, 4, maps, &len);
	ASSERT_EQ(4, n);
	EXPECT_EQ(before + 4, live_mappings());
	for (b = 0; b < n; b++)
		memset(maps[b], USER_BYTE, len);
	ASSERT_EQ(0, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, 0));
	EXPECT_EQ(before, live_mappings()) {
		TH_LOG("REQBUFS(0) left %lld DMA mappings of orphaned buffers",
		       live_mappings() - before);
	}
	/* Still the application's memory, with its bytes, until munmap. */
	for (b = 0; b < n; b++) {
		for (i = 0; i < len && maps[b][i] == USER_BYTE; i++)
			;
		EXPECT_EQ(len, i) TH_LOG("buffer %d byte %zu changed", b, i);
		memset(maps[b], ~USER_BYTE, len);
		munmap(maps[b], len);
	}
	EXPECT_EQ(before, live_mappings());
}

/*
 * More orphans than the bounced boots' swiotlb pool holds (256 MiB): 16
 * rounds of 32 buffers of 600 KiB (300 MiB), all kept mmapped, then a
 * stream must still get buffers and a frame.
 */
TEST_F(orphan, a_loop_of_orphans_does_not_exhaust_dma_space)
{
	enum { ROUNDS = 16, PER_ROUND = RVCAP_MAX_BUFS };
	static uint8_t *maps[ROUNDS][PER_ROUND];
	struct v4l2_buffer buf;
	size_t len = 0;
	int n[ROUNDS] = { 0 };
	int r, b;

	for (r = 0; r < ROUNDS; r++) {
		n[r] = alloc_and_mmap(self->fd, PER_ROUND, maps[r], &len);
		ASSERT_EQ(PER_ROUND, n[r]) TH_LOG("round %d of %d", r, ROUNDS);
		maps[r][0][0] = r;
		ASSERT_EQ(0, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, 0));
	}
	ASSERT_EQ(2, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, 2));
	ASSERT_EQ(0, rvcap_qbuf_mmap(self->fd, 0));
	ASSERT_EQ(0, rvcap_qbuf_mmap(self->fd, 1));
	ASSERT_EQ(0, rvcap_stream(self->fd, true));
	ASSERT_EQ(1, rvcap_wait_frame(self->fd, 5000));
	ASSERT_EQ(0, rvcap_dqbuf(self->fd, V4L2_MEMORY_MMAP, &buf));
	ASSERT_EQ(0, rvcap_stream(self->fd, false));
	ASSERT_EQ(0, rvcap_reqbufs(self->fd, V4L2_MEMORY_MMAP, 0));
	for (r = 0; r < ROUNDS; r++) {
		EXPECT_EQ(r, maps[r][0][0]);
		for (b = 0; b < n[r]; b++)
			munmap(maps[r][b], len);
	}
}

TEST_HARNESS_MAIN
