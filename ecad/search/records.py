"""Typed records of a search kept in the store: its phase, generation records, evaluation
records and front members. Each reads from JSON through :func:`ecad.store.records.parse_record`
(one error type for any wrong shape) and writes a versioned JSON object."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ecad.schedules import Schedule
from ecad.store.records import RecordError, check_version, require

__all__ = [
    "GENERATION_VERSION",
    "Counts",
    "EvaluationRecord",
    "FrontMember",
    "GenerationRecord",
    "Phase",
    "Population",
]

GENERATION_VERSION = 1
EVALUATION_VERSION = 1


class Phase(str, Enum):
    """Where a search stands. ``FINISHED`` is stored as ``done`` (the format's word)."""

    ASK = "ask"  # next: sample the generation's candidates
    EVALUATE = "evaluate"  # candidates stored, waiting for their evaluations
    FINISHED = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"  # an authoritative object is unreadable (searches/<id>/failed.json)

    def __str__(self) -> str:
        return self.value

    @property
    def over(self) -> bool:
        return self in (Phase.FINISHED, Phase.CANCELLED, Phase.FAILED)

    @classmethod
    def parse(cls, value: Any) -> Phase:
        try:
            return cls(value)
        except ValueError:
            raise RecordError(
                f"phase: {value!r:.40} unknown; one of {[p.value for p in cls]}"
            ) from None


@dataclass(frozen=True)
class Counts:
    """Distinct evaluations of a generation, by outcome."""

    evaluated: int = 0
    cached: int = 0
    failed: int = 0
    infeasible: int = 0
    pruned: int = 0

    @classmethod
    def from_json(cls, data: Any) -> Counts:
        names = cls.__dataclass_fields__
        counts = {n: require(data, n, int, "counts.") for n in names if n in data}
        if any(v < 0 for v in counts.values()):
            raise RecordError(f"counts: must be >= 0, got {counts}")
        return cls(**counts)

    def to_json(self) -> dict[str, int]:
        return {n: getattr(self, n) for n in self.__dataclass_fields__}

    def __add__(self, other: Counts) -> Counts:
        names = self.__dataclass_fields__
        return Counts(**{n: getattr(self, n) + getattr(other, n) for n in names})


@dataclass(frozen=True)
class Population:
    """Genomes (packed hex), objectives ``F`` (``1 - quality``, relative cost) and constraint
    values ``G`` of a set of individuals."""

    X: tuple[str, ...]
    F: tuple[tuple[float, ...], ...]
    G: tuple[tuple[float, ...], ...]

    @classmethod
    def from_json(cls, data: Any, where: str) -> Population:
        X = require(data, "X", list, where)
        F = require(data, "F", list, where)
        G = require(data, "G", list, where)
        if not (len(X) == len(F) == len(G)) or not all(isinstance(x, str) for x in X):
            raise RecordError(f"{where}X/F/G: must be equally long, X hex strings")
        rows = (tuple(tuple(map(float, r)) for r in F), tuple(tuple(map(float, r)) for r in G))
        for name, values, width in (("F", rows[0], 2), ("G", rows[1], 1)):
            if not all(len(r) == width and all(map(math.isfinite, r)) for r in values):
                raise RecordError(f"{where}{name}: rows of {width} finite numbers expected")
        return cls(tuple(X), *rows)

    @classmethod
    def of(
        cls, X: Sequence[str], F: Sequence[Sequence[float]], G: Sequence[Sequence[float]]
    ) -> Population:
        """From packed genomes and the objective and constraint rows (``array.tolist()``)."""
        return cls(
            tuple(X),
            tuple(tuple(float(v) for v in row) for row in F),
            tuple(tuple(float(v) for v in row) for row in G),
        )

    def to_json(self) -> dict[str, Any]:
        return {"X": list(self.X), "F": [list(r) for r in self.F], "G": [list(r) for r in self.G]}


@dataclass(frozen=True)
class GenerationWork:
    """What a generation cost: images generated, images saved by pruning (the remaining shards
    of stopped candidates) and the summed time of its shard work (GPU-seconds on a cluster;
    work done by workers of an earlier scheduler run is not counted)."""

    images: int = 0
    images_saved: int = 0
    shard_seconds: float = 0.0

    @classmethod
    def from_json(cls, data: Any) -> GenerationWork:
        if data is None:  # records written before these were kept
            return cls()
        return cls(
            images=require(data, "images", int, "work."),
            images_saved=require(data, "images_saved", int, "work."),
            shard_seconds=float(require(data, "shard_seconds", (int, float), "work.")),
        )

    def to_json(self) -> dict[str, Any]:
        return {"images": self.images, "images_saved": self.images_saved,
                "shard_seconds": self.shard_seconds}

    def __add__(self, other: GenerationWork) -> GenerationWork:
        return GenerationWork(self.images + other.images,
                              self.images_saved + other.images_saved,
                              self.shard_seconds + other.shard_seconds)


@dataclass(frozen=True)
class GenerationRecord:
    """``searches/<id>/generations/NNNN.json``: one finished generation."""

    generation: int
    offspring: Population
    population: Population
    front: tuple[int, ...]  # indices into ``population``
    hypervolume: float
    hv_reference: tuple[float, float]
    counts: Counts
    seconds: float
    work: GenerationWork = field(default_factory=GenerationWork)
    version: int = GENERATION_VERSION

    @classmethod
    def from_json(cls, data: Any) -> GenerationRecord:
        check_version(data, GENERATION_VERSION, "generation record")
        front = require(data, "front", list)
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in front):
            raise RecordError("front: must be a list of population indices")
        population = Population.from_json(require(data, "population", dict), "population.")
        if any(not 0 <= i < len(population.X) for i in front):
            raise RecordError("front: an index is outside the population")
        ref = require(data, "hv_reference", list)
        return cls(
            generation=require(data, "generation", int),
            offspring=Population.from_json(require(data, "offspring", dict), "offspring."),
            population=population,
            front=tuple(front),
            hypervolume=float(require(data, "hypervolume", (int, float))),
            hv_reference=(float(ref[0]), float(ref[1])),
            counts=Counts.from_json(require(data, "counts", dict)),
            seconds=float(require(data, "seconds", (int, float))),
            work=GenerationWork.from_json(data.get("work")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "generation": self.generation,
            "offspring": self.offspring.to_json(),
            "population": self.population.to_json(),
            "front": list(self.front),
            "hypervolume": self.hypervolume,
            "hv_reference": list(self.hv_reference),
            "counts": self.counts.to_json(),
            "seconds": self.seconds,
            "work": self.work.to_json(),
        }


@dataclass(frozen=True)
class EvaluationRecord:
    """``evaluations/<evaluation key>.json``: a candidate's aggregate quality."""

    schedule: str  # digest
    generation_key: str
    quality: float
    quality_spec: dict[str, Any] = field(compare=False)
    higher_is_better: bool
    num_images: int
    per_prompt: dict[str, float]
    version: int = EVALUATION_VERSION

    @classmethod
    def from_json(cls, data: Any) -> EvaluationRecord:
        check_version(data, EVALUATION_VERSION, "evaluation record")
        per_prompt = require(data, "per_prompt", dict)
        values = [require(data, "quality", (int, float)), *per_prompt.values()]
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            raise RecordError(f"quality and per_prompt must be finite numbers, got {values!r:.80}")
        if require(data, "num_images", int) < 1:
            raise RecordError(f"num_images: must be >= 1, got {data['num_images']}")
        return cls(
            schedule=require(data, "schedule", str),
            generation_key=require(data, "generation_key", str),
            quality=float(require(data, "quality", (int, float))),
            quality_spec=dict(require(data, "quality_spec", dict)),
            higher_is_better=require(data, "higher_is_better", bool),
            num_images=require(data, "num_images", int),
            per_prompt={str(k): float(v) for k, v in per_prompt.items()},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "schedule": self.schedule,
            "generation_key": self.generation_key,
            "quality": self.quality,
            "quality_spec": self.quality_spec,
            "higher_is_better": self.higher_is_better,
            "num_images": self.num_images,
            "per_prompt": self.per_prompt,
        }


@dataclass(frozen=True)
class FrontMember:
    """A member of a search's front (derived from the last generation record, not stored)."""

    schedule: Schedule
    quality: float
    relative_cost: float
    cost: float
    index: int  # position in the generation's population
