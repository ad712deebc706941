"""The search's record: every trial as a row (best first), the whole grid with each combination's result, the choice.

Read from the oracle's trials after a search (or a resumed one); plain values, for ``run.json``
and ``trials.csv``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import keras_tuner
import numpy as np

from genreport.pipeline.models.catalogue import Design
from genreport.pipeline.search.oracles import COMBINATIONS, GRID, SEARCH_SPACE, combination


@dataclass
class SearchResult:
    """The search's trials and choice, as plain values."""

    best: dict[str, Any]
    trials: list[dict[str, Any]] = field(default_factory=list)
    combinations: int = COMBINATIONS
    seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)
    grid: list[dict[str, Any]] = field(default_factory=list)
    mean_image_val_loss: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "trials": self.trials,
            "combinations": self.combinations,
            "tried": len({Design.of(t) for t in self.trials}),
            "seconds": round(self.seconds, 2),
            "settings": self.settings,
            "space": SEARCH_SPACE,
            "grid": self.grid,
            "mean_image_val_loss": self.mean_image_val_loss,
        }


def finite_or_none(value: Any) -> float | None:
    """``value`` as a float, or None when it is missing, NaN or infinite (JSON holds neither)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def trial_metric(trial: keras_tuner.engine.trial.Trial, name: str) -> float | None:
    """The last finite value a trial reported for ``name`` (None when it reported none)."""
    if not trial.metrics.exists(name):
        return None
    return finite_or_none(trial.metrics.get_last_value(name))


def trial_stop_reason(trial: keras_tuner.engine.trial.Trial) -> str | None:
    """Why a trial's training ended: its budget or early stopping (None when it did not report)."""
    early = trial_metric(trial, "early_stopped")
    if early is None:
        return None
    if early:
        return "early stopping"
    return "compute budget" if trial_metric(trial, "budget_flops") else "steps"


def trial_records(oracle: Any) -> list[dict[str, Any]]:
    """One row per trial, best first within the highest rung: choices, rung, budget, result, time."""
    rows = []
    for trial in oracle.trials.values():
        values = trial.hyperparameters.values
        seconds = oracle.trial_seconds.get(trial.trial_id)
        steps, flops, val_flops, train_seconds = (trial_metric(trial, k) for k in ("steps", "flops", "val_flops", "train_seconds"))
        rows.append(
            {
                "trial_id": trial.trial_id,
                "rung": int(values.get("rung", 0)),
                "activation": values.get("activation"),
                "units": values.get("units"),
                "optimizer": values.get("optimizer"),
                "val_loss": finite_or_none(trial.score),
                "steps": int(steps) if steps is not None else None,
                "epochs": trial_metric(trial, "epochs"),
                "flops": flops,
                "val_flops": val_flops,
                "budget_flops": trial_metric(trial, "budget_flops") or None,
                "stopped_by": trial_stop_reason(trial),
                "gflops_per_second": round(flops / train_seconds / 1e9, 1) if flops and train_seconds else None,
                "seconds": round(seconds, 2) if seconds is not None else None,
                "worker": oracle.trial_tuners.get(trial.trial_id, ""),
                "status": str(trial.status),
            }
        )
    rows.sort(key=lambda r: (-r["rung"], r["val_loss"] is None, r["val_loss"] if r["val_loss"] is not None else 0.0, r["trial_id"]))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows


def grid_table(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The whole space: per combination, its result on the highest rung it reached (None: never run)."""
    reached: dict[tuple[str, int, str], dict[str, Any]] = {}
    for row in trials:
        if row["val_loss"] is None:
            continue
        key = Design.of(row)
        if key not in reached or row["rung"] > reached[key]["rung"]:
            reached[key] = row
    table = []
    for c in GRID:
        row = reached.get(combination(c))
        table.append({**c, "val_loss": row["val_loss"] if row else None, "rung": row["rung"] if row else None,
                      "steps": row["steps"] if row else None, "flops": row["flops"] if row else None})
    return table


def best_choice(trials: list[dict[str, Any]]) -> dict[str, Any]:
    """The completed trial with the lowest validation loss on the highest rung any trial completed."""
    done = [t for t in trials if t["val_loss"] is not None and np.isfinite(t["val_loss"])]
    if not done:
        from genreport.pipeline.core.errors import GenreportError

        raise GenreportError("the search completed no trial; see the trials in OUT/tuner")
    top = max(t["rung"] for t in done)
    best = min((t for t in done if t["rung"] == top), key=lambda t: (t["val_loss"], t["trial_id"]))
    return {k: best[k] for k in ("activation", "units", "optimizer")}


def mean_image_loss(x_train: np.ndarray, x_val: np.ndarray) -> float:
    """Validation MSE of predicting the mean training image for every image: the floor to beat."""
    mean = np.asarray(x_train, dtype=np.float64).mean(axis=0)
    return float(np.mean((np.asarray(x_val, dtype=np.float64) - mean) ** 2))
