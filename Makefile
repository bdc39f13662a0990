# SPDX-License-Identifier: GPL-2.0
#
# rvcap: out-of-tree Rust V4L2 capture module. Kbuild reads ./Kbuild; this
# Makefile is the entry point for people. `make help` lists the targets.

SHELL := /bin/bash

# The kernel build tree to build against. Unset: rvcap's own test kernel,
# built into the cache on first use (see `make kernel`, `make kdir`).
# A plain `make` with the test kernel built runs neither the dependency
# installer nor the kernel build: only a missing kernel (or missing
# packages, which leave kernel-path.sh without a key) brings in `kernel`.
# ARCH=arm64 builds for rvcap's arm64 test kernel (cross-compiled with LLVM
# and rustc); x86 is the default. KERNEL=7.3 builds for (and boots) the
# Linux 7.3 test kernel instead of the 6.12 LTS one. $(shell) does not see
# command-line variables (make 4.3), so the scripts get them explicitly.
paths = $(if $(ARCH),RVCAP_ARCH=$(ARCH) )$(if $(KERNEL),RVCAP_KERNEL=$(KERNEL) )scripts/kernel-path.sh
ifdef KERNEL
export RVCAP_KERNEL := $(KERNEL)
endif
ifdef KDIR
kdir := $(abspath $(KDIR))
kernel_dep :=
else
kdir = $(shell $(paths) kdir)
kernel_dep := $(if $(wildcard $(shell $(paths) kdir 2>/dev/null)/../.complete),,kernel)
endif

# LLVM=-19 RUSTC=/usr/bin/rustc BINDGEN=... (scripts/lib.sh); override the
# RVCAP_* environment variables named there, or TOOLCHAIN as a whole.
TOOLCHAIN ?= $(shell $(paths) kmake-args)
kmake = $(MAKE) -C $(kdir) M=$(CURDIR) $(TOOLCHAIN)

.PHONY: all modules deps kernel kdir clean run check bench stress shell rust-analyzer host-test cleanroom help

all: modules

help:
	@echo 'make            build rvcap.ko (against the test kernel unless KDIR=...)'
	@echo 'make run        the main job: build, boot QEMU, load rvcap, show it working'
	@echo 'make check      every test level; last line: N passed, N failed'
	@echo 'make bench      rvcap against vivid and its own comparison policies: out/bench/'
	@echo 'make host-test  only the host cargo tests of the pure-Rust code'
	@echo 'make stress     the ioctl fuzzer, 300,000 operations, in the debug VM'
	@echo 'make shell      boot the test VM with rvcap loaded and an interactive shell'
	@echo 'make deps       install Debian packages and bindgen (idempotent)'
	@echo 'make cleanroom  make check and make run in a brand-new Debian 12 root (debootstrap), empty cache;'
	@echo '                DEBIAN=13: in a Debian 13 root'
	@echo 'make kernel     build or reuse the cached test kernel'
	@echo 'make kdir       print the kernel build tree in use'
	@echo 'make rust-analyzer  write rust-project.json for editors'
	@echo 'make clean      remove build outputs from the tree'
	@echo 'ARCH=arm64      with make, run, shell, kernel, kdir: for rvcap'"'"'s arm64 test kernel and guest'
	@echo 'KERNEL=7.3      with make, run, shell, stress, kernel, kdir: Linux 7.3 instead of the 6.12 LTS'

deps:
	@scripts/install-deps.sh

kernel:
	@scripts/build-kernel.sh --deps >/dev/null

kdir:
	@echo $(kdir)

# Objects built against one kernel must not be reused for another: Kbuild
# tracks the kernel's headers, config and Rust metadata by paths relative
# to the kernel tree, so another KDIR (or a rebuilt kernel) need not look
# newer, and stale bindings would give the module wrong structure layouts.
# The kernel built against (tree and .config) is recorded; a change cleans
# first.
kernel_id = $(kdir) $(firstword $(shell sha256sum $(kdir)/.config 2>/dev/null))

modules: $(kernel_dep)
	@if [ "$$(cat .rvcap-kernel 2>/dev/null)" != "$(kernel_id)" ]; then \
		echo "rvcap: building against $(kdir) (was: $$(cat .rvcap-kernel 2>/dev/null || echo nothing)): cleaning first"; \
		$(kmake) clean >/dev/null; rm -f .rvcap-kernel; fi
	$(kmake) modules
	@echo '$(kernel_id)' >.rvcap-kernel

clean:
	@if [ -d "$(kdir)" ]; then $(kmake) clean; fi
	rm -rf tests/selftests/out tools/out out .rvcap-kernel

rust-analyzer: modules
	@scripts/rust-analyzer.sh $(kdir)

run:
	@scripts/run.sh

host-test:
	@scripts/host-test.sh

check:
	@scripts/check.sh

# The install steps' only honest test (root, 30-60 min): scripts/cleanroom.sh.
cleanroom:
	@scripts/cleanroom.sh $(if $(DEBIAN),--debian $(DEBIAN))

bench:
	@scripts/bench.sh

stress:
	@scripts/stress.sh

shell: modules
	@scripts/vm-run.sh --shell
