"""The two pipelines a user runs: ``full`` (train, tune, score) and ``eval-only`` (score).

Both end by writing ``OUT/results``; the CLI then hands that folder to the renderer.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from pipeline import checkpoints, results
from pipeline.config import VARIANTS, RunConfig
from pipeline.data import CLASS_NAMES, Dataset, load_dataset, stratified_indices
from pipeline.environment import machine_facts, package_versions, seed_everything
from pipeline.evaluate import GAUSSIAN_SSIM_METHOD, SSIM_METHOD, VariantScores, reconstruct, score_reconstructions
from pipeline.resume import check_same_settings, move_previous_run_aside, normalised, reusable_entry
from pipeline.stats import bootstrap_mean_ci, paired_comparison

REFERENCE_SSIM = {"base": 0.925, "modified": 0.9421, "tuned": 0.9436}
COMPARISONS = (("base", "modified"), ("modified", "tuned"), ("base", "tuned"))
GRID_PER_CLASS = 2
EXTREMES = 8

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


def now_iso() -> str:
    """The current UTC time, to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


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
        "precision": config.precision,
        "data_digests": data.digests,
    }


def train_variant(variant: str, build: Callable[[], Any], data: Dataset, config: RunConfig, hyperparameters: dict[str, Any]) -> dict[str, Any]:
    """Build, train and save one variant; return its manifest entry."""
    from pipeline.models import layer_table
    from pipeline.train import fit_autoencoder

    model = build()
    outcome = fit_autoencoder(
        model, data.x_train, data.x_val,
        epochs=config.epochs[variant],
        batch_size=config.batch_size,
        patience=config.patience,
    )
    checkpoints.save_model(model, config.output / "checkpoints", variant)
    return {
        "variant": variant,
        "hyperparameters": hyperparameters,
        "epochs": config.epochs[variant],
        "training": outcome.to_dict(),
        "params": int(model.count_params()),
        "layers": layer_table(model),
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
    from pipeline.tuning import run_search

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
        "base": ({"activation": "relu", "filters": [32, 64], "optimizer": "adam"}, lambda: build_base()),
        "modified": ({"activation": "relu", "units": 32, "optimizer": "adam"}, lambda: build_modified(32, "relu", "adam")),
    }
    entries: dict[str, dict[str, Any]] = {}
    for variant, (hp, build) in fixed.items():
        entries[variant] = train_or_reuse(variant, build, hp, data, config, manifest, run_info, clock)
    tuning = manifest.get("tuning") if reusable_entry(ckpt_dir, manifest, "tuned") else None
    if tuning is None:
        with clock.stage("tune"):
            x_tune, x_tune_val = tuning_subset(data, config)
            search = run_search(
                x_tune, x_tune_val,
                directory=config.output / "tuner",
                max_trials=config.max_trials,
                epochs=config.tune_epochs,
                batch_size=config.batch_size,
                seed=config.seed,
                trial_seconds=config.trial_seconds,
                progress=progress,
            )
        tuning = search.to_dict()
        progress("best hyper-parameters: " + ", ".join(f"{k}={v}" for k, v in search.best.items()))
    run_info["tuning"] = tuning
    best = dict(tuning["best"])
    entries["tuned"] = train_or_reuse("tuned", lambda: build_modified(**best, name="tuned"), best, data, config, manifest, run_info, clock)
    with clock.stage("score"):
        scores, samples = score_checkpoints(checkpoints.find_checkpoints(ckpt_dir), data)
    with clock.stage("write results"):
        results_dir = write_results(config, data, scores, samples, entries, tuning, clock, policy, started_at, "full")
    return RunOutcome(config.output, results_dir, {v: float(s.ssim.mean()) for v, s in scores.items()}, time.monotonic() - started)


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
        entry = train_variant(variant, build, data, config, hyperparameters)
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
        results_dir = write_results(config, data, scores, samples, entries, tuning, clock, manifest.get("policy", "as saved"), started_at, "eval-only")
    return RunOutcome(config.output, results_dir, {v: float(s.ssim.mean()) for v, s in scores.items()}, time.monotonic() - started)


def model_description(path: Path) -> dict[str, Any]:
    """Parameter count and layer table of a saved model."""
    from pipeline.models import layer_table

    model = checkpoints.load_model_safely(path)
    return {"params": int(model.count_params()), "layers": layer_table(model)}


def score_checkpoints(paths: dict[str, Path], data: Dataset) -> tuple[dict[str, VariantScores], dict[str, np.ndarray]]:
    """Load each checkpoint safely, reconstruct the test set and score it.

    ``full`` scores the saved files too (not the models in memory), so ``eval-only`` on the
    same checkpoints gives exactly the same figures.
    """
    scores: dict[str, VariantScores] = {}
    reconstructions: dict[str, np.ndarray] = {}
    for variant, path in paths.items():
        model = checkpoints.load_model_safely(path)
        reconstructions[variant] = reconstruct(model, data.x_test)
        scores[variant] = score_reconstructions(variant, data.x_test, reconstructions[variant])
    return scores, sample_arrays(data, scores, reconstructions)


def sample_arrays(data: Dataset, scores: dict[str, VariantScores], reconstructions: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The few images the report shows: a seeded grid per class, and each variant's extremes."""
    rng = np.random.default_rng(1234)
    grid = []
    for label in range(len(CLASS_NAMES)):
        members = np.flatnonzero(data.y_test == label)
        grid.extend(sorted(rng.choice(members, size=min(GRID_PER_CLASS, len(members)), replace=False)))
    arrays: dict[str, np.ndarray] = {"grid": np.array(grid, dtype=np.int64)}
    for variant, s in scores.items():
        order = np.argsort(s.ssim, kind="stable")
        arrays[f"worst_{variant}"] = order[:EXTREMES]
        arrays[f"best_{variant}"] = order[::-1][:EXTREMES]
    shown = np.unique(np.concatenate(list(arrays.values())))
    arrays["shown"] = shown
    arrays["originals"] = data.x_test[shown, ..., 0]
    for variant, recon in reconstructions.items():
        arrays[f"recon_{variant}"] = recon[shown, ..., 0]
    return arrays


def metrics_payload(scores: dict[str, VariantScores], labels: np.ndarray, seed: int) -> dict[str, Any]:
    """Overall and per-class figures, bootstrap intervals and paired comparisons."""
    rng = np.random.default_rng(seed)
    variants = {}
    for variant, s in scores.items():
        summary = s.summary(labels)
        summary["ssim"]["ci95"] = list(bootstrap_mean_ci(s.ssim, rng))
        summary["reference_ssim"] = REFERENCE_SSIM.get(variant)
        variants[variant] = summary
    comparisons = [
        dict(first=a, second=b, **paired_comparison(scores[a].ssim, scores[b].ssim, rng))
        for a, b in COMPARISONS
        if a in scores and b in scores
    ]
    return {
        "test_images": int(len(labels)),
        "variants": variants,
        "comparisons": comparisons,
        "reference_ssim": REFERENCE_SSIM,
        "ssim_method": SSIM_METHOD,
        "gaussian_ssim_method": GAUSSIAN_SSIM_METHOD,
    }


def write_results(
    config: RunConfig,
    data: Dataset,
    scores: dict[str, VariantScores],
    samples: dict[str, np.ndarray],
    entries: dict[str, dict[str, Any]],
    tuning: dict[str, Any] | None,
    clock: StageClock,
    policy: str,
    started_at: str,
    mode: str,
) -> Path:
    """Save metrics, the run record, per-image and trial tables and the sample images."""
    columns: dict[str, np.ndarray] = {}
    for variant, s in scores.items():
        columns.update({f"ssim_{variant}": s.ssim, f"ssim_gaussian_{variant}": s.ssim_gaussian, f"psnr_{variant}": s.psnr, f"mse_{variant}": s.mse})
    run = {
        "mode": mode,
        "command_line": config.command_line,
        "config": config.to_dict(),
        "policy": policy,
        "started": started_at,
        "finished": now_iso(),
        "stages": clock.stages,
        "versions": package_versions(),
        "machine": machine_facts(),
        "data": {"source_dir": data.source_dir, "digests": data.digests, "sizes": data.sizes()},
        "class_names": list(CLASS_NAMES),
        "models": entries,
        "tuning": tuning,
    }
    return results.save_results(
        config.output / "results",
        metrics=metrics_payload(scores, data.y_test, config.seed),
        run=run,
        per_image=results.per_image_csv(data.test_index, data.y_test, CLASS_NAMES, columns),
        trials=(tuning or {}).get("trials", []),
        samples=samples,
    )
