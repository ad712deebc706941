"""The typed results contract: records read and write every results file unchanged, refuse what does not fit, and migrate schema 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from genreport.pipeline.core.errors import ResultsError
from genreport.pipeline.results import migrate
from genreport.pipeline.results.records import extras_anywhere
from genreport.pipeline.results.schema import SCHEMA_VERSION, Metrics, RunRecord
from genreport.pipeline.results.store import load_results

SCHEMA2 = Path(__file__).parent / "data" / "schema2-merged"


@pytest.fixture
def schema2_results(tmp_path: Path) -> Path:
    """A copy of a merged results folder written by genreport before the contract (schema 2)."""
    folder = tmp_path / "old" / "results"
    shutil.copytree(SCHEMA2, folder, ignore=shutil.ignore_patterns("README.md"))
    return folder


@pytest.mark.parametrize("name, record", [("metrics.json", Metrics), ("run.json", RunRecord)])
def test_a_results_file_passes_through_its_record_unchanged_key_for_key_in_order(results_dir: Path, name: str, record: type) -> None:
    text = json.loads((results_dir / name).read_text())
    assert json.dumps(record.from_json(text).to_json()) == json.dumps(text)


def test_genreport_writes_no_field_the_schema_does_not_declare(results_dir: Path) -> None:
    results = load_results(results_dir)
    assert extras_anywhere(results.metrics) == [] and extras_anywhere(results.run) == []


def test_a_field_of_the_wrong_type_is_refused_naming_the_file_and_the_field(results_dir: Path) -> None:
    metrics = json.loads((results_dir / "metrics.json").read_text())
    metrics["models"]["tuned"]["ssim"]["mean"] = "0.99"
    (results_dir / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(ResultsError) as refused:
        load_results(results_dir)
    assert str(refused.value) == f"{results_dir / 'metrics.json'}: field 'models.tuned.ssim.mean' is a string, not a number"


def test_a_missing_field_is_refused_naming_the_file_and_the_field(results_dir: Path) -> None:
    run = json.loads((results_dir / "run.json").read_text())
    del run["tuning"]["best"]["units"]
    (results_dir / "run.json").write_text(json.dumps(run))
    with pytest.raises(ResultsError, match=r"run\.json: field 'tuning\.best\.units' is missing"):
        load_results(results_dir)


def test_an_interval_of_three_ends_is_refused(results_dir: Path) -> None:
    metrics = json.loads((results_dir / "metrics.json").read_text())
    metrics["models"]["base"]["ssim"]["ci95"].append(1.0)
    (results_dir / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(ResultsError, match=r"field 'models\.base\.ssim\.ci95' holds 3 items, not 2"):
        load_results(results_dir)


def test_schema2_results_migrate_to_models_named_as_schema3_writes_them(schema2_results: Path) -> None:
    old = json.loads((schema2_results / "metrics.json").read_text())
    assert old["schema_version"] == 2 and "variants" in old and "variants" in old["replicates"]
    results = load_results(schema2_results)
    assert list(results.metrics.models) == list(old["variants"]) == ["base", "modified", "tuned"]
    assert results.metrics.models["tuned"].ssim.mean == old["variants"]["tuned"]["ssim"]["mean"]
    assert list(results.metrics.replicates.models) == list(old["replicates"]["variants"])
    assert [row.model for row in results.metrics.published] == [row["variant"] for row in old["published"]]
    assert results.metrics.schema_version == SCHEMA_VERSION and extras_anywhere(results.metrics) == []


def test_a_migrated_schema2_file_keeps_every_figure_in_its_place(schema2_results: Path) -> None:
    old = json.loads((schema2_results / "metrics.json").read_text())
    migrated = Metrics.from_json(migrate.migrated_metrics(old, schema2_results / "metrics.json")).to_json()
    renamed_back = {("variants" if k == "models" else k): v for k, v in migrated.items() if k != "schema_version"}
    renamed_back["replicates"] = {("variants" if k == "models" else k): v for k, v in renamed_back["replicates"].items()}
    renamed_back["published"] = [{("variant" if k == "model" else k): v for k, v in row.items()} for row in renamed_back["published"]]
    assert renamed_back == {k: v for k, v in old.items() if k != "schema_version"}


def test_schema2_results_render_and_merge_into_schema3(schema2_results: Path, tmp_path: Path) -> None:
    from genreport.report.render import render_report

    rendered = render_report(schema2_results, tmp_path / "report", formats=("html",))
    html = rendered.paths["html"].read_text()
    assert "tuned vs modified" in html and "across 2 seeds" in html
    again = json.loads((schema2_results / "metrics.json").read_text())
    assert again["schema_version"] == 2  # rendering never rewrites results


def test_a_setting_the_run_did_not_record_stays_unrecorded_in_the_report_and_the_merge(results_dir: Path, tmp_path: Path) -> None:
    from genreport.pipeline.scoring.replicates import first_difference, replicate_settings
    from genreport.report.render import render_report

    recorded = load_results(results_dir)
    run = json.loads((results_dir / "run.json").read_text())
    del run["config"]["schedule"]  # as a genreport from before --schedule wrote it
    (results_dir / "run.json").write_text(json.dumps(run))
    older = load_results(results_dir)
    assert "schedule" not in older.run.config.to_json()
    assert "schedule" in first_difference(replicate_settings(recorded), replicate_settings(older))
    html = render_report(results_dir, tmp_path / "report", formats=("html",)).paths["html"].read_text()
    assert "<th>schedule</th>" not in html and "halved" in html


@pytest.mark.parametrize("damage", ["a seed's figure", "a model", "the first seed"])
def test_a_replicates_block_that_disagrees_with_the_results_is_refused(schema2_results: Path, damage: str) -> None:
    metrics = json.loads((schema2_results / "metrics.json").read_text())
    block = metrics["replicates"]
    if damage == "a seed's figure":
        del block["variants"]["tuned"]["ssim"]["per_seed"]["7"]
    elif damage == "a model":
        del block["per_class"]["base"]
    else:
        block["first_seed"] = 99
    (schema2_results / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(ResultsError, match=r"metrics\.json: field 'replicates\."):
        load_results(schema2_results)


def test_a_comparison_without_a_holm_adjusted_p_value_falls_back_to_its_own(results_dir: Path, tmp_path: Path) -> None:
    from genreport.report.render import render_report

    metrics = json.loads((results_dir / "metrics.json").read_text())
    metrics["comparisons"][0]["wilcoxon_p_holm"] = None
    (results_dir / "metrics.json").write_text(json.dumps(metrics))
    assert "Wilcoxon" in render_report(results_dir, tmp_path / "report", formats=("html",)).paths["html"].read_text()


@pytest.mark.parametrize("text, words", [('{"a": 1e400}', "NaN or infinity"), ('{"a": ' + "9" * 5000 + "}", "a number"),
                                         ("[" * 100_000, "nested deeper"), ('{"' + "k" * 10_000 + '": 1}', "a key of 10,000 characters")])
def test_json_a_run_never_writes_is_refused_in_one_short_line(results_dir: Path, text: str, words: str) -> None:
    (results_dir / "metrics.json").write_text(text)
    with pytest.raises(ResultsError) as refused:
        load_results(results_dir)
    assert words in str(refused.value) and len(str(refused.value)) < 300


def test_a_schema_version_that_is_not_an_integer_is_refused(results_dir: Path) -> None:
    metrics = json.loads((results_dir / "metrics.json").read_text())
    metrics["schema_version"] = 3.0
    (results_dir / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(ResultsError, match="results schema 3.0"):
        load_results(results_dir)
