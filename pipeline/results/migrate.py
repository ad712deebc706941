"""Reading older results: schema 2 (genreport before the typed contract) migrated to schema 3 on load.

Schema 3 renamed what was per variant to per model: ``metrics.json``'s ``variants`` (and the
replicates block's) is ``models``, and a published-figure row names its ``model``. Nothing else
changed, so a schema 2 folder renders exactly as it did. Results of schema 1 (no version field)
or of a newer genreport are refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genreport.pipeline.core.errors import ResultsError
from genreport.pipeline.results.schema import SCHEMA_VERSION

READABLE = (2, SCHEMA_VERSION)


def schema_of(record: dict[str, Any], path: Path) -> int:
    """The results schema a parsed ``metrics.json`` or ``run.json`` says it follows, refused unless this genreport reads it."""
    version = record.get("schema_version", 1)
    if type(version) is not int or version not in READABLE:
        raise ResultsError(f"{path} has results schema {version!r}; this genreport reads schemas {READABLE[0]} to {SCHEMA_VERSION} "
                           "(run the same genreport version that wrote it, or run again)")
    return version


def renamed(record: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """``record`` with key ``old`` renamed ``new``, in the same place (unchanged when it lacks ``old``)."""
    if old not in record or new in record:
        return record
    return {(new if key == old else key): value for key, value in record.items()}


def metrics_v2_to_v3(metrics: dict[str, Any]) -> dict[str, Any]:
    """A schema 2 ``metrics.json`` as schema 3 would have written it."""
    migrated = renamed(metrics, "variants", "models")
    if isinstance(migrated.get("replicates"), dict):
        migrated["replicates"] = renamed(migrated["replicates"], "variants", "models")
    if isinstance(migrated.get("published"), list):
        migrated["published"] = [renamed(row, "variant", "model") if isinstance(row, dict) else row for row in migrated["published"]]
    return {**migrated, "schema_version": SCHEMA_VERSION}


def migrated_metrics(metrics: dict[str, Any], path: Path) -> dict[str, Any]:
    """A parsed ``metrics.json`` of any schema this genreport reads, as schema 3."""
    return metrics_v2_to_v3(metrics) if schema_of(metrics, path) == 2 else metrics


def migrated_run(run: dict[str, Any], path: Path) -> dict[str, Any]:
    """A parsed ``run.json`` as schema 3: it did not change, so only its version is (the results' schema is metrics.json's)."""
    if "schema_version" in run:  # older run.json files carried none: the results' schema is metrics.json's
        schema_of(run, path)
    return {**run, "schema_version": SCHEMA_VERSION} if run.get("schema_version") == 2 else run
