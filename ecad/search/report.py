"""A self-contained HTML report of a search: Pareto plot per generation and an image grid of a
few prompts across the front members (images embedded as data URIs)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

from ecad.search.evaluation import image_key
from ecad.search.session import SearchSession

__all__ = ["write_report"]


def _pareto_png(session: SearchSession) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hist = session.history()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    cmap = plt.get_cmap("viridis")
    for n, rec in enumerate(hist):
        F = np.asarray(rec.population.F)
        front = list(rec.front)
        color = cmap(n / max(1, len(hist) - 1))
        if front:
            pts = F[front][np.argsort(F[front][:, 1])]
            ax.plot(
                pts[:, 1],
                1 - pts[:, 0],
                "o-",
                color=color,
                ms=4,
                lw=1,
                label=f"gen {rec.generation} (HV {rec.hypervolume:.3f})",
            )
    ax.set_xlabel("relative cost (1 = no caching)")
    quality = session.spec.quality
    label = quality.scorer + (f" {quality.metric}" if quality.metric else "")
    ax.set_ylabel(f"quality ({label})")
    ax.set_title(f"Pareto front per generation - {session.search_id}")
    ax.grid(alpha=0.3)
    if hist:
        ax.legend(fontsize=7, loc="lower right")
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def write_report(session: SearchSession, path: str | Path, prompts: int = 3) -> Path:
    """Write ``path`` (HTML). Image grid: first ``prompts`` prompts x front members."""
    from ecad.schedules import Schedule

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    plot = _pareto_png(session)
    out.with_suffix(".png").write_bytes(plot)
    front = session.front()
    setting = session.setting
    reference = Schedule.full(session.layout, session.spec.steps, "no-cache")
    columns = [("no cache", reference, 1.0, None)] + [
        (m.schedule.metadata.name, m.schedule, m.relative_cost, m.quality)
        for m in front
    ]
    rows_html = []
    for p in range(min(prompts, len(setting.prompts))):
        cells = []
        for _, sched, _, _ in columns:
            key = image_key(setting.generation_key(sched), p, 0)
            if session.store.exists(key):
                cells.append(
                    f'<td><img src="{_data_uri(session.store.get(key))}" width="128"></td>'
                )
            else:
                cells.append("<td class=missing>not generated</td>")
        rows_html.append(f"<tr><th>{html.escape(setting.prompts[p])}</th>{''.join(cells)}</tr>")
    header = "".join(
        f"<th>{html.escape(name)}<br>cost {cost:.2f}"
        + (f", q {q:.3f}" if q is not None else "")
        + "</th>"
        for name, _, cost, q in columns
    )
    gens = "".join(
        f"<tr><td>{r.generation}</td><td>{r.hypervolume:.4f}</td><td>{len(r.front)}</td>"
        f"<td>{r.counts.evaluated}</td><td>{r.counts.cached}</td>"
        f"<td>{r.counts.infeasible}</td><td>{r.seconds:.1f}</td></tr>"
        for r in session.history()
    )
    doc = f"""<!doctype html><html><head><meta charset="utf-8">
<title>ECAD search {html.escape(session.search_id)}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px;font-size:12px;vertical-align:top}}
.missing{{color:#999}}</style></head><body>
<h1>ECAD search {html.escape(session.search_id)}</h1>
<p>family {html.escape(session.spec.family)}, weights {html.escape(str(session.spec.weights))},
{session.spec.resolution}px, {session.spec.steps} steps, quality
{html.escape(str(session.spec.quality.to_json()))}, cost {html.escape(session.table.mode)}.</p>
<img src="{_data_uri(plot)}" alt="Pareto fronts">
<h2>Generations</h2><table><tr><th>gen</th><th>hypervolume</th><th>front</th><th>evaluated</th>
<th>cached</th><th>infeasible</th><th>seconds</th></tr>{gens}</table>
<h2>Front members (first image of each prompt)</h2>
<table><tr><th>prompt</th>{header}</tr>{"".join(rows_html)}</table>
</body></html>"""
    out.write_text(doc)
    return out
