#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# The layering rules of README "Module layout", checked on the sources. The
# layers that call C are src/kapi/ (the general wrappers) and
# src/dma_master/ (rvcap's virtual DMA master, on top of kapi); the driver
# (src/driver/), the pure core (src/queue/, ...) and the crate root hold
# neither `unsafe` nor the bindings.
#   unsafe      `unsafe` (in code, not comments) appears only in those two
#   invariants  every type in them that holds a raw pointer, a NonNull or
#               an Opaque, or has an `unsafe impl`, states `# Invariants`
#               in its doc comment
#   bindings    nothing outside them names the raw bindings: the driver
#               uses the abstractions, and V4L2's userspace types through
#               kapi::uapi
#   kapi below  src/kapi/ (any depth) names nothing of the DMA master: no
#   dma_master  function declared in include/rvcap_dma_master.h and no
#               `crate::dma_master`, in code (comments may mention them)
# Prints one "ok|FAIL <rule>" line per rule and what broke it; exits 1 if
# any rule failed.
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
src = root / "src"
generated = {"bindings.rs", "bindings_generated.rs"}
# The directories under src/ that may call C.
c_layers = ("kapi", "dma_master")
where = "src/kapi and src/dma_master"


def code(line):
    """The line without its // comment (strings with // do not occur)."""
    return line.split("//", 1)[0]


def only_in_c_layers(pattern, rule):
    """Checks that `pattern` (in code) occurs in the C layers only; prints
    the rule's verdict and each place outside; returns whether it failed."""
    outside = []
    for f in sorted(src.rglob("*.rs")):
        if f.relative_to(src).parts[0] in c_layers:
            continue
        for n, line in enumerate(f.read_text().splitlines(), 1):
            if re.search(pattern, code(line)):
                outside.append(f"{f.relative_to(root)}:{n}: {line.strip()}")
    print(("FAIL" if outside else "ok") + " " + rule)
    for o in outside:
        print("  " + o)
    return bool(outside)


failed = only_in_c_layers(r"\bunsafe\b", f"unsafe only in {where}")

missing = []
for f in sorted(f for layer in c_layers for f in (src / layer).rglob("*.rs")):
    if f.name in generated:
        continue
    lines = f.read_text().splitlines()
    text = "\n".join(code(l) for l in lines)
    for n, line in enumerate(lines):
        m = re.match(r"\s*(?:pub(?:\([a-z]+\))?\s+)?struct\s+(\w+)", line)
        if not m:
            continue
        name = m.group(1)
        # The body: up to the line that closes it (or the `;` of a tuple).
        body = []
        for l in lines[n:]:
            body.append(code(l))
            if l.rstrip().endswith(";") and "(" in line or l.startswith("}"):
                break
        body = "\n".join(body)
        wraps = re.search(r"\*mut |\*const |NonNull<|Opaque<", body) or re.search(
            rf"unsafe impl(<[^>]*>)? \w+ for {name}\b", text
        )
        if not wraps:
            continue
        doc = []
        for l in reversed(lines[:n]):
            s = l.strip()
            if s.startswith("///") or s.startswith("#["):
                doc.append(s)
            else:
                break
        if not any("# Invariants" in d for d in doc):
            missing.append(f"{f.relative_to(root)}:{n + 1}: {name}")
print(("FAIL" if missing else "ok") + f" every C-wrapping type in {where} states # Invariants")
for m in missing:
    print("  " + m)
failed |= bool(missing)

failed |= only_in_c_layers(r"\bbindings\b", f"the raw bindings only in {where}")

# kapi is below the DMA master: what rvcap_dma_master.h declares, and the
# module itself, are the DMA master's.
master_header = root / "include" / "rvcap_dma_master.h"
# (Its declarations, not what its comments mention.)
master_decls = re.sub(r"/\*.*?\*/", "", master_header.read_text(), flags=re.S)
master_names = set(re.findall(r"\b(rvcap_\w+)\s*\(", master_decls))
master_pattern = r"\bcrate::dma_master\b"
if master_names:
    master_pattern += r"|\b(?:" + "|".join(sorted(master_names)) + r")\b"
upward = []
for f in sorted((src / "kapi").rglob("*.rs")):
    if f.name in generated:
        continue
    for n, line in enumerate(f.read_text().splitlines(), 1):
        if re.search(master_pattern, code(line)):
            upward.append(f"{f.relative_to(root)}:{n}: {line.strip()}")
rule = "src/kapi names nothing of src/dma_master"
print(("FAIL" if upward else "ok") + " " + rule)
for u in upward:
    print("  " + u)
failed |= bool(upward)
sys.exit(1 if failed else 0)
