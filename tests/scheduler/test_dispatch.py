"""The dispatcher: tasks are recorded before they are sent, so a broker outage loses none."""

import pytest

from ecad.scheduler.dispatch import Dispatcher


class Broker:
    def __init__(self) -> None:
        self.up = True
        self.got: list[str] = []

    def send(self, name: str, args: list) -> None:
        if not self.up:
            raise ConnectionError("broker down")
        self.got.append(args[0])


def test_a_send_refused_by_a_down_broker_goes_out_at_the_next_pass():
    broker = Broker()
    d = Dispatcher(broker.send, deadline_s=3600)
    assert d.add("a", "t", ["a"]) and d.add("b", "t", ["b"])
    assert not d.add("a", "t", ["a"]), "recorded once"
    broker.up = False
    with pytest.raises(ConnectionError):
        d.resend("a")
    broker.up = True
    assert d.overdue() == ["b", "a"]  # never sent, so overdue: sent at the next pass
    for key in d.overdue():
        d.resend(key)
    assert broker.got == ["b", "a"] and d.overdue() == []
    assert (d.sent_total, d.resent_total) == (2, 0), "first sends are not re-sends"


def test_overdue_tasks_are_sent_again_and_done_ones_forgotten():
    broker = Broker()
    d = Dispatcher(broker.send, deadline_s=0.0)
    d.add("a", "t", ["a"])
    d.resend("a")
    assert d.overdue() == ["a"]
    d.resend("a")
    assert broker.got == ["a", "a"] and d.resent_total == 1
    d.done("a")
    assert d.overdue() == [] and not d.in_flight


def test_the_deadline_adapts_to_measured_shard_times_within_bounds():
    from ecad.scheduler.dispatch import DEADLINE_FACTOR, MIN_DEADLINE_S, MIN_SAMPLES

    d = Dispatcher(Broker().send, deadline_s=900)
    assert d.current_deadline_s == 900, "nothing measured yet: the configured deadline"
    d.durations.extend([30.0] * (MIN_SAMPLES - 1))
    assert d.current_deadline_s == 900
    d.durations.append(30.0)
    assert d.current_deadline_s == DEADLINE_FACTOR * 30.0
    d.durations.extend([1.0] * 400)
    assert d.current_deadline_s == MIN_DEADLINE_S, "never below the floor"
    d.durations.extend([500.0] * 500)
    assert d.current_deadline_s == 900, "never above the configured deadline"


def test_finished_tasks_are_timed_from_their_only_send():
    d = Dispatcher(Broker().send, deadline_s=900)
    for key in ("a", "b"):
        d.add(key, "t", [key])
        d.resend(key)
    d.resend("b")  # sent twice: its time says nothing about a shard's
    d.finished("a")
    d.finished("b")
    assert len(d.durations) == 1 and not d.in_flight
