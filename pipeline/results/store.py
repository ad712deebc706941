"""The results folder: everything a report needs, saved as JSON, CSV and NPZ, and read back typed.

``report`` reads only these files, so a report can be rendered again without TensorFlow. The
two JSON files are the records of ``pipeline.results.schema``; ``load_results`` gives a
``pipeline.results.loaded.Results``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from pathlib import Path
from dataclasses import replace
from typing import Any, Callable, TypeVar

import numpy as np

from genreport.pipeline.core import claims, ownership
from genreport.pipeline.results import checks, migrate
from genreport.pipeline.results.loaded import PerImageTable, Results, Samples
from genreport.pipeline.results.records import json_name
from genreport.pipeline.results.schema import SCHEMA_VERSION, Metrics, RunRecord
from genreport.pipeline.core.errors import ResultsError
from genreport.pipeline.core.fsutil import current_umask, write_atomically, write_json_atomically, write_text_atomically

METRICS = "metrics.json"
RUN = "run.json"
PER_IMAGE = "per_image.csv"
TRIALS = "trials.csv"
SAMPLES = "samples.npz"
REQUIRED = (METRICS, RUN, PER_IMAGE, SAMPLES)

TRIAL_COLUMNS = ("rank", "trial_id", "rung", "activation", "units", "optimizer", "val_loss", "steps", "epochs", "flops", "val_flops", "budget_flops", "stopped_by", "gflops_per_second", "seconds", "worker", "status")


def per_image_csv(
    test_index: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...], columns: dict[str, np.ndarray]
) -> str:
    """CSV text: one row per test image with its index, label, class and every metric column."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["index", "test_index", "label", "class_name", *columns])
    for i, (orig, label) in enumerate(zip(test_index, labels)):
        row = [i, int(orig), int(label), class_names[int(label)]]
        row += [f"{columns[name][i]:.6f}" for name in columns]
        writer.writerow(row)
    return buffer.getvalue()


def trials_csv(trials: list[dict[str, Any]]) -> str:
    """CSV text of the tuner's trials, best first."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=TRIAL_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in trials:
        writer.writerow(row)
    return buffer.getvalue()


def save_results(
    folder: Path,
    *,
    metrics: Metrics,
    run: RunRecord,
    per_image: str,
    trials: list[dict[str, Any]],
    samples: dict[str, np.ndarray],
) -> Path:
    """Write the results as one set: into a staging folder beside ``folder``, then swapped in.

    Both records are stamped with this schema's version and this genreport. A crash at any
    moment leaves the previous set or the new one, never a new ``metrics.json`` beside older
    tables (at worst, between the two renames of the swap, no folder at all).
    """
    from genreport.pipeline.core.environment import genreport_record

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(folder):
        ownership.refuse_unless_owned(folder, "results")  # before anything is written
    staging = Path(tempfile.mkdtemp(prefix=ownership.temporary_prefix(folder.name), suffix=".staging", dir=folder.parent))
    try:
        os.chmod(staging, 0o777 & ~current_umask())  # mkdtemp makes it 0700; results get the umask's mode like any folder
        ownership.mark(staging, "results")
        stamp = {"schema_version": SCHEMA_VERSION, "genreport": genreport_record()}
        write_json_atomically(staging / METRICS, replace(metrics, **stamp).to_json())
        write_json_atomically(staging / RUN, replace(run, **stamp).to_json())
        write_text_atomically(staging / PER_IMAGE, per_image)
        write_text_atomically(staging / TRIALS, trials_csv(trials))
        write_atomically(staging / SAMPLES, lambda tmp: _save_npz(tmp, samples))
        swap_in(staging, folder)
    except BaseException:
        if ownership.is_real_folder(staging):
            claims.remove_results_folder(staging)
        raise
    return folder


def swap_in(staging: Path, folder: Path) -> None:
    """Put ``staging`` where ``folder`` is, removing the previous set only once the new one is in place.

    The previous set goes only when genreport wrote it (its marker, no other files in it).
    """
    previous = None
    if os.path.lexists(folder):
        ownership.refuse_unless_owned(folder, "results")
        previous = Path(tempfile.mkdtemp(prefix=ownership.temporary_prefix(folder.name), suffix=".previous", dir=folder.parent))
        os.rmdir(previous)
        folder.rename(previous)
    staging.rename(folder)
    if previous is not None:
        claims.remove_results_folder(previous)


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def read_table(path: Path, max_rows: int) -> tuple[list[str], list[list[str]]]:
    """A CSV file's header and rows, read row by row: refused past ``max_rows`` rows or at a row of another length."""
    rows: list[list[str]] = []
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if not header:
                raise ResultsError(f"{path} is empty")
            for row in reader:
                if len(rows) >= max_rows:
                    raise ResultsError(f"{path} has more than {max_rows:,} rows, more than a run writes")
                if len(row) != len(header):
                    raise ResultsError(f"{path}: row {len(rows) + 1} has {len(row)} fields where the header has {len(header)}")
                rows.append(row)
    except UnicodeDecodeError:
        raise ResultsError(f"{path} is not UTF-8 text") from None
    except csv.Error:
        raise ResultsError(f"{path} is not a readable CSV table (near row {len(rows) + 1})") from None
    return header, rows


def read_per_image(path: Path) -> dict[str, np.ndarray | list[str]]:
    """Columns of ``per_image.csv``: numbers as arrays, class names as a list."""
    header, rows = read_table(path, checks.MAX_TEST_IMAGES * checks.MAX_SEEDS)
    if not rows:
        raise ResultsError(f"{path} holds no rows")
    if len(set(header)) != len(header):
        raise ResultsError(f"{path} names a column twice")
    columns: dict[str, Any] = {}
    for number, key in enumerate(header):
        values = [row[number] for row in rows]
        if key == "class_name":
            columns[key] = values
            continue
        try:
            columns[key] = np.array([float(v) for v in values])
        except ValueError:  # the file's own text stays out of the message
            raise ResultsError(f"{path}: column {number + 1} holds a value that is not a number") from None
    return columns


def read_trials(path: Path) -> list[dict[str, str]]:
    """Rows of ``trials.csv`` as dicts of strings (empty when the file is absent)."""
    if not os.path.lexists(path):
        return []
    header, rows = read_table(path, checks.MAX_LIST)
    return [dict(zip(header, row)) for row in rows]


def load_results(folder: Path) -> Results:
    """Everything under a results folder, checked and typed (schema 2 migrated to this schema)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ResultsError(f"results folder {folder} does not exist")
    linked = [name for name in (*REQUIRED, TRIALS) if (folder / name).is_symlink()]
    if linked:
        raise ResultsError(f"{folder / linked[0]} is a symlink; genreport reads only the results folder's own files")
    special = [name for name in (*REQUIRED, TRIALS) if os.path.lexists(folder / name) and not ownership.is_real_file(folder / name)]
    if special:
        raise ResultsError(f"{folder / special[0]} is not a regular file (a folder, FIFO or device?)")
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    if missing:
        raise ResultsError(f"results folder {folder} lacks {', '.join(missing)}")
    for name, limit in ((METRICS, checks.MAX_JSON_BYTES), (RUN, checks.MAX_JSON_BYTES), (PER_IMAGE, checks.MAX_TABLE_BYTES),
                        (TRIALS, checks.MAX_TABLE_BYTES), (SAMPLES, checks.MAX_SAMPLES_BYTES)):
        if (folder / name).is_file():
            checks.check_file_size(folder / name, limit)
    metrics, run = read_record(folder / METRICS, Metrics, migrate.migrated_metrics), read_record(folder / RUN, RunRecord, migrate.migrated_run)
    class_names = checks.check_class_names(list(run.class_names), folder / RUN)
    models = list(metrics.models)
    per_image = PerImageTable(read_per_image(folder / PER_IMAGE))
    one_run = checks.first_seed_rows(per_image, folder / PER_IMAGE)
    checks.check_per_image(one_run, metrics, class_names, folder / PER_IMAGE)
    checks.check_per_class(one_run, metrics, folder / METRICS)
    checks.check_replicates(metrics, per_image, class_names, folder / METRICS)
    checks.check_search_settings(run, folder / RUN)
    samples = Samples.from_arrays(checks.read_samples(folder / SAMPLES, models, len(class_names), one_run.rows), models)
    checks.check_samples_match_rows(samples, one_run, folder / PER_IMAGE)
    trials = read_trials(folder / TRIALS)
    if len(trials) > checks.MAX_LIST:
        raise ResultsError(f"{folder / TRIALS} has {len(trials):,} rows (at most {checks.MAX_LIST:,})")
    return Results(metrics=metrics, run=run, per_image=per_image, samples=samples, folder=str(folder), trials=trials)


R = TypeVar("R", Metrics, RunRecord)


def read_record(path: Path, kind: type[R], migrated: Callable[[dict[str, Any], Path], dict[str, Any]]) -> R:
    """A results JSON file as its record: parsed, bounded, migrated to this schema, then checked field by field."""
    value = read_json(path)
    if not isinstance(value, dict):
        raise ResultsError(f"{path} holds {json_name(value)}, not an object")
    checks.check_json_bounds(value, path)
    return kind.from_json(migrated(value, path), path)


class NotFinite(ValueError):
    """A JSON file spelled NaN or Infinity."""


def _refuse_constant(name: str) -> Any:
    raise NotFinite(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 parses to infinity
        raise NotFinite(text)
    return value


def read_json(path: Path) -> Any:
    """A results JSON file, parsed; a one-line ResultsError naming the file (never its text) when it cannot be."""
    try:
        return json.loads(path.read_text(encoding="utf-8"), parse_constant=_refuse_constant, parse_float=_finite_float)
    except NotFinite:
        raise ResultsError(f"{path} holds NaN or infinity, which a run never writes") from None
    except RecursionError:
        raise ResultsError(f"{path} is nested deeper than genreport writes") from None
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    except UnicodeDecodeError:
        raise ResultsError(f"{path} is not UTF-8 text") from None
    except ValueError:  # an integer of thousands of digits, say
        raise ResultsError(f"{path} holds a number genreport never writes") from None
    except OSError as exc:
        raise ResultsError(f"{path} cannot be read: {exc.strerror or type(exc).__name__}") from None
