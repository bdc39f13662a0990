#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turns the "rvcap-bench: key=value ..." lines of `make bench`'s guest runs
into OUT/results.md (tables with the ratios and the targets), OUT/chart.png
and OUT/raw.txt.

usage: bench-report.py OUT coherent=OUTPUT_LOG swiotlb=OUTPUT_LOG iommu=OUTPUT_LOG

Labels are driver/memory/size/policy (tests/plans/bench.sh). Times are
medians of one DQBUF+QBUF pair of a ready buffer; absolute values under
software emulation mean little, ratios measured in the same run do.
"""
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TARGETS = {
    "pair": 0.8,  # rvcap DMABUF requeue pair / vivid's, at most
    "remap": 5.0,  # map-per-QBUF / map-once per frame at 1080p, at least
    "fill": 1.5,  # fill / memset, at most
}


# Streams whose release is timed (rvcap-bench -R in tests/plans/bench.sh).
RELEASE = [
    ("coherent", "rvcap/heap/640x480/map-once"),
    ("coherent", "rvcap/udmabuf/640x480/map-once"),
    ("swiotlb", "rvcap/heap/640x480/payload-sync"),
    ("swiotlb", "rvcap/udmabuf/1920x1080/payload-sync"),
]


def parse(paths):
    rows = {}
    for boot, path in paths:
        for line in open(path, encoding="utf-8", errors="replace"):
            line = line.strip()
            if not line.startswith("rvcap-bench: label="):
                continue
            fields = dict(kv.split("=", 1) for kv in line.split()[1:])
            label = fields["label"]
            # A stream's release timing (-R) shares its stream's label.
            if fields.get("kind") == "release":
                label += "#release"
            rows[(boot, label)] = fields
    return rows


def num(row, key):
    return float(row[key])


def us(ns):
    return f"{ns / 1000:.1f}"


def allocs_per_requeue(row):
    return f"{num(row, 'allocs') / num(row, 'alloc_requeues'):g}"


def ratio(a, b):
    return a / b if b else float("nan")


def verdict(ok):
    return "meets" if ok else "**misses**"


def main():
    out, logs = sys.argv[1], sys.argv[2:]
    paths = [tuple(arg.split("=", 1)) for arg in logs]
    rows = parse(paths)
    if not rows:
        sys.exit("bench-report: no rvcap-bench lines in " + " ".join(logs))
    with open(os.path.join(out, "raw.txt"), "w") as raw:
        for (boot, label), f in sorted(rows.items()):
            raw.write(f"{boot} " + " ".join(f"{k}={v}" for k, v in f.items()) + "\n")

    def get(boot, label):
        row = rows.get((boot, label))
        if row is None:
            sys.exit(f"bench-report: missing measurement {boot} {label}")
        return row

    md = []
    machine = os.path.join(out, "machine.txt")
    if os.path.exists(machine):
        md += ["## Machine", ""] + [f"- {l.strip()}" for l in open(machine)] + [""]
    sizes = ["640x480", "1920x1080"]
    memories = ["mmap", "udmabuf", "heap"]
    checks = []

    # 1. Requeue path against vivid.
    md += [
        "## rvcap against vivid (coherent boot)",
        "",
        "Median time of one DQBUF + QBUF of a ready buffer (µs), frames per "
        "second delivered, CPU time per frame (this process plus the "
        "driver's frame thread, µs) and kernel allocations per requeue "
        "(trace events). rvcap runs unpaced (`unpaced=1`): it fills each "
        "buffer as soon as it is queued. vivid runs at the fastest frame "
        "interval it lists for the size (shown).",
        "",
        "| size | memory | rvcap pair | vivid pair | rvcap/vivid | rvcap fps | vivid fps (interval) | rvcap CPU/frame | vivid CPU/frame | allocs/requeue rvcap, vivid |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    chart_pairs = []
    for size in sizes:
        for mem in memories:
            r = get("coherent", f"rvcap/{mem}/{size}/map-once")
            v = get("coherent", f"vivid/{mem}/{size}/vb2")
            rp, vp = num(r, "pair_ns_median"), num(v, "pair_ns_median")
            q = ratio(rp, vp)
            md.append(
                f"| {size} | {mem} | {us(rp)} | {us(vp)} | {q:.2f} | {num(r, 'fps'):.0f} "
                f"| {num(v, 'fps'):.0f} ({v['interval']} s) | {us(num(r, 'cpu_ns_per_frame'))} "
                f"| {us(num(v, 'cpu_ns_per_frame'))} "
                f"| {allocs_per_requeue(r)}, {allocs_per_requeue(v)} |"
            )
            chart_pairs.append((f"{mem}\n{size}", rp, vp))
            if mem != "mmap":
                checks.append(
                    (f"DMABUF ({mem}, {size}) requeue pair ≤ {TARGETS['pair']}× vivid's",
                     f"{q:.2f}×", q <= TARGETS["pair"]))
    md.append("")

    # 2. Map once against map per QBUF.
    md += [
        "## Map once against map per QBUF",
        "",
        "`map_per_qbuf=1` maps each imported dma-buf at QBUF and unmaps it "
        "at DQBUF, as videobuf2 did before Linux 5.1. Maps per frame come "
        "from rvcap's debugfs counters.",
        "",
        "| boot | size | memory | map-once pair | map-per-QBUF pair | per-QBUF/once | maps per frame (once, per QBUF) | CPU/frame (once, per QBUF) | allocs/requeue (once, per QBUF) |",
        "|---|---|---|---:|---:|---:|---|---|---|",
    ]
    chart_remap = []
    remap_cases = [("coherent", s, m) for s in sizes for m in ("udmabuf", "heap")]
    remap_cases += [("swiotlb", "640x480", "heap"), ("swiotlb", "1920x1080", "udmabuf")]
    for boot, size, mem in remap_cases:
        once_label = f"rvcap/{mem}/{size}/map-once" if boot == "coherent" else f"rvcap/{mem}/{size}/payload-sync"
        o = get(boot, once_label)
        p = get(boot, f"rvcap/{mem}/{size}/map-per-qbuf")
        op, pp = num(o, "pair_ns_median"), num(p, "pair_ns_median")
        q = ratio(pp, op)
        md.append(
            f"| {boot} | {size} | {mem} | {us(op)} | {us(pp)} | {q:.1f} "
            f"| {num(o, 'c_map'):g}, {num(p, 'c_map'):g} "
            f"| {us(num(o, 'cpu_ns_per_frame'))}, {us(num(p, 'cpu_ns_per_frame'))} "
            f"| {allocs_per_requeue(o)}, {allocs_per_requeue(p)} |"
        )
        chart_remap.append((f"{mem}\n{size}\n{boot}", op, pp))
        if size == "1920x1080":
            checks.append(
                (f"map once ≥ {TARGETS['remap']:g}× cheaper than map per QBUF ({mem}, {size}, {boot})",
                 f"{q:.1f}×", q >= TARGETS["remap"]))
    md.append("")

    # 2b. Behind an IOMMU.
    md += [
        "## Behind an IOMMU (intel-iommu, strict invalidation)",
        "",
        "QEMU's edu device is rvcap's DMA master: every map allocates IOVA "
        "space and writes IOMMU page tables, every unmap invalidates the "
        "IOTLB at once (`iommu.strict=1`). Map once against map per QBUF, "
        "and the DQBUF sync for the CPU over the frame against the whole "
        "buffer (VT-d is coherent: the syncs only walk the IOVA runs).",
        "",
        "| size | memory | map-once pair | map-per-QBUF pair | per-QBUF/once | maps per frame (once, per QBUF) | CPU/frame (once, per QBUF) | DQBUF payload sync | DQBUF full sync |",
        "|---|---|---:|---:|---:|---|---|---:|---:|",
    ]
    # 1920x1080 from `make bench`; smaller from `make check`'s smoke run.
    iommu_sizes = {label.split("/")[2] for boot, label in rows if boot == "iommu"}
    iommu_size = "1920x1080" if "1920x1080" in iommu_sizes or not iommu_sizes else min(iommu_sizes)
    size = iommu_size
    for mem in ("udmabuf", "heap"):
        o = get("iommu", f"rvcap/{mem}/{size}/map-once")
        p = get("iommu", f"rvcap/{mem}/{size}/map-per-qbuf")
        f = get("iommu", f"rvcap/{mem}/{size}/full-sync")
        op, pp = num(o, "pair_ns_median"), num(p, "pair_ns_median")
        q = ratio(pp, op)
        md.append(
            f"| {size} | {mem} | {us(op)} | {us(pp)} | {q:.1f} "
            f"| {num(o, 'c_map'):g}, {num(p, 'c_map'):g} "
            f"| {us(num(o, 'cpu_ns_per_frame'))}, {us(num(p, 'cpu_ns_per_frame'))} "
            f"| {us(num(o, 'dqbuf_ns_median'))} | {us(num(f, 'dqbuf_ns_median'))} |"
        )
        chart_remap.append((f"{mem}\n{size}\niommu", op, pp))
        checks.append(
            (f"map once ≥ {TARGETS['remap']:g}× cheaper than map per QBUF ({mem}, {size}, iommu)",
             f"{q:.1f}×", q >= TARGETS["remap"]))
    md.append("")

    # 3. Payload-range against full-buffer sync under swiotlb=force.
    md += [
        "## Payload-range against full-buffer sync (swiotlb=force)",
        "",
        "Every sync for the CPU copies from the bounce buffer. `full_sync=1` "
        "syncs whole buffers at DQBUF instead of the bytes the frame "
        "occupies. DQBUF carries the sync; bytes per frame come from rvcap's "
        "debugfs counters.",
        "",
        "| memory | case | bytes synced/frame (payload, full) | DQBUF payload | DQBUF full | full/payload | CPU/frame (payload, full) |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    chart_sync = []
    for mem in ("mmap", "udmabuf"):
        for case in ("640x480-in-1080p-buffers", "1920x1080"):
            a = get("swiotlb", f"rvcap/{mem}/{case}/payload-sync")
            b = get("swiotlb", f"rvcap/{mem}/{case}/full-sync")
            ad, bd = num(a, "dqbuf_ns_median"), num(b, "dqbuf_ns_median")
            md.append(
                f"| {mem} | {case} | {num(a, 'c_bytes_synced_for_cpu'):.0f}, {num(b, 'c_bytes_synced_for_cpu'):.0f} "
                f"| {us(ad)} | {us(bd)} | {ratio(bd, ad):.2f} "
                f"| {us(num(a, 'cpu_ns_per_frame'))}, {us(num(b, 'cpu_ns_per_frame'))} |"
            )
            chart_sync.append((f"{mem}\n{case.replace('-in-', ' in ')}", ad, bd))
    md.append("")

    # 3b. MMAP cache hints.
    md += [
        "## MMAP cache hints (V4L2_MEMORY_FLAG_NON_COHERENT, NO_CACHE_CLEAN, NO_CACHE_INVALIDATE)",
        "",
        "MMAP buffers asked for coherent (`coherent`: synced for the device at "
        "QBUF and for the CPU at DQBUF), with `V4L2_MEMORY_FLAG_NON_COHERENT` "
        "and no hints (`noncoherent`: still both syncs), and with it and "
        "`V4L2_BUF_FLAG_NO_CACHE_CLEAN | V4L2_BUF_FLAG_NO_CACHE_INVALIDATE` on "
        "every QBUF (`hints`: rvcap skips both syncs; it honours hints only on "
        "a non-coherent queue). Median DQBUF + QBUF pair, then each call; "
        "bytes synced and hint skips per frame from rvcap's debugfs counters; "
        "saved: the coherent pair minus this one. Under swiotlb=force each "
        "sync copies between the buffer and its bounce buffer: what the hints "
        "save. vivid (coherent boot, `cache_hints=1`) uses its default "
        "vmalloc allocator, which has no syncs at all: the hints change "
        "nothing there, and swiotlb does not touch it (it is not run in that "
        "boot).",
        "",
        "| boot | driver | size | mode | pair | DQBUF | QBUF | saved/frame | bytes synced/frame (device, CPU) | hint skips/frame (device, CPU) | CPU/frame |",
        "|---|---|---|---|---:|---:|---:|---:|---|---|---:|",
    ]
    hint_modes = ("coherent", "noncoherent", "hints")
    for boot, driver in (("coherent", "rvcap"), ("coherent", "vivid"), ("swiotlb", "rvcap")):
        for size in sizes:
            base = None
            for mode in hint_modes:
                r = get(boot, f"{driver}/mmap/{size}/cache-{mode}")
                if r.get("hints") != {"coherent": "none"}.get(mode, mode):
                    sys.exit(f"bench-report: {boot} {driver} {size} cache-{mode} ran with hints={r.get('hints')}")
                pair = num(r, "pair_ns_median")
                if base is None:
                    base = pair
                if "c_bytes_synced_for_cpu" in r:
                    synced = f"{num(r, 'c_bytes_synced_for_device'):.0f}, {num(r, 'c_bytes_synced_for_cpu'):.0f}"
                    skips = f"{num(r, 'c_cache_hint_skips_for_device'):g}, {num(r, 'c_cache_hint_skips_for_cpu'):g}"
                else:
                    synced = skips = "–"
                md.append(
                    f"| {boot} | {driver} | {size} | {mode} | {us(pair)} "
                    f"| {us(num(r, 'dqbuf_ns_median'))} | {us(num(r, 'qbuf_ns_median'))} "
                    f"| {us(base - pair)} | {synced} | {skips} | {us(num(r, 'cpu_ns_per_frame'))} |"
                )
    md.append("")

    # 3c. Exported MMAP buffers with a mapped importer.
    md += [
        "## Exported buffers (VIDIOC_EXPBUF, one mapped importer)",
        "",
        "Every MMAP buffer exported with `VIDIOC_EXPBUF` and its export "
        "imported by a second rvcap device (`num_devices=2`: REQBUFS(DMABUF) "
        "and one QBUF of each export, never streaming, so each export has one "
        "importer table mapped for the whole stream), against the same "
        "stream without exports, in one loading of the modules. At each DQBUF "
        "rvcap pushes the frame to the importer's table (a sync for the "
        "importer's device over the whole export: under swiotlb=force a copy "
        "into its bounce buffer); pushes and bytes per frame from rvcap's "
        "debugfs counters. videobuf2 (vivid) does nothing for importers at "
        "DQBUF, so its two rows differ by noise only; it is streamed in the "
        "coherent boot only.",
        "",
        "| boot | driver | size | pair, not exported | pair, exported | difference | DQBUF (not, exported) | pushes/frame | bytes pushed/frame | CPU/frame (not, exported) | allocs/requeue (not, exported) |",
        "|---|---|---|---:|---:|---:|---|---:|---:|---|---|",
    ]
    for boot, driver in (("coherent", "rvcap"), ("coherent", "vivid"), ("swiotlb", "rvcap")):
        for size in sizes:
            n = get(boot, f"{driver}/mmap/{size}/not-exported")
            e = get(boot, f"{driver}/mmap/{size}/exported")
            if n.get("exports") != "0" or e.get("exports") != e.get("buffers"):
                sys.exit(f"bench-report: {boot} {driver} {size}: exports={n.get('exports')}, {e.get('exports')}")
            if driver == "rvcap":
                pushes = num(e, "c_export_pushes")
                # Every frame must push to the one importer table: with
                # fences the engine pushes when the frame ends, before its
                # fence signals, not at DQBUF, so the measured frames (the
                # DQBUFs) may see as many pushes more or fewer as there are
                # buffers (frames the engine finished ahead).
                frames, buffers = num(e, "frames"), num(e, "buffers")
                if abs(pushes - 1) * frames > buffers + 0.001 or num(n, "c_export_pushes") != 0:
                    sys.exit(f"bench-report: {boot} {size}: {pushes:g} pushes per frame over {frames:g} frames, not 1")
                pushed = f"{pushes:g} | {num(e, 'c_export_bytes_synced'):.0f}"
            else:
                pushed = "– | –"
            np_, ep = num(n, "pair_ns_median"), num(e, "pair_ns_median")
            md.append(
                f"| {boot} | {driver} | {size} | {us(np_)} | {us(ep)} | {us(ep - np_)} "
                f"| {us(num(n, 'dqbuf_ns_median'))}, {us(num(e, 'dqbuf_ns_median'))} | {pushed} "
                f"| {us(num(n, 'cpu_ns_per_frame'))}, {us(num(e, 'cpu_ns_per_frame'))} "
                f"| {allocs_per_requeue(n)}, {allocs_per_requeue(e)} |"
            )
    md += [
        "",
        "One `DMA_BUF_IOCTL_SYNC` START|READ + END|READ bracket on an export "
        "with one mapped importer (the second rvcap device, as above), median, "
        "with START and END apart. rvcap's `begin_cpu_access` syncs every "
        "mapped importer table for the CPU and `end_cpu_access` for its device "
        "(each over the whole export, `DMA_BIDIRECTIONAL`: under swiotlb=force "
        "a copy out of the bounce buffer and one back in); tables synced and "
        "bytes per bracket from its counters. vivid's exports have no such "
        "syncs: videobuf2's vmalloc allocator (vivid's default) has no "
        "`begin_cpu_access`/`end_cpu_access` at all, and its dma-contig one "
        "(vivid `allocators=1`) has both returning 0 (dma-sg, which vivid "
        "does not use, syncs the exporter's own mapping, never an "
        "importer's), so the bracket is the dma-buf core's ioctl and "
        "reservation wait only, and an importer's bounced view is never "
        "brought up to date. dma-contig runs in the coherent boot only: its "
        "buffer is one contiguous segment, more than swiotlb bounces at once "
        "(256 KiB), so under swiotlb=force the importer cannot map it.",
        "",
        "| boot | exporter | size | export bytes | START | END | bracket | tables synced/bracket | bytes synced/bracket |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for boot in ("coherent", "swiotlb"):
        for size in sizes:
            exporters = [("rvcap", "rvcap/mmap/{}/sync-bracket"),
                         ("vivid (vmalloc)", "vivid/mmap/{}/sync-bracket-vmalloc")]
            if boot == "coherent":
                exporters.append(("vivid (dma-contig)", "vivid/mmap/{}/sync-bracket-dma-contig"))
            for exporter, label in exporters:
                r = get(boot, label.format(size))
                if exporter == "rvcap" and num(r, "c_export_syncs") != 2:
                    # One importer table, synced at START and at END.
                    sys.exit(f"bench-report: {boot} {size}: {r['c_export_syncs']} importer syncs per bracket, not 2")
                if "c_export_syncs" in r:
                    synced = f"{num(r, 'c_export_syncs'):g} | {num(r, 'c_export_bytes_synced'):.0f}"
                else:
                    synced = "– | –"
                md.append(
                    f"| {boot} | {exporter} | {size} | {r['export_bytes']} "
                    f"| {us(num(r, 'start_ns_median'))} | {us(num(r, 'end_ns_median'))} "
                    f"| {us(num(r, 'sync_ns_median'))} | {synced} |"
                )
    md.append("")

    # 3d. Implicit fences on against off.
    md += [
        "## Fences: requeue pair with fences on and off",
        "",
        "The same DMABUF import stream with implicit fences on (the default: "
        "at each QBUF rvcap reserves a slot in the import's reservation "
        "object and publishes a write fence, the engine checks the fences "
        "it found there, syncs the frame for the CPU and signals its fence "
        "when the frame is written) and with the debugfs knob `fences` at 0 "
        "(read at STREAMON), run one after the other in the same boot, "
        "each boot's default policy. With fences on, the sync for the CPU "
        "happens in the engine's thread instead of at DQBUF, so where it "
        "copies (swiotlb=force) DQBUF gets cheaper and the engine's CPU time "
        "grows, while QBUF now reserves a slot and publishes the fence: read "
        "the pair together with CPU/frame (this process plus the engine "
        "thread). Allocations per requeue: trace events of both "
        "tasks over further requeues; on a kernel with "
        "`CONFIG_DEBUG_MUTEXES` every `dma_resv_unlock()` shrinks the fence "
        "list, so the next `dma_resv_reserve_fences()` allocates (the "
        "bench kernel has it off). Fences published per frame from rvcap's "
        "debugfs counters.",
        "",
        "| boot | memory | size | pair, fences on | pair, fences off | on/off | DQBUF (on, off) | QBUF (on, off) | CPU/frame (on, off) | allocs/requeue (on, off) | fences published/frame (on, off) |",
        "|---|---|---|---:|---:|---:|---|---|---|---|---|",
    ]
    fence_cases = [("coherent", sz, m, "map-once") for sz in sizes for m in ("udmabuf", "heap")]
    fence_cases += [("swiotlb", "640x480", "heap", "payload-sync"),
                    ("swiotlb", "1920x1080", "udmabuf", "payload-sync")]
    fence_cases += [("iommu", iommu_size, m, "map-once") for m in ("udmabuf", "heap")]
    for boot, fsize, mem, policy in fence_cases:
        on = get(boot, f"rvcap/{mem}/{fsize}/{policy}")
        off = get(boot, f"rvcap/{mem}/{fsize}/{policy}-fences-off")
        # A row whose knob did not take would compare a stream with itself.
        pub_on, pub_off = num(on, "c_fences_published"), num(off, "c_fences_published")
        if pub_on <= 0 or pub_off != 0:
            sys.exit(f"bench-report: {boot} {mem} {fsize}: {pub_on:g} fences published per frame "
                     f"with fences on, {pub_off:g} with them off")
        onp, offp = num(on, "pair_ns_median"), num(off, "pair_ns_median")
        md.append(
            f"| {boot} | {mem} | {fsize} | {us(onp)} | {us(offp)} | {ratio(onp, offp):.2f} "
            f"| {us(num(on, 'dqbuf_ns_median'))}, {us(num(off, 'dqbuf_ns_median'))} "
            f"| {us(num(on, 'qbuf_ns_median'))}, {us(num(off, 'qbuf_ns_median'))} "
            f"| {us(num(on, 'cpu_ns_per_frame'))}, {us(num(off, 'cpu_ns_per_frame'))} "
            f"| {allocs_per_requeue(on)}, {allocs_per_requeue(off)} "
            f"| {pub_on:g}, {pub_off:g} |"
        )
    md.append("")

    # 4. What keeping userspace's bytes costs when mappings go.
    md += [
        "## Releasing buffers the application owns",
        "",
        "Median STREAMOFF time with every buffer queued (the device's: each is "
        "synced for the CPU over its length, then handed over and unmapped) and "
        "with every buffer dequeued (the application's: each import is synced "
        "for the device before its unmap, so that the unmap cannot overwrite "
        "what the application wrote), and of the REQBUFS(0) after the latter "
        "(each import, unmapped by STREAMOFF, is mapped again to be handed over "
        "before its detach, for exporters that sync for the CPU there). QBUF "
        "and DQBUF do not change; this is the whole cost.",
        "",
        "| boot | memory | size | buffers | STREAMOFF, queued | STREAMOFF, dequeued | bytes handed over at STREAMOFF | REQBUFS(0) after STREAMOFF | maps at REQBUFS(0) | bytes handed over at REQBUFS(0) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for boot, label in RELEASE:
        r = get(boot, label + "#release")
        queued, dequeued = num(r, "streamoff_queued_ns_median"), num(r, "streamoff_dequeued_ns_median")
        _, mem, size, _ = label.split("/")
        md.append(
            f"| {boot} | {mem} | {size} | {r['buffers']} | {us(queued)} | {us(dequeued)} "
            f"| {r['bytes_synced_before_unmap']} | {us(num(r, 'reqbufs0_ns_median'))} "
            f"| {r['reqbufs0_maps']} | {r['reqbufs0_bytes_synced_before_unmap']} |"
        )
    md.append("")

    # 5. Filling against memset.
    md += [
        "## Filling a frame against memset (coherent boot)",
        "",
        "rvcap's engine time writing one frame (debugfs `fill_ns`, unpaced "
        "MMAP stream) against `memset()` of the same size in the same guest; "
        "vivid's frame thread CPU time per frame for reference.",
        "",
        "| size | rvcap fill | memset | fill/memset | vivid thread CPU/frame |",
        "|---|---:|---:|---:|---:|",
    ]
    chart_fill = []
    for size in sizes:
        r = get("coherent", f"rvcap/mmap/{size}/map-once")
        m = get("coherent", f"memset/-/{size}/-")
        v = get("coherent", f"vivid/mmap/{size}/vb2")
        fill, ms = num(r, "c_fill_ns"), num(m, "memset_ns_median")
        q = ratio(fill, ms)
        md.append(f"| {size} | {us(fill)} | {us(ms)} | {q:.2f} | {us(num(v, 'thread_cpu_ns_per_frame'))} |")
        chart_fill.append((size, fill, ms))
        checks.append((f"fill ≤ {TARGETS['fill']}× memset ({size})", f"{q:.2f}×", q <= TARGETS["fill"]))
    md.append("")

    md = ["## Targets", ""] + [f"- {what}: {got}, {verdict(ok)}" for what, got, ok in checks] + [""] + md
    md = ["# rvcap benchmark results", "",
          "Written by `make bench` (scripts/bench.sh, tests/plans/bench.sh, tools/rvcap-bench.c). "
          "Times in µs.", "", ] + md
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write("\n".join(md) + "\n")

    # The chart: one panel per comparison.
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    panels = [
        (axes[0][0], chart_pairs, ("rvcap", "vivid"), "DQBUF+QBUF pair, coherent (µs)"),
        (axes[0][1], chart_remap, ("map once", "map per QBUF"), "DQBUF+QBUF pair (µs)"),
        (axes[1][0], chart_sync, ("payload sync", "full sync"), "DQBUF, swiotlb=force (µs)"),
        (axes[1][1], chart_fill, ("rvcap fill", "memset"), "one frame (µs)"),
    ]
    for ax, data, names, title in panels:
        xs = range(len(data))
        w = 0.4
        ax.bar([x - w / 2 for x in xs], [d[1] / 1000 for d in data], w, label=names[0])
        ax.bar([x + w / 2 for x in xs], [d[2] / 1000 for d in data], w, label=names[1])
        ax.set_xticks(list(xs))
        ax.set_xticklabels([d[0] for d in data], fontsize=7)
        ax.set_title(title)
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    fig.suptitle("rvcap make bench (QEMU TCG; ratios matter, not absolute times)")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "chart.png"), dpi=90)
    print("\n".join(md))


if __name__ == "__main__":
    main()
