#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make check`: every test level, from a fresh machine if need be.
#   build  the module builds with zero warnings, also under CLIPPY=1, for
#          Linux 6.12 and 7.3, x86 and arm64; rustfmt and checkpatch are
#          clean; modinfo carries what loading needs; DKMS builds it against
#          both test kernels
#   host   `cargo test` of the pure-Rust sources (tests/host)
#   guest  kselftests, v4l2-compliance and v4l2-ctl under QEMU, in a coherent
#          boot, a swiotlb=force boot (every DMA bounced: missing syncs
#          show) and an IOMMU boot (q35, intel-iommu, rvcap's DMA done by
#          QEMU's edu device: every DMA address an IOVA), each boot also
#          counting "the guest kernel log is clean"; the three again on
#          Linux 7.3, and on arm64 (6.12) a direct and a bounced boot
#   bench  `make bench`'s measurements and report, with few frames
#   run    `make run`, and the PNG frames it writes show the patterns
# Prints one line per result; the last line is "N passed, N failed".
set -uo pipefail
# The whole script is one group, read before any of it runs: bash reads a
# script as it goes, and this one runs long enough for the file to change
# under it (an edit, a git checkout).
{
# Both architectures and both kernels, whatever ARCH and KERNEL say: the
# host's (x86) and 6.12 first, arm64 and 7.3 where named.
# (make passes command-line variables down in MAKEFLAGS too.)
unset ARCH RVCAP_ARCH KERNEL RVCAP_KERNEL MAKEFLAGS MFLAGS MAKEOVERRIDES
source "$(dirname "$0")/lib.sh"
cd "$RVCAP_ROOT"

logs=$RVCAP_CACHE/check
rm -rf "$logs"
mkdir -p "$logs"
passed=0 failed=0 skipped=0

# Each step's output goes to its log; what the steps say about their long
# phases (scripts/lib.sh: say, rvcap_progress) still reaches our stderr.
exec {RVCAP_PROGRESS_FD}>&2
export RVCAP_PROGRESS_FD

record() { # level status name [count]
	local n=${4:-1}
	case "$2" in
	ok) passed=$((passed + n)) ;;
	skip) skipped=$((skipped + n)) ;;
	*) failed=$((failed + n)) ;;
	esac
	# A name never carries a control character (tools reading this trip).
	printf '%-7s %-5s %s\n' "$2" "$1" "${3//[[:cntrl:]]/?}"
}

summary() {
	local line="$passed passed, $failed failed"
	((skipped)) && line+=", $skipped skipped"
	echo "$line"
	((failed == 0))
	exit
}

# Runs "$@" with output to $logs/$name.log; on failure shows its tail.
# Says which step starts, except for the many quick checkpatch ones.
logged() { # name cmd...
	local name=$1
	shift
	[[ $name == checkpatch-* ]] || say "check: $name... (log: $logs/$name.log)"
	if "$@" >"$logs/$name.log" 2>&1; then
		return 0
	fi
	echo "---- $name failed; last lines of $logs/$name.log:"
	tail -n 40 "$logs/$name.log"
	return 1
}

# --- prerequisites: a failure here leaves nothing to test
if ! logged deps scripts/install-deps.sh; then
	record setup FAIL "dependencies install"
	summary
fi
if ! logged kernel scripts/build-kernel.sh; then
	record setup FAIL "test kernel builds with every fragment option"
	summary
fi
kout=$(rvcap_kernel_dir)
ksrc=$(rvcap_ksrc_dir)
mapfile -t kargs < <(rvcap_kmake_args)
kmake=(make -C "$kout/build" M="$RVCAP_ROOT" "${kargs[@]}")

# --- build level
# Compiler, clippy and modpost diagnostics: "warning:", "error[E0308]:", ...
diag='\b(warning|error)(\[[^]]*\])?:'
# Clippy first, so that the rvcap.ko left behind is the plain rustc build.
for variant in clippy plain; do
	extra=()
	[[ $variant == clippy ]] && extra=(CLIPPY=1)
	"${kmake[@]}" clean >/dev/null 2>&1
	# Through the Makefile, which records the kernel the tree's objects are
	# for (so that `make run` after it does not rebuild them).
	if logged "module-$variant" make KDIR="$kout/build" "${extra[@]}" modules; then
		if grep -Eiq "$diag" "$logs/module-$variant.log"; then
			grep -Ei -A6 "$diag" "$logs/module-$variant.log" | head -n 40
			record build FAIL "module builds for x86, Linux 6.12, with zero warnings ($variant)"
		else
			record build ok "module builds for x86, Linux 6.12, with zero warnings ($variant)"
		fi
	else
		record build FAIL "module builds for x86, Linux 6.12, with zero warnings ($variant)"
	fi
done
[[ -e rvcap.ko ]] || summary
# The guest programs (kselftests, tools) for x86: with rvcap.ko, all the
# first boots need, which start right after (below).
if ! logged guest-programs scripts/build-guest.sh; then
	record guest FAIL "kselftests and guest tools build"
	summary
fi

# The other kernels: rvcap.ko builds with zero warnings, plain and with
# clippy, in a copy of the sources per kernel, so that the tree's rvcap.ko
# stays x86 6.12's: for arm64, where non-coherent capture hardware lives
# (cross-built for rvcap's arm64 test kernel, built and cached on first use
# like the x86 one), for Linux 7.3 on x86 (the module its boots load), and
# for 7.3 on arm64, which make check does not boot: there the kernel is
# only prepared (`make modules_prepare`: its kernel crate and headers), and
# the module's objects are compiled and linked into rvcap.o (not rvcap.ko:
# no modpost).
other_module() { # kernel arch variant
	local kernel=$1 arch=$2 k src=$RVCAP_CACHE/module-$1-$2 extra=() how=()
	[[ $3 == clippy ]] && extra=(CLIPPY=1)
	[[ $kernel/$arch == 7.3/arm64 ]] && how=(--prepared)
	k=$(RVCAP_KERNEL=$kernel RVCAP_ARCH=$arch scripts/build-kernel.sh "${how[@]}") || return 1
	mkdir -p "$src"
	git ls-files --cached --others --exclude-standard | rsync -a --delete-after --files-from=- ./ "$src/"
	local args
	mapfile -t args < <(RVCAP_KERNEL=$kernel RVCAP_ARCH=$arch rvcap_kmake_args)
	make -C "$k/build" M="$src" "${args[@]}" clean >/dev/null 2>&1
	if ((${#how[@]})); then
		# rvcap.o: Kbuild's every object for rvcap.ko linked with ld -r, no
		# modpost (the prepared tree has no Module.symvers). Every rvcap_
		# symbol an object uses must be defined by another: nothing of
		# rvcap's own left undefined.
		make -C "$k/build" M="$src" "${args[@]}" "${extra[@]}" rvcap.o || return 1
		local undefined
		undefined=$(nm -u "$src/rvcap.o" | grep ' rvcap_')
		[[ -z $undefined ]] || {
			echo "undefined in rvcap.o: $undefined"
			return 1
		}
		rvcap_is_arm64_elf "$src/rvcap.o"
		return
	fi
	make -C "$k/build" M="$src" "${args[@]}" "${extra[@]}" modules || return 1
	case "$arch" in
	arm64) rvcap_is_arm64_elf "$src/rvcap.ko" ;;
	x86) [[ $(modinfo -F vermagic "$src/rvcap.ko") == "$(cat "$k/build/include/config/kernel.release") "* ]] ;;
	esac
}
# Counts one guest run's results from its output.log: TAP lines of each
# suite, v4l2-compliance's summary line, and the kernel-log verdict. Emits
# "status count name" lines. The guest's serial console ends lines with
# "\r\n"; the carriage returns go first, so that no name carries one.
# run_kselftest.sh nests each program's TAP ("# ok 3 ...") inside its own
# ("ok 1 selftests: rvcap: PROG"): both count, the inner lines under the
# program's name, the outer one as the runner's verdict on the program
# (a crash or a time-out shows there), and a program the runner announced
# but never judged fails.
guest_results() { # output.log
	awk '
		{ gsub(/[\r]/, "") }
		/^rvcap-kselftest-begin/ { ks = 1; kplan = 0; kseen = 0; prog = ""; next }
		ks && /^1\.\.[0-9]+/ { kplan = substr($1, 4) + 0; next }
		ks && /^# selftests: / { prog = $NF; plan = 0; seen = 0; next }
		ks && prog != "" && /^# 1\.\.[0-9]+/ { plan = substr($2, 4) + 0; next }
		ks && prog != "" && /^# (not )?ok [0-9]+ / {
			seen++
			st = /^# not ok/ ? "FAIL" : (/# SKIP/ ? "skip" : "ok")
			sub(/^# (not )?ok [0-9]+ /, "")
			print st, 1, prog ": " $0
			next
		}
		ks && /^(not )?ok [0-9]+ selftests: / {
			for (i = seen + 1; i <= plan; i++) print "FAIL", 1, prog ": test " i " never reported (crash?)"
			if (seen == 0 && plan == 0) print "FAIL", 1, prog ": no TAP results"
			st = /^not ok/ ? "FAIL" : (/# SKIP/ ? "skip" : "ok")
			sub(/^(not )?ok [0-9]+ /, "")
			print st, 1, "run_kselftest.sh: " $0
			kseen++; prog = ""
			next
		}
		/^rvcap-kselftest-end/ {
			if (prog != "") print "FAIL", 1, "run_kselftest.sh: selftests: rvcap: " prog " never finished"
			if (kplan == 0 || kseen < kplan)
				print "FAIL", 1, "run_kselftest.sh: " kseen " of " kplan " programs reported, exit " $NF
			ks = 0; next
		}
		/^rvcap-suite-begin: / { suite = $2; plan = 0; seen = 0; next }
		/^rvcap-suite-end: / {
			for (i = seen + 1; i <= plan; i++) print "FAIL", 1, suite ": test " i " never reported (crash?)"
			if (seen == 0) print "FAIL", 1, suite ": no TAP results, exit " $4
			suite = ""; next
		}
		suite != "" && /^1\.\.[0-9]+/ { plan = substr($1, 4) + 0; next }
		suite != "" && /^(not )?ok [0-9]+ / {
			seen++
			st = /^not ok/ ? "FAIL" : (/# SKIP/ ? "skip" : "ok")
			sub(/^(not )?ok [0-9]+ /, "")
			print st, 1, suite ": " $0
			next
		}
		/^rvcap-compliance-begin: / { comp = substr($0, 25); total = 0; gaps = 0; skipped = 0; drops = 0; known_bad = 0; split("", known); next }
		# Tests the device under test fails on its own, whoever exports
		# (tests/plans/check.sh says which and why): each such failure is
		# reported as a skip, named; any other failure fails.
		comp != "" && /^rvcap-compliance-known-fail: / { known[substr($0, 30)] = 1; next }
		comp != "" && /^[ \t]*test .*: .*FAIL/ {
			line = $0
			gsub(/\033\[[0-9;]*m/, "", line)
			sub(/^[ \t]*test /, "", line)
			sub(/: FAIL.*/, "", line)
			if (line in known) {
				known_bad++
				print "skip", 1, comp ": test " line ": fails on the device under test by itself, not counted"
			}
			next
		}
		# (v4l2-compliance colours "warn" on a terminal, as the serial port is)
		comp != "" && match($0, /warn.*: v4l2-test-buffers\.cpp\([0-9]+\): got sequence number [0-9]+, expected [0-9]+/) {
			gaps++
			n = split(substr($0, RSTART, RLENGTH), w, /[ ,]+/)
			skipped += w[n - 2] - w[n]
			next
		}
		comp != "" && /^Total for .*Succeeded:/ {
			total = 1
			line = $0
			sub(/.*Succeeded: /, "", line); ok = line + 0
			sub(/.*Failed: /, "", line); bad = line + 0
			sub(/.*Warnings: /, "", line); warn = line + 0
			next
		}
		comp != "" && /^rvcap-compliance-drops: / { drops = $2 + 0; next }
		/^rvcap-compliance-end: / {
			if (!total) {
				print "FAIL", 1, comp ": no summary line, exit " $NF
			} else {
				print "ok", ok, comp ": " ok " tests succeeded"
				if (bad > known_bad) print "FAIL", bad - known_bad, comp ": " bad - known_bad " tests failed"
				# A sequence gap is right where the engine dropped frame
				# periods (tests/plans/check.sh): such warnings pass, named,
				# if the driver counted at least as many drops in the run
				# as numbers were skipped.
				if (warn == 0)
					print "ok", 1, comp ": 0 warnings"
				else if (warn == gaps && skipped <= drops)
					print "ok", 1, comp ": " warn " warnings, all sequence gaps (" skipped " numbers skipped; " drops " frame periods dropped in the run)"
				else
					print "FAIL", 1, comp ": " warn " warnings (" gaps " sequence gaps skipping " skipped " numbers; " drops " frame periods dropped in the run)"
			}
			comp = ""; next
		}
		# The taint flags, as scripts/vm-run.sh judged them (the plan
		# printed them; vm-run.sh says whether only those it allows).
		/^rvcap-vm: taint (not )?allowed: [0-9]+/ {
			print (/not allowed/ ? "FAIL" : "ok"), 1, "guest kernel tainted only by rvcap (O), a judged warning (W) and sw_sync (L): tainted " $NF
			taint_judged = 1
		}
		/^rvcap-vm: kernel log clean/ { print "ok", 1, "guest kernel log clean" }
		/^rvcap-vm: kernel log not clean/ { print "FAIL", 1, "guest kernel log clean" }
		END {
			if (!taint_judged) print "FAIL", 1, "guest kernel taint flags reported and judged"
			if (ks) print "FAIL", 1, "run_kselftest.sh: never finished" (prog != "" ? " (in " prog ")" : "")
			if (suite != "") print "FAIL", 1, suite ": never finished"
		}
	' "$1"
}

# The DMA setups (README "Design"): direct and coherent; bounced
# (swiotlb=force bounces every DMA mapping; 131072 slabs of 2 KiB, 256 MiB,
# hold 32 buffers of the largest frame, 6.2 MB; the tests' 64-buffer queues
# use small frames);
# translated (q35 with an Intel IOMMU, rvcap's DMA master QEMU's edu
# device); and on arm64 (QEMU virt), where rvcap's platform device is not
# DMA-coherent, so that every sync is cache maintenance, direct and bounced.
# Linux 7.3 (x86): the same three DMA setups again, the module built for it.
# name:kernel arguments:vm-run.sh options:architecture:plan arguments:Linux
# The coherent boot also checks the test programs' expectations against
# vivid, videobuf2's reference driver ("validate"): that does not depend on
# rvcap's DMA set-up, so once is enough. The coherent boot of each kernel
# runs the whole client matrix ("interop": GStreamer at every format and
# io-mode, vivid importing rvcap's exports), which does not depend on the
# DMA set-up either; the other boots capture with GStreamer twice per
# node, mmapped and through dma-bufs (tests/plans/check.sh).
x86_boots=(coherent::::'validate interop' swiotlb:' swiotlb=131072,force':: iommu::--iommu:)
arm64_boots=(arm64:::arm64 arm64-swiotlb:' swiotlb=131072,force'::arm64)
linux73_boots=(coherent-7.3::::interop:7.3 swiotlb-7.3:' swiotlb=131072,force'::::7.3 iommu-7.3::--iommu:::7.3)

# Each guest has two vCPUs. In the coherent boot of each kernel, the arm64
# one and the Linux 6.12 IOMMU one (where rvcap_dma_master_test removes edu
# while a thread streams) they run at the same time, each emulated by a
# host thread of its own (QEMU's TCG thread=multi), so the engine thread
# and the ioctls race for real; the bounced boots and the 7.3 IOMMU one,
# there for the DMA path, take turns in one host thread (thread=single:
# one vCPU runs until it idles, takes an interrupt or QEMU's 100 ms
# round-robin kick, never at the same instant as the other), as do the
# bench smoke and `make run`: a fifth less host CPU (scripts/vm-run.sh).
parallel_vcpu_boots=" coherent coherent-7.3 arm64 iommu "

# Boots one VM for a spec and runs the guest plan in it.
boot_one() { # spec
	local name args flags arch plan_arg linux out vm tcg=single
	IFS=: read -r name args flags arch plan_arg linux <<<"$1"
	out=$RVCAP_CACHE/runs/check-$name
	# (The time-out only catches a hung guest: a boot takes 8 to 11
	# minutes, and up to 15 when the host has other work.)
	vm=(scripts/vm-run.sh --quiet --name "check-$name" --out "$out" --timeout 1800)
	[[ -n $args ]] && vm+=(--append "$args")
	[[ -n $flags ]] && vm+=("$flags")
	# The module the build level built (for arm64: cross-built) and the
	# guest programs, as snapshotted when they were built.
	if [[ $arch == arm64 ]]; then
		vm=(env RVCAP_ARCH=arm64 "${arm64_snapshot[@]}" "${vm[@]}")
	elif [[ $linux == 7.3 ]]; then
		vm=(env RVCAP_KERNEL=7.3 "${linux73_snapshot[@]}" "${vm[@]}")
	else
		vm=(env "${x86_snapshot[@]}" "${vm[@]}")
	fi
	[[ $parallel_vcpu_boots != *" $name "* ]] || tcg=multi
	vm=(env RVCAP_VM_TCG_THREAD="$tcg" "${vm[@]}")
	if ! logged "vm-$name" "${vm[@]}" tests/plans/check.sh $plan_arg; then
		grep -E '^(# )?(not ok|#  *FAIL|# .*:[0-9]+:|\s*(fail|warn):)' "$out/output.log" | head -n 30
	fi
}

# --- bench level: `make bench`'s guest plan, rvcap-bench and the report,
# end to end on the test kernel with a few frames per measurement. The
# numbers mean nothing here (a debug kernel); that every measurement runs
# and the table and chart come out does.
bench_smoke() {
	local boot rest args runs=() out=$logs/bench-smoke
	mkdir -p "$out"
	# name:kernel arguments:vm-run.sh options, as in scripts/bench.sh
	for boot in coherent:: swiotlb:' swiotlb=131072,force': iommu::--iommu; do
		rest=${boot#*:}
		boot=${boot%%:*}
		args=${rest%%:*}
		local opts=${rest#*:}
		local vm=(env "${x86_snapshot[@]}" scripts/vm-run.sh --quiet --name "bench-smoke-$boot" --timeout 900)
		[[ -n $args ]] && vm+=(--append "$args")
		[[ -n $opts ]] && vm+=("$opts")
		"${vm[@]}" tests/plans/bench.sh "$boot" 5 2 5 640x480 100 || return 1
		runs+=("$boot=$RVCAP_CACHE/runs/bench-smoke-$boot/output.log")
	done
	"$RVCAP_PYTHON" scripts/bench-report.py "$out" "${runs[@]}" &&
		grep -q '^## Targets' "$out/results.md" &&
		[[ $(head -c 8 "$out/chart.png" | od -An -tx1 | tr -d ' ') == 89504e470d0a1a0a ]]
}
# --- run level: `make run` as users run it; its PNGs must show the patterns.
check_run_pngs() {
	"$RVCAP_PYTHON" - <<'PY'
import sys
from PIL import Image

def px(name, x, y):
    return Image.open(f"out/{name}.png").convert("RGB").getpixel((x, y))

bars = [(191, 191, 191), (191, 191, 0), (0, 191, 191), (0, 191, 0),
        (191, 0, 191), (191, 0, 0), (0, 0, 191), (0, 0, 0)]
for name in ("mmap-colorbar", "dmabuf-heap-colorbar"):
    for i, bar in enumerate(bars):
        got = px(name, 80 * i + 40, 240)
        if got != bar:
            sys.exit(f"{name}: bar {i} is {got}, want {bar}")
if (px("mmap-ramp", 0, 100), px("mmap-ramp", 639, 100)) != ((0, 0, 0), (255, 255, 255)):
    sys.exit("mmap-ramp: not a black to white ramp")
Image.open("out/mmap-verification.png").verify()
PY
}

# x86, then arm64 (`make run ARCH=arm64`, which leaves the tree's rvcap.ko
# built for arm64; the next plain `make` rebuilds it for x86), then Linux
# 7.3 (`make run KERNEL=7.3`). Results go to $logs/run.results ("status
# name" lines), counted after the VM pool.
make_run_checks() {
	local target arch kernel run what
	for target in x86:6.12 arm64:6.12 x86:7.3; do
		arch=${target%:*} kernel=${target#*:}
		rm -rf out
		run=(make run)
		[[ $arch == x86 ]] || run+=(ARCH="$arch")
		[[ $kernel == 6.12 ]] || run+=(KERNEL="$kernel")
		what="make run ($arch, Linux $kernel): PNG frames of every pattern, through MMAP and a dma-heap import"
		if logged "run-$arch-$kernel" "${run[@]}" && logged "run-pngs-$arch-$kernel" check_run_pngs; then
			echo "ok $what" >>"$logs/run.results"
		else
			echo "FAIL $what" >>"$logs/run.results"
		fi
	done
}

# What the VMs boot: each module and the guest programs as built, copied
# as soon as they are, so that `make run` (a job of the pool, below) may
# rebuild the tree's while other VMs boot.
snapshot=$logs/snapshot
rm -rf "$snapshot"
mkdir -p "$snapshot"
snapshot_guest_programs() { # architecture suffix ("" or -arm64)
	local d
	for d in tests/selftests/out$1 tools/out$1; do
		cp -r "$d" "$snapshot/${d//\//_}"
	done
}
cp rvcap.ko "$snapshot/rvcap.ko"
snapshot_guest_programs ""
x86_snapshot=(RVCAP_KO="$snapshot/rvcap.ko" RVCAP_SELFTESTS_OUT="$snapshot/tests_selftests_out"
	RVCAP_TOOLS_OUT="$snapshot/tools_out")
arm64_snapshot=(RVCAP_KO="$snapshot/rvcap-arm64.ko"
	RVCAP_SELFTESTS_OUT="$snapshot/tests_selftests_out-arm64" RVCAP_TOOLS_OUT="$snapshot/tools_out-arm64")
# (The guest programs are the same: only the kernel and the module differ.)
linux73_snapshot=(RVCAP_KO="$snapshot/rvcap-7.3.ko" RVCAP_SELFTESTS_OUT="$snapshot/tests_selftests_out"
	RVCAP_TOOLS_OUT="$snapshot/tools_out")

# --- the VM pool: the boots, the bench smoke and `make run` run as jobs,
# $RVCAP_CHECK_VMS (3) at a time, while the build level goes on. A TCG
# guest's CPUs are busy about 60% of the time (it waits for frame periods,
# timeouts and the engine), so two guests leave part of the two cores idle
# and a third fills them; the floor is the guests' CPU time, about an hour
# of one core (README "Tests"; two fixed lanes of four boots took 48
# minutes). Until the build level is done, one VM fewer runs, so that the
# kernel builds still get a core, unless every kernel is already in the
# cache (a warm run: the build level then only compiles, for about four
# minutes, while the third VM would wait). A job starts once what
# it needs is built: the x86 Linux 6.12 boots and the bench smoke at once
# (rvcap.ko and the guest programs are built above), the Linux 7.3 and the
# arm64 ones when the build level marks their kernel and module done
# ($pool/ready-*), `make run` (all three) when both are. The longest
# jobs go first. Each result is counted afterwards, in boot order.
pool=$logs/pool
pool_vms=${RVCAP_CHECK_VMS:-3}
kernels_cached=false
arm64_73=$(RVCAP_KERNEL=7.3 RVCAP_ARCH=arm64 rvcap_kernel_dir)
[[ -e $(RVCAP_KERNEL=7.3 rvcap_kernel_dir)/.complete && -e $(RVCAP_ARCH=arm64 rvcap_kernel_dir)/.complete ]] &&
	[[ -e $arm64_73/.prepared || -e $arm64_73/.complete ]] && kernels_cached=true
rm -rf "$pool"
mkdir -p "$pool"
rm -f "$logs/bench-smoke.status" "$logs/run.results"
# "job:what it needs" (ready-* marks, after the last colon), longest
# first (check/timing.txt), but the bench smoke early: short, and ready at
# once, it is what the third VM of a warm run starts with while the Linux
# 7.3 and arm64 modules are built, so that the longest boot, coherent-7.3,
# starts next.
pool_jobs=(
	"boot ${linux73_boots[0]}:x86-7.3" "boot ${linux73_boots[1]}:x86-7.3"
	"boot ${x86_boots[0]}:" "boot ${x86_boots[1]}:" "bench:"
	"boot ${linux73_boots[2]}:x86-7.3" "boot ${arm64_boots[0]}:arm64"
	"boot ${x86_boots[2]}:" "boot ${arm64_boots[1]}:arm64"
	"run:x86-7.3 arm64"
)
mark_ready() { # what
	touch "$pool/ready-$1"
}
pool_job() { # job
	case $1 in
	boot\ *) boot_one "${1#boot }" ;;
	bench) (
		export RVCAP_VM_TCG_THREAD=single
		logged bench-smoke bench_smoke
		echo $? >"$logs/bench-smoke.status"
	) ;;
	run) (
		export RVCAP_VM_TCG_THREAD=single
		make_run_checks
	) ;;
	esac
}
pool_worker() { # number
	local job spec key needs need waiting t0
	while :; do
		waiting=0
		for job in "${pool_jobs[@]}"; do
			spec=${job%:*} needs=${job##*:}
			key=${spec#boot } key=${key%%:*}
			[[ -e $pool/claimed-$key ]] && continue
			waiting=1
			# The last worker waits for the build level (if it builds
			# kernels).
			(($1 < pool_vms)) || $kernels_cached || [[ -e $pool/ready-build ]] || continue
			for need in $needs; do
				[[ -e $pool/ready-$need ]] || continue 2
			done
			mkdir "$pool/claimed-$key" 2>/dev/null || continue
			t0=$((SECONDS - pool_t0))
			pool_job "$spec"
			printf 'VM %s: %-14s from %4d s to %4d s\n' "$1" "$key" "$t0" "$((SECONDS - pool_t0))" >>"$pool/schedule"
			continue 2
		done
		((waiting)) || return 0
		sleep 5
	done
}
# The host's CPU time (/proc/stat: busy, idle, in USER_HZ, 100 on x86 and
# arm64 Linux) as the pool starts and ends: how full the pool kept the
# cores (timing.txt; anything else running on the host counts too).
host_cpu() {
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6; exit }' /proc/stat
}
host_cpu >"$pool/host-cpu-start"
pool_t0=$SECONDS
pool_pids=()
for ((worker = 1; worker <= pool_vms; worker++)); do
	pool_worker "$worker" &
	pool_pids+=($!)
done
# Should this script stop before the pool is done (a bug), the workers
# must not wait forever for marks that will not come.
trap 'kill "${pool_pids[@]}" 2>/dev/null' EXIT

# --- build level, continued while the first VMs boot: Linux 7.3, then
# arm64, each kernel built (and cached) on first use, each module built
# plain and with clippy; then the lints, DKMS and the host tests.
# Without the 7.3 kernel the 7.3 steps fail, each with its own result;
# 6.12's still run.
if ! logged kernel-7.3 env RVCAP_KERNEL=7.3 scripts/build-kernel.sh; then
	record setup FAIL "Linux 7.3 test kernel builds with every fragment option"
fi
other_modules() { # kernel:arch...
	local build kernel arch what variant name
	for build in "$@"; do
		kernel=${build%:*} arch=${build#*:}
		what="module builds for $arch, Linux $kernel, with zero warnings"
		[[ $build == 7.3:arm64 ]] && what="module compiles for $arch, Linux $kernel, with zero warnings"
		for variant in clippy plain; do
			name=module-$kernel-$arch-$variant
			if logged "$name" other_module "$kernel" "$arch" "$variant" &&
				! grep -Eiq "$diag" "$logs/$name.log"; then
				record build ok "$what ($variant)"
			else
				grep -Ei -A6 "$diag" "$logs/$name.log" | head -n 40
				record build FAIL "$what ($variant)"
			fi
		done
	done
}
other_modules 7.3:x86
cp "$RVCAP_CACHE/module-7.3-x86/rvcap.ko" "$snapshot/rvcap-7.3.ko"
mark_ready x86-7.3
other_modules 6.12:arm64
cp "$RVCAP_CACHE/module-6.12-arm64/rvcap.ko" "$snapshot/rvcap-arm64.ko"
if logged guest-programs-arm64 env RVCAP_ARCH=arm64 scripts/build-guest.sh; then
	snapshot_guest_programs -arm64
else
	record guest FAIL "kselftests and guest tools build for arm64"
fi
mark_ready arm64
other_modules 7.3:arm64

mapfile -t rust_files < <(git ls-files --cached --others --exclude-standard '*.rs')
if logged rustfmt "$RVCAP_RUSTFMT" --check --edition 2021 \
	--config-path "$ksrc/.rustfmt.toml" "${rust_files[@]}"; then
	record build ok "rustfmt clean"
else
	record build FAIL "rustfmt clean"
fi

# The layering (README "Module layout"): unsafe and the raw bindings only in
# src/kapi/ and src/dma_master/, every C-wrapping type there states its
# invariants, and src/kapi/ names nothing of src/dma_master/. One result per
# rule.
"$RVCAP_PYTHON" scripts/check-layers.py . >"$logs/layers.log" 2>&1
for rule in "unsafe only in src/kapi and src/dma_master" \
	"every C-wrapping type in src/kapi and src/dma_master states # Invariants" \
	"the raw bindings only in src/kapi and src/dma_master" \
	"src/kapi names nothing of src/dma_master"; do
	if grep -qxF "ok $rule" "$logs/layers.log"; then
		record build ok "$rule"
	else
		grep -A20 -F "$rule" "$logs/layers.log" | head -n 20
		record build FAIL "$rule"
	fi
done

# The kernel-log judge every boot relies on (scripts/check-kernel-log.py)
# catches what it must: each sample log under tests/kernel-log/ is named
# for the verdict it must get (clean-*, bad-*).
for f in tests/kernel-log/*.log; do
	want=${f##*/}
	want=${want%%-*}
	if "$RVCAP_PYTHON" scripts/check-kernel-log.py "$f" >"$logs/kernel-log-${f##*/}.txt" 2>&1; then
		got=clean
	else
		got=bad
	fi
	if [[ $got == "$want" ]]; then
		record build ok "kernel-log judge: ${f##*/} is $want"
	else
		record build FAIL "kernel-log judge: ${f##*/} is $want (judged $got)"
	fi
done

for f in $(git ls-files --cached --others --exclude-standard '*.c' '*.h'); do
	if logged "checkpatch-${f//\//_}" perl "$ksrc/scripts/checkpatch.pl" --no-tree -f --quiet "$f"; then
		record build ok "checkpatch clean: $f"
	else
		record build FAIL "checkpatch clean: $f"
	fi
done

# (6.12 imports the namespace in C, 7.3 through module!.)
for ko in 6.12:$snapshot/rvcap.ko 7.3:$snapshot/rvcap-7.3.ko; do
	kernel=${ko%%:*} ko=${ko#*:}
	info=$(modinfo -F import_ns "$ko"):$(modinfo -F license "$ko"):$(modinfo -F name "$ko")
	if [[ $info == DMA_BUF:GPL:rvcap ]]; then
		record build ok "modinfo (Linux $kernel): name rvcap, license GPL, imports DMA_BUF"
	else
		record build FAIL "modinfo (Linux $kernel): name rvcap, license GPL, imports DMA_BUF (got $info)"
	fi
done

# DKMS: dkms.conf builds rvcap against each x86 test kernel's tree, in a
# private dkms tree (nothing is registered with the system's DKMS).
dkms_build() { # kernel
	local t kver rc kout
	kout=$(RVCAP_KERNEL=$1 rvcap_kernel_dir)
	t=$(mktemp -d)
	kver=$(cat "$kout/build/include/config/kernel.release")
	mkdir -p "$t/src/rvcap-0.1.0" "$t/tree" "$t/install"
	git ls-files --cached --others --exclude-standard | tar -cf - -T - | tar -xf - -C "$t/src/rvcap-0.1.0"
	local dkms=(dkms --dkmstree "$t/tree" --sourcetree "$t/src" --installtree "$t/install")
	"${dkms[@]}" add -m rvcap -v 0.1.0 &&
		"${dkms[@]}" build -m rvcap -v 0.1.0 -k "$kver" --kernelsourcedir "$kout/build" &&
		[[ $(modinfo -F name "$t/tree/rvcap/0.1.0/$kver/x86_64/module/rvcap.ko") == rvcap ]]
	rc=$?
	rm -rf "$t"
	return $rc
}
for kernel in 6.12 7.3; do
	if logged "dkms-$kernel" dkms_build "$kernel"; then
		record build ok "dkms build against the Linux $kernel test kernel tree"
	else
		record build FAIL "dkms build against the Linux $kernel test kernel tree"
	fi
done

# --- host level (what `make host-test` runs)
say "check: host tests... (log: $logs/host.log)"
if scripts/host-test.sh --quiet >"$logs/host.log" 2>&1; then
	host_ok=1
else
	host_ok=0
fi
hp=$(sed -n 's/^test result: .* \([0-9]*\) passed; \([0-9]*\) failed; \([0-9]*\) ignored.*/\1 \2 \3/p' "$logs/host.log" |
	awk '{p += $1; f += $2; i += $3} END {print p + 0, f + 0, i + 0}')
read -r hpass hfail hign <<<"$hp"
passed=$((passed + hpass)) failed=$((failed + hfail)) skipped=$((skipped + hign))
printf '%-7s %-5s %s\n' "$( ((hfail)) && echo FAIL || echo ok)" host \
	"cargo test: $hpass passed, $hfail failed, $hign ignored"
if ((!host_ok)); then
	grep -E '^(test .* FAILED|error|---- )' "$logs/host.log" | head -n 20
	if ((hfail == 0)); then
		tail -n 30 "$logs/host.log"
		record host FAIL "cargo test ran to completion"
	fi
fi

# --- guest level: the VM pool's results
# The build level is done: the last VM may start; then every job ends.
mark_ready build
wait "${pool_pids[@]}"
host_cpu >"$pool/host-cpu-end"
pool_seconds=$((SECONDS - pool_t0))

for boot in "${x86_boots[@]}" "${arm64_boots[@]}" "${linux73_boots[@]}"; do
	name=${boot%%:*}
	out=$RVCAP_CACHE/runs/check-$name
	# The kernel the boot was meant to run (Linux 7.3 for the *-7.3 ones).
	want=6.12
	[[ $boot == *:7.3 ]] && want=7.3
	got=$(sed -n '1,5s/.*Linux version \([0-9]*\.[0-9]*\).*/\1/p' "$out/console.log" 2>/dev/null | head -n 1)
	if [[ $got == "$want" ]]; then
		record guest ok "$name: booted Linux $want"
	else
		record guest FAIL "$name: booted Linux $want (got: ${got:-nothing})"
	fi
	if [[ -s $out/output.log ]] && grep -q '^rvcap-vm: kernel log' "$out/output.log"; then
		while read -r status count what; do
			record guest "$status" "$name: $what" "$count"
		done < <(guest_results "$out/output.log")
	else
		record guest FAIL "$name: the VM ran the plan"
	fi
	# The boots given "interop" ran the whole client matrix: dropping the
	# argument would otherwise only lower the totals.
	IFS=: read -r _ _ _ _ plan_arg _ <<<"$boot"
	if [[ " $plan_arg " == *" interop "* ]]; then
		what="the client matrix ran (GStreamer at 4 formats x 3 io-modes per node, vivid importing rvcap's exports twice)"
		log=$(tr -d '\r' <"$out/output.log" 2>/dev/null)
		if [[ $(grep -c '^rvcap-compliance-begin: v4l2-compliance -s -e rvcap.* -d vivid$' <<<"$log") == 2 ]] &&
			grep -qx '1\.\.13' <<<"$log" && grep -qx '1\.\.25' <<<"$log"; then
			record guest ok "$name: $what"
		else
			record guest FAIL "$name: $what"
		fi
	fi
	# The plan's own status: a suite that never ran (vivid did not load,
	# say) shows here even when no TAP line failed.
	plan_status=$(tr -d '\r' <"$out/output.log" 2>/dev/null | sed -n 's/^rvcap-vm: exit status \([0-9]*\)$/\1/p' | tail -n 1)
	if [[ $plan_status == 0 ]]; then
		record guest ok "$name: the guest plan finished with status 0"
	else
		record guest FAIL "$name: the guest plan finished with status ${plan_status:-none (crash or time-out)}"
	fi
done

# Where each boot's time went (the plan's rvcap-time stamps: guest uptime
# and guest CPU time as each suite began): $logs/timing.txt, for who makes
# make check faster. The CPU seconds are what the suite costs the host
# (each busy guest CPU is a host thread emulating it).
for boot in "${x86_boots[@]}" "${arm64_boots[@]}" "${linux73_boots[@]}"; do
	name=${boot%%:*}
	tr -d '\r' <"$RVCAP_CACHE/runs/check-$name/output.log" 2>/dev/null | awk -v boot="$name" '
		/^rvcap-time: / { t = $2 + 0; b = $3 + 0; what = $0; sub(/^rvcap-time: [^ ]* [^ ]* /, "", what)
			if (n) printf "%-14s %7.1f s %7.1f cpu-s  %s\n", boot, t - last, b - lastb, prev
			else printf "%-14s %7.1f s %7.1f cpu-s  %s\n", boot, t, b, "(boot, module loads)"
			n++; last = t; lastb = b; prev = what }
		END { if (n) printf "%-14s %7.1f s %7.1f cpu-s  %s\n", boot, last, lastb, "(total to the last stamp)" }'
done >"$logs/timing.txt"
# And when each job of the VM pool ran, seconds from the pool's start,
# and how busy the host's CPUs were meanwhile (VMs and build level).
sort -n -k5 "$pool/schedule" >>"$logs/timing.txt" 2>/dev/null
read -r busy0 idle0 <"$pool/host-cpu-start"
read -r busy1 idle1 <"$pool/host-cpu-end"
awk -v t="$pool_seconds" -v b=$((busy1 - busy0)) -v i=$((idle1 - idle0)) 'BEGIN {
	printf "VM pool: %d s; host CPUs %.0f s busy, %.0f s idle (%.0f%% busy; all of the host'"'"'s processes)\n", t, b / 100, i / 100, 100 * b / (b + i) }' >>"$logs/timing.txt"
say "check: each boot's suites timed in $logs/timing.txt"

if [[ $(cat "$logs/bench-smoke.status" 2>/dev/null) == 0 ]]; then
	record bench ok "make bench pipeline: every measurement runs, results.md and chart.png come out (few frames, test kernel)"
else
	record bench FAIL "make bench pipeline: every measurement runs, results.md and chart.png come out (few frames, test kernel)"
fi

if [[ -s $logs/run.results ]]; then
	while read -r status what; do
		record run "$status" "$what"
	done <"$logs/run.results"
else
	record run FAIL "make run (x86 and arm64 on 6.12, x86 on 7.3) ran"
fi

summary
exit
}
