"""Whether two results folders hold the same figures: per_image.csv byte for byte, metrics.json value for value.

For a refactor's "behaviour unchanged" check: run the same command (say ``genreport full --preset
smoke``) at the commit before and after, then compare the two ``OUT/results`` folders. Fields that
only say which genreport wrote them (``schema_version``, ``genreport``) are ignored, and fields the
newer folder adds are listed, not counted as differences; every figure both hold must be equal.
Both files are first brought to the newest schema by genreport's own migration
(``pipeline.results.migrate``: schema 2's ``variants`` is schema 3's ``models``), so a folder
written before a schema change compares field for field with one written after.

    python benchmarks/compare_results.py OLD/results NEW/results [--output FILE.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Iterator

VERSION_FIELDS = frozenset({"schema_version", "genreport"})


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every scalar inside a parsed JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not path and key in VERSION_FIELDS:
                continue
            yield from leaves(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from leaves(item, f"{path}[{i}]")
    else:
        yield path, value


def migrated_metrics(path: Path) -> dict[str, Any]:
    """A ``metrics.json`` as the newest schema writes it."""
    from genreport.pipeline.results.migrate import migrated_metrics as migrate

    return migrate(json.loads(path.read_text()), path)


def compare(old: Path, new: Path) -> dict[str, Any]:
    """The comparison as plain values: digests of both tables, differing and added metrics fields."""
    digests = {side: hashlib.sha256((folder / "per_image.csv").read_bytes()).hexdigest() for side, folder in (("old", old), ("new", new))}
    before = dict(leaves(migrated_metrics(old / "metrics.json")))
    after = dict(leaves(migrated_metrics(new / "metrics.json")))
    differing = {k: [before[k], after[k]] for k in before if k in after and before[k] != after[k]}
    return {"per_image_identical": digests["old"] == digests["new"], "per_image_sha256": digests,
            "metrics_fields_compared": len([k for k in before if k in after]), "metrics_fields_differing": differing,
            "metrics_fields_only_old": sorted(k for k in before if k not in after),
            "metrics_fields_only_new": sorted({re.sub(r"\[\d+\]", "[]", k) for k in after if k not in before})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    record = compare(args.old, args.new)
    text = json.dumps(record, indent=2)
    if args.output:
        args.output.write_text(text + "\n")
    print(text)
    raise SystemExit(0 if record["per_image_identical"] and not record["metrics_fields_differing"] and not record["metrics_fields_only_old"] else 1)


if __name__ == "__main__":
    main()
