"""The search driver: facts computed once per candidate, failures recorded the same way by both
executors, and ``ecad status`` counts equal to the generation records'."""

from __future__ import annotations

import collections

from click.testing import CliRunner

from ecad.cli.main import cli
from ecad.schedules import Schedule
from ecad.search import SearchSession, load_spec, run_search
from ecad.search.failures import record_failure
from ecad.search.observer import NullObserver
from ecad.search.records import Counts
from ecad.search.setting import EvaluationSetting
from ecad.store import FilesystemStore
from ecad.store.keys import SHARD_TASK
from tests.search.conftest import write_spec


class CountingStore(FilesystemStore):
    """A filesystem store that counts reads by top-level prefix."""

    def __init__(self, root) -> None:
        super().__init__(root)
        self.reads: collections.Counter[str] = collections.Counter()

    def get(self, key: str) -> bytes:
        self.reads[key.split("/")[0]] += 1
        return super().get(key)


def test_keys_and_digests_are_computed_once_per_candidate(tmp_path, monkeypatch):
    spec = load_spec(write_spec(tmp_path, population=4, generations=1))
    counts: collections.Counter[str] = collections.Counter()
    key_fn, digest_fn = EvaluationSetting.generation_key, Schedule.digest

    def generation_key(self, schedule):
        counts["generation_key"] += 1
        return key_fn(self, schedule)

    def digest(self):
        if self._digest is None:  # computed now, not read from the cache
            counts["digest"] += 1
        return digest_fn(self)

    monkeypatch.setattr(EvaluationSetting, "generation_key", generation_key)
    monkeypatch.setattr(Schedule, "digest", digest)
    store = CountingStore(tmp_path / "store")
    session = run_search(store, spec, progress=lambda _: None)
    candidates = spec.population * (spec.generations + 1)
    # one key per candidate, plus the reference (no-cache) schedule's once per process
    assert counts["generation_key"] == candidates + 1
    # one digest per candidate (and the reference), one per effective schedule inside its key
    assert counts["digest"] == 2 * (candidates + 1)
    assert store.reads["schedules"] == 0, "no schedule file is read back"
    published = {k.split("/")[1][: -len(".json")] for k in store.list("schedules/")}
    feasible = {
        c.digest
        for r in session.history()
        for c in session.plan.candidates(list(r.offspring.X), r.generation)
        if c.feasible
    }
    assert feasible and feasible <= published, "every evaluated candidate is published"


class _StatusEachGeneration(NullObserver):
    """Runs ``ecad status`` while a generation runs (at its first finished shard)."""

    def __init__(self, store_dir) -> None:
        self.store_dir = store_dir
        self.seen: list[str] = []
        self._generation = -1

    def shard_done(self, event) -> None:
        if event.generation != self._generation:
            self._generation = event.generation
            out = CliRunner().invoke(
                cli, ["status", event.search_id, "--no-workers", "--json"],
                env={"ECAD_STORE": str(self.store_dir)},
            )
            assert out.exit_code == 0, out.output
            self.seen.append(out.output)


def _record_totals(session: SearchSession) -> Counts:
    total = Counts()
    for record in session.history():
        total = total + record.counts
    return total


def _status(store_dir, search_id: str, *extra: str):
    out = CliRunner().invoke(cli, ["status", search_id, "--no-workers", *extra],
                             env={"ECAD_STORE": str(store_dir)})
    assert out.exit_code == 0, out.output
    return out.output


def test_local_status_counts_equal_the_records_with_failures(tmp_path):
    import json

    spec = load_spec(write_spec(tmp_path, population=4, generations=1))
    store_dir = tmp_path / "store"
    store = FilesystemStore(store_dir)
    session, _ = SearchSession.create(store, spec)
    doomed = session.pending()[1]
    record_failure(store, session.plan.task_key(SHARD_TASK, doomed.evaluation_key, 1), "injected")
    watcher = _StatusEachGeneration(store_dir)
    run_search(store, search_id=session.search_id, progress=lambda _: None, observer=watcher)
    final = SearchSession.open(store, session.search_id)
    totals = _record_totals(final)
    assert totals.failed >= 1 and final.history()[0].counts.failed == 1
    # while generation 1 ran: the counts are generation 0's record, shard numbers shown
    running = json.loads(watcher.seen[1])["searches"][0]
    first = final.history()[0].counts
    assert (running["evaluated"], running["cached"], running["failed"]) == (
        first.evaluated, first.cached, first.failed)
    assert running["phase"] == "evaluate" and running["running"]["shards_total"] > 0
    line = _status(store_dir, session.search_id)
    assert line.startswith(f"{session.search_id}: done (2 generations) | ")
    assert (f"evaluated {totals.evaluated}, cached {totals.cached}, failed {totals.failed}, "
            f"infeasible {totals.infeasible}") in line
    assert "shards" not in line and "in flight" not in line


def test_cluster_status_counts_equal_the_records_with_failures(tmp_path):
    """The scheduler service with a sender that scores each shard as it is sent."""
    import json

    from ecad.scheduler.dispatch import Dispatcher
    from ecad.scheduler.service import SchedulerService
    from ecad.store.keys import score_key

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("".join(f"prompt {i}\n" for i in range(4)))
    spec = load_spec(write_spec(
        tmp_path, name="cl", prompts={"file": str(prompts)}, quality={"scorer": "image-reward"},
        population=4, generations=1, min_diff=0, shard_size=2,
    ))
    store_dir = tmp_path / "store"
    store = FilesystemStore(store_dir)
    session, _ = SearchSession.create(store, spec)
    doomed = session.pending()[2]
    record_failure(store, session.plan.task_key(SHARD_TASK, doomed.evaluation_key, 0), "injected")
    sent: list[dict] = []
    service = SchedulerService(store, Dispatcher(lambda name, args: sent.append(args[0])))
    service.tick()
    mid = json.loads(_status(store_dir, session.search_id, "--json"))["searches"][0]
    assert mid["running"]["failed"] == 1 and mid["failed"] == 0, "no generation finished yet"
    assert mid["running"]["shards_total"] == 2 * 4 and mid["running"]["shards_done"] == 0
    assert mid["running"]["in_flight"] == len(sent) == 2 * 3, "the failed one is not sent"

    for _ in range(20):
        for msg in sent:
            pairs = session.plan.shards[msg["shard"]]
            store.put_json(score_key(msg["evaluation_key"], msg["shard"], sharding=msg["layout"]), {
                "pairs": [list(p) for p in pairs], "scores": [0.5 + msg["shard"]] * len(pairs),
                "higher_is_better": True})
        sent.clear()
        if not service.tick():
            break
    final = SearchSession.open(store, session.search_id)
    totals = _record_totals(final)
    assert final.phase == "done" and totals.failed == 1
    line = _status(store_dir, session.search_id)
    assert line.startswith(f"{session.search_id}: done (2 generations) | ")
    assert f"evaluated {totals.evaluated}, cached {totals.cached}, failed 1," in line


def _counters(store, search_id):
    state = SearchSession.open(store, search_id).state
    return state.counters.to_json(), state.total_work.images


def test_counters_after_a_kill_mid_generation_equal_an_uninterrupted_run(tmp_path):
    # issue 27 #8: a restarted driver counted its predecessor's work as cached
    import pytest

    from ecad.search.driver import SearchDriver
    from tests.search.known_scores import KnownScores, pruning_spec, run_known

    spec = pruning_spec(tmp_path, pruning=False, generations=2)
    whole, _ = run_known(FilesystemStore(tmp_path / "whole"), spec)
    expected = _counters(whole.store, whole.search_id)
    assert expected[0]["evaluated"] > 0 and expected[1] > 0

    store = FilesystemStore(tmp_path / "killed")
    # killed 13 shards into generation 0 (8 shards a candidate): one evaluation aggregated,
    # a second one part-way
    with pytest.raises(KeyboardInterrupt):
        run_known(store, spec, stop_after=13)
    session = SearchSession.open(store, spec.search_id())
    assert session.generation == 0 and len(list(store.list("evaluations/"))) >= 1
    driver = SearchDriver(session, KnownScores(session, store))
    while driver.step():
        pass
    assert _counters(store, spec.search_id()) == expected
    assert list(store.list(f"searches/{spec.search_id()}/planned/")) == []


def test_cost_constraint_and_layout_once_and_no_record_read_back(tmp_path, monkeypatch):
    """Each candidate's relative cost and constraint are computed where it is made (the tell
    reads them off the candidate), the layout once per search, and neither the generation
    record just written nor the front's keys are read back by the process that wrote them."""
    from ecad.cost.table import CostTable
    from ecad.search import plan as plan_module
    from ecad.search import session as session_module
    from ecad.search import setting

    spec = load_spec(write_spec(tmp_path, population=4, generations=2))
    counts: collections.Counter[str] = collections.Counter()

    def counting(name, fn):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(CostTable, "relative_cost", counting("cost", CostTable.relative_cost))
    monkeypatch.setattr(plan_module, "constraint", counting("constraint", plan_module.constraint))
    layout_for = counting("layout", setting.layout_for)
    for module in (setting, session_module, plan_module):
        monkeypatch.setattr(module, "layout_for", layout_for)
    reads: collections.Counter[str] = collections.Counter()
    store = CountingStore(tmp_path / "store")
    get = store.get
    monkeypatch.setattr(store, "get", lambda key: (reads.update(
        ["generation record"] if "/generations/" in key else []), get(key))[1])
    run_search(store, spec, progress=lambda _: None)
    candidates = spec.population * (spec.generations + 1)
    assert counts["cost"] == counts["constraint"] == candidates + 1  # and the reference's
    assert counts["layout"] == 1
    assert reads["generation record"] == 0
