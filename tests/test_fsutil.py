"""Whole-file writes: a failure at any point leaves the old file and no temporary behind."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from genreport.pipeline.core.fsutil import write_atomically, write_json_atomically, write_text_atomically


def test_writes_the_new_content(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    write_text_atomically(target, "one")
    write_text_atomically(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")

    def half_then_disk_full(tmp: Path) -> None:
        tmp.write_text("half of the new")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        write_atomically(target, half_then_disk_full)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_files_get_ordinary_permissions(tmp_path: Path) -> None:
    target = write_text_atomically(tmp_path / "b.txt", "x")
    assert target.stat().st_mode & 0o644 == 0o644


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_json_refuses_nan_and_infinity_and_writes_nothing(tmp_path: Path, value: float) -> None:
    target = tmp_path / "metrics.json"
    with pytest.raises(ValueError, match="metrics.json"):
        write_json_atomically(target, {"ssim": {"mean": value}})
    assert list(tmp_path.iterdir()) == []
