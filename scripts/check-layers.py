#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# The layering rules of README "Module layout", checked on the sources:
#   unsafe      `unsafe` (in code, not comments) appears only in src/kapi/
#   invariants  every type in src/kapi/ that holds a raw pointer, a NonNull
#               or an Opaque, or has an `unsafe impl`, states `# Invariants`
#               in its doc comment
#   bindings    nothing outside src/kapi/ names the raw bindings: the driver
#               uses the abstractions, and V4L2's userspace types through
#               kapi::uapi
# Prints one "ok|FAIL <rule>" line per rule and what broke it; exits 1 if
# any rule failed.
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
src = root / "src"
generated = {"bindings.rs", "bindings_generated.rs"}


def code(line):
    """The line without its // comment (strings with // do not occur)."""
    return line.split("//", 1)[0]


def only_in_kapi(pattern, rule):
    """Checks that `pattern` (in code) occurs in src/kapi/ only; prints the
    rule's verdict and each place outside; returns whether it failed."""
    outside = []
    for f in sorted(src.rglob("*.rs")):
        if "kapi" in f.relative_to(src).parts:
            continue
        for n, line in enumerate(f.read_text().splitlines(), 1):
            if re.search(pattern, code(line)):
                outside.append(f"{f.relative_to(root)}:{n}: {line.strip()}")
    print(("FAIL" if outside else "ok") + " " + rule)
    for o in outside:
        print("  " + o)
    return bool(outside)


failed = only_in_kapi(r"\bunsafe\b", "unsafe only in src/kapi")

missing = []
for f in sorted((src / "kapi").glob("*.rs")):
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
print(("FAIL" if missing else "ok") + " every C-wrapping type in src/kapi states # Invariants")
for m in missing:
    print("  " + m)
failed |= bool(missing)

failed |= only_in_kapi(r"\bbindings\b", "the raw bindings only in src/kapi")
sys.exit(1 if failed else 0)
