"""Run settings: the three presets, the user's overrides, and the checks they must pass."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genreport.pipeline.catalogue import VARIANTS  # noqa: F401  (re-exported: the variants full trains)
from genreport.pipeline.errors import ConfigError
from genreport.pipeline.model_size import DEFAULT_MAX_MODEL_GIB

PRECISIONS: tuple[str, ...] = ("auto", "float32", "bfloat16", "float16")
FORMATS: tuple[str, ...] = ("html", "pdf")


SEARCHES: tuple[str, ...] = ("halving", "random")
SCHEDULES: tuple[str, ...] = ("cosine", "plateau")
TERA = 1e12


@dataclass(frozen=True)
class Preset:
    """How much data and training a run uses; budgets are work, never seconds."""

    train_limit: int | None
    test_limit: int | None
    train_tflop: float  # --budget compute: training FLOPs of every variant, in 10^12
    epochs: int  # --budget epochs: epochs of every variant
    trial_tflop: float  # --budget compute: a first-rung search trial's FLOPs, in 10^12
    trial_steps: int  # --budget epochs: a first-rung search trial's optimizer steps
    rungs: int  # successive-halving rungs: 36 configurations, then a third each rung
    max_trials: int  # --search random
    tune_train_limit: int
    tune_val_limit: int
    batch_size: int
    patience: int


PRESETS: dict[str, Preset] = {
    "smoke": Preset(
        train_limit=2000, test_limit=500, train_tflop=0.2, epochs=1, trial_tflop=0.002, trial_steps=1,
        rungs=1, max_trials=2, tune_train_limit=1000, tune_val_limit=100, batch_size=64, patience=2,
    ),
    "quick": Preset(
        train_limit=12_000, test_limit=2000, train_tflop=4.0, epochs=4, trial_tflop=0.05, trial_steps=20,
        rungs=2, max_trials=3, tune_train_limit=3000, tune_val_limit=300, batch_size=16, patience=2,
    ),
    # Calibrated on the validation split (benchmarks/README.md): batch 16 beat 32 and 64 at equal
    # compute; 60 TFLOP a variant and a four-rung search (0.15, 0.45, 1.35, 4.05 TFLOP a trial)
    # keep `make report` under an hour on 2 cores.
    "full": Preset(
        train_limit=None, test_limit=None, train_tflop=60.0, epochs=12, trial_tflop=0.15, trial_steps=80,
        rungs=4, max_trials=6, tune_train_limit=6000, tune_val_limit=500, batch_size=16, patience=3,
    ),
}
HALVING_RATE = 3  # each rung keeps the best third and gives each survivor three times the work


@dataclass
class RunConfig:
    """Everything a run needs, resolved from a preset and the command-line overrides."""

    output: Path = Path("out")
    data_dir: str | None = None
    preset: str = "full"
    budget: str = "compute"
    schedule: str = "cosine"
    train_tflop: float = 1.0
    epochs: int = 1
    trial_tflop: float = 0.01
    trial_steps: int = 1
    search: str = "halving"
    rungs: int = 1
    halving_rate: int = HALVING_RATE
    max_trials: int = 1
    train_limit: int | None = None
    test_limit: int | None = None
    tune_train_limit: int = 1000
    tune_val_limit: int = 100
    max_minutes: float | None = None
    batch_size: int = 128
    patience: int = 3
    seed: int = 42
    seeds: tuple[int, ...] = ()
    data_seed: int = 42
    precision: str = "auto"
    formats: tuple[str, ...] = FORMATS
    val_fraction: float = 0.1
    command_line: str = ""
    oracle: str | None = None
    worker_timeout: float = 1800.0  # with --oracle: seconds without word from a worker before its trial is failed
    max_model_gib: float = DEFAULT_MAX_MODEL_GIB  # the memory a checkpoint may take to score, estimated before it is loaded

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON: the run record and the manifest."""
        data = dataclasses.asdict(self)
        data["output"] = str(self.output)
        data["formats"] = list(self.formats)
        data["seeds"] = list(self.seeds)
        return data

    @property
    def train_flops(self) -> float:
        return self.train_tflop * TERA

    @property
    def trial_flops(self) -> float:
        return self.trial_tflop * TERA


def parse_formats(text: str) -> tuple[str, ...]:
    """'html,pdf' to ('html', 'pdf'), refusing unknown names."""
    names = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    unknown = [n for n in names if n not in FORMATS]
    if not names or unknown:
        raise ConfigError(f"unknown format {', '.join(unknown) or repr(text)}; choose from {', '.join(FORMATS)}")
    return tuple(dict.fromkeys(names))


def resolve_config(
    preset: str = "full",
    *,
    output: str | Path = "out",
    data_dir: str | None = None,
    budget: str = "compute",
    schedule: str = "cosine",
    train_tflop: float | None = None,
    epochs: int | None = None,
    search: str = "halving",
    max_trials: int | None = None,
    max_minutes: float | None = None,
    train_limit: int | None = None,
    test_limit: int | None = None,
    batch_size: int | None = None,
    seed: int | None = None,
    seeds: str | tuple[int, ...] | None = None,
    data_seed: int | None = None,
    precision: str = "auto",
    formats: str | tuple[str, ...] = FORMATS,
    command_line: str = "",
    max_model_gib: float = DEFAULT_MAX_MODEL_GIB,
) -> RunConfig:
    """A RunConfig from a preset name and optional overrides, checked for range."""
    from genreport.pipeline.budget import BUDGET_KINDS

    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    if budget not in BUDGET_KINDS:
        raise ConfigError(f"unknown budget {budget!r}; choose from {', '.join(BUDGET_KINDS)}")
    if schedule not in SCHEDULES:
        raise ConfigError(f"unknown schedule {schedule!r}; choose from {', '.join(SCHEDULES)}")
    if search not in SEARCHES:
        raise ConfigError(f"unknown search {search!r}; choose from {', '.join(SEARCHES)}")
    if max_trials is not None and search != "random":
        raise ConfigError("--max-trials applies to --search random only (the halving search tries all 36 combinations)")
    _check_positive("--epochs", epochs)
    _check_positive("--max-trials", max_trials)
    _check_positive("--train-limit", train_limit, minimum=20)
    _check_positive("--test-limit", test_limit)
    _check_positive("--batch-size", batch_size)
    for option, value in (("--train-tflop", train_tflop), ("--max-minutes", max_minutes), ("--max-model-gib", max_model_gib)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{option} must be a finite number above 0, got {value}")
    for option, value in (("--seed", seed), ("--data-seed", data_seed)):
        if value is not None and value < 0:
            raise ConfigError(f"{option} must be 0 or more, got {value}")
    replicate_seeds = parse_seeds(seeds) if isinstance(seeds, str) else tuple(seeds or ())
    if replicate_seeds and seed is not None:
        raise ConfigError("give either --seed or --seeds, not both")
    chosen = PRESETS[preset]
    train_cap = train_limit if train_limit is not None else chosen.train_limit
    tune_cap = chosen.tune_train_limit if train_cap is None else min(chosen.tune_train_limit, train_cap)
    return RunConfig(
        output=Path(output),
        data_dir=data_dir,
        preset=preset,
        budget=budget,
        schedule=schedule,
        train_tflop=train_tflop if train_tflop is not None else chosen.train_tflop,
        epochs=epochs if epochs is not None else chosen.epochs,
        trial_tflop=chosen.trial_tflop,
        trial_steps=chosen.trial_steps,
        search=search,
        rungs=chosen.rungs,
        max_trials=max_trials if max_trials is not None else chosen.max_trials,
        train_limit=train_cap,
        test_limit=test_limit if test_limit is not None else chosen.test_limit,
        tune_train_limit=tune_cap,
        tune_val_limit=chosen.tune_val_limit,
        max_minutes=max_minutes,
        batch_size=batch_size if batch_size is not None else chosen.batch_size,
        patience=chosen.patience,
        seed=replicate_seeds[0] if replicate_seeds else (seed if seed is not None else 42),
        seeds=replicate_seeds,
        data_seed=data_seed if data_seed is not None else 42,
        precision=precision,
        formats=parse_formats(formats) if isinstance(formats, str) else tuple(formats),
        command_line=command_line,
        max_model_gib=max_model_gib,
    )


def parse_seeds(text: str) -> tuple[int, ...]:
    """'42,7,1' to (42, 7, 1): distinct seeds of 0 or more, in the order given."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    try:
        seeds = tuple(int(part) for part in parts)
    except ValueError:
        raise ConfigError(f"--seeds {text!r} is not a comma-separated list of whole numbers") from None
    if not seeds:
        raise ConfigError("--seeds needs at least one seed")
    if any(s < 0 for s in seeds):
        raise ConfigError(f"--seeds must be 0 or more, got {text!r}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {text!r} repeats a seed")
    return seeds


def _check_positive(option: str, value: int | None, minimum: int = 1) -> None:
    if value is not None and value < minimum:
        raise ConfigError(f"{option} must be at least {minimum}, got {value}")
