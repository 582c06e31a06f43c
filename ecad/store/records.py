"""Reading typed records out of the store: the one validating path.

Every JSON object the library keeps in the store (spec, state, generation records, evaluation
records, task messages, ...) is turned into its typed record by :func:`read_record` or
:func:`parse_record`. Whatever is wrong with it -- not JSON, truncated, the wrong shape, a field
of the wrong type, a version this code does not know -- raises one error,
:class:`StoreObjectError`, naming the key and the problem. Callers decide what a bad object
means (regenerate a derived object, fail an authoritative one) by catching that one type.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from ecad.errors import EcadError

__all__ = [
    "RecordError",
    "StoreObjectError",
    "check_version",
    "parse_record",
    "read_record",
    "require",
]

T = TypeVar("T")


class RecordError(ValueError):
    """Raised by a record's ``from_json`` for a wrong-shaped object (no key known there)."""


class StoreObjectError(EcadError):
    """A stored object is unreadable or not the shape its reader expects."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


def require(data: Any, name: str, kind: type | tuple[type, ...], where: str = "") -> Any:
    """``data[name]`` checked to be of ``kind`` (bools are not ints); raise :class:`RecordError`."""
    if not isinstance(data, Mapping):
        raise RecordError(f"{where or 'record'} must be a JSON object, got {type(data).__name__}")
    if name not in data:
        raise RecordError(f"{where}{name}: missing")
    value = data[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        names = "/".join(k.__name__ for k in kinds)
        raise RecordError(f"{where}{name}: must be {names}, got {value!r:.60}")
    return value


def check_version(data: Mapping, current: int, what: str) -> int:
    """The record's ``version`` (1 when absent: written before versions); newer ones fail."""
    version = data.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise RecordError(f"version: must be an integer >= 1, got {version!r}")
    if version > current:
        raise RecordError(
            f"{what} made by version {version} of the format; this ecad reads up to version "
            f"{current}: upgrade ecad"
        )
    return version


def parse_record(key: str, data: Any, parse: Callable[[Any], T]) -> T:
    """``parse(data)`` with any shape error turned into :class:`StoreObjectError` for ``key``."""
    try:
        return parse(data)
    except StoreObjectError:
        raise
    except (RecordError, KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        problem = str(exc) if isinstance(exc, RecordError) else f"{type(exc).__name__}: {exc}"
        raise StoreObjectError(key, f"malformed object ({problem})") from exc


def read_record(store: Any, key: str, parse: Callable[[Any], T]) -> T:
    """Get ``key`` from ``store`` as JSON and parse it (missing objects raise as the store does)."""
    raw = store.get(key)
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreObjectError(
            key, f"not valid JSON ({exc}); the object is truncated or corrupt"
        ) from exc
    return parse_record(key, data, parse)
