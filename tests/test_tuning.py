"""The search: every combination on the first rung, successive halving, resume, and its records."""

from __future__ import annotations

from pathlib import Path

import keras_tuner
import numpy as np
import pytest

from genreport.pipeline.models.builders import build_modified
from genreport.pipeline.search.oracles import GRID, GridHalvingOracle, combination, rung_sizes
from genreport.pipeline.search.trials import best_choice, mean_image_loss
from genreport.pipeline.search.tuner import TrialBudget

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


class ArithmeticTrials:
    """KerasTuner's search loop and our tuner, oracle, files and records, with a trial that computes
    its loss instead of training (the real trial is exercised by the smoke run's 36)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, stop_after: int | None = None) -> None:
        from genreport.pipeline.search import tuner as tuning

        self.trained: list[dict] = []
        self.stop_after = stop_after
        monkeypatch.setattr(tuning.BudgetTuner, "run_trial", self.run_trial_for(self))

    @staticmethod
    def run_trial_for(record: "ArithmeticTrials"):
        def run_trial(tuner, trial, x_train, x_val):
            if record.stop_after is not None and len(record.trained) == record.stop_after:
                raise keras_tuner.errors.FatalError("stopped here, as a kill would")
            values = dict(trial.hyperparameters.values)
            record.trained.append(values)
            steps = 3 ** values["rung"]
            return {"val_loss": fake_score(values), "steps": float(steps), "flops": 1e9 * steps, "val_flops": 5e8, "step_flops": 1e9,
                    "train_seconds": 0.01, "epochs": 0.1 * steps, "budget_flops": 1e9 * steps, "budget_steps": float(steps), "early_stopped": 0.0}
        return run_trial


def arithmetic_search(folder: Path, rungs: int = 2):
    from genreport.pipeline.search.runner import run_search

    budget = TrialBudget(kind="compute", first_flops=1e9, first_steps=1, rate=3, batch_size=16, patience=1)
    x = np.zeros((4, 28, 28, 1), "float32")
    return run_search(x, x[:2], directory=folder, algorithm="halving", budget=budget, rungs=rungs, max_trials=1, seed=3,
                      progress=lambda _: None)


def test_a_two_rung_search_trains_all_36_then_the_best_12_and_chooses_from_the_second(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trials = ArithmeticTrials(monkeypatch)
    result = arithmetic_search(tmp_path / "tuner")
    rungs = [[combination(v) for v in trials.trained if v["rung"] == r] for r in (0, 1)]
    assert rungs[0] == [combination(c) for c in GRID]
    ranked = sorted(GRID, key=lambda c: fake_score({**c, "rung": 0}))
    assert rungs[1] == [combination(c) for c in ranked[:12]]
    assert len(result.trials) == 48 and all(t["status"] == "COMPLETED" for t in result.trials)
    assert result.best == min((c for c in GRID if combination(c) in rungs[1]), key=lambda c: fake_score({**c, "rung": 1}))


def test_a_finished_search_run_again_trains_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ArithmeticTrials(monkeypatch)
    first = arithmetic_search(tmp_path / "tuner")
    again = ArithmeticTrials(monkeypatch)
    resumed = arithmetic_search(tmp_path / "tuner")
    assert again.trained == []
    assert resumed.best == first.best and resumed.trials == first.trials


def test_a_search_stopped_midway_resumes_with_the_trial_it_was_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stopped = ArithmeticTrials(monkeypatch, stop_after=20)
    with pytest.raises(keras_tuner.errors.FatalError):
        arithmetic_search(tmp_path / "tuner")
    resumed = ArithmeticTrials(monkeypatch)
    result = arithmetic_search(tmp_path / "tuner")
    assert combination(resumed.trained[0]) == combination(GRID[20])  # the interrupted trial, first
    first_rung = [combination(v) for v in stopped.trained + resumed.trained if v["rung"] == 0]
    assert first_rung == [combination(c) for c in GRID]  # each combination once, in order
    assert len(result.trials) == 48


def test_only_a_one_step_trial_of_a_cheap_step_runs_eagerly() -> None:
    from genreport.pipeline.training.budget import StepPlan
    from genreport.pipeline.search.tuner import EAGER_STEP_FLOPS, runs_eagerly

    plan = lambda steps, step_flops: StepPlan("compute", 1e9, step_flops, steps, 10)  # noqa: E731
    assert runs_eagerly(plan(1, EAGER_STEP_FLOPS))
    assert not runs_eagerly(plan(1, EAGER_STEP_FLOPS + 1))
    assert not runs_eagerly(plan(2, 1e9))


def test_validation_work_is_one_forward_pass_per_image_and_validation() -> None:
    from genreport.pipeline.training.budget import forward_flops
    from genreport.pipeline.search.tuner import validation_flops

    model = build_modified(32)
    assert validation_flops(model, 100, 3) == 300 * forward_flops(model) > 0


def test_trial_records_count_validation_work_beside_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ArithmeticTrials(monkeypatch)
    result = arithmetic_search(tmp_path / "tuner", rungs=1)
    assert {t["val_flops"] for t in result.trials} == {5e8} and {t["flops"] for t in result.trials} == {1e9}


def test_a_trial_left_running_but_not_recorded_as_ongoing_is_retried_after_a_reload(tmp_path: Path) -> None:
    oracle = make_oracle(tmp_path)
    for _ in range(3):
        finish(oracle, oracle.create_trial("tuner0"))
    orphan = oracle.create_trial("tuner0")
    oracle.ongoing_trials = {}  # a kill between KerasTuner's trial.json (RUNNING) and oracle.json
    oracle.save()
    again = make_oracle(tmp_path)
    again.reload()
    assert again.create_trial("tuner0").trial_id == orphan.trial_id


def test_every_trial_carries_the_chiefs_settings_and_only_those_end_it(tmp_path: Path) -> None:
    from genreport.pipeline.search.oracles import in_search_space

    oracle = GridHalvingOracle(rungs=2, rate=3, seed=1, settings="abc123")
    oracle._set_project_dir(str(tmp_path), "search")
    trial = oracle.create_trial("tuner0")
    assert trial.hyperparameters.values["settings"] == "abc123"
    assert in_search_space(trial.hyperparameters.values, 2, "abc123")
    assert not in_search_space(dict(trial.hyperparameters.values, settings="other"), 2, "abc123")


def test_a_worker_with_other_settings_stops_before_training(tmp_path: Path) -> None:
    import keras_tuner

    from genreport.pipeline.search.runner import make_tuner

    budget = TrialBudget(kind="compute", first_flops=1e9, first_steps=1, rate=3, batch_size=16, patience=1)
    settings = {"algorithm": "grid + successive halving", "rungs": 1, "max_trials": 1}
    tuner = make_tuner(tmp_path / "tuner", settings, budget, seed=1, progress=lambda _: None, settings_digest="mine")
    chief = GridHalvingOracle(rungs=1, rate=3, seed=1, settings="the-chiefs")
    chief._set_project_dir(str(tmp_path / "chief"), "search")
    trial = chief.create_trial("tuner0")
    with pytest.raises(keras_tuner.errors.FatalError, match="differ from the chief's"):
        tuner.run_trial(trial, np.zeros((4, 28, 28, 1), "float32"), np.zeros((2, 28, 28, 1), "float32"))


def test_a_worker_waits_before_asking_again_after_an_answer_without_a_trial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from genreport.pipeline.search import tuner as tuning

    monkeypatch.setattr(tuning, "IDLE_WAIT", 0.3)
    budget = TrialBudget(kind="compute", first_flops=1e9, first_steps=1, rate=3, batch_size=16, patience=1)
    from genreport.pipeline.search.runner import make_tuner

    tuner = make_tuner(tmp_path / "tuner", {"algorithm": "grid + successive halving", "rungs": 1, "max_trials": 1},
                       budget, seed=1, progress=lambda _: None)
    tuner.pre_create_trial()
    started = time.monotonic()
    tuner.pre_create_trial()  # the previous ask got no trial (IDLE): wait
    assert time.monotonic() - started >= 0.3


def resumable_tuner(directory: Path, progress):
    from genreport.pipeline.search.runner import make_tuner

    budget = TrialBudget(kind="compute", first_flops=1e9, first_steps=1, rate=3, batch_size=16, patience=1)
    return make_tuner(directory, {"algorithm": "grid + successive halving", "rungs": 1, "max_trials": 1}, budget, seed=1, progress=progress)


def test_a_resumed_search_says_so_in_its_own_line_not_keras_tuners(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines: list[str] = []
    resumable_tuner(tmp_path / "tuner", lines.append).save()
    assert lines == []  # a new search says nothing here
    resumable_tuner(tmp_path / "tuner", lines.append)
    assert lines == [f"resuming the search in {tmp_path / 'tuner'}: 0 trials already ended"]
    assert "Reloading Tuner" not in capsys.readouterr().out  # so -q stays quiet


def test_a_resumed_search_printed_to_stdout_shows_its_line_and_only_that(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    resumable_tuner(tmp_path / "tuner", print).save()
    capsys.readouterr()
    resumable_tuner(tmp_path / "tuner", print)
    assert capsys.readouterr().out.splitlines() == [f"resuming the search in {tmp_path / 'tuner'}: 0 trials already ended"]


def test_a_resumed_search_starts_its_best_so_far_from_the_trials_that_ended(tmp_path: Path) -> None:
    tuner = resumable_tuner(tmp_path / "tuner", lambda _: None)
    tuner.oracle.verbose = 0
    for score in (0.5, 0.25, 0.75):
        finish(tuner.oracle, tuner.oracle.create_trial("tuner0"), score=score)
    tuner.save()
    resumed = resumable_tuner(tmp_path / "tuner", lambda _: None)
    assert resumed.best_seen == 0.25
    assert resumed.trials_tally(3).best == 0.25


def test_a_restarted_worker_reopens_its_own_search_folder(tmp_path: Path) -> None:
    from genreport.pipeline.search.distributed import tuner_role

    lines: list[str] = []
    with tuner_role("tuner-w1", "127.0.0.1", 1):  # nothing listens: building the tuner calls no one
        resumable_tuner(tmp_path / "tuner", lines.append).save()
        resumable_tuner(tmp_path / "tuner", lines.append)
    assert lines == []  # the trials are the chief's; the worker has none to count


def first_model_alive_at_second_build(folder: Path, monkeypatch: pytest.MonkeyPatch, collect_after_bytes: float) -> bool:
    """Two real 32-unit trials with Python's collector off: whether the first trial's model is still alive when the second builds."""
    import gc
    import weakref

    from genreport.pipeline.search import tuner as tuning
    from genreport.pipeline.search.runner import make_tuner

    monkeypatch.setattr(tuning, "COLLECT_AFTER_WEIGHT_BYTES", collect_after_bytes)
    budget = TrialBudget(kind="compute", first_flops=1e9, first_steps=1, rate=3, batch_size=4, patience=1)
    tuner = make_tuner(folder, {"algorithm": "halving", "rungs": 1, "max_trials": 1}, budget, seed=3, progress=lambda _: None,
                       log_dir=folder.parent / "logs")  # TensorBoard and HParams callbacks, as in a run
    build, built, alive = tuner._build_hypermodel, [], []

    def first_build(hp):
        built.append(weakref.ref(model := build(hp)))
        return model

    def second_build(hp):
        assert not gc.isenabled()
        alive.append(built[0]() is not None)
        return build(hp)

    x = np.random.default_rng(0).random((8, 28, 28, 1), dtype=np.float32)
    first, second = tuner.oracle.create_trial("tuner0"), tuner.oracle.create_trial("tuner1")  # a tuner that asks again gets its own trial back
    second.hyperparameters.values["activation"] = "tanh"  # another design, so it is built (the grid's next is reused)
    gc.collect()
    gc.disable()
    try:
        for builder, trial in ((first_build, first), (second_build, second)):
            monkeypatch.setattr(tuner, "_build_hypermodel", builder)
            tuner.run_trial(trial, x, x[:4])
    finally:
        gc.enable()
    assert len(alive) == 1
    return alive == [True]


def test_a_large_trial_s_model_is_freed_before_the_next_trial_builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keras models hold reference cycles: with Python's collector off, only the tuner's collection frees one."""
    assert not first_model_alive_at_second_build(tmp_path / "large", monkeypatch, collect_after_bytes=0)
    assert first_model_alive_at_second_build(tmp_path / "small", monkeypatch, collect_after_bytes=float("inf"))


def test_the_128_and_256_unit_designs_are_large_enough_to_collect_after_and_32_and_64_are_not() -> None:
    from genreport.pipeline.models.builders import UNITS
    from genreport.pipeline.search.tuner import COLLECT_AFTER_WEIGHT_BYTES

    assert [u for u in UNITS if 4 * build_modified(u).count_params() >= COLLECT_AFTER_WEIGHT_BYTES] == [128, 256]


@pytest.mark.parametrize("execution", ["eager", "traced", "xla"])
def test_a_restarted_model_is_back_at_its_built_weights_after_training_wrote_to_them(execution: str) -> None:
    """The initial weights are tensors that share the variables' buffers until training writes to
    them: a step, eager, traced or XLA-compiled (Keras' default on a GPU), must leave them as
    built, and a restart puts every one back."""
    from genreport.pipeline.search.tuner import ReusableModel

    model = build_modified(32, "relu", "rmsprop")
    built = model.get_weights()
    hp = keras_tuner.HyperParameters()
    hp.values.update(units=32, activation="relu", optimizer="rmsprop")
    reusable = ReusableModel.of(model, hp)
    model.run_eagerly, model.jit_compile = execution == "eager", execution == "xla"
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    model.fit(x, x, batch_size=4, epochs=1, verbose=0)
    trained = model.get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(trained, built))
    restarted = reusable.restarted("adam").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(restarted, built)) and len(restarted) == len(built)


def test_a_trial_differing_only_in_its_optimizer_restarts_the_last_model_and_scores_as_a_fresh_build(tmp_path: Path) -> None:
    """The grid runs a design's three optimizers one after another: the second trains the first's
    model, back at its built weights with a new optimizer, and gets the loss a new build gets (a
    two-step trial, so its training is traced again after the new compile)."""
    from genreport.pipeline.search.runner import make_tuner

    budget = TrialBudget(kind="compute", first_flops=1.5e9, first_steps=1, rate=3, batch_size=4, patience=1)  # two 32-unit steps
    x = np.random.default_rng(0).random((8, 28, 28, 1), dtype=np.float32)

    def tuner_in(folder: Path):
        return make_tuner(folder, {"algorithm": "halving", "rungs": 1, "max_trials": 1}, budget, seed=3, progress=lambda _: None)

    reusing = tuner_in(tmp_path / "reusing")
    builds = []
    build = reusing._build_hypermodel
    reusing._build_hypermodel = lambda hp: builds.append(hp.values["optimizer"]) or build(hp)
    adam, sgd = reusing.oracle.create_trial("tuner0"), reusing.oracle.create_trial("tuner1")  # a tuner that asks again gets its own trial back
    assert (adam.hyperparameters.values["optimizer"], sgd.hyperparameters.values["optimizer"]) == ("adam", "sgd")
    reusing.run_trial(adam, x, x[:4])
    trained_once = reusing._reusable.model
    restarted = reusing.run_trial(sgd, x, x[:4])
    assert builds == ["adam"] and reusing._reusable.model is trained_once
    assert type(trained_once.optimizer).__name__ == "SGD" and restarted["steps"] == 2.0

    fresh = tuner_in(tmp_path / "fresh").run_trial(sgd, x, x[:4])
    assert restarted["val_loss"] == fresh["val_loss"]
