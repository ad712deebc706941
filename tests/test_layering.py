"""The design's boundaries: pipeline computes and never imports the presentation side."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRESENTATION = {"report", "jinja2", "weasyprint", "matplotlib", "rich"}


def top_name(module: str) -> str:
    """'genreport.report.cli' -> 'report', 'jinja2.sandbox' -> 'jinja2'."""
    return module.removeprefix("genreport.").split(".")[0]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(top_name(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(top_name(node.module))
    return names


def test_pipeline_never_imports_presentation_modules() -> None:
    paths = sorted((ROOT / "pipeline").rglob("*.py"))
    assert len(paths) > 40 and any(p.parent.name == "runs" for p in paths)  # every stage's subpackage is walked
    for path in paths:
        assert not imported_modules(path) & PRESENTATION, path.relative_to(ROOT)


def test_report_imports_tensorflow_nowhere() -> None:
    for path in sorted((ROOT / "report").glob("*.py")):
        assert not imported_modules(path) & {"tensorflow", "keras", "keras_tuner"}, path.name


def test_templates_hold_all_markup() -> None:
    for path in sorted((ROOT / "report").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        assert "<table" not in source and "<div" not in source, path.name
