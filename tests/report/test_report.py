"""The report's data, baselines and page, on a finished tiny search."""

from __future__ import annotations

import re

from click.testing import CliRunner

from ecad.cli.main import cli
from ecad.report.baselines import baseline_points
from ecad.report.data import collect, reuse_maps
from ecad.report.page import render_page
from ecad.schedules.baselines import baseline_schedules


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


def test_render_page_without_baselines_says_how_to_get_them(finished_search):
    page = render_page(collect(finished_search.session(), prompts=1))
    assert "Not evaluated (ecad report --baselines)" in page
