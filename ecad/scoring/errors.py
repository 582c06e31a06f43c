"""Errors of the scoring layer; all are configuration errors (they fail fast, no retry)."""

from __future__ import annotations

from ecad.errors import ConfigError

__all__ = ["MissingDependencyError", "ScorerError"]


class ScorerError(ConfigError):
    """A scorer was asked for something it cannot do: unknown name, bad option, bad inputs,
    a model file that does not fit. The message names the scorer or file and the fix."""


class MissingDependencyError(ScorerError):
    """An optional package of the ``scoring`` extra is not installed."""
