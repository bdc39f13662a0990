#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the programs the test VM runs: the kselftests and the guest tools,
# static, against the test kernel's UAPI headers and kselftest harness.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
kout=$(rvcap_kernel_dir)
[[ -e $kout/.complete ]] || die "test kernel not built (run: make kernel)"
make -s -C "$RVCAP_ROOT/tests/selftests" KSRC="$(rvcap_ksrc_dir)" KHDR="$kout/usr"
make -s -C "$RVCAP_ROOT/tools" KHDR="$kout/usr"
