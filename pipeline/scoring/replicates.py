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

from pathlib import Path
from typing import Any

import numpy as np

from genreport.pipeline.core.config import FREE_SETTINGS
from genreport.pipeline.core.errors import ResultsError
from genreport.pipeline.scoring.stats import holm_adjusted, seeds_and_images_ci, wilcoxon_p
from genreport.pipeline.scoring.verdicts import ALPHA, DESIGNS_CLAIM, DESIGNS_COVER, bimodal_warning

# Settings that may differ between replicates: the seed itself and where and how a run wrote.
METRICS = ("ssim", "ssim_gaussian")


def training_seed(run: dict[str, Any]) -> int | None:
    """The seed a results folder's models were trained with (eval-only: the manifest's), else None."""
    seed = run.get("training_seed")
    if seed is None and run.get("mode") == "full":
        seed = run.get("config", {}).get("seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def replicate_settings(results: dict[str, Any]) -> dict[str, Any]:
    """What must agree between replicates: settings but the seed, data digests, test images, mode."""
    run = results["run"]
    config = {k: v for k, v in run.get("config", {}).items() if k not in FREE_SETTINGS}
    ordered = sorted(config, key=lambda k: (k != "preset", k))  # the preset first: it explains most differences
    return {
        "mode": run.get("mode"),
        **{f"setting {k}": config[k] for k in ordered},
        "policy": run.get("policy"),
        "training settings": {k: v for k, v in (run.get("fingerprint") or {}).items() if k not in ("seed", "data_digests")},
        "data set": run.get("data", {}).get("digests"),
        "test images": [int(i) for i in results["per_image"]["test_index"]],
        "variants": sorted(results["metrics"].get("variants", {})),
        "comparisons": [(c.get("first"), c.get("second")) for c in results["metrics"].get("comparisons", [])],
        "how each model was fed": {v: {k: (figures.get("scoring") or {}).get(k) for k in ("input_shape", "output_shape", "pixel_range")}
                                   for v, figures in results["metrics"].get("variants", {}).items()},
    }


def first_difference(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    """The first key whose values differ, in words, or None when they agree."""
    for key in a:
        if a.get(key) != b.get(key):
            if key in ("test images", "data set"):
                return f"their {key} differ"
            return f"{key} differs ({a.get(key)!r} vs {b.get(key)!r})"
    extra = [k for k in b if k not in a]
    return f"{extra[0]} differs" if extra else None


def check_mergeable(runs: list[dict[str, Any]]) -> list[int]:
    """The runs' seeds, in order, once every run agrees with the first but for its seed."""
    seeds: list[int] = []
    for results in runs:
        check_single_run(results)
    reference = replicate_settings(runs[0])
    for results in runs:
        seed = training_seed(results["run"])
        if seed is None:
            raise ResultsError(f"{results['folder']} carries no training seed, so it cannot be merged as a replicate")
        if seed in seeds:
            raise ResultsError(f"{results['folder']} has seed {seed}, like another folder given: each replicate needs its own seed")
        difference = first_difference(reference, replicate_settings(results))
        if difference:
            raise ResultsError(f"cannot merge {results['folder']} with {runs[0]['folder']}: {difference}")
        for earlier, earlier_seed in zip(runs, seeds):
            if same_scores(earlier, results):
                raise ResultsError(f"{results['folder']} (seed {seed}) and {earlier['folder']} (seed {earlier_seed}) hold identical "
                                   "per-image scores: one is a copy of the other, not a replicate")
        seeds.append(seed)
    return seeds


def same_scores(first: dict[str, Any], second: dict[str, Any]) -> bool:
    """Whether two runs scored every test image of every variant identically (two trainings never do)."""
    variants = first["metrics"].get("variants", {})
    return all(np.array_equal(first["per_image"].get(f"ssim_{v}"), second["per_image"].get(f"ssim_{v}")) for v in variants)


def check_single_run(results: dict[str, Any]) -> None:
    """Refuse a folder that is itself a merge, or lacks a finite per-image column a merge needs."""
    folder = results["folder"]
    if "seed" in results["per_image"] or "replicates" in results["metrics"] or "seeds" in results["run"]:
        raise ResultsError(f"{folder} holds merged replicates already: merge the single-seed results folders it came from instead")
    for variant in results["metrics"].get("variants", {}):
        for metric in METRICS:
            column = f"{metric}_{variant}"
            values = results["per_image"].get(column)
            if values is None:
                raise ResultsError(f"{folder}/per_image.csv lacks the column {column!r}")
            if not np.all(np.isfinite(np.asarray(values, dtype=np.float64))):
                raise ResultsError(f"{folder}/per_image.csv: column {column!r} holds a value that is not finite")
        if not isinstance(results["metrics"]["variants"][variant].get("per_class"), list):
            raise ResultsError(f"{folder}/metrics.json lacks the per-class figures of {variant!r}")


def seed_matrix(runs: list[dict[str, Any]], column: str) -> np.ndarray:
    """Seeds × test images of one per-image column."""
    return np.stack([np.asarray(r["per_image"][column], dtype=np.float64) for r in runs])


def variant_figures(runs: list[dict[str, Any]], seeds: list[int], variant: str) -> dict[str, Any]:
    """One variant's per-seed means and across-seed figures under both SSIM definitions."""
    figures: dict[str, Any] = {}
    for metric in METRICS:
        matrix = seed_matrix(runs, f"{metric}_{variant}")
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


def comparison_figures(runs: list[dict[str, Any]], seeds: list[int], first: str, second: str, family_size: int = 1) -> dict[str, Any]:
    """``second - first`` across seeds: mean, two-level interval (95%, and widened for the family), seeds agreeing, per-seed Wilcoxon."""
    diff = seed_matrix(runs, f"ssim_{second}") - seed_matrix(runs, f"ssim_{first}")
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


def per_class_figures(runs: list[dict[str, Any]], variant: str) -> list[dict[str, Any]]:
    """Per class: the across-seed mean of the class's mean SSIM, and its spread across seeds."""
    rows = []
    per_run = [{row["class_name"]: row for row in r["metrics"]["variants"][variant]["per_class"]} for r in runs]
    for name in per_run[0]:
        means = np.array([classes[name]["mean"] for classes in per_run if name in classes])
        std = float(means.std(ddof=1)) if len(means) > 1 else 0.0
        half = float(t_quantile(0.975, len(means) - 1)) * std / np.sqrt(len(means)) if len(means) > 1 else 0.0
        rows.append({"class_name": name, "mean": float(means.mean()), "std": std, "ci95": [float(means.mean()) - half, float(means.mean()) + half],
                     "count": per_run[0][name]["count"]})
    return rows


def replicated_class_extremes(runs: list[dict[str, Any]], variants: list[str]) -> dict[str, Any]:
    """Per class, the mean over variants of each seed's class mean with its t-interval across seeds; the clear extremes."""
    from genreport.pipeline.scoring.verdicts import extreme_classes

    per_run = [{v: {row["class_name"]: row["mean"] for row in r["metrics"]["variants"][v]["per_class"]} for v in variants} for r in runs]
    rows = []
    for name in per_run[0][variants[0]]:
        per_seed = np.array([np.mean([classes[v][name] for v in variants]) for classes in per_run])
        half = t_quantile(0.975, len(per_seed) - 1) * float(per_seed.std(ddof=1)) / np.sqrt(len(per_seed))
        rows.append({"class_name": name, "mean": float(per_seed.mean()), "ci95": [float(per_seed.mean() - half), float(per_seed.mean() + half)]})
    return {"classes": rows, **extreme_classes(rows)}


def replicated_metrics(runs: list[dict[str, Any]], seeds: list[int], search: str) -> dict[str, Any]:
    """The across-seed block of a merged ``metrics.json``."""
    variants = list(runs[0]["metrics"]["variants"])
    reference = runs[0]["metrics"].get("reference_ssim", {})
    pairs = [(c["first"], c["second"]) for c in runs[0]["metrics"]["comparisons"]]  # the comparisons each run made
    comparisons = [comparison_figures(runs, seeds, a, b, family_size=len(pairs)) for a, b in pairs]
    with_family_holm(comparisons)
    tuning = [{"seed": s, **((r["run"].get("tuning") or {}).get("best") or {})} for s, r in zip(seeds, runs)]
    return {
        "seeds": seeds,
        "first_seed": seeds[0],
        "search": search,
        "variants": {v: {**variant_figures(runs, seeds, v), "reference_ssim": reference.get(v)} for v in variants},
        "comparisons": comparisons,
        "per_class": {v: per_class_figures(runs, v) for v in variants},
        "class_extremes": replicated_class_extremes(runs, variants),
        "tuning": [t for t in tuning if len(t) > 1],
        "searches_differ": len({tuple(sorted((k, str(v)) for k, v in t.items() if k != "seed")) for t in tuning if len(t) > 1}) > 1,
        "multiple_comparisons": f"Bonferroni: each verdict's interval at level 1 - 0.05 / {len(pairs)} over the family of {len(pairs)} comparisons",
        "interval": "a t-interval with (seeds - 1) degrees of freedom over the per-seed means, widened by the test images' variance",
    }


def merged_per_image(runs: list[dict[str, Any]], seeds: list[int]) -> str:
    """``per_image.csv`` in long form: one row per seed and test image, with a ``seed`` column."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = list(runs[0]["per_image"])
    writer.writerow(["seed", *columns])
    for seed, results in zip(seeds, runs):
        table = results["per_image"]
        for i in range(len(table["index"])):
            writer.writerow([seed, *(_cell(c, table[c][i]) for c in columns)])
    return buffer.getvalue()


INTEGER_COLUMNS = frozenset({"index", "test_index", "label"})


def _cell(column: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    return str(int(value)) if column in INTEGER_COLUMNS else f"{float(value):.6f}"


def merge_results(folders: list[Path], search: str = "per seed") -> dict[str, Any]:
    """Load and check several results folders; the merged metrics, run record, per-image CSV and samples.

    The first folder's seed is the one the grids and best/worst images come from.
    """
    from genreport.pipeline.results.store import load_results

    if len(folders) < 2:
        raise ResultsError("merging needs at least two results folders")
    runs = [load_results(Path(f)) for f in folders]
    seeds = check_mergeable(runs)
    first = runs[0]
    metrics = dict(first["metrics"], replicates=replicated_metrics(runs, seeds, search), seeds=seeds)
    run = dict(first["run"], seeds=seeds, replicate_folders=[str(f) for f in folders],
               replicate_runs=[{"seed": s, "started": r["run"].get("started"), "finished": r["run"].get("finished"),
                                "stages": r["run"].get("stages"), "tuning_best": (r["run"].get("tuning") or {}).get("best")}
                               for s, r in zip(seeds, runs)])
    return {"metrics": metrics, "run": run, "per_image": merged_per_image(runs, seeds), "samples": first["samples"],
            "trials": first["trials"], "seeds": seeds}


def save_merged_results(merged: dict[str, Any], output: Path) -> Path:
    """Write a ``merge_results`` value to ``output/results`` as one set; that folder."""
    from genreport.pipeline.results.store import save_results

    return save_results(Path(output) / "results", metrics=merged["metrics"], run=merged["run"], per_image=merged["per_image"],
                        trials=merged["trials"], samples=merged["samples"])
