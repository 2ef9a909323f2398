#!/usr/bin/env python3
"""Time the reference Keras model (UNET.md, default configuration) on this machine, as a baseline
for `segpipe bench`: batch of random tiles, warm-up steps, then the median and best of timed steps.

Not run by CI. Usage:
  /work/tfenv/bin/python scripts/bench-keras.py [--mode train|predict] [--batch-size 8]
      [--upsampling transpose|nearest] [--precision f32|bf16] [--steps 10] [--warm-up 2]
--precision bf16 uses Keras's mixed_bfloat16 policy (bf16 activations and arithmetic, f32 weights).
"""
import argparse
import importlib.util
import json
import os
import resource
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import keras
import tensorflow as tf

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("fixtures", os.path.join(here, "make-keras-fixtures.py"))
fixtures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fixtures)

REFERENCE = {
    "n_classes": 5, "n_channels": 8, "tile_size": 160, "n_filters_start": 32, "growth_factor": 2,
    "depth": 5, "upsampling": "transpose", "dropout": 0.25, "class_weights": [0.2, 0.3, 0.1, 0.1, 0.3],
}
# Forward GFLOP per tile (UNET.md); a training step counts three forward passes.
GFLOP_PER_TILE = {"transpose": 11.74, "nearest": 13.57}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["train", "predict"], default="predict")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--upsampling", choices=["transpose", "nearest"], default="transpose")
    parser.add_argument("--precision", choices=["f32", "bf16"], default="f32")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warm-up", type=int, default=2)
    args = parser.parse_args()

    config = dict(REFERENCE, upsampling=args.upsampling)
    keras.utils.set_random_seed(0)
    if args.precision == "bf16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = fixtures.build(config)
    rng = np.random.default_rng(0)
    side = config["tile_size"]
    x = rng.uniform(-1, 1, (args.batch_size, side, side, config["n_channels"])).astype(np.float32)
    y = (rng.random((args.batch_size, side, side, config["n_classes"])) < 0.3).astype(np.float32)
    weights = config["class_weights"]
    model.compile(optimizer=keras.optimizers.Adam(1e-3, epsilon=1e-7),
                  loss=lambda t, z: fixtures.weighted_bce_from_logits(z, t, weights))

    def step():
        if args.mode == "train":
            model.train_on_batch(x, y)
        else:
            model.predict_on_batch(x)

    for _ in range(args.warm_up):
        step()
    seconds = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    median, best = float(np.median(seconds)), min(seconds)
    passes = 3 if args.mode == "train" else 1
    gflop = GFLOP_PER_TILE[args.upsampling] * args.batch_size * passes
    print(json.dumps({
        "mode": args.mode, "batchSize": args.batch_size, "precision": args.precision, "upsampling": args.upsampling,
        "tilesPerSecondMedian": args.batch_size / median, "tilesPerSecondBest": args.batch_size / best,
        "gflopsMedian": gflop / median, "peakResidentBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "tensorflow": tf.__version__,
    }))


if __name__ == "__main__":
    main()
