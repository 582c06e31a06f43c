"""A search as a sequence of generations whose state lives in the object store.

Any process can open a search by id and continue it: the runner (one machine) and the
distributed scheduler drive the same :class:`SearchSession`; they differ only in how they get
candidates evaluated. State transitions: ``ask`` (next: sample offspring) -> ``evaluate``
(offspring stored as pending, waiting for evaluations) -> ``ask`` ... -> ``done``; ``cancelled``
stops it. ``state.json`` is the commit point and is written last.

Store keys::

    searches/<id>/spec.json                 the resolved spec (plain data)
    searches/<id>/cost_table.json           the cost model used for the cost objective
    searches/<id>/state.json                phase, generation, NSGA-II snapshot, pending genomes
    searches/<id>/generations/NNNN.json     per generation: population, objectives, front, HV
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ecad.cost import CostTable
from ecad.errors import ConfigError, EcadError
from ecad.schedules import Schedule
from ecad.search.nsga import NsgaDriver, distinct_seeds, pack_genomes, unpack_genomes
from ecad.search.objectives import (
    INFEASIBLE,
    constraint,
    hypervolume,
    nondominated,
    objectives,
    reference_point,
)
from ecad.search.setting import EvaluationSetting, evaluation_key, layout_for
from ecad.search.spec import SearchSpec
from ecad.store import MissingObjectError, ObjectStore
from ecad.store.records import parse_record

__all__ = ["PendingCandidate", "SearchSession", "build_cost_table"]


def _key(search_id: str, name: str) -> str:
    return f"searches/{search_id}/{name}"


@dataclass(frozen=True)
class PendingCandidate:
    index: int
    schedule: Schedule
    feasible: bool
    generation_key: str
    evaluation_key: str

    @property
    def digest(self) -> str:
        return self.schedule.digest()


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


class SearchSession:
    """One search's state in the store, with ask/complete steps."""

    def __init__(
        self, store: ObjectStore, spec: SearchSpec, table: CostTable, state: dict[str, Any]
    ) -> None:
        self.store = store
        self.spec = spec
        self.search_id = spec.search_id()
        self.layout = layout_for(spec)
        self.setting = EvaluationSetting.from_spec(spec)
        self.table = table
        self.state = state
        self.n_var = spec.steps * self.layout.num_slots
        self._driver: NsgaDriver | None = None
        # The scheduler asks for the pending candidates every tick; build them once per batch.
        self._pending: tuple[tuple, list[PendingCandidate]] | None = None

    # creation / opening --------------------------------------------------------------------
    @classmethod
    def create(cls, store: ObjectStore, spec: SearchSpec) -> tuple[SearchSession, bool]:
        """Create the search, or open it if the same spec was submitted before.

        Returns ``(session, created)``.
        """
        search_id = spec.search_id()
        if store.exists(_key(search_id, "state.json")):
            return cls.open(store, search_id), False
        table = build_cost_table(spec)
        store.put_json(_key(search_id, "spec.json"), spec.to_json())
        store.put_json(_key(search_id, "cost_table.json"), table.to_json())
        session = cls(
            store,
            spec,
            table,
            {
                "phase": "ask",
                "generation": 0,
                "driver": None,
                "pending": None,
                "created": time.time(),
                "counters": {"evaluated": 0, "cached": 0, "failed": 0, "infeasible": 0},
            },
        )
        from ecad.search.initial import initial_genomes

        def front_of(other: str) -> list[Schedule]:
            return [m["schedule"] for m in cls.open(store, other).front()]

        initial = initial_genomes(
            spec.initial_population, session.layout, spec.steps, spec.seed, front_of
        )
        if initial is not None:
            distinct_seeds(initial, spec.population, spec.initial_population.truncate)  # fail now
            store.put_json(_key(search_id, "initial.json"), {"X": pack_genomes(initial)})
        session._save_state()
        return session, True

    @classmethod
    def open(cls, store: ObjectStore, search_id: str) -> SearchSession:
        try:
            spec_data = store.get_json(_key(search_id, "spec.json"))
            state = store.get_json(_key(search_id, "state.json"))
            table = CostTable.from_json(store.get_json(_key(search_id, "cost_table.json")))
        except MissingObjectError:
            raise ConfigError(f"no search {search_id!r} in {store.describe()}") from None
        # The stored spec was validated and resolved at submission (prompt texts included), so
        # it is used as is: workers need none of the submitter's files.
        spec = parse_record(
            _key(search_id, "spec.json"),
            spec_data,
            lambda d: SearchSpec.from_json(d, source=_key(search_id, "spec.json")),
        )
        if spec.search_id() != search_id:
            raise EcadError(
                f"search {search_id}: stored spec resolves to another id "
                f"({spec.search_id()}); the store was written by another version"
            )
        session = cls(store, spec, table, state)
        session._apply_cancel_marker()
        return session

    @staticmethod
    def list_ids(store: ObjectStore) -> list[str]:
        return sorted(
            {k.split("/")[1] for k in store.list("searches/") if k.endswith("state.json")}
        )

    # driver --------------------------------------------------------------------------------
    def _initial(self) -> np.ndarray | None:
        key = _key(self.search_id, "initial.json")
        if self.store.exists(key):
            return unpack_genomes(self.store.get_json(key)["X"], self.n_var)
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
        self.store.put_json(_key(self.search_id, "state.json"), self.state)

    @property
    def phase(self) -> str:
        return self.state["phase"]

    @property
    def generation(self) -> int:
        return int(self.state["generation"])

    def reload(self) -> None:
        """Re-read the state from the store (another process may have changed it)."""
        self.state = self.store.get_json(_key(self.search_id, "state.json"))
        self._driver = None
        self._apply_cancel_marker()

    def _apply_cancel_marker(self) -> None:
        if self.phase != "done" and self.store.exists(_key(self.search_id, "cancelled.json")):
            self.state["phase"] = "cancelled"

    def cancel(self, reason: str = "cancelled by user") -> None:
        """Stop the search. A separate marker, so it never races the scheduler's checkpoint."""
        self.store.put_json(_key(self.search_id, "cancelled.json"),
                            {"reason": reason, "time": time.time()})
        self._apply_cancel_marker()

    # the generation cycle --------------------------------------------------------------------
    def pending(self) -> list[PendingCandidate]:
        """The candidates of the current generation, sampling them first if needed.

        Generation 0 is the initial population; each later one is ``population`` offspring.
        """
        if self.phase in ("done", "cancelled"):
            return []
        if self.phase == "ask":
            X = self.driver.ask()
            self.state["pending"] = pack_genomes(X)
            self.state["driver"] = self.driver.snapshot()
            self.state["phase"] = "evaluate"
            self.state["generation_started"] = time.time()
            self._save_state()
        batch = (self.generation, tuple(self.state["pending"]))
        if self._pending is not None and self._pending[0] == batch:
            return self._pending[1]
        X = unpack_genomes(self.state["pending"], self.n_var)
        out = []
        for i, row in enumerate(X):
            sched = Schedule.from_genome(
                self.layout,
                self.spec.steps,
                row,
                name=f"{self.spec.name}_gen_{self.generation:03d}_cand_{i:03d}",
            )
            gen_key = self.setting.generation_key(sched)
            out.append(
                PendingCandidate(
                    i,
                    sched,
                    constraint(sched, self.spec.min_diff, self.spec.min_diff_counts) <= 0,
                    gen_key,
                    evaluation_key(gen_key, self.spec.quality),
                )
            )
        self._pending = (batch, out)
        return out

    def complete(self, qualities: dict[str, float | None], counts: dict[str, int]) -> dict:
        """Tell NSGA-II the pending generation's results and checkpoint.

        ``qualities`` maps schedule digest -> mean quality (``None`` = failed); infeasible
        candidates need no entry. Returns the generation record.
        """
        if self.phase != "evaluate":
            raise EcadError(f"search {self.search_id}: no generation is waiting for results")
        cands = self.pending()
        F = np.zeros((len(cands), 2))
        G = np.zeros((len(cands), 1))
        failed = 0
        for c in cands:
            q = qualities.get(c.digest) if c.feasible else None
            if c.feasible and q is None:
                failed += 1
            F[c.index] = objectives(q, c.schedule, self.table)
            G[c.index, 0] = constraint(c.schedule, self.spec.min_diff, self.spec.min_diff_counts)
        X = np.asarray([c.schedule.genome() for c in cands])
        self.driver.tell(X, F, G)
        popX, popF, popG = self.driver.population()
        ok = (popG[:, 0] <= 0) & (popF[:, 0] < INFEASIBLE)
        front = np.flatnonzero(ok)[nondominated(popF[ok])] if ok.any() else np.array([], int)
        ref = reference_point(self.spec.quality)
        record = {
            "generation": self.generation,
            "offspring": {"X": pack_genomes(X), "F": F.tolist(), "G": G.tolist()},
            "population": {"X": pack_genomes(popX), "F": popF.tolist(), "G": popG.tolist()},
            "front": [int(i) for i in front],
            "hypervolume": hypervolume(popF[ok], ref) if ok.any() else 0.0,
            "hv_reference": ref.tolist(),
            "counts": {
                **counts,
                "failed": failed,
                "infeasible": int(sum(not c.feasible for c in cands)),
            },
            "seconds": time.time() - self.state.get("generation_started", time.time()),
        }
        self.store.put_json(_key(self.search_id, f"generations/{self.generation:04d}.json"), record)
        counters = self.state["counters"]
        for name in ("evaluated", "cached", "failed", "infeasible"):
            counters[name] = counters.get(name, 0) + int(record["counts"].get(name, 0))
        self.state["driver"] = self.driver.snapshot()
        self.state["pending"] = None
        self.state["generation"] = self.generation + 1
        self.state["phase"] = "done" if self.generation > self.spec.generations else "ask"
        self._save_state()
        return record

    # results -------------------------------------------------------------------------------
    def history(self) -> list[dict]:
        keys = sorted(self.store.list(f"searches/{self.search_id}/generations/"))
        return [self.store.get_json(k) for k in keys]

    def front(self) -> list[dict[str, Any]]:
        """Members of the latest population's feasible non-dominated front, by cost."""
        hist = self.history()
        if not hist:
            return []
        last = hist[-1]
        X = unpack_genomes(last["population"]["X"], self.n_var)
        F = np.asarray(last["population"]["F"])
        members = []
        for i in last["front"]:
            sched = Schedule.from_genome(
                self.layout,
                self.spec.steps,
                X[i],
                name=f"{self.spec.name}_gen_{last['generation']:03d}_front",
            )
            members.append(
                {
                    "schedule": sched,
                    "quality": 1.0 - float(F[i, 0]),
                    "relative_cost": float(F[i, 1]),
                    "cost": self.table.schedule_cost(sched),
                    "index": int(i),
                }
            )
        members.sort(key=lambda m: m["relative_cost"])
        for n, m in enumerate(members):
            m["schedule"] = m["schedule"].with_metadata(
                name=f"{self.spec.name}_gen_{last['generation']:03d}_front_{n:02d}"
            )
        return members
