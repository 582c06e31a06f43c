"""Which proposed offspring to evaluate: the best predicted hypervolume gains, then the most
uncertain predictions.

Points are ``(relative cost, 1 - quality)``, both minimised; the cost is exact, the quality
predicted. Exploitation picks, one at a time, the proposal whose optimistic point
(``prediction + optimism * std``) adds most hypervolume to the parents' front together with the
points picked so far; once no proposal is predicted to add any, those the parents' front is not
predicted to dominate first, each group by how close it is predicted to come to the current
front (the smallest quality shortfall at its cost). Exploration then picks the proposals the
predictor is least sure of. Ties go to the lower proposal index, so the choice is a function of
its inputs alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Choice", "choose", "hypervolume_gain"]


@dataclass(frozen=True)
class Choice:
    """Chosen proposal indices in pick order, and why each was picked."""

    chosen: tuple[int, ...]
    kinds: tuple[str, ...]  # "gain", "closest", "explore", "order" (no predictor) per pick
    gains: tuple[float, ...]  # predicted hypervolume gain at the pick (0 for others)


def _staircase(front: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, ...]:
    """Intervals ``[lo, hi)`` of cost and the front's best ``1 - quality`` on each."""
    F = np.asarray(front, dtype=float).reshape(-1, 2)
    F = F[np.all(ref > F, axis=1)]
    F = F[np.lexsort((F[:, 1], F[:, 0]))]
    level = np.minimum.accumulate(F[:, 1]) if len(F) else np.zeros(0)
    keep = np.r_[True, level[1:] < level[:-1]] if len(F) else np.zeros(0, bool)
    x, y = F[keep, 0], level[keep]
    lo = np.r_[-np.inf, x]
    hi = np.r_[x, ref[0]]
    lev = np.r_[ref[1], y]
    return lo, hi, lev


def hypervolume_gain(points: np.ndarray, front: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Hypervolume each of ``points`` would add to ``front`` (rows ``(cost, 1 - quality)``,
    reference ``ref``), and 0 for a point the front dominates. Exact for two objectives."""
    P = np.asarray(points, dtype=float).reshape(-1, 2)
    lo, hi, lev = _staircase(front, ref)
    a, b = P[:, :1], P[:, 1:]
    width = np.clip(hi[None, :] - np.maximum(lo[None, :], a), 0.0, None)
    height = np.clip(np.minimum(lev[None, :], ref[1]) - b, 0.0, None)
    gain = (width * height).sum(axis=1)
    gain[(P[:, 0] >= ref[0]) | (P[:, 1] >= ref[1])] = 0.0
    return gain


def _shortfall(points: np.ndarray, front: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """How much ``1 - quality`` each point must drop to leave the front's dominated region."""
    lo, _, lev = _staircase(front, ref)
    idx = np.searchsorted(lo, points[:, 0], side="right") - 1
    return points[:, 1] - lev[idx]


def choose(
    mean: np.ndarray | None,
    std: np.ndarray | None,
    cost: np.ndarray,
    feasible: np.ndarray,
    front: np.ndarray,
    ref: np.ndarray,
    n: int,
    exploration: float,
    optimism: float = 0.0,
) -> Choice:
    """Pick ``n`` proposals (fewer if fewer are proposed).

    ``mean``/``std``: predicted quality (higher is better) and its standard deviation per
    proposal, or None (no predictor yet: feasible proposals in NSGA-II's order). ``cost``:
    relative costs; ``feasible``: the constraint holds (infeasible ones are picked last, and
    cost nothing); ``front``: the parents' front as ``(1 - quality, relative cost)`` rows (the
    search's objective order); ``ref``: the hypervolume reference in that order.
    """
    k = len(cost)
    n = min(n, k)
    order = [i for i in range(k) if feasible[i]] + [i for i in range(k) if not feasible[i]]
    if mean is None or std is None:
        picks = order[:n]
        return Choice(tuple(picks), ("order",) * len(picks), (0.0,) * len(picks))
    ref2 = np.array([ref[1], ref[0]], dtype=float)
    base = np.asarray(front, dtype=float).reshape(-1, 2)[:, ::-1]
    points = np.c_[cost, 1.0 - (np.asarray(mean) + optimism * np.asarray(std))]
    open_ = np.asarray(feasible, dtype=bool).copy()
    n_feasible = int(open_.sum())
    n_explore = min(int(np.floor(exploration * n + 0.5)), max(n_feasible - 1, 0))
    picks, kinds, gains = [], [], []
    while len(picks) < min(n - n_explore, n_feasible):
        current = np.r_[base, points[picks]] if picks else base
        gain = np.where(open_, hypervolume_gain(points, current, ref2), -1.0)
        if gain.max() > 0:
            i, kind = int(np.argmax(gain)), "gain"
        else:
            # Not dominated by the parents' front first (measured), then the nearest.
            outside = _shortfall(points, base, ref2) < 0
            short = np.where(open_, _shortfall(points, current, ref2), np.inf)
            i, kind = int(np.lexsort((short, ~outside))[0]), "closest"
        picks.append(i)
        kinds.append(kind)
        gains.append(float(max(gain[i], 0.0)))
        open_[i] = False
    while len(picks) < n_feasible and len(picks) < n:
        i = int(np.argmax(np.where(open_, std, -np.inf)))
        picks.append(i)
        kinds.append("explore")
        gains.append(0.0)
        open_[i] = False
    for i in order:  # too few feasible proposals: infeasible ones cost nothing
        if len(picks) >= n:
            break
        if i not in picks:
            picks.append(i)
            kinds.append("infeasible")
            gains.append(0.0)
    return Choice(tuple(picks), tuple(kinds), tuple(gains))
