#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make host-test`: cargo test of the pure-Rust sources (tests/host) with
# Debian's cargo and rustc. Everything cargo writes goes under
# $RVCAP_CACHE: the target dir (in the tree, Kbuild's clean would delete
# every *.o in it), CARGO_HOME (the tests have no dependencies, so
# nothing is downloaded) and TMPDIR (rustc's temporary files); --locked
# keeps Cargo.lock as committed. Extra
# arguments go to cargo test (for example --quiet, or a test name). Exits
# non-zero when a test fails or the tests do not build.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[[ -x $RVCAP_CARGO ]] || die "no cargo at $RVCAP_CARGO (run: make deps, or set RVCAP_CARGO)"
mkdir -p "$RVCAP_CACHE/host-target" "$RVCAP_CACHE/cargo-home" "$RVCAP_CACHE/tmp"
cd "$RVCAP_ROOT/tests/host"
export CARGO_TARGET_DIR=$RVCAP_CACHE/host-target CARGO_HOME=$RVCAP_CACHE/cargo-home
export TMPDIR=$RVCAP_CACHE/tmp RUSTC=$RVCAP_RUSTC
exec "$RVCAP_CARGO" test --locked --offline "$@"
