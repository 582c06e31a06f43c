"""A search as a sequence of generations whose state lives in the object store.

Any process can open a search by id and continue it: ``ecad search`` and the distributed
scheduler drive the same :class:`SearchSession` through :class:`ecad.search.driver.SearchDriver`;
they differ only in the executor that gets shards evaluated. Phases (:class:`Phase`): ``ask``
(next: sample offspring) -> ``evaluate`` (offspring stored as pending, waiting for evaluations)
-> ``ask`` ... -> ``done``; ``cancelled`` stops it. ``state.json`` (:class:`SearchState`) is the
commit point and is written last. Keys: :mod:`ecad.store.keys`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping

import numpy as np

from ecad.cost import CostTable
from ecad.errors import ConfigError, EcadError
from ecad.schedules import Schedule, ScheduleLayout
from ecad.search.candidate import Candidate
from ecad.search.ledger import Ledger
from ecad.search.markers import (
    failure_reason,
    is_cancelled,
    mark_failed,
    write_cancel_marker,
)
from ecad.search.nsga import Nsga2, distinct_seeds, pack_genomes, unpack_genomes
from ecad.search.objectives import INFEASIBLE, hypervolume, nondominated, reference_point
from ecad.search.plan import SearchPlan
from ecad.search.prepare import build_cost_table
from ecad.search.preselection.generation import ask_offspring, record_outcome
from ecad.search.pruning_records import PartialCandidate, PruningRecord
from ecad.search.records import (
    Counts,
    FrontMember,
    GenerationRecord,
    GenerationWork,
    Phase,
    Population,
)
from ecad.search.setting import layout_for
from ecad.search.spec import SearchSpec
from ecad.search.state import SearchState
from ecad.store import MissingObjectError, ObjectStore
from ecad.store.identity import ensure_store_identity, store_identity
from ecad.store.keys import (
    cost_table_key,
    generation_record_key,
    generations_prefix,
    initial_key,
    pruning_record_key,
    search_id_of,
    spec_key,
    state_key,
)
from ecad.store.records import StoreObjectError, read_record, require

__all__ = ["SearchSession", "prepare_search"]


def prepare_search(
    spec: SearchSpec,
    store_of: Callable[[], ObjectStore],
    layout: ScheduleLayout | None = None,
) -> tuple[CostTable, np.ndarray | None]:
    """The checks a new search needs beyond its spec's fields, writing nothing: the cost model
    and the initial population, both built. ``store_of()`` is called only for transfer seeding
    (``from_search``: the other search's front). ``layout``: the spec's schedule layout if
    already resolved (it reads the weights' config for local weights: once per search)."""
    from ecad.scoring.registry import check_installed
    from ecad.search.initial import initial_genomes
    from ecad.search.setting import scorer_options

    def front_of(other: str, generations: tuple[int, int] | None) -> list[Schedule]:
        session = SearchSession.open(store_of(), other)
        if generations is None:
            return [m.schedule for m in session.front()]
        return [m.schedule for m in session.fronts_between(*generations)]

    check_installed(scorer_options(spec.quality)[0])  # before any work: one line, not N failures
    layout = layout or layout_for(spec)
    table = build_cost_table(spec, layout)
    initial = initial_genomes(spec.initial_population, layout, spec.steps, spec.seed, front_of)
    if initial is not None:  # more distinct seeds than population: an error unless truncate
        distinct_seeds(initial, spec.population, spec.initial_population.truncate)
    return table, initial


class SearchSession:
    """One search's state in the store, with ask/complete steps."""

    def __init__(
        self,
        store: ObjectStore,
        spec: SearchSpec,
        table: CostTable,
        state: SearchState,
        plan: SearchPlan | None = None,
    ) -> None:
        self.store = store
        self.spec = spec
        self.search_id = spec.search_id()
        self.plan = plan or SearchPlan(spec, table)
        self.layout = self.plan.layout
        self.setting = self.plan.setting
        self.table = table
        self.state = state
        self.n_var = self.plan.n_var
        self._nsga: Nsga2 | None = None
        self._ledger: Ledger | None = None  # candidates, built once per generation
        #: The latest generation record, when this process wrote it (not read back).
        self._last: GenerationRecord | None = None
        #: Evaluation keys of the genomes this process built candidates of (the front's keys
        #: at the next generation's start come from here, not from the record).
        self._keys: dict[str, str] = {}

    # creation / opening --------------------------------------------------------------------
    @classmethod
    def create(cls, store: ObjectStore, spec: SearchSpec) -> tuple[SearchSession, bool]:
        """Create the search, or open it if the same spec was submitted before.

        Returns ``(session, created)``.
        """
        search_id = spec.search_id()
        legacy = spec.legacy_search_id()
        if not store.exists(state_key(search_id)) and legacy and store.exists(state_key(legacy)):
            search_id = legacy  # stored before ids hashed content only: the same search
        if store.exists(state_key(search_id)):
            return cls.open(store, search_id), False
        # Every check runs before the first write: a failed submit leaves nothing behind.
        layout = layout_for(spec)  # resolved once (local weights: their config is read)
        table, initial = prepare_search(spec, lambda: store, layout)
        store_identity(store)  # an unreadable store.json fails here, before any write
        plan = SearchPlan(spec, table, layout)
        session = cls(store, spec, table, SearchState.new(time.time()), plan)
        written: list[str] = []
        try:
            for key, value in (
                (spec_key(search_id), spec.to_json()),
                (cost_table_key(search_id), table.to_json()),
                (initial_key(search_id), None if initial is None else {"X": pack_genomes(initial)}),
            ):
                if value is not None:
                    written.append(key)
                    store.put_json(key, value)
            session._save(session.state)  # the commit point, written last
        except BaseException:
            for key in written:  # a store that failed part-way: take back what landed
                with contextlib.suppress(Exception):
                    store.delete(key)
            raise
        ensure_store_identity(store)  # the store's first search gives it its identity
        return session, True

    @classmethod
    def open(cls, store: ObjectStore, search_id: str) -> SearchSession:
        from ecad.search.validation import check_search_id

        if check_search_id(search_id) is not None:  # no key of it can exist: don't build one
            raise ConfigError(
                f"no search {search_id!r:.80} in {store.describe()} (not a search "
                "id: see ecad status)"
            )
        try:
            spec = read_record(
                store,
                spec_key(search_id),
                lambda d: SearchSpec.from_json(d, source=spec_key(search_id)),
            )
            state = read_record(store, state_key(search_id), SearchState.from_json)
            table = read_record(store, cost_table_key(search_id), CostTable.from_json)
        except MissingObjectError:
            raise ConfigError(f"no search {search_id!r} in {store.describe()}") from None
        # The stored spec was validated and resolved at submission (prompt texts included), so
        # it is used as is: workers need none of the submitter's files.
        if spec.search_id() != search_id:
            raise EcadError(
                f"search {search_id}: stored spec resolves to another id "
                f"({spec.search_id()}); the store was written by another version"
            )
        session = cls(store, spec, table, state)
        session._apply_markers()
        return session

    @staticmethod
    def list_ids(store: ObjectStore) -> list[str]:
        """The ids of the searches in the store; keys that are no valid search id are skipped
        (an object put there by hand, or by an older version without the slug rule)."""
        from ecad.search.validation import check_search_id

        return sorted(
            {
                sid
                for k in store.list("searches/")
                if (sid := search_id_of(k)) and check_search_id(sid) is None
            }
        )

    # NSGA-II ---------------------------------------------------------------------------------
    def _initial(self) -> np.ndarray | None:
        key = initial_key(self.search_id)
        if self.store.exists(key):
            return read_record(
                self.store, key, lambda d: unpack_genomes(require(d, "X", list), self.n_var)
            )
        return None

    @property
    def nsga(self) -> Nsga2:
        """NSGA-II, restored from the state's snapshot (once per state read)."""
        if self._nsga is None:
            snap = self.state.nsga
            if snap is None:
                self._nsga = Nsga2(self.n_var, self.spec, self._initial())
            else:
                self._nsga = Nsga2.restore(snap, self.spec, self._initial())
        return self._nsga

    def _save(self, state: SearchState) -> None:
        """Write ``state`` (the commit point) and make it this session's."""
        state = state.saved(time.time())
        self.store.put_json(state_key(self.search_id), state.to_json())
        self.state = state

    @property
    def phase(self) -> Phase:
        return self.state.phase

    @property
    def generation(self) -> int:
        return self.state.generation

    @property
    def counts(self) -> Counts:
        """Totals over the finished generations (the sum of their records' counts)."""
        return self.state.counters

    @property
    def work(self) -> GenerationWork:
        """Images generated and saved, shard seconds: totals over the finished generations."""
        return self.state.total_work

    def reload(self) -> None:
        """Re-read the state from the store (another process may have changed it)."""
        self.state = read_record(self.store, state_key(self.search_id), SearchState.from_json)
        self._nsga = None
        self._last = None
        self._apply_markers()

    def _apply_markers(self) -> None:
        if self.phase is Phase.FINISHED:
            return
        cancelled = is_cancelled(self.store, self.search_id)
        reason = None if cancelled else failure_reason(self.store, self.search_id)
        self.state = self.state.marked(cancelled, reason)

    def cancel(self, reason: str = "cancelled by user") -> None:
        """Stop the search. A separate marker, so it never races the scheduler's checkpoint."""
        write_cancel_marker(self.store, self.search_id, reason)
        self._apply_markers()

    def mark_failed(self, reason: str) -> None:
        mark_failed(self.store, self.search_id, reason)
        self._apply_markers()

    # the generation cycle --------------------------------------------------------------------
    def ledger(self) -> Ledger | None:
        """The current generation's candidates, sampling them first if needed (built once per
        generation); None once the search is over. Generation 0 is the initial population;
        each later one is ``population`` offspring (with pre-selection, those chosen of more
        proposals: :mod:`ecad.search.preselection`)."""
        if self.phase.over:
            return None
        if self.phase is Phase.ASK:
            X = ask_offspring(self)  # issue 28: pre-selection picks the offspring (when on)
            state = self.state.asked(tuple(pack_genomes(X)), self.nsga.snapshot(), time.time())
            self._save(state)
        pending = self.state.pending or ()
        ledger = self._ledger
        if ledger is None or (ledger.generation, ledger.pending) != (self.generation, pending):
            ledger = self._ledger = Ledger(self.generation, pending, self.plan)
            self._keys.update((c.genome, c.evaluation_key) for c in ledger.candidates)
        return ledger

    def pending(self) -> list[Candidate]:
        """The candidates of the current generation (see :meth:`ledger`)."""
        ledger = self.ledger()
        return [] if ledger is None else ledger.candidates

    def complete(
        self,
        qualities: dict[str, float | None],
        counts: Counts,
        work: GenerationWork | None = None,
    ) -> GenerationRecord:
        """Tell NSGA-II the pending generation's results and checkpoint.

        ``qualities`` maps evaluation key -> mean quality (``None`` = failed); infeasible
        candidates need no entry. ``counts``: distinct evaluations by outcome (the infeasible
        count is filled in here). Returns the generation record.
        """
        if self.phase is not Phase.EVALUATE:
            raise EcadError(f"search {self.search_id}: no generation is waiting for results")
        ledger = self.ledger()
        assert ledger is not None  # the phase is EVALUATE
        F, G = ledger.objectives(qualities)
        self.nsga.tell(ledger.X, F, G)
        record = self._record(ledger, F, G, counts, work or GenerationWork())
        self.store.put_json(
            generation_record_key(self.search_id, self.generation), record.to_json()
        )
        record_outcome(self, record)  # issue 28: the predictor's accuracy, measured
        self._last = record
        kept = set(record.population.X)
        self._keys = {g: k for g, k in self._keys.items() if g in kept}
        self._save(self.state.told(record, self.nsga.snapshot(), self.spec.generations))
        return record

    def _record(
        self, ledger: Ledger, F: np.ndarray, G: np.ndarray, counts: Counts, work: GenerationWork
    ) -> GenerationRecord:
        popX, popF, popG = self.nsga.population()
        ok = (popG[:, 0] <= 0) & (popF[:, 0] < INFEASIBLE)
        front = np.flatnonzero(ok)[nondominated(popF[ok])] if ok.any() else np.array([], int)
        ref = reference_point(self.spec.quality)
        started = self.state.generation_started
        return GenerationRecord(
            generation=self.generation,
            offspring=Population.of(ledger.pending, F.tolist(), G.tolist()),
            population=Population.of(pack_genomes(popX), popF.tolist(), popG.tolist()),
            front=tuple(int(i) for i in front),
            hypervolume=hypervolume(popF[ok], ref) if ok.any() else 0.0,
            hv_reference=(float(ref[0]), float(ref[1])),
            counts=Counts(
                evaluated=counts.evaluated,
                cached=counts.cached,
                failed=counts.failed,
                infeasible=sum(not c.feasible for c in ledger.candidates),
                pruned=counts.pruned,
            ),
            seconds=time.time() - (time.time() if started is None else started),
            work=work,
        )

    # results -------------------------------------------------------------------------------
    def history(self) -> list[GenerationRecord]:
        keys = sorted(self.store.list(generations_prefix(self.search_id)))
        return [read_record(self.store, k, GenerationRecord.from_json) for k in keys]

    def last_record(self) -> GenerationRecord | None:
        """The latest generation record (one read, whatever the length of the history; none
        when this process wrote it)."""
        if self.generation == 0:
            return None
        if self._last is not None and self._last.generation == self.generation - 1:
            return self._last
        key = generation_record_key(self.search_id, self.generation - 1)
        # issue 26: an unreadable or lost latest record is rebuilt from the state (ecad.search.heal)
        from ecad.search.heal import rebuild_latest_record

        if not self.store.exists(key):
            return rebuild_latest_record(self)
        try:
            return read_record(self.store, key, GenerationRecord.from_json)
        except StoreObjectError as exc:
            return rebuild_latest_record(self, exc)

    def partial(self, generation: int) -> Mapping[str, PartialCandidate]:
        """The candidates pruning stopped in ``generation`` (evaluation key -> the decision, with
        ``candidates``: their indices in the generation's offspring); empty without pruning."""
        key = pruning_record_key(self.search_id, generation)
        if not self.spec.pruning.enabled or not self.store.exists(key):
            return {}
        return read_record(self.store, key, PruningRecord.from_json).partial

    def front(self) -> list[FrontMember]:
        """Members of the latest population's feasible non-dominated front, by cost."""
        last = self.last_record()
        if last is None:
            return []
        return self._front_members(last)

    def fronts_between(self, first: int, last: int) -> list[FrontMember]:
        """The fronts of generations ``first..last`` (inclusive), in generation order, each by
        cost (a member of several fronts appears in each); the paper seeded its PixArt-Σ search
        from PixArt-α's generations 125-200 this way."""
        done = self.generation  # generations 0..done-1 have records
        if last >= done:
            have = f"generations 0-{done - 1}" if done else "no finished generation"
            raise ConfigError(
                f"search {self.search_id} has {have}; initial_population.generations "
                f"[{first}, {last}] asks for more: lower it, or let that search run further"
            )
        out: list[FrontMember] = []
        for generation in range(first, last + 1):
            key = generation_record_key(self.search_id, generation)
            out += self._front_members(read_record(self.store, key, GenerationRecord.from_json))
        return out

    def front_keys(self) -> list[tuple[float, float, str]]:
        """``(quality, relative cost, evaluation key)`` of the latest front's members; the keys
        of genomes this process built candidates of are known, the others are derived."""
        last = self.last_record()
        if last is None:
            return []
        members = []
        for m in self._front_members(last):
            genome = last.population.X[m.index]
            key = self._keys.get(genome)
            if key is None:
                key = self.plan.candidate(m.index, m.schedule, genome).evaluation_key
                self._keys[genome] = key
            members.append((m.quality, m.relative_cost, key))
        return members

    def _front_members(self, record: GenerationRecord) -> list[FrontMember]:
        X = unpack_genomes(list(record.population.X), self.n_var)
        F = np.asarray(record.population.F)
        members = []
        for i in record.front:
            sched = self.plan.schedule_of(X[i], "candidate")
            members.append((float(F[i, 1]), i, sched))
        members.sort(key=lambda m: m[0])
        out = []
        for n, (rel, i, sched) in enumerate(members):
            named = sched.with_metadata(
                name=f"{self.spec.name}_gen_{record.generation:03d}_front_{n:02d}"
            )
            out.append(
                FrontMember(
                    schedule=named,
                    quality=1.0 - float(F[i, 0]),
                    relative_cost=rel,
                    cost=self.table.schedule_cost(named),
                    index=int(i),
                )
            )
        return out
