#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot the test kernel under QEMU with an initramfs holding busybox, rvcap.ko,
# the kernel's own modules (vivid), the guest test binaries and tools and
# v4l2-utils, run a plan (a shell script) inside, and bring back its output
# (second serial port), its exit status, and any binary data it writes to
# the third serial port, /dev/ttyS2 ($out/data.bin). The run fails if the
# guest's kernel log shows a warning, a BUG, an oops, a lockdep, DMA-API
# debug, KASAN or kmemleak report, or an IOMMU fault outside a test's
# expected-fault window (scripts/check-kernel-log.py); the offending log
# excerpt is printed.
# RVCAP_FLAVOUR=bench boots the benchmark kernel instead; RVCAP_KO then
# names the rvcap.ko built for it.
# RVCAP_VM_CPUS sets the guest's CPUs (default 2, what every test boot
# uses: the engine thread and the ioctls race on two CPUs); for experiments.
# RVCAP_VM_TCG_THREAD is QEMU's `-accel tcg,thread=`: multi (the default)
# emulates each vCPU in a host thread of its own, so the two really run at
# the same time; single runs both in one host thread, taking turns
# (round-robin: one runs until it idles, takes an interrupt or QEMU's
# 100 ms kick), never at the same instant, for about a fifth less host CPU
# (measured: the coherent boot's plan, two VMs side by side, 325 against
# 408 CPU seconds). scripts/check.sh says which boots use which.
#
# usage: vm-run.sh [options] PLAN [PLAN-ARGS...]
#        vm-run.sh --shell [options]
#   --append ARGS   extra kernel command line (for example swiotlb=force)
#   --name NAME     name of this run (default: the plan's name)
#   --out DIR       where logs go (default: $RVCAP_CACHE/runs/NAME)
#   --timeout SEC   kill the VM after SEC seconds (default 600)
#   --iommu         q35 with an Intel IOMMU (strict) and QEMU's edu PCI device,
#                   which rvcap then uses as its DMA master (IOVAs)
#   --kvm           use KVM instead of TCG (hangs on some nested hosts)
#   --shell         interactive shell on the console instead of a plan
#   --quiet         do not echo the plan's output while it runs
set -euo pipefail
# The whole script is one group, read before any of it runs: bash reads a
# script as it goes, and this one runs long enough for the file to change
# under it (an edit, a git checkout).
{
source "$(dirname "$0")/lib.sh"

append="" name="" out="" timeout=600 accel=tcg,thread=${RVCAP_VM_TCG_THREAD:-multi} shell=0 quiet=0 iommu=0
while (($#)); do
	case "$1" in
	--append) append="$append $2"; shift 2 ;;
	--name) name=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--kvm) accel=kvm; shift ;;
	--iommu) iommu=1; shift ;;
	--shell) shell=1; shift ;;
	--quiet) quiet=1; shift ;;
	-*) die "unknown option $1 (see the header of $0)" ;;
	*) break ;;
	esac
done
case ${RVCAP_VM_TCG_THREAD:-multi} in
multi | single) ;;
*) die "RVCAP_VM_TCG_THREAD must be multi or single, not $RVCAP_VM_TCG_THREAD" ;;
esac
if ((shell)); then
	plan=/dev/null
	name=${name:-shell}
else
	(($#)) || die "usage: $0 [options] PLAN [ARGS...] | --shell"
	plan=$1
	shift
	[[ -r $plan ]] || die "no plan $plan"
	name=${name:-$(basename "$plan" .sh)}
fi

kout=$(rvcap_kernel_dir)
[[ -e $kout/.complete ]] || die "$RVCAP_FLAVOUR kernel not built (run: make kernel${RVCAP_KERNEL_SUFFIX:+ KERNEL=$RVCAP_KERNEL}${RVCAP_GUEST_SUFFIX:+ ARCH=$RVCAP_ARCH})"
kver=$(cat "$kout/build/include/config/kernel.release")
ko=${RVCAP_KO:-$RVCAP_ROOT/rvcap.ko}
[[ -e $ko ]] || die "rvcap.ko not built (run: make)"
out=${out:-$RVCAP_CACHE/runs/$name}
rm -rf "$out"
mkdir -p "$out"

# The guest's busybox (on x86 the host's busybox-static serves; arm64's
# comes from Debian's arm64 package, scripts/fetch-guest-arm64.sh), and
# V4L2 userspace for its architecture (scripts/fetch-guest-*.sh).
case "$RVCAP_ARCH" in
x86) busybox=/bin/busybox ;;
arm64)
	busybox=$("$RVCAP_ROOT"/scripts/fetch-guest-arm64.sh)/usr/bin/busybox
	((!iommu)) || die "--iommu is an x86 (q35) boot"
	;;
esac
v4l_root=$RVCAP_CACHE/guest-v4l-utils$RVCAP_GUEST_SUFFIX/root
gst_root=$RVCAP_CACHE/guest-gstreamer$RVCAP_GUEST_SUFFIX/root
[[ -e $v4l_root/../.complete ]] || die "guest v4l-utils ($RVCAP_ARCH) missing (run: make deps)"
[[ -e $gst_root/../.complete ]] || die "guest GStreamer ($RVCAP_ARCH) missing (run: make deps)"

# --- initramfs (merged /usr, as Debian)
stage=$out/initramfs
mkdir -p "$stage"/{usr/bin,usr/sbin,usr/lib/modules,dev,proc,sys,tmp,tests}
ln -s usr/bin "$stage/bin"
ln -s usr/sbin "$stage/sbin"
ln -s usr/lib "$stage/lib"
ln -s usr/lib "$stage/lib64"
cp "$busybox" "$stage/bin/busybox"
install -m 0755 "$RVCAP_ROOT/scripts/guest/init" "$stage/init"
cp -r "$kout/modroot/lib/modules/$kver" "$stage/lib/modules/"
install -D -m 0644 "$ko" "$stage/lib/modules/$kver/extra/rvcap.ko"
depmod -b "$stage" "$kver"
if [[ -d $RVCAP_SELFTESTS_OUT ]]; then
	cp -r "$RVCAP_SELFTESTS_OUT"/. "$stage/tests/"
fi
if [[ -d $RVCAP_TOOLS_OUT ]]; then
	cp -r "$RVCAP_TOOLS_OUT"/. "$stage/usr/bin/"
fi
cp "$plan" "$stage/plan.sh"
cp "$RVCAP_ROOT/tests/plans/lib.sh" "$stage/plan-lib.sh"
# The plan's arguments are words: the guest's init splits the line (and
# would expand a glob).
for arg in "$@"; do
	[[ -n $arg && $arg != *[[:space:]*?[]* ]] || die "plan arguments must be words without spaces or glob characters (got '$arg')"
done
printf '%s\n' "$*" >"$stage/plan.args"
# V4L2 userspace (Debian trixie's, see scripts/fetch-guest-v4l-utils.sh),
# GStreamer (gst-launch-1.0, gst-inspect-1.0, the core elements and v4l2src)
# and coreutils' timeout (scripts/fetch-guest-gstreamer.sh), with the loader
# and libraries they need: one loader and libc, from the same Debian release,
# serve both.
libdir=$RVCAP_GUEST_LIBDIR
mkdir -p "$stage/$libdir"
ln -s "${libdir#usr/lib/}/$RVCAP_GUEST_LOADER" "$stage/usr/lib/$RVCAP_GUEST_LOADER"
guest_install() { # ROOT FILE (relative to ROOT)
	install -D "$1/$2" "$stage/$2"
	rvcap_guest_libs "$1" "$1/$2"
	local lib
	for lib in "${guest_libs[@]}"; do
		[[ -e $stage/$libdir/${lib##*/} ]] || cp -L "$lib" "$stage/$libdir/"
	done
}
for bin in v4l2-ctl v4l2-compliance; do
	guest_install "$v4l_root" "usr/bin/$bin"
done
mapfile -t gst_files < <(rvcap_guest_gst_files)
for f in "${gst_files[@]}"; do
	guest_install "$gst_root" "$f"
done
(cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$out/initramfs.cpio.gz"

# --- boot
console=$out/console.log output=$out/output.log
# No BSD-style ptys (/dev/ptyXX, which nothing in the guest opens): making
# tinyconfig's 256 pairs took 2.7 s of each x86 boot under TCG (pty_init,
# initcall_debug), a quarter of the boot.
boot_args="panic=-1 oops=panic pty.legacy_count=0"
if [[ $RVCAP_ARCH == x86 ]]; then
	cmdline="console=ttyS0 $boot_args$append"
	# la57=off: with 5-level paging, this KASAN kernel under TCG reported a
	# wild access in early-boot interrupt handling in about 1 boot in 9,
	# before any rvcap code ran; with 4-level paging, none in 12 and since.
	qemu=(qemu-system-x86_64 -accel "$accel" -cpu max,la57=off -smp "${RVCAP_VM_CPUS:-2}" -m 2G -nodefaults
		-display none -no-reboot -kernel "$kout/build/arch/x86/boot/bzImage"
		-initrd "$out/initramfs.cpio.gz")
	# The kernel log, the plan's output, binary data: ttyS0, ttyS1, ttyS2.
	ports=(-serial file:"$console" -serial file:"$output" -serial file:"$out/data.bin")
else
	cmdline="console=ttyAMA0 $boot_args$append"
	# pauth-impdef: QEMU's own pointer-authentication algorithm, much
	# cheaper to emulate than the architected one.
	qemu=(qemu-system-aarch64 -accel "$accel" -machine virt,gic-version=3
		-cpu max,pauth-impdef=on -smp "${RVCAP_VM_CPUS:-2}" -m 2G -nodefaults -display none -no-reboot
		-kernel "$kout/build/arch/arm64/boot/Image" -initrd "$out/initramfs.cpio.gz")
	# The kernel log on the one UART (ttyAMA0); the plan's output and
	# binary data on virtio consoles (hvc0, hvc1).
	ports=(-serial file:"$console" -device virtio-serial-device
		-chardev file,id=output,path="$output" -device virtconsole,chardev=output
		-chardev file,id=data,path="$out/data.bin" -device virtconsole,chardev=data)
fi
if ((iommu)); then
	# intel-iommu wants a split irqchip for interrupt remapping; edu's
	# transfers go through it.
	qemu+=(-machine q35,kernel-irqchip=split -device intel-iommu,intremap=on
		-device edu)
	cmdline="$cmdline intel_iommu=on iommu.strict=1"
fi
if ((shell)); then
	exec "${qemu[@]}" -append "$cmdline rvcap.shell" -serial mon:stdio -serial null
fi

: >"$output"
# What the guest is at: the last suite the plan began (tests/plans/*.sh
# frame their suites with rvcap-suite-begin / rvcap-compliance-begin).
plan_status() {
	local at
	at=$(sed -n 's/^rvcap-\(suite\|compliance\)-begin: //p' "$output" | tail -n 1)
	echo "${at:+at $at}"
}
vm=(timeout --kill-after=10 "$timeout" "${qemu[@]}" -append "$cmdline" "${ports[@]}")
rc=0
if ((quiet)); then
	: >"$out/qemu.log"
	say "VM $name: kernel $kver, args:${append:- none}, ${RVCAP_VM_CPUS:-2} vCPUs, -accel $accel; plan output $output, kernel log $console"
	rvcap_progress "VM $name" "$out/qemu.log" plan_status "${vm[@]}" || rc=$?
else
	say "VM $name: booting kernel $kver (args:${append:- none}; kernel log $console)"
	tail -n +1 -f "$output" &
	tailer=$!
	"${vm[@]}" || rc=$?
fi
if ((!quiet)); then
	sleep 0.2
	kill "$tailer" 2>/dev/null || true
	wait "$tailer" 2>/dev/null || true
fi

status=$(sed -n 's/^rvcap-vm: exit status \([0-9]*\).*/\1/p' "$output" | tail -n 1)
fail=0
if ((rc == 124 || rc == 137)); then
	log "FAIL: $name: the VM did not finish within $timeout s"
	fail=1
elif [[ -z $status ]]; then
	log "FAIL: $name: the guest ended without reporting a status (crash or panic?)"
	fail=1
elif ((status != 0)); then
	log "FAIL: $name: the plan exited with status $status"
	fail=1
fi

# The kernel's taint flags: loading rvcap sets O (out of tree, 4096), a
# warning W (512), which the kernel log judges below, and on 7.3 sw_sync
# sets L (16384, "soft lockup") on every fence it creates, which the fence
# tests do (the test kernel has no soft-lockup detector to set it
# otherwise). Any other flag (a die, a bad page, a machine check...) fails
# the run, even if its report never reached the console.
# The verdict goes to the output too, for scripts/check.sh to count.
taint=$(sed -n 's/^rvcap-vm: tainted \([0-9]*\).*/\1/p' "$output" | tail -n 1)
if [[ -n $taint ]] && ((taint & ~(4096 | 512 | 16384))); then
	log "FAIL: $name: the guest kernel is tainted $taint (flags beyond O, W and L: $((taint & ~(4096 | 512 | 16384))); see Documentation/admin-guide/tainted-kernels.rst)"
	echo "rvcap-vm: taint not allowed: $taint" >>"$output"
	fail=1
elif [[ -n $taint ]]; then
	echo "rvcap-vm: taint allowed: $taint" >>"$output"
fi

# Anything the kernel reports as a bug, or an IOMMU fault no test expected,
# fails the run, whatever the plan said (scripts/check-kernel-log.py).
if "$RVCAP_PYTHON" "$RVCAP_ROOT/scripts/check-kernel-log.py" "$console" >"$out/kernel-log-check.txt"; then
	echo "rvcap-vm: kernel log clean" >>"$output"
else
	log "FAIL: $name: the guest kernel log reports a problem:"
	cat "$out/kernel-log-check.txt" >&2
	echo "rvcap-vm: kernel log not clean" >>"$output"
	fail=1
fi
if ((fail)) && [[ -z $status || $status == 0 ]]; then
	log "last lines of the kernel log ($console):"
	tail -n 30 "$console" >&2
fi
exit "$fail"
exit
}
