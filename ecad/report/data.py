"""Everything the report shows, read from the store into plain records (no HTML, no plots).

All access to the search's stored state is here, so the plots and the page only see
:class:`ReportData`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import yaml

from ecad.report.units import QualityUnit, quality_unit
from ecad.schedules import Schedule
from ecad.search.nsga import unpack_genomes
from ecad.search.objectives import INFEASIBLE
from ecad.search.session import SearchSession

__all__ = [
    "Candidate",
    "FrontMember",
    "GenerationRow",
    "ReportData",
    "collect",
    "readable_spec",
    "reuse_maps",
]


@dataclass(frozen=True)
class Candidate:
    """One evaluated (or failed, or infeasible) candidate of one generation."""

    generation: int
    index: int
    name: str
    quality: float | None  # None: failed or infeasible
    relative_cost: float
    reuse: float
    status: str  # "evaluated", "failed" or "infeasible"


@dataclass(frozen=True)
class GenerationRow:
    generation: int
    hypervolume: float
    front: int
    counts: dict[str, int]
    seconds: float


@dataclass(frozen=True)
class ImagePair:
    prompt_index: int
    prompt: str
    image: bytes | None  # the member's (or baseline's) PNG, None if not stored
    uncached: bytes | None  # the no-cache PNG of the same prompt and seed


@dataclass(frozen=True)
class FrontMember:
    rank: int
    name: str
    schedule: Schedule
    quality: float
    relative_cost: float
    schedule_json: dict[str, Any]  # published format, with config and metrics
    images: tuple[ImagePair, ...]

    @property
    def speedup(self) -> float:
        return 1.0 / self.relative_cost

    @property
    def reuse(self) -> float:
        return self.schedule.reuse_fraction()


@dataclass(frozen=True)
class Baseline:
    name: str
    quality: float | None  # None: not evaluated
    relative_cost: float
    reuse: float


@dataclass
class ReportData:
    search_id: str
    store: str
    family: str
    phase: str
    generation: int
    generations: int
    unit: QualityUnit
    cost_mode: str
    spec_yaml: str
    candidates: list[Candidate]
    history: list[GenerationRow]
    front: list[FrontMember]
    baselines: list[Baseline] = field(default_factory=list)
    task_failures: list[dict[str, str]] = field(default_factory=list)
    images_per_candidate: int = 0

    @property
    def failed(self) -> list[Candidate]:
        return [c for c in self.candidates if c.status == "failed"]

    @property
    def wall_seconds(self) -> float:
        return float(sum(g.seconds for g in self.history))

    @property
    def images_generated(self) -> int:
        return sum(g.counts.get("evaluated", 0) for g in self.history) * self.images_per_candidate


def reuse_maps(schedule: Schedule) -> dict[str, tuple[list[str], np.ndarray]]:
    """Per component: (block labels, ``[blocks, steps]`` 0/1 array of effective reuse)."""
    reuse = ~schedule.effective()
    out: dict[str, tuple[list[str], list[np.ndarray]]] = {}
    for col, slot in enumerate(schedule.layout.slots):
        labels, rows = out.setdefault(slot.component, ([], []))
        labels.append(slot.block_key)
        rows.append(reuse[:, col])
    return {c: (labels, np.asarray(rows, dtype=int)) for c, (labels, rows) in out.items()}


def readable_spec(data: dict[str, Any]) -> dict[str, Any]:
    """A resolved spec as people read it: the prompt texts replaced by their count."""
    data = dict(data)
    prompts = dict(data.get("prompts") or {})
    texts = prompts.pop("texts", None)
    if texts is not None:
        prompts["count"] = len(texts)
    data["prompts"] = prompts
    return data


def _spec_yaml(session: SearchSession) -> str:
    return yaml.safe_dump(readable_spec(session.spec.to_json()), sort_keys=False)


def _candidates(session: SearchSession, history: list[dict]) -> list[Candidate]:
    out = []
    for rec in history:
        gen = rec.generation
        X = unpack_genomes(list(rec.offspring.X), session.n_var)
        F = np.asarray(rec.offspring.F, dtype=float).reshape(-1, 2)
        G = np.asarray(rec.offspring.G, dtype=float).reshape(-1, 1)
        for i, (genome, f, g) in enumerate(zip(X, F, G)):
            status = "infeasible" if g[0] > 0 else "failed" if f[0] >= INFEASIBLE else "evaluated"
            out.append(Candidate(
                generation=gen,
                index=i,
                name=f"{session.spec.name}_gen_{gen:03d}_cand_{i:03d}",
                quality=1.0 - float(f[0]) if status == "evaluated" else None,
                relative_cost=float(f[1]),
                reuse=float((~genome.astype(bool)).mean()),
                status=status,
            ))
    return out


def images_for(session: SearchSession, schedule: Schedule, prompts: int) -> tuple[ImagePair, ...]:
    """The first image of each of the first ``prompts`` prompts, beside the uncached one."""
    from ecad.store.layout import image_key

    setting = session.setting
    uncached = setting.generation_key(Schedule.full(session.layout, session.spec.steps))
    gen_key = setting.generation_key(schedule)

    def get(key: str) -> bytes | None:
        return session.store.get(key) if session.store.exists(key) else None

    return tuple(
        ImagePair(p, setting.prompts[p], get(image_key(gen_key, p, 0)),
                  get(image_key(uncached, p, 0)))
        for p in range(min(prompts, len(setting.prompts)))
    )


def _task_failures(session: SearchSession) -> list[dict[str, str]]:
    """Shard tasks the cluster gave up on (``failures/``), with the recorded reason."""
    out = []
    for key in sorted(session.store.list("failures/")):
        record = session.store.get_json(key)
        out.append({"task": str(record.get("task", key)), "reason": str(record.get("reason", ""))})
    return out


def collect(session: SearchSession, prompts: int = 3, store_url: str | None = None) -> ReportData:
    """Read the search's history, front and images. Baselines are added by the caller.

    ``store_url``: how the reader names the store in commands (default: the store's own).
    """
    from ecad.schedules import schedule_to_json
    from ecad.search.results import front_rows, schedule_with_metrics

    history = session.history()
    candidates = _candidates(session, history)
    front = []
    members = session.front()
    rows = front_rows(session) if members else []
    for row, member in zip(rows, members):
        sched = member.schedule
        front.append(FrontMember(
            rank=row["rank"],
            name=row["name"],
            schedule=sched,
            quality=row["quality"],
            relative_cost=row["relative_cost"],
            schedule_json=schedule_to_json(schedule_with_metrics(session, member)),
            images=images_for(session, sched, prompts),
        ))
    spec = session.spec
    return ReportData(
        search_id=session.search_id,
        store=store_url or session.store.describe(),
        family=spec.family,
        phase=str(getattr(session.phase, "value", session.phase)),
        generation=session.generation,
        generations=spec.generations,
        unit=quality_unit(spec.to_json()["quality"]),
        cost_mode=session.table.mode,
        spec_yaml=_spec_yaml(session),
        candidates=candidates,
        history=[GenerationRow(r.generation, r.hypervolume, len(r.front), r.counts.to_json(),
                               r.seconds) for r in history],
        front=front,
        task_failures=_task_failures(session),
        images_per_candidate=len(session.setting.prompts) * spec.images_per_prompt,
    )
