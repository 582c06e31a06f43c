"""A search's results: the Pareto front as a table and as published-format schedule files."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ecad.schedules import Schedule, write_schedule
from ecad.search.records import FrontMember
from ecad.search.session import SearchSession

__all__ = ["FrontRow", "export_front", "front_rows", "schedule_with_metrics"]


def schedule_with_metrics(session: SearchSession, member: FrontMember) -> Schedule:
    """The member's schedule with ``config`` and ``metrics`` filled in as in ECAD's files."""
    sched = member.schedule
    table = session.table
    step_costs = table.step_costs(sched)
    unit_key = "macs" if table.unit == "MACs" else "latency_ms"
    metrics = {
        "by_inference_step": {f"{i:03d}": {unit_key: float(c)} for i, c in enumerate(step_costs)},
        f"total_{unit_key}": float(step_costs.sum()),
        "relative_cost": member.relative_cost,
        "predicted_speedup": 1.0 / member.relative_cost,
        "cost_model": {"mode": table.mode, "resolution": table.resolution, "batch": table.batch},
        "quality": member.quality,
        "quality_spec": session.spec.quality.to_json(),
        "search_id": session.search_id,
    }
    config = {
        "height": session.spec.resolution,
        "width": session.spec.resolution,
        "guidance_scale": session.spec.guidance,
        "pipeline": {"name": session.spec.family, "weights": session.spec.weights},
    }
    attrs = {
        "num_affected_steps": int((~sched.effective()).any(axis=1).sum()),
        "total_num_affected_blocks": int((~sched.effective()).sum()),
    }
    return sched.with_metadata(config=config, metrics=metrics, attributes=attrs)


@dataclass(frozen=True)
class FrontRow:
    """One member of a search's front as ``ecad pareto`` lists it (rank 0: the cheapest)."""

    rank: int
    name: str
    quality: float
    relative_cost: float
    speedup: float
    cost: float
    reuse: float
    digest: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def front_rows(session: SearchSession) -> list[FrontRow]:
    return [
        FrontRow(
            rank=n,
            name=m.schedule.metadata.name,
            quality=m.quality,
            relative_cost=m.relative_cost,
            speedup=1.0 / m.relative_cost,
            cost=m.cost,
            reuse=m.schedule.reuse_fraction(),
            digest=m.schedule.digest(),
        )
        for n, m in enumerate(session.front())
    ]


def export_front(session: SearchSession, directory: str | Path) -> list[Path]:
    out = Path(directory)
    paths = []
    for member in session.front():
        sched = schedule_with_metrics(session, member)
        paths.append(write_schedule(sched, out / f"{sched.metadata.name}.json"))
    return paths
