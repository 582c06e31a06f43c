"""``searches/<id>/progress.json``: the running generation's shard counts and timing, written by
the search driver (local and cluster alike) and read by ``ecad status``. Totals (evaluated,
cached, failed) are not kept here: they come from the state and the generation records."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from ecad.store import MissingObjectError, ObjectStore
from ecad.store.layout import progress_key
from ecad.store.records import StoreObjectError, check_version, read_record, require

log = logging.getLogger(__name__)

__all__ = ["PROGRESS_VERSION", "GenerationProgress", "ProgressBook", "read_progress"]

PROGRESS_VERSION = 1
_KEEP = 100  # per-generation timing entries kept (for the ETA and the benchmarks)


@dataclass
class GenerationProgress:
    """Shard counts of the running generation (the driver updates these in place)."""

    shards_done: int = 0
    shards_total: int = 0
    in_flight: int = 0
    failed: int = 0  # candidates of this generation that failed so far


def _progress(data: Any) -> dict[str, Any]:
    check_version(data, PROGRESS_VERSION, "progress record")
    require(data, "generation", int)
    require(data, "generations", list)
    return data


def read_progress(store: ObjectStore, search_id: str) -> dict[str, Any] | None:
    """The progress record; None if there is none or it is unreadable (it is derived: the
    driver rewrites it whole at its next write)."""
    try:
        return read_record(store, progress_key(search_id), _progress)
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
        self.record: dict[str, Any] = {"version": PROGRESS_VERSION, "generation": 0,
                                       "generations": []}
        old = read_progress(store, search_id)  # unreadable: rewritten; timing is not authoritative
        if old is not None:
            self.record["generations"] = list(old["generations"])[-_KEEP:]

    def start(
        self, generation: int, remaining: int, counts: GenerationProgress, executor_stats: dict
    ) -> None:
        """``remaining``: generations left, this one included."""
        self.record.update(
            generation=generation, phase="evaluate", generation_started=time.time(),
            remaining=remaining,
        )
        self._cpu_at_start = time.process_time()
        self.update(counts, executor_stats, force=True)

    def update(
        self, counts: GenerationProgress, executor_stats: dict, force: bool = False
    ) -> None:
        rec = self.record
        rec.update(vars(counts))
        rec.update(executor_stats)
        rec["updated"] = time.time()
        history = rec["generations"]
        if history:
            per_gen = sum(g["seconds"] for g in history) / len(history)
            frac = counts.shards_done / counts.shards_total if counts.shards_total else 0.0
            rec["eta_seconds"] = per_gen * max(0.0, rec.get("remaining", 1) - frac)
        now = time.monotonic()
        if force or now - self._last >= self.min_interval_s:
            self._last = now
            self.store.put_json(progress_key(self.search_id), rec)

    def finish(self, record: Any, phase: str, remaining: int, executor_stats: dict) -> None:
        rec = self.record
        rec["generations"] = [*rec["generations"], {
            "generation": record.generation,
            "seconds": time.time() - rec.get("generation_started", time.time()),
            "cpu_seconds": time.process_time() - self._cpu_at_start,
            "hypervolume": record.hypervolume,
            "front": len(record.front),
            "counts": record.counts.to_json(),
        }][-_KEEP:]
        rec.update(phase=phase, generation=record.generation + 1, in_flight=0,
                   remaining=remaining)
        self.update(GenerationProgress(), executor_stats, force=True)
