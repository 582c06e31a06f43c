"""The heuristic baselines shipped under ``schedules/`` for each family."""

from __future__ import annotations

from ecad.schedules.heuristics import attention_every, fora, no_cache
from ecad.schedules.layout import ScheduleLayout
from ecad.schedules.published import tgate
from ecad.schedules.schedule import Schedule

__all__ = ["baseline_schedules"]


def baseline_schedules(layout: ScheduleLayout, steps: int) -> list[Schedule]:
    """No cache, FORA-2/3/4, attention-every-2/3 and, for families with cross-attention, the
    paper's ``tgate_without_ca_avg(m, 2)`` with the gate at 40% of the steps."""
    out = [
        no_cache(layout, steps),
        fora(layout, steps, 2),
        fora(layout, steps, 3),
        fora(layout, steps, 4),
        attention_every(layout, steps, 2),
        attention_every(layout, steps, 3),
    ]
    if layout.family.components_with_role("cross_attention"):
        out.append(tgate(layout, steps, m=max(1, round(0.4 * steps)), k=2, average=False))
    return out
