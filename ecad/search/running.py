"""The generation being evaluated, as ``ecad status`` shows it: plain data, light to import (the
status view imports it without the search's modules)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RunningGeneration"]


@dataclass(frozen=True)
class RunningGeneration:
    """The generation being evaluated (only while one runs)."""

    shards_done: int
    shards_total: int
    in_flight: int
    failed: int = 0  # candidates failed in this generation so far
    eta_seconds: float | None = None
