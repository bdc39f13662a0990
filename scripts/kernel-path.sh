#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Print what the Makefile needs from lib.sh: `kdir` (the test kernel's build
# tree, built or not), `kmake-args` (toolchain variables for kernel makes) or
# `cache` (the cache directory).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
case "${1:-kdir}" in
kdir) echo "$(rvcap_kernel_dir)/build" ;;
kmake-args) rvcap_kmake_args | tr '\n' ' ' ;;
cache) echo "$RVCAP_CACHE" ;;
*) die "usage: $0 [kdir|kmake-args|cache]" ;;
esac
