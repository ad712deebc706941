"""The memory a ``.keras`` archive's model would take, read from its ``config.json`` before Keras builds it.

Keras allocates every variable while it builds a model from ``config.json``, before any weight is
loaded, so a small archive can ask for many gigabytes. This module walks the model description
instead: each layer is created from its entry without being built (no variables), shapes go
through the graph with ``compute_output_shape``, and each layer's weights are counted from its
class's formula. The estimate is the variables (float32) plus one scoring batch's activations at
the widest layer (its input and output together), and ``check_model_memory`` refuses a model
above the bound with one line that gives the estimate. A layer class without a formula here is
refused: the bound comes from sizes, so opening genreport to more layer classes means adding
their formulas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from genreport.pipeline.archive import ALLOWED_LAYERS
from genreport.pipeline.errors import CheckpointError

GIB = 1 << 30
DEFAULT_MAX_MODEL_GIB = 2.0
SCORING_BATCH = 512  # pipeline.evaluate.reconstruct's batch
BYTES = 4  # variables are float32 under every policy genreport uses
Shape = tuple[Any, ...]


@dataclass(frozen=True)
class ModelSize:
    """A model's weight count and its estimated memory for scoring, in bytes."""

    weights: int
    activation_values: int  # per image, at the widest layer (its input and output)

    @property
    def bytes(self) -> int:
        """Variables plus one scoring batch's activations at the widest layer, 4 bytes a value."""
        return (self.weights + self.activation_values * SCORING_BATCH) * BYTES


POLICIES = frozenset({"float32", "mixed_bfloat16", "mixed_float16", "bfloat16", "float16"})  # variables of 4 bytes or fewer


def channels(shape: Shape) -> int:
    """The channel count of a channels-last shape (``check_layer_settings`` refuses channels-first)."""
    return int(shape[-1])


def conv_weights(config: dict[str, Any], shape: Shape) -> int:
    """Kernel and bias of a Conv2D reading ``shape``."""
    kernel = math.prod(int(k) for k in config["kernel_size"])
    groups = int(config.get("groups") or 1)
    bias = int(config["filters"]) if config.get("use_bias", True) else 0
    return kernel * channels(shape) // groups * int(config["filters"]) + bias


def conv_transpose_weights(config: dict[str, Any], shape: Shape) -> int:
    """Kernel and bias of a Conv2DTranspose reading ``shape``."""
    bias = int(config["filters"]) if config.get("use_bias", True) else 0
    return math.prod(int(k) for k in config["kernel_size"]) * channels(shape) * int(config["filters"]) + bias


def batch_norm_weights(config: dict[str, Any], shape: Shape) -> int:
    """Moving mean and variance, and gamma and beta where used, over the normalised axes."""
    axes = config.get("axis", -1)
    axes = axes if isinstance(axes, list) else [axes]
    features = math.prod(int(shape[a]) for a in axes)
    return features * (2 + bool(config.get("center", True)) + bool(config.get("scale", True)))


def no_weights(config: dict[str, Any], shape: Shape) -> int:
    """Layers without variables."""
    return 0


WEIGHTED: dict[str, Callable[[dict[str, Any], Shape], int]] = {
    "Conv2D": conv_weights,
    "Conv2DTranspose": conv_transpose_weights,
    "BatchNormalization": batch_norm_weights,
}
# Every other class the archive check accepts holds no variables.
WEIGHT_FORMULAS = {**{name: no_weights for name in ALLOWED_LAYERS - set(WEIGHTED)}, **WEIGHTED}


def model_size(config: dict[str, Any], name: str) -> ModelSize:
    """The size of a functional model description (as ``pipeline.archive`` accepts it), built nowhere."""
    import keras

    produced: dict[tuple[str, int, int], Shape] = {}
    weights, widest = 0, 0
    for entry in config["config"]["layers"]:
        cls, settings, layer_name = entry["class_name"], entry["config"], entry.get("name", entry["config"].get("name"))
        if cls not in WEIGHT_FORMULAS:
            raise CheckpointError(f"{name}: genreport cannot size layer class {cls!r} before loading it")
        if cls == "InputLayer":
            shape = tuple(settings["batch_shape"])
            produced[(layer_name, 0, 0)] = shape
            continue
        check_layer_settings(settings, name, layer_name)
        layer = keras.layers.deserialize({"module": entry["module"], "class_name": cls, "config": settings})
        nodes = entry.get("inbound_nodes") or []
        if not nodes:
            raise CheckpointError(f"{name}: layer {layer_name!r} is called on nothing, so its size cannot be read from the graph")
        for node_index, node in enumerate(nodes):
            inputs = [input_shape(arg, produced, name, layer_name) for arg in node.get("args", [])]
            if len(inputs) != 1:
                raise CheckpointError(f"{name}: layer {layer_name!r} takes {len(inputs)} inputs; genreport's layers take one")
            check_build_config(entry.get("build_config"), inputs[0], name, layer_name)
            output = tuple(layer.compute_output_shape(inputs[0]))
            produced[(layer_name, node_index, 0)] = output
            if node_index == 0:
                weights += WEIGHT_FORMULAS[cls](settings, inputs[0])
            widest = max(widest, values_per_image(inputs[0]) + values_per_image(output))
    return ModelSize(weights=weights, activation_values=widest)


def check_layer_settings(settings: dict[str, Any], name: str, layer_name: str) -> None:
    """Refuse what the weight formulas do not cover: channels-first data and variables wider than 4 bytes."""
    if settings.get("data_format", "channels_last") != "channels_last":
        raise CheckpointError(f"{name}: layer {layer_name!r} uses data_format {settings.get('data_format')!r}; genreport reads channels_last only")
    policy = settings.get("dtype")
    policy_name = policy.get("config", {}).get("name") if isinstance(policy, dict) else policy
    if policy_name is not None and policy_name not in POLICIES:
        raise CheckpointError(f"{name}: layer {layer_name!r} has dtype policy {policy_name!r}, not one of {', '.join(sorted(POLICIES))}")


def check_build_config(build_config: Any, walked: Shape, name: str, layer_name: str) -> None:
    """Refuse a ``build_config`` other than the input shape the graph gives the layer.

    Keras builds a layer from its build_config (``input_shape`` or ``shapes_dict``) before it sees
    the graph: a size there that the walk did not check would be allocated unchecked.
    """
    if build_config is None:
        return
    if not isinstance(build_config, dict) or set(build_config) != {"input_shape"} or not isinstance(build_config["input_shape"], list) \
            or tuple(build_config["input_shape"]) != walked:
        raise CheckpointError(f"{name}: layer {layer_name!r} declares a build_config {str(build_config)[:120]}, but its input is {walked}")


def input_shape(arg: Any, produced: dict[tuple[str, int, int], Shape], name: str, layer_name: str) -> Shape:
    """The shape of the tensor a layer's call argument refers to, as the walk computed it."""
    history = arg.get("config", {}).get("keras_history") if isinstance(arg, dict) else None
    key = tuple(history) if isinstance(history, list) and len(history) == 3 else None
    if key not in produced:
        raise CheckpointError(f"{name}: layer {layer_name!r} reads a tensor no earlier layer makes")
    return produced[key]


def values_per_image(shape: Shape) -> int:
    """Values one image takes in a tensor of ``shape`` (0 where a dimension is unknown)."""
    if any(d is None or int(d) < 0 for d in shape[1:]):
        return 0
    return math.prod(int(d) for d in shape[1:])


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
    return size
