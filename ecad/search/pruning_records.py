"""What pruning decided, as frozen records: one candidate's decision (:class:`PruningDecision`)
and a generation's stopped candidates (``searches/<id>/pruning/NNNN.json``,
:class:`PruningRecord`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from ecad.store.records import RecordError, require

__all__ = ["PartialCandidate", "PruningDecision", "PruningRecord"]


@dataclass(frozen=True)
class PruningDecision:
    """What :func:`ecad.search.pruning.decide` concluded, with the numbers behind it (for logs
    and records)."""

    prune: bool
    shards_used: int  # length of the completed prefix of shards the estimate is made of
    shards_total: int
    images_used: int
    estimate: float | None  # mean quality of those images (higher is better)
    standard_error: float | None  # with the finite-population correction
    optimistic: float | None  # estimate + t_quantile(z, images_used - 1) * standard_error
    front_quality: float | None  # best front quality at a cost <= the candidate's
    reason: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> PruningDecision:
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in data]
        if missing:
            raise RecordError(f"decision: {missing} missing")
        return cls(**{n: data[n] for n in names})


@dataclass(frozen=True)
class PartialCandidate:
    """A candidate pruning stopped: its decision, the offspring indices that share its
    evaluation, and how many shards it had taken in when its remaining work was cancelled (work,
    not decision: on a cluster it depends on timing)."""

    candidates: tuple[int, ...]
    decision: PruningDecision
    stopped_after: int

    def to_json(self) -> dict[str, Any]:
        return {
            "candidates": list(self.candidates),
            **self.decision.to_json(),
            "stopped_after": self.stopped_after,
        }

    @classmethod
    def from_json(cls, data: Any) -> PartialCandidate:
        candidates = require(data, "candidates", list)
        return cls(
            tuple(int(i) for i in candidates),
            PruningDecision.from_json(data),
            require(data, "stopped_after", int),
        )


@dataclass(frozen=True)
class PruningRecord:
    """``searches/<id>/pruning/NNNN.json``: the candidates pruning stopped in one generation, by
    evaluation key, and the images their remaining shards would have needed."""

    generation: int
    images_saved: int
    partial: Mapping[str, PartialCandidate]

    def to_json(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "images_saved": self.images_saved,
            "partial": {k: p.to_json() for k, p in self.partial.items()},
        }

    @classmethod
    def from_json(cls, data: Any) -> PruningRecord:
        partial = require(data, "partial", dict)
        return cls(
            require(data, "generation", int),
            require(data, "images_saved", int),
            {str(k): PartialCandidate.from_json(v) for k, v in partial.items()},
        )
