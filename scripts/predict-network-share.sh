#!/bin/bash
# End-to-end prediction time and the network's share of it, for the four combinations of
# one-thread/overlapped and direct/Winograd, alternating in rounds so that all see the same load.
#
# Not run by CI. Usage (after swift build -c release):
#   scripts/predict-network-share.sh MODEL.safetensors [SCENES_DIR] [ROUNDS]
# A default-architecture model for timing: segpipe train --images sample-data/images
#   --masks sample-data/masks --out /tmp/model.safetensors --epochs 1 --steps-per-epoch 1
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: predict-network-share.sh MODEL [SCENES_DIR] [ROUNDS]}
scenes=${2:-sample-data/images}
rounds=${3:-3}
segpipe=.build/release/segpipe
[ -x "$segpipe" ] || { echo "predict-network-share.sh: $segpipe not found; run swift build -c release first" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for round in $(seq 1 "$rounds"); do
    for variant in "--sequential --convolution direct" "--convolution direct" "--sequential" ""; do
        rm -rf "$out/maps"
        # shellcheck disable=SC2086
        line=$("$segpipe" predict --model "$model" --out "$out/maps" $variant "$scenes" | tail -n 1)
        echo "round $round [${variant:-default}] $line"
    done
done
