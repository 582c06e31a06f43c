"""Bounded redelivery: a task that keeps killing its worker ends as a recorded failure.

Each start of a task is counted in the object store before the work begins; a task started more
than ``ECAD_MAX_TASK_ATTEMPTS`` times writes ``failures/<task key>.json`` instead of running, and
the scheduler records the candidate as failed. Finished work is skipped before counting, so
duplicate deliveries of done work do not count.
"""

from __future__ import annotations

import time

from ecad.environment import env_int
from ecad.store import MissingObjectError, ObjectStore


def task_key(kind: str, output_key: str, shard: int) -> str:
    """Identity of one shard task: ``generate-<generation key>-NNNN`` or
    ``score-<evaluation key>-NNNN``. Shared by the tasks and the scheduler."""
    return f"{kind}-{output_key}-{shard:04d}"


def output_marker(task: str) -> str:
    """The store key whose existence means ``task`` finished."""
    from ecad.search.evaluation import score_key, shard_marker_key

    kind, output, shard = task.split("-")
    marker = shard_marker_key if kind == "generate" else score_key
    return marker(output, int(shard))


def max_attempts() -> int:
    return env_int("ECAD_MAX_TASK_ATTEMPTS", 3)


def failure_key(task_key: str) -> str:
    return f"failures/{task_key}.json"


def count_start(store: ObjectStore, task_key: str, worker: str) -> bool:
    """Count a start; return False (and record the failure) once the limit is exceeded, and
    without counting once the limit was passed."""
    key = f"attempts/{task_key}.json"
    limit = max_attempts()
    try:
        record = store.get_json(key)
    except MissingObjectError:
        record = {"starts": 0, "workers": []}
    if record["starts"] > limit:
        # The failure was recorded when the limit was passed, unless that worker died between
        # the two writes: record it now, or the scheduler would queue the task forever.
        if not store.exists(failure_key(task_key)):
            _record_failure(store, task_key, record, limit)
        return False
    record["starts"] += 1
    record["workers"].append(worker)
    store.put_json(key, record)
    if record["starts"] > limit:
        _record_failure(store, task_key, record, limit)
        return False
    return True


def _record_failure(store: ObjectStore, task_key: str, record: dict, limit: int) -> None:
    store.put_json(
        failure_key(task_key),
        {
            "task": task_key,
            "starts": record["starts"],
            "workers": record["workers"],
            "reason": f"started {record['starts']} times without finishing (limit {limit}); "
            "the task crashes its worker",
            "time": time.time(),
        },
    )
