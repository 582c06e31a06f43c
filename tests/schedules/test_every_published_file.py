"""Every published schedule file of the ECAD release loads: the paper's learned schedules, the
heuristics' files of every model, and the true-TGATE files with gate step 20 among them. The
files are read where they lie (``../shared/reference/upstream-ecad/schedules``), never copied
into the project; without that folder the test is skipped."""

from __future__ import annotations

import json

import pytest

from ecad.schedules import read_schedule
from tests.conftest import REFERENCE

SCHEDULES = REFERENCE / "schedules"
FILES = sorted(SCHEDULES.rglob("*.json")) if SCHEDULES.is_dir() else []


@pytest.mark.skipif(not FILES, reason=f"no published schedules at {SCHEDULES}")
@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SCHEDULES)))
def test_the_published_file_loads(path):
    schedule = read_schedule(path)
    assert schedule.bits.shape[0] >= 1 and schedule.bits.shape[1] == len(schedule.layout.slots)


@pytest.mark.skipif(not FILES, reason=f"no published schedules at {SCHEDULES}")
def test_the_gate_step_20_files_are_among_them():
    def gate_step(path):
        pipeline = (json.loads(path.read_text()).get("config") or {}).get("pipeline") or {}
        return (pipeline.get("kwargs") or {}).get("gate_step")

    gate_20 = [p for p in FILES if gate_step(p) == 20]
    assert gate_20, "the release's true-TGATE files with gate step 20"
    for path in gate_20:
        assert read_schedule(path).custom_attention.gate_step == 20, path
