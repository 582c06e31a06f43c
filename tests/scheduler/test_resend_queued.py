"""The adaptive deadline does not copy a task still waiting in the queue: a copy would queue
behind it, and two copies starting at once both count towards the redelivery limit. Once a
copy is seen started (its ``attempts/`` record counted a start), the deadline counts from then.
Time is a fake clock: the test bounds what is sent, not how long it takes."""

from __future__ import annotations

import pytest

from ecad.scheduler import dispatch
from ecad.scheduler.dispatch import MIN_DEADLINE_S, MIN_SAMPLES, Dispatcher
from ecad.scheduler.service import SchedulerService
from ecad.search.task import ShardTask
from ecad.store.keys import attempts_key
from tests.scheduler.test_service import _search


class FakeTime:
    def __init__(self) -> None:
        self.now = 10_000.0

    def monotonic(self) -> float:
        return self.now


def _key(args: list) -> str:
    return ShardTask.from_json(args[0]).task_key


@pytest.fixture
def clock(monkeypatch):
    fake = FakeTime()
    monkeypatch.setattr(dispatch, "time", fake)
    return fake


def test_a_queued_copy_is_held_a_started_one_timed_from_its_start(tmp_path, clock):
    store, _session = _search(tmp_path)
    sent: list[str] = []
    service = SchedulerService(
        store, Dispatcher(lambda name, args: sent.append(_key(args)), deadline_s=900)
    )
    d = service.dispatcher
    d.durations.extend([10.0] * MIN_SAMPLES)  # shards took 10 s: the adaptive deadline is 60 s
    assert d.current_deadline_s == MIN_DEADLINE_S
    service.tick()
    first, *others = list(d.in_flight)
    assert sorted(sent) == sorted(d.in_flight) and len(sent) == 4

    clock.now += MIN_DEADLINE_S + 1  # the queue grew: nothing has started
    service.tick()
    assert len(sent) == 4 and d.resent_total == 0, "queued copies are not copied again"
    assert d.held_total == 4

    store.put_json(attempts_key(first), {"starts": 1, "workers": ["w1"]})  # a worker took it
    clock.now += MIN_DEADLINE_S / 4 + 1  # due for another look
    service.tick()
    assert len(sent) == 4, "a started copy has its full deadline, from its start"
    assert d.in_flight[first].started

    clock.now += MIN_DEADLINE_S + 1  # the started copy ran past its deadline: re-sent
    service.tick()
    assert sent[4:] == [first] and d.resent_total == 1
    assert d.in_flight[first].starts_seen == 1 and not d.in_flight[first].started

    clock.now += 901  # past the configured deadline since their last send: lost, send again
    service.tick()
    assert sorted(sent[5:]) == sorted([*others, first])
    assert d.resent_total == 5


def test_a_never_sent_task_goes_out_at_once(tmp_path, clock):
    store, _session = _search(tmp_path)
    up = {"broker": False}
    sent: list[str] = []

    def send(name, args):
        if not up["broker"]:
            raise ConnectionError("broker down")
        sent.append(_key(args))

    service = SchedulerService(store, Dispatcher(send, deadline_s=900))
    with pytest.raises(ConnectionError):
        service.tick()
    up["broker"] = True
    service.tick()  # recorded but never sent: overdue, and sent (not held)
    assert len(sent) == 4 and service.dispatcher.held_total == 0
