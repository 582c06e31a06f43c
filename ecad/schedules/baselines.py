"""The heuristic baselines shipped under ``schedules/`` for each family."""

from __future__ import annotations

from ecad.schedules.heuristics import attention_every, fora, no_cache, tgate
from ecad.schedules.layout import ScheduleLayout
from ecad.schedules.schedule import Schedule

__all__ = ["baseline_schedules"]


def baseline_schedules(layout: ScheduleLayout, steps: int) -> list[Schedule]:
    """No cache, FORA-2/3/4, attention-every-2/3 and TGATE-style (k=2, gate at 40%)."""
    return [
        no_cache(layout, steps),
        fora(layout, steps, 2),
        fora(layout, steps, 3),
        fora(layout, steps, 4),
        attention_every(layout, steps, 2),
        attention_every(layout, steps, 3),
        tgate(layout, steps, 2, max(1, round(0.4 * steps))),
    ]
