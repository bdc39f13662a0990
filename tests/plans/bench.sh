#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest plan for `make bench` (scripts/bench.sh), on the benchmark kernel.
# Arguments: the boot, "coherent", "swiotlb" (booted with swiotlb=force) or
# "iommu" (q35 with intel-iommu, strict, and QEMU's edu as rvcap's DMA
# master: every mapping is an IOVA mapping);
# then, optionally, frames to time per measurement (300), a time limit per
# measurement in seconds (4), requeues to count allocations over (100) and
# the frame size of the IOMMU boot (1920x1080; `make check`'s smoke run
# takes 640x480, since on its debug kernel DMA-API debugging makes each
# per-page sync of a 1080p import cost a second), and vivid's shortest
# frame interval in milliseconds (0: its fastest). vivid's capture thread
# computes its wait from jiffies read before it sleeps; when the thread is
# held off longer than one frame interval in between (likely under TCG at
# 1/60 s, four jiffies), it passes a negative timeout and the kernel logs
# "schedule_timeout: wrong timeout value" with a stack dump, which fails
# `make check`'s kernel-log judge. The smoke run asks for 100 ms intervals,
# where that would take a 100 ms stall between two statements.
# Every measurement is one "rvcap-bench: ..." line from tools/rvcap-bench.c,
# labelled driver/memory/size/policy for scripts/bench-report.py.
#   coherent  rvcap (unpaced, map once and map per QBUF) and vivid (its
#             fastest frame interval) side by side, MMAP, udmabuf and
#             dma-heap, 640x480 and 1920x1080 YUYV; memset of each frame size;
#             MMAP cache hints (below), rvcap and vivid (cache_hints=1)
#   swiotlb   rvcap's payload-range against full-buffer CPU syncs, and map
#             once against map per QBUF, where every sync and map copies;
#             MMAP cache hints (below), rvcap only
# MMAP cache hints (rvcap-bench -h): coherent buffers, synced at QBUF and
# DQBUF ("cache-coherent"), against buffers asked for with
# V4L2_MEMORY_FLAG_NON_COHERENT, without hints ("cache-noncoherent") and
# with V4L2_BUF_FLAG_NO_CACHE_CLEAN | V4L2_BUF_FLAG_NO_CACHE_INVALIDATE on
# every QBUF ("cache-hints"), 640x480 and 1920x1080.
# Both also measure exported MMAP buffers (below, after a reload of rvcap
# with num_devices=2).
#   iommu     map once against map per QBUF at 1920x1080, udmabuf and heap,
#             where each map allocates IOVAs and writes IOMMU page tables and
#             each unmap invalidates the IOTLB; and the DQBUF sync, payload
#             against full buffer
# Implicit fences (issue 26): default-policy DMABUF rows run again with
# the `fences` knob off (read at STREAMON) right after the default run
# with fences on: coherent udmabuf and heap at 640x480 and 1920x1080;
# swiotlb the heap at 640x480 and udmabuf at 1920x1080 (the pair its remap
# rows take too; the heap's 1 MiB segments do not bounce at 1080p); iommu
# udmabuf and heap at its size. Labelled policy + "-fences-off".
# Exported MMAP buffers (rvcap-bench -E): every buffer exported with
# VIDIOC_EXPBUF and imported by rvcap-1 (DMABUF, queued once, never
# streaming, so each export has one mapped importer table, which rvcap
# pushes each frame to at DQBUF): the requeue pair against the same stream
# without exports, rvcap and (coherent boot) vivid; and one
# DMA_BUF_IOCTL_SYNC START|READ + END|READ bracket on such an export
# (-S), rvcap's and vivid's (vmalloc allocator; in the coherent boot also
# dma-contig, whose one contiguous segment is more than swiotlb bounces at
# once, so that the importer cannot map it under swiotlb=force),
# 640x480 and 1920x1080.

# What the plans share (unload_rvcap): tests/plans/lib.sh.
. /plan-lib.sh

set -e
boot=${1:?coherent, swiotlb or iommu}
frames=${2:-300}
secs=${3:-4}
allocs=${4:-100}
iommu_size=${5:-1920x1080}
vivid_min_ms=${6:-0}
params=/sys/kernel/debug/rvcap/rvcap.0
counters=/sys/kernel/debug/rvcap/rvcap.0/counters

node() {
	for n in /sys/class/video4linux/video*; do
		case "$(cat "$n/name")" in "$1"*) echo "/dev/${n##*/}"; return 0 ;; esac
	done
	return 1
}

hint_modes='coherent:none noncoherent:noncoherent hints:hints'

# The exported-buffer rows (see the top), at the end of the coherent and
# swiotlb boots.
exported_rows() {
	started=$(date +%s)
	unload_rvcap
	modprobe rvcap num_devices=2
	rvcap=$(node rvcap-0)
	importer=$(node rvcap-1)
	icounters=/sys/kernel/debug/rvcap/rvcap.1/counters
	echo 1 >$params/unpaced
	modprobe vivid n_devs=2 node_types=0x1,0x1 allocators=0,1
	vivid=$(node vivid-000-vid-cap)
	vivid_contig=$(node vivid-001-vid-cap)
	for size in 640x480 1920x1080; do
		w=${size%x*} h=${size#*x}
		bench_rvcap "rvcap/mmap/$size/not-exported" "$w" "$h" mmap
		bench_rvcap "rvcap/mmap/$size/exported" "$w" "$h" mmap -E "$importer" -i "$icounters"
		rvcap-bench -d "$rvcap" -W "$w" -H "$h" -b 1 -n "$frames" -t "$secs" \
			-E "$importer" -i "$icounters" -S -c "$counters" -l "rvcap/mmap/$size/sync-bracket"
		vivid_exporters=vmalloc:$vivid
		if [ "$boot" = coherent ]; then
			vivid_exporters="$vivid_exporters dma-contig:$vivid_contig"
			for exp in not-exported exported; do
				imp=
				[ $exp = exported ] && imp="-E $importer -i $icounters"
				# $imp unquoted: two options or none
				rvcap-bench -d "$vivid" -m mmap -W "$w" -H "$h" -n "$frames" -t "$secs" \
					-a "$((allocs < 30 ? allocs : 30))" -I "$vivid_min_ms" \
					-T vivid-000-vid-cap -l "vivid/mmap/$size/$exp" $imp
			done
		fi
		for alloc in $vivid_exporters; do
			rvcap-bench -d "${alloc#*:}" -W "$w" -H "$h" -b 1 -n "$frames" -t "$secs" \
				-E "$importer" -i "$icounters" -S -l "vivid/mmap/$size/sync-bracket-${alloc%%:*}"
		done
	done
	rmmod vivid
	echo "bench: the exported-buffer rows took $(($(date +%s) - started)) s"
}

modprobe rvcap
rvcap=$(node rvcap-0)
echo 1 >$params/unpaced
bench_rvcap() { # label width height memory [extra args]
	label=$1 w=$2 h=$3 mem=$4
	shift 4
	rvcap-bench -d "$rvcap" -m "$mem" -W "$w" -H "$h" -n "$frames" -t "$secs" \
		-a "$allocs" -T rvcap0-engine -c "$counters" -l "$label" "$@"
}
# The stream of bench_rvcap with implicit fences off, then on again.
bench_rvcap_fences_off() { # label width height memory [extra args]
	echo 0 >$params/fences
	bench_rvcap "$@"
	echo 1 >$params/fences
}

if [ "$boot" = iommu ]; then
	w=${iommu_size%x*} h=${iommu_size#*x}
	for mem in udmabuf heap; do
		bench_rvcap "rvcap/$mem/$iommu_size/map-once" "$w" "$h" "$mem"
		bench_rvcap_fences_off "rvcap/$mem/$iommu_size/map-once-fences-off" "$w" "$h" "$mem"
		echo 1 >$params/map_per_qbuf
		bench_rvcap "rvcap/$mem/$iommu_size/map-per-qbuf" "$w" "$h" "$mem"
		echo 0 >$params/map_per_qbuf
		echo 1 >$params/full_sync
		bench_rvcap "rvcap/$mem/$iommu_size/full-sync" "$w" "$h" "$mem"
		echo 0 >$params/full_sync
	done
elif [ "$boot" = coherent ]; then
	# cache_hints=1: vivid's queue takes NON_COHERENT and the hints (its
	# default vmalloc allocator has no syncs for them to skip).
	modprobe vivid n_devs=1 node_types=0x1 cache_hints=1
	vivid=$(node vivid-000-vid-cap)
	for size in 640x480 1920x1080; do
		w=${size%x*} h=${size#*x}
		rvcap-bench -M $((w * h * 2)) -n "$frames" -l "memset/-/$size/-"
		for mem in mmap udmabuf heap; do
			release=
			[ "$size" = 640x480 ] && [ "$mem" != mmap ] && release=-R
			bench_rvcap "rvcap/$mem/$size/map-once" "$w" "$h" "$mem" $release
			if [ "$mem" != mmap ]; then
				bench_rvcap_fences_off "rvcap/$mem/$size/map-once-fences-off" "$w" "$h" "$mem"
			fi
			# vivid paces itself: its fastest interval for the size, or
			# the fastest of at least $vivid_min_ms ms (-I).
			rvcap-bench -d "$vivid" -m "$mem" -W "$w" -H "$h" -n "$frames" -t "$secs" \
				-a "$((allocs < 30 ? allocs : 30))" -I "$vivid_min_ms" -T vivid-000-vid-cap \
				-l "vivid/$mem/$size/vb2"
		done
		echo 1 >$params/map_per_qbuf
		for mem in udmabuf heap; do
			bench_rvcap "rvcap/$mem/$size/map-per-qbuf" "$w" "$h" "$mem"
		done
		echo 0 >$params/map_per_qbuf
		for mode in $hint_modes; do
			bench_rvcap "rvcap/mmap/$size/cache-${mode%%:*}" "$w" "$h" mmap -h "${mode#*:}"
			rvcap-bench -d "$vivid" -m mmap -W "$w" -H "$h" -n "$frames" -t "$secs" \
				-a "$((allocs < 30 ? allocs : 30))" -I "$vivid_min_ms" -T vivid-000-vid-cap \
				-l "vivid/mmap/$size/cache-${mode%%:*}" -h "${mode#*:}"
		done
	done
	rmmod vivid
	exported_rows
else
	# The system heap hands out 1 MiB segments, more than swiotlb bounces
	# at once (256 KiB): with swiotlb=force only MMAP and udmabuf (pages).
	big=$(((1920 * 1080 * 2 + 4095) / 4096 * 4096))
	for mem in mmap udmabuf; do
		for sync in 0 1; do
			policy=payload-sync
			[ $sync = 1 ] && policy=full-sync
			echo $sync >$params/full_sync
			# A buffer pool sized for 1080p, streaming 640x480 into it.
			bench_rvcap "rvcap/$mem/640x480-in-1080p-buffers/$policy" 640 480 "$mem" -B "$big"
			release=
			[ "$mem/$sync" = udmabuf/0 ] && release=-R
			bench_rvcap "rvcap/$mem/1920x1080/$policy" 1920 1080 "$mem" $release
			if [ "$mem/$sync" = udmabuf/0 ]; then
				bench_rvcap_fences_off "rvcap/$mem/1920x1080/$policy-fences-off" 1920 1080 "$mem"
			fi
		done
		echo 0 >$params/full_sync
	done
	# Map once against per QBUF where mapping copies: the heap maps without
	# DMA_ATTR_SKIP_CPU_SYNC and does not cache its mappings (udmabuf
	# does both); at 640x480 its segments are small enough to bounce.
	bench_rvcap "rvcap/heap/640x480/payload-sync" 640 480 heap -R
	bench_rvcap_fences_off "rvcap/heap/640x480/payload-sync-fences-off" 640 480 heap
	echo 1 >$params/map_per_qbuf
	bench_rvcap "rvcap/udmabuf/1920x1080/map-per-qbuf" 1920 1080 udmabuf
	bench_rvcap "rvcap/heap/640x480/map-per-qbuf" 640 480 heap
	echo 0 >$params/map_per_qbuf
	# The MMAP cache hints, where DQBUF's sync for the CPU copies the frame
	# out of the bounce buffer and QBUF's for the device copies it in.
	for size in 640x480 1920x1080; do
		w=${size%x*} h=${size#*x}
		for mode in $hint_modes; do
			bench_rvcap "rvcap/mmap/$size/cache-${mode%%:*}" "$w" "$h" mmap -h "${mode#*:}"
		done
	done
	exported_rows
fi
unload_rvcap
echo "bench: $boot boot done"
