"""The report's data, baselines and page, on a finished tiny search."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from ecad.cli.main import cli
from ecad.report.baselines import baseline_points
from ecad.report.data import collect, reuse_maps
from ecad.report.page import render_page
from ecad.report.plots import objective_figure, pruning_figure
from ecad.report.units import duration
from ecad.schedules.baselines import baseline_schedules
from tests.search.known_scores import SECONDS_PER_IMAGE


def test_collect_reads_every_candidate_the_front_and_their_images(finished_search):
    session = finished_search.session()
    data = collect(session, prompts=2)
    spec = session.spec
    assert len(data.candidates) == spec.population * (spec.generations + 1)
    assert {c.generation for c in data.candidates} == {0, 1, 2}
    evaluated = [c for c in data.candidates if c.status == "evaluated"]
    assert evaluated and all(c.quality is not None for c in evaluated)
    assert [g.generation for g in data.history] == [0, 1, 2]
    assert len(data.front) == len(session.front()) >= 1
    for member in data.front:
        assert len(member.images) == 2
        assert all(p.image and p.uncached for p in member.images)
        assert member.schedule_json["metrics"]["relative_cost"] == member.relative_cost
    assert data.unit.label == "PSNR" and data.unit.unit == "dB"
    assert "texts" not in data.spec_yaml and "count: 3" in data.spec_yaml
    assert data.failed == [] and data.task_failures == []


def test_reuse_maps_are_step_by_block_per_component(finished_search):
    member = finished_search.session().front()[0].schedule
    maps = reuse_maps(member)
    assert list(maps) == ["attn1", "attn2", "ff"]
    blocks, grid = maps["attn1"]
    assert blocks == ["0", "1"] and grid.shape == (2, member.steps)
    assert not grid[:, 0].any()  # step 0 always computes
    total = sum(int(g.sum()) for _, g in maps.values())
    assert total == int((~member.effective()).sum())


def test_baselines_are_evaluated_once_then_read_from_the_store(finished_search):
    session = finished_search.session()
    stored = baseline_points(session, evaluate=False)
    names = [s.metadata.name for s in baseline_schedules(session.layout, session.spec.steps)]
    assert [b.name for b in stored] == names
    logged: list[str] = []
    points = baseline_points(session, evaluate=True, log=logged.append)
    assert all(p.quality is not None for p in points)
    assert len(logged) == sum(b.quality is None for b in stored)
    again: list[str] = []
    assert baseline_points(session, evaluate=True, log=again.append) == points
    assert again == []
    no_cache = points[0]
    assert no_cache.name == "no-cache" and no_cache.relative_cost == 1.0


def test_page_is_one_file_with_plots_images_and_apply_lines(finished_search, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["report", finished_search.search_id, "--store",
                                      str(finished_search.store_dir), "-o",
                                      str(out / "r.html"), "--prompts", "2"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["r.html"]  # nothing written beside it
    page = (out / "r.html").read_text()
    session = finished_search.session()
    front = session.front()
    # no external resource: scripts and images inline
    assert not re.search(r"<(script|img|link)[^>]+(src|href)=\"(https?:)?//", page)
    assert page.count('<img src="data:image/png;base64,') == 2 * 2 * len(front)
    for div in ("objective-space", "progress", *(f"reuse-{n}" for n in range(len(front)))):
        assert f'id="{div}"' in page
    for member in front:
        name = member.schedule.metadata.name
        assert f'read_schedule(&quot;front/{name}.json&quot;)' in page
    assert f"ecad pareto {session.search_id} --store {finished_search.store_dir} --export" in page
    assert "fora-3" in page and "PSNR (dB)" in page and "family: pixart-alpha" in page


def test_a_truncated_or_foreign_image_is_named_not_embedded(finished_search):
    from dataclasses import replace

    data = collect(finished_search.session(), prompts=1)
    member = data.front[0]
    good = member.images[0].image
    whole = render_page(data).count('<img src="data:image/png;base64,')
    for bad in (good[: len(good) // 2], b"<html>502 Bad Gateway</html>"):
        pair = replace(member.images[0], image=bad)
        broken = replace(data, front=(replace(member, images=(pair,)), *data.front[1:]))
        page = render_page(broken)
        assert page.count("unreadable (truncated or not a PNG)") == 1
        assert page.count('<img src="data:image/png;base64,') == whole - 1


def test_render_page_without_baselines_says_how_to_get_them(finished_search):
    page = render_page(collect(finished_search.session(), prompts=1))
    assert "Not evaluated (ecad report --baselines)" in page


def _trace(fig, name: str):
    return next(t for t in fig.data if t.name == name)


def test_collect_marks_pruned_candidates_partial_with_their_estimate(pruned_search):
    session = pruned_search.session()
    data = collect(session, prompts=1)
    history, plan = session.history(), session.plan
    assert data.shows_pruning and sum(r.counts.pruned for r in history) >= 5
    for record in history:
        decisions = session.partial(record.generation)
        partial = [c for c in data.partial if c.generation == record.generation]
        assert len(partial) == record.counts.pruned == len(decisions)
        by_index = {i: d.decision for d in decisions.values() for i in d.candidates}
        assert sorted(c.index for c in partial) == sorted(by_index)
        for c in partial:
            decision = by_index[c.index]
            assert c.quality == decision.estimate  # drawn at its best guess
            # NSGA-II was told the optimistic bound (the estimate is biased low)
            assert decision.optimistic == pytest.approx(1 - record.offspring.F[c.index][0])
            assert c.partial.shards_used == decision.shards_used < len(plan.shards)
            assert c.partial.shards_total == len(plan.shards)
            assert c.partial.images_used == decision.images_used < c.partial.images_total
            assert c.partial.images_total == plan.images_total
        evaluated = [c for c in data.candidates
                     if c.generation == record.generation and c.status == "evaluated"]
        assert len(evaluated) == record.counts.evaluated + record.counts.cached
    estimates = {(c.quality, c.relative_cost) for c in data.partial}
    assert data.front and estimates.isdisjoint((m.quality, m.relative_cost) for m in data.front)
    assert data.images_generated == sum(r.work.images for r in history) > 0
    assert data.images_saved == sum(r.work.images_saved for r in history) > 0
    assert data.shard_seconds == pytest.approx(sum(r.work.shard_seconds for r in history))
    assert data.shard_seconds == pytest.approx(SECONDS_PER_IMAGE * data.images_generated)
    assert [g.counts["pruned"] for g in data.history] == [r.counts.pruned for r in history]


def test_page_shows_pruned_candidates_apart_and_the_images_pruning_saved(pruned_search):
    data = collect(pruned_search.session(), prompts=1)
    objective = objective_figure(data)
    stopped = _trace(objective, "pruned (partial estimate)")
    assert list(stopped.y) == [c.quality for c in data.partial]
    assert stopped.marker.symbol == "circle-open" and stopped.marker.color == "#8c8c8c"
    assert "pruned after %{customdata[3]}/%{customdata[4]} shards" in stopped.hovertemplate
    first = data.partial[0].partial
    assert list(stopped.customdata[0][3:]) == [first.shards_used, first.shards_total,
                                               first.images_used, first.images_total]
    evaluated = _trace(objective, "evaluated candidates")
    assert len(evaluated.y) == sum(c.status == "evaluated" for c in data.candidates)
    work = pruning_figure(data)
    assert list(_trace(work, "images generated").y) == [g.images for g in data.history]
    assert list(_trace(work, "images saved by pruning").y) == [
        g.images_saved for g in data.history]
    assert list(_trace(work, "candidates pruned").y) == [
        g.counts["pruned"] for g in data.history]
    page = render_page(data)
    assert 'id="pruning-work"' in page and "pruned (partial estimate)" in page
    assert f"<b>{data.images_saved}</b><span>images saved by pruning</span>" in page
    assert f"<b>{len(data.partial)}</b><span>candidates pruned" in page
    assert f"{data.images_generated} images generated" in page
    assert f"<b>{duration(data.shard_seconds)}</b><span>shard-work time" in page
    assert "<th>images saved by pruning</th>" in page.replace(' class=""', "")


def test_an_unpruned_report_shows_no_pruning(finished_search):
    session = finished_search.session()
    data = collect(session, prompts=1)
    assert not data.shows_pruning and data.partial == []
    assert data.images_generated == sum(r.work.images for r in session.history()) > 0
    names = [t.name for t in objective_figure(data).data]
    assert "pruned (partial estimate)" not in names
    page = render_page(data)
    assert "pruning-work" not in page and "saved by pruning" not in page
    assert "<th>pruned</th>" not in page.replace(' class=""', "")


def test_an_image_is_decoded_not_only_its_signature_checked(finished_search):
    """A PNG whose signature and IEND are intact but whose pixel data is damaged is named as
    unreadable (with Pillow's reason), not embedded as a broken image."""
    from dataclasses import replace

    from ecad.report.page import png_problem

    data = collect(finished_search.session(), prompts=1)
    member = data.front[0]
    good = member.images[0].image
    assert png_problem(good) is None
    start = good.index(b"IDAT") + 8  # inside the compressed pixel data
    damaged = good[:start] + bytes(b ^ 0xFF for b in good[start : start + 16]) + good[start + 16 :]
    assert damaged.startswith(b"\x89PNG\r\n\x1a\n") and damaged.endswith(good[-8:])
    problem = png_problem(damaged)
    assert problem is not None and problem.startswith("a corrupt PNG ("), problem
    assert png_problem(b"<html>502</html>").startswith("not a PNG")
    whole = render_page(data).count('<img src="data:image/png;base64,')
    pair = replace(member.images[0], image=damaged)
    page = render_page(replace(data, front=(replace(member, images=(pair,)), *data.front[1:])))
    assert page.count("unreadable (truncated or not a PNG)") == 1
    assert page.count('<img src="data:image/png;base64,') == whole - 1
    assert 'title="a corrupt PNG (' in page
