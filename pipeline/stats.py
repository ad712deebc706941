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
