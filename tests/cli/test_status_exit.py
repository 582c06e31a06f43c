"""``ecad status`` says the same thing through its exit status with and without --json, and
takes ``--store`` as every other store-using command does."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner

from ecad.cli.errors import EXIT_RUNTIME
from ecad.cli.main import cli


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_status_json_with_a_dead_broker_exits_non_zero(tmp_path):
    env = {**os.environ, "ECAD_BROKER_URL": f"redis://127.0.0.1:{_free_port()}/0"}
    env.pop("ECAD_CONFIG", None)
    out = subprocess.run([sys.executable, "-m", "ecad", "status", "--json", "--store",
                          str(tmp_path / "store")], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == EXIT_RUNTIME, out.stderr
    assert json.loads(out.stdout)["broker_error"]  # the document is still printed, whole
    assert out.stderr.strip().startswith("error: broker")


STORE_COMMANDS = ["search", "validate", "submit", "status", "cancel", "pareto", "report",
                  "worker", "scheduler"]


@pytest.mark.parametrize("command", STORE_COMMANDS)
def test_every_store_using_command_takes_store(command):
    r = CliRunner().invoke(cli, [command, "--help"])
    assert r.exit_code == 0 and "--store" in r.output


def test_status_store_option_reads_that_store(tmp_path, monkeypatch):
    monkeypatch.delenv("ECAD_STORE", raising=False)
    r = CliRunner().invoke(cli, ["status", "--no-workers", "--store", str(tmp_path / "s"),
                                 "missing-0123456789"])
    assert r.exit_code != 0 and str(tmp_path / "s") in str(r.exception)


def test_one_name_for_batch_size_options():
    names = set()
    for command in cli.commands.values():
        subs = command.commands.values() if hasattr(command, "commands") else [command]
        for sub in subs:
            names |= {o for p in sub.params for o in getattr(p, "opts", []) if "batch" in o}
    assert names == {"--batch-size"}, names
