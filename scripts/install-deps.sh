#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Install what building and testing rvcap needs: Debian packages and a pinned
# bindgen from crates.io. Idempotent: present pieces are detected and skipped,
# so that a machine with everything prints nothing. Each install says what it
# does and where its log is (under $RVCAP_CACHE/logs).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

packages=(
	# kernel source and the Rust/LLVM toolchain that builds it; cargo-web is
	# Debian's cargo for rustc-web (a brand-new Debian has no cargo at all).
	# LLVM 19: Debian 13's, and Debian 12's since a 2025 point release;
	# Linux 7.3 needs 17 or newer (scripts/lib.sh)
	linux-source-6.12 rustc-web rust-web-src rust-web-clippy rustfmt-web cargo-web
	clang-19 lld-19 llvm-19 libclang-19-dev
	make gcc libc6-dev flex bison bc libelf-dev libssl-dev xz-utils rsync
	perl python3 python3-pil python3-matplotlib dkms git ca-certificates
	# the guest: emulator, shell, initramfs tools (v4l-utils: see below;
	# readelf lists the libraries its programs need)
	qemu-system-x86 busybox-static cpio kmod binutils
	# the arm64 guest (make ARCH=arm64 ...): its emulator, and a C cross
	# compiler and C library for its static test programs (the kernel needs
	# only LLVM; the library is only a recommendation of the compiler)
	qemu-system-arm gcc-aarch64-linux-gnu libc6-dev-arm64-cross
)

logs=$RVCAP_CACHE/logs

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done

# apt's "Get:", "Unpacking" and "Setting up" lines against the packages it
# said it would install or upgrade ("N upgraded, M newly installed").
apt_status() {
	local total got unpacked set
	total=$(sed -n 's/^\([0-9]*\) upgraded, \([0-9]*\) newly installed.*/\1 + \2/p' "$logs/apt.log" | tail -n 1)
	[[ -z $total ]] || total=$((total))
	[[ -n $total ]] || { echo "reading package lists"; return; }
	got=$(awk '/newly installed/ { n = 0; on = 1 } on && /^Get:/ { n++ } END { print n + 0 }' "$logs/apt.log")
	unpacked=$(grep -c '^Unpacking ' "$logs/apt.log")
	set=$(grep -c '^Setting up ' "$logs/apt.log")
	echo "of $total packages: $got downloaded, $unpacked unpacked, $set set up"
}

if ((${#missing[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		die "missing Debian packages; as root run: apt-get install ${missing[*]}"
	fi
	mkdir -p "$logs"
	: >"$logs/apt.log"
	rvcap_progress "apt-get update" "$logs/apt.log" "" apt-get update -q ||
		die "apt-get update failed (log: $logs/apt.log)"
	# An old Debian 12 mirror lacks LLVM 19: say so rather than let apt.
	# (The whole output first: `| grep -q` under pipefail would count
	# apt-cache's SIGPIPE as a failure.)
	policy=$(apt-cache policy clang-19 2>/dev/null) || policy=""
	if [[ " ${missing[*]} " == *" clang-19 "* && ! $policy =~ Candidate:\ [0-9] ]]; then
		die "no clang-19 in this machine's Debian sources: Debian 12 has it since a 2025 point release (bookworm main, 19.1.7-3~deb12u1), Debian 13 in trixie; update the apt sources"
	fi
	say "Debian packages to install: ${missing[*]}"
	rvcap_progress "installing ${#missing[@]} Debian packages and their dependencies" \
		"$logs/apt.log" apt_status \
		env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" || {
		tail -n 20 "$logs/apt.log" >&2
		die "apt-get install failed (log: $logs/apt.log)"
	}
fi

# cargo's "Compiling <crate>" lines so far, and the last one.
cargo_status() {
	local n last
	n=$(grep -c '^ *Compiling ' "$logs/bindgen.log")
	last=$(grep '^ *Compiling ' "$logs/bindgen.log" | tail -n 1 | awk '{print $2}')
	echo "$n crates compiled${last:+, last $last}"
}

if ! "$RVCAP_BINDGEN" --version 2>/dev/null | grep -qx "bindgen $RVCAP_BINDGEN_VERSION"; then
	[[ -x $RVCAP_CARGO ]] || die "no cargo at $RVCAP_CARGO (Debian: cargo-web; or set RVCAP_CARGO)"
	mkdir -p "$logs"
	: >"$logs/bindgen.log"
	# Built by Debian's rustc, whatever rustup toolchain PATH may offer.
	rvcap_progress "building bindgen-cli $RVCAP_BINDGEN_VERSION from crates.io into $RVCAP_BINDGEN_ROOT" \
		"$logs/bindgen.log" cargo_status \
		env RUSTC="$RVCAP_RUSTC" "$RVCAP_CARGO" install --locked "bindgen-cli@$RVCAP_BINDGEN_VERSION" \
		--root "$RVCAP_BINDGEN_ROOT" || {
		tail -n 20 "$logs/bindgen.log" >&2
		die "cargo install bindgen-cli failed (log: $logs/bindgen.log)"
	}
fi

# For the guests of both architectures (make check boots both), from Debian
# trixie: v4l2-ctl and v4l2-compliance; gst-launch-1.0 with v4l2src, and
# timeout; and arm64's busybox (x86's is the host's busybox-static).
for arch in x86 arm64; do
	RVCAP_ARCH=$arch "$(dirname "$0")"/fetch-guest-v4l-utils.sh >/dev/null
	RVCAP_ARCH=$arch "$(dirname "$0")"/fetch-guest-gstreamer.sh >/dev/null
done
"$(dirname "$0")"/fetch-guest-arm64.sh >/dev/null

# Linux 7.3's source (make check builds and boots both kernels; the 6.12
# one is the linux-source-6.12 package above).
RVCAP_KERNEL=7.3 "$(dirname "$0")"/fetch-kernel-source.sh
