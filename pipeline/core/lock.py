"""One run at a time per output folder, with a lock the kernel drops when its process dies."""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from genreport.pipeline.core import journal, ownership
from genreport.pipeline.core.errors import GenreportError

LOCK_NAME = ".genreport.lock"
# No symlink is followed, the descriptor does not leak into children, and a FIFO cannot block us.
OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


def open_lock_file(path: Path, flags: int = OPEN_FLAGS) -> int:
    """A descriptor on ``path`` (created if absent, with the default ``flags``); refuses a symlink, anything but a
    regular file, and another file's hard link (``journal.open_plain_file``)."""
    return journal.open_plain_file(path, flags, f"lock file {path}")


def _read_holder(fd: int) -> str:
    """The pid written in the lock file, or 'unknown'."""
    text = os.pread(fd, 64, 0).decode("ascii", errors="replace").strip()
    return text if text.isdigit() else "unknown"


def _write_pid(fd: int) -> None:
    """Write our pid at the start of the (checked, locked) lock file, then drop what followed it.

    The file is never emptied before the write; only bytes after the pid (a longer pid left by
    a dead run) are cut, and only in a file ``open_lock_file`` has checked is our own.
    """
    text = str(os.getpid()).encode("ascii")
    os.pwrite(fd, text, 0)
    if os.fstat(fd).st_size > len(text):
        os.ftruncate(fd, len(text))


@contextmanager
def output_lock(folder: Path) -> Iterator[Path]:
    """Hold an exclusive ``flock`` on ``folder/.genreport.lock`` for the duration of a run.

    A second run into the same folder stops at once; a lock file left by a killed process
    does not block anyone, since the kernel released its lock when the process died. The
    holder's token goes into the folder's journal, and a folder the lock makes is marked as
    genreport's run folder.
    """
    folder = Path(folder)
    made = not os.path.lexists(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if made:
        ownership.mark(folder, "run")
    path = folder / LOCK_NAME
    fd = open_lock_file(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise GenreportError(f"another genreport process is using {folder} (a run, pid {_read_holder(fd)}, or a render reading it); wait for it or choose another --output") from None
        _write_pid(fd)
        journal.record_token(folder)
        yield path
    finally:
        os.close(fd)


@contextmanager
def reading_lock(folder: Path) -> Iterator[None]:
    """Hold a run folder's lock while reading its results; nothing to hold where no run ever wrote one.

    Opened read-only and never written, so a results folder copied read-only still renders.
    """
    try:
        fd = open_lock_file(Path(folder) / LOCK_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # shared: readers never block each other, a writer blocks them
        except BlockingIOError:
            raise GenreportError(f"a genreport run (pid {_read_holder(fd)}) is writing to {folder}; render once it has finished") from None
        yield
    finally:
        os.close(fd)
