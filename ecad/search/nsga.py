"""NSGA-II over schedule genomes with pymoo's ask/tell, checkpointed as plain data.

The genome is the flattened boolean schedule (step-major, slots in family order). Objectives,
both minimised: ``1 - quality`` and the relative cost (cost / no-cache cost). Constraint: at
least ``min_diff`` (step, slot) cells after step 0 are reused, i.e. the candidate differs from the
uncached schedule in at least ``min_diff`` effective bits.

Operators: ``crossover.points``-point crossover applied to a parent pair with probability
``crossover.prob``; bit-flip mutation as in pymoo's ``BitflipMutation``: an offspring is mutated
with probability ``mutation.individual_prob`` (per individual), and then each of its bits flips
with probability ``mutation.bit_prob`` (per bit; default ``1 / n_bits``).

The algorithm's whole state — population genomes, objectives, constraint values, NSGA-II rank
and crowding, generation counter and the RNG's bit-generator state — round-trips through
:meth:`Nsga2.snapshot` / :meth:`Nsga2.restore` as JSON, so a resumed search continues
exactly as an uninterrupted one would. No pickle.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.population import Population
from pymoo.core.problem import Problem
from pymoo.operators.crossover.pntx import PointCrossover
from pymoo.operators.mutation.bitflip import BitflipMutation
from pymoo.operators.sampling.rnd import BinaryRandomSampling

from ecad.errors import ConfigError
from ecad.search.nsga_state import NsgaPopulation, NsgaSnapshot

__all__ = ["Nsga2", "distinct_seeds", "pack_genomes", "unpack_genomes"]


def pack_genomes(X: np.ndarray) -> list[str]:
    """Boolean rows -> hex strings (np.packbits), the JSON form of genomes."""
    return [np.packbits(np.asarray(row, dtype=bool)).tobytes().hex() for row in X]


def unpack_genomes(rows: list[str], n_var: int) -> np.ndarray:
    if not rows:
        return np.zeros((0, n_var), dtype=bool)
    out = [np.unpackbits(np.frombuffer(bytes.fromhex(r), np.uint8))[:n_var] for r in rows]
    return np.asarray(out, dtype=bool)


class _ScheduleProblem(Problem):
    def __init__(self, n_var: int) -> None:
        super().__init__(n_var=n_var, n_obj=2, n_ieq_constr=1, xl=0, xu=1, vtype=bool)


def _floats(values: np.ndarray) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(float(v) for v in row) for row in np.atleast_2d(values))


class Nsga2:
    """Ask for genomes, tell their objectives; snapshot/restore the whole state as JSON."""

    def __init__(self, n_var: int, spec: Any, initial: np.ndarray | None = None) -> None:
        self.n_var = n_var
        self.problem = _ScheduleProblem(n_var)
        sampling: Any = BinaryRandomSampling()
        if initial is not None and len(initial):
            sampling = _fill_population(
                initial, spec.population, n_var, spec.seed, spec.initial_population.truncate
            )
        self.algorithm = NSGA2(
            pop_size=spec.population,
            sampling=sampling,
            crossover=PointCrossover(
                n_points=spec.crossover.points, prob=spec.crossover.prob
            ),
            mutation=BitflipMutation(
                prob=spec.mutation.individual_prob, prob_var=spec.mutation.bit_prob
            ),
            eliminate_duplicates=True,
        )
        self.algorithm.setup(self.problem, seed=spec.seed, verbose=False)

    # ask / tell ----------------------------------------------------------------------------
    def ask(self, n_offsprings: int | None = None) -> np.ndarray:
        """The next genomes: the initial population, then offspring (``n_offsprings`` of them,
        default the population; pre-selection asks for more and tells only those evaluated)."""
        alg = self.algorithm
        alg.n_offsprings = alg.pop_size if n_offsprings is None else n_offsprings
        pop = alg.ask()
        return np.asarray(pop.get("X"), dtype=bool)

    def tell(self, X: np.ndarray, F: np.ndarray, G: np.ndarray) -> None:
        infills = Population.new("X", np.asarray(X, dtype=bool))
        infills.set("F", np.asarray(F, dtype=float), "G", np.asarray(G, dtype=float))
        self.algorithm.tell(infills=infills)

    def population(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pop = self.algorithm.pop
        return (
            np.asarray(pop.get("X"), dtype=bool),
            np.asarray(pop.get("F"), dtype=float),
            np.asarray(pop.get("G"), dtype=float),
        )

    # persistence ---------------------------------------------------------------------------
    def snapshot(self) -> NsgaSnapshot:
        alg = self.algorithm
        population = None
        if alg.is_initialized:
            pop = alg.pop
            population = NsgaPopulation(
                X=tuple(pack_genomes(pop.get("X"))),
                F=_floats(pop.get("F")),
                G=_floats(pop.get("G")),
                rank=tuple(int(r) for r in pop.get("rank")),
                crowding=tuple(float(c) if np.isfinite(c) else "inf" for c in pop.get("crowding")),
            )
        return NsgaSnapshot(
            n_var=self.n_var,
            initialized=bool(alg.is_initialized),
            n_iter=int(alg.n_iter) if alg.n_iter is not None else None,
            rng=_jsonable_rng(alg.random_state.bit_generator.state),
            population=population,
        )

    @classmethod
    def restore(
        cls, snapshot: NsgaSnapshot, spec: Any, initial: np.ndarray | None = None
    ) -> Nsga2:
        nsga = cls(snapshot.n_var, spec, initial)
        alg = nsga.algorithm
        p = snapshot.population
        if snapshot.initialized and p is not None:
            X = unpack_genomes(list(p.X), nsga.n_var)
            pop = Population.new("X", X)
            pop.set("F", np.asarray(p.F, dtype=float), "G", np.asarray(p.G, dtype=float))
            pop.set("rank", np.asarray(p.rank, dtype=int))
            pop.set("crowding", np.asarray([float(c) for c in p.crowding], dtype=float))
            alg.pop = pop
            alg.off = None
            alg.is_initialized = True
            alg.n_iter = int(snapshot.n_iter or 0)
            alg._set_optimum()
        alg.random_state.bit_generator.state = _rng_from_json(dict(snapshot.rng))
        return nsga


def distinct_seeds(initial: np.ndarray, size: int, truncate: bool = False) -> list[np.ndarray]:
    """The distinct seed rows in order. More than ``size`` is an error unless ``truncate``
    (keep the first ``size``): seeds are never dropped silently."""
    rows: list[np.ndarray] = []
    seen: set[bytes] = set()
    for row in np.asarray(initial, dtype=bool):
        key = np.packbits(row).tobytes()
        if key not in seen:
            seen.add(key)
            rows.append(row)
    if len(rows) > size:
        if not truncate:
            raise ConfigError(
                f"initial population: {len(rows)} distinct seed schedules but population is "
                f"{size}; raise population to {len(rows)}, or set initial_population.truncate: "
                f"true to keep the first {size}"
            )
        rows = rows[:size]
    return rows


def _fill_population(
    initial: np.ndarray, size: int, n_var: int, seed: int, truncate: bool = False
) -> np.ndarray:
    """The distinct seed rows (see :func:`distinct_seeds`), then random rows up to ``size``."""
    initial = np.asarray(initial, dtype=bool)
    if initial.shape[1] != n_var:
        raise ConfigError(
            f"initial population genomes have {initial.shape[1]} bits, the search "
            f"layout needs {n_var}"
        )
    rows = distinct_seeds(initial, size, truncate)
    seen = {np.packbits(row).tobytes() for row in rows}
    rng = np.random.default_rng([seed, 0xECAD])
    while len(rows) < size:
        row = rng.random(n_var) < 0.5
        key = np.packbits(row).tobytes()
        if key not in seen:
            seen.add(key)
            rows.append(row)
    return np.asarray(rows, dtype=bool)


def _jsonable_rng(state: dict[str, Any]) -> dict[str, Any]:
    # PCG64 state is ints (arbitrary precision in JSON via Python) and strings.
    return {k: (_jsonable_rng(v) if isinstance(v, dict) else v) for k, v in state.items()}


def _rng_from_json(state: dict[str, Any]) -> dict[str, Any]:
    return {k: (_rng_from_json(v) if isinstance(v, dict) else v) for k, v in state.items()}
