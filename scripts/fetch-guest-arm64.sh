#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The arm64 test VM's busybox, from Debian trixie's arm64 busybox-static
# package: downloaded with a private apt state (nothing is installed on the
# host) and unpacked with dpkg-deb into
#   $RVCAP_CACHE/guest-arm64/root
# Prints that directory on stdout.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

dir=$RVCAP_CACHE/guest-arm64
root=$dir/root
if [[ -e $dir/.complete ]]; then
	echo "$root"
	exit 0
fi

say "fetching busybox for the arm64 test VM... (log: $dir/apt.log)"
rvcap_trixie_apt "$dir" arm64
(cd "$dir/debs" && apt-get "${trixie_apt[@]}" download busybox-static >>"$dir/apt.log" 2>&1) || {
	tail -n 20 "$dir/apt.log" >&2
	die "cannot download busybox-static (arm64)"
}
rm -rf "$root"
mkdir -p "$root"
for deb in "$dir"/debs/*.deb; do
	dpkg-deb -x "$deb" "$root"
done
# Merged /usr, as the initramfs has it.
if [[ -e $root/bin/busybox && ! -e $root/usr/bin/busybox ]]; then
	mkdir -p "$root/usr/bin"
	mv "$root/bin/busybox" "$root/usr/bin/busybox"
fi
rvcap_is_arm64_elf "$root/usr/bin/busybox" ||
	die "$root/usr/bin/busybox is not an arm64 executable"
touch "$dir/.complete"
echo "$root"
