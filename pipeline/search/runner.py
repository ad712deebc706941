"""Running (or resuming) a search in a folder: the tuner made or reloaded, its trials run, their record read.

An unreadable project folder (a killed write of KerasTuner's JSON) is moved aside and the
search starts again; a distributed worker runs trials until the chief says the search is over.
"""

from __future__ import annotations

import functools
import math
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np

from genreport.pipeline.core.environment import collections_skip_older_objects
from genreport.pipeline.core.ownership import make_folder
from genreport.pipeline.core.progress import Lines, Progress, event_sink
from genreport.pipeline.search.oracles import GridHalvingOracle, RecordingRandomSearchOracle, rung_sizes
from genreport.pipeline.search.trials import SearchResult, best_choice, grid_table, mean_image_loss, trial_records
from genreport.pipeline.search.tuner import PROJECT, BudgetTuner, TrialBudget, build_tuned_model
from genreport.pipeline.training.budget import rung_work


def make_tuner(directory: Path, settings: dict[str, Any], budget: TrialBudget, *, seed: int,
               progress: Progress | Lines, strategy: Any = None, worker_timeout: float | None = None,
               settings_digest: str | None = None, log_dir: Path | None = None) -> BudgetTuner:
    """The search's tuner in ``directory``; it resumes what is there (never overwrites).

    Saved state that cannot be read back (say an empty ``oracle.json`` left by a kill) is moved
    aside whole, to ``<directory>.unreadable-<time>``, and the search starts again; nothing else
    of the run is touched. Trials are built under the dtype policy that is global when the tuner
    is made. Nine parameters, each a separate piece of KerasTuner's set-up passed through once
    (keyword-only after the first three): ``settings`` (the record ``run_search`` writes: algorithm,
    rungs, max_trials), ``budget`` (each trial's work), ``seed`` (every trial's), ``progress``
    (where lines and tallies go), ``strategy`` (a tf.distribute strategy, or None), ``worker_timeout``
    (a chief's patience with a silent worker, see ``RecordingMixin``), ``settings_digest`` (what
    chief and workers must agree on), ``log_dir`` (TensorBoard's folder, or None).
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

    Every parameter after the data is keyword-only and read once: ``directory`` (the KerasTuner
    project's parent), ``algorithm`` ('halving' or 'random'), ``budget`` (the first rung's work per
    trial), ``rungs`` and ``max_trials`` (the halving's depth, the random search's length),
    ``seed``, ``progress``, and the distributed ones ``make_tuner`` describes (``strategy``,
    ``worker_timeout``, ``settings_digest``, ``log_dir``). As a distributed worker (see ``pipeline.search.distributed``) it runs trials until the chief's
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
    tuner = make_tuner(directory, settings, budget, seed=seed, progress=progress, strategy=strategy, worker_timeout=worker_timeout,
                       settings_digest=settings_digest, log_dir=log_dir)
    tuner.oracle.verbose = 0  # our own progress lines instead of KerasTuner's tables
    with collections_skip_older_objects():
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
