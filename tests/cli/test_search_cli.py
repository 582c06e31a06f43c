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
