#!/usr/bin/env python3
"""How often a bf16 U-Net picks the same class as the f32 one, on real tiles: an estimate of
issue 6's accuracy criterion (bf16 predictions agree with f32 on >= 99.5 % of pixels) for a CPU
without bf16 arithmetic, where segpipe's own --precision bf16 computes in f32.

Loads a segpipe model file into the Keras model of UNET.md (the builder of make-keras-fixtures.py),
cuts the scenes into whole 160x160 tiles (normalised as the model file says), and runs them three
times: in float32; with every convolution's input and kernel rounded to bf16 (round to nearest
even) and everything else in float32, which is what oneDNN's bf16 convolutions under segpipe's
--precision bf16 compute (bf16 products, f32 accumulation, f32 tensors between layers); and under
Keras's mixed_bfloat16 policy (bf16 activations throughout), which rounds more. Classes are the
argmax of the logits, as `segpipe predict --paint argmax` paints them.

Not run by CI. Needs tensorflow-cpu, safetensors and tifffile:
  /path/to/venv/bin/python scripts/bf16-agreement.py MODEL.safetensors sample-data/images
"""
import glob
import json
import os
import struct
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import keras
import tensorflow as tf
import tifffile
from safetensors.numpy import load_file

from bf16_keras import layers_with, load_builder, to_bf16


class BF16Conv2D(keras.layers.Conv2D):
    """Conv2D on bf16-rounded inputs (its kernel is rounded when assigned); the head too unless
    `head_in_f32`, as segpipe keeps it."""
    head_in_f32 = False

    def call(self, inputs):
        if self.name == "head" and BF16Conv2D.head_in_f32:
            return super().call(inputs)
        return super().call(to_bf16(inputs))


class BF16Conv2DTranspose(keras.layers.Conv2DTranspose):
    def call(self, inputs):
        return super().call(to_bf16(inputs))


BF16_LAYERS = layers_with(BF16Conv2D, BF16Conv2DTranspose)


def metadata(path):
    with open(path, "rb") as handle:
        size = struct.unpack("<Q", handle.read(8))[0]
        header = json.loads(handle.read(size))
    return json.loads(header["__metadata__"]["segpipe"])


def tiles(images, normalization, side):
    mode = normalization.get("mode", "none") if normalization else "none"
    if mode not in ("zscore", "none"):
        sys.exit(f"bf16-agreement.py: normalization {mode} is not implemented here (zscore and none are)")
    batches = []
    for path in sorted(glob.glob(os.path.join(images, "*.tif")) + glob.glob(os.path.join(images, "*.tiff"))):
        scene = tifffile.imread(path).astype(np.float32)
        if scene.ndim == 2:
            scene = scene[:, :, None]
        if mode == "zscore":
            scene = (scene - np.float32(normalization["mean"])) / np.float32(normalization["std"])
        height, width = scene.shape[:2]
        for y in range(0, height - side + 1, side):
            for x in range(0, width - side + 1, side):
                batches.append(scene[y:y + side, x:x + side])
    if not batches:
        sys.exit(f"bf16-agreement.py: {images}: no whole {side}x{side} tiles in any TIFF")
    return np.stack(batches)


def classes(builder, config, weights, x, policy, rounded_convolutions=False, head_in_f32=False):
    keras.mixed_precision.set_global_policy(policy)
    BF16Conv2D.head_in_f32 = head_in_f32
    builder.layers = BF16_LAYERS if rounded_convolutions else keras.layers
    model = builder.build(config)
    for name, variable in builder.named_variables(model):
        if name not in weights:
            sys.exit(f"bf16-agreement.py: the model file has no tensor {name}")
        value = weights[name]
        if rounded_convolutions and name.endswith(".kernel") and not (head_in_f32 and name.startswith("head.")):
            value = to_bf16(value).numpy()
        variable.assign(value)
    result = []
    for start in range(0, len(x), 8):
        logits = np.asarray(model(x[start:start + 8], training=False), dtype=np.float32)
        result.append(np.argmax(logits, axis=-1))
    return np.concatenate(result)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: bf16-agreement.py MODEL.safetensors IMAGES_DIR")
    model_path, images = sys.argv[1], sys.argv[2]
    info = metadata(model_path)
    config = info["config"]
    weights = load_file(model_path)
    x = tiles(images, info.get("normalization"), config["tile_size"])
    builder = load_builder()
    f32 = classes(builder, config, weights, x, "float32")
    convolutions = classes(builder, config, weights, x, "float32", rounded_convolutions=True)
    segpipe = classes(builder, config, weights, x, "float32", rounded_convolutions=True, head_in_f32=True)
    mixed = classes(builder, config, weights, x, "mixed_bfloat16")
    print(f"{model_path}: {len(x)} tiles, {f32.size} pixels; classes agreeing with f32: "
          f"{100 * float(np.mean(f32 == convolutions)):.3f} % with every convolution in bf16 (oneDNN's arithmetic), "
          f"{100 * float(np.mean(f32 == segpipe)):.3f} % with the head kept in f32 (segpipe's --precision bf16), "
          f"{100 * float(np.mean(f32 == mixed)):.3f} % with mixed_bfloat16")


if __name__ == "__main__":
    main()
