#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make stress`: the seeded fuzzer with 2 x 150,000 operations in a
# swiotlb=force boot of the debug kernel; any kernel report or kmemleak
# finding fails it. RVCAP_FUZZ_OPS overrides the per-thread count.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$RVCAP_ROOT"

scripts/prepare.sh >/dev/null
scripts/vm-run.sh --name stress --timeout 3600 --append "swiotlb=131072,force" \
	tests/plans/stress.sh "${RVCAP_FUZZ_OPS:-150000}"
