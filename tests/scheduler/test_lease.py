"""Search leases on a real redis-server: one holder at a time, renewal only by the holder, a
take-over after expiry, and a holder that lost its lease writes nothing more. Two scheduler
services in one process stand for two scheduler processes (the real-process test is
``tests/integration/test_lease.py``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ecad.scheduler.dispatch import Dispatcher
from ecad.scheduler.lease import LeasedStore, LeaseLost, SearchLeases, lease_key, read_leases
from ecad.scheduler.service import SchedulerService
from ecad.search import SearchSession
from ecad.store import FilesystemStore
from tests.integration.cluster import RedisServer, wait_for
from tests.scheduler.test_service import _score_everything_pending, _search


@pytest.fixture
def redis_client():
    import redis

    server = RedisServer().start()
    client = redis.Redis.from_url(server.url)
    try:
        yield client
    finally:
        client.close()
        server.stop()


class Clock:
    """A monotonic clock the test moves (the lease's local validity); Redis keeps real time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _search_in(path: Path):
    path.mkdir()
    return _search(path)


def _snapshot(store: FilesystemStore, search_id: str) -> dict[str, str]:
    return {
        key: hashlib.sha256(store.get(key)).hexdigest()
        for key in store.list(f"searches/{search_id}/")
    }


def test_one_holder_at_a_time_and_only_the_holder_renews(redis_client):
    a, b = SearchLeases(redis_client, 30.0), SearchLeases(redis_client, 30.0)
    assert a.token != b.token
    assert a.hold("s1")
    assert not b.hold("s1"), "a held lease is not taken"
    assert b.hold("s2"), "the other scheduler serves other searches"
    assert a.hold("s1"), "the holder renews"
    held = read_leases(redis_client, ["s1", "s2", "s3"])
    assert held["s1"].holder == a.holder and held["s2"].holder == b.holder
    assert "s3" not in held
    assert 0 < held["s1"].expires_in_s <= 30.0
    a.release("s1")
    assert b.hold("s1"), "a released lease is free at once"
    a.hold("s1")
    assert redis_client.get(lease_key("s1")).decode() == b.token, "release took only its own"


def test_a_lease_is_taken_over_after_expiry_and_the_old_holder_may_not_write(
    redis_client, tmp_path
):
    clock = Clock()
    a = SearchLeases(redis_client, 1.0, clock=clock)
    b = SearchLeases(redis_client, 1.0)
    store = FilesystemStore(tmp_path / "store")
    guarded = LeasedStore(store, "s1", a)
    assert a.hold("s1")
    guarded.put_json("searches/s1/x.json", {"n": 1})  # well inside the lease: a clock read
    # a stops renewing (it died, or hung); Redis expires its lease and b claims it
    wait_for(lambda: b.hold("s1"), 300, interval=0.05, what="b to take the expired lease")
    clock.now += 0.9  # a's own clock says its lease is nearly over: it asks Redis
    with pytest.raises(LeaseLost, match=r"search s1: this scheduler \(.*\) no longer holds"):
        guarded.put_json("searches/s1/x.json", {"n": 2})
    with pytest.raises(LeaseLost):
        guarded.delete("searches/s1/x.json")
    assert store.get_json("searches/s1/x.json") == {"n": 1}
    assert not a.hold("s1"), "the lost lease stays b's"


def test_two_services_one_search_the_second_waits_then_takes_over(redis_client, tmp_path):
    store, session = _search_in(tmp_path / "two")
    search_id = session.search_id
    sent_a: list = []
    sent_b: list = []
    a = SchedulerService(
        store,
        Dispatcher(lambda n, args: sent_a.append(args)),
        leases=SearchLeases(redis_client, 30.0),
    )
    b = SchedulerService(
        store,
        Dispatcher(lambda n, args: sent_b.append(args)),
        leases=SearchLeases(redis_client, 30.0),
    )
    assert a.tick() and len(sent_a) == 4
    before = _snapshot(store, search_id)
    _score_everything_pending(store, search_id)  # workers deliver; only a may act on it
    scores_in = _snapshot(store, search_id)
    for _ in range(5):
        assert a.leases.hold(search_id), "a is alive: it renews"
        assert b.tick(), "a search held by another scheduler is still active"
    assert sent_b == [], "b queued nothing for a search a drives"
    assert _snapshot(store, search_id) == scores_in, "b wrote nothing of the search"
    assert before.keys() <= scores_in.keys()

    # a dies (never ticks again); its lease runs out (sped up here: the real-process test
    # waits for it), and b drives the search to the end
    redis_client.pexpire(lease_key(search_id), 1)
    wait_for(lambda: b.leases.hold(search_id), 300, interval=0.05, what="b to take over")
    for _ in range(20):
        if not b.tick():
            break
        _score_everything_pending(store, search_id)
    final = SearchSession.open(store, search_id)
    assert final.phase == "done"
    assert redis_client.get(lease_key(search_id)) is None, "a finished search's lease is freed"

    # the same search driven by one service alone gives the same front
    alone_store, alone = _search_in(tmp_path / "alone")
    solo = SchedulerService(alone_store, Dispatcher(lambda n, args: None))
    for _ in range(20):
        if not solo.tick():
            break
        _score_everything_pending(alone_store, alone.search_id)
    reference = SearchSession.open(alone_store, alone.search_id)
    assert [m.schedule.digest() for m in final.front()] == [
        m.schedule.digest() for m in reference.front()
    ]


def test_a_service_that_lost_the_lease_stops_writing_and_forgets_the_tasks(redis_client, tmp_path):
    store, session = _search(Path(tmp_path))
    search_id = session.search_id
    clock = Clock()
    a = SchedulerService(
        store, Dispatcher(lambda n, args: None), leases=SearchLeases(redis_client, 1.0, clock)
    )
    assert a.tick() and len(a.dispatcher.in_flight) == 4
    other = SearchLeases(redis_client, 30.0)
    wait_for(lambda: other.hold(search_id), 300, interval=0.05, what="another to take over")
    _score_everything_pending(store, search_id)
    before = _snapshot(store, search_id)
    clock.now += 5.0
    assert a.tick(), "the search goes on (elsewhere)"
    assert _snapshot(store, search_id) == before, "no write after the lease was lost"
    assert a.dispatcher.in_flight == {}, "its tasks are the new holder's to re-send"
    assert search_id not in a.drivers


def test_a_lease_that_lapsed_unnoticed_is_lost_for_the_write_that_finds_it(redis_client):
    """Expired and claimed again by the same process: between the two another scheduler may
    have driven the search, so the write that notices is refused (the service reopens the
    search from the store); the claim itself stands."""
    clock = Clock()
    a = SearchLeases(redis_client, 1.0, clock=clock)
    assert a.hold("s1") == "claimed" and a.hold("s1") == "renewed"
    wait_for(
        lambda: redis_client.get(lease_key("s1")) is None,
        300,
        interval=0.05,
        what="the lease to expire in Redis",
    )
    clock.now += 0.9
    with pytest.raises(LeaseLost):
        a.check("s1")
    assert redis_client.get(lease_key("s1")).decode() == a.token
    a.check("s1")  # held again, continuously from here
