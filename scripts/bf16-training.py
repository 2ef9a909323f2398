#!/usr/bin/env python3
"""Does training with bf16 convolutions reach the validation IoU of f32 training? An estimate of
issue 6's second bf16 criterion for a CPU without bf16 arithmetic, where segpipe's own
`--precision bf16` computes in f32.

Trains the demo model of pipelines/sample.yml (depth 3, 16 filters, 8 epochs of 20 steps, batch 8,
Adam at 0.003) in Keras, built by make-keras-fixtures.py, on the first scenes of a sample-data
folder and scores it on the last two, two ways per seed:
  - float32;
  - bf16 convolutions as oneDNN computes them under `--precision bf16`: every convolution's input
    and kernel rounded to bf16 (round to nearest even) going forward, the gradient arriving at
    its output rounded going backward (the bf16 diff_dst of oneDNN's backward primitives), f32
    accumulation, f32 master weights and f32 tensors between layers; the 1×1 head stays f32, as
    in segpipe.
The data protocol is this script's own, simpler than segpipe's trainer: random 160×160 crops
under a random flip or rotation, z-score normalisation per band from the training scenes,
inverse-frequency class weights normalised to sum 1, no oversampling. Validation cuts the
held-out scenes into whole tiles and paints a pixel with the most probable class when its
probability reaches 0.5, else background; the score is the mean IoU over the legend's classes
present. The seed fixes the initial weights, dropout and the crops, the same for both. One run
takes about 3 minutes on two cores.

Not run by CI. Needs tensorflow-cpu and tifffile:
  /path/to/venv/bin/python scripts/bf16-training.py sample-data [SEEDS]
"""
import glob
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import keras
import tensorflow as tf
import tifffile

from bf16_keras import layers_with, load_builder, to_bf16

# UNET.md's default legend: background, then the five classes of the model's outputs.
LEGEND = [(255, 255, 255), (150, 150, 150), (223, 194, 125), (27, 120, 55), (166, 219, 160), (116, 173, 209)]
CONFIG = {"depth": 3, "n_filters_start": 16, "growth_factor": 2, "dropout": 0.25, "tile_size": 160,
          "n_channels": 8, "n_classes": 5, "upsampling": "transpose"}
STEPS, BATCH, LEARNING_RATE, VALIDATION_SCENES = 160, 8, 0.003, 2


@tf.custom_gradient
def bf16_gradient(value):
    """Identity going forward; rounds the gradient to bf16 going backward."""
    return tf.identity(value), lambda upstream: to_bf16(upstream)


class BF16Conv2D(keras.layers.Conv2D):
    def call(self, inputs):
        if self.name == "head":
            return super().call(inputs)
        outputs = bf16_gradient(self.convolution_op(to_bf16(inputs), to_bf16(self.kernel)))
        if self.use_bias:
            outputs = outputs + self.bias
        return self.activation(outputs)


class BF16Conv2DTranspose(keras.layers.Conv2DTranspose):
    def call(self, inputs):
        outputs = keras.ops.conv_transpose(to_bf16(inputs), to_bf16(self.kernel), strides=self.strides, padding=self.padding,
                                           output_padding=self.output_padding, data_format=self.data_format,
                                           dilation_rate=self.dilation_rate)
        outputs = bf16_gradient(outputs)
        if self.use_bias:
            outputs = outputs + self.bias
        return self.activation(outputs)


BF16_LAYERS = layers_with(BF16Conv2D, BF16Conv2DTranspose)


def load_scenes(folder):
    images = sorted(glob.glob(os.path.join(folder, "images", "*.tif")))
    if len(images) <= VALIDATION_SCENES:
        sys.exit(f"bf16-training.py: {folder}/images: needs more than {VALIDATION_SCENES} scenes")
    scenes = []
    for path in images:
        name = os.path.splitext(os.path.basename(path))[0]
        mask_path = os.path.join(folder, "masks", name + ".png")
        image = tifffile.imread(path).astype(np.float32)
        rgb = tf.io.decode_png(tf.io.read_file(mask_path), channels=3).numpy().astype(np.int32)
        classes = np.full(rgb.shape[:2], -1, dtype=np.int32)
        for index, color in enumerate(LEGEND):
            classes[np.all(rgb == color, axis=-1)] = index
        if (classes < 0).any():
            sys.exit(f"bf16-training.py: {mask_path}: colours outside the default legend")
        scenes.append((image, classes))
    return scenes


def one_hot(classes):
    """Targets for the five outputs: background is all zeros."""
    return (classes[..., None] == np.arange(1, 6)).astype(np.float32)


def crops(scenes, rng, side):
    images, targets = [], []
    for _ in range(BATCH):
        image, classes = scenes[rng.integers(len(scenes))]
        y, x = rng.integers(image.shape[0] - side + 1), rng.integers(image.shape[1] - side + 1)
        a, b = image[y:y + side, x:x + side], classes[y:y + side, x:x + side]
        turns, flip = rng.integers(4), rng.integers(2)
        a, b = np.rot90(a, turns), np.rot90(b, turns)
        if flip:
            a, b = a[:, ::-1], b[:, ::-1]
        images.append(a)
        targets.append(one_hot(b))
    return np.stack(images), np.stack(targets)


def mean_iou(model, scenes, side):
    intersections, unions = np.zeros(6), np.zeros(6)
    for image, classes in scenes:
        for y in range(0, image.shape[0] - side + 1, side):
            for x in range(0, image.shape[1] - side + 1, side):
                logits = np.asarray(model(image[None, y:y + side, x:x + side], training=False), dtype=np.float32)[0]
                predicted = np.where(logits.max(axis=-1) >= 0, logits.argmax(axis=-1) + 1, 0)
                truth = classes[y:y + side, x:x + side]
                for c in range(6):
                    intersections[c] += np.sum((predicted == c) & (truth == c))
                    unions[c] += np.sum((predicted == c) | (truth == c))
    present = unions > 0
    return float(np.mean(intersections[present] / unions[present]))


def train(builder, variant, seed, training, validation, weights):
    builder.layers = BF16_LAYERS if variant == "bf16 convolutions" else keras.layers
    keras.utils.set_random_seed(seed)
    model = builder.build(CONFIG)
    optimizer = keras.optimizers.Adam(LEARNING_RATE)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = builder.weighted_bce_from_logits(logits, y, weights)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    rng = np.random.default_rng(seed)
    for _ in range(STEPS):
        x, y = crops(training, rng, CONFIG["tile_size"])
        loss = step(tf.constant(x), tf.constant(y))
    return float(loss), mean_iou(model, validation, CONFIG["tile_size"])


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: bf16-training.py SAMPLE_DATA_DIR [SEEDS]")
    seeds = int(sys.argv[2]) if len(sys.argv) == 3 else 3
    scenes = load_scenes(sys.argv[1])
    training, validation = scenes[:-VALIDATION_SCENES], scenes[-VALIDATION_SCENES:]
    stack = np.concatenate([image.reshape(-1, image.shape[-1]) for image, _ in training])
    mean, std = stack.mean(axis=0), stack.std(axis=0) + 1e-6
    training = [((image - mean) / std, classes) for image, classes in training]
    validation = [((image - mean) / std, classes) for image, classes in validation]
    frequencies = np.mean(np.concatenate([one_hot(classes).reshape(-1, 5) for _, classes in training]), axis=0)
    weights = 1 / np.maximum(frequencies, 1e-6)
    weights = (weights / weights.sum()).astype(np.float32).tolist()
    builder = load_builder()
    results = {}
    for seed in range(1, seeds + 1):
        for variant in ("float32", "bf16 convolutions"):
            start = time.time()
            loss, iou = train(builder, variant, seed, training, validation, weights)
            results.setdefault(variant, []).append(iou)
            print(f"seed {seed} {variant}: final loss {loss:.4f}, validation mean IoU {iou:.4f} ({time.time() - start:.0f} s)",
                  flush=True)
    print()
    print("| training | validation mean IoU per seed | mean |")
    print("|---|---|---|")
    for variant, ious in results.items():
        print(f"| {variant} | {', '.join(f'{v:.3f}' for v in ious)} | {np.mean(ious):.3f} |")


if __name__ == "__main__":
    main()
