"""One run at a time per output folder, with a lock the kernel drops when its process dies."""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pipeline.errors import GenreportError

LOCK_NAME = ".genreport.lock"


@contextmanager
def output_lock(folder: Path) -> Iterator[Path]:
    """Hold an exclusive ``flock`` on ``folder/.genreport.lock`` for the duration of a run.

    A second run into the same folder stops at once; a lock file left by a killed process
    does not block anyone, since the kernel released its lock when the process died.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise GenreportError(f"another genreport run (pid {holder}) is writing to {folder}; wait for it or choose another --output") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield path
    finally:
        handle.close()
