#!/usr/bin/env python3
"""Compares `segpipe inspect --json --stats` with the corpus manifest's reference values.

Usage: corpus-check.py CORPUS_DIR SEGPIPE_BINARY

For every row of CORPUS_DIR/expected.tsv: `ok` rows must read with the expected size, bands,
per-band min/max/mean (mean to 1e-6 relative; lossy rows within 2 % of the band's range; the
`alt` statistics are accepted too) and metadata where the row fixes it; `reject` rows must fail;
`optional` rows may do either, but a file that reads must read right; `skip` rows are skipped.
Prints `corpus: N agreed, M disagreed, K skipped` and one line per disagreement; exits 1 on any.
Python 3 standard library only.
"""
import csv
import json
import math
import os
import subprocess
import sys

METADATA = ["format", "sampleType", "bitsPerSample", "tiled", "bigtiff", "planar", "pages", "nodata", "georeferenced"]
RELATIVE = 1e-6
LOSSY_FRACTION = 0.02


def inspect(binary, path):
    """One file's JSON object from inspect, or a synthetic failure if inspect misbehaves."""
    try:
        run = subprocess.run([binary, "inspect", "--json", "--stats", path],
                             capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": "inspect timed out", "_crash": True}
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    if run.returncode not in (0, 1) or len(lines) != 1:
        return {"ok": False, "_crash": True,
                "error": f"inspect exited {run.returncode} with {len(lines)} lines: {run.stderr.strip()[:200]}"}
    try:
        result = json.loads(lines[0])
    except json.JSONDecodeError as error:
        return {"ok": False, "_crash": True, "error": f"inspect printed invalid JSON: {error}"}
    if result.get("ok") is True and run.returncode != 0:
        return {"ok": False, "_crash": True, "error": "inspect printed ok:true but exited 1"}
    if result.get("ok") is False and run.returncode != 1:
        return {"ok": False, "_crash": True, "error": f"inspect printed ok:false but exited {run.returncode}"}
    return result


def close(actual, expected, tolerance):
    if actual is None or expected is None:
        return actual is None and expected is None
    if isinstance(actual, float) and math.isnan(actual):
        return isinstance(expected, float) and math.isnan(expected)
    return abs(actual - expected) <= tolerance


def stats_problem(stats, expected, lossy, nan_bands):
    """Why per-band statistics differ from one expected set, or None when they agree."""
    count = len(expected["min"])
    if len(stats) != count:
        return f"{len(stats)} bands of statistics, expected {count}"
    for band in range(count):
        got = stats[band]
        low, high, mean = expected["min"][band], expected["max"][band], expected["mean"][band]
        # nan_bands lists bands holding NaN samples, which both sides skip; a band with nothing
        # but NaN has no statistics (null on both sides).
        if band in nan_bands and low is None:
            if any(got.get(key) is not None for key in ("min", "max", "mean")):
                return f"band {band} has only NaN samples, but got {got}"
            continue
        if lossy:
            slack = LOSSY_FRACTION * max(high - low, 1.0)
            tolerances = (slack, slack, slack)
        else:
            tolerances = tuple(RELATIVE * max(1.0, abs(v)) for v in (low, high, mean))
        for key, want, tolerance in zip(("min", "max", "mean"), (low, high, mean), tolerances):
            if not close(got.get(key), float(want), tolerance):
                return f"band {band} {key} {got.get(key)} != {want}"
    return None


def metadata_problem(result, row):
    for column in METADATA:
        want = row[column].strip()
        if want == "":
            continue
        got = result.get(column)
        if column == "nodata":
            if want == "null":
                if got is not None:
                    return f"nodata {got} != null"
            elif got is None:
                return f"nodata null != {want}"
            else:
                want_value = float(want)
                got_value = float(got)
                if not (math.isnan(want_value) and math.isnan(got_value)) and \
                        abs(got_value - want_value) > RELATIVE * max(1.0, abs(want_value)):
                    return f"nodata {got} != {want}"
        elif isinstance(got, bool):
            if str(got).lower() != want.lower():
                return f"{column} {str(got).lower()} != {want}"
        elif str(got) != want:
            return f"{column} {got} != {want}"
    return None


def read_problem(result, row):
    """Why a successful read disagrees with an ok row, or None."""
    for column in ("width", "height", "bands"):
        if row[column] and result.get(column) != int(row[column]):
            return f"{column} {result.get(column)} != {row[column]}"
    problem = metadata_problem(result, row)
    if problem:
        return problem
    if not row["min"]:
        return None
    stats = result.get("stats")
    if not isinstance(stats, list):
        return "no stats in the output"
    expected = {key: json.loads(row[key]) for key in ("min", "max", "mean")}
    lossy = row["lossy"].strip().lower() == "yes"
    nan_bands = set(json.loads(row["nan_bands"])) if row["nan_bands"].strip() else set()
    problem = stats_problem(stats, expected, lossy, nan_bands)
    if problem and row["alt"].strip():
        if stats_problem(stats, json.loads(row["alt"]), lossy, nan_bands) is None:
            return None
    return problem


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    corpus, binary = sys.argv[1], sys.argv[2]
    if not os.access(binary, os.X_OK):
        print(f"corpus-check: {binary} is not an executable; build it first (make release)", file=sys.stderr)
        return 2
    with open(os.path.join(corpus, "expected.tsv"), newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))

    agreed, skipped, disagreements = 0, 0, []
    for row in rows:
        expect = row["expect"].strip()
        relpath = row["relpath"]
        if expect == "skip":
            skipped += 1
            continue
        result = inspect(binary, os.path.join(corpus, relpath))
        problem = None
        if result.get("_crash"):
            problem = result["error"]
        elif expect == "reject":
            if result.get("ok"):
                problem = "read, but must be rejected"
            elif not result.get("error") or "\n" in result["error"]:
                problem = "rejected without a one-line error"
        elif result.get("ok"):
            problem = read_problem(result, row)
        elif expect == "ok":
            problem = f"not read: {result.get('error')}"
        if problem:
            disagreements.append(f"{relpath} ({expect}): {problem}")
        else:
            agreed += 1

    print(f"corpus: {agreed} agreed, {len(disagreements)} disagreed, {skipped} skipped")
    for line in disagreements:
        print("  " + line)
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
