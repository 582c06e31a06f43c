"""Pruning in the search driver: the front is never robbed, a stopped candidate's remaining
shards are never run, and a resumed search makes the same decisions.

Most tests use :class:`~tests.search.known_scores.KnownScores`, an executor that scores each
shard from a fixed function of the candidate (so every candidate's full-mean quality is known in
advance) and writes the score record the way a worker does; one test runs the real tiny model in
process.
"""

from __future__ import annotations

from itertools import pairwise

import pytest

from ecad.search import SearchSession
from ecad.search.driver import SearchDriver
from ecad.search.pruning import front_met
from ecad.store import FilesystemStore
from ecad.store.keys import pruning_record_key
from tests.search.known_scores import KnownScores, pruning_spec, run_known, true_quality


def _partial(store, session, generation: int) -> dict[str, dict]:
    record = store.get_json(pruning_record_key(session.search_id, generation))["partial"]
    stored = SearchSession.open(store, session.search_id).partial(generation)
    assert {k: p.to_json() for k, p in stored.items()} == record
    return record


def test_pruning_is_off_unless_enabled_and_leaves_unpruned_ids_alone(tmp_path):
    off, on = pruning_spec(tmp_path, False), pruning_spec(tmp_path, True)
    assert not off.pruning.enabled and "pruning" not in off.to_json()
    assert on.pruning.enabled and on.to_json()["pruning"]["z"] == 2.5
    assert off.search_id() != on.search_id()
    assert SearchSession.create(FilesystemStore(tmp_path / "s"), off)[0].plan.sharding == "p2"
    assert SearchSession.create(FilesystemStore(tmp_path / "s"), on)[0].plan.sharding == "s2"


def test_pruned_candidates_could_not_have_joined_the_front(tmp_path):
    store = FilesystemStore(tmp_path / "store")
    session, ran = run_known(store, pruning_spec(tmp_path, True))
    plan, history = session.plan, session.history()
    assert sum(r.counts.pruned for r in history) >= 5, "the case must exercise the rule"
    assert history[0].counts.pruned > 0, "generation 0 races its candidates against each other"
    for before, record in pairwise([None, *history]):
        partial = _partial(store, session, record.generation)
        assert len(partial) == record.counts.pruned
        cands = plan.candidates(record.offspring.X, 0)
        for key, decision in partial.items():
            cand = next(c for c in cands if c.evaluation_key == key)
            cost = record.offspring.F[cand.index][1]
            # Known quality: with all its images it would still be strictly dominated by the
            # front it met: the parents' and the fully evaluated candidates before it.
            stopped = {i for d in partial.values() for i in d["candidates"]}
            front = front_met(before, record, stopped, cand.index)
            assert true_quality(plan, cand.digest) < front.best_at(cost)
            # Stopped on the current front, or on the parents' (a weaker front, maybe led by
            # another member), whichever said so first.
            assert decision["estimate"] < decision["front_quality"] <= front.best_at(cost)
            # Its remaining shards were never run (nor stored, unless run in an
            # other generation, with another front).
            used, g = decision["shards_used"], record.generation
            assert decision["stopped_after"] >= used  # more when its shards were in the store
            assert {s for gen, k, s in ran if gen == g and k == key} <= set(range(used))
            if not any(gen != g and k == key for gen, k, _ in ran):
                assert not any(store.exists(plan.score_key(key, s))
                               for s in range(used, len(plan.shards)))
    # The final front: fully evaluated members with their exact qualities.
    for member in session.front():
        cand = plan.candidates([history[-1].population.X[member.index]], 0)[0]
        assert store.exists(f"evaluations/{cand.evaluation_key}.json")
        assert member.quality == pytest.approx(true_quality(plan, cand.digest), abs=1e-12)


def test_pruning_saves_images_and_records_them(tmp_path):
    store = FilesystemStore(tmp_path / "store")
    session, ran = run_known(store, pruning_spec(tmp_path, True))
    history = session.history()
    per_shard = len(session.plan.shards[0])
    assert sum(r.work.images for r in history) == per_shard * len(ran)
    assert session.work.images_saved == sum(r.work.images_saved for r in history) > 0
    assert session.counts.pruned == sum(r.counts.pruned for r in history)


def _comparable(record) -> dict:
    data = record.to_json()
    data.pop("seconds")
    data.pop("work")
    data["counts"].pop("evaluated")
    data["counts"].pop("cached")
    return data


@pytest.mark.parametrize("fraction", [0.45, 0.8])
def test_a_killed_and_resumed_pruned_search_matches_an_uninterrupted_one(tmp_path, fraction):
    """Killed mid-generation after a fraction of the uninterrupted search's shards."""
    spec = pruning_spec(tmp_path, True)
    whole, ran = run_known(FilesystemStore(tmp_path / "whole"), spec)
    store = FilesystemStore(tmp_path / "killed")
    with pytest.raises(KeyboardInterrupt):
        run_known(store, spec, stop_after=int(fraction * len(ran)))
    killed_at = SearchSession.open(store, spec.search_id()).generation
    assert 0 < killed_at < spec.generations, "the kill must land inside the search"
    resumed = SearchSession.open(store, spec.search_id())
    driver = SearchDriver(resumed, KnownScores(resumed, store))
    while driver.step():
        pass
    assert [_comparable(r) for r in resumed.history()] == [_comparable(r) for r in whole.history()]
    assert [(m.quality, m.relative_cost) for m in resumed.front()] == [
        (m.quality, m.relative_cost) for m in whole.front()]
    for g in range(1, spec.generations + 1):
        assert _partial(store, resumed, g) == _partial(whole.store, whole, g)


def test_stored_shards_are_judged_like_fresh_ones(tmp_path):
    """A second search over the same store (every shard cached) prunes the same candidates:
    a result does not depend on the cache."""
    store = FilesystemStore(tmp_path / "store")
    first, _ = run_known(store, pruning_spec(tmp_path, True))
    second, ran = run_known(store, pruning_spec(tmp_path, True, name="again"))
    assert ran == [], "everything was in the store"
    assert [_comparable(r) for r in second.history()] == [_comparable(r) for r in first.history()]


def test_sent_like_a_cluster_same_decisions_and_first_looks_first(tmp_path):
    """A non-blocking executor (work queued, results found in the store, as on the cluster): the
    same populations and decisions as in process, and in every batch sent, every candidate's
    first-look shards go before any later shard."""
    from ecad.search.pruning import first_look
    from tests.search.known_scores import QueuedKnownScores

    spec = pruning_spec(tmp_path, True)
    local, _ = run_known(FilesystemStore(tmp_path / "local"), spec)
    store = FilesystemStore(tmp_path / "queued")
    session, _ = SearchSession.create(store, spec)
    executor = QueuedKnownScores(session, store)
    driver = SearchDriver(session, executor)
    while driver.step():
        pass
    assert [(r.population.X, r.population.F) for r in session.history()] == [
        (r.population.X, r.population.F) for r in local.history()
    ]
    for g in range(len(local.history())):
        assert {k: (d.decision.shards_used, d.decision.estimate)
                for k, d in session.partial(g).items()} == {
            k: (d.decision.shards_used, d.decision.estimate) for k, d in local.partial(g).items()
        }
    looks = first_look(session.plan.pruning, [len(s) for s in session.plan.shards])
    mixed = 0
    for batch in executor.batches:
        stages = [0 if w.shard < looks else 1 for w in batch]
        assert stages == sorted(stages), "a later shard went out before a first look"
        later = [w for w in batch if w.shard >= looks]
        mixed += len({w.candidate.evaluation_key for w in later}) > 1
    assert mixed, "the case must send later shards of several candidates at once"
