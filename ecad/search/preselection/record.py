"""``searches/<id>/preselection/NNNN.json``: one generation's pre-selection, as typed records.

Predictions are kept apart from measurements: ``predicted``/``uncertainty`` are the predictor's,
``outcome.measured`` what the evaluation of the chosen offspring then gave (a partial estimate
for a candidate pruning stopped, flagged ``full: false``). Nothing here enters a front.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from ecad.store.records import RecordError, check_version, require

__all__ = ["PRESELECTION_VERSION", "Outcome", "PredictorInfo", "PreselectionRecord", "SourceInfo"]

PRESELECTION_VERSION = 1


def _num(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


@dataclass(frozen=True)
class SourceInfo:
    """A transfer-seeded search's source rows: which search, through which generation, and how
    many of its rows the predictor was fitted on."""

    search_id: str
    generations: int  # the source's finished generations when this search first used it
    rows: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"search_id": self.search_id, "generations": self.generations, "rows": self.rows}

    @classmethod
    def from_json(cls, data: Any) -> SourceInfo:
        return cls(
            require(data, "search_id", str, "predictor.source."),
            require(data, "generations", int, "predictor.source."),
            require(data, "rows", int, "predictor.source."),
        )


@dataclass(frozen=True)
class PredictorInfo:
    """What the predictor was: its features and model, the penalty it chose, the rows it was
    fitted on and its leave-one-out rank correlation on them."""

    features: tuple[str, ...]
    n_features: int
    model: str
    alpha: float
    rows: int
    noise_sd: float
    loo_rank_correlation: float | None
    rows_full: int = 0
    rows_partial: int = 0
    refit: str = ""
    source: SourceInfo | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "n_features": self.n_features,
            "model": self.model,
            "alpha": self.alpha,
            "rows": self.rows,
            "noise_sd": self.noise_sd,
            "loo_rank_correlation": self.loo_rank_correlation,
            "rows_full": self.rows_full,
            "rows_partial": self.rows_partial,
            "refit": self.refit,
            **({} if self.source is None else {"source": self.source.to_json()}),
        }

    @classmethod
    def from_json(cls, data: Any) -> PredictorInfo:
        source = data.get("source")
        loo = data.get("loo_rank_correlation")
        return cls(
            features=tuple(str(f) for f in require(data, "features", list, "predictor.")),
            n_features=require(data, "n_features", int, "predictor."),
            model=require(data, "model", str, "predictor."),
            alpha=float(require(data, "alpha", (int, float), "predictor.")),
            rows=require(data, "rows", int, "predictor."),
            noise_sd=float(require(data, "noise_sd", (int, float), "predictor.")),
            loo_rank_correlation=None if loo is None else float(loo),
            rows_full=int(data.get("rows_full", 0)),
            rows_partial=int(data.get("rows_partial", 0)),
            refit=str(data.get("refit", "")),
            source=None if source is None else SourceInfo.from_json(source),
        )


@dataclass(frozen=True)
class Outcome:
    """What the chosen offspring measured, and how well the predictor ranked them."""

    measured: tuple[float | None, ...]  # per chosen offspring, in pending order; None: failed
    full: tuple[bool, ...]  # fully evaluated (else a pruning estimate, or failed)
    rank_correlation: float | None  # Spearman, prediction vs measured, over the measured ones
    rank_correlation_full: float | None  # the same over the fully evaluated ones

    def to_json(self) -> dict[str, Any]:
        return {
            "measured": [_num(m) for m in self.measured],
            "full": list(self.full),
            "rank_correlation": self.rank_correlation,
            "rank_correlation_full": self.rank_correlation_full,
        }

    @classmethod
    def from_json(cls, data: Any) -> Outcome:
        return cls(
            tuple(require(data, "measured", list, "outcome.")),
            tuple(bool(f) for f in require(data, "full", list, "outcome.")),
            data.get("rank_correlation"),
            data.get("rank_correlation_full"),
        )


@dataclass(frozen=True)
class PreselectionRecord:
    """One generation's proposals (predictions and exact costs), the choice and its reasons."""

    generation: int
    chosen: tuple[int, ...]  # proposal indices, in the order they became the offspring
    kinds: tuple[str, ...]  # why each was chosen (see ecad.search.preselection.choose)
    cost: tuple[float, ...]  # relative cost per proposal (exact)
    feasible: tuple[bool, ...]
    predicted: tuple[float, ...] | None  # quality per proposal; None: no predictor yet
    uncertainty: tuple[float, ...] | None  # the prediction's standard deviation
    predictor: PredictorInfo | None  # features, model, penalty, rows, refit, fit accuracy
    cpu_seconds: float  # fit + predict + choose, this process's CPU time (not a decision input)
    outcome: Outcome | None = None
    version: int = PRESELECTION_VERSION

    @property
    def proposed(self) -> int:
        return len(self.cost)

    def with_outcome(self, outcome: Outcome) -> PreselectionRecord:
        return replace(self, outcome=outcome)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "generation": self.generation,
            "proposed": self.proposed,
            "evaluated": len(self.chosen),
            "chosen": list(self.chosen),
            "kinds": list(self.kinds),
            "cost": list(self.cost),
            "feasible": list(self.feasible),
            "predicted": None if self.predicted is None else list(self.predicted),
            "uncertainty": None if self.uncertainty is None else list(self.uncertainty),
            "predictor": None if self.predictor is None else self.predictor.to_json(),
            "cpu_seconds": self.cpu_seconds,
            "outcome": None if self.outcome is None else self.outcome.to_json(),
        }

    @classmethod
    def from_json(cls, data: Any) -> PreselectionRecord:
        check_version(data, PRESELECTION_VERSION, "pre-selection record")
        cost = tuple(float(c) for c in require(data, "cost", list))
        chosen = tuple(require(data, "chosen", list))
        if not all(isinstance(i, int) and 0 <= i < len(cost) for i in chosen):
            raise RecordError(f"chosen: indices into the {len(cost)} proposals expected")
        predicted = data.get("predicted")
        if predicted is not None and len(predicted) != len(cost):
            raise RecordError("predicted: one value per proposal expected")
        outcome = data.get("outcome")
        predictor = data.get("predictor")
        return cls(
            generation=require(data, "generation", int),
            chosen=chosen,
            kinds=tuple(require(data, "kinds", list)),
            cost=cost,
            feasible=tuple(bool(f) for f in require(data, "feasible", list)),
            predicted=None if predicted is None else tuple(map(float, predicted)),
            uncertainty=None
            if data.get("uncertainty") is None
            else tuple(map(float, data["uncertainty"])),
            predictor=None if predictor is None else PredictorInfo.from_json(predictor),
            cpu_seconds=float(data.get("cpu_seconds", 0.0)),
            outcome=None if outcome is None else Outcome.from_json(outcome),
        )
