"""The memory a ``.keras`` archive's model would take, and its image shapes, read before any variable exists.

Keras allocates every variable while it builds a model from ``config.json``, before any weight is
loaded, so a small archive can ask for many gigabytes. This module builds the model from the
description (already checked by ``pipeline.models.archive``) inside ``keras.StatelessScope`` with
variable initialisation off: Keras creates every variable object with its shape and dtype but
allocates none of them, and shapes go through the graph symbolically. What is counted is exactly
what ``load_model`` would allocate, for every layer class, with no formula per class:

- the variables, at their dtype's size;
- one scoring batch's activations at the widest layer call (its inputs and outputs together).

``check_model_memory`` refuses a model above the bound with one line that gives the estimate,
and refuses one whose input or output is not a Fashion-MNIST image (``IMAGE_SHAPES``).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

from genreport.pipeline.core.errors import CheckpointError

GIB = 1 << 30
DEFAULT_MAX_MODEL_GIB = 2.0
SCORING_BATCH = 512  # pipeline.evaluate.reconstruct's batch
IMAGE_SHAPES: tuple[tuple[int, ...], ...] = ((28, 28, 1), (28, 28), (784,))
# The pixel scales a model may have been trained on (--pixel-range): test images are scaled to one and back.
PIXEL_RANGES: dict[str, tuple[float, float]] = {"0,1": (0.0, 1.0), "-1,1": (-1.0, 1.0), "0,255": (0.0, 255.0)}
Shape = tuple[Any, ...]


@dataclass(frozen=True)
class ModelSize:
    """A model's variables and widest activations, its input and output shapes (no batch axis), and its estimated memory for scoring."""

    weights: int
    weight_bytes: int
    activation_values: int  # per image, at the widest layer call (its inputs and outputs)
    input_shape: Shape = (28, 28, 1)
    output_shape: Shape = (28, 28, 1)

    @property
    def bytes(self) -> int:
        """Variables plus one scoring batch's float32 activations at the widest layer."""
        return self.weight_bytes + self.activation_values * SCORING_BATCH * 4


def first_line(exc: BaseException) -> str:
    """An exception's first line of text, short, without terminal colour codes."""
    text = str(exc).replace("\x1b[1m", "").replace("\x1b[0m", "").strip()
    line = next((ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("Exception encountered")), "")
    return (line or type(exc).__name__)[:200]


def stateless_model(config: dict[str, Any], name: str) -> Any:
    """The model ``config`` describes, with every variable declared and none allocated."""
    import keras

    # A copy, since Keras pops entries while it builds; no compile_config, as load_model(compile=False) does.
    config = {**copy.deepcopy(config), "compile_config": None}
    try:
        with keras.StatelessScope(initialize_variables=False):
            return keras.saving.deserialize_keras_object(config, safe_mode=True)
    except RecursionError:
        raise CheckpointError(f"{name}: its model is nested too deeply to be built") from None
    except Exception as exc:  # Keras raises many types for a model it cannot build; each means "refused"
        raise CheckpointError(f"{name}: its model cannot be built from config.json: {first_line(exc)}") from None


def dtype_bytes(dtype: Any) -> int:
    """Bytes per value of a Keras variable's dtype."""
    import numpy as np

    return int(np.dtype(str(dtype).replace("bfloat16", "float16")).itemsize)


def values_per_image(shape: Shape) -> int:
    """Values one image takes in a tensor of ``shape`` (0 where a dimension is unknown)."""
    if any(d is None or int(d) < 0 for d in shape[1:]):
        return 0
    return math.prod(int(d) for d in shape[1:])


def one_shape(shape: Any, side: str, name: str) -> Shape:
    """A model's single input or output shape, without the batch axis."""
    if isinstance(shape, list) or not isinstance(shape, tuple) or (shape and isinstance(shape[0], (tuple, list))):
        raise CheckpointError(f"{name}: the model has several {side}s; genreport scores a model of one image in and one out")
    return tuple(shape[1:])


def fits(shape: Shape, image: Shape) -> bool:
    """Whether a model shape (None for any size) accepts an image of shape ``image``."""
    return len(shape) == len(image) and all(d is None or int(d) == i for d, i in zip(shape, image))


def image_shape(shape: Shape) -> Shape | None:
    """The Fashion-MNIST image shape a model shape takes, or None."""
    return next((image for image in IMAGE_SHAPES if fits(shape, image)), None)


def check_image_shapes(input_shape: Shape, output_shape: Shape, name: str) -> tuple[Shape, Shape]:
    """The image shapes a model reads and writes, or a one-line refusal naming both."""
    accepted = " or ".join(str(s) for s in IMAGE_SHAPES)
    shown_in, shown_out = tuple(input_shape), tuple(output_shape)
    taken = image_shape(input_shape)
    if taken is None:
        raise CheckpointError(f"{name}: input shape {shown_in} is not a 28x28 image ({accepted})")
    given = image_shape(output_shape)
    if given is None:
        raise CheckpointError(f"{name}: output shape {shown_out} is not an image of the input's size: "
                              f"the model maps {shown_in} to {shown_out}, and a reconstruction must be {accepted}")
    return taken, given


def model_size(config: dict[str, Any], name: str) -> ModelSize:
    """The size and image shapes of a model description (as ``pipeline.models.archive`` accepts it), allocated nowhere."""
    import keras

    from genreport.pipeline.training.budget import graph_calls

    try:
        model = stateless_model(config, name)
        if not model.built or not getattr(model, "inputs", None):
            raise CheckpointError(f"{name}: the model declares no input shape, so its size cannot be known before it is built")
        weights = sum(math.prod(int(d) for d in v.shape) for v in model.weights)
        weight_bytes = sum(math.prod(int(d) for d in v.shape) * dtype_bytes(v.dtype) for v in model.weights)
        widest = max((sum(values_per_image(tuple(t.shape)) for t in inputs + outputs) for _, inputs, outputs in graph_calls(model)),
                     default=0)
        shapes = one_shape(model.input_shape, "input", name), one_shape(model.output_shape, "output", name)
    finally:
        # The variables exist only as declarations that Keras keeps in a list to initialise at the
        # next stateless scope it leaves; clearing the session drops them before anything does.
        keras.backend.clear_session()
    return ModelSize(weights=weights, weight_bytes=weight_bytes, activation_values=widest, input_shape=shapes[0], output_shape=shapes[1])


def check_model_memory(config: dict[str, Any], name: str, max_gib: float = DEFAULT_MAX_MODEL_GIB) -> ModelSize:
    """The model's size, or a one-line refusal when scoring it would take more than ``max_gib``."""
    try:
        size = model_size(config, name)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise CheckpointError(f"{name}: its layer sizes cannot be read from config.json ({type(exc).__name__})") from None
    if size.bytes > max_gib * GIB:
        raise CheckpointError(
            f"{name} would take about {size.bytes / GIB:.1f} GiB to score ({size.weights:,} weights and a batch of {SCORING_BATCH} "
            f"images), more than the {max_gib:g} GiB allowed (--max-model-gib)")
    check_image_shapes(size.input_shape, size.output_shape, name)
    return size
