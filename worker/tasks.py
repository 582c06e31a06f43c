"""Thin Celery tasks over :class:`ecad.search.Evaluator`: serialization, retries, bounded
redelivery; the logic lives in ``ecad``. Tasks carry ids and keys only and are idempotent."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections import OrderedDict
from typing import Any, ClassVar

from celery import Task

from ecad.errors import TransientError
from worker import attempts, faults
from worker.app import app
from worker.devices import worker_device
from worker.names import GENERATE_SHARD, SCORE_SHARD

log = logging.getLogger(__name__)


class EvaluatorTask(Task):
    """Keeps evaluators (and so loaded models) per worker process, a few searches at a time."""

    abstract = True
    _evaluators: ClassVar[OrderedDict[str, Any]] = OrderedDict()
    _store: Any = None
    _lock: ClassVar[threading.Lock] = threading.Lock()  # thread-pool workers share the cache
    max_cached_searches = 2

    @property
    def store(self):
        with EvaluatorTask._lock:
            if EvaluatorTask._store is None:
                from ecad.store import open_store

                EvaluatorTask._store = open_store()
            return EvaluatorTask._store

    def evaluator(self, search_id: str):
        store = self.store
        with EvaluatorTask._lock:
            return self._evaluator(search_id, store)

    def _evaluator(self, search_id: str, store: Any):
        from ecad.search import Evaluator, SearchSpec

        cache = EvaluatorTask._evaluators
        if search_id not in cache:
            spec = SearchSpec.from_json(store.get_json(f"searches/{search_id}/spec.json"))
            cache[search_id] = Evaluator(
                spec,
                store,
                device=worker_device(),
                dtype=os.environ.get("ECAD_WORKER_DTYPE") or None,
            )
            while len(cache) > self.max_cached_searches:
                cache.popitem(last=False)
        cache.move_to_end(search_id)
        return cache[search_id]


def _worker_name(task: Task) -> str:
    return str(getattr(task.request, "hostname", None) or socket.gethostname())


_TASK_OPTIONS = {
    "bind": True,
    "base": EvaluatorTask,
    "autoretry_for": (TransientError,),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "max_retries": 8,
}


def _run_once(task: EvaluatorTask, task_key: str, digest: str, kind: str, work) -> dict:
    """Bounded redelivery around ``work``: refuse once a failure is recorded or too many starts."""
    if not attempts.count_start(task.store, task_key, _worker_name(task)):
        log.error("giving up on %s: too many starts", task_key)
        return {"failed": True}
    faults.before_task(digest, kind)
    work()
    return {kind: True}


@app.task(name=GENERATE_SHARD, **_TASK_OPTIONS)
def generate_shard(self: EvaluatorTask, search_id: str, schedule_digest: str, shard: int) -> dict:
    """Generate one shard of a candidate's images into the store (skip if already there)."""
    ev = self.evaluator(search_id)
    schedule = ev.load_schedule(schedule_digest)
    gen_key = ev.setting.generation_key(schedule)
    if ev.images_done(gen_key, shard):
        return {"skipped": True}
    key = attempts.task_key("generate", gen_key, shard)
    return _run_once(self, key, schedule_digest, "generate",
                     lambda: ev.generate_shard(schedule, shard, score=True))


@app.task(name=SCORE_SHARD, **_TASK_OPTIONS)
def score_shard(self: EvaluatorTask, search_id: str, schedule_digest: str, shard: int) -> dict:
    """Score one shard of a candidate (its images must be stored); skip if already scored."""
    ev = self.evaluator(search_id)
    candidate = ev.candidate(ev.load_schedule(schedule_digest))
    if ev.shard_done(candidate, shard):
        return {"skipped": True}
    return _run_once(self, attempts.task_key("score", candidate.evaluation_key, shard),
                     schedule_digest,
                     "score", lambda: ev.score_shard(candidate, shard))
