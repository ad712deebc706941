"""Run settings: the three presets, the user's overrides, and the checks they must pass."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError

VARIANTS: tuple[str, ...] = ("base", "modified", "tuned")
PRECISIONS: tuple[str, ...] = ("auto", "float32", "bfloat16", "float16")
FORMATS: tuple[str, ...] = ("html", "pdf")


@dataclass(frozen=True)
class Preset:
    """How much data and training a run uses."""

    train_limit: int | None
    test_limit: int | None
    epochs: dict[str, int]
    tune_epochs: int
    max_trials: int
    tune_train_limit: int
    batch_size: int
    patience: int
    trial_seconds: float | None = None
    train_seconds: float | None = None


PRESETS: dict[str, Preset] = {
    "smoke": Preset(
        train_limit=2000, test_limit=500, epochs={"base": 1, "modified": 1, "tuned": 1},
        tune_epochs=1, max_trials=2, tune_train_limit=1000, batch_size=64, patience=2,
        trial_seconds=20, train_seconds=45,
    ),
    "quick": Preset(
        train_limit=12_000, test_limit=2000, epochs={"base": 4, "modified": 4, "tuned": 4},
        tune_epochs=2, max_trials=3, tune_train_limit=3000, batch_size=32, patience=2,
        trial_seconds=60, train_seconds=300,
    ),
    "full": Preset(
        train_limit=None, test_limit=None, epochs={"base": 10, "modified": 16, "tuned": 16},
        tune_epochs=3, max_trials=6, tune_train_limit=6000, batch_size=32, patience=3,
        trial_seconds=75, train_seconds=1290,
    ),
}


@dataclass
class RunConfig:
    """Everything a run needs, resolved from a preset and the command-line overrides."""

    output: Path = Path("out")
    data_dir: str | None = None
    preset: str = "full"
    epochs: dict[str, int] = field(default_factory=dict)
    tune_epochs: int = 1
    max_trials: int = 1
    train_limit: int | None = None
    test_limit: int | None = None
    tune_train_limit: int = 1000
    trial_seconds: float | None = None
    train_seconds: float | None = None
    batch_size: int = 128
    patience: int = 3
    seed: int = 42
    precision: str = "auto"
    formats: tuple[str, ...] = FORMATS
    val_fraction: float = 0.1
    command_line: str = ""
    oracle: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON: the run record and the manifest."""
        data = dataclasses.asdict(self)
        data["output"] = str(self.output)
        data["formats"] = list(self.formats)
        return data


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
    epochs: int | None = None,
    max_trials: int | None = None,
    train_limit: int | None = None,
    test_limit: int | None = None,
    batch_size: int | None = None,
    seed: int | None = None,
    precision: str = "auto",
    formats: str | tuple[str, ...] = FORMATS,
    command_line: str = "",
) -> RunConfig:
    """A RunConfig from a preset name and optional overrides, checked for range."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    _check_positive("--epochs", epochs)
    _check_positive("--max-trials", max_trials)
    _check_positive("--train-limit", train_limit, minimum=20)
    _check_positive("--test-limit", test_limit)
    _check_positive("--batch-size", batch_size)
    if seed is not None and seed < 0:
        raise ConfigError(f"--seed must be 0 or more, got {seed}")
    chosen = PRESETS[preset]
    per_variant = {v: epochs if epochs is not None else chosen.epochs[v] for v in VARIANTS}
    train_cap = train_limit if train_limit is not None else chosen.train_limit
    tune_cap = chosen.tune_train_limit if train_cap is None else min(chosen.tune_train_limit, train_cap)
    return RunConfig(
        output=Path(output),
        data_dir=data_dir,
        preset=preset,
        epochs=per_variant,
        tune_epochs=epochs if epochs is not None else chosen.tune_epochs,
        max_trials=max_trials if max_trials is not None else chosen.max_trials,
        train_limit=train_cap,
        test_limit=test_limit if test_limit is not None else chosen.test_limit,
        tune_train_limit=tune_cap,
        trial_seconds=chosen.trial_seconds,
        train_seconds=chosen.train_seconds,
        batch_size=batch_size if batch_size is not None else chosen.batch_size,
        patience=chosen.patience,
        seed=seed if seed is not None else 42,
        precision=precision,
        formats=parse_formats(formats) if isinstance(formats, str) else tuple(formats),
        command_line=command_line,
    )


def _check_positive(option: str, value: int | None, minimum: int = 1) -> None:
    if value is not None and value < minimum:
        raise ConfigError(f"{option} must be at least {minimum}, got {value}")
