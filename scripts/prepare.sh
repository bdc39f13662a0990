#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Everything a VM run needs, built if missing: dependencies, the test kernel,
# rvcap.ko and the guest programs. Prints the kernel directory.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

"$RVCAP_ROOT"/scripts/install-deps.sh
kout=$("$RVCAP_ROOT"/scripts/build-kernel.sh)
mapfile -t kargs < <(rvcap_kmake_args)
log "building rvcap.ko against $kout/build"
make -s -C "$kout/build" M="$RVCAP_ROOT" "${kargs[@]}" modules >&2
"$RVCAP_ROOT"/scripts/build-guest.sh >&2
echo "$kout"
