"""The report as one self-contained HTML page: plotly.js, figures and images all inline."""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import shlex

from ecad.report.data import FrontMember, ImagePair, ReportData
from ecad.report.plots import (
    figure_html,
    front_figure,
    objective_figure,
    plotly_js,
    progress_figure,
    pruning_figure,
)
from ecad.report.preselection import preselection_section
from ecad.report.snippet import apply_snippet
from ecad.report.units import best_speedups, duration, rate

__all__ = ["png_problem", "render_page", "video_problem"]

log = logging.getLogger(__name__)

_CSS = """
body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1200px;margin:0 auto;padding:1.5em 2em}
h1{font-size:1.5em;margin-bottom:.2em} h2{margin-top:1.8em;border-bottom:1px solid #ddd}
h3{margin-bottom:.3em}
.sub{color:#666;margin-top:0}
.cards{display:flex;flex-wrap:wrap;gap:.8em;margin:1em 0}
.card{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:.6em 1em;min-width:9em}
.card b{display:block;font-size:1.35em}
.card span{color:#666;font-size:.85em}
.plot{background:#fff;border:1px solid #e2e2e2;border-radius:6px;margin:.8em 0}
table{border-collapse:collapse;background:#fff}
td,th{border:1px solid #ddd;padding:4px 8px;font-size:13px;text-align:right}
td.l,th.l{text-align:left}
.member{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:.2em 1em 1em;
margin:1.2em 0}
.grid{display:flex;flex-wrap:wrap;gap:.8em}
.pair{display:flex;flex-direction:column;align-items:center;font-size:12px;max-width:300px}
.pair div{display:flex;gap:4px}
.pair figure{margin:0;text-align:center}
.pair img{width:128px;height:128px;image-rendering:pixelated;border:1px solid #ccc}
.pair video{width:144px;border:1px solid #ccc}
.pair p{margin:.2em 0 0;color:#555;text-align:center}
pre{background:#f3f3f3;padding:.6em;overflow-x:auto;font-size:12px}
.missing{width:128px;height:128px;display:flex;align-items:center;justify-content:center;
color:#999;border:1px dashed #ccc}
"""


def _e(value: object) -> str:
    return html.escape(str(value))


_PNG_START = b"\x89PNG\r\n\x1a\n"


def png_problem(data: bytes) -> str | None:
    """Why ``data`` is no image a browser can show (None: a PNG that decodes). The whole image
    is decoded: a PNG whose signature and end are intact but whose pixel data is corrupt (a
    damaged object, a partial overwrite) is caught too, not only a truncated or foreign one."""
    if not data.startswith(_PNG_START):
        return f"not a PNG (starts with {data[:16]!r})"
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()  # chunk structure and CRCs
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # every pixel decoded
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError... for bad data
        return f"a corrupt PNG ({type(exc).__name__}: {exc})"
    return None


def _png(data: bytes | None, alt: str) -> str:
    if data is None:
        return '<div class="missing">not generated</div>'
    if (problem := png_problem(data)) is not None:
        log.warning("report: image %s is not shown: %s", alt, problem)
        what = "unreadable (truncated or not a PNG)"
        return f'<div class="missing" title="{_e(problem)}">{what}</div>'
    uri = "data:image/png;base64," + base64.b64encode(data).decode()
    return f'<img src="{uri}" alt="{_e(alt)}" title="{_e(alt)}">'


_WEBM_START = b"\x1a\x45\xdf\xa3"  # EBML: every WebM file starts with it


def video_problem(data: bytes) -> str | None:
    """Why ``data`` is no video a browser can show (None: a WebM whose frames decode; without
    PyAV, the signature only)."""
    if not data.startswith(_WEBM_START):
        return f"not a WebM video (starts with {data[:16]!r})"
    from ecad.errors import ConfigError
    from ecad.videofile import decode_video

    try:
        decode_video(data)
    except ConfigError:  # PyAV missing: the browser is left to judge
        return None
    except ValueError as exc:
        return f"a corrupt video ({exc})"
    return None


def _video(data: bytes | None, alt: str) -> str:
    """A WebM video playing inline, looped and muted (browsers autoplay only muted media)."""
    if data is None:
        return '<div class="missing">not generated</div>'
    if (problem := video_problem(data)) is not None:
        log.warning("report: video %s is not shown: %s", alt, problem)
        what = "unreadable (truncated or not a video)"
        return f'<div class="missing" title="{_e(problem)}">{what}</div>'
    uri = "data:video/webm;base64," + base64.b64encode(data).decode()
    return (f'<video src="{uri}" title="{_e(alt)}" aria-label="{_e(alt)}" autoplay muted loop '
            "playsinline controls></video>")


def _card(value: str, label: str) -> str:
    return f'<div class="card"><b>{_e(value)}</b><span>{_e(label)}</span></div>'


def _table(headers: list[str], rows: list[list[str]], left: int = 1) -> str:
    head = "".join(f'<th class="{"l" if i < left else ""}">{_e(h)}</th>'
                   for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td class="{"l" if i < left else ""}">{c}</td>'
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _image_grid(pairs: tuple[ImagePair, ...], name: str) -> str:
    cells = []
    for pair in pairs:
        media = _video if pair.video else _png
        cells.append(
            '<div class="pair"><div>'
            f"<figure>{media(pair.image, f'{name}, prompt {pair.prompt_index}')}"
            "<figcaption>this schedule</figcaption></figure>"
            f"<figure>{media(pair.uncached, f'no cache, prompt {pair.prompt_index}')}"
            "<figcaption>no cache</figcaption></figure>"
            f"</div><p>{_e(pair.prompt)}</p></div>"
        )
    return f'<div class="grid">{"".join(cells)}</div>'


def _apply_lines(data: ReportData, member: FrontMember) -> tuple[str, str]:
    export = (f"ecad pareto {shlex.quote(data.search_id)} --store {shlex.quote(data.store)} "
              "--export front/")
    python = apply_snippet(data.pipeline, f"front/{member.name}.json")
    return export, python


def _member_section(data: ReportData, member: FrontMember) -> str:
    unit = data.unit
    export, python = _apply_lines(data, member)
    download = ("data:application/json;base64,"
                + base64.b64encode(json.dumps(member.schedule_json, indent=1).encode()).decode())
    return f"""
<section class="member" id="member-{member.rank}">
<h3>#{member.rank} {_e(member.name)}</h3>
<div class="cards">{_card(f"{member.speedup:.2f}x", "predicted speedup")}
{_card(unit.format(member.quality), unit.label)}
{_card(f"{member.reuse:.1%}", "of step x block x component cells reused")}</div>
<p>What it reuses (blue = output reused from the last computed step; step 0 always computes):</p>
<div class="plot">{figure_html(front_figure(member), f"reuse-{member.rank}")}</div>
<p>First {"video" if member.images and member.images[0].video else "image"} of the first
prompts, beside the uncached one of the same prompt and seed:</p>
{_image_grid(member.images, member.name)}
<p>Export the front as schedule files (this member is <code>front/{_e(member.name)}.json</code>;
or <a download="{_e(member.name)}.json" href="{download}">download it here</a>):</p>
<pre>{_e(export)}</pre>
<p>Apply it to a pipeline:</p>
<pre>{_e(python)}</pre>
</section>"""


def _generation_rows(data: ReportData) -> list[list[str]]:
    rows = []
    for g in data.history:
        c = g.counts
        pruning = ([str(c.get("pruned", 0)), str(g.images), str(g.images_saved),
                    duration(g.shard_seconds)] if data.shows_pruning else [])
        rows.append([str(g.generation), f"{g.hypervolume:.4f}", str(g.front),
                     str(c.get("evaluated", 0)), str(c.get("cached", 0)),
                     str(c.get("failed", 0)), str(c.get("infeasible", 0)), *pruning,
                     duration(g.seconds)])
    return rows


def _generation_table(data: ReportData) -> str:
    pruning = (["pruned", "images generated", "images saved by pruning", "shard-work time"]
               if data.shows_pruning else [])
    return _table(["generation", "hypervolume", "front", "evaluated", "cached", "failed",
                   "infeasible", *pruning, "time"], _generation_rows(data))


def _pruning_cards(data: ReportData) -> str:
    if not data.shows_pruning:
        return ""
    return "".join((
        _card(str(len(data.partial)), "candidates pruned (partial estimate)"),
        _card(str(data.images_saved), "images saved by pruning"),
        _card(duration(data.shard_seconds), "shard-work time (summed over shards)"),
    ))


def _partial_note(data: ReportData) -> str:
    if not data.partial:
        return ""
    return ("<p>Hollow grey circles: candidates pruning stopped after a prefix of their shards. "
            "Their quality is an estimate from those images only (hover for how many); none "
            "of them is on the front, which holds fully evaluated members only.</p>")


def _pruning_section(data: ReportData) -> str:
    if not data.shows_pruning:
        return ""
    return (f"<h3>Pruning</h3><p>Images generated per generation, the images pruned "
            f"candidates' remaining shards would have needed, and how many candidates were "
            f"pruned. Shard-work time is the summed time of the shard work reported to the "
            f"search driver (work reported to an earlier run of it is not counted).</p>"
            f'<div class="plot">{figure_html(pruning_figure(data), "pruning-work")}</div>')


def _baseline_rows(data: ReportData) -> list[list[str]]:
    return [[_e(b.name), f"{1 / b.relative_cost:.2f}x",
             _e(data.unit.format(b.quality)) if b.quality is not None else "not evaluated",
             f"{b.reuse:.1%}"] for b in data.baselines]


def _failure_html(data: ReportData) -> str:
    if not data.failed and not data.task_failures:
        return "<p>No failures.</p>"
    parts = []
    if data.failed:
        parts.append(_table(["candidate", "generation"],
                            [[_e(c.name), str(c.generation)] for c in data.failed]))
    if data.task_failures:
        parts.append("<p>Shard tasks the cluster gave up on:</p>" + _table(
            ["task", "reason"], [[_e(f["task"]), _e(f["reason"])] for f in data.task_failures],
            left=2))
    return "".join(parts)


def render_page(data: ReportData) -> str:
    unit = data.unit
    front = [(m.quality, m.relative_cost) for m in data.front]
    best = max((m.speedup for m in data.front), default=None)
    last_hv = data.history[-1].hypervolume if data.history else 0.0
    seconds, images = data.wall_seconds, data.images_generated
    summary = best_speedups(front, unit) if front else "no front yet"
    front_rows = [[f'<a href="#member-{m.rank}">{m.rank}</a>', _e(m.name),
                   f"{m.speedup:.2f}x", _e(unit.format(m.quality)), f"{m.reuse:.1%}"]
                  for m in data.front]
    members = "".join(_member_section(data, m) for m in data.front)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ECAD search {_e(data.search_id)}</title>
<style>{_CSS}</style>
<script>{plotly_js()}</script>
</head><body><main>
<h1>ECAD search {_e(data.search_id)}</h1>
<p class="sub">{_e(data.family)} &middot; {_e(data.phase)} &middot; generation
{min(data.generation, data.generations)} of {data.generations} &middot; store
<code>{_e(data.store)}</code> &middot; quality: {_e(unit.label)} ({_e(unit.note)}) &middot;
cost: {_e(data.cost_mode)}, shown as predicted speedup</p>
<div class="cards" id="summary">
{_card(f"{best:.2f}x" if best else "-", "fastest front member")}
{_card(str(len(data.front)), "front members")}
{_card(f"{last_hv:.4f}", "hypervolume")}
{_card(str(sum(1 for c in data.candidates if c.status == "evaluated")), "candidates evaluated")}
{_card(duration(seconds), "in generations")}
{_card(f"{seconds / 3600:.2g} h", "wall time of generations")}
{_card(rate(images, seconds), f"{images} images generated")}
{_card(str(len(data.failed)), "failed candidates")}
{_pruning_cards(data)}
</div>
<p>{_e(summary)}</p>
<h2>Objective space</h2>
<p>Every evaluated candidate of every generation (colour: generation), the current Pareto front
(red), and the heuristic baselines evaluated under the same setting (grey diamonds). Hover for
names and numbers; drag to zoom, double-click to reset.</p>
{_partial_note(data)}
<div class="plot">{figure_html(objective_figure(data), "objective-space")}</div>
<h2>Progress</h2>
<div class="plot">{figure_html(progress_figure(data), "progress")}</div>
{_generation_table(data)}
{_pruning_section(data)}
{preselection_section(data.preselection)}
<h2>Pareto front</h2>
{_table(["#", "schedule", "speedup", unit.axis_title, "reuse"], front_rows, left=2)}
{members}
<h2>Heuristic baselines</h2>
{_table(["baseline", "speedup", unit.axis_title, "reuse"], _baseline_rows(data))
 if data.baselines else "<p>Not evaluated (ecad report --baselines).</p>"}
<h2>Failures</h2>
{_failure_html(data)}
<h2>Spec</h2>
<p>Search <code>{_e(data.search_id)}</code> in <code>{_e(data.store)}</code>.</p>
<pre>{_e(data.spec_yaml)}</pre>
</main></body></html>
"""
