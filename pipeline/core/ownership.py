"""What genreport may delete, replace or move: only what it can prove it wrote.

- **Folders** genreport makes (``results/``, ``checkpoints/``, ``tuner/``, ``logs/``, a seed's run
  folder, a results staging folder, an epoch backup) hold a marker file, ``.genreport-folder``,
  naming their kind. A folder written by a genreport from before markers is recognised by its
  file set and recorded schema (``recognised_legacy``) and then marked.
- **Temporary files and folders** carry the writing process's token in their names
  (``.NAME.grTOKEN.RANDOM.SUFFIX``), and a run folder's journal (``.genreport.journal``, beside
  the lock) lists the tokens of every process that held its lock. A sweep removes a leftover only
  when its token is in the journal.
- **Report files** (``report.html``, ``report.pdf``) are replaced only when their SHA-256 is the
  one the journal recorded when genreport wrote them, or, for a folder from before journals,
  when they read as a genreport report.

Nothing here follows a symlink: a symlinked entry is never genreport's. This module holds the
names and markers; ``journal`` keeps the tokens and report digests, and ``claims`` claims a run
folder and removes only what these rules prove genreport wrote.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
from pathlib import Path

from genreport.pipeline.core.errors import ConfigError
from genreport.pipeline.models.catalogue import VARIANTS

MARKER = ".genreport-folder"
JOURNAL = ".genreport.journal"
PROCESS_TOKEN = secrets.token_hex(6)
TOKEN_PART = "gr"
# ".<name>.gr<12 hex>.<mkstemp's random part><suffix>": what write_atomically and save_results make.
TEMPORARY = re.compile(r"\.(?P<name>.+)\.gr(?P<token>[0-9a-f]{12})\.[A-Za-z0-9_]{6,}(?P<suffix>\.[A-Za-z0-9.]+)?")
# What write_atomically named its temporaries before they carried a token: accepted in a folder an
# earlier genreport wrote (so it still resumes), never deleted, since nothing proves who made them.
LEGACY_TEMPORARY = re.compile(r"\.[A-Za-z0-9_.-]+\.[A-Za-z0-9_]{6,}\.(tmp|keras|pdf|h5|npz)")
REPORT_FILES = ("report.html", "report.pdf")
RESULT_FILES = frozenset({"metrics.json", "run.json", "per_image.csv", "trials.csv", "samples.npz"})
CHECKPOINT_FILES = frozenset({"base.keras", "modified.keras", "tuned.keras", "manifest.json"})
BACKUP_FOLDER = re.compile(r"\.backup-(base|modified|tuned)(\.unusable-[0-9-]+)?")
BACKUP_FILE = re.compile(r"state\.json|epoch-\d{4,}\.weights\.h5|best-\d{4,}\.npz")
LOG_FOLDERS = frozenset({*VARIANTS, "search"})
MAX_JOURNAL_BYTES = 1 << 20


def temporary_prefix(name: str) -> str:
    """The start of a temporary name for ``name``, carrying this process's token."""
    return f".{name}.{TOKEN_PART}{PROCESS_TOKEN}."


def is_real_folder(path: Path) -> bool:
    """A directory that is not a symlink."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def is_real_file(path: Path) -> bool:
    """A regular file that is not a symlink."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


# -- folder markers ---------------------------------------------------------------------------
def mark(folder: Path, kind: str) -> None:
    """Write the marker that says genreport made ``folder`` (a ``kind`` folder)."""
    fd = os.open(Path(folder) / MARKER, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps({"made_by": "genreport", "kind": kind}) + "\n")


def marked_kind(folder: Path) -> str | None:
    """The kind named by ``folder``'s marker, or None when it has no readable marker of genreport's."""
    if not is_real_folder(folder):
        return None
    try:
        fd = os.open(Path(folder) / MARKER, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        record = json.loads(os.read(fd, 1024).decode("utf-8"))
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    return record.get("kind") if isinstance(record, dict) and record.get("made_by") == "genreport" else None


def make_folder(folder: Path, kind: str) -> Path:
    """``folder``, made and marked now, or already there and genreport's own ``kind``; else a ConfigError."""
    folder = Path(folder)
    try:
        folder.mkdir()
    except FileExistsError:
        refuse_unless_owned(folder, kind)
        return folder
    mark(folder, kind)
    return folder


def owned(folder: Path, kind: str) -> bool:
    """Whether ``folder`` is a real folder that genreport made as a ``kind`` folder (legacy ones are marked now)."""
    if marked_kind(folder) == kind:
        return True
    if is_real_folder(folder) and not os.path.lexists(Path(folder) / MARKER) and recognised_legacy(folder, kind):
        try:
            mark(folder, kind)
        except OSError:  # a read-only copy: recognised all the same
            pass
        return True
    return False


def refuse_unless_owned(folder: Path, kind: str) -> None:
    """A one-line ConfigError unless ``folder`` is genreport's own ``kind`` folder holding only genreport's files."""
    folder = Path(folder)
    if folder.is_symlink():
        raise ConfigError(f"{folder} is a symlink; genreport writes only into folders it made itself "
                          "(replace it with a real folder or choose another --output)")
    foreign = foreign_names(folder, kind) if is_real_folder(folder) else []
    if not foreign and not owned(folder, kind):
        raise ConfigError(f"{folder} was not written by genreport (it has no {MARKER} marker and is not a genreport "
                          f"{kind} folder); move it away or choose another --output")
    if foreign:
        raise ConfigError(f"{folder} holds {shown(foreign)}, which genreport did not write; move {'it' if len(foreign) == 1 else 'them'} "
                          "away or choose another --output")


def shown(names: list[str], limit: int = 5) -> str:
    """Names quoted for a one-line message, at most ``limit`` of them."""
    text = ", ".join(ascii(name) for name in names[:limit])
    return text + (f" and {len(names) - limit} more" if len(names) > limit else "")


def foreign_names(folder: Path, kind: str) -> list[str]:
    """Entries (relative paths) of a ``kind`` folder that genreport never writes there, symlinks included.

    Checked before any work, since a results folder is replaced whole, checkpoints are overwritten
    and a training's log folder is started afresh.
    """
    folder = Path(folder)
    strays = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        here = Path(root)
        for name in dirs + files:
            path = here / name
            relative = str(path.relative_to(folder))
            if name == MARKER and is_real_file(path) or _expected_entry(kind, path.relative_to(folder), path):
                continue
            strays.append(relative)
        dirs[:] = [d for d in dirs if is_real_folder(here / d) and _expected_entry(kind, (here / d).relative_to(folder), here / d)]
        if kind == "results":
            dirs[:] = []
    return sorted(strays)


def _expected_entry(kind: str, relative: Path, path: Path) -> bool:
    """Whether genreport writes an entry of this name and type at this place in a ``kind`` folder."""
    name, depth = relative.name, len(relative.parts)
    temporary = bool(TEMPORARY.fullmatch(name) or LEGACY_TEMPORARY.fullmatch(name)) and is_real_file(path)
    if kind == "results":
        return (name in RESULT_FILES and is_real_file(path)) or temporary
    if kind == "checkpoints":
        if depth == 1:
            return (name in CHECKPOINT_FILES and is_real_file(path)) or (bool(BACKUP_FOLDER.fullmatch(name)) and is_real_folder(path)) or temporary
        return depth == 2 and ((bool(BACKUP_FILE.fullmatch(name)) and is_real_file(path)) or temporary)
    if kind == "logs":  # TensorBoard's folders and event files, nothing else
        return is_real_folder(path) if not name.startswith("events.out.tfevents.") else is_real_file(path)
    if kind == "tuner":  # KerasTuner's project: JSON files, trial folders, their checkpoints
        return is_real_folder(path) or is_real_file(path)
    return False


# -- recognising folders written before markers -----------------------------------------------
def recognised_legacy(folder: Path, kind: str) -> bool:
    """Whether an unmarked folder is, by its files and recorded schema, one an earlier genreport wrote."""
    entries = list(Path(folder).iterdir())
    names = {p.name for p in entries}
    if kind == "results":
        metrics = Path(folder) / "metrics.json"
        return not foreign_names(folder, kind) and "metrics.json" in names and (
            _json_object_with(metrics, "variants") or _json_object_with(metrics, "models"))  # schema 2, or 3
    if kind == "checkpoints":
        return (not foreign_names(folder, kind)
                and ("manifest.json" not in names or _json_object_with(Path(folder) / "manifest.json", "variants")))
    if kind == "tuner":  # project folders of KerasTuner: its oracle, or (killed before the first trial ended) trials only
        return not foreign_names(folder, kind) and all(
            is_real_folder(p) and all(q.name in ("oracle.json", "tuner0.json") or q.name.startswith("trial_")
                                      or LEGACY_TEMPORARY.fullmatch(q.name) for q in p.iterdir())
            for p in entries)
    if kind == "logs":
        return all(p.name in LOG_FOLDERS and is_real_folder(p) for p in entries) and not foreign_names(folder, kind)
    if kind == "backup":
        return all(is_real_file(p) and (BACKUP_FILE.fullmatch(p.name) or TEMPORARY.fullmatch(p.name) or LEGACY_TEMPORARY.fullmatch(p.name))
                   for p in entries)
    if kind == "run":
        return all(is_run_entry(p) for p in entries) and all(
            owned(Path(folder) / name, name) for name in OWNED_FOLDERS if os.path.lexists(Path(folder) / name))
    return False


OWNED_FOLDERS = ("results", "checkpoints", "tuner", "logs")
RUN_FILES = frozenset({".genreport.lock", JOURNAL, MARKER, *REPORT_FILES})
SEED_FOLDER = re.compile(r"seed-\d+")


def is_run_entry(path: Path) -> bool:
    """Whether an entry of a run folder has a name and kind genreport gives the entries it writes there."""
    name = Path(path).name
    if name in RUN_FILES or TEMPORARY.fullmatch(name):
        return is_real_file(path) or (name.endswith((".staging", ".previous")) and is_real_folder(path))
    return is_real_folder(path) and (name in OWNED_FOLDERS or bool(SEED_FOLDER.fullmatch(name))
                                     or bool(re.fullmatch(r"tuner\.unreadable-[0-9-]+", name)))


def _json_object_with(path: Path, key: str) -> bool:
    if not is_real_file(path) or path.stat().st_size > 4 << 20:
        return False
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and key in record
