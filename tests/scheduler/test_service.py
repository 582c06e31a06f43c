"""The scheduler service in-process, with a recording sender instead of Celery."""

from pathlib import Path

from ecad.scheduler.dispatch import Dispatcher
from ecad.scheduler.service import SchedulerService
from ecad.search import SearchDriver, SearchSession, load_spec
from ecad.store import FilesystemStore
from ecad.store.keys import score_key
from ecad.worker.names import RUN_SHARD
from tests.search.conftest import write_spec


def _search(tmp_path: Path, population: int = 4) -> tuple[FilesystemStore, SearchSession]:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("".join(f"prompt {i}\n" for i in range(4)))
    path = write_spec(
        tmp_path, name="sched", prompts={"file": str(prompts)},
        quality={"scorer": "image-reward"}, population=population, min_diff=0,
        initial_population="random", shard_size=4, batch_size=4, seed=0,
    )
    store = FilesystemStore(tmp_path / "store")
    session, _ = SearchSession.create(store, load_spec(path))
    return store, session


def _score_everything_pending(store: FilesystemStore, search_id: str) -> int:
    pending = SearchSession.open(store, search_id).pending()
    for cand in pending:
        store.put_json(score_key(cand.evaluation_key, 0, sharding="p4"), {
            "pairs": [[p, 0] for p in range(4)], "scores": [float(cand.index)] * 4,
            "higher_is_better": True})
    return len(pending)


def test_completing_a_generation_queues_the_next_in_the_same_tick(tmp_path):
    store, session = _search(tmp_path)
    sent: list[tuple[str, list]] = []
    service = SchedulerService(store, Dispatcher(lambda name, args: sent.append((name, args))))
    assert service.tick()
    assert len(sent) == 4 and {name for name, _ in sent} == {RUN_SHARD}
    assert service.tick() and len(sent) == 4, "queued tasks are not sent twice"

    _score_everything_pending(store, session.search_id)
    assert service.tick()
    state = store.get_json(f"searches/{session.search_id}/state.json")
    assert state["generation"] == 1 and state["phase"] == "evaluate"
    generation_1 = {args[0]["evaluation_key"] for _, args in sent[4:]}
    pending = {c.evaluation_key for c in SearchSession.open(store, session.search_id).pending()}
    assert generation_1 == pending - {args[0]["evaluation_key"] for _, args in sent[:4]}
    assert generation_1, "generation 1's tasks go out in the tick that finished generation 0"


def test_search_runs_to_the_end_on_scores_alone(tmp_path):
    store, session = _search(tmp_path, population=3)
    service = SchedulerService(store, Dispatcher(lambda name, args: None))
    for _ in range(10):
        if not service.tick():
            break
        _score_everything_pending(store, session.search_id)
    final = SearchSession.open(store, session.search_id)
    assert final.phase == "done" and final.generation == 3
    assert len(final.history()) == 3
    assert service.active_searches() == []


def test_a_tick_passes_over_a_search_once_plus_once_per_completed_generation(
    tmp_path, monkeypatch
):
    store, session = _search(tmp_path)
    service = SchedulerService(store, Dispatcher(lambda name, args: None))
    passes = []
    step = SearchDriver.step
    monkeypatch.setattr(SearchDriver, "step", lambda *a: passes.append(1) or step(*a))
    service.tick()
    assert len(passes) == 1, "the first tick of a search is one pass"
    _score_everything_pending(store, session.search_id)
    passes.clear()
    service.tick()
    assert len(passes) == 2, "completing a generation adds exactly one pass (queue the next)"


def test_every_send_carries_a_probe_the_store_holds(tmp_path):
    # issue 27 #7: a worker on a copy of the store cannot see the probe written after the copy
    from ecad.search.task import ShardTask
    from ecad.store.keys import probe_key

    store, _session = _search(tmp_path)
    sent: list[tuple[str, list]] = []
    service = SchedulerService(store, Dispatcher(lambda name, args: sent.append((name, args))))
    service.tick()
    probes = {ShardTask.from_json(args[0]).store_probe for _, args in sent}
    assert len(sent) == 4 and len(probes) == 1 and None not in probes
    assert store.exists(probe_key(probes.pop()))
    service.probe._written -= service.probe.period_s  # a minute later: a new probe
    key = next(iter(service.dispatcher.in_flight))
    service.dispatcher.resend(key)
    assert sent[-1][1][0]["store_probe"] != sent[0][1][0]["store_probe"]
    assert len(list(store.list("probes/"))) == 2
