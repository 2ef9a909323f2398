#!/bin/bash
# How segpipe's OpenMP settings fare when another program keeps one core busy, as on a machine
# shared with other jobs: `segpipe bench` with libgomp's defaults, with OMP_WAIT_POLICY=passive and
# with OMP_NUM_THREADS=1, alternating in every round, first with the cores to itself and then
# beside a busy loop pinned to the last core (taskset). Prints each run's median tiles/s.
#
# Not run by CI. Usage: scripts/shared-core-bench.sh [SEGPIPE] [rounds] [predict|train]
set -euo pipefail
segpipe=${1:-.build/release/segpipe}
rounds=${2:-2}
mode=${3:-predict}
[ -x "$segpipe" ] || { echo "shared-core-bench.sh: $segpipe is not an executable (swift build -c release)" >&2; exit 1; }
command -v taskset > /dev/null || { echo "shared-core-bench.sh: taskset (util-linux) is missing" >&2; exit 1; }
steps=8
[ "$mode" = train ] && steps=5
last_core=$(( $(nproc) - 1 ))

busy=""
stop_busy() { if [ -n "$busy" ]; then kill "$busy" 2> /dev/null || true; wait "$busy" 2> /dev/null || true; busy=""; fi; }
trap stop_busy EXIT

run_variants() {
    local load=$1
    for round in $(seq 1 "$rounds"); do
        for setting in "" "OMP_WAIT_POLICY=passive" "OMP_NUM_THREADS=1"; do
            local figure
            figure=$(env $setting "$segpipe" bench --mode "$mode" --steps "$steps" --warm-up 1 \
                | grep -o '[0-9.]* tiles/s median')
            printf '%-16s round %d  %-24s %s\n' "$load" "$round" "${setting:-defaults}" "$figure"
        done
    done
}

run_variants "cores to itself"
taskset -c "$last_core" sh -c 'while :; do :; done' &
busy=$!
run_variants "one core busy"
