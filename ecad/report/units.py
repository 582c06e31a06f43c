"""How numbers are shown to people: quality with its scorer's name and unit, cost as speedup,
time as seconds/minutes/hours and GPU-hours. Torch-free; the CLI and the report share it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "QualityUnit",
    "best_speedups",
    "duration",
    "quality_unit",
    "rate",
    "speedup",
]


class QualityUnit:
    """A quality objective as a reader sees it: ``PSNR 31.2 dB``, ``SSIM 0.934``."""

    def __init__(self, name: str, label: str, unit: str, digits: int, levels: tuple[float, ...],
                 note: str = "") -> None:
        self.name = name  # the scorer/metric name, e.g. "psnr"
        self.label = label  # what a reader calls it, e.g. "PSNR"
        self.unit = unit  # "dB" or ""
        self.digits = digits
        self.levels = levels  # default quality levels for "best speedup at quality >= level"
        self.note = note  # how to read it, e.g. "higher is better; LPIPS is shown negated"

    def format(self, value: float | None) -> str:
        if value is None or not math.isfinite(value):
            return "-"
        text = f"{value:.{self.digits}f}"
        return f"{text} {self.unit}" if self.unit else text

    @property
    def axis_title(self) -> str:
        return f"{self.label} ({self.unit})" if self.unit else self.label


_UNITS = {
    "psnr": QualityUnit("psnr", "PSNR", "dB", 2, (35.0, 30.0, 25.0),
                        "to the uncached image of the same prompt and seed; higher is better"),
    "ssim": QualityUnit("ssim", "SSIM", "", 4, (0.95, 0.9, 0.8),
                        "to the uncached image of the same prompt and seed; higher is better"),
    "lpips": QualityUnit("lpips", "-LPIPS", "", 4, (-0.05, -0.1, -0.2),
                         "LPIPS distance to the uncached image, negated so higher is better"),
    "image-reward": QualityUnit("image-reward", "ImageReward", "", 3, (),
                                "mean ImageReward score; higher is better"),
    "clip": QualityUnit("clip", "CLIP score", "", 2, (), "mean CLIP score; higher is better"),
}
_UNITS["clip-score"] = _UNITS["clip"]


def quality_unit(quality: Mapping[str, Any] | str) -> QualityUnit:
    """The unit of a spec's ``quality`` section (or of a scorer/metric name)."""
    if isinstance(quality, str):
        name = quality
    else:
        name = str(quality.get("metric") if quality.get("scorer") == "fidelity"
                   else quality.get("scorer"))
    return _UNITS.get(name) or QualityUnit(name, name, "", 4, ())


def speedup(relative_cost: float | None) -> str:
    """``0.25`` -> ``4.00x`` (predicted speedup over no caching)."""
    if relative_cost is None or not relative_cost > 0:
        return "-"
    return f"{1.0 / relative_cost:.2f}x"


def duration(seconds: float | None) -> str:
    """``75`` -> ``1m15s``; ``5400`` -> ``1h30m``; None -> ``-``."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def rate(count: float, seconds: float, what: str = "img") -> str:
    """``rate(96, 12)`` -> ``8.0 img/s`` (``-`` before anything was timed)."""
    if seconds <= 0 or count <= 0:
        return f"- {what}/s"
    value = count / seconds
    return f"{value:.1f} {what}/s" if value >= 1 else f"{value:.2f} {what}/s"


def best_speedups(front: Sequence[tuple[float, float]], unit: QualityUnit,
                  levels: Sequence[float] | None = None) -> str:
    """``best 2.10x @ PSNR >= 30 dB, 3.40x @ >= 25 dB``: the fastest front member at each level.

    Without levels given, the scorer's default levels; where it has none (no absolute scale) or
    they do not tell the members apart (all the same answer), the front's two ends: the fastest
    member and the best-quality one.
    """
    if not front:
        return "front empty"
    chosen = unit.levels if levels is None else tuple(levels)
    best_at = []
    for level in chosen:
        at = [cost for quality, cost in front if quality >= level]
        best_at.append(f"{1 / min(at):.2f}x" if at else "none")
    if not chosen or (levels is None and len(set(best_at)) == 1):
        fast = min(front, key=lambda p: p[1])
        best = max(front, key=lambda p: p[0])
        return (f"fastest {1 / fast[1]:.2f}x at {unit.label} {unit.format(fast[0])}, "
                f"best {unit.label} {unit.format(best[0])} at {1 / best[1]:.2f}x")
    return "best " + ", ".join(
        f"{value} @ {unit.label + ' ' if n == 0 else ''}>= {unit.format(level)}"
        for n, (value, level) in enumerate(zip(best_at, chosen)))
