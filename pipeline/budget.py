"""Training budgets counted in work: FLOPs from layer shapes, and the steps a budget buys.

The rule (stated in the report and the README): a model's forward pass costs the
multiply-adds of its convolutions, two FLOPs each, read from the layer shapes,

- ``Conv2D``:          2 · H_out · W_out · k_h · k_w · C_in · C_out
- ``Conv2DTranspose``: 2 · H_in  · W_in  · k_h · k_w · C_in · C_out

Everything else (bias, batch normalization, activations, pooling, padding) is left out; in our
models it is under 1% of the convolutions. One training step on one image is counted as three
forward passes (the forward pass, and the backward pass's two products: gradients of the
inputs and of the weights), so a step on a batch of ``b`` images costs ``3 · b · forward``.

Under ``--budget compute`` every variant gets the same training FLOPs and runs as many optimizer
steps as they buy; under ``--budget epochs`` every variant runs the same number of epochs. Both
are counts of work, so the same command and seed give the same steps on any machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

BUDGET_KINDS: tuple[str, ...] = ("compute", "epochs")
BACKWARD_FACTOR = 3  # one training step = forward + backward (twice the forward's products)


def conv2d_flops(out_h: int, out_w: int, kernel: tuple[int, int], c_in: int, c_out: int) -> int:
    """FLOPs of one Conv2D on one image: two per multiply-add."""
    return 2 * out_h * out_w * kernel[0] * kernel[1] * c_in * c_out


def conv2d_transpose_flops(in_h: int, in_w: int, kernel: tuple[int, int], c_in: int, c_out: int) -> int:
    """FLOPs of one Conv2DTranspose on one image: every input pixel scatters a kernel."""
    return 2 * in_h * in_w * kernel[0] * kernel[1] * c_in * c_out


def layer_flops(layer: Any) -> int:
    """Forward FLOPs of one Keras layer on one image (0 for layers without convolutions)."""
    kind = type(layer).__name__
    if kind not in ("Conv2D", "Conv2DTranspose"):
        return 0
    in_shape = tuple(layer.input.shape)
    out_shape = tuple(layer.output.shape)
    kernel = tuple(layer.kernel_size)
    c_in, c_out = int(in_shape[-1]), int(out_shape[-1])
    if kind == "Conv2D":
        return conv2d_flops(int(out_shape[1]), int(out_shape[2]), kernel, c_in, c_out)
    return conv2d_transpose_flops(int(in_shape[1]), int(in_shape[2]), kernel, c_in, c_out)


def forward_flops(model: Any) -> int:
    """Forward FLOPs of ``model`` on one image, summed over its layers."""
    return sum(layer_flops(layer) for layer in model.layers)


def train_step_flops(model: Any, batch_size: int) -> int:
    """FLOPs of one optimizer step on a batch of ``batch_size`` images."""
    return BACKWARD_FACTOR * batch_size * forward_flops(model)


@dataclass(frozen=True)
class StepPlan:
    """How a budget turns into optimizer steps and Keras epochs for one training."""

    kind: str
    budget_flops: float | None
    step_flops: int
    steps: int
    steps_per_epoch: int

    @property
    def epochs(self) -> int:
        """Keras epochs to ask for: whole passes, the last one possibly cut by the step count."""
        return max(1, math.ceil(self.steps / self.steps_per_epoch))

    @property
    def fractional_epochs(self) -> float:
        return self.steps / self.steps_per_epoch

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "budget_flops": self.budget_flops,
            "step_flops": self.step_flops,
            "planned_steps": self.steps,
            "steps_per_epoch": self.steps_per_epoch,
            "planned_epochs": round(self.fractional_epochs, 3),
        }


def steps_per_epoch(images: int, batch_size: int) -> int:
    """Optimizer steps in one pass over ``images`` (the last batch may be short)."""
    return max(1, math.ceil(images / batch_size))


def plan_steps(
    model: Any,
    *,
    kind: str,
    images: int,
    batch_size: int,
    budget_flops: float | None = None,
    epochs: int | None = None,
) -> StepPlan:
    """The steps a training of ``model`` on ``images`` images may run.

    ``compute``: as many whole steps as ``budget_flops`` buys (at least one).
    ``epochs``: ``epochs`` whole passes over the images.
    """
    per_epoch = steps_per_epoch(images, batch_size)
    step = train_step_flops(model, batch_size)
    if kind == "compute":
        if not budget_flops or budget_flops <= 0:
            raise ValueError("a compute budget needs a positive number of FLOPs")
        steps = max(1, int(budget_flops // step))
    elif kind == "epochs":
        if not epochs or epochs < 1:
            raise ValueError("an epoch budget needs at least one epoch")
        steps = epochs * per_epoch
    else:
        raise ValueError(f"unknown budget {kind!r}; choose from {', '.join(BUDGET_KINDS)}")
    return StepPlan(kind=kind, budget_flops=budget_flops if kind == "compute" else None, step_flops=step, steps=steps, steps_per_epoch=per_epoch)
