#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest plan for `make stress`: the fuzzer at length. Argument: operations
# per thread (two threads).

# What the plans share (unload_rvcap): tests/plans/lib.sh.
. /plan-lib.sh

set -e
modprobe rvcap
RVCAP_FUZZ_OPS=${1:-150000} /tests/rvcap/rvcap_fuzz_test
unload_rvcap
# Two scans: kmemleak reports a new leak at the second (tests/plans/check.sh).
echo scan >/sys/kernel/debug/kmemleak
echo scan >/sys/kernel/debug/kmemleak
