#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest plan for `make stress`: the fuzzer at length. Argument: operations
# per thread (two threads).

# rmmod rvcap, retried for up to 5 s: each fence rvcap published holds
# the module until an RCU grace period after its last user let go of it.
unload_rvcap() {
	for _ in $(seq 50); do
		rmmod rvcap 2>/dev/null && return 0
		sleep 0.1
	done
	rmmod rvcap
}

set -e
modprobe rvcap
RVCAP_FUZZ_OPS=${1:-150000} /tests/rvcap/rvcap_fuzz_test
unload_rvcap
# Two scans: kmemleak reports a new leak at the second (tests/plans/check.sh).
echo scan >/sys/kernel/debug/kmemleak
echo scan >/sys/kernel/debug/kmemleak
