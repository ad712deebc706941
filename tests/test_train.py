"""The callbacks a training run gets, and what a fit reports about itself."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys

import keras
import numpy as np
import pytest

from genreport.pipeline.training.budget import plan_steps
from genreport.pipeline.data.fashion_mnist import load_dataset
from genreport.pipeline.models.builders import build_base, build_modified
from genreport.pipeline.training.fit import (
    BestWeightsStopping, CosineDecay, StepBudget, WallClockCap, build_optimizer, epoch_order, fit_autoencoder, shuffled_epochs,
    skip_one_replica_all_reduce, standard_callbacks,
)


def test_standard_callbacks_restore_best_weights_halve_the_rate_and_count_steps() -> None:
    early, plateau, budget, cap = standard_callbacks(patience=3, steps=120, max_seconds=None)
    assert isinstance(early, BestWeightsStopping) and early.restore_best_weights
    assert isinstance(plateau, keras.callbacks.ReduceLROnPlateau) and plateau.factor == 0.5
    assert isinstance(budget, StepBudget) and budget.steps == 120
    assert isinstance(cap, WallClockCap) and cap.seconds is None


def stopping_after_epochs(stopping: keras.callbacks.EarlyStopping, val_losses: list[float | None], first_epoch: int = 0,
                          restored: dict | None = None, ema: bool = False) -> tuple[list[np.ndarray], dict, dict[str, int]]:
    """Drive ``stopping`` as ``fit`` does through one epoch per loss (None: no loss logged), the weights
    changed before each; ``restored`` is the state a resumed training's backup sets, ``ema`` an
    optimizer whose moving averages Keras writes into the weights after the last epoch.
    (final weights, the callback's state, copies made)."""
    keras.utils.set_random_seed(5)
    model = build_base()
    if ema:
        model.compile(optimizer=keras.optimizers.Adam(use_ema=True), loss="mse")
        model.optimizer.build(model.trainable_variables)
    copies = {"get_weights": 0, "snapshot_weights": 0, "numpy_arrays_in_snapshots": 0, "set_weights": 0}
    for name in ("get_weights", "snapshot_weights", "set_weights"):
        owner = stopping if name == "snapshot_weights" else model
        if not hasattr(owner, name):  # Keras' own EarlyStopping makes no snapshots
            continue
        def counted(*args, _name=name, _method=getattr(owner, name)):
            copies[_name] += 1
            made = _method(*args)
            if _name == "snapshot_weights":
                copies["numpy_arrays_in_snapshots"] += sum(isinstance(w, np.ndarray) for w in made)
            return made
        setattr(owner, name, counted)
    stopping.set_model(model)
    stopping.on_train_begin()
    for key, value in (restored or {}).items():
        setattr(stopping, key, value)
    for epoch, loss in enumerate(val_losses, start=first_epoch):
        for variable in model.trainable_variables:
            variable.assign(variable + float(epoch + 1))
        stopping.on_epoch_end(epoch, {} if loss is None else {"val_loss": loss})
        if model.stop_training:
            break
    if val_losses:
        model.optimizer.finalize_variable_values(model.trainable_variables)
    stopping.on_train_end()
    state = {key: getattr(stopping, key) for key in ("best", "wait", "best_epoch", "stopped_epoch")}
    return [variable.numpy() for variable in model.weights], state, copies


NAN = float("nan")


@pytest.mark.filterwarnings("ignore:Early stopping conditioned")  # the case without a loss: Keras warns, as it should
@pytest.mark.parametrize("val_losses, settings, copies", [
    ([0.5], {}, {"snapshot_weights": 1, "set_weights": 0}),                     # Keras: 2 copies and a write-back
    ([0.5, 0.4, 0.3], {}, {"snapshot_weights": 3, "set_weights": 0}),           # Keras: 4 and 1
    ([0.5, 0.3, 0.4, 0.45], {}, {"snapshot_weights": 2, "set_weights": 1}),     # stopped by patience, the best restored
    ([NAN, 0.4], {}, {"snapshot_weights": 1, "set_weights": 1}),                # Keras counts a first NaN as the best
    ([None, 0.4], {}, {"snapshot_weights": 1, "set_weights": 0}),               # no loss logged in the first epoch
    ([0.5, 0.4], {"start_from_epoch": 1}, {"snapshot_weights": 1, "set_weights": 0}),
    ([0.5, 0.4], {"restore_best_weights": False}, {"snapshot_weights": 0, "set_weights": 0}),  # a search trial
    # A resume whose backup kept no best weights: its first epoch, no improvement, becomes the best.
    ([0.4, 0.45], {"first_epoch": 2, "restored": {"best": 0.3, "best_epoch": 1}}, {"snapshot_weights": 1, "set_weights": 1}),
    ([0.4], {"first_epoch": 2, "restored": {"best": 0.3, "best_epoch": 1}}, {"snapshot_weights": 1, "set_weights": 0}),
    ([], {"first_epoch": 2, "restored": {"best": 0.3, "best_epoch": 1}}, {"snapshot_weights": 0, "set_weights": 0}),
    ([0.5, 0.4], {"ema": True}, {"snapshot_weights": 2, "set_weights": 1}),     # the averages replace the weights: written back
])
def test_early_stopping_ends_on_keras_own_weights_and_state_from_fewer_copies_kept_as_tensors(val_losses, settings, copies) -> None:
    options = {"restore_best_weights": True, **{k: settings[k] for k in ("start_from_epoch", "restore_best_weights") if k in settings}}
    driving = {k: settings[k] for k in ("first_epoch", "restored", "ema") if k in settings}
    keras_own = keras.callbacks.EarlyStopping(patience=2, **options)
    expected_weights, expected_state, _ = stopping_after_epochs(keras_own, val_losses, **driving)
    weights, state, made = stopping_after_epochs(BestWeightsStopping(patience=2, **options), val_losses, **driving)
    assert all(np.array_equal(ours, theirs) for ours, theirs in zip(weights, expected_weights, strict=True))
    assert str(state) == str(expected_state)  # str: a NaN best equals itself
    assert made == {"get_weights": 0, "numpy_arrays_in_snapshots": 0, **copies}  # no NumPy copies: snapshots of the variables' tensors


@pytest.fixture(scope="module")
def small_data(real_data_dir):
    return load_dataset(real_data_dir, train_limit=600, test_limit=10, seed=3)


def test_a_compute_budget_stops_after_exactly_the_steps_it_buys_mid_epoch(small_data) -> None:
    keras.utils.set_random_seed(3)
    model = build_base()
    step = 3 * 30 * 18_966_528
    plan = plan_steps(model, kind="compute", images=len(small_data.x_train), batch_size=30, budget_flops=25.5 * step)
    assert (plan.steps, plan.steps_per_epoch, plan.epochs) == (25, 18, 2)
    outcome = fit_autoencoder(model, small_data.x_train, small_data.x_val, plan=plan, batch_size=30, verbose=0)
    assert outcome.steps_run == 25 and outcome.stopped_by == "compute budget"
    assert outcome.to_dict()["fractional_epochs"] == pytest.approx(25 / 18, abs=1e-3)
    assert outcome.to_dict()["flops"] == 25 * step
    assert len(outcome.history["val_loss"]) == 2  # the cut epoch is still validated
    assert outcome.best_epoch == 1 + outcome.history["val_loss"].index(min(outcome.history["val_loss"]))  # counted from 1


def test_an_epoch_budget_runs_whole_epochs(small_data) -> None:
    keras.utils.set_random_seed(3)
    model = build_base()
    plan = plan_steps(model, kind="epochs", images=len(small_data.x_train), batch_size=30, epochs=2)
    outcome = fit_autoencoder(model, small_data.x_train, small_data.x_val, plan=plan, batch_size=30, patience=5, verbose=0)
    assert outcome.steps_run == 36 and outcome.epochs_run == 2 and outcome.stopped_by == "epochs"


def test_a_fit_cut_by_the_wall_clock_cap_says_so_and_keeps_its_history(small_data) -> None:
    keras.utils.set_random_seed(3)
    model = build_base()
    plan = plan_steps(model, kind="epochs", images=len(small_data.x_train), batch_size=30, epochs=50)
    outcome = fit_autoencoder(model, small_data.x_train, small_data.x_val, plan=plan, batch_size=30, max_seconds=0.5, verbose=0)
    assert outcome.stopped_by.startswith("wall-clock cap")
    assert 1 <= outcome.epochs_run < 50 and outcome.steps_run < plan.steps
    assert len(outcome.history["val_loss"]) == outcome.epochs_run and outcome.best_epoch >= 1


def test_cosine_decay_falls_from_the_optimizer_s_rate_to_zero_and_stays_there() -> None:
    model = build_base()
    model.optimizer.learning_rate.assign(0.002)
    decay = CosineDecay(100)
    decay.set_model(model)
    decay.on_train_begin()
    assert decay.rate_at(0) == pytest.approx(0.002)
    assert decay.rate_at(25) == pytest.approx(0.001 * (1 + math.cos(math.pi / 4)))
    assert decay.rate_at(50) == pytest.approx(0.001)
    assert decay.rate_at(100) == pytest.approx(0.0, abs=1e-12)
    assert decay.rate_at(130) == pytest.approx(0.0, abs=1e-12)


def test_each_epoch_has_its_own_seeded_order_of_every_image() -> None:
    first = epoch_order(500, 7, 0)
    assert sorted(first.tolist()) == list(range(500))
    assert np.array_equal(first, epoch_order(500, 7, 0))
    assert not np.array_equal(first, epoch_order(500, 7, 1))
    assert not np.array_equal(first, epoch_order(500, 8, 0))


def test_a_training_resumed_at_an_epoch_gets_that_epoch_s_order() -> None:
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    batches = list(shuffled_epochs(x, 5, seed=3, first_epoch=2, epochs=4))
    assert len(batches) == 4 and all(np.array_equal(inputs, targets) for inputs, targets in batches)
    seen = [int(v) for inputs, _ in batches for v in inputs.numpy()[:, 0]]
    assert seen == epoch_order(10, 3, 2).tolist() + epoch_order(10, 3, 3).tolist()


def one_step_val_loss(data, eager: bool) -> float:
    """The validation loss after one optimizer step of a freshly seeded 32-unit modified model."""
    from genreport.pipeline.training.budget import StepPlan, train_step_flops

    keras.backend.clear_session()
    keras.utils.set_random_seed(5)
    model = build_modified(32)
    model.run_eagerly = eager
    plan = StepPlan("steps", None, train_step_flops(model, 8), 1, 4)
    outcome = fit_autoencoder(model, data.x_train[:32], data.x_val[:16], plan=plan, batch_size=8, verbose=0, schedule="cosine", restore_best=False)
    return outcome.history["val_loss"][0]


def test_a_one_step_trial_scores_the_same_eagerly_as_traced(small_data) -> None:
    assert one_step_val_loss(small_data, eager=True) == pytest.approx(one_step_val_loss(small_data, eager=False), abs=1e-6)


def custom_gradients_registered() -> int:
    """How many custom gradients TensorFlow's process-wide gradient registry holds (it is never emptied)."""
    from tensorflow.python.framework import ops

    return sum(name.startswith("CustomGradient") for name in ops._gradient_registry.list())


def test_a_traced_training_leaves_no_custom_gradient_holding_its_variables(small_data) -> None:
    """Each such entry kept a training's graph and variables alive: 0.39 GiB per 256-unit Adam trial."""
    keras.utils.set_random_seed(3)
    model = build_base()
    plan = plan_steps(model, kind="epochs", images=64, batch_size=16, epochs=1)
    before = custom_gradients_registered()
    fit_autoencoder(model, small_data.x_train[:64], small_data.x_val[:16], plan=plan, batch_size=16, verbose=0)
    assert custom_gradients_registered() == before


@pytest.mark.parametrize("optimizer, policy", [("adam", "mixed_bfloat16"), ("sgd", "mixed_bfloat16"), ("rmsprop", "mixed_bfloat16"),
                                               ("adam", "float32"), ("adam", "mixed_float16")])
def test_skipping_the_one_replica_all_reduce_changes_no_weight_or_optimizer_state(small_data, optimizer, policy) -> None:
    """Each optimizer under the CPU's bfloat16 policy, and Adam under float32 and mixed_float16, where Keras wraps
    the optimizer in a LossScaleOptimizer and the skip must reach the inner one.

    Two steps of 8 images: the second step reads the optimizer state the first wrote. A CPU emulates
    float16 convolutions, about 0.8 s a step of 8 here; the 8 steps of 16 this test took before
    cost the float16 case 37.7 s alone (63 s of CPU), against 2-3 s for the others."""
    def trained_state(skip: bool) -> list[bytes]:
        keras.backend.clear_session()
        keras.mixed_precision.set_dtype_policy(policy)
        keras.utils.set_random_seed(7)
        model = build_modified(units=32, activation="leakyrelu", optimizer=optimizer, name="tuned")
        build_optimizer(model)
        assert not skip or skip_one_replica_all_reduce(model)
        registered = custom_gradients_registered()
        model.fit(small_data.x_train[:16], small_data.x_train[:16], batch_size=8, epochs=1, shuffle=False, verbose=0)
        # With the skip no entry is added; without it one is (so the count measures the all-reduce).
        assert custom_gradients_registered() == registered if skip else custom_gradients_registered() > registered
        return [np.asarray(w).tobytes() for w in model.get_weights()] + [v.numpy().tobytes() for v in model.optimizer.variables]

    assert trained_state(skip=True) == trained_state(skip=False)


# In one fresh process, as `genreport` starts TensorFlow where the user set neither
# TF_CPU_ALLOCATOR_USE_BFC nor TF_ENABLE_ONEDNN_OPTS (the allocator is chosen when TensorFlow
# makes its CPU device): whether oneDNN is on, then the page faults that twenty 64 MiB results in
# a row cost after the first. One process for both, because its TensorFlow start is most of its cost.
FRESH_TENSORFLOW = """
import json, os, resource
import genreport.pipeline
import tensorflow as tf
from genreport.pipeline.core.environment import onednn_enabled
onednn = [os.environ.get("TF_ENABLE_ONEDNN_OPTS"), onednn_enabled()]
x = tf.random.uniform((16 * 1024 * 1024,))
y = x * 2.0
del y
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    y = x * 2.0
    del y
print(json.dumps({"onednn": onednn, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""


@pytest.fixture(scope="module")
def fresh_tensorflow() -> dict:
    """What the FRESH_TENSORFLOW probe prints, run where neither TF_CPU_ALLOCATOR_USE_BFC nor TF_ENABLE_ONEDNN_OPTS is set."""
    env = {key: value for key, value in os.environ.items() if key not in ("TF_CPU_ALLOCATOR_USE_BFC", "TF_ENABLE_ONEDNN_OPTS")}
    done = subprocess.run([sys.executable, "-c", FRESH_TENSORFLOW], capture_output=True, text=True,
                          env=dict(env, TF_CPP_MIN_LOG_LEVEL="3"), timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_tensorflow_reuses_freed_cpu_buffers_instead_of_faulting_in_fresh_pages(fresh_tensorflow: dict) -> None:
    faults = fresh_tensorflow["faults"]
    assert faults < 16_384, faults  # one 64 MiB buffer is 16,384 pages; malloc and free fault in 327,680


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="genreport turns oneDNN on only on x86")
def test_genreport_runs_tensorflow_with_its_onednn_cpu_kernels(fresh_tensorflow: dict) -> None:
    """TensorFlow turns them on by itself only on CPUs with AVX-512 VNNI/BF16, AVX-VNNI or AMX; on an
    AVX2 CPU the full preset's search took 1.7x as long without them (README, "oneDNN on every x86 CPU")."""
    assert fresh_tensorflow["onednn"] == ["1", True]


def test_importing_the_command_line_and_search_worker_loads_no_tensorflow() -> None:
    """So genreport.pipeline's settings come first: TensorFlow reads TF_ENABLE_ONEDNN_OPTS and its
    allocator settings once, when it starts."""
    probe = ("import sys, genreport.report.cli, genreport.pipeline.search.worker; "
             "print(sorted(name for name in ('tensorflow', 'keras', 'keras_tuner') if name in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["[]"]


def test_a_users_own_onednn_setting_is_kept() -> None:
    done = subprocess.run([sys.executable, "-c", "import os, genreport.pipeline; print(os.environ['TF_ENABLE_ONEDNN_OPTS'])"],
                          capture_output=True, text=True, env=dict(os.environ, TF_ENABLE_ONEDNN_OPTS="0"), timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["0"]


def test_a_fit_feeds_keras_training_and_validation_batches_without_tf_data_autotuning(monkeypatch: pytest.MonkeyPatch) -> None:
    """Autotuning's thread made the deletion of a finished training's iterators wait up to a minute (``without_autotuning``)."""
    fed, real_fit = {}, keras.Model.fit

    def recording_fit(self: keras.Model, x: object, *args: object, validation_data: object = None, **kwargs: object) -> object:
        fed.update(training=x, validation=validation_data)
        return real_fit(self, x, *args, validation_data=validation_data, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", recording_fit)
    model = build_base()
    x = np.zeros((10, 28, 28, 1), dtype=np.float32)
    fit_autoencoder(model, x, x, plan=plan_steps(model, kind="epochs", images=10, batch_size=4, epochs=1), batch_size=4, verbose=0)
    assert [fed[k].options().autotune.enabled for k in ("training", "validation")] == [False, False]


def test_the_validation_loss_is_keras_own_loss_over_the_validation_arrays(small_data) -> None:
    """Validation reads its own batches (``validation_batches``), with the loss Keras computes from the arrays, a partial last batch included."""
    keras.utils.set_random_seed(3)
    model = build_base()
    x_val = small_data.x_val[:10]
    plan = plan_steps(model, kind="epochs", images=len(small_data.x_train[:40]), batch_size=4, epochs=1)
    outcome = fit_autoencoder(model, small_data.x_train[:40], x_val, plan=plan, batch_size=4, verbose=0, restore_best=False)
    assert outcome.history["val_loss"][0] == model.evaluate(x_val, x_val, batch_size=4, verbose=0)
