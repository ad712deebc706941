"""Resuming a run: which settings must match, which checkpoints can be reused, and --fresh."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from pipeline import checkpoints
from pipeline.errors import ConfigError

Progress = Callable[[str], None]


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


def move_previous_run_aside(output: Path, progress: Progress) -> Path | None:
    """Move everything in ``output`` (but the lock) into a dated sibling folder; delete nothing."""
    from pipeline.lock import LOCK_NAME

    children = [p for p in output.iterdir() if p.name != LOCK_NAME] if output.is_dir() else []
    if not children:
        return None
    aside = output.with_name(f"{output.name}.old-{datetime.now().strftime('%Y%m%d-%H%M%S')}")
    aside.mkdir()
    for child in children:
        child.rename(aside / child.name)
    progress(f"--fresh: moved the previous run in {output} to {aside}")
    return aside
