#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Write rust-project.json for rvcap with the kernel's own generator
# (scripts/generate_rust_analyzer.py), passing what rust/Makefile passes.
# 6.12's `make M=... rust-analyzer` cannot do it when the kernel was built
# with O= (it looks for rust/Makefile in the output tree), as ours is.
#
# usage: rust-analyzer.sh KDIR
set -euo pipefail
source "$(dirname "$0")/lib.sh"

kdir=$(cd "${1:?usage: $0 KDIR}" && pwd)
srctree=$kdir
[[ -d $kdir/source ]] && srctree=$(cd "$kdir/source" && pwd -P)
sysroot=$("$RVCAP_RUSTC" --print sysroot)
# rust/Makefile: core-edition is 2024 from rustc 1.87 on.
edition=2021
[[ $(rvcap_rustc_version_code) -ge 108700 ]] && edition=2024

python3 "$srctree/scripts/generate_rust_analyzer.py" \
	--cfgs='core=--cfg no_fp_fmt_parse' "$edition" \
	"$srctree" "$kdir" "$sysroot" "$sysroot/lib/rustlib/src/rust/library" \
	>"$RVCAP_ROOT/rust-project.json"

# The generator only finds an external crate root whose own directory has a
# Kbuild naming it; ours is src/rvcap_main.rs, named by ./Kbuild. Add it the
# way the generator adds the crates it finds (deps core and kernel, the
# kernel crate's cfgs).
python3 - "$RVCAP_ROOT" <<'PY'
import json, pathlib, sys
root = pathlib.Path(sys.argv[1])
path = root / "rust-project.json"
project = json.loads(path.read_text())
crates = project["crates"]
index = {c["display_name"]: i for i, c in enumerate(crates)}
crates.append({
    "display_name": "rvcap_main",
    "root_module": str(root / "src" / "rvcap_main.rs"),
    "is_workspace_member": True,
    "is_proc_macro": False,
    "deps": [{"crate": index[d], "name": d} for d in ("core", "kernel")],
    "cfg": crates[index["kernel"]]["cfg"],
    "edition": "2021",
    "env": {"RUST_MODFILE": "This is only for rust-analyzer"},
})
path.write_text(json.dumps(project, sort_keys=True, indent=4))
PY
log "wrote $RVCAP_ROOT/rust-project.json"
