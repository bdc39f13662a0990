#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build (or reuse) one of rvcap's kernels (RVCAP_FLAVOUR: test, the default,
# or bench): Debian's linux-source-6.12 or, with RVCAP_KERNEL=7.3,
# linux-source-7.3 (scripts/fetch-kernel-source.sh), tinyconfig, the flavour's fragments
# (scripts/lib.sh) merged with merge_config.sh, olddefconfig. The result
# lives in $RVCAP_CACHE/kernel/<flavour>-<package version>-<hash of
# fragments and toolchain>/:
#   build/    the kernel build tree (KDIR for the module)
#   modroot/  `make modules_install` output (vivid and its dependencies)
#   usr/      `make headers_install` output (UAPI headers for the selftests)
# Prints the absolute path of that directory on stdout, and nothing else.
# With --deps, runs scripts/install-deps.sh first unless the kernel is built.
# With --prepared, stops after `make modules_prepare` (marked .prepared):
# enough to compile the module (its Rust needs the kernel crate), not to
# link it or boot; what make check builds for arm64 7.3, which it does not
# boot. A later full build completes the same tree.
# Progress goes to the terminal (see say in lib.sh); make's output to
# build.log in that directory.
set -euo pipefail
# The whole script is one group, read before any of it runs: bash reads a
# script as it goes, and this one runs long enough for the file to change
# under it (an edit, a git checkout).
{
source "$(dirname "$0")/lib.sh"

prepared_only=0
case "${1:-}" in
--deps)
	# The key needs the compilers' versions: with missing packages, compute
	# it after installing them.
	kout=$(rvcap_kernel_dir 2>/dev/null) || kout=""
	if [[ -z $kout || ! -e $kout/.complete ]]; then
		"$(dirname "$0")"/install-deps.sh
	fi
	;;
--prepared) prepared_only=1 ;;
esac

ksrc=$(rvcap_ksrc_dir)
kout=$(rvcap_kernel_dir)
kbuild=$kout/build
mapfile -t kargs < <(rvcap_kmake_args)
jobs=$(($(nproc) + 1))

done_already() {
	[[ -e $kout/.complete ]] || { ((prepared_only)) && [[ -e $kout/.prepared ]]; }
}
if done_already; then
	echo "$kout"
	exit 0
fi

mkdir -p "$RVCAP_CACHE/src" "$RVCAP_CACHE/kernel"
exec 9>"$RVCAP_CACHE/kernel/.lock"
flock 9

# Another process may have finished it while we waited for the lock.
if done_already; then
	echo "$kout"
	exit 0
fi

mkdir -p "$kbuild"
buildlog=$kout/build.log
: >"$buildlog"

if [[ ! -e $ksrc/Makefile ]]; then
	tmp=$(mktemp -d "$RVCAP_CACHE/src/.unpack.XXXXXX")
	rvcap_progress "unpacking $RVCAP_KSRC_TARBALL into $ksrc" "$buildlog" "" \
		tar -xf "$RVCAP_KSRC_TARBALL" -C "$tmp" || die "cannot unpack $RVCAP_KSRC_TARBALL (log: $buildlog)"
	rm -rf "$ksrc"
	mv "$tmp"/linux-source-"$RVCAP_KERNEL" "$ksrc"
	rmdir "$tmp"
fi

kmake() {
	if ! make -C "$ksrc" O="$kbuild" "${kargs[@]}" "$@" >>"$buildlog" 2>&1; then
		tail -n 60 "$buildlog" >&2
		die "kernel make $* failed (full log: $buildlog)"
	fi
}

# The kernel build's progress: Kbuild's quiet output prints one line per
# step ("  CC      kernel/fork.o", "  RUSTC L rust/core.o", ...). The total
# is the count the last build of this flavour recorded, or failing that the
# count measured for the test kernel on Debian's 6.12.117 (1530 steps,
# 12 min on 2 cores) or 7.3.4 (2036 steps, 10 min): an estimate, which
# another kernel version or fragment changes a little.
# (The bench flavour's was not measured: it is taken to be the test one's.)
steps_file=$RVCAP_CACHE/kernel/$RVCAP_FLAVOUR${RVCAP_ARCH/#x86/}${RVCAP_KERNEL/#6.12/}.steps
steps=$(cat "$steps_file" 2>/dev/null || echo 0)
((steps > 0)) || case "$RVCAP_KERNEL" in 6.12) steps=1530 ;; *) steps=2036 ;; esac
step_re='^  [A-Z][A-Z0-9_]* '
kernel_status() {
	local n
	n=$(($(grep -c "$step_re" "$buildlog") - first))
	if ((n < steps)); then
		echo "$n of about $steps build steps ($((100 * n / steps))%)"
	else
		echo "$n build steps (more than the $steps expected)"
	fi
}

mapfile -t fragments < <(rvcap_fragments)
say "configuring the $RVCAP_FLAVOUR kernel ($RVCAP_ARCH, Linux $RVCAP_KERNEL) in $kbuild... (log: $buildlog)"
kmake tinyconfig
"$ksrc"/scripts/kconfig/merge_config.sh -m -O "$kbuild" "$kbuild/.config" \
	"${fragments[@]}" >>"$buildlog" 2>&1
kmake olddefconfig

# Kconfig silently drops an option whose dependencies are missing: insist.
dropped=()
while IFS= read -r line; do
	if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
		grep -qxF "$line" "$kbuild/.config" ||
			dropped+=("${BASH_REMATCH[1]} (asked ${BASH_REMATCH[2]}, got: $(grep -E "^(# )?${BASH_REMATCH[1]}[= ]" "$kbuild/.config" || echo unset))")
	elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
		! grep -qE "^${BASH_REMATCH[1]}=[ym]" "$kbuild/.config" ||
			dropped+=("${BASH_REMATCH[1]} (asked unset, got set)")
	fi
done < <(cat "${fragments[@]}")
if ((${#dropped[@]})); then
	printf '[rvcap]   %s\n' "${dropped[@]}" >&2
	die "Kconfig did not keep ${#dropped[@]} option(s) of ${fragments[*]} (missing dependencies?)"
fi

first=$(grep -c "$step_re" "$buildlog")
if ((prepared_only)); then
	rvcap_progress "preparing the $RVCAP_FLAVOUR kernel ($RVCAP_ARCH, Linux $RVCAP_KERNEL) for module builds (about 2 min on 2 otherwise idle cores)" \
		"$buildlog" "" make -C "$ksrc" O="$kbuild" "${kargs[@]}" -j"$jobs" modules_prepare || {
		tail -n 60 "$buildlog" >&2
		die "kernel modules_prepare failed (full log: $buildlog)"
	}
	touch "$kout/.prepared"
	echo "$kout"
	exit 0
fi
if ! rvcap_progress "building the $RVCAP_FLAVOUR kernel ($RVCAP_ARCH, Linux $RVCAP_KERNEL) with $jobs jobs (8-10 min on 2 otherwise idle cores)" \
	"$buildlog" kernel_status make -C "$ksrc" O="$kbuild" "${kargs[@]}" -j"$jobs" "$(rvcap_kernel_image)" modules; then
	tail -n 60 "$buildlog" >&2
	die "kernel build failed (full log: $buildlog)"
fi
echo $(($(grep -c "$step_re" "$buildlog") - first)) >"$steps_file"
kmake modules_install INSTALL_MOD_PATH="$kout/modroot" INSTALL_MOD_STRIP=1
kmake headers_install INSTALL_HDR_PATH="$kout/usr"

touch "$kout/.complete"
echo "$kout"
exit
}
