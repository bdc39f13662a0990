#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# v4l-utils for the test VM, from Debian trixie's binary packages.
#
# Debian 12 ships v4l-utils 1.22.1, whose v4l2-compliance predates kernel
# 6.12: it expects NV12 to be described as "Y/CbCr 4:2:0" (6.12's core says
# "Y/UV 4:2:0") and CREATE_BUFS' max_num_buffers (6.8) to be reserved and
# zero, so it fails every 6.12 driver, vivid included. Trixie's 1.30.1
# matches. The guest has its own root filesystem (the initramfs), so its
# v4l2-ctl and v4l2-compliance run with trixie's libc and libstdc++ there;
# nothing is installed on the host: the packages are downloaded with a
# private apt state and unpacked with dpkg-deb into
#   $RVCAP_CACHE/guest-v4l-utils/root        (x86: amd64 packages)
#   $RVCAP_CACHE/guest-v4l-utils-arm64/root  (RVCAP_ARCH=arm64: arm64 ones)
# Prints that directory on stdout.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

dir=$RVCAP_CACHE/guest-v4l-utils$RVCAP_GUEST_SUFFIX
root=$dir/root
if [[ -e $dir/.complete ]]; then
	echo "$root"
	exit 0
fi

say "fetching v4l-utils ($RVCAP_DEBIAN_ARCH) from Debian trixie for the test VM... (log: $dir/apt.log)"
start=$SECONDS
rvcap_trixie_apt "$dir" "$RVCAP_DEBIAN_ARCH"
apt=("${trixie_apt[@]}")
mapfile -t packages < <(apt-cache "${apt[@]}" depends --recurse --no-recommends \
	--no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances v4l-utils |
	grep -v '^[ <]' | sort -u)
((${#packages[@]})) || die "no dependency list for v4l-utils"
(cd "$dir/debs" && apt-get "${apt[@]}" download "${packages[@]}" >>"$dir/apt.log" 2>&1) || {
	tail -n 20 "$dir/apt.log" >&2
	die "cannot download ${packages[*]}"
}

rm -rf "$root"
mkdir -p "$root"
for deb in "$dir"/debs/*.deb; do
	dpkg-deb -x "$deb" "$root"
done

# Check that its libraries are all there and, where the host can run it,
# that it runs with them and its own loader (arm64's first runs in the VM).
for bin in v4l2-ctl v4l2-compliance; do
	rvcap_guest_libs "$root" "$root/usr/bin/$bin"
done
if [[ $RVCAP_ARCH == x86 ]]; then
	# All of its output, then the first line (as for gst-launch-1.0 in
	# fetch-guest-gstreamer.sh: no `| head` for pipefail to trip on).
	version=$("$root/$RVCAP_GUEST_LIBDIR/$RVCAP_GUEST_LOADER" --library-path "$root/$RVCAP_GUEST_LIBDIR" \
		"$root/usr/bin/v4l2-compliance" --version 2>&1) ||
		die "trixie's v4l2-compliance does not run: $version"
	version=${version%%$'\n'*}
else
	version="v4l2-compliance $(dpkg-deb -f "$dir"/debs/v4l-utils_*.deb Version) ($RVCAP_DEBIAN_ARCH)"
fi
say "guest v4l-utils: $version, in $(rvcap_duration $((SECONDS - start)))"
echo "$version" >"$dir/version"
touch "$dir/.complete"
echo "$root"
