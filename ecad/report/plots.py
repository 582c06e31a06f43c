"""The report's interactive figures (plotly): objective space, progress, reuse heatmaps.

Each function returns a ``plotly.graph_objects.Figure``; :func:`figure_html` turns one into a
``<div>`` for the page, which carries plotly.js once, inline (:func:`plotly_js`).
"""

from __future__ import annotations

from typing import Any

from ecad.report.data import Candidate, FrontMember, ReportData, reuse_maps
from ecad.report.units import QualityUnit, duration

__all__ = [
    "figure_html",
    "front_figure",
    "objective_figure",
    "plotly_js",
    "progress_figure",
    "pruning_figure",
]

_CONFIG = {"displaylogo": False, "responsive": True, "toImageButtonOptions": {"format": "png"}}
_LAYOUT = {"template": "plotly_white", "margin": {"l": 60, "r": 20, "t": 50, "b": 50}}


def plotly_js() -> str:
    """plotly.js itself, to inline once in the page (the file then works offline)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def figure_html(fig: Any, div_id: str) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=_CONFIG)


def _hover(unit_title: str) -> str:
    return ("<b>%{customdata[0]}</b><br>generation %{customdata[1]}<br>"
            f"{unit_title} %{{y}}<br>speedup %{{x:.2f}}x<br>reuse %{{customdata[2]:.1%}}"
            "<extra></extra>")


def _partial_trace(partial: list[Candidate], unit: QualityUnit) -> Any:
    """Candidates stopped by pruning: small hollow grey markers at their estimated quality."""
    import plotly.graph_objects as go

    fmt = f".{unit.digits}f"
    stopped = [(c, c.partial) for c in partial if c.partial is not None]
    return go.Scatter(
        name="pruned (partial estimate)",
        x=[1 / c.relative_cost for c, _ in stopped],
        y=[c.quality for c, _ in stopped],
        mode="markers",
        marker={"size": 6, "symbol": "circle-open", "color": "#8c8c8c", "opacity": 0.8,
                "line": {"width": 1}},
        customdata=[[c.name, c.generation, c.reuse, p.shards_used, p.shards_total,
                     p.images_used, p.images_total] for c, p in stopped],
        hovertemplate=("<b>%{customdata[0]}</b><br>generation %{customdata[1]}<br>"
                       "pruned after %{customdata[3]}/%{customdata[4]} shards "
                       "(%{customdata[5]}/%{customdata[6]} images)<br>"
                       f"estimate {unit.label} %{{y:{fmt}}}{_suffix(unit.unit)}<br>"
                       "speedup %{x:.2f}x<br>reuse %{customdata[2]:.1%}<extra></extra>"),
    )


def objective_figure(data: ReportData) -> Any:
    """Every evaluated candidate (colour = generation), those stopped by pruning (hollow grey,
    at their estimate), the current front (fully evaluated members only), the baselines."""
    import plotly.graph_objects as go

    unit = data.unit
    fmt = f".{unit.digits}f"
    evaluated = [c for c in data.candidates if c.status == "evaluated"]
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        name="evaluated candidates",
        x=[1 / c.relative_cost for c in evaluated],
        y=[c.quality for c in evaluated],
        mode="markers",
        marker={"size": 7, "opacity": 0.75, "color": [c.generation for c in evaluated],
                "colorscale": "Viridis", "cmin": 0, "cmax": max(1, data.generations),
                "colorbar": {"title": {"text": "generation"}, "x": 1.02}},
        customdata=[[c.name, c.generation, c.reuse] for c in evaluated],
        hovertemplate=_hover(unit.label).replace("%{y}", f"%{{y:{fmt}}}{_suffix(unit.unit)}"),
    ))
    if data.partial:
        fig.add_trace(_partial_trace(data.partial, unit))
    front = sorted(data.front, key=lambda m: m.relative_cost)
    fig.add_trace(go.Scatter(
        name="current Pareto front",
        x=[m.speedup for m in front],
        y=[m.quality for m in front],
        mode="lines+markers",
        line={"color": "#d62728", "width": 1.5},
        marker={"size": 12, "symbol": "circle-open", "color": "#d62728", "line": {"width": 2.5}},
        customdata=[[m.name, data.generation - 1, m.reuse] for m in front],
        hovertemplate=_hover(unit.label).replace("%{y}", f"%{{y:{fmt}}}{_suffix(unit.unit)}"),
    ))
    shown = [b for b in data.baselines if b.quality is not None]
    off_scale = _off_scale(data, shown)
    shown = [b for b in shown if b not in off_scale]
    for n, b in enumerate(off_scale):  # above the plot area, one line each: no point hides it
        fig.add_annotation(x=0.0, y=1.0, xref="paper", yref="paper", showarrow=False,
                           xanchor="left", yanchor="bottom", yshift=4 + 16 * n,
                           font={"size": 11, "color": "#555"},
                           text=f"{b.name} (1.00x): {unit.label} {unit.format(b.quality)}, "
                                "the images compared with, off the scale")
    if shown:
        fig.add_trace(go.Scatter(
            name="heuristic baselines",
            x=[1 / b.relative_cost for b in shown],
            y=[b.quality for b in shown],
            mode="markers+text",
            text=[b.name for b in shown],
            textposition="top center",
            textfont={"size": 10, "color": "#555"},
            marker={"size": 11, "symbol": "diamond", "color": "#7f7f7f"},
            customdata=[[b.name, "baseline", b.reuse] for b in shown],
            hovertemplate=("<b>%{customdata[0]}</b> (heuristic baseline)<br>"
                           f"{unit.label} %{{y:{fmt}}}{_suffix(unit.unit)}<br>"
                           "speedup %{x:.2f}x<br>reuse %{customdata[2]:.1%}<extra></extra>"),
        ))
    layout = {**_LAYOUT, "margin": {**_LAYOUT["margin"], "t": 60 + 16 * len(off_scale)}}
    fig.update_layout(
        **layout,
        title={"text": "Objective space: quality against predicted speedup"},
        xaxis_title=f"predicted speedup over no caching ({data.cost_mode} cost model)",
        yaxis_title=unit.axis_title,
        legend={"orientation": "h", "y": -0.18},
        height=520,
    )
    return fig


def _off_scale(data: ReportData, baselines: list) -> list:
    """With a fidelity metric the no-cache baseline is compared with itself (PSNR at its cap):
    left off the axis, which then spans the candidates and the other baselines."""
    if data.unit.name not in ("psnr", "ssim", "lpips"):
        return []
    return [b for b in baselines if b.reuse == 0.0]


def _suffix(unit: str) -> str:
    return f" {unit}" if unit else ""


def progress_figure(data: ReportData) -> Any:
    """Hypervolume and front size per generation."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    gens = [g.generation for g in data.history]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(name="hypervolume", x=gens, y=[g.hypervolume for g in data.history],
                             mode="lines+markers",
                             hovertemplate="generation %{x}<br>hypervolume %{y:.4f}"
                                           "<extra></extra>"),
                  secondary_y=False)
    fig.add_trace(go.Bar(name="front size", x=gens, y=[g.front for g in data.history],
                         opacity=0.35, hovertemplate="generation %{x}<br>front %{y} members"
                                                     "<extra></extra>"),
                  secondary_y=True)
    fig.update_layout(**_LAYOUT, title={"text": "Hypervolume and front size per generation"},
                      height=360, legend={"orientation": "h", "y": -0.25})
    fig.update_xaxes(title_text="generation", dtick=1)
    fig.update_yaxes(title_text="hypervolume", secondary_y=False)
    fig.update_yaxes(title_text="front size", secondary_y=True, rangemode="tozero",
                     tickformat="d", showgrid=False)
    return fig


def pruning_figure(data: ReportData) -> Any:
    """Per generation: images generated and images saved by pruning (stacked), and how many
    candidates were pruned."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    gens = [g.generation for g in data.history]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(name="images generated", x=gens, y=[g.images for g in data.history],
                         marker={"color": "#1f77b4"},
                         customdata=[duration(g.shard_seconds) for g in data.history],
                         hovertemplate="generation %{x}<br>%{y} images generated<br>"
                                       "shard work %{customdata}<extra></extra>"),
                  secondary_y=False)
    fig.add_trace(go.Bar(name="images saved by pruning", x=gens,
                         y=[g.images_saved for g in data.history],
                         marker={"color": "#8c8c8c", "pattern": {"shape": "/"}},
                         hovertemplate="generation %{x}<br>%{y} images saved by pruning"
                                       "<extra></extra>"),
                  secondary_y=False)
    fig.add_trace(go.Scatter(name="candidates pruned", x=gens,
                             y=[g.counts.get("pruned", 0) for g in data.history],
                             mode="lines+markers", line={"color": "#d62728"},
                             hovertemplate="generation %{x}<br>%{y} candidates pruned"
                                           "<extra></extra>"),
                  secondary_y=True)
    fig.update_layout(**_LAYOUT, barmode="stack", height=360,
                      legend={"orientation": "h", "y": -0.25},
                      title={"text": "Images generated and saved by pruning per generation"})
    fig.update_xaxes(title_text="generation", dtick=1)
    fig.update_yaxes(title_text="images", secondary_y=False, rangemode="tozero")
    fig.update_yaxes(title_text="candidates pruned", secondary_y=True, rangemode="tozero",
                     tickformat="d", showgrid=False)
    return fig


def front_figure(member: FrontMember) -> Any:
    """What the member reuses: one step x block heatmap per component (dark = reused)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    maps = reuse_maps(member.schedule)
    fig = make_subplots(rows=1, cols=len(maps), subplot_titles=list(maps),
                        horizontal_spacing=0.06)
    for col, (_component, (blocks, grid)) in enumerate(maps.items(), start=1):
        fig.add_trace(go.Heatmap(
            z=grid, x=list(range(grid.shape[1])), y=blocks,
            colorscale=[[0, "#f0f0f0"], [1, "#1f4e9c"]], zmin=0, zmax=1, showscale=False,
            xgap=1, ygap=1,
            hovertemplate="step %{x}, block %{y}: %{z}<extra></extra>".replace(
                "%{z}", "%{customdata}"),
            customdata=[["reused" if v else "computed" for v in row] for row in grid],
        ), row=1, col=col)
        fig.update_xaxes(title_text="step", row=1, col=col)
    fig.update_yaxes(type="category")
    fig.update_yaxes(title_text="block", row=1, col=1)
    fig.update_layout(**{**_LAYOUT, "margin": {"l": 60, "r": 10, "t": 40, "b": 40}},
                      height=120 + 14 * max(len(b) for b, _ in maps.values()))
    return fig
