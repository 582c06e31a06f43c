"""Numeric settings read from ``ECAD_*`` environment variables, with errors that name them."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from ecad.errors import ConfigError

__all__ = ["env_float", "env_int"]

N = TypeVar("N", int, float)


def env_int(name: str, default: int) -> int:
    return _number(name, default, int, "an integer")


def env_float(name: str, default: float) -> float:
    return _number(name, default, float, "a number")


def _number(name: str, default: N, parse: Callable[[str], N], what: str) -> N:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return parse(value)
    except ValueError:
        raise ConfigError(f"environment variable {name}={value!r} must be {what}") from None
