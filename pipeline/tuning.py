"""The KerasTuner search over the modified architecture: the whole grid, then successive halving.

``build_tuned_model(hp)`` only reads the hyper-parameters and calls ``build_modified``.

The default search (``--search halving``) is ours on KerasTuner's ``Oracle``: every one of the
36 combinations of activation × units × optimizer is trained once on the first rung's budget
(in product order), then each rung keeps the best third by validation loss and trains them again
from the same seed with three times the budget. Budgets are work (``pipeline.budget``): equal
FLOPs under ``--budget compute``, equal optimizer steps under ``--budget epochs``, so the same
seed gives the same search on any machine. Why not KerasTuner's ``Hyperband``: its fresh
configurations are random draws that stop after 20 duplicates (the grid is covered only by
chance), its budgets are epochs, and it restarts optimizers between rounds. ``--search random
--max-trials N`` keeps the original study's RandomSearch (every trial on the last rung's budget).

Every trial starts from the run's seed, whichever worker runs it and in whatever order, and
trains on the training split's tuning subset, scored on a validation subset: the test set is
never seen. Distributed search uses KerasTuner's own chief/worker mode (``pipeline.distributed``);
the oracle records which tuner ran each trial and for how long.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import keras
import keras_tuner
import numpy as np
from keras_tuner.src.engine import oracle as oracle_module

from pipeline.budget import StepPlan, plan_steps, steps_per_epoch, train_step_flops
from pipeline.fsutil import write_text_atomically
from pipeline.models import ACTIVATIONS, OPTIMIZERS, UNITS, build_modified

SEARCH_SPACE = {"activation": list(ACTIVATIONS), "units": list(UNITS), "optimizer": list(OPTIMIZERS)}
COMBINATIONS = len(ACTIVATIONS) * len(UNITS) * len(OPTIMIZERS)
GRID: list[dict[str, Any]] = [
    {"activation": a, "units": u, "optimizer": o} for u, a, o in itertools.product(UNITS, ACTIVATIONS, OPTIMIZERS)
]
PROJECT = "modified_search"
TRIAL_METRICS = ("val_loss", "steps", "flops", "step_flops", "train_seconds", "epochs", "budget_flops", "budget_steps", "early_stopped")
Status = keras_tuner.engine.trial.TrialStatus


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
        name="tuned",
    )


WORKER_TIMEOUT = 1800.0  # seconds without word from a worker before the chief gives up on its trial
ENDED = (Status.COMPLETED, Status.INVALID, Status.FAILED)


class RefusedReport(ValueError):
    """A peer's report that the chief's oracle does not accept."""


def locked(method: Callable[..., Any]) -> Callable[..., Any]:
    """``keras_tuner.synchronized`` that also releases the oracle's lock when ``method`` raises.

    KerasTuner's decorator releases it only on a normal return, so one refused (or failed) call
    would block every later call of every worker. It shares KerasTuner's lock, so KerasTuner's own
    synchronized methods called from ``method`` see it held by this thread and do not wait.
    """

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        thread = threading.current_thread().name
        take = oracle_module.THREADS[self] != thread
        if take:
            oracle_module.LOCKS[self].acquire()
            oracle_module.THREADS[self] = thread
        try:
            return method(self, *args, **kwargs)
        finally:
            if take:
                oracle_module.THREADS[self] = None
                oracle_module.LOCKS[self].release()

    return wrapper


def acceptable_metric(name: Any, value: Any) -> bool:
    """Whether a reported metric is one of ours with a finite, non-negative value."""
    if name not in TRIAL_METRICS or isinstance(value, bool):
        return False
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(number) and number >= 0.0


def in_search_space(values: dict[str, Any], rungs: int | None) -> bool:
    """Whether hyper-parameter values are a point of the search space (and a valid rung)."""
    names = set(SEARCH_SPACE) | ({"rung"} if rungs is not None else set())
    if set(values) != names or any(isinstance(v, bool) for v in values.values()):
        return False
    if any(values[name] not in options for name, options in SEARCH_SPACE.items()):
        return False
    return rungs is None or values["rung"] in range(rungs)


class RecordingMixin:
    """The chief's oracle: records each trial's tuner and wall time, and trusts no peer.

    ``trial.json`` has neither the tuner nor the time, so they live in the oracle's state. Over
    gRPC any peer can call the oracle, so a report is accepted only for a trial some worker is
    running, metrics only when finite and non-negative, and an ended trial only with the very
    hyper-parameters the oracle handed out; anything else is refused (``RefusedReport``) and
    logged through ``say`` with the worker id that holds the trial. A worker not heard from for
    ``worker_timeout`` seconds (None: never) loses its running trial, marked FAILED. KerasTuner's
    JSON files are written whole (temporary file, then rename).
    """

    def _init_records(self) -> None:
        self.trial_tuners: dict[str, str] = {}
        self.trial_started: dict[str, float] = {}
        self.trial_seconds: dict[str, float] = {}
        self.worker_timeout: float | None = None
        self.last_word: dict[str, float] = {}  # tuner id -> time.monotonic() of its last call
        self.say: Callable[[str], None] = print

    def holder(self, trial_id: str) -> str | None:
        """The tuner id running trial ``trial_id`` now, or None."""
        for tuner_id, trial in self.ongoing_trials.items():
            if trial.trial_id == trial_id:
                return tuner_id
        return None

    def refuse(self, what: str, tuner_id: str | None) -> RefusedReport:
        sender = f"worker {tuner_id!r}" if tuner_id is not None else "a peer holding no trial"
        message = f"search oracle refused {what} from {sender}"
        self.say(message)
        return RefusedReport(message)

    @locked
    def expire_silent_workers(self) -> list[str]:
        """Give up on every worker not heard from for ``worker_timeout`` seconds; their ids.

        Its running trial is marked FAILED (kept out of KerasTuner's consecutive-failure count,
        so vanished peers cannot stop the search) and the worker is forgotten, so the chief's
        wait for running trials and known workers can end.
        """
        if not self.worker_timeout:
            return []
        now = time.monotonic()
        gone = [t for t in sorted(self.tuner_ids | set(self.ongoing_trials))
                if now - self.last_word.setdefault(t, now) > self.worker_timeout]
        for tuner_id in gone:
            self.tuner_ids.discard(tuner_id)
            trial = self.ongoing_trials.pop(tuner_id, None)
            if trial is None:
                continue
            trial.status = Status.FAILED
            trial.message = f"no word from worker {tuner_id!r} for {self.worker_timeout:g} s: the chief gave up on this trial"
            started = self.trial_started.get(trial.trial_id)
            if started is not None:
                self.trial_seconds[trial.trial_id] = time.time() - started
            self._save_trial(trial)
            self.save()
            self.say(f"worker {tuner_id!r} sent no word for {self.worker_timeout:g} s: trial {trial.trial_id} marked FAILED")
        return gone

    def heard_from(self, tuner_id: str) -> None:
        self.last_word[tuner_id] = time.monotonic()

    @locked
    def create_trial(self, tuner_id: str) -> keras_tuner.engine.trial.Trial:
        self.heard_from(tuner_id)
        self.expire_silent_workers()
        trial = super().create_trial(tuner_id)
        if trial.status == Status.RUNNING:
            self.trial_tuners[trial.trial_id] = tuner_id
            self.trial_started[trial.trial_id] = time.time()
            self.save()
        return trial

    @locked
    def update_trial(self, trial_id: str, metrics: dict[str, float], step: int = 0) -> keras_tuner.engine.trial.Trial:
        tuner_id = self.holder(trial_id)
        if tuner_id is None:
            raise self.refuse(f"metrics for trial {trial_id!r}, which no worker is running", None)
        self.heard_from(tuner_id)
        self.expire_silent_workers()
        bad = {name: value for name, value in dict(metrics).items() if not acceptable_metric(name, value)}
        if bad:
            raise self.refuse(f"metrics {bad!r} for trial {trial_id} (only finite, non-negative {', '.join(TRIAL_METRICS)})", tuner_id)
        return super().update_trial(trial_id, dict(metrics), step=step)

    @locked
    def end_trial(self, trial: keras_tuner.engine.trial.Trial) -> None:
        tuner_id = self.holder(trial.trial_id)
        if tuner_id is None:  # ended already, given up on, or never handed out: ignored
            self.refuse(f"the end of trial {trial.trial_id!r}, which no worker is running", None)
            return
        self.heard_from(tuner_id)
        handed = self.trials[trial.trial_id].hyperparameters
        values = dict(trial.hyperparameters.values)
        if values != handed.values or not in_search_space(values, getattr(self, "rungs", None)):
            raise self.refuse(f"trial {trial.trial_id} ended with {values!r}, not the values it was given", tuner_id)
        if trial.status not in ENDED:
            raise self.refuse(f"trial {trial.trial_id} ended with status {trial.status!r}", tuner_id)
        trial.hyperparameters = handed  # the oracle's own copy: a peer's space is never merged
        started = self.trial_started.get(trial.trial_id)
        if started is not None:
            self.trial_seconds[trial.trial_id] = time.time() - started
        super().end_trial(trial)

    def save(self) -> None:
        """``oracle.json``, written whole (KerasTuner truncates it, then writes)."""
        write_text_atomically(Path(self._get_oracle_fname()), json.dumps(self.get_state()))

    def _save_trial(self, trial: keras_tuner.engine.trial.Trial) -> None:
        """``trial_<id>/trial.json``, written whole."""
        write_text_atomically(Path(self._get_trial_dir(trial.trial_id)) / "trial.json", json.dumps(trial.get_state()))

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


class RecordingRandomSearchOracle(RecordingMixin, keras_tuner.oracles.RandomSearchOracle):
    """The original study's RandomSearch, with trial records."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._init_records()
        super().__init__(*args, **kwargs)


def search_hyperparameters(rungs: int | None = None) -> keras_tuner.HyperParameters:
    """The search space as KerasTuner declares it, plus the rung a trial belongs to (halving)."""
    hp = keras_tuner.HyperParameters()
    hp.Choice("units", list(UNITS))
    hp.Choice("activation", list(ACTIVATIONS))
    hp.Choice("optimizer", list(OPTIMIZERS))
    if rungs is not None:
        hp.Int("rung", 0, max(rungs - 1, 1))
    return hp


def rung_sizes(rungs: int, rate: int, first: int = COMBINATIONS) -> list[int]:
    """How many configurations each rung trains: all of them, then the best ``1/rate`` each time."""
    sizes = [first]
    for _ in range(1, rungs):
        sizes.append(max(1, math.ceil(sizes[-1] / rate)))
    return sizes


def combination(values: dict[str, Any]) -> tuple[str, int, str]:
    return (values["activation"], int(values["units"]), values["optimizer"])


class GridHalvingOracle(RecordingMixin, keras_tuner.Oracle):
    """All 36 combinations on the first rung, then successive halving (see the module docstring).

    Everything it decides is derived from its trials, which KerasTuner saves and reloads, so a
    resumed search continues where it stopped; a rung starts only when every trial of the rung
    before it has ended (workers wait meanwhile).
    """

    def __init__(self, *, rungs: int, rate: int, seed: int, **kwargs: Any) -> None:
        self._init_records()
        self.rungs = rungs
        self.rate = rate
        self.sizes = rung_sizes(rungs, rate)
        super().__init__(
            objective="val_loss",
            max_trials=sum(self.sizes),
            hyperparameters=search_hyperparameters(rungs),
            allow_new_entries=False,
            tune_new_entries=False,
            seed=seed,
        )

    def rung_trials(self, rung: int) -> list[keras_tuner.engine.trial.Trial]:
        return [t for t in self.trials.values() if int(t.hyperparameters.values.get("rung", 0)) == rung]

    def rung_members(self, rung: int) -> list[tuple[str, int, str]] | None:
        """The configurations rung ``rung`` trains, or None while the rung before it still runs."""
        if rung == 0:
            return [combination(c) for c in GRID]
        previous = self.rung_members(rung - 1)
        if previous is None:
            return None
        ran = {combination(t.hyperparameters.values): t for t in self.rung_trials(rung - 1)}
        if any(c not in ran or ran[c].status not in (Status.COMPLETED, Status.FAILED) for c in previous):
            return None
        order = {combination(c): i for i, c in enumerate(GRID)}
        scored = [t for t in ran.values() if t.status == Status.COMPLETED and t.score is not None and np.isfinite(t.score)]
        scored.sort(key=lambda t: (t.score, order[combination(t.hyperparameters.values)]))
        return [combination(t.hyperparameters.values) for t in scored[: self.sizes[rung]]]

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        for rung in range(self.rungs):
            members = self.rung_members(rung)
            if members is None:
                return {"status": Status.IDLE}
            started = {combination(t.hyperparameters.values) for t in self.rung_trials(rung)}
            for activation, units, optimizer in members:
                if (activation, units, optimizer) not in started:
                    values = {"units": units, "activation": activation, "optimizer": optimizer, "rung": rung}
                    return {"status": Status.RUNNING, "values": values}
        return {"status": Status.STOPPED}


@dataclass(frozen=True)
class TrialBudget:
    """What one search trial may spend: the first rung's budget, grown ``rate`` times a rung."""

    kind: str  # "compute" or "epochs"
    first_flops: float
    first_steps: int
    rate: int
    batch_size: int
    patience: int

    def plan(self, model: keras.Model, rung: int, images: int) -> StepPlan:
        """The steps a trial of ``model`` on rung ``rung`` runs."""
        growth = self.rate**rung
        if self.kind == "compute":
            return plan_steps(model, kind="compute", images=images, batch_size=self.batch_size, budget_flops=self.first_flops * growth)
        steps = self.first_steps * growth
        return StepPlan(kind="steps", budget_flops=None, step_flops=train_step_flops(model, self.batch_size), steps=steps,
                        steps_per_epoch=steps_per_epoch(images, self.batch_size))


class BudgetTuner(keras_tuner.Tuner):
    """Runs each trial for the steps its rung's budget buys and prints `trial k/N` as it begins."""

    def __init__(self, *args: Any, budget: TrialBudget, progress: Callable[[str], None] = print, **kwargs: Any) -> None:
        self.progress = progress
        self.budget = budget
        super().__init__(*args, **kwargs)

    def search(self, *fit_args: Any, **fit_kwargs: Any) -> None:
        """Run trials here; as the chief, serve the oracle until the search is over (``pipeline.distributed``)."""
        from pipeline.distributed import is_chief, serve_oracle

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
        super().on_trial_begin(trial)
        values = ", ".join(f"{k}={v}" for k, v in trial.hyperparameters.values.items())
        self.progress(f"trial {int(trial.trial_id) + 1}/{self.oracle.max_trials}: {values}")

    def run_trial(self, trial: keras_tuner.engine.trial.Trial, x_train: np.ndarray, x_val: np.ndarray) -> dict[str, float]:
        from contextlib import nullcontext

        from pipeline.train import fit_autoencoder

        hp = trial.hyperparameters
        strategy = self.distribution_strategy
        with strategy.scope() if strategy else nullcontext():
            model = self._try_build(hp)
        plan = self.budget.plan(model, int(hp.values.get("rung", 0)), len(x_train))
        outcome = fit_autoencoder(model, x_train, x_val, plan=plan, batch_size=self.budget.batch_size,
                                  patience=self.budget.patience, verbose=0)
        val = outcome.history.get("val_loss") or [float("nan")]
        best = float(np.min(val))
        self.progress(f"  val_loss {best:.5f} after {outcome.steps_run} steps ({outcome.seconds:.1f} s)")
        return {
            "val_loss": best,
            "steps": float(outcome.steps_run),
            "flops": outcome.flops,
            "step_flops": float(plan.step_flops),
            "train_seconds": float(outcome.seconds),
            "epochs": outcome.steps_run / plan.steps_per_epoch,
            "budget_flops": float(plan.budget_flops or 0.0),
            "budget_steps": float(plan.steps),
            "early_stopped": 1.0 if outcome.stopped_by == "early stopping" else 0.0,
        }


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
            "tried": len({(t["activation"], t["units"], t["optimizer"]) for t in self.trials}),
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
        steps, flops, train_seconds = (trial_metric(trial, k) for k in ("steps", "flops", "train_seconds"))
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
        key = (row["activation"], int(row["units"]), row["optimizer"])
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
        from pipeline.errors import GenreportError

        raise GenreportError("the search completed no trial; see the trials in OUT/tuner")
    top = max(t["rung"] for t in done)
    best = min((t for t in done if t["rung"] == top), key=lambda t: (t["val_loss"], t["trial_id"]))
    return {k: best[k] for k in ("activation", "units", "optimizer")}


def mean_image_loss(x_train: np.ndarray, x_val: np.ndarray) -> float:
    """Validation MSE of predicting the mean training image for every image: the floor to beat."""
    mean = np.asarray(x_train, dtype=np.float64).mean(axis=0)
    return float(np.mean((np.asarray(x_val, dtype=np.float64) - mean) ** 2))


def make_tuner(directory: Path, settings: dict[str, Any], budget: TrialBudget, seed: int,
               progress: Callable[[str], None], strategy: Any = None, worker_timeout: float | None = None) -> BudgetTuner:
    """The search's tuner in ``directory``; it resumes what is there (never overwrites).

    Saved state that cannot be read back (say an empty ``oracle.json`` left by a kill) is moved
    aside whole, to ``<directory>.unreadable-<time>``, and the search starts again; nothing else
    of the run is touched. Trials are built under the dtype policy that is global when the tuner
    is made. ``worker_timeout`` applies to a chief's workers (see ``RecordingMixin``).
    """
    def build() -> BudgetTuner:
        if settings["algorithm"] == "RandomSearch":
            oracle: Any = RecordingRandomSearchOracle(objective="val_loss", max_trials=settings["max_trials"], seed=seed,
                                                       hyperparameters=search_hyperparameters(), allow_new_entries=False,
                                                       tune_new_entries=False)
        else:
            oracle = GridHalvingOracle(rungs=settings["rungs"], rate=budget.rate, seed=seed)
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
            distribution_strategy=strategy,
        )

    saved = (Path(directory) / PROJECT).is_dir()
    try:
        return build()
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:  # JSONDecodeError is a ValueError
        if not saved:
            raise
        set_aside_unreadable(Path(directory), exc, progress)
    return build()


def set_aside_unreadable(directory: Path, exc: BaseException, progress: Callable[[str], None]) -> Path:
    """Rename an unreadable tuner folder to ``<name>.unreadable-<time>`` (nothing is deleted); where it went."""
    aside = directory.with_name(f"{directory.name}.unreadable-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}")
    directory.rename(aside)
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
    progress: Callable[[str], None] = print,
    strategy: Any = None,
    worker_timeout: float | None = None,
) -> SearchResult | None:
    """Run (or resume) the search in ``directory``; its trials and choice.

    As a distributed worker (see ``pipeline.distributed``) it runs trials until the chief's
    oracle says the search is over, and returns None: the chief holds the results. As the chief
    it gives up on a worker's trial after ``worker_timeout`` seconds without word from it.
    """
    from pipeline.distributed import is_worker

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
        "objective": "val_loss",
        "seed": seed,
    }
    if algorithm == "random":  # every random trial gets the halving search's last-rung budget
        budget = TrialBudget(budget.kind, budget.first_flops * budget.rate ** (rungs - 1), budget.first_steps * budget.rate ** (rungs - 1),
                             1, budget.batch_size, budget.patience)
        settings.update(first_rung_flops=budget.first_flops if budget.kind == "compute" else None,
                        first_rung_steps=budget.first_steps if budget.kind != "compute" else None)
    tuner = make_tuner(directory, settings, budget, seed, progress, strategy, worker_timeout)
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
