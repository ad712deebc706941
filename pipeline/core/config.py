"""Run settings: the three presets, the user's overrides, and the checks they must pass."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from genreport.pipeline.core.errors import ConfigError
from genreport.pipeline.models.model_size import DEFAULT_MAX_MODEL_GIB

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
    # The smallest run that still trains, searches all 36 combinations, scores and reports: tests
    # read it. Its FLOPs are what it costs: a 2-core machine without AVX-512 trains these designs
    # at about 18 GFLOP/s (benchmarks/results/smoke-redefined-2026-12-02/). Every trial is one
    # step (0.0005 TFLOP is less than one 32-unit step of 4 images); a 256-unit trial is 4 images
    # of training and 4 of validation (one batch), 0.06 TFLOP (10 of validation until 2026-12-03);
    # 4 of 20 validation images are too few for every class, so they are a seeded random 4. 200
    # training and 50 test images (400 and 100 until 2026-12-03): the chosen 256-unit design costs
    # 3.9 GFLOP a forward pass, so every image it validates on or scores counts.
    "smoke": Preset(
        train_limit=200, test_limit=50, train_tflop=0.05, epochs=1, trial_tflop=0.0005, trial_steps=1,
        rungs=1, max_trials=2, tune_train_limit=200, tune_val_limit=4, batch_size=4, patience=2,
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


# What each setting decides, as each RunConfig field's metadata, and the key lists derived from it:
ROLES = {
    "fingerprint": "decides what a checkpoint is: a resumed run reuses a checkpoint only when these match",
    "search": "decides a search trial's result: a chief and its workers must agree on these",
    "free": "may differ between seed replicates that render merges (where and how a run writes, not what it computes)",
    "scoring": "decides which test images are scored: merged results must agree on it, checkpoints do not depend on it",
    "constant": "not a command-line option: the same in every run (changing it would have to enter the fingerprint)",
}


def setting(default: Any, *roles: str) -> Any:
    """A RunConfig field with its roles (``ROLES``) as metadata."""
    unknown = set(roles) - set(ROLES)
    if not roles or unknown:
        raise ValueError(f"a setting needs roles from {sorted(ROLES)}, got {roles}")
    return dataclasses.field(default=default, metadata={"roles": frozenset(roles)})


TRAINING = ("fingerprint", "search")  # decides both a checkpoint and a search trial


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs, resolved from a preset and the command-line overrides; never changed after."""

    output: Path = setting(Path("out"), "free")
    data_dir: str | None = setting(None, "free")
    preset: str = setting("full", *TRAINING)
    budget: str = setting("compute", *TRAINING)
    schedule: str = setting("cosine", *TRAINING)
    train_tflop: float = setting(1.0, "fingerprint")
    epochs: int = setting(1, "fingerprint")
    trial_tflop: float = setting(0.01, *TRAINING)
    trial_steps: int = setting(1, *TRAINING)
    search: str = setting("halving", *TRAINING)
    rungs: int = setting(1, *TRAINING)
    halving_rate: int = setting(HALVING_RATE, *TRAINING)
    max_trials: int = setting(1, *TRAINING)
    train_limit: int | None = setting(None, *TRAINING)
    test_limit: int | None = setting(None, "scoring")
    tune_train_limit: int = setting(1000, *TRAINING)
    tune_val_limit: int = setting(100, *TRAINING)
    max_minutes: float | None = setting(None, "fingerprint")
    batch_size: int = setting(128, *TRAINING)
    patience: int = setting(3, *TRAINING)
    seed: int = setting(42, *TRAINING, "free")  # replicates differ in it by design
    seeds: tuple[int, ...] = setting((), "free")
    data_seed: int = setting(42, *TRAINING)
    precision: str = setting("auto", "fingerprint")
    formats: tuple[str, ...] = setting(FORMATS, "free")
    val_fraction: float = setting(0.1, "constant")
    command_line: str = setting("", "free")
    oracle: str | None = setting(None, "free")
    worker_timeout: float = setting(1800.0, "free")  # with --oracle: seconds without word from a worker before its trial is failed
    max_model_gib: float = setting(DEFAULT_MAX_MODEL_GIB, "free")  # the memory a checkpoint may take to score, estimated before loading

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


def settings_with_role(role: str) -> tuple[str, ...]:
    """The RunConfig fields that have ``role``, in declaration order."""
    return tuple(f.name for f in dataclasses.fields(RunConfig) if role in f.metadata["roles"])


FINGERPRINT_KEYS = settings_with_role("fingerprint")
SEARCH_SETTINGS = settings_with_role("search")
FREE_SETTINGS = frozenset(settings_with_role("free"))


def parse_formats(text: str) -> tuple[str, ...]:
    """'html,pdf' to ('html', 'pdf'), refusing unknown names."""
    names = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    unknown = [n for n in names if n not in FORMATS]
    if not names or unknown:
        raise ConfigError(f"unknown format {', '.join(unknown) or repr(text)}; choose from {', '.join(FORMATS)}")
    return tuple(dict.fromkeys(names))


OVERRIDES = frozenset({
    "output", "data_dir", "budget", "schedule", "train_tflop", "epochs", "search", "max_trials", "max_minutes", "train_limit",
    "test_limit", "batch_size", "seed", "seeds", "data_seed", "precision", "formats", "command_line", "max_model_gib",
    "oracle", "worker_timeout",
})


def resolve_config(preset: str = "full", overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """A RunConfig from a preset name and the settings the user gave (``OVERRIDES``; None means not given), checked for range."""
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = sorted(set(given) - OVERRIDES)
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]!r}")
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    check_overrides(given)
    chosen = PRESETS[preset]
    replicate_seeds = parse_seeds(given["seeds"]) if isinstance(given.get("seeds"), str) else tuple(given.get("seeds") or ())
    if replicate_seeds and "seed" in given:
        raise ConfigError("give either --seed or --seeds, not both")
    train_cap = given.get("train_limit", chosen.train_limit)
    formats = given.get("formats", FORMATS)
    return RunConfig(
        output=Path(given.get("output", "out")),
        data_dir=given.get("data_dir"),
        preset=preset,
        budget=given.get("budget", "compute"),
        schedule=given.get("schedule", "cosine"),
        train_tflop=given.get("train_tflop", chosen.train_tflop),
        epochs=given.get("epochs", chosen.epochs),
        trial_tflop=chosen.trial_tflop,
        trial_steps=chosen.trial_steps,
        search=given.get("search", "halving"),
        rungs=chosen.rungs,
        max_trials=given.get("max_trials", chosen.max_trials),
        train_limit=train_cap,
        test_limit=given.get("test_limit", chosen.test_limit),
        tune_train_limit=chosen.tune_train_limit if train_cap is None else min(chosen.tune_train_limit, train_cap),
        tune_val_limit=chosen.tune_val_limit,
        max_minutes=given.get("max_minutes"),
        batch_size=given.get("batch_size", chosen.batch_size),
        patience=chosen.patience,
        seed=replicate_seeds[0] if replicate_seeds else given.get("seed", 42),
        seeds=replicate_seeds,
        data_seed=given.get("data_seed", 42),
        precision=given.get("precision", "auto"),
        formats=parse_formats(formats) if isinstance(formats, str) else tuple(formats),
        command_line=given.get("command_line", ""),
        oracle=given.get("oracle"),
        worker_timeout=given.get("worker_timeout", 1800.0),
        max_model_gib=given.get("max_model_gib", DEFAULT_MAX_MODEL_GIB),
    )


def check_overrides(given: Mapping[str, Any]) -> None:
    """Refuse an override outside its choices or range, naming the option."""
    from genreport.pipeline.training.budget import BUDGET_KINDS

    for key, choices in (("precision", PRECISIONS), ("budget", BUDGET_KINDS), ("schedule", SCHEDULES), ("search", SEARCHES)):
        if key in given and given[key] not in choices:
            raise ConfigError(f"unknown {key} {given[key]!r}; choose from {', '.join(choices)}")
    if "max_trials" in given and given.get("search", "halving") != "random":
        raise ConfigError("--max-trials applies to --search random only (the halving search tries all 36 combinations)")
    for key, minimum in (("epochs", 1), ("max_trials", 1), ("train_limit", 20), ("test_limit", 1), ("batch_size", 1)):
        _check_positive("--" + key.replace("_", "-"), given.get(key), minimum)
    for key in ("train_tflop", "max_minutes", "max_model_gib", "worker_timeout"):
        value = given.get(key)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ConfigError(f"--{key.replace('_', '-')} must be a finite number above 0, got {value}")
    for key in ("seed", "data_seed"):
        if given.get(key) is not None and given[key] < 0:
            raise ConfigError(f"--{key.replace('_', '-')} must be 0 or more, got {given[key]}")


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
