"""Statistics for comparing variants: bootstrap confidence intervals and paired tests."""

from __future__ import annotations

from typing import Any

import numpy as np


def bootstrap_mean_ci(values: np.ndarray, rng: np.random.Generator, resamples: int = 2000, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of ``values``."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return float(values.mean()), float(values.mean())
    picks = rng.integers(0, len(values), size=(resamples, len(values)))
    means = values[picks].mean(axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


def wilcoxon_p(differences: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value that the differences are centred on zero."""
    differences = np.asarray(differences, dtype=np.float64)
    if len(differences) < 2 or not np.any(differences):
        return 1.0
    from scipy.stats import wilcoxon  # here, not at the top: a render of one run compares nothing (scipy-stats-lazy-2026-12-07)

    return float(wilcoxon(differences, zero_method="wilcox").pvalue)


def rank_direction(differences: np.ndarray) -> int:
    """Which way the Wilcoxon signed-rank statistic points: +1 when the positive differences carry more rank, -1, or 0."""
    from scipy.stats import rankdata

    differences = np.asarray(differences, dtype=np.float64)
    nonzero = differences[differences != 0]
    if not len(nonzero):
        return 0
    return int(np.sign(np.sum(np.sign(nonzero) * rankdata(np.abs(nonzero)))))


def paired_comparison(first: np.ndarray, second: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
    """``second - first`` per image: mean difference, bootstrap 95% CI, Wilcoxon p, win shares."""
    diff = np.asarray(second, dtype=np.float64) - np.asarray(first, dtype=np.float64)
    low, high = bootstrap_mean_ci(diff, rng)
    p = wilcoxon_p(diff)
    return {
        "mean_difference": float(diff.mean()),
        "ci_low": low,
        "ci_high": high,
        "wilcoxon_p": p,
        "rank_direction": rank_direction(diff),
        "second_wins": float(np.mean(diff > 0)),
        "first_wins": float(np.mean(diff < 0)),
        "ties": float(np.mean(diff == 0)),
    }


def holm_adjusted(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input's order (monotone, capped at 1).

    Reject hypothesis i at family-wise level alpha when its adjusted p is below alpha.
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def with_holm_correction(comparisons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The comparisons with Holm-adjusted p-values over the family, and the verdict on these trained models judged on them."""
    from genreport.pipeline.scoring.verdicts import model_comparison_verdict

    adjusted = holm_adjusted([c["wilcoxon_p"] for c in comparisons])
    corrected = [dict(c, wilcoxon_p_holm=p, family_size=len(comparisons)) for c, p in zip(comparisons, adjusted)]
    return [dict(c, **model_comparison_verdict(c)) for c in corrected]


def seeds_and_images_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Interval of the grand mean of a seeds × images matrix covering training randomness and images.

    A bootstrap over two or three seeds underestimates the seed-to-seed spread (its plug-in
    variance divides by S and its percentiles assume many seeds): in a simulation with no true
    difference it called one in three comparisons "better". This interval is a t-interval with
    S - 1 degrees of freedom on the variance of the per-seed means (which holds each seed's own
    image noise) plus the variance of the shared test images' means: conservative by the small
    per-cell noise counted twice. With one seed it is the normal interval over images only.
    """
    from scipy.stats import norm, t

    matrix = np.asarray(values, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] < 1 or matrix.shape[1] < 2:
        raise ValueError(f"expected a seeds x images matrix with two or more images, got shape {matrix.shape}")
    seeds, images = matrix.shape
    mean = float(matrix.mean())
    image_var = float(matrix.mean(axis=0).var(ddof=1)) / images
    if seeds == 1:
        half = float(norm.ppf(0.5 + level / 2)) * np.sqrt(image_var)
    else:
        seed_var = float(matrix.mean(axis=1).var(ddof=1)) / seeds
        half = float(t.ppf(0.5 + level / 2, seeds - 1)) * np.sqrt(seed_var + image_var)
    return mean - half, mean + half
