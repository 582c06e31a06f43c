"""Numeric settings read from ``ECAD_*`` environment variables, with errors that name them."""

from __future__ import annotations

import os

from ecad.errors import ConfigError

__all__ = ["env_float", "env_int"]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, str(default))
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"environment variable {name}={value!r} must be an integer") from None


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, str(default))
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"environment variable {name}={value!r} must be a number") from None
