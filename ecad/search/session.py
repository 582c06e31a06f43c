"""A search as a sequence of generations whose state lives in the object store.

Any process can open a search by id and continue it: ``ecad search`` and the distributed
scheduler drive the same :class:`SearchSession` through :class:`ecad.search.driver.SearchDriver`;
they differ only in the executor that gets shards evaluated. Phases (:class:`Phase`): ``ask``
(next: sample offspring) -> ``evaluate`` (offspring stored as pending, waiting for evaluations)
-> ``ask`` ... -> ``done``; ``cancelled`` stops it. ``state.json`` is the commit point and is
written last. Keys: :mod:`ecad.store.layout`.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ecad.cost import CostTable
from ecad.errors import ConfigError, EcadError
from ecad.schedules import Schedule
from ecad.search.candidate import Candidate
from ecad.search.nsga import NsgaDriver, distinct_seeds, pack_genomes, unpack_genomes
from ecad.search.objectives import (
    INFEASIBLE,
    constraint,
    hypervolume,
    nondominated,
    objectives,
    reference_point,
)
from ecad.search.plan import SearchPlan
from ecad.search.preselection.generation import ask_offspring, record_outcome
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
from ecad.store import MissingObjectError, ObjectStore
from ecad.store.identity import ensure_store_identity, store_identity
from ecad.store.layout import (
    cancelled_key,
    cost_table_key,
    failed_key,
    generation_record_key,
    generations_prefix,
    initial_key,
    pruning_record_key,
    search_id_of,
    spec_key,
    state_key,
)
from ecad.store.records import RecordError, StoreObjectError, check_version, read_record, require

__all__ = [
    "SearchSession",
    "build_cost_table",
    "failure_reason",
    "mark_failed",
    "prepare_search",
    "stopped_reason",
    "write_cancel_marker",
]

STATE_VERSION = 1


def _state(data: Any) -> dict[str, Any]:
    """The state record, checked: a known version, phase and generation."""
    if not isinstance(data, dict):
        raise RecordError(f"the state must be a JSON object, got {type(data).__name__}")
    check_version(data, STATE_VERSION, "search state")
    Phase.parse(data.get("phase"))
    generation = data.get("generation")
    if isinstance(generation, bool) or not isinstance(generation, int) or generation < 0:
        raise RecordError(f"generation: must be an integer >= 0, got {generation!r:.40}")
    Counts.from_json(data.get("counters") or {})  # a count that is no count fails here
    pending = data.get("pending")
    if pending is not None and not (
        isinstance(pending, list) and all(isinstance(g, str) for g in pending)
    ):
        raise RecordError("pending: must be a list of hex genomes or null")
    data.setdefault("counters", {})
    return data


def _marker(data: Any) -> dict[str, Any]:
    require(data, "reason", str)
    return data


def mark_failed(store: ObjectStore, search_id: str, reason: str) -> None:
    """Mark the search failed (an authoritative object of it is unreadable). A marker next to
    ``state.json``, which may itself be the broken object; the search stops, others go on."""
    store.put_json(failed_key(search_id), {"reason": reason, "time": time.time()})


def failure_reason(store: ObjectStore, search_id: str) -> str | None:
    """Why the search was marked failed, or None if it was not."""
    key = failed_key(search_id)
    if not store.exists(key):
        return None
    try:
        return read_record(store, key, _marker)["reason"]
    except (StoreObjectError, MissingObjectError) as exc:
        return f"marked failed (the marker itself is unreadable: {exc})"


def stopped_reason(store: ObjectStore, search_id: str) -> str | None:
    """Why the search is stopped by a marker (failed or cancelled), read without its state."""
    if (reason := failure_reason(store, search_id)) is not None:
        return f"failed: {reason}"
    if store.exists(cancelled_key(search_id)):
        return "cancelled"
    return None


def write_cancel_marker(store: ObjectStore, search_id: str, reason: str) -> None:
    """Stop the search. A separate marker, so it never races the scheduler's checkpoint (and can
    be written when ``state.json`` itself is unreadable)."""
    store.put_json(cancelled_key(search_id), {"reason": reason, "time": time.time()})


def build_cost_table(spec: SearchSpec) -> CostTable:
    """The cost model of the spec: measured latency table, or MACs of the spec's model."""
    layout = layout_for(spec)
    if spec.cost.mode == "latency":
        table = CostTable.load(spec.cost.table)
        if not table.layout.is_compatible(layout):
            raise ConfigError(
                f"cost.table: table is for {table.layout.describe()}, the search "
                f"model is {layout.describe()}"
            )
        return table
    from ecad.cost import macs_table
    from ecad.families import get_family
    from ecad.families.loading import resolve_weights

    family = get_family(spec.family)
    config = None
    full = all(n == g.num_blocks for (_, n), g in zip(layout.block_counts, family.block_groups))
    if not full:
        config_file = Path(resolve_weights(family, spec.weights)) / "transformer" / "config.json"
        if not config_file.is_file():
            raise ConfigError(f"cannot size the cost model: {config_file} not found")
        config = {
            k: v for k, v in json.loads(config_file.read_text()).items() if not k.startswith("_")
        }
    return macs_table(
        family,
        spec.resolution,
        spec.cost.batch,
        spec.cost.mode,
        text_tokens=spec.cost.options.get("text_tokens"),
        transformer_config=config,
    )


def prepare_search(
    spec: SearchSpec, store_of: Callable[[], ObjectStore]
) -> tuple[CostTable, np.ndarray | None]:
    """The checks a new search needs beyond its spec's fields, writing nothing: the cost model
    and the initial population, both built. ``store_of()`` is called only for transfer seeding
    (``from_search``: the other search's front). ``ecad validate`` runs exactly this too."""
    from ecad.scoring.registry import check_installed
    from ecad.search.initial import initial_genomes
    from ecad.search.setting import scorer_options

    def front_of(other: str, generations: tuple[int, int] | None) -> list[Schedule]:
        session = SearchSession.open(store_of(), other)
        if generations is None:
            return [m.schedule for m in session.front()]
        return [m.schedule for m in session.fronts_between(*generations)]

    check_installed(scorer_options(spec.quality)[0])  # before any work: one line, not N failures
    table = build_cost_table(spec)
    initial = initial_genomes(
        spec.initial_population, layout_for(spec), spec.steps, spec.seed, front_of
    )
    if initial is not None:  # more distinct seeds than population: an error unless truncate
        distinct_seeds(initial, spec.population, spec.initial_population.truncate)
    return table, initial


class SearchSession:
    """One search's state in the store, with ask/complete steps."""

    def __init__(
        self, store: ObjectStore, spec: SearchSpec, table: CostTable, state: dict[str, Any]
    ) -> None:
        self.store = store
        self.spec = spec
        self.search_id = spec.search_id()
        self.plan = SearchPlan(spec)
        self.layout = self.plan.layout
        self.setting = self.plan.setting
        self.table = table
        self.state = state
        self.n_var = self.plan.n_var
        self._driver: NsgaDriver | None = None
        # Candidates are built once per generation (schedules, digests, keys).
        self._pending: tuple[tuple, list[Candidate]] | None = None

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
        table, initial = prepare_search(spec, lambda: store)
        store_identity(store)  # an unreadable store.json fails here, before any write
        session = cls(
            store,
            spec,
            table,
            {
                "version": STATE_VERSION,
                "phase": Phase.ASK.value,
                "generation": 0,
                "driver": None,
                "pending": None,
                "created": time.time(),
                "counters": Counts().to_json(),
            },
        )
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
            session._save_state()  # the commit point, written last
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
            raise ConfigError(f"no search {search_id!r:.80} in {store.describe()} (not a search "
                              "id: see ecad status)")
        try:
            spec = read_record(
                store,
                spec_key(search_id),
                lambda d: SearchSpec.from_json(d, source=spec_key(search_id)),
            )
            state = read_record(store, state_key(search_id), _state)
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

    # driver --------------------------------------------------------------------------------
    def _initial(self) -> np.ndarray | None:
        key = initial_key(self.search_id)
        if self.store.exists(key):
            return read_record(
                self.store, key, lambda d: unpack_genomes(require(d, "X", list), self.n_var)
            )
        return None

    @property
    def driver(self) -> NsgaDriver:
        if self._driver is None:
            snap = self.state.get("driver")
            if snap is None:
                self._driver = NsgaDriver(self.n_var, self.spec, self._initial())
            else:
                self._driver = NsgaDriver.restore(snap, self.spec, self._initial())
        return self._driver

    def _save_state(self) -> None:
        self.state["updated"] = time.time()
        self.state["version"] = STATE_VERSION
        self.store.put_json(state_key(self.search_id), self.state)

    @property
    def phase(self) -> Phase:
        return Phase.parse(self.state["phase"])

    @property
    def generation(self) -> int:
        return int(self.state["generation"])

    @property
    def counts(self) -> Counts:
        """Totals over the finished generations (the sum of their records' counts)."""
        return Counts.from_json(self.state.get("counters") or {})

    @property
    def work(self) -> GenerationWork:
        """Images generated and saved, shard seconds: totals over the finished generations."""
        return GenerationWork.from_json(self.state.get("work"))

    def reload(self) -> None:
        """Re-read the state from the store (another process may have changed it)."""
        self.state = read_record(self.store, state_key(self.search_id), _state)
        self._driver = None
        self._apply_markers()

    def _apply_markers(self) -> None:
        if self.phase is Phase.FINISHED:
            return
        if self.store.exists(cancelled_key(self.search_id)):
            self.state["phase"] = Phase.CANCELLED.value
        elif (reason := failure_reason(self.store, self.search_id)) is not None:
            self.state["phase"] = Phase.FAILED.value
            self.state["failed_reason"] = reason

    def cancel(self, reason: str = "cancelled by user") -> None:
        """Stop the search. A separate marker, so it never races the scheduler's checkpoint."""
        write_cancel_marker(self.store, self.search_id, reason)
        self._apply_markers()

    def mark_failed(self, reason: str) -> None:
        mark_failed(self.store, self.search_id, reason)
        self._apply_markers()

    # the generation cycle --------------------------------------------------------------------
    def pending(self) -> list[Candidate]:
        """The candidates of the current generation, sampling them first if needed (built once
        per generation). Generation 0 is the initial population; each later one is
        ``population`` offspring."""
        if self.phase.over:
            return []
        if self.phase is Phase.ASK:
            X = ask_offspring(self)  # ISSUE 28 HOOK: pre-selection picks the offspring
            self.state["pending"] = pack_genomes(X)
            self.state["driver"] = self.driver.snapshot()
            self.state["phase"] = Phase.EVALUATE.value
            self.state["generation_started"] = time.time()
            self._save_state()
        batch = (self.generation, tuple(self.state["pending"]))
        if self._pending is None or self._pending[0] != batch:
            self._pending = (batch, self.plan.candidates(self.state["pending"], self.generation))
        return self._pending[1]

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
        cands = self.pending()
        F = np.zeros((len(cands), 2))
        G = np.zeros((len(cands), 1))
        for c in cands:
            q = qualities.get(c.evaluation_key) if c.feasible else None
            F[c.index] = objectives(q, c.schedule, self.table)
            G[c.index, 0] = constraint(c.schedule, self.spec.min_diff, self.spec.min_diff_counts)
        X = np.asarray([c.schedule.genome() for c in cands])
        self.driver.tell(X, F, G)
        popX, popF, popG = self.driver.population()
        ok = (popG[:, 0] <= 0) & (popF[:, 0] < INFEASIBLE)
        front = np.flatnonzero(ok)[nondominated(popF[ok])] if ok.any() else np.array([], int)
        ref = reference_point(self.spec.quality)
        record = GenerationRecord(
            generation=self.generation,
            offspring=Population.from_json(
                {"X": [c.genome for c in cands], "F": F.tolist(), "G": G.tolist()}, ""
            ),
            population=Population.from_json(
                {"X": pack_genomes(popX), "F": popF.tolist(), "G": popG.tolist()}, ""
            ),
            front=tuple(int(i) for i in front),
            hypervolume=hypervolume(popF[ok], ref) if ok.any() else 0.0,
            hv_reference=(float(ref[0]), float(ref[1])),
            counts=Counts(
                evaluated=counts.evaluated,
                cached=counts.cached,
                failed=counts.failed,
                infeasible=sum(not c.feasible for c in cands),
                pruned=counts.pruned,
            ),
            seconds=time.time() - self.state.get("generation_started", time.time()),
            work=work or GenerationWork(),
        )
        self.store.put_json(generation_record_key(self.search_id, self.generation),
                            record.to_json())
        record_outcome(self, record)  # ISSUE 28 HOOK: the predictor's accuracy, measured
        self.state["counters"] = (self.counts + record.counts).to_json()
        self.state["work"] = (self.work + record.work).to_json()
        self.state["driver"] = self.driver.snapshot()
        self.state["pending"] = None
        self.state["generation"] = self.generation + 1
        over = self.generation > self.spec.generations
        self.state["phase"] = (Phase.FINISHED if over else Phase.ASK).value
        self._save_state()
        return record

    # results -------------------------------------------------------------------------------
    def history(self) -> list[GenerationRecord]:
        keys = sorted(self.store.list(generations_prefix(self.search_id)))
        return [read_record(self.store, k, GenerationRecord.from_json) for k in keys]

    def last_record(self) -> GenerationRecord | None:
        """The latest generation record (one read, whatever the length of the history)."""
        if self.generation == 0:
            return None
        key = generation_record_key(self.search_id, self.generation - 1)
        if not self.store.exists(key):
            return None
        return read_record(self.store, key, GenerationRecord.from_json)

    def partial(self, generation: int) -> dict[str, dict[str, Any]]:
        """The candidates pruning stopped in ``generation`` (evaluation key -> the decision, with
        ``candidates``: their indices in the generation's offspring); empty without pruning."""
        key = pruning_record_key(self.search_id, generation)
        if not self.spec.pruning.enabled or not self.store.exists(key):
            return {}
        return dict(self.store.get_json(key)["partial"])

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

    def _front_members(self, record: GenerationRecord) -> list[FrontMember]:
        X = unpack_genomes(list(record.population.X), self.n_var)
        F = np.asarray(record.population.F)
        members = []
        for i in record.front:
            sched = Schedule.from_genome(self.layout, self.spec.steps, X[i])
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
