"""Results carry a schema version, genreport's version and commit; render refuses unknown schemas."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from conftest import error_lines
from genreport.pipeline.results.schema import SCHEMA_VERSION
from genreport.report.cli import main


def test_results_record_their_schema_and_genreport_version(results_dir: Path) -> None:
    for name in ("metrics.json", "run.json"):
        record = json.loads((results_dir / name).read_text())
        assert record["schema_version"] == SCHEMA_VERSION
        assert record["genreport"]["version"]
        commit = record["genreport"]["commit"]
        assert commit is None or len(commit.split("+")[0]) == 40


def test_render_refuses_results_of_an_unknown_schema_in_one_line(results_dir: Path, tmp_path: Path) -> None:
    metrics = json.loads((results_dir / "metrics.json").read_text())
    metrics["schema_version"] = 99
    (results_dir / "metrics.json").write_text(json.dumps(metrics))
    result = CliRunner().invoke(main, ["render", "--results", str(results_dir), "--output", str(tmp_path / "r")])
    assert result.exit_code != 0
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "schema 99" in lines[0] and f"reads schemas 2 to {SCHEMA_VERSION}" in lines[0]
    assert not (tmp_path / "r" / "report.html").exists()


def test_results_from_before_schemas_existed_are_refused(results_dir: Path, tmp_path: Path) -> None:
    metrics = json.loads((results_dir / "metrics.json").read_text())
    del metrics["schema_version"]
    (results_dir / "metrics.json").write_text(json.dumps(metrics))
    result = CliRunner().invoke(main, ["render", "--results", str(results_dir), "--output", str(tmp_path / "r")])
    assert result.exit_code != 0 and "schema 1" in error_lines(result.stderr)[0]
