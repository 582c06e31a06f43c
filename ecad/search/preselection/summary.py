"""Pre-selection per generation as ``ecad status`` and the report show it: counts, the
predictor's rank correlation with what was then measured, and its CPU time. Every number here is
either a count, a measurement, or labelled as the predictor's own (never a predicted quality)."""

from __future__ import annotations

from dataclasses import dataclass

from ecad.search.preselection.generation import SessionView, read_preselection

__all__ = [
    "PreselectionRow",
    "PreselectionStatus",
    "preselection_rows",
    "preselection_status",
    "status_text",
]


@dataclass(frozen=True)
class PreselectionRow:
    generation: int
    proposed: int
    evaluated: int
    explored: int  # chosen for the predictor's uncertainty
    rows: int | None  # evaluations the predictor was fitted on (None: no predictor yet)
    loo_rank_correlation: float | None  # on its own training rows, leave-one-out
    rank_correlation: float | None  # prediction vs measured quality of the chosen offspring
    fully_evaluated: int | None  # chosen offspring fully evaluated (the rest pruned or failed)
    cpu_seconds: float  # fit + predict + choose
    model: str | None
    features: tuple[str, ...]


@dataclass(frozen=True)
class PreselectionStatus:
    """The status record's pre-selection entry: generations that pre-selected, the latest's
    counts, the predictor's rank correlation with measured quality, its CPU time."""

    generations: int
    proposed: int | None
    evaluated: int | None
    rank_correlation_mean: float | None
    rank_correlation_last: float | None
    cpu_seconds_max: float | None


def preselection_rows(session: SessionView) -> list[PreselectionRow]:
    """One row per generation that pre-selected its offspring (none when it is off)."""
    out = []
    for g in range(1, session.generation + 1):
        pre = read_preselection(session, g)
        if pre is None:
            continue
        info, outcome = pre.predictor, pre.outcome
        out.append(
            PreselectionRow(
                generation=g,
                proposed=pre.proposed,
                evaluated=len(pre.chosen),
                explored=sum(k == "explore" for k in pre.kinds),
                rows=None if info is None else info.rows,
                loo_rank_correlation=None if info is None else info.loo_rank_correlation,
                rank_correlation=None if outcome is None else outcome.rank_correlation,
                fully_evaluated=None if outcome is None else sum(outcome.full),
                cpu_seconds=pre.cpu_seconds,
                model=None if info is None else info.model,
                features=() if info is None else info.features,
            )
        )
    return out


def preselection_status(session: SessionView) -> PreselectionStatus | None:
    """The status record's ``preselection`` entry, or None when it is off."""
    if not session.spec.preselection.enabled:
        return None
    rows = preselection_rows(session)
    rhos = [r.rank_correlation for r in rows if r.rank_correlation is not None]
    last = rows[-1] if rows else None
    return PreselectionStatus(
        generations=len(rows),
        proposed=None if last is None else last.proposed,
        evaluated=None if last is None else last.evaluated,
        rank_correlation_mean=sum(rhos) / len(rhos) if rhos else None,
        rank_correlation_last=rhos[-1] if rhos else None,
        cpu_seconds_max=max((r.cpu_seconds for r in rows), default=None),
    )


def status_text(p: PreselectionStatus) -> str:
    """`` | pre-selection: ...`` for ``ecad status``'s line."""
    if not p.generations:
        return " | pre-selection on (no generation chosen yet)"
    rho = (
        "-"
        if p.rank_correlation_mean is None
        else f"{p.rank_correlation_mean:.2f} (last {p.rank_correlation_last:.2f})"
    )
    return (
        f" | pre-selection: {p.evaluated} of {p.proposed} offspring evaluated, "
        f"predictor rank correlation {rho}"
    )
