#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest plan for `make check`. Each suite is framed by marker lines that
# scripts/check.sh counts: the kselftests run through the kernel's
# run_kselftest.sh, whose nested TAP goes between rvcap-kselftest-begin/end;
# v4l2-ctl and GStreamer print TAP between rvcap-suite-begin/end;
# v4l2-compliance prints its own summary between rvcap-compliance-begin/end.
# Arguments, words: "validate" in the one boot that also checks the test
# programs against vivid; "interop" in the boots that run the whole client
# matrix (see interop below).

# What the plans share (unload_rvcap): tests/plans/lib.sh.
. /plan-lib.sh

status=0
validate=false interop=false
for arg in "$@"; do
	case $arg in
	validate) validate=true ;;
	interop) interop=true ;;
	*) echo "unknown plan argument $arg"; exit 1 ;;
	esac
done

# What a client or another driver does with rvcap's buffers, above the
# DMA layer, is the same in every DMA set-up: GStreamer's choice of
# io-mode=auto and its handling of each format, vivid importing rvcap's
# exports (videobuf2-vmalloc maps them with dma_buf_vmap, not for a
# device). So with "interop" (the coherent boot of each kernel) GStreamer
# captures every format with every io-mode on both nodes and vivid imports
# rvcap's exports in two v4l2-compliance runs; in the other boots GStreamer
# captures twice on each node, once mmapped and once through exported
# dma-bufs, at formats whose planes end mid-page, the DMA set-up under a
# real client. What rvcap's DMA does is checked byte for byte in every
# boot by the kselftests.

# kmemleak reports leaks to the kernel log, which scripts/vm-run.sh fails
# on: an object older than 5 s that a scan finds unreferenced and whose
# contents have not changed since the scan before (mm/kmemleak.c: a
# changed checksum counts as in use once), so a new leak takes two scans.
# Two scans at the end, after rvcap is unloaded, report every object leaked
# in the boot (a leaked object stays unreferenced and unchanged); a scan of
# this debug kernel's 2 GiB takes 10-16 s under TCG, too long for two
# after every suite.
kmemleak_scan() {
	[ -w /sys/kernel/debug/kmemleak ] || return 0
	t0=$(date +%s)
	echo scan >/sys/kernel/debug/kmemleak
	echo "kmemleak scan: $(($(date +%s) - t0)) s"
}

# "rvcap-time: SECONDS BUSY WHAT": the guest's uptime as WHAT begins and
# the seconds its CPUs had been busy by then (/proc/stat's first line, in
# USER_HZ: all but idle and iowait), from which scripts/check.sh tells how
# long each suite of each boot took and how much CPU it used: under TCG a
# busy guest CPU is a host thread emulating it, the cost that counts when
# VMs share the host's cores.
mark_time() {
	echo "rvcap-time: $(cut -d' ' -f1 /proc/uptime) $(awk '$1 == "cpu" { print ($2 + $3 + $4 + $7 + $8 + $9) / 100; exit }' /proc/stat) $*"
}

suite() {
	name=$1
	shift
	mark_time "$name"
	echo "rvcap-suite-begin: $name"
	"$@"
	rc=$?
	echo "rvcap-suite-end: $name exit $rc"
	[ "$rc" -eq 0 ] || status=1
}

# Frame periods the engine dropped so far (no buffer was queued), of the
# device the compliance runs test ($drops_dev, rvcap.0 unless set).
drops() {
	awk '$1 == "drops" { print $2 }' "/sys/kernel/debug/rvcap/${drops_dev:-rvcap.0}/counters" 2>/dev/null || echo 0
}

# v4l2-compliance warns "got sequence number N, expected M" when a frame
# period passes with no buffer queued: the engine drops it and its number
# goes unused, which is what V4L2 asks of a driver. Its streaming tests use
# two buffers at rvcap's default 1/30 s, so a guest that the host starves
# for about 70 ms (other VMs, a parallel build) drops one. A slower frame
# interval would not help: its testParm sets S_PARM with a zero interval,
# which returns rvcap to the default, before the streaming tests. So the
# plan reports the drops during each run, and scripts/check.sh accepts
# sequence-gap warnings only if the driver dropped at least as many frame
# periods as numbers were skipped. (Every run drops some 60 periods of its
# own, in tests that stream with nothing queued, so this tells gaps that
# come with drops from gaps that do not, not which drop made which gap.)
compliance() {
	name=$1
	shift
	mark_time "$name"
	echo "rvcap-compliance-begin: $name"
	# $known_fail: tests (";"-separated) that the device under test fails
	# on its own; scripts/check.sh reports them as skips, by name.
	if [ -n "$known_fail" ]; then
		echo "$known_fail" | tr ';' '\n' | sed 's/^/rvcap-compliance-known-fail: /'
	fi
	before=$(drops)
	v4l2-compliance "$@" >/tmp/compliance.log 2>&1
	rc=$?
	cat /tmp/compliance.log
	# Failed only in the device's own known tests: not a failure here.
	if [ "$rc" -ne 0 ] && [ -n "$known_fail" ] &&
		[ -z "$(tr -d '\033' </tmp/compliance.log | sed 's/\[[0-9;]*m//g' |
			sed -n 's/^[[:space:]]*test \(.*\): FAIL.*/\1/p' |
			while read -r t; do
				case ";$known_fail;" in *";$t;"*) ;; *) echo "$t" ;; esac
			done)" ]; then
		rc=0
	fi
	echo "rvcap-compliance-drops: $(($(drops) - before))"
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

# TAP line $i (then i + 1) named $1 for gst_capture_checked with the other
# arguments, its log as comments.
gst_tap() {
	what=$1
	shift
	if gst_capture_checked "$@"; then
		echo "ok $i $what"
	else
		echo "not ok $i $what"
	fi
	sed 's/^/# /' /tmp/gst.log
	i=$((i + 1))
}

# What a v4l2src capture with io-mode $1 is checked to have done.
gst_how() {
	case $1 in
	mmap) echo "each plane mmapped" ;;
	dmabuf) echo "each plane exported with VIDIOC_EXPBUF, read through the dma-bufs" ;;
	auto) echo "auto chose dmabuf: each plane exported with VIDIOC_EXPBUF, read through the dma-bufs" ;;
	esac
}

# gst-launch-1.0 v4l2src on device $1 with io-mode=$2 (mmap, dmabuf or
# auto), the verification pattern, $3 frames of caps format $4 at 320x240
# and 15 fps into filesink (/tmp/gst.raw), then rvcap-framecheck of those
# frames at $5 bytes each, and a check, from v4l2src's debug log
# (/tmp/gst-debug.log) and the device's rvcap counters, that the frames
# came the way the io-mode says. gst-launch-1.0's output, the checker's and
# what the log and counters showed (and the time taken) in /tmp/gst.log.
# Succeeds if all three do.
#
# The log lines, from gst-plugins-good 1.26's sys/v4l2 (the function that
# prints each is in the line itself, file:line:function):
# - "accessing buffers via mode N" (GST_INFO, category v4l2,
#   gst_v4l2_object_setup_pool): the io-mode in use, GstV4l2IOMode 2 for
#   mmap, 4 for dmabuf; for io-mode=auto the same function picks 4 if the
#   driver answers an EXPBUF probe with anything but ENOTTY
#   (gst_v4l2_object_is_dmabuf_supported), else 2.
# - "Got format of WxH, format XXXX, nb planes N" (GST_DEBUG, v4l2,
#   gst_v4l2_object_set_format_full): the last is the format it streams.
# - "Got mmap buffer" (GST_LOG, v4l2allocator, gst_v4l2_memory_group_new):
#   one per V4L2 buffer v4l2src has (REQBUFS or CREATE_BUFS, then
#   QUERYBUF); V4L2_MEMORY_MMAP in both modes.
# - "mmap buffer length L, data offset O, plane P" (GST_LOG, v4l2allocator,
#   gst_v4l2_allocator_alloc_mmap): plane P of a buffer mapped through the
#   video node, the one place v4l2src calls mmap on it.
# - "exported DMABUF as fd F plane P" (GST_LOG, v4l2allocator,
#   gst_v4l2_allocator_alloc_dmabuf): VIDIOC_EXPBUF of plane P of a buffer,
#   whose GstMemory is then a dma-buf one over fd F, so that every read of
#   the frame (filesink's, or v4l2src's copy into a buffer of its own)
#   maps the dma-buf between DMA_BUF_IOCTL_SYNC start and end
#   (gst_dmabuf_mem_map/unmap in gst-plugins-base's gstdmabuf.c, whose only
#   messages are warnings that a sync failed: category dmabuf at level 2,
#   and none may show).
# (v4l2bufferpool's lines do not tell the modes apart: it requests MMAP
# buffers in both, gst_v4l2_buffer_pool_start.) So with mmap each plane of
# each buffer is mmapped once and nothing exported; with dmabuf and auto
# each plane of each buffer is exported once and nothing mmapped, and
# rvcap's counters agree: as many dma-bufs exported as the log says, all
# released when gst-launch-1.0 is gone, and a begin_cpu_access (each ended)
# per plane of each frame at least.
gst_capture_checked() {
	gst_dev=$1 gst_io=$2 gst_frames=$3 gst_caps=$4 gst_bytes=$5
	gst_parent=$(readlink "/sys/class/video4linux/${gst_dev##*/}/device")
	gst_counters=/sys/kernel/debug/rvcap/${gst_parent##*/}/counters
	cat "$gst_counters" >/tmp/gst-counters 2>/dev/null
	rm -f /tmp/gst.raw
	: >/tmp/gst-debug.log
	read -r gst_t0 gst_rest </proc/uptime
	gst_ok=true
	GST_DEBUG=v4l2:5,v4l2allocator:6,dmabuf:2 GST_DEBUG_NO_COLOR=1 GST_DEBUG_FILE=/tmp/gst-debug.log \
		timeout 120 gst-launch-1.0 -q v4l2src device="$gst_dev" io-mode="$gst_io" \
		num-buffers="$gst_frames" extra-controls="c,test_pattern=2" \
		! "video/x-raw,format=$gst_caps,width=320,height=240,framerate=15/1" \
		! filesink location=/tmp/gst.raw >/tmp/gst.log 2>&1 &&
		rvcap-framecheck "$gst_bytes" "$gst_frames" /tmp/gst.raw >>/tmp/gst.log 2>&1 || gst_ok=false
	read -r gst_t1 gst_rest </proc/uptime
	# One awk over the counters before and after and v4l2src's log (each
	# process costs a tenth of a second in this guest): the counters'
	# change; the io-modes used; the planes of the last format set; the
	# buffers; plane:times for each plane mmapped and each exported, e.g.
	# "0:4 1:4"; the sync warnings; and what "each plane of each buffer
	# once" would read.
	gst_exported= gst_released= gst_begun= gst_ended= gst_mode= gst_planes= gst_buffers=
	gst_mmapped= gst_exports= gst_sync_warnings= gst_each= gst_secs=
	gst_facts=$(awk -v t0="$gst_t0" -v t1="$gst_t1" '
		BEGIN { top = 0 }
		function times(n, count,   p, s, sep) {
			for (p = 0; p <= n; p++)
				if (p in count) { s = s sep p ":" count[p]; sep = " " }
			return s
		}
		FILENAME == ARGV[1] { before[$1] = $2; next }
		FILENAME == ARGV[2] { d[$1] = $2 - before[$1]; next }
		/:gst_v4l2_object_setup_pool:.* accessing buffers via mode [0-9]+$/ {
			if (!($NF in seen)) { modes = modes msep $NF; msep = " "; seen[$NF] = 1 }
		}
		/:gst_v4l2_object_set_format_full:.* Got format of [0-9x]*, format ...., nb planes [0-9]+,/ {
			match($0, /nb planes [0-9]+,/)
			planes = substr($0, RSTART + 10, RLENGTH - 11) + 0
		}
		/:gst_v4l2_memory_group_new:.* Got mmap buffer$/ { buffers++ }
		/:gst_v4l2_allocator_alloc_mmap:.* mmap buffer length [0-9]+, data offset [0-9]+, plane [0-9]+$/ {
			mmapped[$NF + 0]++; if ($NF + 0 > top) top = $NF + 0
		}
		/:gst_v4l2_allocator_alloc_dmabuf:.* exported DMABUF as fd [0-9]+ plane [0-9]+$/ {
			exported[$NF + 0]++; if ($NF + 0 > top) top = $NF + 0
		}
		/gstdmabuf\.c:/ { warnings++ }
		END {
			for (p = 0; p < planes; p++) { each = each esep p ":" buffers + 0; esep = " " }
			printf "gst_exported=%d gst_released=%d gst_begun=%d gst_ended=%d\n",
				d["export"], d["export_release"], d["export_begin_cpu_access"], d["export_end_cpu_access"]
			printf "gst_mode=\"%s\" gst_planes=%d gst_buffers=%d gst_sync_warnings=%d\n",
				modes, planes, buffers, warnings
			printf "gst_mmapped=\"%s\" gst_exports=\"%s\" gst_each=\"%s\" gst_secs=%.1f\n",
				times(top, mmapped), times(top, exported), each, t1 - t0
		}' /tmp/gst-counters "$gst_counters" /tmp/gst-debug.log) || gst_ok=false
	eval "$gst_facts"
	echo "io-mode=$gst_io: GstV4l2IOMode ${gst_mode:-none}, $gst_buffers buffers of $gst_planes plane(s); plane:times mmapped '$gst_mmapped', exported '$gst_exports'; rvcap: $gst_exported dma-bufs exported, $gst_released released, $gst_begun begin_cpu_access, $gst_ended end; $gst_sync_warnings DMA_BUF_IOCTL_SYNC warnings; $gst_secs s" >>/tmp/gst.log
	[ "${gst_buffers:-0}" -gt 0 ] && [ -n "$gst_each" ] || gst_ok=false
	case $gst_io in
	mmap)
		[ "$gst_mode" = 2 ] && [ "$gst_mmapped" = "$gst_each" ] && [ -z "$gst_exports" ] &&
			[ "$gst_exported" -eq 0 ] || gst_ok=false
		;;
	dmabuf | auto)
		[ "$gst_mode" = 4 ] && [ "$gst_exports" = "$gst_each" ] && [ -z "$gst_mmapped" ] &&
			[ "$gst_exported" -eq $((gst_buffers * gst_planes)) ] &&
			[ "$gst_released" -eq "$gst_exported" ] &&
			[ "$gst_begun" -ge $((gst_frames * gst_planes)) ] && [ "$gst_ended" -eq "$gst_begun" ] &&
			[ "$gst_sync_warnings" -eq 0 ] || gst_ok=false
		;;
	*) gst_ok=false ;;
	esac
	$gst_ok
}

# GStreamer's v4l2src at every format rvcap offers, each with io-mode=mmap,
# dmabuf (v4l2src exports rvcap's MMAP buffers, VIDIOC_EXPBUF, and reads
# the frames through the dma-bufs' mmap, with DMA_BUF_IOCTL_SYNC) and auto
# (which must choose dmabuf); without "interop", RGB mmapped and NV12
# through dma-bufs (gst_cases): the verification pattern selected through
# extra-controls, 320x240 at 15 fps, frames written by filesink;
# rvcap-framecheck checks every byte of every frame (each a verification
# frame, sequence numbers increasing), gst_capture_checked the way the
# frames came.
gstreamer_v4l2src() {
	dev=$1
	# fourcc, GStreamer's name, bytes per 2 pixels
	formats="YUYV:YUY2:4 NV12:NV12:3 RGB3:RGB:6 GREY:GRAY8:2"
	cases=$(gst_cases "YUY2 NV12 RGB GRAY8" "RGB:mmap NV12:dmabuf")
	echo "1..$((1 + $(echo "$cases" | wc -w)))"
	want=$(for f in $formats; do echo "${f%%:*}"; done | sort | xargs)
	have=$(v4l2-ctl -d "$dev" --list-formats | sed -n "s/.*\]: '\(....\)'.*/\1/p" | sort | xargs)
	if [ "$want" = "$have" ]; then
		echo "ok 1 rvcap lists the formats of the GStreamer matrix, no more ($have)"
	else
		echo "not ok 1 rvcap lists the formats of the GStreamer matrix, no more: $have, matrix: $want"
	fi
	i=2
	frames=10
	for c in $cases; do
		gst=${c%%:*} io=${c#*:} bytes=0
		for f in $formats; do
			case $f in *":$gst:"*) bytes=$((320 * 240 * ${f##*:} / 2)) ;; esac
		done
		how=$(gst_how "$io")
		what="gst-launch-1.0 v4l2src io-mode=$io $gst 320x240: $frames frames into filesink, $how, every byte checked"
		gst_tap "$what" "$dev" "$io" "$frames" "$gst" "$bytes"
	done
	rm -f /tmp/gst.raw /tmp/gst-debug.log /tmp/gst-counters
}

# The captures of a GStreamer suite, "format:io-mode" (GStreamer's format
# names): with "interop" each format of $1 with each io-mode, else $2.
gst_cases() { # formats, the captures without interop
	if $interop; then
		for f in $1; do
			for io in mmap dmabuf auto; do
				echo "$f:$io"
			done
		done
	else
		printf '%s\n' $2
	fi
}

# GStreamer's v4l2src on rvcap's multi-planar device, as gstreamer_v4l2src
# (without "interop": I420 mmapped, NV12 through dma-bufs):
# io-mode=mmap, dmabuf and auto, 320x240 at 15 fps, 10 frames into
# filesink, every byte checked by rvcap-framecheck, the way the frames came
# by gst_capture_checked (each plane mmapped, or exported with EXPBUF).
# v4l2src maps both V4L2 NV12 and NV12M to caps format=NV12 (and
# YUV420/YUV420M to I420, NV16/NV16M to NV16), and when the device lists
# both it takes the non-contiguous one (gst_v4l2_object_get_caps_info in
# gst-plugins-good's sys/v4l2: "Prefer the non-contiguous if supported"),
# one GstMemory per plane. Its planes apart, such a buffer needs
# GstVideoMeta (gst_v4l2_object_save_format), which filesink does not take,
# so v4l2src copies each frame into a buffer of the caps' own layout,
# planes one after the other ("streaming mode: no usable pool, copying to
# generic pool", gst_v4l2_object_decide_allocation; then
# gst_v4l2_buffer_pool_copy_buffer), the layout rvcap's verification
# pattern is defined over; the copy reads each plane through its mmap or
# its dma-buf. So caps NV12 captures NV12M here and rvcap's contiguous
# NV12 on this node is out of v4l2src's reach. Each capture is followed by
# a check that the V4L2 format really was the multi-planar one: the last
# S_FMT/TRY_FMT reply v4l2src logs (GST_DEBUG=v4l2:5, "Got format of
# ...") and VIDIOC_G_FMT afterwards must both name it and its number of
# planes.
gstreamer_v4l2src_mplane() {
	dev=$1
	# GStreamer's name, the V4L2 fourcc it must set, planes, bytes per 2 pixels
	formats="YUY2:YUYV:1:4 NV12:NM12:2:3 NV16:NM16:2:4 I420:YM12:3:3"
	cases=$(gst_cases "YUY2 NV12 NV16 I420" "I420:mmap NV12:dmabuf")
	# 1 + 2 per capture
	echo "1..$((1 + 2 * $(echo "$cases" | wc -w)))"
	want="GREY NM12 NM16 NV12 RGB3 YM12 YUYV"
	have=$(v4l2-ctl -d "$dev" --list-formats | sed -n "s/.*\]: '\(....\)'.*/\1/p" | sort | xargs)
	what="the multi-planar node lists NV12 and NV12M, NV16M, YUV420M next to YUYV, RGB3, GREY"
	if [ "$want" = "$have" ]; then
		echo "ok 1 $what ($have)"
	else
		echo "not ok 1 $what: lists $have, want $want"
	fi
	i=2
	frames=10
	for c in $cases; do
		gst=${c%%:*} io=${c#*:} rest=
		for f in $formats; do
			case $f in "$gst:"*) rest=${f#*:} ;; esac
		done
		fourcc=${rest%%:*} rest=${rest#*:}
		planes=${rest%%:*}
		bytes=$((320 * 240 * ${rest#*:} / 2))
		how=$(gst_how "$io")
		what="gst-launch-1.0 v4l2src io-mode=$io $gst 320x240 (V4L2 $fourcc, $planes plane(s)) on the multi-planar node: $frames frames into filesink, $how, every byte checked"
		gst_tap "$what" "$dev" "$io" "$frames" "$gst" "$bytes"
		# v4l2src's last format reply, e.g. "Got format of 320x240,
		# format NM12, nb planes 2, ..." (its S_FMT), then G_FMT.
		got=$(grep -o 'Got format of [0-9x]*, format ...., nb planes [0-9]*' /tmp/gst-debug.log | tail -n 1)
		fmt=$(v4l2-ctl -d "$dev" --get-fmt-video)
		g_fourcc=$(echo "$fmt" | sed -n "s/.*Pixel Format *: '\(....\)'.*/\1/p")
		g_planes=$(echo "$fmt" | sed -n 's/.*Number of planes *: *\([0-9]*\).*/\1/p')
		what="v4l2src (io-mode=$io) set V4L2 $fourcc with $planes plane(s) for $gst (its GST_DEBUG log, VIDIOC_G_FMT afterwards)"
		if [ "$got" = "Got format of 320x240, format $fourcc, nb planes $planes" ] &&
			[ "$g_fourcc" = "$fourcc" ] && [ "$g_planes" = "$planes" ]; then
			echo "ok $i $what"
		else
			echo "not ok $i $what: log '${got:-nothing}', G_FMT '$g_fourcc' with '$g_planes' plane(s)"
		fi
		echo "# GST_DEBUG: ${got:-no \"Got format\" line}"
		echo "# G_FMT: $g_fourcc, $g_planes plane(s)"
		i=$((i + 1))
	done
	rm -f /tmp/gst.raw /tmp/gst-debug.log /tmp/gst-counters
}

# In the IOMMU boot QEMU's edu device is rvcap's DMA master, and with the
# debugfs knob device_stamp its own DMA engine writes the first bytes of
# every frame through the IOMMU: on for the v4l2-ctl and GStreamer suites
# (GStreamer checks every byte), then one result says it wrote every frame
# those suites took. (v4l2-compliance streams with it off: each edu
# transfer takes 100 ms.) Elsewhere there is no such knob.
stamp_knob=/sys/kernel/debug/rvcap/rvcap.0/device_stamp
stamp_frames=0 stamp_writes=0
rvcap_counter() {
	awk -v k="$1" '$1 == k { print $2 }' /sys/kernel/debug/rvcap/rvcap.0/counters
}
stamp_on() {
	[ -e "$stamp_knob" ] || return 0
	frames0=$(rvcap_counter frames) writes0=$(rvcap_counter device_stamps)
	echo 1 >"$stamp_knob"
}
stamp_off() {
	[ -e "$stamp_knob" ] || return 0
	echo 0 >"$stamp_knob"
	stamp_frames=$((stamp_frames + $(rvcap_counter frames) - frames0))
	stamp_writes=$((stamp_writes + $(rvcap_counter device_stamps) - writes0))
}
stamp_verdict() {
	echo "1..1"
	what="edu's DMA engine wrote the first bytes of all $stamp_frames frames of the v4l2-ctl and GStreamer suites ($stamp_writes)"
	if [ "$stamp_frames" -gt 0 ] && [ "$stamp_writes" -eq "$stamp_frames" ]; then
		echo "ok 1 $what"
	else
		echo "not ok 1 $what"
	fi
}

# While bound to edu, rvcap reserves its BAR ("rvcap-edu" in /proc/iomem);
# unloaded, edu still there, the reservation must be gone. (Removing edu
# itself, as rvcap_dma_master_test does, takes the reservation away with
# edu's resources, released or leaked: only here would a leak show.)
edu_bar_released() {
	echo "1..1"
	what="rvcap unloaded: edu's BAR no longer reserved for rvcap-edu, edu still present (/proc/iomem)"
	if grep -q ' : rvcap-edu$' /proc/iomem; then
		echo "not ok 1 $what: still reserved"
	elif ! grep -qx 0x11e8 /sys/bus/pci/devices/*/device; then
		echo "not ok 1 $what: no edu device"
	else
		echo "ok 1 $what"
	fi
}

# The /dev node whose sysfs name starts with $1.
node() {
	for n in /sys/class/video4linux/video*; do
		case "$(cat "$n/name")" in "$1"*) echo "/dev/${n##*/}"; return 0 ;; esac
	done
	return 1
}

# v4l2-ctl capturing into buffers another device (vivid) exported.
v4l2_ctl_stream_dmabuf() {
	echo "1..1"
	want=$((30 * 640 * 480 * 2))
	if v4l2-ctl -d "$rvcap" --set-fmt-video=width=640,height=480,pixelformat=YUYV \
		--stream-dmabuf --export-device "$vivid" --stream-count=30 \
		--stream-to=/tmp/capture.raw &&
		[ "$(stat -c %s /tmp/capture.raw)" -eq "$want" ]; then
		echo "ok 1 v4l2-ctl --stream-dmabuf --export-device vivid captures 30 frames"
	else
		echo "not ok 1 v4l2-ctl --stream-dmabuf --export-device vivid captures 30 frames"
	fi
	rm -f /tmp/capture.raw
}

# The kselftests as a kernel developer runs them: the kernel's
# run_kselftest.sh (installed by scripts/build-guest.sh), its timeouts from
# rvcap/settings. They expect rvcap loaded; the last two load and unload it
# themselves and leave it unloaded. Four devices, two single-planar and two
# multi-planar (multiplanar=1,1,2,2, as vivid's parameter): the tests use
# rvcap-0, find the first multi-planar node (rvcap-2) for their
# multi-planar cases, and a second node of each kind (rvcap-1, rvcap-3)
# for the export/import pairs, so nothing skips for want of a node.
# rvcap_fence_test (implicit fences) is one of them, in every boot: system
# heap and udmabuf imports and EXPBUF on rvcap-0, EXPBUF at NV12M on
# rvcap-2, their exports imported by rvcap-1 and rvcap-3, foreign fences
# from sw_sync (the test kernel's CONFIG_SW_SYNC, debugfs sync/sw_sync);
# and the fuzzer mixes fence operations in.
modprobe rvcap num_devices=4 multiplanar=1,1,2,2 || { echo "modprobe rvcap failed"; exit 1; }
mark_time "kselftests"
echo "rvcap-kselftest-begin"
{
	RVCAP_FUZZ_OPS=${RVCAP_FUZZ_OPS:-10000} /tests/run_kselftest.sh -c rvcap
	echo "rvcap-kselftest-end: exit $?"
} 2>&1 | while IFS= read -r line; do
	# Each program's start, stamped (its TAP lines pass as they are).
	case $line in "# selftests: rvcap: "*) mark_time "${line#\# selftests: rvcap: }" ;; esac
	printf '%s\n' "$line"
done | tee /tmp/kselftest.log
# run_kselftest.sh exits 0 whatever the tests said; its TAP says it.
grep -q '^not ok' /tmp/kselftest.log && status=1
modprobe rvcap || { echo "modprobe rvcap failed"; exit 1; }
stamp_on
suite v4l2-ctl v4l2_ctl_stream
suite gstreamer gstreamer_v4l2src /dev/video0
stamp_off

# Importing from another driver: vivid, the kernel's reference, exports
# (its default vmalloc allocator gives page-sized segments, which a
# swiotlb=force boot can bounce). cache_hints=1 lets it take the MMAP cache
# hints, for rvcap_bufs_test below; the exports never ask for them.
if modprobe vivid n_devs=1 node_types=0x1 cache_hints=1 && rvcap=$(node rvcap-0) &&
	vivid=$(node vivid-000-vid-cap); then
	# Exported buffers must hold rvcap's frames: same format on both.
	for dev in "$vivid" "$rvcap"; do
		v4l2-ctl -d "$dev" --set-fmt-video=width=640,height=480,pixelformat=YUYV || status=1
	done
	# -s runs every test a plain v4l2-compliance runs, then the streaming
	# ones, and -e adds DMABUF streaming (importing vivid's exports): no
	# run of rvcap without -e besides it (the same tests, less DMABUF).
	compliance "v4l2-compliance -s -e vivid" -s -e "$vivid" -d "$rvcap"
	# And the other way round ("interop"): vivid (videobuf2-vmalloc)
	# imports rvcap's exports. vivid 6.12 fails two tests of
	# v4l2-compliance 1.30.1 by itself, whatever exports (also plain
	# `v4l2-compliance -d` of it): the pixel array control's size, newer
	# than vivid 6.12's, and VIDIOC_G/S_AUDIO, which then finds audio but
	# no video inputs.
	if $interop; then
		known_fail="VIDIOC_G/S/ENUMINPUT;VIDIOC_G/S_AUDIO"
		compliance "v4l2-compliance -s -e rvcap -d vivid" -s -e "$rvcap" -d "$vivid"
		known_fail=
	fi
	stamp_on
	suite v4l2-ctl-dmabuf v4l2_ctl_stream_dmabuf
	stamp_off
	# rvcap_bufs_test's expectations (REMOVE_BUFS, the CREATE_BUFS
	# maximum, cache hints) are videobuf2's: checked against videobuf2's
	# reference driver, as the kselftest run above checks rvcap against
	# them; likewise rvcap_expbuf_test's (videobuf2's EXPBUF; its
	# rvcap-only checks skip there). That checks the test programs, not
	# rvcap's DMA set-up, so only in the boot scripts/check.sh passes
	# "validate" (the coherent one). Last, as they leave vivid at another
	# format.
	if $validate; then
		suite rvcap_bufs_test-vivid env RVCAP_BUFS_DEVICE="$vivid" /tests/rvcap/rvcap_bufs_test
		suite rvcap_expbuf_test-vivid env RVCAP_EXPBUF_DEVICE="$vivid" /tests/rvcap/rvcap_expbuf_test
	fi
	rmmod vivid || status=1
else
	echo "vivid did not load or has no capture node"
	status=1
fi
[ -e "$stamp_knob" ] && suite device-stamp stamp_verdict
# (The IOMMU boot: edu is rvcap's DMA master, checked again at the end.)
edu_boot=false
[ -e "$stamp_knob" ] && edu_boot=true

# The multi-planar API: rvcap again with four devices, two single-planar
# and two multi-planar (multiplanar=1,1,2,2, as vivid's parameter), so
# that each kind can export to one of its own kind.
mplane_ok=false
if unload_rvcap && modprobe rvcap num_devices=4 multiplanar=1,1,2,2 &&
	mplane=$(node rvcap-2); then
	mplane_ok=true
	# (v4l2-compliance -s of the multi-planar node: with -e vivid below.)
	# (rvcap_mplane_test, rvcap_hotpath_test's multi-planar requeues and
	# rvcap_expbuf_test's pairs ran in the kselftest run above, on these
	# same four devices.)
	suite rvcap_bufs_test-mplane env RVCAP_BUFS_DEVICE="$mplane" /tests/rvcap/rvcap_bufs_test
	suite gstreamer-mplane gstreamer_v4l2src_mplane "$mplane"
	# rvcap exports, rvcap imports: single- and multi-planar pairs, each
	# pair at one format (the suites above leave other formats behind).
	for dev in "$(node rvcap-0)" "$(node rvcap-1)" "$mplane" "$(node rvcap-3)"; do
		v4l2-ctl -d "$dev" --set-fmt-video=width=640,height=480,pixelformat=YUYV || status=1
	done
	drops_dev=rvcap.1
	compliance "v4l2-compliance -s -e rvcap-0 -d rvcap-1" -s -e "$(node rvcap-0)" -d "$(node rvcap-1)"
	drops_dev=rvcap.3
	compliance "v4l2-compliance -s -e rvcap-2 -d rvcap-3 mplane" -s -e "$mplane" -d "$(node rvcap-3)"
	drops_dev=rvcap.2
	# vivid's multi-planar capture node exports, rvcap's imports, and the
	# other way round.
	if modprobe vivid n_devs=1 node_types=0x1 multiplanar=2 &&
		vivid=$(node vivid-000-vid-cap); then
		for dev in "$vivid" "$mplane"; do
			v4l2-ctl -d "$dev" --set-fmt-video=width=640,height=480,pixelformat=YUYV || status=1
		done
		compliance "v4l2-compliance -s -e vivid mplane" -s -e "$vivid" -d "$mplane"
		# vivid's multi-planar formats start plane 0's data 128 bytes in
		# (data_offset), so its buffers are 128 bytes longer than the
		# image: the exporter's must be at least as long, two lines more
		# (rvcap keeps heights even).
		if $interop; then
			v4l2-ctl -d "$mplane" --set-fmt-video=width=640,height=482,pixelformat=YUYV || status=1
			known_fail="VIDIOC_G/S/ENUMINPUT;VIDIOC_G/S_AUDIO"
			compliance "v4l2-compliance -s -e rvcap mplane -d vivid" -s -e "$mplane" -d "$vivid"
			known_fail=
		fi
		rmmod vivid || status=1
	else
		echo "vivid multiplanar=2 did not load or has no capture node"
		status=1
	fi
fi
drops_dev=
$mplane_ok || { echo "rvcap did not load with a multi-planar device"; status=1; }
mark_time "unload and kmemleak scans"
unload_rvcap || { echo "rmmod rvcap failed"; status=1; }
$edu_boot && suite edu-bar-released edu_bar_released
# Everything rvcap allocated is gone: two scans (the second, a scan's time
# after the first, finds even what rmmod leaked older than 5 s).
kmemleak_scan
kmemleak_scan
mark_time "end"
exit "$status"
