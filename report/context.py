"""Turns saved results into the plain values the report template shows (no markup here)."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.environment import package_versions
from report import figures

VARIANT_ORDER = ("base", "modified", "tuned")
VARIANT_LABELS = {"base": "Base", "modified": "Modified", "tuned": "Tuned modified"}
REPORT_PACKAGES = ("jinja2", "weasyprint", "matplotlib")


def ordered_variants(metrics: dict[str, Any]) -> list[str]:
    """The variants present in the results, in the canonical order."""
    return [v for v in VARIANT_ORDER if v in metrics["variants"]]


def summary_rows(metrics: dict[str, Any], models: dict[str, Any], variants: list[str]) -> list[dict[str, Any]]:
    """One row per variant for the summary table."""
    rows = []
    for v in variants:
        figures_ = metrics["variants"][v]
        model = models.get(v) or {}
        training = model.get("training") or {}
        reference = figures_.get("reference_ssim")
        mean = figures_["ssim"]["mean"]
        rows.append(
            {
                "variant": v,
                "label": VARIANT_LABELS[v],
                "params": model.get("params"),
                "epochs": training.get("epochs_run"),
                "train_seconds": training.get("seconds"),
                "mean": mean,
                "ci_low": figures_["ssim"]["ci95"][0],
                "ci_high": figures_["ssim"]["ci95"][1],
                "gaussian_mean": figures_["ssim_gaussian"]["mean"],
                "median": figures_["ssim"]["median"],
                "p5": figures_["ssim"]["p5"],
                "psnr": figures_["psnr"]["mean"],
                "mse": figures_["mse"]["mean"],
                "reference": reference,
                "difference": None if reference is None else mean - reference,
                "beats_reference": None if reference is None else mean >= reference,
            }
        )
    return rows


def comparison_sentence(c: dict[str, Any]) -> str:
    """A plain sentence for one paired comparison, written from its numbers."""
    verdict = "significant" if c["significant"] else "not significant"
    p = "p < 0.001" if c["wilcoxon_p"] < 0.001 else f"p = {c['wilcoxon_p']:.3f}"
    return (
        f"{c['second']} vs {c['first']}: {c['mean_difference']:+.4f} SSIM, 95% CI "
        f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]; the difference is {verdict} (Wilcoxon {p}); "
        f"{c['second']} scores higher on {100 * c['second_wins']:.1f}% of test images."
    ).replace("-", "−").replace("e−", "e-")


def per_class_section(metrics: dict[str, Any], variants: list[str], class_names: list[str]) -> dict[str, Any]:
    """Per-class table rows, the grouped bar chart, and the hardest and easiest class."""
    by_variant = {v: {row["class_name"]: row for row in metrics["variants"][v]["per_class"]} for v in variants}
    present = [name for name in class_names if all(name in by_variant[v] for v in variants)]
    rows = [
        {"class_name": name, "cells": [{"mean": by_variant[v][name]["mean"], "std": by_variant[v][name]["std"]} for v in variants],
         "count": by_variant[variants[0]][name]["count"]}
        for name in present
    ]
    average = {name: float(np.mean([by_variant[v][name]["mean"] for v in variants])) for name in present}
    chart = figures.per_class_bar_chart(present, {v: [by_variant[v][n]["mean"] for n in present] for v in variants})
    return {
        "rows": rows,
        "chart": chart,
        "hardest": min(average, key=average.get),
        "easiest": max(average, key=average.get),
        "hardest_mean": min(average.values()),
        "easiest_mean": max(average.values()),
    }


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


def extremes(images: SampleImages, variants: list[str]) -> list[dict[str, Any]]:
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
        sections.append({"variant": v, "label": VARIANT_LABELS[v], **groups})
    return sections


def training_section(models: dict[str, Any], variants: list[str]) -> dict[str, Any]:
    """Per-variant training records, the loss chart, and which variants have no history."""
    rows, histories, missing = [], {}, []
    for v in variants:
        training = (models.get(v) or {}).get("training")
        if not training or not training.get("history"):
            missing.append(v)
            continue
        histories[v] = training["history"]
        rows.append({"variant": v, "policy": (models.get(v) or {}).get("policy", "–"),
                     **{k: training.get(k) for k in ("epochs_run", "best_epoch", "seconds", "stopped_by", "images_per_second")},
                     "best_val_loss": min(training["history"].get("val_loss") or [float("nan")])})
    return {"rows": rows, "chart": figures.loss_curves(histories) if histories else None, "missing": missing}


def tuning_section(tuning: dict[str, Any] | None) -> dict[str, Any] | None:
    """The search space, every trial best first with the chosen one marked, and coverage."""
    if not tuning:
        return None
    best = tuning["best"]
    trials = [
        dict(t, best_epoch=t.get("best_epoch"), worker=t.get("worker", ""), chosen=(t["activation"], t["units"], t["optimizer"]) == (best["activation"], best["units"], best["optimizer"]) and t["rank"] == 1)
        for t in tuning["trials"]
    ]
    return {"best": best, "trials": trials, "tried": tuning["tried"], "combinations": tuning["combinations"],
            "space": tuning["space"], "settings": tuning["settings"], "seconds": tuning.get("seconds")}


def architecture_section(models: dict[str, Any], variants: list[str]) -> list[dict[str, Any]]:
    """Per variant, its layer table and total parameter count."""
    return [
        {"variant": v, "label": VARIANT_LABELS[v], "layers": (models.get(v) or {}).get("layers", []),
         "params": (models.get(v) or {}).get("params"), "hyperparameters": (models.get(v) or {}).get("hyperparameters")}
        for v in variants
    ]


def report_versions(run: dict[str, Any]) -> dict[str, str]:
    """The run's library versions plus the renderer's own."""
    renderer = package_versions(REPORT_PACKAGES)
    renderer.pop("python")
    return {**run.get("versions", {}), **renderer}


def build_context(results: dict[str, Any]) -> dict[str, Any]:
    """Everything the template needs, as strings, numbers, lists, dicts and data URIs."""
    metrics, run = results["metrics"], results["run"]
    variants = ordered_variants(metrics)
    class_names = run["class_names"]
    models = run.get("models", {})
    images = SampleImages(results["samples"], results["per_image"], class_names)
    return {
        "title": "genreport: autoencoder reconstruction report",
        "variants": variants,
        "labels": VARIANT_LABELS,
        "mode": run["mode"],
        "test_images": metrics["test_images"],
        "summary": summary_rows(metrics, models, variants),
        "sentences": [comparison_sentence(c) for c in metrics["comparisons"]],
        "comparisons": metrics["comparisons"],
        "per_class": per_class_section(metrics, variants, class_names),
        "grid": grid_rows(images, variants),
        "extremes": extremes(images, variants),
        "histogram": figures.ssim_histogram({v: results["per_image"][f"ssim_{v}"] for v in variants}),
        "training": training_section(models, variants),
        "tuning": tuning_section(run.get("tuning")),
        "architecture": architecture_section(models, variants),
        "method": {
            "ssim": metrics["ssim_method"],
            "gaussian": metrics["gaussian_ssim_method"],
            "data": run["data"],
            "command_line": run.get("command_line", ""),
            "config": run["config"],
            "policy": run.get("policy"),
            "versions": report_versions(run),
            "machine": run["machine"],
            "started": run["started"],
            "finished": run["finished"],
            "stages": run["stages"],
        },
        "reference": metrics["reference_ssim"],
    }
