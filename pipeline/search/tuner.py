"""The KerasTuner search over the modified architecture: the whole grid, then successive halving.

``build_tuned_model(hp)`` only reads the hyper-parameters and calls ``build_modified``; the
oracles that decide which configuration each trial trains live in ``pipeline.search.oracles``,
running a search in a folder in ``pipeline.search.runner`` and its record in ``pipeline.search.trials``.

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

import gc
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import keras_tuner
import numpy as np

from genreport.pipeline.training.fit import fit_autoencoder, weight_snapshot
from genreport.pipeline.training.budget import StepPlan, forward_flops, plan_steps, rung_work, steps_per_epoch, train_step_flops
from genreport.pipeline.models.catalogue import TUNED
from genreport.pipeline.core.fsutil import write_text_atomically
from genreport.pipeline.models.builders import ACTIVATIONS, OPTIMIZERS, UNITS, build_modified, compile_autoencoder
from genreport.pipeline.core.progress import Lines, Progress, Tally, event_sink

PROJECT = "modified_search"
IDLE_WAIT = 2.0  # seconds a worker waits before asking again while a rung is finishing elsewhere
# A one-step trial whose step costs at most this runs eagerly: tracing the training and validation
# functions costs more than it saves there (benchmarks/trial_cost.py). Counted in work, so the
# choice is the same on every machine.
EAGER_STEP_FLOPS = 0.4e12
# A trial whose weights take at least this much has its model's reference cycles collected before
# the next build (the 128- and 256-unit designs; a collection costs about 0.2 s, small ones skip it).
COLLECT_AFTER_WEIGHT_BYTES = 16 * 2**20


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


# Hyper-parameters that do not enter a trial's build: its optimizer is compiled anew, its rung and
# the chief's settings digest only steer the search.
NOT_BUILT_FROM = frozenset({"optimizer", "rung", "settings"})


def design_shape(hp: keras_tuner.HyperParameters) -> tuple[tuple[str, Any], ...]:
    """Every hyper-parameter a trial's model is built from (units, activation): trials that share them differ only in their optimizer."""
    return tuple(sorted((k, v) for k, v in hp.values.items() if k not in NOT_BUILT_FROM))


@dataclass
class ReusableModel:
    """A trial's model with the weights it was built with, restarted for the next trial of the same ``shape``.

    Every trial builds from the run's seed, so a design's initial weights are the same whatever its
    optimizer: restoring them and compiling a fresh optimizer gives the model a new build would,
    without the build (the grid runs the three optimizers of a design one after another; a
    256-unit build is 33.2 million initialised weights). A model with random layers (a seed
    generator's state is not among its weights) is never reused.
    """

    shape: tuple[tuple[str, Any], ...]
    model: keras.Model
    initial_weights: list[Any]  # a backend tensor per variable, in ``model.weights`` order

    @classmethod
    def of(cls, model: keras.Model, hp: keras_tuner.HyperParameters) -> ReusableModel:
        # Tensors, not get_weights' NumPy copies: a snapshot shares the variable's buffer, and
        # TensorFlow copies it only when training first writes to the variable. For a 256-unit
        # design's 33.2 million weights this took 0.003-0.005 s against get_weights' 0.04-1.7 s,
        # and restoring 0.004 s against set_weights' 0.05-0.07 s (benchmarks/results/trial-snapshot-2026-12-07).
        return cls(design_shape(hp), model, weight_snapshot(model))

    def restarted(self, optimizer: str) -> keras.Model:
        """The model back at its initial weights (batch-normalisation statistics included), compiled with a new ``optimizer``."""
        for variable, value in zip(self.model.weights, self.initial_weights, strict=True):
            variable.assign(value)
        return compile_autoencoder(self.model, optimizer)


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
        self._collect_before_build = False
        self._reusable: ReusableModel | None = None  # the last trial's model, for the next trial of its design
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
        """The trial's model: the last trial's, restarted, when only the optimizer differs (``ReusableModel``);
        otherwise one built in a cleared session (KerasTuner's own also collects garbage twice,
        0.3-0.4 s a trial; the build sets the seed and the policy again, so nothing else changes;
        our hypermodel always returns a Keras model and no size limit is set)."""
        from genreport.pipeline.core.environment import release_free_memory

        reusable, self._reusable = self._reusable, None
        if reusable is not None and reusable.shape == design_shape(hp):
            self._reusable, model = reusable, reusable.restarted(str(hp.values["optimizer"]))
            if self._collect_before_build:
                gc.collect()  # the last optimizer's state, held in reference cycles, goes before this one's is made
            return model
        del reusable
        if self._collect_before_build:
            # Keras models hold reference cycles, which only the garbage collector frees; Python's
            # own schedule counts objects, not bytes, and left several 256-unit trials' weights
            # and optimizer state alive at once (4.0 GiB peak in the full preset's search).
            gc.collect()
        keras.backend.clear_session(free_memory=False)
        release_free_memory()
        model = self._build_hypermodel(hp)
        # A distributed model's variables belong to its strategy's scope; a seed generator's state is no weight.
        if self.distribution_strategy is None and not has_seed_generators(model):
            self._reusable = ReusableModel.of(model, hp)
        return model

    def on_search_end(self) -> None:
        """The last trial's model and its initial weights go before the variants train on."""
        self._reusable = None
        gc.collect()
        super().on_search_end()

    def run_trial(self, trial: keras_tuner.engine.trial.Trial, x_train: np.ndarray, x_val: np.ndarray) -> dict[str, float]:
        from contextlib import nullcontext

        hp = trial.hyperparameters
        if self.settings_digest is not None and hp.values.get("settings") != self.settings_digest:
            raise keras_tuner.errors.FatalError(
                "this worker's settings (--preset, --seed, --data-seed, --batch-size, precision, data set…) differ from "
                "the chief's: start it with the chief's options")
        strategy = self.distribution_strategy
        with strategy.scope() if strategy else nullcontext():
            model = self._try_build(hp)
        plan = self.budget.plan(model, int(hp.values.get("rung", 0)), len(x_train))
        self._collect_before_build = 4 * model.count_params() >= COLLECT_AFTER_WEIGHT_BYTES
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


def has_seed_generators(model: keras.Model) -> bool:
    """Whether any of ``model``'s layers draws random numbers as it runs (dropout, noise)."""
    return any(getattr(layer, "seed_generator", None) is not None or getattr(layer, "_seed_generators", None)
               for layer in model._flatten_layers(include_self=False))


def runs_eagerly(plan: StepPlan) -> bool:
    """Whether a trial of ``plan`` runs without tracing: one optimizer step of at most ``EAGER_STEP_FLOPS``."""
    return plan.steps == 1 and plan.step_flops <= EAGER_STEP_FLOPS


def validation_flops(model: keras.Model, images: int, validations: int) -> int:
    """FLOPs of scoring ``images`` validation images ``validations`` times (forward passes only)."""
    return images * forward_flops(model) * validations
