"""The KerasTuner search over the modified architecture: the whole grid, then successive halving.

``build_tuned_model(hp)`` only reads the hyper-parameters and calls ``build_modified``; the
oracles that decide which configuration each trial trains live in ``pipeline.search.oracles``.

The default search (``--search halving``) trains every one of the 36 combinations of
activation × units × optimizer once on the first rung's budget, then each rung keeps the best
third by validation loss and trains them again from the same seed with three times the budget.
Budgets are work (``pipeline.training.budget``): equal FLOPs under ``--budget compute``, equal optimizer
steps under ``--budget epochs``, so the same seed gives the same search on any machine. Why not
KerasTuner's ``Hyperband``: its fresh configurations are random draws that stop after 20
duplicates (the grid is covered only by chance), its budgets are epochs, and it restarts
optimizers between rounds. ``--search random --max-trials N`` keeps the original study's
RandomSearch (every trial on the last rung's budget).

Every trial starts from the run's seed, whichever worker runs it and in whatever order, and
trains on the training split's tuning subset, scored on a validation subset: the test set is
never seen. Distributed search uses KerasTuner's own chief/worker mode (``pipeline.search.distributed``);
every trial carries a digest of the chief's settings, and a worker whose own differ stops.
"""

from __future__ import annotations

import functools
import json
import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import keras
import keras_tuner
import numpy as np

from genreport.pipeline.training.budget import StepPlan, forward_flops, plan_steps, rung_work, steps_per_epoch, train_step_flops
from genreport.pipeline.models.catalogue import TUNED, Design
from genreport.pipeline.core.fsutil import write_text_atomically
from genreport.pipeline.core.ownership import make_folder
from genreport.pipeline.models.builders import ACTIVATIONS, OPTIMIZERS, UNITS, build_modified
from genreport.pipeline.core.progress import Lines, Progress, Tally, event_sink
from genreport.pipeline.search.oracles import (
    COMBINATIONS,
    GRID,
    SEARCH_SPACE,
    GridHalvingOracle,
    RecordingRandomSearchOracle,
    combination,
    rung_sizes,
)

PROJECT = "modified_search"
IDLE_WAIT = 2.0  # seconds a worker waits before asking again while a rung is finishing elsewhere
# A one-step trial whose step costs at most this runs eagerly: tracing the training and validation
# functions costs more than it saves there (benchmarks/trial_cost.py). Counted in work, so the
# choice is the same on every machine.
EAGER_STEP_FLOPS = 0.4e12


def build_tuned_model(hp: keras_tuner.HyperParameters, policy: str | None = None, seed: int | None = None) -> keras.Model:
    """The hypermodel: the modified architecture with the searched choices.

    KerasTuner calls ``keras.backend.clear_session()`` before every build, which also resets
    the global dtype policy to float32; ``policy`` puts the run's policy back first, and
    ``seed`` makes every trial start from the same random state.
    """
    if seed is not None:
        keras.utils.set_random_seed(seed)
    if policy:
        keras.mixed_precision.set_dtype_policy(policy)
    return build_modified(
        units=hp.Choice("units", list(UNITS)),
        activation=hp.Choice("activation", list(ACTIVATIONS)),
        optimizer=hp.Choice("optimizer", list(OPTIMIZERS)),
        name=TUNED,
    )


@dataclass(frozen=True)
class TrialBudget:
    """What one search trial may spend: the first rung's budget, grown ``rate`` times a rung."""

    kind: str  # "compute" or "epochs"
    first_flops: float
    first_steps: int
    rate: int
    batch_size: int
    patience: int
    schedule: str = "plateau"
    seed: int = 0

    def plan(self, model: keras.Model, rung: int, images: int) -> StepPlan:
        """The steps a trial of ``model`` on rung ``rung`` runs."""
        if self.kind == "compute":
            return plan_steps(model, kind="compute", images=images, batch_size=self.batch_size,
                              budget_flops=rung_work(self.first_flops, self.rate, rung))
        steps = rung_work(self.first_steps, self.rate, rung)
        return StepPlan(kind="steps", budget_flops=None, step_flops=train_step_flops(model, self.batch_size), steps=steps,
                        steps_per_epoch=steps_per_epoch(images, self.batch_size))


class BudgetTuner(keras_tuner.Tuner):
    """Runs each trial for the steps its rung's budget buys and prints `trial k/N` as it begins."""

    def __init__(self, *args: Any, budget: TrialBudget, progress: Progress | Lines = print,
                 settings: str | None = None, log_dir: Path | None = None, **kwargs: Any) -> None:
        self.progress = event_sink(progress)
        self.budget = budget
        self.settings_digest = settings
        self.log_dir = log_dir
        self._asked_without_trial = False
        self.best_seen = float("inf")  # the lowest validation loss of the trials this process ran
        super().__init__(*args, **kwargs)

    def pre_create_trial(self) -> None:
        # KerasTuner asks again at once after an IDLE answer; a worker waiting for a rung to
        # finish elsewhere would spin a core and flood the chief with calls.
        if self._asked_without_trial:
            time.sleep(IDLE_WAIT)
        self._asked_without_trial = True

    def search(self, *fit_args: Any, **fit_kwargs: Any) -> None:
        """Run trials here; as the chief, serve the oracle until the search is over (``pipeline.search.distributed``)."""
        from genreport.pipeline.search.distributed import is_chief, serve_oracle

        if not is_chief():
            super().search(*fit_args, **fit_kwargs)
            return
        self.save()
        serve_oracle(self.oracle)

    def save(self) -> None:
        """The oracle's state (not on a worker) and this tuner's file, each written whole."""
        if not self._is_worker():
            self.oracle.save()
        write_text_atomically(Path(self._get_tuner_fname()), json.dumps(self.get_state()))

    def on_trial_begin(self, trial: keras_tuner.engine.trial.Trial) -> None:
        self._asked_without_trial = False
        super().on_trial_begin(trial)
        values = ", ".join(f"{k}={v}" for k, v in trial.hyperparameters.values.items())
        number = int(trial.trial_id) + 1
        self.progress(f"trial {number}/{self.oracle.max_trials}: {values}")
        self.progress(self.trials_tally(number - 1))

    def _try_build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        """The trial's model, built in a cleared session (KerasTuner's own also collects garbage
        twice, 0.3-0.4 s a trial; the build sets the seed and the policy again, so nothing else
        changes; our hypermodel always returns a Keras model and no size limit is set)."""
        from genreport.pipeline.core.environment import release_free_memory

        keras.backend.clear_session(free_memory=False)
        release_free_memory()
        return self._build_hypermodel(hp)

    def run_trial(self, trial: keras_tuner.engine.trial.Trial, x_train: np.ndarray, x_val: np.ndarray) -> dict[str, float]:
        from contextlib import nullcontext

        from genreport.pipeline.training.fit import fit_autoencoder

        hp = trial.hyperparameters
        if self.settings_digest is not None and hp.values.get("settings") != self.settings_digest:
            raise keras_tuner.errors.FatalError(
                "this worker's settings (--preset, --seed, --data-seed, --batch-size, precision, data set…) differ from "
                "the chief's: start it with the chief's options")
        strategy = self.distribution_strategy
        with strategy.scope() if strategy else nullcontext():
            model = self._try_build(hp)
        plan = self.budget.plan(model, int(hp.values.get("rung", 0)), len(x_train))
        model.run_eagerly = strategy is None and runs_eagerly(plan)
        outcome = fit_autoencoder(model, x_train, x_val, plan=plan, batch_size=self.budget.batch_size,
                                  patience=self.budget.patience, verbose=0, extra_callbacks=self.tensorboard_callbacks(trial),
                                  schedule=self.budget.schedule, shuffle_seed=self.budget.seed,
                                  restore_best=False)  # the trial's weights are not kept: its score is the best epoch's loss
        finite = [v for v in outcome.history.get("val_loss") or [] if v is not None and math.isfinite(v)]
        best = float(min(finite)) if finite else float("nan")  # NaN: KerasTuner marks the trial invalid
        if math.isfinite(best):
            self.best_seen = min(self.best_seen, best)
        so_far = f"; best so far {self.best_seen:.5f}" if math.isfinite(self.best_seen) else ""
        self.progress(f"  val_loss {best:.5f} after {outcome.steps_run} steps ({outcome.seconds:.1f} s){so_far}")
        self.progress(self.trials_tally(int(trial.trial_id) + 1))
        return {
            "val_loss": best,
            "steps": float(outcome.steps_run),
            "flops": outcome.flops,
            "val_flops": float(validation_flops(model, len(x_val), outcome.epochs_run)),
            "step_flops": float(plan.step_flops),
            "train_seconds": float(outcome.seconds),
            "epochs": outcome.steps_run / plan.steps_per_epoch,
            "budget_flops": float(plan.budget_flops or 0.0),
            "budget_steps": float(plan.steps),
            "early_stopped": 1.0 if outcome.stopped_by == "early stopping" else 0.0,
        }

    def trials_tally(self, done: int) -> Tally:
        """The search's position for a live bar: ``done`` of the oracle's trials, and the best loss seen here."""
        best = self.best_seen if math.isfinite(self.best_seen) else None
        return Tally("search", done, int(self.oracle.max_trials), "trials", best=best)

    def tensorboard_callbacks(self, trial: keras_tuner.engine.trial.Trial) -> list[keras.callbacks.Callback]:
        """A TensorBoard log per trial under ``log_dir`` with KerasTuner's HParams record (none without ``log_dir``)."""
        if self.log_dir is None:
            return []
        callbacks: list[keras.callbacks.Callback] = [
            keras.callbacks.TensorBoard(log_dir=str(self.log_dir), histogram_freq=0, write_graph=False, update_freq="epoch")]
        self._configure_tensorboard_dir(callbacks, trial)  # per-trial folder, plus an HParams callback
        return callbacks


def runs_eagerly(plan: StepPlan) -> bool:
    """Whether a trial of ``plan`` runs without tracing: one optimizer step of at most ``EAGER_STEP_FLOPS``."""
    return plan.steps == 1 and plan.step_flops <= EAGER_STEP_FLOPS


def validation_flops(model: keras.Model, images: int, validations: int) -> int:
    """FLOPs of scoring ``images`` validation images ``validations`` times (forward passes only)."""
    return images * forward_flops(model) * validations


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


def make_tuner(directory: Path, settings: dict[str, Any], budget: TrialBudget, seed: int,
               progress: Progress | Lines, strategy: Any = None, worker_timeout: float | None = None,
               settings_digest: str | None = None, log_dir: Path | None = None) -> BudgetTuner:
    """The search's tuner in ``directory``; it resumes what is there (never overwrites).

    Saved state that cannot be read back (say an empty ``oracle.json`` left by a kill) is moved
    aside whole, to ``<directory>.unreadable-<time>``, and the search starts again; nothing else
    of the run is touched. Trials are built under the dtype policy that is global when the tuner
    is made. ``worker_timeout`` applies to a chief's workers (see ``RecordingMixin``).
    """
    def build() -> BudgetTuner:
        if settings["algorithm"] == "RandomSearch":
            oracle: Any = RecordingRandomSearchOracle(objective="val_loss", max_trials=settings["max_trials"], seed=seed,
                                                       settings=settings_digest)
        else:
            oracle = GridHalvingOracle(rungs=settings["rungs"], rate=budget.rate, seed=seed, settings=settings_digest)
        oracle.worker_timeout = worker_timeout
        oracle.say = progress
        return BudgetTuner(
            oracle=oracle,
            hypermodel=functools.partial(build_tuned_model, policy=keras.mixed_precision.dtype_policy().name, seed=seed),
            directory=str(directory),
            project_name=PROJECT,
            overwrite=False,
            progress=progress,
            budget=budget,
            settings=settings_digest,
            log_dir=log_dir,
            distribution_strategy=strategy,
        )

    from genreport.pipeline.search.distributed import is_worker

    saved = (Path(directory) / PROJECT).is_dir()
    try:
        tuner = built_quietly(build, progress)
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:  # JSONDecodeError is a ValueError
        if not saved:
            raise
        set_aside_unreadable(Path(directory), exc, progress)
        return built_quietly(build, progress)
    if saved and not is_worker():  # a worker's oracle is the chief's, over gRPC: it has no trials here
        ended = [t for t in tuner.oracle.trials.values() if t.status in ("COMPLETED", "INVALID", "FAILED")]
        tuner.best_seen = min((t.score for t in ended if t.score is not None and math.isfinite(t.score)), default=float("inf"))
        event_sink(progress)(f"resuming the search in {directory}: {len(ended)} trial{'' if len(ended) == 1 else 's'} already ended")
    return tuner


RELOADING = "Reloading Tuner from"


def built_quietly(build: Callable[[], BudgetTuner], progress: Progress | Lines) -> BudgetTuner:
    """``build()`` without KerasTuner's own "Reloading Tuner" print (the caller says it, and -q silences
    it); anything else KerasTuner prints meanwhile goes on to ``progress``, even if ``build`` fails."""
    import contextlib
    import io

    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            return build()
    finally:
        sink = event_sink(progress)
        for line in printed.getvalue().splitlines():
            if line.strip() and not line.startswith(RELOADING):
                sink(line)


def set_aside_unreadable(directory: Path, exc: BaseException, progress: Callable[[str], None]) -> Path:
    """Rename an unreadable tuner folder to ``<name>.unreadable-<time>`` (nothing is deleted); where it went."""
    aside = directory.with_name(f"{directory.name}.unreadable-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}")
    directory.rename(aside)
    make_folder(directory, "tuner")
    reason = (str(exc).strip().splitlines() or [""])[0][:200]
    progress(f"the search's saved state in {directory} cannot be read ({type(exc).__name__}: {reason}); "
             f"moved it to {aside} and starting the search again (trained checkpoints are kept)")
    return aside


def run_search(
    x_train: np.ndarray,
    x_val: np.ndarray,
    *,
    directory: Path,
    algorithm: str,
    budget: TrialBudget,
    rungs: int,
    max_trials: int,
    seed: int,
    progress: Progress | Lines = print,
    strategy: Any = None,
    worker_timeout: float | None = None,
    settings_digest: str | None = None,
    log_dir: Path | None = None,
) -> SearchResult | None:
    """Run (or resume) the search in ``directory``; its trials and choice.

    As a distributed worker (see ``pipeline.search.distributed``) it runs trials until the chief's
    oracle says the search is over, and returns None: the chief holds the results. As the chief
    it gives up on a worker's trial after ``worker_timeout`` seconds without word from it.
    """
    from genreport.pipeline.search.distributed import is_worker

    started = time.monotonic()
    settings = {
        "algorithm": "RandomSearch" if algorithm == "random" else "grid + successive halving",
        "rungs": 1 if algorithm == "random" else rungs,
        "rate": budget.rate,
        "max_trials": max_trials,
        "rung_sizes": [max_trials] if algorithm == "random" else rung_sizes(rungs, budget.rate),
        "budget": budget.kind,
        "first_rung_flops": budget.first_flops if budget.kind == "compute" else None,
        "first_rung_steps": budget.first_steps if budget.kind != "compute" else None,
        "trial_images": int(len(x_train)),
        "validation_images": int(len(x_val)),
        "batch_size": budget.batch_size,
        "schedule": budget.schedule,
        "objective": "val_loss",
        "seed": seed,
    }
    if algorithm == "random":  # every random trial gets the halving search's last-rung budget
        budget = TrialBudget(budget.kind, rung_work(budget.first_flops, budget.rate, rungs - 1), rung_work(budget.first_steps, budget.rate, rungs - 1),
                             1, budget.batch_size, budget.patience, budget.schedule, budget.seed)
        settings.update(first_rung_flops=budget.first_flops if budget.kind == "compute" else None,
                        first_rung_steps=budget.first_steps if budget.kind != "compute" else None)
    tuner = make_tuner(directory, settings, budget, seed, progress, strategy, worker_timeout, settings_digest, log_dir)
    tuner.oracle.verbose = 0  # our own progress lines instead of KerasTuner's tables
    tuner.search(x_train, x_val)
    if is_worker():
        return None
    trials = trial_records(tuner.oracle)
    return SearchResult(
        best=best_choice(trials),
        trials=trials,
        seconds=time.monotonic() - started,
        settings=settings,
        grid=grid_table(trials),
        mean_image_val_loss=mean_image_loss(x_train, x_val),
    )
