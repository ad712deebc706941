"""What every pipeline shares: the stage clock, the run context and outcome, the data, the settings fingerprint and what a run writes."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from genreport.pipeline.core.config import FINGERPRINT_KEYS, RunConfig
from genreport.pipeline.data.fashion_mnist import Dataset, load_dataset
from genreport.pipeline.core.progress import Progress, Stage


@dataclass
class StageClock:
    """Says when each stage starts and ends, and keeps the durations."""

    progress: Progress
    stages: list[dict[str, Any]] = field(default_factory=list)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the stage and record the process's peak resident memory so far when it ends.

        The high-water mark is never reset (a reset would also hide the run's peak from
        ``/usr/bin/time`` and ``getrusage``), so the stage whose value rises is the one that set it.
        """
        from genreport.pipeline.core.environment import peak_memory_gib
        from genreport.pipeline.core.interrupts import raise_if_stopped

        raise_if_stopped()
        self.progress(Stage(name))
        started = time.monotonic()
        yield
        seconds = time.monotonic() - started
        self.stages.append({"name": name, "seconds": round(seconds, 2), "peak_rss_gib": peak_memory_gib()})
        self.progress(Stage(name, seconds))


@dataclass
class RunOutcome:
    """Where a run wrote its results, and its headline figures."""

    output: Path
    results_dir: Path
    mean_ssim: dict[str, float]
    seconds: float


@dataclass
class RunContext:
    """What every stage of one run shares: settings, data, precision, records and the clock."""

    config: RunConfig
    data: Dataset
    policy: str
    manifest: dict[str, Any]
    clock: StageClock
    run_info: dict[str, Any] = field(default_factory=dict)
    keras_verbose: int = 2  # 0 silent (-q), 1 Keras' live bar (a terminal), 2 one line an epoch (a log)

    @property
    def progress(self) -> Progress:
        return self.clock.progress

    @property
    def checkpoints_dir(self) -> Path:
        return self.config.output / "checkpoints"


def load_data(config: RunConfig) -> Dataset:
    """The data set at the configuration's scale."""
    return load_dataset(
        config.data_dir,
        train_limit=config.train_limit,
        test_limit=config.test_limit,
        val_fraction=config.val_fraction,
        seed=config.data_seed,
    )


def config_fingerprint(config: RunConfig, data: Dataset, policy: str) -> dict[str, Any]:
    """The settings that decide what a checkpoint is; a resumed run must match them."""
    from genreport.pipeline import __version__

    settings = config.to_dict()
    return {**{key: settings[key] for key in FINGERPRINT_KEYS}, "policy": policy, "genreport": __version__,
            "data_digests": data.digests}


RUN_FOLDERS = ("checkpoints", "tuner", "results", "logs")  # what a single run of `full` writes into OUT


def report_files(config: RunConfig) -> tuple[str, ...]:
    """The report files a run writes into OUT."""
    return tuple(f"report.{kind}" for kind in config.formats)
