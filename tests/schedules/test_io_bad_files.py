"""Broken schedule files: each is one ScheduleFormatError naming the file and the place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecad.errors import ScheduleFormatError
from ecad.schedules import read_schedule
from ecad.schedules.io import MAX_SCHEDULE_BYTES
from tests.conftest import REFERENCE

SOURCE = REFERENCE / "schedules/schedules_in_paper/pixart_alpha_256/ours_fast.json"


def _write(tmp_path: Path, edit) -> Path:
    doc = json.loads(SOURCE.read_text())
    edit(doc["cache_schedule"])
    path = tmp_path / "s.json"
    path.write_text(json.dumps(doc))
    return path


def _rename_component(cs: dict) -> None:
    block = cs["schedule"]["000"]["3"]
    block["atn1"] = block.pop("attn1")


@pytest.mark.parametrize(
    "edit, family, problem",
    [
        (
            _rename_component,
            "pixart-alpha",
            "not for family pixart-alpha: step 000, block 3, component 'atn1'",
        ),
        (_rename_component, "flux-dev", "not for family flux-dev: step 000, block 0"),
        (
            lambda cs: cs["schedule"].update({"0": cs["schedule"]["000"]}),
            None,
            "steps '000' and '0' are the same step",
        ),
        (lambda cs: cs["schedule"].update({"1" * 5000: {}}), None, "is not a step number"),
        (lambda cs: cs["schedule"].update({"٣": {}}), None, "is not a step number"),
        (
            lambda cs: cs.update({"num_blocks": "28"}),
            None,
            "cache_schedule.num_blocks must be a block count, got '28'",
        ),
        (lambda cs: cs.update({"num_blocks": -1}), None, "must be a block count, got -1"),
        (
            lambda cs: cs.update({"num_blocks": 29}),
            None,
            "num_blocks is 29, but pixart-alpha has at most 28 blocks",
        ),
        (
            lambda cs: cs.update({"num_blocks": 2}),
            None,
            "step 000, block '2': unknown block for pixart-alpha (2 blocks)",
        ),
        (
            lambda cs: cs["schedule"]["004"]["9"].update({"attn2": "yes"}),
            None,
            "step 004, block 9, component 'attn2': value \"yes\" is not a boolean",
        ),
    ],
)
def test_broken_files(tmp_path, edit, family, problem):
    path = _write(tmp_path, edit)
    with pytest.raises(ScheduleFormatError) as info:
        read_schedule(path, family=family)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and problem in message, message
    assert "\n" not in message


def test_unreadable_files(tmp_path):
    big = tmp_path / "big.json"
    with big.open("wb") as f:
        f.truncate(MAX_SCHEDULE_BYTES + 1)  # sparse: no disk used
    with pytest.raises(
        ScheduleFormatError, match=f"schedule file is larger than {MAX_SCHEDULE_BYTES}"
    ):
        read_schedule(big)
    with pytest.raises(ScheduleFormatError, match="cannot read schedule file"):
        read_schedule(tmp_path)
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"name": "caf\xe9"}')
    with pytest.raises(ScheduleFormatError, match=r"not UTF-8 text \(byte 0xe9 at offset 13\)"):
        read_schedule(latin)
