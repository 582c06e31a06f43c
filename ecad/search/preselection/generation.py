"""Pre-selection at the two points of a generation where the search touches it.

:func:`ask_offspring`: where the search asks NSGA-II for offspring. With pre-selection on (and
after generation 0), NSGA-II proposes ``factor * population`` offspring; the predictor, refitted
from the stored evaluations, ranks them with their exact cost, and the chosen ones become the
generation's offspring (in pick order). The others are never generated and never told to
NSGA-II: pymoo's survival merges its population with whatever offspring it is told, so
telling fewer than it proposed is sound; its RNG state after the proposal is checkpointed by
the caller, so a resumed search proposes, fits and chooses exactly the same.

:func:`record_outcome`: where the generation's record is written. Adds the chosen offspring's
measured qualities and the predictor's rank correlation to the pre-selection record.

Both take the search's session (:class:`SessionView`: what they read of
:class:`ecad.search.session.SearchSession`, which calls them).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Mapping
from dataclasses import replace
from typing import Protocol

import numpy as np

from ecad.cost import CostTable
from ecad.schedules import Schedule, ScheduleLayout
from ecad.search.nsga import Nsga2, unpack_genomes
from ecad.search.objectives import INFEASIBLE, constraint, nondominated, reference_point
from ecad.search.plan import SearchPlan
from ecad.search.preselection.choose import choose
from ecad.search.preselection.history import TrainingRows, generation_rows, latest_rows
from ecad.search.preselection.predictor import QualityPredictor, rank_correlation
from ecad.search.preselection.record import (
    Outcome,
    PredictorInfo,
    PreselectionRecord,
    SourceInfo,
)
from ecad.search.pruning_records import PartialCandidate
from ecad.search.records import GenerationRecord
from ecad.search.spec import SearchSpec
from ecad.store import ObjectStore
from ecad.store.keys import generation_record_key, preselection_record_key
from ecad.store.records import read_record

__all__ = ["SessionView", "ask_offspring", "read_preselection", "record_outcome"]


class SessionView(Protocol):
    """What pre-selection reads of a search's session (:class:`ecad.search.SearchSession`)."""

    store: ObjectStore
    spec: SearchSpec
    search_id: str
    layout: ScheduleLayout
    table: CostTable
    plan: SearchPlan
    n_var: int

    @property
    def nsga(self) -> Nsga2: ...

    @property
    def generation(self) -> int: ...

    def partial(self, generation: int) -> Mapping[str, PartialCandidate]: ...

    def last_record(self) -> GenerationRecord | None: ...

    @classmethod
    def open(cls, store: ObjectStore, search_id: str) -> SessionView: ...


_Row = tuple[bytes, np.ndarray, float, float, bool]

#: Training rows per finished generation, per session (records are immutable once written).
_ROWS: weakref.WeakKeyDictionary[SessionView, dict[int, list[_Row]]] = weakref.WeakKeyDictionary()

REFIT = "every generation, from the stored evaluations of the finished generations"


def _rows_through(session: SessionView, generation: int) -> list[list[_Row]]:
    cache = _ROWS.setdefault(session, {})
    for g in range(generation):
        if g not in cache:  # each finished generation's record is read once per process
            cache[g] = generation_rows(
                _record(session, g), session.partial(g), session.n_var, session.plan.images_total
            )
    return [cache[g] for g in range(generation)]


def _record(session: SessionView, generation: int) -> GenerationRecord:
    last = session.last_record()  # none read when this process wrote it
    if last is not None and last.generation == generation:
        return last
    key = generation_record_key(session.search_id, generation)
    return read_record(session.store, key, GenerationRecord.from_json)


def ask_offspring(session: SessionView) -> np.ndarray:
    """The generation's offspring genomes (see the module docstring)."""
    cfg = session.spec.preselection
    nsga = session.nsga
    if not cfg.enabled or not nsga.algorithm.is_initialized:
        return nsga.ask()
    spec = session.spec
    proposals = nsga.ask(cfg.factor * spec.population)
    started = time.process_time()
    schedules = [Schedule.from_genome(session.layout, spec.steps, x) for x in proposals]
    cost = np.asarray([session.table.relative_cost(s) for s in schedules], dtype=float)
    feasible = np.asarray(
        [constraint(s, spec.min_diff, spec.min_diff_counts) <= 0 for s in schedules], bool
    )
    mean, std, info = _predict(session, proposals)
    _, popF, popG = nsga.population()
    ok = (popG[:, 0] <= 0) & (popF[:, 0] < INFEASIBLE)
    front = popF[ok][nondominated(popF[ok])] if ok.any() else np.zeros((0, 2))
    choice = choose(
        mean,
        std,
        cost,
        feasible,
        front,
        reference_point(spec.quality),
        cfg.evaluated(spec.population),
        cfg.exploration,
        cfg.optimism,
    )
    record = PreselectionRecord(
        generation=session.generation,
        chosen=choice.chosen,
        kinds=choice.kinds,
        cost=tuple(map(float, cost)),
        feasible=tuple(map(bool, feasible)),
        predicted=None if mean is None else tuple(map(float, mean)),
        uncertainty=None if std is None else tuple(map(float, std)),
        predictor=info,
        cpu_seconds=time.process_time() - started,
    )
    session.store.put_json(
        preselection_record_key(session.search_id, session.generation), record.to_json()
    )
    return proposals[list(choice.chosen)]


def _predict(
    session: SessionView, proposals: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray | None, PredictorInfo | None]:
    """Predicted quality and its standard deviation per proposal, and the predictor's record;
    ``(None, None, None)`` with fewer stored evaluations than ``min_history``."""
    cfg = session.spec.preselection
    rows = latest_rows(_rows_through(session, session.generation), session.n_var, cfg.max_history)
    if len(rows) < cfg.min_history:
        return None, None, None
    X, y, w = rows.X, rows.quality, rows.weight
    source, source_info = _source_rows(session)
    keep = 0 if source is None else min(len(source), cfg.max_history - len(rows))
    if keep > 0:  # the source's latest rows, after this search's own
        X = np.r_[source.X[-keep:], X]
        y = np.r_[source.quality[-keep:], y]
        w = np.r_[source.weight[-keep:], w]
    is_source = np.r_[np.ones(max(keep, 0), bool), np.zeros(len(rows), bool)]
    predictor = QualityPredictor(session.spec.steps).fit(X, y, w, is_source)
    mean, std = predictor.predict(proposals)
    assert predictor.info is not None  # fitted
    info = replace(
        predictor.info,
        rows_full=int(rows.full.sum()),
        rows_partial=int((~rows.full).sum()),
        refit=REFIT,
        source=None if source_info is None else replace(source_info, rows=max(keep, 0)),
    )
    return mean, std, info


def _source_rows(session: SessionView) -> tuple[TrainingRows | None, SourceInfo | None]:
    """The transfer source's training rows (``initial_population: {from_search: ID}`` with the
    same genome and quality metric), through the generations it had finished when this search
    first used them (kept in the pre-selection records, so a resume uses the same ones)."""
    init = session.spec.initial_population
    if init.kind != "from_search":
        return None, None
    source = type(session).open(session.store, init.search_id)  # the session's own class
    quality = (session.spec.quality.scorer, session.spec.quality.metric)
    if (
        source.n_var != session.n_var
        or (source.spec.quality.scorer, source.spec.quality.metric) != quality
    ):
        return None, None
    done = source.generation
    for g in range(1, session.generation):
        earlier = read_preselection(session, g)
        if earlier is not None and earlier.predictor is not None and earlier.predictor.source:
            done = earlier.predictor.source.generations
            break
    rows = latest_rows(_rows_through(source, done), source.n_var, 10**9)
    return rows, SourceInfo(init.search_id, done)


def read_preselection(session: SessionView, generation: int) -> PreselectionRecord | None:
    """The generation's pre-selection record, or None (generation 0, or pre-selection off)."""
    key = preselection_record_key(session.search_id, generation)
    if not session.spec.preselection.enabled or not session.store.exists(key):
        return None
    return read_record(session.store, key, PreselectionRecord.from_json)


def record_outcome(session: SessionView, record: GenerationRecord) -> PreselectionRecord | None:
    """Add the measured qualities of the chosen offspring and the predictor's rank correlation
    to the generation's pre-selection record (rewritten whole; idempotent)."""
    pre = read_preselection(session, record.generation)
    if pre is None:
        return None
    rows = generation_rows(
        record, session.partial(record.generation), session.n_var, session.plan.images_total
    )
    by_genome = {key: (q, full) for key, _, q, _, full in rows}
    offspring = unpack_genomes(list(record.offspring.X), session.n_var)
    keys = [np.packbits(x).tobytes() for x in offspring]
    measured = tuple(by_genome.get(k, (None, False))[0] for k in keys)
    full = tuple(bool(by_genome.get(k, (None, False))[1]) for k in keys)
    rho = rho_full = None
    if pre.predicted is not None:
        pred = np.asarray([pre.predicted[i] for i in pre.chosen])
        have = np.asarray([m is not None for m in measured])
        meas = np.asarray([np.nan if m is None else m for m in measured])
        rho = rank_correlation(pred[have], meas[have])
        rho_full = rank_correlation(pred[np.asarray(full)], meas[np.asarray(full)])
    pre = pre.with_outcome(Outcome(measured, full, rho, rho_full))
    session.store.put_json(
        preselection_record_key(session.search_id, record.generation), pre.to_json()
    )
    return pre
