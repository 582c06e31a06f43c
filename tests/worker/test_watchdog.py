import logging

import pytest

from ecad.worker.watchdog import TaskWatchdog


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_overrunning_task_ends_the_worker(caplog):
    clock, ended = Clock(), []
    dog = TaskWatchdog(10, clock=clock, on_overrun=lambda: ended.append(True))
    dog.started("a", "ecad.generate_shard")
    dog.started("b", "ecad.score_shard")
    clock.now += 5
    dog.finished("b")
    assert not dog.check() and not ended
    clock.now += 6  # "a" has run 11 s
    with caplog.at_level(logging.CRITICAL):
        assert dog.check()
    assert ended == [True]
    assert [name for _, name, _ in dog.overdue()] == ["ecad.generate_shard"]
    assert "ecad.generate_shard[a] has run 11s, past ECAD_TASK_TIME_LIMIT (10s)" in caplog.text


def test_finished_tasks_are_forgotten():
    clock = Clock()
    dog = TaskWatchdog(1, clock=clock, on_overrun=pytest.fail)
    for i in range(100):
        dog.started(str(i), "t")
        dog.finished(str(i))
    clock.now += 1000
    assert not dog.check()


def test_limit_must_be_positive():
    with pytest.raises(ValueError, match="must be positive"):
        TaskWatchdog(0)
