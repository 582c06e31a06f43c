"""The Celery task over :class:`ecad.search.Evaluator`: message validation, retries, bounded
redelivery; the logic lives in ``ecad``. A task carries one :class:`ecad.search.task.ShardTask`
(ids, keys, the compact genome) and is idempotent."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections import OrderedDict
from typing import Any, ClassVar

from celery import Task
from celery.exceptions import Reject

from ecad.errors import TransientError
from ecad.scoring.errors import MissingDependencyError
from ecad.scoring.registry import check_installed
from ecad.search.setting import scorer_options
from ecad.search.task import ShardTask
from ecad.store import MissingObjectError
from ecad.store.identity import store_identity
from ecad.store.keys import pruned_marker_key, spec_key
from ecad.store.probe import copied_store
from ecad.store.records import StoreObjectError, parse_record, read_record
from ecad.worker import attempts, faults, refusals
from ecad.worker.app import app
from ecad.worker.devices import worker_device
from ecad.worker.names import GPU_QUEUE, RUN_SHARD
from ecad.worker.running import running_copy

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

    _store_id: ClassVar[str | None] = None
    _broker: Any = None

    def wrong_store(self, task_store: str | None) -> str | None:
        """Why this worker must refuse a task from store ``task_store`` (None: it may run it).
        Tasks without a store id (older schedulers) are not checked."""
        if task_store is None:
            return None
        if EvaluatorTask._store_id is None:
            EvaluatorTask._store_id = store_identity(self.store)
        mine = EvaluatorTask._store_id
        if mine == task_store:
            return None
        where = self.store.describe()
        have = f"has identity {mine}" if mine else "has no identity (no store.json)"
        return (
            f"the task is for store {task_store}, but this worker's store {where} {have}: "
            "start the worker with the scheduler's ECAD_STORE"
        )

    _probes_seen: ClassVar[set[str]] = set()

    def copied_store(self, probe: str | None) -> str | None:
        """Why this worker's store is a copy of the task's store (None: it is the store)."""
        store = self.store
        with EvaluatorTask._lock:
            return copied_store(store, probe, EvaluatorTask._probes_seen)

    def refuse(self, task_key: str, why: str) -> None:
        """Refuse the task for good on this worker: report it (``ecad status``), stop taking
        tasks from the queue, and put the task back at once for a worker on the right store
        (not discarded to wait for the scheduler's re-send)."""
        why = f"{why}; this worker stopped taking tasks (restart it on the scheduler's store)"
        log.error("refusing task %s: %s", task_key, why)
        name = _worker_name(self)
        try:
            refusals.record_refusal(self.broker_client(), name, why, ttl_s=refusals.STOPPED_TTL_S)
        except Exception as exc:  # reporting is best effort: the refusal stands
            log.warning("could not report the refusal to the broker: %s", exc)
        try:
            self.app.control.cancel_consumer(GPU_QUEUE, destination=[name], reply=False)
        except Exception as exc:
            log.warning("could not stop consuming %s: %s", GPU_QUEUE, exc)
        raise Reject(why, requeue=True)

    def broker_client(self):
        with EvaluatorTask._lock:
            if EvaluatorTask._broker is None:
                import redis

                from ecad.worker.config import broker_url

                EvaluatorTask._broker = redis.Redis.from_url(
                    broker_url, socket_timeout=10, socket_connect_timeout=10
                )
            return EvaluatorTask._broker

    def evaluator(self, search_id: str):
        store = self.store
        with EvaluatorTask._lock:
            return self._evaluator(search_id, store)

    def _evaluator(self, search_id: str, store: Any):
        from ecad.search import Evaluator, SearchSpec

        cache = EvaluatorTask._evaluators
        if search_id not in cache:
            spec = read_record(store, spec_key(search_id), SearchSpec.from_json)
            ev = Evaluator(
                spec,
                store,
                device=worker_device(),
                dtype=os.environ.get("ECAD_WORKER_DTYPE") or None,
            )
            ev.shard_log_level = logging.INFO  # the worker log's per-shard timing line
            cache[search_id] = ev
            while len(cache) > self.max_cached_searches:
                cache.popitem(last=False)
        cache.move_to_end(search_id)
        return cache[search_id]


def _worker_name(task: Task) -> str:
    return str(getattr(task.request, "hostname", None) or socket.gethostname())


@app.task(
    name=RUN_SHARD,
    bind=True,
    base=EvaluatorTask,
    autoretry_for=(TransientError,),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=8,
)
def run_shard(self: EvaluatorTask, message: Any) -> dict:
    """Validate the message, then do its shard (skipped if its output is already stored)."""
    try:
        task = parse_record("task message", message, ShardTask.from_json)
        wrong_store = self.wrong_store(task.store_id) or self.copied_store(task.store_probe)
        if wrong_store is not None:
            self.refuse(task.task_key, wrong_store)
        ev = self.evaluator(task.search_id)
        work = parse_record(task.task_key, task, ev.plan.work)
    except (StoreObjectError, MissingObjectError) as exc:
        log.error("refusing task: %s", exc)
        return {"refused": str(exc)}
    if self.store.exists(task.output_key):
        return {"skipped": True}
    if ev.plan.pruning.enabled and task.evaluation_key and self.store.exists(
        pruned_marker_key(task.search_id, task.evaluation_key)
    ):  # its candidate was stopped by pruning after this task was queued
        return {"skipped": True, "pruned": True}
    try:
        # Before counting a start: a refusal for a missing package is not the task's fault.
        check_installed(scorer_options(ev.spec.quality)[0])
        with running_copy(self.broker_client(), task.task_key, _worker_name(self)) as wait:
            if wait is not None:  # another copy runs now: not a start (ecad.worker.running)
                return _stand_aside(self, task.task_key, wait)
            if not attempts.count_start(self.store, task.task_key, _worker_name(self)):
                log.error("giving up on %s: too many starts", task.task_key)
                return {"failed": True}
            faults.before_task(work.candidate.digest, task.kind)
            result = ev.run(work)
    except MissingDependencyError as exc:
        # This worker lacks a package, the task is not at fault: refuse it (the scheduler sends
        # it again, to this worker once installed or to another) and say why in `ecad status`.
        log.error("refusing task %s: %s", task.task_key, exc)
        with contextlib.suppress(Exception):  # reporting is best effort: the refusal stands
            refusals.record_refusal(self.broker_client(), _worker_name(self), str(exc))
        return {"refused": str(exc)}
    return {"images": result.images, "seconds": round(result.seconds, 3)}


def _stand_aside(task: EvaluatorTask, task_key: str, wait_s: float) -> dict:
    """Another copy of the task runs: come back once its claim could have expired (then the
    output is there, or that copy died). Past the retry limit, drop this copy: the first one's
    own message, or the scheduler's next re-send, covers the task."""
    if task.request.retries >= (task.max_retries or 0):
        log.info("task %s: another copy runs; this copy is dropped", task_key)
        return {"skipped": True, "running_elsewhere": True}
    log.info("task %s: another copy runs; this one comes back in %.1fs", task_key, wait_s)
    raise task.retry(countdown=wait_s + 0.5)
