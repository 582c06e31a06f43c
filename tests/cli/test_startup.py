"""Every ``ecad`` command starts without torch, diffusers or transformers: they cost seconds
to import on a small machine, and only commands that run a model need them."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "diffusers", "transformers")

# The group's callback runs before a subcommand's --help, so each line goes through it.
READ_COMMANDS = [
    [], ["status"], ["pareto"], ["validate"], ["schedule", "show"], ["cost"], ["search"],
    ["submit"], ["report"], ["generate"], ["score"], ["bench"], ["worker"], ["scheduler"],
]

_PROBE = """
import sys
from ecad.cli.main import cli
for args in {commands!r}:
    try:
        cli.main(args=[*args, "--help"], prog_name="ecad", standalone_mode=False)
    except SystemExit:
        pass
heavy = [m for m in {heavy!r} if m in sys.modules]
print("HEAVY", heavy)
sys.exit(1 if heavy else 0)
"""


def test_cli_and_every_help_import_no_model_library():
    code = _PROBE.format(commands=READ_COMMANDS, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "HEAVY []" in out.stdout


def test_quieting_the_libraries_sets_their_variables_and_keeps_the_users(monkeypatch):
    from ecad.library_logs import QUIET_ENVIRONMENT, quiet_model_libraries

    for name in QUIET_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DIFFUSERS_VERBOSITY", "info")
    quiet_model_libraries()
    import os

    assert os.environ["DIFFUSERS_VERBOSITY"] == "info"  # the user's choice wins
    assert os.environ["TRANSFORMERS_VERBOSITY"] == "error"
    assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"


def test_quieting_reaches_libraries_imported_before(monkeypatch):
    import transformers.utils.logging as tlog

    from ecad.library_logs import QUIET_ENVIRONMENT, quiet_model_libraries

    for name in QUIET_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    tlog.enable_progress_bar()
    try:
        quiet_model_libraries()
        assert not tlog.is_progress_bar_enabled()
    finally:
        tlog.enable_progress_bar()


_COST_PROBE = """
import sys
from ecad.cli.main import cli
cli.main(args=["cost", sys.argv[1], "--table", sys.argv[2], "--json"], prog_name="ecad",
         standalone_mode=False)
print("HEAVY", [m for m in ("torch", "diffusers", "transformers") if m in sys.modules])
"""


def test_cost_with_a_stored_table_imports_no_model_library(tmp_path):
    import numpy as np

    from ecad.cost import CostTable
    from ecad.families import get_family
    from ecad.schedules import ScheduleLayout, write_schedule
    from ecad.schedules.heuristics import fora

    layout = ScheduleLayout.for_family(get_family("pixart-alpha"))
    table = CostTable(layout, "latency", 256, 2, base=1.0, slot_costs=np.ones(layout.num_slots),
                      unit="ms")  # as `ecad bench` stores a measured table
    table_file = table.save(tmp_path / "table.json")
    schedule = write_schedule(fora(layout, 20, 2), tmp_path / "fora.json")
    out = subprocess.run([sys.executable, "-c", _COST_PROBE, str(schedule), str(table_file)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert '"relative_cost"' in out.stdout and "HEAVY []" in out.stdout
