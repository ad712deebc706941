"""What a comparison may claim: about these trained models (one seed) or about the designs (several seeds).

One trained model per variant says how those models score on these test images; only an
interval across seeds says anything about the designs. Every verdict here is data (written
into ``metrics.json``), and the report words it from that data, so a machine reader and a
person reading the PDF get the same verdict.

- A single-seed comparison is called in a direction only when the mean difference, its
  bootstrap interval and the Holm-adjusted Wilcoxon test agree; otherwise no winner is called,
  and a disagreement between the mean and the rank test is named as skew.
- Against a published figure, "beats" needs the interval's lower end above the figure.
- A hardest or easiest class is named only when its interval separates it from the next, and
  only when every class has at least ``MIN_CLASS_IMAGES`` test images: a percentile bootstrap of
  fewer images is no 95% interval (of one image it has no width, of two it is their range).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from genreport.pipeline.models.catalogue import BASE, MODIFIED, TUNED

ALPHA = 0.05
# The fewest test images of a class that get a per-class interval. Of ten classes scoring alike,
# one was named hardest or easiest in every draw with 1 image a class, in 7-10% with 2, and in at
# most 0.7% with 5 to 50 (benchmarks/results/class-intervals-2026-12-07/; the interval itself
# covered the mean for 82-84% of classes at 5 images, 88-91% at 10, 92-93% at 20).
MIN_CLASS_IMAGES = 5
# Up to this many images a class (the most the record measured), its percentile intervals covered
# the mean for 82-94% of classes, never 95%: the report says they are narrower than 95%.
NARROW_UP_TO_IMAGES = 50

MODELS_CLAIM = "these trained models"
DESIGNS_CLAIM = "these designs"
MODELS_COVER = "the choice of test images only (one trained model per variant; training randomness is not covered)"
DESIGNS_COVER = "training randomness (across seeds) and the choice of test images"
# Seed-to-seed spread of mean SSIM measured with `full --seeds 42,7,1` (sd across the three
# seeds), cited where a one-seed report says how far a retrain may move its figures. Only records
# made with today's defaults (the cosine schedule) count: the smoke record predates it.
SEED_SPREAD = {
    "quick": {"record": "benchmarks/results/replicates-quick-2026-11-29", "std": {BASE: 0.0057, MODIFIED: 0.0081, TUNED: 0.0042}},
}


def classes_can_be_told_apart(smallest_class: int | None) -> bool:
    """Whether classes whose smallest holds ``smallest_class`` test images may be named hardest or easiest
    (None: no per-class figures, so no)."""
    return smallest_class is not None and smallest_class >= MIN_CLASS_IMAGES


def sign(value: float) -> int:
    """-1, 0 or 1."""
    return int(np.sign(value))


def model_comparison_verdict(comparison: dict[str, Any]) -> dict[str, Any]:
    """The single-seed verdict on ``second - first``: which way, if any, and why not when none.

    ``verdict`` is 'higher' or 'lower' (the second model against the first) only when the mean,
    its interval and the Holm-adjusted rank test all point that way; 'skewed' when the mean and
    the rank test point opposite ways; otherwise 'interval only', 'rank test only' or 'no clear difference'.
    """
    mean = sign(comparison["mean_difference"])
    interval = 1 if comparison["ci_low"] > 0 else -1 if comparison["ci_high"] < 0 else 0
    p = comparison.get("wilcoxon_p_holm")
    p = comparison["wilcoxon_p"] if p is None else p
    ranks = comparison.get("rank_direction")
    if ranks is None:  # results written before the direction was recorded
        ranks = sign(comparison.get("second_wins", 0.0) - comparison.get("first_wins", 0.0))
    rank_says = ranks if p < ALPHA else 0
    if interval and rank_says == interval == mean:
        verdict = "higher" if interval > 0 else "lower"
    elif rank_says and mean and rank_says != mean:
        verdict = "skewed"
    elif interval:
        verdict = "interval only"
    elif rank_says:
        verdict = "rank test only"
    else:
        verdict = "no clear difference"
    return {"claim": MODELS_CLAIM, "interval_covers": MODELS_COVER, "verdict": verdict, "rank_direction": ranks,
            "mean_direction": mean, "interval_direction": interval}


def published_verdict(mean: float, interval: tuple[float, float] | list[float] | None, reference: float) -> str:
    """'beats' only when the interval's lower end is above the figure; 'below' when its upper end is under it; else 'within'."""
    if interval is None or not all(np.isfinite(interval)):
        return "no interval"
    low, high = interval
    return "beats" if low > reference else "below" if high < reference else "within"


def extreme_classes(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The hardest and easiest class when its interval is apart from every other class's; otherwise those overlapping it.

    ``rows`` hold ``class_name``, ``mean`` and ``ci95`` (the class's mean over variants and its interval).
    """
    ordered = sorted(rows, key=lambda row: row["mean"])
    if len(ordered) < 2:  # nothing to be harder or easier than
        return {"hardest": None, "easiest": None, "hardest_mean": None, "easiest_mean": None, "hardest_ties": [], "easiest_ties": []}
    result: dict[str, Any] = {}
    for end, line in (("hardest", ordered), ("easiest", ordered[::-1])):
        first = line[0]
        tied = [first] + [row for row in line[1:] if overlaps(first["ci95"], row["ci95"])]
        result[end] = first["class_name"] if len(tied) == 1 else None
        result[f"{end}_mean"] = first["mean"]
        result[f"{end}_ties"] = [row["class_name"] for row in tied] if len(tied) > 1 else []
    return result


def overlaps(a: list[float] | tuple[float, float], b: list[float] | tuple[float, float]) -> bool:
    """Whether two intervals share a point."""
    return a[0] <= b[1] and b[0] <= a[1]


def seed_spread_note(preset: str | None, variant: str) -> dict[str, Any] | None:
    """The measured seed-to-seed sd of a variant's mean SSIM at ``preset``, with its record; None where none was measured."""
    record = SEED_SPREAD.get(preset or "")
    if not record or variant not in record["std"]:
        return None
    return {"std": record["std"][variant], "record": record["record"]}


def bimodal_warning(per_seed: list[float]) -> bool:
    """Whether per-seed values split into two groups far apart relative to their spread within groups (S >= 4)."""
    values = np.sort(np.asarray(per_seed, dtype=np.float64))
    if len(values) < 4:
        return False
    gaps = np.diff(values)
    cut = int(np.argmax(gaps)) + 1
    low, high = values[:cut], values[cut:]
    within = np.sqrt((np.sum((low - low.mean()) ** 2) + np.sum((high - high.mean()) ** 2)) / max(len(values) - 2, 1))
    return bool(min(len(low), len(high)) >= 2 and gaps[cut - 1] > 4 * max(within, 1e-12))
