"""Typed records that read and write themselves as JSON: the machinery under ``pipeline.results.schema``.

A record is a frozen, keyword-only dataclass. ``from_json`` checks a parsed JSON value against
the record's type hints field by field and builds it (a ``ResultsError`` naming the file and the
field's dotted path when a value is missing or of another type); ``to_json`` gives the JSON
value back. A record read from JSON writes its keys back in the order it read them (nulls
included), so a file passes through unchanged; a field it did not have is written after them only
once it differs from its default. A record built in code writes every field but those that are
None by default. Other dataclasses inside a record (``RunConfig``) write every field. Keys a record
does not declare are kept, unread, in ``extras`` and written back in their place: a record never
drops what a writer wrote (the tests check that genreport's own results have none).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from functools import cache, partial
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from genreport.pipeline.core.errors import ResultsError

R = TypeVar("R", bound="Record")
record = partial(dataclasses.dataclass, frozen=True, kw_only=True)  # how every record class is declared
Interval = tuple[float, float]
JSON = Any  # a parsed JSON value whose inside the report shows as it is (settings, machine facts, versions)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Record:
    """Base of every results record: ``from_json`` and ``to_json`` driven by the fields' type hints."""

    extras: dict[str, JSON] = dataclasses.field(default_factory=dict, repr=False, compare=False)
    json_keys: tuple[str, ...] | None = dataclasses.field(default=None, repr=False, compare=False)  # the keys read, in order; None: built in code

    EXTRAS: ClassVar[str] = "extras"
    HIDDEN: ClassVar[frozenset[str]] = frozenset({"extras", "json_keys"})
    OPEN: ClassVar[bool] = False  # True: a record that declares only some of its keys, keeping the rest in extras by design

    @classmethod
    def from_json(cls: type[R], value: Any, path: Path | str = "results", where: str = "") -> R:
        """The record a parsed JSON object holds; a one-line ResultsError naming ``path`` and the field otherwise."""
        return read_dataclass(cls, value, Where(str(path), where))

    def to_json(self) -> dict[str, JSON]:
        """The record as a JSON object: declared fields in order, then any extras."""
        return write_value(self)


@dataclasses.dataclass(frozen=True)
class Where:
    """The file and the dotted field path a value was read from, for error messages."""

    path: str
    field: str

    def at(self, name: str | int) -> Where:
        if isinstance(name, int):
            return Where(self.path, f"{self.field}[{name}]")
        name = str(name)[:40]  # a key's text is bounded in the message too
        return Where(self.path, f"{self.field}.{name}" if self.field else name)

    def error(self, problem: str) -> ResultsError:
        return ResultsError(f"{self.path}: field {self.field or 'top'!r} {problem}")


JSON_NAMES = {dict: "an object", list: "an array", str: "a string", int: "an integer", float: "a number", bool: "a boolean",
              type(None): "null"}


def json_name(value: Any) -> str:
    """A parsed JSON value's kind in words ('an object', 'a string', ...)."""
    return JSON_NAMES.get(type(value), type(value).__name__)


@cache
def hints_of(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def read_dataclass(cls: type, value: Any, where: Where) -> Any:
    """Build dataclass ``cls`` from a JSON object, each field read by its type hint."""
    if not isinstance(value, dict):
        raise where.error(f"is {json_name(value)}, not an object")
    hints = hints_of(cls)
    known: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in Record.HIDDEN:
            continue
        if f.name in value:
            known[f.name] = read_value(hints[f.name], value[f.name], where.at(f.name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise where.at(f.name).error("is missing; was it written by this version of genreport?")
    if issubclass(cls, Record):
        names = {f.name for f in dataclasses.fields(cls)} - Record.HIDDEN
        known[Record.EXTRAS] = {k: v for k, v in value.items() if k not in names}
        known["json_keys"] = tuple(value)
    elif set(value) - {f.name for f in dataclasses.fields(cls)}:
        unknown = sorted(set(value) - {f.name for f in dataclasses.fields(cls)})[0]
        raise where.at(unknown).error("is not a field genreport writes")
    return cls(**known)


def read_value(hint: Any, value: Any, where: Where) -> Any:
    """``value`` checked against the type ``hint`` (and converted: arrays to tuples, records built)."""
    if hint is Any:
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            return read_value(options[0], value, where)
        for option in options:  # unions of plain types: the first that fits
            try:
                return read_value(option, value, where)
            except ResultsError:
                continue
        raise where.error(f"is {json_name(value)}, which none of its types allows")
    if origin is tuple:
        if not isinstance(value, list):
            raise where.error(f"is {json_name(value)}, not an array")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(read_value(args[0], item, where.at(i)) for i, item in enumerate(value))
        if len(value) != len(args):
            raise where.error(f"holds {len(value)} items, not {len(args)}")
        return tuple(read_value(a, item, where.at(i)) for i, (a, item) in enumerate(zip(args, value)))
    if origin is dict:
        if not isinstance(value, dict):
            raise where.error(f"is {json_name(value)}, not an object")
        return {str(k): read_value(args[1], item, where.at(str(k))) for k, item in value.items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return read_dataclass(hint, value, where)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise where.error(f"is {json_name(value)}, not a number")
        return value  # an int stays an int, so a file reads and writes back the same
    if hint is Path:
        if not isinstance(value, str):
            raise where.error(f"is {json_name(value)}, not a string")
        return Path(value)
    if hint in (int, str, bool):
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise where.error(f"is {json_name(value)}, not {JSON_NAMES[hint]}")
        return value
    raise TypeError(f"records cannot hold a field of type {hint!r}")  # a programming error, not a user's


def write_value(value: Any) -> JSON:
    """A record, tuple, mapping or plain value as JSON."""
    if isinstance(value, Record):
        return write_record(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: write_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [write_value(item) for item in value]
    if isinstance(value, dict):
        return {k: write_value(item) for k, item in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def write_record(record: Record) -> dict[str, JSON]:
    """A record as a JSON object: the keys it was read with in their order (nulls too), then its other fields,
    leaving out those that are None by default."""
    declared = {f.name: f for f in dataclasses.fields(record) if f.name not in Record.HIDDEN}
    out: dict[str, JSON] = {}
    for key in record.json_keys or ():
        if key in declared:
            out[key] = write_value(getattr(record, key))
        elif key in record.extras:
            out[key] = record.extras[key]
    for name, f in declared.items():
        item = getattr(record, name)
        if name in out or (item is None and f.default is None) or (record.json_keys is not None and item == default_of(f)):
            continue  # written already, unset, or (read from a file without it) still its default
        out[name] = write_value(item)
    out.update({k: v for k, v in record.extras.items() if k not in out})
    return out


def default_of(f: dataclasses.Field) -> Any:
    """A field's default value (made afresh for a default factory)."""
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def extras_anywhere(record: Any, where: str = "") -> list[str]:
    """The dotted paths of every key a record (or any record inside it) holds unread in ``extras``."""
    found: list[str] = []
    if isinstance(record, Record) and not record.OPEN:
        found += [f"{where}.{k}" if where else k for k in record.extras]
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        for f in dataclasses.fields(record):
            if f.name not in Record.HIDDEN:
                found += extras_anywhere(getattr(record, f.name), f"{where}.{f.name}" if where else f.name)
    elif isinstance(record, (tuple, list)):
        for i, item in enumerate(record):
            found += extras_anywhere(item, f"{where}[{i}]")
    elif isinstance(record, dict):
        for k, item in record.items():
            found += extras_anywhere(item, f"{where}.{k}")
    return found
