"""Reading a results folder defensively: sizes bounded by what a run can write, rows that agree with each other.

A results folder may come from anyone (a copy, a merge, a tampered download), and ``render``
trusts nothing in it: every file, string and list has a bound proportional to what a run
produces (test images, classes, trials), ``samples.npz`` is read member by member after its
declared shapes and dtypes are checked, and the per-image table must be the test images in
order, one row each, whose SSIM the sample images reproduce. Each refusal is one line naming
the file and the field, never the file's text.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npy_format

from genreport.pipeline.data.fashion_mnist import CLASS_NAMES
from genreport.pipeline.core.errors import ResultsError
from genreport.pipeline.results.loaded import PerImageTable, Samples
from genreport.pipeline.results.schema import Metrics, RunRecord

MAX_TEST_IMAGES = 10_000  # Fashion-MNIST's test set
MAX_CLASSES = len(CLASS_NAMES)
MAX_CLASS_NAME = 100
MAX_SEEDS = 20  # replicates merged into one results folder
MAX_JSON_BYTES = 4 << 20  # a full run's run.json is about 50 KB
MAX_TABLE_BYTES = 48 << 20  # per_image.csv: about 170 bytes a row, 10,000 test images a seed
MAX_SAMPLES_BYTES = 64 << 20  # samples.npz: a few hundred 28x28 images
MAX_NPZ_MEMBERS = 256
MAX_STRING = 4096  # a path, a command line; nothing a run writes is longer
MAX_LIST = 20_000  # test images, trials, epochs
MAX_DEPTH = 24
MAX_KEY = 200  # an object's key: a model name, a setting, a metric
MAX_INTEGER = 1 << 62  # FLOPs counts and digests aside, nothing a run writes comes near
MAX_RUNGS = 8  # the halving search keeps a third of 36 combinations a rung: four rungs leave one
GRID_PER_CLASS = 2  # the grid shows this many test images of each class
EXTREMES = 8  # and each variant's this many worst and best
IMAGE_SHAPE = (28, 28)
SSIM_TOLERANCE = 1e-6  # per_image.csv keeps 6 decimals


def check_file_size(path: Path, limit: int) -> None:
    """Refuse a results file larger than any run writes, before reading it."""
    size = path.stat().st_size
    if size > limit:
        raise ResultsError(f"{path} is {size:,} bytes, more than a run writes ({limit:,}); refused")


def check_json_bounds(value: Any, path: Path, where: str = "", depth: int = 0) -> None:
    """Refuse a JSON value with a string, list or nesting beyond what genreport writes, naming the field."""
    if depth > MAX_DEPTH:
        raise ResultsError(f"{path}: field {where or 'top'} is nested deeper than genreport writes")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
        raise ResultsError(f"{path}: field {where or 'top'} is an integer larger than any genreport writes")
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise ResultsError(f"{path}: field {where or 'top'} is a string of {len(value):,} characters (at most {MAX_STRING:,})")
    elif isinstance(value, list):
        if len(value) > MAX_LIST:
            raise ResultsError(f"{path}: field {where or 'top'} lists {len(value):,} items (at most {MAX_LIST:,})")
        for i, item in enumerate(value):
            check_json_bounds(item, path, f"{where}[{i}]", depth + 1)
    elif isinstance(value, dict):
        if len(value) > MAX_LIST:
            raise ResultsError(f"{path}: field {where or 'top'} has {len(value):,} keys (at most {MAX_LIST:,})")
        for key, item in value.items():
            if len(key) > MAX_KEY:
                raise ResultsError(f"{path}: field {where or 'top'} has a key of {len(key):,} characters (at most {MAX_KEY})")
            check_json_bounds(item, path, f"{where}.{key}" if where else key[:40], depth + 1)


def check_class_names(names: Any, path: Path) -> list[str]:
    """The run's class names: at most ten, each a short string."""
    if not isinstance(names, list) or not 0 < len(names) <= MAX_CLASSES:
        raise ResultsError(f"{path}: field 'class_names' must list 1 to {MAX_CLASSES} classes")
    for i, name in enumerate(names):
        if not isinstance(name, str) or not 0 < len(name) <= MAX_CLASS_NAME:
            raise ResultsError(f"{path}: field 'class_names[{i}]' must be a name of 1 to {MAX_CLASS_NAME} characters")
    return names


# -- per_image.csv ----------------------------------------------------------------------------
def first_seed_rows(table: PerImageTable, path: Path) -> PerImageTable:
    """The table of one run: the whole table, or for merged replicates the first seed's block (checked like one)."""
    seeds = table.seeds
    if seeds is None:
        return table
    first = seeds == seeds[0]
    blocks = np.flatnonzero(np.diff(seeds)) + 1
    sizes = np.diff(np.concatenate([[0], blocks, [len(seeds)]]))
    if len(set(sizes.tolist())) != 1 or len(np.unique(seeds)) != len(sizes):
        raise ResultsError(f"{path}: column 'seed' does not hold one block of rows per seed, each of the same length")
    for start in np.concatenate([[0], blocks]):
        block = slice(int(start), int(start) + int(sizes[0]))
        if not np.array_equal(table.test_index[block], table.test_index[first]):
            raise ResultsError(f"{path}: the seeds' rows are not the same test images in the same order")
    return table.rows_where(first)


def check_per_image(table: PerImageTable, metrics: Metrics, class_names: list[str], path: Path) -> None:
    """The table holds each test image once, in order, with its label's class and every model's SSIM."""
    for name in ("index", "test_index", "label", "class_name", *(f"ssim_{m}" for m in metrics.models)):
        if name not in table.columns:
            raise ResultsError(f"{path} lacks the column {name!r}")
    rows = table.rows
    if rows != metrics.test_images or rows > MAX_TEST_IMAGES:
        raise ResultsError(f"{path} has {rows:,} rows; metrics.json scored {metrics.test_images:,} test images")
    if not np.array_equal(table.index, np.arange(rows)):
        raise ResultsError(f"{path}: column 'index' is not 0, 1, 2, ... (rows reordered, missing or duplicated)")
    test_index = table.test_index
    if (test_index != np.round(test_index)).any() or test_index.min() < 0 or test_index.max() >= MAX_TEST_IMAGES:
        raise ResultsError(f"{path}: column 'test_index' holds a value that is not a test image's index")
    if len(np.unique(test_index)) != rows:
        raise ResultsError(f"{path}: column 'test_index' names a test image twice")
    labels = table.labels
    if (labels != np.round(labels)).any() or labels.min() < 0 or labels.max() >= len(class_names):
        raise ResultsError(f"{path}: column 'label' holds a value that is not a class of run.json")
    if any(name != class_names[int(label)] for name, label in zip(table.class_names, labels)):
        raise ResultsError(f"{path}: column 'class_name' disagrees with the row's label")


def check_per_class(table: PerImageTable, metrics: Metrics, path: Path) -> None:
    """Each model's per-class mean SSIM in metrics.json is the mean of its class's rows in per_image.csv."""
    labels = table.labels.astype(int)
    for model, figures in metrics.models.items():
        ssim = table.ssim(model)
        for row in figures.per_class:
            members = ssim[labels == row.label]
            if len(members) != row.count or (len(members) and abs(float(members.mean()) - row.mean) > SSIM_TOLERANCE):
                raise ResultsError(f"{path}: models.{model}.per_class for {row.class_name!r} disagrees with per_image.csv")


def check_replicates(metrics: Metrics, table: PerImageTable, class_names: list[str], path: Path) -> None:
    """A merge's block names the same models as the results, a figure for every seed, the seeds of the per-image table."""
    block = metrics.replicates
    if block is None:
        return
    seeds = [str(s) for s in block.seeds]
    table_seeds = [] if table.seeds is None else [str(int(s)) for s in dict.fromkeys(table.seeds.tolist())]
    if table_seeds != seeds or block.first_seed != (block.seeds[0] if block.seeds else None):
        raise ResultsError(f"{path}: field 'replicates.seeds' disagrees with the seeds of per_image.csv")
    for name, part in (("models", block.models), ("per_class", block.per_class)):
        if list(part) != list(metrics.models):
            raise ResultsError(f"{path}: field 'replicates.{name}' does not name the models of 'models'")
    for model, figures in block.models.items():
        for metric in (figures.ssim, figures.ssim_gaussian):
            if list(metric.per_seed) != seeds:
                raise ResultsError(f"{path}: field 'replicates.models.{model[:40]}' lacks a figure for a seed, or has one too many")
    first_classes = [row.class_name for row in next(iter(block.per_class.values()), ())]
    for model, rows in block.per_class.items():
        if any(row.class_name not in class_names for row in rows) or [row.class_name for row in rows] != first_classes:
            raise ResultsError(f"{path}: field 'replicates.per_class.{model[:40]}' names classes the run does not have")


def check_search_settings(run: RunRecord, path: Path) -> None:
    """The search's rungs and rate are what a search can have (the report lists each rung's work)."""
    settings = run.tuning.settings if run.tuning else None
    if settings and not (1 <= settings.rungs <= MAX_RUNGS and 2 <= settings.rate <= 36):
        raise ResultsError(f"{path}: field 'tuning.settings' holds {settings.rungs} rungs at rate {settings.rate}, "
                           f"not a search genreport runs (1 to {MAX_RUNGS} rungs, rate 2 to 36)")


# -- samples.npz ------------------------------------------------------------------------------
def expected_samples(models: list[str], classes: int) -> dict[str, tuple[str, int]]:
    """Each member the report reads: its kind ('index' or 'images') and the most entries it may hold."""
    shown = GRID_PER_CLASS * classes + 2 * EXTREMES * len(models)
    members = {"grid": ("index", GRID_PER_CLASS * classes), "shown": ("index", shown), "originals": ("images", shown)}
    for model in models:
        members.update({f"worst_{model}": ("index", EXTREMES), f"best_{model}": ("index", EXTREMES),
                        f"recon_{model}": ("images", shown)})
    return members


def member_header(archive: zipfile.ZipFile, name: str) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype a ``.npy`` member declares, read from its header alone."""
    with archive.open(f"{name}.npy") as handle:
        version = npy_format.read_magic(handle)
        read_header = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
        shape, _, dtype = read_header(handle)
    return tuple(shape), dtype


def read_samples(path: Path, models: list[str], classes: int, rows: int) -> dict[str, np.ndarray]:
    """The members of ``samples.npz`` the report uses, each checked by its header before it is read; others never read."""
    expected = expected_samples(models, classes)
    try:
        with zipfile.ZipFile(path) as archive:
            if len(archive.infolist()) > MAX_NPZ_MEMBERS:
                raise ResultsError(f"{path} holds {len(archive.infolist()):,} arrays, more than a run writes")
            present = {info.filename: info for info in archive.infolist()}
            for name, (kind, most) in expected.items():
                info = present.get(f"{name}.npy")
                if info is None:
                    raise ResultsError(f"{path} lacks the array {name!r}")
                shape, dtype = member_header(archive, name)
                ok = (len(shape) == 1 and shape[0] <= most and dtype.kind in "iu") if kind == "index" else (
                    len(shape) == 3 and shape[0] <= most and shape[1:] == IMAGE_SHAPE and dtype == np.float32)
                if not ok:
                    raise ResultsError(f"{path}: array {name!r} is {dtype} of shape {shape}, not what a run writes")
                if info.file_size > 128 + int(np.prod(shape)) * dtype.itemsize + 1024:
                    raise ResultsError(f"{path}: array {name!r} takes more bytes than its shape needs")
        with np.load(path, allow_pickle=False) as npz:
            samples = {name: npz[name] for name in expected}
    except (OSError, ValueError, zipfile.BadZipFile, KeyError) as exc:
        raise ResultsError(f"{path} is unreadable ({type(exc).__name__})") from None
    check_sample_indices(samples, models, rows, path)
    return samples


def check_sample_indices(samples: dict[str, np.ndarray], models: list[str], rows: int, path: Path) -> None:
    """Indices name rows of the table; every image shown is in ``shown`` once, and each variant has an image per row of ``shown``."""
    shown = samples["shown"]
    if len(np.unique(shown)) != len(shown) or (len(shown) and (shown.min() < 0 or shown.max() >= rows)):
        raise ResultsError(f"{path}: array 'shown' names rows that per_image.csv does not have, or one twice")
    listed = set(shown.tolist())
    for name in ("grid", *(f"{k}_{v}" for v in models for k in ("worst", "best"))):
        if not set(samples[name].tolist()) <= listed:
            raise ResultsError(f"{path}: array {name!r} names an image that 'shown' does not hold")
    for name in ("originals", *(f"recon_{v}" for v in models)):
        if len(samples[name]) != len(shown):
            raise ResultsError(f"{path}: array {name!r} holds {len(samples[name])} images for {len(shown)} shown")


def check_samples_match_rows(samples: Samples, table: PerImageTable, path: Path) -> None:
    """The SSIM of each shown image, recomputed, is its row's: so no caption sits under another image."""
    from skimage.metrics import structural_similarity

    for model, reconstructions in samples.reconstructions.items():
        recorded = table.ssim(model)
        for i, row in enumerate(samples.shown):
            value = structural_similarity(samples.originals[i].astype(np.float64), reconstructions[i].astype(np.float64), data_range=1.0)
            if abs(value - recorded[int(row)]) > SSIM_TOLERANCE:
                raise ResultsError(f"{path}: row {int(row)} does not hold the SSIM of its image for {model} "
                                   "(rows reordered, or the samples are from another run)")
