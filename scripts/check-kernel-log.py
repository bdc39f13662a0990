#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# Judges a guest's kernel log (the serial console): anything the kernel
# reports as a bug (a warning, a BUG, an oops, lockdep, DMA-API debugging,
# KASAN, UBSAN, kmemleak, a hung task) or a device access the IOMMU refused
# (intel-iommu's DMAR fault report) is a problem, whatever the tests said.
#
# A test that makes a device fault on purpose brackets it with two lines it
# writes to /dev/kmsg:
#     rvcap-test: expecting an IOMMU fault: <what>
#     rvcap-test: end of expected IOMMU fault
# Inside such a window IOMMU fault lines are expected (nothing else is), and
# a window without one is a problem too: the fault the test provoked was
# not reported, so this check would miss a real one.
#
# Two reports are other drivers' and known, so they are named but not
# counted; the same report from anywhere else is a problem:
# - vivid's: its capture thread computes a timeout, checks it has not
#   passed, then passes it to wait_event_interruptible_timeout()
#   (vivid-kthread-cap.c); on a guest slow enough (TCG with two VMs on two
#   cores) the deadline passes in between and schedule_timeout() warns
#   "wrong timeout value" with a stack dump from vivid_thread_vid_cap.
# - udmabuf's: for DMA_BUF_IOCTL_SYNC it maps its pages for its own misc
#   device (begin_cpu_udmabuf, get_sg_table), merging contiguous pages into
#   segments of any length, while the misc device keeps the default 64 KiB
#   segment limit. Linux 7.3's memfd pages are often contiguous (large
#   folios), so DMA-API debugging warns "misc udmabuf: mapping sg segment
#   longer than device claims to support" there; the same code is in 6.12,
#   whose memfd pages rarely are. The device named is udmabuf's own, not an
#   importer's: an importer's mapping names the importer.
#
# Usage: check-kernel-log.py CONSOLE_LOG. Prints "clean", or each problem
# with the lines around it; exits 1 on a problem.
import re
import sys

BUG = re.compile(
    r"WARNING:|BUG:|Oops|kernel BUG|Kernel panic|general protection fault|Call Trace:"
    r"|possible (recursive|circular) locking|inconsistent lock state|lockdep is turned off"
    r"|suspicious RCU usage|DMA-API: .*(device driver|exceeded)|KASAN|UBSAN"
    r"|kmemleak: [0-9]+ new suspected|unreferenced object|swiotlb buffer is full"
    r"|blocked for more than|soft lockup|hard LOCKUP"
)
IOMMU_FAULT = re.compile(r"DMAR: \[DMA (Read|Write)|DMAR: DRHD: handling fault")
BEGIN = re.compile(r"rvcap-test: expecting an IOMMU fault: (.*)")
END = re.compile(r"rvcap-test: end of expected IOMMU fault")


# (name, first line, a stack frame that must be in the report, its last
# line, at most this many lines)
KNOWN = [
    (
        "vivid's known timeout race",
        re.compile(r"schedule_timeout: wrong timeout value"),
        re.compile(r"\bvivid_thread_vid_cap\+"),
        re.compile(r"</TASK>"),
        24,
    ),
    (
        "udmabuf's known segment-length warning for its own CPU access",
        re.compile(r"DMA-API: misc udmabuf: mapping sg segment longer than device claims to support"),
        re.compile(r"\b(begin|end)_cpu_udmabuf\+"),
        re.compile(r"---\[ end trace"),
        60,
    ),
]


def known_report(lines, i):
    """(name, how many lines from i) of a known report starting at line i,
    or (None, 0) (see the top)."""
    for name, first, frame, last, most in KNOWN:
        if not first.search(lines[i]):
            continue
        report = lines[i : i + most]
        end = next((n for n, line in enumerate(report) if last.search(line)), None)
        if end is not None and any(frame.search(line) for line in report[:end]):
            return name, end + 1
    return None, 0


def problems(lines):
    """Yields (line index, what) for every problem in the log."""
    window = None  # (line index, what, faults seen)
    skip = 0
    for i, line in enumerate(lines):
        if skip:
            skip -= 1
            continue
        name, skip = known_report(lines, i)
        if skip:
            print(f"line {i + 1}: {name} (not counted): {line.strip()}")
            skip -= 1
            continue
        begin = BEGIN.search(line)
        if begin:
            if window:
                yield window[0], "an expected-fault window was not closed"
            window = [i, begin.group(1).strip(), 0]
            continue
        if END.search(line):
            if not window:
                yield i, "an expected-fault window ends that never began"
            elif window[2] == 0:
                yield window[0], f"the expected IOMMU fault was not reported ({window[1]})"
            window = None
            continue
        if IOMMU_FAULT.search(line):
            if window:
                window[2] += 1
            else:
                yield i, "a device access the IOMMU refused"
        elif BUG.search(line):
            yield i, "the kernel reports a problem"
    if window:
        yield window[0], f"an expected-fault window was not closed ({window[1]})"


def main():
    with open(sys.argv[1], errors="replace") as f:
        lines = f.read().splitlines()
    found = list(problems(lines))
    for i, what in found[:5]:
        print(f"line {i + 1}: {what}:")
        for line in lines[max(0, i - 5) : i + 40]:
            print("    " + line)
    if found:
        sys.exit(1)
    print("clean")


if __name__ == "__main__":
    main()
