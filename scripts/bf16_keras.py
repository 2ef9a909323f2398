"""What the bf16 scripts share (bf16-agreement.py, bf16-training.py): rounding to bf16, the Keras
builder of the U-Net (make-keras-fixtures.py), and the builder's `layers` namespace with the
convolutions swapped for bf16-emulating ones. Not a script; imported from this folder."""
import importlib.util
import os

import keras
import tensorflow as tf


def to_bf16(value):
    """Rounds to the nearest bf16 (ties to even), keeping the dtype."""
    return tf.cast(tf.cast(value, tf.bfloat16), value.dtype)


def load_builder():
    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location("keras_fixtures", os.path.join(here, "make-keras-fixtures.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def layers_with(conv2d, conv2d_transpose):
    """The `layers` namespace the builder sees, with its two convolution classes replaced."""

    class Layers:
        Conv2D = conv2d
        Conv2DTranspose = conv2d_transpose

        def __getattr__(self, name):
            return getattr(keras.layers, name)

    return Layers()
