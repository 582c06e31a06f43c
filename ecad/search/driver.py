"""One search loop, two executors.

:class:`SearchDriver` takes a generation's candidates (built once by the session's
:class:`~ecad.search.ledger.Ledger`), plans the missing shard work (reference images, then each
candidate's images and scores), hands it to an :class:`~ecad.search.executor.Executor`, collects
what landed, aggregates, records failures, writes progress and tells NSGA-II. ``ecad search``
runs it with the in-process executor (:class:`ecad.search.local.InProcessExecutor`); the
scheduler service with the Celery one (``ecad.scheduler.executor``). Counting, failures,
progress and schedule publishing exist only here, so a local search and a cluster search leave
the same objects in the store. How work is paced follows from the executor's one capability
(:class:`~ecad.search.executor.Pacing`).

Work goes out shard-wise, candidates in index order and shards ascending within each; the
driver sees each candidate's shards complete in shard order, so any decision taken after a
completed shard (e.g. stopping a candidate and cancelling its remaining shards) depends on
completed shards in a fixed order, never on timing. Pruning's looks are the race's
(:mod:`ecad.search.race`).
"""

from __future__ import annotations

import logging
import time

from ecad.search.candidate import Candidate
from ecad.search.executor import Completed, Executor, Pacing
from ecad.search.failures import failed_tasks
from ecad.search.found import FoundAtStart, forget_found_at_start, found_at_start
from ecad.search.ledger import Evaluation, Ledger, Round
from ecad.search.observer import (
    GenerationStarted,
    GenerationSummary,
    NullObserver,
    SearchObserver,
    ShardDone,
)
from ecad.search.plan import ShardResult, ShardWork, StaleShards
from ecad.search.progress import ProgressBook
from ecad.search.race import Race
from ecad.search.records import EvaluationRecord, GenerationRecord
from ecad.search.session import SearchSession
from ecad.store.keys import IMAGES_TASK, SHARD_TASK, pruned_prefix, pruning_record_key

__all__ = ["Completed", "Executor", "SearchDriver"]

log = logging.getLogger(__name__)

#: What the first look of a generation found of an evaluation: its record (pruning off), and
#: which of its shards are stored.
_Found = tuple[EvaluationRecord | None, list[bool]]


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
        self.pacing = Pacing.of(executor)
        self.observer = observer or NullObserver()
        self.store = session.store
        self.progress = ProgressBook(self.store, session.search_id)
        self.race = (
            Race(self.plan, self.store, executor, self.pacing, session.search_id)
            if self.plan.pruning.enabled
            else None
        )
        self._round: Round | None = None
        self._known: set[str] = set()  # keys seen to exist this generation (outputs stay)

    # one step ------------------------------------------------------------------------------
    def step(self, failed: set[str] | None = None) -> bool:
        """Advance the search: run the current generation to its end (an executor that runs
        work) or make one pass (one that sends it elsewhere). Returns False once the search is
        over.

        ``failed``: the recorded failures (task keys) if the caller listed them already (the
        scheduler lists them once per tick for every search)."""
        session = self.session
        ledger = session.ledger()
        if ledger is None:
            return False
        rnd = self._round
        if rnd is None or rnd.number != session.generation:
            rnd = self._round = self._start(ledger)
        completions: list[Completed] = []
        while True:
            self._collect(rnd, completions, self.pacing.looks_in_store, failed)
            failed = None
            if rnd.done():
                self._finish(rnd, ledger)
                return not session.phase.over
            sent = self._submit(rnd) if rnd.dirty else 0
            self.progress.update(rnd.progress, self.executor.stats(), force=sent > 0)
            completions = self.executor.wait()
            if not self.pacing.runs_work:
                return True
            if not completions:
                raise RuntimeError(
                    f"search {session.search_id}: the executor has no work left but "
                    f"generation {rnd.number} is not complete"
                )

    # a generation's start ----------------------------------------------------------------------
    def _start(self, ledger: Ledger) -> Round:
        """Start the generation: which evaluations are needed and which of their shards are
        already in the store (one full look, once per generation)."""
        self._known.clear()  # a memo within a generation: it must not grow with the history
        plan, session, n = self.plan, self.session, len(self.plan.shards)
        if self.race is not None:  # markers of an earlier generation must not stop this one
            for key in self.store.list(pruned_prefix(session.search_id)):
                self.store.delete(key)
        evaluations, found = self._evaluations(ledger.candidates)
        ref = plan.reference
        ref_stored = (
            [self._exists(plan.marker_key(ref.generation_key, s)) for s in range(n)]
            if ref is not None
            else []
        )
        # Counted against the store as the generation's first look found it (a restarted
        # driver finds its predecessor's work in the store: that is no cache).
        first = found_at_start(
            self.store,
            session.search_id,
            session.generation,
            cached=[k for k, (_, stored) in found.items() if all(stored)],
            stored={k: [s for s in range(n) if stored[s]] for k, (_, stored) in found.items()},
            reference=[s for s, here in enumerate(ref_stored) if here],
        )
        rnd = Round(session.generation, evaluations)
        self._take_found(rnd, found, first)
        rnd.images += sum(
            len(plan.shards[s])
            for s, here in enumerate(ref_stored)
            if here and s not in first.reference
        )
        if self.race is not None:
            self.race.begin(session.front_keys(), list(evaluations.values()))
        if ref is not None and any(e.left for e in evaluations.values()):
            plan.publish(self.store, ref)
            rnd.reference_left = [s for s in range(n) if not ref_stored[s]]
        self._collect(rnd, [], look=True)  # failures recorded before (e.g. an earlier run)
        rnd.progress.shards_total = n * len(evaluations)
        rnd.progress.shards_done = sum(n - len(e.left) for e in evaluations.values())
        self._announce(rnd)
        return rnd

    def _evaluations(
        self, candidates: list[Candidate]
    ) -> tuple[dict[str, Evaluation], dict[str, _Found]]:
        """The generation's distinct evaluations (each feasible candidate's, published) and
        what the store holds of each. With pruning, a stored evaluation is not taken as is:
        the candidate's stored shards go through the rule like fresh ones (a result must not
        depend on the cache)."""
        plan, n = self.plan, len(self.plan.shards)
        ref = plan.reference
        ref_keys = (
            [plan.task_key(IMAGES_TASK, ref.generation_key, s) for s in range(n)]
            if ref is not None
            else []
        )
        evaluations: dict[str, Evaluation] = {}
        found: dict[str, _Found] = {}
        for cand in candidates:
            key = cand.evaluation_key
            if not cand.feasible or key in evaluations:
                continue
            plan.publish(self.store, cand)
            task_keys = [plan.task_key(SHARD_TASK, key, s) for s in range(n)] + ref_keys
            evaluations[key] = Evaluation(cand, frozenset(task_keys))
            record = None if self.race is not None else plan.evaluation(self.store, key)
            stored = [record is not None or self._exists(plan.score_key(key, s)) for s in range(n)]
            found[key] = (record, stored)
        return evaluations, found

    def _take_found(self, rnd: Round, found: dict[str, _Found], first: FoundAtStart) -> None:
        """What the store holds, taken in: evaluations cached, shards left to do, images the
        generation made (against its first look)."""
        plan, n, pruning = self.plan, len(self.plan.shards), self.race is not None
        for key, (record, stored) in found.items():
            ev, before = rnd.evaluations[key], first.stored_of(key)
            ev.cached = key in first.cached and all(stored)
            # With pruning every shard is taken in, in order (stored ones by the first look),
            # so the rule sees the stored prefix; otherwise only the missing ones.
            ev.left = (
                [] if record is not None else [s for s in range(n) if pruning or not stored[s]]
            )
            ev.stored = frozenset(before)
            if record is not None:
                ev.quality = record.quality
            if not pruning:  # shards made since the first look: this generation's images
                rnd.images += sum(
                    len(plan.shards[s]) for s in range(n) if stored[s] and s not in before
                )

    def _announce(self, rnd: Round) -> None:
        session = self.session
        self.observer.generation_started(
            GenerationStarted(
                search_id=session.search_id,
                generation=rnd.number,
                generations=session.spec.generations,
                candidates=len(rnd.evaluations),
                shards_total=rnd.progress.shards_total,
                shards_done=rnd.progress.shards_done,
                images_per_shard=session.spec.shard_size,
            )
        )
        remaining = session.spec.generations + 1 - rnd.number
        self.progress.start(rnd.number, remaining, rnd.progress, self.executor.stats())

    def _exists(self, key: str) -> bool:
        if key in self._known:
            return True
        if self.store.exists(key):
            self._known.add(key)
            return True
        return False

    # taking work in ----------------------------------------------------------------------------
    def _collect(
        self,
        rnd: Round,
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
            rnd.images += done.result.images
            rnd.shard_seconds += done.result.seconds
            if done.result.failed is not None:
                failed.add(work.task_key)
            elif work.kind == IMAGES_TASK:
                rnd.reference_finished.add(work.shard)
            elif work.candidate.evaluation_key in rnd.evaluations:
                rnd.evaluations[work.candidate.evaluation_key].finished[work.shard] = done.result
        self._collect_reference(rnd, look)
        for ev in rnd.evaluations.values():
            if not ev.open:
                continue
            if failed and not failed.isdisjoint(ev.task_keys):
                self._fail(rnd, ev, sorted(failed & ev.task_keys)[0])
                continue
            self._take_shards(rnd, ev, look)
            if self.race is None and ev.open and not ev.left:
                self._aggregate(rnd, ev)
        if self.race is not None:
            self.race.look(rnd, lambda ev: self._aggregate(rnd, ev))

    def _collect_reference(self, rnd: Round, look: bool) -> None:
        ref = self.plan.reference
        if ref is None:
            return
        while rnd.reference_left:
            s = rnd.reference_left[0]
            if s not in rnd.reference_finished and not (
                look and self._exists(self.plan.marker_key(ref.generation_key, s))
            ):
                break
            rnd.reference_left.pop(0)
            rnd.dirty = True
            self.executor.finished(self.plan.task_key(IMAGES_TASK, ref.generation_key, s))
            if s in rnd.reference_submitted:
                rnd.progress.in_flight -= 1
                if s not in rnd.reference_finished:  # seen in the store: made by a worker
                    rnd.images += len(self.plan.shards[s])

    def _take_shards(self, rnd: Round, ev: Evaluation, look: bool) -> None:
        """An evaluation's completed shards, in shard order (its contiguous prefix)."""
        while ev.left:
            s = ev.left[0]
            result = ev.finished.pop(s, None)
            if result is None and not (look and self._exists(self.plan.score_key(ev.key, s))):
                break
            ev.left.pop(0)
            if result is not None and result.scores is not None:
                ev.scores[s] = result.scores
            self._shard_done(rnd, ev, s, result)
            if self.race is not None and (deleted := self.race.take(rnd, ev, s)) is not None:
                self._known.discard(deleted)

    def _shard_done(
        self, rnd: Round, ev: Evaluation, shard: int, result: ShardResult | None
    ) -> None:
        rnd.progress.shards_done += 1
        self.executor.finished(self.plan.task_key(SHARD_TASK, ev.key, shard))
        if shard in ev.submitted:
            rnd.progress.in_flight -= 1
        if result is None:  # seen in the store: the work ran elsewhere, or before
            images = 0 if shard in ev.stored else len(self.plan.shards[shard])
            result = ShardResult(images, None, 0.0)
            rnd.images += result.images
        self.observer.shard_done(
            ShardDone(
                search_id=self.session.search_id,
                generation=rnd.number,
                candidate=ev.candidate.index,
                shard=shard,
                images=result.images,
                cached=False,
                seconds=result.seconds,
            )
        )

    def _aggregate(self, rnd: Round, ev: Evaluation) -> bool:
        """Every shard done: the evaluation record and the exact quality. False if a score record
        was unreadable (deleted; its shards are queued again)."""
        try:
            record = self.plan.aggregate(self.store, ev.candidate, ev.scores)
        except StaleShards as exc:  # unreadable score records, deleted: redo them
            self._redo(rnd, ev, exc.shards)
            return False
        ev.quality = record.quality
        return True

    def _redo(self, rnd: Round, ev: Evaluation, shards: list[int]) -> None:
        """Queue shards again whose derived outputs were found broken (and deleted)."""
        for s in shards:
            self._known.discard(self.plan.score_key(ev.key, s))
            ev.submitted.discard(s)
        ev.left = sorted(shards)
        rnd.progress.shards_done -= len(shards)
        rnd.dirty = True

    def _fail(self, rnd: Round, ev: Evaluation, task: str) -> None:
        ev.failed = True
        rnd.progress.failed += 1
        rnd.progress.in_flight -= ev.out()
        self.executor.cancel(ev.key)
        log.error(
            "search %s: candidate %d (%s) failed: task %s was given up on",
            self.session.search_id,
            ev.candidate.index,
            ev.candidate.digest[:12],
            task,
        )

    # sending work --------------------------------------------------------------------------
    def _submit(self, rnd: Round) -> int:
        """Send what is ready: reference shards first, then candidates' shards (ascending within
        each) whose reference images are stored, in the race's order. Returns how many."""
        rnd.dirty = False
        plan, race = self.plan, self.race
        work: list[ShardWork] = []
        if plan.reference is not None:
            for s in rnd.reference_left:
                if s not in rnd.reference_submitted:
                    rnd.reference_submitted.add(s)
                    work.append(plan.work_for(IMAGES_TASK, plan.reference, s))
        ref_pending = set(rnd.reference_left)
        if ref_pending and race is not None and self.pacing.references_first:
            ref_pending = set(range(len(plan.shards)))
        ready = []
        for ev in rnd.evaluations.values():
            if not ev.open:
                continue
            for s in ev.left[: race.window(ev) if race is not None else len(ev.left)]:
                if s not in ev.submitted and s not in ref_pending:
                    ev.submitted.add(s)
                    order = (
                        race.order(ev, s) if race is not None else (0, 0.0, ev.candidate.index, s)
                    )
                    ready.append((order, ev, s))
        ready.sort(key=lambda r: r[0])
        work += [plan.work_for(SHARD_TASK, ev.candidate, s) for _, ev, s in ready]
        if work:
            rnd.progress.in_flight += len(work)
            self.executor.submit(work)
        return len(work)

    # a generation's end ----------------------------------------------------------------------
    def _finish(self, rnd: Round, ledger: Ledger) -> GenerationRecord:
        session = self.session
        counts = rnd.counts()
        if self.race is not None:  # the partial candidates, before the commit point
            self.store.put_json(
                pruning_record_key(session.search_id, rnd.number),
                self.race.record(rnd, ledger).to_json(),
            )
        record = session.complete(rnd.qualities(), counts, rnd.work())
        forget_found_at_start(self.store, session.search_id, record.generation)
        remaining = session.spec.generations + 1 - session.generation
        self.progress.finish(record, session.phase.value, remaining, self.executor.stats())
        self._summarize(rnd, record)
        log.info(
            "search %s: generation %d done: %d evaluated, %d cached, %d failed, HV %.4f, front %d",
            session.search_id,
            record.generation,
            counts.evaluated,
            counts.cached,
            counts.failed,
            record.hypervolume,
            len(record.front),
        )
        self._round = None
        return record

    def _summarize(self, rnd: Round, record: GenerationRecord) -> None:
        session = self.session
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
                images=rnd.images,
                seconds=time.time() - rnd.started,
                images_saved=rnd.images_saved,
                shard_seconds=rnd.shard_seconds,
            )
        )
