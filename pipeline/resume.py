"""Resuming a run: which settings must match, which checkpoints can be reused, and --fresh."""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from genreport.pipeline import checkpoints
from genreport.pipeline.errors import ConfigError
from genreport.pipeline.progress import Lines


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


GENREPORT_ENTRIES = frozenset({"checkpoints", "tuner", "results", "logs", "report.html", "report.pdf"})
# What write_atomically leaves behind when a kill lands mid-write: ".<name>.<random>.<suffix>".
TEMPORARY_FILE = re.compile(r"\.[A-Za-z0-9_.-]+\.[A-Za-z0-9_]{6,}\.(tmp|keras|pdf)")
ASIDE_FOLDERS = re.compile(r"seed-\d+|tuner\.unreadable-[0-9-]+")
# What save_results leaves behind when a kill lands mid-swap.
RESULTS_LEFTOVER = re.compile(r"\.results\.[A-Za-z0-9_]+\.(staging|previous)")


def is_genreport_entry(name: str) -> bool:
    """Whether a name in an output folder is one genreport writes."""
    from genreport.pipeline.lock import LOCK_NAME

    return name in GENREPORT_ENTRIES or name == LOCK_NAME or bool(
        TEMPORARY_FILE.fullmatch(name) or ASIDE_FOLDERS.fullmatch(name) or RESULTS_LEFTOVER.fullmatch(name))


def move_previous_run_aside(output: Path, progress: Lines) -> Path | None:
    """Rename the whole output folder to a dated sibling in one step and recreate it empty; delete nothing.

    A folder that holds anything genreport did not write is refused, listing it, so --fresh
    never carries away (or half-moves) someone else's files.
    """
    from genreport.pipeline.lock import LOCK_NAME

    children = list(output.iterdir()) if output.is_dir() else []
    if all(p.name == LOCK_NAME for p in children):
        return None
    foreign = sorted(p.name for p in children if not is_genreport_entry(p.name))
    if foreign:
        shown = ", ".join(repr(name) for name in foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise ConfigError(f"--fresh refuses to move {output}: it holds {shown}, which genreport did not write; move them or choose another --output")
    aside = output.with_name(f"{output.name}.old-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}")
    output.rename(aside)
    output.mkdir()
    progress(f"--fresh: moved the previous run in {output} to {aside}")
    return aside


def sweep_temporary_files(output: Path, progress: Lines) -> int:
    """Delete the temporary files a killed run left in OUT, OUT/checkpoints and OUT/results; how many.

    Called only while the folder's lock is held, so no live writer owns them.
    """
    removed = 0
    tuner_folders = [p for p in (output / "tuner").rglob("*") if p.is_dir() and not p.is_symlink()] if (output / "tuner").is_dir() else []
    for folder in (output, output / "checkpoints", output / "results", output / "tuner", *tuner_folders):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.is_symlink():
                continue
            if TEMPORARY_FILE.fullmatch(path.name) and path.is_file():
                path.unlink()
                removed += 1
            elif folder == output and RESULTS_LEFTOVER.fullmatch(path.name) and path.is_dir():
                shutil.rmtree(path)
                removed += 1
    if removed:
        progress(f"removed {removed} temporary file{'s' if removed > 1 else ''} left by an interrupted run")
    return removed
