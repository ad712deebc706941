"""What a ``.keras`` archive may ask Keras to build, checked from its ``config.json`` first.

An archive is read as a zip and its model description held against Keras' own building
blocks, before ``keras.saving.load_model`` sees it: a Sequential or Functional model (nested
ones too) of built-in ``keras.layers`` classes an image autoencoder uses, with Keras'
initializers, regularizers and constraints and built-in activation names. Anything that could
run code or read files (``Lambda``, custom or registered objects, ``TFSMLayer``, lookup layers
with vocabulary files, wrappers of other frameworks) is refused with one line naming the
checkpoint. Sizes are not bounded here, by class or by setting: ``pipeline.models.model_size``
estimates the memory the model would take from the same description, before any variable exists.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Iterator

from genreport.pipeline.core.errors import CheckpointError

MAX_ARCHIVE_BYTES = 512 << 20  # on disk, and all members decompressed together
MAX_CONFIG_BYTES = 4 << 20
MAX_LAYERS = 512  # all layers, nested models' included

CONVOLUTIONS = frozenset({
    "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
    "Convolution1D", "Convolution2D", "Convolution3D", "Convolution1DTranspose", "Convolution2DTranspose",
    "Convolution3DTranspose", "SeparableConv1D", "SeparableConv2D", "SeparableConvolution1D", "SeparableConvolution2D",
    "DepthwiseConv1D", "DepthwiseConv2D",
})
POOLING = frozenset(
    {f"{kind}{d}D" for kind in ("MaxPooling", "AveragePooling", "MaxPool", "AvgPool", "GlobalMaxPooling", "GlobalAveragePooling",
                                "GlobalMaxPool", "GlobalAvgPool") for d in (1, 2, 3)}
)
RESHAPING = frozenset(
    {f"{kind}{d}D" for kind in ("UpSampling", "ZeroPadding", "Cropping") for d in (1, 2, 3)}
    | {"Flatten", "Reshape", "Permute", "RepeatVector", "Resizing", "Rescaling", "CenterCrop"}
)
NORMALIZATION = frozenset({"BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization", "RMSNormalization"})
REGULARIZATION = frozenset({"Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout",
                            "AlphaDropout", "ActivityRegularization"})
ACTIVATION_LAYERS = frozenset({"Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax"})
MERGING = frozenset({"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"})
ACCEPTED_LAYERS = (frozenset({"InputLayer", "Dense", "Identity"}) | CONVOLUTIONS | POOLING | RESHAPING | NORMALIZATION
                   | REGULARIZATION | ACTIVATION_LAYERS | MERGING)
MODEL_CLASSES = frozenset({("keras", "Sequential"), ("keras.src.models.sequential", "Sequential"),
                           ("keras.src.models.functional", "Functional"), ("keras.models", "Functional"), ("keras", "Functional")})
ACTIVATIONS = frozenset({
    "linear", "relu", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "swish", "hard_silu", "hard_swish", "mish",
    "sigmoid", "hard_sigmoid", "log_sigmoid", "sparse_sigmoid", "tanh", "hard_tanh", "tanh_shrink", "softmax", "log_softmax",
    "softplus", "softsign", "sparse_plus", "squareplus", "exponential", "hard_shrink", "soft_shrink",
})
PARTS = {
    "keras.initializers": frozenset({"GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal", "Zeros",
                                     "Ones", "Constant", "RandomNormal", "RandomUniform", "TruncatedNormal", "VarianceScaling",
                                     "Orthogonal", "OrthogonalInitializer", "Identity", "IdentityInitializer"}),
    "keras.regularizers": frozenset({"L1", "L2", "L1L2", "OrthogonalRegularizer"}),
    "keras.constraints": frozenset({"MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm"}),
}
# Objects allowed anywhere in the model description, as (module, class_name).
OBJECTS = frozenset(
    {("keras.layers", name) for name in ACCEPTED_LAYERS}
    | {(module, name) for module, names in PARTS.items() for name in names}
    | MODEL_CLASSES
    | {("keras", "DTypePolicy"), ("keras", "FloatDTypePolicy"), (None, "__keras_tensor__"), (None, "__tuple__")}
)
# compile_config is ignored when loading with compile=False; still only Keras' own classes.
COMPILE_MODULES = frozenset({"keras.optimizers", "keras.optimizers.schedules", "keras.losses", "keras.metrics"})


def refused(name: str, reason: str) -> CheckpointError:
    """The one-line error for an archive refused before loading (the same words Keras' refusals get)."""
    return CheckpointError(f"{name} could not be loaded safely: {reason}")


def check_archive(path: Path) -> dict[str, Any]:
    """The archive's parsed ``config.json``, once its size and every object in it are acceptable."""
    path = Path(path)
    if path.stat().st_size > MAX_ARCHIVE_BYTES:
        raise refused(shown(path), f"it is {path.stat().st_size} bytes, more than the {MAX_ARCHIVE_BYTES} a genreport checkpoint may have")
    config = read_config(path)
    try:
        check_model_config(config, shown(path))
    except RecursionError:
        raise refused(shown(path), "config.json is nested too deeply for a genreport model") from None
    return config


def shown(path: Path) -> str:
    """A file name fit for a one-line message: as it is when printable, else quoted with repr."""
    name = Path(path).name
    return name if name.isprintable() else repr(name)


def read_config(path: Path) -> Any:
    """The JSON in the archive's ``config.json``, read without extracting anything else."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            total = sum(info.file_size for info in members)
            if total > MAX_ARCHIVE_BYTES:
                raise refused(shown(path), f"it expands to {total} bytes, more than the {MAX_ARCHIVE_BYTES} a genreport checkpoint may have")
            names = [m.filename for m in members]
            if len(set(names)) != len(names):
                # zipfile (and so Keras) reads the last of several same-named members: a check of
                # the first would pass a config Keras never reads.
                raise refused(shown(path), "it holds two members of the same name")
            if "config.json" not in names:
                raise refused(shown(path), "it holds no config.json, so it is not a Keras 3 archive")
            info = archive.getinfo("config.json")
            if info.file_size > MAX_CONFIG_BYTES:
                raise refused(shown(path), f"its config.json is {info.file_size} bytes, more than {MAX_CONFIG_BYTES}")
            text = archive.read(info)
        return json.loads(text)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RecursionError) as exc:  # ValueError: bad JSON or UTF-8
        raise refused(shown(path), f"its config.json is unreadable ({type(exc).__name__})") from None


def object_key(obj: dict[str, Any]) -> tuple[str | None, str | None]:
    """A serialised object's (module, class_name), each text or None; any other type becomes a key no list holds."""
    def text(value: Any) -> str | None:
        return value if value is None or isinstance(value, str) else f"<{type(value).__name__}>"

    return text(obj.get("module")), text(obj.get("class_name"))


def printable(value: Any) -> str:
    """A value from config.json fit for a one-line message: short, printable."""
    text = value if isinstance(value, str) else repr(value)
    return (text if text.isprintable() else repr(text))[:60]


def check_model_config(config: Any, name: str) -> None:
    """Refuse a model description that is not a Sequential or Functional model of accepted Keras objects."""
    if not isinstance(config, dict) or object_key(config) not in MODEL_CLASSES \
            or config.get("registered_name") not in (None, config.get("class_name")):
        found = printable(config.get("class_name")) if isinstance(config, dict) else type(config).__name__
        custom = isinstance(config, dict) and config.get("registered_name") not in (None, config.get("class_name"))
        raise refused(name, f"the model is a {found!r}{' registered as a custom object' if custom else ''}, "
                            "not a Keras Sequential or Functional model")
    layer_entries = list(layers_in(config, name))
    if not 1 <= len(layer_entries) <= MAX_LAYERS:
        raise refused(name, f"the model must hold 1 to {MAX_LAYERS} layers, nested models' included")
    for layer in layer_entries:
        check_layer(layer, name)
    for obj, in_compile in objects_in(config):
        check_object(obj, in_compile, name)


def layers_in(model: dict[str, Any], name: str) -> Iterator[dict[str, Any]]:
    """Every layer entry of a model description, nested models' layers in place of the nested model."""
    inner = model.get("config")
    layer_list = inner.get("layers") if isinstance(inner, dict) else None
    if not isinstance(layer_list, list):
        raise refused(name, f"model {printable(model.get('class_name'))!r} lists no layers")
    for layer in layer_list:
        if isinstance(layer, dict) and object_key(layer) in MODEL_CLASSES:
            yield from layers_in(layer, name)
        else:
            yield layer


def check_layer(layer: Any, name: str) -> None:
    """Refuse a layer of a class outside ``ACCEPTED_LAYERS``, a registered custom object, or an unknown activation."""
    if not isinstance(layer, dict) or not isinstance(layer.get("config"), dict):
        raise refused(name, "a layer entry is not a Keras layer description")
    module, cls = object_key(layer)
    if module != "keras.layers" or cls not in ACCEPTED_LAYERS or layer.get("registered_name") not in (None, cls):
        raise refused(name, f"layer class {printable(cls)!r} is not a built-in Keras layer genreport accepts "
                            "(it could run code or read files, or it is no part of an image autoencoder)")
    activation = layer["config"].get("activation")
    if activation is None or (isinstance(activation, str) and activation in ACTIVATIONS):
        return
    if isinstance(activation, dict) and object_key(activation) in {("keras.layers", a) for a in ACTIVATION_LAYERS}:
        return  # an activation given as a layer (activation=layers.LeakyReLU(0.2)); objects_in checks it like any layer
    shown_activation = printable(activation.get("class_name") if isinstance(activation, dict) else activation)
    raise refused(name, f"layer {printable(layer['config'].get('name'))!r} uses activation {shown_activation!r}, "
                        "not one of Keras' built-in activations or activation layers")


def check_object(obj: dict[str, Any], in_compile: bool, name: str) -> None:
    """Refuse a serialised object that is neither an allowed layer part nor a Keras optimizer or loss."""
    key = object_key(obj)
    if key in OBJECTS and obj.get("registered_name") in (None, key[1]):
        return
    if in_compile and key[0] in COMPILE_MODULES and isinstance(key[1], str) and key[1].isidentifier() and obj.get("registered_name") is None:
        return
    raise refused(name, f"the model names object {printable(key[1])!r} from {printable(key[0])!r}, which genreport does not accept")


def objects_in(value: Any, in_compile: bool = False) -> Iterator[tuple[dict[str, Any], bool]]:
    """Every dict with a 'class_name' inside ``value``, and whether it sits in compile_config."""
    if isinstance(value, dict):
        if "class_name" in value:
            yield value, in_compile
        for key, item in value.items():
            yield from objects_in(item, in_compile or key == "compile_config")
    elif isinstance(value, list):
        for item in value:
            yield from objects_in(item, in_compile)
