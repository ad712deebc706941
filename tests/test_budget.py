"""Counting work: FLOPs from layer shapes against hand counts, and the steps a budget buys."""

from __future__ import annotations

import pytest

from genreport.pipeline.training.budget import forward_flops, plan_steps, train_step_flops
from genreport.pipeline.models.builders import build_base, build_modified


def conv(h: int, w: int, k: int, c_in: int, c_out: int) -> int:
    return 2 * h * w * k * k * c_in * c_out


def test_base_forward_flops_match_a_hand_count() -> None:
    hand = (
        conv(28, 28, 3, 1, 32)  # enc_conv1
        + conv(14, 14, 3, 32, 64)  # enc_conv2 (after the first pooling)
        + conv(7, 7, 3, 64, 64)  # dec_conv1
        + conv(14, 14, 3, 64, 32)  # dec_conv2 (after the first upsampling)
        + conv(28, 28, 3, 32, 1)  # reconstruction
    )
    assert hand == 18_966_528
    assert forward_flops(build_base()) == hand


def test_modified_forward_flops_match_a_hand_count() -> None:
    hand = (
        conv(32, 32, 3, 1, 32) + conv(16, 16, 3, 32, 64) + conv(8, 8, 3, 64, 128)  # encoder on the padded 32x32 input
        + conv(4, 4, 4, 128, 128) + conv(8, 8, 4, 128, 64) + conv(16, 16, 4, 64, 32)  # transposed: over the input's H·W
        + conv(28, 28, 3, 32, 1)  # reconstruction after cropping
    )
    assert hand == 61_858_816
    assert forward_flops(build_modified(32)) == hand


@pytest.mark.parametrize("units", [32, 64, 128, 256])
def test_modified_flops_grow_with_the_square_of_the_units(units: int) -> None:
    # 59,392·u² from the convolutions between blocks, 32,544·u from the first and the last.
    assert forward_flops(build_modified(units)) == 59_392 * units**2 + 32_544 * units


def test_a_training_step_counts_three_forward_passes_per_image() -> None:
    model = build_base()
    assert train_step_flops(model, 32) == 3 * 32 * 18_966_528


def test_a_compute_budget_buys_whole_steps_and_at_least_one() -> None:
    model = build_modified(32)
    step = train_step_flops(model, 32)
    plan = plan_steps(model, kind="compute", images=54_000, batch_size=32, budget_flops=10.9 * step)
    assert plan.steps == 10 and plan.steps_per_epoch == 1688 and plan.epochs == 1
    assert plan_steps(model, kind="compute", images=100, batch_size=32, budget_flops=1.0).steps == 1


def test_equal_compute_gives_a_cheaper_design_proportionally_more_steps() -> None:
    budget = 70e12
    base = plan_steps(build_base(), kind="compute", images=54_000, batch_size=32, budget_flops=budget)
    modified = plan_steps(build_modified(32), kind="compute", images=54_000, batch_size=32, budget_flops=budget)
    assert base.steps * base.step_flops <= budget < (base.steps + 1) * base.step_flops
    assert base.steps / modified.steps == pytest.approx(61_858_816 / 18_966_528, rel=1e-3)


def test_an_epoch_budget_is_whole_passes() -> None:
    plan = plan_steps(build_base(), kind="epochs", images=1000, batch_size=64, epochs=3)
    assert (plan.steps, plan.steps_per_epoch, plan.epochs) == (48, 16, 3)


def test_unknown_or_empty_budgets_are_refused() -> None:
    with pytest.raises(ValueError):
        plan_steps(build_base(), kind="seconds", images=10, batch_size=2)
    with pytest.raises(ValueError):
        plan_steps(build_base(), kind="compute", images=10, batch_size=2, budget_flops=0)


def test_a_negative_compute_budget_is_refused() -> None:
    with pytest.raises(ValueError, match="positive number of FLOPs"):
        plan_steps(build_base(), kind="compute", images=10, batch_size=2, budget_flops=-1e12)
