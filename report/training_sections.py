"""The report's training and search sections: per-model training records and curves, the search space and its trials (no markup)."""

from __future__ import annotations

from typing import Any

from genreport.pipeline.results.schema import Choice, GridCell, ModelRecord, SearchRecord, TrainingRecord, TrialRow
from genreport.pipeline.training.budget import rung_work
from genreport.report import figures


def validation_curve(training: TrainingRecord) -> dict[str, list[float]] | None:
    """Validation loss at the end of each epoch, with the fractional epoch and TFLOP spent by then."""
    val = [v if v is not None else float("nan") for v in training.history.get("val_loss") or ()]
    plan = training.budget
    per_epoch, step_flops = (plan.steps_per_epoch, plan.step_flops) if plan else (None, None)
    if not val or not per_epoch or not step_flops:
        return None
    steps = [min((i + 1) * per_epoch, training.steps_run if training.steps_run is not None else (i + 1) * per_epoch) for i in range(len(val))]
    return {"val_loss": val, "epochs": [s / per_epoch for s in steps], "tflop": [s * step_flops / 1e12 for s in steps]}


TRAINING_COLUMNS = ("epochs_run", "best_epoch", "seconds", "stopped_by", "images_per_second", "steps_run", "gflops_per_second", "fractional_epochs")


def training_section(models: dict[str, ModelRecord], names: list[str]) -> dict[str, Any]:
    """Per-model training records (budget, work done, speed), the charts, and which models have no history."""
    rows, histories, curves, missing = [], {}, {}, []
    for name in names:
        record = models.get(name) or ModelRecord()
        training = record.training
        if not training or not training.history:
            missing.append(name)
            continue
        histories[name] = {key: list(series) for key, series in training.history.items()}
        curve = validation_curve(training)
        if curve:
            curves[name] = curve
        best = training.best_val_loss()
        rows.append({"variant": name, "policy": record.policy or "–", **{k: getattr(training, k) for k in TRAINING_COLUMNS},
                     "step_gflop": training.budget.step_flops / 1e9 if training.budget and training.budget.step_flops else None,
                     "tflop": training.flops / 1e12 if training.flops else None,
                     "best_val_loss": best if best is not None else float("nan")})
    return {"rows": rows, "chart": figures.loss_curves(histories) if histories else None,
            "work_chart": figures.validation_against_work(curves) if curves else None, "missing": missing}


def search_grid_rows(grid: tuple[GridCell, ...], best: Choice) -> list[dict[str, Any]]:
    """The whole space as rows of units × activation, one cell per optimizer, the chosen one marked."""
    optimizers = list(dict.fromkeys(g.optimizer for g in grid))
    rows: dict[tuple[int, str], dict[str, Any]] = {}
    for g in grid:
        row = rows.setdefault((g.units, g.activation), {"units": g.units, "activation": g.activation, "cells": {}})
        row["cells"][g.optimizer] = {"val_loss": g.val_loss, "rung": g.rung, "steps": g.steps, "chosen": g.design == best.design}
    empty = {"val_loss": None, "rung": None, "steps": None, "chosen": False}
    return [dict(r, cells=[r["cells"].get(o, empty) for o in optimizers]) for r in rows.values()]


MEANINGFUL_STEPS = 20  # below this a first-rung trial is barely trained: its loss says little about the design


def first_rung_steps(trials: tuple[TrialRow, ...]) -> list[dict[str, Any]]:
    """Per width, the fewest optimizer steps a first-rung trial ran, and whether that is too few to judge it."""
    steps: dict[int, int] = {}
    for t in trials:
        if t.rung == 0 and t.steps is not None and t.units is not None:
            steps[t.units] = min(steps.get(t.units, t.steps), t.steps)
    return [{"units": u, "steps": n, "too_few": n < MEANINGFUL_STEPS} for u, n in sorted(steps.items())]


def tuning_section(tuning: SearchRecord | None) -> dict[str, Any] | None:
    """The search space and its results, every trial best first with the chosen one marked, and coverage."""
    if not tuning:
        return None
    best = tuning.best
    trials = [dict(t.to_json(), worker=t.worker, chosen=t.design == best.design and t.rank == 1) for t in tuning.trials]
    optimizers = list(dict.fromkeys(g.optimizer for g in tuning.grid))
    settings = tuning.settings
    rung_flops = [rung_work(settings.first_rung_flops, settings.rate, r) for r in range(settings.rungs)] if settings.first_rung_flops else []
    rung_steps = [rung_work(settings.first_rung_steps, settings.rate, r) for r in range(settings.rungs)] if settings.first_rung_steps else []
    grid = [g.to_json() for g in tuning.grid]
    return {"best": best.to_json(), "trials": trials, "tried": tuning.tried, "combinations": tuning.combinations,
            "space": {k: list(v) for k, v in tuning.space.items()}, "settings": settings.to_json(), "seconds": tuning.seconds,
            "grid_rows": search_grid_rows(tuning.grid, best), "optimizers": optimizers,
            "chart": figures.search_space_chart(grid, tuning.mean_image_val_loss, best.to_json()) if any(g.val_loss is not None for g in tuning.grid) else None,
            "mean_image_val_loss": tuning.mean_image_val_loss, "last_rung_fraction": tuning.last_rung_fraction,
            "rung_tflop": [f / 1e12 for f in rung_flops], "rung_steps": rung_steps,
            "first_rung_steps": first_rung_steps(tuning.trials), "meaningful_steps": MEANINGFUL_STEPS}
