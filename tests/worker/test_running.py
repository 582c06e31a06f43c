"""One copy of a shard task runs at a time (a claim in a real redis-server): a second copy does
not start, and does not count a start, while the first runs; the claim is renewed while the
first runs and expires when its process dies."""

from __future__ import annotations

import time

import pytest

from ecad.search.task import ShardTask
from ecad.store.keys import attempts_key
from ecad.worker.running import claim_key, running_copy
from ecad.worker.tasks import EvaluatorTask, run_shard
from tests.integration.cluster import RedisServer, wait_for
from tests.worker.test_tasks import _message, worker_store  # noqa: F401


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


def test_a_second_copy_waits_while_the_first_runs(redis_client):
    with running_copy(redis_client, "shard-k", "w1") as first:
        assert first is None, "the first copy runs"
        with running_copy(redis_client, "shard-k", "w2") as second:
            assert second is not None and 0 < second <= 10.0
        with running_copy(redis_client, "shard-other", "w2") as other:
            assert other is None, "another task is not held up"
    assert redis_client.get(claim_key("shard-k")) is None, "released when the copy ends"
    with running_copy(redis_client, "shard-k", "w2") as again:
        assert again is None


def test_the_claim_is_renewed_while_the_copy_runs(redis_client):
    with running_copy(redis_client, "shard-k", "w1", expiry_s=1.5) as first:
        assert first is None
        time.sleep(4.0)  # well past the expiry: only the renewals keep it
        with running_copy(redis_client, "shard-k", "w2") as second:
            assert second is not None


def test_a_dead_copys_claim_expires(redis_client):
    # what a copy whose process was killed leaves behind: a claim nobody renews
    redis_client.set(claim_key("shard-k"), "w1/host/1/dead", px=1000)
    with running_copy(redis_client, "shard-k", "w2") as second:
        assert second is not None and second <= 1.0
    wait_for(lambda: redis_client.get(claim_key("shard-k")) is None, 300, interval=0.05,
             what="the dead copy's claim to expire")
    with running_copy(redis_client, "shard-k", "w2") as later:
        assert later is None


def test_without_redis_the_copy_runs():
    import redis

    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
    with running_copy(client, "shard-k", "w1") as wait:
        assert wait is None


def test_a_task_whose_other_copy_runs_counts_no_start(
    worker_store,  # noqa: F811
    tmp_path,
    redis_client,
    monkeypatch,
):
    _cand, message = _message(worker_store, tmp_path)
    monkeypatch.setattr(EvaluatorTask, "_broker", redis_client)
    key = ShardTask.from_json(message).task_key
    redis_client.set(claim_key(key), "w1/host/1/alive", px=60_000)  # the first copy runs
    result = run_shard.apply(args=[message]).get()
    assert result == {"skipped": True, "running_elsewhere": True}, result
    assert not worker_store.exists(attempts_key(key)), "no start counted"
    assert not list(worker_store.list("images/"))
    redis_client.delete(claim_key(key))  # the first copy ended (here: without output)
    result = run_shard.apply(args=[message]).get()
    assert result["images"] == 2, result
    assert worker_store.get_json(attempts_key(key))["starts"] == 1
    assert redis_client.get(claim_key(key)) is None
