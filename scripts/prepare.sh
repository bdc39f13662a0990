#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Everything a VM run needs, built if missing: dependencies, the test kernel,
# rvcap.ko and the guest programs. Prints the kernel directory. Each phase
# says what it does and where its log is.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

"$RVCAP_ROOT"/scripts/install-deps.sh
kout=$("$RVCAP_ROOT"/scripts/build-kernel.sh)
logs=$RVCAP_CACHE/logs
mkdir -p "$logs"
: >"$logs/module.log"
# Through the Makefile, which cleans first when the tree's objects were
# built for another kernel (the other architecture's, say).
march=(env -u ARCH)
[[ $RVCAP_ARCH == x86 ]] || march+=(ARCH="$RVCAP_ARCH")
rvcap_progress "building rvcap.ko ($RVCAP_ARCH) against $kout/build" "$logs/module.log" "" \
	"${march[@]}" make -C "$RVCAP_ROOT" KDIR="$kout/build" modules || {
	tail -n 40 "$logs/module.log" >&2
	die "rvcap.ko does not build (log: $logs/module.log)"
}
: >"$logs/guest-programs.log"
rvcap_progress "building the guest programs (kselftests, tools)" "$logs/guest-programs.log" "" \
	"$RVCAP_ROOT"/scripts/build-guest.sh || {
	tail -n 40 "$logs/guest-programs.log" >&2
	die "the guest programs do not build (log: $logs/guest-programs.log)"
}
echo "$kout"
