"""The predictor's training rows: every stored evaluation of the search so far.

Rows come from the finished generations' records (offspring genomes, objectives, constraint)
and pruning records (a stopped candidate's quality is its partial estimate, weighted by the
share of the images it was measured on), never from memory, so a resumed or restarted
scheduler fits the same predictor. Failed and infeasible offspring give no row; a genome
evaluated twice keeps its latest full evaluation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from ecad.search.nsga import unpack_genomes
from ecad.search.objectives import INFEASIBLE
from ecad.search.pruning_records import PartialCandidate
from ecad.search.records import GenerationRecord

__all__ = ["TrainingRows", "generation_rows", "latest_rows"]


@dataclass(frozen=True)
class TrainingRows:
    """Genomes, measured qualities, weights (share of the images measured) and full flags."""

    X: np.ndarray
    quality: np.ndarray
    weight: np.ndarray
    full: np.ndarray

    def __len__(self) -> int:
        return len(self.quality)


def generation_rows(
    record: GenerationRecord,
    partial: Mapping[str, PartialCandidate],
    n_var: int,
    images_total: int,
) -> list[tuple[bytes, np.ndarray, float, float, bool]]:
    """``(genome key, genome, quality, weight, full)`` per evaluated offspring of one record;
    ``partial``: its pruning record's stopped candidates (evaluation key -> decision)."""
    estimates: dict[int, tuple[float, float]] = {}
    for stopped in partial.values():
        decision = stopped.decision
        if decision.estimate is None:
            continue
        share = float(decision.images_used) / images_total
        for i in stopped.candidates:
            estimates[int(i)] = (float(decision.estimate), share)
    X = unpack_genomes(list(record.offspring.X), n_var)
    rows = []
    for i, (x, f, g) in enumerate(zip(X, record.offspring.F, record.offspring.G)):
        key = np.packbits(x).tobytes()
        if i in estimates:
            q, share = estimates[i]
            if share > 0 and np.isfinite(q):
                rows.append((key, x, q, share, False))
        elif g[0] <= 0 and f[0] < INFEASIBLE and np.isfinite(f[0]):
            rows.append((key, x, 1.0 - f[0], 1.0, True))
    return rows


def latest_rows(
    per_generation: Iterable[list[tuple[bytes, np.ndarray, float, float, bool]]],
    n_var: int,
    limit: int,
) -> TrainingRows:
    """Rows of all generations in order, one per genome (its latest full evaluation, else its
    latest estimate), the latest ``limit`` of them."""
    kept: dict[bytes, tuple[np.ndarray, float, float, bool]] = {}
    for rows in per_generation:
        for key, x, q, w, full in rows:
            if key in kept and kept[key][3] and not full:
                continue
            kept.pop(key, None)  # re-inserted: the latest evaluation's place in the order
            kept[key] = (x, q, w, full)
    values = list(kept.values())[-limit:]
    if not values:
        return TrainingRows(np.zeros((0, n_var), bool), np.zeros(0), np.zeros(0), np.zeros(0, bool))
    return TrainingRows(
        np.asarray([v[0] for v in values], dtype=bool),
        np.asarray([v[1] for v in values], dtype=float),
        np.asarray([v[2] for v in values], dtype=float),
        np.asarray([v[3] for v in values], dtype=bool),
    )
