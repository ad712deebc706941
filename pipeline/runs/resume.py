"""Resuming a run: which settings must match, which checkpoints can be reused, and --fresh."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from genreport.pipeline.models import checkpoints
from genreport.pipeline.core import claims, journal, ownership
from genreport.pipeline.core.errors import ConfigError
from genreport.pipeline.core.progress import Lines


def normalised(value: Any) -> Any:
    """``value`` as it reads back from JSON, so recorded and current settings compare equal."""
    return json.loads(json.dumps(value))


def check_same_settings(output: Path, manifest: dict[str, Any], fingerprint: dict[str, Any]) -> None:
    """Refuse to resume a run whose recorded settings differ from this one's."""
    recorded = manifest.get("fingerprint")
    if not recorded:
        return
    current = normalised(fingerprint)
    differs = [key for key in current if recorded.get(key) != current[key]]
    if differs:
        detail = "; ".join(f"{key} was {recorded.get(key)!r}, now {current[key]!r}" for key in differs if key != "data_digests")
        if "data_digests" in differs:
            detail = "; ".join(filter(None, [detail, "the data set's files differ"]))
        raise ConfigError(f"{output} holds a run with other settings ({detail}); pass --fresh to start over or choose another --output")


def reusable_entry(ckpt_dir: Path, manifest: dict[str, Any], variant: str) -> dict[str, Any] | None:
    """The manifest entry of a complete checkpoint whose file is the one recorded, else None."""
    entry = manifest["variants"].get(variant)
    path = checkpoints.checkpoint_path(ckpt_dir, variant)
    if entry and path.is_file() and entry.get("sha256") == checkpoints.file_sha256(path):
        return entry
    return None


def move_previous_run_aside(output: Path, progress: Lines) -> Path | None:
    """Rename the whole output folder to a dated sibling in one step and recreate it empty; delete nothing.

    A folder that holds anything genreport did not write (a file, a symlink, a results or
    checkpoints folder without its marker) is refused, listing it, so --fresh never carries away
    (or half-moves) someone else's files.
    """
    from genreport.pipeline.core.lock import LOCK_NAME

    children = list(output.iterdir()) if output.is_dir() else []
    if all(p.name in (LOCK_NAME, ownership.JOURNAL, ownership.MARKER) for p in children):
        return None
    foreign = claims.foreign_run_entries(output)
    if foreign:
        raise ConfigError(f"--fresh refuses to move {output}: it holds {ownership.shown(foreign)}, which genreport did not write; "
                          "move them or choose another --output")
    aside = output.with_name(f"{output.name}.old-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}")
    output.rename(aside)
    output.mkdir()
    ownership.mark(output, "run")
    progress(f"--fresh: moved the previous run in {output} to {aside}")
    return aside


def sweep_temporary_files(output: Path, progress: Lines) -> int:
    """Delete the temporary files and staging folders killed runs of OUT left; how many.

    Called only while the folder's lock is held, so no live writer owns them. Only names carrying
    the token of a process recorded in OUT's journal are removed, so nothing of anyone else's is.
    """
    removed = claims.sweep_leftovers(output)
    journal.compact_journal(output)
    if removed:
        progress(f"removed {removed} temporary file{'s' if removed > 1 else ''} left by an interrupted run")
    return removed
