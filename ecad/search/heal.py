"""Healing a search's latest generation record (``searches/<id>/generations/NNNN.json``) when it
is unreadable or missing, from what else the store holds.

A running search needs only its latest generation's population (the next generation races
against its front); ``ecad pareto`` shows that front. Both used to fail the search with the
record's key. What a generation record holds, and where else it lives:

- ``population`` (genomes, objectives, constraint values): the state's NSGA-II snapshot is the
  same population, so it is rebuilt exactly;
- ``front``, ``hypervolume``, ``hv_reference``: functions of that population and the spec,
  rebuilt exactly (the same computation as :meth:`SearchSession.complete`);
- ``counts`` and ``work``: the state keeps their totals over all finished generations; minus the
  earlier records' they give this generation's (counts exactly, shard seconds to float rounding);
- ``offspring``: the candidates the generation evaluated. Those that did not survive selection
  are kept nowhere else (the state holds the survivors; evaluations are content-addressed and
  not listed per search), so they cannot be rebuilt: the rebuilt record has none;
- ``seconds``: the generation's wall time is kept nowhere else: ``0.0``.

The rebuilt record carries ``"rebuilt"`` (what was lost) and is written back, so the next read
finds it. An *earlier* generation's record cannot be rebuilt at all: its population is kept
nowhere else (the state holds the latest one only). Reading it still fails naming its key
(``ecad report`` needs every generation); the search itself does not read it and goes on.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ecad.errors import EcadError
from ecad.search.nsga import unpack_genomes
from ecad.search.objectives import INFEASIBLE, hypervolume, nondominated, reference_point
from ecad.search.records import Counts, GenerationRecord, GenerationWork, Population
from ecad.store.keys import generation_record_key
from ecad.store.records import StoreObjectError, read_record

__all__ = ["rebuild_latest_record"]

log = logging.getLogger(__name__)

#: What a rebuilt record says it lacks (``"rebuilt"`` in its JSON).
LOST = "offspring and seconds are not stored elsewhere: rebuilt from the search's state"


def rebuild_latest_record(session: Any, problem: Exception | None = None) -> GenerationRecord:
    """The latest generation record of ``session`` rebuilt from its state (see the module's
    docstring), written back to the store. ``problem``: what was wrong with the stored one,
    raised again (with why) when the state cannot rebuild it either."""
    generation = session.generation - 1
    key = generation_record_key(session.search_id, generation)
    try:
        record = _rebuild(session, generation)
    except (StoreObjectError, KeyError, TypeError, ValueError) as exc:
        why = f"{problem}; " if problem is not None else f"{key}: missing; "
        raise StoreObjectError(key, f"{why}cannot rebuild it from the state either ({exc})") from (
            problem or exc
        )
    log.warning(
        "search %s: generation record %s was %s; rebuilt from the state (%s)",
        session.search_id,
        key,
        problem or "missing",
        LOST,
    )
    try:
        session.store.put_json(key, {**record.to_json(), "rebuilt": LOST})
    except EcadError:
        raise  # the store is down, or (in the scheduler) this process lost the search's lease
    except OSError as exc:  # a read-only store: the rebuilt record still serves this read
        log.warning("could not write the rebuilt record %s back: %s", key, exc)
    return record


def _rebuild(session: Any, generation: int) -> GenerationRecord:
    if generation < 0:
        raise ValueError("the search has no finished generation")
    nsga = session.state.nsga
    snapshot = None if nsga is None else nsga.population
    if snapshot is None:
        raise ValueError("the state holds no NSGA-II population")
    X = unpack_genomes(list(snapshot.X), session.n_var)
    F = np.asarray(snapshot.F, dtype=float)
    G = np.asarray(snapshot.G, dtype=float)
    if not len(X) == len(F) == len(G):
        raise ValueError(f"the state's population has X/F/G of sizes {len(X), len(F), len(G)}")
    # as SearchSession.complete
    ok = (G[:, 0] <= 0) & (F[:, 0] < INFEASIBLE)
    front = np.flatnonzero(ok)[nondominated(F[ok])] if ok.any() else np.array([], int)
    ref = reference_point(session.spec.quality)
    counts, work = session.counts, session.work
    for earlier in range(generation):
        old = read_record(
            session.store,
            generation_record_key(session.search_id, earlier),
            GenerationRecord.from_json,
        )
        counts = _minus(counts, old.counts)
        work = GenerationWork(
            work.images - old.work.images,
            work.images_saved - old.work.images_saved,
            max(0.0, work.shard_seconds - old.work.shard_seconds),
        )
    return GenerationRecord(
        generation=generation,
        offspring=Population((), (), ()),
        population=Population.from_json(
            {"X": list(snapshot.X), "F": F.tolist(), "G": G.tolist()}, "population."
        ),
        front=tuple(int(i) for i in front),
        hypervolume=hypervolume(F[ok], ref) if ok.any() else 0.0,
        hv_reference=(float(ref[0]), float(ref[1])),
        counts=counts,
        seconds=0.0,
        work=work,
    )


def _minus(total: Counts, part: Counts) -> Counts:
    names = total.__dataclass_fields__
    left = {n: getattr(total, n) - getattr(part, n) for n in names}
    if any(v < 0 for v in left.values()):
        raise ValueError(f"the state's counters are below the earlier records' sums: {left}")
    return Counts(**left)
