"""What ``ecad status`` shows for a search, from its state, its generation records' totals and
(while a generation runs) its progress record. The same for local and cluster searches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ecad.search.markers import failure_reason
from ecad.search.preselection.summary import (
    PreselectionStatus,
    preselection_status,
    status_text,
)
from ecad.search.progress import read_progress
from ecad.search.records import Phase
from ecad.search.running import RunningGeneration
from ecad.search.session import SearchSession
from ecad.store import ObjectStore

__all__ = [
    "RunningGeneration",
    "SearchStatusRecord",
    "broken_status",
    "search_status",
    "status_line",
]


@dataclass(frozen=True)
class SearchStatusRecord:
    """A search's status: its phase, totals over the finished generations and, while a
    generation runs, its shard counts. A failed search has its ``reason`` and nothing else."""

    search_id: str
    phase: Phase
    reason: str = ""
    generation: int = 0  # generations finished so far
    generations: int = 0
    population: int = 0
    evaluated: int = 0
    cached: int = 0
    failed: int = 0
    infeasible: int = 0
    pruned: int = 0
    images: int = 0
    images_saved: int = 0
    shard_seconds: float = 0.0
    running: RunningGeneration | None = None
    preselection: PreselectionStatus | None = None  # issue 28: None when it is off


def broken_status(store: ObjectStore, search_id: str, error: Exception) -> SearchStatusRecord:
    """The status of a search that cannot be opened: failed (with the recorded reason, else
    the error now) -- the other searches' status is unaffected."""
    reason = failure_reason(store, search_id) or str(error)
    return SearchStatusRecord(search_id, Phase.FAILED, reason=reason)


def search_status(store: ObjectStore, search_id: str) -> SearchStatusRecord:
    session = SearchSession.open(store, search_id)
    phase = session.phase
    if phase is Phase.FAILED:
        return SearchStatusRecord(search_id, phase, reason=session.state.failed_reason)
    counts, work = session.counts, session.work
    prog = read_progress(store, search_id)
    running = None
    if (
        phase is Phase.EVALUATE
        and prog is not None
        and prog.phase == Phase.EVALUATE.value
        and prog.generation == session.generation
    ):
        running = RunningGeneration(
            shards_done=prog.shards_done or 0,
            shards_total=prog.shards_total or 0,
            in_flight=prog.in_flight or 0,
            failed=prog.failed or 0,
            eta_seconds=prog.eta_seconds,
        )
    return SearchStatusRecord(
        search_id=search_id,
        phase=phase,
        generation=session.generation,
        generations=session.spec.generations,
        population=session.spec.population,
        evaluated=counts.evaluated,
        cached=counts.cached,
        failed=counts.failed,
        infeasible=counts.infeasible,
        pruned=counts.pruned,
        images=work.images,
        images_saved=work.images_saved,
        shard_seconds=work.shard_seconds,
        running=running,
        preselection=preselection_status(session),
    )


class _Running(Protocol):
    shards_done: int
    shards_total: int
    in_flight: int
    failed: int
    eta_seconds: float | None


class StatusLike(Protocol):
    """What :func:`status_line` reads: a :class:`SearchStatusRecord`, or the CLI's status of a
    search (the same fields; its phase may be a plain string)."""

    search_id: str
    phase: str
    reason: str | None
    generation: int
    generations: int
    evaluated: int
    cached: int
    failed: int
    infeasible: int
    pruned: int
    images: int
    images_saved: int
    shard_seconds: float
    preselection: PreselectionStatus | None

    @property
    def running(self) -> _Running | None: ...


def status_line(r: StatusLike) -> str:
    if r.phase == Phase.FAILED:
        return f"{r.search_id}: failed: {r.reason}"
    counts = (
        f"evaluated {r.evaluated}, cached {r.cached}, failed {r.failed}, infeasible {r.infeasible}"
    )
    if r.pruned:
        counts += f", pruned {r.pruned} (partial)"
    if r.images:
        saved = f", {r.images_saved} saved by pruning" if r.images_saved else ""
        counts += f" | images {r.images}{saved}, {r.shard_seconds / 3600:.2f} GPU-h"
    if r.preselection is not None:
        counts += status_text(r.preselection)
    finished = r.generation  # generations finished so far
    if r.phase == Phase.FINISHED:
        return f"{r.search_id}: done ({finished} generations) | {counts}"
    if r.phase == Phase.CANCELLED:
        return f"{r.search_id}: cancelled after {finished} generations | {counts}"
    head = f"{r.search_id}: {r.phase!s}, generation {r.generation}/{r.generations}"
    run = r.running
    if run is None:
        return f"{head} | {counts}"
    eta = f"{run.eta_seconds / 60:.1f} min" if run.eta_seconds is not None else "-"
    failing = f", {run.failed} failed" if run.failed else ""
    return (
        f"{head}, shards {run.shards_done}/{run.shards_total}, in flight "
        f"{run.in_flight}{failing}, ETA {eta} | {counts}"
    )
