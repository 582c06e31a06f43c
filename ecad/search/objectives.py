"""Objectives and constraint of a candidate, and the hypervolume of a front."""

from __future__ import annotations

import numpy as np

from ecad.cost import CostTable
from ecad.schedules import Schedule
from ecad.search.spec import QualitySpec

__all__ = [
    "INFEASIBLE",
    "constraint",
    "hypervolume",
    "nondominated",
    "objectives",
    "quality_objective",
    "reference_point",
]

#: ``1 - quality`` given to candidates that were not evaluated (infeasible or failed). Feasible,
#: evaluated candidates always dominate them; they never enter a front or the hypervolume.
INFEASIBLE = 1e6

#: Default hypervolume reference for ``1 - quality`` (cost reference is 1.0 + margin): SSIM and
#: ImageReward scores >= -1 and >= -3, PSNR >= 0 dB, LPIPS (lower is better, quality = -LPIPS)
#: <= 1, CLIP score >= 0.
_QUALITY_REFERENCE = {"ssim": 2.0, "psnr": 1.0, "lpips": 2.0, "image-reward": 4.0, "clip": 1.0}


def constraint(schedule: Schedule, min_diff: int, counts: str = "effective") -> float:
    """``<= 0`` when the schedule differs enough from the uncached one (pymoo's convention).

    ``counts="effective"``: at least ``min_diff`` reused cells after step 0 (step 0 is always
    computed). ``counts="genome"``: the reference's ``min_diff - Hamming(x, all-true)`` over the
    whole genome, step-0 bits included.
    """
    bits = schedule.bits if counts == "genome" else schedule.effective()
    return float(min_diff - int((~bits).sum()))


def quality_objective(quality: float | None) -> float:
    """``1 - quality``; ``quality=None`` (not evaluated) or not finite: :data:`INFEASIBLE`."""
    return INFEASIBLE if quality is None or not np.isfinite(quality) else 1.0 - float(quality)


def objectives(quality: float | None, schedule: Schedule, table: CostTable) -> tuple[float, float]:
    """``(1 - quality, relative cost)``; ``quality=None`` means not evaluated."""
    return quality_objective(quality), table.relative_cost(schedule)


def reference_point(quality: QualitySpec) -> np.ndarray:
    ref = quality.hv_reference
    if ref is None:
        ref = _QUALITY_REFERENCE.get(quality.name, 2.0)
    return np.array([float(ref), 1.05])


def nondominated(F: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows of ``F`` (both objectives minimised)."""
    F = np.asarray(F, dtype=float)
    keep = []
    for i, f in enumerate(F):
        dominated = np.any(np.all(f >= F, axis=1) & np.any(f > F, axis=1))
        if not dominated:
            keep.append(i)
    return np.asarray(keep, dtype=int)


def hypervolume(F: np.ndarray, ref: np.ndarray) -> float:
    """2-D hypervolume of the points of ``F`` that dominate ``ref`` (exact sweep)."""
    F = np.asarray(F, dtype=float).reshape(-1, 2)
    F = F[np.all(ref > F, axis=1)]
    if not len(F):
        return 0.0
    F = F[nondominated(F)]
    F = F[np.argsort(F[:, 0])]
    volume, prev_y = 0.0, ref[1]
    for x, y in F:
        if y < prev_y:
            volume += (ref[0] - x) * (prev_y - y)
            prev_y = y
    return float(volume)
