#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make cleanroom`: the only honest test of the install steps. Builds a
# brand-new Debian 12 (or, with --debian 13, Debian 13) root with
# debootstrap, clones this repository's HEAD
# (committed work only) into it and runs the README's two commands there as
# root with an empty cache: `make check`, then `make run`. Prints each one's
# time and make check's last line ("N passed, N failed"); exits non-zero if
# either fails. Needs root, debootstrap (installed if missing) and about
# 15 GB of disk; takes 60-70 minutes on 2 cores.
#
# What the new user has: Debian as debootstrap makes it (the packages of
# priority required and important: apt, bash, coreutils, ...), plus git,
# ca-certificates and make, which it takes to clone the repository and to
# type `make`. Everything else must come from `make deps`. The machine's
# network set-up is copied in as it is: apt sources (any format, mirror
# included, with the keyrings they name), resolv.conf and the local CA
# certificates of /usr/local/share/ca-certificates. For Debian 13 the
# sources are the same mirrors' trixie, trixie-updates and trixie-security
# (a Debian 13 user's default), whatever release this machine runs. The
# root's package state starts empty on every run.
#
# usage: scripts/cleanroom.sh [--debian 12|13] [--without PKG]... [TARGET...]
#   TARGET          make targets to run, one after the other (default: check run)
#   --debian N      the Debian release of the root (default 12, bookworm)
#   --without PKG   drop PKG from scripts/install-deps.sh's list in the clone
#                   (does the clean room notice a missing package?)
# RVCAP_CLEANROOM   work directory (default /var/tmp/rvcap-cleanroom, and
#                   /var/tmp/rvcap-cleanroom-13 for Debian 13):
#   root/           the Debian root, made anew on every run
#   debs/           downloaded .debs, kept between runs to spare the mirror
#                   (only the downloads: every package is installed afresh)
#   logs/           debootstrap, apt and the targets' output
set -euo pipefail
# The whole script is one group, read before any of it runs: bash reads a
# script as it goes, and this one runs long enough for the file to change
# under it (an edit, a git checkout).
{
source "$(dirname "$0")/lib.sh"

without=() debian=12
while (($#)); do
	case "$1" in
	--without) without+=("$2"); shift 2 ;;
	--debian) debian=$2; shift 2 ;;
	-*) die "unknown option $1 (see the header of $0)" ;;
	*) break ;;
	esac
done
targets=("$@")
((${#targets[@]})) || targets=(check run)

[[ $(id -u) -eq 0 ]] || die "the clean room needs root (debootstrap, chroot, mounts)"
case "$debian" in
12) suite=bookworm work=${RVCAP_CLEANROOM:-/var/tmp/rvcap-cleanroom} ;;
13) suite=trixie work=${RVCAP_CLEANROOM:-/var/tmp/rvcap-cleanroom-13} ;;
*) die "--debian takes 12 or 13, not $debian" ;;
esac
root=$work/root
logs=$work/logs
new_user_packages=(git ca-certificates make)

# Everything mounted inside the root, deepest first.
mounts_under_root() {
	awk -v r="$root" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/mounts | sort -r
}
cleanup() {
	local pid m
	# Processes still running in the root (a VM of a run we interrupted).
	for pid in /proc/[0-9]*; do
		[[ $(readlink "$pid/root" 2>/dev/null) == "$root" ]] && kill "${pid#/proc/}" 2>/dev/null
	done
	while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done < <(mounts_under_root)
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v debootstrap >/dev/null || {
	say "installing debootstrap on this machine"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
}
mirror=$(rvcap_debian_mirror bookworm || rvcap_debian_mirror trixie) ||
	die "no Debian bookworm or trixie source in /etc/apt to take the mirror from"
security=$(rvcap_debian_mirror bookworm-security || rvcap_debian_mirror trixie-security) || security=""

sha=$(git -C "$RVCAP_ROOT" rev-parse HEAD)
[[ -z $(git -C "$RVCAP_ROOT" status --porcelain --untracked-files=no) ]] ||
	say "note: uncommitted changes are not in the clean room, only HEAD ($sha)"

# --- a fresh root
cleanup
rm -rf "$root" "$logs"
mkdir -p "$root" "$logs" "$work/debs/debootstrap" "$work/debs/apt"
rvcap_progress "debootstrap $suite into $root" "$logs/debootstrap.log" "" \
	debootstrap --cache-dir="$work/debs/debootstrap" "$suite" "$root" "$mirror" ||
	die "debootstrap failed (log: $logs/debootstrap.log)"

mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --rbind /dev "$root/dev"
mount --make-rslave "$root/dev"
mkdir -p "$work/debs/apt/partial"
mount --bind "$work/debs/apt" "$root/var/cache/apt/archives"

# The machine's apt sources and the keyrings they name, as they are; for
# another release, its suites on the same mirrors (trusted through the
# root's own debian-archive-keyring).
rm -f "$root/etc/apt/sources.list"
if [[ $suite == "$(. /etc/os-release && echo "${VERSION_CODENAME:-}")" ]]; then
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] || continue
		install -D -m 0644 "$f" "$root$f"
		grep -ohiE '(signed-by[:=][[:space:]]*)/[^] ,]+' "$f" | sed -E 's/^[^/]*//' | while read -r key; do
			[[ -e $key && ! -e $root$key ]] && install -D -m 0644 "$key" "$root$key"
			true
		done
	done
else
	{
		printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\n' "$mirror" "$suite" "$suite"
		[[ -z $security ]] ||
			printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' "$security" "$suite"
	} >"$root/etc/apt/sources.list.d/debian.sources"
fi
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
# The machine's own CA certificates, which its network may need for HTTPS
# (here: crates.io through an intercepting proxy); installing ca-certificates
# below adds them to the root's bundle, as on the machine itself.
if compgen -G '/usr/local/share/ca-certificates/*' >/dev/null; then
	mkdir -p "$root/usr/local/share/ca-certificates"
	cp -r /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
fi

in_root() { # command line for bash -c, as a root login would run it
	chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		/bin/bash -c "$1"
}

rvcap_progress "installing what a new user has: ${new_user_packages[*]}" "$logs/apt.log" "" \
	in_root "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q ${new_user_packages[*]}" ||
	die "cannot install ${new_user_packages[*]} in the clean room (log: $logs/apt.log)"

# --- a fresh clone, an empty cache
clone=$root/root/rvcap
git clone -q --no-local "$RVCAP_ROOT" "$clone"
git -C "$clone" checkout -q -B cleanroom "$sha"
for p in "${without[@]}"; do
	grep -qw -- "$p" "$clone/scripts/install-deps.sh" || die "--without $p: not in scripts/install-deps.sh"
	sed -i -E "s/(^|[[:space:]])$p([[:space:]]|\$)/\\1\\2/" "$clone/scripts/install-deps.sh"
	say "clean room without the package $p"
done
say "clean room: $(in_root 'head -n 1 /etc/debian_version'), $(in_root 'dpkg-query -W -f . | wc -c') packages, rvcap $(git -C "$clone" log -1 --format='%h %s')"

# --- the README's commands
status=0 report=()
for t in "${targets[@]}"; do
	say "clean room: make $t (log: $logs/make-$t.log)"
	start=$SECONDS rc=0
	in_root "cd /root/rvcap && make $t" 2>&1 | tee "$logs/make-$t.log" || rc=$?
	secs=$((SECONDS - start))
	# make check's "N passed, N failed" (make's own error line may follow it)
	# (make run prints none: no match must not end the script under pipefail)
	last=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$logs/make-$t.log" | tail -n 1 || true)
	[[ -n $last ]] || last=$(tail -n 1 "$logs/make-$t.log")
	report+=("make $t: $(rvcap_duration "$secs"), exit $rc; last line: $last")
	((rc == 0)) || status=1
done

for line in "${report[@]}"; do
	say "clean room: $line"
done
exit "$status"
exit
}
