"""One function per report section: the plain rows, charts and images each section of the template shows (no markup here)."""

from __future__ import annotations

from typing import Any

import numpy as np

from genreport.pipeline.training.budget import rung_work
from genreport.pipeline.models.catalogue import Design, label_of
from genreport.pipeline.scoring.stats import rank_direction
from genreport.pipeline.scoring.verdicts import published_verdict
from genreport.report import figures
from genreport.report.wording import extremes_sentence, published_words, replicate_sentence, replicated_published_verdict


def genreport_variant(v: str, models: dict[str, Any]) -> str | None:
    """Which of genreport's variants model ``v`` is: the one its manifest vouched for (or trained), else None."""
    entry = models.get(v) or {}
    if "genreport_variant" in entry:
        return entry["genreport_variant"]
    return v if "training" in entry else None  # results from before eval-only scored other models


def model_label(v: str, models: dict[str, Any]) -> str:
    """The name the report prints: genreport's label for a vouched variant under its own name, else the model's name."""
    variant = genreport_variant(v, models)
    if variant is None:
        return v
    return label_of(variant) if variant == v else f"{v} ({label_of(variant)})"


def ordered_variants(metrics: dict[str, Any]) -> list[str]:
    """The models in the results, in the order they were scored (genreport's variants in training order)."""
    return list(metrics["variants"])


def figure_row(label: str, figures_: dict[str, Any]) -> dict[str, Any]:
    """The summary table's score columns for one variant or baseline."""
    return {
        "label": label,
        "mean": figures_["ssim"]["mean"],
        "ci_low": figures_["ssim"]["ci95"][0],
        "ci_high": figures_["ssim"]["ci95"][1],
        "gaussian_mean": figures_["ssim_gaussian"]["mean"],
        "median": figures_["ssim"]["median"],
        "p5": figures_["ssim"]["p5"],
        "psnr": figures_["psnr"]["mean"],
        "mse": figures_["mse"]["mean"],
    }


def summary_rows(metrics: dict[str, Any], models: dict[str, Any], variants: list[str]) -> list[dict[str, Any]]:
    """One row per variant for the summary table."""
    rows = []
    for v in variants:
        model = models.get(v) or {}
        training = model.get("training") or {}
        rows.append(
            {
                **figure_row(model_label(v, models), metrics["variants"][v]),
                "variant": v,
                "params": model.get("params"),
                "epochs": training.get("fractional_epochs", training.get("epochs_run")),
                "tflop": training["flops"] / 1e12 if training.get("flops") else None,
                "train_seconds": training.get("seconds"),
                "stopped_by": training.get("stopped_by"),
            }
        )
    return rows


def baseline_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The baselines' rows, scored exactly like the variants."""
    return [figure_row(name, figures_) for name, figures_ in (metrics.get("baselines") or {}).items()]


def published_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """Our mean SSIM under both definitions against each published figure, with a verdict from each interval."""
    rows = []
    for row in metrics.get("published", []):
        figures_ = metrics["variants"].get(row["variant"], {})
        uniform_ci = row.get("uniform_ci95") or figures_.get("ssim", {}).get("ci95")  # older results: the summary's interval
        gaussian_ci = row.get("gaussian_ci95") or figures_.get("ssim_gaussian", {}).get("ci95")
        words = published_words((row["uniform"], uniform_ci), (row["gaussian"], gaussian_ci), row["published"])
        styles = {"beats": "better", "below": "worse"}
        rows.append(dict(row, label=label_of(row["variant"]), verdict=words,
                         uniform_class=styles.get(published_verdict(row["uniform"], uniform_ci, row["published"]), ""),
                         gaussian_class=styles.get(published_verdict(row["gaussian"], gaussian_ci, row["published"]), "")))
    return rows


def budget_section(run: dict[str, Any], models: dict[str, Any], variants: list[str]) -> dict[str, Any]:
    """The budget rule the variants were matched on, and any training the clock cut short."""
    config = run["config"]
    kind = config.get("budget", "epochs")
    if kind == "compute":
        rule = (f"equal training compute: {config['train_tflop']:g} TFLOP (10^12 floating-point operations) per variant, "
                "each running as many optimizer steps as that buys")
    else:
        rule = f"equal epochs: {config['epochs']} passes over the training split per variant"
    cut = [v for v in variants if "wall-clock" in str(((models.get(v) or {}).get("training") or {}).get("stopped_by", ""))]
    return {"kind": kind, "rule": rule, "cut_by_clock": cut, "max_minutes": config.get("max_minutes")}


def with_rank_directions(comparisons: list[dict[str, Any]], per_image: dict[str, Any]) -> list[dict[str, Any]]:
    """The comparisons, each with the rank test's direction (recomputed from the per-image table where older results lack it)."""
    done = []
    for c in comparisons:
        if c.get("rank_direction") is None and f"ssim_{c['first']}" in per_image and f"ssim_{c['second']}" in per_image:
            c = dict(c, rank_direction=rank_direction(np.asarray(per_image[f"ssim_{c['second']}"]) - np.asarray(per_image[f"ssim_{c['first']}"])))
        done.append(c)
    return done


MODELS_PER_TABLE = 4  # a page's width: wider tables (per class, the grid) are split into groups of models


MODELS_PER_GRID = 3  # the grid shows two images of each class, each beside every model's reconstruction


def model_groups(variants: list[str], size: int = MODELS_PER_TABLE) -> list[list[str]]:
    """``variants`` in consecutive groups of at most ``size``, one table each."""
    return [variants[i:i + size] for i in range(0, len(variants), size)]


def per_class_section(metrics: dict[str, Any], variants: list[str], class_names: list[str]) -> dict[str, Any]:
    """Per-class tables (one per group of models), the grouped bar chart, and the hardest and easiest class."""
    by_variant = {v: {row["class_name"]: row for row in metrics["variants"][v]["per_class"]} for v in variants}
    present = [name for name in class_names if all(name in by_variant[v] for v in variants)]

    def rows(group: list[str]) -> list[dict[str, Any]]:
        return [{"class_name": name, "cells": [{"mean": by_variant[v][name]["mean"], "std": by_variant[v][name]["std"],
                                                "ci95": by_variant[v][name].get("ci95")} for v in group],
                 "count": by_variant[variants[0]][name]["count"]} for name in present]

    chart = figures.per_class_bar_chart(present, {v: [by_variant[v][n]["mean"] for n in present] for v in variants})
    return {"tables": [{"variants": group, "rows": rows(group)} for group in model_groups(variants)], "chart": chart,
            "extremes": extremes_sentence(metrics.get("class_extremes"))}


class SampleImages:
    """Looks up the saved sample images and per-image SSIM by test-set position."""

    def __init__(self, samples: dict[str, np.ndarray], per_image: dict[str, Any], class_names: list[str]) -> None:
        self.samples = samples
        self.per_image = per_image
        self.class_names = class_names
        self.row_of = {int(pos): i for i, pos in enumerate(samples["shown"])}

    def original(self, pos: int) -> str:
        return figures.thumbnail_uri(self.samples["originals"][self.row_of[pos]])

    def reconstruction(self, variant: str, pos: int) -> str:
        return figures.thumbnail_uri(self.samples[f"recon_{variant}"][self.row_of[pos]])

    def ssim(self, variant: str, pos: int) -> float:
        return float(self.per_image[f"ssim_{variant}"][pos])

    def class_name(self, pos: int) -> str:
        return self.per_image["class_name"][pos]

    def test_index(self, pos: int) -> int:
        return int(self.per_image["test_index"][pos])


def grid_rows(images: SampleImages, variants: list[str]) -> list[dict[str, Any]]:
    """One row per class: its sampled test images, each with the original and every variant's
    reconstruction and SSIM."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for pos in (int(p) for p in images.samples["grid"]):
        rows.setdefault(images.class_name(pos), []).append(
            {
                "test_index": images.test_index(pos),
                "original": images.original(pos),
                "cells": [{"variant": v, "image": images.reconstruction(v, pos), "ssim": images.ssim(v, pos)} for v in variants],
            }
        )
    return [{"class_name": name, "samples": samples} for name, samples in rows.items()]


def extremes(images: SampleImages, variants: list[str], models: dict[str, Any]) -> list[dict[str, Any]]:
    """Per variant, the lowest- and highest-SSIM test images with their reconstructions."""
    sections = []
    for v in variants:
        groups = {}
        for kind in ("worst", "best"):
            groups[kind] = [
                {"original": images.original(int(p)), "image": images.reconstruction(v, int(p)),
                 "ssim": images.ssim(v, int(p)), "class_name": images.class_name(int(p))}
                for p in images.samples[f"{kind}_{v}"]
            ]
        sections.append({"variant": v, "label": model_label(v, models), **groups})
    return sections


def validation_curve(training: dict[str, Any]) -> dict[str, list[float]] | None:
    """Validation loss at the end of each epoch, with the fractional epoch and TFLOP spent by then."""
    val = [v if v is not None else float("nan") for v in (training.get("history") or {}).get("val_loss") or []]
    budget = training.get("budget") or {}
    per_epoch, step_flops = budget.get("steps_per_epoch"), budget.get("step_flops")
    if not val or not per_epoch or not step_flops:
        return None
    steps = [min((i + 1) * per_epoch, training.get("steps_run", (i + 1) * per_epoch)) for i in range(len(val))]
    return {"val_loss": val, "epochs": [s / per_epoch for s in steps], "tflop": [s * step_flops / 1e12 for s in steps]}


def training_section(models: dict[str, Any], variants: list[str]) -> dict[str, Any]:
    """Per-variant training records (budget, work done, speed), the charts, and which variants have no history."""
    rows, histories, curves, missing = [], {}, {}, []
    for v in variants:
        model = models.get(v) or {}
        training = model.get("training")
        if not training or not training.get("history"):
            missing.append(v)
            continue
        histories[v] = training["history"]
        curve = validation_curve(training)
        if curve:
            curves[v] = curve
        budget = training.get("budget") or {}
        rows.append({"variant": v, "policy": model.get("policy", "–"),
                     **{k: training.get(k) for k in ("epochs_run", "best_epoch", "seconds", "stopped_by", "images_per_second", "steps_run", "gflops_per_second", "fractional_epochs")},
                     "step_gflop": budget["step_flops"] / 1e9 if budget.get("step_flops") else None,
                     "tflop": training["flops"] / 1e12 if training.get("flops") else None,
                     "best_val_loss": min([v for v in training["history"].get("val_loss") or [] if v is not None] or [float("nan")])})
    return {"rows": rows, "chart": figures.loss_curves(histories) if histories else None,
            "work_chart": figures.validation_against_work(curves) if curves else None, "missing": missing}


def search_grid_rows(grid: list[dict[str, Any]], best: dict[str, Any]) -> list[dict[str, Any]]:
    """The whole space as rows of units × activation, one cell per optimizer, the chosen one marked."""
    optimizers = list(dict.fromkeys(g["optimizer"] for g in grid))
    rows: dict[tuple[int, str], dict[str, Any]] = {}
    for g in grid:
        row = rows.setdefault((g["units"], g["activation"]), {"units": g["units"], "activation": g["activation"], "cells": {}})
        chosen = Design.of(g) == Design.of(best)
        row["cells"][g["optimizer"]] = {"val_loss": g["val_loss"], "rung": g["rung"], "steps": g.get("steps"), "chosen": chosen}
    empty = {"val_loss": None, "rung": None, "steps": None, "chosen": False}
    return [dict(r, cells=[r["cells"].get(o, empty) for o in optimizers]) for r in rows.values()]


MEANINGFUL_STEPS = 20  # below this a first-rung trial is barely trained: its loss says little about the design


def first_rung_steps(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per width, the fewest optimizer steps a first-rung trial ran, and whether that is too few to judge it."""
    steps: dict[int, int] = {}
    for t in trials:
        if t.get("rung", 0) == 0 and t.get("steps") is not None:
            units = int(t["units"])
            steps[units] = min(steps.get(units, int(t["steps"])), int(t["steps"]))
    return [{"units": u, "steps": n, "too_few": n < MEANINGFUL_STEPS} for u, n in sorted(steps.items())]


def tuning_section(tuning: dict[str, Any] | None) -> dict[str, Any] | None:
    """The search space and its results, every trial best first with the chosen one marked, and coverage."""
    if not tuning:
        return None
    best = tuning["best"]
    key = Design.of(best)
    trials = [dict(t, worker=t.get("worker", ""), chosen=Design.of(t) == key and t["rank"] == 1)
              for t in tuning["trials"]]
    grid = tuning.get("grid") or []
    optimizers = list(dict.fromkeys(g["optimizer"] for g in grid))
    settings = tuning["settings"]
    rung_flops = [rung_work(settings["first_rung_flops"], settings["rate"], r) for r in range(settings["rungs"])] if settings.get("first_rung_flops") else []
    rung_steps = [rung_work(settings["first_rung_steps"], settings["rate"], r) for r in range(settings["rungs"])] if settings.get("first_rung_steps") else []
    return {"best": best, "trials": trials, "tried": tuning["tried"], "combinations": tuning["combinations"],
            "space": tuning["space"], "settings": settings, "seconds": tuning.get("seconds"),
            "grid_rows": search_grid_rows(grid, best), "optimizers": optimizers,
            "chart": figures.search_space_chart(grid, tuning.get("mean_image_val_loss"), best) if any(g["val_loss"] is not None for g in grid) else None,
            "mean_image_val_loss": tuning.get("mean_image_val_loss"), "last_rung_fraction": tuning.get("last_rung_fraction"),
            "rung_tflop": [f / 1e12 for f in rung_flops], "rung_steps": rung_steps,
            "first_rung_steps": first_rung_steps(trials), "meaningful_steps": MEANINGFUL_STEPS}


def shape_text(shape: list[int] | None) -> str:
    """An image shape as the report writes it: 28×28×1, 28×28 or 784."""
    return "×".join(str(d) for d in shape) if shape else "28×28×1"


def architecture_section(models: dict[str, Any], variants: list[str], metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """Per model, its layer table, parameter count, forward FLOPs (and what they count), and how its images went in and out."""
    rows = []
    for v in variants:
        model = models.get(v) or {}
        scoring = metrics["variants"][v].get("scoring") or {}
        counted = model.get("flops_count") or {}
        rows.append({"variant": v, "label": model_label(v, models), "layers": model.get("layers", []), "params": model.get("params"),
                     "hyperparameters": model.get("hyperparameters"), "gflop": model["forward_flops"] / 1e9 if model.get("forward_flops") else None,
                     "counted": counted.get("counted"), "left_out": counted.get("left_out"),
                     "genreport": bool(model.get("genreport_variant")) or "training" in model,
                     "input_shape": shape_text(scoring.get("input_shape")), "output_shape": shape_text(scoring.get("output_shape")),
                     "pixel_range": "–".join(f"{x:g}" for x in scoring.get("pixel_range") or [0, 1]),
                     "clipped_share": scoring.get("clipped_share")})
    return rows


def quality_cost_section(metrics: dict[str, Any], models: dict[str, Any]) -> dict[str, Any] | None:
    """The quality-against-cost chart and table, or None for results without it (older ones) or without any cost."""
    block = metrics.get("quality_cost")
    if not block or not any(p.get("params") for p in block["points"] if not p["baseline"]):
        return None
    rows = [dict(p, label=p["name"] if p["baseline"] else model_label(p["name"], models), gflop=p["flops"] / 1e9 if p.get("flops") else None,
                 front_params=p["name"] in block["front"]["params"], front_flops=p["name"] in block["front"]["flops"])
            for p in block["points"]]
    return {"rows": rows, "chart": figures.quality_cost_chart(block["points"], block["front"]), "costs": block["costs"]}


def first_seed_rows(per_image: dict[str, Any], seed: int | None) -> dict[str, Any]:
    """The per-image columns of one seed (all of them when the table has no seed column)."""
    if seed is None or "seed" not in per_image:
        return per_image
    keep = np.asarray(per_image["seed"]) == seed
    return {k: ([x for x, kept in zip(v, keep) if kept] if isinstance(v, list) else np.asarray(v)[keep]) for k, v in per_image.items()}


def replicate_section(metrics: dict[str, Any], variants: list[str], models: dict[str, Any]) -> dict[str, Any] | None:
    """The across-seed summary, comparisons, per-class spread and per-seed choices, or None for one seed."""
    block = metrics.get("replicates")
    if not block:
        return None
    seeds = block["seeds"]
    rows = []
    for v in variants:
        figures_ = block["variants"][v]
        uniform, gaussian = figures_["ssim"], figures_["ssim_gaussian"]
        reference = figures_.get("reference_ssim")
        rows.append({"variant": v, "label": model_label(v, models), "per_seed": [uniform["per_seed"][str(s)] for s in seeds],
                     "mean": uniform["mean"], "std": uniform["std"], "ci_low": uniform["ci95"][0], "ci_high": uniform["ci95"][1],
                     "gaussian_mean": gaussian["mean"], "gaussian_std": gaussian["std"],
                     "gaussian_ci_low": gaussian["ci95"][0], "gaussian_ci_high": gaussian["ci95"][1], "reference": reference,
                     "verdict": replicated_published_verdict(uniform, gaussian, reference)})
    comparisons = [dict(c, sentence=replicate_sentence(c)) for c in block["comparisons"]]
    per_class_rows = []
    names = [row["class_name"] for row in block["per_class"][variants[0]]]
    by_variant = {v: {row["class_name"]: row for row in block["per_class"][v]} for v in variants}
    for name in names:
        per_class_rows.append({"class_name": name, "count": by_variant[variants[0]][name]["count"],
                               "cells": [{"mean": by_variant[v][name]["mean"], "std": by_variant[v][name]["std"]} for v in variants]})
    return {"seeds": seeds, "first_seed": block["first_seed"], "search": block["search"], "rows": rows,
            "comparisons": comparisons, "per_class": per_class_rows, "tuning": block.get("tuning") or [],
            "interval": block["interval"], "searches_differ": bool(block.get("searches_differ")),
            "extremes": extremes_sentence(block.get("class_extremes"), over="seeds")}
