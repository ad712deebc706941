"""Seed replicates: check that results folders differ only in their training seed, and merge them.

A replicated verdict needs the same variants trained with several seeds and scored on the same
test images. Folders made anywhere (one ``genreport full --seeds`` run, or separate runs on
several machines, each with its own ``--seed``) merge when every setting but the seed, the data
set's digests and the test images agree; anything else is refused naming the first difference.

The merged figures: per variant, each seed's mean SSIM and the mean ± standard deviation across
seeds, with an interval over seeds and then test images (a t-interval on the per-seed means
widened by the test images' variance; see ``pipeline.stats.seeds_and_images_ci``) that covers
training randomness as well as the choice of test images; paired comparisons across seeds with the same
interval, how many seeds show the same ordering, and each seed's Wilcoxon test Holm-corrected
over the whole family. Free of TensorFlow, so ``genreport render`` merges without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genreport.pipeline.core.config import FREE_SETTINGS
from genreport.pipeline.core.errors import ResultsError
from genreport.pipeline.results.loaded import Results, Samples
from genreport.pipeline.results.schema import Metrics, RunRecord, ScoringFacts
from genreport.pipeline.scoring.stats import holm_adjusted, seeds_and_images_ci, wilcoxon_p
from genreport.pipeline.scoring.verdicts import ALPHA, DESIGNS_CLAIM, DESIGNS_COVER, bimodal_warning

# Settings that may differ between replicates: the seed itself and where and how a run wrote.
METRICS = ("ssim", "ssim_gaussian")


def training_seed(run: RunRecord) -> int | None:
    """The seed a results folder's models were trained with (eval-only: the manifest's), else None."""
    seed = run.training_seed
    if seed is None and run.mode == "full":
        seed = run.config.seed
    return seed


def replicate_settings(results: Results) -> dict[str, Any]:
    """What must agree between replicates: settings but the seed, data digests, test images, mode."""
    run = results.run
    config = {k: v for k, v in run.config.to_json().items() if k not in FREE_SETTINGS}
    ordered = sorted(config, key=lambda k: (k != "preset", k))  # the preset first: it explains most differences
    return {
        "mode": run.mode,
        **{f"setting {k}": config[k] for k in ordered},
        "policy": run.policy,
        "training settings": {k: v for k, v in (run.fingerprint or {}).items() if k not in ("seed", "data_digests")},
        "data set": run.data.digests,
        "test images": [int(i) for i in results.per_image.test_index],
        "variants": sorted(results.metrics.models),
        "comparisons": [(c.first, c.second) for c in results.metrics.comparisons],
        "how each model was fed": {m: fed(figures.scoring) for m, figures in results.metrics.models.items()},
    }


def fed(facts: ScoringFacts | None) -> dict[str, list[float] | None]:
    """A model's image shapes in and out and its pixel range (None each, for results from before they were recorded)."""
    return {k: list(getattr(facts, k)) if facts else None for k in ("input_shape", "output_shape", "pixel_range")}


def first_difference(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    """The first key whose values differ, in words, or None when they agree."""
    for key in a:
        if a.get(key) != b.get(key):
            if key in ("test images", "data set"):
                return f"their {key} differ"
            return f"{key} differs ({a.get(key)!r} vs {b.get(key)!r})"
    extra = [k for k in b if k not in a]
    return f"{extra[0]} differs" if extra else None


def check_mergeable(runs: list[Results]) -> list[int]:
    """The runs' seeds, in order, once every run agrees with the first but for its seed."""
    seeds: list[int] = []
    for results in runs:
        check_single_run(results)
    reference = replicate_settings(runs[0])
    for results in runs:
        seed = training_seed(results.run)
        if seed is None:
            raise ResultsError(f"{results.folder} carries no training seed, so it cannot be merged as a replicate")
        if seed in seeds:
            raise ResultsError(f"{results.folder} has seed {seed}, like another folder given: each replicate needs its own seed")
        difference = first_difference(reference, replicate_settings(results))
        if difference:
            raise ResultsError(f"cannot merge {results.folder} with {runs[0].folder}: {difference}")
        for earlier, earlier_seed in zip(runs, seeds):
            if same_scores(earlier, results):
                raise ResultsError(f"{results.folder} (seed {seed}) and {earlier.folder} (seed {earlier_seed}) hold identical "
                                   "per-image scores: one is a copy of the other, not a replicate")
        seeds.append(seed)
    return seeds


def same_scores(first: Results, second: Results) -> bool:
    """Whether two runs scored every test image of every model identically (two trainings never do)."""
    return all(np.array_equal(first.per_image.ssim(m), second.per_image.ssim(m)) for m in first.models)


def check_single_run(results: Results) -> None:
    """Refuse a folder that is itself a merge, or lacks a finite per-image column a merge needs."""
    folder = results.folder
    if (results.per_image.seeds is not None or results.metrics.replicates is not None
            or results.run.seeds is not None or "replicates" in (results.metrics.json_keys or ()) or "seeds" in (results.run.json_keys or ())):
        raise ResultsError(f"{folder} holds merged replicates already: merge the single-seed results folders it came from instead")
    for model in results.models:
        for metric in METRICS:
            if not results.per_image.has(metric, model):
                raise ResultsError(f"{folder}/per_image.csv lacks the column {metric + '_' + model!r}")
            if not np.all(np.isfinite(np.asarray(results.per_image.metric(metric, model), dtype=np.float64))):
                raise ResultsError(f"{folder}/per_image.csv: column {metric + '_' + model!r} holds a value that is not finite")


def seed_matrix(runs: list[Results], metric: str, model: str) -> np.ndarray:
    """Seeds × test images of one model's per-image ``metric``."""
    return np.stack([np.asarray(r.per_image.metric(metric, model), dtype=np.float64) for r in runs])


def variant_figures(runs: list[Results], seeds: list[int], model: str) -> dict[str, Any]:
    """One model's per-seed means and across-seed figures under both SSIM definitions."""
    figures: dict[str, Any] = {}
    for metric in METRICS:
        matrix = seed_matrix(runs, metric, model)
        per_seed = matrix.mean(axis=1)
        figures[metric] = {
            "per_seed": {str(s): float(m) for s, m in zip(seeds, per_seed)},
            "mean": float(per_seed.mean()),
            "std": float(per_seed.std(ddof=1)) if len(seeds) > 1 else 0.0,
            "ci95": list(seeds_and_images_ci(matrix)),
        }
    return figures


def design_verdict(diff: np.ndarray, family_size: int) -> tuple[str, float, float]:
    """'better', 'worse' or 'no clear difference' for a seeds × images matrix of differences, judged on the
    across-seed interval widened for the family (Bonferroni: level 1 - 0.05 / family_size); and that interval."""
    low, high = seeds_and_images_ci(diff, level=1 - ALPHA / family_size)
    return ("better" if low > 0 else "worse" if high < 0 else "no clear difference"), low, high


def comparison_figures(runs: list[Results], seeds: list[int], first: str, second: str, family_size: int = 1) -> dict[str, Any]:
    """``second - first`` across seeds: mean, two-level interval (95%, and widened for the family), seeds agreeing, per-seed Wilcoxon."""
    diff = seed_matrix(runs, "ssim", second) - seed_matrix(runs, "ssim", first)
    per_seed = diff.mean(axis=1)
    low, high = seeds_and_images_ci(diff)
    mean = float(per_seed.mean())
    same_sign = int(np.sum(np.sign(per_seed) == np.sign(mean))) if mean != 0 else 0
    verdict, family_low, family_high = design_verdict(diff, family_size)
    return {
        "first": first, "second": second, "mean_difference": mean, "ci_low": low, "ci_high": high,
        "family_ci_low": family_low, "family_ci_high": family_high, "family_size": family_size,
        "family_level": 1 - ALPHA / family_size, "claim": DESIGNS_CLAIM, "interval_covers": DESIGNS_COVER,
        "bimodal_seeds": bimodal_warning(per_seed.tolist()),
        "seeds_same_order": same_sign, "seeds": len(seeds), "verdict": verdict,
        "per_seed": [{"seed": s, "mean_difference": float(d), "wilcoxon_p": wilcoxon_p(row)} for s, d, row in zip(seeds, per_seed, diff)],
    }


def with_family_holm(comparisons: list[dict[str, Any]]) -> None:
    """Holm-adjust every per-seed Wilcoxon p-value over the whole family (pairs × seeds), in place."""
    cells = [cell for c in comparisons for cell in c["per_seed"]]
    for cell, adjusted in zip(cells, holm_adjusted([cell["wilcoxon_p"] for cell in cells])):
        cell["wilcoxon_p_holm"] = adjusted
        cell["family_size"] = len(cells)


def t_quantile(q: float, df: int) -> float:
    """Student's t quantile."""
    from scipy.stats import t

    return float(t.ppf(q, df))


def per_class_figures(runs: list[Results], model: str) -> list[dict[str, Any]]:
    """Per class: the across-seed mean of the class's mean SSIM, and its spread across seeds."""
    rows = []
    per_run = [{row.class_name: row for row in r.metrics.models[model].per_class} for r in runs]
    for name in per_run[0]:
        means = np.array([classes[name].mean for classes in per_run if name in classes])
        std = float(means.std(ddof=1)) if len(means) > 1 else 0.0
        half = float(t_quantile(0.975, len(means) - 1)) * std / np.sqrt(len(means)) if len(means) > 1 else 0.0
        rows.append({"class_name": name, "mean": float(means.mean()), "std": std, "ci95": [float(means.mean()) - half, float(means.mean()) + half],
                     "count": per_run[0][name].count})
    return rows


def replicated_class_extremes(runs: list[Results], models: list[str]) -> dict[str, Any] | None:
    """Per class, the mean SSIM of its images over the models and seeds with its interval over seeds and test images
    (``seeds_and_images_ci``, as the designs' comparisons: an interval over seeds alone would say nothing of which
    images were drawn, since every seed scores the same ones); the clear extremes. None when a class has fewer than
    ``MIN_CLASS_IMAGES`` test images, as in one run."""
    from genreport.pipeline.scoring.verdicts import DESIGNS_COVER, classes_can_be_told_apart, extreme_classes

    if not classes_can_be_told_apart(min((row.count for m in models for row in runs[0].metrics.models[m].per_class), default=None)):
        return None
    matrix = np.mean([seed_matrix(runs, "ssim", m) for m in models], axis=0)  # seeds × images, averaged over the models
    labels = np.asarray(runs[0].per_image.labels, dtype=np.int64)
    rows = []
    for row in runs[0].metrics.models[models[0]].per_class:
        of_class = matrix[:, labels == row.label]
        rows.append({"class_name": row.class_name, "mean": float(of_class.mean()), "ci95": list(seeds_and_images_ci(of_class))})
    return {"classes": rows, **extreme_classes(rows), "interval_covers": DESIGNS_COVER}


def replicated_metrics(runs: list[Results], seeds: list[int], search: str) -> dict[str, Any]:
    """The across-seed block of a merged ``metrics.json``."""
    models = runs[0].models
    reference = runs[0].metrics.reference_ssim
    pairs = [(c.first, c.second) for c in runs[0].metrics.comparisons]  # the comparisons each run made
    comparisons = [comparison_figures(runs, seeds, a, b, family_size=len(pairs)) for a, b in pairs]
    with_family_holm(comparisons)
    tuning = [{"seed": s, **r.run.tuning.best.to_json()} for s, r in zip(seeds, runs) if r.run.tuning]
    return {
        "seeds": seeds,
        "first_seed": seeds[0],
        "search": search,
        "models": {m: {**variant_figures(runs, seeds, m), "reference_ssim": reference.get(m)} for m in models},
        "comparisons": comparisons,
        "per_class": {m: per_class_figures(runs, m) for m in models},
        "class_extremes": replicated_class_extremes(runs, models),
        "tuning": tuning,
        "searches_differ": len({(t["activation"], t["units"], t["optimizer"]) for t in tuning}) > 1,
        "multiple_comparisons": f"Bonferroni: each verdict's interval at level 1 - 0.05 / {len(pairs)} over the family of {len(pairs)} comparisons",
        "interval": "a t-interval with (seeds - 1) degrees of freedom over the per-seed means, widened by the test images' variance",
    }


def merged_per_image(runs: list[Results], seeds: list[int]) -> str:
    """``per_image.csv`` in long form: one row per seed and test image, with a ``seed`` column."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = list(runs[0].per_image.columns)
    writer.writerow(["seed", *columns])
    for seed, results in zip(seeds, runs):
        table = results.per_image.columns
        for i in range(results.per_image.rows):
            writer.writerow([seed, *(_cell(c, table[c][i]) for c in columns)])
    return buffer.getvalue()


INTEGER_COLUMNS = frozenset({"index", "test_index", "label"})


def _cell(column: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    return str(int(value)) if column in INTEGER_COLUMNS else f"{float(value):.6f}"


@dataclass(frozen=True)
class Merged:
    """Merged replicates, ready to save: the records, the long per-image table, the first seed's samples and trials."""

    metrics: Metrics
    run: RunRecord
    per_image: str
    samples: Samples
    trials: list[dict[str, str]]
    seeds: list[int]


def merged_machine(runs: list[Results]) -> dict[str, Any]:
    """The first run's machine facts, less the oneDNN state where the runs differ in it."""
    machine = dict(runs[0].run.machine)
    if len({repr(r.run.machine.get("onednn")) for r in runs}) > 1:
        machine.pop("onednn", None)
    return machine


def merge_results(folders: list[Path], search: str = "per seed") -> Merged:
    """Load and check several results folders; the merged metrics, run record, per-image CSV and samples.

    The first folder's seed is the one the grids and best/worst images come from.
    """
    from genreport.pipeline.results.store import load_results

    if len(folders) < 2:
        raise ResultsError("merging needs at least two results folders")
    runs = [load_results(Path(f)) for f in folders]
    seeds = check_mergeable(runs)
    first = runs[0]
    metrics = dict(first.metrics.to_json(), replicates=replicated_metrics(runs, seeds, search), seeds=seeds)
    run = dict(first.run.to_json(), machine=merged_machine(runs), seeds=seeds, replicate_folders=[str(f) for f in folders],
               replicate_runs=[{"seed": s, "started": r.run.started, "finished": r.run.finished,
                                "stages": [stage.to_json() for stage in r.run.stages],
                                "tuning_best": r.run.tuning.best.to_json() if r.run.tuning else None}
                               for s, r in zip(seeds, runs)])
    return Merged(metrics=Metrics.from_json(metrics, "merged metrics.json"), run=RunRecord.from_json(run, "merged run.json"),
                  per_image=merged_per_image(runs, seeds), samples=first.samples, trials=first.trials, seeds=seeds)


def save_merged_results(merged: Merged, output: Path) -> Path:
    """Write a ``merge_results`` value to ``output/results`` as one set; that folder."""
    from genreport.pipeline.results.store import save_results

    return save_results(Path(output) / "results", metrics=merged.metrics, run=merged.run, per_image=merged.per_image,
                        trials=merged.trials, samples=merged.samples.to_arrays())
