#!/bin/bash
# Training's reading cost by how a scene's samples are stored. Writes three 8-band uint16
# Deflate scenes with tifffile (a 16000×200 one in 16-row strips, and a 2000×2000 one in 1-row
# strips, GDAL's default, and in 256×256 tiles), then trains a tiny network (depth 2, 8
# filters, so that reading and validation dominate) for one epoch of 30 batches with each
# binary given, alternating them in every round. Prints wall seconds and the epoch's tiles/s.
#
# Not run by CI. Needs python3 with numpy, tifffile and Pillow, e.g.
#   python3 -m venv /tmp/benchenv && /tmp/benchenv/bin/pip install numpy tifffile pillow
#   PYTHON=/tmp/benchenv/bin/python scripts/strip-layout-bench.sh /tmp/segpipe-a .build/release/segpipe
set -euo pipefail
if [ $# -lt 1 ]; then
    echo "usage: strip-layout-bench.sh SEGPIPE [SEGPIPE...]   (rounds: ROUNDS=2)" >&2
    exit 2
fi
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" - "$work" <<'PY'
import os, sys
import numpy as np, tifffile
from PIL import Image
palette = [255, 255, 255, 150, 150, 150, 223, 194, 125, 27, 120, 55, 166, 219, 160, 116, 173, 209]
def scene(name, width, height, **layout):
    rng = np.random.default_rng(1)
    coarse = rng.integers(0, 2048, (height // 8 + 1, width // 8 + 1, 8), dtype=np.uint16)
    image = np.repeat(np.repeat(coarse, 8, 0), 8, 1)[:height, :width] + rng.integers(0, 16, (height, width, 8), dtype=np.uint16)
    classes = rng.integers(0, 6, (height // 40 + 1, width // 40 + 1))
    mask = np.repeat(np.repeat(classes, 40, 0), 40, 1)[:height, :width].astype(np.uint8)
    folder = os.path.join(sys.argv[1], name)
    os.makedirs(folder + "/images"); os.makedirs(folder + "/masks")
    tifffile.imwrite(folder + "/images/scene.tif", image, photometric="minisblack", planarconfig="contig", compression="zlib", **layout)
    png = Image.fromarray(mask, mode="P"); png.putpalette(palette); png.save(folder + "/masks/scene.png")
scene("wide-16-row-strips", 16000, 200, rowsperstrip=16)
scene("1-row-strips", 2000, 2000, rowsperstrip=1)
scene("256-tiles", 2000, 2000, tile=(256, 256))
PY
for round in $(seq 1 "${ROUNDS:-2}"); do
    for data in wide-16-row-strips 1-row-strips 256-tiles; do
        for binary in "$@"; do
            rm -f "$work/model"*
            start=$(date +%s.%N)
            rate=$("$binary" train --images "$work/$data/images" --masks "$work/$data/masks" --out "$work/model.safetensors" \
                --epochs 1 --steps-per-epoch 30 --depth 2 --filters 8 --batch-size 8 2>&1 \
                | sed -n 's/.* \([0-9.]*\) tiles\/s.*/\1/p')
            end=$(date +%s.%N)
            printf 'round %s  %-20s %-40s %6.1f s  %s tiles/s\n' "$round" "$data" "$binary" "$(echo "$end - $start" | bc)" "$rate"
        done
    done
done
