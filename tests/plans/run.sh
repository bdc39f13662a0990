#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest plan for `make run`: load rvcap, capture through MMAP (one frame per
# test pattern) and through DMA-BUF import from the system dma-heap, send
# the frames to the host on the third serial port, and show what the driver
# did. Each file sent is announced on a line "rvcap-file: NAME BYTES".

# What the plans share (unload_rvcap): tests/plans/lib.sh.
. /plan-lib.sh

set -e
# The data port, raw (no newline translation), and held open on fd 3 for
# the whole plan: a virtio console (arm64) resets its settings at its last
# close.
exec 3>"$RVCAP_DATA"
stty -F "$RVCAP_DATA" raw -echo
send() {
	echo "rvcap-file: $1 $(stat -c %s "$2")"
	cat "$2" >&3
}
counters=/sys/kernel/debug/rvcap/rvcap.0/counters

modprobe rvcap
node=$(for n in /sys/class/video4linux/video*; do
	[ "$(cat "$n/name")" = rvcap-0 ] && echo "/dev/${n##*/}"; done)
echo "== $node: $(v4l2-ctl -d "$node" --info | grep 'Card type' | sed 's/.*: //')"

echo "== MMAP capture, 10 frames per test pattern (640x480 RGB24)"
i=0
for pattern in colorbar ramp verification; do
	rvcap-grab -d "$node" -m mmap -p $i -n 10 -o /tmp/frame.raw
	send "mmap-$pattern.rgb" /tmp/frame.raw
	i=$((i + 1))
done

echo "== DMA-BUF capture into 4 system dma-heap buffers, 30 frames"
cp "$counters" /tmp/before
rvcap-grab -d "$node" -m heap -p 0 -n 30 -o /tmp/frame.raw
send "dmabuf-heap-colorbar.rgb" /tmp/frame.raw
echo "== debugfs counters during that capture (after - before)"
awk 'NR == FNR { before[$1] = $2; next } { printf "  %-24s %d\n", $1, $2 - before[$1] }' \
	/tmp/before "$counters"
echo "== engine, since load"
grep -E '^(frames|drops|errors) ' "$counters" | sed 's/^/  /'
unload_rvcap
echo "== rmmod rvcap: done"
