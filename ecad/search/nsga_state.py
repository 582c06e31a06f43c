"""NSGA-II's whole state as plain data (:class:`NsgaSnapshot`): what ``state.json`` keeps under
``driver`` (the stored form's word) so a resumed search continues exactly as an uninterrupted
one would. Torch- and pymoo-free, so reading a search's state costs no heavy import."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ecad.store.records import RecordError, require

__all__ = ["NsgaPopulation", "NsgaSnapshot"]


@dataclass(frozen=True)
class NsgaPopulation:
    """The survivors: packed genomes, objectives, constraint values, NSGA-II rank and crowding
    (``"inf"`` for an infinite crowding distance)."""

    X: tuple[str, ...]
    F: tuple[tuple[float, ...], ...]
    G: tuple[tuple[float, ...], ...]
    rank: tuple[int, ...]
    crowding: tuple[float | str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "X": list(self.X),
            "F": [list(r) for r in self.F],
            "G": [list(r) for r in self.G],
            "rank": list(self.rank),
            "crowding": list(self.crowding),
        }

    @classmethod
    def from_json(cls, data: Any) -> NsgaPopulation:
        where = "driver.population."
        X, F, G = (require(data, k, list, where) for k in ("X", "F", "G"))
        rank, crowding = require(data, "rank", list, where), require(data, "crowding", list, where)
        if not len(X) == len(F) == len(G) == len(rank) == len(crowding):
            raise RecordError(f"{where}X/F/G/rank/crowding: must be equally long")
        return cls(
            tuple(X),
            tuple(tuple(r) for r in F),
            tuple(tuple(r) for r in G),
            tuple(rank),
            tuple(crowding),
        )


@dataclass(frozen=True)
class NsgaSnapshot:
    """NSGA-II's state: genome length, whether it has a population yet, its generation counter,
    the RNG's bit-generator state (numpy's own JSON-ready form) and the population."""

    n_var: int
    initialized: bool
    n_iter: int | None
    rng: Mapping[str, Any]
    population: NsgaPopulation | None

    def to_json(self) -> dict[str, Any]:
        return {
            "n_var": self.n_var,
            "initialized": self.initialized,
            "n_iter": self.n_iter,
            "rng": dict(self.rng),
            "population": None if self.population is None else self.population.to_json(),
        }

    @classmethod
    def from_json(cls, data: Any) -> NsgaSnapshot:
        n_iter = data.get("n_iter") if isinstance(data, Mapping) else None
        if n_iter is not None and (isinstance(n_iter, bool) or not isinstance(n_iter, int)):
            raise RecordError(f"driver.n_iter: must be an integer or null, got {n_iter!r:.40}")
        population = data.get("population")
        initialized = require(data, "initialized", bool, "driver.")
        if initialized and population is None:
            raise RecordError("driver.population: an initialized NSGA-II has a population")
        return cls(
            n_var=require(data, "n_var", int, "driver."),
            initialized=initialized,
            n_iter=n_iter,
            rng=require(data, "rng", dict, "driver."),
            population=None if population is None else NsgaPopulation.from_json(population),
        )
