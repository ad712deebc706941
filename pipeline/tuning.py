"""The KerasTuner random search over the modified architecture, local or distributed.

``build_tuned_model(hp)`` only reads the hyper-parameters and calls ``build_modified``. Each
trial trains on a seeded, stratified subset for a few epochs, with early stopping and a time
budget per trial, so trials of every size are compared at a similar cost; the best
hyper-parameters are then retrained at full size as the **tuned** variant.

Distributed search uses KerasTuner's own mode: a chief serves the oracle over gRPC and workers
run trials (``pipeline.distributed`` sets the roles). The oracle here also records which tuner
ran each trial and for how long, since ``trial.json`` does not.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import keras
import keras_tuner
import numpy as np

from pipeline.models import ACTIVATIONS, OPTIMIZERS, UNITS, build_modified
from pipeline.train import TimeBudget

SEARCH_SPACE = {"activation": list(ACTIVATIONS), "units": list(UNITS), "optimizer": list(OPTIMIZERS)}
COMBINATIONS = len(ACTIVATIONS) * len(UNITS) * len(OPTIMIZERS)
PROJECT = "modified_search"


def build_tuned_model(hp: keras_tuner.HyperParameters, policy: str | None = None) -> keras.Model:
    """The hypermodel: the modified architecture with the searched choices.

    KerasTuner calls ``keras.backend.clear_session()`` before every build, which also resets
    the global dtype policy to float32; ``policy`` puts the run's policy back first.
    """
    if policy:
        keras.mixed_precision.set_dtype_policy(policy)
    return build_modified(
        units=hp.Choice("units", list(UNITS)),
        activation=hp.Choice("activation", list(ACTIVATIONS)),
        optimizer=hp.Choice("optimizer", list(OPTIMIZERS)),
        name="tuned",
    )


class RecordingRandomSearchOracle(keras_tuner.oracles.RandomSearchOracle):
    """RandomSearch's oracle that also records each trial's tuner and wall time in its state."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.trial_tuners: dict[str, str] = {}
        self.trial_started: dict[str, float] = {}
        self.trial_seconds: dict[str, float] = {}
        super().__init__(*args, **kwargs)

    @keras_tuner.synchronized
    def create_trial(self, tuner_id: str) -> keras_tuner.engine.trial.Trial:
        trial = super().create_trial(tuner_id)
        if trial.status == keras_tuner.engine.trial.TrialStatus.RUNNING:
            self.trial_tuners[trial.trial_id] = tuner_id
            self.trial_started[trial.trial_id] = time.time()
            self.save()
        return trial

    @keras_tuner.synchronized
    def end_trial(self, trial: keras_tuner.engine.trial.Trial) -> None:
        started = self.trial_started.get(trial.trial_id)
        if started is not None:
            self.trial_seconds[trial.trial_id] = time.time() - started
        super().end_trial(trial)

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        state["genreport"] = {"tuners": self.trial_tuners, "started": self.trial_started, "seconds": self.trial_seconds}
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        ours = state.get("genreport", {})
        self.trial_tuners = dict(ours.get("tuners", {}))
        self.trial_started = dict(ours.get("started", {}))
        self.trial_seconds = dict(ours.get("seconds", {}))


class ReportingTuner(keras_tuner.Tuner):
    """A Tuner that prints `trial k/N` as each trial it runs begins."""

    def __init__(self, *args: Any, progress: Callable[[str], None] = print, **kwargs: Any) -> None:
        self.progress = progress
        super().__init__(*args, **kwargs)

    def on_trial_begin(self, trial: keras_tuner.engine.trial.Trial) -> None:
        super().on_trial_begin(trial)
        values = ", ".join(f"{k}={v}" for k, v in trial.hyperparameters.values.items())
        self.progress(f"trial {int(trial.trial_id) + 1}/{self.oracle.max_trials}: {values}")


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


def trial_records(oracle: RecordingRandomSearchOracle) -> list[dict[str, Any]]:
    """One row per trial, best first: hyper-parameters, best val_loss and its epoch, time, tuner, status."""
    rows = []
    for trial in oracle.trials.values():
        values = trial.hyperparameters.values
        seconds = oracle.trial_seconds.get(trial.trial_id)
        rows.append(
            {
                "trial_id": trial.trial_id,
                "activation": values.get("activation"),
                "units": values.get("units"),
                "optimizer": values.get("optimizer"),
                "val_loss": float(trial.score) if trial.score is not None else None,
                # KerasTuner keeps only the best epoch's metrics, so that is what can be shown.
                "best_epoch": int(trial.best_step) + 1 if trial.best_step is not None else None,
                "seconds": round(seconds, 2) if seconds is not None else None,
                "worker": oracle.trial_tuners.get(trial.trial_id, ""),
                "status": str(trial.status),
            }
        )
    rows.sort(key=lambda r: (r["val_loss"] is None, r["val_loss"] if r["val_loss"] is not None else 0.0))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows


def make_tuner(directory: Path, max_trials: int, seed: int, progress: Callable[[str], None], strategy: Any = None) -> ReportingTuner:
    """The search's tuner in ``directory``; it resumes what is there (never overwrites).

    Trials are built under the dtype policy that is global when the tuner is made.
    """
    oracle = RecordingRandomSearchOracle(objective="val_loss", max_trials=max_trials, seed=seed)
    return ReportingTuner(
        oracle=oracle,
        hypermodel=functools.partial(build_tuned_model, policy=keras.mixed_precision.dtype_policy().name),
        directory=str(directory),
        project_name=PROJECT,
        overwrite=False,
        progress=progress,
        distribution_strategy=strategy,
    )


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
    strategy: Any = None,
) -> SearchResult | None:
    """Run (or resume) the search in ``directory``; its trials and choice.

    As a distributed worker (see ``pipeline.distributed``) it runs trials until the chief's
    oracle says the search is over, and returns None: the chief holds the results.
    """
    from pipeline.distributed import is_worker

    started = time.monotonic()
    tuner = make_tuner(directory, max_trials, seed, progress, strategy)
    tuner.search(
        x_train, x_train,
        validation_data=(x_val, x_val),
        epochs=epochs,
        batch_size=batch_size,
        verbose=0,
        callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=1), TimeBudget(trial_seconds)],
    )
    if is_worker():
        return None
    oracle = tuner.oracle
    best_hp = oracle.get_best_trials(1)[0].hyperparameters.values
    return SearchResult(
        best={k: best_hp[k] for k in ("activation", "units", "optimizer")},
        trials=trial_records(oracle),
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
