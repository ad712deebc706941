"""Whole-file writes: a temporary file in the same folder, flushed, fsynced, then renamed."""

from __future__ import annotations

import json
import os
import signal
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from genreport.pipeline.core.interrupts import raise_if_stopped
from genreport.pipeline.core.ownership import temporary_prefix


def write_atomically(path: Path, write: Callable[[Path], None], suffix: str = ".tmp") -> Path:
    """Let ``write`` fill a temporary sibling of ``path``, then rename it onto ``path``.

    A crash at any moment leaves either the old file or the new one, never half of one. The
    temporary name carries this process's token, so only a sweep of this run folder removes it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=temporary_prefix(path.name), suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~current_umask())
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        raise_if_stopped()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)
    return path


@contextmanager
def replaced_together(paths: list[Path]) -> Iterator[dict[Path, Path]]:
    """Temporary siblings for ``paths`` to fill; on success all of them replace their files at once.

    Either every file is the new one or every file is the old one: the renames run with SIGINT,
    SIGTERM and SIGHUP held back (a signal arriving meanwhile is delivered after the last one),
    and an error or signal while filling them removes the temporaries and keeps the old set.
    """
    temporaries: dict[Path, Path] = {}
    try:
        for path in paths:
            path = Path(path)
            fd, tmp_name = tempfile.mkstemp(prefix=temporary_prefix(path.name), suffix=path.suffix, dir=path.parent)
            os.close(fd)
            os.chmod(tmp_name, 0o666 & ~current_umask())
            temporaries[path] = Path(tmp_name)
        yield temporaries
        for tmp in temporaries.values():
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        raise_if_stopped()
        held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
        try:
            for path, tmp in temporaries.items():
                os.replace(tmp, path)
            for folder in {path.parent for path in temporaries}:
                _fsync_directory(folder)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    finally:
        for tmp in temporaries.values():
            tmp.unlink(missing_ok=True)


def write_bytes_atomically(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` whole."""
    return write_atomically(path, lambda tmp: tmp.write_bytes(data))


def write_text_atomically(path: Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` whole."""
    return write_bytes_atomically(path, text.encode("utf-8"))


def write_json_atomically(path: Path, payload: Any) -> Path:
    """Write ``payload`` as indented, strict JSON to ``path`` whole; return ``path``.

    NaN and infinity are not JSON: a ValueError naming the file is raised and nothing is written.
    """
    try:
        text = json.dumps(payload, indent=2, sort_keys=False, allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"{Path(path).name}: {exc}") from None
    return write_text_atomically(path, text + "\n")


def _read_umask_once() -> int:
    # os.umask can only be read by setting it; doing so once, at import and before any thread
    # starts, means it is never flipped while other threads create files.
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask_once()


def current_umask() -> int:
    return _UMASK


def _fsync_directory(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
