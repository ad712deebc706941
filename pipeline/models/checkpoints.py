"""Saving and loading the variants' ``.keras`` archives and the manifest beside them.

Models are loaded with Keras' safe mode, so an archive that needs arbitrary code (a Lambda
layer, say) is refused rather than run; before that, ``pipeline.models.archive`` holds the archive's
``config.json`` against the layer classes genreport builds. Paths named in a manifest, and
archives found by their standard names, must stay inside the folder.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from genreport.pipeline.models.archive import check_archive, shown
from genreport.pipeline.models.catalogue import VARIANTS
from genreport.pipeline.core.errors import CheckpointError
from genreport.pipeline.core.fsutil import write_atomically, write_json_atomically
from genreport.pipeline.core.journal import file_sha256
from genreport.pipeline.models.model_size import (DEFAULT_MAX_MODEL_GIB, ModelSize, check_image_shapes, check_model_memory, check_weights_file,
                                                  one_shape)

MANIFEST = "manifest.json"


def checkpoint_path(folder: Path, variant: str) -> Path:
    """Where a variant's archive lives in a checkpoints folder."""
    return Path(folder) / f"{variant}.keras"


def save_model(model: Any, folder: Path, variant: str) -> Path:
    """Save ``model`` as ``folder/<variant>.keras``, whole or not at all."""
    return write_atomically(checkpoint_path(folder, variant), lambda tmp: model.save(tmp), suffix=".keras")


def read_manifest(folder: Path) -> dict[str, Any]:
    """The folder's manifest, or an empty one when there is none."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        return {"variants": {}}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("variants", {}), dict):
        raise CheckpointError(f"{path} does not describe variants")
    manifest.setdefault("variants", {})
    return manifest


def record_variant(folder: Path, variant: str, entry: dict[str, Any], run_info: dict[str, Any],
                   kernels: dict[str, Any] | None = None) -> None:
    """Add or replace one variant's entry in the manifest (with the file's digest), and the kernels
    (thread count, oneDNN) that trained it under ``kernels``, where they are given."""
    manifest = read_manifest(folder)
    manifest.update(run_info)
    entry = dict(entry, file=f"{variant}.keras", sha256=file_sha256(checkpoint_path(folder, variant)))
    manifest["variants"][variant] = entry
    manifest.pop("onednn", None)  # written for a day at the top level, by the last process only
    if kernels is not None:
        if not isinstance(manifest.get("kernels"), dict):
            manifest["kernels"] = {}
        manifest["kernels"][variant] = kernels
    write_json_atomically(Path(folder) / MANIFEST, manifest)


def saved_kernels(manifest: dict[str, Any], variant: str) -> Any:
    """What the manifest says trained ``variant`` (thread count, oneDNN), unchecked. A manifest from
    before per-variant records holds only the thread count of the last run that saved a variant."""
    kernels = manifest.get("kernels")
    if isinstance(kernels, dict) and variant in kernels:
        return kernels[variant]
    return {"threads": manifest.get("threads")}


def resolve_inside(folder: Path, name: str, source: str = "manifest names") -> Path:
    """``folder/name`` with links resolved, refusing absolute paths and any that leave the folder.

    ``source`` begins the error message: how the name was found.
    """
    if Path(name).is_absolute() or ".." in Path(name).parts:
        raise CheckpointError(f"{source} {name!r}, a path outside {folder}")
    path = (Path(folder) / name).resolve()
    if Path(folder).resolve() not in path.parents:
        raise CheckpointError(f"{source} {name!r}, a path outside {folder}")
    return path


def manifest_checkpoint(folder: Path, variant: str, entry: Any) -> Path:
    """The archive a manifest entry names: a plain, printable name of a file inside ``folder``."""
    name = entry.get("file", f"{variant}.keras") if isinstance(entry, dict) else f"{variant}.keras"
    if not isinstance(name, str) or not name.isprintable():
        raise CheckpointError(f"manifest names {name!r} for {variant}, which is not a plain file name")
    path = resolve_inside(folder, name)
    if not path.is_file():
        raise CheckpointError(f"manifest names {name!r}, which is not in {folder}")
    return path


def find_checkpoints(folder: Path) -> dict[str, Path]:
    """The variant archives present in ``folder`` (the manifest's names, else the standard ones).

    Either way an archive must lie inside the folder once links are resolved.
    """
    folder = Path(folder)
    if not folder.exists():
        raise CheckpointError(f"checkpoints folder {folder} does not exist")
    if not folder.is_dir():
        raise CheckpointError(f"checkpoints path {folder} is not a folder")
    manifest = read_manifest(folder)
    found: dict[str, Path] = {}
    for variant, entry in manifest["variants"].items():
        if variant in VARIANTS:
            found[variant] = manifest_checkpoint(folder, variant, entry)
    for variant in VARIANTS:
        path = checkpoint_path(folder, variant)
        if variant not in found and (path.is_file() or path.is_symlink()):
            found[variant] = resolve_inside(folder, path.name, source="checkpoints folder holds")
    if not found:
        raise CheckpointError(f"no base.keras, modified.keras or tuned.keras in {folder}")
    return {v: found[v] for v in VARIANTS if v in found}


def check_checkpoint(path: Path, max_gib: float = DEFAULT_MAX_MODEL_GIB) -> ModelSize:
    """A ``.keras`` archive's size and shapes once it is readable, holds only accepted objects and fits the bound; else a one-line error.

    The archive's size and ``config.json`` are checked (``pipeline.archive.check_archive``), and
    the memory its model would take to score is estimated from that description and bounded by
    ``max_gib`` (``pipeline.models.model_size``), before Keras builds anything.
    """
    path = Path(path)
    name = shown(path)
    if path.suffix != ".keras":
        raise CheckpointError(f"{name}: only .keras archives are loaded")
    try:
        with open(path, "rb"):
            pass
    except PermissionError:
        raise CheckpointError(f"{name}: permission denied (the file cannot be read)") from None
    except OSError as exc:
        raise CheckpointError(f"{name} cannot be read: {exc.strerror or type(exc).__name__}") from None
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{name} is not a Keras archive (not a zip file)")
    size = check_model_memory(check_archive(path), name, max_gib)
    check_weights_file(path, name, max_gib)
    return size


def load_model_safely(path: Path, max_gib: float = DEFAULT_MAX_MODEL_GIB) -> Any:
    """The model in a ``.keras`` archive, checked and loaded in safe mode (``load_checked_model``)."""
    return load_checked_model(path, max_gib)[0]


def load_checked_model(path: Path, max_gib: float = DEFAULT_MAX_MODEL_GIB) -> tuple[Any, ModelSize]:
    """The model in a ``.keras`` archive, checked (``check_checkpoint``), loaded in safe mode, mapping a 28x28 image to one;
    and its size as checked. Safe mode refuses any serialised code.
    """
    import keras

    path = Path(path)
    name = shown(path)
    size = check_checkpoint(path, max_gib)
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a bad archive; all mean "refused".
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{name} could not be loaded safely: {reason[:300]!r}") from None
    check_image_shapes(one_shape(model.input_shape, "input", name), one_shape(model.output_shape, "output", name), name)
    return model, size
