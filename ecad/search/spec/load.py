"""Read a spec file, with ``key=value`` overrides."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ecad.errors import ConfigError
from ecad.search.spec.parse import parse_spec
from ecad.search.spec.resolved import SearchSpec
from ecad.yamlfile import load_yaml, read_yaml

__all__ = ["load_spec"]


def load_spec(path: str | os.PathLike, overrides: list[str] | None = None) -> SearchSpec:
    """Read a YAML spec; ``overrides`` are ``key=value`` strings (dots for nesting).

    The file is read with a size limit and without alias-expansion bombs (:mod:`ecad.yamlfile`).
    """
    p = Path(path)
    raw = read_yaml(p, "search spec")
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{p}: a search spec must be a YAML mapping, got {type(raw).__name__}")
    raw = dict(raw)
    for item in overrides or []:
        _apply_override(raw, item)
    return parse_spec(raw, source=str(p), base_dir=p.parent.resolve())


def _apply_override(raw: dict, item: str) -> None:
    """Set ``a.b=value`` in ``raw``; the value is YAML (``population=8``, ``quality={...}``)."""
    key, sep, text = item.partition("=")
    parts = key.split(".")
    if not sep or not all(parts):
        raise ConfigError(f"override {item!r}: use key=value or section.key=value (population=8)")
    target = raw
    for depth, part in enumerate(parts[:-1]):
        value = target.get(part)
        if value is None:
            value = target[part] = {}
        elif not isinstance(value, Mapping):
            where = ".".join(parts[: depth + 1])
            raise ConfigError(
                f"override {item!r}: {where} is {value!r}, not a section with fields; "
                f"set it directly ({where}=...)"
            )
        else:
            value = target[part] = dict(value)
        target = value
    target[parts[-1]] = load_yaml(text, f"override {item!r}")
