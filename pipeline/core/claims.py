"""Claiming a run folder before any work, and removing only what genreport wrote: killed runs' leftovers,
results folders, log folders, epoch backups (the rules are ``pipeline.core.ownership``'s).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

from genreport.pipeline.core.errors import ConfigError
from genreport.pipeline.core.journal import journalled_tokens, refuse_foreign_report_files, report_file_is_ours
from genreport.pipeline.core.ownership import (BACKUP_FOLDER, MARKER, OWNED_FOLDERS, PROCESS_TOKEN, REPORT_FILES, RESULT_FILES, SEED_FOLDER,
                                              TEMPORARY, foreign_names, is_real_file, is_real_folder, is_run_entry, make_folder, mark,
                                              marked_kind, owned, refuse_unless_owned, shown)


def foreign_run_entries(folder: Path) -> list[str]:
    """Entries of a run folder that genreport did not write (files, symlinks, folders without its marker)."""
    foreign = []
    for path in sorted(Path(folder).iterdir()):
        name = path.name
        if not is_run_entry(path):
            foreign.append(name)
        elif name in OWNED_FOLDERS and (not owned(path, name) or foreign_names(path, name)):
            foreign.append(name)
        elif SEED_FOLDER.fullmatch(name) and (not owned(path, "run") or foreign_run_entries(path)):
            foreign.append(name)
        elif name in REPORT_FILES and not report_file_is_ours(path):
            foreign.append(name)
        elif name.startswith("tuner.unreadable-") and (not owned(path, "tuner") or foreign_names(path, "tuner")):
            foreign.append(name)
        elif is_real_folder(path) and TEMPORARY.fullmatch(name) and (marked_kind(path) != "results" or foreign_names(path, "results")):
            foreign.append(name)
    return foreign


def claim_run_folder(output: Path, folders: Iterable[str], report_files: Iterable[str] = (), run_folders: Iterable[str] = (),
                     make: Iterable[str] = ()) -> None:
    """Before any work: every entry of ``output`` this command will write is genreport's own (else one line).

    Called with the folder's lock held. ``folders`` are genreport folders of their own name's kind,
    ``run_folders`` (a seed's folder) whole run folders; those in ``make`` are made and marked now.
    """
    output = Path(output)
    kind = marked_kind(output)
    if kind not in (None, "run"):
        raise ConfigError(f"{output} is a {kind} folder genreport made, not a run folder; choose another --output")
    for name in folders:
        path = output / name
        if os.path.lexists(path):
            refuse_unless_owned(path, name)
    for name in run_folders:
        path = output / name
        if os.path.lexists(path):
            foreign = foreign_run_entries(path) if owned(path, "run") else [name]
            if foreign:
                raise ConfigError(f"{path} holds {shown(foreign)}, which genreport did not write; move it away or choose another --output")
    refuse_foreign_report_files(output, report_files)
    for name in make:
        make_folder(output / name, name)


def remove_log_folder(folder: Path) -> None:
    """Delete a training's TensorBoard folder under genreport's ``logs/``, if it holds only event files."""
    folder = Path(folder)
    if not os.path.lexists(folder):
        return
    if not (is_real_folder(folder) and owned(folder.parent, "logs")):
        raise ConfigError(f"{folder} was not written by genreport; move it away or choose another --output")
    for root, dirs, files in os.walk(folder, followlinks=False):
        strays = [name for name in files if not name.startswith("events.out.tfevents.") or not is_real_file(Path(root) / name)]
        strays += [name for name in dirs if not is_real_folder(Path(root) / name)]
        if strays:
            raise ConfigError(f"{Path(root)} holds {shown(sorted(strays))}, which genreport did not write; move it away or choose another --output")
    import shutil

    shutil.rmtree(folder)


def sweep_leftovers(output: Path) -> int:
    """Remove the temporary files and staging folders killed runs of this folder left; how many.

    Only names carrying a journalled token are touched; only folders genreport made are looked
    into, and no symlink is followed.
    """
    output = Path(output)
    tokens = journalled_tokens(output) - {PROCESS_TOKEN}
    if not tokens:
        return 0
    removed = 0
    for folder in _sweepable_folders(output):
        for path in list(folder.iterdir()):
            match = TEMPORARY.fullmatch(path.name)
            if not match or match["token"] not in tokens:
                continue
            if is_real_file(path):
                path.unlink()
                removed += 1
            elif is_real_folder(path) and folder == output and match["suffix"] in (".staging", ".previous"):
                removed += remove_results_folder(path, tokens)
    return removed


def _sweepable_folders(output: Path) -> list[Path]:
    folders = [output]
    checkpoints = output / "checkpoints"
    if marked_kind(checkpoints) == "checkpoints":
        folders.append(checkpoints)
        folders += [p for p in checkpoints.iterdir() if BACKUP_FOLDER.fullmatch(p.name) and marked_kind(p) == "backup"]
    if marked_kind(output / "results") == "results":
        folders.append(output / "results")
    tuner = output / "tuner"
    if marked_kind(tuner) == "tuner":
        for root, dirs, _ in os.walk(tuner, followlinks=False):
            folders.append(Path(root))
            dirs[:] = [d for d in dirs if is_real_folder(Path(root) / d)]
    return folders


def remove_results_folder(folder: Path, tokens: set[str] | None = None) -> int:
    """Delete a results folder (or its staging copy) genreport made: its own files, then the folder; 1 when it went.

    Anything else in it is left where it is, with the folder.
    """
    tokens = (tokens or set()) | {PROCESS_TOKEN}

    def ours(name: str) -> bool:
        match = TEMPORARY.fullmatch(name)
        return name in RESULT_FILES or bool(match and match["token"] in tokens)

    return int(remove_own_folder(folder, "results", ours))


def remove_own_folder(folder: Path, kind: str, ours: Callable[[str], bool]) -> bool:
    """Delete a ``kind`` folder genreport marked: the regular files ``ours`` names, then the folder; whether it went.

    Anything else in it stays, and so does the folder (marked again).
    """
    if marked_kind(folder) != kind:
        return False
    for path in Path(folder).iterdir():
        if path.name != MARKER and is_real_file(path) and ours(path.name):
            path.unlink()
    (Path(folder) / MARKER).unlink(missing_ok=True)
    try:
        Path(folder).rmdir()
    except OSError:
        mark(folder, kind)
        return False
    return True
