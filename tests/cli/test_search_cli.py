import json

from click.testing import CliRunner

from ecad.cli.main import cli
from ecad.schedules import read_schedule
from tests.search.conftest import write_spec


def test_validate_search_pareto_export_report(tmp_path):
    spec = write_spec(tmp_path, generations=1)
    store = str(tmp_path / "store")
    runner = CliRunner()
    r = runner.invoke(cli, ["validate", str(spec)])
    assert r.exit_code == 0 and "ok: search t-" in r.output
    r = runner.invoke(cli, ["search", str(spec), "--store", store])
    assert r.exit_code == 0, r.output
    assert "resolved spec:" in r.output and "generation 1/1  HV " in r.output
    search_id = r.output.strip().splitlines()[-1].split()[2]
    r = runner.invoke(cli, ["pareto", search_id, "--store", store, "--json"])
    rows = json.loads(r.output[: r.output.rindex("]") + 1])
    assert rows and all(0 < row["relative_cost"] < 1 for row in rows)
    r = runner.invoke(
        cli, ["pareto", search_id, "--store", store, "--export", str(tmp_path / "front")]
    )
    assert r.exit_code == 0 and "speedup" in r.output
    files = sorted((tmp_path / "front").glob("*.json"))
    assert len(files) == len(rows)
    sched = read_schedule(files[0], family="pixart-alpha")
    assert sched.metadata.metrics["relative_cost"] == rows[0]["relative_cost"]
    assert sched.metadata.config["height"] == 64
    r = runner.invoke(cli, ["report", search_id, "--store", store, "-o", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    page = (tmp_path / "r.html").read_text()
    assert page.count("data:image/png;base64") >= 1 + 3 * (1 + len(rows))


def test_validate_reports_errors(tmp_path):
    spec = write_spec(tmp_path, population=1, family="nope")
    r = CliRunner().invoke(cli, ["validate", str(spec)])
    assert r.exit_code != 0
    assert "population" in str(r.exception) and "family" in str(r.exception)


def test_unknown_search_id(tmp_path):
    r = CliRunner().invoke(cli, ["pareto", "missing-123", "--store", str(tmp_path)])
    assert r.exit_code != 0 and "no search 'missing-123'" in str(r.exception)


def _small_spec(tmp_path, **overrides):
    return write_spec(tmp_path, population=4, generations=0, steps=4, min_diff=1,
                      prompts={"file": "calibration-100", "limit": 1}, **overrides)


def test_a_search_whose_every_candidate_failed_exits_non_zero(tmp_path, monkeypatch):
    from ecad.search.evaluation import Evaluator

    def broken(self, work):
        raise RuntimeError("this shard cannot run")

    monkeypatch.setattr(Evaluator, "run", broken)
    r = CliRunner().invoke(cli, ["search", str(_small_spec(tmp_path)), "-q",
                                 "--store", str(tmp_path / "store")])
    assert r.exit_code != 0
    assert "failed, the front is empty" in str(r.exception)


def test_quiet_search_prints_no_resolved_spec(tmp_path):
    r = CliRunner().invoke(cli, ["search", str(_small_spec(tmp_path)), "-q",
                                 "--store", str(tmp_path / "store")])
    assert r.exit_code == 0, r.output
    assert "resolved spec:" not in r.output and "search id:" in r.output


def test_validate_names_the_extra_a_scorer_needs(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torchmetrics", None)  # as on a core install
    r = CliRunner().invoke(cli, ["validate", str(_small_spec(tmp_path)), "quality.metric=ssim"])
    assert r.exit_code != 0
    message = str(r.exception)
    assert "\n" not in message and "torchmetrics" in message
    assert "pip install 'ecad-cluster[scoring]'" in message
