"""The learning-rate schedule and the callbacks a training run gets."""

from __future__ import annotations

import time

import keras
import numpy as np
import pytest

from pipeline.data import load_dataset
from pipeline.errors import ConfigError
from pipeline.models import build_base
from pipeline.train import CosineToLimit, TimeBudget, fit_autoencoder, standard_callbacks


def test_cosine_rate_starts_at_the_peak_and_ends_at_the_floor() -> None:
    schedule = CosineToLimit(epochs=4, seconds=None, floor=0.02)
    schedule.peak = 1e-3
    rates = [schedule.rate(p) for p in np.linspace(0, 1, 11)]
    assert rates[0] == pytest.approx(1e-3)
    assert rates[-1] == pytest.approx(2e-5)
    assert all(a > b for a, b in zip(rates, rates[1:]))


def test_cosine_progress_follows_the_time_budget_when_it_is_nearer() -> None:
    schedule = CosineToLimit(epochs=100, seconds=10.0)
    schedule.params = {"steps": 10}
    schedule.started = time.monotonic() - 5.0
    assert schedule.progress(batch=0) == pytest.approx(0.5, abs=0.02)


def test_training_with_cosine_ends_near_the_floor_rate(real_data_dir) -> None:
    data = load_dataset(real_data_dir, train_limit=400, test_limit=10, seed=3)
    keras.utils.set_random_seed(3)
    model = build_base()
    fit_autoencoder(model, data.x_train, data.x_val, epochs=2, batch_size=60, verbose=0, lr_schedule="cosine")
    final = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    assert final < 0.05 * 1e-3


def test_plateau_schedule_replaces_cosine_and_unknown_names_are_refused() -> None:
    kinds = [type(c) for c in standard_callbacks(3, None, 5, "plateau")]
    assert keras.callbacks.ReduceLROnPlateau in kinds and CosineToLimit not in kinds
    assert TimeBudget in kinds
    with pytest.raises(ConfigError, match="schedule"):
        standard_callbacks(3, None, 5, "linear")
