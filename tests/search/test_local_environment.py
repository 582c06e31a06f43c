"""A shard that fails because this machine lacks a package is not the candidate's failure: the
in-process executor records nothing and stops, so a resume after the install retries it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ecad.scoring.errors import MissingDependencyError
from ecad.search.local import InProcessExecutor
from ecad.store import open_store


class _Evaluator:
    def __init__(self, store, error):
        self.store, self.error = store, error

    def run(self, work):
        raise self.error


def _work():
    return SimpleNamespace(task_key="tasks/t/shard-0", kind="shard")


def test_a_missing_package_stops_the_search_and_records_no_failure(tmp_path):
    store = open_store(str(tmp_path))
    executor = InProcessExecutor(_Evaluator(store, MissingDependencyError("no torchmetrics")))
    executor.submit([_work()])
    with pytest.raises(MissingDependencyError):
        executor.wait()
    assert list(store.list("failures/")) == []


def test_a_shard_that_raises_otherwise_is_a_recorded_failure(tmp_path):
    store = open_store(str(tmp_path))
    executor = InProcessExecutor(_Evaluator(store, RuntimeError("bad schedule")))
    executor.submit([_work()])
    [done] = executor.wait()
    assert done.result.failed == "RuntimeError: bad schedule"
    assert len(list(store.list("failures/"))) == 1
