"""A results folder as typed values: the two records, the per-image table and the sample images.

``store.load_results`` builds a ``Results`` after every check; ``report`` and a merge read it
through these attributes and methods, never through column or member names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genreport.pipeline.results.schema import Metrics, RunRecord

@dataclass(frozen=True)
class PerImageTable:
    """``per_image.csv``: one row per test image (per seed, when merged), numbers as arrays, class names as a list."""

    columns: dict[str, Any]

    @property
    def rows(self) -> int:
        return len(self.columns["index"])

    @property
    def index(self) -> np.ndarray:
        return self.columns["index"]

    @property
    def test_index(self) -> np.ndarray:
        return self.columns["test_index"]

    @property
    def labels(self) -> np.ndarray:
        return self.columns["label"]

    @property
    def class_names(self) -> list[str]:
        return self.columns["class_name"]

    @property
    def seeds(self) -> np.ndarray | None:
        """The seed of each row of merged replicates; None for one run's table."""
        return self.columns.get("seed")

    def has(self, metric: str, model: str) -> bool:
        return f"{metric}_{model}" in self.columns

    def metric(self, metric: str, model: str) -> np.ndarray:
        """One model's per-image values of ``metric`` ('ssim', 'ssim_gaussian', 'psnr' or 'mse')."""
        return self.columns[f"{metric}_{model}"]

    def ssim(self, model: str) -> np.ndarray:
        return self.metric("ssim", model)

    def rows_where(self, keep: np.ndarray) -> PerImageTable:
        """The table of the rows where ``keep`` is true."""
        return PerImageTable({name: (values[keep] if isinstance(values, np.ndarray) else [v for v, kept in zip(values, keep) if kept])
                              for name, values in self.columns.items()})

    def of_seed(self, seed: int | None) -> PerImageTable:
        """The rows of one seed (the whole table when it has no seed column or ``seed`` is None)."""
        if seed is None or self.seeds is None:
            return self
        return self.rows_where(np.asarray(self.seeds) == seed)


@dataclass(frozen=True)
class Samples:
    """``samples.npz``: the test rows the report shows, their originals and each model's reconstructions."""

    grid: np.ndarray  # rows of the per-class grid
    shown: np.ndarray  # every row with an image below, in the order of ``originals``
    originals: np.ndarray
    worst: dict[str, np.ndarray]
    best: dict[str, np.ndarray]
    reconstructions: dict[str, np.ndarray]

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], models: list[str]) -> Samples:
        return cls(grid=arrays["grid"], shown=arrays["shown"], originals=arrays["originals"],
                   worst={m: arrays[f"worst_{m}"] for m in models}, best={m: arrays[f"best_{m}"] for m in models},
                   reconstructions={m: arrays[f"recon_{m}"] for m in models})

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The members of ``samples.npz``, named as a run writes them."""
        arrays = {"grid": self.grid}
        for m in self.worst:
            arrays.update({f"worst_{m}": self.worst[m], f"best_{m}": self.best[m]})
        arrays.update({"shown": self.shown, "originals": self.originals})
        arrays.update({f"recon_{m}": r for m, r in self.reconstructions.items()})
        return arrays


@dataclass(frozen=True)
class Results:
    """Everything under a results folder, checked: what a report is rendered from and what a merge merges."""

    metrics: Metrics
    run: RunRecord
    per_image: PerImageTable
    samples: Samples
    folder: str
    trials: list[dict[str, str]] = field(default_factory=list)  # trials.csv's rows as written, for a merge to copy

    @property
    def models(self) -> list[str]:
        """The models scored, in the order they were scored (genreport's variants in training order)."""
        return list(self.metrics.models)
