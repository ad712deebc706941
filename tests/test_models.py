"""Shapes and construction of the three autoencoder variants and the hypermodel."""

from __future__ import annotations

import itertools

import keras
import keras_tuner
import numpy as np
import pytest
from keras import layers

from genreport.pipeline.models.builders import (
    ACTIVATIONS,
    OPTIMIZERS,
    UNITS,
    activation_layer,
    build_base,
    build_modified,
    layer_table,
)
from genreport.pipeline.search.oracles import COMBINATIONS
from genreport.pipeline.search.tuner import build_tuned_model


def test_base_maps_28x28_to_28x28_through_7x7_without_batch_norm() -> None:
    model = build_base()
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 28, 28, 1)
    assert model.get_layer("enc_pool2").output.shape[1:3] == (7, 7)
    types = {type(layer) for layer in model.layers}
    assert layers.AveragePooling2D in types and layers.UpSampling2D in types
    assert layers.BatchNormalization not in types and layers.Conv2DTranspose not in types


def test_modified_has_three_steps_batch_norm_and_transposed_convolutions() -> None:
    model = build_modified(units=32)
    assert model.output_shape == (None, 28, 28, 1)
    assert model.get_layer("enc_pool3").output.shape[1:] == (4, 4, 128)
    types = [type(layer) for layer in model.layers]
    assert types.count(layers.AveragePooling2D) == 3
    assert types.count(layers.Conv2DTranspose) == 3
    assert types.count(layers.BatchNormalization) == 6
    assert layers.UpSampling2D not in types


def test_outputs_are_probabilities_for_every_variant() -> None:
    batch = np.random.default_rng(0).random((2, 28, 28, 1)).astype("float32")
    for model in (build_base(), build_modified(32, "tanh"), build_modified(32, "leakyrelu")):
        out = model.predict(batch, verbose=0)
        assert out.shape == (2, 28, 28, 1)
        assert np.all((out >= 0) & (out <= 1))


def test_leakyrelu_maps_to_the_keras_layer() -> None:
    assert isinstance(activation_layer("leakyrelu"), layers.LeakyReLU)
    with pytest.raises(ValueError):
        activation_layer("swish")


def test_hypermodel_builds_all_36_combinations() -> None:
    combos = list(itertools.product(ACTIVATIONS, UNITS, OPTIMIZERS))
    assert len(combos) == COMBINATIONS == 36
    for activation, units, optimizer in combos:
        hp = keras_tuner.HyperParameters()
        hp.Fixed("activation", activation)
        hp.Fixed("units", units)
        hp.Fixed("optimizer", optimizer)
        model = build_tuned_model(hp)
        assert model.output_shape == (None, 28, 28, 1)
        assert model.get_layer("enc_conv1").filters == units
        assert model.optimizer.__class__.__name__.lower() == optimizer
        keras.backend.clear_session(free_memory=False)  # a collection per build doubled this test's time


def test_layer_table_counts_every_parameter() -> None:
    model = build_base()
    rows = layer_table(model)
    assert sum(r["params"] for r in rows) == model.count_params()
    assert rows[-1]["output_shape"] == "28x28x1"


def test_trials_are_built_under_the_runs_precision_even_after_a_cleared_session() -> None:
    hp = keras_tuner.HyperParameters()
    for name, value in (("activation", "relu"), ("units", 32), ("optimizer", "adam")):
        hp.Fixed(name, value)
    try:
        keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
        keras.backend.clear_session()  # what KerasTuner does before every trial's build
        model = build_tuned_model(hp, policy="mixed_bfloat16")
        assert model.get_layer("enc_conv1").dtype_policy.name == "mixed_bfloat16"
        assert model.get_layer("reconstruction").dtype_policy.name == "float32"
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
