"""The three autoencoder variants as plain Keras builders (functional API).

- **base**: Conv2D + AveragePooling2D twice (28 -> 14 -> 7), Conv2D + UpSampling2D twice
  (7 -> 14 -> 28), sigmoid output, no batch normalization.
- **modified**: the base with a third scaling step. 28x28 does not halve three times, so the
  input is zero-padded to 32x32 (32 -> 16 -> 8 -> 4) and the output cropped back to 28x28.
  Every convolution is followed by BatchNormalization; Conv2DTranspose (stride 2) replaces
  UpSampling2D. ``units`` is the first block's filter count; blocks two and three use
  ``2 * units`` and ``4 * units``, so the bottleneck is 4x4x(4 * units).
- **tuned**: the modified architecture with the activation, units and optimizer that the
  KerasTuner search chose (see ``pipeline.search.tuner``).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers

from genreport.pipeline.models.catalogue import BASE, MODIFIED

ACTIVATIONS: tuple[str, ...] = ("relu", "leakyrelu", "tanh")
UNITS: tuple[int, ...] = (32, 64, 128, 256)
OPTIMIZERS: tuple[str, ...] = ("adam", "sgd", "rmsprop")
LEAKY_SLOPE = 0.2
INPUT_SHAPE = (28, 28, 1)


def activation_layer(name: str) -> layers.Layer:
    """A fresh layer for the search space's activation name ('leakyrelu' is no Keras name)."""
    if name == "relu":
        return layers.ReLU()
    if name == "leakyrelu":
        return layers.LeakyReLU(negative_slope=LEAKY_SLOPE)
    if name == "tanh":
        return layers.Activation("tanh")
    raise ValueError(f"unknown activation {name!r}; choose from {', '.join(ACTIVATIONS)}")


def make_optimizer(name: str, learning_rate: float | None = None) -> keras.optimizers.Optimizer:
    """Adam and RMSprop at 1e-3, SGD at 1e-2 with Nesterov momentum 0.9, unless told otherwise."""
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate or 1e-3)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=learning_rate or 1e-3)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=learning_rate or 1e-2, momentum=0.9, nesterov=True)
    raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")


def compile_autoencoder(model: keras.Model, optimizer: str, learning_rate: float | None = None) -> keras.Model:
    """``model`` compiled for reconstruction: MSE loss and a fresh ``make_optimizer(optimizer, learning_rate)``."""
    model.compile(optimizer=make_optimizer(optimizer, learning_rate), loss="mse")
    return model


def _output_layer(x: Any) -> Any:
    # float32 output keeps the sigmoid and the loss exact under a mixed precision policy.
    return layers.Conv2D(1, 3, padding="same", activation="sigmoid", dtype="float32", name="reconstruction")(x)


def build_base(filters: tuple[int, int] = (32, 64), optimizer: str = "adam") -> keras.Model:
    """The base autoencoder, compiled with MSE loss."""
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = inputs
    for i, f in enumerate(filters, start=1):
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"enc_conv{i}")(x)
        x = layers.AveragePooling2D(2, name=f"enc_pool{i}")(x)
    for i, f in enumerate(reversed(filters), start=1):
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"dec_conv{i}")(x)
        x = layers.UpSampling2D(2, name=f"dec_up{i}")(x)
    return compile_autoencoder(keras.Model(inputs, _output_layer(x), name=BASE), optimizer)


def modified_filters(units: int) -> tuple[int, int, int]:
    """Filters of the three encoder blocks for a given ``units``."""
    return (units, 2 * units, 4 * units)


def build_modified(
    units: int = 32,
    activation: str = "relu",
    optimizer: str = "adam",
    name: str = MODIFIED,
    learning_rate: float | None = None,
    transposed_kernel: int = 4,
) -> keras.Model:
    """The modified autoencoder (three steps, BatchNormalization, Conv2DTranspose), compiled."""
    if units < 1:
        raise ValueError(f"units must be positive, got {units}")
    filters = modified_filters(units)
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = layers.ZeroPadding2D(2, name="pad_to_32")(inputs)
    for i, f in enumerate(filters, start=1):
        x = layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"enc_conv{i}")(x)
        x = layers.BatchNormalization(name=f"enc_bn{i}")(x)
        x = activation_layer(activation)(x)
        x = layers.AveragePooling2D(2, name=f"enc_pool{i}")(x)
    for i, f in enumerate(reversed(filters), start=1):
        # A 4x4 kernel divides evenly by the stride, avoiding checkerboard artefacts (validation
        # figures in benchmarks/README.md).
        x = layers.Conv2DTranspose(f, transposed_kernel, strides=2, padding="same", use_bias=False, name=f"dec_convT{i}")(x)
        x = layers.BatchNormalization(name=f"dec_bn{i}")(x)
        x = activation_layer(activation)(x)
    x = layers.Cropping2D(2, name="crop_to_28")(x)
    return compile_autoencoder(keras.Model(inputs, _output_layer(x), name=name), optimizer, learning_rate)


def layer_table(model: keras.Model) -> list[dict[str, Any]]:
    """One row per layer: name, class, output shape and parameter count (plain values)."""
    rows = []
    for layer in model.layers:
        shape = getattr(layer, "output", None)
        shape = tuple(shape.shape) if shape is not None else ()
        rows.append(
            {
                "name": layer.name,
                "type": type(layer).__name__,
                "output_shape": "x".join(str(d) for d in shape[1:]),
                "params": int(layer.count_params()),
            }
        )
    return rows
