"""Scoring saved checkpoints and writing everything a report needs into OUT/results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pipeline import checkpoints, results
from pipeline.config import RunConfig
from pipeline.data import CLASS_NAMES, Dataset
from pipeline.environment import machine_facts, now_iso, package_versions
from pipeline.evaluate import GAUSSIAN_SSIM_METHOD, SSIM_METHOD, VariantScores, reconstruct, score_reconstructions
from pipeline.stats import bootstrap_mean_ci, paired_comparison

REFERENCE_SSIM = {"base": 0.925, "modified": 0.9421, "tuned": 0.9436}
COMPARISONS = (("base", "modified"), ("modified", "tuned"), ("base", "tuned"))
GRID_PER_CLASS = 2
EXTREMES = 8


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
    stages: list[dict[str, Any]],
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
        "stages": stages,
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
