#!/bin/bash
# Two segpipe builds against each other on `segpipe bench`, alternating A and B in every round so
# that both see the same load (this machine's speed moves by ±20 % from minute to minute). Prints
# each round's median tiles/s, then the median of the rounds and the median of the per-round
# ratios B/A.
#
# Not run by CI. Build the two variants first, e.g.
#   git stash && swift build -c release && cp .build/release/segpipe /tmp/segpipe-a && git stash pop
#   swift build -c release
#   scripts/ab-bench.sh /tmp/segpipe-a .build/release/segpipe 5 train
# Extra arguments after the mode go to both benches (for example --convolution direct).
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: ab-bench.sh SEGPIPE_A SEGPIPE_B [rounds] [predict|train] [bench options...]" >&2
    exit 2
fi
a=$1 b=$2
rounds=${3:-5}
mode=${4:-predict}
shift $(( $# < 4 ? $# : 4 ))
for binary in "$a" "$b"; do
    [ -x "$binary" ] || { echo "ab-bench.sh: $binary is not an executable" >&2; exit 1; }
done
steps=10
[ "$mode" = train ] && steps=5

results=$(mktemp)
trap 'rm -f "$results"' EXIT
for round in $(seq 1 "$rounds"); do
    for side in A B; do
        binary=$a
        [ "$side" = B ] && binary=$b
        rate=$("$binary" bench --mode "$mode" --steps "$steps" --warm-up 1 --json "$@" \
            | python3 -c 'import json, sys; print(json.load(sys.stdin)["tilesPerSecondMedian"])')
        echo "round $round $side $rate" | tee -a "$results"
    done
done

python3 - "$results" "$mode" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
rates = {"A": [], "B": []}
for _, _, side, rate in rows:
    rates[side].append(float(rate))
ratios = [b / a for a, b in zip(rates["A"], rates["B"])]
print(f"{sys.argv[2]}: A {statistics.median(rates['A']):.2f} tiles/s, B {statistics.median(rates['B']):.2f} tiles/s "
      f"(medians of {len(ratios)} rounds); B/A per round {', '.join(f'{r:.2f}' for r in ratios)}, "
      f"median {statistics.median(ratios):.2f}")
PY
