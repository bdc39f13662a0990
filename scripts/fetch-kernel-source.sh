#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Linux 7.3's source for KERNEL=7.3: Debian's linux-source-7.3 from
# trixie-backports, downloaded with a private apt state (nothing is installed
# on the host, Debian 12 or 13) and unpacked with dpkg-deb into
#   $RVCAP_CACHE/src/linux-source-7.3/linux-source-7.3.tar.xz
# with the package's version in .../version (the kernel's cache key reads
# it). Fetched once: a newer backport is taken by removing that directory.
# For KERNEL=6.12 there is nothing to do (the host's linux-source-6.12).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[[ $RVCAP_KERNEL == 7.3 ]] || exit 0
dir=$RVCAP_CACHE/src/linux-source-7.3
[[ -e $dir/version && -e $RVCAP_KSRC_TARBALL ]] && exit 0

say "fetching linux-source-7.3 (167 MB) from Debian trixie-backports... (log: $dir/apt.log)"
rvcap_trixie_apt "$dir" amd64 trixie-backports
rm -f "$dir"/debs/linux-source-7.3_*.deb
(cd "$dir/debs" && apt-get "${trixie_apt[@]}" download linux-source-7.3 >>"$dir/apt.log" 2>&1) || {
	tail -n 20 "$dir/apt.log" >&2
	die "cannot download linux-source-7.3 from trixie-backports"
}
deb=$(echo "$dir"/debs/linux-source-7.3_*.deb)
rm -rf "$dir/unpack"
dpkg-deb -x "$deb" "$dir/unpack"
mv "$dir/unpack/usr/src/linux-source-7.3.tar.xz" "$RVCAP_KSRC_TARBALL"
dpkg-deb -f "$deb" Version >"$dir/version"
rm -rf "$dir/unpack" "$deb"
say "linux-source-7.3 $(cat "$dir/version") is in $dir"
