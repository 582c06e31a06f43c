"""``--json`` on the read commands: one JSON document on stdout, the same facts as the text."""

from __future__ import annotations

import json

from click.testing import CliRunner

from ecad.cli.main import cli
from tests.search.conftest import REPO, write_spec

FORA3 = str(REPO / "schedules" / "pixart-alpha" / "fora-3.json")


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout


def test_schedule_show_json_has_reuse_and_predicted_cost():
    code, out = _run("schedule", "show", FORA3, "--json")
    assert code == 0
    info = json.loads(out)
    assert info["name"] == "fora-3" and info["steps"] == 20 and info["slots"] == 84
    assert info["reuse_fraction"] == 0.65 and len(info["reuse_by_step"]) == 20
    macs = info["cost"]["macs"]
    assert macs["resolution"] == 256 and abs(macs["predicted_speedup"] * macs["relative_cost"]
                                             - 1) < 1e-12
    code, text = _run("schedule", "show", FORA3, "--no-steps")
    assert f"(predicted {macs['predicted_speedup']:.2f}x)" in text


def test_validate_json_ok_and_errors(tmp_path):
    code, out = _run("validate", str(write_spec(tmp_path)), "population=8", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["ok"] and result["search_id"].startswith("t-")
    assert result["spec"]["population"] == 8 and result["spec"]["prompts"]["count"] == 3
    assert result["genome_bits"] == result["steps"] * 6
    code, out = _run("validate", str(write_spec(tmp_path, population=1)), "--json")
    assert code == 2
    error = json.loads(out)
    assert error["ok"] is False and "population" in error["error"]


def test_validate_text_shows_the_resolved_spec_as_yaml(tmp_path):
    code, out = _run("validate", str(write_spec(tmp_path)))
    assert code == 0
    assert out.startswith("ok: search t-") and "\npopulation: 6\n" in out and "{" not in out
