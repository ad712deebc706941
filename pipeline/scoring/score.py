"""Scoring saved checkpoints and writing everything a report needs into OUT/results."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from genreport.pipeline.models import checkpoints
from genreport.pipeline.results import store as results
from genreport.pipeline.results.schema import Metrics, RunRecord
from genreport.pipeline.core.config import RunConfig
from genreport.pipeline.data.fashion_mnist import CLASS_NAMES, Dataset
from genreport.pipeline.core.environment import collections_skip_older_objects, machine_facts, now_iso, package_versions
from genreport.pipeline.core.progress import Lines, Progress, Tally, event_sink
from genreport.pipeline.results.checks import EXTREMES, GRID_PER_CLASS
from genreport.pipeline.models.catalogue import comparisons_for
from genreport.pipeline.scoring.metrics import GAUSSIAN_SSIM_METHOD, SSIM_METHOD, VariantScores, reconstruct_images, score_reconstructions
from genreport.pipeline.models.model_size import DEFAULT_MAX_MODEL_GIB
from genreport.pipeline.scoring.stats import bootstrap_mean_ci, paired_comparison, with_holm_correction
from genreport.pipeline.scoring.verdicts import (MIN_CLASS_IMAGES, MODELS_CLAIM, MODELS_COVER, classes_can_be_told_apart, extreme_classes,
                                                 published_verdict)


@dataclass(frozen=True)
class Scored:
    """Every model's scores, the sample images a report shows, and how each model's images went in and out."""

    scores: dict[str, VariantScores]
    samples: dict[str, np.ndarray]
    facts: dict[str, dict[str, Any]]
    descriptions: dict[str, dict[str, Any]]  # per model: parameters, layer table, policy, forward FLOPs and what they count


def score_checkpoints(paths: dict[str, Path], data: Dataset, progress: Progress | None = None,
                      max_gib: float = DEFAULT_MAX_MODEL_GIB, pixel_ranges: dict[str, tuple[float, float]] | None = None) -> Scored:
    """Load each checkpoint safely, reconstruct the test set (at each model's pixel range, default 0-1) and score it.

    ``full`` scores the saved files too (not the models in memory), so ``eval-only`` on the
    same checkpoints gives exactly the same figures.
    """
    scores: dict[str, VariantScores] = {}
    reconstructions: dict[str, np.ndarray] = {}
    facts: dict[str, dict[str, Any]] = {}
    descriptions: dict[str, dict[str, Any]] = {}
    # Sizing each model collects garbage (it frees the model scored before): only what scoring made is walked.
    with collections_skip_older_objects():
        for name, path in paths.items():
            told = scoring_reporter(name, progress) if progress else None
            if told:
                told(0, len(data.x_test))  # a live bar from the start: loading and reconstructing count too
            model, size = checkpoints.load_checked_model(path, max_gib)
            made = reconstruct_images(model, data.x_test, (pixel_ranges or {}).get(name, (0.0, 1.0)), source=path.name)
            descriptions[name] = model_description(model, size)
            del model
            reconstructions[name], facts[name] = made.images, made.facts()
            scores[name] = score_reconstructions(name, data.x_test, made.images, on_progress=told)
    return Scored(scores, sample_arrays(data, scores, reconstructions), facts, descriptions)


def model_description(model: Any, size: Any) -> dict[str, Any]:
    """Parameter count, layer table and precision policy of a loaded model, and the forward FLOPs (and which layer
    classes they count) of its checked size, counted at the 28x28 image it is fed."""
    from genreport.pipeline.models.builders import layer_table

    return {"params": int(model.count_params()), "layers": layer_table(model), "policy": model.dtype_policy.name,
            "forward_flops": size.forward_flops, "flops_count": size.flops_count}


def scoring_reporter(variant: str, progress: Progress | Lines) -> Callable[[int, int], None]:
    """A callback that tells ``progress`` how many of a variant's test images are scored (a log: one line per tenth)."""
    sink = event_sink(progress)

    def report(done: int, total: int) -> None:
        sink(Tally(variant, done, total, "test images scored", tenths=True))

    return report


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


def published_comparison(variants: dict[str, Any], published: dict[str, float]) -> list[dict[str, Any]]:
    """Per variant, our mean SSIM under both definitions against the published figure.

    The published study does not say which SSIM it used, so a claim holds per definition; it
    "beats" the figure only where the interval's lower end is above it (``verdicts.published_verdict``).
    """
    rows = []
    for variant, summary in variants.items():
        reference = published.get(variant)
        if reference is None:
            continue
        row: dict[str, Any] = {"model": variant, "published": reference, "claim": MODELS_CLAIM, "interval_covers": MODELS_COVER}
        for name, metric in (("uniform", "ssim"), ("gaussian", "ssim_gaussian")):
            mean, interval = summary[metric]["mean"], summary[metric].get("ci95")
            verdict = published_verdict(mean, interval, reference)
            row.update({name: mean, f"{name}_difference": mean - reference, f"{name}_ci95": interval,
                        f"{name}_verdict": verdict, f"beats_{name}": verdict == "beats"})
        rows.append(row)
    return rows


def with_class_intervals(summary: dict[str, Any], ssim: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> None:
    """Add each class's bootstrap 95% interval of its mean SSIM to ``summary['per_class']``, in place;
    a class of fewer than ``MIN_CLASS_IMAGES`` test images gets none (None)."""
    for row in summary["per_class"]:
        values = ssim[labels == row["label"]]
        row["ci95"] = list(bootstrap_mean_ci(values, rng)) if len(values) >= MIN_CLASS_IMAGES else None


def class_extremes(scores: dict[str, VariantScores], labels: np.ndarray, rng: np.random.Generator) -> dict[str, Any] | None:
    """Each class's mean SSIM over the variants with its interval, and the hardest and easiest class where one is clear;
    None when a class has fewer than ``MIN_CLASS_IMAGES`` test images (no class can be told apart then)."""
    if not classes_can_be_told_apart(int(np.unique(labels, return_counts=True)[1].min())):
        return None
    average = np.mean([s.ssim for s in scores.values()], axis=0)
    rows = [{"class_name": CLASS_NAMES[int(label)], "mean": float(average[labels == label].mean()),
             "ci95": list(bootstrap_mean_ci(average[labels == label], rng))} for label in np.unique(labels)]
    return {"classes": rows, **extreme_classes(rows), "interval_covers": MODELS_COVER}


def metrics_payload(scores: dict[str, VariantScores], labels: np.ndarray, seed: int,
                    baselines: dict[str, VariantScores] | None = None, published: dict[str, float] | None = None,
                    pairs: list[tuple[str, str]] | None = None, facts: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Overall and per-class figures, bootstrap intervals, Holm-corrected paired comparisons, baselines.

    ``labels`` are the test images' classes and ``seed`` seeds every bootstrap; the optional four:
    ``baselines`` (scored like the models), ``published`` (the published figures of the models
    they belong to: genreport's vouched variants, none by default), ``pairs`` (the comparisons,
    by default ``catalogue.comparisons_for``) and ``facts`` (per model, how its images went in
    and out).
    """
    from genreport.pipeline.scoring.baselines import baselines_payload

    published = published or {}
    rng = np.random.default_rng(seed)
    variants = {}
    for variant, s in scores.items():
        summary = s.summary_with_interval(labels, rng)
        summary["reference_ssim"] = published.get(variant)
        if facts and variant in facts:
            summary["scoring"] = facts[variant]
        variants[variant] = summary
    pairs = comparisons_for(list(scores)) if pairs is None else pairs
    comparisons = [dict(first=a, second=b, **paired_comparison(scores[a].ssim, scores[b].ssim, rng)) for a, b in pairs]
    # Intervals added later draw from a generator of their own, so the figures above stay what they were.
    more = np.random.default_rng([seed, 19])
    for variant, s in scores.items():
        variants[variant]["ssim_gaussian"]["ci95"] = list(bootstrap_mean_ci(s.ssim_gaussian, more))
        with_class_intervals(variants[variant], s.ssim, labels, more)
    extremes = class_extremes(scores, labels, more) if scores else None
    return {
        "test_images": int(len(labels)),
        "models": variants,
        "baselines": baselines_payload(baselines or {}, labels, rng),
        "comparisons": with_holm_correction(comparisons),
        "multiple_comparisons": "Holm-Bonferroni over the family of paired comparisons",
        "claim": MODELS_CLAIM,
        "interval_covers": MODELS_COVER,
        "class_extremes": extremes,
        "published": published_comparison(variants, published),
        "reference_ssim": published,
        "ssim_method": SSIM_METHOD,
        "gaussian_ssim_method": GAUSSIAN_SSIM_METHOD,
    }


def with_quality_cost(metrics: dict[str, Any], entries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``metrics`` with the quality-against-cost points and Pareto fronts (``pipeline.scoring.quality_cost``)."""
    from genreport.pipeline.scoring.quality_cost import quality_cost

    return {**metrics, "quality_cost": quality_cost(metrics["models"], metrics.get("baselines") or {}, entries)}


@dataclass(frozen=True, kw_only=True)
class ResultsInput:
    """Everything ``write_results`` saves, as one value (built by keyword)."""

    config: RunConfig
    data: Dataset
    scores: dict[str, VariantScores]
    baselines: dict[str, VariantScores]
    samples: dict[str, np.ndarray]
    entries: dict[str, dict[str, Any]]
    tuning: dict[str, Any] | None
    stages: list[dict[str, Any]]
    policy: str
    started_at: str
    mode: str
    threads: int | None = None
    training_seed: int | None = None
    fingerprint: dict[str, Any] | None = None
    published: dict[str, float] = field(default_factory=dict)  # only for checkpoints genreport vouches for
    pairs: list[tuple[str, str]] | None = None  # the comparisons; None: catalogue.comparisons_for the models
    facts: dict[str, dict[str, Any]] | None = None  # per model: image shapes in and out, pixel range, clipped share


def write_results(r: ResultsInput) -> Path:
    """Save metrics, the run record, per-image and trial tables and the sample images."""
    columns: dict[str, np.ndarray] = {}
    for variant, s in r.scores.items():
        columns.update({f"ssim_{variant}": s.ssim, f"ssim_gaussian_{variant}": s.ssim_gaussian, f"psnr_{variant}": s.psnr, f"mse_{variant}": s.mse})
    run = {
        "mode": r.mode,
        "command_line": r.config.command_line,
        "config": r.config.to_dict(),
        "policy": r.policy,
        "threads": r.threads,
        "training_seed": r.training_seed,
        "fingerprint": r.fingerprint,
        "started": r.started_at,
        "finished": now_iso(),
        "stages": r.stages,
        "versions": package_versions(),
        "machine": machine_facts(),
        "data": {"source_dir": r.data.source_dir, "digests": r.data.digests, "sizes": r.data.sizes()},
        "class_names": list(CLASS_NAMES),
        "models": r.entries,
        "tuning": r.tuning,
    }
    metrics = with_quality_cost(metrics_payload(r.scores, r.data.y_test, r.config.seed, r.baselines, r.published, r.pairs, r.facts),
                                r.entries)
    return results.save_results(
        r.config.output / "results",
        metrics=Metrics.from_json(metrics, "metrics.json (being written)"),
        run=RunRecord.from_json(run, "run.json (being written)"),
        per_image=results.per_image_csv(r.data.test_index, r.data.y_test, CLASS_NAMES, columns),
        trials=(r.tuning or {}).get("trials", []),
        samples=r.samples,
    )
