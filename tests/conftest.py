"""Shared fixtures: the real data set, IDX file writers, and one smoke-scale run reused by tests."""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

# First, before any test module imports Keras: genreport's TensorFlow settings (oneDNN, allocators)
# take effect only before TensorFlow starts, and the in-process runs must use them as `genreport` does.
import genreport.pipeline  # noqa: E402,F401

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# The suite writes about 2.4 GB (the smoke run's 265 MB tuned checkpoint and the copies tests make
# of it). On this machine's ext4 disk a later fsync of a small file then waited up to 19 s behind
# that writeback, so the tests' folders go to RAM (tmpfs /dev/shm, where fsync costs nothing) when
# there is room: the same tree took 292.84 s of pytest against 325.90 s on the disk, one run each
# (benchmarks/results/suite-2026-12-04b; runs of one tree spread by about 17 s on the disk).
RAM_FOLDER_FREE_BYTES = 8 << 30  # the suite's folders peak at about 1.6 GiB
TEST_FOLDER_VARIABLE = "GENREPORT_TEST_TMPDIR"
TEMPORARY_FOLDER_VARIABLES = ("TMPDIR", "TEMP", "TMP", "PYTEST_DEBUG_TEMPROOT", TEST_FOLDER_VARIABLE)
RAM_FOLDER: str | None = None


def memory_limit_bytes() -> float:
    """This process's cgroup (v2) memory limit, or infinity: a tmpfs file counts against it."""
    try:
        text = Path("/sys/fs/cgroup/memory.max").read_text().strip()
    except OSError:
        return float("inf")
    return float("inf") if text == "max" else float(text)


def available_memory_bytes() -> float:
    """MemAvailable of /proc/meminfo, or 0 where it cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return 0.0


def ram_test_folder() -> str | None:
    """A fresh folder under /dev/shm for every temporary folder of this test session, or None when
    /dev/shm is missing or read-only, or it, the free memory or the cgroup's limit is short of
    ``RAM_FOLDER_FREE_BYTES``."""
    import tempfile

    try:
        room = os.statvfs("/dev/shm")
        if min(room.f_bavail * room.f_frsize, available_memory_bytes(), memory_limit_bytes()) < RAM_FOLDER_FREE_BYTES:
            return None
        return tempfile.mkdtemp(prefix="genreport-tests-", dir="/dev/shm")
    except OSError:
        return None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """In the first pytest process (xdist's workers inherit TMPDIR), put the session's temporary
    folders in RAM, unless the user chose where they go (``--basetemp``, TMPDIR, TEMP, TMP,
    PYTEST_DEBUG_TEMPROOT) or the run only answers --help or --version."""
    global RAM_FOLDER
    import tempfile

    if (any(os.environ.get(name) for name in TEMPORARY_FOLDER_VARIABLES) or config.option.basetemp
            or config.getoption("help", False) or config.getoption("version", False)):
        return
    RAM_FOLDER = ram_test_folder()
    if RAM_FOLDER is not None:
        os.environ.update({"TMPDIR": RAM_FOLDER, TEST_FOLDER_VARIABLE: RAM_FOLDER})
        tempfile.tempdir = None  # read TMPDIR again


def pytest_unconfigure(config: pytest.Config) -> None:
    """The RAM folder is removed after a session that passed; after a failure it is kept for a look."""
    if RAM_FOLDER is None or not os.path.isdir(RAM_FOLDER):
        return
    if getattr(config, "_genreport_exit_status", 1) == 0:
        shutil.rmtree(RAM_FOLDER, ignore_errors=True)
    else:
        sys.stderr.write(f"the tests' folders are kept in {RAM_FOLDER} (in RAM: remove it when done)\n")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config._genreport_exit_status = int(exitstatus)


from genreport.pipeline.data.fashion_mnist import DEBIAN_DATA_DIR, FILES, find_data_dir  # noqa: E402


# The smallest whole `full` run that still trains all three variants, searches, scores and reports:
# for process-level tests (signals, kill and resume, seeds and merges, chief and workers,
# determinism), which need a whole run but not the smoke preset's size. Its cost depends on the
# designs its random search draws: 17.7 s as a process of its own on the 2-core AVX-512 AMD with
# --seed 4 (32-unit designs), 28.0 s with --seed 2, whose one trial and tuned variant are the
# 256-unit design (187 GFLOP a step). So the tests pass CHEAP_SEEDS, which draw small designs.
CHEAP_SEEDS = (3, 4)  # the random trials they draw first: seed 3 (32, 64, 64 units), seed 4 (32, 32, 64)
TINY_RUN = ("--preset", "smoke", "--search", "random", "--max-trials", "1", "--train-limit", "200", "--test-limit", "40",
            "--train-tflop", "0.05", "--batch-size", "16", "--format", "html")


# Fixtures made once (most of them whole runs) and read by several tests, and the xdist group each
# of their readers joins: a worker makes its own copy of a session- or module-scoped fixture, so
# readers on both workers would make it twice.
SHARED_RUNS = {"smoke_run": "smoke", "interrupted": "interrupted", "rendered": "rendered", "user_folder": "user-models",
               "killed_after_two_epochs": "killed-backup", "reported_template": "reported",
               "unsafe_probe": "unsafe-probe", "uninterrupted": "backup-whole", "wheel": "package",
               "fresh_tensorflow": "fresh-tensorflow"}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`--dist loadgroup`), all the tests that read one shared run go to one
    worker, so the run is made once. xdist deals its groups first, largest first (its
    ``--loadscope-reorder``), then single tests in collection order; the other whole-process tests
    (marked e2e) are put first among those, so that none of them is dealt last and keeps one core
    idle while the other core finishes it."""
    for item in items:
        for fixture, group in SHARED_RUNS.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group(group))
                break
    items.sort(key=dealing_order)


def dealing_order(item: pytest.Item) -> int:
    """0 for a test of a shared run, 1 for another whole-process test, 2 for the rest (a stable sort keeps each's order)."""
    if any(fixture in getattr(item, "fixturenames", ()) for fixture in SHARED_RUNS):
        return 0
    return 1 if item.get_closest_marker("e2e") else 2


def genreport_process(*args: str, env: dict[str, str] | None = None, **popen: object) -> subprocess.Popen:
    """`genreport ARGS` in a child process of its own (its own TensorFlow thread pools), stdout and stderr piped."""
    environment = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2", **(env or {}))
    return subprocess.Popen([sys.executable, "-m", "genreport.report.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=environment, **popen)


# TensorFlow's C++ runtime writes these to stderr as it loads; they are not genreport's messages.
TF_LOG_PREFIXES = ("WARNING: All log messages", "I0000", "E0000", "W0000")


def error_lines(stderr: str) -> list[str]:
    """The non-empty stderr lines that genreport wrote (TensorFlow's start-up logs left out)."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith(TF_LOG_PREFIXES)]


@pytest.fixture(autouse=True)
def float32_dtype_policy():
    """Every test starts and ends under Keras' float32 policy: training in-process sets the
    global policy (mixed_bfloat16 on this CPU), which would otherwise leak into later tests."""
    def reset() -> None:
        keras = sys.modules.get("keras")  # tests that never load Keras stay free of it
        if keras is not None:
            keras.mixed_precision.set_dtype_policy("float32")

    reset()
    yield
    reset()


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The installed Fashion-MNIST files (`make setup` installs Debian's dataset-fashion-mnist)."""
    folder = find_data_dir(None)
    assert folder.is_dir(), f"Fashion-MNIST missing; expected under {DEBIAN_DATA_DIR}"
    return folder


def idx_images_bytes(images: np.ndarray, magic: int = 2051) -> bytes:
    """IDX3 bytes for a uint8 array of shape (n, rows, cols)."""
    n, rows, cols = images.shape
    return struct.pack(">IIII", magic, n, rows, cols) + images.astype(np.uint8).tobytes()


def idx_labels_bytes(labels: np.ndarray, magic: int = 2049) -> bytes:
    """IDX1 bytes for a uint8 label array."""
    return struct.pack(">II", magic, len(labels)) + labels.astype(np.uint8).tobytes()


def write_gz(path: Path, payload: bytes) -> Path:
    path.write_bytes(gzip.compress(payload))
    return path


@pytest.fixture
def tiny_data_dir(tmp_path: Path) -> Path:
    """A folder of four small, valid IDX files (not Fashion-MNIST, so digests differ)."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "tiny"
    folder.mkdir()
    for split, n in (("train", 50), ("test", 20)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        write_gz(folder / FILES[f"{split}_images"], idx_images_bytes(images))
        write_gz(folder / FILES[f"{split}_labels"], idx_labels_bytes(labels))
    return folder


@pytest.fixture
def copied_data_dir(tmp_path: Path, real_data_dir: Path) -> Path:
    """A writable copy of the real data set, for tests that damage one file."""
    folder = tmp_path / "data"
    shutil.copytree(real_data_dir, folder)
    return folder


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory: pytest.TempPathFactory, real_data_dir: Path) -> tuple[Path, str]:
    """`genreport full --preset smoke` run once on the real data: its output folder and stdout."""
    from click.testing import CliRunner

    from genreport.report.cli import main

    out = tmp_path_factory.mktemp("smoke") / "out"
    with explicit_collections_recorded(SMOKE_RUN_COLLECTIONS):
        result = CliRunner().invoke(main, ["full", "--preset", "smoke", "--output", str(out)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return out, result.stdout


SMOKE_RUN_COLLECTIONS: list[bool] = []  # per explicit gc.collect() of the smoke run: whether older objects were frozen


@contextlib.contextmanager
def explicit_collections_recorded(record: list[bool]) -> Iterator[None]:
    """Inside the block, each ``gc.collect()`` called from Python appends whether it skipped frozen objects."""
    import gc

    collect = gc.collect

    def recording(*args: object, **kwargs: object) -> int:
        record.append(gc.get_freeze_count() > 0)
        return collect(*args, **kwargs)

    gc.collect = recording
    try:
        yield
    finally:
        gc.collect = collect


RESULTS_MADE: dict[str, Path] = {}  # one computed results folder per set of arguments, copied for each test


def write_results_fixture(folder: Path, data_dir: Path, command_line: str = "genreport full --preset smoke", seed: int = 42,
                          sigmas: dict[str, float] | None = None, preset: str = "smoke", test_limit: int = 120) -> Path:
    """A real results folder without training, in ``folder/results``: each 'variant' blurs the real test images.

    The SSIM, statistics and samples are computed exactly as a run computes them, once per set of
    arguments in this test process; each call gets a copy of its own to change.
    """
    import atexit
    import json
    import tempfile

    key = json.dumps([str(data_dir), command_line, seed, sigmas, preset, test_limit], sort_keys=True)
    if key not in RESULTS_MADE:
        made = Path(tempfile.mkdtemp(prefix="genreport-results-")) / "out"
        atexit.register(shutil.rmtree, made.parent, True)
        RESULTS_MADE[key] = computed_results(made, data_dir, command_line, seed, sigmas, preset, test_limit)
    shutil.copytree(RESULTS_MADE[key], folder / "results")
    return folder / "results"


def computed_results(folder: Path, data_dir: Path, command_line: str, seed: int, sigmas: dict[str, float] | None,
                     preset: str, test_limit: int) -> Path:
    """What ``write_results_fixture`` copies: the results a run with these figures would write."""
    from scipy.ndimage import gaussian_filter

    from genreport.pipeline.core.config import resolve_config
    from genreport.pipeline.data.fashion_mnist import load_dataset
    from genreport.pipeline.scoring.metrics import score_reconstructions
    from genreport.pipeline.scoring.baselines import score_baselines
    from genreport.pipeline.models.catalogue import published_for
    from genreport.pipeline.results.schema import (Choice, GridCell, LayerRow, ModelRecord, SearchRecord, SearchSettings, StepPlan,
                                                    TrainingRecord, TrialRow)
    from genreport.pipeline.scoring.score import ResultsInput, sample_arrays, write_results

    config = resolve_config(preset, {"output": folder, "command_line": command_line, "seed": seed, "test_limit": test_limit})
    data = load_dataset(data_dir, train_limit=200, test_limit=test_limit, seed=1)
    sigmas = sigmas or {"base": 1.0, "modified": 0.7, "tuned": 0.5}
    recon = {v: gaussian_filter(data.x_test, sigma=(0, s, s, 0)).astype("float32") for v, s in sigmas.items()}
    scores = {v: score_reconstructions(v, data.x_test, r) for v, r in recon.items()}
    layers = (LayerRow(name="image", type="InputLayer", output_shape="28x28x1", params=0),
              LayerRow(name="reconstruction", type="Conv2D", output_shape="28x28x1", params=10))
    training = TrainingRecord(history={"loss": (0.02, 0.01), "val_loss": (0.021, 0.012)}, epochs_run=2, fractional_epochs=1.5, best_epoch=2,
                              seconds=3.0, stopped_by="compute budget", images_per_second=100.0, steps_run=6, flops=6e11, gflops_per_second=200.0,
                              budget=StepPlan(kind="compute", budget_flops=6e11, step_flops=1e11, planned_steps=6, steps_per_epoch=4, planned_epochs=1.5))
    entries = {v: ModelRecord(variant=v, params=10, layers=layers, hyperparameters={"activation": "relu"}, training=training).to_json()
               for v in sigmas}
    trials = (
        TrialRow(rank=1, trial_id="1", rung=0, activation="leakyrelu", units=32, optimizer="rmsprop", val_loss=0.01, steps=20, epochs=2.0,
                 flops=4e11, budget_flops=4e11, gflops_per_second=80.0, seconds=5.0, worker="tuner0", status="COMPLETED"),
        TrialRow(rank=2, trial_id="0", rung=0, activation="tanh", units=64, optimizer="sgd", val_loss=0.03, steps=5, epochs=0.5,
                 flops=4e11, budget_flops=4e11, gflops_per_second=90.0, seconds=6.0, worker="tuner0", status="COMPLETED"),
    )
    from genreport.pipeline.search.oracles import GRID
    from genreport.pipeline.search.trials import grid_table

    settings = SearchSettings(algorithm="grid + successive halving", rungs=1, rate=3, rung_sizes=(36,), budget="compute", first_rung_flops=4e11,
                              objective="val_loss", trial_images=100, validation_images=50, batch_size=64, seed=42, max_trials=2)
    tuning = SearchRecord(best=Choice(activation="leakyrelu", units=32, optimizer="rmsprop"), trials=trials, combinations=len(GRID), tried=2,
                          seconds=11.0, space={"activation": ("relu", "leakyrelu", "tanh"), "units": (32, 64, 128, 256),
                                               "optimizer": ("adam", "sgd", "rmsprop")}, settings=settings,
                          grid=tuple(GridCell.from_json(g) for g in grid_table([t.to_json() for t in trials])),
                          mean_image_val_loss=0.087, last_rung_fraction=0.05).to_json()
    stages = [{"name": "score", "seconds": 1.5}]
    baselines = score_baselines(data, components=(16,))
    return write_results(ResultsInput(config=config, data=data, scores=scores, baselines=baselines, samples=sample_arrays(data, scores, recon),
                                      entries=entries, tuning=tuning, stages=stages, policy="float32", started_at="2026-01-01T00:00:00+00:00",
                                      mode="full", published=published_for(list(scores))))


@pytest.fixture
def results_dir(tmp_path: Path, real_data_dir: Path) -> Path:
    """A results folder computed from the real test images (no training, no TensorFlow)."""
    return write_results_fixture(tmp_path / "out", real_data_dir)
