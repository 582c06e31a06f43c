"""Group-level options every command shares: ``ecad --config/--store/--device COMMAND``."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from ecad.cli.main import cli
from ecad.cli.options import announce_device, device_option


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("ECAD_STORE", "ECAD_DEVICE", "ECAD_CONFIG"):
        monkeypatch.setenv(name, "unset")  # so that monkeypatch restores what the CLI sets
        monkeypatch.delenv(name)
    return monkeypatch


def test_store_and_config_apply_to_every_command(clean_env, tmp_path):
    runner = CliRunner()
    store = tmp_path / "store"
    submitted = runner.invoke(cli, ["--store", str(store), "submit", "tiny", "population=4"])
    assert submitted.exit_code == 0, submitted.output
    search_id = submitted.stdout.strip().splitlines()[-1]
    assert (store / "searches" / search_id / "spec.json").is_file()

    clean_env.delenv("ECAD_STORE")
    config = tmp_path / "cluster.yaml"
    config.write_text(f"ECAD_STORE: {store}\n")
    status = runner.invoke(cli, ["--config", str(config), "status", "--json", "--no-workers"])
    assert status.exit_code == 0, status.output
    assert [s["search"] for s in json.loads(status.stdout)["searches"]] == [search_id]

    clean_env.delenv("ECAD_STORE")
    cancelled = runner.invoke(cli, ["--store", str(store), "cancel", search_id])
    assert cancelled.exit_code == 0 and f"cancelled {search_id}" in cancelled.output


def test_bad_config_file_is_named(clean_env, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("STORE: x\n")
    result = CliRunner().invoke(cli, ["--config", str(bad), "status"])
    assert result.exit_code != 0
    assert "unknown setting 'STORE'" in str(result.exception)


@pytest.mark.parametrize("cuda,expected", [(False, "cpu"), (True, "cuda")])
def test_device_auto_is_the_default_and_says_what_it_chose(clean_env, cuda, expected):
    clean_env.setattr("torch.cuda.is_available", lambda: cuda)

    @click.command()
    @device_option
    def work(device: str) -> None:
        announce_device()  # where a command starts its work, after its input checks
        click.echo(f"ran on {device}")

    runner = CliRunner()
    for args in ([], ["--device", "auto"]):
        result = runner.invoke(work, args)
        assert f"device: {expected} (auto)" in result.stderr, result.output
        assert f"ran on {expected}" in result.stdout
    explicit = runner.invoke(work, ["--device", "cpu"])
    assert "(auto)" not in explicit.stderr and "ran on cpu" in explicit.stdout
    # A command that stops at its input says nothing about the device: one error, nothing else.
    stopped = runner.invoke(cli, ["search"])
    assert "(auto)" not in stopped.stderr and "give SPEC_FILE or --resume ID" in stopped.output


def test_named_specs_and_schedules_and_a_clear_error_for_unknown_names():
    runner = CliRunner()
    shown = runner.invoke(cli, ["schedule", "show", "pixart-alpha/fora-3"])
    assert shown.exit_code == 0 and shown.output.startswith("fora-3  [pixart-alpha")
    missing = runner.invoke(cli, ["validate", "no-such-spec"])
    assert missing.exit_code == 2
    assert "'no-such-spec' is neither a file nor a shipped spec (" in missing.output
    assert "tiny" in missing.output
