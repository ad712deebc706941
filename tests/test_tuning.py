"""The search: every combination on the first rung, successive halving, resume, and its records."""

from __future__ import annotations

from pathlib import Path

import keras_tuner
import numpy as np
import pytest

from pipeline.models import build_modified
from pipeline.tuning import GRID, GridHalvingOracle, TrialBudget, best_choice, combination, mean_image_loss, rung_sizes

Status = keras_tuner.engine.trial.TrialStatus


def make_oracle(folder: Path, rungs: int = 3) -> GridHalvingOracle:
    oracle = GridHalvingOracle(rungs=rungs, rate=3, seed=1)
    oracle._set_project_dir(str(folder), "search")
    return oracle


def fake_score(values: dict) -> float:
    """A made-up validation loss: lower for fewer units, then by position in the grid."""
    index = GRID.index({k: values[k] for k in ("activation", "units", "optimizer")})
    return values["units"] / 1000 + index / 1e5 - values["rung"] / 100


def finish(oracle: GridHalvingOracle, trial, score: float | None = None) -> None:
    oracle.update_trial(trial.trial_id, {"val_loss": fake_score(trial.hyperparameters.values) if score is None else score})
    trial.status = Status.COMPLETED
    oracle.end_trial(trial)


def run_all(oracle: GridHalvingOracle, limit: int = 200) -> list[dict]:
    seen = []
    for _ in range(limit):
        trial = oracle.create_trial("tuner0")
        if trial.status == Status.STOPPED:
            return seen
        seen.append(dict(trial.hyperparameters.values))
        finish(oracle, trial)
    raise AssertionError("the search never stopped")


def test_rungs_keep_a_third_each_time() -> None:
    assert rung_sizes(3, 3) == [36, 12, 4]
    assert rung_sizes(1, 3) == [36]


def test_the_first_rung_visits_all_36_combinations_once_in_grid_order(tmp_path: Path) -> None:
    seen = run_all(make_oracle(tmp_path, rungs=1))
    assert [combination(v) for v in seen] == [combination(c) for c in GRID]
    assert len({combination(v) for v in seen}) == 36


def test_each_rung_trains_the_best_third_of_the_rung_before_then_the_search_stops(tmp_path: Path) -> None:
    seen = run_all(make_oracle(tmp_path, rungs=3))
    by_rung = [[combination(v) for v in seen if v["rung"] == r] for r in range(3)]
    assert [len(r) for r in by_rung] == [36, 12, 4]
    ranked = sorted(GRID, key=lambda c: fake_score({**c, "rung": 0}))
    assert by_rung[1] == [combination(c) for c in ranked[:12]]
    assert by_rung[2] == [combination(c) for c in ranked[:4]]


def test_a_rung_waits_until_every_trial_of_the_rung_before_has_ended(tmp_path: Path) -> None:
    oracle = make_oracle(tmp_path, rungs=2)
    trials = [oracle.create_trial(f"tuner{i}") for i in range(36)]
    for trial in trials[:-1]:
        finish(oracle, trial)
    assert oracle.create_trial("another").status == Status.IDLE
    finish(oracle, trials[-1])
    nxt = oracle.create_trial("another")
    assert nxt.status == Status.RUNNING and nxt.hyperparameters.values["rung"] == 1


def test_a_reloaded_search_continues_where_it_stopped(tmp_path: Path) -> None:
    oracle = make_oracle(tmp_path)
    for _ in range(20):
        finish(oracle, oracle.create_trial("tuner0"))
    running = oracle.create_trial("tuner0")  # killed while running: it is retried first
    again = make_oracle(tmp_path)
    again.reload()
    retried = again.create_trial("tuner0")
    assert retried.trial_id == running.trial_id
    finish(again, retried)
    following = again.create_trial("tuner0")
    assert combination(following.hyperparameters.values) == combination(GRID[21])


def test_trial_budgets_grow_by_the_rate_per_rung() -> None:
    budget = TrialBudget(kind="compute", first_flops=4e11, first_steps=10, rate=3, batch_size=32, patience=2)
    model = build_modified(32)
    first, third = budget.plan(model, 0, 6000), budget.plan(model, 2, 6000)
    assert first.steps == int(4e11 // first.step_flops) and third.steps == int(9 * 4e11 // third.step_flops)
    steps = TrialBudget(kind="epochs", first_flops=0, first_steps=10, rate=3, batch_size=32, patience=2)
    assert [steps.plan(model, r, 6000).steps for r in range(3)] == [10, 30, 90]


def test_the_choice_comes_from_the_highest_rung_even_when_a_lower_rung_scored_lower() -> None:
    trials = [
        {"trial_id": "0", "rung": 0, "activation": "tanh", "units": 256, "optimizer": "sgd", "val_loss": 0.001},
        {"trial_id": "1", "rung": 1, "activation": "relu", "units": 32, "optimizer": "adam", "val_loss": 0.01},
        {"trial_id": "2", "rung": 1, "activation": "relu", "units": 64, "optimizer": "adam", "val_loss": 0.02},
    ]
    assert best_choice(trials) == {"activation": "relu", "units": 32, "optimizer": "adam"}


def test_the_mean_image_baseline_is_the_variance_around_the_training_mean() -> None:
    rng = np.random.default_rng(0)
    train = rng.random((50, 28, 28, 1))
    val = rng.random((20, 28, 28, 1))
    assert mean_image_loss(train, val) == pytest.approx(float(np.mean((val - train.mean(axis=0)) ** 2)))
