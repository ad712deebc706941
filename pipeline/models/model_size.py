"""The memory a ``.keras`` archive's model would take, and its image shapes, read before any variable exists.

Keras allocates every variable while it builds a model from ``config.json``, before any weight is
loaded, so a small archive can ask for many gigabytes. This module builds the model from the
description (already checked by ``pipeline.models.archive``) inside ``keras.StatelessScope`` with
variable initialisation off: Keras creates every variable object with its shape and dtype but
allocates none of them, and shapes go through the graph symbolically. What is counted is exactly
what ``load_model`` would allocate, for every layer class, with no formula per class:

- the variables, at their dtype's size;
- one scoring batch's activations at the moment the most are alive, for an executor that runs
  every layer as soon as its inputs exist: a tensor lives from the call that makes it to the last
  call that reads it (a nested model adds its own peak); every tensor at its dtype's size.

A model whose input takes images of any size (``None`` dimensions, a fully convolutional model)
is sized, and its FLOPs counted, at the 28x28 image it will be fed; a layer whose output size is
still unknown then (a nested model built for any size) is refused, since it cannot be bounded.

``check_model_memory`` refuses a model above the bound with one line that gives the estimate,
and refuses one whose input or output is not a Fashion-MNIST image (``IMAGE_SHAPES``).
"""

from __future__ import annotations

import copy
import io
import math
import struct
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any, BinaryIO

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
    """A model's variables and peak activations, its input and output shapes (no batch axis), FLOPs, and its estimated memory."""

    weights: int
    weight_bytes: int
    activation_bytes: int  # per image, at the moment the most activations are alive
    input_shape: Shape = (28, 28, 1)
    output_shape: Shape = (28, 28, 1)
    forward_flops: int = 0
    flops_count: dict[str, list[str]] | None = None

    @property
    def bytes(self) -> int:
        """Variables plus one scoring batch's activations at their peak."""
        return self.weight_bytes + self.activation_bytes * SCORING_BATCH


CAUSE_MARKERS = ("Error encountered during deserialization:", "Exception encountered:")


def first_line(exc: BaseException) -> str:
    """An exception's cause in one short line, without terminal colour codes: where Keras wraps an inner error
    ("could not be deserialized properly ... Exception encountered: ..."), the inner one."""
    text = str(exc).replace("\x1b[1m", "").replace("\x1b[0m", "").strip()
    for marker in CAUSE_MARKERS:
        if marker in text:
            text = text.rsplit(marker, 1)[1].strip()
            break
    line = next((ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("Exception encountered")), "")
    return (line or type(exc).__name__)[:200]


def with_image_input(config: dict[str, Any], name: str) -> dict[str, Any]:
    """A copy of the model description whose input takes exactly a 28x28 image (its None dimensions filled in).

    A copy, since Keras pops entries while it builds; without compile_config, as load_model(compile=False) does.
    """
    config = {**copy.deepcopy(config), "compile_config": None}
    inner = config.get("config") if isinstance(config.get("config"), dict) else {}
    entries = [e for e in inner.get("layers") or [] if isinstance(e, dict) and e.get("class_name") == "InputLayer"]
    named = {str(ref[0]) for ref in flat_refs(inner.get("input_layers"))}
    fed = [e for e in entries if e.get("name", (e.get("config") or {}).get("name")) in named] if named else entries[:1]
    shapes = [e["config"] for e in fed if isinstance(e.get("config"), dict)]
    if config.get("class_name") == "Sequential" and not entries and isinstance(inner.get("build_input_shape"), list):
        shapes = [inner]
        key = "build_input_shape"
    else:
        key = "batch_shape"
    for holder in shapes:
        shape = holder.get(key)
        if isinstance(shape, list) and len(shape) >= 2:
            taken = image_shape(tuple(shape[1:]))
            if taken is not None:
                holder[key] = [shape[0], *taken]
    return config


def flat_refs(value: Any) -> list[list[Any]]:
    """The [layer name, node, tensor] references in a functional config's ``input_layers`` (one or a list of them)."""
    if isinstance(value, list) and value and isinstance(value[0], str):
        return [value]
    return [ref for item in value for ref in flat_refs(item)] if isinstance(value, list) else []


def stateless_model(config: dict[str, Any], name: str) -> Any:
    """The model ``config`` describes, fed 28x28 images, with every variable declared and none allocated."""
    import keras

    try:
        config = with_image_input(config, name)
        with keras.StatelessScope(initialize_variables=False):
            return keras.saving.deserialize_keras_object(config, safe_mode=True)
    except RecursionError:
        raise CheckpointError(f"{name}: its model is nested too deeply to be built") from None
    except Exception as exc:  # Keras raises many types for a model it cannot build; each means "refused"
        raise CheckpointError(f"{name}: its model cannot be built from config.json: {first_line(exc)}") from None


def dtype_bytes(dtype: Any) -> int:
    """Bytes per value of a Keras variable's or tensor's dtype."""
    import numpy as np

    return int(np.dtype(str(dtype).replace("bfloat16", "float16")).itemsize)


def tensor_bytes(tensor: Any, name: str) -> int:
    """Bytes one image takes in a symbolic tensor; a refusal when a dimension is unknown."""
    shape = tuple(tensor.shape)
    if any(d is None for d in shape[1:]):
        raise CheckpointError(f"{name}: a layer's output has an unknown size {shape} even for 28x28 images (a nested model built "
                              "for inputs of any size?), so its memory cannot be bounded before loading")
    return math.prod(int(d) for d in shape[1:]) * dtype_bytes(tensor.dtype)


def inner_bytes(layer: Any, node: Any) -> int:
    """Bytes per image a layer call holds inside it besides its inputs and outputs: a separable convolution's depthwise
    result (its output's positions x input channels x depth multiplier)."""
    from genreport.pipeline.training.budget import SEPARABLE_CLASSES

    if type(layer).__name__ not in SEPARABLE_CLASSES or not node.outputs or not node.input_tensors:
        return 0
    out, given = tuple(node.outputs[0].shape), tuple(node.input_tensors[0].shape)
    first = getattr(layer, "data_format", "channels_last") == "channels_first"
    positions = math.prod(int(d) for d in (out[2:] if first else out[1:-1]))
    channels = int(given[1] if first else given[-1])
    return positions * channels * int(layer.depth_multiplier) * dtype_bytes(node.outputs[0].dtype)


class Liveness:
    """The tensors of a graph with nested graphs inlined (as ``predict``'s one traced function runs them): the level each is
    made at, the last level that reads it, and its bytes per image; see ``peak_activation_bytes``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.made_at: dict[int, int] = {}
        self.last_read: dict[int, int] = {}
        self.sizes: dict[int, int] = {}
        self.extra: dict[int, int] = {}
        self.alias: dict[int, int] = {}
        self.inlined: set[int] = set()

    def key(self, tensor: Any) -> int:
        return self.alias.get(id(tensor), id(tensor))

    def add(self, level: int, tensor: Any) -> None:
        self.made_at[id(tensor)], self.sizes[id(tensor)] = level, tensor_bytes(tensor, self.name)

    def walk(self, model: Any) -> None:
        """Register every tensor of ``model``'s graph; its inputs must be registered (or aliased) already, unless it is the top."""
        graph = getattr(model, "_functional", None) or model
        by_depth = getattr(graph, "_nodes_by_depth", None)
        if by_depth is None:
            raise CheckpointError(f"{self.name}: the model has no graph of layer calls to size")
        for node in [node for depth in sorted(by_depth, reverse=True) for node in by_depth[depth]]:  # producers first
            self.call(node)

    def call(self, node: Any) -> None:
        layer, inputs = node.operation, [self.key(t) for t in node.input_tensors]
        if not inputs:  # an input layer: level 0, or the outer tensor it stands for
            for t in node.outputs:
                if id(t) not in self.alias:
                    self.add(0, t)
            return
        level = 1 + max(self.made_at[k] for k in inputs)
        for k in inputs:
            self.last_read[k] = max(self.last_read.get(k, level), level)
        inner = getattr(layer, "_functional", None) or layer
        if getattr(layer, "layers", None) and id(layer) not in self.inlined and getattr(inner, "inputs", None):
            self.inlined.add(id(layer))  # inline it once; a second call of the same model counts its own peak at its level
            for inner_input, k in zip(inner.inputs, inputs):
                self.alias[id(inner_input)] = k
            self.walk(layer)
            for outer, inner_output in zip(node.outputs, inner.outputs):
                self.alias[id(outer)] = self.key(inner_output)
            return
        if getattr(layer, "layers", None):
            self.extra[level] = self.extra.get(level, 0) + peak_activation_bytes(layer, self.name)
        self.extra[level] = self.extra.get(level, 0) + inner_bytes(layer, node)
        for t in node.outputs:
            self.add(level, t)

    def peak(self, outputs: list[Any]) -> int:
        end = 1 + max(self.made_at.values(), default=0)
        for t in outputs:
            self.last_read[self.key(t)] = end
        return max((sum(size for k, size in self.sizes.items() if self.made_at[k] <= level <= self.last_read.get(k, self.made_at[k]))
                    + self.extra.get(level, 0) for level in range(end + 1)), default=0)


def peak_activation_bytes(model: Any, name: str) -> int:
    """Bytes per image alive at once at the worst point of ``model``'s graph, for an executor that runs every layer as early as it can.

    Nested models are inlined. A layer call's level is one more than its inputs' (the graph's
    inputs are level 0); a tensor is alive from its level to that of its last reader (the graph's
    outputs to the end), so branches that wait for a merge all count together; a separable
    convolution adds its depthwise result at its level.
    """
    liveness = Liveness(name)
    liveness.walk(model)
    return liveness.peak(list((getattr(model, "_functional", None) or model).outputs))


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
    """The size, image shapes and forward FLOPs of a model description (as ``pipeline.models.archive`` accepts it), allocated nowhere."""
    import keras

    from genreport.pipeline.training.budget import counted_classes, forward_flops

    try:
        model = stateless_model(config, name)
        if not model.built or not getattr(model, "inputs", None):
            raise CheckpointError(f"{name}: the model declares no input shape, so its size cannot be known before it is built")
        shapes = one_shape(model.input_shape, "input", name), one_shape(model.output_shape, "output", name)
        weights = sum(math.prod(int(d) for d in v.shape) for v in model.weights)
        weight_bytes = sum(math.prod(int(d) for d in v.shape) * dtype_bytes(v.dtype) for v in model.weights)
        activations = peak_activation_bytes(model, name)
        flops, counted = forward_flops(model), counted_classes(model)
    finally:
        # The variables exist only as declarations that Keras keeps in a list to initialise at the
        # next stateless scope it leaves; clearing the session drops them before anything does.
        # Its full garbage collection is needed too: it frees the model scored before this one
        # (Keras models sit in reference cycles) before this one loads. Without it (368e5b6, taken
        # back) three 376 MB checkpoints peaked at 2514 MiB instead of 2123 MiB while scoring.
        keras.backend.clear_session()
    return ModelSize(weights=weights, weight_bytes=weight_bytes, activation_bytes=activations, input_shape=shapes[0],
                     output_shape=shapes[1], forward_flops=flops, flops_count=counted)


class StoredMember(io.RawIOBase):
    """A stored (uncompressed) zip member's bytes, read in place from the archive with random access.

    h5py seeks back and forth through a file's metadata, and ``zipfile``'s member reader answers
    every backward seek by reading the member again from its start: walking a 265 MB
    ``model.weights.h5`` took 2.4 s that way, against milliseconds in place.
    """

    def __init__(self, handle: BinaryIO, start: int, size: int) -> None:
        super().__init__()
        self._handle, self._start, self._size, self._position = handle, start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        wanted = max(0, min(len(buffer), self._size - self._position))
        self._handle.seek(self._start + self._position)
        data = self._handle.read(wanted)
        buffer[:len(data)] = data
        self._position += len(data)
        return len(data)


LOCAL_HEADER = struct.Struct("<4s22xHH")  # a zip member's local header: signature, ..., name and extra field lengths


def stored_member(handle: BinaryIO, info: zipfile.ZipInfo) -> StoredMember | None:
    """The member ``info`` of the zip open as ``handle``, read in place; None (zipfile's own reader, then) when
    it is compressed, encrypted or patched, its sizes disagree, or its local header is not the one the directory names."""
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x61 or info.compress_size != info.file_size:
        return None
    handle.seek(info.header_offset)
    header = handle.read(LOCAL_HEADER.size)
    if len(header) != LOCAL_HEADER.size:
        return None
    signature, name_length, extra_length = LOCAL_HEADER.unpack(header)
    if signature != b"PK\x03\x04" or handle.read(name_length) != info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437"):
        return None
    return StoredMember(handle, info.header_offset + LOCAL_HEADER.size + name_length + extra_length, info.file_size)


def check_weights_file(path: Any, name: str, max_gib: float) -> None:
    """Refuse an archive whose ``model.weights.h5`` declares more array bytes than the bound, before Keras reads any.

    Keras reads each stored weight whole (``np.array(dataset)``) before it compares its shape with
    the variable's, and a compressed dataset of fill values takes a few bytes on disk for any size.
    """
    import h5py

    total = 0

    def visit(_: str, item: Any) -> None:
        nonlocal total
        if isinstance(item, h5py.Dataset):
            total += math.prod(int(d) for d in (item.shape or ())) * int(item.dtype.itemsize)

    try:
        with open(path, "rb") as handle, zipfile.ZipFile(handle) as archive:
            if "model.weights.h5" not in archive.namelist():
                return
            info = archive.getinfo("model.weights.h5")
            with stored_member(handle, info) or archive.open(info) as member, h5py.File(member, "r") as weights:
                weights.visititems(visit)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise CheckpointError(f"{name}: its model.weights.h5 is unreadable ({type(exc).__name__})") from None
    if total > max_gib * GIB:
        raise CheckpointError(f"{name}: its model.weights.h5 declares {total / GIB:.1f} GiB of arrays, more than the {max_gib:g} GiB "
                              "allowed (--max-model-gib)")


def check_model_memory(config: dict[str, Any], name: str, max_gib: float = DEFAULT_MAX_MODEL_GIB) -> ModelSize:
    """The model's size, or a one-line refusal when scoring it would take more than ``max_gib``."""
    try:
        size = model_size(config, name)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise CheckpointError(f"{name}: its layer sizes cannot be read from config.json ({type(exc).__name__}: {first_line(exc)})") from None
    if size.bytes > max_gib * GIB:
        raise CheckpointError(
            f"{name} would take about {size.bytes / GIB:.1f} GiB to score ({size.weights:,} weights and a batch of {SCORING_BATCH} "
            f"images), more than the {max_gib:g} GiB allowed (--max-model-gib)")
    check_image_shapes(size.input_shape, size.output_shape, name)
    return size
