"""Every snippet ecad prints runs as written against a tiny pipeline: the report's apply lines,
``ecad pareto --export``'s, and the README's (only its weights line points at a tiny model of
the same architecture).

The search runs on a pipeline directory as ``ecad tiny --family pixart-alpha DIR`` writes it:
its default size cannot be binned and the schedule has the search's step count, the two things
a snippet without the search's setting got wrong."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from ecad.cli.main import cli
from ecad.families import get_family
from ecad.report.snippet import PipelineCall, apply_snippet
from ecad.report.write import write_report
from ecad.schedules import ScheduleLayout, write_schedule
from ecad.schedules.heuristics import fora
from ecad.search import SearchSession, load_spec, run_search
from ecad.store import FilesystemStore
from tests.search.conftest import REPO, write_spec

pytestmark = pytest.mark.slow


def run_snippet(code: str, cwd: Path, monkeypatch) -> dict:
    """Execute ``code`` as a user would paste it (its own namespace, in ``cwd``)."""
    monkeypatch.chdir(cwd)
    namespace: dict = {"__name__": "__snippet__"}
    exec(compile(code, "<snippet>", "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def dir_search(tmp_path_factory, tiny_dirs):
    root = tmp_path_factory.mktemp("snippet-search")
    spec = load_spec(write_spec(root, weights=str(tiny_dirs["pixart-alpha"]), population=4,
                                generations=0, steps=4, min_diff=1,
                                prompts={"file": "calibration-100", "limit": 1}))
    session = run_search(FilesystemStore(root / "store"), spec, progress=lambda _: None)
    return root, session.search_id


def test_pareto_export_prints_a_snippet_that_runs(dir_search, tmp_path, monkeypatch):
    root, search_id = dir_search
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(cli, ["pareto", search_id, "--store", str(root / "store"),
                                   "--export", "front"])
    assert out.exit_code == 0, out.output
    code = out.output.split("apply one to a pipeline (Python):\n")[1]
    assert len(run_snippet(code, tmp_path, monkeypatch)["images"]) == 1


def test_the_reports_apply_lines_run(dir_search, tmp_path, monkeypatch):
    root, search_id = dir_search
    session = SearchSession.open(FilesystemStore(root / "store"), search_id)
    page = write_report(session, tmp_path / "r.html", prompts=1, baselines="none").read_text()
    export, python = re.findall(r"<pre>(.*?)</pre>", page.split('class="member"')[1], re.S)[:2]
    CliRunner().invoke(cli, ["pareto", search_id, "--store", str(root / "store"), "--export",
                             str(tmp_path / "front")], catch_exceptions=False)
    assert "--export front/" in html.unescape(export)
    assert len(run_snippet(html.unescape(python), tmp_path, monkeypatch)["images"]) == 1


def test_a_flux_snippet_on_ecads_tiny_weights_runs(tmp_path, monkeypatch):
    layout = ScheduleLayout.for_family(get_family("flux-dev"), {"double": 2, "single": 2})
    write_schedule(fora(layout, 4, 2), tmp_path / "fora.json")
    code = apply_snippet(PipelineCall("flux-dev", "tiny", 4, 64, 3.5), "fora.json")
    assert len(run_snippet(code, tmp_path, monkeypatch)["images"]) == 1


def test_the_readme_apply_snippet_runs(tmp_path, monkeypatch):
    from ecad.families.tiny import build_tiny_pixart

    readme = (REPO / "README.md").read_text()
    code = readme.split("## Apply a schedule to your pipeline")[1].split("```python\n")[1]
    code = code.split("```")[0]
    weights = re.compile(r'^weights = ".*?"', re.M)
    assert len(weights.findall(code)) == 1
    # The README's schedule is for the full 28 blocks: a tiny model with 28 blocks.
    pipe_dir = tmp_path / "pixart-28"
    build_tiny_pixart("PixArtAlphaPipeline", num_layers=28).save_pretrained(pipe_dir)
    code = weights.sub(f"weights = {str(pipe_dir)!r}", code)
    assert run_snippet(code, REPO, monkeypatch)["image"] is not None
