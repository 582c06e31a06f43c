"""Recovery with real processes (redis-server, moto S3, ``ecad scheduler`` and ``ecad worker``
on the tiny model): a broker that lost its queue, workers on the wrong store or a copy of it, a
search whose state is corrupted while it runs beside one given meaningless score records.
Bounds are on behaviour (what re-sent the work, what status
says), not on wall-clock time."""

from __future__ import annotations

import json
import time

import pytest

from ecad.scheduler.dispatch import DEADLINE, LOST_QUEUE
from ecad.search.markers import failure_reason
from ecad.search.progress import read_progress
from ecad.search.score_scales import score_problem
from ecad.store.keys import state_key
from tests.integration.cluster import wait_for
from tests.integration.conftest import attempts, cluster_result, cluster_spec, local_result

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SLOW = {"ECAD_FAULTS": json.dumps({"delay_seconds": 1.0})}


def _default_scheduler(cluster):
    """The scheduler with the default deadline (900 s): only lost-queue detection can re-send
    within the test's time."""
    return cluster.procs.start("scheduler", "--poll", "0.2", name="scheduler")


def _outstanding(cluster, search_id: str) -> bool:
    prog = read_progress(cluster.store(), search_id)
    return prog is not None and prog.generation >= 1 and (prog.in_flight or 0) >= 3


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
    reasons = read_progress(cluster.store(), search_id).executor.resend_reasons
    assert reasons.get(LOST_QUEUE, 0) >= 1, reasons
    assert DEADLINE not in reasons, f"re-sent by the 900 s deadline: {reasons}"


def _copy_of(cluster, bucket: str):
    """The cluster's store copied object by object into ``bucket`` (``cp -a`` of a bucket: the
    same identity, the same searches), and the environment of a worker using the copy."""
    from ecad.store.s3 import S3Store

    env = {**cluster.env, "ECAD_S3_BUCKET": bucket, "ECAD_STORE": f"s3://{bucket}"}
    copy, store = S3Store.from_env(env=env), cluster.store()
    for key in store.list(""):
        copy.put(key, store.get(key))
    return env


def _refused_tasks(proc) -> int:
    with open(proc.log_path, errors="replace") as log:  # type: ignore[attr-defined]
        return sum("refusing task" in line for line in log)


def test_workers_on_another_store_or_a_copy_step_aside(cluster, tmp_path):
    # issue 27 #6, #7: a worker on another store and one on a copy of the store (same identity)
    # each refuse a task, put it back at once and stop consuming; the correct worker then runs
    # every task: nothing waits for a re-send (the default deadline is 900 s).
    spec = cluster_spec(tmp_path, name="wrongstore", generations=1)
    search_id = cluster.submit(spec)  # the store has its identity and the search: copy it now
    copy_env = _copy_of(cluster, "copy-" + cluster.env["ECAD_S3_BUCKET"])
    stray = cluster.procs.worker("stray", extra_env={
        "ECAD_STORE": f"file://{tmp_path / 'another-store'}"})
    copied = cluster.procs.worker("copied", extra_env=copy_env)
    _default_scheduler(cluster)

    def refusals_shown():
        out = cluster.cli("status")
        lines = [x for x in out.stdout.splitlines() if "refuses tasks" in x]
        return len(lines) == 2 and lines

    lines = wait_for(refusals_shown, 240, interval=1.0, what="both refusals in ecad status")
    stray_line = next(x for x in lines if x.startswith("worker stray@test"))
    copied_line = next(x for x in lines if x.startswith("worker copied@test"))
    ours = cluster.store().get_json("store.json")["id"]
    assert ours in stray_line and "another-store" in stray_line, stray_line
    assert "is a copy" in copied_line and "probes/" in copied_line, copied_line
    assert all("stopped taking tasks" in x for x in lines), lines
    cluster.procs.worker("w1")  # beside them: both stay up
    cluster.wait_done(search_id, timeout=600)
    assert cluster_result(cluster, search_id) == local_result(tmp_path, spec)
    reasons = read_progress(cluster.store(), search_id).executor.resend_reasons
    assert DEADLINE not in reasons, reasons
    # each took a task or two before it stopped consuming, and ran none
    assert 1 <= _refused_tasks(stray) <= 2 and 1 <= _refused_tasks(copied) <= 2
    assert stray.poll() is None and copied.poll() is None
    ran = {w for a in attempts(cluster).values() for w in a["workers"]}
    assert ran == {"w1@test"}, ran


def _poison_scores(cluster, tmp_path, spec_path) -> dict[str, dict]:
    """Before the search is submitted, score records of two of its generation-0 candidates are
    put in the store as valid JSON that means nothing (issue 27 #1): NaN and out-of-range
    scores. The scheduler must not take them: they are healed (scored again)."""
    from ecad.search import SearchSession, load_spec
    from ecad.store import FilesystemStore

    session, _ = SearchSession.create(FilesystemStore(tmp_path / "plan-only"),
                                      load_spec(spec_path))
    cands = [c for c in session.pending() if c.feasible][:2]
    store, out = cluster.store(), {}
    for cand, value in zip(cands, (float("nan"), 1e6), strict=True):
        key = session.plan.score_key(cand.evaluation_key, 0)
        pairs = session.plan.shards[0]
        out[key] = {"pairs": [list(p) for p in pairs], "scores": [value] * len(pairs),
                    "higher_is_better": True}
        store.put(key, json.dumps(out[key]).encode())  # NaN as JSON's NaN literal
    return out


TRUNCATED = b'{"phase": "evaluate", "generat'


def _corrupted_until_failed(cluster, search_id: str):
    """The search's failure reason once the scheduler marked it failed; until then its state is
    kept truncated. The scheduler may be between its reload and its checkpoint when the state is
    truncated, and its checkpoint then overwrites the damage (the last writer wins): truncated
    again, the next reload finds it."""
    store = cluster.store()
    if (reason := failure_reason(store, search_id)) is not None:
        return reason
    if store.get(state_key(search_id)) != TRUNCATED:
        assert cluster.state(search_id).get("phase") != "done", \
            "the broken search finished before its truncated state was read"
        store.put(state_key(search_id), TRUNCATED)
    return None


def test_corrupt_state_fails_that_search_and_the_other_finishes(cluster, tmp_path):
    # the broken search has generations to spare: it cannot finish before the damage is read
    broken_spec = cluster_spec(tmp_path / "a", name="broken", seed=3, generations=6)
    healthy_spec = cluster_spec(tmp_path / "b", name="healthy", seed=5, generations=1)
    poisoned = _poison_scores(cluster, tmp_path, healthy_spec)
    cluster.procs.worker("w1", extra_env=SLOW)
    cluster.procs.scheduler()
    broken = cluster.submit(broken_spec)
    healthy = cluster.submit(healthy_spec)
    wait_for(lambda: cluster.state(broken).get("generation", 0) >= 1, 240, interval=0.3,
             what="the first generation of the broken search")
    cluster.store().put(state_key(broken), TRUNCATED)
    wait_for(lambda: _corrupted_until_failed(cluster, broken), 300, interval=0.5,
             what="the broken search to be marked failed")
    cluster.wait_done(healthy, timeout=600)
    assert cluster_result(cluster, healthy) == local_result(tmp_path / "b", healthy_spec)
    store = cluster.store()
    for key in poisoned:  # healed: scored again by the worker
        healed = store.get_json(key)
        assert score_problem("psnr", healed["scores"], healed["higher_is_better"]) is None
    status = cluster.cli("status")
    assert status.returncode == 1, status.stderr
    assert f"{broken}: failed: {state_key(broken)}" in status.stdout, status.stdout
    assert f"{healthy}: done" in status.stdout
    assert "Traceback" not in status.stderr
