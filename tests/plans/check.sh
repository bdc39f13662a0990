#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest plan for `make check`. Each suite is framed by marker lines that
# scripts/check.sh counts: kselftests and v4l2-ctl print TAP between
# rvcap-suite-begin/end; v4l2-compliance prints its own summary between
# rvcap-compliance-begin/end.
status=0

suite() {
	name=$1
	shift
	echo "rvcap-suite-begin: $name"
	"$@"
	rc=$?
	echo "rvcap-suite-end: $name exit $rc"
	[ "$rc" -eq 0 ] || status=1
}

compliance() {
	name=$1
	shift
	echo "rvcap-compliance-begin: $name"
	v4l2-compliance "$@"
	rc=$?
	echo "rvcap-compliance-end: $name exit $rc"
	[ "$rc" -eq 0 ] || status=1
}

# As users stream: 60 frames of 640x480 YUYV into a file.
v4l2_ctl_stream() {
	echo "1..1"
	want=$((60 * 640 * 480 * 2))
	if v4l2-ctl -d /dev/video0 --set-fmt-video=width=640,height=480,pixelformat=YUYV \
		--stream-mmap --stream-count=60 --stream-to=/tmp/capture.raw &&
		[ "$(stat -c %s /tmp/capture.raw)" -eq "$want" ]; then
		echo "ok 1 v4l2-ctl --stream-mmap --stream-count=60 captures 60 frames"
	else
		echo "not ok 1 v4l2-ctl --stream-mmap --stream-count=60 captures 60 frames"
	fi
	rm -f /tmp/capture.raw
}

suite rvcap_load_test /tests/rvcap_load_test
modprobe rvcap || { echo "modprobe rvcap failed"; exit 1; }
suite rvcap_stream_test /tests/rvcap_stream_test
compliance "v4l2-compliance" -d /dev/video0
compliance "v4l2-compliance -s" -s -d /dev/video0
suite v4l2-ctl v4l2_ctl_stream
rmmod rvcap || { echo "rmmod rvcap failed"; status=1; }
exit "$status"
