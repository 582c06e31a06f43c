"""The spec's typed sections (prompts, quality, cost, crossover, mutation, initial population),
each with its stored JSON form, and the constants they are checked against."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ecad.store.records import RecordError, require

__all__ = [
    "MIN_DIFF_COUNTS",
    "PLACEHOLDER",
    "QUALITY_SCORERS",
    "SEED_RULES",
    "SPEC_VERSION",
    "CostSpec",
    "CrossoverSpec",
    "InitialPopulationSpec",
    "MutationSpec",
    "PromptsSpec",
    "QualitySpec",
]

QUALITY_SCORERS = ("fidelity", "image-reward", "clip")
#: What ``min_diff`` counts: ``effective`` reused cells (step 0 excluded: it is always computed),
#: or ``genome`` bits that differ from all-true, step-0 bits included (the reference's rule).
MIN_DIFF_COUNTS = ("effective", "genome")
#: Per-image noise: ``ecad`` (a generator per image) or ``reference`` (the reference's rule):
#: :data:`ecad.generation.seeds.SEED_RULES`, repeated here because that module imports torch.
SEED_RULES = ("ecad", "reference")
INITIAL_KINDS = ("random", "heuristics", "schedules_dir", "from_search", "paper")

#: 2: the digest hashes the prompts' content, never the prompt file's path (version 1 did, so
#: one spec got another id on every machine); stored version-1 specs keep their ids.
SPEC_VERSION = 2
#: What a shipped spec puts where the user must fill in a value (see ``_placeholder_error``).
PLACEHOLDER = "REPLACE_WITH_ID"


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


def _with_set(base: dict[str, Any], **optional: Any) -> dict[str, Any]:
    """``base`` plus the optional fields that are set (None ones are left out)."""
    return {**base, **{k: v for k, v in optional.items() if v is not None}}


@dataclass(frozen=True)
class PromptsSpec:
    """``prompts``: the file they came from, the limit, the prompt texts themselves and, for a
    named set (:mod:`ecad.prompts.named`), its name."""

    file: str | None
    limit: int | None
    texts: tuple[str, ...]
    named: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PromptsSpec:
        texts = require(data, "texts", list, "prompts.")
        if not all(isinstance(t, str) for t in texts):
            raise RecordError("prompts.texts: must be a list of strings")
        return cls(data.get("file"), data.get("limit"), tuple(texts), data.get("set"))

    def to_json(self) -> dict[str, Any]:
        out = {"file": self.file, "limit": self.limit, "texts": list(self.texts)}
        if self.named is not None:  # only for named sets: earlier specs keep their digests
            out["set"] = self.named
        return out


@dataclass(frozen=True)
class QualitySpec:
    """``quality``: the scorer, its metric (fidelity), the HV reference and scorer options."""

    scorer: str
    metric: str | None = None
    hv_reference: float | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> QualitySpec:
        rest = {k: v for k, v in data.items() if k not in ("scorer", "metric", "hv_reference")}
        return cls(
            require(data, "scorer", str, "quality."),
            data.get("metric"),
            data.get("hv_reference"),
            _frozen(rest),
        )

    @property
    def name(self) -> str:
        """The quality's name: the fidelity metric, else the scorer."""
        return self.metric or self.scorer

    def to_json(self) -> dict[str, Any]:
        base = {"scorer": self.scorer, **self.options}
        return _with_set(base, metric=self.metric, hv_reference=self.hv_reference)


@dataclass(frozen=True)
class CostSpec:
    """``cost``: the cost mode, the batch the cost is measured at, the latency table file."""

    mode: str
    batch: int
    table: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CostSpec:
        rest = {k: v for k, v in data.items() if k not in ("mode", "batch", "table")}
        return cls(
            require(data, "mode", str, "cost."),
            require(data, "batch", int, "cost."),
            data.get("table"),
            _frozen(rest),
        )

    def to_json(self) -> dict[str, Any]:
        return _with_set({"mode": self.mode, "batch": self.batch, **self.options}, table=self.table)


@dataclass(frozen=True)
class CrossoverSpec:
    points: int
    prob: float

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CrossoverSpec:
        return cls(
            require(data, "points", int, "crossover."),
            float(require(data, "prob", (int, float), "crossover.")),
        )

    def to_json(self) -> dict[str, Any]:
        return {"points": self.points, "prob": self.prob}


@dataclass(frozen=True)
class MutationSpec:
    individual_prob: float
    bit_prob: float | None  # None: 1 / genome bits

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MutationSpec:
        bit = data.get("bit_prob")
        return cls(
            float(require(data, "individual_prob", (int, float), "mutation.")),
            None if bit is None else float(bit),
        )

    def to_json(self) -> dict[str, Any]:
        return {"individual_prob": self.individual_prob, "bit_prob": self.bit_prob}


def _span(value: Any) -> tuple[int, int] | None:
    """``[first, last]`` generations with ``0 <= first <= last``, or ``None`` when malformed."""
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(g, int) and not isinstance(g, bool) for g in value)
        and 0 <= value[0] <= value[1]
    ):
        return int(value[0]), int(value[1])
    return None


def _generation_range(value: Any) -> tuple[int, int] | None:
    """A stored spec's ``generations`` (absent: ``None``)."""
    if value is None:
        return None
    span = _span(value)
    if span is None:
        raise RecordError(f"initial_population.generations: must be [first, last], got {value!r}")
    return span


@dataclass(frozen=True)
class InitialPopulationSpec:
    """``initial_population``: ``random``, heuristics, a schedules directory, another search's
    front, or ``paper`` (the paper's published seed population for the family).

    ``truncate``: keep the first ``population`` distinct seeds when there are more; without it,
    more distinct seeds than ``population`` is an error (never a silent drop).
    ``generations`` (``from_search`` only): ``(first, last)``, seed from the union of that
    search's fronts in those generations (inclusive) instead of its latest front.
    """

    kind: str
    items: tuple[str, ...] = ()
    path: str | None = None
    search_id: str | None = None
    truncate: bool = False
    generations: tuple[int, int] | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InitialPopulationSpec:
        kind = require(data, "kind", str, "initial_population.")
        if kind not in INITIAL_KINDS:
            raise RecordError(f"initial_population.kind: unknown kind {kind!r}")
        return cls(
            kind,
            tuple(data.get("items", ())),
            data.get("path"),
            data.get("search_id"),
            bool(data.get("truncate", False)),
            _generation_range(data.get("generations")),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.kind == "heuristics":
            out["items"] = list(self.items)
        elif self.kind == "schedules_dir":
            out["path"] = self.path
        elif self.kind == "from_search":
            out["search_id"] = self.search_id
            if self.generations is not None:  # only when set, as truncate
                out["generations"] = list(self.generations)
        if self.truncate:  # only when set: earlier specs keep their digests
            out["truncate"] = True
        return out
