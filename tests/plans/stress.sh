#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest plan for `make stress`: the fuzzer at length. Argument: operations
# per thread (two threads).
set -e
modprobe rvcap
RVCAP_FUZZ_OPS=${1:-150000} /tests/rvcap/rvcap_fuzz_test
rmmod rvcap
sleep 6
echo scan >/sys/kernel/debug/kmemleak
