// SPDX-License-Identifier: GPL-2.0
/*
 * rvcap-framecheck: check a file of raw frames that a V4L2 client (GStreamer's
 * filesink, v4l2-ctl --stream-to) wrote while rvcap sent its verification
 * pattern. Such a file carries no sequence numbers, so each frame must be the
 * verification frame of *some* sequence number s: byte 0 is 17 s mod 256,
 * which gives s mod 256 (17 is odd, so invertible mod 256), and then every
 * byte must match. Sequence numbers must increase from frame to frame (a
 * repeated or reordered frame fails; a dropped frame period leaves a gap,
 * which is allowed and counted), and the file must hold exactly the number
 * of whole frames asked for.
 *
 * usage: rvcap-framecheck FRAME_BYTES FRAMES FILE
 * Prints one line saying what it found; exits 0 if every byte is right.
 */
#define _GNU_SOURCE
#include "../tests/selftests/rvcap_v4l2.h"

/* 17 * 241 = 4097 = 1 mod 256 */
#define INV17 241u

int main(int argc, char **argv)
{
	unsigned long frame_bytes, frames, n = 0, gaps = 0;
	unsigned int seq = 0, first = 0, prev = 0;
	uint8_t *buf;
	size_t got;
	long bad;
	FILE *f;

	if (argc != 4) {
		fprintf(stderr, "usage: rvcap-framecheck FRAME_BYTES FRAMES FILE\n");
		return 2;
	}
	frame_bytes = strtoul(argv[1], NULL, 0);
	frames = strtoul(argv[2], NULL, 0);
	f = fopen(argv[3], "rb");
	if (!f || !frame_bytes) {
		fprintf(stderr, "rvcap-framecheck: %s: %s\n", argv[3],
			f ? "frame size 0" : strerror(errno));
		return 2;
	}
	buf = malloc(frame_bytes + 1);
	if (!buf)
		return 2;

	for (;;) {
		got = fread(buf, 1, frame_bytes + (n == frames ? 1 : 0), f);
		if (got == 0)
			break;
		if (n == frames) {
			printf("more than %lu frames\n", frames);
			return 1;
		}
		if (got != frame_bytes) {
			printf("frame %lu: %zu bytes, want %lu\n", n, got, frame_bytes);
			return 1;
		}
		seq = (buf[0] * INV17) & 0xff;
		bad = rvcap_check_frame(buf, frame_bytes, seq);
		if (bad >= 0) {
			printf("frame %lu (sequence %u mod 256 by its byte 0): byte %ld is %u, want %u\n",
			       n, seq, bad, buf[bad], rvcap_verification_byte(bad, seq));
			return 1;
		}
		if (n == 0) {
			first = seq;
		} else {
			unsigned int step = (seq - prev) & 0xff;

			if (step == 0) {
				printf("frame %lu repeats sequence %u mod 256\n", n, seq);
				return 1;
			}
			if (step >= 128) {
				printf("frame %lu: sequence %u mod 256 after %u\n", n, seq, prev);
				return 1;
			}
			gaps += step - 1;
		}
		prev = seq;
		n++;
	}
	if (n != frames) {
		printf("%lu frames, want %lu\n", n, frames);
		return 1;
	}
	printf("%lu frames of %lu bytes, every byte right, sequences from %u mod 256 increasing, %lu frame periods skipped\n",
	       n, frame_bytes, first, gaps);
	return 0;
}
