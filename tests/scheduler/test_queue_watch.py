"""Lost-queue detection against a real redis-server, and the service re-sending what was lost
with the reason recorded (not at the deadline)."""

from __future__ import annotations

import time

import pytest
import redis

from ecad.scheduler.dispatch import LOST_QUEUE, Dispatcher
from ecad.scheduler.queue_watch import QueueWatch
from ecad.worker.names import GPU_QUEUE
from tests.integration.cluster import RedisServer


@pytest.fixture
def client():
    server = RedisServer().start()
    try:
        yield redis.Redis.from_url(server.url)
    finally:
        server.stop()


def test_a_flushed_broker_is_noticed_by_its_vanished_marker(client):
    watch = QueueWatch(client, every_s=0.0, grace_s=3600)
    assert watch.lost(outstanding=3, oldest_sent=time.monotonic()) is None  # sets the marker
    client.lpush(GPU_QUEUE, b"a message")
    assert watch.lost(3, time.monotonic()) is None
    client.flushall()
    found = watch.lost(3, time.monotonic())
    assert found is not None and "marker key vanished" in found[1]
    assert watch.lost(3, time.monotonic()) is None, "noticed once; the marker is set again"


def test_an_empty_queue_with_old_outstanding_tasks_is_noticed(client):
    watch = QueueWatch(client, every_s=0.0, grace_s=5.0)
    watch.lost(0, None)
    old = time.monotonic() - 60
    client.lpush(GPU_QUEUE, b"queued")
    assert watch.lost(2, old) is None, "a message still waits"
    client.delete(GPU_QUEUE)
    client.hset("unacked", "tag", b"held by a worker")
    assert watch.lost(2, old) is None, "a worker holds one"
    client.delete("unacked")
    assert watch.lost(2, time.monotonic()) is None, "sent within the grace period"
    moment, reason = watch.lost(2, old)
    assert "none of the 2 outstanding" in reason and moment < time.monotonic() - 4


def test_the_service_resends_lost_tasks_with_their_reason(client, tmp_path):
    from ecad.scheduler.service import SchedulerService
    from ecad.search import SearchSession
    from ecad.store import FilesystemStore
    from tests.search.test_store_corruption import _specs

    _broken, spec = _specs(tmp_path)
    store = FilesystemStore(tmp_path / "store")
    SearchSession.create(store, spec)
    sent: list[dict] = []
    dispatcher = Dispatcher(lambda _name, args: sent.append(args[0]))  # default deadline
    watch = QueueWatch(client, every_s=0.0, grace_s=3600)
    service = SchedulerService(store, dispatcher, watch=watch)
    service.tick()
    first = len(sent)
    assert first and dispatcher.stats()["resend_reasons"] == {}
    client.flushall()  # the broker restarted without persistence: the queue is gone
    service.tick()
    assert len(sent) == 2 * first, "every outstanding task went out again"
    assert dispatcher.resend_reasons == {LOST_QUEUE: first}
    assert "marker key vanished" in dispatcher.last_resend_reason
    assert dispatcher.overdue() == [], "not by the deadline"
