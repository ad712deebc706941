"""The callbacks a training run gets, and what a fit reports about itself."""

from __future__ import annotations

import keras

from pipeline.data import load_dataset
from pipeline.models import build_base
from pipeline.train import TimeBudget, fit_autoencoder, standard_callbacks


def test_standard_callbacks_restore_best_weights_and_halve_the_rate_on_a_plateau() -> None:
    early, plateau, budget = standard_callbacks(patience=3, time_budget=60.0)
    assert isinstance(early, keras.callbacks.EarlyStopping) and early.restore_best_weights
    assert isinstance(plateau, keras.callbacks.ReduceLROnPlateau) and plateau.factor == 0.5
    assert isinstance(budget, TimeBudget) and budget.seconds == 60.0


def test_a_fit_cut_by_its_time_budget_says_so_and_keeps_its_history(real_data_dir) -> None:
    data = load_dataset(real_data_dir, train_limit=600, test_limit=10, seed=3)
    keras.utils.set_random_seed(3)
    outcome = fit_autoencoder(build_base(), data.x_train, data.x_val, epochs=50, batch_size=30, time_budget=0.5, verbose=0)
    assert outcome.stopped_by == "time budget"
    assert 1 <= outcome.epochs_run < 50
    assert len(outcome.history["val_loss"]) == outcome.epochs_run and outcome.best_epoch >= 1
