"""``searches/<id>/progress.json``: the running generation's shard counts and timing, written by
the search driver (local and cluster alike) and read by ``ecad status``. Totals (evaluated,
cached, failed) are not kept here: they come from the state and the generation records."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Any

from ecad.search.executor import ExecutorStats
from ecad.search.records import Counts, GenerationRecord
from ecad.store import MissingObjectError, ObjectStore
from ecad.store.keys import progress_key
from ecad.store.records import StoreObjectError, check_version, read_record, require

log = logging.getLogger(__name__)

__all__ = [
    "PROGRESS_VERSION",
    "GenerationProgress",
    "GenerationTiming",
    "ProgressBook",
    "ProgressRecord",
    "read_progress",
]

PROGRESS_VERSION = 1
_KEEP = 100  # per-generation timing entries kept (for the ETA and the benchmarks)


@dataclass
class GenerationProgress:
    """Shard counts of the running generation (the driver's own tally, updated in place; the
    record written is a frozen copy)."""

    shards_done: int = 0
    shards_total: int = 0
    in_flight: int = 0
    failed: int = 0  # candidates of this generation that failed so far


@dataclass(frozen=True)
class GenerationTiming:
    """One finished generation's timing, kept for the ETA and the benchmarks."""

    generation: int
    seconds: float
    cpu_seconds: float
    hypervolume: float
    front: int
    counts: Counts

    def to_json(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "seconds": self.seconds,
            "cpu_seconds": self.cpu_seconds,
            "hypervolume": self.hypervolume,
            "front": self.front,
            "counts": self.counts.to_json(),
        }

    @classmethod
    def from_json(cls, data: Any) -> GenerationTiming:
        return cls(
            require(data, "generation", int),
            float(require(data, "seconds", (int, float))),
            float(require(data, "cpu_seconds", (int, float))),
            float(require(data, "hypervolume", (int, float))),
            require(data, "front", int),
            Counts.from_json(require(data, "counts", dict)),
        )


@dataclass(frozen=True)
class ProgressRecord:
    """The progress record. Fields that are None were never set (and are not written)."""

    generation: int = 0
    generations: tuple[GenerationTiming, ...] = ()
    phase: str | None = None
    generation_started: float | None = None
    remaining: int | None = None
    shards_done: int | None = None
    shards_total: int | None = None
    in_flight: int | None = None
    failed: int | None = None
    executor: ExecutorStats | None = None
    updated: float | None = None
    eta_seconds: float | None = None
    version: int = PROGRESS_VERSION

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": self.version,
            "generation": self.generation,
            "generations": [g.to_json() for g in self.generations],
        }
        for name in (
            "phase",
            "generation_started",
            "remaining",
            "shards_done",
            "shards_total",
            "in_flight",
            "failed",
            "updated",
            "eta_seconds",
        ):
            if (value := getattr(self, name)) is not None:
                out[name] = value
        if self.executor is not None:
            out.update(self.executor.to_json())
        return out

    @classmethod
    def from_json(cls, data: Any) -> ProgressRecord:
        check_version(data, PROGRESS_VERSION, "progress record")
        history = require(data, "generations", list)
        counts = {n: data.get(n) for n in ("shards_done", "shards_total", "in_flight", "failed")}
        executor = None
        if "tasks_sent" in data:
            executor = ExecutorStats(
                tasks_sent=int(data["tasks_sent"]),
                tasks_resent=int(data.get("tasks_resent", 0)),
                resend_reasons=data.get("resend_reasons"),
                last_resend_reason=data.get("last_resend_reason"),
                deadline_s=data.get("deadline_s"),
                queued=data.get("queued"),
            )
        return cls(
            generation=require(data, "generation", int),
            generations=tuple(GenerationTiming.from_json(g) for g in history),
            phase=data.get("phase"),
            generation_started=data.get("generation_started"),
            remaining=data.get("remaining"),
            executor=executor,
            updated=data.get("updated"),
            eta_seconds=data.get("eta_seconds"),
            **counts,
        )


def read_progress(store: ObjectStore, search_id: str) -> ProgressRecord | None:
    """The progress record; None if there is none or it is unreadable (it is derived: the
    driver rewrites it whole at its next write)."""
    try:
        return read_record(store, progress_key(search_id), ProgressRecord.from_json)
    except MissingObjectError:
        return None
    except StoreObjectError as exc:
        log.warning("ignoring the progress record: %s", exc)
        return None


class ProgressBook:
    """Throttled writer of one search's progress record (at most one write a second, plus one
    at each generation's start and end)."""

    def __init__(self, store: ObjectStore, search_id: str, min_interval_s: float = 1.0) -> None:
        self.store = store
        self.search_id = search_id
        self.min_interval_s = min_interval_s
        self._last = 0.0
        self._cpu_at_start = 0.0
        self.record = ProgressRecord()
        old = read_progress(store, search_id)  # unreadable: rewritten; timing is not authoritative
        if old is not None:
            self.record = ProgressRecord(generations=old.generations[-_KEEP:])

    def start(
        self,
        generation: int,
        remaining: int,
        counts: GenerationProgress,
        executor_stats: ExecutorStats,
    ) -> None:
        """``remaining``: generations left, this one included."""
        self.record = replace(
            self.record,
            generation=generation,
            phase="evaluate",
            generation_started=time.time(),
            remaining=remaining,
        )
        self._cpu_at_start = time.process_time()
        self.update(counts, executor_stats, force=True)

    def update(
        self, counts: GenerationProgress, executor_stats: ExecutorStats, force: bool = False
    ) -> None:
        rec = replace(
            self.record,
            shards_done=counts.shards_done,
            shards_total=counts.shards_total,
            in_flight=counts.in_flight,
            failed=counts.failed,
            executor=executor_stats,
            updated=time.time(),
        )
        if rec.generations:
            per_gen = sum(g.seconds for g in rec.generations) / len(rec.generations)
            frac = counts.shards_done / counts.shards_total if counts.shards_total else 0.0
            remaining = 1 if rec.remaining is None else rec.remaining
            rec = replace(rec, eta_seconds=per_gen * max(0.0, remaining - frac))
        self.record = rec
        now = time.monotonic()
        if force or now - self._last >= self.min_interval_s:
            self._last = now
            self.store.put_json(progress_key(self.search_id), rec.to_json())

    def finish(
        self, record: GenerationRecord, phase: str, remaining: int, executor_stats: ExecutorStats
    ) -> None:
        rec = self.record
        started = time.time() if rec.generation_started is None else rec.generation_started
        timing = GenerationTiming(
            generation=record.generation,
            seconds=time.time() - started,
            cpu_seconds=time.process_time() - self._cpu_at_start,
            hypervolume=record.hypervolume,
            front=len(record.front),
            counts=record.counts,
        )
        self.record = replace(
            rec,
            generations=(*rec.generations, timing)[-_KEEP:],
            phase=phase,
            generation=record.generation + 1,
            in_flight=0,
            remaining=remaining,
        )
        self.update(GenerationProgress(), executor_stats, force=True)
