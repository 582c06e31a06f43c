"""Bounded redelivery: a task that keeps killing its worker ends as a recorded failure.

Each start of a task is counted in the object store before the work begins
(``attempts/<task key>.json``); a task started more than ``ECAD_MAX_TASK_ATTEMPTS`` times
records ``failures/<task key>.json`` instead of running, and the search driver records the
candidate as failed. Finished work is skipped before counting, so duplicate deliveries of done
work do not count. Keys: :mod:`ecad.store.keys`.
"""

from __future__ import annotations

import logging
from typing import Any

from ecad.environment import env_int
from ecad.search.failures import record_failure
from ecad.store import MissingObjectError, ObjectStore
from ecad.store.keys import attempts_key, failure_key
from ecad.store.records import RecordError, StoreObjectError, read_record, require

__all__ = ["count_start", "max_attempts"]

log = logging.getLogger(__name__)


def _attempts(data: Any) -> dict[str, Any]:
    starts = require(data, "starts", int)
    workers = require(data, "workers", list)
    if starts < 0 or not all(isinstance(w, str) for w in workers):
        raise RecordError("starts must be >= 0 and workers a list of names")
    return data


def max_attempts() -> int:
    return env_int("ECAD_MAX_TASK_ATTEMPTS", 3)


def count_start(store: ObjectStore, task_key: str, worker: str) -> bool:
    """Count a start; return False (and record the failure) once the limit is exceeded, and
    without counting once the limit was passed."""
    key = attempts_key(task_key)
    limit = max_attempts()
    try:
        record = read_record(store, key, _attempts)
    except MissingObjectError:
        record = {"starts": 0, "workers": []}
    except StoreObjectError as exc:  # a counter, not a result: counting starts again
        log.warning("unreadable attempts record, counting afresh: %s", exc)
        record = {"starts": 0, "workers": []}
    if record["starts"] > limit:
        # The failure was recorded when the limit was passed, unless that worker died between
        # the two writes: record it now, or the scheduler would queue the task forever.
        if not store.exists(failure_key(task_key)):
            _record(store, task_key, record, limit)
        return False
    record["starts"] += 1
    record["workers"].append(worker)
    store.put_json(key, record)
    if record["starts"] > limit:
        _record(store, task_key, record, limit)
        return False
    return True


def _record(store: ObjectStore, task_key: str, record: dict, limit: int) -> None:
    record_failure(
        store,
        task_key,
        f"started {record['starts']} times without finishing (limit {limit}); "
        "the task crashes its worker",
        starts=record["starts"],
        workers=record["workers"],
    )
