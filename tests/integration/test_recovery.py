"""Recovery with real processes (redis-server, moto S3, ``ecad scheduler`` and ``ecad worker``
on the tiny model): a broker that lost its queue, a worker on the wrong store, a search whose
state is corrupted while it runs. Bounds are on behaviour (what re-sent the work, what status
says), not on wall-clock time."""

from __future__ import annotations

import json
import time

import pytest

from ecad.scheduler.dispatch import DEADLINE, LOST_QUEUE
from ecad.search.progress import read_progress
from ecad.search.session import failure_reason
from ecad.store.layout import state_key
from tests.integration.cluster import wait_for
from tests.integration.conftest import attempts, cluster_result, cluster_spec, local_result

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SLOW = {"ECAD_FAULTS": json.dumps({"delay_seconds": 1.0})}


def _default_scheduler(cluster):
    """The scheduler with the default deadline (900 s): only lost-queue detection can re-send
    within the test's time."""
    return cluster.procs.start("scheduler", "--poll", "0.2", name="scheduler")


def _outstanding(cluster, search_id: str) -> bool:
    prog = read_progress(cluster.store(), search_id) or {}
    return prog.get("generation", 0) >= 1 and prog.get("in_flight", 0) >= 3


def test_redis_restart_lost_shards_are_resent_by_lost_queue_detection(cluster, tmp_path):
    spec = cluster_spec(tmp_path, name="lostq")
    cluster.procs.worker("w1", extra_env=SLOW)
    _default_scheduler(cluster)
    search_id = cluster.submit(spec)
    wait_for(lambda: _outstanding(cluster, search_id), 240, interval=0.2,
             what="generation 1 with shards queued")
    cluster.redis.stop()  # no persistence: the queue is gone
    time.sleep(1)
    cluster.redis.start()
    cluster.wait_done(search_id, timeout=600)
    assert cluster_result(cluster, search_id) == local_result(tmp_path, spec)
    reasons = read_progress(cluster.store(), search_id)["resend_reasons"]
    assert reasons.get(LOST_QUEUE, 0) >= 1, reasons
    assert DEADLINE not in reasons, f"re-sent by the 900 s deadline: {reasons}"


def test_worker_on_the_wrong_store_is_reported_and_the_search_goes_on(cluster, tmp_path):
    spec = cluster_spec(tmp_path, name="wrongstore", generations=1)
    other = {"ECAD_STORE": f"file://{tmp_path / 'another-store'}"}
    stray = cluster.procs.worker("stray", extra_env=other)
    _default_scheduler(cluster)
    search_id = cluster.submit(spec)

    def refusal_shown():
        out = cluster.cli("status")
        return "stray@test refuses tasks" in out.stdout and out

    out = wait_for(refusal_shown, 240, interval=1.0, what="the refusal in ecad status")
    line = next(x for x in out.stdout.splitlines() if "refuses tasks" in x)
    ours = cluster.store().get_json("store.json")["id"]
    assert ours in line and "another-store" in line, line
    assert not attempts(cluster), "the stray worker ran nothing"
    # The stray goes, a worker on the right store comes: the refused (consumed) tasks are lost
    # to the queue and are re-sent by the lost-queue detection, not the 900 s deadline.
    cluster.procs.kill_group(stray)
    cluster.procs.worker("w1")
    cluster.wait_done(search_id, timeout=600)
    assert cluster_result(cluster, search_id) == local_result(tmp_path, spec)
    reasons = read_progress(cluster.store(), search_id)["resend_reasons"]
    assert DEADLINE not in reasons, reasons


def test_corrupt_state_fails_that_search_and_the_other_finishes(cluster, tmp_path):
    broken_spec = cluster_spec(tmp_path / "a", name="broken", seed=3)
    healthy_spec = cluster_spec(tmp_path / "b", name="healthy", seed=5, generations=1)
    cluster.procs.worker("w1", extra_env=SLOW)
    cluster.procs.scheduler()
    broken = cluster.submit(broken_spec)
    healthy = cluster.submit(healthy_spec)
    wait_for(lambda: cluster.state(broken).get("generation", 0) >= 1, 240, interval=0.3,
             what="the first generation of the broken search")
    cluster.store().put(state_key(broken), b'{"phase": "evaluate", "generat')  # truncated
    cluster.wait_done(healthy, timeout=600)
    wait_for(lambda: failure_reason(cluster.store(), broken), 60, interval=0.5,
             what="the broken search to be marked failed")
    assert cluster_result(cluster, healthy) == local_result(tmp_path / "b", healthy_spec)
    status = cluster.cli("status")
    assert status.returncode == 1, status.stderr
    assert f"{broken}: failed: {state_key(broken)}" in status.stdout, status.stdout
    assert f"{healthy}: done" in status.stdout
    assert "Traceback" not in status.stderr
