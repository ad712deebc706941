"""The two pipelines a user runs: ``full`` (train, tune, score) and ``eval-only`` (score).

Both end by writing ``OUT/results``; the CLI then hands that folder to the renderer.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from pipeline import checkpoints
from pipeline.config import RunConfig
from pipeline.data import Dataset, load_dataset, stratified_indices
from pipeline.environment import now_iso, package_versions, seed_everything
from pipeline.resume import check_same_settings, move_previous_run_aside, normalised, reusable_entry
from pipeline.scoring import score_checkpoints, write_results


Progress = Callable[[str], None]


@dataclass
class StageClock:
    """Prints a line when each stage starts and ends, and keeps the durations."""

    progress: Progress
    stages: list[dict[str, Any]] = field(default_factory=list)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.progress(f"▶ {name}")
        started = time.monotonic()
        yield
        seconds = time.monotonic() - started
        self.stages.append({"name": name, "seconds": round(seconds, 2)})
        self.progress(f"✓ {name} ({seconds:.1f} s)")


@dataclass
class RunOutcome:
    """Where a run wrote its results, and its headline figures."""

    output: Path
    results_dir: Path
    mean_ssim: dict[str, float]
    seconds: float


def load_data(config: RunConfig) -> Dataset:
    """The data set at the configuration's scale."""
    return load_dataset(
        config.data_dir,
        train_limit=config.train_limit,
        test_limit=config.test_limit,
        val_fraction=config.val_fraction,
        seed=config.seed,
    )


def tuning_subset(data: Dataset, config: RunConfig) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified subsets of train and validation images for the search's trials."""
    rng = np.random.default_rng(config.seed + 7)
    train = stratified_indices(data.y_train, config.tune_train_limit, rng)
    val_count = max(100, config.tune_train_limit // 3)
    val = stratified_indices(data.y_val, val_count, rng)
    return data.x_train[train], data.x_val[val]


def config_fingerprint(config: RunConfig, data: Dataset) -> dict[str, Any]:
    """The settings that decide what a checkpoint is; a resumed run must match them."""
    return {
        "preset": config.preset,
        "seed": config.seed,
        "epochs": config.epochs,
        "tune_epochs": config.tune_epochs,
        "max_trials": config.max_trials,
        "train_limit": config.train_limit,
        "tune_train_limit": config.tune_train_limit,
        "batch_size": config.batch_size,
        "train_seconds": config.train_seconds,
        "trial_seconds": config.trial_seconds,
        "precision": config.precision,
        "data_digests": data.digests,
    }


def train_variant(variant: str, build: Callable[[], Any], data: Dataset, config: RunConfig, hyperparameters: dict[str, Any], policy: str) -> dict[str, Any]:
    """Build under ``policy``, train and save one variant; return its manifest entry."""
    from contextlib import nullcontext

    from pipeline.models import layer_table
    from pipeline.train import apply_policy, distribution_strategy, fit_autoencoder

    apply_policy(policy)  # a search in between may have reset it (KerasTuner clears the session)
    strategy = distribution_strategy()
    with strategy.scope() if strategy else nullcontext():
        model = build()
    outcome = fit_autoencoder(
        model, data.x_train, data.x_val,
        epochs=config.epochs[variant],
        batch_size=config.batch_size,
        patience=config.patience,
        time_budget=config.train_seconds,
    )
    checkpoints.save_model(model, config.output / "checkpoints", variant)
    return {
        "variant": variant,
        "hyperparameters": hyperparameters,
        "epochs": config.epochs[variant],
        "training": outcome.to_dict(),
        "params": int(model.count_params()),
        "layers": layer_table(model),
        "policy": model.dtype_policy.name,
    }


def run_full(config: RunConfig, progress: Progress = print, fresh: bool = False) -> RunOutcome:
    """Train base and modified, search and retrain tuned, score all three, save results.

    Run again into the same folder, it resumes: complete checkpoints made with the same settings
    are reused, and the search continues from ``OUT/tuner``.
    """
    from pipeline.lock import output_lock

    with output_lock(config.output):
        if fresh:
            move_previous_run_aside(config.output, progress)
        return _run_full_locked(config, progress)


def _run_full_locked(config: RunConfig, progress: Progress) -> RunOutcome:
    from pipeline.models import build_base, build_modified
    from pipeline.train import apply_policy, choose_policy

    started, started_at = time.monotonic(), now_iso()
    clock = StageClock(progress)
    ckpt_dir = config.output / "checkpoints"
    manifest = checkpoints.read_manifest(ckpt_dir)
    seed_everything(config.seed)
    policy = choose_policy(config.precision)
    apply_policy(policy)
    progress(f"precision policy: {policy}")
    with clock.stage("load data"):
        data = load_data(config)
    fingerprint = config_fingerprint(config, data)
    check_same_settings(config.output, manifest, fingerprint)
    run_info = {"config": config.to_dict(), "fingerprint": fingerprint, "policy": policy, "versions": package_versions()}
    fixed = {
        "base": ({"activation": "relu", "filters": [32, 64], "optimizer": "adam"}, build_base),
        "modified": ({"activation": "relu", "units": 32, "optimizer": "adam"}, lambda: build_modified(32, "relu", "adam")),
    }
    entries: dict[str, dict[str, Any]] = {}
    for variant, (hp, build) in fixed.items():
        entries[variant] = train_or_reuse(variant, build, hp, data, config, manifest, run_info, clock)
    tuning = manifest.get("tuning") if reusable_entry(ckpt_dir, manifest, "tuned") else None
    if tuning is None:
        with clock.stage("tune"):
            search = search_as_chief_or_alone(config, data, progress)
        tuning = search.to_dict()
        progress("best hyper-parameters: " + ", ".join(f"{k}={v}" for k, v in search.best.items()))
    run_info["tuning"] = tuning
    best = dict(tuning["best"])
    entries["tuned"] = train_or_reuse("tuned", lambda: build_modified(**best, name="tuned"), best, data, config, manifest, run_info, clock)
    with clock.stage("score"):
        scores, samples = score_checkpoints(checkpoints.find_checkpoints(ckpt_dir), data)
    with clock.stage("write results"):
        results_dir = write_results(config, data, scores, samples, entries, tuning, clock.stages, policy, started_at, "full")
    return RunOutcome(config.output, results_dir, {v: float(s.ssim.mean()) for v, s in scores.items()}, time.monotonic() - started)


def search_as_chief_or_alone(config: RunConfig, data: Dataset, progress: Progress) -> Any:
    """Run the search here, or serve its oracle to workers when ``config.oracle`` is set."""
    from contextlib import nullcontext

    from pipeline.distributed import parse_oracle_address, tuner_role

    role = nullcontext()
    if config.oracle:
        host, port = parse_oracle_address(config.oracle)
        role = tuner_role("chief", host, port)
        progress(f"serving the search oracle on {host}:{port} (gRPC, no TLS or authentication); "
                 f"start workers with: genreport tune-worker --oracle {config.oracle} --worker-id ID")
    with role:
        return configured_search(config, data, progress)


def configured_search(config: RunConfig, data: Dataset, progress: Progress) -> Any:
    """The search with the run's settings, on its tuning subset, in ``OUT/tuner``."""
    from pipeline.train import distribution_strategy
    from pipeline.tuning import run_search

    x_tune, x_tune_val = tuning_subset(data, config)
    return run_search(
        x_tune, x_tune_val,
        directory=config.output / "tuner",
        max_trials=config.max_trials,
        epochs=config.tune_epochs,
        batch_size=config.batch_size,
        seed=config.seed,
        trial_seconds=config.trial_seconds,
        progress=progress,
        strategy=distribution_strategy(),
    )


def train_or_reuse(
    variant: str,
    build: Callable[[], Any],
    hyperparameters: dict[str, Any],
    data: Dataset,
    config: RunConfig,
    manifest: dict[str, Any],
    run_info: dict[str, Any],
    clock: StageClock,
) -> dict[str, Any]:
    """Reuse a complete checkpoint of ``variant`` with the same hyper-parameters, or train one."""
    ckpt_dir = config.output / "checkpoints"
    entry = reusable_entry(ckpt_dir, manifest, variant)
    if entry is not None and entry.get("hyperparameters") == normalised(hyperparameters):
        clock.progress(f"reusing {variant}: {checkpoints.checkpoint_path(ckpt_dir, variant)} is complete and matches this run")
        return entry
    with clock.stage(f"train {variant}"):
        entry = train_variant(variant, build, data, config, hyperparameters, run_info["policy"])
        checkpoints.record_variant(ckpt_dir, variant, entry, run_info)
    return entry


def run_eval_only(config: RunConfig, checkpoints_dir: Path, progress: Progress = print) -> RunOutcome:
    """Score the saved models in ``checkpoints_dir`` on the test set and save results."""
    from pipeline.lock import output_lock

    with output_lock(config.output):
        return _run_eval_only_locked(config, checkpoints_dir, progress)


def _run_eval_only_locked(config: RunConfig, checkpoints_dir: Path, progress: Progress) -> RunOutcome:
    started, started_at = time.monotonic(), now_iso()
    clock = StageClock(progress)
    paths = checkpoints.find_checkpoints(checkpoints_dir)
    manifest = checkpoints.read_manifest(checkpoints_dir)
    seed_everything(config.seed)
    with clock.stage("load data"):
        data = load_data(config)
    with clock.stage("score"):
        scores, samples = score_checkpoints(paths, data)
    entries = {v: manifest["variants"].get(v, {}) for v in paths}
    for variant, path in paths.items():
        entries[variant] = dict(entries[variant] or {}, variant=variant)
        if "layers" not in entries[variant]:
            entries[variant].update(model_description(path))
    tuning = manifest.get("tuning")
    with clock.stage("write results"):
        results_dir = write_results(config, data, scores, samples, entries, tuning, clock.stages, manifest.get("policy", "as saved"), started_at, "eval-only")
    return RunOutcome(config.output, results_dir, {v: float(s.ssim.mean()) for v, s in scores.items()}, time.monotonic() - started)


def model_description(path: Path) -> dict[str, Any]:
    """Parameter count and layer table of a saved model."""
    from pipeline.models import layer_table

    model = checkpoints.load_model_safely(path)
    return {"params": int(model.count_params()), "layers": layer_table(model), "policy": model.dtype_policy.name}


