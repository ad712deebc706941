"""Presets, overrides and their range checks."""

from __future__ import annotations

import pytest

from pipeline.config import PRESETS, parse_formats, resolve_config
from pipeline.errors import ConfigError


def test_smoke_preset_is_small() -> None:
    config = resolve_config("smoke")
    assert config.train_limit == 2000 and config.test_limit == 500
    assert set(config.epochs.values()) == {1} and config.max_trials == 2


def test_full_preset_uses_all_data() -> None:
    config = resolve_config("full")
    assert config.train_limit is None and config.test_limit is None


def test_overrides_win_over_the_preset() -> None:
    config = resolve_config("smoke", epochs=3, max_trials=4, batch_size=16, seed=7, test_limit=50)
    assert config.epochs == {"base": 3, "modified": 3, "tuned": 3}
    assert (config.max_trials, config.batch_size, config.seed, config.test_limit) == (4, 16, 7, 50)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epochs": -1}, "--epochs must be at least 1"),
        ({"max_trials": 0}, "--max-trials"),
        ({"train_limit": 5}, "--train-limit"),
        ({"batch_size": 0}, "--batch-size"),
        ({"seed": -3}, "--seed"),
        ({"precision": "int8"}, "unknown precision"),
    ],
)
def test_out_of_range_options_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_config("smoke", **kwargs)


def test_unknown_preset_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown preset 'huge'"):
        resolve_config("huge")


def test_formats_are_parsed_and_checked() -> None:
    assert parse_formats("pdf, html") == ("pdf", "html")
    with pytest.raises(ConfigError, match="docx"):
        parse_formats("html,docx")
    assert set(PRESETS) == {"smoke", "quick", "full"}
