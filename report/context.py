"""Turns saved results into the plain values the report template shows: one dict, built from ``report.sections`` and ``report.wording``."""

from __future__ import annotations

from typing import Any

from genreport.pipeline.core.environment import package_versions
from genreport.report import figures
from genreport.pipeline.results.loaded import Results
from genreport.pipeline.results.schema import RunRecord
from genreport.report.sections import (MODELS_PER_GRID, SampleImages, architecture_section, baseline_rows, budget_section, extremes,
                                       genreport_variant, grid_rows, model_groups, model_label, per_class_section, published_rows,
                                       quality_cost_section, replicate_section, summary_rows, with_rank_directions)
from genreport.report.training_sections import training_section, tuning_section
from genreport.report.wording import comparison_sentence, comparison_words, models_note, readable_settings, retrain_note, single_seed_clause


REPORT_PACKAGES = ("jinja2", "weasyprint", "matplotlib")


def report_versions(run: RunRecord) -> dict[str, str]:
    """The run's library versions plus the renderer's own."""
    renderer = package_versions(REPORT_PACKAGES)
    renderer.pop("python")
    return {**run.versions, **renderer}


def onednn_words(machine: dict[str, Any]) -> str | None:
    """"on" or "off" where the record says whether the scoring process ran oneDNN's kernels, else None
    (older records, merges of runs that differ, or a value that is not a plain true or false)."""
    value = machine.get("onednn")
    return ("on" if value else "off") if isinstance(value, bool) else None


def models_given(run: RunRecord, names: list[str]) -> list[str]:
    """The models that are not genreport's trained variants (none in a ``full`` run)."""
    return [] if run.mode == "full" else [m for m in names if genreport_variant(m, run.models) is None]


def build_context(results: Results) -> dict[str, Any]:
    """Everything the template needs, as strings, numbers, lists, dicts and data URIs."""
    metrics, run = results.metrics, results.run
    names = results.models
    models = run.models
    replicates = replicate_section(metrics, models)
    given = models_given(run, names)
    first_seed = metrics.replicates.first_seed if metrics.replicates else None
    per_image = results.per_image.of_seed(first_seed)
    images = SampleImages(results.samples, per_image)
    comparisons = with_rank_directions(metrics.comparisons, per_image)
    return {
        "title": "genreport: autoencoder reconstruction report",
        "variants": names,
        "labels": {m: model_label(m, models) for m in names},
        "mode": run.mode,
        "own_models": not given,
        "models_note": models_note(given, names) if given else "",
        "test_images": metrics.test_images,
        "summary": summary_rows(metrics, models),
        "baselines": baseline_rows(metrics),
        "published": published_rows(metrics),
        "budget": budget_section(run),
        "interval_covers": metrics.interval_covers or "the choice of test images",
        "sentences": [comparison_sentence(c, metrics.test_images, single_seed_clause(first_seed)) for c in comparisons],
        "retrain_note": retrain_note(run.config.preset, names),
        "comparisons": [dict(c.to_json(), verdict_words=comparison_words(c)) for c in comparisons],
        "per_class": per_class_section(metrics, list(run.class_names)),
        "grids": [{"variants": group, "rows": grid_rows(images, group)} for group in model_groups(names, MODELS_PER_GRID)],
        "extremes": extremes(images, models, names),
        "histogram": figures.ssim_histogram({m: per_image.ssim(m) for m in names}),
        "replicates": replicates,
        "seed": run.config.seed,
        "training": training_section(models, names),
        "tuning": tuning_section(run.tuning),
        "architecture": architecture_section(models, metrics),
        "quality_cost": quality_cost_section(metrics, models),
        "method": {
            "ssim": metrics.ssim_method,
            "gaussian": metrics.gaussian_ssim_method,
            "data": run.data.to_json(),
            "command_line": run.command_line,
            "config": run.config.to_json(),
            "settings": readable_settings(run.config.to_json()),
            "policy": run.policy,
            "versions": report_versions(run),
            "machine": run.machine,
            "onednn": onednn_words(run.machine),
            "started": run.started,
            "finished": run.finished,
            "stages": [stage.to_json() for stage in run.stages],
        },
        "reference": metrics.reference_ssim,
    }
