"""Turns saved results into the plain values the report template shows: one dict, built from ``report.sections`` and ``report.wording``."""

from __future__ import annotations

from typing import Any

from genreport.pipeline.core.environment import package_versions
from genreport.report import figures
from genreport.report.sections import (MODELS_PER_GRID, SampleImages, architecture_section, baseline_rows, budget_section, extremes,
                                       first_seed_rows, genreport_variant, grid_rows, model_groups, model_label, ordered_variants,
                                       per_class_section, published_rows, quality_cost_section, replicate_section, summary_rows,
                                       training_section, tuning_section, with_rank_directions)
from genreport.report.wording import comparison_sentence, comparison_words, models_note, readable_settings, retrain_note, single_seed_clause


REPORT_PACKAGES = ("jinja2", "weasyprint", "matplotlib")


def report_versions(run: dict[str, Any]) -> dict[str, str]:
    """The run's library versions plus the renderer's own."""
    renderer = package_versions(REPORT_PACKAGES)
    renderer.pop("python")
    return {**run.get("versions", {}), **renderer}


def models_given(run: dict[str, Any], variants: list[str]) -> list[str]:
    """The models that are not genreport's trained variants (none in a ``full`` run)."""
    models = run.get("models") or {}
    return [] if run["mode"] == "full" else [v for v in variants if genreport_variant(v, models) is None]


def build_context(results: dict[str, Any]) -> dict[str, Any]:
    """Everything the template needs, as strings, numbers, lists, dicts and data URIs."""
    metrics, run = results["metrics"], results["run"]
    variants = ordered_variants(metrics)
    class_names = run["class_names"]
    models = run.get("models", {})
    replicates = replicate_section(metrics, variants, models)
    given = models_given(run, variants)
    per_image = first_seed_rows(results["per_image"], replicates["first_seed"] if replicates else None)
    images = SampleImages(results["samples"], per_image, class_names)
    comparisons = with_rank_directions(metrics["comparisons"], per_image)
    return {
        "title": "genreport: autoencoder reconstruction report",
        "variants": variants,
        "labels": {v: model_label(v, models) for v in variants},
        "mode": run["mode"],
        "own_models": not given,
        "models_note": models_note(given, variants) if given else "",
        "test_images": metrics["test_images"],
        "summary": summary_rows(metrics, models, variants),
        "baselines": baseline_rows(metrics),
        "published": published_rows(metrics),
        "budget": budget_section(run, models, variants),
        "interval_covers": metrics.get("interval_covers", "the choice of test images"),
        "sentences": [comparison_sentence(c, metrics["test_images"], single_seed_clause(replicates)) for c in comparisons],
        "retrain_note": retrain_note(run, variants),
        "comparisons": [dict(c, verdict_words=comparison_words(c)) for c in comparisons],
        "per_class": per_class_section(metrics, variants, class_names),
        "grids": [{"variants": group, "rows": grid_rows(images, group)} for group in model_groups(variants, MODELS_PER_GRID)],
        "extremes": extremes(images, variants, models),
        "histogram": figures.ssim_histogram({v: per_image[f"ssim_{v}"] for v in variants}),
        "replicates": replicates,
        "seed": run.get("config", {}).get("seed"),
        "training": training_section(models, variants),
        "tuning": tuning_section(run.get("tuning")),
        "architecture": architecture_section(models, variants, metrics),
        "quality_cost": quality_cost_section(metrics, models),
        "method": {
            "ssim": metrics["ssim_method"],
            "gaussian": metrics["gaussian_ssim_method"],
            "data": run["data"],
            "command_line": run.get("command_line", ""),
            "config": run["config"],
            "settings": readable_settings(run["config"]),
            "policy": run.get("policy"),
            "versions": report_versions(run),
            "machine": run["machine"],
            "started": run["started"],
            "finished": run["finished"],
            "stages": run["stages"],
        },
        "reference": metrics["reference_ssim"],
    }
