"""Everything the report shows, read from the store into plain records (no HTML, no plots).

All access to the search's stored state is here, so the plots and the page only see
:class:`ReportData`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import yaml

from ecad.report.snippet import PipelineCall
from ecad.report.units import QualityUnit, quality_unit
from ecad.schedules import Schedule
from ecad.search.nsga import unpack_genomes
from ecad.search.objectives import INFEASIBLE
from ecad.search.preselection.summary import PreselectionRow, preselection_rows
from ecad.search.pruning_records import PruningDecision
from ecad.search.records import GenerationRecord
from ecad.search.session import SearchSession

__all__ = [
    "Candidate",
    "FrontMember",
    "GenerationRow",
    "PartialEvaluation",
    "ReportData",
    "collect",
    "readable_spec",
    "reuse_maps",
]


@dataclass(frozen=True)
class PartialEvaluation:
    """How far a candidate stopped by pruning got: its quality is estimated from these shards
    (a prefix of its shards) and images."""

    shards_used: int
    shards_total: int
    images_used: int
    images_total: int


@dataclass(frozen=True)
class Candidate:
    """One evaluated (or pruned, failed, or infeasible) candidate of one generation."""

    generation: int
    index: int
    name: str
    quality: float | None  # None: failed or infeasible; partial: the pruning estimate
    relative_cost: float
    reuse: float
    status: str  # "evaluated", "partial" (stopped by pruning), "failed" or "infeasible"
    partial: PartialEvaluation | None = None  # set when status is "partial"


@dataclass(frozen=True)
class GenerationRow:
    generation: int
    hypervolume: float
    front: int
    counts: dict[str, int]  # distinct evaluations by outcome, "pruned" among them
    seconds: float
    images: int = 0  # images generated (candidates' and reference images; 0 when cached)
    images_saved: int = 0  # images pruned candidates' remaining shards would have needed
    shard_seconds: float = 0.0  # summed time of the shard work (see GenerationWork)


@dataclass(frozen=True)
class ImagePair:
    prompt_index: int
    prompt: str
    image: bytes | None  # the member's (or baseline's) PNG, None if not stored
    uncached: bytes | None  # the no-cache PNG of the same prompt and seed
    #: Video families: ``image`` and ``uncached`` are WebM (VP9) copies of the stored videos,
    #: made for the page (b"" where the stored video is unreadable).
    video: bool = False


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
    pipeline: PipelineCall  # what the apply snippet loads and how it calls it
    baselines: list[Baseline] = field(default_factory=list)
    task_failures: list[dict[str, str]] = field(default_factory=list)
    pruning_enabled: bool = False
    preselection: tuple[PreselectionRow, ...] = ()  # one per generation that pre-selected

    @property
    def partial(self) -> list[Candidate]:
        """Candidates stopped by pruning (their quality is an estimate)."""
        return [c for c in self.candidates if c.status == "partial"]

    @property
    def shows_pruning(self) -> bool:
        """Whether the page shows pruning: the spec enables it or some generation pruned."""
        return self.pruning_enabled or any(g.counts.get("pruned", 0) for g in self.history)

    @property
    def failed(self) -> list[Candidate]:
        return [c for c in self.candidates if c.status == "failed"]

    @property
    def wall_seconds(self) -> float:
        return float(sum(g.seconds for g in self.history))

    @property
    def images_generated(self) -> int:
        """Images the generations generated (reference images included, stored ones not)."""
        return sum(g.images for g in self.history)

    @property
    def images_saved(self) -> int:
        return sum(g.images_saved for g in self.history)

    @property
    def shard_seconds(self) -> float:
        return float(sum(g.shard_seconds for g in self.history))


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


def _pruning_decisions(session: SearchSession, generation: int) -> dict[int, PruningDecision]:
    """The pruning decision of each candidate stopped in ``generation``, by offspring index."""
    return {index: partial.decision for partial in session.partial(generation).values()
            for index in partial.candidates}


def _partial_evaluation(decision: PruningDecision, images_total: int) -> PartialEvaluation:
    return PartialEvaluation(
        shards_used=decision.shards_used,
        shards_total=decision.shards_total,
        images_used=decision.images_used,
        images_total=images_total,
    )


def _status(f: np.ndarray, g: np.ndarray, pruned: bool) -> str:
    if g[0] > 0:
        return "infeasible"
    if f[0] >= INFEASIBLE:
        return "failed"
    return "partial" if pruned else "evaluated"


def _candidates(session: SearchSession, history: list[GenerationRecord]) -> list[Candidate]:
    out = []
    images_total = session.plan.images_total
    for rec in history:
        gen = rec.generation
        decisions = _pruning_decisions(session, gen)
        X = unpack_genomes(list(rec.offspring.X), session.n_var)
        F = np.asarray(rec.offspring.F, dtype=float).reshape(-1, 2)
        G = np.asarray(rec.offspring.G, dtype=float).reshape(-1, 1)
        for i, (genome, f, g) in enumerate(zip(X, F, G)):
            status = _status(f, g, i in decisions)
            partial = (_partial_evaluation(decisions[i], images_total) if status == "partial"
                       else None)
            out.append(Candidate(
                generation=gen,
                index=i,
                name=f"{session.spec.name}_gen_{gen:03d}_cand_{i:03d}",
                quality=(float(decisions[i].estimate) if partial
                         else 1.0 - float(f[0]) if status == "evaluated" else None),
                relative_cost=float(f[1]),
                reuse=float((~genome.astype(bool)).mean()),
                status=status,
                partial=partial,
            ))
    return out


def _generation_row(record: GenerationRecord) -> GenerationRow:
    return GenerationRow(
        generation=record.generation,
        hypervolume=record.hypervolume,
        front=len(record.front),
        counts=record.counts.to_json(),
        seconds=record.seconds,
        images=record.work.images,
        images_saved=record.work.images_saved,
        shard_seconds=record.work.shard_seconds,
    )


def images_for(session: SearchSession, schedule: Schedule, prompts: int) -> tuple[ImagePair, ...]:
    """The first image of each of the first ``prompts`` prompts, beside the uncached one;
    for video families the first video, as WebM for the page."""
    from ecad.store.keys import image_key

    setting = session.setting
    uncached = setting.generation_key(Schedule.full(session.layout, session.spec.steps))
    gen_key = setting.generation_key(schedule)
    video = setting.is_video

    def get(key: str) -> bytes | None:
        if not session.store.exists(key):
            return None
        data = session.store.get(key)
        return _page_video(data, setting.fps) if video else data

    return tuple(
        ImagePair(p, setting.prompts[p], get(image_key(gen_key, p, 0, video=video)),
                  get(image_key(uncached, p, 0, video=video)), video)
        for p in range(min(prompts, len(setting.prompts)))
    )


def _page_video(data: bytes, fps: int) -> bytes:
    """A stored (lossless, RGB) video as VP9 WebM, which every browser plays; b"" if the
    stored object is not a readable video."""
    from ecad.videofile import decode_video, webm

    try:
        return webm(decode_video(data), fps)
    except ValueError:
        return b""


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
            rank=row.rank,
            name=row.name,
            schedule=sched,
            quality=row.quality,
            relative_cost=row.relative_cost,
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
        history=[_generation_row(r) for r in history],
        front=front,
        pipeline=PipelineCall.of_spec(spec),
        task_failures=_task_failures(session),
        pruning_enabled=spec.pruning.enabled,
        preselection=tuple(preselection_rows(session)),
    )
