"""Which models a run is about: genreport's own three, or the ones a user brings, and the comparisons made.

This is the one place that spells genreport's variants (``base``, ``modified``, ``tuned``): the
order ``full`` trains them in, their labels, the mean test SSIM the source study published for
each, and the three comparisons its report makes. Every other module takes the model names it
is given, so a report holds any number of models. A published figure belongs to genreport's
design, so it is shown only for checkpoints genreport's manifest vouches for (``published_for``),
never for a user's file that happens to be called ``base.keras``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple

from genreport.pipeline.core.errors import ConfigError


@dataclass(frozen=True)
class GenreportModel:
    """One of the designs ``full`` trains, with the hyper-parameters it is built with (None: the search chooses them)."""

    name: str
    label: str
    published_ssim: float
    hyperparameters: dict[str, Any] | None = None


BASE, MODIFIED, TUNED = "base", "modified", "tuned"
GENREPORT_MODELS: tuple[GenreportModel, ...] = (
    GenreportModel(BASE, "Base", 0.925, {"activation": "relu", "filters": [32, 64], "optimizer": "adam"}),
    GenreportModel(MODIFIED, "Modified", 0.9421, {"activation": "relu", "units": 32, "optimizer": "adam"}),
    GenreportModel(TUNED, "Tuned modified", 0.9436),
)
FIXED_HYPERPARAMETERS: dict[str, dict[str, Any]] = {m.name: m.hyperparameters for m in GENREPORT_MODELS if m.hyperparameters}
VARIANTS: tuple[str, ...] = tuple(m.name for m in GENREPORT_MODELS)
LABELS: dict[str, str] = {m.name: m.label for m in GENREPORT_MODELS}
PUBLISHED_SSIM: dict[str, float] = {m.name: m.published_ssim for m in GENREPORT_MODELS}
# The comparisons a report of genreport's own variants makes: each design step, then both together.
VARIANT_COMPARISONS: tuple[tuple[str, str], ...] = ((BASE, MODIFIED), (MODIFIED, TUNED), (BASE, TUNED))

class Design(NamedTuple):
    """One point of the tuned variant's search space (a tuple, so it also keys and unpacks like one)."""

    activation: str
    units: int
    optimizer: str

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> "Design":
        """The design a trial, a grid row or a choice records (units may come back from a CSV as text)."""
        return cls(values["activation"], int(values["units"]), values["optimizer"])


MAX_MODELS = 16
NAME_PATTERN = re.compile(r"(?=.*[^\W_])[\w.\-+]{1,64}")  # at least one letter or digit: never "." or ".."


def label_of(name: str) -> str:
    """The name a report prints for a model: genreport's label for its own variants, else the name itself."""
    return LABELS.get(name, name)


def canonical_order(names: list[str]) -> list[str]:
    """``names`` with genreport's variants first in training order, then the others as given."""
    return [v for v in VARIANTS if v in names] + [n for n in names if n not in VARIANTS]


def comparisons_for(names: list[str], reference: str | None = None) -> list[tuple[str, str]]:
    """The paired comparisons a report of ``names`` makes, as (first, second) with differences second minus first.

    genreport's three variants (and no reference asked for) keep the report's three design steps;
    any other set compares every model with the reference (the first name unless given).
    """
    if reference is None and set(names) <= set(VARIANTS):
        return [(a, b) for a, b in VARIANT_COMPARISONS if a in names and b in names]
    if not names:
        return []
    reference = names[0] if reference is None else reference
    if reference not in names:
        raise ConfigError(f"--reference {reference!r} is not one of the models: {', '.join(names)}")
    return [(reference, other) for other in names if other != reference]


def published_for(vouched: list[str]) -> dict[str, float]:
    """The published figures of the models genreport's manifest vouches for (names of its own variants)."""
    return {name: PUBLISHED_SSIM[name] for name in vouched if name in PUBLISHED_SSIM}


def check_model_name(name: str, source: str) -> str:
    """``name`` when it can name a model (letters, digits, ``_.-+``, 1 to 64 characters); else a one-line ConfigError."""
    if not NAME_PATTERN.fullmatch(name):
        shown = name if name.isprintable() else repr(name)
        raise ConfigError(f"{source}: the model name {shown!r} is not 1 to 64 letters, digits or '_.-+' "
                          "(rename the file or give --name NAME=PATH)")
    return name
