"""The search's oracles: which configuration each trial trains, and what the chief accepts from peers.

``GridHalvingOracle`` trains all 36 combinations of activation × units × optimizer on the first
rung (in product order), then each rung keeps the best third by validation loss; it derives
everything from its trials, so a resumed search continues where it stopped.
``RecordingRandomSearchOracle`` is the original study's RandomSearch. Both record which tuner
ran each trial and for how long, write KerasTuner's JSON files whole, and trust no peer (see
``RecordingMixin``).
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import threading
import time
from pathlib import Path
from typing import Any, Callable

import keras_tuner
import numpy as np
from keras_tuner.src.engine import oracle as oracle_module

from genreport.pipeline.models.catalogue import Design
from genreport.pipeline.core.fsutil import write_text_atomically
from genreport.pipeline.models.builders import ACTIVATIONS, OPTIMIZERS, UNITS

SEARCH_SPACE = {"activation": list(ACTIVATIONS), "units": list(UNITS), "optimizer": list(OPTIMIZERS)}
COMBINATIONS = len(ACTIVATIONS) * len(UNITS) * len(OPTIMIZERS)
GRID: list[dict[str, Any]] = [
    {"activation": a, "units": u, "optimizer": o} for u, a, o in itertools.product(UNITS, ACTIVATIONS, OPTIMIZERS)
]
TRIAL_METRICS = ("val_loss", "steps", "flops", "val_flops", "step_flops", "train_seconds", "epochs", "budget_flops", "budget_steps", "early_stopped")
Status = keras_tuner.engine.trial.TrialStatus


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


def in_search_space(values: dict[str, Any], rungs: int | None, settings: str | None = None) -> bool:
    """Whether hyper-parameter values are a point of the search space (a valid rung, the run's settings)."""
    names = set(SEARCH_SPACE) | ({"rung"} if rungs is not None else set()) | ({"settings"} if settings is not None else set())
    if set(values) != names or any(isinstance(v, bool) for v in values.values()):
        return False
    if settings is not None and values["settings"] != settings:
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
        self.settings_digest: str | None = None  # the chief's run settings, handed out with every trial

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
        if values != handed.values or not in_search_space(values, getattr(self, "rungs", None), self.settings_digest):
            raise self.refuse(f"trial {trial.trial_id} ended with {values!r}, not the values it was given", tuner_id)
        if trial.status not in ENDED:
            raise self.refuse(f"trial {trial.trial_id} ended with status {trial.status!r}", tuner_id)
        trial.hyperparameters = handed  # the oracle's own copy: a peer's space is never merged
        started = self.trial_started.get(trial.trial_id)
        if started is not None:
            self.trial_seconds[trial.trial_id] = time.time() - started
        super().end_trial(trial)

    def reload(self) -> None:
        """KerasTuner's reload, then a retry for every trial left RUNNING but not recorded as ongoing.

        A kill between KerasTuner's writing ``trial.json`` (RUNNING) and ``oracle.json`` leaves
        such a trial: never retried, it would hold its rung open forever.
        """
        super().reload()
        queued = set(self._retry_queue)
        for trial_id, trial in self.trials.items():
            if trial.status == Status.RUNNING and trial_id not in queued:
                self._retry_queue.append(trial_id)

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

    def __init__(self, *args: Any, settings: str | None = None, **kwargs: Any) -> None:
        self._init_records()
        self.settings_digest = settings
        super().__init__(*args, hyperparameters=search_hyperparameters(None, settings), allow_new_entries=False,
                         tune_new_entries=False, **kwargs)


def search_hyperparameters(rungs: int | None = None, settings: str | None = None) -> keras_tuner.HyperParameters:
    """The search space as KerasTuner declares it, plus the rung a trial belongs to (halving) and
    a digest of the chief's run settings, which every worker checks against its own."""
    hp = keras_tuner.HyperParameters()
    hp.Choice("units", list(UNITS))
    hp.Choice("activation", list(ACTIVATIONS))
    hp.Choice("optimizer", list(OPTIMIZERS))
    if rungs is not None:
        hp.Int("rung", 0, max(rungs - 1, 1))
    if settings is not None:
        hp.Fixed("settings", settings)
    return hp


def rung_sizes(rungs: int, rate: int, first: int = COMBINATIONS) -> list[int]:
    """How many configurations each rung trains: all of them, then the best ``1/rate`` each time."""
    sizes = [first]
    for _ in range(1, rungs):
        sizes.append(max(1, math.ceil(sizes[-1] / rate)))
    return sizes


def combination(values: dict[str, Any]) -> Design:
    """The design a set of hyper-parameter values stands for."""
    return Design.of(values)


class GridHalvingOracle(RecordingMixin, keras_tuner.Oracle):
    """All 36 combinations on the first rung, then successive halving (see the module docstring).

    Everything it decides is derived from its trials, which KerasTuner saves and reloads, so a
    resumed search continues where it stopped; a rung starts only when every trial of the rung
    before it has ended (workers wait meanwhile).
    """

    def __init__(self, *, rungs: int, rate: int, seed: int, settings: str | None = None, **kwargs: Any) -> None:
        self._init_records()
        self.settings_digest = settings
        self.rungs = rungs
        self.rate = rate
        self.sizes = rung_sizes(rungs, rate)
        super().__init__(
            objective="val_loss",
            max_trials=sum(self.sizes),
            hyperparameters=search_hyperparameters(rungs, settings),
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
                    if self.settings_digest is not None:
                        values["settings"] = self.settings_digest
                    return {"status": Status.RUNNING, "values": values}
        return {"status": Status.STOPPED}
