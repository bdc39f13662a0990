#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build (or reuse) one of rvcap's kernels (RVCAP_FLAVOUR: test, the default,
# or bench): Debian's linux-source-6.12, tinyconfig, the flavour's fragments
# (scripts/lib.sh) merged with merge_config.sh, olddefconfig. The result
# lives in $RVCAP_CACHE/kernel/<flavour>-<package version>-<hash of
# fragments and toolchain>/:
#   build/    the kernel build tree (KDIR for the module)
#   modroot/  `make modules_install` output (vivid and its dependencies)
#   usr/      `make headers_install` output (UAPI headers for the selftests)
# Prints the absolute path of that directory on stdout, and nothing else.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ksrc=$(rvcap_ksrc_dir)
kout=$(rvcap_kernel_dir)
kbuild=$kout/build
mapfile -t kargs < <(rvcap_kmake_args)
jobs=$(($(nproc) + 1))

if [[ -e $kout/.complete ]]; then
	echo "$kout"
	exit 0
fi

mkdir -p "$RVCAP_CACHE/src" "$RVCAP_CACHE/kernel"
exec 9>"$RVCAP_CACHE/kernel/.lock"
flock 9

if [[ ! -e $ksrc/Makefile ]]; then
	log "unpacking $RVCAP_KSRC_TARBALL"
	tmp=$(mktemp -d "$RVCAP_CACHE/src/.unpack.XXXXXX")
	tar -xf "$RVCAP_KSRC_TARBALL" -C "$tmp"
	rm -rf "$ksrc"
	mv "$tmp"/linux-source-6.12 "$ksrc"
	rmdir "$tmp"
fi

mkdir -p "$kbuild"
buildlog=$kout/build.log
: >"$buildlog"
kmake() {
	if ! make -C "$ksrc" O="$kbuild" "${kargs[@]}" "$@" >>"$buildlog" 2>&1; then
		tail -n 60 "$buildlog" >&2
		die "kernel make $* failed (full log: $buildlog)"
	fi
}

mapfile -t fragments < <(rvcap_fragments)
log "configuring the $RVCAP_FLAVOUR kernel in $kbuild"
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

log "building the $RVCAP_FLAVOUR kernel with $jobs jobs (log: $buildlog)"
start=$SECONDS
kmake -j"$jobs" bzImage modules
kmake modules_install INSTALL_MOD_PATH="$kout/modroot" INSTALL_MOD_STRIP=1
kmake headers_install INSTALL_HDR_PATH="$kout/usr"
log "$RVCAP_FLAVOUR kernel built in $((SECONDS - start)) s"

touch "$kout/.complete"
echo "$kout"
