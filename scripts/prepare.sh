#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Everything a VM run needs, built if missing: dependencies, the test kernel,
# rvcap.ko and the guest programs. Prints the kernel directory. Each phase
# says what it does and where its log is.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

"$RVCAP_ROOT"/scripts/install-deps.sh
kout=$("$RVCAP_ROOT"/scripts/build-kernel.sh)
mapfile -t kargs < <(rvcap_kmake_args)
logs=$RVCAP_CACHE/logs
mkdir -p "$logs"
: >"$logs/module.log"
rvcap_progress "building rvcap.ko against $kout/build" "$logs/module.log" "" \
	make -C "$kout/build" M="$RVCAP_ROOT" "${kargs[@]}" modules || {
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
