#!/usr/bin/env python3
"""Make the Keras reference fixtures for segpipe's UNet tests.

Builds the Keras 3 model of shared/UNET.md for a small configuration in both upsampling modes,
with seeded random weights (batch-normalisation statistics randomised too, so they matter), runs
one inference forward, one training forward with the loss and its gradients, and one Adam step,
and writes everything into Tests/UNetTests/Fixtures/keras-<mode>.safetensors:

  <name>              initial weights under UNET.md's names, Keras layouts
  input               [2, 32, 32, 4]
  targets             [2, 32, 32, 3]   (0/1, multi-label)
  inference_output    probabilities, training=False
  training_output     probabilities, training=True (batch statistics)
  loss                [1], the weighted binary cross-entropy of the training forward
  grad.<name>         d loss / d weight for every trainable tensor
  after_step.<name>   every tensor after one Adam step (moving statistics after their update)

The model runs in float64 so that the reference is exact to float32 rounding; the weights and the
input are rounded to float32 first, so they are exactly the values stored in the file.

Not run by CI. Usage: /work/tfenv/bin/python scripts/make-keras-fixtures.py [output-dir]
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import keras
import tensorflow as tf
from keras import layers
from safetensors.numpy import save_file

CONFIG = {
    "n_classes": 3, "n_channels": 4, "tile_size": 32, "n_filters_start": 4,
    "growth_factor": 2, "depth": 2, "upsampling": "transpose", "dropout": 0.0,
    "class_weights": [0.2, 0.5, 0.3],
}
BATCH = 2


def build(config):
    """The U-Net of UNET.md with a linear head; returns the model (outputs logits)."""
    depth, f, g = config["depth"], config["n_filters_start"], config["growth_factor"]
    rate = config["dropout"]
    side, bands = config["tile_size"], config["n_channels"]

    def conv_pair(x, prefix, filters):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{prefix}_conv1")(x)
        return layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{prefix}_conv2")(x)

    def bn(x, prefix):
        return layers.BatchNormalization(momentum=0.99, epsilon=1e-3, name=f"{prefix}_bn")(x)

    inputs = keras.Input((side, side, bands))
    x = inputs
    skips = []
    for k in range(1, depth + 2):
        if 2 <= k <= depth:
            x = bn(x, f"enc{k}")
        x = conv_pair(x, f"enc{k}", f * g ** (k - 1))
        if k <= depth:
            skips.append(x)
            x = layers.MaxPooling2D(2, name=f"enc{k}_pool")(x)
            if k >= 2:
                x = layers.Dropout(rate, name=f"enc{k}_dropout")(x)
    for j in range(1, depth + 1):
        filters = f * g ** (depth - j)
        if config["upsampling"] == "transpose":
            up = layers.Conv2DTranspose(filters, 2, strides=2, padding="same", name=f"dec{j}_up")(x)
        else:
            up = layers.UpSampling2D(2, interpolation="nearest", name=f"dec{j}_up")(x)
        x = layers.Concatenate(axis=-1, name=f"dec{j}_concat")([up, skips[depth - j]])
        if j <= depth - 1:
            x = bn(x, f"dec{j}")
        x = conv_pair(x, f"dec{j}", filters)
        if j <= depth - 1:
            x = layers.Dropout(rate, name=f"dec{j}_dropout")(x)
    logits = layers.Conv2D(config["n_classes"], 1, name="head")(x)
    return keras.Model(inputs, logits)


def variable_name(layer_name, variable):
    """UNET.md's name for a Keras variable: enc2_bn + gamma -> enc2.bn.gamma."""
    return layer_name.replace("_", ".") + "." + variable.path.split("/")[-1]


def named_variables(model):
    out = []
    for layer in model.layers:
        for variable in layer.weights:
            out.append((variable_name(layer.name, variable), variable))
    return out


def weighted_bce_from_logits(logits, targets, class_weights):
    per_pixel = tf.maximum(logits, 0) - logits * targets + tf.math.log1p(tf.exp(-tf.abs(logits)))
    per_class = tf.reduce_mean(per_pixel, axis=[0, 1, 2])
    return tf.reduce_sum(per_class * tf.constant(class_weights, dtype=logits.dtype))


def f32(a):
    return np.asarray(a, dtype=np.float32)


def check_transpose_semantics(model, x):
    """Conv2DTranspose 2x2 stride 2 must be y[2r+i, 2c+j, o] = b[o] + sum x[r,c,ch] K[i,j,o,ch]."""
    layer = model.get_layer("dec1_up")
    source = model.get_layer("enc3_conv2").output
    probe = keras.Model(model.inputs, [source, layer.output])
    a, y = (t.numpy() if hasattr(t, "numpy") else t for t in probe(x, training=False))
    kernel, bias = (v.numpy() for v in layer.weights)
    expected = np.einsum("nrcx,ijox->nricjo", a, kernel)
    n, h, _, w, _, o = expected.shape
    expected = expected.reshape(n, 2 * h, 2 * w, o) + bias
    assert np.allclose(expected, y, atol=1e-12), "Conv2DTranspose semantics differ from UNET.md"


def make(mode, out_dir):
    config = dict(CONFIG, upsampling=mode)
    keras.utils.set_random_seed(1234)
    model = build(config)
    rng = np.random.default_rng(20261129 + (0 if mode == "transpose" else 1))

    # Random biases and batch-normalisation state so that every parameter matters; everything
    # rounded to float32 so the float64 model computes on exactly the stored values.
    for name, variable in named_variables(model):
        value = variable.numpy()
        part = name.rsplit(".", 1)[1]
        if part == "bias":
            value = rng.normal(0.0, 0.05, value.shape)
        elif part == "gamma":
            value = rng.uniform(0.6, 1.4, value.shape)
        elif part == "beta":
            value = rng.normal(0.0, 0.1, value.shape)
        elif part == "moving_mean":
            value = rng.normal(0.0, 0.2, value.shape)
        elif part == "moving_variance":
            value = rng.uniform(0.5, 1.5, value.shape)
        variable.assign(f32(value).astype(np.float64))

    x = f32(rng.normal(0.0, 1.0, (BATCH, config["tile_size"], config["tile_size"], config["n_channels"])))
    y = f32(rng.random((BATCH, config["tile_size"], config["tile_size"], config["n_classes"])) < 0.3)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)

    if mode == "transpose":
        check_transpose_semantics(model, x64)

    tensors = {}
    names = named_variables(model)
    for name, variable in names:
        tensors[name] = f32(variable.numpy())
    tensors["input"] = x
    tensors["targets"] = y

    tensors["inference_output"] = f32(tf.sigmoid(model(x64, training=False)))

    optimizer = keras.optimizers.Adam(learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7)
    trainable = model.trainable_variables
    with tf.GradientTape() as tape:
        logits = model(x64, training=True)  # also updates the moving statistics, as Keras's fit does
        loss = weighted_bce_from_logits(logits, y64, config["class_weights"])
    grads = tape.gradient(loss, trainable)
    optimizer.apply_gradients(zip(grads, trainable))

    tensors["training_output"] = f32(tf.sigmoid(logits))
    tensors["loss"] = f32([float(loss)])
    by_id = {id(v): n for n, v in names}
    for variable, grad in zip(trainable, grads):
        tensors["grad." + by_id[id(variable)]] = f32(grad)
    for name, variable in names:
        tensors["after_step." + name] = f32(variable.numpy())

    metadata = {"segpipe": json.dumps({"format": "segpipe-unet", "version": 1, "config": config})}
    path = os.path.join(out_dir, f"keras-{mode}.safetensors")
    save_file(tensors, path, metadata=metadata)
    print(f"{path}: {len(names)} weights, loss {float(loss):.6f}, {os.path.getsize(path)} bytes")


def main():
    keras.config.set_floatx("float64")
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "Tests", "UNetTests", "Fixtures")
    os.makedirs(out_dir, exist_ok=True)
    for mode in ("transpose", "nearest"):
        make(mode, out_dir)


if __name__ == "__main__":
    main()
