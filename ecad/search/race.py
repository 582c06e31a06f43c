"""The race: pruning's looks at a generation's candidates while their shards land (the rule is
:func:`ecad.search.pruning.decide`; this is when it is asked, against which front, and what a
stop does).

After each completed shard of a candidate (the contiguous prefix, in shard order) the candidate
is compared with the parents' front (a stop there cancels its work at once) and, once every
candidate before it is settled, with the current front (the parents' and those candidates'
fully evaluated ones; see :meth:`Race.look`). A stopped candidate is told to NSGA-II with its
optimistic bound (still strictly dominated), its remaining shards are cancelled (and skipped by
workers: ``searches/<id>/pruned/<evaluation key>.json``), and its decision is recorded in
``searches/<id>/pruning/NNNN.json``. Shards found in the store go through the same rule, so the
result depends neither on the cache nor on a resume.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ecad.search.executor import Executor, Pacing
from ecad.search.ledger import Evaluation, Ledger, Round
from ecad.search.plan import SearchPlan
from ecad.search.pruning import QualityFront, decide, first_look
from ecad.search.pruning_records import PartialCandidate, PruningDecision, PruningRecord
from ecad.store import ObjectStore
from ecad.store.keys import pruned_marker_key
from ecad.store.records import StoreObjectError

__all__ = ["PRUNING_WINDOW", "Member", "Race"]

log = logging.getLogger(__name__)

#: With pruning on a windowed executor: shards of a prunable candidate out past its completed
#: prefix (after its first ``min_shards``).
PRUNING_WINDOW = 2

#: A fully evaluated front member: ``(quality, relative cost, evaluation key)``.
Member = tuple[float, float, str]
#: Per-image qualities (oriented) of a candidate, by shard.
Qualities = dict[int, np.ndarray]


@dataclass
class _Entry:
    """One evaluation's place in the race."""

    qualities: Qualities = field(default_factory=dict)  # shard -> oriented per-image
    decision: PruningDecision | None = None  # set when pruned
    #: Optimistic bound minus the front's quality at the candidate's cost, from its latest look
    #: (inf: no front member is as cheap; 0 before a look): the dispatch order's key.
    promise: float = 0.0
    looked: tuple[int, int] = (-1, -1)  # (shards, front members) at the latest settling look
    looked_parents: int = -1  # shards at the latest look at the parents' front alone
    stopped: PruningDecision | None = None  # remaining work cancelled (the parents' front)
    stopped_after: int = 0  # shards taken in when its remaining work was cancelled


class Race:
    """Pruning's state for one search: the parents' front of the running generation, each
    evaluation's looks, and the front leaders' per-image qualities (kept across generations
    while they stay on the front)."""

    def __init__(
        self,
        plan: SearchPlan,
        store: ObjectStore,
        executor: Executor,
        pacing: Pacing,
        search_id: str,
    ) -> None:
        self.plan, self.store, self.executor = plan, store, executor
        self.pacing, self.search_id = pacing, search_id
        self.first_look = first_look(plan.pruning, [len(s) for s in plan.shards])
        self.front = QualityFront.from_members([])
        self.members: list[Member] = []
        self._entries: dict[str, _Entry] = {}
        self._leaders: dict[str, Qualities | None] = {}

    # a generation ----------------------------------------------------------------------------
    def begin(self, members: Sequence[Member], evaluations: Sequence[Evaluation]) -> None:
        """Start a generation against the parents' front ``members`` (fully evaluated)."""
        self.members = list(members)
        self.front = QualityFront.from_members(self.members)
        keys = {m[2] for m in self.members}
        self._leaders = {k: v for k, v in self._leaders.items() if k in keys}
        self._entries = {e.key: _Entry() for e in evaluations}
        for ev in evaluations:
            if self.front.best_at(ev.cost) is None:
                self._entries[ev.key].promise = float("inf")

    def take(self, rnd: Round, ev: Evaluation, shard: int) -> str | None:
        """Keep a completed shard's per-image qualities for the rule. Returns the key of its
        score record if that was unreadable (deleted: the shard is queued again, first)."""
        rnd.dirty = True  # a windowed dispatch may send the next shard now
        if shard not in ev.scores:
            key = self.plan.score_key(ev.key, shard)
            try:
                ev.scores[shard] = self.plan.read_scores(self.store, ev.key, shard)
            except StoreObjectError as exc:  # derived: delete it, the shard is redone
                log.warning("deleting an unreadable score record to redo it: %s", exc)
                self.store.delete(key)
                ev.submitted.discard(shard)
                ev.left.insert(0, shard)  # first again: the shards after it keep their turn
                rnd.progress.shards_done -= 1
                return key
        self._entries[ev.key].qualities[shard] = ev.scores[shard].oriented()
        return None

    def look(self, rnd: Round, settle: Callable[[Evaluation], bool]) -> None:
        """Pruning decisions. A candidate is compared with the *current* front: the parents'
        front and the candidates before it in this generation that were fully evaluated. So its
        decision waits until every candidate before it is settled (fully evaluated, stopped or
        failed), and the front it meets, hence its first pruning point, is a function of the
        scores alone, whatever order shards land in. Meanwhile its shards keep running, unless
        the parents' front alone already says it will be stopped (the current front contains
        it, and the rule tests both): then its remaining work is cancelled at once.
        ``settle(ev)``: aggregate a candidate whose shards are all done (False: a score record
        was unreadable, its shards are redone)."""
        for ev in rnd.evaluations.values():
            entry = self._entries[ev.key]
            if ev.open and entry.stopped is None and len(entry.qualities) != entry.looked_parents:
                entry.looked_parents = len(entry.qualities)
                decision = self._decide(rnd, ev, self.front, [])
                if decision.prune:
                    self._stop(rnd, ev, decision)
        members = list(self.members)
        for ev in rnd.evaluations.values():  # insertion order: candidate index order
            if ev.failed or ev.pruned:
                continue
            if ev.quality is None and not self._settle(rnd, ev, members, settle):
                return  # not settled: the candidates after it wait
            if not ev.pruned and ev.quality is not None:  # settled: its quality is known
                members.append((ev.quality, ev.cost, ev.key))

    def _decide(
        self,
        rnd: Round,
        ev: Evaluation,
        front: QualityFront,
        also: list[tuple[QualityFront, Qualities | None]],
    ) -> PruningDecision:
        plan = self.plan
        return decide(
            plan.pruning,
            ev.cost,
            self._entries[ev.key].qualities,
            len(plan.shards),
            plan.images_total,
            front,
            self._leader(rnd, front, ev.cost),
            also,
        )

    def _settle(
        self,
        rnd: Round,
        ev: Evaluation,
        members: list[Member],
        settle: Callable[[Evaluation], bool],
    ) -> bool:
        """Apply the rule to an open candidate whose predecessors are settled, against the
        current front and the parents'; True once it is settled itself (stopped, or every shard
        done and aggregated)."""
        entry = self._entries[ev.key]
        if entry.looked == (len(entry.qualities), len(members)) and ev.left:
            return False
        front = QualityFront.from_members(members)
        parents = (self.front, self._leader(rnd, self.front, ev.cost))
        decision = self._decide(rnd, ev, front, [parents])
        entry.looked = (len(entry.qualities), len(members))
        if decision.front_quality is None:
            entry.promise = float("inf")
        elif decision.optimistic is not None:
            entry.promise = decision.optimistic - decision.front_quality
        if entry.stopped is not None and not decision.prune:  # cannot happen: both fronts tested
            log.error(
                "search %s: candidate %d stopped on the parents' front but not pruned "
                "on the current one; keeping the stop",
                self.search_id,
                ev.candidate.index,
            )
            decision = entry.stopped
        if decision.prune:
            self._prune(rnd, ev, decision)
            return True
        return not ev.left and settle(ev)

    def _stop(self, rnd: Round, ev: Evaluation, decision: PruningDecision) -> None:
        """Cancel a candidate's remaining work: it will be pruned (its decision is taken when
        the candidates before it are settled)."""
        entry = self._entries[ev.key]
        entry.stopped, entry.stopped_after = decision, len(entry.qualities)
        rnd.images_saved += sum(len(self.plan.shards[s]) for s in ev.left)
        out = ev.out()
        rnd.progress.in_flight -= out
        if out:
            self.store.put_json(
                pruned_marker_key(self.search_id, ev.key),
                {"generation": rnd.number, **decision.to_json()},
            )
        ev.left = []
        self.executor.cancel(ev.key)

    def _prune(self, rnd: Round, ev: Evaluation, decision: PruningDecision) -> None:
        """Settle a candidate as stopped. NSGA-II is told its optimistic bound, not its
        estimate: a candidate is stopped because its first images looked poor, so its estimate
        is biased low (measured: benchmarks/pruning/README.md); the bound is the best quality
        the test could not rule out, and still below the front's at its cost (strictly
        dominated)."""
        entry = self._entries[ev.key]
        if entry.stopped is None:
            self._stop(rnd, ev, decision)
        entry.decision, ev.pruned, ev.quality = decision, True, decision.optimistic
        log.info(
            "search %s: candidate %d (%s) pruned after %d/%d shards: %s",
            self.search_id,
            ev.candidate.index,
            ev.candidate.digest[:12],
            decision.shards_used,
            decision.shards_total,
            decision.reason,
        )

    def _leader(self, rnd: Round, front: QualityFront, cost: float) -> Qualities | None:
        """Per-image qualities (shard -> values) of the front member leading at ``cost``: a
        candidate of this generation from memory, a parent from its score records. None if
        there is none or a score record cannot be read (the rule is then unpaired)."""
        leader = front.leader_at(cost)
        if leader is None or leader[1] is None:
            return None
        key = leader[1]
        if key in rnd.evaluations and not rnd.evaluations[key].pruned:
            return self._entries[key].qualities
        if key not in self._leaders:
            qualities: Qualities | None = {}
            try:
                for s in range(len(self.plan.shards)):
                    qualities[s] = self.plan.read_scores(self.store, key, s).oriented()
            except (StoreObjectError, KeyError) as exc:
                log.warning(
                    "front member %s: per-image scores unreadable, unpaired rule: %s", key, exc
                )
                qualities = None
            self._leaders[key] = qualities
        return self._leaders[key]

    # dispatch --------------------------------------------------------------------------------
    def order(self, ev: Evaluation, shard: int) -> tuple[int, float, int, int]:
        """Sort key of a ready shard. Every candidate's shards up to its first look
        (``min_shards``) go first, so the ones to stop are found early; then, on a windowed
        executor, the most promising candidates' shards, so those likely to join the front
        finish first: those no front member is as cheap as (never stopped), then by how far
        their optimistic bound clears the front at their cost. Otherwise (one shard at a time,
        all sent at the start) candidates go in index order after the first looks: that is the
        order they are settled in, so none runs shards while waiting for an earlier one. Only
        the order of work changes: the decisions depend on each candidate's completed shards
        alone."""
        first = shard < self.first_look or not self.plan.pruning.enabled
        promise = -self._entries[ev.key].promise if self.pacing.windowed else 0.0
        return (0 if first else 1, promise, ev.candidate.index, shard)

    def window(self, ev: Evaluation) -> int:
        """How many of a candidate's next shards may be out at once: the shards to its first
        look, then ``PRUNING_WINDOW`` past the completed prefix, so a candidate about to be
        stopped has few shards queued. All of them on an executor that is not windowed (it runs
        them one at a time and the rule is applied after each) and for a candidate no front
        member is as cheap as (it cannot be pruned)."""
        if not self.pacing.windowed or self.front.best_at(ev.cost) is None:
            return len(ev.left)
        done = len(self.plan.shards) - len(ev.left)
        return max(self.first_look, done + PRUNING_WINDOW) - done

    def record(self, rnd: Round, ledger: Ledger) -> PruningRecord:
        """The generation's stopped candidates (written before the commit point)."""
        partial = {}
        for ev in rnd.evaluations.values():
            entry = self._entries[ev.key]
            if entry.decision is not None:
                partial[ev.key] = PartialCandidate(
                    tuple(ledger.sharing(ev.key)), entry.decision, entry.stopped_after
                )
        return PruningRecord(rnd.number, rnd.images_saved, partial)
