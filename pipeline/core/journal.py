"""A run folder's journal (``.genreport.journal``): the tokens of every process that held its lock, and the
digests of the report files genreport wrote there, which is how a later command knows they are its own.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Iterable

from genreport.pipeline.core.errors import ConfigError, GenreportError
from genreport.pipeline.core.ownership import JOURNAL, MAX_JOURNAL_BYTES, PROCESS_TOKEN, is_real_file, owned, shown


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


