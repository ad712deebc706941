"""The KerasTuner random search over the modified architecture.

``build_tuned_model(hp)`` only reads the hyper-parameters and calls ``build_modified``. Each
trial trains on a seeded, stratified subset for a few epochs, with early stopping and a time
budget per trial, so trials of every size are compared at a similar cost; the best
hyper-parameters are then retrained at full size as the **tuned** variant.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import keras
import keras_tuner
import numpy as np

from pipeline.fsutil import write_json_atomically
from pipeline.models import ACTIVATIONS, OPTIMIZERS, UNITS, build_modified
from pipeline.train import TimeBudget

SEARCH_SPACE = {"activation": list(ACTIVATIONS), "units": list(UNITS), "optimizer": list(OPTIMIZERS)}
COMBINATIONS = len(ACTIVATIONS) * len(UNITS) * len(OPTIMIZERS)


def build_tuned_model(hp: keras_tuner.HyperParameters) -> keras.Model:
    """The hypermodel: the modified architecture with the searched choices."""
    return build_modified(
        units=hp.Choice("units", list(UNITS)),
        activation=hp.Choice("activation", list(ACTIVATIONS)),
        optimizer=hp.Choice("optimizer", list(OPTIMIZERS)),
        name="tuned",
    )


class ReportingRandomSearch(keras_tuner.RandomSearch):
    """RandomSearch that prints `trial k/N` and records each trial's wall time."""

    def __init__(self, *args: Any, progress: Callable[[str], None] = print, **kwargs: Any) -> None:
        self.progress = progress
        self.durations: dict[str, float] = {}
        self._trial_started = 0.0
        super().__init__(*args, **kwargs)
        self.durations = self._saved_durations()

    def _durations_path(self) -> Path:
        return Path(self.project_dir) / "durations.json"

    def _saved_durations(self) -> dict[str, float]:
        try:
            return {str(k): float(v) for k, v in json.loads(self._durations_path().read_text()).items()}
        except (OSError, ValueError, AttributeError):
            return {}

    def on_trial_begin(self, trial: keras_tuner.engine.trial.Trial) -> None:
        super().on_trial_begin(trial)
        self._trial_started = time.monotonic()
        done = len(self.oracle.trials)
        values = ", ".join(f"{k}={v}" for k, v in trial.hyperparameters.values.items())
        self.progress(f"trial {done}/{self.oracle.max_trials}: {values}")

    def on_trial_end(self, trial: keras_tuner.engine.trial.Trial) -> None:
        self.durations[trial.trial_id] = time.monotonic() - self._trial_started
        super().on_trial_end(trial)
        write_json_atomically(self._durations_path(), self.durations)


@dataclass
class SearchResult:
    """The search's trials and choice, as plain values."""

    best: dict[str, Any]
    trials: list[dict[str, Any]] = field(default_factory=list)
    combinations: int = COMBINATIONS
    seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "trials": self.trials,
            "combinations": self.combinations,
            "tried": len({(t["activation"], t["units"], t["optimizer"]) for t in self.trials}),
            "seconds": round(self.seconds, 2),
            "settings": self.settings,
            "space": SEARCH_SPACE,
        }


def trial_records(tuner: keras_tuner.Tuner, durations: dict[str, float]) -> list[dict[str, Any]]:
    """One row per trial, best first: hyper-parameters, best val_loss, epochs, duration, status."""
    rows = []
    for trial in tuner.oracle.trials.values():
        values = trial.hyperparameters.values
        history = trial.metrics.get_history("val_loss") if trial.metrics.exists("val_loss") else []
        rows.append(
            {
                "trial_id": trial.trial_id,
                "activation": values.get("activation"),
                "units": values.get("units"),
                "optimizer": values.get("optimizer"),
                "val_loss": float(trial.score) if trial.score is not None else None,
                "epochs": len(history),
                "seconds": round(durations[trial.trial_id], 2) if trial.trial_id in durations else None,
                "status": str(trial.status),
            }
        )
    rows.sort(key=lambda r: (r["val_loss"] is None, r["val_loss"] if r["val_loss"] is not None else 0.0))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows


def run_search(
    x_train: np.ndarray,
    x_val: np.ndarray,
    *,
    directory: Path,
    max_trials: int,
    epochs: int,
    batch_size: int,
    seed: int,
    trial_seconds: float | None = None,
    progress: Callable[[str], None] = print,
) -> SearchResult:
    """Run (or resume) the random search in ``directory`` and return its trials and choice."""
    started = time.monotonic()
    tuner = ReportingRandomSearch(
        hypermodel=build_tuned_model,
        objective="val_loss",
        max_trials=max_trials,
        seed=seed,
        directory=str(directory),
        project_name="modified_search",
        overwrite=False,
        progress=progress,
    )
    tuner.search(
        x_train, x_train,
        validation_data=(x_val, x_val),
        epochs=epochs,
        batch_size=batch_size,
        verbose=0,
        callbacks=[
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=1),
            TimeBudget(trial_seconds),
        ],
    )
    best_hp = tuner.get_best_hyperparameters(1)[0].values
    return SearchResult(
        best={k: best_hp[k] for k in ("activation", "units", "optimizer")},
        trials=trial_records(tuner, tuner.durations),
        seconds=time.monotonic() - started,
        settings={
            "max_trials": max_trials,
            "epochs_per_trial": epochs,
            "trial_images": int(len(x_train)),
            "validation_images": int(len(x_val)),
            "trial_seconds_budget": trial_seconds,
            "objective": "val_loss",
            "algorithm": "RandomSearch",
            "seed": seed,
        },
    )
