"""Results are read defensively: bounded by what a run writes, and refused when their parts disagree."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import error_lines, write_results_fixture
from genreport.pipeline.core.errors import ResultsError
from genreport.pipeline.scoring.replicates import training_seed
from genreport.pipeline.results.store import load_results
from genreport.report.cli import main


def rewrite_samples(results_dir: Path, **changes: np.ndarray) -> None:
    with np.load(results_dir / "samples.npz") as npz:
        arrays = {key: npz[key] for key in npz.files}
    arrays.update(changes)
    np.savez_compressed(results_dir / "samples.npz", **arrays)


def rewrite_rows(results_dir: Path, change) -> None:
    with open(results_dir / "per_image.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([rows[0], *change(rows[1:])])
    (results_dir / "per_image.csv").write_text(buffer.getvalue())


def refusal(results_dir: Path) -> str:
    with pytest.raises(ResultsError) as caught:
        load_results(results_dir)
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_an_unused_member_of_samples_npz_is_never_read(results_dir: Path, tmp_path: Path) -> None:
    # a member that declares 3.2 GB of float32 but holds only its header: reading it would fail or allocate
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (800_000_000,)})
    with zipfile.ZipFile(results_dir / "samples.npz", "a") as archive:
        archive.writestr("unused.npy", np.lib.format.MAGIC_PREFIX + b"\x01\x00" + header.getvalue())
    result = CliRunner().invoke(main, ["render", "--results", str(results_dir), "--format", "html", "--output", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output


def test_a_used_member_declaring_more_entries_than_a_run_writes_is_refused_before_it_is_read(results_dir: Path) -> None:
    rewrite_samples(results_dir, grid=np.zeros(2000, dtype=np.int64))
    message = refusal(results_dir)
    assert "samples.npz" in message and "'grid'" in message


def test_an_image_member_of_another_dtype_or_shape_is_refused(results_dir: Path) -> None:
    with np.load(results_dir / "samples.npz") as npz:
        originals = npz["originals"]
    rewrite_samples(results_dir, originals=originals.astype(np.float64))
    assert "'originals'" in refusal(results_dir)


def test_a_class_name_of_200_kb_is_refused_at_load(results_dir: Path) -> None:
    run = json.loads((results_dir / "run.json").read_text())
    run["class_names"][0] = "x" * 200_000
    (results_dir / "run.json").write_text(json.dumps(run))
    message = refusal(results_dir)
    assert "run.json" in message and "class_names" in message and "xxxx" not in message


def test_shuffled_per_image_rows_are_refused(results_dir: Path) -> None:
    rewrite_rows(results_dir, lambda rows: rows[::-1])
    assert "column 'index'" in refusal(results_dir)


def test_duplicated_per_image_rows_are_refused(results_dir: Path) -> None:
    rewrite_rows(results_dir, lambda rows: rows + rows)
    assert "rows" in refusal(results_dir)


def test_rows_shuffled_and_renumbered_are_caught_by_the_ssim_of_the_images_they_caption(results_dir: Path) -> None:
    def shuffle_and_renumber(rows: list[list[str]]) -> list[list[str]]:
        shuffled = [rows[i] for i in np.random.default_rng(0).permutation(len(rows))]
        return [[str(i), *row[1:]] for i, row in enumerate(shuffled)]

    rewrite_rows(results_dir, shuffle_and_renumber)
    message = refusal(results_dir)
    assert "SSIM of its image" in message or "per_class" in message


def test_per_class_figures_that_contradict_the_per_image_table_are_refused(results_dir: Path) -> None:
    metrics = json.loads((results_dir / "metrics.json").read_text())
    metrics["models"]["base"]["per_class"][3]["mean"] += 0.01
    (results_dir / "metrics.json").write_text(json.dumps(metrics))
    message = refusal(results_dir)
    assert "models.base.per_class" in message and "Dress" in message


def test_a_merge_refuses_a_copy_of_one_run_relabelled_as_another_seed(tmp_path: Path, real_data_dir: Path) -> None:
    first = write_results_fixture(tmp_path / "a", real_data_dir, seed=1)
    copy = write_results_fixture(tmp_path / "b", real_data_dir, seed=1)
    run = json.loads((copy / "run.json").read_text())
    run["config"]["seed"] = run["training_seed"] = 2  # relabelled: the same scores claimed as a second seed
    (copy / "run.json").write_text(json.dumps(run))
    assert training_seed(load_results(copy).run) == 2
    result = CliRunner().invoke(main, ["render", "--results", str(first), "--results", str(copy), "--output", str(tmp_path / "m"),
                                       "--format", "html"])
    assert result.exit_code == 1
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "identical per-image scores" in lines[0]


def test_a_table_of_many_tiny_rows_is_refused_at_its_first_short_row_without_reading_the_rest(results_dir: Path) -> None:
    import tracemalloc

    with open(results_dir / "per_image.csv", "a") as handle:
        handle.write("0\n" * 1_000_000)
    tracemalloc.start()
    message = refusal(results_dir)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "fields where the header has" in message and peak < 64 << 20


def test_a_fifo_named_trials_csv_is_refused_instead_of_waiting_for_a_writer(results_dir: Path) -> None:
    import os
    import signal

    (results_dir / "trials.csv").unlink()
    os.mkfifo(results_dir / "trials.csv")
    signal.alarm(20)  # a regression would block in open(); the alarm turns that into a failure
    try:
        assert "not a regular file" in refusal(results_dir)
    finally:
        signal.alarm(0)


def test_nan_in_metrics_json_is_refused(results_dir: Path) -> None:
    text = (results_dir / "metrics.json").read_text()
    (results_dir / "metrics.json").write_text(text.replace('"test_images": 120', '"test_images": 120, "x": NaN', 1))
    assert "NaN" in refusal(results_dir)


def test_a_row_longer_than_the_header_is_refused(results_dir: Path) -> None:
    rewrite_rows(results_dir, lambda rows: rows[:5] + [rows[5] + ["extra"]] + rows[6:])
    assert "row 6 has" in refusal(results_dir)
