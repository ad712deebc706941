"""Training budgets counted in work: FLOPs from layer shapes, and the steps a budget buys.

The rule (stated in the report and the README): a model's forward pass costs the
multiply-adds of its convolutions, two FLOPs each, read from the layer shapes,

- ``Conv2D``:          2 · H_out · W_out · k_h · k_w · C_in · C_out
- ``Conv2DTranspose``: 2 · H_in  · W_in  · k_h · k_w · C_in · C_out

and, for the models users bring to ``eval-only``, the same rule for the other kernels
(``COUNTED_CLASSES``): convolutions of 1 to 3 dimensions and their transposes (over output and
input positions; grouped ones divided by the groups), depthwise (C_in · multiplier filters) and
separable ones (depthwise plus the 1x1 pointwise), and ``Dense`` (2 · C_in · units per position).
Everything else (bias, batch normalization, activations, pooling, padding, merging) is left out;
in our models it is under 1% of the convolutions. One training step on one image is counted as three
forward passes (the forward pass, and the backward pass's two products: gradients of the
inputs and of the weights), so a step on a batch of ``b`` images costs ``3 · b · forward``.

Under ``--budget compute`` every variant gets the same training FLOPs and runs as many optimizer
steps as they buy; under ``--budget epochs`` every variant runs the same number of epochs. Both
are counts of work, so the same command and seed give the same steps on any machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator

BUDGET_KINDS: tuple[str, ...] = ("compute", "epochs")
BACKWARD_FACTOR = 3  # one training step = forward + backward (twice the forward's products)


CONV_CLASSES = frozenset({"Conv1D", "Conv2D", "Conv3D", "Convolution1D", "Convolution2D", "Convolution3D"})
CONV_TRANSPOSE_CLASSES = frozenset({"Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "Convolution1DTranspose", "Convolution2DTranspose", "Convolution3DTranspose"})
DEPTHWISE_CLASSES = frozenset({"DepthwiseConv1D", "DepthwiseConv2D"})
SEPARABLE_CLASSES = frozenset({"SeparableConv1D", "SeparableConv2D", "SeparableConvolution1D", "SeparableConvolution2D"})
COUNTED_CLASSES = frozenset({"Dense", *CONV_CLASSES, *CONV_TRANSPOSE_CLASSES, *DEPTHWISE_CLASSES, *SEPARABLE_CLASSES})


def graph_calls(model: Any) -> Iterator[tuple[Any, list[Any], list[Any]]]:
    """(layer, input tensors, output tensors) of every layer call in ``model``'s graph, nested models' calls in place of theirs.

    Read from the graph Keras runs (a Sequential's inner functional graph), not from each layer's
    node list: a Sequential model is rebuilt as layers are added, and every rebuild leaves nodes behind.
    """
    graph = getattr(model, "_functional", None) or model
    by_depth = getattr(graph, "_nodes_by_depth", None)
    if by_depth is None:  # not a graph network: the layers' own calls
        calls = [(layer, node) for layer in model.layers for node in getattr(layer, "_inbound_nodes", [])]
    else:
        calls = [(node.operation, node) for depth in sorted(by_depth, reverse=True) for node in by_depth[depth]]
    for layer, node in calls:
        if hasattr(layer, "layers") and layer.layers:
            yield from graph_calls(layer)
        elif node.input_tensors:
            yield layer, list(node.input_tensors), list(node.outputs)


def call_flops(layer: Any, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> int:
    """Forward FLOPs of one call of a counted layer on one image: two per multiply-add of its kernel."""
    kind = type(layer).__name__
    if getattr(layer, "data_format", "channels_last") == "channels_first":  # channels then positions
        in_shape, out_shape = (in_shape[0], *in_shape[2:], in_shape[1]), (out_shape[0], *out_shape[2:], out_shape[1])
    c_in, c_out = int(in_shape[-1]), int(out_shape[-1])
    if kind == "Dense":  # every position of the leading axes multiplies a c_in x units matrix
        return 2 * math.prod(int(d) for d in out_shape[1:-1]) * c_in * c_out
    kernel = math.prod(int(k) for k in layer.kernel_size)
    if kind in CONV_CLASSES:
        groups = int(getattr(layer, "groups", 1) or 1)
        return 2 * math.prod(int(d) for d in out_shape[1:-1]) * kernel * c_in // groups * c_out
    if kind in CONV_TRANSPOSE_CLASSES:  # every input pixel scatters a kernel
        return 2 * math.prod(int(d) for d in in_shape[1:-1]) * kernel * c_in * c_out
    multiplier = int(layer.depth_multiplier)
    depthwise = 2 * math.prod(int(d) for d in out_shape[1:-1]) * kernel * c_in * multiplier
    if kind in DEPTHWISE_CLASSES:
        return depthwise
    return depthwise + 2 * math.prod(int(d) for d in out_shape[1:-1]) * c_in * multiplier * c_out


def forward_flops(model: Any) -> int:
    """Forward FLOPs of ``model`` on one image: ``call_flops`` of every counted layer call in its graph."""
    return sum(call_flops(layer, tuple(inputs[0].shape), tuple(outputs[0].shape)) for layer, inputs, outputs in graph_calls(model)
               if type(layer).__name__ in COUNTED_CLASSES)


def counted_classes(model: Any) -> dict[str, list[str]]:
    """Which of the model's layer classes the FLOPs count (``COUNTED_CLASSES``), and which they leave out."""
    def classes(m: Any) -> set[str]:
        return set().union(*[classes(l) if hasattr(l, "layers") and l.layers else {type(l).__name__} for l in m.layers])
    present = classes(model) - {"InputLayer"}
    return {"counted": sorted(present & COUNTED_CLASSES), "left_out": sorted(present - COUNTED_CLASSES)}


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


def rung_work(first: float, rate: int, rung: int) -> float:
    """The work a successive-halving trial gets on rung ``rung`` (0 is the first): the first rung's, times ``rate`` per rung."""
    return first * rate ** rung


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
