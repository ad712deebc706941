"""What a ``.keras`` archive may ask Keras to build, checked from its ``config.json`` first.

genreport's checkpoints are functional models of a dozen layer classes (``pipeline.models``),
so an archive is read as a zip and its model description held against that list, with bounded
sizes, before ``keras.saving.load_model`` sees it. Anything else (another layer class, a custom
object, a huge kernel, an oversized archive) is refused with one line naming the checkpoint.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Iterator

from genreport.pipeline.errors import CheckpointError

MAX_ARCHIVE_BYTES = 512 << 20  # on disk, and all members decompressed together
MAX_CONFIG_BYTES = 4 << 20
MAX_LAYERS = 256
MAX_FILTERS = 1024
MAX_KERNEL = 7
MAX_STEP = 4  # strides, pooling and upsampling factors, dilation
MAX_PAD = 8  # ZeroPadding2D and Cropping2D, per side

ALLOWED_LAYERS = frozenset({
    "InputLayer", "Conv2D", "Conv2DTranspose", "AveragePooling2D", "UpSampling2D", "BatchNormalization",
    "ReLU", "LeakyReLU", "Activation", "ZeroPadding2D", "Cropping2D",
})
FUNCTIONAL_MODULES = frozenset({"keras.src.models.functional", "keras.models", "keras"})
ACTIVATIONS = frozenset({"linear", "relu", "leaky_relu", "sigmoid", "tanh"})
INITIALIZERS = frozenset({
    "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "Zeros", "Ones", "Constant",
    "RandomNormal", "RandomUniform", "TruncatedNormal",
})
# Objects allowed anywhere in the model description, as (module, class_name).
OBJECTS = frozenset(
    {("keras.layers", name) for name in ALLOWED_LAYERS}
    | {("keras.initializers", name) for name in INITIALIZERS}
    | {("keras", "DTypePolicy"), ("keras", "FloatDTypePolicy"), (None, "__keras_tensor__"), (None, "__tuple__")}
)
# compile_config is ignored when loading with compile=False; still only Keras' own classes.
COMPILE_MODULES = frozenset({"keras.optimizers", "keras.optimizers.schedules", "keras.losses", "keras.metrics"})
INPUT_SHAPE = [None, 28, 28, 1]


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


def check_model_config(config: Any, name: str) -> None:
    """Refuse a model description that is not a functional model of genreport's layer classes."""
    if not isinstance(config, dict) or config.get("class_name") != "Functional" or config.get("module") not in FUNCTIONAL_MODULES:
        found = config.get("class_name") if isinstance(config, dict) else type(config).__name__
        raise refused(name, f"the model is a {found!r}, not a Keras functional model as genreport builds")
    inner = config.get("config")
    layer_list = inner.get("layers") if isinstance(inner, dict) else None
    if not isinstance(layer_list, list) or not 1 <= len(layer_list) <= MAX_LAYERS:
        raise refused(name, f"the model must list 1 to {MAX_LAYERS} layers")
    for layer in layer_list:
        check_layer(layer, name)
    for obj, in_compile in objects_in(config):
        check_object(obj, in_compile, name)


def check_layer(layer: Any, name: str) -> None:
    """Refuse a layer of a class genreport does not build, or one with out-of-bounds sizes."""
    if not isinstance(layer, dict) or not isinstance(layer.get("config"), dict):
        raise refused(name, "a layer entry is not a Keras layer description")
    cls = layer.get("class_name")
    if layer.get("module") != "keras.layers" or cls not in ALLOWED_LAYERS or layer.get("registered_name") not in (None, cls):
        raise refused(name, f"layer class {cls!r} is not one genreport builds")
    settings = layer["config"]
    shape = settings.get("batch_shape")
    if cls == "InputLayer" and shape != INPUT_SHAPE:
        shown_shape = tuple(shape) if isinstance(shape, list) else repr(shape)
        raise CheckpointError(f"{name}: input shape {shown_shape} is not (None, 28, 28, 1)")
    if "filters" in settings and not is_small_int(settings["filters"], MAX_FILTERS):
        raise refused(name, f"layer {settings.get('name')!r} has {settings['filters']!r} filters, more than {MAX_FILTERS} or not a count")
    for key, limit in (("kernel_size", MAX_KERNEL), ("strides", MAX_STEP), ("pool_size", MAX_STEP), ("size", MAX_STEP),
                       ("dilation_rate", MAX_STEP), ("padding", MAX_PAD), ("cropping", MAX_PAD)):
        value = settings.get(key)
        if value is None or (key == "padding" and isinstance(value, str)):
            continue
        if not all(is_small_int(v, limit, low=0 if key in ("padding", "cropping") else 1) for v in flat(value)):
            raise refused(name, f"layer {settings.get('name')!r} has {key} {value!r}, outside {0 if key in ('padding', 'cropping') else 1}..{limit}")
    activation = settings.get("activation")
    if activation is not None and activation not in ACTIVATIONS:
        raise refused(name, f"layer {settings.get('name')!r} uses activation {activation!r}, not one genreport builds")


def check_object(obj: dict[str, Any], in_compile: bool, name: str) -> None:
    """Refuse a serialised object that is neither an allowed layer part nor a Keras optimizer or loss."""
    key = (obj.get("module"), obj.get("class_name"))
    if obj.get("class_name") == "Functional" and obj.get("module") in FUNCTIONAL_MODULES and obj.get("registered_name") in (None, "Functional"):
        return
    if key in OBJECTS and obj.get("registered_name") in (None, key[1]):
        return
    if in_compile and key[0] in COMPILE_MODULES and isinstance(key[1], str) and key[1].isidentifier() and obj.get("registered_name") is None:
        return
    raise refused(name, f"the model names object {key[1]!r} from {key[0]!r}, which genreport does not build")


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


def flat(value: Any) -> Iterator[Any]:
    """The scalars of a possibly nested list (a bare scalar yields itself)."""
    if isinstance(value, list):
        for item in value:
            yield from flat(item)
    else:
        yield value


def is_small_int(value: Any, limit: int, low: int = 1) -> bool:
    """Whether ``value`` is an int (not a bool) in ``low..limit``."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= limit
