"""Field readers for :func:`~ecad.search.spec.parse_spec`: each records what is wrong (naming
the field) and carries on, so that every error of a spec is reported at once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ecad.search.validation import limit_error


class _Errors:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, field_name: str, message: str) -> None:
        self.items.append(f"{field_name}: {message}")


def _int(
    raw: Mapping,
    key: str,
    errors: _Errors,
    default: Any,
    minimum: int | None = None,
    where: str = "",
) -> Any:
    value = raw.get(key, default)
    name = f"{where}{key}"
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(name, f"must be an integer, got {value!r}")
        return default
    if minimum is not None and value < minimum:
        errors.add(name, f"must be >= {minimum}, got {value}")
    elif (too_big := limit_error(name, value)) is not None:
        errors.add(name, too_big)
    return value


def _prob(raw: Mapping, key: str, errors: _Errors, default: Any, where: str) -> Any:
    value = raw.get(key, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        errors.add(f"{where}{key}", f"must be a probability in [0, 1], got {value!r}")
        return default
    return float(value)


def _section(raw: Mapping, key: str, errors: _Errors, shorthand: str | None = None) -> dict:
    value = raw.get(key, {})
    if isinstance(value, str) and shorthand:
        return {shorthand: value}
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        errors.add(key, f"must be a mapping, got {type(value).__name__}")
        return {}
    return dict(value)


def _resolve_path(value: str, base: Path) -> str:
    p = Path(os.path.expanduser(value))
    return str(p if p.is_absolute() else (base / p).resolve())
