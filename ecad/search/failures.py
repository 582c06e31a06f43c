"""Recorded shard failures: a shard task given up on makes its candidate fail (both executors).

``failures/<task key>.json`` (see :mod:`ecad.store.keys`) is written by whoever gives up on
the task: a Celery worker after too many starts, the in-process executor when the work raised.
"""

from __future__ import annotations

import time
from typing import Any

from ecad.store import ObjectStore
from ecad.store.keys import failure_key, failure_task

__all__ = ["failed_tasks", "record_failure"]


def record_failure(store: ObjectStore, task: str, reason: str, **details: Any) -> None:
    store.put_json(
        failure_key(task), {"task": task, "reason": reason, "time": time.time(), **details}
    )


def failed_tasks(store: ObjectStore) -> set[str]:
    """Task keys with a recorded failure (one listing of ``failures/``)."""
    return {task for k in store.list("failures/") if (task := failure_task(k))}
