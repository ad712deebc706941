"""One function per report section: the plain rows, charts and images each section of the template shows (no markup here)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from genreport.pipeline.results.loaded import PerImageTable, Samples
from genreport.pipeline.results.schema import ClassExtremes, ClassFigures, Comparison, Metrics, ModelRecord, ModelSummary, RunRecord
from genreport.pipeline.models.catalogue import label_of
from genreport.pipeline.scoring.stats import rank_direction
from genreport.pipeline.scoring.verdicts import MIN_CLASS_IMAGES, classes_can_be_told_apart, published_verdict
from genreport.report import figures
from genreport.report.wording import class_interval_note, extremes_sentence, published_words, replicate_sentence, replicated_published_verdict


def genreport_variant(name: str, models: dict[str, ModelRecord]) -> str | None:
    """Which of genreport's variants model ``name`` is: the one its manifest vouched for (or trained), else None."""
    record = models.get(name)
    return record.variant_of(name) if record else None


def model_label(name: str, models: dict[str, ModelRecord]) -> str:
    """The name the report prints: genreport's label for a vouched variant under its own name, else the model's name."""
    variant = genreport_variant(name, models)
    if variant is None:
        return name
    return label_of(variant) if variant == name else f"{name} ({label_of(variant)})"


def figure_row(label: str, figures_: ModelSummary) -> dict[str, Any]:
    """The summary table's score columns for one model or baseline."""
    ssim = figures_.ssim
    return {
        "label": label,
        "mean": ssim.mean,
        "ci_low": ssim.ci95[0] if ssim.ci95 else None,
        "ci_high": ssim.ci95[1] if ssim.ci95 else None,
        "gaussian_mean": figures_.ssim_gaussian.mean,
        "median": ssim.median,
        "p5": ssim.p5,
        "psnr": figures_.psnr.mean,
        "mse": figures_.mse.mean,
    }


def summary_rows(metrics: Metrics, models: dict[str, ModelRecord]) -> list[dict[str, Any]]:
    """One row per model for the summary table."""
    rows = []
    for name, figures_ in metrics.models.items():
        record = models.get(name) or ModelRecord()
        training = record.training
        rows.append(
            {
                **figure_row(model_label(name, models), figures_),
                "variant": name,
                "params": record.params,
                "epochs": (training.fractional_epochs if training.fractional_epochs is not None or "fractional_epochs" in (training.json_keys or ())
                           else training.epochs_run) if training else None,
                "tflop": training.flops / 1e12 if training and training.flops else None,
                "train_seconds": training.seconds if training else None,
                "stopped_by": training.stopped_by if training else None,
            }
        )
    return rows


def baseline_rows(metrics: Metrics) -> list[dict[str, Any]]:
    """The baselines' rows, scored exactly like the models."""
    return [figure_row(name, figures_) for name, figures_ in metrics.baselines.items()]


def published_rows(metrics: Metrics) -> list[dict[str, Any]]:
    """Our mean SSIM under both definitions against each published figure, with a verdict from each interval."""
    rows = []
    for row in metrics.published:
        figures_ = metrics.models.get(row.model)
        uniform_ci = row.uniform_ci95 or (figures_.ssim.ci95 if figures_ else None)  # older results: the summary's interval
        gaussian_ci = row.gaussian_ci95 or (figures_.ssim_gaussian.ci95 if figures_ else None)
        words = published_words((row.uniform, uniform_ci), (row.gaussian, gaussian_ci), row.published)
        styles = {"beats": "better", "below": "worse"}
        rows.append(dict(row.to_json(), label=label_of(row.model), verdict=words,
                         uniform_class=styles.get(published_verdict(row.uniform, uniform_ci, row.published), ""),
                         gaussian_class=styles.get(published_verdict(row.gaussian, gaussian_ci, row.published), "")))
    return rows


def budget_section(run: RunRecord) -> dict[str, Any]:
    """The budget rule the models were matched on, and any training the clock cut short."""
    config = run.config
    kind = config.budget or "epochs"  # results from before budgets in work trained for epochs
    if kind == "compute":
        rule = (f"equal training compute: {config.train_tflop:g} TFLOP (10^12 floating-point operations) per variant, "
                "each running as many optimizer steps as that buys")
    else:
        rule = f"equal epochs: {config.epochs} passes over the training split per variant"
    cut = [name for name, record in run.models.items() if record.training and "wall-clock" in str(record.training.stopped_by or "")]
    return {"kind": kind, "rule": rule, "cut_by_clock": cut, "max_minutes": config.max_minutes}


def with_rank_directions(comparisons: tuple[Comparison, ...], per_image: PerImageTable) -> list[Comparison]:
    """The comparisons, each with the rank test's direction (recomputed from the per-image table where older results lack it)."""
    done = []
    for c in comparisons:
        if c.rank_direction is None and per_image.has("ssim", c.first) and per_image.has("ssim", c.second):
            c = replace(c, rank_direction=rank_direction(np.asarray(per_image.ssim(c.second)) - np.asarray(per_image.ssim(c.first))))
        done.append(c)
    return done


MODELS_PER_TABLE = 4  # a page's width: wider tables (per class, the grid) are split into groups of models


MODELS_PER_GRID = 3  # the grid shows two images of each class, each beside every model's reconstruction


def model_groups(variants: list[str], size: int = MODELS_PER_TABLE) -> list[list[str]]:
    """``variants`` in consecutive groups of at most ``size``, one table each."""
    return [variants[i:i + size] for i in range(0, len(variants), size)]


def per_class_section(metrics: Metrics, class_names: list[str]) -> dict[str, Any]:
    """Per-class tables (one per group of models), the grouped bar chart, and the hardest and easiest class."""
    names = list(metrics.models)
    by_model = {m: {row.class_name: row for row in figures_.per_class} for m, figures_ in metrics.models.items()}
    present = [name for name in class_names if all(name in by_model[m] for m in names)]

    smallest = min((row.count for figures_ in metrics.models.values() for row in figures_.per_class), default=None)

    def interval(row: ClassFigures) -> list[float] | None:  # results of an older genreport hold intervals of too few images too
        return list(row.ci95) if row.ci95 and row.count >= MIN_CLASS_IMAGES else None

    def rows(group: list[str]) -> list[dict[str, Any]]:
        return [{"class_name": name, "cells": [{"mean": by_model[m][name].mean, "std": by_model[m][name].std,
                                                "ci95": interval(by_model[m][name])} for m in group],
                 "count": by_model[names[0]][name].count} for name in present]

    chart = figures.per_class_bar_chart(present, {m: [by_model[m][n].mean for n in present] for m in names})
    return {"tables": [{"variants": group, "rows": rows(group)} for group in model_groups(names)], "chart": chart,
            "extremes": extremes_sentence(trusted_extremes(metrics.class_extremes, smallest), smallest_class=smallest),
            "interval_note": class_interval_note(smallest) if any(interval(row) for f in metrics.models.values() for row in f.per_class) else None}


def merged_extremes_sentence(extremes: ClassExtremes | None, smallest_class: int | None) -> str:
    """A merge's hardest and easiest class; none from a merge written before its intervals covered the test images."""
    if extremes is not None and extremes.interval_covers is None and classes_can_be_told_apart(smallest_class):
        return ("These merged results were written by a genreport whose class intervals covered training randomness only, "
                "not which test images were drawn, so no class is named hardest or easiest; merge the seeds again to judge them.")
    return extremes_sentence(trusted_extremes(extremes, smallest_class), over="seeds and test images", smallest_class=smallest_class)


def trusted_extremes(extremes: ClassExtremes | None, smallest_class: int | None) -> ClassExtremes | None:
    """``extremes``, unless a class has fewer than ``MIN_CLASS_IMAGES`` images or none are counted (an older genreport judged such classes too)."""
    return extremes if classes_can_be_told_apart(smallest_class) else None


class SampleImages:
    """Looks up the saved sample images and per-image SSIM by test-set position."""

    def __init__(self, samples: Samples, per_image: PerImageTable) -> None:
        self.samples = samples
        self.per_image = per_image
        self.row_of = {int(pos): i for i, pos in enumerate(samples.shown)}

    def original(self, pos: int) -> str:
        return figures.thumbnail_uri(self.samples.originals[self.row_of[pos]])

    def reconstruction(self, model: str, pos: int) -> str:
        return figures.thumbnail_uri(self.samples.reconstructions[model][self.row_of[pos]])

    def ssim(self, model: str, pos: int) -> float:
        return float(self.per_image.ssim(model)[pos])

    def class_name(self, pos: int) -> str:
        return self.per_image.class_names[pos]

    def test_index(self, pos: int) -> int:
        return int(self.per_image.test_index[pos])


def grid_rows(images: SampleImages, variants: list[str]) -> list[dict[str, Any]]:
    """One row per class: its sampled test images, each with the original and every variant's
    reconstruction and SSIM."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for pos in (int(p) for p in images.samples.grid):
        rows.setdefault(images.class_name(pos), []).append(
            {
                "test_index": images.test_index(pos),
                "original": images.original(pos),
                "cells": [{"variant": v, "image": images.reconstruction(v, pos), "ssim": images.ssim(v, pos)} for v in variants],
            }
        )
    return [{"class_name": name, "samples": samples} for name, samples in rows.items()]


def extremes(images: SampleImages, models: dict[str, ModelRecord], names: list[str]) -> list[dict[str, Any]]:
    """Per model, the lowest- and highest-SSIM test images with their reconstructions."""
    sections = []
    for name in names:
        groups = {}
        for kind, rows in (("worst", images.samples.worst[name]), ("best", images.samples.best[name])):
            groups[kind] = [
                {"original": images.original(int(p)), "image": images.reconstruction(name, int(p)),
                 "ssim": images.ssim(name, int(p)), "class_name": images.class_name(int(p))}
                for p in rows
            ]
        sections.append({"variant": name, "label": model_label(name, models), **groups})
    return sections


def shape_text(shape: tuple[int, ...] | None) -> str:
    """An image shape as the report writes it: 28×28×1, 28×28 or 784."""
    return "×".join(str(d) for d in shape) if shape else "28×28×1"


def architecture_section(models: dict[str, ModelRecord], metrics: Metrics) -> list[dict[str, Any]]:
    """Per model, its layer table, parameter count, forward FLOPs (and what they count), and how its images went in and out."""
    rows = []
    for name, figures_ in metrics.models.items():
        record = models.get(name) or ModelRecord()
        scoring = figures_.scoring
        counted = record.flops_count
        rows.append({"variant": name, "label": model_label(name, models), "layers": [layer.to_json() for layer in record.layers],
                     "params": record.params, "hyperparameters": record.hyperparameters,
                     "gflop": record.forward_flops / 1e9 if record.forward_flops else None,
                     "counted": list(counted.counted) if counted else None, "left_out": list(counted.left_out) if counted else None,
                     "genreport": bool(record.genreport_variant) or record.training is not None,
                     "input_shape": shape_text(scoring.input_shape if scoring else None),
                     "output_shape": shape_text(scoring.output_shape if scoring else None),
                     "pixel_range": "–".join(f"{x:g}" for x in (scoring.pixel_range if scoring else (0, 1))),
                     "clipped_share": scoring.clipped_share if scoring else None})
    return rows


def quality_cost_section(metrics: Metrics, models: dict[str, ModelRecord]) -> dict[str, Any] | None:
    """The quality-against-cost chart and table, or None for results without it (older ones) or without any cost."""
    block = metrics.quality_cost
    if not block or not any(p.params for p in block.points if not p.baseline):
        return None
    rows = [dict(p.to_json(), label=p.name if p.baseline else model_label(p.name, models), gflop=p.flops / 1e9 if p.flops else None,
                 front_params=p.name in block.front.get("params", ()), front_flops=p.name in block.front.get("flops", ()))
            for p in block.points]
    return {"rows": rows, "chart": figures.quality_cost_chart([p.to_json() for p in block.points], {k: list(v) for k, v in block.front.items()}),
            "costs": block.costs}


def replicate_section(metrics: Metrics, models: dict[str, ModelRecord]) -> dict[str, Any] | None:
    """The across-seed summary, comparisons, per-class spread and per-seed choices, or None for one seed."""
    block = metrics.replicates
    if not block:
        return None
    seeds = list(block.seeds)
    names = list(metrics.models)
    rows = []
    for name in names:
        figures_ = block.models[name]
        uniform, gaussian = figures_.ssim, figures_.ssim_gaussian
        rows.append({"variant": name, "label": model_label(name, models), "per_seed": [uniform.per_seed[str(s)] for s in seeds],
                     "mean": uniform.mean, "std": uniform.std, "ci_low": uniform.ci95[0], "ci_high": uniform.ci95[1],
                     "gaussian_mean": gaussian.mean, "gaussian_std": gaussian.std,
                     "gaussian_ci_low": gaussian.ci95[0], "gaussian_ci_high": gaussian.ci95[1], "reference": figures_.reference_ssim,
                     "verdict": replicated_published_verdict(uniform, gaussian, figures_.reference_ssim)})
    comparisons = [dict(c.to_json(), sentence=replicate_sentence(c)) for c in block.comparisons]
    by_model = {m: {row.class_name: row for row in block.per_class[m]} for m in names}
    smallest = min((row.count for rows in block.per_class.values() for row in rows), default=None)
    per_class_rows = [{"class_name": row.class_name, "count": row.count,
                       "cells": [{"mean": by_model[m][row.class_name].mean, "std": by_model[m][row.class_name].std} for m in names]}
                      for row in block.per_class[names[0]]]
    return {"seeds": seeds, "first_seed": block.first_seed, "search": block.search, "rows": rows,
            "comparisons": comparisons, "per_class": per_class_rows, "tuning": [t.to_json() for t in block.tuning],
            "interval": block.interval, "searches_differ": block.searches_differ,
            "extremes": merged_extremes_sentence(block.class_extremes, smallest)}
