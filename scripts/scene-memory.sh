#!/bin/sh
# Shows that predicting a scene costs memory in proportion to its width, not its area: predicts a
# 10000×400 and a 10000×1600 synthetic 8-band scene (same width, four times the area) with a small
# model (16 filters, depth 3, trained for a few steps on sample-data/) and reports the peak
# resident memory of each `segpipe predict`, probabilities included.
#
# Usage: scripts/scene-memory.sh [SEGPIPE_BINARY]   (default .build/release/segpipe)
# Needs /usr/bin/time and sample-data/ (the shipped dataset). Not run by CI.
set -eu
SEGPIPE=${1:-.build/release/segpipe}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

"$SEGPIPE" train --images sample-data/images --masks sample-data/masks --out "$WORK/model.safetensors" \
    --filters 16 --depth 3 --epochs 1 --steps-per-epoch 4 --batch-size 4 > /dev/null
for size in 10000x400 10000x1600; do
    "$SEGPIPE" sample-data --out "$WORK/$size" --scenes 1 --size "$size" > /dev/null
    /usr/bin/time -f "%M %e" -o "$WORK/time" \
        "$SEGPIPE" predict --model "$WORK/model.safetensors" --out "$WORK/$size-out" --probabilities "$WORK/$size/images" > /dev/null
    read -r kilobytes seconds < "$WORK/time"
    echo "$size: peak resident memory $((kilobytes / 1024)) MB, $seconds s"
done
