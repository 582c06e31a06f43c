"""This project's heuristic schedules, as generators over any layout.

The paper's own heuristics, by the reference's names and placement rules, are in
:mod:`ecad.schedules.published`; :mod:`ecad.schedules.catalog` names both sets.

All return a :class:`Schedule` with ``True`` = recompute. Step 0 is always computed by the engine
whatever its bits, and the generators also set it to ``True`` so files read naturally.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ecad.errors import ConfigError
from ecad.schedules.layout import ScheduleLayout
from ecad.schedules.schedule import Schedule, ScheduleMetadata

__all__ = [
    "HEURISTICS",
    "attention_every",
    "cross_attn_gate",
    "evenly_spaced",
    "fora",
    "no_cache",
    "random_schedule",
]


def _check_positive(name: str, value: int) -> None:
    if int(value) < 1:
        raise ConfigError(f"{name} must be >= 1, got {value}")


def _columns(layout: ScheduleLayout, components: Sequence[str]) -> np.ndarray:
    unknown = set(components) - set(layout.family.components)
    if unknown:
        raise ConfigError(
            f"unknown component(s) {sorted(unknown)} for {layout.family_name}; "
            f"choose from {list(layout.family.components)}"
        )
    return np.array([s.component in components for s in layout.slots])


def _make(layout: ScheduleLayout, bits: np.ndarray, name: str, **attrs: object) -> Schedule:
    bits[0, :] = True
    return Schedule(layout, bits, ScheduleMetadata(name=name, attributes=dict(attrs)))


def no_cache(layout: ScheduleLayout, steps: int) -> Schedule:
    """Recompute everything at every step."""
    _check_positive("steps", steps)
    return _make(layout, np.ones((steps, layout.num_slots), bool), "no-cache")


def fora(layout: ScheduleLayout, steps: int, n: int) -> Schedule:
    """FORA: recompute every component every ``n`` steps (0, n, 2n, ...), reuse in between."""
    _check_positive("steps", steps)
    _check_positive("n", n)
    rows = (np.arange(steps) % n == 0)[:, None]
    return _make(layout, np.repeat(rows, layout.num_slots, axis=1), f"fora-{n}", n=n)


def attention_every(layout: ScheduleLayout, steps: int, n: int) -> Schedule:
    """Recompute attention components every ``n`` steps; everything else every step."""
    _check_positive("steps", steps)
    _check_positive("n", n)
    attn = _columns(
        layout,
        layout.family.components_with_role("self_attention", "joint_attention", "cross_attention"),
    )
    rows = (np.arange(steps) % n == 0)[:, None]
    bits = rows | ~attn[None, :]
    return _make(layout, bits, f"attention-every-{n}", n=n)


def cross_attn_gate(layout: ScheduleLayout, steps: int, k: int, m: int) -> Schedule:
    """A TGATE-like shape of this project's own (not the paper's ``tgate``, see
    :func:`ecad.schedules.published.tgate`): self-attention recomputed every ``k`` steps
    throughout, with no warm-up; cross-attention computed up to step ``m`` and reused from ``m``
    on; MLPs always computed. Families without cross-attention (FLUX) get only the
    self-attention part."""
    _check_positive("steps", steps)
    _check_positive("k", k)
    if not 1 <= m <= steps:
        raise ConfigError(f"m (gate step) must be in 1..{steps}, got {m}")
    fam = layout.family
    selfattn = _columns(layout, fam.components_with_role("self_attention", "joint_attention"))
    cross = _columns(layout, fam.components_with_role("cross_attention"))
    t = np.arange(steps)[:, None]
    bits = np.ones((steps, layout.num_slots), bool)
    bits = np.where(selfattn[None, :], t % k == 0, bits)
    bits = np.where(cross[None, :], t < m, bits)
    return _make(layout, bits, f"cross-attn-gate-k{k}-m{m}", k=k, m=m)


def evenly_spaced(
    layout: ScheduleLayout,
    steps: int,
    component: str,
    num_reuse_steps: int,
    blocks: Sequence[int] | None = None,
) -> Schedule:
    """Reuse one component at ``num_reuse_steps`` evenly spaced steps (never step 0), in the given
    blocks (default: all blocks of every group that has the component)."""
    _check_positive("steps", steps)
    if not 0 <= num_reuse_steps <= steps - 1:
        raise ConfigError(f"num_reuse_steps must be in 0..{steps - 1}, got {num_reuse_steps}")
    cols = _columns(layout, [component])
    if blocks is not None:
        cols &= np.array([s.block in set(blocks) for s in layout.slots])
        if not cols.any():
            raise ConfigError(f"blocks {list(blocks)} select no {component!r} slot")
    reuse_steps = np.unique(np.round(np.linspace(1, steps - 1, num_reuse_steps)).astype(int))
    bits = np.ones((steps, layout.num_slots), bool)
    if num_reuse_steps:
        bits[np.ix_(reuse_steps, np.flatnonzero(cols))] = False
    return _make(
        layout,
        bits,
        f"evenly-{component}-{num_reuse_steps}",
        component=component,
        reuse_steps=[int(s) for s in reuse_steps],
    )


def random_schedule(layout: ScheduleLayout, steps: int, p_reuse: float, seed: int) -> Schedule:
    """Each (step, slot) reused independently with probability ``p_reuse``."""
    _check_positive("steps", steps)
    if not 0.0 <= p_reuse <= 1.0:
        raise ConfigError(f"p_reuse must be in [0, 1], got {p_reuse}")
    rng = np.random.default_rng(seed)
    bits = rng.random((steps, layout.num_slots)) >= p_reuse
    return _make(layout, bits, f"random-p{p_reuse:g}-s{seed}", p_reuse=p_reuse, seed=seed)


HEURISTICS: dict[str, Callable[..., Schedule]] = {
    "no-cache": no_cache,
    "fora": fora,
    "attention-every": attention_every,
    "cross-attn-gate": cross_attn_gate,
    "evenly-spaced": evenly_spaced,
    "random": random_schedule,
}
