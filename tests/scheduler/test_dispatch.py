"""The dispatcher: tasks are recorded before they are sent, so a broker outage loses none."""

import pytest

from scheduler.dispatch import Dispatcher


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
