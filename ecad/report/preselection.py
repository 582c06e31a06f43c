"""The report's pre-selection section (issue 28): per generation, how many offspring NSGA-II
proposed and how many were evaluated, what the predictor was fitted on, and how well it ranked
the chosen offspring against their *measured* quality. No predicted quality is shown."""

from __future__ import annotations

import html
from collections.abc import Sequence

from ecad.search.preselection.summary import PreselectionRow

__all__ = ["preselection_section"]


def _num(value: float | None, fmt: str = ".2f") -> str:
    return "-" if value is None else format(value, fmt)


def preselection_section(rows: Sequence[PreselectionRow]) -> str:
    if not rows:
        return ""
    head = [
        "generation",
        "proposed",
        "evaluated",
        "of them explored",
        "fitted on",
        "rank corr. (leave-one-out)",
        "rank corr. (measured)",
        "fully evaluated",
        "CPU s",
    ]
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{c}</td>"
            for c in (
                r.generation,
                r.proposed,
                r.evaluated,
                r.explored,
                _num(r.rows, "d"),
                _num(r.loo_rank_correlation),
                _num(r.rank_correlation),
                _num(r.fully_evaluated, "d"),
                _num(r.cpu_seconds, ".3f"),
            )
        )
        + "</tr>"
        for r in rows
    )
    table = (
        "<table><tr>"
        + "".join(f"<th>{html.escape(h)}</th>" for h in head)
        + "</tr>"
        + body
        + "</table>"
    )
    fitted = next((r for r in reversed(rows) if r.model), None)
    model = (
        ""
        if fitted is None
        else f"<p>Predictor: {html.escape(fitted.model or '')}; features: "
        f"{html.escape(', '.join(fitted.features))}; refitted every generation from the "
        "stored evaluations (a pruned candidate's partial estimate weighted by its share "
        "of the images).</p>"
    )
    rhos = [r.rank_correlation for r in rows if r.rank_correlation is not None]
    mean = f"{sum(rhos) / len(rhos):.2f}" if rhos else "-"
    return (
        f"<h3>Pre-selection</h3><p>Each generation NSGA-II proposed more offspring than "
        f"were evaluated; a quality predictor ranked them with their exact cost and only "
        f"the chosen ones cost images (the others were never generated). Rank correlation "
        f"(Spearman) of its predictions with the measured quality of the chosen offspring: "
        f"{mean} on average over {len(rhos)} generations. Predictions are not results: "
        f"every quality on this page is measured.</p>{model}{table}"
    )
