#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Counts the `unsafe` blocks, functions and impls rvcap's build compiles
for each kernel: every one in src/ (comments and strings aside) but those
under a `#[cfg(...rvcap_linux_7_3...)]` that leaves them out for that
kernel. The cfg covers the attribute's item, statement or block, to its
closing brace or semicolon; on a module declared from its own file
(`mod name;`), that whole file (its own `mod` declarations are not
followed; a cfg with all()/any(), another attribute between the cfg and
the `mod`, or a #[path] are not understood: none is used). Unsafe
functions include the `unsafe extern "C" fn`s, the callbacks C calls.

usage: scripts/count-unsafe.py [ROOT]
"""
import pathlib
import re
import sys

KINDS = {
    "block": re.compile(r"\bunsafe\s*\{"),
    # (strip() blanks the "C" of `extern "C"`: only spaces are left of it.)
    "fn": re.compile(r"\bunsafe\s+(?:extern\s+)?fn\b"),
    "impl": re.compile(r"\bunsafe\s+impl\b"),
    "trait": re.compile(r"\bunsafe\s+trait\b"),
}
CFG = re.compile(r"#\[cfg\((not\()?rvcap_linux_7_3\)?\)\]")
MOD_DECL = re.compile(r"\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+(\w+)\s*;")
# Files whose `mod name;` declarations look for name.rs in their own
# directory rather than in one named after them.
DIR_OWNERS = ("mod.rs", "rvcap_main.rs")


def strip(text):
    """Blanks comments and string/char literals, keeping offsets."""
    out = list(text)
    i, n = 0, len(text)
    while i < n:
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i) + 2
        elif text[i] == '"' and (i == 0 or text[i - 1] not in "'b" or text[i - 1] == "b"):
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j += 1
        else:
            i += 1
            continue
        for k in range(i, min(j, n)):
            if out[k] != "\n":
                out[k] = " "
        i = j
    return "".join(out)


def extent(text, start):
    """End of the item or statement that begins at start."""
    depth = 0
    for i in range(start, len(text)):
        c = text[i]
        if c in "{([":
            depth += 1
        elif c in "})]":
            depth -= 1
            if depth == 0 and c == "}":
                # An item or block ends here unless an expression goes on.
                rest = text[i + 1:].lstrip()
                if not rest.startswith((";", ".", "?")):
                    return i + 1
            if depth < 0:
                return i
        elif c in ";," and depth == 0:
            return i + 1
    return len(text)


def left_out(text, kernel):
    """The (start, end) spans of text the cfgs leave out for kernel."""
    skip = []
    for m in CFG.finditer(text):
        for_73 = m.group(1) is None
        if for_73 != (kernel == "7.3"):
            skip.append((m.end(), extent(text, m.end())))
    return skip


def count(root, kernel):
    totals = dict.fromkeys(KINDS, 0)
    paths = sorted(pathlib.Path(root, "src").rglob("*.rs"))
    texts = {path: strip(path.read_text()) for path in paths}
    # Files of modules declared under a cfg that leaves them out.
    files_out = set()
    for path, text in texts.items():
        here = path.parent if path.name in DIR_OWNERS else path.with_suffix("")
        for a, b in left_out(text, kernel):
            m = MOD_DECL.fullmatch(text[a:b])
            if m:
                files_out.add(here / f"{m.group(1)}.rs")
                files_out.add(here / m.group(1) / "mod.rs")
    for path in paths:
        if path.name == "bindings_generated.rs" or path in files_out:
            continue
        text = texts[path]
        skip = left_out(text, kernel)
        for kind, rx in KINDS.items():
            for m in rx.finditer(text):
                if not any(a <= m.start() < b for a, b in skip):
                    totals[kind] += 1
    return totals


def main():
    if sys.argv[1:2] in (["-h"], ["--help"]):
        print(__doc__.strip())
        return
    if len(sys.argv) > 2:
        sys.exit(__doc__.strip().splitlines()[-1])
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    # Zero unsafe blocks would be a count of nothing, not a finding.
    if not any(pathlib.Path(root, "src").rglob("*.rs")):
        sys.exit(f"count-unsafe: no Rust sources under {root}/src")
    for kernel in ("6.12", "7.3"):
        t = count(root, kernel)
        print(f"Linux {kernel}: {t['block']} unsafe blocks, {t['fn']} unsafe fns, "
              f"{t['impl']} unsafe impls, {t['trait']} unsafe traits")


if __name__ == "__main__":
    main()
