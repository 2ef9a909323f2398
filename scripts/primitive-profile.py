#!/usr/bin/env python3
"""Where a `segpipe bench` step goes, primitive by primitive, from oneDNN's verbose log.

Usage:
  DNNL_VERBOSE=1 .build/release/segpipe bench --steps 3 --warm-up 1 --json > verbose.txt
  scripts/primitive-profile.py verbose.txt

Sums the execution times of every primitive in each step (a step starts at the reorder of the
network input), prints the median step's total per kind of primitive, and the time outside
primitives (host work: Winograd transforms, loss, copies) from the bench's own step times.
"""
import collections
import json
import re
import statistics
import sys

lines = open(sys.argv[1]).read().splitlines()
rows = [line.split(",") for line in lines if line.startswith(("onednn_verbose,exec", "dnnl_verbose,exec"))]
starts = [i for i, row in enumerate(rows) if row[3] == "reorder" and re.search(r"x8x160x160$", row[-2] or "")]
if len(starts) < 2:
    sys.exit("primitive-profile.py: fewer than two steps in the log")


def kind(row):
    name, shape = row[3], row[-2]
    if name == "convolution" and "kh3" in shape:
        size = re.search(r"ih(\d+)", shape).group(1)
        return f"3×3 convolution, direct, {size}×{size}"
    if name == "convolution" and "kh1" in shape and "oc5_" not in shape.replace("oc5ih", "oc5_"):
        return "1×1 convolution (upsampling)"
    if name == "matmul":
        return "Winograd matrix products"
    return {"reorder": "reorders (input, output, concatenation, pixel shuffle)", "pooling_v2": "max pooling",
            "batch_normalization": "batch normalisation", "deconvolution": "transposed convolution",
            "convolution": "1×1 convolution (head)"}.get(name, name)


steps = []
for first, end in zip(starts, starts[1:] + [len(rows)]):
    totals = collections.Counter()
    for row in rows[first:end]:
        totals[kind(row)] += float(row[-1])
    steps.append(totals)
steps = steps[1:]  # the first logged step includes one-off work
median_total = statistics.median(sum(step.values()) for step in steps)
typical = min(steps, key=lambda step: abs(sum(step.values()) - median_total))
wall = None
for line in lines:
    if line.startswith("{"):
        wall = statistics.median(json.loads(line)["stepSeconds"]) * 1000
print(f"{'ms':>8}  primitive")
for name, ms in typical.most_common():
    print(f"{ms:8.1f}  {name}")
print(f"{median_total:8.1f}  all primitives")
if wall is not None:
    print(f"{wall:8.1f}  whole step (bench's median); {wall - median_total:.1f} ms outside primitives")
