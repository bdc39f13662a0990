#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make run`: the main job. Installs what is missing, builds the test kernel
# (cached), rvcap.ko and the guest programs, boots QEMU, captures frames
# through MMAP and through DMA-BUF import (tests/plans/run.sh), and turns
# them into PNG files under out/.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$RVCAP_ROOT"

scripts/prepare.sh >/dev/null
run=$RVCAP_CACHE/runs/run$RVCAP_BUILD_SUFFIX
scripts/vm-run.sh --name "run$RVCAP_BUILD_SUFFIX" --out "$run" "$@" tests/plans/run.sh

# Cut the frames out of the data port, in the order announced, and write
# them as PNG (640x480 RGB24, as tests/plans/run.sh captures them).
mkdir -p out
"$RVCAP_PYTHON" - "$run/output.log" "$run/data.bin" out <<'PY'
import os
import sys
from PIL import Image

log, data, outdir = sys.argv[1:]
blob = open(data, "rb").read()
offset = 0
for line in open(log, encoding="utf-8", errors="replace"):
    line = line.strip()
    if not line.startswith("rvcap-file: "):
        continue
    name, size = line.split()[1:3]
    size = int(size)
    raw = blob[offset:offset + size]
    offset += size
    if len(raw) != size:
        sys.exit(f"run: {name}: only {len(raw)} of {size} bytes arrived")
    png = os.path.join(outdir, os.path.splitext(name)[0] + ".png")
    Image.frombytes("RGB", (640, 480), raw).save(png)
    print(f"[rvcap] wrote {png}", file=sys.stderr)
if offset != len(blob):
    sys.exit(f"run: {len(blob) - offset} bytes more than announced arrived (a port not raw?)")
PY
