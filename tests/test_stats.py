"""Bootstrap intervals and paired tests on hand-made data."""

from __future__ import annotations

import numpy as np

import pytest

from genreport.pipeline.scoring.stats import (
    bootstrap_mean_ci,
    holm_adjusted,
    paired_comparison,
    seeds_and_images_ci,
    wilcoxon_p,
    with_holm_correction,
)


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


def test_win_shares_and_a_verdict_when_mean_interval_and_ranks_agree() -> None:
    first = np.array([0.5, 0.6, 0.7, 0.8] * 50)
    second = first + 0.05
    result = with_holm_correction([paired_comparison(first, second, np.random.default_rng(0))])[0]
    assert result["second_wins"] == 1.0 and result["first_wins"] == 0.0
    assert result["verdict"] == "higher" and result["claim"] == "these trained models"


def test_a_95_percent_interval_has_the_width_theory_gives() -> None:
    # The mean of n draws with standard deviation s has standard error s/sqrt(n): a 95% interval
    # spans 2 * 1.96 * s / sqrt(n). A 90% interval (1.645) would be 16% narrower.
    values = np.random.default_rng(7).normal(0.0, 2.0, 4000)
    low, high = bootstrap_mean_ci(values, np.random.default_rng(8), resamples=4000)
    expected = 2 * 1.96 * values.std(ddof=1) / np.sqrt(len(values))
    assert high - low == pytest.approx(expected, rel=0.06)


def test_holm_adjusts_the_smallest_p_by_the_family_size_and_keeps_the_order() -> None:
    assert holm_adjusted([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm_adjusted([0.5]) == [0.5]
    assert holm_adjusted([0.2, 0.01]) == pytest.approx([0.2, 0.02])
    assert holm_adjusted([0.9, 0.8]) == [1.0, 1.0]


def test_a_comparison_significant_alone_can_lose_significance_after_holm() -> None:
    base = {"mean_difference": 0.01, "ci_low": 0.001, "ci_high": 0.02}
    family = [dict(base, wilcoxon_p=0.02), dict(base, wilcoxon_p=0.03), dict(base, wilcoxon_p=0.2)]
    corrected = with_holm_correction(family)
    assert [c["wilcoxon_p_holm"] for c in corrected] == pytest.approx([0.06, 0.06, 0.2])
    assert [c["verdict"] for c in corrected] == ["interval only"] * 3  # the rank test no longer confirms the interval
    assert all(c["family_size"] == 3 for c in corrected)


def crossed(rng: np.random.Generator, seed_effects: np.ndarray, images: int, image_sd: float, cell_sd: float) -> np.ndarray:
    """A seeds x images matrix: seed effect + image effect + a little noise per cell."""
    return (seed_effects[:, None] + rng.normal(0, image_sd, images)[None, :]
            + rng.normal(0, cell_sd, (len(seed_effects), images)))


def test_the_seeds_and_images_interval_has_the_width_both_variances_give() -> None:
    # Five seeds with a known spread (sd 0.008) over 2,000 images (sd 0.05): the grand mean's
    # standard error is sqrt(0.008²/5 + 0.05²/2000), times t(0.975, 4) = 2.776 each side.
    seed_effects = np.array([-0.010, -0.005, 0.0, 0.005, 0.010]) * (0.008 / np.std([-0.010, -0.005, 0.0, 0.005, 0.010], ddof=1))
    values = 0.9 + crossed(np.random.default_rng(11), seed_effects, 2000, 0.05, 0.001)
    low, high = seeds_and_images_ci(values)
    expected = 2 * 2.776 * np.sqrt(0.008**2 / 5 + 0.05**2 / 2000)
    assert high - low == pytest.approx(expected, rel=0.05)
    only_images = bootstrap_mean_ci(values.mean(axis=0), np.random.default_rng(13))
    assert (high - low) > 3 * (only_images[1] - only_images[0])


def test_with_no_true_difference_the_interval_excludes_zero_in_1_6_percent_of_draws_below_its_nominal_5() -> None:
    # Null simulation: three seeds whose differences vary only by chance. A seeds-then-images
    # bootstrap excluded zero about 27% of the time here. The t-interval counts the images'
    # variance twice, so it is conservative: 31 of these 2,000 seeded draws (1.55%, the figure the
    # README gives), asserted within three Monte Carlo standard deviations of that rate.
    rng = np.random.default_rng(21)
    draws, misses = 2000, 0
    for _ in range(draws):
        diff = crossed(rng, rng.normal(0, 0.005, 3), 500, 0.02, 0.002)
        low, high = seeds_and_images_ci(diff)
        misses += low > 0 or high < 0
    band = 3 * np.sqrt(0.0155 * (1 - 0.0155) / draws)
    assert abs(misses / draws - 0.0155) <= band and misses / draws <= 0.05


def test_the_interval_of_one_seed_is_the_normal_interval_over_images() -> None:
    values = np.random.default_rng(14).normal(0.8, 0.1, (1, 3000))
    low, high = seeds_and_images_ci(values)
    assert high - low == pytest.approx(2 * 1.95996 * values.std(ddof=1) / np.sqrt(3000), rel=1e-5)


def test_ties_count_as_a_win_for_neither_variant() -> None:
    first = np.array([0.5, 0.6, 0.7, 0.8])
    second = np.array([0.5, 0.7, 0.6, 0.8])
    result = paired_comparison(first, second, np.random.default_rng(0))
    assert (result["second_wins"], result["first_wins"], result["ties"]) == (0.25, 0.25, 0.5)


def test_identical_scores_give_a_p_value_of_one() -> None:
    assert wilcoxon_p(np.zeros(50)) == 1.0
    assert wilcoxon_p(np.array([0.3])) == 1.0


def test_the_bootstrap_can_draw_every_value() -> None:
    # Resamples of [0, 1] have means 0, 0.5 or 1 (a quarter of them 0 and a quarter 1), so the
    # 95% interval spans both values; a draw that could never pick the last value would give (0, 0).
    assert bootstrap_mean_ci(np.array([0.0, 1.0]), np.random.default_rng(0)) == (0.0, 1.0)


def test_a_small_p_value_calls_no_winner_while_the_interval_holds_zero() -> None:
    family = [{"mean_difference": 0.001, "ci_low": -0.002, "ci_high": 0.004, "wilcoxon_p": 0.001, "rank_direction": 1,
               "second_wins": 0.7, "first_wins": 0.3}]
    assert with_holm_correction(family)[0]["verdict"] == "rank test only"


def test_seeds_that_agree_exactly_still_get_the_test_images_interval() -> None:
    # A deterministic training repeats itself seed to seed: no spread across seeds, but the grand
    # mean still depends on which test images were drawn; t(0.975, 2) = 4.303 with three seeds.
    row = np.random.default_rng(15).normal(0.8, 0.1, 400)
    low, high = seeds_and_images_ci(np.tile(row, (3, 1)))
    assert high - low == pytest.approx(2 * 4.303 * row.std(ddof=1) / np.sqrt(400), rel=1e-3)
