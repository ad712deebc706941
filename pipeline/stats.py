"""Statistics for comparing variants: bootstrap confidence intervals and paired tests."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import wilcoxon


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
    return float(wilcoxon(differences, zero_method="wilcox").pvalue)


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
        "significant": bool(p < 0.05 and (low > 0 or high < 0)),
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


def with_holm_correction(comparisons: list[dict[str, Any]], alpha: float = 0.05) -> list[dict[str, Any]]:
    """The comparisons with Holm-adjusted p-values over the family, and significance judged on them."""
    adjusted = holm_adjusted([c["wilcoxon_p"] for c in comparisons])
    return [
        dict(c, wilcoxon_p_holm=p, family_size=len(comparisons),
             significant=bool(p < alpha and (c["ci_low"] > 0 or c["ci_high"] < 0)))
        for c, p in zip(comparisons, adjusted)
    ]


def two_level_bootstrap_means(values: np.ndarray, rng: np.random.Generator, resamples: int = 2000, batch: int = 250) -> np.ndarray:
    """Bootstrap means of a seeds × images matrix, resampling seeds, then test images.

    Each resample draws seeds with replacement and, independently, test images with
    replacement (the same images for every drawn seed: all seeds scored the same test set), and
    averages the chosen cells. Count vectors keep it small: mean = c_seedsᵀ · V · c_images / (S · N).
    The spread covers both training randomness (seeds) and the choice of test images.
    """
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] < 1 or matrix.shape[1] < 1:
        raise ValueError(f"expected a seeds x images matrix, got shape {matrix.shape}")
    seeds, images = matrix.shape
    means = np.empty(resamples)
    for start in range(0, resamples, batch):
        size = min(batch, resamples - start)
        seed_counts = rng.multinomial(seeds, np.full(seeds, 1.0 / seeds), size=size)
        image_counts = rng.multinomial(images, np.full(images, 1.0 / images), size=size)
        per_seed = image_counts @ matrix.T  # (size, seeds): each seed's sum over the drawn images
        means[start:start + size] = np.einsum("bs,bs->b", per_seed, seed_counts) / (seeds * images)
    return means


def two_level_bootstrap_ci(values: np.ndarray, rng: np.random.Generator, resamples: int = 2000, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the grand mean of a seeds × images matrix (seeds, then images)."""
    means = two_level_bootstrap_means(values, rng, resamples)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)
