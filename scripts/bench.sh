#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make bench`: rvcap side by side with vivid, and rvcap's default policies
# against map-per-QBUF and full-buffer syncs, in three boots of the
# benchmark kernel (configs/rvcap-bench.config: no KASAN, lockdep or DMA-API
# debug): a coherent one, a swiotlb=force one and an IOMMU one
# (tests/plans/bench.sh). Writes
# out/bench/{results.md,chart.png,raw.txt}. Builds what is missing first:
# the benchmark kernel is cached beside the test kernel, and rvcap.ko for it
# is built in a copy of the sources under the cache, so that the tree's
# rvcap.ko stays the test kernel's.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$RVCAP_ROOT"
export RVCAP_FLAVOUR=bench

start=$SECONDS
scripts/install-deps.sh
kout=$(scripts/build-kernel.sh)
mapfile -t kargs < <(rvcap_kmake_args)

# rvcap.ko for the benchmark kernel, from a copy of the sources.
src=$RVCAP_CACHE/bench/module
mkdir -p "$src"
git ls-files --cached --others --exclude-standard | rsync -a --files-from=- ./ "$src/"
log "building rvcap.ko against $kout/build (in $src)"
make -s -C "$kout/build" M="$src" "${kargs[@]}" modules
export RVCAP_KO=$src/rvcap.ko
# (The kselftest tree under the cache is shared by every checkout:
# build-guest.sh takes its lock.)
scripts/build-guest.sh

out=out/bench
rm -rf "$out"
mkdir -p "$out"
runs=()
# name:kernel arguments:vm-run.sh options, as in scripts/check.sh
for boot in coherent:: swiotlb:' swiotlb=131072,force': iommu::--iommu; do
	name=${boot%%:*}
	rest=${boot#*:}
	args=${rest%%:*}
	opts=${rest#*:}
	vm=(scripts/vm-run.sh --name "bench-$name" --out "$RVCAP_CACHE/runs/bench-$name" --timeout 900)
	[[ -n $args ]] && vm+=(--append "$args")
	[[ -n $opts ]] && vm+=("$opts")
	"${vm[@]}" tests/plans/bench.sh "$name"
	runs+=("$name=$RVCAP_CACHE/runs/bench-$name/output.log")
done

# The machine, for the report.
{
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "host CPU: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1), $(nproc) cores"
	echo "emulator: $(qemu-system-x86_64 --version | head -n 1), TCG (software emulation), guest -smp 2 -m 2G -cpu max"
	echo "guest kernel: $(cat "$kout/build/include/config/kernel.release") (configs/rvcap-base.config + configs/rvcap-bench.config)"
	echo "rvcap: $(git describe --always --dirty 2>/dev/null || echo unknown)"
} >"$out/machine.txt"
"$RVCAP_PYTHON" scripts/bench-report.py "$out" "${runs[@]}"
log "make bench took $((SECONDS - start)) s; results in $out/results.md and $out/chart.png"
