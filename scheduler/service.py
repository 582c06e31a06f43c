"""The scheduler service: drives every active search in the store through its generations,
dispatching shard tasks and collecting results as they land in the store.

The store is the source of truth. On each tick, for each active search, the service asks
NSGA-II for the generation's candidates (once; they are checkpointed), and for each candidate
and shard finds the first missing piece — reference images, the candidate's images, its scores
— and makes sure a task for it is queued. When every candidate has an evaluation record (or a
recorded failure), it tells NSGA-II and checkpoints. Restarting the service, Redis or the
workers loses nothing: the next tick finds the same missing pieces and queues them again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from ecad.errors import EcadError, TransientError
from ecad.search import Evaluator, SearchSession
from ecad.search.evaluation import evaluation_record_key, score_key, shard_marker_key
from ecad.store import ObjectStore
from scheduler.dispatch import Dispatcher
from scheduler.progress import ProgressBook
from worker.attempts import task_key
from worker.names import GENERATE_SHARD, SCORE_SHARD

log = logging.getLogger(__name__)

__all__ = ["SchedulerService"]


@dataclass
class _SearchRun:
    session: SearchSession
    evaluator: Evaluator
    generation: int = -1
    precached: set[str] = field(default_factory=set)


class SchedulerService:
    def __init__(self, store: ObjectStore, dispatcher: Dispatcher) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.runs: dict[str, _SearchRun] = {}
        self.known_done: set[str] = set()
        self.known_quality: dict[str, float] = {}  # evaluation key -> its record's quality
        self.progress = ProgressBook(store)
        self.cpu_seconds = 0.0

    # helpers -------------------------------------------------------------------------------
    def _exists(self, key: str) -> bool:
        """Existence with a memory of positives (finished outputs never disappear)."""
        if key in self.known_done:
            return True
        if self.store.exists(key):
            self.known_done.add(key)
            return True
        return False

    def _recorded_quality(self, eval_key: str) -> float | None:
        """The quality of a finished evaluation (read once; records never change), else None."""
        if eval_key not in self.known_quality:
            key = evaluation_record_key(eval_key)
            if not self.store.exists(key):
                return None
            self.known_quality[eval_key] = self.store.get_json(key)["quality"]
        return self.known_quality[eval_key]

    def active_searches(self) -> list[str]:
        out = []
        for search_id in SearchSession.list_ids(self.store):
            run = self.runs.get(search_id)
            if run is not None and run.session.phase in ("done", "cancelled"):
                continue
            out.append(search_id)
        return out

    def _run(self, search_id: str) -> _SearchRun:
        run = self.runs.get(search_id)
        if run is None:
            session = SearchSession.open(self.store, search_id)
            run = _SearchRun(session, Evaluator(session.spec, self.store))
            self.runs[search_id] = run
        else:
            run.session.reload()
        return run

    # one pass ------------------------------------------------------------------------------
    def tick(self) -> bool:
        """Advance every active search once. Returns True if any search is still active."""
        started = time.process_time()
        active = False
        try:
            failures = {k.split("/", 1)[1][: -len(".json")] for k in self.store.list("failures/")}
            for search_id in self.active_searches():
                try:
                    active |= self._advance_through(search_id, failures)
                except TransientError:
                    raise
                except EcadError as exc:
                    log.error("search %s: %s", search_id, exc)
        finally:
            self.cpu_seconds += time.process_time() - started
        return active

    def _advance_through(self, search_id: str, failures: set[str]) -> bool:
        """Advance; once a generation completes, ask for and queue the next one at once rather
        than a tick later (the workers are idle until it is queued)."""
        run = self._run(search_id)
        while True:
            before = run.session.generation
            active = self._advance_run(search_id, run, failures)
            if not active or run.session.generation == before:
                return active

    def advance(self, search_id: str, failures: set[str]) -> bool:
        """One pass over one search: record what finished, queue what is missing."""
        return self._advance_run(search_id, self._run(search_id), failures)

    def _advance_run(self, search_id: str, run: _SearchRun, failures: set[str]) -> bool:
        session, ev = run.session, run.evaluator
        if session.phase in ("done", "cancelled"):
            return False
        pending = session.pending()
        if run.generation != session.generation:
            run.generation = session.generation
            run.precached = {
                c.digest
                for c in pending
                if c.feasible and self._recorded_quality(c.evaluation_key) is not None
            }
            self.progress.start_generation(session, self.cpu_seconds)
        n_shards = len(ev.shards)
        ref_gen_key = ev.reference_generation_key
        ref_digest = ev.publish_schedule(ev.reference_schedule()) if ref_gen_key else None
        ref_ready = [
            ref_gen_key is None or self._exists(shard_marker_key(ref_gen_key, s))
            for s in range(n_shards)
        ]

        qualities: dict[str, float | None] = {}
        counts = {"evaluated": 0, "cached": 0}
        stats = {"shards_done": 0, "shards_total": 0, "in_flight": 0, "failed": 0}
        outstanding = 0
        for cand in pending:
            digest = cand.digest
            if not cand.feasible or digest in qualities:
                continue
            stats["shards_total"] += n_shards
            quality = self._recorded_quality(cand.evaluation_key)
            if quality is not None:
                qualities[digest] = quality
                counts["cached" if digest in run.precached else "evaluated"] += 1
                stats["shards_done"] += n_shards
                continue
            task_keys = [task_key("generate", cand.generation_key, s) for s in range(n_shards)]
            task_keys += [task_key("score", cand.evaluation_key, s) for s in range(n_shards)]
            if ref_gen_key:
                task_keys += [task_key("generate", ref_gen_key, s) for s in range(n_shards)]
            if failures.intersection(task_keys):
                qualities[digest] = None
                stats["failed"] += 1
                log.error(
                    "search %s: candidate %s failed (%s)",
                    search_id,
                    digest[:12],
                    sorted(failures.intersection(task_keys))[0],
                )
                continue
            ev.publish_schedule(cand.schedule)
            candidate = ev.candidate(cand.schedule, cand.generation_key)
            scored = 0
            for s in range(n_shards):
                score_task = task_key("score", cand.evaluation_key, s)
                if self._exists(score_key(cand.evaluation_key, s)):
                    self.dispatcher.done(score_task)
                    scored += 1
                    continue
                gen_task = task_key("generate", cand.generation_key, s)
                images = self._exists(shard_marker_key(cand.generation_key, s))
                if ref_gen_key:
                    ref_task = task_key("generate", ref_gen_key, s)
                    if ref_ready[s]:
                        self.dispatcher.done(ref_task)
                    else:
                        self.dispatcher.want(ref_task, GENERATE_SHARD, [search_id, ref_digest, s])
                if images:
                    self.dispatcher.done(gen_task)
                    if ref_ready[s]:
                        self.dispatcher.want(score_task, SCORE_SHARD, [search_id, digest, s])
                else:
                    self.dispatcher.want(gen_task, GENERATE_SHARD, [search_id, digest, s])
                stats["in_flight"] += 1
            stats["shards_done"] += scored
            if scored == n_shards:
                qualities[digest] = ev.aggregate(candidate)["quality"]
                self.known_quality[cand.evaluation_key] = qualities[digest]
                counts["evaluated"] += 1
            else:
                outstanding += 1
        self.progress.update(session, stats, self.dispatcher)
        if outstanding:
            return True
        record = session.complete(qualities, counts)
        self.progress.finish_generation(session, record, self.cpu_seconds)
        log.info(
            "search %s: generation %d done: %d evaluated, %d cached, %d failed, HV %.4f, front %d",
            search_id,
            record["generation"],
            counts["evaluated"],
            counts["cached"],
            record["counts"]["failed"],
            record["hypervolume"],
            len(record["front"]),
        )
        return session.phase not in ("done", "cancelled")

    def run_forever(self, poll_s: float = 0.5, should_stop: Any = lambda: False) -> None:
        backoff = poll_s
        while not should_stop():
            try:
                self.tick()
                backoff = poll_s
            except TransientError as exc:
                backoff = min(30.0, backoff * 2)
                log.warning("store unavailable (%s); retrying in %.1fs", exc, backoff)
            except Exception as exc:  # broker down: kombu/redis raise their own types
                if not _is_broker_error(exc):
                    raise
                backoff = min(30.0, backoff * 2)
                log.warning("broker unavailable (%s); retrying in %.1fs", exc, backoff)
            time.sleep(backoff)


def _is_broker_error(exc: Exception) -> bool:
    names = {type(e).__name__ for e in (exc, exc.__cause__, exc.__context__) if e is not None}
    return bool(
        names
        & {
            "OperationalError",
            "ConnectionError",
            "TimeoutError",
            "ConnectionRefusedError",
            "BusyLoadingError",
        }
    )
