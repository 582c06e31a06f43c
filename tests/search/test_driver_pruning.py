"""Pruning in the search driver: the front is never robbed, a stopped candidate's remaining
shards are never run, and a resumed search makes the same decisions.

Most tests use :class:`KnownScores`, an executor that scores each shard from a fixed function of
the candidate (so every candidate's full-mean quality is known in advance) and writes the score
record the way a worker does; one test runs the real tiny model in process.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np
import pytest

from ecad.search import SearchSession, load_spec
from ecad.search.driver import Completed, SearchDriver
from ecad.search.plan import ShardResult, ShardWork
from ecad.search.pruning import QualityFront
from ecad.store import FilesystemStore
from ecad.store.layout import SHARD_TASK, pruning_record_key
from tests.search.conftest import write_spec

NOISE = 0.05


def _unit(*parts: Any) -> float:
    """A deterministic number in [0, 1) from its arguments."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def image_score(digest: str, prompt: int, image: int) -> float:
    return _unit("q", digest) + NOISE * (2 * _unit("n", digest, prompt, image) - 1)


def true_quality(plan, digest: str) -> float:
    """The candidate's full mean: what an unpruned search would tell NSGA-II."""
    return float(np.mean([image_score(digest, p, i) for shard in plan.shards for p, i in shard]))


class KnownScores:
    """A blocking executor (like the in-process one) whose shard scores are known in advance."""

    blocking = True

    def __init__(self, session, store, stop_after: int | None = None) -> None:
        self.session, self.plan, self.store = session, session.plan, store
        self.queue: OrderedDict[str, ShardWork] = OrderedDict()
        self.ran: list[tuple[int, str, int]] = []  # (generation, evaluation key, shard)
        self.stop_after = stop_after

    def submit(self, work: Sequence[ShardWork]) -> None:
        for item in work:
            assert item.kind == SHARD_TASK, "an image-reward search has no reference images"
            self.queue.setdefault(item.task_key, item)

    def wait(self) -> list[Completed]:
        if not self.queue:
            return []
        if self.stop_after is not None and len(self.ran) >= self.stop_after:
            raise KeyboardInterrupt("killed mid-generation")
        _, work = self.queue.popitem(last=False)
        cand, pairs = work.candidate, self.plan.shards[work.shard]
        record = {"pairs": [list(p) for p in pairs],
                  "scores": [image_score(cand.digest, p, i) for p, i in pairs],
                  "higher_is_better": True}
        self.store.put_json(self.plan.score_key(cand.evaluation_key, work.shard), record)
        self.ran.append((self.session.generation, cand.evaluation_key, work.shard))
        return [Completed(work, ShardResult(len(pairs), record, 0.0))]

    def cancel(self, evaluation_key: str) -> None:
        for key in [k for k, w in self.queue.items()
                    if w.candidate.evaluation_key == evaluation_key]:
            del self.queue[key]

    def finished(self, task_key: str) -> None:
        """Nothing to track: work here finishes inside :meth:`wait`."""

    def stats(self) -> dict[str, Any]:
        return {"tasks_sent": len(self.ran), "tasks_resent": 0}


def _spec(tmp_path, pruning: bool, **overrides):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("".join(f"prompt {i}\n" for i in range(16)))
    options = dict(name="pr", prompts={"file": str(prompts)}, quality={"scorer": "image-reward"},
                   population=8, generations=5, min_diff=0, shard_size=2, seed=3)
    options.update(overrides)
    if pruning:
        options["pruning"] = {"enabled": True, "z": 2.5, "margin": 0.0, "min_shards": 2}
    return load_spec(write_spec(tmp_path, **options))


def _run(store, spec, stop_after: int | None = None) -> tuple[SearchSession, list]:
    session, _ = SearchSession.create(store, spec)
    executor = KnownScores(session, store, stop_after)
    driver = SearchDriver(session, executor)
    while driver.step():
        pass
    return session, executor.ran


def current_front(before, record, partial, index: int) -> list[tuple[float, float]]:
    """(quality, cost) of what candidate ``index`` of ``record``'s offspring is compared with:
    the front of the population before it, and the earlier offspring not stopped."""
    members = []
    if before is not None:
        F = np.asarray(before.population.F)
        members = [(1 - F[i, 0], F[i, 1]) for i in before.front]
    stopped = {i for d in partial.values() for i in d["candidates"]}
    offspring = np.asarray(record.offspring.F)
    return members + [(1 - offspring[j, 0], offspring[j, 1])
                      for j in range(index) if j not in stopped]


def _partial(store, session, generation: int) -> dict[str, dict]:
    record = store.get_json(pruning_record_key(session.search_id, generation))["partial"]
    assert SearchSession.open(store, session.search_id).partial(generation) == record
    return record


def test_pruning_is_off_unless_enabled_and_leaves_unpruned_ids_alone(tmp_path):
    off, on = _spec(tmp_path, False), _spec(tmp_path, True)
    assert not off.pruning.enabled and "pruning" not in off.to_json()
    assert on.pruning.enabled and on.to_json()["pruning"]["z"] == 2.5
    assert off.search_id() != on.search_id()
    assert SearchSession.create(FilesystemStore(tmp_path / "s"), off)[0].plan.shard_layout == "p2"
    assert SearchSession.create(FilesystemStore(tmp_path / "s"), on)[0].plan.shard_layout == "s2"


def test_pruned_candidates_could_not_have_joined_the_front(tmp_path):
    store = FilesystemStore(tmp_path / "store")
    session, ran = _run(store, _spec(tmp_path, True))
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
            front = QualityFront.from_members(current_front(before, record, partial, cand.index))
            assert true_quality(plan, cand.digest) < front.best_at(cost)
            assert decision["estimate"] < decision["front_quality"] == front.best_at(cost)
            # Its remaining shards were never run (nor stored, unless run in an
            # other generation, with another front).
            used, g = decision["shards_used"], record.generation
            assert {s for gen, k, s in ran if gen == g and k == key} <= set(range(used))
            if not any(gen != g and k == key for gen, k, _ in ran):
                assert not any(store.exists(plan.score_key(key, s))
                               for s in range(used, len(plan.shards)))
    # The final front: fully evaluated members with their exact qualities.
    for member in session.front():
        cand = plan.candidate(0, history[-1].population.X[member.index], "member")
        assert store.exists(f"evaluations/{cand.evaluation_key}.json")
        assert member.quality == pytest.approx(true_quality(plan, cand.digest), abs=1e-12)


def test_pruning_saves_images_and_records_them(tmp_path):
    store = FilesystemStore(tmp_path / "store")
    session, ran = _run(store, _spec(tmp_path, True))
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
    spec = _spec(tmp_path, True)
    whole, ran = _run(FilesystemStore(tmp_path / "whole"), spec)
    store = FilesystemStore(tmp_path / "killed")
    with pytest.raises(KeyboardInterrupt):
        _run(store, spec, stop_after=int(fraction * len(ran)))
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
    first, _ = _run(store, _spec(tmp_path, True))
    second, ran = _run(store, _spec(tmp_path, True, name="again"))
    assert ran == [], "everything was in the store"
    assert [_comparable(r) for r in second.history()] == [_comparable(r) for r in first.history()]
