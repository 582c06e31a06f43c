"""The worker's task, run in-process: validates its message before any work, decodes the genome
instead of reading a schedule file, and refuses forged messages."""

from __future__ import annotations

import pytest

import ecad.schedules.io
from ecad.search import SearchSession, load_spec
from ecad.store.keys import SHARD_TASK, score_key, shard_marker_key
from ecad.worker.tasks import EvaluatorTask, run_shard
from tests.search.conftest import write_spec
from tests.search.test_driver import CountingStore


@pytest.fixture
def worker_store(tmp_path, monkeypatch):
    monkeypatch.setenv("ECAD_WORKER_DEVICE", "cpu")
    store = CountingStore(tmp_path / "store")
    monkeypatch.setattr(EvaluatorTask, "_store", store)
    monkeypatch.setattr(EvaluatorTask, "_evaluators", type(EvaluatorTask._evaluators)())
    return store


def _message(store, tmp_path, shard=0):
    session, _ = SearchSession.create(store, load_spec(write_spec(tmp_path, population=2)))
    cand = next(c for c in session.pending() if c.feasible)
    work = session.plan.work_for(SHARD_TASK, cand, shard)
    return cand, session.plan.task(work).to_json()


def test_a_task_reads_no_schedule_file(worker_store, tmp_path, monkeypatch):
    cand, message = _message(worker_store, tmp_path)

    def no_parsing(*args, **kwargs):
        raise AssertionError("a worker task parsed a schedule JSON")

    monkeypatch.setattr(ecad.schedules.io, "parse_schedule", no_parsing)
    worker_store.reads.clear()
    result = run_shard.apply(args=[message]).get()
    assert result["images"] == 2, result
    assert worker_store.exists(score_key(cand.evaluation_key, 0, sharding="p2"))
    assert worker_store.reads["schedules"] == 0
    again = run_shard.apply(args=[message]).get()
    assert again == {"skipped": True}


@pytest.mark.parametrize("change", [{"shard": -1}, {"shard": 99}, {"generation_key": "0" * 32},
                                    {"search_id": "nope-0000"}, {"kind": "generate"}])
def test_forged_messages_are_refused_before_any_work(worker_store, tmp_path, change):
    cand, message = _message(worker_store, tmp_path)
    result = run_shard.apply(args=[{**message, **change}]).get()
    assert "refused" in result, result
    assert not list(worker_store.list("images/")) and not list(worker_store.list("attempts/"))
    assert not worker_store.exists(shard_marker_key(cand.generation_key, 0, sharding="p2"))


@pytest.fixture
def refusal_log(monkeypatch):
    """What a refusing worker reports and asks of the broker, without a broker (the real
    exchange runs in tests/integration/test_recovery.py)."""
    log: dict[str, list] = {"reported": [], "cancelled": []}
    monkeypatch.setattr("ecad.worker.refusals.record_refusal",
                        lambda _client, worker, reason, ttl_s=0: log["reported"].append(reason))
    monkeypatch.setattr(EvaluatorTask, "broker_client", lambda self: None)
    monkeypatch.setattr(run_shard.app.control, "cancel_consumer",
                        lambda queue, **kw: log["cancelled"].append((queue, kw["destination"])))
    monkeypatch.setattr(EvaluatorTask, "_store_id", None)
    monkeypatch.setattr(EvaluatorTask, "_probes_seen", set())
    return log


def _refused(message) -> str:
    from celery.exceptions import Reject

    result = run_shard.apply(args=[message])
    assert result.state == "REJECTED", result.state
    assert isinstance(result.result, Reject) and result.result.requeue, "put back at once"
    return str(result.result.reason)


def test_a_worker_on_another_store_refuses_and_says_so(worker_store, tmp_path, refusal_log):
    from ecad.store.identity import ensure_store_identity

    _cand, message = _message(worker_store, tmp_path)
    mine = ensure_store_identity(worker_store)
    other = "f" * 32
    reason = _refused({**message, "store_id": other})
    assert other in reason and mine in reason and "stopped taking tasks" in reason
    assert refusal_log["reported"] == [reason]
    assert refusal_log["cancelled"] and refusal_log["cancelled"][0][0] == "gpu"
    assert not list(worker_store.list("attempts/")), "no work done"
    ok = run_shard.apply(args=[{**message, "store_id": mine}]).get()
    assert ok.get("images") == 2, ok


def test_a_worker_on_a_copy_of_the_store_refuses(worker_store, tmp_path, refusal_log):
    # issue 27 #7: a cp -a copy has the store's identity; the scheduler's fresh probe is not in it
    from ecad.store.filesystem import FilesystemStore
    from ecad.store.identity import ensure_store_identity
    from ecad.store.probe import StoreProbe

    _cand, message = _message(worker_store, tmp_path)
    message = {**message, "store_id": ensure_store_identity(worker_store)}
    original = FilesystemStore(tmp_path / "original")
    original.put("store.json", worker_store.get("store.json"))
    probe = StoreProbe(original).current()  # written after the copy was taken
    reason = _refused({**message, "store_probe": probe})
    assert f"probes/{probe}.json" in reason and "copy" in reason, reason
    assert not list(worker_store.list("attempts/")), "no work done"
    worker_store.put("probes/" + probe + ".json", b"{}")  # the worker's store is the real one
    ok = run_shard.apply(args=[{**message, "store_probe": probe}]).get()
    assert ok.get("images") == 2, ok


def test_a_worker_missing_the_scorers_package_refuses_without_counting_a_start(
        worker_store, tmp_path, monkeypatch):
    import sys

    reported: list[tuple[str, str]] = []
    monkeypatch.setattr("ecad.worker.refusals.record_refusal",
                        lambda _client, worker, reason, **_: reported.append((worker, reason)))
    monkeypatch.setattr(EvaluatorTask, "broker_client", lambda self: None)
    spec = load_spec(write_spec(tmp_path, population=2,
                                quality={"scorer": "fidelity", "metric": "ssim"}))
    session, _ = SearchSession.create(worker_store, spec)  # submitted where it is installed
    cand = next(c for c in session.pending() if c.feasible)
    message = session.plan.task(session.plan.work_for(SHARD_TASK, cand, 0)).to_json()
    monkeypatch.setitem(sys.modules, "torchmetrics", None)  # this worker lacks it
    result = run_shard.apply(args=[message]).get()
    assert "pip install 'ecad-cluster[scoring]'" in result["refused"]
    assert reported and "torchmetrics" in reported[0][1]
    # not the task's fault: no start counted, no failure recorded (another worker will run it)
    assert not list(worker_store.list("attempts/")) and not list(worker_store.list("failures/"))
