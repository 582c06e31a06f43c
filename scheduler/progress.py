"""``searches/<id>/progress.json``: what ``ecad status`` shows (shards done / in flight / failed,
generation timing, ETA), written by the scheduler."""

from __future__ import annotations

import time
from typing import Any

from ecad.search import SearchSession
from ecad.store import ObjectStore

__all__ = ["ProgressBook", "read_progress"]


def _key(search_id: str) -> str:
    return f"searches/{search_id}/progress.json"


def read_progress(store: ObjectStore, search_id: str) -> dict[str, Any] | None:
    key = _key(search_id)
    return store.get_json(key) if store.exists(key) else None


class ProgressBook:
    """Throttled writer of progress records (at most one write per search per second)."""

    def __init__(self, store: ObjectStore, min_interval_s: float = 1.0) -> None:
        self.store = store
        self.min_interval_s = min_interval_s
        self._last: dict[str, float] = {}
        self._records: dict[str, dict[str, Any]] = {}
        self._cpu_at_start: dict[str, float] = {}

    def _record(self, session: SearchSession) -> dict[str, Any]:
        rec = self._records.get(session.search_id)
        if rec is None:
            rec = read_progress(self.store, session.search_id) or {"generations": []}
            self._records[session.search_id] = rec
        return rec

    def start_generation(self, session: SearchSession, cpu_seconds: float) -> None:
        """``cpu_seconds``: the scheduler's CPU time so far (per-generation CPU is a difference)."""
        rec = self._record(session)
        rec["generation"] = session.generation
        rec["generation_started"] = time.time()
        self._cpu_at_start[session.search_id] = cpu_seconds

    def update(self, session: SearchSession, stats: dict[str, int], dispatcher: Any) -> None:
        rec = self._record(session)
        rec.update(stats)
        rec["tasks_sent"] = dispatcher.sent_total
        rec["tasks_resent"] = dispatcher.resent_total
        rec["phase"] = session.phase
        rec["updated"] = time.time()
        done_gens = rec["generations"]
        remaining = session.spec.generations + 1 - session.generation
        if done_gens:
            per_gen = sum(g["seconds"] for g in done_gens) / len(done_gens)
            frac = stats["shards_done"] / stats["shards_total"] if stats["shards_total"] else 0
            rec["eta_seconds"] = max(0.0, per_gen * (remaining - frac))
        now = time.monotonic()
        if now - self._last.get(session.search_id, 0.0) >= self.min_interval_s:
            self._last[session.search_id] = now
            self.store.put_json(_key(session.search_id), rec)

    def finish_generation(self, session: SearchSession, record: dict, cpu_seconds: float) -> None:
        rec = self._record(session)
        started = rec.get("generation_started", time.time())
        cpu_before = self._cpu_at_start.get(session.search_id, cpu_seconds)
        rec["generations"].append(
            {
                "generation": record["generation"],
                "seconds": time.time() - started,
                "scheduler_cpu_seconds": cpu_seconds - cpu_before,
                "hypervolume": record["hypervolume"],
                "front": len(record["front"]),
                "counts": record["counts"],
            }
        )
        rec["phase"] = session.phase
        rec["generation"] = session.generation
        rec["in_flight"] = 0
        rec["updated"] = time.time()
        self.store.put_json(_key(session.search_id), rec)
        self._last[session.search_id] = time.monotonic()
