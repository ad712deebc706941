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

Nothing here follows a symlink: a symlinked entry is never genreport's.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import stat
from pathlib import Path
from typing import Callable, Iterable

from genreport.pipeline.core.errors import ConfigError, GenreportError
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


def _json_object_with(path: Path, key: str) -> bool:
    if not is_real_file(path) or path.stat().st_size > 4 << 20:
        return False
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and key in record


# -- the journal of a run folder --------------------------------------------------------------
def open_plain_file(path: Path, flags: int, what: str) -> int:
    """A descriptor on ``path`` opened with ``flags``; refuses a symlink, a FIFO, a device or a hard link (one line naming ``what``).

    With a single link and no symlink followed, whatever genreport writes into it lands in this
    file and nowhere else. FileNotFoundError passes through.
    """
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o644)
    except FileNotFoundError:
        raise
    except OSError as exc:  # ELOOP for a symlink, ENXIO for a FIFO without a reader, EISDIR...
        raise GenreportError(f"{what} cannot be opened safely (a symlink or special file?): {exc.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        raise GenreportError(f"{what} is not a plain regular file (a device, FIFO or hard link?); remove it and run again")
    return fd


def _open_journal(folder: Path, flags: int) -> int:
    return open_plain_file(Path(folder) / JOURNAL, flags, str(Path(folder) / JOURNAL))


def journal_lines(folder: Path) -> list[tuple[str, ...]]:
    """The journal's records as tuples of words (none when it is absent)."""
    try:
        fd = _open_journal(folder, os.O_RDONLY)
    except FileNotFoundError:
        return []
    try:
        data = os.pread(fd, MAX_JOURNAL_BYTES, 0)
    finally:
        os.close(fd)
    return [tuple(line.split()) for line in data.decode("ascii", errors="replace").splitlines() if line.strip()]


def append_journal(folder: Path, *words: str) -> None:
    """Add one record to the journal of ``folder`` (only while its lock is held)."""
    fd = _open_journal(folder, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, (" ".join(words) + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


def record_token(folder: Path) -> None:
    """Note in the journal that this process (its token) holds the lock of ``folder``."""
    append_journal(folder, "token", PROCESS_TOKEN)


def journalled_tokens(folder: Path) -> set[str]:
    """Tokens of the processes that held the lock of ``folder``."""
    return {line[1] for line in journal_lines(folder) if len(line) == 2 and line[0] == "token"}


KEPT_DIGESTS = 4  # per report file, so a render stopped between recording and renaming still proves the file in place


def recorded_digests(folder: Path) -> dict[str, list[str]]:
    """The SHA-256 digests the journal recorded for each report file genreport wrote in ``folder``, oldest first."""
    digests: dict[str, list[str]] = {}
    for line in journal_lines(folder):
        if len(line) == 3 and line[0] == "file":
            digests.setdefault(line[1], []).append(line[2])
    return digests


def compact_journal(folder: Path) -> None:
    """Rewrite the journal to this process's token and the latest report digests, once leftovers are swept."""
    from genreport.pipeline.core.fsutil import write_text_atomically

    lines = [f"token {PROCESS_TOKEN}"] + [f"file {name} {digest}" for name, digests in recorded_digests(folder).items()
                                          for digest in list(dict.fromkeys(digests))[-KEPT_DIGESTS:]]
    write_text_atomically(Path(folder) / JOURNAL, "\n".join(lines) + "\n")


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_report_file(destination: Path, written: Path) -> None:
    """Note in the journal of ``destination``'s folder the digest of ``written``, the file about to be renamed onto it.

    Recorded before the rename, so a kill between the two leaves a file the journal vouches for.
    """
    append_journal(Path(destination).parent, "file", Path(destination).name, file_sha256(written))


def report_file_is_ours(path: Path) -> bool:
    """Whether an existing ``report.html``/``report.pdf`` is a file genreport wrote there.

    Once the folder's journal records any report file, only a recorded digest proves one; a folder
    whose reports predate the journal is recognised by the report's own text (the HTML's title) or, for the PDF, by genreport's
    results beside it and its HTML report.
    """
    path = Path(path)
    if not is_real_file(path):
        return False
    digests = recorded_digests(path.parent)
    if digests:
        return file_sha256(path) in digests.get(path.name, [])
    return _reads_as_our_report(path)


def _reads_as_our_report(path: Path) -> bool:
    """A report from before the journal: genreport's title in the HTML; a PDF beside genreport's results and HTML report."""
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if path.suffix == ".html":
        return b"<title>genreport:" in head
    html = path.with_name("report.html")
    return (head.startswith(b"%PDF-") and owned(path.parent / "results", "results")
            and is_real_file(html) and _reads_as_our_report(html))


def refuse_foreign_report_files(folder: Path, names: Iterable[str]) -> None:
    """A one-line ConfigError naming any report file in ``folder`` that genreport would replace but did not write."""
    theirs = [name for name in names if os.path.lexists(Path(folder) / name) and not report_file_is_ours(Path(folder) / name)]
    if theirs:
        raise ConfigError(f"{folder} holds {shown(theirs)}, which genreport did not write and would replace; "
                          "move it away or choose another --output")


# -- claiming a run folder, and sweeping what killed runs left --------------------------------
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
