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
# One report is vivid's and known, so it is named but not counted: vivid's
# capture thread computes a timeout, checks it has not passed, then passes
# it to wait_event_interruptible_timeout() (vivid-kthread-cap.c); on a
# guest slow enough (TCG with two VMs on two cores) the deadline passes in
# between and schedule_timeout() warns "wrong timeout value" with a stack
# dump from vivid_thread_vid_cap. The same warning from anywhere else is a
# problem.
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


VIVID_TIMEOUT = re.compile(r"schedule_timeout: wrong timeout value")
# The stack dump that follows such a warning: at most this many lines.
DUMP_LINES = 24


def vivid_timeout_race(lines, i):
    """How many lines from i are vivid's known timeout warning and its stack
    dump (see the top), or 0 if they are not."""
    if not VIVID_TIMEOUT.search(lines[i]):
        return 0
    dump = lines[i : i + DUMP_LINES]
    end = next((n for n, line in enumerate(dump) if "</TASK>" in line), None)
    if end is None or not any("vivid_thread_vid_cap" in line for line in dump[:end]):
        return 0
    return end + 1


def problems(lines):
    """Yields (line index, what) for every problem in the log."""
    window = None  # (line index, what, faults seen)
    skip = 0
    for i, line in enumerate(lines):
        if skip:
            skip -= 1
            continue
        skip = vivid_timeout_race(lines, i)
        if skip:
            print(f"line {i + 1}: vivid's known timeout race (not counted): {line.strip()}")
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
