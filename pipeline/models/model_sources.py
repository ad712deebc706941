"""Which checkpoints ``eval-only`` scores, under which names, and which of them genreport vouches for.

``--checkpoints`` names folders (every ``*.keras`` in them) or ``.keras`` files, as often as
wanted; a model's name is its file's stem unless ``--name NAME=PATH`` gives another. A folder
whose genreport manifest records a file with the same SHA-256 vouches for it: that model is
genreport's variant (its published figure, training record and layers come from the manifest).
Any other file is just a model with a name, whatever the name is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genreport.pipeline.models import checkpoints
from genreport.pipeline.models.archive import shown
from genreport.pipeline.models.catalogue import MAX_MODELS, TUNED, VARIANTS, canonical_order, check_model_name
from genreport.pipeline.core.errors import CheckpointError, ConfigError
from genreport.pipeline.core.journal import file_sha256

METRIC_COLUMNS = ("ssim_{}", "ssim_gaussian_{}", "psnr_{}", "mse_{}")


@dataclass(frozen=True)
class ModelSource:
    """One checkpoint to score: its name in the report, its file, and the manifest entry that vouches for it, if any."""

    name: str
    path: Path
    variant: str | None = None  # genreport's variant this file is, when its manifest vouches for it
    entry: dict[str, Any] | None = None  # that manifest entry (training record, layers, digest)

    @property
    def vouched(self) -> bool:
        return self.variant is not None


def keras_files_in(folder: Path) -> list[tuple[Path, Path]]:
    """(resolved file, path in the folder) of each ``*.keras`` in a folder, genreport's variants first.

    Hidden names (genreport's temporary files) are skipped; a link must resolve to a file inside the folder.
    """
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".keras") and not p.name.startswith("."))
    found = []
    for stem in canonical_order([n[: -len(".keras")] for n in names]):
        path = folder / f"{stem}.keras"
        if path.is_symlink() and not path.exists():
            raise CheckpointError(f"{shown(path)} in {folder} is a symlink to nothing")
        found.append((checkpoints.resolve_inside(folder, path.name, source="checkpoints folder holds"), path))
    return found


# What a vouched manifest entry's fields must be, when present (a digest match does not make a corrupt entry sound).
ENTRY_TYPES: dict[str, tuple[type, ...]] = {"params": (int,), "forward_flops": (int, float), "layers": (list,), "training": (dict,),
                                            "hyperparameters": (dict,), "policy": (str,)}


def check_entry(entry: dict[str, Any], variant: str, manifest: Path) -> None:
    """Refuse a vouched manifest entry (or the manifest's run fields) of the wrong types, in one line."""
    for key, kinds in ENTRY_TYPES.items():
        value = entry.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kinds)):
            raise CheckpointError(f"{manifest}: the entry of {variant} has {key!r} of type {type(value).__name__}, "
                                  "not what genreport writes; the manifest is damaged")
    if not all(isinstance(row, dict) for row in entry.get("layers") or []):
        raise CheckpointError(f"{manifest}: the entry of {variant} lists layers that are not objects; the manifest is damaged")
    for key in ("tuning", "fingerprint"):
        if entry.get(key) is not None and not isinstance(entry[key], dict):
            raise CheckpointError(f"{manifest}: its {key!r} is a {type(entry[key]).__name__}, not an object; the manifest is damaged")


def vouching_entry(path: Path, given: Path, warn: Any) -> tuple[str | None, dict[str, Any] | None]:
    """The variant and manifest entry of the folder ``given`` lies in, when that manifest records this exact file."""
    folder = given.parent
    manifest_path = folder / checkpoints.MANIFEST
    if manifest_path.is_symlink():
        warn(f"{manifest_path} is a symlink: genreport reads only a folder's own manifest, so it vouches for nothing")
        return None, None
    if not manifest_path.is_file():
        return None, None
    manifest = checkpoints.read_manifest(folder)
    for variant, entry in manifest["variants"].items():
        if variant not in VARIANTS or not isinstance(entry, dict) or entry.get("file", f"{variant}.keras") != given.name:
            continue
        if entry.get("sha256") == file_sha256(path):
            vouched = dict(entry, tuning=manifest.get("tuning") if variant == TUNED else None,
                           policy=manifest.get("policy", entry.get("policy")), fingerprint=manifest.get("fingerprint"))
            check_entry(vouched, variant, manifest_path)
            return variant, vouched
        warn(f"{shown(given)} is not the file its manifest entry describes (SHA-256 differs): its recorded history, layers and "
             "tuning are ignored, and it is scored as a model of its own")
    return None, None


def sources_in(given: Path, warn: Any) -> list[tuple[Path, Path]]:
    """(resolved file, path as found) for each checkpoint a ``--checkpoints`` argument names."""
    if os.path.isdir(given):
        found = keras_files_in(given)
        if not found:
            raise CheckpointError(f"no .keras file in {given}")
        return found
    if not os.path.lexists(given):
        raise CheckpointError(f"checkpoints path {given} does not exist")
    if given.suffix != ".keras":
        raise CheckpointError(f"{shown(given)}: only .keras archives are loaded (give a folder or a .keras file)")
    if given.is_symlink():
        raise CheckpointError(f"{shown(given)} is a symlink; give the file itself or the folder it is in")
    return [(given.resolve(), given)]


def parse_rename(text: str) -> tuple[str, Path]:
    """``NAME=PATH`` as (name, path); a one-line ConfigError otherwise."""
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise ConfigError(f"--name {text!r} is not NAME=PATH")
    return check_model_name(name, "--name"), Path(path)


def find_models(checkpoint_args: list[Path], renames: list[str] = (), warn: Any = print) -> list[ModelSource]:
    """The models to score, in the order given, named, each at most once; a one-line error for a clash or too many."""
    by_path: dict[Path, str] = {}
    renamed: list[Path] = []
    for name, path in (parse_rename(text) for text in renames):
        if os.path.isdir(path):
            raise ConfigError(f"--name {name}={path}: PATH must be a .keras file, not a folder")
        if not os.path.lexists(path):
            raise ConfigError(f"--name {name}={path}: no such file")
        resolved = sources_in(path, warn)[0][0]
        if resolved in by_path:
            raise ConfigError(f"--name gives {path} two names: {by_path[resolved]!r} and {name!r}")
        by_path[resolved] = name
        renamed.append(path)
    found: list[tuple[Path, Path]] = []
    for given in [*checkpoint_args, *renamed]:
        for resolved, path in sources_in(Path(given), warn):
            earlier = next((p for r, p in found if r == resolved), None)
            if earlier is None:
                found.append((resolved, path))
            elif earlier != path:
                warn(f"{shown(path)} is the same file as {shown(earlier)}: scored once, as {earlier.stem}")
    if not found:
        raise ConfigError("no models to score: give --checkpoints DIR or FILE (or --name NAME=PATH)")
    models: list[ModelSource] = []
    for resolved, path in found:
        variant, entry = vouching_entry(resolved, path, warn)
        name = by_path.get(resolved) or check_model_name(path.stem, shown(path))
        if variant is not None and name != variant and name in VARIANTS:
            raise ConfigError(f"{shown(path)} is genreport's {variant} checkpoint: it cannot be named {name!r}, another variant's name")
        models.append(ModelSource(name, resolved, variant, entry))
    check_unique(models)
    if len(models) > MAX_MODELS:
        raise ConfigError(f"{len(models)} models given; one report holds at most {MAX_MODELS}")
    return models


def check_unique(models: list[ModelSource]) -> None:
    """Refuse two models of one name, or names whose table columns would collide, in one line."""
    seen: dict[str, ModelSource] = {}
    columns: dict[str, str] = {}
    for model in models:
        if model.name in seen:
            raise ConfigError(f"two models are called {model.name!r}: {seen[model.name].path} and {model.path} "
                              "(rename one with --name NAME=PATH)")
        seen[model.name] = model
        for pattern in METRIC_COLUMNS:
            column = pattern.format(model.name)
            if column in columns:
                raise ConfigError(f"models {columns[column]!r} and {model.name!r} would share the table column {column!r}; "
                                  "rename one with --name NAME=PATH")
            columns[column] = model.name


def pixel_ranges(texts: list[str], names: list[str]) -> dict[str, tuple[float, float]]:
    """Each model's pixel range from ``--pixel-range`` values: ``NAME=RANGE`` for that model, else the last bare ``RANGE``, else 0,1."""
    from genreport.pipeline.models.model_size import PIXEL_RANGES

    default, named = PIXEL_RANGES["0,1"], {}
    for text in texts:
        name, sep, value = text.rpartition("=")
        if value not in PIXEL_RANGES:
            raise ConfigError(f"--pixel-range {text!r}: the range must be one of {', '.join(PIXEL_RANGES)} (optionally NAME=RANGE)")
        if not sep:
            default = PIXEL_RANGES[value]
        elif name not in names:
            raise ConfigError(f"--pixel-range {text!r}: no model is called {name!r} (models: {', '.join(names)})")
        else:
            named[name] = PIXEL_RANGES[value]
    return {name: named.get(name, default) for name in names}
