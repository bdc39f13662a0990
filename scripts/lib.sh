# SPDX-License-Identifier: GPL-2.0
# Shared settings for rvcap's scripts. Source it; do not run it.
#
# Every path that holds downloaded or built artefacts lives under RVCAP_CACHE,
# outside the repository, so that a fresh clone reuses an earlier build.

RVCAP_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RVCAP_CACHE=${RVCAP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rvcap}

# Toolchain (see README "Requirements"): Debian's rustc 1.96 ships core's
# sources; the rustup toolchain that may come first on PATH does not.
RVCAP_RUSTC=${RVCAP_RUSTC:-/usr/bin/rustc}
# LLVM 19 on every host and for both kernels: Debian 13's own, and in
# Debian 12 since its 12.11 point release (7.3 needs LLVM >= 17 for bindgen's
# libclang and for Rust with KASAN). bindgen loads the libclang of
# LIBCLANG_PATH, not whichever other version is installed too.
RVCAP_LLVM=${RVCAP_LLVM:--19}
RVCAP_LIBCLANG_PATH=${RVCAP_LIBCLANG_PATH:-/usr/lib/llvm-19/lib}
RVCAP_CLIPPY_DRIVER=${RVCAP_CLIPPY_DRIVER:-/usr/bin/clippy-driver}
RVCAP_RUSTFMT=${RVCAP_RUSTFMT:-/usr/bin/rustfmt}
# Debian's cargo (cargo-web, the same 1.96 as rustc-web): a brand-new Debian
# has no other, and a rustup one may lack what Debian's rustc provides.
RVCAP_CARGO=${RVCAP_CARGO:-/usr/bin/cargo}
# Debian's Python, where python3-pil installs (a pyenv python may come first).
RVCAP_PYTHON=${RVCAP_PYTHON:-/usr/bin/python3}
RVCAP_BINDGEN_VERSION=0.73.2
RVCAP_BINDGEN_ROOT=$RVCAP_CACHE/tools/bindgen-$RVCAP_BINDGEN_VERSION
RVCAP_BINDGEN=${RVCAP_BINDGEN:-$RVCAP_BINDGEN_ROOT/bin/bindgen}

# The kernels: Debian's linux-source-6.12 (the LTS, the default) or
# linux-source-7.3 (from trixie-backports, scripts/fetch-kernel-source.sh),
# tinyconfig, our Kconfig fragments. RVCAP_KERNEL (make KERNEL=...) picks.
# Flavour "test" (make check, run, stress, shell) has every debugging aid;
# "bench" (make bench) has none of them.
RVCAP_KERNEL=${RVCAP_KERNEL:-6.12}
case "$RVCAP_KERNEL" in
6.12) RVCAP_KSRC_TARBALL=/usr/src/linux-source-6.12.tar.xz ;;
7.3) RVCAP_KSRC_TARBALL=$RVCAP_CACHE/src/linux-source-7.3/linux-source-7.3.tar.xz ;;
*) echo "[rvcap] KERNEL must be 6.12 or 7.3, not $RVCAP_KERNEL" >&2; exit 1 ;;
esac
RVCAP_FLAVOUR=${RVCAP_FLAVOUR:-test}
# The kernel architecture (the kernel's ARCH: x86 or arm64), from
# `make ARCH=...` or the environment; the host's by default.
RVCAP_ARCH=${RVCAP_ARCH:-${ARCH:-$(uname -m)}}
case "$RVCAP_ARCH" in
x86 | x86_64) RVCAP_ARCH=x86 ;;
arm64 | aarch64) RVCAP_ARCH=arm64 ;;
*) echo "[rvcap] ARCH must be x86 or arm64, not $RVCAP_ARCH" >&2; exit 1 ;;
esac

log() { printf '[rvcap] %s\n' "$*" >&2; }
die() { printf '[rvcap] error: %s\n' "$*" >&2; exit 1; }

# --- Progress. A long phase says what it does and where its log is, on the
# caller's terminal (or CI log) even when the caller sends the phase's own
# output to a log file: scripts/check.sh points RVCAP_PROGRESS_FD at its
# stderr before it redirects its steps. Unset, progress goes to stderr.
rvcap_progress_fd() {
	local fd=${RVCAP_PROGRESS_FD:-2}
	[[ $fd =~ ^[0-9]+$ ]] && { true >&"$fd"; } 2>/dev/null || fd=2
	echo "$fd"
}
say() { printf '[rvcap] %s\n' "$*" >&"$(rvcap_progress_fd)"; }

# "42 s", "7 min 05 s".
rvcap_duration() {
	if (($1 < 60)); then
		printf '%d s\n' "$1"
	else
		printf '%d min %02d s\n' $(($1 / 60)) $(($1 % 60))
	fi
}

# rvcap_progress WHAT LOG STATUS CMD...: run CMD with its output appended to
# LOG, announcing "WHAT... (log: LOG)" and then, while it runs, the elapsed
# time and what the function STATUS prints (may be "", reads the log; one
# short line): on a terminal one line updated every 2 s, otherwise a plain
# line every RVCAP_PROGRESS_SECS (30) s, never a carriage return. Ends with
# "WHAT: done in T" or "WHAT: failed after T"; returns CMD's status.
rvcap_progress() {
	local what=$1 logf=$2 status=$3 fd
	shift 3
	local start=$SECONDS tty=0 every=${RVCAP_PROGRESS_SECS:-30} next pid rc=0 line more
	fd=$(rvcap_progress_fd)
	[[ -t $fd ]] && tty=1 every=2
	say "$what... (log: $logf)"
	"$@" >>"$logf" 2>&1 &
	pid=$!
	next=$((SECONDS + every))
	while kill -0 "$pid" 2>/dev/null; do
		sleep 1
		((SECONDS >= next)) || continue
		next=$((SECONDS + every))
		line="$what: $(rvcap_duration $((SECONDS - start)))"
		more=""
		[[ -z $status ]] || more=$("$status" 2>/dev/null) || more=""
		[[ -z $more ]] || line+=", $more"
		if ((tty)); then
			printf '\r\033[K[rvcap] %s' "$line" >&"$fd"
		else
			printf '[rvcap] %s\n' "$line" >&"$fd"
		fi
	done
	wait "$pid" || rc=$?
	((tty)) && printf '\r\033[K' >&"$fd"
	if ((rc == 0)); then
		say "$what: done in $(rvcap_duration $((SECONDS - start)))"
	else
		say "$what: failed after $(rvcap_duration $((SECONDS - start))) (log: $logf)"
	fi
	return "$rc"
}

# The Debian mirror this machine's apt already uses (a "deb" source of the
# suite given, default bookworm), from one-line or deb822 sources, so that
# no script names a mirror of its own. Of several sources naming the suite
# (a third party's may: docker's "trixie"), the first whose downloaded
# Release file says "Origin: Debian"; without any (apt never updated), the
# first.
rvcap_debian_mirror() {
	local suite=${1:-bookworm} etc=${RVCAP_APT_ETC:-/etc/apt} f uri lists=${RVCAP_APT_LISTS:-/var/lib/apt/lists}
	local -a uris=()
	for f in "$etc"/sources.list "$etc"/sources.list.d/*.list; do
		[[ -r $f ]] || continue
		mapfile -t -O "${#uris[@]}" uris < <(awk -v s="$suite" '$1 == "deb" {
			i = 2
			if ($2 ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
			if ($(i + 1) == s) print $i }' "$f")
	done
	for f in "$etc"/sources.list.d/*.sources; do
		[[ -r $f ]] || continue
		mapfile -t -O "${#uris[@]}" uris < <(awk -v s="$suite" '
			function flush() {
				if (deb && !off && uri != "" && (" " suites " ") ~ (" " s " ")) print uri
				deb = 0; off = 0; uri = ""; suites = ""
			}
			/^[ \t]*$/ { flush(); next }
			/^#/ { next }
			tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
			tolower($1) == "uris:" { uri = $2 }
			tolower($1) == "suites:" { $1 = ""; suites = $0 }
			tolower($1) == "enabled:" && tolower($2) == "no" { off = 1 }
			END { flush() }' "$f")
	done
	((${#uris[@]})) || return 1
	for uri in "${uris[@]}"; do
		uri=${uri%/}
		# apt's name for the list: the URI without its scheme, / as _.
		f=$lists/$(printf '%s' "${uri#*://}" | tr / _)_dists_${suite}_
		if grep -qsx 'Origin: Debian' "${f}InRelease" "${f}Release"; then
			echo "$uri"
			return 0
		fi
	done
	echo "${uris[0]%/}"
}

# A private apt state in DIR/apt for Debian trixie's binary packages (the
# guest's userspace; with SUITES "trixie-backports", linux-source-7.3), from
# the mirror this machine's apt uses for Debian (bookworm or trixie); nothing
# is installed on the host. Sets the array trixie_apt to the options apt-get
# and apt-cache need, creates DIR/debs, and reads the package lists
# (log: DIR/apt.log).
rvcap_trixie_apt() { # DIR [ARCH: amd64 (default) or arm64] [SUITES: trixie]
	local dir=$1 arch=${2:-amd64} suites=${3:-trixie} mirror suite
	mkdir -p "$dir/apt/lists/partial" "$dir/apt/cache" "$dir/debs"
	mirror=$(rvcap_debian_mirror bookworm || rvcap_debian_mirror trixie) ||
		die "no Debian bookworm or trixie source in /etc/apt (sources.list or sources.list.d) to take the mirror from"
	for suite in $suites; do
		echo "deb $mirror $suite main"
	done >"$dir/apt/sources.list"
	trixie_apt=(-q -o Dir::Etc::sourcelist="$dir/apt/sources.list" -o Dir::Etc::sourceparts=-
		-o Dir::State::Lists="$dir/apt/lists" -o Dir::Cache="$dir/apt/cache"
		-o Dir::State::status=/dev/null -o APT::Architecture="$arch"
		-o APT::Sandbox::User=root)
	apt-get "${trixie_apt[@]}" update >"$dir/apt.log" 2>&1 || {
		cat "$dir/apt.log" >&2
		die "cannot read Debian $suites's package lists"
	}
}

# An LLVM tool's name as the kernel's Makefile derives it from LLVM=: a
# suffix (-19: clang-19), a prefix (/opt/llvm/bin/) or neither (LLVM=1).
rvcap_llvm_tool() {
	case "$RVCAP_LLVM" in
	*/) printf '%s%s\n' "$RVCAP_LLVM" "$1" ;;
	-*) printf '%s%s\n' "$1" "$RVCAP_LLVM" ;;
	*) printf '%s\n' "$1" ;;
	esac
}

# Arguments every kernel or module make needs. Without the cached bindgen
# (building against a user's own kernel, DKMS), a bindgen on PATH will do.
# CC and LD repeat what LLVM= implies, on purpose: DKMS appends "CC=clang
# LD=ld.lld" (dkms 3.0's prepare_build reads vmlinux's .comment or
# CONFIG_CC_IS_CLANG; 3.2 appends "LLVM=1") to the make command for a
# clang-built kernel, and those
# unversioned names need not exist (Debian's clang-19 and lld-19 install
# clang-19 and ld.lld-19 only) or may be another compiler than the one that
# built the kernel. Variables named on the kernel make's own command line
# win over the ones inherited from DKMS's make.
rvcap_kmake_args() {
	local bindgen=$RVCAP_BINDGEN
	[[ -x $bindgen ]] || bindgen=$(command -v bindgen || echo "$bindgen")
	# x86 is the host's: the kernel make finds it without ARCH=.
	[[ $RVCAP_ARCH == x86 ]] || printf '%s\n' "ARCH=$RVCAP_ARCH"
	printf '%s\n' "LLVM=$RVCAP_LLVM" "CC=$(rvcap_llvm_tool clang)" \
		"LD=$(rvcap_llvm_tool ld.lld)" "RUSTC=$RVCAP_RUSTC" \
		"BINDGEN=$bindgen" "LIBCLANG_PATH=$RVCAP_LIBCLANG_PATH" \
		"CLIPPY_DRIVER=$RVCAP_CLIPPY_DRIVER" "RUSTFMT=$RVCAP_RUSTFMT"
}

# Version of the kernel's linux-source package, e.g. 6.12.117-1_deb12u1 or
# 7.3.4-1_bpo13_1 (characters that paths handled by make should not carry
# are replaced): 6.12's installed package, 7.3's fetched one.
rvcap_ksrc_pkgver() {
	local v
	case "$RVCAP_KERNEL" in
	6.12)
		v=$(dpkg-query -W -f '${Version}' linux-source-6.12 2>/dev/null) ||
			die "linux-source-6.12 is not installed (run: make deps)"
		;;
	7.3)
		v=$(cat "$RVCAP_CACHE/src/linux-source-7.3/version" 2>/dev/null) ||
			die "linux-source-7.3 is not fetched (run: make deps)"
		;;
	esac
	printf '%s\n' "$v" | tr '~+:' '___'
}

# The Kconfig fragments of the flavour in use, in merge order.
rvcap_fragments() {
	printf '%s\n' "$RVCAP_ROOT/configs/rvcap-base.config" "$RVCAP_ROOT/configs/rvcap-$RVCAP_ARCH.config"
	case "$RVCAP_FLAVOUR/$RVCAP_ARCH" in
	test/*)
		printf '%s\n' "$RVCAP_ROOT/configs/rvcap-debug.config"
		[[ ! -e $RVCAP_ROOT/configs/rvcap-debug-$RVCAP_KERNEL.config ]] ||
			printf '%s\n' "$RVCAP_ROOT/configs/rvcap-debug-$RVCAP_KERNEL.config"
		;;
	bench/x86) printf '%s\n' "$RVCAP_ROOT/configs/rvcap-bench.config" ;;
	bench/*) die "no $RVCAP_ARCH benchmark kernel: make bench runs on x86" ;;
	*) die "RVCAP_FLAVOUR must be test or bench, not $RVCAP_FLAVOUR" ;;
	esac
}

# The cache key: flavour, kernel package version, fragments, and the
# compilers whose output (Rust metadata in particular) modules must match.
rvcap_kernel_key() {
	local sum
	sum=$({
		rvcap_fragments | xargs cat
		"$RVCAP_RUSTC" --version
		"$(rvcap_llvm_tool clang)" --version | head -n 1
		echo "bindgen $RVCAP_BINDGEN_VERSION"
	} | sha256sum | cut -c1-12)
	# x86 kernels keep the name they had before arm64 came.
	local flavour=$RVCAP_FLAVOUR
	[[ $RVCAP_ARCH == x86 ]] || flavour+=-$RVCAP_ARCH
	local version
	version=$(rvcap_ksrc_pkgver) || return 1
	printf '%s-%s-%s\n' "$flavour" "$version" "$sum"
}

# Where the guest's test programs go: tests/selftests/out and tools/out for
# x86, with an -arm64 suffix for arm64 (the VM has them as /tests, /usr/bin).
# scripts/check.sh points its VMs at a snapshot of them instead, so that
# `make run` may rebuild the tree's while VMs boot.
RVCAP_GUEST_SUFFIX=${RVCAP_ARCH/#x86/}
RVCAP_GUEST_SUFFIX=${RVCAP_GUEST_SUFFIX:+-$RVCAP_GUEST_SUFFIX}
# Built against a kernel's UAPI headers and kselftest harness, they also
# carry a -7.3 suffix for Linux 7.3 (RVCAP_BUILD_SUFFIX; 6.12 has none).
RVCAP_KERNEL_SUFFIX=${RVCAP_KERNEL/#6.12/}
RVCAP_BUILD_SUFFIX=$RVCAP_GUEST_SUFFIX${RVCAP_KERNEL_SUFFIX:+-$RVCAP_KERNEL_SUFFIX}
RVCAP_SELFTESTS_OUT=${RVCAP_SELFTESTS_OUT:-$RVCAP_ROOT/tests/selftests/out$RVCAP_BUILD_SUFFIX}
RVCAP_TOOLS_OUT=${RVCAP_TOOLS_OUT:-$RVCAP_ROOT/tools/out$RVCAP_BUILD_SUFFIX}

# The guest's Debian architecture, its library directory and its dynamic
# loader (PT_INTERP is /lib64/... on x86, /lib/... on arm64; the initramfs
# has both as links to usr/lib).
case "$RVCAP_ARCH" in
x86)
	RVCAP_DEBIAN_ARCH=amd64 RVCAP_GUEST_LIBDIR=usr/lib/x86_64-linux-gnu
	RVCAP_GUEST_LOADER=ld-linux-x86-64.so.2
	;;
arm64)
	RVCAP_DEBIAN_ARCH=arm64 RVCAP_GUEST_LIBDIR=usr/lib/aarch64-linux-gnu
	RVCAP_GUEST_LOADER=ld-linux-aarch64.so.1
	;;
esac

# Sets the array guest_libs to the shared libraries FILE... need, directly
# or through each other, from ROOT's library directory. Read from the ELF
# files' NEEDED entries (readelf reads any architecture's), not by running
# the loader, which the host cannot do for arm64.
rvcap_guest_libs() { # ROOT FILE...
	local root=$1 file name lib
	shift
	local -a todo=("$@")
	local -A seen=()
	guest_libs=()
	while ((${#todo[@]})); do
		file=${todo[0]}
		todo=("${todo[@]:1}")
		while read -r name; do
			[[ -z ${seen[$name]:-} ]] || continue
			seen[$name]=1
			lib=$root/$RVCAP_GUEST_LIBDIR/$name
			[[ -e $lib ]] || die "${file#"$root"/} needs $name, which is not in $root/$RVCAP_GUEST_LIBDIR"
			guest_libs+=("$lib")
			todo+=("$lib")
		done < <(readelf -d "$file" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p')
	done
}

# What the VM gets of GStreamer (scripts/fetch-guest-gstreamer.sh): the tools,
# coreutils' timeout, the plugin scanner, the core elements and v4l2src.
rvcap_guest_gst_files() {
	printf '%s\n' usr/bin/gst-launch-1.0 usr/bin/gst-inspect-1.0 usr/bin/timeout \
		"$RVCAP_GUEST_LIBDIR/gstreamer1.0/gstreamer-1.0/gst-plugin-scanner" \
		"$RVCAP_GUEST_LIBDIR/gstreamer-1.0/libgstcoreelements.so" \
		"$RVCAP_GUEST_LIBDIR/gstreamer-1.0/libgstvideo4linux2.so"
}

# Whether FILE is an arm64 ELF object or executable: e_machine (offset 18)
# is EM_AARCH64, 0xb7.
rvcap_is_arm64_elf() {
	[[ $(od -An -j18 -N2 -tx1 "$1" | tr -d ' ') == b700 ]]
}

# The kernel image target, as under arch/$ARCH/boot/.
rvcap_kernel_image() {
	case "$RVCAP_ARCH" in
	x86) echo bzImage ;;
	arm64) echo Image ;;
	esac
}

# (Each fails, with rvcap_ksrc_pkgver's message, when the source is missing.)
rvcap_ksrc_dir() {
	local version
	version=$(rvcap_ksrc_pkgver) || return 1
	printf '%s/src/linux-source-%s\n' "$RVCAP_CACHE" "$version"
}
rvcap_kernel_dir() {
	local key
	key=$(rvcap_kernel_key) || return 1
	printf '%s/kernel/%s\n' "$RVCAP_CACHE" "$key"
}

# rustc's version as the kernel encodes it: 1.96.0 -> 109600.
rvcap_rustc_version_code() {
	"$RVCAP_RUSTC" --version | awk '{ split($2, v, "."); printf "%d\n", v[1] * 100000 + v[2] * 100 + v[3] }'
}
