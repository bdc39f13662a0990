#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make run`: the main job. Installs what is missing, builds the test kernel
# (cached) and rvcap.ko, boots QEMU, loads the module and shows what it did.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$RVCAP_ROOT"

scripts/install-deps.sh
kout=$(scripts/build-kernel.sh)
mapfile -t kargs < <(rvcap_kmake_args)
log "building rvcap.ko against $kout/build"
make -s -C "$kout/build" M="$RVCAP_ROOT" "${kargs[@]}" modules
scripts/vm-run.sh --name run "$@" tests/plans/run.sh
