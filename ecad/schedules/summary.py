"""Human-readable summaries of a schedule: reuse per component and per step."""

from __future__ import annotations

from typing import Any

import numpy as np

from ecad.schedules.schedule import Schedule

__all__ = ["summarize"]


def summarize(schedule: Schedule) -> dict[str, Any]:
    """Reuse fractions overall, per component and per step (step 0 counts as computed)."""
    reuse = ~schedule.effective()
    components = [s.component for s in schedule.layout.slots]
    per_component = {
        name: float(reuse[:, [c == name for c in components]].mean())
        for name in dict.fromkeys(components)
    }
    return {
        "name": schedule.metadata.name,
        "family": schedule.layout.family_name,
        "layout": schedule.layout.describe(),
        "steps": schedule.steps,
        "slots": schedule.num_slots,
        "digest": schedule.digest(),
        "reuse_fraction": float(reuse.mean()),
        "reuse_by_component": per_component,
        "reuse_by_step": [float(x) for x in reuse.mean(axis=1)],
        "reused_slots": len(schedule.reused_slots()),
    }


def reuse_bar(fraction: float, width: int = 20) -> str:
    filled = int(np.round(fraction * width))
    return "#" * filled + "." * (width - filled)
