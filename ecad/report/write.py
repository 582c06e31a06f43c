"""``write_report``: collect a search's data, add the baselines, write one HTML file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ecad.atomic import write_atomic
from ecad.search.session import SearchSession

__all__ = ["BASELINE_MODES", "build_report", "write_report"]

#: ``evaluate``: evaluate missing baselines now (stored evaluations are reused); ``stored``: show
#: only baselines already evaluated; ``none``: leave them out.
BASELINE_MODES = ("evaluate", "stored", "none")


def build_report(
    session: SearchSession,
    prompts: int = 3,
    baselines: str = "evaluate",
    device: str = "cpu",
    dtype: str | None = None,
    store_url: str | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> str:
    """The report page as text."""
    from ecad.report.baselines import baseline_points
    from ecad.report.data import collect
    from ecad.report.page import render_page

    if baselines not in BASELINE_MODES:
        raise ValueError(f"baselines={baselines!r}: choose one of {BASELINE_MODES}")
    data = collect(session, prompts=prompts, store_url=store_url)
    if baselines != "none":
        data.baselines = baseline_points(session, evaluate=baselines == "evaluate",
                                         device=device, dtype=dtype, log=log)
    return render_page(data)


def write_report(session: SearchSession, path: str | Path, **options) -> Path:
    """Write the report to ``path`` (one self-contained HTML file, nothing beside it)."""
    return write_atomic(Path(path), build_report(session, **options))
