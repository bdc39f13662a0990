#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the programs the test VM runs: the kselftests and the guest tools,
# static, against the test kernel's UAPI headers and kselftest harness.
#
# The kselftests go through the kernel's own tools/testing/selftests
# machinery, as a kernel developer runs them (README): tests/selftests is
# copied to tools/testing/selftests/rvcap of a skeleton kernel tree whose
# other kselftest files link to the kernel source, and
# `make TARGETS=rvcap install` writes run_kselftest.sh, kselftest-list.txt
# and rvcap/ into tests/selftests/out, which the VM has as /tests.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
kout=$(rvcap_kernel_dir)
ksrc=$(rvcap_ksrc_dir)
[[ -e $kout/.complete ]] || die "test kernel not built (run: make kernel${RVCAP_KERNEL_SUFFIX:+ KERNEL=$RVCAP_KERNEL}${RVCAP_GUEST_SUFFIX:+ ARCH=$RVCAP_ARCH})"

# One build at a time: the skeleton trees and build directories below are
# shared by every checkout (one per kernel and architecture).
exec 8>"$RVCAP_CACHE/kselftest.lock"
flock 8
tree=$RVCAP_CACHE/kselftest/linux${RVCAP_KERNEL_SUFFIX:+-$RVCAP_KERNEL_SUFFIX}
sel=$tree/tools/testing/selftests
mkdir -p "$sel/rvcap" "$tree/scripts"
ln -sfn "$ksrc/scripts/subarch.include" "$tree/scripts/subarch.include"
for f in Makefile lib.mk kselftest kselftest.h kselftest_harness.h run_kselftest.sh; do
	ln -sfn "$ksrc/tools/testing/selftests/$f" "$sel/$f"
done
# By content, not time: the build tree is shared by every checkout, and a
# file copied with an older time than its object would not be rebuilt.
rsync -rl --checksum --delete --exclude /out "$RVCAP_ROOT/tests/selftests/" "$sel/rvcap/"
rm -rf "$RVCAP_SELFTESTS_OUT"
# arm64: cross-compiled with Debian's aarch64-linux-gnu-gcc (static).
cross=()
[[ $RVCAP_ARCH == arm64 ]] && cross=(ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-)
make -s -C "$sel" TARGETS=rvcap FORCE_TARGETS=1 O="$RVCAP_CACHE/kselftest/build$RVCAP_BUILD_SUFFIX" \
	"${cross[@]}" KHDR_INCLUDES="-isystem $kout/usr/include" \
	KSFT_INSTALL_PATH="$RVCAP_SELFTESTS_OUT" install >/dev/null
grep -q '^rvcap:' "$RVCAP_SELFTESTS_OUT/kselftest-list.txt" ||
	die "the kselftest install lists no rvcap test"
tools_cc=()
[[ $RVCAP_ARCH == arm64 ]] && tools_cc=(CC=aarch64-linux-gnu-gcc)
make -s -C "$RVCAP_ROOT/tools" KHDR="$kout/usr" OUT="$RVCAP_TOOLS_OUT" "${tools_cc[@]}"
