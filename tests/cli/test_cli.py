"""The ``ecad`` command as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner
from PIL import Image

from ecad.cli.main import cli


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        yield (*prefix, name)
        if isinstance(cmd, click.Group):
            yield from _all_commands(cmd, (*prefix, name))


def test_help_for_every_command():
    runner = CliRunner()
    assert runner.invoke(cli, ["--help"]).exit_code == 0
    commands = list(_all_commands(cli))
    assert {("generate",), ("embed",), ("cost",), ("schedule", "show")} <= set(commands)
    for path in commands:
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)


def test_console_script_runs():
    out = subprocess.run(
        [sys.executable, "-m", "ecad.cli", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "generate" in out.stdout


def test_schedule_make_show_and_cost(tmp_path):
    runner = CliRunner()
    path = tmp_path / "tg.json"
    r = runner.invoke(
        cli,
        [
            "schedule",
            "make",
            "tgate",
            "--family",
            "pixart-alpha",
            "--k",
            "2",
            "--m",
            "8",
            "-o",
            str(path),
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["schedule", "show", str(path)])
    assert r.exit_code == 0 and "attn2" in r.output and "predicted" in r.output
    r = runner.invoke(cli, ["cost", str(path), "--mode", "macs-linear", "--json"])
    report = json.loads(r.output)
    assert 0 < report["relative_cost"] < 1 and report["batch"] == 2


def test_cost_of_published_file(reference_dir):
    path = reference_dir / "schedules/schedules_in_paper/pixart_alpha_256/ours_fastest.json"
    r = CliRunner().invoke(cli, ["cost", str(path), "--mode", "macs-linear"])
    assert r.exit_code == 0 and "1.1754 TMACs" in r.output and "4.86x" in r.output


def test_bad_schedule_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"cache_schedule": {"schedule": {"000": {"0": {"attn1": "yes"')
    out = subprocess.run(
        [sys.executable, "-m", "ecad.cli", "cost", str(bad)], capture_output=True, text=True
    )
    assert out.returncode == 2 and str(bad) in out.stderr and "not valid JSON" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("family", ["pixart-alpha", "flux-dev"])
def test_generate_writes_pngs(tmp_path, tiny_dirs, family):
    runner = CliRunner()
    schedule = tmp_path / "fora.json"
    blocks = (
        ["--num-blocks", "blocks=2"]
        if family != "flux-dev"
        else ["--num-blocks", "double=2", "--num-blocks", "single=2"]
    )
    assert (
        runner.invoke(
            cli,
            [
                "schedule",
                "make",
                "fora",
                "--family",
                family,
                "--steps",
                "4",
                "--n",
                "2",
                *blocks,
                "-o",
                str(schedule),
            ],
        ).exit_code
        == 0
    )
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red cube\n\ntwo cats\n")
    emb = tmp_path / "emb.safetensors"
    r = runner.invoke(
        cli,
        [
            "embed",
            "--family",
            family,
            "--weights",
            str(tiny_dirs[family]),
            "--prompt-file",
            str(prompts),
            "-o",
            str(emb),
        ],
    )
    assert r.exit_code == 0, r.output
    out = tmp_path / "images"
    r = runner.invoke(
        cli,
        [
            "generate",
            "--family",
            family,
            "--weights",
            str(tiny_dirs[family]),
            "--schedule",
            str(schedule),
            "--embeddings",
            str(emb),
            "--num-images-per-prompt",
            "2",
            "--batch-size",
            "3",
            "--resolution",
            "64",
            "--output-dir",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    files = sorted(p.name for p in out.glob("*.png"))
    assert files == ["p00000_i000.png", "p00000_i001.png", "p00001_i000.png", "p00001_i001.png"]
    assert Image.open(out / files[0]).size == (64, 64)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["schedule"] == "fora-2" and manifest["prompts"] == ["a red cube", "two cats"]


def test_generate_rejects_mismatched_steps(tmp_path, tiny_dirs):
    runner = CliRunner()
    schedule = tmp_path / "fora.json"
    runner.invoke(
        cli,
        [
            "schedule",
            "make",
            "fora",
            "--family",
            "pixart-alpha",
            "--steps",
            "4",
            "--num-blocks",
            "blocks=2",
            "-o",
            str(schedule),
        ],
    )
    r = runner.invoke(
        cli,
        [
            "generate",
            "--family",
            "pixart-alpha",
            "--weights",
            str(tiny_dirs["pixart-alpha"]),
            "--schedule",
            str(schedule),
            "--prompt",
            "x",
            "--steps",
            "6",
            "--resolution",
            "64",
            "--output-dir",
            str(tmp_path / "o"),
        ],
    )
    assert r.exit_code != 0 and "4 steps" in str(r.exception)
