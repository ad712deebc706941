"""Presets, overrides and their range checks."""

from __future__ import annotations

import pytest

from genreport.pipeline.core.config import PRESETS, parse_formats, resolve_config
from genreport.pipeline.core.errors import ConfigError


def test_smoke_preset_is_small() -> None:
    config = resolve_config("smoke")
    assert config.train_limit == 200 and config.test_limit == 50
    assert config.budget == "compute" and config.search == "halving" and config.rungs == 1
    assert config.train_flops == pytest.approx(0.05e12)
    assert (config.batch_size, config.tune_train_limit, config.tune_val_limit) == (4, 200, 4)


def test_full_preset_uses_all_data() -> None:
    config = resolve_config("full")
    assert config.train_limit is None and config.test_limit is None


def test_overrides_win_over_the_preset() -> None:
    config = resolve_config("smoke", {"budget": "epochs", "epochs": 3, "search": "random", "max_trials": 4, "batch_size": 16, "seed": 7, "test_limit": 30})
    assert (config.budget, config.epochs, config.search) == ("epochs", 3, "random")
    assert (config.max_trials, config.batch_size, config.seed, config.test_limit) == (4, 16, 7, 30)


def test_the_full_preset_budgets_are_work_not_seconds() -> None:
    config = resolve_config("full")
    assert config.budget == "compute" and config.max_minutes is None
    assert config.rungs >= 2 and config.search == "halving"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epochs": -1}, "--epochs must be at least 1"),
        ({"max_trials": 0, "search": "random"}, "--max-trials"),
        ({"max_trials": 3}, "--max-trials applies to --search random only"),
        ({"budget": "seconds"}, "unknown budget"),
        ({"search": "bayes"}, "unknown search"),
        ({"train_tflop": 0.0}, "--train-tflop must be a finite number above 0"),
        ({"train_tflop": float("inf")}, "--train-tflop must be a finite number above 0"),
        ({"max_minutes": -1.0}, "--max-minutes must be a finite number above 0"),
        ({"max_minutes": float("nan")}, "--max-minutes must be a finite number above 0"),
        ({"train_limit": 5}, "--train-limit"),
        ({"batch_size": 0}, "--batch-size"),
        ({"seed": -3}, "--seed"),
        ({"precision": "int8"}, "unknown precision"),
    ],
)
def test_out_of_range_options_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_config("smoke", kwargs)


def test_unknown_preset_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown preset 'huge'"):
        resolve_config("huge")


def test_formats_are_parsed_and_checked() -> None:
    assert parse_formats("pdf, html") == ("pdf", "html")
    with pytest.raises(ConfigError, match="docx"):
        parse_formats("html,docx")
    assert set(PRESETS) == {"smoke", "quick", "full"}


def test_every_setting_declares_what_it_decides() -> None:
    import dataclasses

    from genreport.pipeline.core.config import ROLES, RunConfig

    for field in dataclasses.fields(RunConfig):
        roles = field.metadata.get("roles")
        assert roles and roles <= set(ROLES), field.name


def test_the_key_lists_come_from_the_roles() -> None:
    from genreport.pipeline.core.config import FINGERPRINT_KEYS, FREE_SETTINGS, SEARCH_SETTINGS

    assert "train_tflop" in FINGERPRINT_KEYS and "train_tflop" not in SEARCH_SETTINGS  # the final trainings' budget, not a trial's
    assert "trial_tflop" in SEARCH_SETTINGS and "test_limit" not in FINGERPRINT_KEYS  # scoring never decides a checkpoint
    assert "seed" in FREE_SETTINGS and "seed" in FINGERPRINT_KEYS and "preset" not in FREE_SETTINGS


def test_a_resolved_config_cannot_be_changed() -> None:
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        resolve_config("smoke").seed = 1  # type: ignore[misc]


def test_an_unknown_setting_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown setting 'epoch'"):
        resolve_config("smoke", {"epoch": 3})
