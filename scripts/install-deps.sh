#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Install what building and testing rvcap needs: Debian packages and a pinned
# bindgen from crates.io. Idempotent: present pieces are detected and skipped.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

packages=(
	# kernel source and the Rust/LLVM toolchain that builds it; cargo-web is
	# Debian's cargo for rustc-web (a brand-new Debian has no cargo at all)
	linux-source-6.12 rustc-web rust-web-src rust-web-clippy rustfmt-web cargo-web
	clang-14 lld-14 llvm-14 libclang-dev
	make gcc libc6-dev flex bison bc libelf-dev libssl-dev xz-utils rsync
	perl python3 python3-pil python3-matplotlib dkms git ca-certificates
	# the guest: emulator, shell, initramfs tools (v4l-utils: see below)
	qemu-system-x86 busybox-static cpio kmod
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done

if ((${#missing[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		die "missing Debian packages; as root run: apt-get install ${missing[*]}"
	fi
	log "installing Debian packages: ${missing[*]}"
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! "$RVCAP_BINDGEN" --version 2>/dev/null | grep -qx "bindgen $RVCAP_BINDGEN_VERSION"; then
	[[ -x $RVCAP_CARGO ]] || die "no cargo at $RVCAP_CARGO (Debian: cargo-web; or set RVCAP_CARGO)"
	log "installing bindgen-cli $RVCAP_BINDGEN_VERSION into $RVCAP_BINDGEN_ROOT"
	# Built by Debian's rustc, whatever rustup toolchain PATH may offer.
	RUSTC=$RVCAP_RUSTC "$RVCAP_CARGO" install --locked --quiet "bindgen-cli@$RVCAP_BINDGEN_VERSION" \
		--root "$RVCAP_BINDGEN_ROOT"
fi

# v4l2-ctl and v4l2-compliance for the guest, from Debian trixie.
"$(dirname "$0")"/fetch-guest-v4l-utils.sh >/dev/null
