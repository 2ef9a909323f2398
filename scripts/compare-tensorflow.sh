#!/bin/bash
# segpipe against TensorFlow/Keras on this machine, in one run: the same batch of random tiles
# through the default U-Net (UNET.md), alternating the two so that both see the same load.
# Prints one JSON line per measurement, then a Markdown table of the medians over the rounds.
#
# Not run by CI. Needs a release build and a Python with TensorFlow:
#   swift build -c release
#   python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu
#   PYTHON=/tmp/tfenv/bin/python scripts/compare-tensorflow.sh [rounds] [steps]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
steps=${2:-5}
python=${PYTHON:-python3}
segpipe=.build/release/segpipe
[ -x "$segpipe" ] || { echo "compare-tensorflow.sh: $segpipe not found; run swift build -c release first" >&2; exit 1; }
"$python" -c "import tensorflow" 2>/dev/null || { echo "compare-tensorflow.sh: $python cannot import tensorflow; set PYTHON" >&2; exit 1; }

results=$(mktemp)
trap 'rm -f "$results"' EXIT
for round in $(seq 1 "$rounds"); do
    for mode in predict train; do
        for variant in "f32 winograd" "f32 direct" "bf16 winograd"; do
            set -- $variant
            "$segpipe" bench --mode "$mode" --precision "$1" --convolution "$2" --steps "$steps" --warm-up 1 --json \
                | sed "s/^{/{\"tool\":\"segpipe\",\"round\":$round,/" | tee -a "$results"
        done
        for precision in f32 bf16; do
            "$python" scripts/bench-keras.py --mode "$mode" --precision "$precision" --steps "$steps" --warm-up 1 \
                | sed "s/^{/{\"tool\":\"tensorflow\",\"round\":$round,/" | tee -a "$results"
        done
    done
done

"$python" - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
groups = {}
for row in rows:
    precision = row.get("precision", "f32")
    name = f"tensorflow ({precision})" if row["tool"] == "tensorflow" else f"segpipe ({precision}, {row.get('convolution', 'direct')})"
    groups.setdefault((row["mode"], name), []).append(row)
print()
print("| mode | implementation | tiles/s (median of rounds) | range over rounds | peak memory |")
print("|---|---|---|---|---|")
for (mode, name), group in sorted(groups.items()):
    rates = [row["tilesPerSecondMedian"] for row in group]
    memory = max(row.get("peakResidentBytes") or 0 for row in group) / 2**30
    print(f"| {mode} | {name} | {statistics.median(rates):.2f} | {min(rates):.2f}–{max(rates):.2f} | {memory:.2f} GiB |")
PY
