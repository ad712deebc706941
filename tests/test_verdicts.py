"""Verdicts say what they cover: trained models (one seed) or designs (several), and only what the numbers support."""

from __future__ import annotations

import html
from dataclasses import replace
import json
import re
from pathlib import Path

import numpy as np
import pytest

from genreport.pipeline.scoring.replicates import design_verdict
from genreport.pipeline.scoring.stats import paired_comparison, with_holm_correction
from genreport.pipeline.scoring.verdicts import MIN_CLASS_IMAGES, SEED_SPREAD, extreme_classes, model_comparison_verdict, published_verdict
from genreport.pipeline.results.schema import ClassExtremes, Comparison
from genreport.report.wording import RETRAIN_CLAUSE, comparison_sentence, published_words
from genreport.report.render import render_report

REPO = Path(__file__).resolve().parent.parent


def summary_sentences(report: Path) -> list[str]:
    block = re.search(r'<ul class="sentences">(.*?)</ul>', report.read_text(), re.S).group(1)
    return [html.unescape(s) for s in re.findall(r"<li>(.*?)</li>", block, re.S)]


def test_under_a_null_with_seed_effects_no_single_seed_sentence_claims_more_than_these_models() -> None:
    # Two designs with equal expected SSIM; each trained model is shifted by a seed effect (sd 0.004),
    # so the image-level comparison is usually "significant": the wording must still be about the models.
    rng = np.random.default_rng(3)
    called = 0
    for _ in range(40):
        images = rng.normal(0.9, 0.05, 2000)
        first = images + rng.normal(0, 0.004) + rng.normal(0, 0.002, 2000)
        second = images + rng.normal(0, 0.004) + rng.normal(0, 0.002, 2000)
        c = with_holm_correction([dict(first="a", second="b", **paired_comparison(first, second, rng))])[0]
        sentence = comparison_sentence(Comparison.from_json(c), 2000)
        called += c["verdict"] in ("higher", "lower")
        assert RETRAIN_CLAUSE in sentence and "significant" not in sentence and "better design" not in sentence
        assert c["claim"] == "these trained models" and "test images only" in c["interval_covers"]
    assert called > 20  # the seed effect makes most of these image-level comparisons come out one way


def test_a_rendered_single_seed_report_words_every_comparison_as_about_these_models(results_dir: Path, tmp_path: Path) -> None:
    sentences = summary_sentences(render_report(results_dir, tmp_path / "r", ("html",)).paths["html"])
    assert len(sentences) == 3
    assert all(RETRAIN_CLAUSE in s and "significant" not in s for s in sentences)
    metrics = json.loads((results_dir / "metrics.json").read_text())
    assert all(c["claim"] == "these trained models" and "significant" not in c for c in metrics["comparisons"])


def test_three_equal_designs_over_three_seeds_get_a_family_wise_false_verdict_rate_of_at_most_five_percent() -> None:
    # 2,000 seeded draws: a rate of 0.05 has a Monte Carlo sd of 0.005, so 0.065 is three sd above it.
    # With three unadjusted 95% intervals the same simulation gives about 13%.
    rng = np.random.default_rng(5)
    draws, false_verdicts = 2000, 0
    for _ in range(draws):
        images = rng.normal(0.9, 0.05, 500)
        designs = [images + rng.normal(0, 0.006, 3)[:, None] + rng.normal(0, 0.002, (3, 500)) for _ in range(3)]
        differences = [designs[1] - designs[0], designs[2] - designs[1], designs[2] - designs[0]]
        false_verdicts += any(design_verdict(d, family_size=3)[0] != "no clear difference" for d in differences)
    assert false_verdicts / draws <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / draws)


def skewed_comparison() -> dict:
    # 90% of images gain 0.001, 10% lose 0.012: the mean falls, most images rise.
    first = np.full(1000, 0.9)
    second = first + np.where(np.arange(1000) % 10 == 0, -0.012, 0.001)
    return with_holm_correction([dict(first="modified", second="tuned", **paired_comparison(first, second, np.random.default_rng(1)))])[0]


def test_a_skewed_difference_calls_no_winner_and_says_why() -> None:
    c = skewed_comparison()
    assert c["mean_difference"] < 0 and c["second_wins"] > 0.85
    assert c["verdict"] == "skewed"
    sentence = comparison_sentence(Comparison.from_json(c), 1000)
    assert "the rank test favours tuned" in sentence and "the mean favours modified" in sentence
    assert "no winner is called" in sentence and "the differences are skewed" in sentence
    assert "scores higher than" not in sentence and "scores lower than" not in sentence


def test_an_interval_that_holds_zero_calls_no_winner_even_with_a_tiny_p_value() -> None:
    c = {"first": "modified", "second": "tuned", "mean_difference": 0.0013, "ci_low": -0.0011, "ci_high": 0.0036,
         "wilcoxon_p": 1e-5, "wilcoxon_p_holm": 3e-5, "rank_direction": 1, "second_wins": 0.69, "first_wins": 0.31, "ties": 0.0}
    assert model_comparison_verdict(c)["verdict"] == "rank test only"
    sentence = comparison_sentence(Comparison.from_json(c), 500)
    assert "no winner is called" in sentence and "the mean difference's interval includes zero" in sentence


@pytest.mark.parametrize("low, verdict", [(0.9437, "beats"), (0.9435, "within")], ids=["just-above", "just-below"])
def test_beats_a_published_figure_only_when_the_interval_s_lower_end_is_above_it(low: float, verdict: str) -> None:
    assert published_verdict(0.9450, (low, 0.9460), 0.9436) == verdict
    words = published_words((0.9450, (low, 0.9460)), (0.9450, (low, 0.9460)), 0.9436)
    assert ("beats" in words) == (verdict == "beats")


def test_a_published_figure_above_the_mean_but_inside_the_interval_is_not_beaten_or_missed() -> None:
    assert published_verdict(0.9430, (0.9420, 0.9440), 0.9436) == "within"
    assert published_verdict(0.9400, (0.9390, 0.9420), 0.9436) == "below"


def test_classes_whose_intervals_overlap_are_not_called_hardest_or_easiest() -> None:
    rows = [{"class_name": "Bag", "mean": 0.9262, "ci95": [0.9240, 0.9284]},
            {"class_name": "Shirt", "mean": 0.9281, "ci95": [0.9262, 0.9300]},
            {"class_name": "Trouser", "mean": 0.9700, "ci95": [0.9690, 0.9710]}]
    extremes = extreme_classes(rows)
    assert extremes["hardest"] is None and extremes["hardest_ties"] == ["Bag", "Shirt"]
    assert extremes["easiest"] == "Trouser"


def test_the_seed_spread_cited_in_one_seed_reports_is_the_recorded_one() -> None:
    for preset, cited in SEED_SPREAD.items():
        record = json.loads((REPO / cited["record"] / f"replicates-{preset}.json").read_text())
        assert record["preset"] == preset
        assert cited["std"] == {v: record["variants"][v]["std"] for v in cited["std"]}


def test_a_lower_verdict_is_said_with_the_model_that_scores_higher_first_and_a_positive_interval() -> None:
    c = {"first": "base", "second": "modified", "mean_difference": -0.0070, "ci_low": -0.0071, "ci_high": -0.0069, "wilcoxon_p": 1e-9,
         "wilcoxon_p_holm": 3e-9, "rank_direction": -1, "second_wins": 0.1, "first_wins": 0.9, "ties": 0.0}
    assert "base scores higher than modified by 0.0070 SSIM, 95% CI [+0.0069, +0.0071]" in comparison_sentence(Comparison.from_json(c), 100)


def test_results_from_before_rank_directions_get_theirs_from_the_per_image_table(results_dir: Path, tmp_path: Path) -> None:
    # metrics.json as a genreport from before rank directions wrote it (schema 2, no 'rank_direction')
    metrics = json.loads((results_dir / "metrics.json").read_text())
    for c in metrics["comparisons"]:
        del c["rank_direction"]
    (results_dir / "metrics.json").write_text(json.dumps(metrics))
    from genreport.pipeline.results.store import load_results
    from genreport.report.context import build_context

    context = build_context(load_results(results_dir))
    assert all(c["rank_direction"] in (-1, 1) for c in context["comparisons"])
    assert all("higher than" in s for s in context["sentences"])  # the fixture's variants differ clearly


def test_metrics_json_beats_only_where_the_interval_is_above_the_figure_and_names_no_unseparated_class(results_dir: Path) -> None:
    metrics = json.loads((results_dir / "metrics.json").read_text())
    for row in metrics["published"]:
        for name in ("uniform", "gaussian"):
            assert row[f"beats_{name}"] == (row[f"{name}_ci95"][0] > row["published"])
    extremes = metrics["class_extremes"]
    rows = {r["class_name"]: r for r in extremes["classes"]}
    if extremes["hardest"]:
        hardest = rows[extremes["hardest"]]
        assert all(hardest["ci95"][1] < r["ci95"][0] for name, r in rows.items() if name != extremes["hardest"])
    else:
        assert len(extremes["hardest_ties"]) >= 2


def test_one_class_is_neither_hardest_nor_easiest() -> None:
    extremes = extreme_classes([{"class_name": "Bag", "mean": 0.9, "ci95": [0.89, 0.91]}])
    assert extremes["hardest"] is None and extremes["easiest"] is None


def test_a_merge_judges_each_design_verdict_on_the_interval_widened_for_the_family(tmp_path: Path, real_data_dir: Path) -> None:
    from conftest import write_results_fixture
    from genreport.pipeline.scoring.replicates import merge_results

    folders = [write_results_fixture(tmp_path / f"s{seed}", real_data_dir, seed=seed, sigmas={"base": 1.0 + 0.05 * seed, "modified": 0.7, "tuned": 0.5 + 0.02 * seed})
               for seed in (1, 2, 3)]
    block = merge_results(folders).metrics.replicates
    for c in block.comparisons:
        assert c.family_size == 3 and c.family_level == pytest.approx(1 - 0.05 / 3)
        assert c.family_ci_low < c.ci_low and c.family_ci_high > c.ci_high
        assert c.claim == "these designs"
        expected = "better" if c.family_ci_low > 0 else "worse" if c.family_ci_high < 0 else "no clear difference"
        assert c.verdict == expected


def test_the_bimodal_warning_fires_on_two_separated_groups_of_seeds_and_not_on_an_even_spread() -> None:
    from genreport.pipeline.scoring.verdicts import bimodal_warning

    assert bimodal_warning([0.000, 0.001, 0.100, 0.101])
    assert not bimodal_warning([0.00, 0.01, 0.02, 0.03])
    assert not bimodal_warning([0.0, 0.1, 0.2])  # three seeds: too few to tell


def ten_alike_classes(images_per_class: int | list[int]) -> tuple[dict, np.ndarray]:
    """Two models' scores on ten classes whose images all score alike (one distribution), and the labels;
    ``images_per_class`` is one count for every class or a count for each."""
    from genreport.pipeline.scoring.metrics import VariantScores

    counts = [images_per_class] * 10 if isinstance(images_per_class, int) else images_per_class
    rng = np.random.default_rng(images_per_class if isinstance(images_per_class, int) else sum(counts))
    labels = np.repeat(np.arange(10), counts)
    scores = {}
    for name in ("base", "modified"):
        ssim = rng.normal(0.90, 0.02, len(labels))
        mse = rng.uniform(0.001, 0.01, len(labels))
        scores[name] = VariantScores(name, ssim=ssim, ssim_gaussian=ssim - 0.01, mse=mse, psnr=-10 * np.log10(mse))
    return scores, labels


@pytest.mark.parametrize("images_per_class", [1, 2, 4])
def test_classes_of_fewer_than_five_images_get_no_interval_and_none_is_named_hardest_or_easiest(images_per_class: int) -> None:
    # A percentile bootstrap of one image has no width (it named both a hardest and an easiest
    # class every time) and of two is their range: no 95% interval.
    from genreport.pipeline.scoring.score import metrics_payload

    metrics = metrics_payload(*ten_alike_classes(images_per_class), seed=0)
    assert all(row["ci95"] is None for model in metrics["models"].values() for row in model["per_class"])
    assert metrics["class_extremes"] is None


def test_one_class_of_four_images_among_classes_of_five_names_no_class() -> None:
    from genreport.pipeline.scoring.score import metrics_payload

    metrics = metrics_payload(*ten_alike_classes([5] * 9 + [4]), seed=0)
    intervals = [row["ci95"] for row in metrics["models"]["base"]["per_class"]]
    assert [i is None for i in intervals] == [False] * 9 + [True]
    assert metrics["class_extremes"] is None


def test_classes_of_five_images_get_their_intervals() -> None:
    from genreport.pipeline.scoring.score import metrics_payload

    metrics = metrics_payload(*ten_alike_classes(MIN_CLASS_IMAGES), seed=0)
    assert all(len(row["ci95"]) == 2 for model in metrics["models"].values() for row in model["per_class"])
    assert len(metrics["class_extremes"]["classes"]) == 10


def test_a_report_of_two_images_a_class_says_why_it_names_no_hardest_or_easiest_class(tmp_path: Path, real_data_dir: Path) -> None:
    from conftest import write_results_fixture
    from genreport.pipeline.results.store import load_results
    from genreport.report.context import build_context

    context = build_context(load_results(write_results_fixture(tmp_path, real_data_dir, test_limit=20)))
    assert context["per_class"]["extremes"] == ("The smallest class has 2 test images, fewer than the 5 a per-class interval needs, "
                                                "so no class is named hardest or easiest.")
    assert context["per_class"]["interval_note"] is None  # no interval is shown to be said narrow


def test_a_report_says_how_small_its_smallest_class_is_when_the_classes_differ_in_size(tmp_path: Path, real_data_dir: Path) -> None:
    from conftest import write_results_fixture
    from genreport.pipeline.results.store import load_results
    from genreport.report.context import build_context

    context = build_context(load_results(write_results_fixture(tmp_path, real_data_dir, test_limit=47)))  # 4 or 5 a class
    section = context["per_class"]
    assert section["extremes"].startswith("The smallest class has 4 test images")
    assert section["interval_note"].startswith("A class of fewer than 5 test images has no interval.")
    cells = [(row["count"], cell["ci95"]) for table in section["tables"] for row in table["rows"] for cell in row["cells"]]
    assert {count for count, _ in cells} == {4, 5}
    assert all((interval is None) == (count < 5) for count, interval in cells)


@pytest.mark.parametrize("smallest, said", [(4, True), (5, True), (50, True), (51, False), (1000, False)])
def test_per_class_intervals_are_said_to_be_narrow_up_to_fifty_images_a_class(smallest: int, said: bool) -> None:
    from genreport.report.wording import class_interval_note

    note = class_interval_note(smallest)
    assert (note is not None) == said
    if said:
        assert "narrower than 95%" in note and ("has no interval" in note) == (smallest < 5)


def test_results_of_an_older_genreport_with_intervals_of_two_images_name_no_class_and_show_no_interval(tmp_path: Path, real_data_dir: Path) -> None:
    from conftest import write_results_fixture
    from genreport.pipeline.results.store import load_results
    from genreport.report.context import build_context

    results = write_results_fixture(tmp_path, real_data_dir, test_limit=20)
    metrics = json.loads((results / "metrics.json").read_text())
    for model in metrics["models"].values():  # as the genreport before MIN_CLASS_IMAGES wrote them
        for row in model["per_class"]:
            row["ci95"] = [row["mean"] - 0.001, row["mean"] + 0.001]
    classes = [{"class_name": row["class_name"], "mean": 0.5 + 0.01 * i, "ci95": [0.5 + 0.01 * i - 0.001, 0.5 + 0.01 * i + 0.001]}
               for i, row in enumerate(metrics["models"]["base"]["per_class"])]
    metrics["class_extremes"] = {"classes": classes, **extreme_classes(classes)}
    assert metrics["class_extremes"]["hardest"]  # the old verdict, from intervals of two images
    (results / "metrics.json").write_text(json.dumps(metrics))
    section = build_context(load_results(results))["per_class"]
    assert section["extremes"].startswith("The smallest class has 2 test images")
    assert all(cell["ci95"] is None for table in section["tables"] for row in table["rows"] for cell in row["cells"])


def test_a_merge_of_seeds_with_two_images_a_class_names_no_class(tmp_path: Path, real_data_dir: Path) -> None:
    from conftest import write_results_fixture
    from genreport.pipeline.scoring.replicates import merge_results
    from genreport.report.sections import replicate_section

    folders = [write_results_fixture(tmp_path / f"s{seed}", real_data_dir, seed=seed, test_limit=20,
                                     sigmas={"base": 1.0 + 0.1 * seed, "modified": 0.7, "tuned": 0.5}) for seed in (1, 2, 3)]
    merged = merge_results(folders)
    assert merged.metrics.replicates.class_extremes is None
    # As a merge before MIN_CLASS_IMAGES wrote it: a hardest class from intervals over seeds of the same two images a class.
    classes = [{"class_name": row.class_name, "mean": 0.5 + 0.01 * i, "ci95": [0.5 + 0.01 * i - 0.001, 0.5 + 0.01 * i + 0.001]}
               for i, row in enumerate(merged.metrics.replicates.per_class["base"])]
    older = ClassExtremes.from_json({"classes": classes, **extreme_classes(classes)})
    assert older.hardest
    metrics = replace(merged.metrics, replicates=replace(merged.metrics.replicates, class_extremes=older))
    section = replicate_section(metrics, merged.run.models)
    assert section["extremes"].startswith("The smallest class has 2 test images")


def test_a_merge_judges_its_classes_on_intervals_over_seeds_and_test_images(tmp_path: Path, real_data_dir: Path) -> None:
    # Three seeds whose models score every image almost alike: an interval over seeds alone is almost
    # without width (it named a hardest and an easiest class from which images were drawn); over the
    # images it is as wide as the class's images spread.
    from conftest import write_results_fixture
    from genreport.pipeline.scoring.replicates import merge_results

    from genreport.pipeline.results.store import load_results
    from genreport.pipeline.scoring.stats import seeds_and_images_ci
    from genreport.report.sections import replicate_section

    folders = [write_results_fixture(tmp_path / f"s{seed}", real_data_dir, seed=seed,
                                     sigmas={"base": 1.0 + 1e-4 * seed, "modified": 0.7, "tuned": 0.5}) for seed in (1, 2, 3)]
    merged = merge_results(folders)
    extremes = merged.metrics.replicates.class_extremes
    assert extremes.hardest is None and extremes.easiest is None  # the old intervals (6e-5 wide) named Shirt and Ankle boot
    tables = [load_results(folder).per_image for folder in folders]
    for row in extremes.classes:  # recomputed from each seed's own per-image table
        matrix = np.stack([np.mean([np.asarray(t.ssim(m))[np.asarray(t.class_names) == row.class_name] for m in ("base", "modified", "tuned")],
                                   axis=0) for t in tables])
        assert row.mean == pytest.approx(matrix.mean(), abs=1e-12) and row.ci95 == pytest.approx(seeds_and_images_ci(matrix), abs=1e-12)
    assert "over seeds and test images" in replicate_section(merged.metrics, merged.run.models)["extremes"]


def test_a_merge_written_before_class_intervals_covered_the_images_names_no_class(tmp_path: Path, real_data_dir: Path) -> None:
    from conftest import write_results_fixture
    from genreport.pipeline.scoring.replicates import merge_results
    from genreport.report.sections import replicate_section

    # The folders of the design-verdict test above (computed once per test process).
    folders = [write_results_fixture(tmp_path / f"s{seed}", real_data_dir, seed=seed, sigmas={"base": 1.0 + 0.05 * seed, "modified": 0.7, "tuned": 0.5 + 0.02 * seed})
               for seed in (1, 2, 3)]
    merged = merge_results(folders)
    classes = [{"class_name": row.class_name, "mean": 0.5 + 0.01 * i, "ci95": [0.5 + 0.01 * i - 0.001, 0.5 + 0.01 * i + 0.001]}
               for i, row in enumerate(merged.metrics.replicates.per_class["base"])]
    older = ClassExtremes.from_json({"classes": classes, **extreme_classes(classes)})  # no interval_covers: before 2026-12-07
    assert older.hardest and older.interval_covers is None
    metrics = replace(merged.metrics, replicates=replace(merged.metrics.replicates, class_extremes=older))
    sentence = replicate_section(metrics, merged.run.models)["extremes"]
    assert "covered training randomness only" in sentence and "Hardest" not in sentence
