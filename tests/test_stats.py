"""Bootstrap intervals and paired tests on hand-made data."""

from __future__ import annotations

import numpy as np

from pipeline.stats import bootstrap_mean_ci, paired_comparison, wilcoxon_p


def test_bootstrap_interval_contains_the_true_mean_difference() -> None:
    rng = np.random.default_rng(0)
    first = rng.normal(0.90, 0.03, 2000)
    second = first + 0.01 + rng.normal(0, 0.01, 2000)
    result = paired_comparison(first, second, np.random.default_rng(1))
    assert result["ci_low"] < 0.01 < result["ci_high"]
    assert result["ci_high"] - result["ci_low"] < 0.002


def test_interval_narrows_with_more_data() -> None:
    rng = np.random.default_rng(3)
    small = bootstrap_mean_ci(rng.normal(0, 1, 100), np.random.default_rng(0))
    large = bootstrap_mean_ci(rng.normal(0, 1, 10_000), np.random.default_rng(0))
    assert large[1] - large[0] < (small[1] - small[0]) / 5


def test_wilcoxon_p_is_small_for_a_shifted_sample() -> None:
    differences = np.random.default_rng(4).normal(0.5, 1.0, 500)
    assert wilcoxon_p(differences) < 1e-6


def test_wilcoxon_p_is_large_for_a_symmetric_sample() -> None:
    half = np.random.default_rng(5).normal(0, 1, 250)
    assert wilcoxon_p(np.concatenate([half, -half])) > 0.5


def test_win_shares_and_significance() -> None:
    first = np.array([0.5, 0.6, 0.7, 0.8] * 50)
    second = first + 0.05
    result = paired_comparison(first, second, np.random.default_rng(0))
    assert result["second_wins"] == 1.0 and result["first_wins"] == 0.0
    assert result["significant"] is True
