"""Training: the callbacks that guard a run, and one variant's fit (the precision policy is ``pipeline.training.precision``'s)."""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import keras
import numpy as np

from genreport.pipeline.training.budget import StepPlan
from genreport.pipeline.core.config import SCHEDULES
from genreport.pipeline.core.errors import ConfigError

if TYPE_CHECKING:
    from genreport.pipeline.training.backup import EpochBackup

class StepBudget(keras.callbacks.Callback):
    """Stops training after ``steps`` optimizer steps, mid-epoch if need be.

    Keras still validates the epoch it stops in, so EarlyStopping can restore the best weights.
    """

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps
        self.done = 0
        self.exhausted = False

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.done += 1
        if self.done >= self.steps:
            self.exhausted = True
            self.model.stop_training = True


def weight_snapshot(model: keras.Model) -> list[Any]:
    """``model``'s weights now, in ``get_weights``' order, as backend tensors sharing each variable's
    buffer: TensorFlow copies a buffer only when training next writes to its variable, so taking
    one costs next to nothing (benchmarks/results/trial-snapshot-2026-12-07)."""
    return [keras.ops.copy(variable.value) for variable in model.weights]


class BestWeightsStopping(keras.callbacks.EarlyStopping):
    """Keras' EarlyStopping, ending on the same weights with fewer and cheaper copies of them.

    Keras copies the weights twice in the first epoch (as the best so far, then as an improvement
    on it) and writes the best weights back when training ends, even when they were copied in the
    last epoch, so the model already holds them. Here the first epoch copies once, and the
    write-back is skipped when the last epoch's copy is still the model's weights. The smoke
    preset's tuned training (one step of a 256-unit design, 33.2 M weights) made three copies
    and now makes one (benchmarks/results/early-stopping-copies-2026-12-07).

    A copy is a snapshot of each variable's tensor, not ``get_weights``' NumPy arrays: it shares
    the variable's buffer until training next writes to it, when TensorFlow copies it in its own
    allocator (as the search's ``ReusableModel`` does; benchmarks/results/best-snapshot-2026-12-08).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.best_is_current = False  # the best weights were copied at the end of the last epoch

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        self.best_is_current = False

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self.restore_best_weights:
            super().on_epoch_end(epoch, logs)
            return
        had_best, best_before = self.best_weights is not None, self.best
        self.restore_best_weights = False  # Keras' own copies are get_weights': the snapshot below replaces them
        try:
            super().on_epoch_end(epoch, logs)
        finally:
            self.restore_best_weights = True
        counted = (logs or {}).get(self.monitor) is not None and epoch >= self.start_from_epoch
        improved = counted and self.best is not best_before  # Keras sets best only on an improvement
        # Keras also keeps the first counted epoch when it holds no best weights yet (a resume
        # whose backup kept none): that epoch counts as the best, improvement or not.
        self.best_is_current = improved or (counted and not had_best)
        if self.best_is_current:
            self.best_weights = self.snapshot_weights()
            self.best_epoch = epoch

    def snapshot_weights(self) -> list[Any]:
        """The model's weights now, as ``weight_snapshot`` takes them."""
        return weight_snapshot(self.model)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.best_is_current and not averages_weights(self.model.optimizer):
            self.best_weights = None  # the model holds them already
        super().on_train_end(logs)


def averages_weights(optimizer: Any) -> bool:
    """Whether ``optimizer`` keeps moving averages (EMA) that Keras writes into the weights after the last epoch."""
    return bool(getattr(optimizer, "use_ema", False) or getattr(getattr(optimizer, "inner_optimizer", None), "use_ema", False))


class WallClockCap(keras.callbacks.Callback):
    """Stops training once ``seconds`` have passed (only with ``--max-minutes``; off by default).

    A run it cuts is no longer repeatable: how far it got depends on the machine's speed.
    """

    def __init__(self, seconds: float | None) -> None:
        super().__init__()
        self.seconds = seconds
        self.started = 0.0
        self.exhausted = False

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.started = time.monotonic()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.seconds and time.monotonic() - self.started > self.seconds:
            self.exhausted = True
            self.model.stop_training = True


class CosineDecay(keras.callbacks.Callback):
    """Sets the learning rate from the optimizer's own step count: a cosine from its start value to zero.

    The rate is a function of ``optimizer.iterations`` alone, so a training resumed from a backup
    (which restores the optimizer) continues on exactly the curve of an uninterrupted one.
    """

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = max(1, steps)
        self.initial: float | None = None

    def rate_at(self, step: int) -> float:
        """The learning rate for optimizer step ``step`` (0-based) of ``steps``."""
        progress = min(step, self.steps) / self.steps
        return float(self.initial) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.initial is None:
            self.initial = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        self.model.optimizer.learning_rate.assign(self.rate_at(step))


class FinishEstimate(keras.callbacks.Callback):
    """After the first epoch it times, prints when this training and the whole run should end.

    The rest of the run is ``later`` trainings like this one plus ``search_flops`` of search trials
    at the FLOP rate just measured: a rough figure (trial overheads and scoring left out).
    """

    def __init__(self, label: str, plan: StepPlan, work_after: tuple[int, float], progress: Callable[[str], None]) -> None:
        super().__init__()
        self.label, self.plan, self.progress = label, plan, progress
        self.later, self.search_flops = work_after
        self.told = False

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if not self.told:
            self.started = time.monotonic()
            self.steps_before = self.done_steps()

    def done_steps(self) -> int:
        return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.told:
            return
        self.told = True
        steps = self.done_steps() - self.steps_before
        seconds = time.monotonic() - self.started
        if steps < 1 or seconds <= 0:
            return
        per_step = seconds / steps
        this_left = max(0, self.plan.steps - self.done_steps()) * per_step
        flops_per_second = self.plan.step_flops / per_step
        run_left = this_left + self.later * self.plan.steps * per_step + self.search_flops / flops_per_second
        finish = time.strftime("%H:%M", time.localtime(time.time() + run_left))
        self.progress(f"{self.label}: {flops_per_second / 1e9:.0f} GFLOP/s; about {this_left / 60:.0f} min left in this training,"
                      f" the run should end near {finish} (about {run_left / 60:.0f} min)")


@dataclass
class TrainOutcome:
    """What one fit did, as plain values for the manifest and the report."""

    history: dict[str, list[float]] = field(default_factory=dict)
    epochs_run: int = 0
    best_epoch: int = 0
    seconds: float = 0.0
    stopped_by: str = "budget"
    images_per_second: float = 0.0
    steps_run: int = 0
    plan: dict[str, Any] = field(default_factory=dict)
    steps_per_epoch: int = 1
    resumed_from_epoch: int = 0

    @property
    def flops(self) -> float:
        return float(self.steps_run * self.plan.get("step_flops", 0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "history": self.history,
            "epochs_run": self.epochs_run,
            "fractional_epochs": round(self.steps_run / max(self.steps_per_epoch, 1), 3),
            "best_epoch": self.best_epoch,
            "seconds": round(self.seconds, 2),
            "stopped_by": self.stopped_by,
            "images_per_second": round(self.images_per_second, 1),
            "steps_run": self.steps_run,
            "flops": self.flops,
            "gflops_per_second": round(self.flops / max(self.seconds, 1e-9) / 1e9, 1),
            "budget": self.plan,
            "resumed_from_epoch": self.resumed_from_epoch,
        }




def standard_callbacks(
    patience: int, steps: int, max_seconds: float | None = None, schedule: str = "plateau", restore_best: bool = True
) -> list[keras.callbacks.Callback]:
    """EarlyStopping, the learning-rate rule, the step budget, the optional clock cap.

    ``cosine`` decays the rate to zero over the planned steps (the budget is known in advance);
    ``plateau`` halves it when the validation loss stalls (ReduceLROnPlateau). ``restore_best``
    restores the best epoch's weights at the end; a search trial, whose weights are thrown away,
    skips it (copying a 256-unit model's weights each epoch costs about 0.2 s).
    """
    if schedule == "cosine":
        rate: keras.callbacks.Callback = CosineDecay(steps)
    elif schedule == "plateau":
        rate = keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=0.5, patience=max(1, patience - 1), min_lr=1e-5, verbose=0
        )
    else:
        raise ConfigError(f"unknown schedule {schedule!r}; choose from {', '.join(SCHEDULES)}")
    return [
        BestWeightsStopping(monitor="val_loss", patience=patience, restore_best_weights=restore_best, verbose=0),
        rate,
        StepBudget(steps),
        WallClockCap(max_seconds),
    ]


def build_optimizer(model: keras.Model) -> None:
    """Create the optimizer's variables now, before ``fit`` traces its training step.

    Left to Keras, the optimizer makes its variables inside the first trace, and TensorFlow then
    traces the whole step a second time (measured: 0.5 to 1.2 s a training, no number changed).
    """
    if not model.optimizer.built:
        with model.distribute_strategy.scope():  # as Keras builds it: mirrored variables under MirroredStrategy
            model.optimizer.build(model.trainable_variables)


def skip_one_replica_all_reduce(model: keras.Model) -> bool:
    """Give ``model``'s optimizer an all-reduce that returns the gradients unchanged when one replica trains; whether it did.

    Under TensorFlow's default strategy the all-reduce sums over one replica, an identity. Yet
    each trace of it registers a custom gradient in TensorFlow's process-wide gradient registry,
    which is never emptied: the entry keeps the traced graph alive, and through its captures every
    variable the training updated. Each traced training of a 256-unit design with Adam kept
    0.39 GiB that way (``benchmarks/results/memory-per-fit-2026-12-03``); a search trains dozens.
    Under a MirroredStrategy (two or more GPUs) the all-reduce is needed, so it stays, and so does
    that memory. Under mixed_float16 Keras wraps the optimizer in a LossScaleOptimizer, whose inner
    optimizer does the updates.
    """
    import tensorflow as tf

    with model.distribute_strategy.scope():
        one_replica = not tf.distribute.has_strategy()
    if not one_replica:
        return False
    optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)
    if not hasattr(type(optimizer), "_all_reduce_sum_gradients"):
        warnings.warn(f"{type(optimizer).__name__} has no _all_reduce_sum_gradients (another Keras?): "
                      "each traced training will keep its variables in memory", RuntimeWarning, stacklevel=2)
        return False
    optimizer._all_reduce_sum_gradients = list  # the (gradient, variable) pairs, unchanged
    return True


def epoch_order(images: int, seed: int, epoch: int) -> np.ndarray:
    """The order of the training images in one epoch: a function of (seed, epoch) alone."""
    return np.random.default_rng([seed, epoch]).permutation(images)


def shuffled_epochs(x: np.ndarray, batch_size: int, seed: int, first_epoch: int, epochs: int) -> Any:
    """(x, x) batches for epochs ``first_epoch`` to ``epochs - 1``, each in its ``epoch_order``.

    Keras' own ``shuffle=True`` draws each epoch's order from a random state that a resumed
    training cannot restore; this order is the same for an uninterrupted and a resumed run.
    """
    import tensorflow as tf

    with tf.device("/cpu:0"):  # the input pipeline runs on the CPU, also where a GPU trains
        images = tf.constant(x)
    orders = [tf.data.Dataset.from_tensor_slices(epoch_order(len(x), seed, e)).batch(batch_size)
              for e in range(first_epoch, epochs)]
    batches = orders[0]
    for more in orders[1:]:
        batches = batches.concatenate(more)

    def pair(indices: Any) -> tuple[Any, Any]:
        chosen = tf.gather(images, indices)
        return chosen, chosen

    return without_autotuning(batches.map(pair).prefetch(2))


def validation_batches(x: np.ndarray, batch_size: int) -> Any:
    """(x, x) batches of ``x`` in order, as Keras batches validation arrays, but without tf.data's autotuning."""
    import tensorflow as tf

    with tf.device("/cpu:0"):
        images = tf.constant(x)
    return without_autotuning(tf.data.Dataset.from_tensor_slices((images, images)).batch(batch_size))


def without_autotuning(dataset: Any) -> Any:
    """``dataset`` with tf.data's autotuning off (a gather of a few 28x28 images needs no tuning).

    Autotuning runs a thread per iterator whose pause between rounds grows to 60 s, and destroying
    the iterator waited for that thread (py-spy: ``~LogicalThreadWrapper`` under
    ``~IteratorResource``, inside a ``gc.collect()``): a test doing 7-11 s of work took 42-78 s in 5
    of 8 suite runs. Deleted 4 s after their first batches, 5 of 12 iterators waited 1.1 s with it
    on, none of 12 over 5 ms with it off (benchmarks/results/suite-2026-12-07). On one device only: under
    ``MirroredStrategy`` the per-device datasets Keras makes do not inherit these options.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def stop_reason(early: keras.callbacks.EarlyStopping, budget: StepBudget, cap: WallClockCap, kind: str) -> str:
    """Why a fit ended, in words for the report."""
    if cap.exhausted:
        return "wall-clock cap (--max-minutes)"
    if early.stopped_epoch:
        return "early stopping"
    return "compute budget" if kind == "compute" else "epochs"


def fit_autoencoder(
    model: keras.Model,
    x_train: np.ndarray,
    x_val: np.ndarray,
    *,
    plan: StepPlan,
    batch_size: int,
    patience: int = 3,
    max_seconds: float | None = None,
    verbose: int = 2,
    extra_callbacks: list[keras.callbacks.Callback] | None = None,
    schedule: str = "plateau",
    shuffle_seed: int = 0,
    backup: EpochBackup | None = None,
    restore_best: bool = True,
) -> TrainOutcome:
    """Train ``model`` to reproduce its input for the steps ``plan`` allows; plain-float history.

    Thirteen parameters because the full run's training and a search trial each set a different
    few of them; all but the data are keyword-only, each read once: ``plan`` (the steps and
    epochs the budget buys), ``batch_size``, ``patience`` (epochs without a better validation
    loss before early stopping), ``max_seconds`` (a wall-clock cap, or None), ``verbose`` (Keras'
    own progress: 0 or 2), ``extra_callbacks`` (TensorBoard, progress), ``schedule`` ('cosine'
    or 'plateau'), ``shuffle_seed`` (each epoch's shuffle is drawn from it), ``backup`` (below)
    and ``restore_best`` (end on the best epoch's weights; a trial, whose weights are dropped,
    skips the copies). With ``backup``, every finished epoch is saved there, and a training
    found in it is resumed from its last finished epoch with the steps, callbacks' state and
    history it had.
    """
    callbacks = standard_callbacks(patience, plan.steps, max_seconds, schedule, restore_best)
    early, _, budget, cap = callbacks
    first_epoch, earlier = 0, {}
    if backup is not None:
        first_epoch, earlier = backup.attach(callbacks)
        callbacks.append(backup)
    callbacks += list(extra_callbacks or [])
    build_optimizer(model)
    skip_one_replica_all_reduce(model)
    # A backup taken after the training's last epoch (budget spent or early stop) runs no more epochs:
    # fit then only restores it, and EarlyStopping its best weights.
    last_epoch = first_epoch if earlier.get("finished") else max(plan.epochs, first_epoch)
    started = time.monotonic()
    fitted = model.fit(
        shuffled_epochs(x_train, batch_size, shuffle_seed, first_epoch, max(last_epoch, first_epoch + 1)),
        validation_data=validation_batches(x_val, batch_size),
        epochs=last_epoch,
        initial_epoch=first_epoch,
        steps_per_epoch=plan.steps_per_epoch,
        shuffle=False,  # the dataset is already in each epoch's seeded order
        verbose=verbose,
        callbacks=callbacks,
    )
    seconds = time.monotonic() - started + float(earlier.get("seconds", 0.0))
    before = earlier.get("history", {})
    history = {k: list(before.get(k, [])) + [float(v) if np.isfinite(v) else None for v in fitted.history.get(k, [])]
               for k in dict.fromkeys([*before, *fitted.history])}
    val = [v if v is not None else float("inf") for v in history.get("val_loss", [])]
    return TrainOutcome(
        history=history,
        epochs_run=len(val),
        best_epoch=int(np.argmin(val)) + 1 if val else 0,
        seconds=seconds,
        stopped_by=stop_reason(early, budget, cap, plan.kind),
        images_per_second=budget.done * batch_size / max(seconds, 1e-9),
        steps_run=budget.done,
        plan=plan.to_dict(),
        steps_per_epoch=plan.steps_per_epoch,
        resumed_from_epoch=first_epoch,
    )
