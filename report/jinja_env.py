"""The one Jinja environment: strict undefined values, autoescape, and number filters."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

from markupsafe import Markup
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape


def templates_dir() -> Path:
    """The folder of templates: $GENREPORT_TEMPLATES, else ``templates/`` beside the package."""
    override = os.environ.get("GENREPORT_TEMPLATES")
    return Path(override) if override else Path(__file__).resolve().parent.parent / "templates"


def fixed(value: float | None, digits: int = 4) -> str:
    """A number with ``digits`` decimals; a dash for missing values."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def signed(value: float | None, digits: int = 4) -> str:
    """A number with an explicit sign (a true minus sign for negatives)."""
    if value is None:
        return "–"
    return f"{value:+.{digits}f}".replace("-", "−")


def percent(value: float | None, digits: int = 1) -> str:
    """A share in [0, 1] as a percentage."""
    return "–" if value is None else f"{100.0 * value:.{digits}f}%"


def pvalue(value: float | None) -> str:
    """A p-value the way papers write it."""
    if value is None:
        return "–"
    if value < 0.001:
        return "p < 0.001"
    return f"p = {value:.3f}"


def duration(seconds: float | None) -> str:
    """Seconds as '42.0 s', '12 min 5 s' or '1 h 3 min'."""
    if seconds is None:
        return "–"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def thousands(value: int | float | None) -> str:
    """An integer with thin-space thousands separators."""
    return "–" if value is None else f"{int(value):,}".replace(",", "\u2009")


# C0 controls but tab and newline, DEL, C1 controls, zero-width characters, line and paragraph
# separators, the byte-order mark, and the bidirectional marks, embeddings, overrides and isolates
# that make text display in another order than it is stored.
UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def printable(value: Any) -> Any:
    """Every value a template prints, with control and bidirectional-override characters dropped."""
    return UNPRINTABLE.sub("", value) if isinstance(value, str) and not isinstance(value, Markup) else value


def make_environment() -> Environment:
    """The Jinja environment every template is rendered with."""
    env = Environment(
        loader=FileSystemLoader(str(templates_dir())),
        autoescape=select_autoescape(enabled_extensions=("html", "j2", "svg"), default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=printable,
    )
    env.filters.update(fixed=fixed, signed=signed, percent=percent, pvalue=pvalue, duration=duration, thousands=thousands)
    return env
