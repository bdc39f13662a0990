#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# GStreamer for the test VM, from Debian trixie's binary packages, like
# v4l-utils (scripts/fetch-guest-v4l-utils.sh): gst-launch-1.0, the core
# elements (filesink, fakesink), the video4linux2 plugin (v4l2src), and
# coreutils' timeout, which run_kselftest.sh calls with --foreground (busybox's
# has no such option). Trixie's, so that they share the guest's single
# library directory with trixie's v4l-utils, loader and libc.
#
# gstreamer1.0-plugins-good holds some forty plugins and depends on about 200
# packages for them; the two plugins the VM gets need only the libraries of
# the list below, so it is downloaded alone, and the check at the end fails
# if v4l2src misses a library. Nothing is installed on the host: the packages
# are downloaded with a private apt state and unpacked with dpkg-deb into
#   $RVCAP_CACHE/guest-gstreamer/root        (x86: amd64 packages)
#   $RVCAP_CACHE/guest-gstreamer-arm64/root  (RVCAP_ARCH=arm64: arm64 ones)
# Prints that directory on stdout.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# With their dependencies: the libraries of gst-launch-1.0, coreelements and
# v4l2src (libgstvideo and libgstallocators, libgudev, libv4l2), timeout.
with_deps=(gstreamer1.0-tools libgstreamer1.0-0 libgstreamer-plugins-base1.0-0
	libgudev-1.0-0 libv4l-0t64 coreutils)
alone=(gstreamer1.0-plugins-good)

dir=$RVCAP_CACHE/guest-gstreamer$RVCAP_GUEST_SUFFIX
root=$dir/root
want="${with_deps[*]} / ${alone[*]}"
if [[ -e $dir/.complete && $(cat "$dir/packages" 2>/dev/null) == "$want" ]]; then
	echo "$root"
	exit 0
fi
rm -rf "$dir"

say "fetching GStreamer ($RVCAP_DEBIAN_ARCH) from Debian trixie for the test VM... (log: $dir/apt.log)"
rvcap_trixie_apt "$dir" "$RVCAP_DEBIAN_ARCH"
apt=("${trixie_apt[@]}")
mapfile -t packages < <(apt-cache "${apt[@]}" depends --recurse --no-recommends \
	--no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances "${with_deps[@]}" |
	grep -v '^[ <]' | sort -u)
((${#packages[@]})) || die "no dependency list for ${with_deps[*]}"
(cd "$dir/debs" && apt-get "${apt[@]}" download "${packages[@]}" "${alone[@]}" >>"$dir/apt.log" 2>&1) || {
	tail -n 20 "$dir/apt.log" >&2
	die "cannot download ${packages[*]} ${alone[*]}"
}

mkdir -p "$root"
for deb in "$dir"/debs/*.deb; do
	dpkg-deb -x "$deb" "$root"
done

# Check that the libraries of what the VM gets are all there (a package
# missing from the list above shows here) and, where the host can run them,
# that gst-launch-1.0 runs with its own loader and libraries and finds
# v4l2src with only the two plugins the VM gets (in-process, with a private
# registry: nothing is written to the host's GStreamer cache). arm64's first
# run in the VM.
lib=$root/$RVCAP_GUEST_LIBDIR
mapfile -t files < <(rvcap_guest_gst_files)
for f in "${files[@]}"; do
	[[ -e $root/$f ]] || die "no $f in trixie's GStreamer packages"
	rvcap_guest_libs "$root" "$root/$f"
done
if [[ $RVCAP_ARCH == x86 ]]; then
	ld=("$lib/$RVCAP_GUEST_LOADER" --library-path "$lib")
	mkdir -p "$dir/plugins"
	for plugin in coreelements video4linux2; do
		ln -sfn "$lib/gstreamer-1.0/libgst$plugin.so" "$dir/plugins/"
	done
	gst_env=(env GST_PLUGIN_SYSTEM_PATH="$dir/plugins" GST_REGISTRY="$dir/registry.bin"
		GST_REGISTRY_FORK=no)
	# All of its output, then the first line: `| head -n 1` may close the
	# pipe before it has written the rest, and pipefail would count the
	# SIGPIPE as a failure (seen on a Debian 13 host).
	version=$("${gst_env[@]}" "${ld[@]}" "$root/usr/bin/gst-launch-1.0" --version 2>&1) ||
		die "trixie's gst-launch-1.0 does not run: $version"
	version=${version%%$'\n'*}
	"${gst_env[@]}" "${ld[@]}" "$root/usr/bin/gst-inspect-1.0" v4l2src >"$dir/inspect.log" 2>&1 || {
		cat "$dir/inspect.log" >&2
		die "trixie's v4l2src does not load: a library missing? Add its package to $0"
	}
	"${ld[@]}" "$root/usr/bin/timeout" --version >/dev/null || die "trixie's timeout does not run"
else
	version="gst-launch-1.0 $(dpkg-deb -f "$dir"/debs/gstreamer1.0-tools_*.deb Version) ($RVCAP_DEBIAN_ARCH)"
fi
log "guest GStreamer: $version"
echo "$version" >"$dir/version"
echo "$want" >"$dir/packages"
touch "$dir/.complete"
echo "$root"
