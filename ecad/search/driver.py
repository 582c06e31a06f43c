"""One search loop, two executors.

:class:`SearchDriver` takes a generation's candidates (built once by the session), plans the
missing shard work (reference images, then each candidate's images and scores), hands it to an
:class:`Executor`, collects what landed, aggregates, records failures, writes progress and tells
NSGA-II. ``ecad search`` runs it with the in-process executor
(:class:`ecad.search.local.InProcessExecutor`); the scheduler service with the Celery one
(``ecad.scheduler.executor``). Counting, failures, progress and schedule publishing exist only here,
so a local search and a cluster search leave the same objects in the store.

Work goes out shard-wise, candidates in index order and shards ascending within each; the
driver sees each candidate's shards complete in shard order, so any decision taken after a
completed shard (e.g. stopping a candidate and cancelling its remaining shards) depends on
completed shards in a fixed order, never on timing.

Pruning (the spec's ``pruning`` section, :mod:`ecad.search.pruning`): after each completed shard
of a candidate (the contiguous prefix, in shard order), :func:`ecad.search.pruning.decide`
compares it with the parents' front (a stop there cancels its work at once) and, once every
candidate before it is settled, with the current front (the parents' and those candidates' fully
evaluated ones; see :meth:`SearchDriver._race`). A stopped candidate is told to NSGA-II with its
optimistic bound (still strictly dominated), its remaining shards are cancelled (and skipped by
workers: ``searches/<id>/pruned/<evaluation key>.json``), and its decision is recorded in
``searches/<id>/pruning/NNNN.json``. Shards found in the store go through the same rule, so the
result depends neither on the cache nor on a resume.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ecad.search.candidate import Candidate
from ecad.search.failures import failed_tasks
from ecad.search.objectives import objectives
from ecad.search.observer import (
    GenerationPlan,
    GenerationSummary,
    NullObserver,
    SearchObserver,
    ShardDone,
)
from ecad.search.plan import ShardResult, ShardWork, StaleShards
from ecad.search.planned import forget_planned, planned_generation
from ecad.search.progress import GenerationProgress, ProgressBook
from ecad.search.pruning import (
    PruningDecision,
    QualityFront,
    decide,
    first_look,
    oriented_qualities,
)
from ecad.search.records import Counts, GenerationRecord, GenerationWork
from ecad.search.session import SearchSession
from ecad.store.layout import (
    IMAGES_TASK,
    SHARD_TASK,
    pruned_marker_key,
    pruned_prefix,
    pruning_record_key,
)
from ecad.store.records import StoreObjectError

__all__ = ["Completed", "Executor", "SearchDriver"]

log = logging.getLogger(__name__)

#: With pruning on a non-blocking executor: shards of a prunable candidate out past its
#: completed prefix (after its first ``min_shards``).
PRUNING_WINDOW = 2


@dataclass(frozen=True)
class Completed:
    """A finished piece of work, as an executor that ran it reports it."""

    work: ShardWork
    result: ShardResult


class Executor(Protocol):
    """Gets shard work done. ``submit`` may be called again with work already in hand (it is
    then not sent twice); completions are either returned by ``wait`` (an executor that runs
    the work) or found in the store by the driver (one that sends it elsewhere)."""

    #: True: ``wait`` blocks until some work finished and returns it. False: ``wait`` returns
    #: at once (results land in the store; the driver looks there).
    blocking: bool

    def submit(self, work: Sequence[ShardWork]) -> None: ...

    def wait(self) -> list[Completed]: ...

    def cancel(self, evaluation_key: str) -> None:
        """Drop the candidate's work not yet done (a stopped or failed candidate)."""

    def finished(self, task_key: str) -> None:
        """The task's output was seen (the executor may stop tracking it, and time it)."""

    def stats(self) -> dict[str, Any]:
        """Counters for the progress record (tasks sent, re-sent, in flight)."""


@dataclass
class _Unit:
    """One distinct evaluation of the generation (candidates sharing an evaluation key share
    it): shards not yet seen done, in order, and the score records in memory."""

    candidate: Candidate
    left: list[int]
    submitted: set[int] = field(default_factory=set)
    finished: dict[int, ShardResult] = field(default_factory=dict)  # reported, not yet taken
    scores: dict[int, dict[str, Any]] = field(default_factory=dict)
    task_keys: frozenset[str] = frozenset()
    quality: float | None = None
    cached: bool = False
    failed: bool = False
    cost: float = 0.0  # relative cost (pruning compares it with the front's)
    qualities: dict[int, Any] = field(default_factory=dict)  # shard -> oriented per-image
    decision: PruningDecision | None = None  # set when pruned
    stored: set[int] = field(default_factory=set)  # shards in the store when planned
    #: Optimistic bound minus the front's quality at the candidate's cost, from its latest look
    #: (inf: no front member is as cheap; 0 before a look): the dispatch order's key.
    promise: float = 0.0
    looked: tuple[int, int] = (-1, -1)  # (shards, front members) at the latest settling look
    looked_parents: int = -1  # shards at the latest look at the parents' front alone
    stopped: PruningDecision | None = None  # remaining work cancelled (the parents' front)
    stopped_after: int = 0  # shards taken in when its remaining work was cancelled

    @property
    def open(self) -> bool:
        return not (self.failed or self.quality is not None)


@dataclass
class _Generation:
    number: int
    units: dict[str, _Unit]
    reference_left: list[int]
    reference_submitted: set[int] = field(default_factory=set)
    reference_finished: set[int] = field(default_factory=set)
    progress: GenerationProgress = field(default_factory=GenerationProgress)
    images: int = 0
    images_saved: int = 0  # images of shards a pruned candidate never needed
    shard_seconds: float = 0.0  # summed time of the shard work reported to this process
    front: QualityFront | None = None  # the parents' front, set when pruning is on
    members: list[tuple[Any, ...]] = field(default_factory=list)  # its (quality, cost, key)
    started: float = field(default_factory=time.time)
    dirty: bool = True  # new work may be ready to submit


class SearchDriver:
    """Drives one search: ``step()`` until it returns False."""

    def __init__(
        self,
        session: SearchSession,
        executor: Executor,
        observer: SearchObserver | None = None,
    ) -> None:
        self.session = session
        self.plan = session.plan
        self.executor = executor
        self.observer = observer or NullObserver()
        self.store = session.store
        self.progress = ProgressBook(self.store, session.search_id)
        self._gen: _Generation | None = None
        self._known: set[str] = set()  # keys seen to exist this generation (outputs stay)
        self._leaders: dict[str, dict[int, Any] | None] = {}  # front members' per-image qualities
        self._first_look = first_look(self.plan.pruning, [len(s) for s in self.plan.shards])

    # one step ------------------------------------------------------------------------------
    def step(self, failed: set[str] | None = None) -> bool:
        """Advance the search. With a blocking executor, runs the current generation to its
        end; otherwise makes one non-blocking pass. Returns False once the search is over.

        ``failed``: the recorded failures (task keys) if the caller listed them already (the
        scheduler lists them once per tick for every search)."""
        session = self.session
        if session.phase.over:
            return False
        candidates = session.pending()
        gen = self._gen
        if gen is None or gen.number != session.generation:
            gen = self._gen = self._start(candidates)
        completions: list[Completed] = []
        while True:
            self._collect(gen, completions, look=not self.executor.blocking, failed=failed)
            failed = None
            if not any(u.open for u in gen.units.values()):
                self._finish(gen)
                return not session.phase.over
            sent = self._submit(gen) if gen.dirty else 0
            self.progress.update(gen.progress, self.executor.stats(), force=sent > 0)
            if not self.executor.blocking:
                self.executor.wait()
                return True
            completions = self.executor.wait()
            if not completions:
                raise RuntimeError(
                    f"search {session.search_id}: the executor has no work left but "
                    f"generation {gen.number} is not complete"
                )

    # a generation's life ---------------------------------------------------------------------
    def _start(self, candidates: list[Candidate]) -> _Generation:
        """Plan the generation: which evaluations are needed and which of their shards are
        already in the store (one full look, once per generation)."""
        self._known.clear()  # a memo within a generation: it must not grow with the history
        plan = self.plan
        n = len(plan.shards)
        ref = plan.reference
        ref_keys = (
            [plan.task_key(IMAGES_TASK, ref.generation_key, s) for s in range(n)] if ref else []
        )
        pruning = plan.pruning.enabled
        if pruning:  # markers of an earlier generation must not stop this one's work
            for key in self.store.list(pruned_prefix(self.session.search_id)):
                self.store.delete(key)
        units: dict[str, _Unit] = {}
        found: dict[str, tuple[Any, list[bool]]] = {}  # key -> (evaluation record, stored)
        for cand in candidates:
            if not cand.feasible or cand.evaluation_key in units:
                continue
            plan.publish(self.store, cand)
            unit = _Unit(cand, [], task_keys=frozenset(
                [plan.task_key(SHARD_TASK, cand.evaluation_key, s) for s in range(n)] + ref_keys
            ))
            unit.cost = objectives(None, cand.schedule, self.session.table)[1]
            # With pruning, a stored evaluation is not taken as is: the candidate's stored
            # shards go through the rule like fresh ones (a result must not depend on the cache).
            record = None if pruning else plan.evaluation(self.store, cand.evaluation_key)
            stored = [record is not None or self._exists(plan.score_key(cand.evaluation_key, s))
                      for s in range(n)]
            found[cand.evaluation_key] = (record, stored)
            units[cand.evaluation_key] = unit
        ref_stored = [self._exists(plan.marker_key(ref.generation_key, s)) for s in range(n)
                      ] if ref is not None else []
        # Counted against the store as the generation's first plan found it (a restarted
        # driver finds its predecessor's work in the store: that is no cache).
        first = planned_generation(
            self.store, self.session.search_id, self.session.generation,
            cached=[k for k, (_, stored) in found.items() if all(stored)],
            stored={k: [s for s in range(n) if stored[s]] for k, (_, stored) in found.items()},
            reference=[s for s, here in enumerate(ref_stored) if here],
        )
        gen = _Generation(self.session.generation, units, [])
        for key, (record, stored) in found.items():
            unit, before = units[key], first.stored_of(key)
            unit.cached = key in first.cached and all(stored)
            # With pruning every shard is taken in, in order (stored ones by the first look
            # below), so the rule sees the stored prefix; otherwise only the missing ones.
            unit.left = [] if record is not None else [
                s for s in range(n) if pruning or not stored[s]]
            unit.stored = set(before)
            if record is not None:
                unit.quality = record.quality
            if not pruning:  # shards made since the first plan: this generation's images
                gen.images += sum(len(plan.shards[s]) for s in range(n)
                                  if stored[s] and s not in before)
        gen.images += sum(len(plan.shards[s]) for s, here in enumerate(ref_stored)
                          if here and s not in first.reference)
        if pruning:
            gen.members = self._front_members()
            gen.front = QualityFront.from_members(gen.members)
            for unit in units.values():
                if gen.front.best_at(unit.cost) is None:
                    unit.promise = float("inf")
        if ref is not None and any(u.left for u in units.values()):
            plan.publish(self.store, ref)
            gen.reference_left = [s for s in range(n) if not ref_stored[s]]
        self._collect(gen, [], look=True)  # failures recorded before (e.g. an earlier run)
        gen.progress.shards_total = n * len(units)
        gen.progress.shards_done = sum(n - len(u.left) for u in units.values())
        self.observer.generation_started(
            GenerationPlan(
                search_id=self.session.search_id,
                generation=gen.number,
                generations=self.session.spec.generations,
                candidates=len(units),
                shards_total=gen.progress.shards_total,
                shards_done=gen.progress.shards_done,
                images_per_shard=self.session.spec.shard_size,
            )
        )
        remaining = self.session.spec.generations + 1 - gen.number
        self.progress.start(gen.number, remaining, gen.progress, self.executor.stats())
        return gen

    def _front_members(self) -> list[tuple[Any, ...]]:
        """``(quality, relative cost, evaluation key)`` of the fully evaluated front members of
        the population the generation was asked from (what its candidates are compared with,
        with the candidates before them; see :meth:`_race`)."""
        session = self.session
        last = session.last_record()
        members = []
        for m in session.front():
            genome = last.population.X[m.index]  # type: ignore[union-attr]
            key = self.plan.candidate(m.index, genome, "front").evaluation_key
            members.append((m.quality, m.relative_cost, key))
        self._leaders = {k: v for k, v in self._leaders.items() if k in {m[2] for m in members}}
        return members

    def _leader(self, gen: _Generation, front: QualityFront, cost: float) -> dict[int, Any] | None:
        """Per-image qualities (shard -> values) of the front member leading at ``cost``: a
        candidate of this generation from memory, a parent from its score records. None if there
        is none or a score record cannot be read (the rule is then unpaired)."""
        leader = front.leader_at(cost)
        if leader is None or leader[1] is None:
            return None
        key = leader[1]
        if key in gen.units and gen.units[key].decision is None:
            return gen.units[key].qualities
        if key not in self._leaders:
            qualities: dict[int, Any] | None = {}
            try:
                for s in range(len(self.plan.shards)):
                    data = self.plan.read_scores(self.store, key, s)
                    qualities[s] = oriented_qualities(data["scores"], data["higher_is_better"])  # type: ignore[index]
            except (StoreObjectError, KeyError) as exc:
                log.warning("front member %s: per-image scores unreadable, unpaired rule: %s",
                            key, exc)
                qualities = None
            self._leaders[key] = qualities
        return self._leaders[key]

    def _exists(self, key: str) -> bool:
        if key in self._known:
            return True
        if self.store.exists(key):
            self._known.add(key)
            return True
        return False

    def _collect(
        self,
        gen: _Generation,
        completions: list[Completed],
        look: bool,
        failed: set[str] | None = None,
    ) -> None:
        """Take in finished work: what the executor reports and, with ``look``, what is in the
        store (each open candidate's next shard only, so a pass costs one look per candidate)
        and the recorded failures."""
        if failed is None:
            failed = failed_tasks(self.store) if look else set()
        failed = set(failed)
        for done in completions:
            work = done.work
            gen.images += done.result.images
            gen.shard_seconds += done.result.seconds
            if done.result.failed is not None:
                failed.add(work.task_key)
            elif work.kind == IMAGES_TASK:
                gen.reference_finished.add(work.shard)
            elif work.candidate.evaluation_key in gen.units:
                gen.units[work.candidate.evaluation_key].finished[work.shard] = done.result
        ref = self.plan.reference
        while gen.reference_left:
            s = gen.reference_left[0]
            if s not in gen.reference_finished and not (
                look and self._exists(self.plan.marker_key(ref.generation_key, s))  # type: ignore[union-attr]
            ):
                break
            gen.reference_left.pop(0)
            gen.dirty = True
            self.executor.finished(self.plan.task_key(IMAGES_TASK, ref.generation_key, s))  # type: ignore[union-attr]
            if s in gen.reference_submitted:
                gen.progress.in_flight -= 1
                if s not in gen.reference_finished:  # seen in the store: made by a worker
                    gen.images += len(self.plan.shards[s])
        for unit in gen.units.values():
            if not unit.open:
                continue
            if failed and not failed.isdisjoint(unit.task_keys):
                self._fail(gen, unit, sorted(failed & unit.task_keys)[0])
                continue
            while unit.left:
                s = unit.left[0]
                result = unit.finished.pop(s, None)
                if result is None and not (
                    look and self._exists(self.plan.score_key(unit.candidate.evaluation_key, s))
                ):
                    break
                unit.left.pop(0)
                if result is not None and result.scores is not None:
                    unit.scores[s] = result.scores
                self._shard_done(gen, unit, s, result)
                if gen.front is not None:
                    self._take_qualities(gen, unit, s)
            if gen.front is None and unit.open and not unit.left:
                self._aggregate(gen, unit)
        if gen.front is not None:
            self._race(gen)

    def _aggregate(self, gen: _Generation, unit: _Unit) -> bool:
        """Every shard done: the evaluation record and the exact quality. False if a score record
        was unreadable (deleted; its shards are queued again)."""
        try:
            record = self.plan.aggregate(self.store, unit.candidate, unit.scores)
        except StaleShards as exc:  # unreadable score records, deleted: redo them
            self._redo(gen, unit, exc.shards)
            return False
        unit.quality = record.quality
        return True

    def _redo(self, gen: _Generation, unit: _Unit, shards: list[int]) -> None:
        """Queue shards again whose derived outputs were found broken (and deleted)."""
        for s in shards:
            self._known.discard(self.plan.score_key(unit.candidate.evaluation_key, s))
            unit.submitted.discard(s)
        unit.left = sorted(shards)
        gen.progress.shards_done -= len(shards)
        gen.dirty = True


    def _shard_done(
        self, gen: _Generation, unit: _Unit, shard: int, result: ShardResult | None
    ) -> None:
        gen.progress.shards_done += 1
        self.executor.finished(self.plan.task_key(SHARD_TASK, unit.candidate.evaluation_key, shard))
        if shard in unit.submitted:
            gen.progress.in_flight -= 1
        if result is None:  # seen in the store: the work ran elsewhere, or before
            images = 0 if shard in unit.stored else len(self.plan.shards[shard])
            result = ShardResult(images, None, 0.0)
            gen.images += result.images
        self.observer.shard_done(
            ShardDone(
                search_id=self.session.search_id,
                generation=gen.number,
                candidate=unit.candidate.index,
                shard=shard,
                images=result.images,
                cached=False,
                seconds=result.seconds,
            )
        )

    def _take_qualities(self, gen: _Generation, unit: _Unit, shard: int) -> None:
        """Keep a completed shard's per-image qualities for the pruning rule."""
        gen.dirty = True  # a windowed dispatch may send the next shard now
        if shard not in unit.scores:
            key = self.plan.score_key(unit.candidate.evaluation_key, shard)
            try:
                unit.scores[shard] = self.plan.read_scores(
                    self.store, unit.candidate.evaluation_key, shard
                )
            except StoreObjectError as exc:  # derived: delete it, the shard is redone
                log.warning("deleting an unreadable score record to redo it: %s", exc)
                self.store.delete(key)
                self._known.discard(key)
                unit.submitted.discard(shard)
                unit.left.insert(0, shard)  # first again: the shards after it keep their turn
                gen.progress.shards_done -= 1
                return
        data = unit.scores[shard]
        unit.qualities[shard] = oriented_qualities(data["scores"], data["higher_is_better"])

    def _race(self, gen: _Generation) -> None:
        """Pruning decisions. A candidate is compared with the *current* front: the parents'
        front and the candidates before it in this generation that were fully evaluated. So its
        decision waits until every candidate before it is settled (fully evaluated, stopped or
        failed), and the front it meets, hence its first pruning point, is a function of the
        scores alone, whatever order shards land in. Meanwhile its shards keep running, unless
        the parents' front alone already says it will be stopped (the current front contains it,
        and the rule tests both): then its remaining work is cancelled at once."""
        for unit in gen.units.values():
            if unit.open and unit.stopped is None and len(unit.qualities) != unit.looked_parents:
                unit.looked_parents = len(unit.qualities)
                decision = self._decide(gen, unit, gen.front, [])  # type: ignore[arg-type]
                if decision.prune:
                    self._stop(gen, unit, decision)
        members = list(gen.members)
        for unit in gen.units.values():  # insertion order: candidate index order
            if unit.failed or unit.decision is not None:
                continue
            if unit.quality is None and not self._settle(gen, unit, members):
                return  # not settled: the candidates after it wait
            if unit.decision is None:
                members.append((unit.quality, unit.cost, unit.candidate.evaluation_key))

    def _decide(
        self, gen: _Generation, unit: _Unit, front: QualityFront, also: list[Any]
    ) -> PruningDecision:
        plan = self.plan
        return decide(
            plan.pruning, unit.cost, unit.qualities, len(plan.shards), plan.images_total,
            front, self._leader(gen, front, unit.cost), also,
        )

    def _settle(self, gen: _Generation, unit: _Unit, members: list[tuple[Any, ...]]) -> bool:
        """Apply the rule to an open candidate whose predecessors are settled, against the
        current front and the parents'; True once it is settled itself (stopped, or every shard
        done and aggregated)."""
        if unit.looked == (len(unit.qualities), len(members)) and unit.left:
            return False
        front = QualityFront.from_members(members)
        parents = (gen.front, self._leader(gen, gen.front, unit.cost))  # type: ignore[arg-type]
        decision = self._decide(gen, unit, front, [parents])
        unit.looked = (len(unit.qualities), len(members))
        if decision.front_quality is None:
            unit.promise = float("inf")
        elif decision.optimistic is not None:
            unit.promise = decision.optimistic - decision.front_quality
        if unit.stopped is not None and not decision.prune:  # cannot happen: both fronts tested
            log.error("search %s: candidate %d stopped on the parents' front but not pruned "
                      "on the current one; keeping the stop", self.session.search_id,
                      unit.candidate.index)
            decision = unit.stopped
        if decision.prune:
            self._prune(gen, unit, decision)
            return True
        return not unit.left and self._aggregate(gen, unit)

    def _stop(self, gen: _Generation, unit: _Unit, decision: PruningDecision) -> None:
        """Cancel a candidate's remaining work: it will be pruned (its decision is taken when
        the candidates before it are settled)."""
        plan, key = self.plan, unit.candidate.evaluation_key
        unit.stopped, unit.stopped_after = decision, len(unit.qualities)
        gen.images_saved += sum(len(plan.shards[s]) for s in unit.left)
        gen.progress.in_flight -= sum(1 for s in unit.left if s in unit.submitted)
        if any(s in unit.submitted for s in unit.left):
            self.store.put_json(pruned_marker_key(self.session.search_id, key),
                                {"generation": gen.number, **decision.to_json()})
        unit.left = []
        self.executor.cancel(key)

    def _prune(self, gen: _Generation, unit: _Unit, decision: PruningDecision) -> None:
        """Settle a candidate as stopped. NSGA-II is told its optimistic bound, not its estimate:
        a candidate is stopped because its first images looked poor, so its estimate is biased
        low (measured: benchmarks/pruning/README.md); the bound is the best quality the test could
        not rule out, and still below the front's at its cost (strictly dominated)."""
        if unit.stopped is None:
            self._stop(gen, unit, decision)
        unit.decision, unit.quality = decision, decision.optimistic
        log.info(
            "search %s: candidate %d (%s) pruned after %d/%d shards: %s",
            self.session.search_id, unit.candidate.index, unit.candidate.digest[:12],
            decision.shards_used, decision.shards_total, decision.reason,
        )

    def _fail(self, gen: _Generation, unit: _Unit, task: str) -> None:
        unit.failed = True
        gen.progress.failed += 1
        gen.progress.in_flight -= sum(1 for s in unit.left if s in unit.submitted)
        self.executor.cancel(unit.candidate.evaluation_key)
        log.error(
            "search %s: candidate %d (%s) failed: task %s was given up on",
            self.session.search_id, unit.candidate.index, unit.candidate.digest[:12], task,
        )

    def _submit(self, gen: _Generation) -> int:
        """Send what is ready: reference shards first, then candidates' shards (ascending within
        each) whose reference images are stored, in :meth:`_dispatch_order`. Returns how many."""
        gen.dirty = False
        ref = self.plan.reference
        work: list[ShardWork] = []
        for s in gen.reference_left:
            if s not in gen.reference_submitted:
                gen.reference_submitted.add(s)
                work.append(self.plan.work_for(IMAGES_TASK, ref, s))  # type: ignore[arg-type]
        ref_pending = set(gen.reference_left)
        if ref_pending and self.executor.blocking and gen.front is not None:
            # One shard at a time in the order sent: the reference images first, then each
            # candidate's shards in dispatch order, so the rule can stop candidates early (sent as
            # each reference shard lands, the shards would go out shard-major).
            ref_pending = set(range(len(self.plan.shards)))
        ready = []
        for unit in gen.units.values():
            if not unit.open:
                continue
            for s in unit.left[: self._window(gen, unit)]:
                if s not in unit.submitted and s not in ref_pending:
                    unit.submitted.add(s)
                    ready.append((self._dispatch_order(unit, s), unit, s))
        ready.sort(key=lambda r: r[0])
        work += [self.plan.work_for(SHARD_TASK, unit.candidate, s) for _, unit, s in ready]
        if work:
            gen.progress.in_flight += len(work)
            self.executor.submit(work)
        return len(work)

    def _dispatch_order(self, unit: _Unit, shard: int) -> tuple[int, float, int, int]:
        """Sort key of a ready shard. Every candidate's shards up to its first look
        (``min_shards``) go first, so the ones to stop are found early; then the most promising
        candidates' shards, so those likely to join the front finish first: those no front member
        is as cheap as (never stopped), then by how far their optimistic bound clears the front
        at their cost (:attr:`_Unit.promise`). With a blocking executor (one shard at a time,
        all sent at the start) candidates go in index order after the first looks: that is the
        order they are settled in, so none runs shards while waiting for an earlier one. Only the
        order of work changes: the decisions depend on each candidate's completed shards alone."""
        first_look = shard < self._first_look or not self.plan.pruning.enabled
        promise = 0.0 if self.executor.blocking else -unit.promise  # blocking: index order
        return (0 if first_look else 1, promise, unit.candidate.index, shard)

    def _window(self, gen: _Generation, unit: _Unit) -> int:
        """How many of a candidate's next shards may be out at once. All of them without pruning,
        with a blocking executor (it runs them one at a time and the rule is applied after each)
        and for a candidate no front member is as cheap as (it cannot be pruned); otherwise the
        shards to its first look, then ``PRUNING_WINDOW`` past the completed prefix, so a candidate
        about to be stopped has few shards queued."""
        if gen.front is None or self.executor.blocking or gen.front.best_at(unit.cost) is None:
            return len(unit.left)
        done = len(self.plan.shards) - len(unit.left)
        return max(self._first_look, done + PRUNING_WINDOW) - done

    def _finish(self, gen: _Generation) -> GenerationRecord:
        units = list(gen.units.values())
        pruned = [u for u in units if u.decision is not None]
        counts = Counts(
            evaluated=sum(
                1 for u in units if u.quality is not None and not u.cached and not u.decision
            ),
            cached=sum(1 for u in units if u.cached and not u.decision),
            failed=sum(1 for u in units if u.failed),
            pruned=len(pruned),
        )
        qualities = {k: u.quality for k, u in gen.units.items()}
        session = self.session
        if gen.front is not None:  # the partial candidates, before the commit point
            self.store.put_json(pruning_record_key(session.search_id, gen.number), {
                "generation": gen.number,
                "images_saved": gen.images_saved,
                "partial": {
                    u.candidate.evaluation_key: {
                        "candidates": sorted(
                            c.index for c in session.pending()
                            if c.evaluation_key == u.candidate.evaluation_key
                        ),
                        **u.decision.to_json(),  # type: ignore[union-attr]
                        # work, not decision: on a cluster it depends on timing
                        "stopped_after": u.stopped_after,
                    }
                    for u in pruned
                },
            })
        work = GenerationWork(gen.images, gen.images_saved, gen.shard_seconds)
        record = session.complete(qualities, counts, work)
        forget_planned(self.store, session.search_id, record.generation)
        remaining = session.spec.generations + 1 - session.generation
        self.progress.finish(record, session.phase.value, remaining, self.executor.stats())
        front = session.front()
        self.observer.generation_finished(
            GenerationSummary(
                search_id=session.search_id,
                generation=record.generation,
                generations=session.spec.generations,
                evaluated=record.counts.evaluated,
                cached=record.counts.cached,
                failed=record.counts.failed,
                infeasible=record.counts.infeasible,
                pruned=record.counts.pruned,
                hypervolume=record.hypervolume,
                front=tuple((m.quality, m.relative_cost) for m in front),
                quality_name=session.spec.quality.name,
                images=gen.images,
                seconds=time.time() - gen.started,
                images_saved=gen.images_saved,
                shard_seconds=gen.shard_seconds,
            )
        )
        log.info(
            "search %s: generation %d done: %d evaluated, %d cached, %d failed, HV %.4f, "
            "front %d", session.search_id, record.generation, counts.evaluated, counts.cached,
            counts.failed, record.hypervolume, len(record.front),
        )
        self._gen = None
        return record
